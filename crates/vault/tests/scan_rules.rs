//! The rule file itself: the built-in one loads, and a rule the prefilter would silently skip
//! (a match that starts with none of its declared prefixes) is refused, naming the rule.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::collections::BTreeSet;

use holdpoint_vault::scan::{Detector, Kind, RULES};

/// The built-in file with its rules replaced by `rules`.
fn with_rules(rules: &str) -> String {
    let tail = &RULES[RULES.find("[fakes]").unwrap()..];
    format!("{rules}\n{tail}")
}

fn load_error(rules: &str) -> String {
    Detector::from_rules(&with_rules(rules)).unwrap_err().to_string()
}

#[test]
fn the_built_in_rules_load_and_name_their_kinds() {
    let detector = Detector::builtin().unwrap();
    let ids: BTreeSet<&str> = detector.rules().map(|r| r.id).collect();
    assert_eq!(ids.len(), detector.rules().count(), "rule ids are unique");
    let kinds: BTreeSet<Kind> = detector.rules().map(|r| r.kind).collect();
    // Railway tokens and AWS secret keys are known only by the variable they are assigned to.
    for kind in Kind::ALL {
        let by_name = matches!(kind, Kind::RailwayToken | Kind::AwsSecretAccessKey);
        assert!(kinds.contains(kind) || by_name, "no rule finds {kind}");
    }
    assert!(detector.rules().all(|r| !r.why.is_empty()));
}

#[test]
fn a_rule_whose_matches_escape_its_prefixes_is_refused() {
    let err = load_error(
        r#"[[rule]]
id = "sloppy"
kind = "generic-secret"
prefixes = ["key"]
regex = '''[a-z]*key=[A-Za-z0-9]{20}'''
why = "x"
"#,
    );
    assert!(err.contains("rule sloppy") && err.contains("start with anything"), "{err}");
    let err = load_error(
        r#"[[rule]]
id = "narrow"
kind = "github-token"
prefixes = ["ghp_"]
regex = '''gh[po]_[A-Za-z0-9]{36}'''
why = "x"
"#,
    );
    assert!(err.contains("rule narrow") && err.contains("gho_"), "{err}");
}

#[test]
fn unknown_kinds_checks_and_fields_are_refused() {
    let rule = |extra: &str| {
        format!(
            "[[rule]]\nid = \"r\"\nkind = \"github-token\"\nprefixes = [\"ghp_\"]\nregex = '''ghp_[a-z]{{36}}'''\nwhy = \"x\"\n{extra}"
        )
    };
    assert!(Detector::from_rules(&with_rules(&rule(""))).is_ok());
    assert!(load_error(&rule("check = \"magic\"")).contains("magic"));
    assert!(load_error(&rule("severity = \"high\"")).contains("severity"));
    let err = load_error(&rule("").replace("github-token", "gitbucket-token"));
    assert!(err.contains("gitbucket-token"), "{err}");
}
