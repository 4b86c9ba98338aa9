-- Schema version 3: runs of audit records. A proxy's batch of decisions (every 10 ms) is kept
-- as one row instead of one row per record: `records` is the records' canonical JSON texts,
-- one per line (canonical JSON has no raw line break), with seqs `first_seq` to `last_seq` in
-- order, all written at `time`. Each record is the same as in `audit`, chained the same way;
-- their hashes are recomputed from the texts when read. Statements are separated by ';' at the
-- end of a line, as in schema.sql.
CREATE TABLE IF NOT EXISTS audit_runs (
    first_seq BIGINT PRIMARY KEY,
    last_seq BIGINT NOT NULL,
    time BIGINT NOT NULL,
    records TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS audit_runs_time ON audit_runs (time);
CREATE INDEX IF NOT EXISTS audit_runs_last ON audit_runs (last_seq);
