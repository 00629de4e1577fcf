//! The embedded SQLite store: one database file in WAL mode, batched
//! transactions, integer keys on the hot tables.

use std::collections::HashMap;
use std::path::Path;

use riskgate_core::{
    Case, CaseQuery, Decision, Declaration, Enterprise, ForexPayment, Office, Officer, Outcome, OutcomeKeys, Release,
    Source, TaxInvoice, WorkforceRecord,
};
use rusqlite::{Connection, OptionalExtension, params};

mod accounts;
mod bus;
mod committees;

use crate::facts::{self, Facts, FactsQuery};
use crate::migrations::{Dialect, MIGRATIONS, render};
pub(crate) use crate::policy::decode;
use crate::policy::{self, decision_of, json};
use crate::rows::{self, ACTION_COLUMNS, Columns, MODEL_COLUMNS, TASK_COLUMNS};
use crate::{
    Action, ControlRecord, ControlTask, Delivery, DeliveryAttempt, DriftQuery, DriftRows, Event, HistoryRow,
    LoggedAction, ModelRecord, NewDecision, NewDelivery, Note, OutcomeStored, Override, OverrideDone, Result,
    RiskLevelRecord, RuleRecord, RuleStats, Store, StoreError, StoredDeclaration, TaskMark, TimelineRow, Webhook,
    chain_hash,
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

/// Counts writes to the officer registry and the workforce records (`Store::integrity_marks`).
const BUMP_REGISTRY: &str = crate::rows::BUMP_REGISTRY;

/// Adds deltas to the facts table.
fn apply_facts(conn: &Connection, deltas: &HashMap<facts::FactKey, Facts>) -> Result<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    // An update of the delta's non-zero columns (a few of 32 for most
    // rows: fewer values to compute and, when no finding or declaration
    // count changes, no change to the `facts_rank` index), an insert when
    // the row is new: about half the cost of one upsert of every column.
    let mut insert = conn.prepare_cached(&facts::insert_sql())?;
    let mut updates: HashMap<u64, rusqlite::CachedStatement<'_>> = HashMap::new();
    // In key order: neighbouring rows share pages (2–3× fewer page visits
    // than hash order).
    let mut deltas: Vec<(&facts::FactKey, &Facts)> = deltas.iter().collect();
    deltas.sort_unstable_by(|a, b| {
        (&a.0.dim, a.0.grain.as_str(), a.0.period, &a.0.office, &a.0.key).cmp(&(
            &b.0.dim,
            b.0.grain.as_str(),
            b.0.period,
            &b.0.office,
            &b.0.key,
        ))
    });
    for (k, f) in deltas {
        let values = f.values();
        let mask = values.iter().enumerate().filter(|(_, v)| **v != 0.0).fold(0u64, |m, (i, _)| m | (1 << i));
        let key: [rusqlite::types::Value; 5] = [
            k.grain.as_str().to_string().into(),
            k.period.into(),
            k.office.clone().into(),
            k.dim.clone().into(),
            k.key.clone().into(),
        ];
        let update = match updates.entry(mask) {
            std::collections::hash_map::Entry::Occupied(e) => e.into_mut(),
            std::collections::hash_map::Entry::Vacant(e) => e.insert(conn.prepare_cached(&facts::update_sql(mask))?),
        };
        let nonzero = values.iter().filter(|v| **v != 0.0).map(|v| rusqlite::types::Value::from(*v));
        if update.execute(rusqlite::params_from_iter(key.iter().cloned().chain(nonzero)))? == 0 {
            let all = values.into_iter().map(rusqlite::types::Value::from);
            insert.execute(rusqlite::params_from_iter(key.into_iter().chain(all)))?;
        }
    }
    Ok(())
}

impl facts::Reader for Connection {
    fn each(&self, sql: &str, params: &[i64], f: &mut dyn FnMut(&dyn Columns) -> Result<()>) -> Result<()> {
        let mut st = self.prepare_cached(sql)?;
        let mut rows = st.query(rusqlite::params_from_iter(params))?;
        while let Some(r) = rows.next()? {
            f(r)?;
        }
        Ok(())
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

/// Every row of a query, each mapped by one of `rows`' functions.
pub(crate) fn all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    map: impl Fn(&dyn Columns) -> Result<T>,
) -> Result<Vec<T>> {
    let mut st = conn.prepare_cached(sql)?;
    let mut rows = st.query(params)?;
    let mut out = Vec::new();
    while let Some(r) = rows.next()? {
        out.push(map(r)?);
    }
    Ok(out)
}

/// Creates the store file readable by its owner only (0600) if it does not
/// exist yet: SQLite gives its `-wal` and `-shm` files the same mode. An
/// existing file keeps the mode it has.
fn create_private(path: &Path) -> Result<()> {
    let mut o = std::fs::OpenOptions::new();
    o.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut o, 0o600);
    match o.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(StoreError::Unavailable(format!("cannot create {}: {e}", path.display()))),
    }
}

/// The busy handler of every connection: try again after 0.2 ms, for up to
/// 10 s (50,000 tries) before "database is locked".
fn retry_soon(tries: i32) -> bool {
    if tries >= 50_000 {
        return false;
    }
    std::thread::sleep(std::time::Duration::from_micros(200));
    true
}

impl SqliteStore {
    /// Opens (creating if needed, owner-only) `DIR/riskgate.db` and migrates it.
    pub fn open(dir: &Path) -> Result<Self> {
        Self::open_with(dir, Durability::default())
    }

    pub fn open_with(dir: &Path, durability: Durability) -> Result<Self> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        Self::open_file(&dir.join("riskgate.db"), durability)
    }

    pub fn open_file(path: &Path, durability: Durability) -> Result<Self> {
        create_private(path)?;
        let mut conn = Connection::open(path)?;
        // Every transaction of this store writes: take the write lock at
        // BEGIN, waiting up to busy_timeout. A deferred transaction that
        // reads first fails at once with "database is locked" when another
        // connection wrote meanwhile (WAL cannot upgrade a stale snapshot):
        // seen for the action log and possible for every read-then-write.
        conn.set_transaction_behavior(rusqlite::TransactionBehavior::Immediate);
        let sync = match durability {
            Durability::Process => "NORMAL",
            Durability::Power => "FULL",
        };
        conn.execute_batch(&format!("PRAGMA synchronous = {sync};"))?;
        conn.execute_batch(
            "PRAGMA journal_mode = WAL; PRAGMA foreign_keys = ON;
             PRAGMA cache_size = -65536; PRAGMA temp_store = MEMORY;
             PRAGMA wal_autocheckpoint = 16384;",
        )?;
        // Waiting for the write lock: SQLite's own busy timeout sleeps 1,
        // 2, 5, 10 … 100 ms between tries, so a commit that meets a 5 ms
        // write of another connection (the background fold of the KPI
        // aggregates) often sleeps 8–18 ms more than it had to. Retrying
        // every 0.2 ms takes the lock as soon as it is free; the same 10 s
        // in all before "database is locked".
        conn.busy_handler(Some(retry_soon))?;
        // The fold's updates have one statement per set of non-zero
        // columns (`apply_facts`): keep them prepared.
        conn.set_prepared_statement_cache_capacity(128);
        let mut s = SqliteStore { conn, path: path.to_path_buf(), durability };
        s.migrate()?;
        Ok(s)
    }

    /// The physical limit the screening commit is measured against
    /// (`bench screen`): a fresh database at `path` with the store's
    /// pragmas, holding only a declaration row (id, raw document) and a
    /// decision row (its JSON) per declaration, written 1,000 per
    /// transaction. `next` yields (id, raw document, decision JSON); the
    /// caller parses inside it so that parsing is counted. Returns how
    /// many were written.
    pub fn raw_write_limit(
        path: &Path,
        durability: Durability,
        mut next: impl FnMut() -> Option<(String, String, String)>,
    ) -> Result<usize> {
        let mut conn = Connection::open(path)?;
        let sync = match durability {
            Durability::Process => "NORMAL",
            Durability::Power => "FULL",
        };
        conn.execute_batch(&format!(
            "PRAGMA synchronous = {sync}; PRAGMA journal_mode = WAL; PRAGMA cache_size = -65536;
             PRAGMA temp_store = MEMORY; PRAGMA wal_autocheckpoint = 16384;
             CREATE TABLE declarations (seq INTEGER PRIMARY KEY, id TEXT NOT NULL UNIQUE, body TEXT NOT NULL);
             CREATE TABLE decisions (decl INTEGER PRIMARY KEY, body TEXT NOT NULL);"
        ))?;
        let mut n = 0usize;
        loop {
            let tx = conn.transaction()?;
            let mut written = 0;
            {
                let mut ins_decl = tx.prepare_cached("INSERT INTO declarations (seq, id, body) VALUES (?1, ?2, ?3)")?;
                let mut ins_dec = tx.prepare_cached("INSERT INTO decisions (decl, body) VALUES (?1, ?2)")?;
                while written < 1000 {
                    let Some((id, body, decision)) = next() else { break };
                    ins_decl.execute(params![n as i64, id, body])?;
                    ins_dec.execute(params![n as i64, decision])?;
                    n += 1;
                    written += 1;
                }
            }
            tx.commit()?;
            if written < 1000 {
                return Ok(n);
            }
        }
    }

    /// A consistent copy of the store in the new file `dest` (owner-only),
    /// taken with SQLite's online backup API in one step: a read
    /// transaction on a WAL database, so writers (a running `serve`) go on
    /// while it copies, and the copy is the store as of one commit.
    pub fn backup_to(&self, dest: &Path) -> Result<()> {
        if dest.exists() {
            return Err(StoreError::User(format!("{}: already exists; choose a new file", dest.display())));
        }
        create_private(dest)?;
        let mut to = Connection::open(dest)?;
        rusqlite::backup::Backup::new(&self.conn, &mut to)?.run_to_completion(
            i32::MAX,
            std::time::Duration::from_millis(10),
            None,
        )?;
        to.execute_batch("PRAGMA journal_mode = DELETE;")?;
        Ok(())
    }

    /// Brings the backup `src` back as the store in `dir` (replacing what is
    /// there; the caller asks first). The backup is checked before anything
    /// is replaced: SQLite's integrity check, a riskgate schema no newer
    /// than this build's, an intact action-log chain.
    pub fn restore(src: &Path, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir)
            .map_err(|e| StoreError::Unavailable(format!("cannot create {}: {e}", dir.display())))?;
        let staged = dir.join("riskgate.db.restoring");
        let _ = std::fs::remove_file(&staged);
        {
            let from = Connection::open_with_flags(src, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            let check: String = from.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
            let version: u32 = from.query_row("PRAGMA user_version", [], |r| r.get(0))?;
            let newest = MIGRATIONS.last().map_or(0, |m| m.0);
            if check != "ok" || version == 0 || version > newest {
                return Err(StoreError::User(format!(
                    "{}: not a riskgate store this build can open (integrity {check}, schema {version})",
                    src.display()
                )));
            }
            create_private(&staged)?;
            let mut to = Connection::open(&staged)?;
            rusqlite::backup::Backup::new(&from, &mut to)?.run_to_completion(
                i32::MAX,
                std::time::Duration::from_millis(10),
                None,
            )?;
        }
        let staged_store = SqliteStore::open_file(&staged, Durability::default())?;
        if let Some(broken) = staged_store.verify_actions()? {
            drop(staged_store);
            let _ = std::fs::remove_file(&staged);
            return Err(StoreError::User(format!(
                "{}: its action log is broken at entry {broken}; not restored",
                src.display()
            )));
        }
        // Through SQLite, not a file rename: a connection still open on the
        // old store sees the new one, never half of each.
        let dest = dir.join("riskgate.db");
        create_private(&dest)?;
        let mut to = Connection::open(&dest)?;
        to.execute_batch("PRAGMA journal_mode = WAL;")?;
        rusqlite::backup::Backup::new(&staged_store.conn, &mut to)?.run_to_completion(
            i32::MAX,
            std::time::Duration::from_millis(10),
            None,
        )?;
        drop(staged_store);
        for f in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(dir.join(format!("riskgate.db.restoring{f}")));
        }
        Ok(())
    }

    /// Folds events `(mark, hi]` into `units`, one transaction each
    /// (`Store::fold_facts`).
    fn fold_units(
        &mut self,
        units: &[facts::Unit],
        mark: i64,
        hi: i64,
        up: &facts::Rollups,
        deltas: &mut facts::ByUnit,
    ) -> Result<()> {
        let mut releases: Option<(Vec<i64>, facts::ByUnit)> = None;
        for (i, &unit) in units.iter().enumerate() {
            if i > 0 {
                // Let a writer waiting for the lock in (the busy handler
                // retries every 0.2 ms; a new transaction would otherwise
                // take it back at once).
                std::thread::sleep(std::time::Duration::from_micros(500));
            }
            let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
            // The office tree the deltas were rolled up by must still stand.
            if facts::rollups(&*tx)? != *up
                || tx.execute(facts::MOVE_MARK, params![mark, hi, facts::mark_name(unit)])? == 0
            {
                continue;
            }
            if let Some(d) = deltas.remove(&unit) {
                apply_facts(&tx, &d)?;
            }
            // The releases as they stand under the lock: read again only
            // if one was stored since they were last read.
            let now = facts::released_in(&*tx, mark, hi)?;
            if releases.as_ref().is_none_or(|(seqs, _)| *seqs != now) {
                releases = Some((now, facts::by_unit(facts::fold_releases(&*tx, up, mark, hi)?)));
            }
            if let Some(d) = releases.as_mut().and_then(|(_, by)| by.remove(&unit)) {
                apply_facts(&tx, &d)?;
            }
            tx.commit()?;
        }
        Ok(())
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
                tx.execute_batch(&render(sql, Dialect::Sqlite))?;
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
        let a = &policy::normalised(a);
        let hash = chain_hash(&prev, seq, a);
        tx.execute(
            rows::INSERT_ACTION,
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

const INSERT_DECLARATION: &str =
    "INSERT INTO declarations (seq, id, declared_at, tz, office, direction, transport_mode, trader,
                              declarant, value_cny, historical, released_at, body, trade_mode, decided_at)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)";

/// Writes the row of a declaration stored as `seq`; how many were written.
/// `decided_at`: the time of its decision (the decisions table's partition
/// key); none for a declaration stored as history.
fn insert_declaration(
    st: &mut rusqlite::CachedStatement<'_>,
    seq: i64,
    d: &Declaration,
    decided_at: Option<i64>,
    released_at: Option<i64>,
    body: &str,
) -> Result<usize> {
    let historical = decided_at.is_none();
    Ok(st.execute(params![
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
        historical,
        released_at,
        body,
        d.trade_mode,
        decided_at
    ])?)
}

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

    /// A new case with its `case_open` entry, inside `tx`; returns its id.
    fn insert_case_tx(tx: &rusqlite::Transaction<'_>, c: &Case, action: &Action) -> Result<i64> {
        let id: i64 = tx.query_row(
            rows::INSERT_CASE,
            params![
                i64::from(c.version),
                c.kind.as_str(),
                c.department,
                c.office,
                c.status.as_str(),
                c.declaration_id,
                c.enterprise,
                c.due_at.timestamp(),
                c.updated_at.timestamp(),
                ""
            ],
            |r| r.get(0),
        )?;
        tx.execute(rows::CASE_BODY, params![id, json(&Case { id, ..c.clone() })])?;
        Self::append_action_tx(tx, &rows::case_action(action, id))?;
        Ok(id)
    }

    /// Runs `f` and appends `action` to the log in one transaction: both
    /// or neither. The transaction takes the write lock at its start
    /// (`IMMEDIATE`, waiting up to the busy timeout): a deferred one read the
    /// chain's head and then failed with "database is locked" when another
    /// connection had written meanwhile (a `GET /api/v1/actions` answered 500
    /// while `serve` screened and a CLI command saved its checkpoint, seen by
    /// tests/crash/run.sh).
    fn with_action(&mut self, action: &Action, f: impl FnOnce(&rusqlite::Transaction<'_>) -> Result<()>) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        f(&tx)?;
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(())
    }
}

impl Store for SqliteStore {
    fn backend(&self) -> &'static str {
        "sqlite"
    }

    fn reopen(&self) -> Result<Box<dyn Store>> {
        Ok(Box::new(SqliteStore::open_file(&self.path, self.durability)?))
    }

    fn upsert_offices(&mut self, rows: &[Office]) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        // A changed tree empties the aggregates for the fold to rebuild, in
        // the same transaction (a fold rolled up by the old tree then finds
        // the tree changed and moves nothing).
        if facts::tree_changes(&*tx, rows)? {
            tx.execute_batch(facts::RESET)?;
        }
        {
            let mut st = tx.prepare_cached(rows::UPSERT_OFFICE)?;
            for o in rows {
                st.execute(params![o.code, o.name, o.parent, o.level.as_str()])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn offices(&self) -> Result<Vec<Office>> {
        all(&self.conn, rows::OFFICES, [], rows::office)
    }

    fn upsert_officers(&mut self, rows: &[Officer]) -> Result<()> {
        self.write_rows(rows::UPSERT_OFFICER, rows, |st, o| st.execute(params![o.id, o.office, o.post, json(o)]))?;
        self.conn.execute(BUMP_REGISTRY, [])?;
        Ok(())
    }

    fn officers(&self) -> Result<Vec<Officer>> {
        all(&self.conn, rows::OFFICERS, [], rows::body(Officer::from_json))
    }

    fn upsert_enterprises(&mut self, rows: &[Enterprise]) -> Result<()> {
        self.write_rows(rows::UPSERT_ENTERPRISE, rows, |st, e| {
            st.execute(params![e.id, e.credit_class.as_str(), json(e)])
        })
    }

    fn enterprises(&self) -> Result<Vec<Enterprise>> {
        all(&self.conn, rows::ENTERPRISES, [], rows::body(Enterprise::from_json))
    }

    fn insert_forex(&mut self, rows: &[ForexPayment]) -> Result<()> {
        self.write_rows(
            "INSERT INTO forex (trader, paid_at, amount_cny, reference, body) VALUES (?1, ?2, ?3, ?4, ?5)",
            rows,
            |st, p| st.execute(params![p.trader, p.paid_at.timestamp(), p.amount_cny(), p.reference, json(p)]),
        )
    }

    fn money_flow(
        &self,
        from: i64,
        to: i64,
        offices: Option<&[String]>,
        trader: Option<&str>,
    ) -> Result<crate::FlowSums> {
        let rows = all(&self.conn, rows::MONEY_FLOW, params![from, to], rows::flow_row)?;
        Ok(rows::flow_sums(rows, offices, trader))
    }

    fn referenced_imports(
        &self,
        from: i64,
        to: i64,
        paid_from: i64,
    ) -> Result<(Vec<crate::ReferencedImport>, Vec<crate::ReferencedPayment>)> {
        let lines = all(&self.conn, rows::REFERENCED_IMPORTS_SQLITE, params![from, to], rows::line_rows(true))?;
        Ok((
            rows::referenced_imports(lines),
            all(&self.conn, rows::REFERENCED_PAYMENTS, params![paid_from], rows::referenced_payment)?,
        ))
    }

    fn forex(&self) -> Result<Vec<ForexPayment>> {
        all(&self.conn, rows::FOREX, [], rows::body(ForexPayment::from_json))
    }

    fn insert_invoices(&mut self, rows: &[TaxInvoice]) -> Result<()> {
        self.write_rows(
            "INSERT INTO invoices (trader, issued_at, amount_cny, body) VALUES (?1, ?2, ?3, ?4)",
            rows,
            |st, p| st.execute(params![p.trader, p.issued_at.timestamp(), p.amount_cny, json(p)]),
        )
    }

    fn invoiced_imports(
        &self,
        issued_from: i64,
        issued_to: i64,
        declared_from: i64,
        declared_to: i64,
    ) -> Result<(Vec<crate::ImportLines>, Vec<TaxInvoice>)> {
        let p = params![issued_from, issued_to, declared_from, declared_to];
        Ok((
            rows::import_lines(all(&self.conn, rows::INVOICED_IMPORTS, p, rows::line_rows(false))?),
            all(&self.conn, rows::INVOICES_ISSUED, params![issued_from, issued_to], rows::body(TaxInvoice::from_json))?,
        ))
    }

    fn insert_workforce(&mut self, rows: &[WorkforceRecord]) -> Result<Vec<bool>> {
        let tx = self.conn.transaction()?;
        let mut out = Vec::with_capacity(rows.len());
        {
            let mut st = tx.prepare_cached(rows::UPSERT_WORKFORCE)?;
            for r in rows {
                let body = json(r);
                let (kind, officer, at, year, passed, outcome, key) = rows::workforce_columns(r, &body);
                let n = st.execute(params![kind, r.unit(), officer, at, year, passed, outcome, key, body])?;
                out.push(n == 1);
            }
            tx.execute(BUMP_REGISTRY, [])?;
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
                "SELECT d.id, c.body FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq AND c.decided_at = d.decided_at WHERE d.id IN ({marks})"
            ))?;
            let mut rows = st.query(rusqlite::params_from_iter(chunk.iter()))?;
            while let Some(r) = rows.next()? {
                let id: String = r.get(0)?;
                let dec = decision_of(r.get(1)?)?;
                out.insert(id, dec);
            }
        }
        Ok(out)
    }

    fn commit_screened(&mut self, batch: &[NewDecision<'_>], referrals: &[(Case, Action)]) -> Result<Vec<i64>> {
        let (tx, mut seq) = write_tx(&mut self.conn)?;
        {
            let mut ins_decl = tx.prepare_cached(INSERT_DECLARATION)?;
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
                let decided = dec.decided_at.timestamp();
                let released = (!dec.channel.is_control()).then_some(decided);
                insert_declaration(&mut ins_decl, seq, d, Some(decided), released, rec.body)?;
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
        let ids = referrals.iter().map(|(c, a)| Self::insert_case_tx(&tx, c, a)).collect::<Result<Vec<_>>>()?;
        tx.commit()?;
        Ok(ids)
    }

    fn commit_historical(&mut self, batch: &[Declaration]) -> Result<Vec<bool>> {
        let mut out = Vec::with_capacity(batch.len());
        let (tx, mut seq) = write_tx(&mut self.conn)?;
        {
            let mut ins_decl = tx.prepare_cached(&format!("{INSERT_DECLARATION} ON CONFLICT (id) DO NOTHING"))?;
            let mut ins_item = tx.prepare_cached(INSERT_ITEM)?;
            for d in batch {
                let n = insert_declaration(&mut ins_decl, seq, d, None, None, &json(d))?;
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
                "SELECT d.seq, d.body, c.body, d.historical FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq AND c.decided_at = d.decided_at WHERE d.id = ?1",
                [id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let Some((seq, body, dec, historical)) = row else { return Ok(None) };
        let declaration = decode(&body, Declaration::from_json)?;
        let decision = decision_of(dec)?;
        Ok(Some(StoredDeclaration { seq, declaration, decision, historical }))
    }

    fn declaration_count(&self) -> Result<u64> {
        Ok(self.conn.query_row("SELECT COUNT(*) FROM declarations", [], |r| r.get(0))?)
    }

    fn commit_outcomes(&mut self, batch: &[Outcome]) -> Result<Vec<OutcomeStored>> {
        let mut out = Vec::with_capacity(batch.len());
        let mut released = Vec::new();
        let (tx, mut seq) = write_tx(&mut self.conn)?;
        {
            let mut find = tx.prepare_cached(
                "SELECT d.seq, d.body, c.random FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq AND c.decided_at = d.decided_at WHERE d.id = ?1",
            )?;
            let mut dup = tx.prepare_cached(
                "SELECT 1 FROM outcomes WHERE decl = ?1 AND control = ?2 AND completed_at = ?3 AND officer = ?4",
            )?;
            let mut ins = tx.prepare_cached(rows::INSERT_OUTCOME)?;
            let mut close = tx.prepare_cached(rows::CLOSE_TASK)?;
            let mut release = tx.prepare_cached(rows::RELEASE)?;
            for (i, o) in batch.iter().enumerate() {
                let row: Option<(i64, String, Option<bool>)> =
                    find.query_row([&o.declaration_id], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?))).optional()?;
                let Some((decl, body, random)) = row else {
                    return Err(policy::unknown_declaration(i, &o.declaration_id));
                };
                let completed = o.completed_at.timestamp();
                if dup.exists(params![decl, o.control.as_str(), completed, o.officer])? {
                    out.push(OutcomeStored::Duplicate);
                    continue;
                }
                let d = decode(&body, Declaration::from_json)?;
                ins.execute(params![
                    seq,
                    decl,
                    o.officer,
                    o.control.as_str(),
                    completed,
                    o.is_finding(),
                    o.additional_duty,
                    o.seizure,
                    policy::smuggling(o),
                    o.released_at.map(|t| t.timestamp()),
                    json(o)
                ])?;
                close.execute(params![decl, completed, o.officer, o.control.as_str()])?;
                let releases = match o.released_at {
                    Some(r) => release.execute(params![decl, r.timestamp()])? == 1,
                    None => false,
                };
                if releases {
                    released.push(decl);
                }
                seq += 1;
                out.push(OutcomeStored::Stored {
                    keys: OutcomeKeys::of(&d, random.unwrap_or(false)),
                    released: releases,
                });
            }
        }
        let marks = facts::Marks::from_reader(&*tx)?;
        apply_facts(&tx, &facts::release_deltas(&*tx, &released, &marks)?)?;
        tx.commit()?;
        Ok(out)
    }

    fn commit_releases(&mut self, batch: &[Release]) -> Result<Vec<bool>> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut out = Vec::with_capacity(batch.len());
        let mut released = Vec::new();
        {
            let mut st = tx.prepare_cached(rows::RELEASE)?;
            let mut seq_of = tx.prepare_cached("SELECT seq FROM declarations WHERE id = ?1")?;
            for (i, r) in batch.iter().enumerate() {
                let Some(seq) = seq_of.query_row([&r.declaration_id], |r| r.get::<_, i64>(0)).optional()? else {
                    return Err(policy::unknown_declaration(i, &r.declaration_id));
                };
                let done = st.execute(params![seq, r.released_at.timestamp()])? == 1;
                if done {
                    released.push(seq);
                }
                out.push(done);
            }
        }
        let marks = facts::Marks::from_reader(&*tx)?;
        apply_facts(&tx, &facts::release_deltas(&*tx, &released, &marks)?)?;
        tx.commit()?;
        Ok(out)
    }

    fn open_tasks(&self, office: Option<&str>, limit: usize) -> Result<Vec<ControlTask>> {
        all(
            &self.conn,
            &format!("SELECT {TASK_COLUMNS} {}", rows::OPEN_TASKS),
            params![office, limit as i64],
            rows::control_task,
        )
    }

    fn mark_task(&mut self, declaration_id: &str, mark: &TaskMark, action: &Action) -> Result<bool> {
        let tx = self.conn.transaction()?;
        let changed = match mark {
            TaskMark::Urgent { request, at } => tx.execute(rows::MARK_URGENT, params![declaration_id, request, at])?,
            TaskMark::Escalated { at } => tx.execute(rows::MARK_ESCALATED, params![declaration_id, at])?,
        };
        if changed == 0 {
            return Ok(false);
        }
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(true)
    }

    fn override_channel(&mut self, o: &Override) -> Result<OverrideDone> {
        policy::check_override(o)?;
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let row: Option<(i64, String, Option<i64>, Option<String>)> = tx
            .query_row(
                "SELECT d.seq, d.office, d.released_at, c.channel FROM declarations d
                 LEFT JOIN decisions c ON c.decl = d.seq AND c.decided_at = d.decided_at WHERE d.id = ?1",
                [&o.declaration_id],
                |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)),
            )
            .optional()?;
        let facts = match row {
            None => None,
            Some((decl, office, released_at, engine_channel)) => Some(policy::OverrideFacts {
                decl,
                office,
                released_at,
                engine_channel,
                task: tx
                    .query_row("SELECT channel, status FROM control_tasks WHERE decl = ?1", [decl], |r| {
                        Ok((r.get(0)?, r.get(1)?))
                    })
                    .optional()?,
                completed: tx.prepare_cached("SELECT 1 FROM outcomes WHERE decl = ?1")?.exists([decl])?,
                overrides_by_officer: tx
                    .prepare_cached(rows::OVERRIDES_BY)?
                    .query_row(params![o.declaration_id, o.officer], |r| r.get(0))?,
            }),
        };
        let plan = policy::plan_override(o, facts.as_ref())?;
        let policy::OverrideFacts { decl, office, .. } = facts.expect("planned overrides are of stored declarations");
        let at = o.at.timestamp();
        let mut released = false;
        match &plan.write {
            policy::OverrideWrite::ReopenTask => {
                tx.execute(rows::REOPEN_TASK, params![decl, plan.after])?;
            }
            policy::OverrideWrite::OpenTask { instructions } => {
                tx.execute(rows::OPEN_TASK, params![decl, office, plan.after, instructions, at])?;
            }
            policy::OverrideWrite::Release => {
                tx.execute(rows::TASK_OVERRIDDEN, params![decl, at, o.officer])?;
                released = tx.execute(rows::RELEASE, params![decl, at])? == 1;
            }
        }
        let log_seq = Self::append_action_tx(&tx, &plan.action(o, &office))?;
        tx.commit()?;
        Ok(plan.done(o, office, released, log_seq))
    }

    fn control_records(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<ControlRecord>> {
        all(
            &self.conn,
            rows::CONTROL_RECORDS,
            params![from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)],
            rows::control_record,
        )
    }

    fn drift_rows(&self, q: &DriftQuery<'_>) -> Result<DriftRows> {
        let office_in = |column: &str| format!("(?4 IS NULL OR {column} IN (SELECT value FROM json_each(?4)))");
        let offices = q.offices.map(|o| serde_json::to_string(o).expect("strings serialise"));
        let p = params![q.from, q.to, q.new_within, offices];
        Ok(DriftRows {
            controls: all(&self.conn, &rows::drift_controls_sql(office_in), p, rows::scored_control)?,
            screened: all(&self.conn, &rows::drift_screened_sql(office_in), p, rows::screened_day)?,
        })
    }

    fn last_decided_at(&self) -> Result<Option<i64>> {
        Ok(self.conn.query_row(rows::LAST_DECIDED_AT, [], |r| r.get(0)).optional()?)
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
        self.with_action(action, |tx| {
            let exists: bool = tx
                .prepare_cached("SELECT 1 FROM rules WHERE id = ?1 AND version = ?2")?
                .exists(params![rule.def.id, rule.def.version])?;
            if exists {
                return Err(StoreError::User(format!(
                    "rule {} version {} already exists",
                    rule.def.id, rule.def.version
                )));
            }
            tx.execute(
                rows::INSERT_RULE,
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
            Ok(())
        })
    }

    fn set_rule_status(&mut self, id: &str, version: u32, record: &RuleRecord, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            let n = tx.execute(
                rows::SET_RULE_STATUS,
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
            Ok(())
        })
    }

    fn rule_stats(&self, offices: Option<&[String]>) -> Result<Vec<RuleStats>> {
        let offices = offices.map(|o| serde_json::to_string(o).expect("strings serialise"));
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
             WHERE ?2 IS NULL OR c.office IN (SELECT value FROM json_each(?2))
             GROUP BY h.rule_id, h.version ORDER BY h.rule_id, h.version",
        )?;
        let mut rows = st.query(params![recent_from, offices])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push(rows::rule_stats(r)?);
        }
        Ok(out)
    }

    fn lists(&self) -> Result<Vec<(String, String)>> {
        let mut st = self.conn.prepare("SELECT name, value FROM lists ORDER BY name, value")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn set_list(&mut self, name: &str, values: &[String], action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            tx.execute("DELETE FROM lists WHERE name = ?1", [name])?;
            {
                let mut st = tx.prepare_cached("INSERT OR IGNORE INTO lists (name, value) VALUES (?1, ?2)")?;
                for v in values {
                    st.execute(params![name, v])?;
                }
            }
            Ok(())
        })
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT value FROM settings WHERE key = ?1", [key], |r| r.get(0)).optional()?)
    }

    fn set_setting(&mut self, key: &str, value: &str, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            tx.execute(rows::UPSERT_SETTING, params![key, value])?;
            Ok(())
        })
    }

    fn append_action(&mut self, action: &Action) -> Result<()> {
        self.with_action(action, |_| Ok(()))
    }

    fn actions(&self, limit: usize) -> Result<Vec<LoggedAction>> {
        all(
            &self.conn,
            &format!("SELECT {ACTION_COLUMNS} FROM action_log ORDER BY seq DESC LIMIT ?1"),
            [limit as i64],
            rows::logged_action,
        )
    }

    fn actions_in(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<LoggedAction>> {
        all(
            &self.conn,
            &format!("SELECT {ACTION_COLUMNS} FROM action_log WHERE at >= ?1 AND at < ?2 ORDER BY seq"),
            params![from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX)],
            rows::logged_action,
        )
    }

    fn verify_actions(&self) -> Result<Option<i64>> {
        let mut st = self.conn.prepare(&format!("SELECT {ACTION_COLUMNS} FROM action_log ORDER BY seq"))?;
        let mut rows = st.query([])?;
        let mut prev = "genesis".to_string();
        while let Some(row) = rows.next()? {
            // An entry edited into something that no longer decodes is broken too.
            let Ok(l) = rows::logged_action(row) else {
                return Ok(Some(row.get(0)?));
            };
            if l.prev_hash != prev || chain_hash(&prev, l.seq, &l.action) != l.hash {
                return Ok(Some(l.seq));
            }
            prev = l.hash;
        }
        Ok(None)
    }

    fn action_hash(&self, seq: i64) -> Result<Option<String>> {
        Ok(self.conn.query_row("SELECT hash FROM action_log WHERE seq = ?1", [seq], |r| r.get(0)).optional()?)
    }

    fn load_checkpoint(&self) -> Result<Option<(i64, Vec<u8>)>> {
        Ok(self
            .conn
            .query_row("SELECT as_of_seq, body FROM checkpoint WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?)
    }

    fn save_checkpoint(&mut self, body: &[u8], as_of_seq: Option<i64>) -> Result<()> {
        let seq = match as_of_seq {
            Some(s) => s,
            None => self.conn.query_row(NEXT_SEQ, [], |r| r.get::<_, i64>(0))? - 1,
        };
        self.conn.execute(
            "INSERT INTO checkpoint (id, as_of_seq, body) VALUES (1, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET as_of_seq = excluded.as_of_seq, body = excluded.body
             WHERE excluded.as_of_seq >= checkpoint.as_of_seq",
            params![seq, body],
        )?;
        Ok(())
    }

    fn last_seq(&self) -> Result<i64> {
        Ok(self.conn.query_row(NEXT_SEQ, [], |r| r.get::<_, i64>(0))? - 1)
    }

    fn last_action_seq(&self) -> Result<i64> {
        Ok(self.conn.query_row(rows::LAST_ACTION_SEQ, [], |r| r.get::<_, i64>(0))?)
    }

    fn defer_wal_checkpoints(&mut self) -> Result<()> {
        self.conn.execute_batch("PRAGMA wal_autocheckpoint = 0;")?;
        Ok(())
    }

    fn checkpoint_wal(&mut self) -> Result<()> {
        self.conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |_| Ok(()))?;
        Ok(())
    }

    fn integrity_marks(&self) -> Result<[i64; 3]> {
        Ok(self.conn.query_row(crate::rows::INTEGRITY_MARKS, [], |r| Ok([r.get(0)?, r.get(1)?, r.get(2)?]))?)
    }

    fn replay_skipping(
        &self,
        after_seq: i64,
        skip: &mut dyn FnMut(&str) -> bool,
        f: &mut dyn FnMut(Event),
    ) -> Result<i64> {
        let mut st = self.conn.prepare(rows::REPLAY)?;
        let mut rows = st.query([after_seq])?;
        let mut last = after_seq;
        while let Some(r) = rows.next()? {
            last = rows::replay_row(r, skip, f)?;
        }
        Ok(last)
    }

    fn insert_model(&mut self, m: &ModelRecord, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            tx.execute(
                rows::INSERT_MODEL,
                params![m.id, m.created_at, m.created_by, m.status, json(&m.metrics), m.bytes],
            )?;
            Ok(())
        })
    }

    fn models(&self) -> Result<Vec<ModelRecord>> {
        all(&self.conn, &format!("SELECT {MODEL_COLUMNS} FROM models ORDER BY created_at DESC, id DESC"), [], |r| {
            rows::model(r, false)
        })
    }

    fn model(&self, id: &str) -> Result<Option<ModelRecord>> {
        let sql = format!("SELECT {MODEL_COLUMNS}, bytes FROM models WHERE id = ?1");
        Ok(all(&self.conn, &sql, [id], |r| rows::model(r, true))?.pop())
    }

    fn set_model_status(&mut self, id: &str, status: &str, action: &Action) -> Result<()> {
        if !["candidate", "active", "shadow", "retired"].contains(&status) {
            return Err(StoreError::User(format!("unknown model status {status:?}")));
        }
        self.with_action(action, |tx| {
            if status == "active" || status == "shadow" {
                tx.execute(
                    "UPDATE models SET status = 'candidate' WHERE status = ?1 AND id != ?2",
                    params![status, id],
                )?;
            }
            let n = tx.execute("UPDATE models SET status = ?2 WHERE id = ?1", params![id, status])?;
            if n != 1 {
                return Err(StoreError::User(format!("no model {id:?}")));
            }
            Ok(())
        })
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
        let sql = if key.is_some() { rows::RISK_LEVELS_OF_KEY.to_string() } else { rows::latest_risk_levels("") };
        all(&self.conn, &sql, params![kind, key], rows::risk_level)
    }

    fn timeline(&self, f: &mut dyn FnMut(TimelineRow)) -> Result<()> {
        let mut st = self.conn.prepare(rows::TIMELINE)?;
        let mut rows = st.query([])?;
        while let Some(r) = rows.next()? {
            f(rows::timeline_row(r)?);
        }
        Ok(())
    }

    fn outcomes_by_time(&self) -> Result<Vec<(Outcome, OutcomeKeys)>> {
        all(&self.conn, rows::OUTCOMES_BY_TIME, [], rows::outcome_by_time)
    }

    fn scan_facts(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<(String, Facts)>> {
        facts::scan(&self.conn, from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX))
    }

    fn fold_facts(&mut self, max: i64) -> Result<i64> {
        let marks = facts::Marks::from_reader(&self.conn)?;
        let mark = marks.low();
        let last = self.last_seq()?;
        if last <= mark {
            return Ok(0);
        }
        let hi = last.min(mark.saturating_add(max.max(1)));
        // Events up to `hi` are committed and never change: read them
        // outside the write lock.
        let up = facts::rollups(&self.conn)?;
        let mut deltas = facts::by_unit(facts::deltas(&self.conn, &up, mark, hi, None, false)?);
        let (_, units) = marks.groups().into_iter().next().expect("the lowest mark has units");
        // The rows are derived: a fold lost with the power is folded again
        // (its marks are lost with it), and the next commit of declarations
        // syncs the log up to and past it. So no sync of its own while it
        // holds the lock.
        let power = self.durability == Durability::Power;
        if power {
            self.conn.execute_batch("PRAGMA synchronous = NORMAL;")?;
        }
        let folded = self.fold_units(&units, mark, hi, &up, &mut deltas);
        if power {
            self.conn.execute_batch("PRAGMA synchronous = FULL;")?;
        }
        folded.map(|()| hi - mark)
    }

    fn facts(&self, q: &FactsQuery) -> Result<facts::FactRows> {
        // One snapshot for the mark, the stored rows and the tail.
        let tx = self.conn.unchecked_transaction()?;
        let marks = facts::Marks::from_reader(&*tx)?.of_query(q);
        let last = tx.query_row(NEXT_SEQ, [], |r| r.get::<_, i64>(0))? - 1;
        if last - marks.low() > facts::TAIL_LIMIT {
            return Err(facts::behind(marks.low(), last));
        }
        let tail = facts::tail(&*tx, &marks, &q.dim, last)?;
        let json = |v: &Option<Vec<String>>| v.as_ref().map(|v| serde_json::to_string(v).expect("strings serialise"));
        let params = |q: &FactsQuery| -> Vec<rusqlite::types::Value> {
            let mut p: Vec<rusqlite::types::Value> = vec![
                q.grain.as_str().to_string().into(),
                q.from.into(),
                q.to.into(),
                q.dim.clone().into(),
                q.key_param().into(),
                json(&q.offices).into(),
                json(&q.keys).into(),
            ];
            p.extend(q.params_coarse().into_iter().flatten().map(rusqlite::types::Value::from));
            p
        };
        // A ranked read: the top keys from the narrow index first, then
        // the full sums of those keys only.
        let ranked = if q.ranked() {
            let mut st = tx.prepare_cached(&q.rank_sql(false))?;
            let mut rows = st.query(rusqlite::params_from_iter(params(q)))?;
            // Rows come in key order within a period: runs of one key are
            // summed here, the rest by `top_keys`.
            let mut ranks: Vec<(String, f64, f64)> = Vec::new();
            while let Some(r) = rows.next()? {
                let key = r.get_ref(0)?.as_str().map_err(|e| StoreError::Corrupt(format!("facts key: {e}")))?;
                let f = r.get::<_, f64>(1)? + r.get::<_, f64>(2)? + r.get::<_, f64>(3)? + r.get::<_, f64>(4)?;
                let d = r.get::<_, f64>(5)?;
                match ranks.last_mut() {
                    Some(last) if last.0 == key => (last.1, last.2) = (last.1 + f, last.2 + d),
                    _ => ranks.push((key.to_string(), f, d)),
                }
            }
            let (keys, groups) = facts::top_keys(ranks, &tail, q);
            Some((FactsQuery { keys: Some(keys), ..q.clone() }, groups))
        } else {
            None
        };
        let (q, groups) = match &ranked {
            Some((q, groups)) => (q, Some(*groups)),
            None => (q, None),
        };
        let mut stored = facts::FactRows::default();
        {
            let mut st = tx.prepare_cached(&q.sql(tail.is_empty(), false))?;
            let mut rows = st.query(rusqlite::params_from_iter(params(q)))?;
            while let Some(r) = rows.next()? {
                stored.rows.push((r.get::<_, String>(0)?, Facts::read(r, 1)?));
                stored.groups = r.get::<_, i64>(1 + Facts::COLUMNS.len())? as usize;
            }
        }
        tx.commit()?;
        let mut answer = facts::answer(stored, &tail, q);
        answer.groups = groups.unwrap_or(answer.groups);
        Ok(answer)
    }

    fn history(&self, from: Option<i64>, to: Option<i64>, f: &mut dyn FnMut(HistoryRow)) -> Result<()> {
        let mut st = self.conn.prepare(
            "SELECT d.seq, d.body, c.body, d.released_at FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq AND c.decided_at = d.decided_at
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
            let decision = decision_of(r.get(2)?)?;
            let outcomes = by_decl.remove(&seq).unwrap_or_default();
            f(HistoryRow { declaration, decision, outcomes, released_at: r.get(3)? });
        }
        Ok(())
    }
    fn load_bus_epoch(&self) -> Result<Option<(i64, Vec<u8>)>> {
        bus::load_bus_epoch(&self.conn)
    }

    fn init_bus_epoch(&mut self, body: &[u8], replace: bool) -> Result<bool> {
        bus::init_bus_epoch(&mut self.conn, body, replace)
    }

    fn insert_webhook(&mut self, hook: &Webhook, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            bus::insert_webhook(tx, hook)?;
            Ok(())
        })
    }

    fn webhooks(&self) -> Result<Vec<Webhook>> {
        bus::webhooks(&self.conn)
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
        bus::enqueue_deliveries(&mut self.conn, events, now)
    }

    fn claim_deliveries(&mut self, now: i64, lease: i64, limit: usize) -> Result<Vec<Delivery>> {
        bus::claim_deliveries(&mut self.conn, now, lease, limit)
    }

    fn record_delivery_attempt(&mut self, id: i64, attempt: &DeliveryAttempt) -> Result<()> {
        bus::record_delivery_attempt(&self.conn, id, attempt)
    }

    fn deliveries(&self, hook: Option<&str>, limit: usize) -> Result<Vec<Delivery>> {
        bus::deliveries(&self.conn, hook, limit)
    }

    fn insert_note(&mut self, n: &Note, action: &Action) -> Result<i64> {
        let tx = self.conn.transaction()?;
        let id: i64 = tx.query_row(
            rows::INSERT_NOTE,
            params![n.subject, n.at, n.author, n.department, n.text, n.watch_list],
            |r| r.get(0),
        )?;
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(id)
    }

    fn notes(&self, subject: &str) -> Result<Vec<Note>> {
        all(&self.conn, rows::NOTES, [subject], rows::note)
    }

    fn insert_case(&mut self, c: &Case, action: &Action) -> Result<i64> {
        let tx = self.conn.transaction()?;
        let id = Self::insert_case_tx(&tx, c, action)?;
        tx.commit()?;
        Ok(id)
    }

    fn insert_cases(&mut self, cases: &[(Case, Action)], then: &dyn Fn(&[i64]) -> Action) -> Result<Vec<i64>> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let mut ids = Vec::with_capacity(cases.len());
        for (c, a) in cases {
            ids.push(Self::insert_case_tx(&tx, c, a)?);
        }
        Self::append_action_tx(&tx, &then(&ids))?;
        tx.commit()?;
        Ok(ids)
    }

    fn update_case(&mut self, c: &Case, action: &Action) -> Result<()> {
        let tx = self.conn.transaction()?;
        let changed = tx.execute(
            rows::UPDATE_CASE,
            params![
                c.id,
                i64::from(c.version),
                c.department,
                c.office,
                c.status.as_str(),
                c.due_at.timestamp(),
                c.updated_at.timestamp(),
                i64::from(c.version) - 1,
                json(c)
            ],
        )?;
        if changed == 0 {
            return Err(crate::stale_case(c.id));
        }
        Self::append_action_tx(&tx, &rows::case_action(action, c.id))?;
        tx.commit()?;
        Ok(())
    }

    fn case(&self, id: i64) -> Result<Option<Case>> {
        Ok(all(&self.conn, rows::CASE, [id], rows::case)?.pop())
    }

    fn cases(&self, q: &CaseQuery) -> Result<Vec<Case>> {
        all(&self.conn, rows::CASES, rusqlite::params_from_iter(rows::case_filter(q)), rows::case)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No other connection writes between an action-log append's read of
    /// the chain's head and its insert: the append holds the write lock from
    /// its first statement on.
    #[test]
    fn an_action_log_append_holds_the_write_lock_from_its_start() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let other = Connection::open(dir.path().join("riskgate.db")).unwrap();
        other.busy_timeout(std::time::Duration::ZERO).unwrap();
        let action = Action {
            at: chrono::DateTime::parse_from_rfc3339("2026-03-01T09:00:00+08:00").unwrap(),
            actor: "alice".into(),
            office: None,
            action: "actions_read".into(),
            target: "action_log".into(),
            before: None,
            after: None,
            reason: None,
        };
        store
            .with_action(&action, |_| {
                let e = other.execute("INSERT INTO settings (key, value) VALUES ('x', 'y')", []);
                assert!(e.is_err(), "another connection wrote inside the append's transaction");
                Ok(())
            })
            .unwrap();
        other.execute("INSERT INTO settings (key, value) VALUES ('x', 'y')", []).unwrap();
        assert_eq!(store.verify_actions().unwrap(), None);
        assert_eq!(store.actions(5).unwrap().len(), 1);
    }
}
