//! Password authentication: SCRAM-SHA-256 as the server (agents prove they hold the vault
//! placeholder) and as the client (Holdpoint proves it holds the real password), and md5 as
//! the client for servers that still ask for it.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use hmac::{Hmac, Mac};
use md5::Md5;
use sha2::{Digest, Sha256};

/// SCRAM's iteration count for the placeholder (PostgreSQL's default).
const ITERATIONS: u32 = 4096;
/// The most iterations a server may ask of the proxy.
const MAX_ITERATIONS: u32 = 1_000_000;
/// The mechanism name.
pub(crate) const SCRAM: &str = "SCRAM-SHA-256";

fn hmac(key: &[u8], data: &[u8]) -> Option<[u8; 32]> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).ok()?;
    mac.update(data);
    Some(mac.finalize().into_bytes().into())
}

fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// PBKDF2-HMAC-SHA-256 with one block (SCRAM's `Hi`).
fn hi(password: &[u8], salt: &[u8], iterations: u32) -> Option<[u8; 32]> {
    let mut first = salt.to_vec();
    first.extend_from_slice(&1u32.to_be_bytes());
    let mut u = hmac(password, &first)?;
    let mut out = u;
    for _ in 1..iterations {
        u = hmac(password, &u)?;
        out.iter_mut().zip(u).for_each(|(o, b)| *o ^= b);
    }
    Some(out)
}

fn random(len: usize) -> Option<Vec<u8>> {
    let mut bytes = vec![0; len];
    getrandom::fill(&mut bytes).ok()?;
    Some(bytes)
}

/// The value of attribute `name` (`r`, `s`, `i`, `p`, `v`...) in a SCRAM message.
fn attribute(message: &str, name: char) -> Option<&str> {
    message.split(',').find_map(|part| part.strip_prefix(name).and_then(|rest| rest.strip_prefix('=')))
}

fn equal(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// The server side of one SCRAM exchange, after the client's first message.
pub(crate) struct ScramServer {
    stored_key: [u8; 32],
    server_key: [u8; 32],
    nonce: String,
    gs2_header: String,
    client_first_bare: String,
    server_first: String,
}

impl ScramServer {
    /// Answers the client's first message for `password`: the state and the server's first
    /// message. Channel binding is not offered, so a client that requires it is refused.
    pub(crate) fn start(password: &str, client_first: &str) -> Result<(ScramServer, String), String> {
        let bad = || "a SCRAM first message that is not one".to_owned();
        let mut parts = client_first.splitn(3, ',');
        let flag = parts.next().ok_or_else(bad)?;
        let authzid = parts.next().ok_or_else(bad)?;
        let bare = parts.next().ok_or_else(bad)?;
        if flag.starts_with('p') {
            return Err("channel binding is not offered by this proxy".into());
        }
        if !matches!(flag, "n" | "y") {
            return Err(bad());
        }
        let client_nonce = attribute(bare, 'r').filter(|n| !n.is_empty()).ok_or_else(bad)?;
        let salt = random(16).ok_or("no randomness")?;
        let server_nonce = B64.encode(random(18).ok_or("no randomness")?);
        let salted = hi(password.as_bytes(), &salt, ITERATIONS).ok_or("hmac")?;
        let client_key = hmac(&salted, b"Client Key").ok_or("hmac")?;
        let server_key = hmac(&salted, b"Server Key").ok_or("hmac")?;
        let nonce = format!("{client_nonce}{server_nonce}");
        let server_first = format!("r={nonce},s={},i={ITERATIONS}", B64.encode(&salt));
        let state = ScramServer {
            stored_key: sha256(&client_key),
            server_key,
            nonce,
            gs2_header: format!("{flag},{authzid},"),
            client_first_bare: bare.to_owned(),
            server_first: server_first.clone(),
        };
        Ok((state, server_first))
    }

    /// Checks the client's final message: the server's final message when its proof holds.
    pub(crate) fn finish(&self, client_final: &str) -> Option<String> {
        let (without_proof, proof) = client_final.rsplit_once(",p=")?;
        if attribute(without_proof, 'r')? != self.nonce
            || attribute(without_proof, 'c')? != B64.encode(self.gs2_header.as_bytes())
        {
            return None;
        }
        let proof = B64.decode(proof).ok()?;
        let auth = format!("{},{},{without_proof}", self.client_first_bare, self.server_first);
        let signature = hmac(&self.stored_key, auth.as_bytes())?;
        if proof.len() != signature.len() {
            return None;
        }
        let client_key: Vec<u8> = proof.iter().zip(signature).map(|(p, s)| p ^ s).collect();
        if !equal(&sha256(&client_key), &self.stored_key) {
            return None;
        }
        Some(format!("v={}", B64.encode(hmac(&self.server_key, auth.as_bytes())?)))
    }
}

/// The client side of one SCRAM exchange.
pub(crate) struct ScramClient {
    password: String,
    nonce: String,
    client_first_bare: String,
    expected: Option<String>,
}

impl ScramClient {
    /// A new exchange; the client's first message.
    pub(crate) fn start(password: &str) -> Option<(ScramClient, String)> {
        let nonce = B64.encode(random(18)?);
        let client_first_bare = format!("n=,r={nonce}");
        let first = format!("n,,{client_first_bare}");
        Some((ScramClient { password: password.to_owned(), nonce, client_first_bare, expected: None }, first))
    }

    /// The client's final message, in answer to the server's first.
    pub(crate) fn answer(&mut self, server_first: &str) -> Result<String, String> {
        let bad = || "the server's SCRAM message is not one".to_owned();
        let nonce = attribute(server_first, 'r').ok_or_else(bad)?;
        if !nonce.starts_with(&self.nonce) || nonce.len() == self.nonce.len() {
            return Err("the server's SCRAM nonce does not extend the client's".into());
        }
        let salt = B64.decode(attribute(server_first, 's').ok_or_else(bad)?).map_err(|_| bad())?;
        let iterations: u32 = attribute(server_first, 'i').and_then(|i| i.parse().ok()).ok_or_else(bad)?;
        if !(1..=MAX_ITERATIONS).contains(&iterations) {
            return Err(format!("the server asks for {iterations} SCRAM iterations"));
        }
        let salted = hi(self.password.as_bytes(), &salt, iterations).ok_or("hmac")?;
        let client_key = hmac(&salted, b"Client Key").ok_or("hmac")?;
        let server_key = hmac(&salted, b"Server Key").ok_or("hmac")?;
        let without_proof = format!("c=biws,r={nonce}");
        let auth = format!("{},{server_first},{without_proof}", self.client_first_bare);
        let signature = hmac(&sha256(&client_key), auth.as_bytes()).ok_or("hmac")?;
        let proof: Vec<u8> = client_key.iter().zip(signature).map(|(k, s)| k ^ s).collect();
        self.expected = Some(B64.encode(hmac(&server_key, auth.as_bytes()).ok_or("hmac")?));
        Ok(format!("{without_proof},p={}", B64.encode(proof)))
    }

    /// Whether the server's final message proves it knows the password too.
    pub(crate) fn verify(&self, server_final: &str) -> bool {
        match (attribute(server_final, 'v'), &self.expected) {
            (Some(v), Some(expected)) => equal(v.as_bytes(), expected.as_bytes()),
            _ => false,
        }
    }
}

/// The md5 password message: `md5` + md5(md5(password + user) + salt), in hex.
pub(crate) fn md5_password(user: &str, password: &str, salt: &[u8]) -> String {
    let hex = |bytes: &[u8]| -> String { bytes.iter().map(|b| format!("{b:02x}")).collect() };
    let inner = hex(&Md5::digest(format!("{password}{user}").as_bytes()));
    let mut outer = inner.into_bytes();
    outer.extend_from_slice(salt);
    format!("md5{}", hex(&Md5::digest(&outer)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn client_and_server_agree_on_the_right_password_only() {
        for (server_password, client_password, ok) in [("hp_abc", "hp_abc", true), ("hp_abc", "hp_abd", false)] {
            let (mut client, first) = ScramClient::start(client_password).unwrap();
            let (server, server_first) = ScramServer::start(server_password, &first).unwrap();
            let last = client.answer(&server_first).unwrap();
            let server_final = server.finish(&last);
            assert_eq!(server_final.is_some(), ok);
            if let Some(f) = server_final {
                assert!(client.verify(&f));
            }
        }
    }

    #[test]
    fn md5_matches_postgresql() {
        // "md5" + md5(hex(md5("secret" + "app")) + salt), as libpq computes it (checked with
        // Python's hashlib).
        assert_eq!(md5_password("app", "secret", &[1, 2, 3, 4]), "md5911f527656472583a006e7727877b33e");
    }

    #[test]
    fn rfc7677_vector() {
        // RFC 7677 section 3: user "user", password "pencil".
        let mut client = ScramClient {
            password: "pencil".into(),
            nonce: "rOprNGfwEbeRWgbNEkqO".into(),
            client_first_bare: "n=user,r=rOprNGfwEbeRWgbNEkqO".into(),
            expected: None,
        };
        let server_first = "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
        let last = client.answer(server_first).unwrap();
        assert_eq!(
            last,
            "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ="
        );
        assert!(client.verify("v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4="));
    }
}
