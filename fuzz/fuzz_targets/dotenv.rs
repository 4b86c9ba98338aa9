//! Untrusted `.env` files through the parser and `vault import`'s rewrite: a file either
//! parses or names a line; a parsed file renders back byte for byte; a rewritten file parses
//! again with the same variables, the moved ones holding placeholders and every other value
//! unchanged; never a panic.
#![no_main]

use std::sync::OnceLock;

use holdpoint_vault::dotenv::Document;
use holdpoint_vault::{Binding, VaultKey, contains_placeholder, import, seal_secret};
use libfuzzer_sys::fuzz_target;

fn key() -> &'static VaultKey {
    static KEY: OnceLock<VaultKey> = OnceLock::new();
    KEY.get_or_init(|| VaultKey::parse_key_file(&[b'7'; 64]).expect("a fixed key"))
}

fuzz_target!(|data: &[u8]| {
    let doc = match Document::parse_bytes(data) {
        Ok(doc) => doc,
        Err(e) => {
            assert!(e.line >= 1);
            return;
        }
    };
    assert_eq!(doc.render().as_bytes(), data, "renders back byte for byte");

    // Every value set again to itself (quoting may change) reads back the same.
    let mut same = doc.clone();
    for a in same.assignments_mut() {
        let value = a.value();
        a.set_value(&value);
    }
    let reparsed = Document::parse(&same.render()).expect("a file with values set again parses");
    let before: Vec<(String, String)> = doc.assignments().map(|a| (a.name.clone(), a.value().to_string())).collect();
    let after: Vec<(String, String)> =
        reparsed.assignments().map(|a| (a.name.clone(), a.value().to_string())).collect();
    assert_eq!(before, after);

    // Import with every non-empty value counted as a secret.
    let Ok(findings) = import::find_secrets(".env", &doc, |_, v| (!v.is_empty()).then(|| "fuzz".to_owned())) else {
        return;
    };
    let mut rewritten = doc.clone();
    let mut moved = Vec::new();
    for found in &findings.found {
        let hosts = if found.hosts.is_empty() { vec!["x.example".to_owned()] } else { found.hosts.clone() };
        let Ok(binding) = Binding::new(hosts, vec![], vec![], found.inject.clone(), vec![]) else { continue };
        let Ok((meta, _)) = seal_secret(key(), "s", binding, &found.credential, 0) else { continue };
        if import::rewrite(&mut rewritten, found, &meta).is_ok() {
            moved.extend(found.positions().iter().copied());
        }
    }
    let back = Document::parse(&rewritten.render()).expect("a rewritten file parses");
    let after: Vec<(String, String)> = back.assignments().map(|a| (a.name.clone(), a.value().to_string())).collect();
    assert_eq!(before.len(), after.len());
    for (i, ((name, old), (new_name, new))) in before.iter().zip(&after).enumerate() {
        assert_eq!(name, new_name);
        if moved.contains(&i) {
            assert!(contains_placeholder(new), "{name} holds a placeholder");
        } else {
            assert_eq!(old, new, "{name} is unchanged");
        }
    }
});
