//! The plaintext secret scanner behind `holdpoint scan`.
//!
//! Detectors are data (`rules.toml`, compiled in): provider tokens with known prefixes, JWTs,
//! private keys, connection URLs with passwords, and an entropy check on `*_KEY`, `*_TOKEN`,
//! `*_SECRET` and `*PASSWORD*` assignments. All rules run as one multi-pattern search over a
//! file's bytes; a match is confirmed by its rule's check (documented fakes, placeholders and
//! public keys are dropped) and only then is its line counted. A finding never holds the
//! secret, only its [`fingerprint`].
//!
//! [`assignment_kind`] answers the same question for one `NAME=value` pair (the vault's
//! `.env` import uses it); [`scan_paths`] walks directories in parallel.
//!
//! ```
//! use holdpoint_vault::scan::{Detector, Kind, assignment_kind};
//!
//! assert_eq!(assignment_kind("DB_PASSWORD", "x7Gq!t2pLw"), Some(Kind::GenericSecret));
//! assert_eq!(assignment_kind("PORT", "8080"), None);
//! assert_eq!(assignment_kind("AWS_ACCESS_KEY_ID", "AKIAIOSFODNN7EXAMPLE"), None); // AWS's documented fake
//!
//! let hits = Detector::builtin()?.scan(b"# config\nexport GITHUB_TOKEN=ghp_R4nd0mL00k1ngT0k3nV4lu3F0rD0cs0000x1\n");
//! assert_eq!((hits[0].line, hits[0].kind), (2, Kind::GithubToken));
//! # Ok::<(), holdpoint_vault::scan::Error>(())
//! ```

mod detect;
mod kind;
mod rules;
mod value;
mod walk;

use std::cell::RefCell;
use std::path::PathBuf;
use std::sync::OnceLock;

pub use detect::{Hit, Scanner, Text, fingerprint};
pub use kind::Kind;
pub use rules::RULES;
pub use walk::{DEFAULT_MAX_SIZE, Finding, Progress, Report, ScanOptions, Unreadable, scan_paths};

/// What can go wrong while scanning.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// The rule file does not parse or a regex does not compile (a bug in a built-in rule).
    #[error("secret scanner rules: {0}")]
    Rules(String),
    /// A path given to scan does not exist or cannot be looked at.
    #[error("cannot scan {} (check that it exists and is readable)", path.display())]
    Path {
        /// The path as given.
        path: PathBuf,
        /// Why it cannot be scanned.
        source: std::io::Error,
    },
}

/// A compiled set of detectors.
#[derive(Debug)]
pub struct Detector {
    compiled: rules::Compiled,
}

/// One rule of a detector, as the rule file gives it.
#[derive(Clone, Copy, Debug)]
pub struct RuleInfo<'d> {
    /// Stable rule id.
    pub id: &'d str,
    /// The kind its findings have (the assignment rule can also name other kinds).
    pub kind: Kind,
    /// Its regex (Rust syntax, Unicode off).
    pub regex: &'d str,
    /// What it finds, in plain words.
    pub why: &'d str,
}

impl Detector {
    /// The built-in detectors (`rules.toml`), compiled once per process.
    pub fn builtin() -> Result<&'static Detector, Error> {
        static BUILTIN: OnceLock<Result<Detector, String>> = OnceLock::new();
        BUILTIN
            .get_or_init(|| Detector::from_rules(RULES).map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|e| Error::Rules(e.clone()))
    }

    /// Detectors from a rule file in the format of `rules.toml`.
    pub fn from_rules(text: &str) -> Result<Detector, Error> {
        Ok(Detector { compiled: rules::compile(text)? })
    }

    /// A scanner with its own search cache (one per thread).
    pub fn scanner(&self) -> Scanner<'_> {
        Scanner::new(&self.compiled)
    }

    /// Every secret in `buf` (see [`Scanner::scan`]).
    pub fn scan(&self, buf: &[u8]) -> Vec<Hit> {
        self.scanner().scan(buf)
    }

    /// The rules, in priority order.
    pub fn rules(&self) -> impl Iterator<Item = RuleInfo<'_>> {
        self.compiled.rules.iter().zip(&self.compiled.patterns).map(|(r, regex)| RuleInfo {
            id: &r.id,
            kind: r.kind,
            regex,
            why: &r.why,
        })
    }
}

/// Whether the assignment `name = value` holds a secret, and of which kind.
///
/// The value is checked first against every detector (a `ghp_` token, a JWT, a connection URL
/// with a password, a PEM key: their own kind, whatever the name); then a name that says which
/// provider it is (`AWS_SECRET_ACCESS_KEY`, `RAILWAY_TOKEN`, `VERCEL_TOKEN`, ...) with a value
/// of that provider's shape; then a name ending in `KEY`, `TOKEN` or `SECRET`, or containing
/// `PASSWORD`, with a value long and random enough. Documented fakes, test keys, public keys,
/// placeholders (`${VAR}`, `<your-key>`, `xxxx`, `changeme`, `hp_...`), paths and UUIDs are
/// not secrets. One pair of surrounding quotes on the value is ignored.
///
/// Should the built-in rules ever fail to load, every value counts as a secret (fail closed:
/// moving a harmless value into the vault loses nothing).
pub fn assignment_kind(name: &str, value: &str) -> Option<Kind> {
    // A scanner's search cache costs more to make than one assignment costs to check: keep one
    // per thread.
    thread_local! {
        static SCANNER: RefCell<Option<Scanner<'static>>> = const { RefCell::new(None) };
    }
    let Ok(detector) = Detector::builtin() else { return Some(Kind::GenericSecret) };
    SCANNER.with(|cell| match cell.try_borrow_mut() {
        Ok(mut slot) => {
            slot.get_or_insert_with(|| detector.scanner()).assignment_kind(name.as_bytes(), value.as_bytes())
        }
        Err(_) => detector.scanner().assignment_kind(name.as_bytes(), value.as_bytes()),
    })
}
