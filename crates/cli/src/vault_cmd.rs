//! `holdpoint vault add|import|list|rm|rotate-key|backups|restore`: secrets into the vault,
//! placeholders out. The key comes from `HOLDPOINT_VAULT_KEY_FILE` or a passphrase typed at
//! the terminal, never from anything else an agent could set.

use std::io::{IsTerminal, Read};
use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use clap::{Args, Subcommand};
use holdpoint_store::{VaultAddition, VaultRecord, VaultRekey, unix_now};
use holdpoint_vault::{
    Binding, Credential, Injection, KEY_FILE_ENV, KdfParams, KeyHeader, KeyKind, Kind, MIN_PASSPHRASE, SealedRecord,
    SecretMeta, VaultKey, check_name, new_passphrase_key, open_backup, read_meta, reseal_backup, reseal_record,
    seal_secret,
};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::home::Home;
use crate::state::State;

mod dotenv_import;

/// The most bytes read as a secret from stdin.
const MAX_SECRET: u64 = 64 * 1024;

#[derive(Subcommand)]
pub enum VaultCommand {
    /// Add a secret (read from stdin, or typed at the terminal) bound to hosts, methods and
    /// paths; prints its placeholder(s).
    #[command(
        after_help = "Kinds: header (default; --header, --format), basic (stdin USER:PASSWORD), query (--param),\n\
aws (stdin ACCESS_KEY_ID:SECRET_ACCESS_KEY; two placeholders), postgres (stdin USER:PASSWORD;\n\
the placeholder is the password). Hosts are exact names or *.suffix.\n\n\
Examples:\n  printenv OPENAI_API_KEY | holdpoint vault add openai --host api.openai.com --paths '/v1/**'\n  \
holdpoint vault add stripe --host api.stripe.com --methods GET --tags production < stripe.key\n  \
echo \"$AWS_ACCESS_KEY_ID:$AWS_SECRET_ACCESS_KEY\" | holdpoint vault add aws-prod --kind aws --host '*.amazonaws.com'\n  \
HOLDPOINT_VAULT_KEY_FILE=~/.holdpoint-vault.key holdpoint vault add gh --host api.github.com < token"
    )]
    Add(AddArgs),
    /// Move the secrets of a .env file into the vault and leave placeholders in their place;
    /// the original is kept encrypted for `vault restore`.
    #[command(after_help = "Secret-looking values (known token formats, connection URLs with passwords, and random\n\
values of *_KEY, *_TOKEN, *_SECRET, *PASSWORD* variables) are moved; the file keeps its comments,\n\
order and quoting. Hosts are inferred for well-known variables (OPENAI_API_KEY, ANTHROPIC_API_KEY,\n\
GITHUB_TOKEN, STRIPE_SECRET_KEY, DATABASE_URL's host, the AWS key pair, ...); for the rest pass\n\
--host VAR=HOST, or answer at the terminal. Without a terminal, unknown hosts are an error and\n\
nothing changes.\n\n\
Examples:\n  holdpoint vault import .env\n  holdpoint vault import ~/app/.env --host PAYMENTS_TOKEN=api.payments.example --tags production\n  \
holdpoint vault import .env --prefix app/")]
    Import(ImportArgs),
    /// List the secrets: name, kind, binding, placeholders, tags, created, last used. Never a secret.
    #[command(after_help = "Examples:\n  holdpoint vault list\n  holdpoint vault list --json | jq '.secrets[].name'")]
    List {
        /// Print JSON: {"secrets":[{"name","kind","hosts","methods","paths","inject","placeholders","tags","created","last_used"}]}.
        #[arg(long)]
        json: bool,
    },
    /// Remove a secret; its placeholder stops working.
    #[command(after_help = "Examples:\n  holdpoint vault rm openai")]
    Rm {
        /// The secret's name, as `vault list` shows it.
        name: String,
    },
    /// Re-encrypt every secret and backup under a new key or passphrase, all at once.
    #[command(after_help = "Without --new-key-file, asks for a new passphrase at the terminal.\n\n\
Examples:\n  holdpoint vault rotate-key\n  holdpoint vault rotate-key --new-key-file ~/.holdpoint-vault-2.key   # created (mode 0600) if missing")]
    RotateKey {
        /// Lock the vault with this key file from now on (created with a random key if it does not exist).
        #[arg(long, value_name = "FILE")]
        new_key_file: Option<PathBuf>,
    },
    /// List the encrypted copies `vault import` kept of the files it rewrote.
    #[command(after_help = "Examples:\n  holdpoint vault backups\n  holdpoint vault backups --json")]
    Backups {
        /// Print JSON: {"backups":[{"id","path","created"}]}.
        #[arg(long)]
        json: bool,
    },
    /// Put back the original of a file `vault import` rewrote (the secrets stay in the vault).
    #[command(
        after_help = "Without --output the file goes back to its path, and the file found there is kept beside it\n\
as PATH.hp-replaced.\n\nExamples:\n  holdpoint vault restore 1\n  holdpoint vault restore 1 --output /tmp/original.env"
    )]
    Restore {
        /// The backup's number, as `vault import` and `vault backups` print it.
        id: u64,
        /// Write the original here instead (a new file; never replaces one).
        #[arg(long, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct AddArgs {
    /// The secret's name (letters, digits, '-', '_', '.', '/').
    name: String,
    /// Hosts the secret may be sent to: exact names or *.suffix (comma-separated or repeated).
    #[arg(long, required = true, value_delimiter = ',')]
    host: Vec<String>,
    /// How the secret is injected.
    #[arg(long, default_value = "header", value_parser = ["header", "basic", "query", "aws", "postgres"])]
    kind: String,
    /// HTTP methods allowed (default: any).
    #[arg(long, value_delimiter = ',', value_name = "M,..")]
    methods: Vec<String>,
    /// Path globs allowed: * within a segment, ** for any segments (default: any path).
    #[arg(long, value_delimiter = ',', value_name = "GLOB,..")]
    paths: Vec<String>,
    /// Header name for --kind header (default Authorization).
    #[arg(long, value_name = "NAME")]
    header: Option<String>,
    /// Header value for --kind header, {} standing for the secret (default 'Bearer {}').
    #[arg(long)]
    format: Option<String>,
    /// Query parameter name for --kind query.
    #[arg(long, value_name = "NAME")]
    param: Option<String>,
    /// Tags: `production` makes every request that uses the secret a production action.
    #[arg(long, value_delimiter = ',', value_name = "T,..")]
    tags: Vec<String>,
    /// Print JSON: {"name","kind","placeholders":{...}}.
    #[arg(long)]
    json: bool,
}

#[derive(Args)]
pub struct ImportArgs {
    /// The .env file.
    path: PathBuf,
    /// The host(s) of a variable's secret: VAR=HOST[,HOST..] (repeat for each variable).
    #[arg(long, value_name = "VAR=HOST")]
    host: Vec<String>,
    /// Tags for every imported secret (e.g. production).
    #[arg(long, value_delimiter = ',', value_name = "T,..")]
    tags: Vec<String>,
    /// Put this before each variable's name to make the secret's name (e.g. app/).
    #[arg(long, default_value = "")]
    prefix: String,
    /// Print JSON: {"file","backup","moved":[...],"left":[...]}.
    #[arg(long)]
    json: bool,
}

pub fn run(home: &Home, command: VaultCommand) -> Result<u8> {
    match command {
        VaultCommand::Add(args) => add(home, args),
        VaultCommand::Import(args) => dotenv_import::import_file(home, args),
        VaultCommand::List { json } => list(home, json),
        VaultCommand::Rm { name } => rm(home, &name),
        VaultCommand::RotateKey { new_key_file } => rotate_key(home, new_key_file.as_deref()),
        VaultCommand::Backups { json } => backups(home, json),
        VaultCommand::Restore { id, output } => restore(home, id, output.as_deref()),
    }
}

/// A line typed at the terminal, when someone is there (stdin or stderr is a terminal: a
/// secret may be arriving on stdin); `None` otherwise, so scripts and tests never wait.
fn ask(prompt: &str, hidden: bool) -> Result<Option<String>> {
    if !(std::io::stdin().is_terminal() || std::io::stderr().is_terminal()) {
        return Ok(None);
    }
    crate::approvals::ask_terminal(prompt, hidden)
}

fn open_state(home: &Home) -> Result<State> {
    State::open(home, &home.load_config()?)
}

/// The key file named by `HOLDPOINT_VAULT_KEY_FILE`, if set (an empty value counts as unset).
pub fn key_file_from_env() -> Option<PathBuf> {
    std::env::var_os(KEY_FILE_ENV).filter(|v| !v.is_empty()).map(PathBuf::from)
}

const NO_KEY_SOURCE: &str = "the vault needs its key, and there is no way to get it here: set \
HOLDPOINT_VAULT_KEY_FILE=FILE (64 hex digits, mode 0600; make one with `openssl rand -hex 32 > FILE && chmod 600 FILE`), \
or run this at a terminal to type the passphrase";

/// The vault's key and its header text: the stored header's (checked), or a new one.
fn unlock(stored: Option<&str>) -> Result<(VaultKey, String)> {
    let header = stored.map(KeyHeader::parse).transpose()?;
    match (key_file_from_env(), header) {
        (Some(file), Some(header)) => {
            let key = VaultKey::from_key_file(&file)?;
            if header.verify(&key).is_err() {
                let hint = match header.kind() {
                    KeyKind::Passphrase => {
                        "; this vault is locked with a passphrase: unset HOLDPOINT_VAULT_KEY_FILE to be asked for it"
                    }
                    KeyKind::KeyFile => {
                        "; point HOLDPOINT_VAULT_KEY_FILE at the key file the vault was created (or last rotated) with"
                    }
                };
                bail!("HOLDPOINT_VAULT_KEY_FILE={} is not this vault's key{hint}", file.display());
            }
            Ok((key, stored.unwrap_or_default().to_owned()))
        }
        (Some(file), None) => {
            let key = VaultKey::from_key_file(&file)?;
            let header = KeyHeader::new(&key, None)?;
            Ok((key, header.to_text()))
        }
        (None, Some(header)) if header.kind() == KeyKind::KeyFile => bail!(
            "this vault is locked with a key file: set HOLDPOINT_VAULT_KEY_FILE to the key file it was created (or last rotated) with"
        ),
        (None, Some(header)) => {
            let passphrase = ask("vault passphrase: ", true)?.map(Zeroizing::new).context(NO_KEY_SOURCE)?;
            match header.unlock_with_passphrase(passphrase.as_bytes()) {
                Ok(key) => Ok((key, stored.unwrap_or_default().to_owned())),
                Err(holdpoint_vault::Error::WrongKey) => {
                    bail!("wrong passphrase for this vault; run the command again and type the vault's passphrase")
                }
                Err(e) => Err(e.into()),
            }
        }
        (None, None) => {
            let (key, header) = new_passphrase("the vault is new: choose its passphrase")?;
            Ok((key, header.to_text()))
        }
    }
}

/// A new passphrase, typed twice at the terminal, and the key and header it makes.
fn new_passphrase(why: &str) -> Result<(VaultKey, KeyHeader)> {
    let ask = |prompt: &str| ask(prompt, true).map(|p| p.map(Zeroizing::new));
    let first = ask(&format!("{why} (at least {MIN_PASSPHRASE} characters): "))?.context(NO_KEY_SOURCE)?;
    let again = ask("the same passphrase again: ")?.context(NO_KEY_SOURCE)?;
    if first != again {
        bail!("the two passphrases differ; nothing was changed, run the command again");
    }
    Ok(new_passphrase_key(&first, KdfParams::new_random()?)?)
}

fn header_of(state: &State) -> Result<Option<String>> {
    Ok(state.run(state.store.vault_header())?)
}

fn sealed(record: &VaultRecord) -> SealedRecord {
    SealedRecord { name: record.name.clone(), meta: record.meta.clone(), sealed: record.sealed.clone() }
}

fn to_store(record: SealedRecord, created: u64) -> VaultRecord {
    VaultRecord { name: record.name, meta: record.meta, sealed: record.sealed, created, last_used: None }
}

fn injection(args: &AddArgs, kind: Kind) -> Result<Injection> {
    if kind != Kind::Header && (args.header.is_some() || args.format.is_some()) {
        bail!("--header and --format are for --kind header");
    }
    if kind != Kind::Query && args.param.is_some() {
        bail!("--param is for --kind query");
    }
    Ok(match kind {
        Kind::Header => Injection::Header {
            header: args.header.clone().unwrap_or_else(|| "Authorization".into()),
            format: args.format.clone().unwrap_or_else(|| "Bearer {}".into()),
        },
        Kind::Query => Injection::Query {
            param: args.param.clone().context("--kind query needs --param NAME, the query parameter's name")?,
        },
        Kind::Basic => Injection::Basic,
        Kind::Aws => Injection::Aws,
        Kind::Postgres => Injection::Postgres,
    })
}

/// The secret from stdin, or typed (hidden) at the terminal when stdin is one.
fn read_secret(name: &str, kind: Kind) -> Result<Credential> {
    let text = if std::io::stdin().is_terminal() {
        let shape = match kind {
            Kind::Header | Kind::Query => "",
            Kind::Basic | Kind::Postgres => " as USER:PASSWORD",
            Kind::Aws => " as ACCESS_KEY_ID:SECRET_ACCESS_KEY",
        };
        Zeroizing::new(ask(&format!("secret for {name}{shape}: "), true)?.context("no terminal")?)
    } else {
        let mut bytes = Zeroizing::new(Vec::new());
        std::io::stdin().take(MAX_SECRET + 1).read_to_end(&mut bytes).context("cannot read the secret from stdin")?;
        if bytes.len() as u64 > MAX_SECRET {
            bail!("the secret on stdin is longer than {MAX_SECRET} bytes; give the secret alone");
        }
        Zeroizing::new(
            String::from_utf8(bytes.to_vec()).map_err(|_| anyhow::anyhow!("the secret on stdin is not UTF-8 text"))?,
        )
    };
    Ok(Credential::parse(kind, &text)?)
}

fn add(home: &Home, args: AddArgs) -> Result<u8> {
    check_name(&args.name)?;
    let kind: Kind = args.kind.parse()?;
    let inject = injection(&args, kind)?;
    let binding = Binding::new(args.host.clone(), args.methods.clone(), args.paths.clone(), inject, args.tags.clone())?;
    let state = open_state(home)?;
    if state.run(state.store.vault_records())?.iter().any(|r| r.name == args.name) {
        return Err(holdpoint_store::Error::SecretExists(args.name).into());
    }
    let (key, header) = unlock(header_of(&state)?.as_deref())?;
    let credential = read_secret(&args.name, kind)?;
    let now = unix_now();
    let (meta, record) = seal_secret(&key, &args.name, binding, &credential, now)?;
    let addition = VaultAddition { header, records: vec![to_store(record, now)], backup: None };
    state.run(state.store.vault_add(addition, now))?;
    if args.json {
        println!("{}", json!({"name": meta.name, "kind": kind.as_str(), "placeholders": meta.placeholders}));
        return Ok(0);
    }
    print_placeholders(&meta);
    eprintln!(
        "secret {:?} added: the placeholder stands for it on {} only. Give agents the placeholder; Holdpoint's proxy \
         puts the secret in its place.",
        meta.name,
        meta.binding.hosts.join(", ")
    );
    Ok(0)
}

fn print_placeholders(meta: &SecretMeta) {
    use holdpoint_vault::Part;
    match &meta.binding.inject {
        Injection::Aws => {
            for (var, part) in
                [("AWS_ACCESS_KEY_ID", Part::AccessKeyId), ("AWS_SECRET_ACCESS_KEY", Part::SecretAccessKey)]
            {
                println!("{var}={}", meta.placeholders.get(&part).map_or("", String::as_str));
            }
        }
        _ => println!("{}", meta.placeholders.get(&Part::Value).map_or("", String::as_str)),
    }
}

fn meta_json(meta: &SecretMeta, last_used: Option<u64>) -> Value {
    let b = &meta.binding;
    json!({
        "name": meta.name, "kind": meta.kind().as_str(), "hosts": b.hosts, "methods": b.methods,
        "paths": b.paths, "inject": b.inject, "placeholders": meta.placeholders, "tags": b.tags,
        "created": meta.created, "last_used": last_used,
    })
}

fn list(home: &Home, json: bool) -> Result<u8> {
    let state = open_state(home)?;
    let records = state.run(state.store.vault_records())?;
    let entries: Vec<(String, Result<SecretMeta, holdpoint_vault::Error>, Option<u64>)> =
        records.iter().map(|r| (r.name.clone(), read_meta(&sealed(r)), r.last_used)).collect();
    if json {
        let secrets: Vec<Value> = entries
            .iter()
            .map(|(name, meta, used)| match meta {
                Ok(meta) => meta_json(meta, *used),
                Err(e) => json!({"name": name, "error": e.to_string()}),
            })
            .collect();
        println!("{}", json!({ "secrets": secrets }));
        return Ok(0);
    }
    if entries.is_empty() {
        println!("the vault is empty; add a secret with `holdpoint vault add` or `holdpoint vault import .env`");
    }
    for (name, meta, used) in &entries {
        let Ok(meta) = meta else {
            println!("{name}  UNREADABLE: {}", meta.as_ref().err().map(ToString::to_string).unwrap_or_default());
            continue;
        };
        let b = &meta.binding;
        let how = match &b.inject {
            Injection::Header { header, format } => format!("{header}: {format}"),
            Injection::Query { param } => format!("?{param}="),
            Injection::Basic | Injection::Aws | Injection::Postgres => String::new(),
        };
        let any = |v: &[String]| if v.is_empty() { "any".to_owned() } else { v.join(",") };
        println!("{name}  [{}] {how}", meta.kind());
        println!("  hosts {}  methods {}  paths {}", b.hosts.join(","), any(&b.methods), any(&b.paths));
        let placeholders: Vec<String> = meta.placeholders.iter().map(|(p, v)| format!("{}={v}", p.as_str())).collect();
        println!("  placeholders {}", placeholders.join(" "));
        let tags = if b.tags.is_empty() { "-".to_owned() } else { b.tags.join(",") };
        let used = used.map_or_else(|| "never".to_owned(), date);
        println!("  tags {tags}  created {}  last used {used}", date(meta.created));
    }
    Ok(0)
}

fn rm(home: &Home, name: &str) -> Result<u8> {
    let state = open_state(home)?;
    let stored = header_of(&state)?;
    if !state.run(state.store.vault_records())?.iter().any(|r| r.name == name) {
        return Err(holdpoint_store::Error::NoSuchSecret(name.to_owned()).into());
    }
    // Only whoever holds the key changes the vault.
    unlock(stored.as_deref())?;
    state.run(state.store.vault_remove(name, unix_now()))?;
    println!(
        "removed {name:?}; its placeholder no longer stands for anything (files that hold it keep the placeholder)"
    );
    Ok(0)
}

fn rotate_key(home: &Home, new_key_file: Option<&Path>) -> Result<u8> {
    let state = open_state(home)?;
    let stored = header_of(&state)?.context("the vault is empty: there is no key to rotate yet")?;
    let (old, _) = unlock(Some(&stored))?;
    let (new, header, created) = match new_key_file {
        Some(path) => {
            let created = create_key_file(path)?;
            let key = VaultKey::from_key_file(path)?;
            let header = KeyHeader::new(&key, None)?;
            (key, header, created)
        }
        None => {
            let (key, header) = new_passphrase("the vault's new passphrase")?;
            (key, header, false)
        }
    };
    let records = state.run(state.store.vault_records())?;
    let backups = state.run(state.store.vault_backups())?;
    let mut rekey = VaultRekey { old_header: stored, new_header: header.to_text(), ..VaultRekey::default() };
    for r in &records {
        rekey.records.push((r.name.clone(), reseal_record(&old, &new, &sealed(r))?));
    }
    for b in &backups {
        rekey.backups.push((b.id, reseal_backup(&old, &new, &b.path, &b.sealed)?));
    }
    state.run(state.store.vault_rekey(rekey, unix_now()))?;
    println!("re-encrypted {} secret(s) and {} backup(s) under the new key", records.len(), backups.len());
    match new_key_file {
        Some(path) => {
            let made = if created { "a new random key in " } else { "" };
            eprintln!(
                "the vault is now locked with {made}{}: set HOLDPOINT_VAULT_KEY_FILE={} from now on; the old key no longer opens it",
                path.display(),
                path.display()
            );
        }
        None if key_file_from_env().is_some() => {
            eprintln!(
                "the vault is now locked with the new passphrase: unset HOLDPOINT_VAULT_KEY_FILE to be asked for it"
            );
        }
        None => eprintln!("the vault is now locked with the new passphrase"),
    }
    Ok(0)
}

/// Writes a new random key to `path` (mode 0600) unless a file is there; whether it did.
fn create_key_file(path: &Path) -> Result<bool> {
    use std::io::Write;
    let key = VaultKey::generate()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(mut file) => {
            file.write_all(key.key_file_text().as_bytes())?;
            file.sync_all()?;
            Ok(true)
        }
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) => Err(e).with_context(|| format!("cannot create the key file {}", path.display())),
    }
}

fn backups(home: &Home, json: bool) -> Result<u8> {
    let state = open_state(home)?;
    let backups = state.run(state.store.vault_backups())?;
    if json {
        let list: Vec<Value> =
            backups.iter().map(|b| json!({"id": b.id, "path": b.path, "created": b.created})).collect();
        println!("{}", json!({ "backups": list }));
    } else if backups.is_empty() {
        println!("no backups: `holdpoint vault import` keeps one of each file it rewrites");
    } else {
        for b in &backups {
            println!("{}  {}  {}", b.id, date(b.created), b.path);
        }
    }
    Ok(0)
}

fn restore(home: &Home, id: u64, output: Option<&Path>) -> Result<u8> {
    let state = open_state(home)?;
    let backups = state.run(state.store.vault_backups())?;
    let backup = backups
        .iter()
        .find(|b| b.id == id)
        .with_context(|| format!("there is no backup {id}; `holdpoint vault backups` lists them"))?;
    let (key, _) = unlock(header_of(&state)?.as_deref())?;
    let original = open_backup(&key, &backup.path, &backup.sealed)?;
    let target = output.map_or_else(|| PathBuf::from(&backup.path), Path::to_path_buf);
    let mut kept = None;
    let mode = std::fs::metadata(&target).ok().map(|m| m.permissions());
    if target.exists() {
        if output.is_some() {
            bail!("{} exists; give --output a new file name", target.display());
        }
        let aside = PathBuf::from(format!("{}.hp-replaced", target.display()));
        if aside.exists() {
            bail!("{} exists from an earlier restore; move it away first", aside.display());
        }
        std::fs::rename(&target, &aside).with_context(|| format!("cannot move {} aside", target.display()))?;
        kept = Some(aside);
    }
    write_new(&target, &original, 0o600)?;
    if let Some(mode) = mode {
        std::fs::set_permissions(&target, mode)
            .with_context(|| format!("cannot set the mode of {}", target.display()))?;
    }
    println!("restored {} from backup {id}", target.display());
    if let Some(aside) = kept {
        eprintln!("the file that was there is kept as {}", aside.display());
    }
    eprintln!("the imported secrets stay in the vault; `holdpoint vault rm NAME` removes one");
    Ok(0)
}

/// Writes a file that must not exist yet.
fn write_new(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, mode);
    let mut file = options.open(path).with_context(|| format!("cannot create {}", path.display()))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).with_context(|| format!("cannot write {}", path.display()))
}

/// A unix time as `YYYY-MM-DD HH:MM UTC`.
fn date(unix: u64) -> String {
    let days = i64::try_from(unix / 86_400).unwrap_or(0);
    let secs = unix % 86_400;
    // Howard Hinnant's civil_from_days.
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!("{year:04}-{month:02}-{day:02} {:02}:{:02} UTC", secs / 3600, secs % 3600 / 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates_are_utc_calendar_dates() {
        assert_eq!(super::date(0), "1970-01-01 00:00 UTC");
        assert_eq!(super::date(951_782_400), "2000-02-29 00:00 UTC");
        assert_eq!(super::date(1_767_225_599), "2025-12-31 23:59 UTC");
    }
}
