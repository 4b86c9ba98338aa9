//! `holdpoint doctor`: what this machine and this setup give Holdpoint to work with, as a list
//! of checks. A check is a function from what it can look at to a finding; add one to
//! [`CHECKS`] to report a new fact.

use std::io::IsTerminal;

use anyhow::Result;
use holdpoint_policy::config::{Config, StoreLocation};
use holdpoint_store::DB_FILE;
use holdpoint_vault::{KeyHeader, KeyKind, SealedRecord, Vault, VaultKey};
use serde::Serialize;
use serde_json::json;

use crate::home::Home;
use crate::state::State;
use crate::vault_cmd::key_file_from_env;

/// How a check came out.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
enum Status {
    /// Works.
    Ok,
    /// Works, with a caveat or a missing piece the user may want.
    Warn,
    /// Broken: something Holdpoint needs does not work.
    Error,
    /// A fact, neither good nor bad.
    Info,
}

/// One finding.
#[derive(Debug, Serialize)]
struct Check {
    name: &'static str,
    status: Status,
    detail: String,
}

/// What the checks look at, gathered once.
struct Facts {
    home: Home,
    config: Result<Config, String>,
    /// The vault's stored key header, or why the store could not be read.
    header: Result<Option<String>, String>,
    /// The stored secrets as the vault sealed them.
    secrets: Result<Vec<SealedRecord>, String>,
}

type CheckFn = fn(&Facts) -> Check;

/// The checks, in the order they are printed.
const CHECKS: &[CheckFn] = &[store, vault_key, keyring, vault_secrets, user_namespaces, landlock, seccomp, overlay];

pub fn run(home: &Home, json: bool) -> Result<u8> {
    let facts = gather(home);
    let checks: Vec<Check> = CHECKS.iter().map(|check| check(&facts)).collect();
    if json {
        println!("{}", json!({ "checks": checks }));
    } else {
        for c in &checks {
            let mark = match c.status {
                Status::Ok => "ok   ",
                Status::Warn => "warn ",
                Status::Error => "ERROR",
                Status::Info => "info ",
            };
            println!("{mark} {:<14} {}", c.name, c.detail);
        }
    }
    Ok(0)
}

fn gather(home: &Home) -> Facts {
    let config = home.load_config().map_err(|e| format!("{e:#}"));
    let (header, secrets) = match &config {
        Err(e) => (Err(e.clone()), Err(e.clone())),
        Ok(_) if !home.state.is_dir() => {
            let why = format!("{} does not exist; run `holdpoint init`", home.state.display());
            (Err(why.clone()), Err(why))
        }
        Ok(config) => match State::open(home, config) {
            Ok(state) => (
                state.run(state.store.vault_header()).map_err(|e| e.to_string()),
                state
                    .run(state.store.vault_records())
                    .map(|records| {
                        records
                            .into_iter()
                            .map(|r| SealedRecord { name: r.name, meta: r.meta, sealed: r.sealed })
                            .collect()
                    })
                    .map_err(|e| e.to_string()),
            ),
            Err(e) => (Err(format!("{e:#}")), Err(format!("{e:#}"))),
        },
    };
    Facts { home: home.clone(), config, header, secrets }
}

fn check(name: &'static str, status: Status, detail: impl Into<String>) -> Check {
    Check { name, status, detail: detail.into() }
}

fn store(facts: &Facts) -> Check {
    let config = match &facts.config {
        Ok(config) => config,
        Err(e) => return check("store", Status::Error, e.clone()),
    };
    let place = match &config.store {
        StoreLocation::Sqlite => format!("SQLite {}", facts.home.state.join(DB_FILE).display()),
        StoreLocation::Postgres(url) => format!("PostgreSQL {}", redact(url)),
    };
    match &facts.header {
        Ok(_) => check("store", Status::Ok, place),
        Err(e) => check("store", Status::Error, format!("{place}: {e}")),
    }
}

fn vault_key(facts: &Facts) -> Check {
    const NAME: &str = "vault key";
    let header = match &facts.header {
        Ok(h) => h.as_deref().map(KeyHeader::parse),
        Err(_) => None,
    };
    let header = match header.transpose() {
        Ok(h) => h,
        Err(e) => return check(NAME, Status::Error, e.to_string()),
    };
    let terminal = std::io::stdin().is_terminal() || std::io::stderr().is_terminal();
    match (key_file_from_env(), header) {
        (Some(file), header) => {
            let shown = file.display();
            match (VaultKey::from_key_file(&file), header) {
                (Err(e), _) => check(NAME, Status::Error, format!("HOLDPOINT_VAULT_KEY_FILE: {e}")),
                (Ok(key), Some(h)) if h.verify(&key).is_err() => check(
                    NAME,
                    Status::Error,
                    format!("key file {shown} (HOLDPOINT_VAULT_KEY_FILE) does not open this vault"),
                ),
                (Ok(_), Some(_)) => {
                    check(NAME, Status::Ok, format!("key file {shown} (HOLDPOINT_VAULT_KEY_FILE); it opens the vault"))
                }
                (Ok(_), None) => {
                    check(NAME, Status::Ok, format!("key file {shown} (HOLDPOINT_VAULT_KEY_FILE); the vault is empty"))
                }
            }
        }
        (None, Some(h)) if h.kind() == KeyKind::KeyFile => {
            check(NAME, Status::Error, "the vault is locked with a key file, and HOLDPOINT_VAULT_KEY_FILE is not set")
        }
        (None, Some(_)) if terminal => check(NAME, Status::Ok, "passphrase, asked at the terminal (argon2id)"),
        (None, Some(_)) => check(
            NAME,
            Status::Warn,
            "passphrase (argon2id), but no terminal here to ask for it; set HOLDPOINT_VAULT_KEY_FILE for unattended use",
        ),
        (None, None) => check(
            NAME,
            Status::Info,
            "no vault yet: the first `vault add` asks for a passphrase at a terminal, or uses HOLDPOINT_VAULT_KEY_FILE",
        ),
    }
}

fn keyring(_: &Facts) -> Check {
    check(
        "os keyring",
        Status::Info,
        "not used: the vault key comes from a passphrase or HOLDPOINT_VAULT_KEY_FILE only (a keyring the user's \
         processes can read is readable by the agent too)",
    )
}

/// How many secrets there are and, when the key file opens the vault, whether each opens.
fn vault_secrets(facts: &Facts) -> Check {
    const NAME: &str = "vault secrets";
    let records = match &facts.secrets {
        Ok(records) => records,
        Err(e) => return check(NAME, Status::Error, e.clone()),
    };
    let header = facts.header.as_ref().ok().and_then(|h| h.as_deref()).and_then(|h| KeyHeader::parse(h).ok());
    let key = key_file_from_env().and_then(|f| VaultKey::from_key_file(&f).ok());
    let (Some(header), Some(key)) = (header, key) else {
        return check(NAME, Status::Info, format!("{} secret(s); `holdpoint vault list` shows them", records.len()));
    };
    if header.verify(&key).is_err() {
        return check(NAME, Status::Info, format!("{} secret(s), not opened (the key does not fit)", records.len()));
    }
    let vault = Vault::open(&key, records.iter().cloned());
    match vault.problems() {
        [] => check(NAME, Status::Ok, format!("{} secret(s), every one opens", records.len())),
        problems => {
            let why: Vec<String> = problems.iter().map(ToString::to_string).collect();
            check(
                NAME,
                Status::Error,
                format!("{} of {} do not open: {}", problems.len(), records.len(), why.join("; ")),
            )
        }
    }
}

/// A connection URL without its password.
fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else { return url.to_owned() };
    let (authority, tail) = rest.split_once('/').unwrap_or((rest, ""));
    match authority.rsplit_once('@') {
        Some((userinfo, host)) => {
            let user = userinfo.split_once(':').map_or(userinfo, |(u, _)| u);
            format!("{scheme}://{user}@{host}/{tail}")
        }
        None => url.to_owned(),
    }
}

/// What the kernel gives the sandbox, probed once (a throwaway child tries it).
fn sandbox_support() -> &'static holdpoint_sandbox::probe::Support {
    static SUPPORT: std::sync::OnceLock<holdpoint_sandbox::probe::Support> = std::sync::OnceLock::new();
    SUPPORT.get_or_init(holdpoint_sandbox::probe::probe)
}

fn user_namespaces(_: &Facts) -> Check {
    const NAME: &str = "namespaces";
    match &sandbox_support().namespaces {
        Ok(()) => check(
            NAME,
            Status::Ok,
            "user, mount, network and pid namespaces work without privileges: `holdpoint run` hides files and cuts the network",
        ),
        Err(why) => check(
            NAME,
            Status::Error,
            format!(
                "{why}: `holdpoint run` refuses to start without them. Allow unprivileged user namespaces \
                 (sysctl user.max_user_namespaces=10000; Debian: kernel.unprivileged_userns_clone=1; Ubuntu: \
                 kernel.apparmor_restrict_unprivileged_userns=0), or run with --dangerously-weaker for Landlock and \
                 seccomp only"
            ),
        ),
    }
}

fn landlock(_: &Facts) -> Check {
    match sandbox_support().landlock_abi {
        0 => check(
            "landlock",
            Status::Warn,
            "not available: the sandbox's file fence is its mounts alone; enable Landlock (lsm=...,landlock on the kernel command line, Linux 5.13+)",
        ),
        abi @ 1..=6 => check(
            "landlock",
            Status::Warn,
            format!(
                "ABI {abi}: a second file fence, without the rights of ABI 7 (Linux 6.15+) the sandbox also asks for"
            ),
        ),
        abi => check("landlock", Status::Ok, format!("ABI {abi}: a second file fence under the sandbox's mounts")),
    }
}

fn seccomp(_: &Facts) -> Check {
    match &sandbox_support().seccomp {
        Ok(()) => check(
            "seccomp",
            Status::Ok,
            "filters refuse ptrace, mount, new namespaces, bpf, keyrings and the like inside the sandbox",
        ),
        Err(why) => check(
            "seccomp",
            Status::Error,
            format!("{why}: the sandbox cannot start without it; use a kernel with CONFIG_SECCOMP_FILTER"),
        ),
    }
}

fn overlay(_: &Facts) -> Check {
    match &sandbox_support().overlay {
        Ok(()) => check(
            "overlay",
            Status::Ok,
            "toolchains (~/.cargo, ~/.npm, ...) are shown with in-memory overlays: caches are writable, nothing reaches the host",
        ),
        Err(why) => check(
            "overlay",
            Status::Warn,
            format!(
                "{why}: toolchains are shown read-only, so builds that write their caches fail; Linux 5.11+ allows overlays in user namespaces"
            ),
        ),
    }
}
