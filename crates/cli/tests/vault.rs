//! The vault through the real binary: `vault add|list|rm|import|backups|restore|rotate-key`
//! and `doctor`, with HOLDPOINT_HOME and HOLDPOINT_VAULT_KEY_FILE; no secret ever reaches
//! the database file or any output, a wrong key is a clear error, rows swapped in the database
//! do not open, and a passphrase and import's questions work at a real terminal (tmux).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use assert_cmd::Command;
use serde_json::Value;
use tempfile::TempDir;

const OPENAI: &str = "sk-proj-Zq8Lm3Nr7Tb2Wx5Yc9Vd4Hf6Jk1Pg0Ra8Sb3Tc7Ud2Ve";
const DB_PASSWORD: &str = "Xk9mQ2vLp7Rt";
const STRIPE: &str = "sk_live_51HbqGfKs8Jw2Lm4Np6Qr8St0Uv2Wx4Yz6Ab8Cd";
const PAYMENTS: &str = "Qm9xVr7Tz2Kp8Ln4Wb6Yc3Hd5Jf1Gs0Rx";
const AWS_ID: &str = "AKIAQ3EGRWWNX7T5ZPLM";
const AWS_SECRET: &str = "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";
const GITHUB: &str = "ghp_R4nd0mL00k1ngT0k3nV4lu3Zq8Lm3Nr7Tb2W";

const ALL_SECRETS: &[&str] = &[OPENAI, DB_PASSWORD, STRIPE, PAYMENTS, AWS_ID, AWS_SECRET, GITHUB];

fn dotenv_text() -> String {
    format!(
        "# app config\n\
         export OPENAI_API_KEY=\"{OPENAI}\"\n\
         PORT=8080\n\
         \n\
         DATABASE_URL=postgres://app:{DB_PASSWORD}@db.internal:5432/app   # main db\r\n\
         STRIPE_SECRET_KEY='{STRIPE}'\n\
         PAYMENTS_TOKEN={PAYMENTS}\n\
         AWS_ACCESS_KEY_ID={AWS_ID}\n\
         AWS_SECRET_ACCESS_KEY={AWS_SECRET}\n\
         GREETING=\"hello world\"\n"
    )
}

struct Env {
    home: TempDir,
    work: TempDir,
    key: PathBuf,
}

impl Env {
    fn new() -> Env {
        let env = Env { home: TempDir::new().unwrap(), work: TempDir::new().unwrap(), key: PathBuf::new() };
        let key = write_key(env.work.path(), "vault.key");
        let env = Env { key, ..env };
        env.bare().arg("init").assert().success();
        env
    }

    /// The binary with HOLDPOINT_HOME, without a key source.
    fn bare(&self) -> Command {
        let mut cmd = Command::cargo_bin("holdpoint").unwrap();
        cmd.env("HOLDPOINT_HOME", self.home.path())
            .env_remove("HOLDPOINT_VAULT_KEY_FILE")
            .current_dir(self.work.path());
        cmd
    }

    /// The binary with the key file.
    fn cmd(&self) -> Command {
        let mut cmd = self.bare();
        cmd.env("HOLDPOINT_VAULT_KEY_FILE", &self.key);
        cmd
    }

    fn ok(&self, args: &[&str], stdin: &str) -> (String, String) {
        let out = self.cmd().args(args).write_stdin(stdin).assert().success();
        let o = out.get_output();
        (String::from_utf8(o.stdout.clone()).unwrap(), String::from_utf8(o.stderr.clone()).unwrap())
    }

    /// Runs a command that must fail with exit 1; its stderr.
    fn fails(&self, cmd: &mut Command) -> String {
        let out = cmd.assert().code(1);
        String::from_utf8(out.get_output().stderr.clone()).unwrap()
    }

    fn json(&self, args: &[&str]) -> Value {
        serde_json::from_str(&self.ok(args, "").0).unwrap()
    }

    fn state(&self) -> PathBuf {
        self.home.path().join("state")
    }

    fn dotenv(&self) -> PathBuf {
        let path = self.work.path().join(".env");
        std::fs::write(&path, dotenv_text()).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o640)).unwrap();
        path
    }
}

fn write_key(dir: &Path, name: &str) -> PathBuf {
    let path = dir.join(name);
    let mut bytes = [0u8; 32];
    std::io::Read::read_exact(&mut std::fs::File::open("/dev/urandom").unwrap(), &mut bytes).unwrap();
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    std::fs::write(&path, format!("{hex}\n")).unwrap();
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();
    path
}

/// No secret in any output or any file of the state directory.
fn assert_no_secret(what: &str, text: &[u8]) {
    for secret in ALL_SECRETS {
        assert!(!text.windows(secret.len()).any(|w| w == secret.as_bytes()), "{what} holds a secret ({secret})");
    }
}

fn state_files(env: &Env) -> Vec<(String, Vec<u8>)> {
    std::fs::read_dir(env.state())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file())
        .map(|p| (p.display().to_string(), std::fs::read(&p).unwrap()))
        .collect()
}

#[test]
fn add_list_and_rm() {
    let env = Env::new();
    let (out, err) = env.ok(
        &["vault", "add", "openai", "--host", "api.openai.com", "--paths", "/v1/**", "--tags", "production"],
        &format!("{OPENAI}\n"),
    );
    let placeholder = out.trim().to_owned();
    assert!(placeholder.starts_with("hp_") && placeholder.len() == 29, "{out}");
    assert!(err.contains("api.openai.com"), "{err}");
    let (aws, _) = env
        .ok(&["vault", "add", "aws", "--kind", "aws", "--host", "*.amazonaws.com"], &format!("{AWS_ID}:{AWS_SECRET}"));
    let lines: Vec<&str> = aws.lines().collect();
    assert!(
        lines[0].starts_with("AWS_ACCESS_KEY_ID=hp_") && lines[1].starts_with("AWS_SECRET_ACCESS_KEY=hp_"),
        "{aws}"
    );
    env.ok(&["vault", "add", "pg", "--kind", "postgres", "--host", "db.internal"], &format!("app:{DB_PASSWORD}"));
    env.ok(
        &[
            "vault",
            "add",
            "maps",
            "--kind",
            "query",
            "--param",
            "key",
            "--host",
            "maps.example.com",
            "--methods",
            "GET",
        ],
        PAYMENTS,
    );

    let list = env.json(&["vault", "list", "--json"]);
    let secrets = list["secrets"].as_array().unwrap();
    let names: Vec<&str> = secrets.iter().map(|s| s["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["aws", "maps", "openai", "pg"]);
    let openai = &secrets[2];
    assert_eq!(openai["kind"], "header");
    assert_eq!(openai["hosts"], serde_json::json!(["api.openai.com"]));
    assert_eq!(openai["paths"], serde_json::json!(["/v1/**"]));
    assert_eq!(openai["tags"], serde_json::json!(["production"]));
    assert_eq!(
        openai["inject"],
        serde_json::json!({"kind": "header", "header": "Authorization", "format": "Bearer {}"})
    );
    assert_eq!(openai["placeholders"]["value"], placeholder.as_str());
    assert!(openai["created"].as_u64().unwrap() > 0 && openai["last_used"].is_null());
    assert_eq!(secrets[0]["placeholders"]["access_key_id"].as_str().unwrap(), &lines[0]["AWS_ACCESS_KEY_ID=".len()..]);
    assert_eq!(secrets[1]["methods"], serde_json::json!(["GET"]));
    let text = env.ok(&["vault", "list"], "").0;
    assert!(text.contains("openai") && text.contains(&placeholder) && text.contains("tags production"), "{text}");
    assert_no_secret("vault list", text.as_bytes());
    assert_no_secret("vault list --json", list.to_string().as_bytes());

    let err = env.fails(env.cmd().args(["vault", "add", "openai", "--host", "api.openai.com"]).write_stdin("other"));
    assert!(err.contains("already has a secret named \"openai\"") && err.contains("vault rm openai"), "{err}");
    let err =
        env.fails(env.cmd().args(["vault", "add", "x", "--kind", "query", "--host", "a.example"]).write_stdin("s"));
    assert!(err.contains("--param"), "{err}");
    let err =
        env.fails(env.cmd().args(["vault", "add", "x", "--kind", "aws", "--host", "a.example"]).write_stdin("nocolon"));
    assert!(err.contains("ACCESS_KEY_ID:SECRET_ACCESS_KEY"), "{err}");
    let err = env.fails(env.cmd().args(["vault", "add", "x", "--host", "*"]).write_stdin("s"));
    assert!(err.contains("invalid binding") && err.contains("every host"), "{err}");

    env.ok(&["vault", "rm", "openai"], "");
    let err = env.fails(env.cmd().args(["vault", "rm", "openai"]));
    assert!(err.contains("no secret named \"openai\"") && err.contains("vault list"), "{err}");
    assert_eq!(env.json(&["vault", "list", "--json"])["secrets"].as_array().unwrap().len(), 3);

    let audit = env.ok(&["audit", "show", "--json"], "").0;
    let kinds: Vec<String> =
        audit.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["kind"].as_str().unwrap().to_owned()).collect();
    assert_eq!(kinds, ["vault_added", "vault_added", "vault_added", "vault_added", "vault_removed"]);
    assert_no_secret("the audit log", audit.as_bytes());
    env.ok(&["audit", "verify"], "");
}

#[test]
fn the_database_never_holds_a_plaintext_secret() {
    let env = Env::new();
    env.ok(&["vault", "add", "gh", "--host", "api.github.com"], GITHUB);
    env.ok(&["vault", "add", "aws", "--kind", "aws", "--host", "*.amazonaws.com"], &format!("{AWS_ID}:{AWS_SECRET}"));
    let dotenv = env.dotenv();
    let dotenv_arg = dotenv.to_str().unwrap();
    env.ok(&["vault", "import", dotenv_arg, "--host", "PAYMENTS_TOKEN=api.payments.example", "--prefix", "app/"], "");
    env.ok(&["vault", "rotate-key", "--new-key-file", env.work.path().join("new.key").to_str().unwrap()], "");
    let files = state_files(&env);
    assert!(files.iter().any(|(p, bytes)| p.ends_with("holdpoint.db") && !bytes.is_empty()));
    for (path, bytes) in &files {
        assert_no_secret(path, bytes);
    }
    assert_no_secret("the rewritten .env", &std::fs::read(&dotenv).unwrap());
}

#[test]
fn a_wrong_or_missing_key_fails_clearly() {
    let env = Env::new();
    env.ok(&["vault", "add", "gh", "--host", "api.github.com"], GITHUB);
    let other = write_key(env.work.path(), "other.key");
    let err = env.fails(env.cmd().env("HOLDPOINT_VAULT_KEY_FILE", &other).args(["vault", "rm", "gh"]));
    assert!(err.contains("is not this vault's key"), "{err}");
    let err = env.fails(
        env.cmd()
            .env("HOLDPOINT_VAULT_KEY_FILE", &other)
            .args(["vault", "add", "x", "--host", "a.example"])
            .write_stdin("s"),
    );
    assert!(err.contains("is not this vault's key"), "{err}");

    std::fs::set_permissions(&env.key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = env.fails(env.cmd().args(["vault", "rm", "gh"]));
    assert!(err.contains("mode 644") && err.contains("chmod 600"), "{err}");
    std::fs::set_permissions(&env.key, std::fs::Permissions::from_mode(0o600)).unwrap();

    let missing = env.work.path().join("missing.key");
    let err = env.fails(env.cmd().env("HOLDPOINT_VAULT_KEY_FILE", &missing).args(["vault", "rm", "gh"]));
    assert!(err.contains("does not exist") && err.contains("openssl rand -hex 32"), "{err}");
    let garbage = env.work.path().join("garbage.key");
    std::fs::write(&garbage, "not a key").unwrap();
    std::fs::set_permissions(&garbage, std::fs::Permissions::from_mode(0o600)).unwrap();
    let err = env.fails(env.cmd().env("HOLDPOINT_VAULT_KEY_FILE", &garbage).args(["vault", "rm", "gh"]));
    assert!(err.contains("64 hex digits"), "{err}");

    // No key file and no terminal: the error says both ways to give the key.
    let err = env.fails(env.bare().args(["vault", "rm", "gh"]));
    assert!(err.contains("locked with a key file") && err.contains("HOLDPOINT_VAULT_KEY_FILE"), "{err}");
    let fresh = Env::new();
    let err = fresh.fails(fresh.bare().args(["vault", "add", "x", "--host", "a.example"]).write_stdin("s"));
    assert!(err.contains("HOLDPOINT_VAULT_KEY_FILE=FILE") && err.contains("at a terminal"), "{err}");

    // Listing needs no key; nothing was changed by the failures.
    let list = env.json(&["vault", "list", "--json"]);
    assert_eq!(list["secrets"].as_array().unwrap().len(), 1);
    let err = env.fails(env.bare().args(["vault", "list"]).env("HOLDPOINT_HOME", env.work.path().join("nowhere")));
    assert!(err.contains("holdpoint init"), "{err}");
}

fn store(env: &Env) -> (tokio::runtime::Runtime, holdpoint_store::Store) {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap();
    let store = rt.block_on(holdpoint_store::Store::open_sqlite(&env.state())).unwrap();
    (rt, store)
}

/// Ciphertexts swapped between two rows, or edited, do not open: `doctor` names them and
/// `rotate-key` refuses to go on, changing nothing.
#[test]
fn swapped_or_edited_rows_do_not_open() {
    let env = Env::new();
    env.ok(&["vault", "add", "a", "--host", "a.example"], GITHUB);
    env.ok(&["vault", "add", "b", "--host", "b.example"], PAYMENTS);
    env.ok(&["vault", "add", "c", "--host", "c.example"], STRIPE);
    let doctor = env.json(&["doctor", "--json"]);
    assert_eq!(doctor["checks"][3]["status"], "ok", "{doctor}");
    {
        let (rt, store) = store(&env);
        let header = rt.block_on(store.vault_header()).unwrap().unwrap();
        let records = rt.block_on(store.vault_records()).unwrap();
        let mut edited = records[2].sealed.clone();
        edited[30] ^= 1;
        let rekey = holdpoint_store::VaultRekey {
            old_header: header.clone(),
            new_header: header,
            records: vec![
                ("a".into(), records[1].sealed.clone()),
                ("b".into(), records[0].sealed.clone()),
                ("c".into(), edited),
            ],
            backups: vec![],
        };
        rt.block_on(store.vault_rekey(rekey, 1)).unwrap();
        rt.block_on(store.close());
    }
    let doctor = env.json(&["doctor", "--json"]);
    let check = &doctor["checks"][3];
    assert_eq!(check["status"], "error", "{doctor}");
    let detail = check["detail"].as_str().unwrap();
    assert!(detail.starts_with("3 of 3 do not open"), "{detail}");
    assert!(detail.contains("vault secret \"a\" cannot be opened") && detail.contains("vault rm a"), "{detail}");
    assert_no_secret("doctor", doctor.to_string().as_bytes());
    let err = env.fails(env.cmd().args(["vault", "rotate-key", "--new-key-file", "new.key"]));
    assert!(err.contains("vault secret \"a\" cannot be opened"), "{err}");
    // The old key still opens the vault: the refused rotation changed nothing.
    assert!(env.json(&["doctor", "--json"])["checks"][1]["detail"].as_str().unwrap().contains("opens the vault"));
}

#[test]
fn import_moves_secrets_and_keeps_an_encrypted_original() {
    let env = Env::new();
    let dotenv = env.dotenv();
    let original = std::fs::read(&dotenv).unwrap();
    let arg = dotenv.to_str().unwrap();
    let v: Value = serde_json::from_str(
        &env.ok(
            &["vault", "import", arg, "--host", "PAYMENTS_TOKEN=api.payments.example", "--json", "--tags", "staging"],
            "",
        )
        .0,
    )
    .unwrap();
    assert_eq!(v["backup"], 1);
    let moved: Vec<(String, Vec<String>, String)> = v["moved"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| {
            let hosts =
                m["secret"]["hosts"].as_array().unwrap().iter().map(|h| h.as_str().unwrap().to_owned()).collect();
            (m["secret"]["name"].as_str().unwrap().to_owned(), hosts, m["secret"]["kind"].as_str().unwrap().to_owned())
        })
        .collect();
    let expect = |n: &str, h: &str, k: &str| (n.to_owned(), vec![h.to_owned()], k.to_owned());
    assert_eq!(
        moved,
        [
            expect("OPENAI_API_KEY", "api.openai.com", "header"),
            expect("DATABASE_URL", "db.internal", "postgres"),
            expect("STRIPE_SECRET_KEY", "api.stripe.com", "header"),
            expect("PAYMENTS_TOKEN", "api.payments.example", "header"),
            expect("AWS", "*.amazonaws.com", "aws"),
        ]
    );
    assert_no_secret("import --json", v.to_string().as_bytes());

    // The file: placeholders where the secrets were; comments, order, quoting, line ends kept.
    let rewritten = String::from_utf8(std::fs::read(&dotenv).unwrap()).unwrap();
    let list = env.json(&["vault", "list", "--json"]);
    let placeholder = |name: &str, part: &str| {
        let s = list["secrets"].as_array().unwrap().iter().find(|s| s["name"] == name).unwrap();
        assert_eq!(s["tags"], serde_json::json!(["staging"]));
        s["placeholders"][part].as_str().unwrap().to_owned()
    };
    let expected = dotenv_text()
        .replace(OPENAI, &placeholder("OPENAI_API_KEY", "value"))
        .replace(DB_PASSWORD, &placeholder("DATABASE_URL", "value"))
        .replace(STRIPE, &placeholder("STRIPE_SECRET_KEY", "value"))
        .replace(PAYMENTS, &placeholder("PAYMENTS_TOKEN", "value"))
        .replace(AWS_ID, &placeholder("AWS", "access_key_id"))
        .replace(AWS_SECRET, &placeholder("AWS", "secret_access_key"));
    assert_eq!(rewritten, expected);
    assert_eq!(std::fs::metadata(&dotenv).unwrap().permissions().mode() & 0o777, 0o640, "permissions kept");

    // A second import finds nothing: placeholders are not secrets.
    let (out, _) = env.ok(&["vault", "import", arg], "");
    assert!(out.contains("that import can move; nothing changed"), "{out}");

    // The backup decrypts to the original bytes, elsewhere or in place.
    let backups = env.json(&["vault", "backups", "--json"]);
    assert_eq!(backups["backups"][0]["path"], dotenv.display().to_string());
    let copy = env.work.path().join("copy.env");
    env.ok(&["vault", "restore", "1", "--output", copy.to_str().unwrap()], "");
    assert_eq!(std::fs::read(&copy).unwrap(), original);
    let err = env.fails(env.cmd().args(["vault", "restore", "1", "--output", copy.to_str().unwrap()]));
    assert!(err.contains("exists"), "{err}");
    let (_, err) = env.ok(&["vault", "restore", "1"], "");
    assert_eq!(std::fs::read(&dotenv).unwrap(), original);
    let aside = PathBuf::from(format!("{}.hp-replaced", dotenv.display()));
    assert_eq!(std::fs::read_to_string(&aside).unwrap(), rewritten, "nothing is deleted silently");
    assert!(err.contains(".hp-replaced"), "{err}");
    let err = env.fails(env.cmd().args(["vault", "restore", "9"]));
    assert!(err.contains("no backup 9") && err.contains("vault backups"), "{err}");
}

#[test]
fn import_without_a_terminal_names_what_it_cannot_place_and_changes_nothing() {
    let env = Env::new();
    let dotenv = env.dotenv();
    let arg = dotenv.to_str().unwrap();
    let err = env.fails(env.cmd().args(["vault", "import", arg]));
    assert!(err.contains("PAYMENTS_TOKEN (line 7)") && err.contains("--host PAYMENTS_TOKEN="), "{err}");
    assert!(err.contains("nothing was changed"), "{err}");
    let err = env.fails(env.cmd().args(["vault", "import", arg, "--host", "PORT=x.example"]));
    assert!(err.contains("PORT is not a secret Holdpoint found"), "{err}");
    let err = env.fails(env.cmd().args(["vault", "import", arg, "--host", "nohost"]));
    assert!(err.contains("VAR=HOST"), "{err}");
    // A name taken in the vault refuses the whole import.
    env.ok(&["vault", "add", "STRIPE_SECRET_KEY", "--host", "api.stripe.com"], STRIPE);
    let err = env.fails(env.cmd().args(["vault", "import", arg, "--host", "PAYMENTS_TOKEN=api.payments.example"]));
    assert!(err.contains("already has secrets named STRIPE_SECRET_KEY") && err.contains("--prefix"), "{err}");
    assert_eq!(std::fs::read_to_string(&dotenv).unwrap(), dotenv_text());
    assert_eq!(env.json(&["vault", "list", "--json"])["secrets"].as_array().unwrap().len(), 1);
    assert!(env.json(&["vault", "backups", "--json"])["backups"].as_array().unwrap().is_empty());
    // A file that cannot be read safely names the line.
    std::fs::write(&dotenv, "A=1\nB_TOKEN=\"unterminated\n").unwrap();
    let err = env.fails(env.cmd().args(["vault", "import", arg]));
    assert!(err.contains(".env:2:") && err.contains("never closed"), "{err}");
}

#[test]
fn rotate_key_keeps_every_secret_readable() {
    let env = Env::new();
    env.ok(&["vault", "add", "gh", "--host", "api.github.com"], GITHUB);
    let dotenv = env.dotenv();
    let original = std::fs::read(&dotenv).unwrap();
    env.ok(&["vault", "import", dotenv.to_str().unwrap(), "--host", "PAYMENTS_TOKEN=api.payments.example"], "");
    let new_key = env.work.path().join("new.key");
    let (out, err) = env.ok(&["vault", "rotate-key", "--new-key-file", new_key.to_str().unwrap()], "");
    assert!(out.contains("re-encrypted 6 secret(s) and 1 backup(s)"), "{out}");
    assert!(err.contains("HOLDPOINT_VAULT_KEY_FILE="), "{err}");
    assert_eq!(std::fs::metadata(&new_key).unwrap().permissions().mode() & 0o777, 0o600);

    let err = env.fails(env.cmd().args(["vault", "rm", "gh"]));
    assert!(err.contains("is not this vault's key"), "the old key no longer opens it: {err}");
    let with_new = || {
        let mut c = env.cmd();
        c.env("HOLDPOINT_VAULT_KEY_FILE", &new_key);
        c
    };
    let doctor: Value =
        serde_json::from_slice(&with_new().args(["doctor", "--json"]).assert().success().get_output().stdout).unwrap();
    assert_eq!(doctor["checks"][3]["detail"], "6 secret(s), every one opens", "{doctor}");
    let copy = env.work.path().join("copy.env");
    with_new().args(["vault", "restore", "1", "--output", copy.to_str().unwrap()]).assert().success();
    assert_eq!(std::fs::read(&copy).unwrap(), original);
    // Rotating again, to a key file that already exists, uses it as it is.
    let third = write_key(env.work.path(), "third.key");
    with_new().args(["vault", "rotate-key", "--new-key-file", third.to_str().unwrap()]).assert().success();
    let mut c = env.cmd();
    c.env("HOLDPOINT_VAULT_KEY_FILE", &third).args(["vault", "rm", "gh"]).assert().success();
}

#[test]
fn doctor_reports_the_store_and_the_key_source() {
    let env = Env::new();
    let doctor = env.json(&["doctor", "--json"]);
    let names: Vec<&str> = doctor["checks"].as_array().unwrap().iter().map(|c| c["name"].as_str().unwrap()).collect();
    assert_eq!(names.get(..4), Some(&["store", "vault key", "os keyring", "vault secrets"][..]), "{names:?}");
    assert_eq!(doctor["checks"][0]["status"], "ok");
    assert!(doctor["checks"][0]["detail"].as_str().unwrap().contains("holdpoint.db"));
    assert!(doctor["checks"][1]["detail"].as_str().unwrap().contains("key file"), "{doctor}");
    let out = env.bare().arg("doctor").assert().success();
    let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
    assert!(text.contains("no vault yet"), "{text}");
    env.ok(&["vault", "add", "gh", "--host", "api.github.com"], GITHUB);
    let out = env.bare().args(["doctor", "--json"]).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["checks"][1]["status"], "error");
    assert!(v["checks"][1]["detail"].as_str().unwrap().contains("HOLDPOINT_VAULT_KEY_FILE is not set"));
    let out =
        env.bare().env("HOLDPOINT_HOME", env.work.path().join("none")).args(["doctor", "--json"]).assert().success();
    let v: Value = serde_json::from_slice(&out.get_output().stdout).unwrap();
    assert_eq!(v["checks"][0]["status"], "error");
    assert!(v["checks"][0]["detail"].as_str().unwrap().contains("holdpoint init"), "{v}");
}

#[test]
fn every_vault_command_has_help_with_an_example() {
    let env = Env::new();
    for args in [
        &["vault", "--help"][..],
        &["vault", "add", "--help"],
        &["vault", "import", "--help"],
        &["vault", "list", "--help"],
        &["vault", "rm", "--help"],
        &["vault", "rotate-key", "--help"],
        &["vault", "backups", "--help"],
        &["vault", "restore", "--help"],
        &["doctor", "--help"],
    ] {
        let out = env.bare().args(args).assert().success();
        let text = String::from_utf8(out.get_output().stdout.clone()).unwrap();
        let examples = text.split_once("Examples:\n  ").map(|(_, e)| e).unwrap_or_default();
        assert!(examples.contains(&format!("holdpoint {}", args[0])), "{args:?}: {text}");
    }
}

fn tmux(socket: &Path, args: &[&str]) -> String {
    let out = std::process::Command::new("tmux")
        .arg("-S")
        .arg(socket)
        .args(args)
        .output()
        .expect("tmux runs (scripts/test installs it)");
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Waits until the pane shows `text` (a generous bound; nothing here is timed).
fn wait_for(socket: &Path, text: &str) -> String {
    let mut screen = String::new();
    for _ in 0..300 {
        screen = tmux(socket, &["capture-pane", "-p", "-J", "-t", "w"]);
        if screen.contains(text) {
            return screen;
        }
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
    panic!("the terminal never showed {text:?}:\n{screen}");
}

/// At a terminal: a new vault asks for its passphrase twice (not echoed), import asks for an
/// unknown host, and a wrong passphrase later is a clear error.
#[test]
fn passphrase_and_questions_at_a_terminal() {
    let env = Env::new();
    let dotenv = env.dotenv();
    let socket = env.work.path().join("tmux.sock");
    let bin = assert_cmd::cargo::cargo_bin("holdpoint");
    let script = env.work.path().join("run.sh");
    std::fs::write(
        &script,
        format!(
            "unset HOLDPOINT_VAULT_KEY_FILE; export HOLDPOINT_HOME={home}; {bin} vault import {file}; echo \"import exit $?\"; \
             {bin} vault rm OPENAI_API_KEY; echo \"rm exit $?\"; sleep 60\n",
            home = env.home.path().display(),
            bin = bin.display(),
            file = dotenv.display()
        ),
    )
    .unwrap();
    tmux(&socket, &["new-session", "-d", "-s", "w", "-x", "200", "-y", "50", &format!("sh {}", script.display())]);
    wait_for(&socket, "which host is PAYMENTS_TOKEN for?");
    tmux(&socket, &["send-keys", "-t", "w", "api.payments.example", "Enter"]);
    wait_for(&socket, "choose its passphrase");
    tmux(&socket, &["send-keys", "-t", "w", "correct horse battery staple", "Enter"]);
    wait_for(&socket, "the same passphrase again");
    tmux(&socket, &["send-keys", "-t", "w", "correct horse battery staple", "Enter"]);
    let screen = wait_for(&socket, "import exit 0");
    assert!(!screen.contains("correct horse"), "the passphrase is not echoed:\n{screen}");
    assert!(screen.contains("moved PAYMENTS_TOKEN") && screen.contains("api.payments.example"), "{screen}");
    wait_for(&socket, "vault passphrase:");
    tmux(&socket, &["send-keys", "-t", "w", "wrong horse battery staple", "Enter"]);
    let screen = wait_for(&socket, "rm exit 1");
    assert!(screen.contains("wrong passphrase for this vault"), "{screen}");
    tmux(&socket, &["kill-server"]);

    let list = env.json(&["vault", "list", "--json"]);
    assert_eq!(list["secrets"].as_array().unwrap().len(), 5, "nothing was removed with the wrong passphrase");
    let doctor: Value =
        serde_json::from_slice(&env.bare().args(["doctor", "--json"]).assert().success().get_output().stdout).unwrap();
    assert!(doctor["checks"][1]["detail"].as_str().unwrap().contains("passphrase"), "{doctor}");
    let err = env.fails(env.cmd().args(["vault", "rm", "PAYMENTS_TOKEN"]));
    assert!(err.contains("locked with a passphrase") && err.contains("unset HOLDPOINT_VAULT_KEY_FILE"), "{err}");
    for (path, bytes) in state_files(&env) {
        assert_no_secret(&path, &bytes);
        assert!(!bytes.windows(12).any(|w| w == b"correct hors"), "{path} holds the passphrase");
    }
}

/// A secret that is not in a `NAME=value` assignment is not moved, and import says so.
#[test]
fn import_reports_secrets_it_cannot_rewrite() {
    let env = Env::new();
    let path = env.work.path().join(".env");
    let text = format!("# token below\nGITHUB_TOKEN {GITHUB}\nPORT=1\n");
    std::fs::write(&path, &text).unwrap();
    let (out, _) = env.ok(&["vault", "import", path.to_str().unwrap()], "");
    assert!(out.contains("left as it is: a github-token") && out.contains("(line 2)"), "{out}");
    assert!(out.contains("that import can move; nothing changed") && out.contains("move it by hand"), "{out}");
    assert_no_secret("import output", out.as_bytes());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), text);
}
