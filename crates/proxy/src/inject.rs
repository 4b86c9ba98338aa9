//! Credential injection: the agent holds `hp_` placeholders; the proxy puts the vault's secret
//! in their place — in the header, basic-auth password or query parameter the secret's binding
//! names — when the request's host, method and path are inside the binding, and refuses the
//! request otherwise (the vault's scope denial). AWS requests SigV4-signed with an `aws`
//! secret's placeholder pair are signed again with the real pair (`crate::aws`).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use holdpoint_classify::http::UrlParts;
use holdpoint_core::Denial;
use holdpoint_policy::config::HostTags;
use holdpoint_vault::{Credential, Injection, Part, Resolved, Vault, is_placeholder, placeholders_in};
use secrecy::{ExposeSecret, SecretString};

/// The parts of a request where placeholders are looked for.
#[derive(Clone, Copy, Debug)]
pub struct Outgoing<'a> {
    /// The method.
    pub method: &'a str,
    /// The absolute URL.
    pub url: &'a str,
    /// The headers, as the agent sent them.
    pub headers: &'a [(String, String)],
    /// The whole body, when the proxy read all of it (an AWS signature may cover it).
    pub body: Option<&'a [u8]>,
    /// `url` parsed, when the caller has parsed it already.
    pub parsed: Option<&'a UrlParts<'a>>,
}

/// What injection changes in a request.
#[derive(Debug, Default)]
pub struct Injected {
    /// The vault secrets the request uses, by name.
    pub secrets: Vec<String>,
    /// The tags those secrets give the request (`production` makes it a production action).
    pub tags: Vec<String>,
    /// Headers whose value is replaced: the name and the value with the secret in it.
    pub headers: Vec<(String, SecretString)>,
    /// The URL with the secret in its query, when a query placeholder was replaced.
    pub url: Option<SecretString>,
    /// For an S3 upload whose chunks are signed: their signer with the real key, since the
    /// agent's chunk signatures are chained from its placeholder signature.
    pub chunks: Option<crate::aws::ChunkSigner>,
}

/// Where placeholders become secrets.
pub trait Credentials: Send + Sync {
    /// Whether a secret is bound to `host` (which makes the host known to `unknown_hosts`).
    fn knows_host(&self, host: &str) -> bool;

    /// The secrets the request's placeholders stand for, in the places their bindings name;
    /// a placeholder outside its secret's binding (host, method, path, or place in the
    /// request) is a refusal.
    fn inject(&self, request: &Outgoing<'_>) -> Result<Injected, Denial>;
}

/// No vault: placeholders are left as they are (the upstream refuses them).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoCredentials;

impl Credentials for NoCredentials {
    fn knows_host(&self, _host: &str) -> bool {
        false
    }

    fn inject(&self, _request: &Outgoing<'_>) -> Result<Injected, Denial> {
        Ok(Injected::default())
    }
}

/// The opened vault.
#[derive(Debug)]
pub struct VaultCredentials {
    vault: Vault,
    hosts: Vec<HostTags>,
}

impl VaultCredentials {
    /// Injects from `vault`.
    pub fn new(vault: Vault) -> VaultCredentials {
        let hosts = vault
            .secrets()
            .flat_map(|meta| {
                meta.binding.hosts.iter().map(|pattern| HostTags { pattern: pattern.clone(), tags: vec![] })
            })
            .collect();
        VaultCredentials { vault, hosts }
    }
}

impl Credentials for VaultCredentials {
    fn knows_host(&self, host: &str) -> bool {
        self.hosts.iter().any(|h| h.matches(host))
    }

    fn inject(&self, request: &Outgoing<'_>) -> Result<Injected, Denial> {
        let owned;
        let url = match request.parsed {
            Some(url) => url,
            None => {
                owned = UrlParts::parse(request.url)
                    .map_err(|e| Denial::BadInput { reason: format!("the URL cannot be read ({e})") })?;
                &owned
            }
        };
        let host = url.host.as_deref().unwrap_or_default();
        let scope = holdpoint_vault::Request { host, method: request.method, path: &url.path };
        let mut out = Injected::default();
        let resigned = self.aws(request, &scope, &mut out)?;
        for (name, value) in request.headers {
            if resigned && name.eq_ignore_ascii_case("authorization") {
                continue;
            }
            if let Some(new) = self.header(name, value, &scope, &mut out)? {
                out.headers.push((name.clone(), new));
            }
        }
        self.url(request.url, url, &scope, &mut out)?;
        out.tags.sort_unstable();
        out.tags.dedup();
        out.secrets.sort_unstable();
        out.secrets.dedup();
        Ok(out)
    }
}

impl VaultCredentials {
    /// A SigV4 `Authorization` header whose access key id is a placeholder: the request signed
    /// again with the real pair (its new headers in `out`). False when there is no such header.
    fn aws(
        &self,
        request: &Outgoing<'_>,
        scope: &holdpoint_vault::Request<'_>,
        out: &mut Injected,
    ) -> Result<bool, Denial> {
        let Some(auth) = request
            .headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case("authorization"))
            .find_map(|(_, v)| crate::aws::parse_authorization(v))
            .filter(|auth| is_placeholder(auth.access_key_id))
        else {
            return Ok(false);
        };
        let resolved = self.resolve(auth.access_key_id, scope, out)?;
        let (Injection::Aws, Part::AccessKeyId, Credential::AwsKeyPair { access_key_id, secret_access_key }) =
            (&resolved.binding.inject, resolved.part, resolved.credential)
        else {
            return Err(misplaced(&resolved, "the SigV4 Credential of header Authorization", &resolved.binding.inject));
        };
        let keys = crate::aws::KeyPair { access_key_id, secret_access_key };
        let to_sign = crate::aws::ToSign {
            method: request.method,
            url: request.url,
            headers: request.headers,
            body: request.body,
        };
        let resigned = crate::aws::resign(&to_sign, &auth, keys, std::time::SystemTime::now())?;
        if let (Some(chunks), Some(body)) = (&resigned.chunks, request.body) {
            // A body read whole is checked before anything is sent; a longer one fails as it streams.
            crate::aws::check_chunked(body, chunks)
                .map_err(|why| Denial::BadInput { reason: format!("{why}, so it cannot be signed again") })?;
        }
        out.headers.extend(resigned.headers);
        out.chunks = resigned.chunks;
        Ok(true)
    }

    /// The header's new value, when it carries placeholders.
    fn header(
        &self,
        name: &str,
        value: &str,
        scope: &holdpoint_vault::Request<'_>,
        out: &mut Injected,
    ) -> Result<Option<SecretString>, Denial> {
        if name.eq_ignore_ascii_case("authorization")
            && let Some(encoded) = value.strip_prefix("Basic ").or_else(|| value.strip_prefix("basic "))
        {
            return self.basic(encoded.trim(), scope, out);
        }
        let found: Vec<&str> = placeholders_in(value).map(|(_, p)| p).collect();
        if found.is_empty() {
            return Ok(None);
        }
        let mut new = value.to_owned();
        for placeholder in found {
            let resolved = self.resolve(placeholder, scope, out)?;
            match &resolved.binding.inject {
                Injection::Header { header, .. } if header.eq_ignore_ascii_case(name) => {
                    new = new.replace(placeholder, secret(&resolved)?.expose_secret());
                }
                other => return Err(misplaced(&resolved, &format!("header {name}"), other)),
            }
        }
        Ok(Some(SecretString::from(new)))
    }

    /// `Authorization: Basic` whose password is a placeholder: the real user and password.
    fn basic(
        &self,
        encoded: &str,
        scope: &holdpoint_vault::Request<'_>,
        out: &mut Injected,
    ) -> Result<Option<SecretString>, Denial> {
        let Ok(decoded) = BASE64.decode(encoded) else { return Ok(None) };
        let Ok(text) = String::from_utf8(decoded) else { return Ok(None) };
        let Some(placeholder) = placeholders_in(&text).map(|(_, p)| p).next() else { return Ok(None) };
        let resolved = self.resolve(placeholder, scope, out)?;
        match (&resolved.binding.inject, resolved.credential) {
            (Injection::Basic, Credential::UserPassword { user, password }) => {
                let pair = format!("{}:{}", user.expose_secret(), password.expose_secret());
                Ok(Some(SecretString::from(format!("Basic {}", BASE64.encode(pair)))))
            }
            (other, _) => Err(misplaced(&resolved, "basic authentication", other)),
        }
    }

    /// Placeholders in the URL: only in the query parameter a secret's binding names.
    fn url(
        &self,
        raw: &str,
        url: &UrlParts<'_>,
        scope: &holdpoint_vault::Request<'_>,
        out: &mut Injected,
    ) -> Result<(), Denial> {
        if let Some(placeholder) = placeholders_in(&url.path).map(|(_, p)| p).next() {
            let resolved = self.resolve(placeholder, scope, out)?;
            return Err(misplaced(&resolved, "the URL path", &resolved.binding.inject));
        }
        let mut new = raw.to_owned();
        let mut changed = false;
        for (param, value) in url.query_pairs() {
            for (_, placeholder) in placeholders_in(&value) {
                let resolved = self.resolve(placeholder, scope, out)?;
                match &resolved.binding.inject {
                    Injection::Query { param: bound } if *bound == param => {
                        // Placeholders are URL-safe, so they appear in the raw URL as they are.
                        new = new.replace(placeholder, &encode_query(secret(&resolved)?.expose_secret()));
                        changed = true;
                    }
                    other => return Err(misplaced(&resolved, &format!("query parameter {param}"), other)),
                }
            }
        }
        if changed {
            out.url = Some(SecretString::from(new));
        }
        Ok(())
    }

    fn resolve<'v>(
        &'v self,
        placeholder: &str,
        scope: &holdpoint_vault::Request<'_>,
        out: &mut Injected,
    ) -> Result<Resolved<'v>, Denial> {
        let resolved = self.vault.resolve(placeholder, scope)?;
        out.secrets.push(resolved.name.to_owned());
        out.tags.extend(resolved.tags().iter().cloned());
        Ok(resolved)
    }
}

fn secret<'v>(resolved: &Resolved<'v>) -> Result<&'v SecretString, Denial> {
    resolved.credential.value(resolved.part).ok_or_else(|| Denial::Internal {
        reason: format!("vault secret {:?} has no value for its placeholder", resolved.name),
    })
}

/// A placeholder found where its binding does not put it.
fn misplaced(resolved: &Resolved<'_>, place: &str, inject: &Injection) -> Denial {
    let goes = match inject {
        Injection::Header { header, .. } => format!("in header {header}"),
        Injection::Basic => "as a basic-authentication password".to_owned(),
        Injection::Query { param } => format!("in query parameter {param}"),
        Injection::Aws => "by re-signing AWS requests whose SigV4 Authorization header has its access-key-id \
                           placeholder as Credential (presigned URLs are not re-signed)"
            .to_owned(),
        Injection::Postgres => "to the PostgreSQL proxy".to_owned(),
    };
    Denial::SecretOutOfScope {
        secret: resolved.name.to_owned(),
        reason: format!("its placeholder is in {place}, and the secret is only given {goes}"),
    }
}

/// A query value, percent-encoded where the URL syntax needs it.
fn encode_query(value: &str) -> String {
    url::form_urlencoded::byte_serialize(value.as_bytes()).collect()
}
