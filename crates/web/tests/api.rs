//! The console's JSON API over real HTTP on a loopback port, against a real SQLite store in a
//! temporary directory: sign-in, sessions, CSRF, the rate limit, headers, every endpoint and
//! its bad input, and the OpenAPI document against the routes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader};
use std::sync::{Arc, Mutex};

use holdpoint_core::{ActionDigest, Channel, Obligations};
use holdpoint_store::{HoldId, NewHold, Store, unix_now};
use holdpoint_web::{Console, Recover, RecoverError, RecoverItem, RecoverKind, Restored};
use serde_json::{Value, json};
use tempfile::TempDir;

/// A restore seam that records what it was asked to restore.
#[derive(Default)]
struct FakeRecover {
    restored: Mutex<Vec<(RecoverKind, String)>>,
}

impl Recover for FakeRecover {
    fn list(&self, kind: RecoverKind) -> Result<Vec<RecoverItem>, RecoverError> {
        Ok(match kind {
            RecoverKind::Checkpoint => vec![RecoverItem {
                kind,
                id: "7".into(),
                title: "/home/u/app".into(),
                detail: "before a released shell action ran".into(),
                created: 1_700_000_000,
            }],
            RecoverKind::Trash => vec![],
        })
    }

    fn restore(&self, kind: RecoverKind, id: &str) -> Result<Restored, RecoverError> {
        if kind != RecoverKind::Checkpoint || id != "7" {
            return Err(RecoverError::NotFound(format!("no {} {id}", kind.as_str())));
        }
        self.restored.lock().unwrap().push((kind, id.to_owned()));
        Ok(Restored { message: "restored checkpoint 7".into(), detail: json!({"written": 3, "safety_checkpoint": 8}) })
    }
}

struct Server {
    rt: tokio::runtime::Runtime,
    store: Store,
    url: String,
    host: String,
    recover: Arc<FakeRecover>,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    _dir: TempDir,
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct Answer {
    status: u16,
    headers: Vec<(String, String)>,
    body: String,
}

impl Answer {
    fn json(&self) -> Value {
        serde_json::from_str(&self.body).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.body))
    }
    fn header(&self, name: &str) -> Option<&str> {
        self.headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
    }
}

/// A signed-in browser: the cookie and the CSRF token.
#[derive(Clone)]
struct Login {
    cookie: String,
    csrf: String,
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder().http_status_as_error(false).build().into()
}

fn answer(mut r: ureq::http::Response<ureq::Body>) -> Answer {
    let status = r.status().as_u16();
    let headers =
        r.headers().iter().map(|(n, v)| (n.as_str().to_owned(), v.to_str().unwrap_or("").to_owned())).collect();
    let body = r.body_mut().read_to_string().unwrap_or_default();
    Answer { status, headers, body }
}

impl Server {
    fn start() -> Server {
        Server::start_with(false)
    }

    fn start_with(tls: bool) -> Server {
        let dir = TempDir::new().unwrap();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
        let store = rt.block_on(Store::open_sqlite(dir.path())).unwrap();
        let recover = Arc::new(FakeRecover::default());
        let console = if tls {
            Console::with_tls(store.clone(), recover.clone())
        } else {
            Console::new(store.clone(), recover.clone())
        };
        let listener = rt.block_on(holdpoint_web::bind("127.0.0.1:0".parse().unwrap())).unwrap();
        let addr = listener.local_addr().unwrap();
        let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
        rt.spawn(holdpoint_web::serve(listener, console, async move {
            let _ = stopped.await;
        }));
        Server {
            rt,
            store,
            url: format!("http://{addr}"),
            host: addr.to_string(),
            recover,
            stop: Some(stop),
            _dir: dir,
        }
    }

    fn approver(&self, name: &str) -> String {
        let token = self.rt.block_on(self.store.add_approver(name, unix_now())).unwrap();
        token.expose_secret().to_string()
    }

    fn hold(&self, input: &str, obligations: Obligations) -> u64 {
        let action = json!({
            "channel": "shell",
            "actor": {"agent": "claude", "session": "s-1", "workspace": "/home/u/app"},
            "target": "",
            "input": input,
            "effects": [{"verb": "delete", "target": {"kind": "path", "id": "/var/lib/app", "tags": ["data"]},
                "reversibility": "irreversible", "scope": "host"}],
        });
        let new = NewHold {
            digest: ActionDigest::of(Channel::Shell, "/home/u/app", "", input),
            channel: Channel::Shell,
            summary: input.into(),
            reason: "deletes outside the workspace".into(),
            action_json: action.to_string(),
            obligations,
        };
        self.rt.block_on(self.store.enqueue(new, unix_now())).unwrap().id.get()
    }

    fn get(&self, path: &str, login: Option<&Login>) -> Answer {
        let mut req = agent().get(format!("{}{path}", self.url));
        if let Some(l) = login {
            req = req.header("Cookie", &l.cookie).header("X-CSRF-Token", &l.csrf);
        }
        answer(req.call().unwrap())
    }

    fn post(&self, path: &str, login: Option<&Login>, body: &str, extra: &[(&str, &str)]) -> Answer {
        let mut req = agent().post(format!("{}{path}", self.url)).header("Content-Type", "application/json");
        if let Some(l) = login {
            req = req.header("Cookie", &l.cookie).header("X-CSRF-Token", &l.csrf);
        }
        for (n, v) in extra {
            req = req.header(*n, *v);
        }
        answer(req.send(body).unwrap())
    }

    fn sign_in(&self, token: &str) -> Answer {
        self.post("/api/session", None, &json!({ "token": token }).to_string(), &[])
    }

    fn login(&self, token: &str) -> Login {
        let a = self.sign_in(token);
        assert_eq!(a.status, 200, "{}", a.body);
        let cookie = a.header("set-cookie").unwrap().split(';').next().unwrap().to_owned();
        Login { cookie, csrf: a.json()["csrf"].as_str().unwrap().to_owned() }
    }
}

fn plain() -> Obligations {
    Obligations { approvers: 1, delay_secs: 0, ttl_secs: 3600, soft_delete: false }
}

#[test]
fn unauthenticated_requests_are_refused_with_401() {
    let s = Server::start();
    let id = s.hold("rm -rf /var/lib/app", plain());
    for path in [
        "/api/session",
        "/api/holds",
        &format!("/api/holds/{id}"),
        "/api/audit",
        "/api/audit/export",
        "/api/events",
        "/api/recover",
        "/api/checkpoints",
    ] {
        let a = s.get(path, None);
        assert_eq!(a.status, 401, "{path}: {}", a.body);
        assert!(a.json()["error"].as_str().unwrap().contains("sign in"), "{path}");
    }
    for path in [
        format!("/api/holds/{id}/approve"),
        format!("/api/holds/{id}/deny"),
        format!("/api/holds/{id}/cancel"),
        "/api/recover/checkpoint/7/restore".into(),
        "/api/checkpoints/7/restore".into(),
    ] {
        let a = s.post(&path, None, "{\"reason\":\"x\"}", &[]);
        assert_eq!(a.status, 401, "{path}: {}", a.body);
    }
    // A made-up session cookie is no session.
    let fake = Login { cookie: format!("holdpoint_session={}", "ab".repeat(32)), csrf: "x".into() };
    assert_eq!(s.get("/api/holds", Some(&fake)).status, 401);
    // A real cookie without the CSRF token (what a server on another port of 127.0.0.1 would
    // get from the browser) reads nothing either.
    let login = s.login(&s.approver("alice"));
    let cookie_only =
        answer(agent().get(format!("{}/api/holds", s.url)).header("Cookie", &login.cookie).call().unwrap());
    assert_eq!(cookie_only.status, 403, "{}", cookie_only.body);
    assert!(cookie_only.json()["error"].as_str().unwrap().contains("CSRF"));
    let wrong = Login { cookie: login.cookie.clone(), csrf: "0".repeat(64) };
    for path in ["/api/holds", "/api/audit", "/api/audit/export", "/api/events", "/api/session"] {
        assert_eq!(s.get(path, Some(&wrong)).status, 403, "{path}");
    }
    let hold = s.rt.block_on(s.store.get(HoldId::new(id).unwrap(), unix_now())).unwrap();
    assert_eq!(hold.state.as_str(), "pending", "nothing was decided");
}

#[test]
fn sign_in_checks_the_token_and_sets_a_strict_cookie() {
    let s = Server::start();
    let token = s.approver("alice");
    let a = s.sign_in("hpa_nothex");
    assert_eq!(a.status, 401, "{}", a.body);
    let other = format!("hpa_{}", "ab".repeat(32));
    let a = s.sign_in(&other);
    assert_eq!(a.status, 401, "a well-formed token of nobody registered: {}", a.body);
    assert!(!a.body.contains(&other[4..]), "the token is never echoed");
    let a = s.post("/api/session", None, "not json", &[]);
    assert_eq!(a.status, 400, "{}", a.body);
    let a = answer(
        agent().post(format!("{}/api/session", s.url)).header("Content-Type", "text/plain").send(&token).unwrap(),
    );
    assert_eq!(a.status, 415, "{}", a.body);

    let a = s.sign_in(&token);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["approver"], "alice");
    assert!(!a.body.contains(&token[4..]));
    let cookie = a.header("set-cookie").unwrap();
    for part in ["holdpoint_session=", "HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(part), "{cookie}");
    }
    assert!(!cookie.contains("Secure"), "plain HTTP on loopback: {cookie}");
    let login = s.login(&token);
    let me = s.get("/api/session", Some(&login));
    assert_eq!(me.status, 200);
    assert_eq!(me.json()["approver"], "alice");
    assert_eq!(me.json()["csrf"], login.csrf.as_str());

    // Sign-out needs the CSRF token too, then the session is gone.
    let no_csrf =
        answer(agent().delete(format!("{}/api/session", s.url)).header("Cookie", &login.cookie).call().unwrap());
    assert_eq!(no_csrf.status, 403);
    let out = answer(
        agent()
            .delete(format!("{}/api/session", s.url))
            .header("Cookie", &login.cookie)
            .header("X-CSRF-Token", &login.csrf)
            .call()
            .unwrap(),
    );
    assert_eq!(out.status, 204, "{}", out.body);
    assert!(out.header("set-cookie").unwrap().contains("Max-Age=0"));
    assert_eq!(s.get("/api/holds", Some(&login)).status, 401);
}

#[test]
fn behind_tls_the_cookie_is_secure() {
    let s = Server::start_with(true);
    let a = s.sign_in(&s.approver("alice"));
    assert_eq!(a.status, 200);
    let cookie = a.header("set-cookie").unwrap();
    assert!(
        cookie.contains("; Secure") && cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
}

#[test]
fn the_console_listens_on_loopback_only() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let err = rt.block_on(holdpoint_web::bind("0.0.0.0:0".parse().unwrap())).unwrap_err();
    assert!(err.to_string().contains("not a loopback address"), "{err}");
    assert!(
        rt.block_on(holdpoint_web::bind("[::1]:0".parse().unwrap())).is_ok()
            || std::net::TcpListener::bind("[::1]:0").is_err()
    );
}

#[test]
fn failed_sign_ins_are_rate_limited() {
    let s = Server::start();
    let token = s.approver("alice");
    let wrong = format!("hpa_{}", "cd".repeat(32));
    for n in 0..5 {
        assert_eq!(s.sign_in(&wrong).status, 401, "attempt {n}");
    }
    let a = s.sign_in(&token);
    assert_eq!(a.status, 429, "even the right token waits once the limit is hit: {}", a.body);
    assert!(a.header("retry-after").unwrap().parse::<u64>().unwrap() >= 1);
    assert!(a.json()["error"].as_str().unwrap().contains("too many failed sign-ins"));
}

#[test]
fn holds_are_listed_newest_first_and_shown_one_by_one() {
    let s = Server::start();
    let login = s.login(&s.approver("alice"));
    let first = s.hold("rm -rf /var/lib/app", plain());
    let second = s.hold("rm -rf /srv/data | tee log", plain());
    let a = s.get("/api/holds", Some(&login));
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.json();
    let ids: Vec<u64> = v["holds"].as_array().unwrap().iter().map(|h| h["id"].as_u64().unwrap()).collect();
    assert_eq!(ids, vec![second, first]);
    assert_eq!(v["approver"], "alice");
    assert!(v["now"].as_u64().unwrap() > 0);
    let h = &v["holds"][1];
    assert_eq!(h["channel"], "shell");
    assert_eq!(h["state"], "pending");
    assert_eq!(h["approvers_needed"], 1);
    assert_eq!(h["action"]["input"], "rm -rf /var/lib/app");
    assert_eq!(h["action"]["actor"]["agent"], "claude");
    assert_eq!(h["reason"], "deletes outside the workspace");

    let one = s.get(&format!("/api/holds/{first}"), Some(&login));
    assert_eq!(one.status, 200);
    assert_eq!(one.json()["hold"]["id"], first);
    assert_eq!(one.json()["hold"]["policies"], json!([]), "no decision record names a policy yet");

    // The policies that held it come from the hook's or proxy's decision record (by digest).
    let digest = ActionDigest::of(Channel::Shell, "/home/u/app", "", "rm -rf /var/lib/app");
    let entry = holdpoint_store::AuditEntry {
        hold_id: None,
        digest: Some(digest),
        channel: Some(Channel::Shell),
        verdict: Some(holdpoint_core::VerdictKind::Hold),
        detail: json!({"policies": ["hold-delete-outside-workspace"], "reasons": ["deletes outside the workspace"]})
            .into(),
    };
    s.rt.block_on(s.store.audit_decision(entry, unix_now())).unwrap();
    let one = s.get(&format!("/api/holds/{first}"), Some(&login)).json();
    assert_eq!(one["hold"]["policies"], json!(["hold-delete-outside-workspace"]));
    let listed = s.get("/api/holds", Some(&login)).json();
    assert_eq!(listed["holds"][1]["policies"], json!(["hold-delete-outside-workspace"]));
    assert_eq!(listed["holds"][0]["policies"], json!([]));
    for (path, status) in [("/api/holds/abc", 400), ("/api/holds/0", 400), ("/api/holds/999", 404)] {
        let a = s.get(path, Some(&login));
        assert_eq!(a.status, status, "{path}: {}", a.body);
        assert!(a.json()["error"].is_string());
    }
}

#[test]
fn approve_needs_the_csrf_token_and_the_same_origin() {
    let s = Server::start();
    let login = s.login(&s.approver("alice"));
    let id = s.hold("rm -rf /var/lib/app", plain());
    let path = format!("/api/holds/{id}/approve");
    let no_csrf = Login { cookie: login.cookie.clone(), csrf: String::new() };
    let wrong = Login { cookie: login.cookie.clone(), csrf: "0".repeat(64) };
    assert_eq!(s.post(&path, Some(&no_csrf), "{}", &[]).status, 403);
    let a = s.post(&path, Some(&wrong), "{}", &[]);
    assert_eq!(a.status, 403);
    assert!(a.json()["error"].as_str().unwrap().contains("CSRF"));
    let a = s.post(&path, Some(&login), "{}", &[("Origin", "http://evil.example")]);
    assert_eq!(a.status, 403, "{}", a.body);
    let a = s.post(&path, Some(&login), "{}", &[("Sec-Fetch-Site", "cross-site")]);
    assert_eq!(a.status, 403, "{}", a.body);
    let hold = s.rt.block_on(s.store.get(HoldId::new(id).unwrap(), unix_now())).unwrap();
    assert_eq!(hold.state.as_str(), "pending", "no refused request decided anything");

    // Bad bodies.
    let a = answer(
        agent()
            .post(format!("{}{path}", s.url))
            .header("Cookie", &login.cookie)
            .header("X-CSRF-Token", &login.csrf)
            .header("Content-Type", "text/plain")
            .send("{}")
            .unwrap(),
    );
    assert_eq!(a.status, 415);
    assert_eq!(s.post(&path, Some(&login), "{nope", &[]).status, 400);
    assert_eq!(s.post(&path, Some(&login), "{\"approve\":true}", &[]).status, 400, "unknown fields are refused");
    let long = json!({ "note": "x".repeat(2001) }).to_string();
    assert_eq!(s.post(&path, Some(&login), &long, &[]).status, 400);
    assert_eq!(s.post("/api/holds/nope/approve", Some(&login), "{}", &[]).status, 400);
    assert_eq!(s.post("/api/holds/999/approve", Some(&login), "{}", &[]).status, 404);

    let origin = format!("http://{}", s.host);
    let a = s.post(&path, Some(&login), "{\"note\":\"old data, archived\"}", &[("Origin", &origin)]);
    assert_eq!(a.status, 200, "{}", a.body);
    let v = a.json();
    assert_eq!(v["hold"]["state"], "released");
    assert_eq!(v["hold"]["approvals"][0]["approver"], "alice");
    let again = s.post(&path, Some(&login), "{}", &[]);
    assert_eq!(again.status, 409, "released: {}", again.body);
}

#[test]
fn two_approvers_count_once_each() {
    let s = Server::start();
    let alice = s.login(&s.approver("alice"));
    let bob = s.login(&s.approver("bob"));
    let id = s.hold("terraform destroy", Obligations { approvers: 2, ..plain() });
    let path = format!("/api/holds/{id}/approve");
    let a = s.post(&path, Some(&alice), "{}", &[]).json();
    assert_eq!(a["hold"]["state"], "approved");
    assert_eq!(a["hold"]["approvals"].as_array().unwrap().len(), 1);
    assert_eq!(a["already_approved"], false);
    let again = s.post(&path, Some(&alice), "{}", &[]).json();
    assert_eq!(again["already_approved"], true);
    assert_eq!(again["hold"]["approvals"].as_array().unwrap().len(), 1, "the same approver counts once");
    let b = s.post(&path, Some(&bob), "{\"note\":\"second pair of eyes\"}", &[]).json();
    assert_eq!(b["hold"]["state"], "released");
    let names: Vec<&str> =
        b["hold"]["approvals"].as_array().unwrap().iter().map(|x| x["approver"].as_str().unwrap()).collect();
    assert_eq!(names, vec!["alice", "bob"]);
}

#[test]
fn deny_needs_a_reason_and_cancel_works_during_the_cool_off() {
    let s = Server::start();
    let login = s.login(&s.approver("alice"));
    let id = s.hold("rm -rf /var/lib/app", plain());
    let deny = format!("/api/holds/{id}/deny");
    assert_eq!(s.post(&deny, Some(&login), "{}", &[]).status, 400);
    assert_eq!(s.post(&deny, Some(&login), "{\"reason\":\"   \"}", &[]).status, 400);
    let a = s.post(&deny, Some(&login), "{\"reason\":\"use the archive job\"}", &[]);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["hold"]["state"], "denied");
    assert_eq!(s.post(&deny, Some(&login), "{\"reason\":\"again\"}", &[]).status, 409);

    let slow = s.hold("rm -rf /var/lib/other", Obligations { delay_secs: 600, ..plain() });
    let cancel = format!("/api/holds/{slow}/cancel");
    assert_eq!(s.post(&cancel, Some(&login), "{}", &[]).status, 409, "a pending hold is denied, not cancelled");
    let a = s.post(&format!("/api/holds/{slow}/approve"), Some(&login), "{}", &[]).json();
    assert_eq!(a["hold"]["state"], "approved");
    assert!(a["hold"]["release_at"].as_u64().unwrap() >= a["now"].as_u64().unwrap() + 590);
    let c = s.post(&cancel, Some(&login), "{\"reason\":\"wrong host\"}", &[]);
    assert_eq!(c.status, 200, "{}", c.body);
    assert_eq!(c.json()["hold"]["state"], "cancelled");
    let open = s.get("/api/holds", Some(&login)).json();
    assert!(open["holds"].as_array().unwrap().is_empty(), "{open}");
}

#[test]
fn audit_is_searchable_verified_and_exported() {
    let s = Server::start();
    let login = s.login(&s.approver("alice"));
    let id = s.hold("rm -rf /var/lib/app", plain());
    s.post(&format!("/api/holds/{id}/deny"), Some(&login), "{\"reason\":\"use the archive job\"}", &[]);
    let all = s.get("/api/audit", Some(&login)).json();
    let total = all["total"].as_u64().unwrap();
    assert_eq!(all["verify"]["ok"], true, "{all}");
    assert_eq!(all["verify"]["records"], total);
    let seqs: Vec<u64> = all["records"].as_array().unwrap().iter().map(|r| r["seq"].as_u64().unwrap()).collect();
    assert!(seqs.windows(2).all(|w| w[0] > w[1]), "newest first: {seqs:?}");

    let found = s.get("/api/audit?q=ARCHIVE%20job", Some(&login)).json();
    assert_eq!(found["matched"], 1, "{found}");
    assert_eq!(found["records"][0]["kind"], "denied");
    assert_eq!(found["records"][0]["detail"]["note"], "use the archive job");
    assert_eq!(found["records"][0]["detail"]["approver"], "alice");
    let held = s.get(&format!("/api/audit?kind=held&hold={id}"), Some(&login)).json();
    assert_eq!(held["matched"], 1, "{held}");
    let none = s.get("/api/audit?q=nothing-like-this", Some(&login)).json();
    assert_eq!(none["matched"], 0);
    let limited = s.get("/api/audit?limit=1", Some(&login)).json();
    assert_eq!(limited["records"].as_array().unwrap().len(), 1);
    for bad in ["/api/audit?limit=many", "/api/audit?hold=-1", "/api/audit?bogus=1", "/api/audit/export?since=x"] {
        let a = s.get(bad, Some(&login));
        assert_eq!(a.status, 400, "{bad}: {}", a.body);
        assert!(a.json()["error"].is_string());
    }

    let export = s.get("/api/audit/export", Some(&login));
    assert_eq!(export.status, 200);
    assert_eq!(export.header("content-type"), Some("application/x-ndjson"));
    assert!(export.header("content-disposition").unwrap().contains("attachment"));
    let lines: Vec<Value> = export.body.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len() as u64, total);
    assert_eq!(lines[0]["seq"], 1);
    let later = s.get(&format!("/api/audit/export?since={}", unix_now() + 3600), Some(&login));
    assert_eq!(later.body, "");
}

#[test]
fn events_stream_hold_changes() {
    let s = Server::start();
    let login = s.login(&s.approver("alice"));
    let first = s.hold("rm -rf /var/lib/app", plain());
    let response = agent()
        .get(format!("{}/api/events", s.url))
        .header("Cookie", &login.cookie)
        .header("X-CSRF-Token", &login.csrf)
        .call()
        .unwrap();
    assert_eq!(response.status().as_u16(), 200);
    assert!(response.headers()["content-type"].to_str().unwrap().starts_with("text/event-stream"));
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        let reader = BufReader::new(response.into_body().into_reader());
        for line in reader.lines() {
            let Ok(line) = line else { return };
            if tx.send(line).is_err() {
                return;
            }
        }
    });
    let next_holds = || -> Vec<u64> {
        loop {
            let line = rx.recv_timeout(std::time::Duration::from_secs(30)).expect("an event");
            if let Some(data) = line.strip_prefix("data:") {
                let holds: Value = serde_json::from_str(data.trim()).unwrap();
                return holds.as_array().unwrap().iter().map(|h| h["id"].as_u64().unwrap()).collect();
            }
        }
    };
    assert_eq!(next_holds(), vec![first], "the open holds at once");
    let second = s.hold("rm -rf /srv/data", plain());
    assert_eq!(next_holds(), vec![second, first], "a hold made elsewhere arrives");
    s.post(&format!("/api/holds/{first}/deny"), Some(&login), "{\"reason\":\"no\"}", &[]);
    assert_eq!(next_holds(), vec![second], "a decision arrives");
}

#[test]
fn restores_go_through_the_seam_and_are_audited() {
    let s = Server::start();
    let login = s.login(&s.approver("alice"));
    let all = s.get("/api/recover", Some(&login)).json();
    assert_eq!(all["items"][0]["kind"], "checkpoint");
    assert_eq!(all["items"][0]["id"], "7");
    assert_eq!(s.get("/api/recover?kind=trash", Some(&login)).json()["items"], json!([]));
    assert_eq!(s.get("/api/recover?kind=bin", Some(&login)).status, 400);
    assert_eq!(s.get("/api/checkpoints", Some(&login)).json()["items"][0]["id"], "7");

    let no_csrf = Login { cookie: login.cookie.clone(), csrf: "1".repeat(64) };
    assert_eq!(s.post("/api/checkpoints/7/restore", Some(&no_csrf), "{}", &[]).status, 403);
    assert!(s.recover.restored.lock().unwrap().is_empty());
    assert_eq!(s.post("/api/checkpoints/9/restore", Some(&login), "{}", &[]).status, 404);
    assert_eq!(s.post("/api/recover/bin/7/restore", Some(&login), "{}", &[]).status, 400);
    let a = s.post("/api/recover/checkpoint/7/restore", Some(&login), "{}", &[]);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(a.json()["message"], "restored checkpoint 7");
    let a = s.post("/api/checkpoints/7/restore", Some(&login), "", &[]);
    assert_eq!(a.status, 200, "{}", a.body);
    assert_eq!(s.recover.restored.lock().unwrap().len(), 2);
    let audit = s.get("/api/audit?q=checkpoint-restore", Some(&login)).json();
    assert_eq!(audit["matched"], 2, "{audit}");
    let detail = &audit["records"][0]["detail"];
    assert_eq!(detail["approver"], "alice");
    assert_eq!(detail["id"], "7");
    assert_eq!(detail["written"], 3);
}

#[test]
fn every_answer_has_the_security_headers_and_the_page_has_no_inline_script() {
    let s = Server::start();
    for path in ["/", "/holds/3", "/audit", "/assets/app.js", "/api/holds", "/nope"] {
        let a = s.get(path, None);
        let csp = a.header("content-security-policy").unwrap_or_else(|| panic!("{path}: no CSP"));
        assert!(csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"), "{csp}");
        assert!(!csp.contains("unsafe-inline") && !csp.contains("unsafe-eval"), "{csp}");
        assert_eq!(a.header("x-content-type-options"), Some("nosniff"), "{path}");
        assert_eq!(a.header("referrer-policy"), Some("no-referrer"), "{path}");
        assert_eq!(a.header("x-frame-options"), Some("DENY"), "{path}");
    }
    let page = s.get("/", None);
    assert_eq!(page.status, 200);
    assert!(page.header("content-type").unwrap().starts_with("text/html"));
    for script in page.body.split("<script").skip(1) {
        let open = script.split('>').next().unwrap();
        assert!(open.contains("src=\"/assets/"), "only script files of this origin: <script{open}>");
        assert!(script.split("</script>").next().unwrap().trim_start_matches(|c| c != '>').len() <= 1);
    }
    assert!(!page.body.contains(" style=") && !page.body.contains("<style"), "no inline style");
    assert!(!page.body.contains("http://") && !page.body.contains("https://"), "no CDN or other origin");
    assert_eq!(s.get("/assets/app.css", None).header("content-type"), Some("text/css; charset=utf-8"));
    assert_eq!(s.get("/assets/nope.js", None).status, 404);
    let api404 = s.get("/api/nope", None);
    assert_eq!(api404.status, 404);
    assert!(api404.json()["error"].is_string());

    // Another Host (a page elsewhere renamed to 127.0.0.1 by DNS) is refused.
    let a = answer(agent().get(format!("{}/api/session", s.url)).header("Host", "evil.example").call().unwrap());
    assert_eq!(a.status, 421);
}

#[test]
fn the_openapi_document_describes_exactly_the_routes() {
    let s = Server::start();
    let login = s.login(&s.approver("alice"));
    let doc = s.get("/api/openapi.json", None);
    assert_eq!(doc.status, 200);
    let doc = doc.json();
    assert_eq!(doc, serde_json::from_str::<Value>(holdpoint_web::OPENAPI).unwrap());
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."));
    let mut documented = Vec::new();
    for (path, ops) in doc["paths"].as_object().unwrap() {
        for method in ops.as_object().unwrap().keys() {
            documented.push((method.to_uppercase(), path.clone()));
        }
    }
    let mut routed: Vec<(String, String)> =
        holdpoint_web::api_routes().into_iter().map(|(m, p)| (m.to_owned(), p.to_owned())).collect();
    documented.sort();
    routed.sort();
    assert_eq!(documented, routed, "the document and the router name the same routes");
    // And each route is really served (not the fallback's "no such API endpoint").
    for (method, path) in &routed {
        let concrete = path.replace("{kind}", "checkpoint").replace("{id}", "1");
        let a = match method.as_str() {
            "GET" if concrete == "/api/events" => continue,
            "GET" => s.get(&concrete, Some(&login)),
            "POST" if concrete == "/api/session" => continue,
            "POST" => s.post(&concrete, Some(&login), "{}", &[]),
            "DELETE" => continue,
            other => panic!("unexpected method {other}"),
        };
        assert!(!a.body.contains("no such API endpoint"), "{method} {path}: {}", a.body);
        assert_ne!(a.status, 405, "{method} {path}");
    }
}
