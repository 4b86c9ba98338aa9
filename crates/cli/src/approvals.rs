//! `approver add`, `pending`, `show`, `approve`, `deny`, `cancel` and `audit`: the human side
//! of holds. Approver tokens come from a file or the terminal, never from the environment.

use std::io::{BufRead, IsTerminal};
use std::path::Path;

use anyhow::{Context, Result, bail};
use holdpoint_store::{ApproverToken, Decision, ExportFrom, Hold, HoldId, unix_now};
use serde_json::json;

use crate::engines::Engines;
use crate::home::Home;
use crate::state::State;

fn open(home: &Home) -> Result<State> {
    let engines = Engines::load_lazy(home)?;
    State::open(home, engines.config())
}

pub fn approver_add(home: &Home, name: &str, json: bool) -> Result<u8> {
    let state = open(home)?;
    let token = state.run(state.store.add_approver(name, unix_now()))?;
    let secret = token.expose_secret();
    if json {
        println!("{}", json!({"name": name, "token": secret.as_str()}));
    } else {
        println!("{}", secret.as_str());
        eprintln!(
            "approver {name:?} added. The line above is their token, shown only now: keep it in a file only they can read \
             (chmod 600), outside every agent's workspace, and pass it with --token-file."
        );
    }
    Ok(0)
}

fn hold_json(h: &Hold) -> serde_json::Value {
    json!({
        "id": h.id.get(),
        "channel": h.channel.as_str(),
        "summary": h.summary,
        "reason": h.reason,
        "state": h.state.as_str(),
        "created": h.created,
        "expires": h.expires,
        "approvals": h.approvals,
        "approvers_needed": h.approvers_needed(),
        "delay_secs": h.obligations.delay_secs,
        "release_at": h.release_at,
        "digest": h.digest.to_string(),
    })
}

fn describe(h: &Hold, now: u64) -> String {
    let mut s =
        format!("hold {} [{}] {}: {}\n  why: {}", h.id, h.state.as_str(), h.channel.as_str(), h.summary, h.reason);
    s.push_str(&format!(
        "\n  approvals: {}/{}{}",
        h.approvals.len(),
        h.approvers_needed(),
        if h.approvals.is_empty() {
            String::new()
        } else {
            format!(" ({})", h.approvals.iter().map(|a| a.approver.as_str()).collect::<Vec<_>>().join(", "))
        }
    ));
    if let Some(at) = h.release_at {
        s.push_str(&format!(
            "\n  released {}",
            if at > now {
                format!("in {} s (cancel with `holdpoint cancel {}`)", at - now, h.id)
            } else {
                "now".into()
            }
        ));
    }
    if h.expires > now {
        s.push_str(&format!("\n  expires in {} s", h.expires - now));
    }
    s
}

pub fn pending(home: &Home, json: bool) -> Result<u8> {
    let state = open(home)?;
    let now = unix_now();
    let holds = state.run(state.store.pending(now))?;
    if json {
        println!("{}", json!({"holds": holds.iter().map(hold_json).collect::<Vec<_>>()}));
    } else if holds.is_empty() {
        println!("no holds waiting");
    } else {
        holds.iter().for_each(|h| println!("{}", describe(h, now)));
    }
    Ok(0)
}

pub fn show(home: &Home, id: &str, json: bool) -> Result<u8> {
    let state = open(home)?;
    let now = unix_now();
    let hold = state.run(state.store.get(parse_id(id)?, now))?;
    if json {
        let mut v = hold_json(&hold);
        if let Some(map) = v.as_object_mut() {
            map.insert("action".into(), serde_json::from_str(&hold.action_json).unwrap_or(serde_json::Value::Null));
        }
        println!("{v}");
    } else {
        println!("{}\n  action: {}\n  digest: {}", describe(&hold, now), hold.action_json, hold.digest);
    }
    Ok(0)
}

fn parse_id(id: &str) -> Result<HoldId> {
    id.parse().with_context(|| format!("{id:?} is not a hold id (a positive integer, as `holdpoint pending` lists)"))
}

/// The approver's token: from `--token-file`, or typed at a terminal. Never from the
/// environment, which an agent could read or set.
fn token(file: Option<&Path>) -> Result<ApproverToken> {
    let text = match file {
        Some(f) => std::fs::read_to_string(f).with_context(|| format!("cannot read the token file {}", f.display()))?,
        None => match std::io::stdin().is_terminal().then(|| ask_terminal("approver token: ", false)).transpose()? {
            Some(Some(line)) => line,
            _ => bail!("approving needs the approver's token: pass --token-file FILE, or run this at a terminal"),
        },
    };
    text.trim().parse().map_err(|_| anyhow::anyhow!("that is not an approver token (it starts with hpa_)"))
}

/// One line typed at the controlling terminal (`/dev/tty`, whatever stdin is), or `None`
/// when there is none. With `hidden` the terminal does not echo it (a passphrase, a secret).
pub(crate) fn ask_terminal(prompt: &str, hidden: bool) -> Result<Option<String>> {
    use std::io::Write;
    let Ok(tty) = std::fs::OpenOptions::new().read(true).write(true).open("/dev/tty") else { return Ok(None) };
    let mut out = &tty;
    let stty = |arg: &str| {
        let input = tty.try_clone().map(std::process::Stdio::from).unwrap_or_else(|_| std::process::Stdio::null());
        std::process::Command::new("stty").arg(arg).stdin(input).status().is_ok_and(|s| s.success())
    };
    let hid = hidden && stty("-echo");
    if hidden && !hid {
        write!(out, "(the terminal will show what you type) ")?;
    }
    write!(out, "{prompt}")?;
    out.flush()?;
    let mut line = String::new();
    let read = std::io::BufReader::new(&tty).read_line(&mut line);
    if hid {
        stty("echo");
        writeln!(out)?;
    }
    read.context("cannot read from the terminal")?;
    Ok(Some(line.trim_end_matches(['\n', '\r']).to_owned()))
}

/// How a decision was asked for on the command line.
pub struct Ask<'a> {
    pub note: Option<&'a str>,
    pub token_file: Option<&'a Path>,
    pub json: bool,
}

pub fn decide(home: &Home, id: &str, decision: Decision, ask: Ask<'_>) -> Result<u8> {
    let Ask { note, token_file, json } = ask;
    let id = parse_id(id)?;
    let token = token(token_file)?;
    let state = open(home)?;
    let now = unix_now();
    let hold = state.run(state.store.get(id, now))?;
    let signed = token.sign(id, &hold.digest, decision, now);
    let after = state.run(async {
        match decision {
            Decision::Approve => state.store.approve(id, &signed, note, now).await,
            Decision::Deny => state.store.deny(id, &signed, note, now).await,
            Decision::Cancel => state.store.cancel(id, &signed, note, now).await,
        }
    })?;
    if json {
        println!("{}", hold_json(&after));
    } else {
        println!("{}", describe(&after, now));
    }
    Ok(0)
}

pub fn audit_show(home: &Home, json: bool) -> Result<u8> {
    let state = open(home)?;
    let lines = state.run(state.store.export(ExportFrom::Seq(1)))?;
    for line in lines {
        if json {
            println!("{line}");
        } else {
            let v: serde_json::Value = serde_json::from_str(&line).unwrap_or_default();
            let field = |k: &str| v.get(k).cloned().unwrap_or_default();
            let hold = v.get("hold_id").map(|h| format!(" hold {h}")).unwrap_or_default();
            let verdict = v.get("verdict").and_then(|x| x.as_str()).map(|x| format!(" {x}")).unwrap_or_default();
            let kind = v.get("kind").and_then(|k| k.as_str()).unwrap_or("?");
            println!("{:>6} {} {kind}{hold}{verdict} {}", field("seq"), field("time"), field("detail"));
        }
    }
    Ok(0)
}

pub fn audit_verify(home: &Home, json: bool) -> Result<u8> {
    let state = open(home)?;
    let report = state.run(state.store.verify())?;
    if json {
        println!("{}", serde_json::to_string(&report)?);
    } else if report.is_ok() {
        println!("ok: {} records, {} checkpoints, chain intact", report.records, report.checkpoints);
    } else {
        for p in &report.problems {
            println!("record {}: {:?}: {}", p.seq, p.kind, p.detail);
        }
    }
    Ok(if report.is_ok() { 0 } else { 1 })
}

pub fn audit_export(home: &Home, since: Option<u64>) -> Result<u8> {
    let state = open(home)?;
    let from = since.map_or(ExportFrom::Seq(1), ExportFrom::Time);
    for line in state.run(state.store.export(from))? {
        println!("{line}");
    }
    Ok(0)
}
