//! The gateway's agent-side socket (`agent.sock` in the state directory).
//!
//! A hook that runs inside `holdpoint run`'s sandbox cannot see Holdpoint's config or store, so
//! it asks the gateway through the bridge (`HOLDPOINT_AGENT_ADDR`). The socket offers exactly
//! the agent-side calls: `decide` a hook payload — classify, decide, queue a hold and wait on it
//! as `holdpoint hook` does outside — and nothing else. Approver calls (approve, deny, cancel,
//! adding an approver) are refused by name: approving is done outside the sandbox, with a token
//! the agent never sees.
//!
//! Wire: one JSON line in, `{"call":"decide","agent":"claude","payload":"<the hook's JSON>"}`;
//! one JSON line out, `{"answer":"<the agent's decision JSON>"}` or `{"refused":"<why>"}`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::Deserialize;
use serde_json::json;

use crate::hook::Agent;

/// The agent-side socket, in the state directory.
pub const AGENT_SOCKET: &str = "agent.sock";
/// The egress proxy's unix socket, in the state directory (what `run`'s bridge relays to).
pub const PROXY_SOCKET: &str = "proxy.sock";
/// Where a hook inside the sandbox finds the agent-side socket (`127.0.0.1:PORT`, the bridge).
pub const ADDR_VAR: &str = "HOLDPOINT_AGENT_ADDR";
/// The port the agent-side socket is bridged to inside the sandbox.
pub const DEFAULT_AGENT_PORT: u16 = 8789;

/// A call larger than this is refused unread (the hook's own limit plus the envelope).
const MAX_CALL: u64 = (8 << 20) + 4096;
/// Calls answered at once; beyond this a call is refused (and the hook denies).
const MAX_CALLS: usize = 64;
/// The calls that only an approver may make, refused here by name.
const APPROVER_CALLS: &[&str] = &["approve", "deny", "cancel", "approver", "approver-add", "release", "purge"];

#[derive(Deserialize)]
struct Call {
    call: String,
    agent: Option<String>,
    payload: Option<String>,
}

/// Opens the unix socket `name` in `state`, readable by its owner only. A socket left behind
/// by a gateway that is gone is replaced; one that answers means a gateway runs already.
pub fn bind(state: &Path, name: &str) -> Result<UnixListener> {
    let path = state.join(name);
    if path.exists() {
        if UnixStream::connect(&path).is_ok() {
            bail!(
                "another `holdpoint serve` answers on {} already; stop it first (one gateway per state directory)",
                path.display()
            );
        }
        std::fs::remove_file(&path).with_context(|| format!("cannot remove the stale socket {}", path.display()))?;
    }
    let listener = UnixListener::bind(&path).with_context(|| format!("cannot listen on {}", path.display()))?;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
        .with_context(|| format!("cannot restrict {}", path.display()))?;
    Ok(listener)
}

/// Answers calls on `listener` on threads of its own until the process ends (each `decide`
/// may wait up to `hold_wait` on a hold).
pub fn serve(listener: UnixListener) {
    let busy = Arc::new(AtomicUsize::new(0));
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(stream) = stream else { continue };
            let busy = Arc::clone(&busy);
            if busy.fetch_add(1, Ordering::SeqCst) >= MAX_CALLS {
                busy.fetch_sub(1, Ordering::SeqCst);
                reply(&stream, &json!({"refused": "the gateway is answering too many calls at once"}));
                continue;
            }
            let spawned = std::thread::Builder::new().name("agent-call".into()).spawn({
                let busy = Arc::clone(&busy);
                move || {
                    answer(&stream);
                    busy.fetch_sub(1, Ordering::SeqCst);
                }
            });
            if spawned.is_err() {
                busy.fetch_sub(1, Ordering::SeqCst);
            }
        }
    });
}

fn reply(mut stream: &UnixStream, value: &serde_json::Value) {
    let _ = stream.write_all(format!("{value}\n").as_bytes()).and_then(|()| stream.flush());
}

fn answer(stream: &UnixStream) {
    let mut line = Vec::new();
    let read = BufReader::new(stream.take(MAX_CALL + 1)).read_until(b'\n', &mut line);
    let response = match read {
        Err(e) => json!({"refused": format!("the call could not be read: {e}")}),
        Ok(_) if line.len() as u64 > MAX_CALL => json!({"refused": "the call is too large"}),
        Ok(_) => respond(&line),
    };
    reply(stream, &response);
}

/// The response to one call line.
fn respond(line: &[u8]) -> serde_json::Value {
    let call: Call = match serde_json::from_slice(line) {
        Ok(call) => call,
        Err(e) => return json!({"refused": format!("the call is not a JSON object of this socket: {e}")}),
    };
    if APPROVER_CALLS.contains(&call.call.as_str()) {
        return json!({"refused": format!(
            "{:?} is an approver call, which Holdpoint's agent-side socket never takes: a human approves, denies \
             or cancels holds outside the sandbox, with `holdpoint approve ID` and their own token",
            call.call
        )});
    }
    if call.call != "decide" {
        return json!({"refused": format!("unknown call {:?}; this socket takes only \"decide\"", call.call)});
    }
    let agent = call.agent.as_deref().and_then(|name| Agent::ALL.into_iter().find(|a| a.name() == name));
    let (Some(agent), Some(payload)) = (agent, call.payload) else {
        return json!({"refused": "\"decide\" needs \"agent\" (claude, codex, gemini, cursor) and \"payload\""});
    };
    json!({"answer": crate::hook::answer_payload(agent, payload.as_bytes())})
}

/// Sends one call line and reads the response line.
fn exchange(mut stream: impl Read + Write, call: &serde_json::Value) -> std::io::Result<Vec<u8>> {
    stream.write_all(format!("{call}\n").as_bytes())?;
    let mut line = Vec::new();
    BufReader::new(stream).read_until(b'\n', &mut line)?;
    Ok(line)
}

/// Asks the gateway at `addr` (`HOST:PORT`, or a unix socket path) to decide `payload`;
/// the agent's answer, or why there is none.
pub fn ask(addr: &str, agent: Agent, payload: &[u8], deadline: Duration) -> Result<String, String> {
    let payload = std::str::from_utf8(payload).map_err(|_| "the hook input is not UTF-8".to_owned())?;
    let call = json!({"call": "decide", "agent": agent.name(), "payload": payload});
    let unreachable = |e: std::io::Error| {
        format!(
            "the hook could not reach Holdpoint's gateway at {addr} ({ADDR_VAR}): {e}; is `holdpoint serve` running?"
        )
    };
    let line = match addr.parse::<SocketAddr>() {
        Ok(tcp) => TcpStream::connect_timeout(&tcp, Duration::from_secs(5))
            .and_then(|s| s.set_read_timeout(Some(deadline)).map(|()| s))
            .and_then(|s| exchange(s, &call)),
        Err(_) => UnixStream::connect(addr)
            .and_then(|s| s.set_read_timeout(Some(deadline)).map(|()| s))
            .and_then(|s| exchange(s, &call)),
    }
    .map_err(unreachable)?;
    let response: serde_json::Value =
        serde_json::from_slice(&line).map_err(|_| format!("the gateway at {addr} gave no answer it could read"))?;
    if let Some(answer) = response.get("answer").and_then(|a| a.as_str()) {
        return Ok(answer.to_owned());
    }
    let why = response.get("refused").and_then(|r| r.as_str()).unwrap_or("no reason given");
    Err(format!("the gateway refused the call: {why}"))
}
