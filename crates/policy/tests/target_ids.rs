//! Which policy sets can tell targets apart by their id: a proxy reuses one decision for every
//! target id of an effect shape only when none can, so each way a policy can name a target must
//! count, and the built-in profiles must not.
#![allow(clippy::unwrap_used, missing_docs)]

use holdpoint_policy::{Engine, PolicyFile, Profile};

fn with(policy: &str) -> Engine {
    let text = format!("@id(\"user-rule\")\n@verdict(\"hold\")\n@reason(\"a user rule\")\n{policy}");
    Engine::new(Profile::Guarded, &[PolicyFile::new("user.cedar", &text)]).unwrap()
}

#[test]
fn built_in_profiles_read_no_target_id() {
    assert!(!Engine::new(Profile::Guarded, &[]).unwrap().reads_target_ids());
    assert!(!Engine::new(Profile::Strict, &[]).unwrap().reads_target_ids());
    assert!(!Engine::new(Profile::Observe, &[]).unwrap().reads_target_ids());
}

#[test]
fn policies_on_kinds_tags_and_context_read_no_target_id() {
    for policy in [
        r#"forbid (principal, action == Holdpoint::Action::"delete", resource) when { resource.tags.contains("production") };"#,
        r#"forbid (principal, action in [Holdpoint::Action::"write", Holdpoint::Action::"delete"], resource is Holdpoint::Target) when { resource.kind == "http" && context.scope == "remote" };"#,
        r#"forbid (principal, action, resource) when { context.channel == "sql" && context.workspace like "/srv/*" };"#,
    ] {
        assert!(!with(policy).reads_target_ids(), "{policy}");
    }
}

#[test]
fn every_way_of_naming_a_target_reads_its_id() {
    for policy in [
        r#"forbid (principal, action, resource) when { resource.id like "*prod*" };"#,
        r#"forbid (principal, action, resource) unless { resource.id == "https://api.example.com/" };"#,
        r#"forbid (principal, action, resource) when { resource has id && resource.id like "*/billing/*" };"#,
        r#"forbid (principal, action, resource) when { resource["id"] like "*/billing/*" };"#,
        r#"forbid (principal, action, resource is Holdpoint::Target in Holdpoint::Target::"postgres://db/app");"#,
        r#"forbid (principal, action, resource == Holdpoint::Target::"postgres://db/app/users");"#,
        r#"forbid (principal, action, resource in Holdpoint::Target::"postgres://db/app");"#,
        r#"forbid (principal, action, resource) when { resource == Holdpoint::Target::"/w/.env" };"#,
        r#"forbid (principal, action, resource) when { resource in [Holdpoint::Target::"a", Holdpoint::Target::"b"] };"#,
        r#"forbid (principal == Holdpoint::Agent::"codex", action, resource);"#,
    ] {
        assert!(with(policy).reads_target_ids(), "{policy}");
    }
}
