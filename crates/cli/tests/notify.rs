//! The hold notification webhook, against a receiver on loopback: a new hold is announced
//! with its id, summary and link (never a credential), a failing webhook is retried, and the
//! hook's answer never waits for it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpListener;

use assert_cmd::Command;
use tempfile::TempDir;

/// Read one HTTP request; returns (request line and headers, body).
fn read_request(stream: &mut std::net::TcpStream) -> (String, String) {
    let mut reader = BufReader::new(stream.try_clone().unwrap());
    let mut head = String::new();
    let mut length = 0;
    loop {
        let mut line = String::new();
        reader.read_line(&mut line).unwrap();
        if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
            length = v.trim().parse().unwrap();
        }
        if line == "\r\n" || line.is_empty() {
            break;
        }
        head.push_str(&line);
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).unwrap();
    (head, String::from_utf8(body).unwrap())
}

/// The next connection; a notifier that never calls fails the test instead of hanging it.
fn accept(listener: &TcpListener) -> std::net::TcpStream {
    listener.set_nonblocking(true).unwrap();
    for _ in 0..600 {
        match listener.accept() {
            Ok((stream, _)) => {
                stream.set_nonblocking(false).unwrap();
                return stream;
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                std::thread::sleep(std::time::Duration::from_millis(50))
            }
            Err(e) => panic!("{e}"),
        }
    }
    panic!("the notifier never connected");
}

fn setup(format: &str, port: u16) -> (TempDir, TempDir) {
    let (home, work) = (TempDir::new().unwrap(), TempDir::new().unwrap());
    std::fs::create_dir(work.path().join(".git")).unwrap();
    Command::cargo_bin("holdpoint").unwrap().env("HOLDPOINT_HOME", home.path()).arg("init").assert().success();
    let config =
        format!("hold_wait = \"0s\"\n[notify]\nwebhook = \"http://127.0.0.1:{port}/notify\"\nformat = \"{format}\"\n");
    std::fs::write(home.path().join("config/config.toml"), config).unwrap();
    (home, work)
}

fn hook(home: &TempDir, work: &TempDir, command: &str) -> String {
    let payload = serde_json::json!({
        "session_id": "s", "transcript_path": "/t", "cwd": work.path(), "permission_mode": "default",
        "hook_event_name": "PreToolUse", "tool_name": "Bash", "tool_input": {"command": command}
    });
    let out = Command::cargo_bin("holdpoint")
        .unwrap()
        .env("HOLDPOINT_HOME", home.path())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .args(["hook", "claude"])
        .write_stdin(payload.to_string())
        .assert()
        .code(0);
    String::from_utf8(out.get_output().stdout.clone()).unwrap()
}

#[test]
fn a_new_hold_is_announced_with_its_id_summary_and_link_and_no_credential() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (home, work) = setup("json", listener.local_addr().unwrap().port());
    let command =
        "curl -X DELETE -H 'Authorization: Bearer sk_live_0123456789abcdef' https://api.example.com/v1/volumes/7";
    let answer = hook(&home, &work, command);
    assert!(answer.contains("as hold 1"), "{answer}");

    let mut stream = accept(&listener);
    let (head, body) = read_request(&mut stream);
    stream.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    assert!(head.starts_with("POST /notify "), "{head}");
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["hold_id"], 1);
    assert_eq!(v["url"], "http://127.0.0.1:8787/holds/1");
    let summary = v["summary"].as_str().unwrap();
    assert!(summary.contains("api.example.com/v1/volumes/7"), "{summary}");
    assert!(!body.contains("sk_live_0123456789abcdef"), "the credential never leaves: {body}");
}

#[test]
fn a_failing_webhook_is_retried_and_never_delays_the_answer() {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let (home, work) = setup("slack", listener.local_addr().unwrap().port());
    // The hook answers while nobody has accepted the webhook's connection yet.
    let answer = hook(&home, &work, "rm -rf /var/lib/app/data");
    assert!(answer.contains("as hold 1"), "{answer}");
    // First try: the connection is dropped without an answer. The notifier tries again.
    let first = accept(&listener);
    drop(first);
    let mut second = accept(&listener);
    let (_, body) = read_request(&mut second);
    second.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let v: serde_json::Value = serde_json::from_str(&body).unwrap();
    let text = v["text"].as_str().unwrap();
    assert!(text.contains("Holdpoint hold 1") && text.contains("rm -rf /var/lib/app/data"), "{text}");
}
