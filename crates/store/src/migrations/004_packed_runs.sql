-- Schema version 4: audit runs packed. A run written from this version on keeps its records'
-- texts (the same lines as `records`) LZ4-compressed in `packed`, its uncompressed length
-- first (4 bytes, little-endian), and `records` empty; an older run keeps `records` and no
-- `packed`. Records, seqs, hashes and verification are unchanged: a proxy's decisions are many
-- and alike, and packed they take about a third of the bytes to write (the hashes do not
-- compress). BYTEA is PostgreSQL's byte string; SQLite keeps a blob in such a column as it is.
ALTER TABLE audit_runs ADD COLUMN packed BYTEA;
