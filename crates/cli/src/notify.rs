//! Telling approvers a hold is waiting: an outgoing webhook (`[notify]` in config: Holdpoint's
//! JSON, an ntfy message or a Slack message) and a desktop notification where the desktop has
//! one. It runs in a detached `holdpoint notify-hold ID` process, so a slow or failing webhook
//! never delays a decision; it is retried a few times, then given up with a line on stderr.

use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, Result};
use holdpoint_policy::config::{Notify, NotifyFormat};
use holdpoint_store::{Hold, HoldId, unix_now};
use serde_json::json;

use crate::engines::Engines;
use crate::home::Home;
use crate::state::State;

/// Delays before each try of the webhook.
const TRIES: [Duration; 4] = [Duration::ZERO, Duration::from_secs(1), Duration::from_secs(3), Duration::from_secs(9)];

/// Start the notifier for a new hold, detached; never waits, never fails the caller.
pub fn spawn(hold: HoldId) {
    let Ok(exe) = std::env::current_exe() else { return };
    let mut cmd = Command::new(exe);
    cmd.args(["notify-hold", &hold.to_string()]).stdin(Stdio::null()).stdout(Stdio::null()).stderr(Stdio::null());
    // Its own process group: an agent that kills its hook's group does not stop the notice.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    // A long-running `serve` reaps it; a hook exits first and leaves the notifier to init.
    if let Ok(mut child) = cmd.spawn() {
        std::thread::spawn(move || child.wait());
    }
}

/// `holdpoint notify-hold ID`: send the notices for one hold.
pub fn run(home: &Home, id: &str) -> Result<u8> {
    let engines = Engines::load_lazy(home)?;
    let config = engines.config().clone();
    let state = State::open(home, &config)?;
    let id: HoldId = id.parse().with_context(|| format!("{id:?} is not a hold id"))?;
    let hold = state.run(state.store.get(id, unix_now()))?;
    let link = format!("http://{}/holds/{}", config.api_listen, hold.id);
    desktop(&hold);
    if let Some(notify) = &config.notify {
        webhook(notify, &hold, &link)?;
    }
    Ok(0)
}

fn webhook(notify: &Notify, hold: &Hold, link: &str) -> Result<()> {
    let (content_type, body, title) = body(notify.format, hold, link);
    let mut last = String::new();
    for delay in TRIES {
        std::thread::sleep(delay);
        let mut request = ureq::post(&notify.webhook).header("Content-Type", content_type);
        if let Some(title) = &title {
            request = request.header("Title", title.as_str()).header("Click", link).header("Tags", "warning");
        }
        match request.send(body.as_bytes()) {
            Ok(_) => return Ok(()),
            Err(e) => last = e.to_string(),
        }
    }
    anyhow::bail!("the webhook {} did not take the notice for hold {}: {last}", notify.webhook, hold.id)
}

/// The request body for a format: (content type, body, ntfy title).
fn body(format: NotifyFormat, hold: &Hold, link: &str) -> (&'static str, String, Option<String>) {
    let summary = redact(&hold.summary);
    let line = format!("Holdpoint hold {} ({}): {} — {}", hold.id, hold.channel.as_str(), summary, hold.reason);
    match format {
        NotifyFormat::Json => {
            let v = json!({
                "hold_id": hold.id.get(),
                "channel": hold.channel.as_str(),
                "summary": summary,
                "reason": hold.reason,
                "approvers_needed": hold.approvers_needed(),
                "created": hold.created,
                "expires": hold.expires,
                "url": link,
            });
            ("application/json", v.to_string(), None)
        }
        NotifyFormat::Ntfy => ("text/plain", format!("{line}\n{link}"), Some(format!("Holdpoint hold {}", hold.id))),
        NotifyFormat::Slack => (
            "application/json",
            json!({ "text": format!("{line}\n<{link}|Review hold {}>", hold.id) }).to_string(),
            None,
        ),
    }
}

/// Token-looking words never leave in a notice: a command can carry a credential.
fn redact(text: &str) -> String {
    const PREFIXES: &[&str] = &[
        "sk-",
        "sk_",
        "rk_",
        "ghp_",
        "gho_",
        "ghs_",
        "github_pat_",
        "glpat-",
        "xox",
        "AKIA",
        "ASIA",
        "hp_",
        "hpa_",
        "eyJ",
    ];
    text.split(' ')
        .map(|w| {
            let bare = w.trim_matches(|c: char| !c.is_ascii_alphanumeric() && c != '_' && c != '-');
            let secret = PREFIXES.iter().any(|p| bare.starts_with(p) && bare.len() >= p.len() + 8)
                || w.contains("://") && w.contains('@') && w.contains(':');
            if secret { "[redacted]" } else { w }
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A desktop notice where a desktop session and `notify-send` exist; silent otherwise.
fn desktop(hold: &Hold) {
    let has_desktop = std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some();
    if !has_desktop {
        return;
    }
    let body = format!("{} — {}. Approve with: holdpoint approve {}", redact(&hold.summary), hold.reason, hold.id);
    let _ = Command::new("notify-send")
        .args(["--app-name=Holdpoint", &format!("Holdpoint hold {}", hold.id), &body])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn credentials_are_redacted() {
        assert_eq!(
            redact("curl -H Authorization: Bearer sk_live_abcdefghijkl https://x"),
            "curl -H Authorization: Bearer [redacted] https://x"
        );
        assert_eq!(redact("psql postgres://app:hunter2@db/app"), "psql [redacted]");
        assert_eq!(redact("rm -rf /var/lib/app"), "rm -rf /var/lib/app");
    }
}
