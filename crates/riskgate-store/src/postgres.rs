//! The PostgreSQL store for national deployments: the same `Store`
//! semantics as `SqliteStore` (idempotency, hash-chained action log, one
//! transaction per batch, one event sequence for replay) on a server that
//! many processes share.
//!
//! Connections come from an `r2d2` pool (`reopen` takes another one from
//! the same pool). Batches are written with one `INSERT … SELECT FROM
//! UNNEST($arrays)` per table, so a batch of 1,000 declarations costs a
//! handful of round trips rather than thousands.
//!
//! **Async callers:** the `postgres` client is synchronous and runs its own
//! small Tokio runtime per connection; calling it from a thread that is
//! already inside a Tokio runtime panics ("Cannot start a runtime from
//! within a runtime"). An async caller (HTTP server, NATS worker) must call
//! the store from `tokio::task::spawn_blocking` or a thread of its own.
//!
//! Writers of events (declarations, outcomes) lock the `events` row of
//! `counters` for the whole transaction: like SQLite's `BEGIN IMMEDIATE`,
//! this makes the seq order the commit order, so a checkpoint taken at seq N
//! never misses an event with a smaller seq committed later.

use std::cell::RefCell;
use std::collections::{HashMap, HashSet};

use postgres::fallible_iterator::FallibleIterator;
use postgres::types::ToSql;
use postgres::{NoTls, Row, Transaction};
use r2d2_postgres::PostgresConnectionManager;
use riskgate_core::{
    Case, CaseQuery, Decision, Declaration, Enterprise, ForexPayment, Office, Officer, Outcome, OutcomeKeys, Release,
    Source, TaxInvoice, WorkforceRecord,
};

mod accounts;
mod committees;

use crate::facts::{self, Facts, FactsQuery};
use crate::migrations::{Dialect, MIGRATIONS, render};
pub(crate) use crate::policy::decode;
use crate::policy::{self, decision_of, json};
use crate::rows::{self, ACTION_COLUMNS, Columns, DELIVERY_COLUMNS, MODEL_COLUMNS, TASK_COLUMNS, dollars};
use crate::{
    Action, ControlRecord, ControlTask, Delivery, DeliveryAttempt, DriftQuery, DriftRows, Event, HistoryRow,
    LoggedAction, ModelRecord, NewDecision, NewDelivery, Note, OutcomeStored, Override, OverrideDone, Result,
    RiskLevelRecord, RuleRecord, RuleStats, Store, StoreError, StoredDeclaration, TaskMark, TimelineRow, Webhook,
    chain_hash,
};

type Pool = r2d2::Pool<PostgresConnectionManager<NoTls>>;
type Conn = r2d2::PooledConnection<PostgresConnectionManager<NoTls>>;

/// Tables partitioned by month, with their partition key.
pub const PARTITIONED: &[(&str, &str)] = &[("decisions", "decided_at"), ("action_log", "at")];

/// Connections one process keeps at most (one per store handle, plus one
/// for each streaming read in progress).
const POOL_SIZE: u32 = 16;

/// The facts units' marks (the last event each unit holds, facts.rs),
/// share-locked.
const FACTS_MARKS_SHARED: &str = "SELECT name, value FROM counters WHERE name LIKE 'facts:%' FOR SHARE";

/// Reads for the facts fold inside a transaction.
struct TxReader<'a, 'b>(RefCell<&'a mut Transaction<'b>>);

impl facts::Reader for TxReader<'_, '_> {
    fn each(&self, sql: &str, params: &[i64], f: &mut dyn FnMut(&dyn Columns) -> Result<()>) -> Result<()> {
        let mut tx = self.0.borrow_mut();
        let p: Vec<&(dyn ToSql + Sync)> = params.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        let mut rows = tx.query_raw(&dollars(sql), p)?;
        while let Some(r) = rows.next()? {
            f(&r)?;
        }
        Ok(())
    }
}

/// Adds deltas to the facts table.
fn apply_facts(tx: &mut Transaction<'_>, deltas: &HashMap<facts::FactKey, Facts>) -> Result<()> {
    if deltas.is_empty() {
        return Ok(());
    }
    // One statement per 5,000 rows, every column as an array (a round trip
    // per row made a catch-up of millions of events take hours); the keys
    // of a delta map are distinct, as ON CONFLICT requires.
    let n = Facts::COLUMNS.len();
    let cols = Facts::COLUMNS.join(", ");
    let arrays: Vec<String> = (0..n).map(|i| format!("${}::float8[]", i + 6)).collect();
    let sets: Vec<String> = Facts::COLUMNS.iter().map(|c| format!("{c} = facts.{c} + excluded.{c}")).collect();
    let sql = format!(
        "INSERT INTO facts (dim, grain, period, office, key, {cols})
         SELECT * FROM UNNEST($1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], {})
         ON CONFLICT (dim, grain, period, office, key) DO UPDATE SET {}",
        arrays.join(", "),
        sets.join(", ")
    );
    let st = tx.prepare(&sql)?;
    let rows: Vec<(&facts::FactKey, &Facts)> = deltas.iter().collect();
    for chunk in rows.chunks(5_000) {
        let dims: Vec<&str> = chunk.iter().map(|(k, _)| k.dim.as_str()).collect();
        let grains: Vec<&str> = chunk.iter().map(|(k, _)| k.grain.as_str()).collect();
        let periods: Vec<i64> = chunk.iter().map(|(k, _)| k.period).collect();
        let offices: Vec<&str> = chunk.iter().map(|(k, _)| k.office.as_str()).collect();
        let keys: Vec<&str> = chunk.iter().map(|(k, _)| k.key.as_str()).collect();
        let values: Vec<Vec<f64>> = chunk.iter().map(|(_, f)| f.values()).collect();
        let columns: Vec<Vec<f64>> = (0..n).map(|i| values.iter().map(|v| v[i]).collect()).collect();
        let mut p: Vec<&(dyn ToSql + Sync)> = vec![&dims, &grains, &periods, &offices, &keys];
        p.extend(columns.iter().map(|c| c as &(dyn ToSql + Sync)));
        tx.execute(&st, &p)?;
    }
    Ok(())
}

pub struct PgStore {
    pool: Pool,
    conn: RefCell<Conn>,
    schema: Option<String>,
    /// (table, month start) partitions known to exist.
    months: HashSet<(&'static str, i64)>,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore").field("schema", &self.schema).finish()
    }
}

/// Sets the schema on every new pooled connection.
#[derive(Debug)]
struct SearchPath(String);

impl r2d2::CustomizeConnection<postgres::Client, postgres::Error> for SearchPath {
    fn on_acquire(&self, conn: &mut postgres::Client) -> Result<(), postgres::Error> {
        conn.batch_execute(&format!("SET search_path TO {}", quote_ident(&self.0)))
    }
}

fn quote_ident(s: &str) -> String {
    format!("\"{}\"", s.replace('"', "\"\""))
}

/// Every row of a query, each mapped by one of `rows`' functions.
pub(crate) fn all<T>(
    conn: &mut Conn,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
    map: impl Fn(&dyn Columns) -> Result<T>,
) -> Result<Vec<T>> {
    conn.query(sql, params)?.iter().map(|r| map(r)).collect()
}

/// Start (seconds, UTC) of the calendar month holding `ts`.
fn month_start(ts: i64) -> i64 {
    use chrono::Datelike;
    let d = chrono::DateTime::from_timestamp(ts, 0).unwrap_or_default().date_naive();
    let first = chrono::NaiveDate::from_ymd_opt(d.year(), d.month(), 1).expect("valid date");
    first.and_hms_opt(0, 0, 0).expect("valid time").and_utc().timestamp()
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

/// Locks the event sequence for this transaction; returns the next seq.
fn lock_events(tx: &mut Transaction<'_>) -> Result<i64> {
    let r = tx.query_one("SELECT value FROM counters WHERE name = 'events' FOR UPDATE", &[])?;
    Ok(r.get::<_, i64>(0) + 1)
}

fn set_events(tx: &mut Transaction<'_>, last: i64) -> Result<()> {
    tx.execute("UPDATE counters SET value = $1 WHERE name = 'events'", &[&last])?;
    Ok(())
}

/// Columns of the `declarations` table, one vector each, for UNNEST.
#[derive(Default)]
struct DeclColumns {
    seq: Vec<i64>,
    id: Vec<String>,
    declared_at: Vec<i64>,
    tz: Vec<i64>,
    office: Vec<String>,
    direction: Vec<String>,
    mode: Vec<String>,
    trader: Vec<String>,
    declarant: Vec<String>,
    value: Vec<f64>,
    released: Vec<Option<i64>>,
    body: Vec<String>,
    trade_mode: Vec<String>,
    decided: Vec<Option<i64>>,
    items: ItemColumns,
}

#[derive(Default)]
struct ItemColumns {
    decl: Vec<i64>,
    line: Vec<i64>,
    hs: Vec<String>,
    origin: Vec<String>,
    quantity: Vec<f64>,
    weight: Vec<f64>,
    value: Vec<f64>,
    duty: Vec<f64>,
}

impl DeclColumns {
    /// `decided`: the time of its decision (the decisions table's partition
    /// key); none for a declaration stored as history.
    fn push(&mut self, seq: i64, d: &Declaration, decided: Option<i64>, released: Option<i64>, body: String) {
        self.seq.push(seq);
        self.decided.push(decided);
        self.id.push(d.id.clone());
        self.declared_at.push(d.declared_at.timestamp());
        self.tz.push(i64::from(d.declared_at.offset().local_minus_utc()));
        self.office.push(d.office.clone());
        self.direction.push(d.direction.as_str().to_string());
        self.mode.push(d.transport_mode.as_str().to_string());
        self.trader.push(d.trader.id.clone());
        self.declarant.push(d.declarant.id.clone());
        self.value.push(d.total_value_cny());
        self.released.push(released);
        self.body.push(body);
        self.trade_mode.push(d.trade_mode.clone());
        let it = &mut self.items;
        for i in &d.items {
            it.decl.push(seq);
            it.line.push(i64::from(i.line));
            it.hs.push(i.hs_code.clone());
            it.origin.push(i.origin.clone());
            it.quantity.push(i.quantity);
            it.weight.push(i.net_weight_kg);
            it.value.push(i.value);
            it.duty.push(i.duty_rate);
        }
    }

    fn insert(&self, tx: &mut Transaction<'_>, historical: bool) -> Result<()> {
        if self.seq.is_empty() {
            return Ok(());
        }
        tx.execute(
            "INSERT INTO declarations (seq, id, declared_at, tz, office, direction, transport_mode, trader, declarant,
                                       value_cny, historical, released_at, body, trade_mode, decided_at)
             SELECT s, i, da, tz, o, di, m, t, de, v, $13, r, b, tm, dc
             FROM UNNEST($1::bigint[], $2::text[], $3::bigint[], $4::bigint[], $5::text[], $6::text[], $7::text[],
                         $8::text[], $9::text[], $10::float8[], $11::bigint[], $12::text[], $14::text[], $15::bigint[])
                  AS x(s, i, da, tz, o, di, m, t, de, v, r, b, tm, dc)",
            &[
                &self.seq,
                &self.id,
                &self.declared_at,
                &self.tz,
                &self.office,
                &self.direction,
                &self.mode,
                &self.trader,
                &self.declarant,
                &self.value,
                &self.released,
                &self.body,
                &historical,
                &self.trade_mode,
                &self.decided,
            ],
        )?;
        let it = &self.items;
        tx.execute(
            "INSERT INTO items (decl, line, hs_code, origin, quantity, net_weight_kg, value, duty_rate)
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::float8[], $6::float8[],
                                  $7::float8[], $8::float8[])",
            &[&it.decl, &it.line, &it.hs, &it.origin, &it.quantity, &it.weight, &it.value, &it.duty],
        )?;
        Ok(())
    }
}

impl PgStore {
    /// Connects to `url` (`postgres://user@host:port/db`) and migrates the
    /// default schema (the connection's `search_path`).
    pub fn open(url: &str) -> Result<Self> {
        Self::open_in_schema(url, None)
    }

    /// As `open`, inside `schema` (created if absent): separate stores in
    /// one database, e.g. one per test or per benchmark run.
    pub fn open_in_schema(url: &str, schema: Option<&str>) -> Result<Self> {
        let mut config: postgres::Config =
            url.parse().map_err(|e| StoreError::Unavailable(format!("--database-url: not a PostgreSQL URL: {e}")))?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(std::time::Duration::from_secs(5));
        }
        // No JIT: the store's statements are short look-ups and batch
        // writes. With estimates off (a table not yet analysed) the planner
        // JIT-compiled a worker's catch-up of 500 events, 0.7 s each time
        // for a 4 ms query (session 17). Options in the URL come first.
        let options = match config.get_options() {
            Some(o) if !o.is_empty() => format!("{o} -c jit=off"),
            _ => "-c jit=off".to_string(),
        };
        config.options(&options);
        // One direct connection first: a clear error at once when the server
        // is not there (the pool would retry until its timeout).
        let mut c = config.connect(NoTls).map_err(|e| {
            StoreError::Unavailable(format!("cannot connect to PostgreSQL at {}: {}", redact(url), pg_message(&e)))
        })?;
        if let Some(s) = schema {
            c.batch_execute(&format!("CREATE SCHEMA IF NOT EXISTS {}", quote_ident(s)))?;
        }
        drop(c);
        let manager = PostgresConnectionManager::new(config, NoTls);
        let mut builder = r2d2::Pool::builder()
            .max_size(POOL_SIZE)
            .min_idle(Some(0))
            .connection_timeout(std::time::Duration::from_secs(10));
        if let Some(s) = schema {
            builder = builder.connection_customizer(Box::new(SearchPath(s.to_string())));
        }
        let pool = builder
            .build(manager)
            .map_err(|e| StoreError::Unavailable(format!("cannot connect to PostgreSQL at {}: {e}", redact(url))))?;
        let conn = pool.get()?;
        let mut s =
            PgStore { pool, conn: RefCell::new(conn), schema: schema.map(str::to_string), months: HashSet::new() };
        s.migrate()?;
        Ok(s)
    }

    /// Whether a PostgreSQL server answers at `url` (one connection, closed).
    pub fn ping(url: &str) -> Result<()> {
        let mut config: postgres::Config =
            url.parse().map_err(|e| StoreError::Unavailable(format!("not a PostgreSQL URL: {e}")))?;
        config.connect_timeout(std::time::Duration::from_secs(3));
        let mut c = config.connect(NoTls).map_err(|e| {
            StoreError::Unavailable(format!("cannot connect to PostgreSQL at {}: {}", redact(url), pg_message(&e)))
        })?;
        c.simple_query("")?;
        Ok(())
    }

    /// Drops a schema made by `open_in_schema` with everything in it.
    pub fn drop_schema(url: &str, schema: &str) -> Result<()> {
        let config: postgres::Config =
            url.parse().map_err(|e| StoreError::Unavailable(format!("--database-url: not a PostgreSQL URL: {e}")))?;
        let mut c = config.connect(NoTls)?;
        c.batch_execute(&format!("DROP SCHEMA IF EXISTS {} CASCADE", quote_ident(schema)))?;
        Ok(())
    }

    /// Applied migration versions, in order.
    pub fn migration_versions(&self) -> Result<Vec<u32>> {
        let rows = self.conn.borrow_mut().query("SELECT version FROM schema_migrations ORDER BY version", &[])?;
        Ok(rows.iter().map(|r| u32::try_from(r.get::<_, i64>(0)).unwrap_or(0)).collect())
    }

    /// Applies the migrations not yet applied, each in its own transaction,
    /// one process at a time (advisory lock).
    fn migrate(&mut self) -> Result<()> {
        let mut conn = self.conn.borrow_mut();
        let mut tx = conn.transaction()?;
        tx.batch_execute(
            "SELECT pg_advisory_xact_lock(hashtext('riskgate_migrate'));
             CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied_at BIGINT NOT NULL)",
        )?;
        let done: HashSet<i64> =
            tx.query("SELECT version FROM schema_migrations", &[])?.iter().map(|r| r.get(0)).collect();
        for (v, sql) in MIGRATIONS {
            let v = i64::from(*v);
            if done.contains(&v) {
                continue;
            }
            tx.batch_execute(&render(sql, Dialect::Postgres))
                .map_err(|e| StoreError::Unavailable(format!("PostgreSQL migration {v}: {}", pg_message(&e))))?;
            tx.execute(
                "INSERT INTO schema_migrations (version, applied_at) VALUES ($1, extract(epoch FROM now())::bigint)",
                &[&v],
            )?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Creates the month partitions of every partitioned table for `ts`
    /// (e.g. now and next month, ahead of time).
    pub fn ensure_months(&mut self, ts: i64) -> Result<()> {
        for (table, _) in PARTITIONED {
            self.ensure_month(table, ts)?;
        }
        Ok(())
    }

    /// Makes sure the month partition of `table` holding `ts` exists
    /// (outside any batch transaction, so its lock is short).
    fn ensure_month(&mut self, table: &'static str, ts: i64) -> Result<()> {
        let m = month_start(ts);
        if self.months.contains(&(table, m)) {
            return Ok(());
        }
        self.conn.get_mut().execute("SELECT riskgate_ensure_month($1, $2)", &[&table, &m])?;
        self.months.insert((table, m));
        Ok(())
    }

    /// Partitions of the partitioned tables with their row counts.
    pub fn partitions(&self) -> Result<Vec<(String, i64)>> {
        let mut out = Vec::new();
        let mut conn = self.conn.borrow_mut();
        for (table, _) in PARTITIONED {
            let parts = conn.query(
                "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                 WHERE i.inhparent = $1::text::regclass ORDER BY c.relname",
                &[table],
            )?;
            for p in parts {
                let name: String = p.get(0);
                let n: i64 = conn.query_one(&format!("SELECT COUNT(*) FROM {}", quote_ident(&name)), &[])?.get(0);
                out.push((name, n));
            }
        }
        Ok(out)
    }

    fn append_action_tx(tx: &mut Transaction<'_>, a: &Action) -> Result<()> {
        tx.query_one("SELECT value FROM counters WHERE name = 'actions' FOR UPDATE", &[])?;
        let (seq, prev): (i64, String) = tx
            .query_opt("SELECT seq, hash FROM action_log ORDER BY seq DESC LIMIT 1", &[])?
            .map(|r| (r.get(0), r.get(1)))
            .unwrap_or((0, "genesis".to_string()));
        let seq = seq + 1;
        let a = &policy::normalised(a);
        let hash = chain_hash(&prev, seq, a);
        tx.execute(
            &dollars(rows::INSERT_ACTION),
            &[
                &seq,
                &a.at.timestamp(),
                &a.actor,
                &a.office,
                &a.action,
                &a.target,
                &a.before.as_ref().map(json),
                &a.after.as_ref().map(json),
                &a.reason,
                &prev,
                &hash,
            ],
        )?;
        tx.execute("UPDATE counters SET value = $1 WHERE name = 'actions'", &[&seq])?;
        Ok(())
    }

    /// A new case with its `case_open` entry, inside `tx` (the action log's
    /// month partition made beforehand); returns its id.
    fn insert_case_tx(tx: &mut Transaction<'_>, c: &Case, action: &Action) -> Result<i64> {
        let row = tx.query_one(
            &dollars(rows::INSERT_CASE),
            &[
                &i64::from(c.version),
                &c.kind.as_str(),
                &c.department,
                &c.office,
                &c.status.as_str(),
                &c.declaration_id,
                &c.enterprise,
                &c.due_at.timestamp(),
                &c.updated_at.timestamp(),
                &"",
            ],
        )?;
        let id: i64 = row.try_get(0)?;
        tx.execute(&dollars(rows::CASE_BODY), &[&id, &json(&Case { id, ..c.clone() })])?;
        Self::append_action_tx(tx, &rows::case_action(action, id))?;
        Ok(id)
    }

    /// Runs `f` in one transaction that ends with `action` appended to the log.
    fn with_action(&mut self, action: &Action, f: impl FnOnce(&mut Transaction<'_>) -> Result<()>) -> Result<()> {
        self.ensure_month("action_log", action.at.timestamp())?;
        let conn = self.conn.get_mut();
        let mut tx = conn.transaction()?;
        f(&mut tx)?;
        Self::append_action_tx(&mut tx, action)?;
        tx.commit()?;
        Ok(())
    }

    /// Runs one prepared statement per row in a single transaction.
    fn write_rows<T>(
        &mut self,
        sql: &str,
        rows: &[T],
        bind: impl Fn(&mut Transaction<'_>, &postgres::Statement, &T) -> Result<u64, postgres::Error>,
    ) -> Result<()> {
        let conn = self.conn.get_mut();
        let mut tx = conn.transaction()?;
        let st = tx.prepare(sql)?;
        for r in rows {
            bind(&mut tx, &st, r)?;
        }
        tx.commit()?;
        Ok(())
    }

    /// Streams the rows of a read-only query on a connection of its own
    /// (the callback may use this store meanwhile).
    fn stream(&self, sql: &str, params: &[&(dyn ToSql + Sync)], f: &mut dyn FnMut(&Row) -> Result<()>) -> Result<()> {
        let mut conn = self.pool.get()?;
        let mut tx = conn.transaction()?;
        let mut rows = tx.query_raw(sql, params.iter().copied())?;
        while let Some(r) = rows.next()? {
            f(&r)?;
        }
        drop(rows);
        tx.commit()?;
        Ok(())
    }
}

/// The URL without its password, for messages.
fn redact(url: &str) -> String {
    match (url.find("://"), url.find('@')) {
        (Some(s), Some(at)) if at > s => {
            let creds = &url[s + 3..at];
            match creds.split_once(':') {
                Some((user, _)) => format!("{}{user}:***{}", &url[..s + 3], &url[at..]),
                None => url.to_string(),
            }
        }
        _ => url.to_string(),
    }
}

/// A PostgreSQL error as one line: the server's message and detail.
pub(crate) fn pg_message(e: &postgres::Error) -> String {
    match e.as_db_error() {
        Some(db) => {
            let mut s = format!("{}: {}", db.severity(), db.message());
            if let Some(d) = db.detail() {
                s.push_str(&format!(" ({d})"));
            }
            s
        }
        None => {
            let mut s = e.to_string();
            let mut src = std::error::Error::source(e);
            while let Some(x) = src {
                s.push_str(&format!(": {x}"));
                src = x.source();
            }
            s
        }
    }
}

impl Store for PgStore {
    fn backend(&self) -> &'static str {
        "postgres"
    }

    fn reopen(&self) -> Result<Box<dyn Store>> {
        Ok(Box::new(PgStore {
            pool: self.pool.clone(),
            conn: RefCell::new(self.pool.get()?),
            schema: self.schema.clone(),
            months: self.months.clone(),
        }))
    }

    fn upsert_offices(&mut self, rows: &[Office]) -> Result<()> {
        let conn = self.conn.get_mut();
        let mut tx = conn.transaction()?;
        // The mark's row first: folds and releases wait until the tree
        // and the aggregates agree again.
        tx.execute("SELECT value FROM counters WHERE name LIKE 'facts:%' FOR UPDATE", &[])?;
        // A changed tree empties the aggregates for the fold to rebuild, in
        // the same transaction.
        if facts::tree_changes(&TxReader(RefCell::new(&mut tx)), rows)? {
            tx.batch_execute(facts::RESET)?;
        }
        let st = tx.prepare(&dollars(rows::UPSERT_OFFICE))?;
        for o in rows {
            tx.execute(&st, &[&o.code, &o.name, &o.parent, &o.level.as_str()])?;
        }
        tx.commit()?;
        Ok(())
    }

    fn offices(&self) -> Result<Vec<Office>> {
        all(&mut self.conn.borrow_mut(), rows::OFFICES, &[], rows::office)
    }

    fn upsert_officers(&mut self, rows: &[Officer]) -> Result<()> {
        self.write_rows(&dollars(rows::UPSERT_OFFICER), rows, |tx, st, o| {
            tx.execute(st, &[&o.id, &o.office, &o.post, &json(o)])
        })?;
        self.conn.get_mut().execute(rows::BUMP_REGISTRY, &[])?;
        Ok(())
    }

    fn officers(&self) -> Result<Vec<Officer>> {
        all(&mut self.conn.borrow_mut(), rows::OFFICERS, &[], rows::body(Officer::from_json))
    }

    fn upsert_enterprises(&mut self, rows: &[Enterprise]) -> Result<()> {
        self.write_rows(&dollars(rows::UPSERT_ENTERPRISE), rows, |tx, st, e| {
            tx.execute(st, &[&e.id, &e.credit_class.as_str(), &json(e)])
        })
    }

    fn enterprises(&self) -> Result<Vec<Enterprise>> {
        all(&mut self.conn.borrow_mut(), rows::ENTERPRISES, &[], rows::body(Enterprise::from_json))
    }

    fn insert_forex(&mut self, rows: &[ForexPayment]) -> Result<()> {
        let trader: Vec<&str> = rows.iter().map(|p| p.trader.as_str()).collect();
        let paid: Vec<i64> = rows.iter().map(|p| p.paid_at.timestamp()).collect();
        let amount: Vec<f64> = rows.iter().map(ForexPayment::amount_cny).collect();
        let reference: Vec<Option<&str>> = rows.iter().map(|p| p.reference.as_deref()).collect();
        let body: Vec<String> = rows.iter().map(json).collect();
        self.conn.get_mut().execute(
            "INSERT INTO forex (trader, paid_at, amount_cny, reference, body)
             SELECT t, p, a, r, b FROM UNNEST($1::text[], $2::bigint[], $3::float8[], $4::text[], $5::text[])
                  WITH ORDINALITY AS x(t, p, a, r, b, n) ORDER BY n",
            &[&trader, &paid, &amount, &reference, &body],
        )?;
        Ok(())
    }

    fn money_flow(
        &self,
        from: i64,
        to: i64,
        offices: Option<&[String]>,
        trader: Option<&str>,
    ) -> Result<crate::FlowSums> {
        let rows = all(&mut self.conn.borrow_mut(), &dollars(rows::MONEY_FLOW), &[&from, &to], rows::flow_row)?;
        Ok(rows::flow_sums(rows, offices, trader))
    }

    fn referenced_imports(
        &self,
        from: i64,
        to: i64,
        paid_from: i64,
    ) -> Result<(Vec<crate::ReferencedImport>, Vec<crate::ReferencedPayment>)> {
        let conn = &mut self.conn.borrow_mut();
        let lines = all(conn, &dollars(rows::REFERENCED_IMPORTS_POSTGRES), &[&from, &to], rows::line_rows(true))?;
        Ok((
            rows::referenced_imports(lines),
            all(conn, &dollars(rows::REFERENCED_PAYMENTS), &[&paid_from], rows::referenced_payment)?,
        ))
    }

    fn forex(&self) -> Result<Vec<ForexPayment>> {
        all(&mut self.conn.borrow_mut(), rows::FOREX, &[], rows::body(ForexPayment::from_json))
    }

    fn insert_invoices(&mut self, rows: &[TaxInvoice]) -> Result<()> {
        let trader: Vec<&str> = rows.iter().map(|p| p.trader.as_str()).collect();
        let issued: Vec<i64> = rows.iter().map(|p| p.issued_at.timestamp()).collect();
        let amount: Vec<f64> = rows.iter().map(|p| p.amount_cny).collect();
        let body: Vec<String> = rows.iter().map(json).collect();
        self.conn.get_mut().execute(
            "INSERT INTO invoices (trader, issued_at, amount_cny, body)
             SELECT t, i, a, b FROM UNNEST($1::text[], $2::bigint[], $3::float8[], $4::text[])
                  WITH ORDINALITY AS x(t, i, a, b, n) ORDER BY n",
            &[&trader, &issued, &amount, &body],
        )?;
        Ok(())
    }

    fn invoiced_imports(
        &self,
        issued_from: i64,
        issued_to: i64,
        declared_from: i64,
        declared_to: i64,
    ) -> Result<(Vec<crate::ImportLines>, Vec<TaxInvoice>)> {
        let conn = &mut self.conn.borrow_mut();
        Ok((
            rows::import_lines(all(
                conn,
                &dollars(rows::INVOICED_IMPORTS),
                &[&issued_from, &issued_to, &declared_from, &declared_to],
                rows::line_rows(false),
            )?),
            all(conn, &dollars(rows::INVOICES_ISSUED), &[&issued_from, &issued_to], rows::body(TaxInvoice::from_json))?,
        ))
    }

    fn insert_workforce(&mut self, rows: &[WorkforceRecord]) -> Result<Vec<bool>> {
        let conn = self.conn.get_mut();
        let mut tx = conn.transaction()?;
        let st = tx.prepare(&dollars(rows::UPSERT_WORKFORCE))?;
        let mut out = Vec::with_capacity(rows.len());
        for r in rows {
            let body = json(r);
            let (kind, officer, at, year, passed, outcome, key) = rows::workforce_columns(r, &body);
            let n = tx.execute(&st, &[&kind, &r.unit(), &officer, &at, &year, &passed, &outcome, &key, &body])?;
            out.push(n == 1);
        }
        tx.execute(rows::BUMP_REGISTRY, &[])?;
        tx.commit()?;
        Ok(out)
    }

    fn workforce(&self) -> Result<Vec<WorkforceRecord>> {
        let rows = self.conn.borrow_mut().query("SELECT body FROM workforce ORDER BY rowid", &[])?;
        rows.iter().map(|r| Ok(serde_json::from_str(&r.get::<_, String>(0))?)).collect()
    }

    fn known(&self, ids: &[&str]) -> Result<HashMap<String, Option<Decision>>> {
        const CHUNK: usize = 5_000;
        let mut out = HashMap::new();
        let mut conn = self.conn.borrow_mut();
        for chunk in ids.chunks(CHUNK) {
            let rows = conn.query(
                "SELECT d.id, c.body FROM declarations d
                 LEFT JOIN LATERAL (SELECT x.body FROM decisions x
                                    WHERE x.decl = d.seq AND x.decided_at = d.decided_at LIMIT 1) c ON true
                 WHERE d.id = ANY($1)",
                &[&chunk],
            )?;
            for r in rows {
                out.insert(r.get(0), decision_of(r.get(1))?);
            }
        }
        Ok(out)
    }

    fn commit_screened(&mut self, batch: &[NewDecision<'_>], referrals: &[(Case, Action)]) -> Result<Vec<i64>> {
        if batch.is_empty() && referrals.is_empty() {
            return Ok(Vec::new());
        }
        for rec in batch {
            self.ensure_month("decisions", rec.screened.decision.decided_at.timestamp())?;
        }
        for (_, a) in referrals {
            self.ensure_month("action_log", a.at.timestamp())?;
        }
        let conn = self.conn.get_mut();
        let mut tx = conn.transaction()?;
        let mut seq = lock_events(&mut tx)?;
        let mut decls = DeclColumns::default();
        let (mut c_decl, mut c_at, mut c_office, mut c_channel) = (vec![], vec![], vec![], vec![]);
        let (mut c_value, mut c_level, mut c_source, mut c_random) = (vec![], vec![], vec![], vec![]);
        let (mut c_prop, mut c_rank, mut c_mand, mut c_body) = (vec![], vec![], vec![], vec![]);
        let (mut h_decl, mut h_rule, mut h_ver) = (vec![], vec![], vec![]);
        let (mut s_decl, mut s_model, mut s_score) = (vec![], vec![], vec![]);
        let (mut t_decl, mut t_office, mut t_channel, mut t_disp, mut t_instr, mut t_at) =
            (vec![], vec![], vec![], vec![], vec![], vec![]);
        for rec in batch {
            let (d, s) = (rec.declaration, rec.screened);
            let dec = &s.decision;
            let decided = dec.decided_at.timestamp();
            let released = (!dec.channel.is_control()).then_some(decided);
            decls.push(seq, d, Some(decided), released, rec.body.to_string());
            c_decl.push(seq);
            c_at.push(decided);
            c_office.push(dec.office.as_str());
            c_channel.push(dec.channel.as_str());
            c_value.push(dec.risk_value);
            c_level.push(dec.risk_level.as_str());
            c_source.push(dec.source.as_str());
            c_random.push(dec.random);
            c_prop.push(dec.selection_probability);
            c_rank.push(s.ranking);
            c_mand.push(dec.source == Source::Rule);
            c_body.push(rec.decision_json);
            for (id, v) in dec.rule_hits() {
                h_decl.push(seq);
                h_rule.push(id);
                h_ver.push(i64::from(v));
            }
            if let Some((model, score)) = rec.shadow {
                s_decl.push(seq);
                s_model.push(model);
                s_score.push(score);
            }
            if let Some(t) = &s.task {
                t_decl.push(seq);
                t_office.push(t.office.as_str());
                t_channel.push(t.channel.as_str());
                t_disp.push(t.disposal.as_str());
                t_instr.push(t.instructions.as_str());
                t_at.push(decided);
            }
            seq += 1;
        }
        decls.insert(&mut tx, false)?;
        tx.execute(
            "INSERT INTO decisions (decl, decided_at, office, channel, risk_value, risk_level, source, random,
                                    propensity, ranking, mandatory, body)
             SELECT * FROM UNNEST($1::bigint[], $2::bigint[], $3::text[], $4::text[], $5::float8[], $6::text[],
                                  $7::text[], $8::bool[], $9::float8[], $10::float8[], $11::bool[], $12::text[])",
            &[
                &c_decl, &c_at, &c_office, &c_channel, &c_value, &c_level, &c_source, &c_random, &c_prop, &c_rank,
                &c_mand, &c_body,
            ],
        )?;
        if !h_decl.is_empty() {
            tx.execute(
                "INSERT INTO rule_hits (decl, rule_id, version)
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::bigint[])",
                &[&h_decl, &h_rule, &h_ver],
            )?;
        }
        if !s_decl.is_empty() {
            tx.execute(
                "INSERT INTO shadow_scores (decl, model, score)
                 SELECT * FROM UNNEST($1::bigint[], $2::text[], $3::float8[])
                 ON CONFLICT (decl, model) DO UPDATE SET score = excluded.score",
                &[&s_decl, &s_model, &s_score],
            )?;
        }
        if !t_decl.is_empty() {
            tx.execute(
                "INSERT INTO control_tasks (decl, office, channel, disposal, instructions, status, opened_at)
                 SELECT d, o, c, di, i, 'open', a
                 FROM UNNEST($1::bigint[], $2::text[], $3::text[], $4::text[], $5::text[], $6::bigint[])
                      WITH ORDINALITY AS x(d, o, c, di, i, a, n) ORDER BY n",
                &[&t_decl, &t_office, &t_channel, &t_disp, &t_instr, &t_at],
            )?;
        }
        set_events(&mut tx, seq - 1)?;
        let ids = referrals.iter().map(|(c, a)| Self::insert_case_tx(&mut tx, c, a)).collect::<Result<Vec<_>>>()?;
        tx.commit()?;
        Ok(ids)
    }

    fn commit_historical(&mut self, batch: &[Declaration]) -> Result<Vec<bool>> {
        let conn = self.conn.get_mut();
        let mut tx = conn.transaction()?;
        let mut seq = lock_events(&mut tx)?;
        let ids: Vec<&str> = batch.iter().map(|d| d.id.as_str()).collect();
        // Declarations are only written under the events lock held here, so
        // what exists now is what exists at commit.
        let mut seen: HashSet<String> =
            tx.query("SELECT id FROM declarations WHERE id = ANY($1)", &[&ids])?.iter().map(|r| r.get(0)).collect();
        let mut decls = DeclColumns::default();
        let mut out = Vec::with_capacity(batch.len());
        for d in batch {
            let new = seen.insert(d.id.clone());
            out.push(new);
            if new {
                decls.push(seq, d, None, None, json(d));
                seq += 1;
            }
        }
        decls.insert(&mut tx, true)?;
        set_events(&mut tx, seq - 1)?;
        tx.commit()?;
        Ok(out)
    }

    fn declaration(&self, id: &str) -> Result<Option<StoredDeclaration>> {
        let row = self.conn.borrow_mut().query_opt(
            "SELECT d.seq, d.body, c.body, d.historical FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq AND c.decided_at = d.decided_at
             WHERE d.id = $1",
            &[&id],
        )?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(StoredDeclaration {
            seq: r.get(0),
            declaration: decode(&r.get::<_, String>(1), Declaration::from_json)?,
            decision: decision_of(r.get(2))?,
            historical: r.get(3),
        }))
    }

    fn declaration_count(&self) -> Result<u64> {
        Ok(to_u64(self.conn.borrow_mut().query_one("SELECT COUNT(*) FROM declarations", &[])?.get(0)))
    }

    fn commit_outcomes(&mut self, batch: &[Outcome]) -> Result<Vec<OutcomeStored>> {
        let conn = self.conn.get_mut();
        let mut tx = conn.transaction()?;
        let mut seq = lock_events(&mut tx)?;
        let ids: Vec<&str> = batch.iter().map(|o| o.declaration_id.as_str()).collect();
        let mut found: HashMap<String, (i64, String, Option<bool>)> = HashMap::new();
        for r in tx.query(
            "SELECT d.id, d.seq, d.body, c.random FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq AND c.decided_at = d.decided_at
             WHERE d.id = ANY($1)",
            &[&ids],
        )? {
            found.insert(r.get(0), (r.get(1), r.get(2), r.get(3)));
        }
        let decls: Vec<i64> = found.values().map(|v| v.0).collect();
        let mut existing: HashSet<(i64, String, i64, String)> = tx
            .query("SELECT decl, control, completed_at, officer FROM outcomes WHERE decl = ANY($1)", &[&decls])?
            .iter()
            .map(|r| (r.get(0), r.get(1), r.get(2), r.get(3)))
            .collect();
        let ins = tx.prepare(&dollars(rows::INSERT_OUTCOME))?;
        let close = tx.prepare(&dollars(rows::CLOSE_TASK))?;
        let release = tx.prepare(&dollars(rows::RELEASE))?;
        let mut out = Vec::with_capacity(batch.len());
        let mut released = Vec::new();
        for (i, o) in batch.iter().enumerate() {
            let Some((decl, body, random)) = found.get(&o.declaration_id) else {
                return Err(policy::unknown_declaration(i, &o.declaration_id));
            };
            let completed = o.completed_at.timestamp();
            if !existing.insert((*decl, o.control.as_str().to_string(), completed, o.officer.clone())) {
                out.push(OutcomeStored::Duplicate);
                continue;
            }
            let d = decode(body, Declaration::from_json)?;
            tx.execute(
                &ins,
                &[
                    &seq,
                    decl,
                    &o.officer,
                    &o.control.as_str(),
                    &completed,
                    &o.is_finding(),
                    &o.additional_duty,
                    &o.seizure,
                    &policy::smuggling(o),
                    &o.released_at.map(|t| t.timestamp()),
                    &json(o),
                ],
            )?;
            tx.execute(&close, &[decl, &completed, &o.officer, &o.control.as_str()])?;
            let releases = match o.released_at {
                Some(r) => tx.execute(&release, &[decl, &r.timestamp()])? == 1,
                None => false,
            };
            if releases {
                released.push(*decl);
            }
            seq += 1;
            out.push(OutcomeStored::Stored { keys: OutcomeKeys::of(&d, random.unwrap_or(false)), released: releases });
        }
        // The marks' rows are share-locked: a fold taking these declarations
        // waits for this transaction and then sees their releases.
        let marks = facts::Marks::read(tx.query(FACTS_MARKS_SHARED, &[])?.iter().map(|r| (r.get(0), r.get(1))))?;
        let deltas = facts::release_deltas(&TxReader(RefCell::new(&mut tx)), &released, &marks)?;
        apply_facts(&mut tx, &deltas)?;
        set_events(&mut tx, seq - 1)?;
        tx.commit()?;
        Ok(out)
    }

    fn commit_releases(&mut self, batch: &[Release]) -> Result<Vec<bool>> {
        let conn = self.conn.get_mut();
        let mut tx = conn.transaction()?;
        let ids: Vec<&str> = batch.iter().map(|r| r.declaration_id.as_str()).collect();
        let known: HashMap<String, i64> = tx
            .query("SELECT id, seq FROM declarations WHERE id = ANY($1)", &[&ids])?
            .iter()
            .map(|r| (r.get(0), r.get(1)))
            .collect();
        let st = tx.prepare(&dollars(rows::RELEASE))?;
        let mut out = Vec::with_capacity(batch.len());
        let mut released = Vec::new();
        for (i, r) in batch.iter().enumerate() {
            let Some(seq) = known.get(&r.declaration_id) else {
                return Err(policy::unknown_declaration(i, &r.declaration_id));
            };
            let done = tx.execute(&st, &[seq, &r.released_at.timestamp()])? == 1;
            if done {
                released.push(*seq);
            }
            out.push(done);
        }
        // The marks' rows are share-locked: a fold taking these declarations
        // waits for this transaction and then sees their releases.
        let marks = facts::Marks::read(tx.query(FACTS_MARKS_SHARED, &[])?.iter().map(|r| (r.get(0), r.get(1))))?;
        let deltas = facts::release_deltas(&TxReader(RefCell::new(&mut tx)), &released, &marks)?;
        apply_facts(&mut tx, &deltas)?;
        tx.commit()?;
        Ok(out)
    }

    fn open_tasks(&self, office: Option<&str>, limit: usize) -> Result<Vec<ControlTask>> {
        all(
            &mut self.conn.borrow_mut(),
            &dollars(&format!("SELECT {TASK_COLUMNS} {}", rows::OPEN_TASKS)),
            &[&office, &i64::try_from(limit).unwrap_or(i64::MAX)],
            rows::control_task,
        )
    }

    fn mark_task(&mut self, declaration_id: &str, mark: &TaskMark, action: &Action) -> Result<bool> {
        self.ensure_month("action_log", action.at.timestamp())?;
        let mut tx = self.conn.get_mut().transaction()?;
        let changed = match mark {
            TaskMark::Urgent { request, at } => {
                tx.execute(&dollars(rows::MARK_URGENT), &[&declaration_id, request, at])?
            }
            TaskMark::Escalated { at } => tx.execute(&dollars(rows::MARK_ESCALATED), &[&declaration_id, at])?,
        };
        if changed == 0 {
            return Ok(false);
        }
        Self::append_action_tx(&mut tx, action)?;
        tx.commit()?;
        Ok(true)
    }

    fn override_channel(&mut self, o: &Override) -> Result<OverrideDone> {
        policy::check_override(o)?;
        let at = o.at.timestamp();
        self.ensure_month("action_log", at)?;
        let conn = self.conn.get_mut();
        let mut tx = conn.transaction()?;
        let row = tx.query_opt(
            "SELECT d.seq, d.office, d.released_at, c.channel FROM declarations d
             LEFT JOIN decisions c ON c.decl = d.seq AND c.decided_at = d.decided_at WHERE d.id = $1 FOR UPDATE OF d",
            &[&o.declaration_id],
        )?;
        let facts = match row {
            None => None,
            Some(row) => {
                let decl: i64 = row.get(0);
                Some(policy::OverrideFacts {
                    decl,
                    office: row.get(1),
                    released_at: row.get(2),
                    engine_channel: row.get(3),
                    task: tx
                        .query_opt("SELECT channel, status FROM control_tasks WHERE decl = $1", &[&decl])?
                        .map(|r| (r.get(0), r.get(1))),
                    completed: tx.query_opt("SELECT 1 FROM outcomes WHERE decl = $1 LIMIT 1", &[&decl])?.is_some(),
                    overrides_by_officer: tx
                        .query_one(&dollars(rows::OVERRIDES_BY), &[&o.declaration_id, &o.officer])?
                        .get(0),
                })
            }
        };
        let plan = policy::plan_override(o, facts.as_ref())?;
        let policy::OverrideFacts { decl, office, .. } = facts.expect("planned overrides are of stored declarations");
        let mut released = false;
        match &plan.write {
            policy::OverrideWrite::ReopenTask => {
                tx.execute(&dollars(rows::REOPEN_TASK), &[&decl, &plan.after])?;
            }
            policy::OverrideWrite::OpenTask { instructions } => {
                tx.execute(&dollars(rows::OPEN_TASK), &[&decl, &office, &plan.after, instructions, &at])?;
            }
            policy::OverrideWrite::Release => {
                tx.execute(&dollars(rows::TASK_OVERRIDDEN), &[&decl, &at, &o.officer])?;
                released = tx.execute(&dollars(rows::RELEASE), &[&decl, &at])? == 1;
            }
        }
        Self::append_action_tx(&mut tx, &plan.action(o, &office))?;
        let log_seq: i64 = tx.query_one("SELECT value FROM counters WHERE name = 'actions'", &[])?.get(0);
        tx.commit()?;
        Ok(plan.done(o, office, released, log_seq))
    }

    fn control_records(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<ControlRecord>> {
        let mut out = Vec::new();
        self.stream(
            &dollars(rows::CONTROL_RECORDS),
            &[&from.unwrap_or(i64::MIN), &to.unwrap_or(i64::MAX)],
            &mut |r| {
                out.push(rows::control_record(r)?);
                Ok(())
            },
        )?;
        Ok(out)
    }

    fn drift_rows(&self, q: &DriftQuery<'_>) -> Result<DriftRows> {
        let office_in = |column: &str| format!("(?4::text[] IS NULL OR {column} = ANY(?4::text[]))");
        let offices: Option<Vec<String>> = q.offices.map(<[String]>::to_vec);
        let p: [&(dyn ToSql + Sync); 4] = [&q.from, &q.to, &q.new_within, &offices];
        let mut conn = self.conn.borrow_mut();
        Ok(DriftRows {
            controls: all(&mut conn, &dollars(&rows::drift_controls_sql(office_in)), &p, rows::scored_control)?,
            screened: all(&mut conn, &dollars(&rows::drift_screened_sql(office_in)), &p, rows::screened_day)?,
        })
    }

    fn last_decided_at(&self) -> Result<Option<i64>> {
        let row = self.conn.borrow_mut().query_opt(rows::LAST_DECIDED_AT, &[])?;
        Ok(row.map(|r| r.get(0)))
    }

    fn rules(&self) -> Result<Vec<RuleRecord>> {
        let rows = self.conn.borrow_mut().query("SELECT body FROM rules ORDER BY id, version", &[])?;
        rows.iter().map(|r| Ok(serde_json::from_str(&r.get::<_, String>(0))?)).collect()
    }

    fn insert_rule(&mut self, rule: &RuleRecord, action: &Action) -> Result<()> {
        let version = i64::from(rule.def.version);
        self.with_action(action, |tx| {
            if tx.query_opt("SELECT 1 FROM rules WHERE id = $1 AND version = $2", &[&rule.def.id, &version])?.is_some()
            {
                return Err(StoreError::User(format!(
                    "rule {} version {} already exists",
                    rule.def.id, rule.def.version
                )));
            }
            tx.execute(
                &dollars(rows::INSERT_RULE),
                &[
                    &rule.def.id,
                    &version,
                    &rule.status.as_str(),
                    &rule.created_by,
                    &rule.created_at,
                    &rule.approved_by,
                    &rule.approved_at,
                    &rule.retired_at,
                    &json(rule),
                ],
            )?;
            Ok(())
        })
    }

    fn set_rule_status(&mut self, id: &str, version: u32, record: &RuleRecord, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            let n = tx.execute(
                &dollars(rows::SET_RULE_STATUS),
                &[
                    &id,
                    &i64::from(version),
                    &record.status.as_str(),
                    &record.approved_by,
                    &record.approved_at,
                    &record.retired_at,
                    &json(record),
                ],
            )?;
            if n != 1 {
                return Err(StoreError::User(format!("no rule {id} version {version}")));
            }
            Ok(())
        })
    }

    fn rule_stats(&self, offices: Option<&[String]>) -> Result<Vec<RuleStats>> {
        let offices: Option<Vec<String>> = offices.map(<[String]>::to_vec);
        let mut conn = self.conn.borrow_mut();
        let recent_from: i64 = conn
            .query_one(
                "SELECT COALESCE(MIN(decl), 0)::bigint FROM (SELECT decl FROM decisions ORDER BY decl DESC LIMIT 1000) x",
                &[],
            )?
            .get(0);
        let rows = conn.query(
            "SELECT h.rule_id, h.version, COUNT(*),
                    COUNT(*) FILTER (WHERE c.channel <> 'green'),
                    COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM outcomes o WHERE o.decl = h.decl)),
                    COUNT(*) FILTER (WHERE EXISTS (SELECT 1 FROM outcomes o WHERE o.decl = h.decl AND o.finding)),
                    COALESCE(SUM((SELECT SUM(o.additional_duty) FROM outcomes o WHERE o.decl = h.decl)), 0)::float8,
                    COUNT(*) FILTER (WHERE h.decl >= $1)
             FROM rule_hits h JOIN decisions c ON c.decl = h.decl
             WHERE $2::text[] IS NULL OR c.office = ANY($2)
             GROUP BY h.rule_id, h.version ORDER BY h.rule_id, h.version",
            &[&recent_from, &offices],
        )?;
        rows.iter().map(|r| rows::rule_stats(r)).collect()
    }

    fn lists(&self) -> Result<Vec<(String, String)>> {
        let rows = self.conn.borrow_mut().query("SELECT name, value FROM lists ORDER BY name, value", &[])?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1))).collect())
    }

    fn set_list(&mut self, name: &str, values: &[String], action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            tx.execute("DELETE FROM lists WHERE name = $1", &[&name])?;
            tx.execute(
                "INSERT INTO lists (name, value) SELECT $1, v FROM UNNEST($2::text[]) AS x(v) ON CONFLICT DO NOTHING",
                &[&name, &values],
            )?;
            Ok(())
        })
    }

    fn setting(&self, key: &str) -> Result<Option<String>> {
        Ok(self.conn.borrow_mut().query_opt("SELECT value FROM settings WHERE key = $1", &[&key])?.map(|r| r.get(0)))
    }

    fn set_setting(&mut self, key: &str, value: &str, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            tx.execute(&dollars(rows::UPSERT_SETTING), &[&key, &value])?;
            Ok(())
        })
    }

    fn append_action(&mut self, action: &Action) -> Result<()> {
        self.with_action(action, |_| Ok(()))
    }

    fn actions(&self, limit: usize) -> Result<Vec<LoggedAction>> {
        let rows = self.conn.borrow_mut().query(
            &format!("SELECT {ACTION_COLUMNS} FROM action_log ORDER BY seq DESC LIMIT $1"),
            &[&i64::try_from(limit).unwrap_or(i64::MAX)],
        )?;
        rows.iter().map(|r| rows::logged_action(r)).collect()
    }

    fn actions_in(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<LoggedAction>> {
        let rows = self.conn.borrow_mut().query(
            &format!("SELECT {ACTION_COLUMNS} FROM action_log WHERE at >= $1 AND at < $2 ORDER BY seq"),
            &[&from.unwrap_or(i64::MIN), &to.unwrap_or(i64::MAX)],
        )?;
        rows.iter().map(|r| rows::logged_action(r)).collect()
    }

    fn verify_actions(&self) -> Result<Option<i64>> {
        let mut prev = "genesis".to_string();
        let mut broken = None;
        self.stream(&format!("SELECT {ACTION_COLUMNS} FROM action_log ORDER BY seq"), &[], &mut |r| {
            if broken.is_some() {
                return Ok(());
            }
            // An entry edited into something that no longer decodes is broken too.
            let Ok(l) = rows::logged_action(r) else {
                broken = Some(r.get(0));
                return Ok(());
            };
            if l.prev_hash != prev || chain_hash(&prev, l.seq, &l.action) != l.hash {
                broken = Some(l.seq);
            }
            prev = l.hash;
            Ok(())
        })?;
        Ok(broken)
    }

    fn action_hash(&self, seq: i64) -> Result<Option<String>> {
        let row = self.conn.borrow_mut().query_opt("SELECT hash FROM action_log WHERE seq = $1", &[&seq])?;
        Ok(row.map(|r| r.get(0)))
    }

    fn load_checkpoint(&self) -> Result<Option<(i64, Vec<u8>)>> {
        let row = self.conn.borrow_mut().query_opt("SELECT as_of_seq, body FROM checkpoint WHERE id = 1", &[])?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    fn save_checkpoint(&mut self, body: &[u8], as_of_seq: Option<i64>) -> Result<()> {
        self.conn.get_mut().execute(
            "INSERT INTO checkpoint (id, as_of_seq, body)
             SELECT 1, COALESCE($2, value), $1 FROM counters WHERE name = 'events'
             ON CONFLICT (id) DO UPDATE SET as_of_seq = excluded.as_of_seq, body = excluded.body
             WHERE excluded.as_of_seq >= checkpoint.as_of_seq",
            &[&body, &as_of_seq],
        )?;
        Ok(())
    }

    fn defer_wal_checkpoints(&mut self) -> Result<()> {
        Ok(())
    }

    fn checkpoint_wal(&mut self) -> Result<()> {
        Ok(())
    }

    fn integrity_marks(&self) -> Result<[i64; 3]> {
        let r = self.conn.borrow_mut().query_one(rows::INTEGRITY_MARKS, &[])?;
        Ok([r.get(0), r.get(1), r.get(2)])
    }

    fn last_seq(&self) -> Result<i64> {
        let row = self.conn.borrow_mut().query_one("SELECT value FROM counters WHERE name = 'events'", &[])?;
        Ok(row.get(0))
    }

    fn last_action_seq(&self) -> Result<i64> {
        Ok(self.conn.borrow_mut().query_one(rows::LAST_ACTION_SEQ, &[])?.get(0))
    }

    fn replay_skipping(
        &self,
        after_seq: i64,
        skip: &mut dyn FnMut(&str) -> bool,
        f: &mut dyn FnMut(Event),
    ) -> Result<i64> {
        let mut last = after_seq;
        self.stream(&dollars(rows::REPLAY_PG), &[&after_seq], &mut |r| {
            last = rows::replay_row(r, skip, f)?;
            Ok(())
        })?;
        Ok(last)
    }

    fn insert_model(&mut self, m: &ModelRecord, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            tx.execute(
                &dollars(rows::INSERT_MODEL),
                &[&m.id, &m.created_at, &m.created_by, &m.status, &json(&m.metrics), &m.bytes],
            )?;
            Ok(())
        })
    }

    fn models(&self) -> Result<Vec<ModelRecord>> {
        let sql = format!("SELECT {MODEL_COLUMNS} FROM models ORDER BY created_at DESC, id DESC");
        all(&mut self.conn.borrow_mut(), &sql, &[], |r| rows::model(r, false))
    }

    fn model(&self, id: &str) -> Result<Option<ModelRecord>> {
        let sql = format!("SELECT {MODEL_COLUMNS}, bytes FROM models WHERE id = $1");
        Ok(all(&mut self.conn.borrow_mut(), &sql, &[&id], |r| rows::model(r, true))?.pop())
    }

    fn set_model_status(&mut self, id: &str, status: &str, action: &Action) -> Result<()> {
        if !["candidate", "active", "shadow", "retired"].contains(&status) {
            return Err(StoreError::User(format!("unknown model status {status:?}")));
        }
        self.with_action(action, |tx| {
            if status == "active" || status == "shadow" {
                tx.execute("UPDATE models SET status = 'candidate' WHERE status = $1 AND id <> $2", &[&status, &id])?;
            }
            let n = tx.execute("UPDATE models SET status = $2 WHERE id = $1", &[&id, &status])?;
            if n != 1 {
                return Err(StoreError::User(format!("no model {id:?}")));
            }
            Ok(())
        })
    }

    fn shadow_outcomes(&self, model: &str) -> Result<Vec<(f64, f64, bool)>> {
        let rows = self.conn.borrow_mut().query(
            "SELECT c.risk_value, s.score, bool_or(o.finding)
             FROM shadow_scores s JOIN decisions c ON c.decl = s.decl JOIN outcomes o ON o.decl = s.decl
             WHERE s.model = $1 GROUP BY s.decl, c.risk_value, s.score ORDER BY s.decl",
            &[&model],
        )?;
        Ok(rows.iter().map(|r| (r.get(0), r.get(1), r.get(2))).collect())
    }

    fn insert_risk_levels(&mut self, rows: &[RiskLevelRecord]) -> Result<()> {
        self.write_rows(
            "INSERT INTO risk_levels (kind, key, computed_at, level, score, detail) VALUES ($1, $2, $3, $4, $5, $6)
             ON CONFLICT (kind, key, computed_at) DO UPDATE
             SET level = excluded.level, score = excluded.score, detail = excluded.detail",
            rows,
            |tx, st, r| tx.execute(st, &[&r.kind, &r.key, &r.computed_at, &r.level, &r.score, &json(&r.detail)]),
        )
    }

    fn risk_levels(&self, kind: &str, key: Option<&str>) -> Result<Vec<RiskLevelRecord>> {
        let sql = if key.is_some() { rows::RISK_LEVELS_OF_KEY.to_string() } else { rows::latest_risk_levels("::text") };
        all(&mut self.conn.borrow_mut(), &dollars(&sql), &[&kind, &key], rows::risk_level)
    }

    fn timeline(&self, f: &mut dyn FnMut(TimelineRow)) -> Result<()> {
        self.stream(rows::TIMELINE, &[], &mut |r| {
            f(rows::timeline_row(r)?);
            Ok(())
        })
    }

    fn outcomes_by_time(&self) -> Result<Vec<(Outcome, OutcomeKeys)>> {
        let mut out = Vec::new();
        self.stream(rows::OUTCOMES_BY_TIME, &[], &mut |r| {
            out.push(rows::outcome_by_time(r)?);
            Ok(())
        })?;
        Ok(out)
    }

    fn scan_facts(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<(String, Facts)>> {
        let mut conn = self.pool.get()?;
        let mut tx = conn.build_transaction().isolation_level(postgres::IsolationLevel::RepeatableRead).start()?;
        let out = facts::scan(&TxReader(RefCell::new(&mut tx)), from.unwrap_or(i64::MIN), to.unwrap_or(i64::MAX))?;
        tx.commit()?;
        Ok(out)
    }

    fn fold_facts(&mut self, max: i64) -> Result<i64> {
        let (marks, last) = {
            let mut c = self.conn.borrow_mut();
            let marks = facts::Marks::read(c.query(facts::MARKS, &[])?.iter().map(|r| (r.get(0), r.get(1))))?;
            let last: i64 = c.query_one("SELECT value FROM counters WHERE name = 'events'", &[])?.get(0);
            (marks, last)
        };
        let mark = marks.low();
        if last <= mark {
            return Ok(0);
        }
        let hi = last.min(mark.saturating_add(max.max(1)));
        // Events up to `hi` are committed and never change: read them
        // before taking the marks' row locks, then move the marks only if
        // nobody else did.
        let (up, mut deltas) = {
            let mut conn = self.pool.get()?;
            let mut tx = conn.transaction()?;
            let (up, d) = {
                let r = TxReader(RefCell::new(&mut tx));
                let up = facts::rollups(&r)?;
                let d = facts::deltas(&r, &up, mark, hi, None, false)?;
                (up, d)
            };
            tx.commit()?;
            (up, d)
        };
        let (_, units) = marks.groups().into_iter().next().expect("the lowest mark has units");
        // All units at the lowest mark in one transaction: PostgreSQL's
        // row locks do not hold up the screening commits meanwhile.
        let conn = self.conn.get_mut();
        let mut tx = conn.transaction()?;
        for unit in &units {
            if tx.execute(&dollars(facts::MOVE_MARK), &[&mark, &hi, &facts::mark_name(*unit)])? == 0 {
                tx.rollback()?;
                return Ok(0);
            }
        }
        // The office tree the deltas were rolled up by must still stand
        // (an office import holds the marks' rows while it changes it).
        if facts::rollups(&TxReader(RefCell::new(&mut tx)))? != up {
            tx.rollback()?;
            return Ok(0);
        }
        let of_units = |k: &facts::FactKey| units.contains(&(k.grain, k.dim.as_str()));
        deltas.retain(|k, _| of_units(k));
        apply_facts(&mut tx, &deltas)?;
        let mut releases = facts::fold_releases(&TxReader(RefCell::new(&mut tx)), &up, mark, hi)?;
        releases.retain(|k, _| of_units(k));
        apply_facts(&mut tx, &releases)?;
        tx.commit()?;
        Ok(hi - mark)
    }

    fn facts(&self, q: &FactsQuery) -> Result<facts::FactRows> {
        let mut conn = self.pool.get()?;
        // One snapshot for the mark, the stored rows and the tail.
        let mut tx = conn
            .build_transaction()
            .isolation_level(postgres::IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()?;
        let marks = facts::Marks::read(tx.query(facts::MARKS, &[])?.iter().map(|r| (r.get(0), r.get(1))))?.of_query(q);
        let last: i64 = tx.query_one("SELECT value FROM counters WHERE name = 'events'", &[])?.get(0);
        if last - marks.low() > facts::TAIL_LIMIT {
            return Err(facts::behind(marks.low(), last));
        }
        let grain = q.grain.as_str();
        let key = q.key_param();
        let coarse = q.params_coarse();
        let mut p: Vec<&(dyn ToSql + Sync)> = vec![&grain, &q.from, &q.to, &q.dim, &key, &q.offices, &q.keys];
        if let Some(c) = &coarse {
            p.extend(c.iter().map(|v| v as &(dyn ToSql + Sync)));
        }
        let tail = facts::tail(&TxReader(RefCell::new(&mut tx)), &marks, &q.dim, last)?;
        // A ranked read: the top keys from the narrow index first, then
        // the full sums of those keys only.
        let ranked = if q.ranked() {
            let mut ranks = Vec::new();
            for r in tx.query(&dollars(&q.rank_sql(true)), &p)? {
                ranks.push((r.get::<_, String>(0), r.get::<_, f64>(1), r.get::<_, f64>(2)));
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
        let mut p: Vec<&(dyn ToSql + Sync)> = vec![&grain, &q.from, &q.to, &q.dim, &key, &q.offices, &q.keys];
        if let Some(c) = &coarse {
            p.extend(c.iter().map(|v| v as &(dyn ToSql + Sync)));
        }
        let mut stored = facts::FactRows::default();
        for r in tx.query(&dollars(&q.sql(tail.is_empty(), true)), &p)? {
            stored.rows.push((r.get::<_, String>(0), Facts::read(&r, 1)?));
            stored.groups = r.get::<_, i64>(1 + Facts::COLUMNS.len()) as usize;
        }
        tx.commit()?;
        let mut answer = facts::answer(stored, &tail, q);
        answer.groups = groups.unwrap_or(answer.groups);
        Ok(answer)
    }

    fn history(&self, from: Option<i64>, to: Option<i64>, f: &mut dyn FnMut(HistoryRow)) -> Result<()> {
        let mut by_decl: HashMap<i64, Vec<Outcome>> = HashMap::new();
        self.stream("SELECT decl, body FROM outcomes ORDER BY decl, seq", &[], &mut |r| {
            by_decl.entry(r.get(0)).or_default().push(decode(&r.get::<_, String>(1), Outcome::from_json)?);
            Ok(())
        })?;
        self.stream(
            "SELECT d.seq, d.body, c.body, d.released_at FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq AND c.decided_at = d.decided_at
             WHERE d.declared_at >= $1 AND d.declared_at < $2 ORDER BY d.seq",
            &[&from.unwrap_or(i64::MIN), &to.unwrap_or(i64::MAX)],
            &mut |r| {
                let seq: i64 = r.get(0);
                let declaration = decode(&r.get::<_, String>(1), Declaration::from_json)?;
                let decision = decision_of(r.get(2))?;
                let outcomes = by_decl.remove(&seq).unwrap_or_default();
                f(HistoryRow { declaration, decision, outcomes, released_at: r.get(3) });
                Ok(())
            },
        )
    }

    fn load_bus_epoch(&self) -> Result<Option<(i64, Vec<u8>)>> {
        let row = self.conn.borrow_mut().query_opt("SELECT as_of_seq, body FROM bus_epoch WHERE id = 1", &[])?;
        Ok(row.map(|r| (r.get(0), r.get(1))))
    }

    fn init_bus_epoch(&mut self, body: &[u8], replace: bool) -> Result<bool> {
        let conn = self.conn.get_mut();
        let mut tx = conn.transaction()?;
        // Holding the event sequence: as_of_seq is exactly the last event stored.
        let seq = lock_events(&mut tx)? - 1;
        let sql = if replace {
            "INSERT INTO bus_epoch (id, as_of_seq, body) VALUES (1, $1, $2)
             ON CONFLICT (id) DO UPDATE SET as_of_seq = excluded.as_of_seq, body = excluded.body"
        } else {
            "INSERT INTO bus_epoch (id, as_of_seq, body) VALUES (1, $1, $2) ON CONFLICT (id) DO NOTHING"
        };
        let n = tx.execute(sql, &[&seq, &body])?;
        tx.commit()?;
        Ok(n > 0)
    }

    fn insert_webhook(&mut self, h: &Webhook, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            tx.execute(
                &dollars(rows::INSERT_WEBHOOK),
                &[
                    &h.id,
                    &h.kind,
                    &h.url,
                    &h.secret,
                    &h.department,
                    &h.created_by,
                    &h.created_at,
                    &h.active,
                    &policy::filter_text(&h.offices),
                    &policy::filter_text(&h.hs_chapters),
                ],
            )?;
            Ok(())
        })
    }

    fn webhooks(&self) -> Result<Vec<Webhook>> {
        all(&mut self.conn.borrow_mut(), rows::WEBHOOKS, &[], rows::webhook)
    }

    fn remove_webhook(&mut self, id: &str, action: &Action) -> Result<bool> {
        let active =
            self.conn.borrow_mut().query_opt("SELECT 1 FROM webhooks WHERE id = $1 AND active", &[&id])?.is_some();
        if !active {
            return Ok(false);
        }
        self.with_action(action, |tx| {
            if tx.execute("UPDATE webhooks SET active = false WHERE id = $1 AND active", &[&id])? > 0 {
                Ok(())
            } else {
                Err(StoreError::User(format!("webhook {id} is already removed")))
            }
        })?;
        Ok(true)
    }

    fn enqueue_deliveries(&mut self, events: &[NewDelivery<'_>], now: i64) -> Result<usize> {
        let conn = self.conn.get_mut();
        let mut tx = conn.transaction()?;
        let hooks = tx.prepare(
            "SELECT id, offices, hs_chapters FROM webhooks
             WHERE kind = $1 AND active AND ($2::TEXT IS NULL OR department = $2)",
        )?;
        let ins = tx.prepare(
            "INSERT INTO webhook_deliveries (hook, event_id, kind, payload, status, attempts, next_at, created_at)
             VALUES ($1, $2, $3, $4, 'pending', 0, $5, $5) ON CONFLICT (hook, event_id) DO NOTHING",
        )?;
        let mut n = 0;
        for e in events {
            let ids: Vec<String> = tx
                .query(&hooks, &[&e.kind, &e.department])?
                .iter()
                .filter(|r| policy::hook_takes(r.get(1), r.get(2), e))
                .map(|r| r.get(0))
                .collect();
            for id in ids {
                n += tx.execute(&ins, &[&id, &e.event_id, &e.kind, &e.payload, &now])? as usize;
            }
        }
        tx.commit()?;
        Ok(n)
    }

    fn claim_deliveries(&mut self, now: i64, lease: i64, limit: usize) -> Result<Vec<Delivery>> {
        // SKIP LOCKED: concurrent dispatchers take disjoint deliveries.
        let rows = self.conn.get_mut().query(
            &format!(
                "UPDATE webhook_deliveries SET next_at = $2 WHERE id IN (
                     SELECT id FROM webhook_deliveries WHERE status = 'pending' AND next_at <= $1
                     ORDER BY next_at, id LIMIT $3 FOR UPDATE SKIP LOCKED)
                 RETURNING {DELIVERY_COLUMNS}"
            ),
            &[&now, &(now + lease), &(limit as i64)],
        )?;
        let mut out: Vec<Delivery> = rows.iter().map(|r| rows::delivery(r)).collect::<Result<_>>()?;
        out.sort_by_key(|d| d.id);
        Ok(out)
    }

    fn record_delivery_attempt(&mut self, id: i64, a: &DeliveryAttempt) -> Result<()> {
        self.conn.get_mut().execute(
            &dollars(rows::RECORD_ATTEMPT),
            &[&id, &a.status, &a.next_at, &a.http_status.map(i64::from), &a.error, &a.at],
        )?;
        Ok(())
    }

    fn deliveries(&self, hook: Option<&str>, limit: usize) -> Result<Vec<Delivery>> {
        let rows = self.conn.borrow_mut().query(
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE ($1::TEXT IS NULL OR hook = $1)
                 ORDER BY id DESC LIMIT $2"
            ),
            &[&hook, &(limit as i64)],
        )?;
        rows.iter().map(|r| rows::delivery(r)).collect()
    }

    fn insert_note(&mut self, n: &Note, action: &Action) -> Result<i64> {
        self.ensure_month("action_log", action.at.timestamp())?;
        let mut tx = self.conn.get_mut().transaction()?;
        let row = tx.query_one(
            &dollars(rows::INSERT_NOTE),
            &[&n.subject, &n.at, &n.author, &n.department, &n.text, &n.watch_list],
        )?;
        let id: i64 = row.try_get(0)?;
        Self::append_action_tx(&mut tx, action)?;
        tx.commit()?;
        Ok(id)
    }

    fn notes(&self, subject: &str) -> Result<Vec<Note>> {
        all(&mut self.conn.borrow_mut(), &dollars(rows::NOTES), &[&subject], rows::note)
    }

    fn insert_case(&mut self, c: &Case, action: &Action) -> Result<i64> {
        self.ensure_month("action_log", action.at.timestamp())?;
        let mut tx = self.conn.get_mut().transaction()?;
        let id = Self::insert_case_tx(&mut tx, c, action)?;
        tx.commit()?;
        Ok(id)
    }

    fn insert_cases(&mut self, cases: &[(Case, Action)], then: &dyn Fn(&[i64]) -> Action) -> Result<Vec<i64>> {
        // The log's monthly partitions first (their DDL runs outside).
        for at in cases.iter().map(|(_, a)| a.at.timestamp()).chain([then(&[]).at.timestamp()]) {
            self.ensure_month("action_log", at)?;
        }
        let mut tx = self.conn.get_mut().transaction()?;
        let mut ids = Vec::with_capacity(cases.len());
        for (c, a) in cases {
            ids.push(Self::insert_case_tx(&mut tx, c, a)?);
        }
        Self::append_action_tx(&mut tx, &then(&ids))?;
        tx.commit()?;
        Ok(ids)
    }

    fn update_case(&mut self, c: &Case, action: &Action) -> Result<()> {
        self.ensure_month("action_log", action.at.timestamp())?;
        let mut tx = self.conn.get_mut().transaction()?;
        let changed = tx.execute(
            &dollars(rows::UPDATE_CASE),
            &[
                &c.id,
                &i64::from(c.version),
                &c.department,
                &c.office,
                &c.status.as_str(),
                &c.due_at.timestamp(),
                &c.updated_at.timestamp(),
                &(i64::from(c.version) - 1),
                &json(c),
            ],
        )?;
        if changed == 0 {
            return Err(crate::stale_case(c.id));
        }
        Self::append_action_tx(&mut tx, &rows::case_action(action, c.id))?;
        tx.commit()?;
        Ok(())
    }

    fn case(&self, id: i64) -> Result<Option<Case>> {
        Ok(all(&mut self.conn.borrow_mut(), &dollars(rows::CASE), &[&id], rows::case)?.pop())
    }

    fn cases(&self, q: &CaseQuery) -> Result<Vec<Case>> {
        let f = rows::case_filter(q);
        let params: Vec<&(dyn ToSql + Sync)> = f.iter().map(|v| v as &(dyn ToSql + Sync)).collect();
        all(&mut self.conn.borrow_mut(), &dollars(rows::CASES), &params, rows::case)
    }
}
