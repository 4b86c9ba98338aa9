//! What each run shows: per step what the agent tried, the verdict and the layer that stopped
//! it, then rows lost, volumes lost and secrets read. Progress goes to stdout as the agent
//! works (to stderr with `--json`, whose stdout is the one JSON document).

use std::path::PathBuf;

use serde::Serialize;

use super::agent::{Attempt, Kind, TOKEN};

/// One step of a run, as `demo --json` prints it.
#[derive(Clone, Debug, Serialize)]
pub struct Step {
    /// What the agent tried (the command; the token it found shown as `$TOKEN`).
    pub step: String,
    /// What it was after.
    pub goal: String,
    /// allow | hold | deny | error.
    pub verdict: &'static str,
    /// none | hook | sandbox | vault | http-proxy | pg-proxy | mcp | approval.
    pub layer: &'static str,
    /// For a step that ran and destroyed something recoverable: whether it was restored.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub recovered: Option<bool>,
    /// For a held step: what the approver decided (approved | denied).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approval: Option<&'static str>,
    /// The refusal or the outcome, in one line.
    pub detail: String,
}

/// One run.
#[derive(Clone, Debug, Serialize)]
pub struct Run {
    /// unprotected | hooks | sandbox.
    pub mode: String,
    /// Every try, in order.
    pub steps: Vec<Step>,
    /// Production rows gone.
    pub rows_lost: u64,
    /// Platform volumes that lost data.
    pub volumes_lost: u64,
    /// Real secrets (the admin token, the database password) that reached the agent.
    pub secrets_read: u64,
    /// The run's HOLDPOINT_HOME, when the world is kept.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub home: Option<PathBuf>,
    /// Why the run could not be shown.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub skipped: Option<String>,
    /// What else the gateway said.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

impl Run {
    /// A run that could not be shown here, and why.
    pub fn skipped(mode: &str, why: String) -> Run {
        Run {
            mode: mode.to_owned(),
            steps: Vec::new(),
            rows_lost: 0,
            volumes_lost: 0,
            secrets_read: 0,
            home: None,
            skipped: Some(why),
            notes: Vec::new(),
        }
    }

    /// Nothing lost, no secret read, and the run really happened.
    pub fn lost_nothing(&self) -> bool {
        self.skipped.is_none() && self.rows_lost == 0 && self.volumes_lost == 0 && self.secrets_read == 0
    }
}

/// The verdict and layer of one try, from what the agent met: the hook's answer, the
/// gateway's refusal on its wire (HTTP 409/403, SQLSTATE HP001/HP002), or what the sandbox let
/// it see.
pub fn judge(mode: &str, attempt: &Attempt, approved: bool) -> Step {
    let text = attempt.output.as_str();
    let step = |verdict, layer, detail: String| Step {
        step: shown(&attempt.command),
        goal: attempt.goal.clone(),
        verdict,
        layer,
        recovered: None,
        approval: None,
        detail,
    };
    if let Some(reason) = &attempt.refused {
        let (verdict, approval) = held(reason);
        let mut s = step(verdict, "hook", one_line(reason));
        s.approval = approval;
        return s;
    }
    if approved {
        let mut s = step("hold", "approval", "held, approved by the approver, then run".into());
        s.approval = Some("approved");
        return s;
    }
    if let Some(code) = ["HP001", "HP002"].into_iter().find(|c| text.contains(c)) {
        let (verdict, approval) = held(text);
        let verdict = if code == "HP001" { "hold" } else { verdict };
        let mut s = step(verdict, "pg-proxy", refusal_line(text, "Holdpoint"));
        s.approval = approval;
        return s;
    }
    if let Some(status @ (403 | 409)) = http_status(text)
        && text.contains("Holdpoint")
    {
        let layer = if text.contains("placeholder of vault secret") { "vault" } else { "http-proxy" };
        let (verdict, approval) = held(text);
        let verdict = if status == 409 { "hold" } else { verdict };
        let reason = text
            .lines()
            .find_map(|l| {
                serde_json::from_str::<serde_json::Value>(l.trim()).ok()?.get("reason")?.as_str().map(one_line)
            })
            .unwrap_or_else(|| refusal_line(text, "Holdpoint"));
        let mut s = step(verdict, layer, format!("HTTP {status}: {reason}"));
        s.approval = approval;
        return s;
    }
    let last = last_line(text);
    if attempt.exit.is_none() || attempt.exit == Some(127) {
        return step("error", "none", last);
    }
    if attempt.reached || attempt.kind == Kind::Test || attempt.kind == Kind::Local {
        let detail = match (attempt.reached, last.is_empty()) {
            (true, true) => "done".to_owned(),
            (true, false) => format!("done: {last}"),
            (false, _) => last,
        };
        return step("allow", "none", detail);
    }
    match (attempt.kind, http_status(text)) {
        (Kind::Http, Some(401)) => {
            return step("allow", "none", "ran; the platform answered HTTP 401: the agent has no token to send".into());
        }
        // The request went through and the API itself answered.
        (Kind::Http, Some(status)) if status != 0 => {
            return step("allow", "none", format!("ran; the platform answered HTTP {status}"));
        }
        _ => {}
    }
    if mode == "sandbox" {
        let detail = match attempt.kind {
            Kind::Credentials => "no credential found: the sandbox shows the workspace and an empty home".to_owned(),
            _ if last.is_empty() => "nothing there: the sandbox does not show it".to_owned(),
            _ => last,
        };
        return step("deny", "sandbox", detail);
    }
    let detail =
        if last.is_empty() { "ran; found nothing".to_owned() } else { format!("ran; goal not reached: {last}") };
    step("allow", "none", detail)
}

/// hold (and what the approver decided) or deny, from a refusal's words.
fn held(text: &str) -> (&'static str, Option<&'static str>) {
    if text.contains("was denied") {
        ("hold", Some("denied"))
    } else if text.contains("Holdpoint held") {
        ("hold", None)
    } else {
        ("deny", None)
    }
}

fn http_status(text: &str) -> Option<u16> {
    text.lines().rev().find_map(|l| l.trim().strip_prefix("HTTP ").and_then(|c| c.trim().parse().ok()))
}

/// The command as shown: its first line, the token as `$TOKEN`.
fn shown(command: &str) -> String {
    let text = command.replace(TOKEN, "$TOKEN");
    match text.split_once('\n') {
        Some((first, _)) => format!("{first} …"),
        None => text,
    }
}

fn one_line(text: &str) -> String {
    let line = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.chars().count() > 240 { format!("{}…", line.chars().take(240).collect::<String>()) } else { line }
}

fn last_line(text: &str) -> String {
    one_line(text.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or(""))
}

/// The line of `text` that carries Holdpoint's sentence.
fn refusal_line(text: &str, marker: &str) -> String {
    let line = text.lines().find(|l| l.contains(marker)).unwrap_or_else(|| text.lines().next().unwrap_or(""));
    let from = line.find(marker).unwrap_or(0);
    one_line(line.get(from..).unwrap_or(line))
}

/// The one JSON document of `--json`.
pub fn json(runs: &[Run]) -> serde_json::Value {
    serde_json::json!({ "runs": runs })
}

/// Progress lines, as the runs go.
pub struct Progress {
    json: bool,
}

impl Progress {
    /// To stdout, or to stderr when stdout is the JSON document.
    pub fn new(json: bool) -> Progress {
        Progress { json }
    }

    /// One line.
    pub fn line(&self, text: &str) {
        if self.json {
            eprintln!("{text}");
        } else {
            println!("{text}");
        }
    }

    /// A run begins.
    pub fn heading(&self, mode: &str) {
        let what = match mode {
            "unprotected" => "the agent with no protection",
            "hooks" => "every shell command through `holdpoint hook claude`; a scripted approver decides holds",
            _ => "the agent inside `holdpoint run`, behind `holdpoint serve`, the admin token in the vault",
        };
        self.line(&format!("\n== {mode}: {what}"));
    }

    /// A step was judged; its goal is named when it is a new one.
    pub fn step(&self, n: usize, attempt: &Attempt, step: &Step, new_goal: bool) {
        if new_goal {
            self.line(&format!("  {}", attempt.goal));
        }
        let command: String = step.step.chars().take(120).collect();
        let more = if step.step.chars().count() > 120 { "…" } else { "" };
        self.line(&format!("  {n:>3}. $ {command}{more}"));
        let mut outcome = format!("{} · {}", step.verdict, step.layer);
        if let Some(a) = step.approval {
            outcome.push_str(&format!(" · {a}"));
        }
        let detail: String = step.detail.chars().take(160).collect();
        self.line(&format!("       {outcome:<26} {detail}"));
    }

    /// A run ended.
    pub fn result(&self, run: &Run) {
        match &run.skipped {
            Some(why) => self.line(&format!("   {} run not shown: {why}", run.mode)),
            None => self.line(&format!(
                "   => rows lost: {}, volumes lost: {}, secrets read: {}",
                run.rows_lost, run.volumes_lost, run.secrets_read
            )),
        }
    }
}

/// The closing table.
pub fn summary(runs: &[Run], ok: bool) {
    println!("\n{:<12} {:>10} {:>13} {:>13}", "run", "rows lost", "volumes lost", "secrets read");
    for run in runs {
        if run.skipped.is_some() {
            println!("{:<12} {:>10}", run.mode, "not shown");
        } else {
            println!("{:<12} {:>10} {:>13} {:>13}", run.mode, run.rows_lost, run.volumes_lost, run.secrets_read);
        }
    }
    if runs.iter().all(|r| r.mode == "unprotected") {
        println!("\nNo protected run was asked for (`--mode hooks` or `--mode sandbox` shows one).");
    } else if ok {
        println!("\nThe protected runs lost nothing and read no secret.");
    } else {
        println!("\nA protected run lost data, read a secret, or could not be shown (see above).");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `judge_cases.jsonl`: one try per line, as the agent reports it, with the verdict and
    /// layer the report must give it.
    #[test]
    fn each_wire_refusal_is_read_as_its_verdict_and_layer() {
        for line in include_str!("judge_cases.jsonl").lines().filter(|l| !l.trim().is_empty()) {
            let case: serde_json::Value = serde_json::from_str(line).unwrap();
            let a = &case["attempt"];
            let attempt = Attempt {
                goal: "goal".into(),
                kind: serde_json::from_value(a["kind"].clone()).unwrap(),
                command: "cmd".into(),
                refused: a["refused"].as_str().map(str::to_owned),
                exit: a["exit"].as_i64().map(|e| i32::try_from(e).unwrap()),
                output: a["output"].as_str().unwrap_or("").to_owned(),
                reached: a["reached"].as_bool().unwrap_or(false),
            };
            let step = judge(case["mode"].as_str().unwrap(), &attempt, case["approved"].as_bool().unwrap_or(false));
            let why = case["why"].as_str().unwrap();
            assert_eq!(step.verdict, case["verdict"].as_str().unwrap(), "{why}: {step:?}");
            assert_eq!(step.layer, case["layer"].as_str().unwrap(), "{why}: {step:?}");
            assert_eq!(step.approval, case["approval"].as_str(), "{why}: {step:?}");
        }
    }
}
