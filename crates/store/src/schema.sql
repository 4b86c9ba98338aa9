-- Holdpoint store schema, version 1. Plain SQL that SQLite and PostgreSQL both accept;
-- statements are separated by ';' at the end of a line. Times are unix seconds.

-- schema_version, audit_public_key (hex): what this store is and which audit key signs it.
CREATE TABLE IF NOT EXISTS holdpoint_meta (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL
);

-- One row (id = 1). Every write transaction locks it first, so writes are serialised on both
-- backends; it carries the next hold id and the audit head, signed with the audit key.
CREATE TABLE IF NOT EXISTS store_head (
    id BIGINT PRIMARY KEY,
    next_hold BIGINT NOT NULL,
    audit_seq BIGINT NOT NULL,
    audit_hash TEXT NOT NULL,
    signature TEXT NOT NULL
);

-- `state` is a cache: the state a hold reads as is derived from the verified signatures in
-- `decisions` and the seal (audit key signature over the hold's fields).
CREATE TABLE IF NOT EXISTS holds (
    id BIGINT PRIMARY KEY,
    digest TEXT NOT NULL,
    channel TEXT NOT NULL,
    summary TEXT NOT NULL,
    reason TEXT NOT NULL,
    action_json TEXT NOT NULL,
    approvers BIGINT NOT NULL,
    delay_secs BIGINT NOT NULL,
    ttl_secs BIGINT NOT NULL,
    soft_delete BIGINT NOT NULL,
    state TEXT NOT NULL,
    created BIGINT NOT NULL,
    expires BIGINT NOT NULL,
    release_at BIGINT,
    seal TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS holds_digest ON holds (digest, state);
CREATE INDEX IF NOT EXISTS holds_state ON holds (state, id);

-- Only public keys; `enrollment` is the audit key's signature over (name, key, created).
CREATE TABLE IF NOT EXISTS approvers (
    name TEXT PRIMARY KEY,
    public_key TEXT NOT NULL UNIQUE,
    created BIGINT NOT NULL,
    enrollment TEXT NOT NULL
);

-- Signed decisions (approve, deny, cancel) as given; verified every time they are used.
CREATE TABLE IF NOT EXISTS decisions (
    hold_id BIGINT NOT NULL,
    approver TEXT NOT NULL,
    decision TEXT NOT NULL,
    time BIGINT NOT NULL,
    signature TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS decisions_hold ON decisions (hold_id);

-- The hash chain: `record` is the canonical JSON, `hash` its SHA-256 as written.
CREATE TABLE IF NOT EXISTS audit (
    seq BIGINT PRIMARY KEY,
    time BIGINT NOT NULL,
    kind TEXT NOT NULL,
    hold_id BIGINT,
    record TEXT NOT NULL,
    hash TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_time ON audit (time);
CREATE INDEX IF NOT EXISTS audit_hold ON audit (hold_id, kind);

-- Signed (seq, hash, time) every N records and at shutdown.
CREATE TABLE IF NOT EXISTS audit_checkpoints (
    seq BIGINT PRIMARY KEY,
    hash TEXT NOT NULL,
    time BIGINT NOT NULL,
    signature TEXT NOT NULL
);
