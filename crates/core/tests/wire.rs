//! Golden tests of everything core puts on a wire: the digest and the versioned JSON forms.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use holdpoint_core::*;

fn digest(channel: Channel, workspace: &str, target: &str, input: &str) -> String {
    ActionDigest::of(channel, workspace, target, input).to_string()
}

/// These values were computed independently (Python's hashlib over the documented encoding)
/// and are listed in ARCHITECTURE.md; if one changes, every stored approval is void.
#[test]
fn digest_is_stable() {
    let cases = [
        (Channel::Shell, "/w", "", "ls", "b101fcc1301c3f8b1bb9a4aab36683bf7dca8dd3bee46d3313c6acab7186dd1d"),
        (
            Channel::Sql,
            "/home/u/app",
            "postgres://db.internal/app",
            "DROP TABLE users",
            "fbf2836097b50e12f86ae097e7e5c2b0f93c1557ebd096c641229bdd26d78c63",
        ),
        (
            Channel::File,
            "/w",
            "",
            r#"{"op":"read","path":"/home/u/.aws/credentials"}"#,
            "5cc54ae6063e5f0c7f5137498c4fc0ea14865f8e6ce75ed7e7169a79f7486085",
        ),
        (Channel::Shell, "/w", "", "rm -rf ü", "cd73c57388e41aae85aa1f957395147db9ccdba6d59a706c6d3ca84b054b9b5a"),
    ];
    for (channel, ws, target, input, hex) in cases {
        assert_eq!(digest(channel, ws, target, input), format!("sha256:{hex}"), "{channel} {input}");
    }
}

#[test]
fn digest_separates_fields() {
    // Moving bytes between fields changes the digest: the encoding is length-prefixed.
    assert_ne!(digest(Channel::Shell, "/w", "a", "b"), digest(Channel::Shell, "/w", "", "ab"));
    assert_ne!(digest(Channel::Shell, "/w1", "", "x"), digest(Channel::Shell, "/w", "", "1x"));
    assert_ne!(digest(Channel::Shell, "/w", "", "ls"), digest(Channel::Sql, "/w", "", "ls"));
}

#[test]
fn digest_round_trips_through_text() {
    let d = ActionDigest::of(Channel::Http, "/w", "https://api.example.com", "{}");
    assert_eq!(d.to_string().parse::<ActionDigest>().unwrap(), d);
    assert!("sha256:zz".parse::<ActionDigest>().is_err());
    assert!("md5:00".parse::<ActionDigest>().is_err());
    assert!(format!("sha256:{}", "A".repeat(64)).parse::<ActionDigest>().is_err());
}

/// Found by the `action_json` fuzz target: without exact float parsing, a long number's
/// canonical text changed when parsed again, so the same input could hash two ways.
#[test]
fn canonical_json_is_a_fixed_point_for_long_numbers() {
    for text in ["3333333333333333333333333333333333333333333", "0.1", "1e400", "-0.0", "123456789.123456789e-300"] {
        let Ok(v) = serde_json::from_str::<serde_json::Value>(text) else { continue };
        let once = canonical_json(&v);
        let twice = canonical_json(&serde_json::from_str(&once).unwrap());
        assert_eq!(once, twice, "{text}");
    }
}

#[test]
fn canonical_json_sorts_keys_at_every_level() {
    let v: serde_json::Value = serde_json::from_str(r#"{"b":{"z":1,"a":[{"y":2,"x":"é"}]},"a":null}"#).unwrap();
    assert_eq!(canonical_json(&v), r#"{"a":null,"b":{"a":[{"x":"é","y":2}],"z":1}}"#);
}

fn sample_action() -> Action {
    let mut effect = Effect::new(
        Verb::Delete,
        Target::new(TargetKind::Table, "postgres://prod/app/public.users").tagged("production"),
        Reversibility::Irreversible,
        Scope::Remote,
    );
    effect.rule = Some("sql-drop-table".into());
    effect.why = Some("DROP TABLE removes the table and its rows".into());
    Action {
        channel: Channel::Sql,
        actor: Actor { agent: Some("claude".into()), session: Some("s-1".into()), workspace: "/home/u/app".into() },
        target: "postgres://prod/app".into(),
        input: "DROP TABLE users".into(),
        effects: vec![effect],
    }
}

#[test]
fn action_json_is_versioned() {
    let action = sample_action();
    insta::with_settings!({sort_maps => true}, { insta::assert_json_snapshot!("action", action) });
    let back: Action = serde_json::from_value(serde_json::to_value(&action).unwrap()).unwrap();
    assert_eq!(back, action);
}

#[test]
fn verdict_json_is_versioned() {
    let verdicts = vec![
        Verdict::Allow,
        Verdict::Hold { obligations: Obligations { approvers: 2, delay_secs: 600, ttl_secs: 3600, soft_delete: true } },
        Verdict::Deny { denial: Denial::Policy { policy: "deny-delete-root".into(), reason: "it deletes /".into() } },
    ];
    insta::with_settings!({sort_maps => true}, { insta::assert_json_snapshot!("verdicts", verdicts) });
}

#[test]
fn denial_wording_and_wires() {
    let all = [
        Denial::Policy { policy: "deny-secret-read".into(), reason: "it reads a secret outside the vault".into() },
        Denial::Held { hold_id: Some(42), reason: "it deletes data or resources on another system".into() },
        Denial::Held { hold_id: None, reason: "it cannot be undone".into() },
        Denial::HoldClosed { hold_id: 7, outcome: "denied".into() },
        Denial::BadInput { reason: "line 3: not JSON".into() },
        Denial::Config { reason: "config.toml:2:1: unknown field `profil`".into() },
        Denial::SecretOutOfScope {
            secret: "openai".into(),
            reason: "host evil.example is not one of api.openai.com".into(),
        },
        Denial::Internal { reason: "the decision deadline passed".into() },
    ];
    let wire: Vec<_> = all
        .iter()
        .map(|d| {
            serde_json::json!({
                "json": d, "message": d.to_string(), "http": d.http_status(),
                "sqlstate": d.sqlstate(), "jsonrpc": d.jsonrpc_code(),
            })
        })
        .collect();
    insta::with_settings!({sort_maps => true}, { insta::assert_json_snapshot!("denials", wire) });
    // The one hold sentence of CLI.md, word for word.
    assert_eq!(
        all[1].to_string(),
        "Holdpoint held this action as hold 42: it deletes data or resources on another system. Ask a human to \
         approve it with \"holdpoint approve 42\", then retry the same action unchanged."
    );
}

#[test]
fn closed_enums_parse_their_names_only() {
    for v in Verb::ALL {
        assert_eq!(v.as_str().parse::<Verb>().unwrap(), *v);
    }
    for k in TargetKind::ALL {
        assert_eq!(k.as_str().parse::<TargetKind>().unwrap(), *k);
    }
    let e = "ftp".parse::<Channel>().unwrap_err();
    assert_eq!(e.to_string(), "unknown channel \"ftp\"; expected one of: shell, file, sql, http, mcp");
    assert!("Delete".parse::<Verb>().is_err());
}

#[test]
fn unknown_fields_are_refused() {
    let bad = r#"{"verb":"read","target":{"kind":"path","id":"/a"},"reversibility":"reversible","scope":"workspace","extra":1}"#;
    assert!(serde_json::from_str::<Effect>(bad).is_err());
}

#[test]
fn obligations_only_get_stricter() {
    let a = Obligations { approvers: 1, delay_secs: 600, ttl_secs: 60, soft_delete: false };
    let b = Obligations { approvers: 2, delay_secs: 0, ttl_secs: 3600, soft_delete: true };
    assert_eq!(a.strictest(b), Obligations { approvers: 2, delay_secs: 600, ttl_secs: 3600, soft_delete: true });
}

/// The digest is SHA-256 of exactly the documented encoding, whatever the field lengths: each
/// length written in decimal, from 0 to five digits.
#[test]
fn digest_hashes_the_canonical_encoding() {
    use sha2::Digest as _;
    let long = "x".repeat(12_345);
    for (target, input) in
        [("", ""), ("t", "ls"), ("a".repeat(9).as_str(), "b".repeat(10).as_str()), ("", long.as_str())]
    {
        let bytes = ActionDigest::canonical_encoding(Channel::Sql, "/w", target, input);
        let written = format!("19:holdpoint.action.v1,3:sql,2:/w,{}:{target},{}:{input},", target.len(), input.len());
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), written);
        let expected = format!("sha256:{}", holdpoint_core::hex::encode(&sha2::Sha256::digest(&bytes)));
        assert_eq!(digest(Channel::Sql, "/w", target, input), expected);
    }
}
