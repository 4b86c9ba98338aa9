//! `Vault::resolve` against `tests/data/resolve.jsonl`: one binding and one request per line,
//! and whether the secret is handed out or refused (with the words of the refusal).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use holdpoint_core::Denial;
use holdpoint_vault::{
    Binding, Credential, Kind, Part, Request, SealedRecord, Vault, VaultKey, new_placeholder, seal_secret,
};
use secrecy::ExposeSecret;
use serde::Deserialize;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Case {
    case: String,
    binding: Binding,
    request: Req,
    #[serde(default)]
    placeholder: Option<String>,
    expect: String,
    #[serde(default)]
    reason: Option<String>,
    #[serde(default)]
    production: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Req {
    host: String,
    method: String,
    path: String,
}

const SECRET: &str = "s3cr3t-Value-0123456789";

fn credential(kind: Kind) -> Credential {
    let text = match kind {
        Kind::Header | Kind::Query => SECRET.to_owned(),
        Kind::Basic | Kind::Postgres => format!("app:{SECRET}"),
        Kind::Aws => format!("AKIAQ3EGRWWNX7T5ZPLM:{SECRET}"),
    };
    Credential::parse(kind, &text).unwrap()
}

#[test]
fn resolve_matrix() {
    let text = include_str!("data/resolve.jsonl");
    let key = VaultKey::generate().unwrap();
    let mut checked = 0;
    for (n, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let case: Case = serde_json::from_str(line).unwrap_or_else(|e| panic!("line {}: {e}", n + 1));
        let at = format!("line {} ({})", n + 1, case.case);
        case.binding.validate().unwrap_or_else(|e| panic!("{at}: {e}"));
        let kind = case.binding.inject.kind();
        let (meta, record) = seal_secret(&key, "s", case.binding.clone(), &credential(kind), 1).unwrap();
        let vault = Vault::open(&key, [record]);
        assert!(vault.problems().is_empty(), "{at}");
        let part = match case.placeholder.as_deref() {
            None if kind == Kind::Aws => Some(Part::AccessKeyId),
            None | Some("value") => Some(Part::Value),
            Some("access_key_id") => Some(Part::AccessKeyId),
            Some("secret_access_key") => Some(Part::SecretAccessKey),
            Some("unknown") => None,
            Some(other) => panic!("{at}: unknown placeholder choice {other}"),
        };
        let placeholder = match part {
            Some(part) => meta.placeholders[&part].clone(),
            None => new_placeholder().unwrap(),
        };
        let request = Request { host: &case.request.host, method: &case.request.method, path: &case.request.path };
        let result = vault.resolve(&placeholder, &request);
        match (case.expect.as_str(), result) {
            ("secret", Ok(resolved)) => {
                let part = part.unwrap();
                assert_eq!((resolved.name, resolved.part), ("s", part), "{at}");
                let value = resolved.credential.value(part).unwrap().expose_secret();
                let wanted = if part == Part::AccessKeyId { "AKIAQ3EGRWWNX7T5ZPLM" } else { SECRET };
                assert_eq!(value, wanted, "{at}");
                if kind == Kind::Aws {
                    assert!(resolved.credential.value(Part::SecretAccessKey).is_some(), "{at}: the pair, to re-sign");
                }
                if let Some(production) = case.production {
                    assert_eq!(resolved.is_production(), production, "{at}");
                    assert_eq!(vault.tags_of(&placeholder).iter().any(|t| t == "production"), production, "{at}");
                }
            }
            ("out_of_scope", Err(denial)) => {
                let Denial::SecretOutOfScope { secret, reason } = &denial else { panic!("{at}: {denial:?}") };
                assert_eq!(secret, "s", "{at}");
                let wanted = case.reason.as_deref().unwrap_or_else(|| panic!("{at}: give the reason's words"));
                assert!(reason.contains(wanted), "{at}: {reason:?} does not say {wanted:?}");
                let message = denial.to_string();
                assert!(message.contains("vault secret \"s\"") && !message.contains(SECRET), "{at}: {message}");
                assert_eq!(denial.http_status(), 403, "{at}");
            }
            ("unknown", Err(denial)) => {
                assert!(matches!(denial, Denial::BadInput { .. }), "{at}: {denial:?}");
                assert!(denial.to_string().contains(&placeholder), "{at}");
            }
            (expect, got) => panic!("{at}: expected {expect}, got {got:?}"),
        }
        checked += 1;
    }
    assert!(checked >= 30, "the matrix was read ({checked} cases)");
}

/// A row whose description was widened in the database opens as a problem; its placeholder is
/// refused even for the widened host, and the intact secret beside it still works.
#[test]
fn edited_rows_resolve_to_nothing() {
    let key = VaultKey::generate().unwrap();
    let binding = |host: &str| {
        Binding::new(vec![host.into()], vec![], vec![], holdpoint_vault::import::default_injection(), vec![]).unwrap()
    };
    let (meta_a, a) = seal_secret(&key, "a", binding("api.a.example"), &credential(Kind::Header), 1).unwrap();
    let (meta_b, b) = seal_secret(&key, "b", binding("api.b.example"), &credential(Kind::Header), 1).unwrap();
    let widened = SealedRecord { meta: a.meta.replace("api.a.example", "evil.example"), ..a };
    let vault = Vault::open(&key, [widened, b]);
    assert_eq!(vault.problems().len(), 1);
    assert!(vault.problems()[0].to_string().contains("vault secret \"a\" cannot be opened"));
    let evil = Request { host: "evil.example", method: "GET", path: "/" };
    let denial = vault.resolve(&meta_a.placeholders[&Part::Value], &evil).unwrap_err();
    assert!(matches!(denial, Denial::Internal { .. }), "{denial:?}");
    let ok = Request { host: "api.b.example", method: "GET", path: "/" };
    assert_eq!(vault.resolve(&meta_b.placeholders[&Part::Value], &ok).unwrap().name, "b");
}

/// Under another key nothing opens, and nothing is handed out.
#[test]
fn another_key_opens_nothing() {
    let key = VaultKey::generate().unwrap();
    let binding =
        Binding::new(vec!["h.example".into()], vec![], vec![], holdpoint_vault::import::default_injection(), vec![])
            .unwrap();
    let (meta, record) = seal_secret(&key, "a", binding, &credential(Kind::Header), 1).unwrap();
    let vault = Vault::open(&VaultKey::generate().unwrap(), [record]);
    assert_eq!(vault.problems().len(), 1);
    let request = Request { host: "h.example", method: "GET", path: "/" };
    assert!(vault.resolve(&meta.placeholders[&Part::Value], &request).is_err());
}
