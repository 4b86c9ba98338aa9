//! The audit log: a hash chain of versioned JSON records, a signed head, signed checkpoints,
//! verification and export.
//!
//! A record is canonical JSON (keys sorted, compact):
//! `{"v":1,"seq":N,"time":T,"kind":"...","hold_id"?,"digest"?,"channel"?,"verdict"?,"detail":{...},"prev":"sha256:<hex>"}`
//! where `prev` is the SHA-256 of the previous record's canonical JSON (64 zeros before the
//! first). The audit key signs the head (last seq and hash) in every write transaction, and a
//! checkpoint (seq, hash, time) every N records (a batch that passes a multiple of N: one, at
//! its end) and on [`Store::checkpoint`].

use ed25519_dalek::VerifyingKey;
use holdpoint_core::{ActionDigest, Channel, VerdictKind, canonical_json, push_canonical, push_json_str};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::keys::{hex, netstrings, sign_hex, verify_hex};
use crate::store::{Arg, Head, Store, Tx, col_str, col_u64, head_message, to_db};
use crate::{Error, HoldId};

/// The `prev` of the first record.
pub(crate) const GENESIS: &str = "sha256:0000000000000000000000000000000000000000000000000000000000000000";

/// A decision to log that is not a hold transition: hooks and proxies log allows and denies
/// (and holds, with their hold id) through [`Store::audit_decision`].
#[derive(Clone, Debug, Default, PartialEq)]
pub struct AuditEntry {
    /// The hold the decision created or used, if any.
    pub hold_id: Option<HoldId>,
    /// The action's digest.
    pub digest: Option<ActionDigest>,
    /// The channel the action came through.
    pub channel: Option<Channel>,
    /// The verdict given.
    pub verdict: Option<VerdictKind>,
    /// Anything else worth keeping (reasons, policy ids, agent). Never put a secret here.
    pub detail: Detail,
}

/// What a record keeps besides its fixed fields: any JSON (a non-object is kept under
/// `"value"`), or a decision's fields rendered at once as canonical JSON by
/// [`Detail::decision`] — a proxy's audit writer makes one per request, so its detail is one
/// string rather than a JSON tree of a dozen allocations.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Detail(DetailForm);

#[derive(Clone, Debug, PartialEq)]
enum DetailForm {
    Json(Value),
    /// The canonical JSON of an object (only [`Detail::decision`] makes one).
    Canonical(String),
}

impl Default for DetailForm {
    fn default() -> DetailForm {
        DetailForm::Json(Value::Null)
    }
}

impl From<Value> for Detail {
    fn from(value: Value) -> Detail {
        Detail(DetailForm::Json(value))
    }
}

/// The detail of a decision record; its keys, in byte order, are its field names.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct DecisionDetail<'a> {
    /// The agent that asked, when known.
    pub agent: Option<&'a str>,
    /// The action's input as logged (cut to a bounded length by the caller).
    pub input: &'a str,
    /// `enforce` or `observe`.
    pub mode: &'a str,
    /// The policies that decided.
    pub policies: &'a [String],
    /// Why, in words.
    pub reasons: &'a [String],
    /// The agent's session, when known.
    pub session: Option<&'a str>,
    /// The workspace the action ran in.
    pub workspace: &'a str,
}

impl Detail {
    /// A decision's detail, written as canonical JSON at once.
    pub fn decision(d: DecisionDetail<'_>) -> Detail {
        let mut out = String::with_capacity(96 + d.input.len());
        let opt = |out: &mut String, v: Option<&str>| match v {
            Some(s) => push_json_str(out, s),
            None => out.push_str("null"),
        };
        let list = |out: &mut String, items: &[String]| {
            out.push('[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(',');
                }
                push_json_str(out, item);
            }
            out.push(']');
        };
        out.push_str("{\"agent\":");
        opt(&mut out, d.agent);
        out.push_str(",\"input\":");
        push_json_str(&mut out, d.input);
        out.push_str(",\"mode\":");
        push_json_str(&mut out, d.mode);
        out.push_str(",\"policies\":");
        list(&mut out, d.policies);
        out.push_str(",\"reasons\":");
        list(&mut out, d.reasons);
        out.push_str(",\"session\":");
        opt(&mut out, d.session);
        out.push_str(",\"workspace\":");
        push_json_str(&mut out, d.workspace);
        out.push('}');
        Detail(DetailForm::Canonical(out))
    }

    /// The canonical JSON object this detail is in a record.
    pub fn canonical(&self) -> String {
        let mut out = String::new();
        self.push_to(&mut out);
        out
    }

    /// Appends the canonical JSON object this detail is in a record.
    fn push_to(&self, out: &mut String) {
        match &self.0 {
            DetailForm::Canonical(text) => out.push_str(text),
            DetailForm::Json(detail @ Value::Object(_)) => push_canonical(out, detail),
            DetailForm::Json(Value::Null) => out.push_str("{}"),
            DetailForm::Json(other) => {
                out.push_str("{\"value\":");
                push_canonical(out, other);
                out.push('}');
            }
        }
    }
}

/// Where an export starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExportFrom {
    /// Records with this seq or later (`Seq(1)` is everything).
    Seq(u64),
    /// Records with this time (unix seconds) or later.
    Time(u64),
}

/// What kind of damage verification found.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// Records are absent: deleted from the middle or the end.
    Missing,
    /// A record is not a readable version-1 record.
    Malformed,
    /// A record sits at another seq than its own: records were reordered or renumbered.
    Moved,
    /// A record's content was changed after it was written.
    Edited,
    /// A record that Holdpoint did not write was added.
    Inserted,
    /// A record does not link to the one before it, and which of them is wrong is unclear.
    BrokenLink,
    /// The chain no longer matches a checkpoint that the audit key signed.
    CheckpointMismatch,
    /// A checkpoint's signature does not verify with the audit key.
    BadCheckpoint,
    /// The signed head (last seq and hash) does not verify with the audit key.
    BadHead,
}

/// One finding of [`Store::verify`].
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditProblem {
    /// The first seq this finding makes untrustworthy.
    pub seq: u64,
    /// What kind of damage.
    pub kind: ProblemKind,
    /// What was found, in plain words.
    pub detail: String,
}

/// The result of [`Store::verify`]: what was checked and what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct VerifyReport {
    /// Records read.
    pub records: u64,
    /// The last seq according to the signed head.
    pub head_seq: u64,
    /// Checkpoints whose signature verified.
    pub checkpoints: u64,
    /// Everything found; empty when the log is intact. The chain is checked up to its first
    /// break only, since nothing after a break can be trusted.
    pub problems: Vec<AuditProblem>,
}

impl VerifyReport {
    /// Whether nothing was found.
    pub fn is_ok(&self) -> bool {
        self.problems.is_empty()
    }

    /// The first bad seq: the smallest seq any finding makes untrustworthy.
    pub fn first_bad(&self) -> Option<u64> {
        self.problems.iter().map(|p| p.seq).min()
    }

    /// The finding that names [`VerifyReport::first_bad`].
    pub fn first_problem(&self) -> Option<&AuditProblem> {
        self.problems.iter().min_by_key(|p| p.seq)
    }
}

/// One record about to be appended (inside a transaction).
pub(crate) struct Record<'a> {
    pub(crate) kind: &'a str,
    pub(crate) hold: Option<HoldId>,
    pub(crate) digest: Option<&'a ActionDigest>,
    pub(crate) channel: Option<Channel>,
    pub(crate) verdict: Option<&'a str>,
    pub(crate) detail: Detail,
}

impl Store {
    /// Appends one record to the chain inside `tx`; returns its seq.
    pub(crate) async fn append(
        &self,
        tx: &mut Tx<'_>,
        head: &mut Head,
        record: Record<'_>,
        time: u64,
    ) -> Result<u64, Error> {
        let mut text = String::with_capacity(256);
        let seq = link(head, &record, time, &mut text)?;
        if seq % self.checkpoint_every == 0 {
            self.write_checkpoint(tx, head, time).await?;
        }
        tx.queue(
            "INSERT INTO audit (seq, time, kind, hold_id, record, hash) VALUES ($1, $2, $3, $4, $5, $6)",
            vec![
                Arg::Int(to_db(seq)?),
                Arg::Int(to_db(time)?),
                Arg::Text(record.kind.to_owned()),
                Arg::MaybeInt(record.hold.map(|h| to_db(h.get())).transpose()?),
                Arg::Text(text),
                Arg::Text(head.hash.clone()),
            ],
        );
        Ok(seq)
    }

    async fn write_checkpoint(&self, tx: &mut Tx<'_>, head: &Head, time: u64) -> Result<(), Error> {
        let signature = sign_hex(&self.inner.audit_key, &checkpoint_message(head.seq, &head.hash, time));
        tx.queue(
            "INSERT INTO audit_checkpoints (seq, hash, time, signature) VALUES ($1, $2, $3, $4) ON CONFLICT (seq) DO NOTHING",
            vec![Arg::Int(to_db(head.seq)?), Arg::Text(head.hash.clone()), Arg::Int(to_db(time)?), Arg::Text(signature)],
        );
        Ok(())
    }

    /// Logs a decision that is not a hold transition (an allow, a deny, a hold answered);
    /// returns the record's seq.
    pub async fn audit_decision(&self, entry: AuditEntry, now: u64) -> Result<u64, Error> {
        let (mut tx, mut head) = self.begin().await?;
        let record = Record {
            kind: "decision",
            hold: entry.hold_id,
            digest: entry.digest.as_ref(),
            channel: entry.channel,
            verdict: entry.verdict.map(VerdictKind::as_str),
            detail: entry.detail,
        };
        let seq = self.append(&mut tx, &mut head, record, now).await?;
        self.commit(tx, head).await?;
        Ok(seq)
    }

    /// Logs many decisions in one transaction (a proxy's batch: one head signature for all of
    /// them); returns the last record's seq, or `None` for no entries. The records are chained
    /// like single ones, checkpointed once at the end if the batch passes a multiple of N, and
    /// kept as one run (one row of `audit_runs`, their texts one per line, packed): one insert
    /// per batch instead of one per decision.
    pub async fn audit_decisions(&self, entries: Vec<AuditEntry>, now: u64) -> Result<Option<u64>, Error> {
        if entries.is_empty() {
            return Ok(None);
        }
        let (mut tx, mut head) = self.begin().await?;
        let first = head.seq.checked_add(1).ok_or_else(|| Error::OutOfRange("audit seq".into()))?;
        // Taken, not locked: the lock is never held across an await. A batch that finds it
        // taken (two writers at once) starts from empty buffers.
        let mut scratch = self.inner.audit_scratch.lock().map(|mut s| std::mem::take(&mut *s)).unwrap_or_default();
        let run = &mut scratch.run;
        run.clear();
        run.reserve(entries.len() * 512);
        for entry in entries {
            let record = Record {
                kind: "decision",
                hold: entry.hold_id,
                digest: entry.digest.as_ref(),
                channel: entry.channel,
                verdict: entry.verdict.map(VerdictKind::as_str),
                detail: entry.detail,
            };
            link(&mut head, &record, now, run)?;
            run.push('\n');
        }
        let last = head.seq;
        // One checkpoint for the batch, at its end, if it passed a multiple of N: a signature
        // costs more than a hundred records' hashes.
        if last / self.checkpoint_every > (first - 1) / self.checkpoint_every {
            self.write_checkpoint(&mut tx, &head, now).await?;
        }
        let packed = scratch.pack();
        if let Ok(mut kept) = self.inner.audit_scratch.lock() {
            scratch.shrink();
            *kept = scratch;
        }
        tx.queue(
            "INSERT INTO audit_runs (first_seq, last_seq, time, records, packed) VALUES ($1, $2, $3, '', $4)",
            vec![Arg::Int(to_db(first)?), Arg::Int(to_db(last)?), Arg::Int(to_db(now)?), Arg::Bytes(packed)],
        );
        self.commit(tx, head).await?;
        Ok(Some(last))
    }

    /// Writes a signed checkpoint of the current head (call it at shutdown); returns its seq,
    /// or `None` when the log is empty. Idempotent.
    pub async fn checkpoint(&self, now: u64) -> Result<Option<u64>, Error> {
        let (mut tx, head) = self.begin().await?;
        if head.seq == 0 {
            return Ok(None);
        }
        self.write_checkpoint(&mut tx, &head, now).await?;
        let seq = head.seq;
        self.commit(tx, head).await?;
        Ok(Some(seq))
    }

    /// The records from `from` on, as JSON lines (one canonical JSON object each), in order.
    pub async fn export(&self, from: ExportFrom) -> Result<Vec<String>, Error> {
        let (single, runs, n) = match from {
            ExportFrom::Seq(n) => (
                "SELECT seq, record FROM audit WHERE seq >= $1 ORDER BY seq",
                "SELECT first_seq, records, packed FROM audit_runs WHERE last_seq >= $1 ORDER BY first_seq",
                n,
            ),
            ExportFrom::Time(t) => (
                "SELECT seq, record FROM audit WHERE time >= $1 ORDER BY seq",
                "SELECT first_seq, records, packed FROM audit_runs WHERE time >= $1 ORDER BY first_seq",
                t,
            ),
        };
        let n = to_db(n.min(i64::MAX as u64))?;
        let stored = self.stored(single, runs, Some(n)).await?;
        if let Some(damaged) = stored.iter().find(|s| s.record.is_empty()) {
            return Err(Error::BadData(format!(
                "the audit record at seq {} cannot be read (a damaged run); `holdpoint audit verify` reports the damage",
                damaged.seq
            )));
        }
        let from_seq = match from {
            ExportFrom::Seq(n) => n,
            ExportFrom::Time(_) => 0,
        };
        Ok(stored
            .into_iter()
            .filter(|s| u64::try_from(s.seq).is_ok_and(|seq| seq >= from_seq))
            .map(|s| s.record)
            .collect())
    }

    /// The records of `single` (rows of seq, record and, when selected, hash) and of `runs`
    /// (rows of first seq and records), bound to `bind` when given, merged in seq order; a
    /// run's records are given the seqs from its first on and their hashes recomputed.
    async fn stored(&self, single: &str, runs: &str, bind: Option<i64>) -> Result<Vec<Stored>, Error> {
        let pool = &self.inner.pool;
        let query = |sql| match bind {
            Some(n) => sqlx::query(sql).bind(n),
            None => sqlx::query(sql),
        };
        let singles = query(single).fetch_all(pool).await.map_err(Error::db)?;
        let mut stored = singles
            .iter()
            .map(|r| {
                let seq = sqlx::Row::try_get::<i64, _>(r, 0).map_err(|e| Error::BadData(e.to_string()))?;
                let record = col_str(r, 1)?;
                let hash = if sqlx::Row::len(r) > 2 { col_str(r, 2)? } else { String::new() };
                Ok(Stored { seq, record, hash })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        let runs = query(runs).fetch_all(pool).await.map_err(Error::db)?;
        let merge = !runs.is_empty();
        for row in &runs {
            let first = sqlx::Row::try_get::<i64, _>(row, 0).map_err(|e| Error::BadData(e.to_string()))?;
            let packed = sqlx::Row::try_get::<Option<Vec<u8>>, _>(row, 2).map_err(|e| Error::BadData(e.to_string()))?;
            let records = match packed {
                None => col_str(row, 1)?,
                Some(packed) => match unpack_run(&packed) {
                    Some(records) => records,
                    None => {
                        // Damaged: one record that is no record, for verification to report.
                        stored.push(Stored { seq: first, record: String::new(), hash: record_hash("") });
                        continue;
                    }
                },
            };
            for (i, record) in records.lines().enumerate() {
                let seq = i64::try_from(i).ok().and_then(|i| first.checked_add(i)).unwrap_or(i64::MAX);
                let hash = record_hash(record);
                stored.push(Stored { seq, record: record.to_owned(), hash });
            }
        }
        if merge {
            // Stable: a seq stored twice keeps both, for verification to report.
            stored.sort_by_key(|s| s.seq);
        }
        Ok(stored)
    }

    /// Checks the whole log: the chain, the signed head and every checkpoint. Tampering is
    /// reported in the [`VerifyReport`] (with the first bad seq), not as an `Err`; `Err` means
    /// the log could not be read at all.
    pub async fn verify(&self) -> Result<VerifyReport, Error> {
        let pool = &self.inner.pool;
        let rows = self
            .stored(
                "SELECT seq, record, hash FROM audit ORDER BY seq",
                "SELECT first_seq, records, packed FROM audit_runs ORDER BY first_seq",
                None,
            )
            .await?;
        let head_row = sqlx::query("SELECT audit_seq, audit_hash, signature FROM store_head WHERE id = 1")
            .fetch_one(pool)
            .await
            .map_err(Error::db)?;
        let head =
            SignedHead { seq: col_u64(&head_row, 0)?, hash: col_str(&head_row, 1)?, signature: col_str(&head_row, 2)? };
        let cps = sqlx::query("SELECT seq, hash, time, signature FROM audit_checkpoints ORDER BY seq")
            .fetch_all(pool)
            .await
            .map_err(Error::db)?;
        let checkpoints = cps
            .iter()
            .map(|r| {
                Ok(Checkpoint {
                    seq: col_u64(r, 0)?,
                    hash: col_str(r, 1)?,
                    time: col_u64(r, 2)?,
                    signature: col_str(r, 3)?,
                })
            })
            .collect::<Result<Vec<_>, Error>>()?;
        Ok(check(&rows, &head, &checkpoints, &self.inner.audit_public))
    }
}

/// Links `record` to the chain: appends its canonical text to `out` and returns its seq, with
/// `head` moved on to it. The caller stores the text (a run's records are written straight into
/// the run) and writes the checkpoints.
fn link(head: &mut Head, record: &Record<'_>, time: u64, out: &mut String) -> Result<u64, Error> {
    let seq = head.seq.checked_add(1).ok_or_else(|| Error::OutOfRange("audit seq".into()))?;
    let start = out.len();
    push_record(out, record, seq, time, &head.hash);
    let digest = Sha256::digest(out.get(start..).unwrap_or_default().as_bytes());
    head.hash.clear();
    head.hash.push_str("sha256:");
    let _ = holdpoint_core::hex::write(&mut head.hash, &digest);
    head.seq = seq;
    head.dirty = true;
    Ok(seq)
}

/// Appends a record's canonical JSON, written in key order without building a JSON tree (the
/// audit writer makes one per decision). Keys: channel, detail, digest, hold_id, kind, prev, seq,
/// time, v, verdict.
fn push_record(out: &mut String, record: &Record<'_>, seq: u64, time: u64, prev: &str) {
    let mut decimal = itoa::Buffer::new();
    out.push('{');
    if let Some(c) = record.channel {
        out.push_str("\"channel\":");
        push_json_str(out, c.as_str());
        out.push(',');
    }
    out.push_str("\"detail\":");
    record.detail.push_to(out);
    if let Some(d) = record.digest {
        out.push_str(",\"digest\":\"sha256:");
        let _ = holdpoint_core::hex::write(out, d.as_bytes());
        out.push('"');
    }
    if let Some(id) = record.hold {
        out.push_str(",\"hold_id\":");
        out.push_str(decimal.format(id.get()));
    }
    out.push_str(",\"kind\":");
    push_json_str(out, record.kind);
    out.push_str(",\"prev\":");
    push_json_str(out, prev);
    out.push_str(",\"seq\":");
    out.push_str(decimal.format(seq));
    out.push_str(",\"time\":");
    out.push_str(decimal.format(time));
    out.push_str(",\"v\":1");
    if let Some(v) = record.verdict {
        out.push_str(",\"verdict\":");
        push_json_str(out, v);
    }
    out.push('}');
}

/// A run's text packed as `audit_runs.packed` keeps it: LZ4 (block format), its length first
/// as 4 bytes little-endian.
pub fn pack_run(run: &str) -> Vec<u8> {
    lz4_flex::compress_prepend_size(run.as_bytes())
}

/// Scratch buffers larger than this are not kept for the next batch (a burst's).
const SCRATCH_KEEP_MAX: usize = 4 << 20;

/// Where a batch of audit records is written and packed, kept from one batch to the next: a
/// busy proxy's batch runs to hundreds of kilobytes, and buffers that size made afresh and freed
/// every few milliseconds go back to the kernel between batches, to be faulted in (and zeroed)
/// again, with a TLB shootdown on every core each time they are given back.
#[derive(Default)]
pub(crate) struct AuditScratch {
    /// The run's records, one per line.
    run: String,
    /// LZ4's output, at its largest size for the run.
    out: Vec<u8>,
    table: Option<lz4_flex::block::CompressTable>,
}

impl AuditScratch {
    /// The run packed as [`pack_run`] packs it, in a buffer of its own size.
    fn pack(&mut self) -> Vec<u8> {
        let input = self.run.as_bytes();
        let Ok(len) = u32::try_from(input.len()) else { return pack_run(&self.run) };
        let need = 4 + lz4_flex::block::get_maximum_output_size(input.len());
        if self.out.len() < need {
            self.out.resize(need, 0);
        }
        let table = self.table.get_or_insert_with(lz4_flex::block::CompressTable::large);
        let (prefix, body) = self.out.split_at_mut(4);
        prefix.copy_from_slice(&len.to_le_bytes());
        match lz4_flex::block::compress_into_with_table(input, body, table) {
            Ok(n) => self.out.get(..4 + n).map_or_else(|| pack_run(&self.run), <[u8]>::to_vec),
            Err(_) => pack_run(&self.run),
        }
    }

    /// Lets go of buffers a burst grew past [`SCRATCH_KEEP_MAX`].
    fn shrink(&mut self) {
        if self.run.capacity() > SCRATCH_KEEP_MAX {
            self.run = String::new();
        }
        if self.out.capacity() > SCRATCH_KEEP_MAX {
            self.out = Vec::new();
        }
    }
}

/// A packed run's text, or `None` when it is damaged (the bytes are read from the database,
/// which may have been tampered with). LZ4 expands at most 255 times, so a length beyond that
/// is refused before anything is allocated for it.
pub fn unpack_run(packed: &[u8]) -> Option<String> {
    let (len, body) = packed.split_first_chunk::<4>()?;
    if u32::from_le_bytes(*len) as usize > body.len().saturating_mul(255) {
        return None;
    }
    String::from_utf8(lz4_flex::decompress_size_prepended(packed).ok()?).ok()
}

/// SHA-256 of a record's canonical text, as `sha256:<hex>`.
pub(crate) fn record_hash(canonical: &str) -> String {
    format!("sha256:{}", hex(&Sha256::digest(canonical.as_bytes())))
}

fn checkpoint_message(seq: u64, hash: &str, time: u64) -> Vec<u8> {
    netstrings(&["holdpoint.audit.checkpoint.v1", &seq.to_string(), hash, &time.to_string()])
}

struct Stored {
    seq: i64,
    record: String,
    hash: String,
}

struct SignedHead {
    seq: u64,
    hash: String,
    signature: String,
}

struct Checkpoint {
    seq: u64,
    hash: String,
    time: u64,
    signature: String,
}

/// A record's fields that the chain needs, or why it has none.
struct Parsed {
    seq: Option<u64>,
    prev: String,
    hash: String,
}

fn parse(text: &str) -> Result<Parsed, String> {
    let value: Value = serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    if value.get("v").and_then(Value::as_u64) != Some(1) {
        return Err("not a version-1 record".into());
    }
    let prev = value.get("prev").and_then(Value::as_str).ok_or("no prev hash")?.to_owned();
    Ok(Parsed { seq: value.get("seq").and_then(Value::as_u64), prev, hash: record_hash(&canonical_json(&value)) })
}

fn problem(seq: u64, kind: ProblemKind, detail: String) -> AuditProblem {
    AuditProblem { seq, kind, detail }
}

/// The whole check, on data already read.
fn check(rows: &[Stored], head: &SignedHead, checkpoints: &[Checkpoint], key: &VerifyingKey) -> VerifyReport {
    let mut problems = Vec::new();
    let (chain, hashes) = check_chain(rows, head);
    let chain_ok = chain.is_none();
    problems.extend(chain);
    let verified = hashes.len() as u64;
    let mut good_checkpoints = 0;
    let mut last_matching = 0;
    for cp in checkpoints {
        if !verify_hex(key, &checkpoint_message(cp.seq, &cp.hash, cp.time), &cp.signature) {
            let detail = format!("the checkpoint at seq {} has a signature the audit key did not make", cp.seq);
            problems.push(problem(cp.seq, ProblemKind::BadCheckpoint, detail));
            continue;
        }
        good_checkpoints += 1;
        match cp.seq.checked_sub(1).and_then(|i| hashes.get(usize::try_from(i).ok()?)) {
            Some(hash) if *hash == cp.hash => last_matching = cp.seq,
            Some(_) => {
                let detail = format!(
                    "records {} to {} were rewritten: the chain no longer matches the checkpoint signed at seq {}",
                    last_matching + 1,
                    cp.seq,
                    cp.seq
                );
                problems.push(problem(last_matching + 1, ProblemKind::CheckpointMismatch, detail));
            }
            None if chain_ok && cp.seq > verified => {
                let detail = format!("a checkpoint was signed at seq {} but the log ends at seq {verified}", cp.seq);
                problems.push(problem(verified + 1, ProblemKind::Missing, detail));
            }
            None => {}
        }
    }
    if chain_ok {
        problems.extend(check_head(head, &hashes, key, last_matching));
    }
    VerifyReport { records: rows.len() as u64, head_seq: head.seq, checkpoints: good_checkpoints, problems }
}

/// Walks the chain to its first break; returns the break and the hashes verified before it.
fn check_chain(rows: &[Stored], head: &SignedHead) -> (Option<AuditProblem>, Vec<String>) {
    let mut hashes: Vec<String> = Vec::with_capacity(rows.len());
    let mut prev_hash = GENESIS.to_owned();
    let mut prev_prev: Option<String> = None;
    for (i, row) in rows.iter().enumerate() {
        let expected = hashes.len() as u64 + 1;
        if row.seq != i64::try_from(expected).unwrap_or(i64::MAX) {
            let p = if row.seq > 0 && (row.seq as u64) > expected {
                let detail = format!("records {expected} to {} are missing: they were deleted", row.seq - 1);
                problem(expected, ProblemKind::Missing, detail)
            } else {
                problem(expected, ProblemKind::Malformed, format!("a record is stored under seq {}", row.seq))
            };
            return (Some(p), hashes);
        }
        let parsed = match parse(&row.record) {
            Ok(p) => p,
            Err(why) => {
                return (Some(problem(expected, ProblemKind::Malformed, format!("record {expected}: {why}"))), hashes);
            }
        };
        if parsed.prev != prev_hash && expected > 1 && prev_prev.as_deref() == Some(parsed.prev.as_str()) {
            let bad = expected - 1;
            let detail = format!("record {bad} was inserted: record {expected} links past it to the record before");
            return (Some(problem(bad, ProblemKind::Inserted, detail)), hashes);
        }
        if parsed.seq != Some(expected) {
            let own = parsed.seq.map_or_else(|| "no seq".to_owned(), |s| format!("seq {s}"));
            let detail = format!("the record stored as seq {expected} has {own}: records were reordered or renumbered");
            return (Some(problem(expected, ProblemKind::Moved, detail)), hashes);
        }
        if parsed.hash != row.hash {
            let detail =
                format!("record {expected} was edited: its content no longer matches the hash written with it");
            return (Some(problem(expected, ProblemKind::Edited, detail)), hashes);
        }
        if parsed.prev != prev_hash {
            return (Some(broken_link(rows, i, &parsed.hash, head, expected)), hashes);
        }
        prev_prev = Some(parsed.prev);
        prev_hash = parsed.hash.clone();
        hashes.push(parsed.hash);
    }
    (None, hashes)
}

/// Record `expected` does not link to the one before: if it still links to its successor (or
/// the head), the one before was rewritten together with its stored hash.
fn broken_link(rows: &[Stored], i: usize, hash: &str, head: &SignedHead, expected: u64) -> AuditProblem {
    let next_links = match rows.get(i + 1) {
        Some(next) => parse(&next.record).is_ok_and(|p| p.prev == hash),
        None => head.hash == hash,
    };
    if next_links && expected > 1 {
        let bad = expected - 1;
        let detail = format!("record {bad} was edited (its stored hash too): record {expected} links to other content");
        problem(bad, ProblemKind::Edited, detail)
    } else {
        let detail =
            format!("record {expected} does not link to record {}: a record was edited or inserted", expected - 1);
        problem(expected, ProblemKind::BrokenLink, detail)
    }
}

/// The signed head must verify and name the last record.
fn check_head(head: &SignedHead, hashes: &[String], key: &VerifyingKey, last_checkpoint: u64) -> Option<AuditProblem> {
    let last = hashes.len() as u64;
    let last_hash = hashes.last().map_or(GENESIS, String::as_str);
    if !verify_hex(key, &head_message(head.seq, &head.hash), &head.signature) {
        let first = (last_checkpoint + 1).min(last.max(1));
        let detail = format!(
            "the signed head (seq {}) does not verify with the audit key: records after checkpoint {last_checkpoint} cannot be vouched for",
            head.seq
        );
        return Some(problem(first, ProblemKind::BadHead, detail));
    }
    if head.seq < last {
        let detail =
            format!("records {} to {last} come after the signed head {}: they were inserted", head.seq + 1, head.seq);
        return Some(problem(head.seq + 1, ProblemKind::Inserted, detail));
    }
    if head.seq > last {
        let detail = format!("records {} to {} are missing: they were deleted from the end", last + 1, head.seq);
        return Some(problem(last + 1, ProblemKind::Missing, detail));
    }
    if head.hash != last_hash {
        let detail = format!("record {last} was edited (its stored hash too): it no longer matches the signed head");
        return Some(problem(last.max(1), ProblemKind::Edited, detail));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Map, json};

    /// Runs packed in kept buffers (and a kept hash table) read back as they were and as
    /// `pack_run` packs them, when a batch follows a larger one (stale bytes past its end), for
    /// inputs below and above 64 KiB.
    #[test]
    fn scratch_packs_as_pack_run_does() {
        let mut scratch = AuditScratch::default();
        for records in [300usize, 2, 0, 1, 1000, 7] {
            scratch.run.clear();
            for i in 0..records {
                scratch.run.push_str(&format!("{{\"seq\":{i},\"prev\":\"sha256:{:064x}\"}}\n", i * 7919));
            }
            let packed = scratch.pack();
            assert_eq!(unpack_run(&packed).as_deref(), Some(scratch.run.as_str()), "{records} records");
            assert_eq!(unpack_run(&pack_run(&scratch.run)), unpack_run(&packed));
            assert_eq!(packed.get(..4), Some(&u32::try_from(scratch.run.len()).unwrap().to_le_bytes()[..]));
        }
        assert!(scratch.out.len() > 64 * 1024, "the largest batch's buffer is kept");
    }

    /// The record as first defined: a JSON object of these fields, made canonical.
    fn reference(record: &Record<'_>, seq: u64, time: u64, prev: &str) -> String {
        let mut obj = Map::new();
        obj.insert("v".into(), json!(1));
        obj.insert("seq".into(), json!(seq));
        obj.insert("time".into(), json!(time));
        obj.insert("kind".into(), json!(record.kind));
        if let Some(id) = record.hold {
            obj.insert("hold_id".into(), json!(id.get()));
        }
        if let Some(d) = record.digest {
            obj.insert("digest".into(), json!(d.to_string()));
        }
        if let Some(c) = record.channel {
            obj.insert("channel".into(), json!(c.as_str()));
        }
        if let Some(v) = record.verdict {
            obj.insert("verdict".into(), json!(v));
        }
        let detail = match &record.detail.0 {
            DetailForm::Json(Value::Object(map)) => Value::Object(map.clone()),
            DetailForm::Json(Value::Null) => Value::Object(Map::new()),
            DetailForm::Json(other) => json!({ "value": other }),
            DetailForm::Canonical(text) => serde_json::from_str(text).unwrap(),
        };
        obj.insert("detail".into(), detail);
        obj.insert("prev".into(), json!(prev));
        canonical_json(&Value::Object(obj))
    }

    fn record_text(record: &Record<'_>, seq: u64, time: u64, prev: &str) -> String {
        let mut out = String::new();
        push_record(&mut out, record, seq, time, prev);
        out
    }

    #[test]
    fn record_text_is_the_canonical_json_of_its_fields() {
        let digest = ActionDigest::of(Channel::Http, "/w", "example.com", "GET /\u{1}\"x\"");
        let details = [
            json!({"zeta": 1, "agent": "a\nb", "reasons": ["r\u{7}", "é ✓"], "nested": {"b": [], "a": null}}),
            Value::Null,
            json!("just text"),
            json!([1, 2.5, false]),
            json!({}),
        ];
        for detail in details {
            for full in [true, false] {
                let record = Record {
                    kind: if full { "hold.approved" } else { "decision" },
                    hold: full.then(|| HoldId::new(42)).flatten(),
                    digest: full.then_some(&digest),
                    channel: full.then_some(Channel::Sql),
                    verdict: full.then_some("hold"),
                    detail: detail.clone().into(),
                };
                let (seq, time) = (u64::MAX, 1_790_000_000);
                assert_eq!(record_text(&record, seq, time, GENESIS), reference(&record, seq, time, GENESIS));
            }
        }
    }

    /// A decision's detail rendered at once is the canonical JSON of its fields as serde
    /// prints them: digests and verification read the record back as JSON.
    #[test]
    fn a_decision_detail_is_the_canonical_json_of_its_fields() {
        let policies = ["allow-reads".to_owned(), "p\"2\\".to_owned()];
        let reasons = ["reads are allowed\n\u{1}\u{7f} é ✓ \u{2028}".to_owned()];
        for (agent, session) in [(None, None), (Some("claude"), Some("s-1\t"))] {
            for (policies, reasons) in [(&policies[..], &reasons[..]), (&[][..], &[][..])] {
                let fields = DecisionDetail {
                    agent,
                    input: "SELECT '\"x\"' FROM t WHERE a = $1",
                    mode: "enforce",
                    policies,
                    reasons,
                    session,
                    workspace: "/w/ü",
                };
                let detail = Detail::decision(fields);
                assert!(matches!(detail.0, DetailForm::Canonical(_)));
                assert_eq!(detail.canonical(), canonical_json(&serde_json::to_value(fields).unwrap()));
                let record = Record {
                    kind: "decision",
                    hold: None,
                    digest: None,
                    channel: None,
                    verdict: None,
                    detail: Detail::decision(fields),
                };
                assert_eq!(record_text(&record, 7, 9, GENESIS), reference(&record, 7, 9, GENESIS));
            }
        }
    }
}
