//! One request, decided: its action (channel `http`, target the host, input the canonical
//! request), the classifier's effects, the policy's verdict, `unknown_hosts`, and for a hold
//! the approval queue. The refusal bodies are built here from core's `Denial`, the one wording
//! every wire shares.

use std::borrow::Cow;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use holdpoint_classify::http::{Body, HttpContext, HttpRequest, UrlParts, host_of_url};
use holdpoint_core::{
    Action, Actor, Channel, Denial, Effect, Obligations, Reversibility, Scope, TargetKind, Verb, Verdict, VerdictKind,
    push_json_str,
};
use holdpoint_policy::config::{Config, HostTags, UnknownHosts};
use holdpoint_policy::{Decision, Engine, Mode};
use holdpoint_store::{Hold, NewHold, Settled, Store, unix_now};
use serde::Deserialize;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use crate::inject::{Credentials, Injected, Outgoing};

/// The policy id reported when `unknown_hosts` decided.
const UNKNOWN_HOSTS: &str = "unknown-hosts";
/// The policy id reported when the vault refused a placeholder.
const VAULT_SCOPE: &str = "vault-scope";
/// What a hold from `unknown_hosts = "hold"` needs.
const UNKNOWN_HOST_HOLD: Obligations = Obligations { approvers: 1, delay_secs: 0, ttl_secs: 3600, soft_delete: false };
/// Decisions kept in memory before the memo starts over.
const MEMO_MAX: usize = 4096;
/// Text bodies up to this size are part of the action's input; larger ones by digest.
const BODY_TEXT_MAX: usize = 4096;

/// Headers that are about one connection or one attempt, not about the action: left out of
/// the action's input so a retry of the same action has the same digest. `user-agent` too: SDKs
/// put per-process details in it (botocore lists its feature ids in a different order per run).
const NOT_INPUT: &[&str] = &[
    "host",
    "content-length",
    "expect",
    "connection",
    "proxy-connection",
    "keep-alive",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "date",
    "x-amz-date",
    "amz-sdk-invocation-id",
    "amz-sdk-request",
    "user-agent",
];
/// Headers whose values are credentials: named in the input, never copied into it.
const REDACTED: &[&str] = &["authorization", "proxy-authorization", "cookie", "x-amz-security-token"];

/// What the binary does with decisions and new holds: audit them, announce them.
pub trait Recorder: Send + Sync {
    /// Every decision, allows too (the audit log). Both are handed over, so a recorder that
    /// writes later renders the record there, off the request's path.
    fn decided(&self, action: Action, decision: Arc<Decision>);
    /// A hold this proxy just queued (to tell approvers).
    fn held(&self, hold: &Hold);
}

/// Everything a decision needs: the policy, the config, the approval queue, the vault.
pub struct Gate {
    engine: Engine,
    config: Config,
    store: Store,
    recorder: Arc<dyn Recorder>,
    credentials: Arc<dyn Credentials>,
    rule_hosts: Vec<HostTags>,
    /// Decisions made, by everything the policy is given (see [`PolicyKey`]): equal keys are
    /// decided equally, so Cedar runs once per request shape. Shared, so a hit costs no copy
    /// of the decision.
    memo: Mutex<HashMap<PolicyKey, Arc<Decision>, foldhash::fast::RandomState>>,
    /// Whether a policy reads targets' ids, so that they are part of the memo's key.
    ids_matter: bool,
    /// When each vault secret's `last used` was last written (at most once a minute).
    touched: Mutex<HashMap<String, u64>>,
}

/// How often a secret's `last used` is written while the proxy keeps using it.
const TOUCH_EVERY_SECS: u64 = 60;

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").field("config", &self.config).finish_non_exhaustive()
    }
}

/// A request as the proxy read it.
pub(crate) struct Seen<'a> {
    pub method: &'a str,
    /// The absolute URL.
    pub url: &'a str,
    pub headers: &'a [(String, String)],
    /// The body, or its first `max_body + 1` bytes when `complete` is false.
    pub body: &'a [u8],
    pub complete: bool,
}

/// What to do with a request.
pub(crate) enum Outcome {
    /// Send it on, with the vault's secrets in place of their placeholders.
    Forward(Injected),
    /// Answer it with this refusal.
    Refuse(Denial),
}

impl Gate {
    /// A gate deciding with `engine` under `config`, queueing holds in `store`.
    pub fn new(
        engine: Engine,
        config: Config,
        store: Store,
        recorder: Arc<dyn Recorder>,
        credentials: Arc<dyn Credentials>,
    ) -> Gate {
        let ids_matter = engine.reads_target_ids();
        Gate {
            engine,
            ids_matter,
            config,
            store,
            recorder,
            credentials,
            rule_hosts: rule_hosts(),
            memo: Mutex::default(),
            touched: Mutex::default(),
        }
    }

    /// The configuration in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// The store holds are queued in.
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The vault's secrets in place of the placeholders of a request that is not decided as
    /// an HTTP request (the MCP gateway's, decided per call), within their bindings.
    pub(crate) fn inject(&self, request: &Outgoing<'_>) -> Result<Injected, Denial> {
        self.credentials.inject(request)
    }

    /// Decides one HTTP request as the egress proxy does, without sending it: the vault's
    /// placeholders replaced, the classifier, the policy, `unknown_hosts`, the audit record,
    /// and for a hold the approval queue (waiting up to `hold_wait`). `url` is absolute;
    /// `body` is the whole body. The injected secrets to send the request with, or its refusal.
    pub async fn decide_request(
        &self,
        method: &str,
        url: &str,
        headers: &[(String, String)],
        body: &[u8],
    ) -> Result<Injected, Denial> {
        match self.decide(&Seen { method, url, headers, body, complete: true }).await {
            Outcome::Forward(injected) => Ok(injected),
            Outcome::Refuse(denial) => Err(denial),
        }
    }

    /// Decides one request; every failure is a refusal with its reason.
    pub(crate) async fn decide(&self, seen: &Seen<'_>) -> Outcome {
        // Parsed once, for the vault, the host's tags and the classifier.
        let parsed = UrlParts::parse(seen.url).ok();
        let (Some(url), Some(host)) = (parsed.as_ref(), parsed.as_ref().and_then(host_of_url)) else {
            return Outcome::Refuse(Denial::BadInput { reason: format!("the URL {:?} has no host", seen.url) });
        };
        let outgoing = Outgoing {
            method: seen.method,
            url: seen.url,
            headers: seen.headers,
            body: seen.complete.then_some(seen.body),
            parsed: Some(url),
        };
        let injected = self.credentials.inject(&outgoing);
        let secret_tags = injected.as_ref().map(|i| i.tags.clone()).unwrap_or_default();
        let action = self.action(seen, url, &host, secret_tags);
        let decision = match &injected {
            // A placeholder outside its binding: the secret is never handed out, observe
            // mode or not.
            Err(denial) => Arc::new(refused(denial.clone(), VAULT_SCOPE, Mode::Enforce)),
            Ok(injected) => {
                let mut decision = self.shared_policy(&action);
                if self.config.proxy.unknown_hosts != UnknownHosts::Allow
                    && !self.knows(&host, &action.effects, injected)
                {
                    self.unknown_host(&host, Arc::make_mut(&mut decision));
                }
                decision
            }
        };
        let hold = match &decision.verdict {
            Verdict::Hold { obligations } if decision.mode == Mode::Enforce => Some(*obligations),
            _ => None,
        };
        let action = match hold {
            // The approval queue needs the action too.
            Some(_) => {
                self.recorder.decided(action.clone(), Arc::clone(&decision));
                Some(action)
            }
            None => {
                self.recorder.decided(action, Arc::clone(&decision));
                None
            }
        };
        let injected = match injected {
            Ok(injected) => injected,
            Err(denial) => return Outcome::Refuse(denial),
        };
        match (&decision.verdict, action, hold) {
            (Verdict::Hold { .. }, Some(action), Some(obligations)) => {
                match self.settle(summary(seen), &action, &decision, obligations).await {
                    Ok(()) => self.forward(injected),
                    Err(denial) => Outcome::Refuse(denial),
                }
            }
            (Verdict::Deny { denial }, ..) if decision.mode == Mode::Enforce => Outcome::Refuse(denial.clone()),
            _ => self.forward(injected),
        }
    }

    /// Decides an action another wire built (the PostgreSQL proxy's statements) as requests
    /// are decided: the policy (memoized by effects), the audit, and for a hold the approval
    /// queue, waiting up to `hold_wait`. `summary` is the line an approver reads first.
    pub(crate) async fn decide_action(&self, action: &Action, summary: &str) -> Result<(), Denial> {
        let decision = self.shared_policy(action);
        self.recorder.decided(action.clone(), Arc::clone(&decision));
        if decision.mode == Mode::Observe {
            return Ok(());
        }
        match &decision.verdict {
            Verdict::Allow => Ok(()),
            Verdict::Deny { denial } => Err(denial.clone()),
            Verdict::Hold { obligations } => self.settle(summary.to_owned(), action, &decision, *obligations).await,
        }
    }

    /// Forwards, noting (off the request path, at most once a minute per secret) that the
    /// request's vault secrets were used, for `vault list`.
    fn forward(&self, injected: Injected) -> Outcome {
        let now = unix_now();
        let mut due = Vec::new();
        if let Ok(mut touched) = self.touched.lock() {
            for name in &injected.secrets {
                if touched.get(name).is_none_or(|t| now.saturating_sub(*t) >= TOUCH_EVERY_SECS) {
                    touched.insert(name.clone(), now);
                    due.push(name.clone());
                }
            }
        }
        if !due.is_empty() {
            let store = self.store.clone();
            tokio::spawn(async move {
                for name in due {
                    // A lost `last used` is not worth failing a request for.
                    let _ = store.vault_touch(&name, now).await;
                }
            });
        }
        Outcome::Forward(injected)
    }

    /// The policy's decision, from the memo (shared, not copied) when an action the policy
    /// cannot tell apart from this one was decided before (see [`PolicyKey`]).
    pub(crate) fn shared_policy(&self, action: &Action) -> Arc<Decision> {
        let key = PolicyKey {
            channel: action.channel,
            agent: action.actor.agent.clone(),
            workspace: action.actor.workspace.clone(),
            effects: action.effects.iter().map(|e| EffectKey::of(e, self.ids_matter)).collect(),
        };
        if let Some(hit) = self.memo.lock().ok().and_then(|memo| memo.get(&key).cloned()) {
            return hit;
        }
        let decision = Arc::new(self.engine.decide(action));
        if let Ok(mut memo) = self.memo.lock() {
            if memo.len() >= MEMO_MAX {
                memo.clear();
            }
            memo.insert(key, Arc::clone(&decision));
        }
        decision
    }

    fn action(&self, seen: &Seen<'_>, url: &UrlParts<'_>, host: &str, secret_tags: Vec<String>) -> Action {
        let mut tags = self.config.host_tags(host);
        tags.extend(secret_tags);
        tags.sort_unstable();
        tags.dedup();
        let body = match (seen.complete, seen.body.is_empty()) {
            (false, _) => Body::TooLarge,
            (true, true) => Body::Empty,
            (true, false) => Body::Full(seen.body),
        };
        let request = HttpRequest { method: seen.method, url: seen.url, headers: seen.headers, body };
        let effects = holdpoint_classify::classify_http_url(&request, url, &HttpContext { tags });
        Action {
            channel: Channel::Http,
            actor: Actor { agent: None, session: None, workspace: String::new() },
            target: host.to_owned(),
            input: canonical_input(seen),
            effects,
        }
    }

    /// Whether a rule, a `[[hosts]]` entry or a vault secret knows the host, or the request
    /// is recognised whatever its host (AWS, by its signature).
    fn knows(&self, host: &str, effects: &[Effect], injected: &Injected) -> bool {
        self.config.hosts.iter().any(|h| h.matches(host))
            || self.rule_hosts.iter().any(|h| h.matches(host))
            || !injected.secrets.is_empty()
            || self.credentials.knows_host(host)
            || effects.iter().any(|e| e.rule.as_deref().is_some_and(|r| r.starts_with("aws-")))
    }

    fn unknown_host(&self, host: &str, decision: &mut Decision) {
        let setting = self.config.proxy.unknown_hosts;
        let reason = |what: &str| {
            format!(
                "{host} is a host no rule, [[hosts]] entry or vault secret knows, and [proxy] unknown_hosts is \"{what}\""
            )
        };
        match (setting, decision.verdict.kind()) {
            (UnknownHosts::Deny, VerdictKind::Allow | VerdictKind::Hold) => {
                let denial = Denial::Policy { policy: UNKNOWN_HOSTS.into(), reason: reason("deny") };
                *decision = Decision {
                    effects: std::mem::take(&mut decision.effects),
                    ..refused(denial, UNKNOWN_HOSTS, decision.mode)
                };
            }
            (UnknownHosts::Hold, VerdictKind::Allow) => {
                decision.verdict = Verdict::Hold { obligations: UNKNOWN_HOST_HOLD };
                decision.reasons = vec![reason("hold")];
                decision.policies = vec![UNKNOWN_HOSTS.into()];
            }
            _ => {}
        }
    }

    /// Audits a decision another wire made (the PostgreSQL proxy's statements).
    pub(crate) fn record(&self, action: Action, decision: Arc<Decision>) {
        self.recorder.decided(action, decision);
    }

    /// Uses a release of this exact request, or queues it and waits up to `hold_wait`.
    pub(crate) async fn settle(
        &self,
        summary: String,
        action: &Action,
        decision: &Decision,
        obligations: Obligations,
    ) -> Result<(), Denial> {
        let reason = decision.reasons.join("; ");
        let new = NewHold {
            digest: action.digest(),
            channel: action.channel,
            summary,
            reason: reason.clone(),
            action_json: serde_json::to_string(action).unwrap_or_default(),
            obligations,
        };
        let recorder = &self.recorder;
        match self.store.settle_held(new, self.config.hold_wait, unix_now, |hold| recorder.held(hold)).await {
            Ok(Settled::Released(_)) => Ok(()),
            Ok(Settled::Waiting(id)) => Err(Denial::Held { hold_id: Some(id.get()), reason }),
            Ok(Settled::Closed(id, state)) => {
                Err(Denial::HoldClosed { hold_id: id.get(), outcome: state.as_str().to_owned() })
            }
            Err(e) => {
                Err(Denial::Held { hold_id: None, reason: format!("{reason}; and the approval queue failed: {e}") })
            }
        }
    }
}

/// Everything a decision is made of besides the policy: the channel, the agent, the workspace
/// and each effect as the policy sees it.
#[derive(PartialEq, Eq, Hash)]
struct PolicyKey {
    channel: Channel,
    agent: Option<String>,
    workspace: String,
    effects: Vec<EffectKey>,
}

/// What the policy is given of an effect: its verb, its target's kind and tags, its
/// reversibility and scope, and its target's id only when a policy reads ids
/// ([`Engine::reads_target_ids`]). The classifier's rule and explanation never reach the policy.
/// Without ids, every URL, table or path of one request shape shares a decision.
#[derive(Clone, PartialEq, Eq, Hash)]
struct EffectKey {
    verb: Verb,
    kind: TargetKind,
    tags: BTreeSet<String>,
    reversibility: Reversibility,
    scope: Scope,
    id: Option<String>,
}

impl EffectKey {
    fn of(effect: &Effect, with_id: bool) -> EffectKey {
        EffectKey {
            verb: effect.verb,
            kind: effect.target.kind,
            tags: effect.target.tags.clone(),
            reversibility: effect.reversibility,
            scope: effect.scope,
            id: with_id.then(|| effect.target.id.clone()),
        }
    }
}

/// A decision that refuses with `denial`, reported as policy `policy`.
fn refused(denial: Denial, policy: &str, mode: Mode) -> Decision {
    Decision {
        reasons: vec![denial.to_string()],
        verdict: Verdict::Deny { denial },
        policies: vec![policy.to_owned()],
        mode,
        effects: vec![],
    }
}

/// The action's input: method, URL, headers (credentials named, not copied; per-attempt
/// headers left out) and the body's text, or its digest when it is binary or long. Written
/// straight as canonical JSON (keys sorted by their bytes, compact) rather than built as a
/// `Value` first: this runs for every request.
fn canonical_input(seen: &Seen<'_>) -> String {
    // By lower-cased name, a repeated header's values joined in the order sent. Borrowed
    // unless lower-casing or joining makes a new text (names from hyper are lower-case).
    let mut headers: Vec<(Cow<'_, str>, Cow<'_, str>)> = Vec::with_capacity(seen.headers.len());
    for (name, value) in seen.headers {
        let name = if name.bytes().any(|b| b.is_ascii_uppercase()) {
            Cow::Owned(name.to_ascii_lowercase())
        } else {
            Cow::Borrowed(name.as_str())
        };
        if NOT_INPUT.contains(&&*name) {
            continue;
        }
        let value = if REDACTED.contains(&&*name) { "[redacted]" } else { value.as_str() };
        match headers.iter_mut().find(|(n, _)| *n == name) {
            Some((_, joined)) => {
                let joined = joined.to_mut();
                joined.push_str(", ");
                joined.push_str(value);
            }
            None => headers.push((name, Cow::Borrowed(value))),
        }
    }
    headers.sort_unstable_by(|a, b| a.0.cmp(&b.0));
    let mut out =
        String::with_capacity(64 + seen.url.len() + headers.iter().map(|(n, v)| n.len() + v.len() + 6).sum::<usize>());
    // Keys in byte order: body | body_sha256 | body_too_large, headers, method, url.
    out.push('{');
    if !seen.complete {
        out.push_str("\"body_too_large\":true,");
    } else if !seen.body.is_empty() {
        match std::str::from_utf8(seen.body) {
            Ok(text) if text.len() <= BODY_TEXT_MAX => {
                out.push_str("\"body\":");
                push_json_str(&mut out, text);
            }
            _ => {
                out.push_str("\"body_sha256\":\"");
                out.push_str(&holdpoint_core::hex::encode(&Sha256::digest(seen.body)));
                out.push('"');
            }
        }
        out.push(',');
    }
    out.push_str("\"headers\":{");
    for (i, (name, value)) in headers.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        push_json_str(&mut out, name);
        out.push(':');
        push_json_str(&mut out, value);
    }
    out.push_str("},\"method\":");
    push_json_str(&mut out, seen.method);
    out.push_str(",\"url\":");
    push_json_str(&mut out, seen.url);
    out.push('}');
    out
}

/// One line an approver reads first.
fn summary(seen: &Seen<'_>) -> String {
    let line = format!("{} {}", seen.method, seen.url);
    let short: String = line.chars().take(200).collect();
    if short.len() < line.len() { format!("{short}…") } else { short }
}

/// The hosts the built-in HTTP rule pack names (any-host rules left out).
fn rule_hosts() -> Vec<HostTags> {
    #[derive(Deserialize)]
    struct Pack {
        rule: Vec<Rule>,
    }
    #[derive(Deserialize)]
    struct Rule {
        hosts: Vec<String>,
    }
    // A pack that does not parse knows no host: more hosts are unknown, never fewer.
    let pack: Pack = toml::from_str(holdpoint_classify::http::HTTP_RULES).unwrap_or(Pack { rule: vec![] });
    let mut hosts: Vec<String> = pack.rule.into_iter().flat_map(|r| r.hosts).filter(|h| h != "*").collect();
    hosts.sort_unstable();
    hosts.dedup();
    hosts.into_iter().map(|pattern| HostTags { pattern, tags: vec![] }).collect()
}

/// The JSON body of a refusal on HTTP: `{"verdict","hold_id"?,"reason","how_to_approve"?}`,
/// the reason being the denial's one sentence.
pub fn refusal_json(denial: &Denial) -> Value {
    let mut body = Map::new();
    body.insert("verdict".into(), json!(if denial.is_hold() { "hold" } else { "deny" }));
    body.insert("reason".into(), json!(denial.to_string()));
    match denial {
        Denial::Held { hold_id: Some(id), .. } => {
            body.insert("hold_id".into(), json!(id));
            body.insert("how_to_approve".into(), json!(format!("holdpoint approve {id}")));
        }
        Denial::HoldClosed { hold_id, .. } => {
            body.insert("hold_id".into(), json!(hold_id));
        }
        _ => {}
    }
    Value::Object(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps every decision the gate records.
    #[derive(Default)]
    struct Kept(Mutex<Vec<Arc<Decision>>>);

    impl Recorder for Kept {
        fn decided(&self, _: Action, decision: Arc<Decision>) {
            self.0.lock().unwrap().push(decision);
        }
        fn held(&self, _: &Hold) {}
    }

    async fn gate(dir: &std::path::Path, policies: &[holdpoint_policy::PolicyFile]) -> (Gate, Arc<Kept>) {
        let store = Store::open_sqlite(dir).await.unwrap();
        let engine = Engine::new(holdpoint_policy::Profile::Guarded, policies).unwrap();
        let kept = Arc::new(Kept::default());
        let gate = Gate::new(engine, Config::default(), store, kept.clone(), Arc::new(crate::NoCredentials));
        (gate, kept)
    }

    /// Under policies that never read a target's id, every URL of one request shape shares one
    /// decision (Cedar ran once); a policy that reads ids has each URL decided on its own, so a
    /// decision made for one URL is never reused for another it would refuse.
    #[tokio::test]
    async fn urls_share_a_decision_unless_a_policy_reads_ids() {
        let dir = tempfile::tempdir().unwrap();
        let (gate_, kept) = gate(dir.path(), &[]).await;
        for url in ["http://api.example.com/a", "http://api.example.com/b/c?x=1", "http://api.example.com/admin"] {
            assert!(gate_.decide_request("GET", url, &[], b"").await.is_ok(), "{url}");
        }
        let decisions = kept.0.lock().unwrap().clone();
        assert_eq!(decisions.len(), 3);
        assert!(decisions.windows(2).all(|w| Arc::ptr_eq(&w[0], &w[1])), "one shared decision");

        let dir = tempfile::tempdir().unwrap();
        let admin = holdpoint_policy::PolicyFile::new(
            "user.cedar",
            "@id(\"deny-admin\")\n@verdict(\"deny\")\n@reason(\"admin paths are off limits\")\n\
             forbid (principal, action, resource) when { resource.id like \"*/admin*\" };",
        );
        let (gate_, kept) = gate(dir.path(), &[admin]).await;
        assert!(gate_.decide_request("GET", "http://api.example.com/a", &[], b"").await.is_ok());
        let refused = gate_.decide_request("GET", "http://api.example.com/admin", &[], b"").await.unwrap_err();
        assert!(refused.to_string().contains("admin paths are off limits"), "{refused}");
        assert!(gate_.decide_request("GET", "http://api.example.com/b", &[], b"").await.is_ok());
        assert_eq!(kept.0.lock().unwrap().len(), 3);
    }

    fn seen<'a>(headers: &'a [(String, String)], body: &'a [u8]) -> Seen<'a> {
        Seen { method: "POST", url: "https://api.example.com/v1/x", headers, body, complete: true }
    }

    /// The input as it was first written: a `Value` made canonical by `canonical_json`.
    fn reference_input(seen: &Seen<'_>) -> String {
        let mut headers = Map::new();
        for (name, value) in seen.headers {
            let name = name.to_ascii_lowercase();
            if NOT_INPUT.contains(&name.as_str()) {
                continue;
            }
            let value = if REDACTED.contains(&name.as_str()) { "[redacted]" } else { value.as_str() };
            match headers.get_mut(&name) {
                Some(Value::String(joined)) => {
                    joined.push_str(", ");
                    joined.push_str(value);
                }
                _ => {
                    headers.insert(name, Value::String(value.to_owned()));
                }
            }
        }
        let mut input = Map::new();
        input.insert("method".into(), json!(seen.method));
        input.insert("url".into(), json!(seen.url));
        input.insert("headers".into(), Value::Object(headers));
        if !seen.complete {
            input.insert("body_too_large".into(), Value::Bool(true));
        } else if !seen.body.is_empty() {
            match std::str::from_utf8(seen.body) {
                Ok(text) if text.len() <= BODY_TEXT_MAX => {
                    input.insert("body".into(), json!(text));
                }
                _ => {
                    let digest: String = Sha256::digest(seen.body).iter().map(|b| format!("{b:02x}")).collect();
                    input.insert("body_sha256".into(), json!(digest));
                }
            }
        }
        holdpoint_core::canonical_json(&Value::Object(input))
    }

    /// The input written directly is byte for byte the canonical JSON of the same `Value`
    /// (approvals are bound to its digest): every escape, repeated and mixed-case headers,
    /// each kind of body.
    #[test]
    fn input_is_the_canonical_json_of_the_request() {
        let every_ascii: String = (0u8..128).map(char::from).collect();
        let header_sets: Vec<Vec<(String, String)>> = vec![
            vec![],
            vec![
                ("X-B".into(), "2".into()),
                ("x-a".into(), "1".into()),
                ("X-A".into(), "3".into()),
                ("Cookie".into(), "s=1".into()),
                ("x-amz-date".into(), "now".into()),
                ("X-Ctl".into(), every_ascii.clone()),
                ("x-ünï".into(), "日本\u{2028}\u{7f}".into()),
                ("a-b".into(), String::new()),
                ("a_b".into(), "under".into()),
                ("A".into(), "\"quoted\" \\ back".into()),
            ],
        ];
        let long = "x".repeat(BODY_TEXT_MAX + 1);
        let bodies: Vec<(&[u8], bool)> = vec![
            (b"", true),
            (b"{}", true),
            (every_ascii.as_bytes(), true),
            ("émoji 🦀 \u{0}".as_bytes(), true),
            (&[0xff, 0x00, 0x80], true),
            (long.as_bytes(), true),
            (b"partial", false),
        ];
        for headers in &header_sets {
            for (body, complete) in &bodies {
                for (method, url) in
                    [("GET", "https://api.example.com/v1/x?q=\"a\"&b=\\"), ("PØST", "http://h/\u{1}\t")]
                {
                    let seen = Seen { method, url, headers, body, complete: *complete };
                    assert_eq!(canonical_input(&seen), reference_input(&seen));
                }
            }
        }
    }

    #[test]
    fn input_names_credentials_and_leaves_out_per_attempt_headers() {
        let headers: Vec<(String, String)> = [
            ("Authorization", "Bearer sk-real"),
            ("X-Amz-Date", "20261125T000000Z"),
            ("Accept", "a"),
            ("accept", "b"),
            ("Content-Length", "2"),
        ]
        .iter()
        .map(|(n, v)| ((*n).to_owned(), (*v).to_owned()))
        .collect();
        let input = canonical_input(&seen(&headers, b"{}"));
        assert_eq!(
            input,
            r#"{"body":"{}","headers":{"accept":"a, b","authorization":"[redacted]"},"method":"POST","url":"https://api.example.com/v1/x"}"#
        );
        let binary = canonical_input(&seen(&[], &[0xff, 0x00]));
        assert!(binary.contains(r#""body_sha256":""#), "{binary}");
    }

    #[test]
    fn rule_pack_hosts_are_known_and_any_host_rules_are_not() {
        let hosts = rule_hosts();
        assert!(hosts.iter().any(|h| h.matches("api.github.com")));
        assert!(hosts.iter().any(|h| h.matches("storage.googleapis.com")));
        assert!(!hosts.iter().any(|h| h.matches("api.example.com")));
    }
}
