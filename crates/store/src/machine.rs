//! The hold state machine. A hold's state is derived from what cannot be forged without a key
//! — the store's seal over the hold and the approvers' signatures — and the caller's clock;
//! the `state` column is only a cache that lazy transitions (expiry, release) keep current.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use ed25519_dalek::VerifyingKey;
use holdpoint_core::{ActionDigest, Channel, Obligations};
use serde_json::json;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row};

use crate::audit::Record;
use crate::keys::{ApproverKey, ApproverToken, Decision, SignedDecision, decision_message, hex, netstrings};
use crate::keys::{sign_hex, verify_hex};
use crate::store::{Arg, Head, Store, Tx, col_str, col_u64, to_db};
use crate::{Approval, Error, Hold, HoldId, HoldState, NewHold};

/// How far a decision's signed time may be from the store's clock, in seconds.
pub const MAX_DECISION_SKEW: u64 = 300;

/// How often [`Store::wait_decision`] looks at the hold.
const POLL: Duration = Duration::from_millis(50);

const HOLD_COLUMNS: &str = "id, digest, channel, summary, reason, action_json, approvers, delay_secs, ttl_secs, \
                            soft_delete, state, created, expires, seal";
const OPEN_STATES: &str = "('pending', 'approved', 'released')";

/// A registered approver.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct ApproverInfo {
    /// The approver's name.
    pub name: String,
    /// Their public key.
    pub key: ApproverKey,
    /// When they were added, unix seconds.
    pub created: u64,
}

/// A hold row as stored.
struct Row_ {
    id: HoldId,
    digest: ActionDigest,
    channel: Channel,
    summary: String,
    reason: String,
    action_json: String,
    obligations: Obligations,
    state: HoldState,
    created: u64,
    expires: u64,
    seal: String,
}

struct DecisionRow {
    approver: String,
    decision: Decision,
    time: u64,
    signature: String,
}

/// Registered approvers whose enrollment the audit key signed: name → key.
type Approvers = HashMap<String, VerifyingKey>;

impl Store {
    /// Puts a held action on hold, or returns the open hold (pending, approved or released)
    /// that already exists for the same digest.
    pub async fn enqueue(&self, new: NewHold, now: u64) -> Result<Hold, Error> {
        Ok(self.enqueue_new(new, now).await?.0)
    }

    /// [`Store::enqueue`], and whether this call created the hold.
    pub(crate) async fn enqueue_new(&self, new: NewHold, now: u64) -> Result<(Hold, bool), Error> {
        let sql = head_and_open_holds("DESC");
        let (mut tx, mut head, rows) = self.begin_select(&sql, Some(new.digest.to_string())).await?;
        let open = open_holds(&rows)?;
        // Approvers matter only to an open hold of the same action (the common case has none).
        let approvers = if open.is_empty() { Approvers::default() } else { self.approvers_in(&mut tx).await? };
        for row in open {
            let decisions = decisions_of(&mut tx, row.id).await?;
            let hold = self.derive(&row, &decisions, &approvers, now);
            self.settle(&mut tx, &mut head, &row, &hold, now).await?;
            if hold.state.is_open() && hold.sealed {
                self.commit(tx, head).await?;
                return Ok((hold, false));
            }
        }
        let id = HoldId::new(head.next_hold).ok_or_else(|| Error::BadData("next hold id is 0".into()))?;
        head.next_hold = head.next_hold.checked_add(1).ok_or_else(|| Error::OutOfRange("hold id".into()))?;
        head.dirty = true;
        let expires = now.saturating_add(new.obligations.ttl_secs).min(i64::MAX as u64);
        let row = Row_ {
            id,
            digest: new.digest,
            channel: new.channel,
            summary: new.summary,
            reason: new.reason,
            action_json: new.action_json,
            obligations: new.obligations,
            state: HoldState::Pending,
            created: now,
            expires,
            seal: String::new(),
        };
        let seal = sign_hex(&self.inner.audit_key, &seal_message(&row));
        insert_hold(&mut tx, &row, seal)?;
        let o = &row.obligations;
        let detail = json!({"summary": row.summary, "reason": row.reason, "expires": expires,
            "obligations": {"approvers": o.approvers, "delay_secs": o.delay_secs, "ttl_secs": o.ttl_secs, "soft_delete": o.soft_delete}});
        let record = Record {
            kind: "held",
            hold: Some(id),
            digest: Some(&row.digest),
            channel: Some(row.channel),
            verdict: Some("hold"),
            detail: detail.into(),
        };
        self.append(&mut tx, &mut head, record, now).await?;
        self.commit(tx, head).await?;
        let Row_ { digest, channel, summary, reason, action_json, obligations, .. } = row;
        let hold = Hold {
            id,
            digest,
            channel,
            summary,
            reason,
            action_json,
            obligations,
            state: HoldState::Pending,
            created: now,
            expires,
            approvals: Vec::new(),
            release_at: None,
            sealed: true,
        };
        Ok((hold, true))
    }

    /// The hold as of `now`; an expiry or release that is due is recorded first.
    pub async fn get(&self, id: HoldId, now: u64) -> Result<Hold, Error> {
        let mut conn = self.inner.pool.acquire().await.map_err(Error::db)?;
        let row = select_hold(&mut conn, id).await?.ok_or(Error::NoSuchHold(id))?;
        let approvers = self.approvers_in(&mut conn).await?;
        let hold = self.derive(&row, &decisions_of(&mut conn, id).await?, &approvers, now);
        if !needs_settle(&row, &hold) {
            return Ok(hold);
        }
        drop(conn);
        let (mut tx, mut head) = self.begin().await?;
        let row = select_hold(&mut tx, id).await?.ok_or(Error::NoSuchHold(id))?;
        let hold = self.derive(&row, &decisions_of(&mut tx, id).await?, &approvers, now);
        self.settle(&mut tx, &mut head, &row, &hold, now).await?;
        self.commit(tx, head).await?;
        Ok(hold)
    }

    /// The open holds (pending, approved, released) as of `now`, newest first; holds whose
    /// TTL ran out are recorded as expired and left out, due releases are recorded.
    pub async fn pending(&self, now: u64) -> Result<Vec<Hold>, Error> {
        let mut conn = self.inner.pool.acquire().await.map_err(Error::db)?;
        let sql = format!("SELECT {HOLD_COLUMNS} FROM holds WHERE state IN {OPEN_STATES} ORDER BY id DESC");
        let rows = sqlx::query(&sql).fetch_all(&mut *conn).await.map_err(Error::db)?;
        let rows = rows.iter().map(|r| hold_row(r, 0)).collect::<Result<Vec<_>, _>>()?;
        let approvers = self.approvers_in(&mut conn).await?;
        let sql = format!(
            "SELECT hold_id, approver, decision, time, signature FROM decisions \
             WHERE hold_id IN (SELECT id FROM holds WHERE state IN {OPEN_STATES})"
        );
        let mut decisions: HashMap<u64, Vec<DecisionRow>> = HashMap::new();
        for row in sqlx::query(&sql).fetch_all(&mut *conn).await.map_err(Error::db)? {
            decisions.entry(col_u64(&row, 0)?).or_default().push(decision_row(&row, 1)?);
        }
        drop(conn);
        let mut holds = Vec::with_capacity(rows.len());
        let mut due = Vec::new();
        for row in &rows {
            let hold = self.derive(row, decisions.get(&row.id.get()).map_or(&[], Vec::as_slice), &approvers, now);
            if needs_settle(row, &hold) {
                due.push(row.id);
            }
            holds.push(hold);
        }
        for id in due {
            self.get(id, now).await?;
        }
        holds.retain(|h| h.state.is_open());
        Ok(holds)
    }

    /// Records an approver's approval. Approving twice counts once; the hold is approved
    /// (waiting for more approvers or the delay) or, with no delay left, released at once.
    pub async fn approve(
        &self,
        id: HoldId,
        decision: &SignedDecision,
        note: Option<&str>,
        now: u64,
    ) -> Result<Hold, Error> {
        self.decide(id, decision, Decision::Approve, note, now).await
    }

    /// Records an approver's refusal of a pending or approved (not yet released) hold.
    pub async fn deny(
        &self,
        id: HoldId,
        decision: &SignedDecision,
        note: Option<&str>,
        now: u64,
    ) -> Result<Hold, Error> {
        self.decide(id, decision, Decision::Deny, note, now).await
    }

    /// Calls off an approved hold before it is released (any registered approver may).
    pub async fn cancel(
        &self,
        id: HoldId,
        decision: &SignedDecision,
        note: Option<&str>,
        now: u64,
    ) -> Result<Hold, Error> {
        self.decide(id, decision, Decision::Cancel, note, now).await
    }

    async fn decide(
        &self,
        id: HoldId,
        signed: &SignedDecision,
        wanted: Decision,
        note: Option<&str>,
        now: u64,
    ) -> Result<Hold, Error> {
        if signed.decision != wanted {
            return Err(Error::WrongDecision { given: signed.decision.as_str(), expected: wanted.as_str() });
        }
        if signed.time.abs_diff(now) > MAX_DECISION_SKEW {
            return Err(Error::StaleDecision { signed: signed.time, now, max_skew: MAX_DECISION_SKEW });
        }
        self.check_outside_lock(id, signed, now).await?;
        let (mut tx, mut head) = self.begin().await?;
        let approvers = self.approvers_in(&mut tx).await?;
        let wanted_key = signed.approver.verifying().ok_or(Error::UnknownApprover)?;
        let name =
            approvers.iter().find(|(_, k)| **k == wanted_key).map(|(n, _)| n.clone()).ok_or(Error::UnknownApprover)?;
        let row = select_hold(&mut tx, id).await?.ok_or(Error::NoSuchHold(id))?;
        let mut decisions = decisions_of(&mut tx, id).await?;
        let hold = self.derive(&row, &decisions, &approvers, now);
        if !hold.sealed {
            return Err(Error::Tampered(id));
        }
        let allowed = match wanted {
            Decision::Approve | Decision::Deny => hold.state.is_waiting(),
            Decision::Cancel => hold.state == HoldState::Approved,
        };
        if !allowed {
            self.settle(&mut tx, &mut head, &row, &hold, now).await?;
            self.commit(tx, head).await?;
            let action = match wanted {
                Decision::Approve => "approved",
                Decision::Deny => "denied",
                Decision::Cancel => "cancelled",
            };
            return Err(Error::WrongState { id, state: hold.state, action });
        }
        if !signed.verify(id, &row.digest) {
            return Err(Error::BadSignature { approver: name, id });
        }
        if wanted == Decision::Approve && hold.approvals.iter().any(|a| a.approver == name) {
            return Ok(hold);
        }
        sqlx::query("INSERT INTO decisions (hold_id, approver, decision, time, signature) VALUES ($1, $2, $3, $4, $5)")
            .bind(to_db(id.get())?)
            .bind(name.as_str())
            .bind(wanted.as_str())
            .bind(to_db(signed.time)?)
            .bind(hex(&signed.signature))
            .execute(&mut *tx)
            .await
            .map_err(Error::db)?;
        decisions.push(DecisionRow {
            approver: name.clone(),
            decision: wanted,
            time: signed.time,
            signature: hex(&signed.signature),
        });
        let after = self.derive(&row, &decisions, &approvers, now);
        set_state(&mut tx, id, after.state, after.release_at).await?;
        let kind = match wanted {
            Decision::Approve => "approved",
            Decision::Deny => "denied",
            Decision::Cancel => "cancelled",
        };
        let detail = json!({"approver": name, "signed_time": signed.time, "note": note, "state": after.state,
            "approvals": after.approvals.len(), "needed": after.approvers_needed(), "release_at": after.release_at});
        let record = Record {
            kind,
            hold: Some(id),
            digest: Some(&row.digest),
            channel: Some(row.channel),
            verdict: None,
            detail: detail.into(),
        };
        self.append(&mut tx, &mut head, record, now).await?;
        self.commit(tx, head).await?;
        Ok(after)
    }

    /// Verifies the signatures a decision will need before the write lock is taken, so that
    /// the (cached) checks under the lock are quick.
    async fn check_outside_lock(&self, id: HoldId, signed: &SignedDecision, now: u64) -> Result<(), Error> {
        let mut conn = self.inner.pool.acquire().await.map_err(Error::db)?;
        let approvers = self.approvers_in(&mut conn).await?;
        if let Some(row) = select_hold(&mut conn, id).await? {
            let _ = signed.verify(id, &row.digest);
            let _ = self.derive(&row, &decisions_of(&mut conn, id).await?, &approvers, now);
        }
        Ok(())
    }

    /// Consumes the release of one released hold with this digest: marks it executed and
    /// returns its id. At most one caller ever gets a given release, however many race.
    pub async fn consume(&self, digest: &ActionDigest, now: u64) -> Result<Option<HoldId>, Error> {
        let sql = head_and_open_holds("ASC");
        let (mut tx, mut head, rows) = self.begin_select(&sql, Some(digest.to_string())).await?;
        let open = open_holds(&rows)?;
        // Approvers matter only to an open hold of the same action (the common case has none).
        let approvers = if open.is_empty() { Approvers::default() } else { self.approvers_in(&mut tx).await? };
        for row in open {
            let hold = self.derive(&row, &decisions_of(&mut tx, row.id).await?, &approvers, now);
            if hold.state != HoldState::Released || !hold.sealed {
                self.settle(&mut tx, &mut head, &row, &hold, now).await?;
                continue;
            }
            if executed_before(&mut tx, row.id).await? {
                continue;
            }
            let done = sqlx::query(&format!(
                "UPDATE holds SET state = 'executed', release_at = $2 WHERE id = $1 AND state IN {OPEN_STATES}"
            ))
            .bind(to_db(row.id.get())?)
            .bind(hold.release_at.map(to_db).transpose()?)
            .execute(&mut *tx)
            .await
            .map_err(Error::db)?;
            if done.rows_affected() != 1 {
                continue;
            }
            let detail = json!({"release_at": hold.release_at, "approvers": hold.approvals.iter().map(|a| &a.approver).collect::<Vec<_>>()});
            let record = Record {
                kind: "executed",
                hold: Some(row.id),
                digest: Some(digest),
                channel: Some(row.channel),
                verdict: None,
                detail: detail.into(),
            };
            self.append(&mut tx, &mut head, record, now).await?;
            self.commit(tx, head).await?;
            return Ok(Some(row.id));
        }
        self.commit(tx, head).await?;
        Ok(None)
    }

    /// Waits until the hold is decided (no longer pending or approved) or `timeout` passes,
    /// looking every 50 ms; returns the hold as last seen. `clock` gives unix seconds.
    pub async fn wait_decision(&self, id: HoldId, timeout: Duration, clock: impl Fn() -> u64) -> Result<Hold, Error> {
        let start = Instant::now();
        loop {
            let hold = self.get(id, clock()).await?;
            let left = timeout.saturating_sub(start.elapsed());
            if !hold.state.is_waiting() || left.is_zero() {
                return Ok(hold);
            }
            tokio::time::sleep(left.min(POLL)).await;
        }
    }

    /// Registers an approver and returns their token — the only copy of their secret. The
    /// store keeps the public key, enrolled with the audit key's signature.
    pub async fn add_approver(&self, name: &str, now: u64) -> Result<ApproverToken, Error> {
        let valid = (1..=64).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.' | '@'));
        if !valid {
            return Err(Error::BadApproverName(name.to_owned()));
        }
        let (mut tx, mut head) = self.begin().await?;
        let taken = sqlx::query("SELECT COUNT(*) FROM approvers WHERE name = $1")
            .bind(name)
            .fetch_one(&mut *tx)
            .await
            .map_err(Error::db)?;
        if col_u64(&taken, 0)? > 0 {
            return Err(Error::ApproverExists(name.to_owned()));
        }
        let token = ApproverToken::generate()?;
        let key = token.key().to_string();
        let enrollment = sign_hex(&self.inner.audit_key, &enrollment_message(name, &key, now));
        sqlx::query("INSERT INTO approvers (name, public_key, created, enrollment) VALUES ($1, $2, $3, $4)")
            .bind(name)
            .bind(key.as_str())
            .bind(to_db(now)?)
            .bind(enrollment)
            .execute(&mut *tx)
            .await
            .map_err(Error::db)?;
        let detail = json!({"approver": name, "key": key});
        let record = Record {
            kind: "approver_added",
            hold: None,
            digest: None,
            channel: None,
            verdict: None,
            detail: detail.into(),
        };
        self.append(&mut tx, &mut head, record, now).await?;
        self.commit(tx, head).await?;
        Ok(token)
    }

    /// The registered approvers (those whose enrollment verifies), by name.
    pub async fn approvers(&self) -> Result<Vec<ApproverInfo>, Error> {
        let rows = sqlx::query("SELECT name, public_key, created, enrollment FROM approvers ORDER BY name")
            .fetch_all(&self.inner.pool)
            .await
            .map_err(Error::db)?;
        let mut out = Vec::new();
        for row in rows {
            if let Some((name, key, created)) = self.enrolled(&row)? {
                out.push(ApproverInfo { name, key: ApproverKey(key.to_bytes()), created });
            }
        }
        Ok(out)
    }

    fn enrolled(&self, row: &AnyRow) -> Result<Option<(String, VerifyingKey, u64)>, Error> {
        let (name, key_hex, created, enrollment) =
            (col_str(row, 0)?, col_str(row, 1)?, col_u64(row, 2)?, col_str(row, 3)?);
        let message = enrollment_message(&name, &key_hex, created);
        let Ok(key) = key_hex.parse::<ApproverKey>() else { return Ok(None) };
        let Some(key) = key.verifying() else { return Ok(None) };
        Ok(verify_hex(&self.inner.audit_public, &message, &enrollment).then_some((name, key, created)))
    }

    async fn approvers_in(&self, conn: &mut AnyConnection) -> Result<Approvers, Error> {
        let rows = sqlx::query("SELECT name, public_key, created, enrollment FROM approvers")
            .fetch_all(&mut *conn)
            .await
            .map_err(Error::db)?;
        let mut out = HashMap::new();
        for row in rows {
            if let Some((name, key, _)) = self.enrolled(&row)? {
                out.insert(name, key);
            }
        }
        Ok(out)
    }

    /// The hold as it is: only verified signatures count, and only a sealed hold is released.
    fn derive(&self, row: &Row_, decisions: &[DecisionRow], approvers: &Approvers, now: u64) -> Hold {
        let sealed = verify_hex(&self.inner.audit_public, &seal_message(row), &row.seal);
        let (mut approvals, mut denied, mut cancelled) = (Vec::<Approval>::new(), false, false);
        for d in decisions {
            let Some(key) = approvers.get(&d.approver) else { continue };
            if !verify_hex(key, &decision_message(row.id, &row.digest, d.decision, d.time), &d.signature) {
                continue;
            }
            match d.decision {
                Decision::Approve => match approvals.iter_mut().find(|a| a.approver == d.approver) {
                    Some(a) => a.time = a.time.min(d.time),
                    None => approvals.push(Approval { approver: d.approver.clone(), time: d.time }),
                },
                Decision::Deny => denied = true,
                Decision::Cancel => cancelled = true,
            }
        }
        approvals.sort_by(|a, b| (a.time, &a.approver).cmp(&(b.time, &b.approver)));
        let needed = usize::try_from(row.obligations.approvers.max(1)).unwrap_or(usize::MAX);
        let release_at =
            approvals.get(needed - 1).map(|a| a.time.saturating_add(row.obligations.delay_secs).min(i64::MAX as u64));
        let state = match release_at {
            _ if !row.state.is_open() => row.state,
            _ if denied => HoldState::Denied,
            _ if cancelled => HoldState::Cancelled,
            Some(at) if sealed && now >= at => HoldState::Released,
            Some(_) => HoldState::Approved,
            None if now >= row.expires => HoldState::Expired,
            None if approvals.is_empty() => HoldState::Pending,
            None => HoldState::Approved,
        };
        Hold {
            id: row.id,
            digest: row.digest,
            channel: row.channel,
            summary: row.summary.clone(),
            reason: row.reason.clone(),
            action_json: row.action_json.clone(),
            obligations: row.obligations,
            state,
            created: row.created,
            expires: row.expires,
            approvals,
            release_at,
            sealed,
        }
    }

    /// Records a due lazy transition (expiry or release) with its audit record.
    async fn settle(&self, tx: &mut Tx<'_>, head: &mut Head, row: &Row_, hold: &Hold, now: u64) -> Result<(), Error> {
        if !needs_settle(row, hold) {
            return Ok(());
        }
        set_state(tx, row.id, hold.state, hold.release_at).await?;
        let detail = json!({"from": row.state, "release_at": hold.release_at, "expires": row.expires});
        let record = Record {
            kind: hold.state.as_str(),
            hold: Some(row.id),
            digest: Some(&row.digest),
            channel: Some(row.channel),
            verdict: None,
            detail: detail.into(),
        };
        self.append(tx, head, record, now).await?;
        Ok(())
    }
}

/// Whether the derived state is a lazy transition the row does not show yet.
fn needs_settle(row: &Row_, hold: &Hold) -> bool {
    row.state.is_open() && row.state != hold.state && matches!(hold.state, HoldState::Expired | HoldState::Released)
}

/// What the audit key signs when a hold is created: every field an approver relies on.
fn seal_message(row: &Row_) -> Vec<u8> {
    let o = &row.obligations;
    netstrings(&[
        "holdpoint.hold.v1",
        &row.id.to_string(),
        &row.digest.to_string(),
        row.channel.as_str(),
        &row.summary,
        &row.reason,
        &row.action_json,
        &o.approvers.to_string(),
        &o.delay_secs.to_string(),
        &o.ttl_secs.to_string(),
        if o.soft_delete { "1" } else { "0" },
        &row.created.to_string(),
        &row.expires.to_string(),
    ])
}

/// What the audit key signs when an approver is added.
fn enrollment_message(name: &str, key_hex: &str, created: u64) -> Vec<u8> {
    netstrings(&["holdpoint.approver.v1", name, key_hex, &created.to_string()])
}

/// Queues the new hold's row for the commit.
fn insert_hold(tx: &mut Tx<'_>, row: &Row_, seal: String) -> Result<(), Error> {
    let o = &row.obligations;
    tx.queue(
        format!(
            "INSERT INTO holds ({HOLD_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
        ),
        vec![
            Arg::Int(to_db(row.id.get())?),
            Arg::Text(row.digest.to_string()),
            Arg::Text(row.channel.as_str().to_owned()),
            Arg::Text(row.summary.clone()),
            Arg::Text(row.reason.clone()),
            Arg::Text(row.action_json.clone()),
            Arg::Int(i64::from(o.approvers)),
            Arg::Int(to_db(o.delay_secs)?),
            Arg::Int(to_db(o.ttl_secs)?),
            Arg::Int(i64::from(o.soft_delete)),
            Arg::Text(HoldState::Pending.as_str().to_owned()),
            Arg::Int(to_db(row.created)?),
            Arg::Int(to_db(row.expires)?),
            Arg::Text(seal),
        ],
    );
    Ok(())
}

async fn set_state(tx: &mut Tx<'_>, id: HoldId, state: HoldState, release_at: Option<u64>) -> Result<(), Error> {
    sqlx::query("UPDATE holds SET state = $1, release_at = $2 WHERE id = $3")
        .bind(state.as_str())
        .bind(release_at.map(to_db).transpose()?)
        .bind(to_db(id.get())?)
        .execute(&mut **tx)
        .await
        .map_err(Error::db)?;
    Ok(())
}

async fn select_hold(conn: &mut AnyConnection, id: HoldId) -> Result<Option<Row_>, Error> {
    let sql = format!("SELECT {HOLD_COLUMNS} FROM holds WHERE id = $1");
    let row = sqlx::query(&sql).bind(to_db(id.get())?).fetch_optional(&mut *conn).await.map_err(Error::db)?;
    row.as_ref().map(|r| hold_row(r, 0)).transpose()
}

async fn decisions_of(conn: &mut AnyConnection, id: HoldId) -> Result<Vec<DecisionRow>, Error> {
    let rows = sqlx::query("SELECT approver, decision, time, signature FROM decisions WHERE hold_id = $1")
        .bind(to_db(id.get())?)
        .fetch_all(&mut *conn)
        .await
        .map_err(Error::db)?;
    rows.iter().map(|r| decision_row(r, 0)).collect()
}

/// Whether the audit log already says this hold was executed (guards against a row flipped
/// back from `executed`).
async fn executed_before(conn: &mut AnyConnection, id: HoldId) -> Result<bool, Error> {
    let row = sqlx::query("SELECT COUNT(*) FROM audit WHERE hold_id = $1 AND kind = 'executed'")
        .bind(to_db(id.get())?)
        .fetch_one(&mut *conn)
        .await
        .map_err(Error::db)?;
    Ok(col_u64(&row, 0)? > 0)
}

fn decision_row(row: &AnyRow, at: usize) -> Result<DecisionRow, Error> {
    let decision = col_str(row, at + 1)?;
    Ok(DecisionRow {
        approver: col_str(row, at)?,
        decision: Decision::parse(&decision).ok_or_else(|| Error::BadData(format!("unknown decision {decision:?}")))?,
        time: col_u64(row, at + 2)?,
        signature: col_str(row, at + 3)?,
    })
}

/// A query for [`Store::begin_select`]: the head and the open holds of the digest `$1`, oldest
/// (`ASC`) or newest (`DESC`) first, in the transaction's first round trip; one row with NULL
/// hold columns when there is none. Read the holds with [`open_holds`].
fn head_and_open_holds(order: &str) -> String {
    let joined: Vec<String> = HOLD_COLUMNS.split(", ").map(|c| format!("x.{c}")).collect();
    format!(
        "SELECT h.next_hold, h.audit_seq, h.audit_hash, {} FROM store_head h \
         LEFT JOIN holds x ON x.digest = $1 AND x.state IN {OPEN_STATES} WHERE h.id = 1 ORDER BY x.id {order}",
        joined.join(", ")
    )
}

/// The holds in the rows of a [`head_and_open_holds`] query.
fn open_holds(rows: &[AnyRow]) -> Result<Vec<Row_>, Error> {
    let mut open = Vec::new();
    for row in rows {
        if row.try_get::<Option<i64>, _>(3).map_err(|e| Error::BadData(e.to_string()))?.is_some() {
            open.push(hold_row(row, 3)?);
        }
    }
    Ok(open)
}

/// The hold whose columns ([`HOLD_COLUMNS`]) start at column `at` of `row`.
fn hold_row(row: &AnyRow, at: usize) -> Result<Row_, Error> {
    let bad = |what: &str, value: &str| Error::BadData(format!("hold {what} {value:?}"));
    let id = col_u64(row, at)?;
    let digest = col_str(row, at + 1)?;
    let channel = col_str(row, at + 2)?;
    let state = col_str(row, at + 10)?;
    let approvers = row.try_get::<i64, _>(at + 6).map_err(|e| Error::BadData(e.to_string()))?;
    Ok(Row_ {
        id: HoldId::new(id).ok_or_else(|| bad("id", "0"))?,
        digest: digest.parse().map_err(|_| bad("digest", &digest))?,
        channel: channel.parse().map_err(|_| bad("channel", &channel))?,
        summary: col_str(row, at + 3)?,
        reason: col_str(row, at + 4)?,
        action_json: col_str(row, at + 5)?,
        obligations: Obligations {
            approvers: u32::try_from(approvers).map_err(|_| bad("approvers", &approvers.to_string()))?,
            delay_secs: col_u64(row, at + 7)?,
            ttl_secs: col_u64(row, at + 8)?,
            soft_delete: col_u64(row, at + 9)? != 0,
        },
        state: HoldState::parse(&state).ok_or_else(|| bad("state", &state))?,
        created: col_u64(row, at + 11)?,
        expires: col_u64(row, at + 12)?,
        seal: col_str(row, at + 13)?,
    })
}
