//! `.env` import, without IO: which values are secrets (the scanner decides), what Holdpoint
//! can infer about where each belongs, and the rewrite that puts placeholders in their place.

use secrecy::{ExposeSecret, SecretString};
use zeroize::Zeroizing;

use crate::Error;
use crate::binding::{Injection, Kind};
use crate::dotenv::{Assignment, Document};
use crate::secret::{Credential, Part, SecretMeta};

/// A variable Holdpoint knows: the hosts its secret is for and the header it goes in.
struct Known {
    vars: &'static [&'static str],
    hosts: &'static [&'static str],
    header: &'static str,
    format: &'static str,
}

const BEARER: &str = "Bearer {}";

/// Well-known variables and where their secrets go.
const KNOWN: &[Known] = &[
    Known { vars: &["OPENAI_API_KEY"], hosts: &["api.openai.com"], header: "Authorization", format: BEARER },
    Known { vars: &["ANTHROPIC_API_KEY"], hosts: &["api.anthropic.com"], header: "x-api-key", format: "{}" },
    Known {
        vars: &["GITHUB_TOKEN", "GH_TOKEN", "GITHUB_PAT", "GITHUB_PERSONAL_ACCESS_TOKEN"],
        hosts: &["api.github.com"],
        header: "Authorization",
        format: BEARER,
    },
    Known {
        vars: &["GITLAB_TOKEN", "GITLAB_PRIVATE_TOKEN"],
        hosts: &["gitlab.com"],
        header: "PRIVATE-TOKEN",
        format: "{}",
    },
    Known {
        vars: &["STRIPE_SECRET_KEY", "STRIPE_API_KEY", "STRIPE_KEY"],
        hosts: &["api.stripe.com"],
        header: "Authorization",
        format: BEARER,
    },
    Known { vars: &["SLACK_BOT_TOKEN", "SLACK_TOKEN"], hosts: &["slack.com"], header: "Authorization", format: BEARER },
    Known {
        vars: &["HF_TOKEN", "HUGGINGFACE_TOKEN", "HUGGING_FACE_HUB_TOKEN"],
        hosts: &["huggingface.co"],
        header: "Authorization",
        format: BEARER,
    },
    Known { vars: &["MISTRAL_API_KEY"], hosts: &["api.mistral.ai"], header: "Authorization", format: BEARER },
    Known { vars: &["GROQ_API_KEY"], hosts: &["api.groq.com"], header: "Authorization", format: BEARER },
    Known { vars: &["OPENROUTER_API_KEY"], hosts: &["openrouter.ai"], header: "Authorization", format: BEARER },
    Known {
        vars: &["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        hosts: &["generativelanguage.googleapis.com"],
        header: "x-goog-api-key",
        format: "{}",
    },
    Known { vars: &["SENDGRID_API_KEY"], hosts: &["api.sendgrid.com"], header: "Authorization", format: BEARER },
    Known { vars: &["VERCEL_TOKEN"], hosts: &["api.vercel.com"], header: "Authorization", format: BEARER },
    Known {
        vars: &["RAILWAY_TOKEN", "RAILWAY_API_TOKEN"],
        hosts: &["backboard.railway.app", "backboard.railway.com"],
        header: "Authorization",
        format: BEARER,
    },
    Known {
        vars: &["FLY_API_TOKEN", "FLY_ACCESS_TOKEN"],
        hosts: &["api.fly.io", "api.machines.dev"],
        header: "Authorization",
        format: BEARER,
    },
    Known { vars: &["CLOUDFLARE_API_TOKEN"], hosts: &["api.cloudflare.com"], header: "Authorization", format: BEARER },
    Known { vars: &["DIGITALOCEAN_TOKEN"], hosts: &["api.digitalocean.com"], header: "Authorization", format: BEARER },
    Known {
        vars: &["SUPABASE_SERVICE_ROLE_KEY", "SUPABASE_KEY"],
        hosts: &["*.supabase.co"],
        header: "apikey",
        format: "{}",
    },
    Known { vars: &["NPM_TOKEN"], hosts: &["registry.npmjs.org"], header: "Authorization", format: BEARER },
];

/// The hosts of AWS's APIs.
const AWS_HOSTS: &[&str] = &["*.amazonaws.com"];
const AWS_ID: &str = "AWS_ACCESS_KEY_ID";
const AWS_SECRET: &str = "AWS_SECRET_ACCESS_KEY";

/// The injection a secret gets when nothing more is known: `Authorization: Bearer {}`.
pub fn default_injection() -> Injection {
    Injection::Header { header: "Authorization".into(), format: BEARER.into() }
}

/// How a found secret sits in its value, and so how the file is rewritten.
enum Shape {
    /// The whole value.
    Whole,
    /// The password of a URL; the value keeps everything else.
    UrlPassword {
        /// `scheme://user:` as written, which the password follows.
        prefix: String,
        /// The password as written (percent-encoded).
        raw: Zeroizing<String>,
    },
    /// An AWS key pair in two variables (`vars[0]` the key id, `vars[1]` the secret key).
    AwsPair,
}

/// A secret `vault import` would move into the vault.
pub struct Found {
    /// The variable(s) holding it: one, or for an AWS pair the key id's and the secret key's.
    pub vars: Vec<String>,
    /// The line of the (first) variable.
    pub line: usize,
    /// The credential (never printed).
    pub credential: Credential,
    /// The hosts Holdpoint infers (a well-known variable, a URL's host); empty when it cannot.
    pub hosts: Vec<String>,
    /// How the secret is injected.
    pub inject: Injection,
    /// Why it counts as a secret, in plain words.
    pub why: String,
    /// A caveat to show the user, if any.
    pub note: Option<String>,
    /// The positions of `vars`' assignments among the document's assignments.
    at: Vec<usize>,
    shape: Shape,
}

impl std::fmt::Debug for Found {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Found").field("vars", &self.vars).field("hosts", &self.hosts).finish_non_exhaustive()
    }
}

impl Found {
    /// The vault name for it: the variable's name (an AWS pair: the key id's without
    /// `_ACCESS_KEY_ID`, e.g. `AWS`), after `prefix`.
    pub fn name(&self, prefix: &str) -> String {
        let var = self.vars.first().map(String::as_str).unwrap_or_default();
        let base = match self.shape {
            Shape::AwsPair => var.strip_suffix("_ACCESS_KEY_ID").unwrap_or(var),
            Shape::Whole | Shape::UrlPassword { .. } => var,
        };
        format!("{prefix}{base}")
    }

    /// The kind of secret.
    pub fn kind(&self) -> Kind {
        self.inject.kind()
    }

    /// The positions, among the document's assignments (in file order), of the assignments
    /// [`rewrite`] changes for this secret.
    pub fn positions(&self) -> &[usize] {
        &self.at
    }
}

/// What `find_secrets` found: the secrets to move, and secret-looking values it leaves as they
/// are, with why.
#[derive(Debug, Default)]
pub struct Findings {
    /// The secrets to move into the vault.
    pub found: Vec<Found>,
    /// `(variable, line, why)` of values that look secret but stay in the file.
    pub left: Vec<(String, usize, String)>,
}

/// Finds the secrets in a `.env` document. `is_secret(name, value)` decides which values
/// are secrets and says why (the scanner's `assignment_kind`); what is found here is where
/// each secret is and where it belongs. A variable assigned twice with a secret is an error:
/// which value a program reads depends on the program.
pub fn find_secrets(
    path: &str,
    doc: &Document,
    is_secret: impl Fn(&str, &str) -> Option<String>,
) -> Result<Findings, Error> {
    let assignments: Vec<&Assignment> = doc.assignments().collect();
    let mut findings = Findings::default();
    let mut seen: Vec<(&str, usize)> = Vec::new();
    for (i, a) in assignments.iter().enumerate() {
        let value = a.value();
        let Some(why) = is_secret(&a.name, &value) else { continue };
        if let Some((_, first)) = seen.iter().find(|(n, _)| *n == a.name) {
            return Err(Error::Dotenv {
                path: path.to_owned(),
                line: a.line,
                detail: format!("{} is assigned twice with a secret (also line {first}); keep one", a.name),
            });
        }
        seen.push((&a.name, a.line));
        let this = (i, *a);
        let pair = if a.name.ends_with(AWS_ID) {
            Some(pair_of(&assignments, &a.name, AWS_ID, AWS_SECRET).map(|secret| (this, secret)))
        } else if a.name.ends_with(AWS_SECRET) {
            pair_of(&assignments, &a.name, AWS_SECRET, AWS_ID).map(|id| Some((id, this)))
        } else {
            None
        };
        match pair {
            Some(Some((id, secret))) => {
                if !findings.found.iter().any(|f| f.at.first() == Some(&id.0)) {
                    findings.found.push(aws_pair(id, secret, why));
                }
            }
            Some(None) => findings.left.push((
                a.name.clone(),
                a.line,
                "an AWS access key id without its secret access key beside it is not a credential".into(),
            )),
            None => findings.found.push(single(this, &value, why)),
        }
    }
    Ok(findings)
}

/// The assignment that pairs with `name` (same prefix, the other suffix), with its position.
fn pair_of<'d>(all: &[&'d Assignment], name: &str, suffix: &str, other: &str) -> Option<(usize, &'d Assignment)> {
    let prefix = name.strip_suffix(suffix)?;
    let wanted = format!("{prefix}{other}");
    all.iter().enumerate().rev().find(|(_, a)| a.name == wanted && !a.value().is_empty()).map(|(i, a)| (i, *a))
}

fn aws_pair((id_at, id): (usize, &Assignment), (secret_at, secret): (usize, &Assignment), why: String) -> Found {
    let credential = Credential::AwsKeyPair {
        access_key_id: SecretString::from(id.value().as_str()),
        secret_access_key: SecretString::from(secret.value().as_str()),
    };
    Found {
        vars: vec![id.name.clone(), secret.name.clone()],
        line: id.line,
        credential,
        hosts: AWS_HOSTS.iter().map(|h| (*h).to_owned()).collect(),
        inject: Injection::Aws,
        why,
        note: None,
        at: vec![id_at, secret_at],
        shape: Shape::AwsPair,
    }
}

fn single((at, a): (usize, &Assignment), value: &str, why: String) -> Found {
    let known = KNOWN.iter().find(|k| k.vars.contains(&a.name.as_str()));
    let mut found = Found {
        vars: vec![a.name.clone()],
        line: a.line,
        credential: Credential::Token(SecretString::from(value)),
        hosts: known.map(|k| k.hosts.iter().map(|h| (*h).to_owned()).collect()).unwrap_or_default(),
        inject: known.map_or_else(default_injection, |k| Injection::Header {
            header: k.header.to_owned(),
            format: k.format.to_owned(),
        }),
        why,
        note: None,
        at: vec![at],
        shape: Shape::Whole,
    };
    if let Some(url) = UrlParts::parse(value) {
        let postgres = matches!(url.scheme.split('+').next(), Some("postgres" | "postgresql"));
        let http = matches!(url.scheme.as_str(), "http" | "https");
        found.credential = Credential::UserPassword { user: url.user, password: url.password };
        found.hosts = vec![url.host];
        found.inject = if postgres { Injection::Postgres } else { Injection::Basic };
        if !postgres && !http {
            found.note = Some(format!(
                "Holdpoint's proxies speak HTTP and PostgreSQL; a program that uses {} for {}:// sees the \
                 placeholder instead of the password",
                a.name, url.scheme
            ));
        }
        found.shape = Shape::UrlPassword { prefix: url.prefix, raw: url.raw_password };
    }
    found
}

/// The parts of `scheme://user:password@host...` that import needs.
struct UrlParts {
    scheme: String,
    /// `scheme://user:`.
    prefix: String,
    user: SecretString,
    password: SecretString,
    raw_password: Zeroizing<String>,
    host: String,
}

impl UrlParts {
    fn parse(value: &str) -> Option<UrlParts> {
        let (scheme, rest) = value.split_once("://")?;
        let scheme_ok = scheme.chars().next().is_some_and(|c| c.is_ascii_alphabetic())
            && scheme.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
        if !scheme_ok {
            return None;
        }
        let authority = rest.split(['/', '?', '#']).next()?;
        let (userinfo, hostport) = authority.rsplit_once('@')?;
        let (user, raw) = userinfo.split_once(':')?;
        if user.is_empty() || raw.is_empty() {
            return None;
        }
        let host = if hostport.starts_with('[') {
            hostport.find(']').and_then(|end| hostport.get(..=end))?
        } else {
            hostport.split(':').next()?
        };
        if host.is_empty() || host.contains(',') {
            return None; // several hosts (failover lists) are not one binding
        }
        Some(UrlParts {
            scheme: scheme.to_ascii_lowercase(),
            prefix: format!("{scheme}://{user}:"),
            user: SecretString::from(percent_decode(user)?.as_str()),
            password: SecretString::from(percent_decode(raw)?.as_str()),
            raw_password: Zeroizing::new(raw.to_owned()),
            host: host.to_ascii_lowercase(),
        })
    }
}

fn percent_decode(s: &str) -> Option<Zeroizing<String>> {
    let mut out = Zeroizing::new(Vec::with_capacity(s.len()));
    let mut bytes = s.bytes();
    while let Some(b) = bytes.next() {
        if b == b'%' {
            let hi = char::from(bytes.next()?).to_digit(16)?;
            let lo = char::from(bytes.next()?).to_digit(16)?;
            out.push(u8::try_from(hi * 16 + lo).ok()?);
        } else {
            out.push(b);
        }
    }
    String::from_utf8(out.to_vec()).ok().map(Zeroizing::new)
}

/// Puts the placeholders of a sealed secret where its values were.
pub fn rewrite(doc: &mut Document, found: &Found, meta: &SecretMeta) -> Result<(), Error> {
    let missing = || Error::BadSecret("the sealed secret has no placeholder for this value".into());
    let placeholder = |part: Part| meta.placeholders.get(&part).ok_or_else(missing);
    let edits: Vec<(usize, String)> = match &found.shape {
        Shape::Whole => vec![(0, placeholder(Part::Value)?.clone())],
        Shape::AwsPair => {
            vec![(0, placeholder(Part::AccessKeyId)?.clone()), (1, placeholder(Part::SecretAccessKey)?.clone())]
        }
        Shape::UrlPassword { .. } => vec![(0, String::new())],
    };
    for (i, new) in edits {
        let name = var(found, i)?;
        let at = found.at.get(i).copied().ok_or_else(missing)?;
        let a = doc
            .assignments_mut()
            .nth(at)
            .filter(|a| a.name == name)
            .ok_or_else(|| Error::BadSecret(format!("{name} is no longer where it was in the file")))?;
        let new = match &found.shape {
            Shape::UrlPassword { prefix, raw } => {
                let value = a.value();
                let tail = value
                    .strip_prefix(prefix.as_str())
                    .and_then(|v| v.strip_prefix(raw.as_str()))
                    .ok_or_else(|| Error::BadSecret(format!("{name} changed while it was imported")))?;
                Zeroizing::new(format!("{prefix}{}{tail}", placeholder(Part::Value)?))
            }
            Shape::Whole | Shape::AwsPair => Zeroizing::new(new),
        };
        a.set_value(&new);
    }
    Ok(())
}

fn var(found: &Found, i: usize) -> Result<&str, Error> {
    found.vars.get(i).map(String::as_str).ok_or_else(|| Error::BadSecret("a variable is missing".into()))
}

/// Whether a credential's value is what the variable held (used to double-check a rewrite).
pub fn holds(found: &Found, part: Part, value: &str) -> bool {
    found.credential.value(part).is_some_and(|v| v.expose_secret() == value)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn any_value(name: &str, value: &str) -> Option<String> {
        (!value.is_empty() && !name.starts_with("PLAIN")).then(|| "test".to_owned())
    }

    #[test]
    fn urls_split_into_user_password_and_host() {
        let url = UrlParts::parse("postgres://app:p%40ss@db.example.com:5432/app?sslmode=require").unwrap();
        assert_eq!((url.user.expose_secret(), url.password.expose_secret()), ("app", "p@ss"));
        assert_eq!(
            (url.host.as_str(), url.prefix.as_str(), url.raw_password.as_str()),
            ("db.example.com", "postgres://app:", "p%40ss")
        );
        assert!(UrlParts::parse("postgres://db/app").is_none());
        assert!(UrlParts::parse("postgres://app@db/app").is_none());
        assert!(UrlParts::parse("postgres://u:p@h1,h2/app").is_none());
        assert!(UrlParts::parse("not a url").is_none());
        assert_eq!(UrlParts::parse("redis://u:p@[::1]:6379").unwrap().host, "[::1]");
    }

    #[test]
    fn found_secrets_know_their_hosts_and_rewrite_in_place() {
        let text = "OPENAI_API_KEY=sk-a\nPLAIN=1\nDATABASE_URL=\"postgres://app:pw@db.internal:5432/app\"\n\
                    AWS_ACCESS_KEY_ID=AKIA1\nAWS_SECRET_ACCESS_KEY=s3\nOTHER_TOKEN='t'\n";
        let mut doc = Document::parse(text).unwrap();
        let found = find_secrets(".env", &doc, any_value).unwrap().found;
        let summary: Vec<(Vec<String>, Vec<String>, Kind)> =
            found.iter().map(|f| (f.vars.clone(), f.hosts.clone(), f.kind())).collect();
        assert_eq!(
            summary,
            [
                (vec!["OPENAI_API_KEY".into()], vec!["api.openai.com".into()], Kind::Header),
                (vec!["DATABASE_URL".into()], vec!["db.internal".into()], Kind::Postgres),
                (
                    vec!["AWS_ACCESS_KEY_ID".into(), "AWS_SECRET_ACCESS_KEY".into()],
                    vec!["*.amazonaws.com".into()],
                    Kind::Aws
                ),
                (vec!["OTHER_TOKEN".into()], vec![], Kind::Header),
            ]
        );
        assert_eq!(found[2].name(""), "AWS");
        assert!(holds(&found[1], Part::Value, "pw"));
        let key = crate::VaultKey::generate().unwrap();
        let mut placeholders = Vec::new();
        for f in &found {
            let hosts = if f.hosts.is_empty() { vec!["x.example".into()] } else { f.hosts.clone() };
            let binding = crate::Binding::new(hosts, vec![], vec![], f.inject.clone(), vec![]).unwrap();
            let (meta, _) = crate::seal_secret(&key, &f.name(""), binding, &f.credential, 0).unwrap();
            rewrite(&mut doc, f, &meta).unwrap();
            placeholders.push(meta.placeholders);
        }
        let out = doc.render();
        let p = |i: usize, part: Part| placeholders[i][&part].clone();
        assert_eq!(
            out.as_str(),
            format!(
                "OPENAI_API_KEY={}\nPLAIN=1\nDATABASE_URL=\"postgres://app:{}@db.internal:5432/app\"\n\
                 AWS_ACCESS_KEY_ID={}\nAWS_SECRET_ACCESS_KEY={}\nOTHER_TOKEN='{}'\n",
                p(0, Part::Value),
                p(1, Part::Value),
                p(2, Part::AccessKeyId),
                p(2, Part::SecretAccessKey),
                p(3, Part::Value)
            )
        );
    }

    #[test]
    fn aws_pairs_move_together_in_either_order() {
        let doc =
            Document::parse("AWS_SECRET_ACCESS_KEY=s\nPLAIN_ID=1\nAWS_ACCESS_KEY_ID=AKIA\nX_AWS_ACCESS_KEY_ID=AKIB\n")
                .unwrap();
        // The key id is no secret to this detector: the pair still moves, from its secret key.
        let findings =
            find_secrets(".env", &doc, |n, v| (n.contains("SECRET") || n.starts_with('X')).then(|| v.to_owned()))
                .unwrap();
        assert_eq!(findings.found.len(), 1);
        assert_eq!(findings.found[0].vars, ["AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"]);
        assert_eq!(findings.left.iter().map(|l| l.0.as_str()).collect::<Vec<_>>(), ["X_AWS_ACCESS_KEY_ID"]);
    }

    /// Found by the `dotenv` fuzz target: a variable set empty, then to a secret. Only the
    /// secret's assignment is rewritten.
    #[test]
    fn only_the_assignment_that_holds_the_secret_is_rewritten() {
        let mut doc = Document::parse("E=\nPLAIN=1\nE=with spaces\n").unwrap();
        let findings = find_secrets(".env", &doc, any_value).unwrap();
        let found = &findings.found[0];
        assert_eq!(found.positions(), [2]);
        let key = crate::VaultKey::generate().unwrap();
        let binding =
            crate::Binding::new(vec!["x.example".into()], vec![], vec![], found.inject.clone(), vec![]).unwrap();
        let (meta, _) = crate::seal_secret(&key, "E", binding, &found.credential, 0).unwrap();
        rewrite(&mut doc, found, &meta).unwrap();
        assert_eq!(doc.render().as_str(), format!("E=\nPLAIN=1\nE={}\n", meta.placeholders[&Part::Value]));
    }

    #[test]
    fn a_secret_assigned_twice_is_refused() {
        let doc = Document::parse("A_TOKEN=x\nB=1\nA_TOKEN=y\n").unwrap();
        let err = find_secrets(".env", &doc, any_value).unwrap_err();
        assert!(err.to_string().contains(".env:3: A_TOKEN is assigned twice"), "{err}");
    }
}
