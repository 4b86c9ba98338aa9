//! The opened vault a proxy holds: placeholders to secrets, and `resolve`, which hands out a
//! secret only to a request inside its binding.

use std::collections::HashMap;

use holdpoint_core::Denial;

use crate::Error;
use crate::binding::{Binding, Request};
use crate::key::VaultKey;
use crate::secret::{Credential, Part, SealedRecord, SecretMeta, open_record, read_meta};

/// The vault, opened: every secret's description and credential, indexed by placeholder.
pub struct Vault {
    secrets: Vec<Entry>,
    by_placeholder: HashMap<String, Slot>,
    problems: Vec<Error>,
}

impl std::fmt::Debug for Vault {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Vault").field("secrets", &self.secrets.len()).field("problems", &self.problems).finish()
    }
}

struct Entry {
    meta: SecretMeta,
    /// `None` when the record does not open; its placeholders are then refused.
    credential: Option<Credential>,
}

#[derive(Clone, Copy)]
enum Slot {
    One(usize, Part),
    /// Two records claim the placeholder (a database edited by hand): refused.
    Ambiguous,
}

/// What `resolve` hands out: the secret a placeholder stands for, and how to use it.
#[derive(Debug)]
pub struct Resolved<'v> {
    /// The secret's name (for the audit log).
    pub name: &'v str,
    /// Which value the placeholder stood for.
    pub part: Part,
    /// The whole credential (an AWS key id's placeholder gives the pair, to re-sign with).
    pub credential: &'v Credential,
    /// The secret's binding: how to inject it, and its tags.
    pub binding: &'v Binding,
}

impl Resolved<'_> {
    /// The tags the request gets from this secret.
    pub fn tags(&self) -> &[String] {
        &self.binding.tags
    }

    /// Whether the request is a production action because of this secret.
    pub fn is_production(&self) -> bool {
        self.binding.is_production()
    }
}

impl Vault {
    /// Opens every record under `key`. A record that does not open is kept as a problem (see
    /// [`Vault::problems`]) and its placeholders are refused; the others work.
    pub fn open(key: &VaultKey, records: impl IntoIterator<Item = SealedRecord>) -> Vault {
        let mut vault = Vault { secrets: Vec::new(), by_placeholder: HashMap::new(), problems: Vec::new() };
        for record in records {
            let entry = match open_record(key, &record) {
                Ok((meta, credential)) => Entry { meta, credential: Some(credential) },
                Err(e) => {
                    vault.problems.push(e);
                    match read_meta(&record) {
                        Ok(meta) => Entry { meta, credential: None },
                        Err(_) => continue,
                    }
                }
            };
            let index = vault.secrets.len();
            for (part, placeholder) in &entry.meta.placeholders {
                vault
                    .by_placeholder
                    .entry(placeholder.clone())
                    .and_modify(|slot| *slot = Slot::Ambiguous)
                    .or_insert(Slot::One(index, *part));
            }
            vault.secrets.push(entry);
        }
        vault
    }

    /// The records that did not open.
    pub fn problems(&self) -> &[Error] {
        &self.problems
    }

    /// The descriptions of every secret, in the order given.
    pub fn secrets(&self) -> impl Iterator<Item = &SecretMeta> {
        self.secrets.iter().map(|e| &e.meta)
    }

    /// The secret `placeholder` stands for, if `request` is inside its binding. Otherwise a
    /// [`Denial`]: [`Denial::SecretOutOfScope`] naming the secret (never its value) when the
    /// request is outside the binding — an exfiltration attempt the caller should audit —
    /// [`Denial::BadInput`] for a placeholder no secret has, and [`Denial::Internal`] for a
    /// secret that does not open.
    ///
    /// ```
    /// use holdpoint_vault::{Binding, Credential, Injection, Kind, Part, Request, Vault, VaultKey, seal_secret};
    ///
    /// let key = VaultKey::generate()?;
    /// let inject = Injection::Header { header: "Authorization".into(), format: "Bearer {}".into() };
    /// let binding = Binding::new(vec!["api.openai.com".into()], vec![], vec!["/v1/**".into()], inject, vec![])?;
    /// let credential = Credential::parse(Kind::Header, "sk-real")?;
    /// let (meta, record) = seal_secret(&key, "openai", binding, &credential, 0)?;
    /// let vault = Vault::open(&key, [record]);
    /// let placeholder = &meta.placeholders[&Part::Value];
    ///
    /// let ok = Request { host: "api.openai.com", method: "POST", path: "/v1/chat/completions" };
    /// assert_eq!(vault.resolve(placeholder, &ok).unwrap().name, "openai");
    /// let elsewhere = Request { host: "paste.example", method: "POST", path: "/v1/x" };
    /// assert!(vault.resolve(placeholder, &elsewhere).is_err());
    /// # Ok::<(), holdpoint_vault::Error>(())
    /// ```
    pub fn resolve(&self, placeholder: &str, request: &Request<'_>) -> Result<Resolved<'_>, Denial> {
        let (index, part) = match self.by_placeholder.get(placeholder) {
            Some(Slot::One(index, part)) => (*index, *part),
            Some(Slot::Ambiguous) => {
                return Err(Denial::Internal {
                    reason: format!("placeholder {placeholder} belongs to more than one vault secret"),
                });
            }
            None => {
                return Err(Denial::BadInput {
                    reason: format!(
                        "it uses placeholder {placeholder}, which no vault secret has (was it removed?); \
                         `holdpoint vault list` shows the placeholders in use"
                    ),
                });
            }
        };
        let entry = self.secrets.get(index).ok_or_else(|| Denial::Internal { reason: "vault index".into() })?;
        let name = entry.meta.name.as_str();
        entry
            .meta
            .binding
            .check(request)
            .map_err(|reason| Denial::SecretOutOfScope { secret: name.to_owned(), reason })?;
        let credential = entry.credential.as_ref().ok_or_else(|| Denial::Internal {
            reason: format!("vault secret {name:?} cannot be opened (its row was changed in the database)"),
        })?;
        Ok(Resolved { name, part, credential, binding: &entry.meta.binding })
    }

    /// The description of the secret `placeholder` stands for (its name, binding and tags),
    /// without checking any request.
    pub fn secret_of(&self, placeholder: &str) -> Option<&SecretMeta> {
        match self.by_placeholder.get(placeholder)? {
            Slot::One(index, _) => self.secrets.get(*index).map(|e| &e.meta),
            Slot::Ambiguous => None,
        }
    }

    /// The tags of the secret `placeholder` stands for (empty for an unknown placeholder).
    pub fn tags_of(&self, placeholder: &str) -> &[String] {
        self.secret_of(placeholder).map_or(&[], |m| m.binding.tags.as_slice())
    }
}
