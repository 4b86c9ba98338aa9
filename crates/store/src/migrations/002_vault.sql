-- Schema version 2: the vault. The store keeps what the vault crate sealed as opaque text
-- (hex); it holds no key and decrypts nothing. Statements are separated by ';' at the end of
-- a line, as in schema.sql.

-- One row (id = 1): the vault's key header (how the key is made, and an encrypted known value
-- that tells a wrong key from the right one). Every record below is sealed under that key.
CREATE TABLE IF NOT EXISTS vault_key (
    id BIGINT PRIMARY KEY,
    header TEXT NOT NULL
);

-- One row per secret: `meta` is the secret's public description (binding, placeholders) as
-- the vault wrote it, `sealed` the nonce and ciphertext, bound to the name and `meta`.
CREATE TABLE IF NOT EXISTS vault_secrets (
    name TEXT PRIMARY KEY,
    meta TEXT NOT NULL,
    sealed TEXT NOT NULL,
    created BIGINT NOT NULL,
    last_used BIGINT
);

-- Encrypted copies of files `vault import` rewrote, for rollback.
CREATE TABLE IF NOT EXISTS vault_backups (
    id BIGINT PRIMARY KEY,
    path TEXT NOT NULL,
    created BIGINT NOT NULL,
    sealed TEXT NOT NULL
);
