//! The embedded SQLite store: one database file in WAL mode, batched
//! transactions, integer keys on the hot tables.

use std::collections::HashMap;
use std::path::Path;

use riskgate_core::{
    Decision, Declaration, Enterprise, ForexPayment, Office, OfficeLevel, Officer, Outcome, OutcomeKeys, Release,
    Source, TaxInvoice, WorkforceRecord,
};
use rusqlite::{Connection, OptionalExtension, params};

mod accounts;

use crate::migrations::MIGRATIONS;
use crate::{
    Action, ControlRecord, ControlTask, Delivery, DeliveryAttempt, Event, HistoryRow, LoggedAction, ModelRecord,
    NewDecision, NewDelivery, OfficeCounts, OutcomeStored, Override, OverrideDone, Result, RiskLevelRecord, RuleRecord,
    RuleStats, Store, StoreError, StoredDeclaration, TimelineRow, Webhook, chain_hash,
};

pub struct SqliteStore {
    conn: Connection,
    path: std::path::PathBuf,
    durability: Durability,
}

/// How far a committed batch is guaranteed to survive.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// WAL with `synchronous = NORMAL`: a committed batch survives a crash
    /// of the process; a power failure may roll back the last batches
    /// (never corrupting the file). About twice as fast on this machine.
    #[default]
    Process,
    /// `synchronous = FULL`: every committed batch is on disk before it is
    /// acknowledged, surviving a power failure too.
    Power,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore").field("path", &self.path).finish()
    }
}

const NEXT_SEQ: &str =
    "SELECT MAX(COALESCE((SELECT MAX(seq) FROM declarations), 0), COALESCE((SELECT MAX(seq) FROM outcomes), 0)) + 1";

/// Starts a write transaction that holds the write lock from its first
/// statement, so the event sequence read inside it cannot be taken by
/// another connection or process.
fn write_tx(conn: &mut Connection) -> Result<(rusqlite::Transaction<'_>, i64)> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let seq = tx.query_row(NEXT_SEQ, [], |r| r.get(0))?;
    Ok((tx, seq))
}

fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable")
}

impl SqliteStore {
    /// Opens (creating if needed) `DIR/riskgate.db` and migrates it.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with(dir, Durability::default())
    }

    pub fn open_with(dir: &Path, durability: Durability) -> Result<Self> {
        std::fs::create_dir_all(dir).map_err(|e| StoreError::User(format!("cannot create {}: {e}", dir.display())))?;
        Self::open_file(&dir.join("riskgate.db"), durability)
    }

    pub fn open_file(path: &Path, durability: Durability) -> Result<Self> {
        let conn = Connection::open(path)?;
        let sync = match durability {
            Durability::Process => "NORMAL",
            Durability::Power => "FULL",
        };
        conn.execute_batch(&format!("PRAGMA synchronous = {sync};"))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;
             PRAGMA busy_timeout = 10000; PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;
             PRAGMA wal_autocheckpoint = 16384;",
        )?;
        let mut s = SqliteStore { conn, path: path.to_path_buf(), durability };
        s.migrate()?;
        Ok(s)
    }

    /// The schema's migration version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> Result<u32> {
        Ok(self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    fn migrate(&mut self) -> Result<()> {
        let current: u32 = self.conn.query_row("PRAGMA user_version", [], |r| r.get(0))?;
        for (v, sql) in MIGRATIONS {
            if *v > current {
                let tx = self.conn.transaction()?;
                tx.execute_batch(sql)?;
                tx.execute_batch(&format!("PRAGMA user_version = {v}"))?;
                tx.commit()?;
            }
        }
        Ok(())
    }

    fn append_action_tx(tx: &rusqlite::Transaction<'_>, a: &Action) -> Result<i64> {
        let (seq, prev): (i64, String) = tx
            .query_row("SELECT seq, hash FROM action_log ORDER BY seq DESC LIMIT 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?
            .unwrap_or((0, "genesis".to_string()));
        let seq = seq + 1;
        // Hash what will be read back: whole seconds at China time.
        let mut norm = a.clone();
        norm.at = chrono::DateTime::from_timestamp(a.at.timestamp(), 0)
            .unwrap_or_default()
            .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset"));
        let a = &norm;
        let hash = chain_hash(&prev, seq, a);
        tx.execute(
            "INSERT INTO action_log (seq, at, actor, office, action, target, before, after, reason, prev_hash, hash)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                seq,
                a.at.timestamp(),
                a.actor,
                a.office,
                a.action,
                a.target,
                a.before.as_ref().map(json),
                a.after.as_ref().map(json),
                a.reason,
                prev,
                hash
            ],
        )?;
        Ok(seq)
    }
}

const INSERT_ITEM: &str = "INSERT INTO items (decl, line, hs_code, origin, quantity, net_weight_kg, value, duty_rate)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)";

/// The item rows of a declaration stored as `seq`.
fn insert_items(st: &mut rusqlite::CachedStatement<'_>, seq: i64, d: &Declaration) -> Result<()> {
    for it in &d.items {
        st.execute(params![
            seq,
            it.line,
            it.hs_code,
            it.origin,
            it.quantity,
            it.net_weight_kg,
            it.value,
            it.duty_rate
        ])?;
    }
    Ok(())
}

fn source_index(s: &str) -> Option<usize> {
    crate::SOURCES.iter().position(|x| *x == s)
}

fn local_day(ts: i64, tz: i64) -> i64 {
    (ts + tz).div_euclid(86_400)
}

impl SqliteStore {
    /// Runs one prepared statement per row in a single transaction.
    fn write_rows<T>(
        &mut self,
        sql: &str,
        rows: &[T],
        bind: impl Fn(&mut rusqlite::CachedStatement<'_>, &T) -> rusqlite::Result<usize>,
    ) -> Result<()> {
        let tx = self.conn.transaction()?;
        {
            let mut st = tx.prepare_cached(sql)?;
            for r in rows {
                bind(&mut st, r)?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    /// Every stored JSON body of a query, validated again on the way out.
    fn bodies<T>(
        &self,
        sql: &str,
        parse: fn(&serde_json::Value) -> Result<T, riskgate_core::ValidationError>,
    ) -> Result<Vec<T>> {
        let mut st = self.conn.prepare(sql)?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|b| decode(&b?, parse)).collect()
    }
}

/// Parses a stored JSON body with the record kind's own validation.
fn decode<T>(body: &str, parse: fn(&serde_json::Value) -> Result<T, riskgate_core::ValidationError>) -> Result<T> {
    let v: serde_json::Value = serde_json::from_str(body)?;
    parse(&v).map_err(|e| StoreError::User(format!("stored record does not validate: {e}")))
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn reopen(&self) -> Result<Box<dyn Store>> {
        Ok(Box::new(SqliteStore::open_file(&self.path, self.durability)?))
    }

    fn upsert_offices(&mut self, rows: &[Office]) -> Result<()> {
        self.write_rows(
            "INSERT INTO offices (code, name, parent, level) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(code) DO UPDATE SET name = excluded.name, parent = excluded.parent, level = excluded.level",
            rows,
            |st, o| st.execute(params![o.code, o.name, o.parent, o.level.as_str()]),
        )
    }

    fn offices(&self) -> Result<Vec<Office>> {
        let mut st = self.conn.prepare("SELECT code, name, parent, level FROM offices ORDER BY code")?;
        let rows = st.query_map([], |r| {
            let level: String = r.get(3)?;
            Ok(Office {
                code: r.get(0)?,
                name: r.get(1)?,
                parent: r.get(2)?,
                level: OfficeLevel::parse(&level).unwrap_or(OfficeLevel::Office),
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn upsert_officers(&mut self, rows: &[Officer]) -> Result<()> {
        self.write_rows(
            "INSERT INTO officers (id, office, post, body) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(id) DO UPDATE SET office = excluded.office, post = excluded.post, body = excluded.body",
            rows,
            |st, o| st.execute(params![o.id, o.office, o.post, json(o)]),
        )
    }

    fn officers(&self) -> Result<Vec<Officer>> {
        self.bodies("SELECT body FROM officers ORDER BY id", Officer::from_json)
    }

    fn upsert_enterprises(&mut self, rows: &[Enterprise]) -> Result<()> {
        self.write_rows(
            "INSERT INTO enterprises (id, credit_class, body) VALUES (?1, ?2, ?3)
             ON CONFLICT(id) DO UPDATE SET credit_class = excluded.credit_class, body = excluded.body",
            rows,
            |st, e| st.execute(params![e.id, e.credit_class.as_str(), json(e)]),
        )
    }

    fn enterprises(&self) -> Result<Vec<Enterprise>> {
        self.bodies("SELECT body FROM enterprises ORDER BY id", Enterprise::from_json)
    }

    fn insert_forex(&mut self, rows: &[ForexPayment]) -> Result<()> {
        self.write_rows(
            "INSERT INTO forex (trader, paid_at, amount_cny, reference, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            rows,
            |st, p| st.execute(params![p.trader, p.paid_at.timestamp(), p.amount_cny(), p.reference, json(p)]),
        )
    }

    fn forex(&self) -> Result<Vec<ForexPayment>> {
        self.bodies("SELECT body FROM forex ORDER BY rowid", ForexPayment::from_json)
    }

    fn insert_invoices(&mut self, rows: &[TaxInvoice]) -> Result<()> {
        self.write_rows(
            "INSERT INTO invoices (trader, issued_at, amount_cny, body) VALUES (?1, ?2, ?3, ?4)",
            rows,
            |st, p| st.execute(params![p.trader, p.issued_at.timestamp(), p.amount_cny, json(p)]),
        )
    }

    fn insert_workforce(&mut self, rows: &[WorkforceRecord]) -> Result<Vec<bool>> {
        let tx = self.conn.transaction()?;
        let mut out = Vec::with_capacity(rows.len());
        {
            let mut st = tx.prepare_cached(
                "INSERT INTO workforce (kind, unit, officer, at, year, passed, outcome, key, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                 ON CONFLICT(key) DO UPDATE SET outcome = excluded.outcome, body = excluded.body
                 WHERE workforce.body != excluded.body",
            )?;
            for r in rows {
                let body = json(r);
                let (kind, officer, at, year, passed, outcome, key) = match r {
                    WorkforceRecord::Disciplinary { officer, opened_at, .. } => (
                        "disciplinary",
                        Some(officer.as_str()),
                        Some(opened_at.timestamp()),
                        None,
                        None,
                        None,
                        body.clone(),
                    ),
                    WorkforceRecord::Inspection { inspected_at, passed, .. } => {
                        ("inspection", None, Some(inspected_at.timestamp()), None, Some(*passed), None, body.clone())
                    }
                    WorkforceRecord::Assessment { year, passed, .. } => {
                        ("assessment", None, None, Some(*year), Some(*passed), None, body.clone())
                    }
                    WorkforceRecord::Litigation { id, filed_at, outcome, .. } => (
                        "litigation",
                        None,
                        Some(filed_at.timestamp()),
                        None,
                        None,
                        Some(outcome.as_str()),
                        format!("litigation:{id}"),
                    ),
                };
                let n = st.execute(params![kind, r.unit(), officer, at, year, passed, outcome, key, body])?;
                out.push(n == 1);
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn workforce(&self) -> Result<Vec<WorkforceRecord>> {
        let mut st = self.conn.prepare("SELECT body FROM workforce ORDER BY rowid")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        rows.map(|b| Ok(serde_json::from_str(&b?)?)).collect()
    }

    fn known(&self, ids: &[&str]) -> Result<HashMap<String, Option<Decision>>> {
        // One query per chunk of ids rather than one per id.
        const CHUNK: usize = 500;
        let mut out = HashMap::new();
        for chunk in ids.chunks(CHUNK) {
            let marks = vec!["?"; chunk.len()].join(",");
            let mut st = self.conn.prepare_cached(&format!(
                "SELECT d.id, c.body FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq WHERE d.id IN ({marks})"
            ))?;
            let mut rows = st.query(rusqlite::params_from_iter(chunk.iter()))?;
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                let dec = match r.get::<_, Option<String>>(1)? {
                    Some(b) => Some(serde_json::from_str(&b)?),
                    None => None,
                };
                out.insert(id, dec);
            }
        }
        Ok(out)
    }

    fn commit_screened(&mut self, batch: &[NewDecision<'_>]) -> Result<()> {
        let (tx, mut seq) = write_tx(&mut self.conn)?;
        {
            let mut ins_decl = tx.prepare_cached(
                "INSERT INTO declarations (seq, id, declared_at, tz, office, direction, transport_mode, trader, declarant, value_cny, historical, released_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 0, ?11, ?12)",
            )?;
            let mut ins_item = tx.prepare_cached(INSERT_ITEM)?;
            let mut ins_dec = tx.prepare_cached(
                "INSERT INTO decisions (decl, decided_at, office, channel, risk_value, risk_level, source, random, propensity, ranking, mandatory, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )?;
            let mut ins_hit =
                tx.prepare_cached("INSERT INTO rule_hits (decl, rule_id, version) VALUES (?1, ?2, ?3)")?;
            let mut ins_shadow =
                tx.prepare_cached("INSERT OR REPLACE INTO shadow_scores (decl, model, score) VALUES (?1, ?2, ?3)")?;
            let mut ins_task = tx.prepare_cached(
                "INSERT INTO control_tasks (decl, office, channel, disposal, instructions, status, opened_at) VALUES (?1, ?2, ?3, ?4, ?5, 'open', ?6)",
            )?;
            for rec in batch {
                let (d, s) = (rec.declaration, rec.screened);
                let dec = &s.decision;
                let released = (!dec.channel.is_control()).then(|| dec.decided_at.timestamp());
                ins_decl.execute(params![
                    seq,
                    d.id,
                    d.declared_at.timestamp(),
                    d.declared_at.offset().local_minus_utc(),
                    d.office,
                    d.direction.as_str(),
                    d.transport_mode.as_str(),
                    d.trader.id,
                    d.declarant.id,
                    d.total_value_cny(),
                    released,
                    rec.body
                ])?;
                insert_items(&mut ins_item, seq, d)?;
                let mandatory = dec.source == Source::Rule;
                ins_dec.execute(params![
                    seq,
                    dec.decided_at.timestamp(),
                    dec.office,
                    dec.channel.as_str(),
                    dec.risk_value,
                    dec.risk_level.as_str(),
                    dec.source.as_str(),
                    dec.random,
                    dec.selection_probability,
                    s.ranking,
                    mandatory,
                    rec.decision_json
                ])?;
                for (id, v) in dec.rule_hits() {
                    ins_hit.execute(params![seq, id, v])?;
                }
                if let Some((model, score)) = rec.shadow {
                    ins_shadow.execute(params![seq, model, score])?;
                }
                if let Some(t) = &s.task {
                    ins_task.execute(params![
                        seq,
                        t.office,
                        t.channel.as_str(),
                        t.disposal.as_str(),
                        t.instructions,
                        dec.decided_at.timestamp()
                    ])?;
                }
                seq += 1;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn commit_historical(&mut self, batch: &[Declaration]) -> Result<Vec<bool>> {
        let mut out = Vec::with_capacity(batch.len());
        let (tx, mut seq) = write_tx(&mut self.conn)?;
        {
            let mut ins_decl = tx.prepare_cached(
                "INSERT INTO declarations (seq, id, declared_at, tz, office, direction, transport_mode, trader, declarant, value_cny, historical, released_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, 1, NULL, ?11) ON CONFLICT(id) DO NOTHING",
            )?;
            let mut ins_item = tx.prepare_cached(INSERT_ITEM)?;
            for d in batch {
                let n = ins_decl.execute(params![
                    seq,
                    d.id,
                    d.declared_at.timestamp(),
                    d.declared_at.offset().local_minus_utc(),
                    d.office,
                    d.direction.as_str(),
                    d.transport_mode.as_str(),
                    d.trader.id,
                    d.declarant.id,
                    d.total_value_cny(),
                    json(d)
                ])?;
                out.push(n == 1);
                if n == 1 {
                    insert_items(&mut ins_item, seq, d)?;
                    seq += 1;
                }
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn declaration(&self, id: &str) -> Result<Option<StoredDeclaration>> {
        let row: Option<(i64, String, Option<String>, bool)> = self
            .conn
            .query_row(
                "SELECT d.seq, d.body, c.body, d.historical FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq WHERE d.id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((seq, body, dec, historical)) = row else { return Ok(None) };
        let declaration = decode(&body, Declaration::from_json)?;
        let decision = match dec {
            Some(b) => Some(serde_json::from_str(&b)?),
            None => None,
        };
        Ok(Some(StoredDeclaration { seq, declaration, decision, historical }))
    }

    fn declaration_count(&self) -> Result<u64> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM declarations", [], |r| r.get(0))?)
    }

    fn commit_outcomes(&mut self, batch: &[Outcome]) -> Result<Vec<OutcomeStored>> {
        let mut out = Vec::with_capacity(batch.len());
        let (tx, mut seq) = write_tx(&mut self.conn)?;
        {
            let mut find = tx.prepare_cached(
                "SELECT d.seq, d.body, c.random FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq WHERE d.id = ?1",
            )?;
            let mut dup = tx.prepare_cached(
                "SELECT 1 FROM outcomes WHERE decl = ?1 AND control = ?2 AND completed_at = ?3 AND officer = ?4",
            )?;
            let mut ins = tx.prepare_cached(
                "INSERT INTO outcomes (seq, decl, officer, control, completed_at, finding, additional_duty, seizure, smuggling, released_at, body)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            )?;
            let mut close = tx.prepare_cached(
                "UPDATE control_tasks SET status = 'closed', closed_at = ?2, officer = ?3 WHERE decl = ?1 AND status = 'open'",
            )?;
            let mut release =
                tx.prepare_cached("UPDATE declarations SET released_at = ?2 WHERE seq = ?1 AND released_at IS NULL")?;
            for (i, o) in batch.iter().enumerate() {
                let row: Option<(i64, String, Option<bool>)> =
                    find.query_row([&o.declaration_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
                let Some((decl, body, random)) = row else {
                    return Err(StoreError::User(format!(
                        "record {}: declaration_id: no declaration \"{}\" is stored",
                        i + 1,
                        o.declaration_id
                    )));
                };
                let completed = o.completed_at.timestamp();
                if dup.exists(params![decl, o.control.as_str(), completed, o.officer])? {
                    out.push(OutcomeStored::Duplicate);
                    continue;
                }
                let d = decode(&body, Declaration::from_json)?;
                let smuggling = o.findings.iter().any(|f| f == "smuggling" || f == "prohibited");
                ins.execute(params![
                    seq,
                    decl,
                    o.officer,
                    o.control.as_str(),
                    completed,
                    o.is_finding(),
                    o.additional_duty,
                    o.seizure,
                    smuggling,
                    o.released_at.map(|t| t.timestamp()),
                    json(o)
                ])?;
                close.execute(params![decl, completed, o.officer])?;
                if let Some(r) = o.released_at {
                    release.execute(params![decl, r.timestamp()])?;
                }
                seq += 1;
                out.push(OutcomeStored::Stored { keys: OutcomeKeys::of(&d, random.unwrap_or(false)) });
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn commit_releases(&mut self, batch: &[Release]) -> Result<Vec<bool>> {
        let tx = self.conn.transaction()?;
        let mut out = Vec::with_capacity(batch.len());
        {
            let mut st =
                tx.prepare_cached("UPDATE declarations SET released_at = ?2 WHERE id = ?1 AND released_at IS NULL")?;
            let mut exists = tx.prepare_cached("SELECT 1 FROM declarations WHERE id = ?1")?;
            for (i, r) in batch.iter().enumerate() {
                if !exists.exists([&r.declaration_id])? {
                    return Err(StoreError::User(format!(
                        "record {}: declaration_id: no declaration \"{}\" is stored",
                        i + 1,
                        r.declaration_id
                    )));
                }
                out.push(st.execute(params![r.declaration_id, r.released_at.timestamp()])? == 1);
            }
        }
        tx.commit()?;
        Ok(out)
    }

    fn open_tasks(&self, office: Option<&str>, limit: usize) -> Result<Vec<ControlTask>> {
        let mut st = self.conn.prepare(
            "SELECT t.id, d.id, t.office, t.channel, t.disposal, t.instructions, t.status, t.opened_at, t.closed_at, t.officer, c.risk_value
             FROM control_tasks t JOIN declarations d ON d.seq = t.decl JOIN decisions c ON c.decl = t.decl
             WHERE t.status = 'open' AND (?1 IS NULL OR t.office = ?1)
             ORDER BY c.risk_value DESC, t.id LIMIT ?2",
        )?;
        let rows = st.query_map(params![office, limit as i64], |r| {
            Ok(ControlTask {
                id: r.get(0)?,
                declaration_id: r.get(1)?,
                office: r.get(2)?,
                channel: r.get(3)?,
                disposal: r.get(4)?,
                instructions: r.get(5)?,
                status: r.get(6)?,
                opened_at: r.get(7)?,
                closed_at: r.get(8)?,
                officer: r.get(9)?,
                risk_value: r.get(10)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn override_channel(&mut self, o: &Override) -> Result<OverrideDone> {
        let id = &o.declaration_id;
        if o.reason.trim().is_empty() {
            return Err(StoreError::User(format!("override of {id}: reason: a reason is required")));
        }
        if o.officer.trim().is_empty() {
            return Err(StoreError::User(format!("override of {id}: officer: an officer is required")));
        }
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let row: Option<(i64, String, Option<i64>, Option<String>)> = tx
            .query_row(
                "SELECT d.seq, d.office, d.released_at, c.channel FROM declarations d
                 LEFT JOIN decisions c ON c.decl = d.seq WHERE d.id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((decl, office, released_at, decided)) = row else {
            return Err(StoreError::User(format!("override: declaration_id: no declaration \"{id}\" is stored")));
        };
        let Some(decided) = decided else {
            return Err(StoreError::User(format!("override of {id}: stored as history, never screened")));
        };
        let task: Option<(String, String)> = tx
            .query_row("SELECT channel, status FROM control_tasks WHERE decl = ?1", [decl], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .optional()?;
        let completed: bool = tx.prepare_cached("SELECT 1 FROM outcomes WHERE decl = ?1")?.exists([decl])?;
        if completed || task.as_ref().is_some_and(|(_, s)| s == "closed") {
            return Err(StoreError::User(format!("override of {id}: its control is already completed")));
        }
        let before = match &task {
            Some((channel, status)) if status == "open" => channel.clone(),
            Some(_) => "green".to_string(),
            None => decided.clone(),
        };
        let after = o.channel.as_str().to_string();
        if before == after {
            return Err(StoreError::User(format!("override of {id}: channel: already {after}")));
        }
        let at = o.at.timestamp();
        let mut released = false;
        if o.channel.is_control() {
            if let Some(t) = released_at {
                let when = chrono::DateTime::from_timestamp(t, 0).unwrap_or_default();
                return Err(StoreError::User(format!(
                    "override of {id}: the goods were released at {when}; order a post-clearance audit instead"
                )));
            }
            if task.is_some() {
                tx.execute(
                    "UPDATE control_tasks SET channel = ?2, status = 'open', closed_at = NULL, officer = NULL WHERE decl = ?1",
                    params![decl, after],
                )?;
            } else {
                tx.execute(
                    "INSERT INTO control_tasks (decl, office, channel, disposal, instructions, status, opened_at)
                     VALUES (?1, ?2, ?3, 'control', ?4, 'open', ?5)",
                    params![decl, office, after, format!("manual override: {}", o.reason.trim()), at],
                )?;
            }
        } else {
            tx.execute(
                "UPDATE control_tasks SET channel = 'green', status = 'overridden', closed_at = ?2, officer = ?3 WHERE decl = ?1",
                params![decl, at, o.officer],
            )?;
            released = tx.execute(
                "UPDATE declarations SET released_at = ?2 WHERE seq = ?1 AND released_at IS NULL",
                params![decl, at],
            )? == 1;
        }
        let mut after_json = serde_json::json!({"channel": after, "engine_channel": decided});
        if let Some(e) = &o.entered_by {
            after_json["entered_by"] = serde_json::Value::from(e.clone());
        }
        let action = Action {
            at: o.at,
            actor: o.officer.clone(),
            office: Some(office.clone()),
            action: "override".into(),
            target: id.clone(),
            before: Some(serde_json::json!({"channel": before})),
            after: Some(after_json),
            reason: Some(o.reason.trim().to_string()),
        };
        let log_seq = Self::append_action_tx(&tx, &action)?;
        tx.commit()?;
        Ok(OverrideDone { declaration_id: id.clone(), office, before, after, released, log_seq })
    }

    fn control_records(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<ControlRecord>> {
        let mut st = self.conn.prepare(
            "SELECT d.id, d.office, d.trader, d.declarant, d.declared_at, d.tz, o.officer, o.control, o.completed_at,
                    o.finding, o.released_at, c.channel, c.risk_value, c.decided_at, COALESCE(c.random, 0)
             FROM outcomes o JOIN declarations d ON d.seq = o.decl LEFT JOIN decisions c ON c.decl = o.decl
             WHERE o.completed_at >= ?1 AND o.completed_at < ?2 ORDER BY o.completed_at, o.seq",
        )?;
        let rows = st.query_map(params![from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)], |r| {
            Ok(ControlRecord {
                declaration_id: r.get(0)?,
                office: r.get(1)?,
                trader: r.get(2)?,
                declarant: r.get(3)?,
                declared_at: r.get(4)?,
                tz: r.get(5)?,
                officer: r.get(6)?,
                control: r.get(7)?,
                completed_at: r.get(8)?,
                finding: r.get(9)?,
                released_at: r.get(10)?,
                channel: r.get(11)?,
                risk_value: r.get(12)?,
                decided_at: r.get(13)?,
                random: r.get(14)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn rules(&self) -> Result<Vec<RuleRecord>> {
        let mut st = self.conn.prepare("SELECT body FROM rules ORDER BY id, version")?;
        let rows = st.query_map([], |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for b in rows {
            out.push(serde_json::from_str(&b?)?);
        }
        Ok(out)
    }

    fn insert_rule(&mut self, rule: &RuleRecord, action: &Action) -> Result<()> {
        let tx = self.conn.transaction()?;
        let exists: bool = tx
            .prepare_cached("SELECT 1 FROM rules WHERE id = ?1 AND version = ?2")?
            .exists(params![rule.def.id, rule.def.version])?;
        if exists {
            return Err(StoreError::User(format!("rule {} version {} already exists", rule.def.id, rule.def.version)));
        }
        tx.execute(
            "INSERT INTO rules (id, version, status, created_by, created_at, approved_by, approved_at, retired_at, body)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
            params![
                rule.def.id,
                rule.def.version,
                rule.status.as_str(),
                rule.created_by,
                rule.created_at,
                rule.approved_by,
                rule.approved_at,
                rule.retired_at,
                json(rule)
            ],
        )?;
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(())
    }

    fn set_rule_status(&mut self, id: &str, version: u32, record: &RuleRecord, action: &Action) -> Result<()> {
        let tx = self.conn.transaction()?;
        let n = tx.execute(
            "UPDATE rules SET status = ?3, approved_by = ?4, approved_at = ?5, retired_at = ?6, body = ?7 WHERE id = ?1 AND version = ?2",
            params![
                id,
                version,
                record.status.as_str(),
                record.approved_by,
                record.approved_at,
                record.retired_at,
                json(record)
            ],
        )?;
        if n != 1 {
            return Err(StoreError::User(format!("no rule {id} version {version}")));
        }
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(())
    }

    fn rule_stats(&self) -> Result<Vec<RuleStats>> {
        let recent_from: i64 = self.conn.query_row(
            "SELECT COALESCE(MIN(decl), 0) FROM (SELECT decl FROM decisions ORDER BY decl DESC LIMIT 1000)",
            [],
            |r| r.get(0),
        )?;
        let mut st = self.conn.prepare(
            "SELECT h.rule_id, h.version, COUNT(*),
                    SUM(c.channel != 'green'),
                    SUM(EXISTS (SELECT 1 FROM outcomes o WHERE o.decl = h.decl)),
                    SUM(EXISTS (SELECT 1 FROM outcomes o WHERE o.decl = h.decl AND o.finding = 1)),
                    COALESCE(SUM((SELECT SUM(o.additional_duty) FROM outcomes o WHERE o.decl = h.decl)), 0),
                    SUM(h.decl >= ?1)
             FROM rule_hits h JOIN decisions c ON c.decl = h.decl
             GROUP BY h.rule_id, h.version ORDER BY h.rule_id, h.version",
        )?;
        let rows = st.query_map([recent_from], |r| {
            Ok(RuleStats {
                id: r.get(0)?,
                version: r.get(1)?,
                hits: r.get(2)?,
                controls: r.get(3)?,
                completed: r.get(4)?,
                findings: r.get(5)?,
                revenue_cny: r.get(6)?,
                recent_hits: r.get(7)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn lists(&self) -> Result<Vec<(String, String)>> {
        let mut st = self.conn.prepare("SELECT name, value FROM lists ORDER BY name, value")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn set_list(&mut self, name: &str, values: &[String], action: &Action) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM lists WHERE name = ?1", [name])?;
        {
            let mut st = tx.prepare_cached("INSERT OR IGNORE INTO lists (name, value) VALUES (?1, ?2)")?;
            for v in values {
                st.execute(params![name, v])?;
            }
        }
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(())
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    fn set_setting(&mut self, key: &str, value: &str, action: &Action) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            params![key, value],
        )?;
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(())
    }

    fn append_action(&mut self, action: &Action) -> Result<()> {
        let tx = self.conn.transaction()?;
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(())
    }

    fn actions(&self, limit: usize) -> Result<Vec<LoggedAction>> {
        let mut st = self.conn.prepare(
            "SELECT seq, at, actor, office, action, target, before, after, reason, prev_hash, hash
             FROM action_log ORDER BY seq DESC LIMIT ?1",
        )?;
        let rows = st.query_map([limit as i64], row_to_logged)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    fn actions_in(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<LoggedAction>> {
        let mut st = self.conn.prepare(
            "SELECT seq, at, actor, office, action, target, before, after, reason, prev_hash, hash
             FROM action_log WHERE at >= ?1 AND at < ?2 ORDER BY seq",
        )?;
        let rows = st.query_map(params![from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)], row_to_logged)?;
        let mut out = Vec::new();
        for r in rows {
            out.push(r??);
        }
        Ok(out)
    }

    fn verify_actions(&self) -> Result<Option<i64>> {
        let mut st = self.conn.prepare(
            "SELECT seq, at, actor, office, action, target, before, after, reason, prev_hash, hash FROM action_log ORDER BY seq",
        )?;
        let mut rows = st.query([])?;
        let mut prev = "genesis".to_string();
        while let Some(row) = rows.next()? {
            // An entry edited into something that no longer decodes is broken too.
            let l = match row_to_logged(row) {
                Ok(Ok(l)) => l,
                _ => return Ok(Some(row.get(0)?)),
            };
            if l.prev_hash != prev || chain_hash(&prev, l.seq, &l.action) != l.hash {
                return Ok(Some(l.seq));
            }
            prev = l.hash;
        }
        Ok(None)
    }

    fn load_checkpoint(&self) -> Result<Option<(i64, Vec<u8>)>> {
        Ok(self
            .conn
            .query_row("SELECT as_of_seq, body FROM checkpoint WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn save_checkpoint(&mut self, body: &[u8]) -> Result<()> {
        self.conn.execute(
            "INSERT INTO checkpoint (id, as_of_seq, body) VALUES (1, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET as_of_seq = excluded.as_of_seq, body = excluded.body",
            params![self.conn.query_row(NEXT_SEQ, [], |r| r.get::<_, i64>(0))? - 1, body],
        )?;
        Ok(())
    }

    fn replay(&self, after_seq: i64, f: &mut dyn FnMut(Event)) -> Result<()> {
        let mut st = self.conn.prepare(
            "SELECT d.seq, 0, d.body, d.historical, c.office, c.ranking, c.channel != 'green', c.mandatory, NULL
             FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq WHERE d.seq > ?1
             UNION ALL
             SELECT o.seq, 1, o.body, 0, NULL, NULL, NULL, NULL, (SELECT d.body || char(30) || COALESCE(c.random, 0) FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq WHERE d.seq = o.decl)
             FROM outcomes o WHERE o.seq > ?1
             ORDER BY 1",
        )?;
        let mut rows = st.query([after_seq])?;
        while let Some(r) = rows.next()? {
            let kind: i64 = r.get(1)?;
            let body: String = r.get(2)?;
            if kind == 0 {
                let d = decode(&body, Declaration::from_json)?;
                let historical: bool = r.get(3)?;
                if historical {
                    f(Event::Historical(Box::new(d)));
                } else {
                    f(Event::Screened {
                        declaration: Box::new(d),
                        office: r.get(4)?,
                        ranking: r.get(5)?,
                        controlled: r.get(6)?,
                        mandatory: r.get(7)?,
                    });
                }
            } else {
                let o = decode(&body, Outcome::from_json)?;
                let joined: String = r.get(8)?;
                let (dbody, random) = joined.rsplit_once('\u{1e}').unwrap_or((&joined, "0"));
                let d = decode(dbody, Declaration::from_json)?;
                f(Event::Outcome { outcome: Box::new(o), keys: OutcomeKeys::of(&d, random == "1") });
            }
        }
        Ok(())
    }

    fn insert_model(&mut self, m: &ModelRecord, action: &Action) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            "INSERT INTO models (id, created_at, created_by, status, metrics, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![m.id, m.created_at, m.created_by, m.status, json(&m.metrics), m.bytes],
        )?;
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(())
    }

    fn models(&self) -> Result<Vec<ModelRecord>> {
        let mut st = self.conn.prepare(
            "SELECT id, created_at, created_by, status, metrics FROM models ORDER BY created_at DESC, id DESC",
        )?;
        let rows = st
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, String>(4)?)))?;
        let mut out = Vec::new();
        for row in rows {
            let (id, created_at, created_by, status, metrics) = row?;
            out.push(ModelRecord {
                id,
                created_at,
                created_by,
                status,
                metrics: serde_json::from_str(&metrics)?,
                bytes: Vec::new(),
            });
        }
        Ok(out)
    }

    fn model(&self, id: &str) -> Result<Option<ModelRecord>> {
        let row = self
            .conn
            .query_row(
                "SELECT id, created_at, created_by, status, metrics, bytes FROM models WHERE id = ?1",
                [id],
                |r| Ok((r.get::<_, String>(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get::<_, String>(4)?, r.get(5)?)),
            )
            .optional()?;
        match row {
            None => Ok(None),
            Some((id, created_at, created_by, status, metrics, bytes)) => Ok(Some(ModelRecord {
                id,
                created_at,
                created_by,
                status,
                metrics: serde_json::from_str(&metrics)?,
                bytes,
            })),
        }
    }

    fn set_model_status(&mut self, id: &str, status: &str, action: &Action) -> Result<()> {
        if !["candidate", "active", "shadow", "retired"].contains(&status) {
            return Err(StoreError::User(format!("unknown model status {status:?}")));
        }
        let tx = self.conn.transaction()?;
        if status == "active" || status == "shadow" {
            tx.execute("UPDATE models SET status = 'candidate' WHERE status = ?1 AND id != ?2", params![status, id])?;
        }
        let n = tx.execute("UPDATE models SET status = ?2 WHERE id = ?1", params![id, status])?;
        if n != 1 {
            return Err(StoreError::User(format!("no model {id:?}")));
        }
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(())
    }

    fn shadow_outcomes(&self, model: &str) -> Result<Vec<(f64, f64, bool)>> {
        let mut st = self.conn.prepare(
            "SELECT c.risk_value, s.score, MAX(o.finding)
             FROM shadow_scores s JOIN decisions c ON c.decl = s.decl JOIN outcomes o ON o.decl = s.decl
             WHERE s.model = ?1 GROUP BY s.decl ORDER BY s.decl",
        )?;
        let rows = st.query_map([model], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn insert_risk_levels(&mut self, rows: &[RiskLevelRecord]) -> Result<()> {
        self.write_rows(
            "INSERT OR REPLACE INTO risk_levels (kind, key, computed_at, level, score, detail) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            rows,
            |st, r| st.execute(params![r.kind, r.key, r.computed_at, r.level, r.score, json(&r.detail)]),
        )
    }

    fn risk_levels(&self, kind: &str, key: Option<&str>) -> Result<Vec<RiskLevelRecord>> {
        let sql = if key.is_some() {
            "SELECT kind, key, computed_at, level, score, detail FROM risk_levels WHERE kind = ?1 AND key = ?2
             ORDER BY computed_at DESC"
        } else {
            "SELECT kind, key, computed_at, level, score, detail FROM risk_levels r WHERE kind = ?1 AND ?2 IS NULL
             AND computed_at = (SELECT MAX(computed_at) FROM risk_levels x WHERE x.kind = r.kind AND x.key = r.key)
             ORDER BY score DESC, key"
        };
        let mut st = self.conn.prepare(sql)?;
        let rows = st.query_map(params![kind, key], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get::<_, String>(5)?))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (kind, key, computed_at, level, score, detail) = row?;
            out.push(RiskLevelRecord { kind, key, computed_at, level, score, detail: serde_json::from_str(&detail)? });
        }
        Ok(out)
    }

    fn timeline(&self, f: &mut dyn FnMut(TimelineRow)) -> Result<()> {
        let mut st = self.conn.prepare(
            "SELECT d.body, c.body FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq
             ORDER BY d.declared_at, d.seq",
        )?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            let body: String = r.get(0)?;
            let declaration = decode(&body, Declaration::from_json)?;
            let decision = match r.get::<_, Option<String>>(1)? {
                Some(b) => Some(serde_json::from_str(&b)?),
                None => None,
            };
            f(TimelineRow { declaration, decision });
        }
        Ok(())
    }

    fn outcomes_by_time(&self) -> Result<Vec<(Outcome, OutcomeKeys)>> {
        let mut st = self.conn.prepare(
            "SELECT o.body, d.body, COALESCE(c.random, 0) FROM outcomes o JOIN declarations d ON d.seq = o.decl
             LEFT JOIN decisions c ON c.decl = o.decl ORDER BY o.completed_at, o.seq",
        )?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let o = decode(&r.get::<_, String>(0)?, Outcome::from_json)?;
            let d = decode(&r.get::<_, String>(1)?, Declaration::from_json)?;
            let random: bool = r.get(2)?;
            // Legacy random controls carry their flag in the outcome.
            let random =
                random || o.attributes.get("legacy_random").and_then(serde_json::Value::as_bool).unwrap_or(false);
            out.push((o, OutcomeKeys::of(&d, random)));
        }
        Ok(out)
    }

    fn office_counts(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<OfficeCounts>> {
        let from = from.unwrap_or(i64::MIN);
        let to = to.unwrap_or(i64::MAX);
        let mut map: HashMap<String, OfficeCounts> = HashMap::new();
        let mut st = self.conn.prepare(
            "SELECT d.office, d.direction, d.transport_mode, d.declared_at, d.tz, d.released_at, d.value_cny,
                    c.channel, c.source
             FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq
             WHERE d.historical = 0 AND d.declared_at >= ?1 AND d.declared_at < ?2",
        )?;
        let mut rows = st.query(params![from, to])?;
        while let Some(r) = rows.next()? {
            let office: String = r.get(0)?;
            let e = map.entry(office.clone()).or_insert_with(|| OfficeCounts { office, ..Default::default() });
            e.declarations += 1;
            let channel: Option<String> = r.get(7)?;
            let source: Option<String> = r.get(8)?;
            if channel.is_some() {
                e.screened += 1;
            }
            let controlled = channel.as_deref().is_some_and(|c| c != "green");
            if controlled {
                e.controlled += 1;
                if let Some(i) = source.as_deref().and_then(source_index) {
                    e.controls_by_source[i] += 1;
                }
            } else {
                e.uncontrolled += 1;
                e.uncontrolled_value_cny += r.get::<_, f64>(6)?;
            }
            if source.as_deref() == Some("random") {
                e.random_value_cny += r.get::<_, f64>(6)?;
            }
            let direction: String = r.get(1)?;
            if direction == "import" {
                let mode: String = r.get(2)?;
                let declared: i64 = r.get(3)?;
                let tz: i64 = r.get(4)?;
                let released: Option<i64> = r.get(5)?;
                let same_day = released.is_some_and(|t| local_day(t, tz) == local_day(declared, tz));
                if mode == "sea" {
                    e.imports_sea += 1;
                    e.same_day_sea += u64::from(same_day);
                } else {
                    e.imports_other += 1;
                    e.same_day_other += u64::from(same_day);
                }
            }
        }
        // Outcomes: per declaration, whether any control found something.
        let mut st = self.conn.prepare(
            "SELECT d.office, c.channel, c.source, MAX(o.finding), SUM(o.additional_duty),
                    MAX(o.smuggling AND o.control != 'audit'), MAX(o.smuggling AND o.control = 'audit'),
                    SUM(o.control != 'audit')
             FROM outcomes o JOIN declarations d ON d.seq = o.decl LEFT JOIN decisions c ON c.decl = o.decl
             WHERE d.historical = 0 AND d.declared_at >= ?1 AND d.declared_at < ?2
             GROUP BY o.decl",
        )?;
        let mut rows = st.query(params![from, to])?;
        while let Some(r) = rows.next()? {
            let office: String = r.get(0)?;
            let e = map.entry(office.clone()).or_insert_with(|| OfficeCounts { office, ..Default::default() });
            let channel: Option<String> = r.get(1)?;
            let source: Option<String> = r.get(2)?;
            let finding: bool = r.get(3)?;
            let duty: f64 = r.get(4)?;
            e.additional_duty_cny += duty;
            e.smuggling_border += u64::from(r.get::<_, bool>(5)?);
            e.smuggling_later += u64::from(r.get::<_, bool>(6)?);
            let border_controls: i64 = r.get(7)?;
            if border_controls == 0 {
                continue;
            }
            let idx = match channel.as_deref() {
                Some("green") | None => Some(3),
                _ => source.as_deref().and_then(source_index),
            };
            if let Some(i) = idx {
                e.completed_by_source[i] += 1;
                e.findings_by_source[i] += u64::from(finding);
                if i == 3 && channel.as_deref() == Some("green") {
                    // A manual control of a green declaration is a control too.
                    e.controls_by_source[3] += 1;
                }
                if i == 2 {
                    e.random_revenue_cny += duty;
                }
            }
        }
        let mut out: Vec<OfficeCounts> = map.into_values().collect();
        out.sort_by(|a, b| a.office.cmp(&b.office));
        Ok(out)
    }

    fn history(&self, from: Option<i64>, to: Option<i64>, f: &mut dyn FnMut(HistoryRow)) -> Result<()> {
        let mut st = self.conn.prepare(
            "SELECT d.seq, d.body, c.body FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq
             WHERE d.declared_at >= ?1 AND d.declared_at < ?2 ORDER BY d.seq",
        )?;
        let mut outs = self.conn.prepare("SELECT decl, body FROM outcomes ORDER BY decl, seq")?;
        let mut by_decl: HashMap<i64, Vec<Outcome>> = HashMap::new();
        let mut orows = outs.query([])?;
        while let Some(r) = orows.next()? {
            let decl: i64 = r.get(0)?;
            let body: String = r.get(1)?;
            by_decl.entry(decl).or_default().push(decode(&body, Outcome::from_json)?);
        }
        let mut rows = st.query(params![from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)])?;
        while let Some(r) = rows.next()? {
            let seq: i64 = r.get(0)?;
            let body: String = r.get(1)?;
            let declaration = decode(&body, Declaration::from_json)?;
            let decision = match r.get::<_, Option<String>>(2)? {
                Some(b) => Some(serde_json::from_str(&b)?),
                None => None,
            };
            f(HistoryRow { declaration, decision, outcomes: by_decl.remove(&seq).unwrap_or_default() });
        }
        Ok(())
    }
    fn load_bus_epoch(&self) -> Result<Option<(i64, Vec<u8>)>> {
        crate::bus_sqlite::load_bus_epoch(&self.conn)
    }

    fn init_bus_epoch(&mut self, body: &[u8], replace: bool) -> Result<bool> {
        crate::bus_sqlite::init_bus_epoch(&mut self.conn, body, replace)
    }

    fn insert_webhook(&mut self, hook: &Webhook, action: &Action) -> Result<()> {
        let tx = self.conn.transaction()?;
        crate::bus_sqlite::insert_webhook(&tx, hook)?;
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(())
    }

    fn webhooks(&self) -> Result<Vec<Webhook>> {
        crate::bus_sqlite::webhooks(&self.conn)
    }

    fn remove_webhook(&mut self, id: &str, action: &Action) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let n = tx.execute("UPDATE webhooks SET active = 0 WHERE id = ?1 AND active = 1", [id])?;
        if n == 0 {
            return Ok(false);
        }
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(true)
    }

    fn enqueue_deliveries(&mut self, events: &[NewDelivery<'_>], now: i64) -> Result<usize> {
        crate::bus_sqlite::enqueue_deliveries(&mut self.conn, events, now)
    }

    fn claim_deliveries(&mut self, now: i64, lease: i64, limit: usize) -> Result<Vec<Delivery>> {
        crate::bus_sqlite::claim_deliveries(&mut self.conn, now, lease, limit)
    }

    fn record_delivery_attempt(&mut self, id: i64, attempt: &DeliveryAttempt) -> Result<()> {
        crate::bus_sqlite::record_delivery_attempt(&self.conn, id, attempt)
    }

    fn deliveries(&self, hook: Option<&str>, limit: usize) -> Result<Vec<Delivery>> {
        crate::bus_sqlite::deliveries(&self.conn, hook, limit)
    }
}

fn row_to_logged(r: &rusqlite::Row<'_>) -> rusqlite::Result<Result<LoggedAction>> {
    let at: i64 = r.get(1)?;
    let before: Option<String> = r.get(6)?;
    let after: Option<String> = r.get(7)?;
    let parse = |s: Option<String>| -> Result<Option<serde_json::Value>> {
        Ok(match s {
            Some(s) => Some(serde_json::from_str(&s)?),
            None => None,
        })
    };
    let built = (|| -> Result<LoggedAction> {
        Ok(LoggedAction {
            seq: r.get(0)?,
            action: Action {
                at: chrono::DateTime::from_timestamp(at, 0)
                    .unwrap_or_default()
                    .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset")),
                actor: r.get(2)?,
                office: r.get(3)?,
                action: r.get(4)?,
                target: r.get(5)?,
                before: parse(before)?,
                after: parse(after)?,
                reason: r.get(8)?,
            },
            prev_hash: r.get(9)?,
            hash: r.get(10)?,
        })
    })();
    Ok(built)
}
