//! The mapping between rows and records, once for both backends: each
//! record kind is read by one function over `Columns`, a row of either
//! driver, and SQL text both dialects accept is written once with SQLite's
//! `?N` placeholders (`dollars` gives PostgreSQL's `$N`).

use crate::accounts::{ApiToken, DeclarationSummary, Session, User};
use riskgate_core::{Case, CaseQuery, Declaration, Office, OfficeLevel, Outcome, OutcomeKeys};

use crate::policy::{china_time, decision_of, decode, keys_by_time};
use crate::{
    Action, ControlRecord, ControlTask, Delivery, Event, LoggedAction, ModelRecord, Note, ReferencedPayment, Result,
    RiskLevelRecord, RuleStats, StoreError, TimelineRow, Webhook,
};

/// One result row, read by column position. Integers are 64-bit in both
/// schemas; flags are INTEGER 0/1 in SQLite and BOOLEAN in PostgreSQL.
pub(crate) trait Columns {
    fn int_opt(&self, i: usize) -> Result<Option<i64>>;
    fn real_opt(&self, i: usize) -> Result<Option<f64>>;
    fn text_opt(&self, i: usize) -> Result<Option<String>>;
    fn flag(&self, i: usize) -> Result<bool>;
    fn bytes(&self, i: usize) -> Result<Vec<u8>>;

    fn int(&self, i: usize) -> Result<i64> {
        self.int_opt(i)?.ok_or_else(|| null_in(i))
    }
    fn real(&self, i: usize) -> Result<f64> {
        self.real_opt(i)?.ok_or_else(|| null_in(i))
    }
    fn text(&self, i: usize) -> Result<String> {
        self.text_opt(i)?.ok_or_else(|| null_in(i))
    }
}

fn null_in(i: usize) -> StoreError {
    StoreError::User(format!("stored data could not be decoded: column {i} is NULL"))
}

/// A value one column holds: NULL only where the type is an `Option`.
pub(crate) trait Column: Sized {
    fn read(r: &dyn Columns, i: usize) -> Result<Self>;
}

macro_rules! column_impl {
    ($($t:ty => $get:ident),*) => {
        $(impl Column for $t {
            fn read(r: &dyn Columns, i: usize) -> Result<Self> {
                r.$get(i)
            }
        })*
    };
}

column_impl!(i64 => int, Option<i64> => int_opt, f64 => real, Option<f64> => real_opt, String => text,
             Option<String> => text_opt, bool => flag);

/// `Record { field, … }` read from the row `r`, one column per field in
/// the order written (the query's order), each read as its field's type;
/// `field: conv` passes the column through the function `conv` first.
/// Returns early with the error of a column that does not read.
macro_rules! record {
    ($r:expr => $record:ident { $($field:ident $(: $conv:expr)?),+ $(,)? }) => {{
        let r: &dyn Columns = $r;
        let mut column = 0..;
        $record { $($field: record!(@read r, column.next().expect("a column") $(, $conv)?)),+ }
    }};
    (@read $r:ident, $i:expr) => {
        Column::read($r, $i)?
    };
    (@read $r:ident, $i:expr, $conv:expr) => {
        ($conv)(Column::read($r, $i)?)
    };
}

/// `Columns` over a driver's row type, whose getter (`get` or `try_get`)
/// converts each column.
macro_rules! columns_impl {
    ($row:ty, $get:ident) => {
        impl Columns for $row {
            columns_impl!(@each $get; int_opt: Option<i64>, real_opt: Option<f64>, text_opt: Option<String>,
                          flag: bool, bytes: Vec<u8>);
        }
    };
    (@each $get:ident; $($name:ident: $t:ty),*) => {
        $(fn $name(&self, i: usize) -> Result<$t> {
            Ok(self.$get(i)?)
        })*
    };
}

columns_impl!(rusqlite::Row<'_>, get);
columns_impl!(postgres::Row, try_get);

/// `sql` with each `?N` placeholder written `$N`, for PostgreSQL.
pub(crate) fn dollars(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len());
    let mut chars = sql.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '?' && chars.peek().is_some_and(char::is_ascii_digit) {
            out.push('$');
        } else {
            out.push(c);
        }
    }
    out
}

fn to_u64(v: i64) -> u64 {
    u64::try_from(v).unwrap_or(0)
}

fn to_u32(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// Money flow per trader over `[?1, ?2)`: import declarations by office
/// (source 0), forex payments (1), VAT invoices (2).
pub(crate) const MONEY_FLOW: &str = "\
SELECT CAST(0 AS BIGINT), trader, office, COUNT(*), SUM(value_cny), CAST(0 AS DOUBLE PRECISION) FROM declarations \
 WHERE direction = 'import' AND declared_at >= ?1 AND declared_at < ?2 GROUP BY trader, office \
UNION ALL SELECT CAST(1 AS BIGINT), trader, '', COUNT(*), SUM(amount_cny), \
 SUM(CASE WHEN reference IS NULL THEN CAST(0 AS DOUBLE PRECISION) ELSE amount_cny END) FROM forex \
 WHERE paid_at >= ?1 AND paid_at < ?2 GROUP BY trader \
UNION ALL SELECT CAST(2 AS BIGINT), trader, '', COUNT(*), SUM(amount_cny), CAST(0 AS DOUBLE PRECISION) FROM invoices \
 WHERE issued_at >= ?1 AND issued_at < ?2 GROUP BY trader";

/// The import declarations of `[?1, ?2)` whose trader paid abroad with an
/// invoice reference, one row per item line and invoice number (documents
/// of kind "invoice", taken from the body by the database's JSON functions:
/// no declaration decoded), with their first decision time; those that
/// list no invoice are left out (nothing can be matched to them).
/// Unordered (`gather` orders them: a sort in the database costs more).
/// The row: as `INVOICED_IMPORTS`', then the decision time, the invoice's
/// position among the documents and its number. SQLite's (`CROSS JOIN` keeps the order of the
/// loops: each body is read once)…
pub(crate) const REFERENCED_IMPORTS_SQLITE: &str = "\
SELECT d.seq, d.id, d.trader, d.office, d.declared_at, d.tz, d.value_cny, i.line, i.hs_code, i.value, i.duty_rate, \
 (SELECT MIN(c.decided_at) FROM decisions c WHERE c.decl = d.seq AND c.decided_at = d.decided_at AND c.decided_at >= ?1), \
 j.key, j.value ->> 'id' \
 FROM declarations d CROSS JOIN json_each(d.body, '$.documents') j CROSS JOIN items i \
 WHERE d.direction = 'import' AND d.declared_at >= ?1 AND d.declared_at < ?2 \
 AND d.trader IN (SELECT f.trader FROM forex f WHERE f.reference IS NOT NULL) \
 AND j.value ->> 'kind' = 'invoice' AND i.decl = d.seq";

/// …and PostgreSQL's (bodies are TEXT; `json` parses without building a tree).
pub(crate) const REFERENCED_IMPORTS_POSTGRES: &str = "\
SELECT d.seq, d.id, d.trader, d.office, d.declared_at, d.tz, d.value_cny, i.line, i.hs_code, i.value, i.duty_rate, \
 (SELECT MIN(c.decided_at) FROM decisions c WHERE c.decl = d.seq AND c.decided_at = d.decided_at AND c.decided_at >= ?1), \
 j.n, j.doc ->> 'id' \
 FROM declarations d \
 CROSS JOIN LATERAL json_array_elements(d.body::json -> 'documents') WITH ORDINALITY AS j(doc, n) \
 JOIN items i ON i.decl = d.seq \
 WHERE d.direction = 'import' AND d.declared_at >= ?1 AND d.declared_at < ?2 \
 AND d.trader IN (SELECT f.trader FROM forex f WHERE f.reference IS NOT NULL) \
 AND j.doc ->> 'kind' = 'invoice'";

/// Payments abroad with an invoice reference, made from `?1` on.
pub(crate) const REFERENCED_PAYMENTS: &str = "\
SELECT trader, reference, paid_at, amount_cny FROM forex WHERE reference IS NOT NULL AND paid_at >= ?1";

/// The import declarations of `[?3, ?4)` whose trader issued a VAT
/// invoice in `[?1, ?2)`, one row per item line: the declaration's columns
/// (seq to `value_cny`), the line's (number to duty rate). Columns only, no
/// body; unordered (`gather` orders them).
pub(crate) const INVOICED_IMPORTS: &str = "\
SELECT d.seq, d.id, d.trader, d.office, d.declared_at, d.tz, d.value_cny, i.line, i.hs_code, i.value, i.duty_rate \
 FROM declarations d JOIN items i ON i.decl = d.seq \
 WHERE d.direction = 'import' AND d.declared_at >= ?3 AND d.declared_at < ?4 \
 AND d.trader IN (SELECT v.trader FROM invoices v WHERE v.issued_at >= ?1 AND v.issued_at < ?2)";

/// VAT invoices issued in `[?1, ?2)`, oldest first.
pub(crate) const INVOICES_ISSUED: &str =
    "SELECT body FROM invoices WHERE issued_at >= ?1 AND issued_at < ?2 ORDER BY issued_at, rowid";

/// One item line with its declaration's columns (`INVOICED_IMPORTS`,
/// `REFERENCED_IMPORTS_*`).
pub(crate) struct LineRow {
    seq: i64,
    /// Read from the first row of each run of rows of one declaration only.
    header: Option<Header>,
    number: i64,
    line: crate::ImportLine,
    /// `REFERENCED_IMPORTS_*`: an invoice's position among the documents, and its number.
    invoice: Option<(i64, String)>,
}

/// A declaration's own columns.
struct Header {
    id: String,
    trader: String,
    office: String,
    declared_at: i64,
    tz: i64,
    value_cny: f64,
    decided_at: Option<i64>,
}

/// The reader of `INVOICED_IMPORTS`' rows (`referenced`: of
/// `REFERENCED_IMPORTS_*`'). A declaration's rows come one after the other
/// in practice; its own columns are read from the first of them only.
pub(crate) fn line_rows(referenced: bool) -> impl Fn(&dyn Columns) -> Result<LineRow> {
    let last = std::cell::Cell::new(None);
    move |r| {
        let seq = r.int(0)?;
        let header = if last.replace(Some(seq)) == Some(seq) {
            None
        } else {
            Some(Header {
                id: r.text(1)?,
                trader: r.text(2)?,
                office: r.text(3)?,
                declared_at: r.int(4)?,
                tz: r.int(5)?,
                value_cny: r.real(6)?,
                decided_at: if referenced { r.int_opt(11)? } else { None },
            })
        };
        Ok(LineRow {
            seq,
            header,
            number: r.int(7)?,
            line: crate::ImportLine { hs_code: r.text(8)?, value: r.real(9)?, duty_rate: r.real(10)? },
            invoice: if referenced { Some((r.int(12)?, r.text(13)?)) } else { None },
        })
    }
}

/// CNY per unit of a declaration's currency from its columns: the stored
/// CNY value (`Declaration::total_value_cny`) over its lines' value. That
/// is one of the reference rates up to rounding, so the nearest one is
/// taken, exactly as `Declaration::rate` gives it; 1 without value.
fn rate(value_cny: f64, value: f64) -> f64 {
    if value <= 0.0 || !value.is_finite() {
        return 1.0;
    }
    let q = value_cny / value;
    riskgate_core::currency::DEFAULT_RATES.iter().map(|&(_, r)| r).find(|r| (q / r - 1.0).abs() < 1e-9).unwrap_or(q)
}

/// One declaration gathered from its rows.
struct Gathered {
    seq: i64,
    header: Option<Header>,
    /// The first and the last line number seen.
    first: i64,
    last: i64,
    lines: Vec<crate::ImportLine>,
    invoices: Vec<String>,
}

/// Rows gathered per declaration, in the order stored (seq): its columns,
/// its lines by number and its invoice numbers (the rows of one line each
/// carry one invoice, the same for every line); the decision time.
fn gather(mut rows: Vec<LineRow>) -> Vec<(crate::ImportLines, Option<i64>, Vec<String>)> {
    rows.sort_unstable_by_key(|r| (r.seq, r.number, r.invoice.as_ref().map(|i| i.0)));
    let mut out: Vec<Gathered> = Vec::new();
    for r in rows {
        if out.last().is_none_or(|g| g.seq != r.seq) {
            let (first, last) = (r.number, r.number);
            out.push(Gathered { seq: r.seq, header: None, first, last, lines: Vec::new(), invoices: Vec::new() });
        }
        let g = out.last_mut().expect("a declaration was pushed");
        if g.header.is_none() {
            g.header = r.header;
        }
        if g.lines.is_empty() || g.last != r.number {
            g.lines.push(r.line);
            g.last = r.number;
        }
        if let Some((_, number)) = r.invoice.filter(|_| r.number == g.first) {
            g.invoices.push(number);
        }
    }
    // Every declaration's first row carries its columns.
    out.into_iter()
        .filter_map(|g| {
            let h = g.header?;
            let mut i = crate::ImportLines {
                id: h.id,
                trader: h.trader,
                office: h.office,
                declared_at: h.declared_at,
                tz: i32::try_from(h.tz).unwrap_or(0),
                rate: 1.0,
                lines: g.lines,
            };
            i.rate = rate(h.value_cny, i.total_value());
            Some((i, h.decided_at, g.invoices))
        })
        .collect()
}

/// The imports of `INVOICED_IMPORTS`' rows.
pub(crate) fn import_lines(rows: Vec<LineRow>) -> Vec<crate::ImportLines> {
    gather(rows).into_iter().map(|(i, _, _)| i).collect()
}

/// The imports of `REFERENCED_IMPORTS_*`' rows, with their invoice numbers.
pub(crate) fn referenced_imports(rows: Vec<LineRow>) -> Vec<crate::ReferencedImport> {
    gather(rows)
        .into_iter()
        .map(|(import, decided_at, invoices)| crate::ReferencedImport { import, decided_at, invoices })
        .collect()
}

pub(crate) fn referenced_payment(r: &dyn Columns) -> Result<crate::ReferencedPayment> {
    Ok(record!(r => ReferencedPayment { trader, reference, paid_at, amount_cny }))
}

/// One row of `MONEY_FLOW`.
#[derive(Debug, Clone)]
pub(crate) struct FlowRow {
    source: i64,
    trader: String,
    office: String,
    count: i64,
    amount: f64,
    with_reference: f64,
}

pub(crate) fn flow_row(r: &dyn Columns) -> Result<FlowRow> {
    Ok(record!(r => FlowRow { source, trader, office, count, amount, with_reference }))
}

/// The rows summed per trader and source, only of traders that declared
/// an import in `offices` (when given) and only `trader`. A trader's sums
/// are its whole money flow (all offices): a multi-port trader's payments
/// pay for its imports everywhere.
pub(crate) fn flow_sums(rows: Vec<FlowRow>, offices: Option<&[String]>, trader: Option<&str>) -> crate::FlowSums {
    use std::collections::BTreeMap;
    let mut by: [BTreeMap<String, crate::FlowSum>; 3] = Default::default();
    let mut declared_in_scope = std::collections::HashSet::new();
    for r in &rows {
        if r.source == 0 && offices.is_none_or(|o| o.contains(&r.office)) {
            declared_in_scope.insert(r.trader.clone());
        }
    }
    for r in rows {
        let Some(map) = usize::try_from(r.source).ok().and_then(|i| by.get_mut(i)) else { continue };
        if trader.is_some_and(|t| t != r.trader) || (offices.is_some() && !declared_in_scope.contains(&r.trader)) {
            continue;
        }
        let s =
            map.entry(r.trader.clone()).or_insert_with(|| crate::FlowSum { trader: r.trader, ..Default::default() });
        s.count += to_u64(r.count);
        s.amount_cny += r.amount;
        s.with_reference_cny += r.with_reference;
    }
    let [declared, paid, invoiced] = by.map(|m| m.into_values().collect());
    crate::FlowSums { declared, paid, invoiced }
}

// Writes both dialects accept.
pub(crate) const RELEASE: &str = "UPDATE declarations SET released_at = ?2 WHERE seq = ?1 AND released_at IS NULL";
/// An outcome closes the open control task of its declaration, unless it is
/// a post-clearance audit's (`?4`): an audit, or a case's result, does not
/// complete the border control.
pub(crate) const CLOSE_TASK: &str = "UPDATE control_tasks SET status = 'closed', closed_at = ?2, officer = ?3
     WHERE decl = ?1 AND status = 'open' AND ?4 <> 'audit'";
/// Overrides of a declaration (target) by one officer (actor): the partial
/// index `action_log_override` (migration 8) answers it.
/// Every override of one declaration (target), oldest first: the partial
/// index `action_log_override` answers it too.
pub(crate) const OVERRIDES_OF: &str = "WHERE action = 'override' AND target = ?1 ORDER BY seq";
pub(crate) const OVERRIDES_BY: &str =
    "SELECT count(*) FROM action_log WHERE action = 'override' AND target = ?1 AND actor = ?2";
pub(crate) const REOPEN_TASK: &str =
    "UPDATE control_tasks SET channel = ?2, status = 'open', closed_at = NULL, officer = NULL WHERE decl = ?1";
pub(crate) const OPEN_TASK: &str =
    "INSERT INTO control_tasks (decl, office, channel, disposal, instructions, status, opened_at)
     VALUES (?1, ?2, ?3, 'control', ?4, 'open', ?5)";
pub(crate) const TASK_OVERRIDDEN: &str =
    "UPDATE control_tasks SET channel = 'green', status = 'overridden', closed_at = ?2, officer = ?3
     WHERE decl = ?1";
pub(crate) const INSERT_OUTCOME: &str =
    "INSERT INTO outcomes (seq, decl, officer, control, completed_at, finding, additional_duty, seizure,
                           smuggling, released_at, body)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
pub(crate) const INSERT_ACTION: &str =
    "INSERT INTO action_log (seq, at, actor, office, action, target, before, after, reason, prev_hash, hash)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)";
pub(crate) const UPSERT_OFFICE: &str = "INSERT INTO offices (code, name, parent, level) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (code) DO UPDATE SET name = excluded.name, parent = excluded.parent, level = excluded.level";
pub(crate) const UPSERT_OFFICER: &str = "INSERT INTO officers (id, office, post, body) VALUES (?1, ?2, ?3, ?4)
     ON CONFLICT (id) DO UPDATE SET office = excluded.office, post = excluded.post, body = excluded.body";
pub(crate) const UPSERT_ENTERPRISE: &str = "INSERT INTO enterprises (id, credit_class, body) VALUES (?1, ?2, ?3)
     ON CONFLICT (id) DO UPDATE SET credit_class = excluded.credit_class, body = excluded.body";
pub(crate) const UPSERT_WORKFORCE: &str =
    "INSERT INTO workforce (kind, unit, officer, at, year, passed, outcome, key, body)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
     ON CONFLICT (key) DO UPDATE SET outcome = excluded.outcome, body = excluded.body
     WHERE workforce.body <> excluded.body";
pub(crate) const INSERT_RULE: &str =
    "INSERT INTO rules (id, version, status, created_by, created_at, approved_by, approved_at, retired_at, body)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)";
pub(crate) const SET_RULE_STATUS: &str =
    "UPDATE rules SET status = ?3, approved_by = ?4, approved_at = ?5, retired_at = ?6, body = ?7
     WHERE id = ?1 AND version = ?2";
pub(crate) const UPSERT_SETTING: &str =
    "INSERT INTO settings (key, value) VALUES (?1, ?2) ON CONFLICT (key) DO UPDATE SET value = excluded.value";
pub(crate) const INSERT_MODEL: &str =
    "INSERT INTO models (id, created_at, created_by, status, metrics, bytes) VALUES (?1, ?2, ?3, ?4, ?5, ?6)";
pub(crate) const INSERT_WEBHOOK: &str =
    "INSERT INTO webhooks (id, kind, url, secret, department, created_by, created_at, active, offices, hs_chapters)
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)";
pub(crate) const RECORD_ATTEMPT: &str =
    "UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?2, next_at = ?3, last_status = ?4,
     last_error = ?5, delivered_at = CASE WHEN ?2 = 'delivered' THEN ?6 ELSE delivered_at END WHERE id = ?1";
pub(crate) const INSERT_SESSION: &str =
    "INSERT INTO sessions (token_hash, username, created_at, expires_at, address) VALUES (?1, ?2, ?3, ?4, ?5)";

/// Workforce record columns: (kind, officer, at, year, passed, outcome, key).
/// A litigation case is kept once per id (its outcome moves on); the other
/// kinds once per content (their body is their key).
pub(crate) type WorkforceColumns<'a> =
    (&'static str, Option<&'a str>, Option<i64>, Option<i64>, Option<bool>, Option<&'static str>, String);

pub(crate) fn workforce_columns<'a>(r: &'a riskgate_core::WorkforceRecord, body: &str) -> WorkforceColumns<'a> {
    use riskgate_core::WorkforceRecord;
    match r {
        WorkforceRecord::Disciplinary { officer, opened_at, .. } => {
            ("disciplinary", Some(officer.as_str()), Some(opened_at.timestamp()), None, None, None, body.to_string())
        }
        WorkforceRecord::Inspection { inspected_at, passed, .. } => {
            ("inspection", None, Some(inspected_at.timestamp()), None, Some(*passed), None, body.to_string())
        }
        WorkforceRecord::Assessment { year, passed, .. } => {
            ("assessment", None, None, Some(i64::from(*year)), Some(*passed), None, body.to_string())
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
    }
}

/// The mapping of a query's one column of stored JSON bodies, each
/// validated again on the way out.
pub(crate) fn body<T>(
    parse: fn(&serde_json::Value) -> Result<T, riskgate_core::ValidationError>,
) -> impl Fn(&dyn Columns) -> Result<T> {
    move |r| crate::policy::decode(&r.text(0)?, parse)
}

// Reads, each with the function that maps its row.
pub(crate) const OFFICES: &str = "SELECT code, name, parent, level FROM offices ORDER BY code";

/// An office; an unknown level reads as `Office`.
pub(crate) fn office(r: &dyn Columns) -> Result<Office> {
    Ok(Office {
        code: r.text(0)?,
        name: r.text(1)?,
        parent: r.text_opt(2)?,
        level: OfficeLevel::parse(&r.text(3)?).unwrap_or(OfficeLevel::Office),
    })
}

// Reads of stored JSON bodies, each mapped by `body`.
pub(crate) const OFFICERS: &str = "SELECT body FROM officers ORDER BY id";
pub(crate) const ENTERPRISES: &str = "SELECT body FROM enterprises ORDER BY id";
pub(crate) const FOREX: &str = "SELECT body FROM forex ORDER BY rowid";

/// Events after `?1` in sequence order: declarations (kind false) and
/// outcomes (kind true) with the body and random flag of their declaration;
/// the last column is the declaration's id (NULL for an outcome), read
/// before the body is decoded (`Store::replay_skipping`).
pub(crate) const REPLAY: &str =
    "SELECT d.seq, false, d.body, d.historical, c.office, c.ranking, c.channel <> 'green', c.mandatory,
            CAST(NULL AS TEXT), CAST(NULL AS BOOLEAN), d.id
     FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq AND c.decided_at = d.decided_at WHERE d.seq > ?1
     UNION ALL
     SELECT o.seq, true, o.body, false, NULL, NULL, NULL, NULL, d.body, COALESCE(c.random, false), CAST(NULL AS TEXT)
     FROM outcomes o JOIN declarations d ON d.seq = o.decl
     LEFT JOIN decisions c ON c.decl = o.decl AND c.decided_at = d.decided_at
     WHERE o.seq > ?1
     ORDER BY 1";

/// [`REPLAY`] for PostgreSQL: the decision of each declaration is looked
/// up in its own month (`LIMIT 1` keeps the lateral subquery from being
/// flattened), never by a hash join over every month's partition, which
/// the planner picked with stale statistics and which made a worker's
/// catch-up of a few hundred events read every stored decision.
pub(crate) const REPLAY_PG: &str =
    "SELECT d.seq, false, d.body, d.historical, c.office, c.ranking, c.channel <> 'green', c.mandatory,
            CAST(NULL AS TEXT), CAST(NULL AS BOOLEAN), d.id
     FROM declarations d
     LEFT JOIN LATERAL (SELECT x.office, x.ranking, x.channel, x.mandatory FROM decisions x
                        WHERE x.decl = d.seq AND x.decided_at = d.decided_at LIMIT 1) c ON true
     WHERE d.seq > ?1
     UNION ALL
     SELECT o.seq, true, o.body, false, NULL, NULL, NULL, NULL, d.body, COALESCE(c.random, false), CAST(NULL AS TEXT)
     FROM outcomes o JOIN declarations d ON d.seq = o.decl
     LEFT JOIN LATERAL (SELECT x.random FROM decisions x
                        WHERE x.decl = o.decl AND x.decided_at = d.decided_at LIMIT 1) c ON true
     WHERE o.seq > ?1
     ORDER BY 1";

/// One row of [`REPLAY`] / [`REPLAY_PG`] for `Store::replay_skipping`:
/// hands its event to `f` unless `skip` names its declaration (read before
/// the body is decoded); returns its sequence number.
pub(crate) fn replay_row(r: &dyn Columns, skip: &mut dyn FnMut(&str) -> bool, f: &mut dyn FnMut(Event)) -> Result<i64> {
    let seq = r.int(0)?;
    if !r.text_opt(10)?.is_some_and(|id| skip(&id)) {
        f(replay_event(r)?);
    }
    Ok(seq)
}

pub(crate) fn replay_event(r: &dyn Columns) -> Result<Event> {
    let body = r.text(2)?;
    if r.flag(1)? {
        let o = decode(&body, Outcome::from_json)?;
        let d = decode(&r.text(8)?, Declaration::from_json)?;
        return Ok(Event::Outcome { outcome: Box::new(o), keys: OutcomeKeys::of(&d, r.flag(9)?) });
    }
    let declaration = Box::new(decode(&body, Declaration::from_json)?);
    Ok(if r.flag(3)? {
        Event::Historical(declaration)
    } else {
        Event::Screened {
            declaration,
            office: r.text(4)?,
            ranking: r.real(5)?,
            controlled: r.flag(6)?,
            mandatory: r.flag(7)?,
        }
    })
}

pub(crate) const TIMELINE: &str =
    "SELECT d.body, c.body FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq AND c.decided_at = d.decided_at
     ORDER BY d.declared_at, d.seq";

pub(crate) fn timeline_row(r: &dyn Columns) -> Result<TimelineRow> {
    Ok(TimelineRow {
        declaration: decode(&r.text(0)?, Declaration::from_json)?,
        decision: decision_of(r.text_opt(1)?)?,
    })
}

pub(crate) const OUTCOMES_BY_TIME: &str =
    "SELECT o.body, d.body, COALESCE(c.random, false) FROM outcomes o JOIN declarations d ON d.seq = o.decl
     LEFT JOIN decisions c ON c.decl = o.decl AND c.decided_at = d.decided_at ORDER BY o.completed_at, o.seq";

pub(crate) fn outcome_by_time(r: &dyn Columns) -> Result<(Outcome, OutcomeKeys)> {
    let o = decode(&r.text(0)?, Outcome::from_json)?;
    let d = decode(&r.text(1)?, Declaration::from_json)?;
    let keys = keys_by_time(&o, &d, r.flag(2)?);
    Ok((o, keys))
}

/// The deadline is the use-case layer's (from the settings): read as NULL.
pub(crate) const TASK_COLUMNS: &str =
    "t.id, d.id, t.office, t.channel, t.disposal, t.instructions, t.status, t.opened_at, \
     t.closed_at, t.officer, c.risk_value, t.urgent, t.urgent_at, t.escalated_at, CAST(NULL AS BIGINT)
     FROM control_tasks t JOIN declarations d ON d.seq = t.decl
     JOIN decisions c ON c.decl = t.decl AND c.decided_at = d.decided_at";

/// Open tasks of one office (`?1`, or all), urgent requests first, then by risk.
pub(crate) const OPEN_TASKS: &str = "WHERE t.status = 'open' AND (CAST(?1 AS TEXT) IS NULL OR t.office = ?1)
     ORDER BY (t.urgent IS NULL), c.risk_value DESC, t.id LIMIT ?2";

pub(crate) fn control_task(r: &dyn Columns) -> Result<ControlTask> {
    Ok(record!(r => ControlTask {
        id, declaration_id, office, channel, disposal, instructions, status, opened_at, closed_at, officer, risk_value,
        urgent, urgent_at, escalated_at, due_at
    }))
}

/// Marks an open task urgent (`?2` the request, `?3` when), once.
pub(crate) const MARK_URGENT: &str = "UPDATE control_tasks SET urgent = ?2, urgent_at = ?3
     WHERE decl = (SELECT seq FROM declarations WHERE id = ?1) AND status = 'open' AND urgent IS NULL";

/// Marks an open task escalated (`?2` when), once.
pub(crate) const MARK_ESCALATED: &str = "UPDATE control_tasks SET escalated_at = ?2
     WHERE decl = (SELECT seq FROM declarations WHERE id = ?1) AND status = 'open' AND escalated_at IS NULL";

/// `Store::integrity_marks`: last outcome, last override, registry writes.
pub(crate) const INTEGRITY_MARKS: &str = "SELECT (SELECT COALESCE(MAX(seq), 0) FROM outcomes),
                    (SELECT COALESCE(MAX(seq), 0) FROM action_log WHERE action = 'override'),
                    (SELECT value FROM counters WHERE name = 'registry')";

/// One more write to the officer registry or the workforce records.
pub(crate) const BUMP_REGISTRY: &str = "UPDATE counters SET value = value + 1 WHERE name = 'registry'";

pub(crate) const CONTROL_RECORDS: &str =
    "SELECT d.id, d.office, d.trader, d.declarant, d.declared_at, d.tz, o.officer, o.control, o.completed_at,
            o.finding, o.released_at, c.channel, c.risk_value, c.decided_at, COALESCE(c.random, false)
     FROM outcomes o JOIN declarations d ON d.seq = o.decl
     LEFT JOIN decisions c ON c.decl = o.decl AND c.decided_at = d.decided_at
     WHERE o.completed_at >= ?1 AND o.completed_at < ?2 ORDER BY o.completed_at, o.seq";

pub(crate) fn control_record(r: &dyn Columns) -> Result<ControlRecord> {
    Ok(record!(r => ControlRecord {
        declaration_id, office, trader, declarant, declared_at, tz: |tz: i64| i32::try_from(tz).unwrap_or(0), officer,
        control, completed_at, finding, released_at, channel, risk_value, decided_at, random
    }))
}

/// The traders' first declarations, for the drift report's newness: `k`
/// holds the rows of the period, with their `trader` and `declared_at`.
/// No index leads from a trader to its declarations (migration 2 dropped
/// it for the screening commit's sake), so this reads the declarations'
/// traders and times once.
const DRIFT_FIRST: &str = "f AS (SELECT x.trader, MIN(x.declared_at) AS first_at FROM declarations x
        WHERE x.trader IN (SELECT trader FROM k) GROUP BY x.trader)";

/// `Store::drift_rows`' completed controls: `?1`..`?2` the decision times,
/// `?3` the newness span, `office_in(column)` the dialect's test of the
/// column against the office list `?4`. Outcomes lead (SQLite's `CROSS
/// JOIN` keeps that order) so that only the decisions of controlled
/// declarations are read.
pub(crate) fn drift_controls_sql(office_in: fn(&str) -> String) -> String {
    format!(
        "WITH o AS (SELECT decl, COUNT(CASE WHEN finding THEN 1 END) AS findings FROM outcomes GROUP BY decl),
     k AS (SELECT c.decl, d.id, c.office, c.decided_at, c.body, o.findings, d.trader, d.declared_at
        FROM o CROSS JOIN decisions c JOIN declarations d ON d.seq = c.decl
        WHERE c.decl = o.decl AND c.decided_at >= ?1 AND c.decided_at < ?2 AND {}),
     {DRIFT_FIRST}
SELECT k.id, k.office, k.decided_at, k.body, k.findings > 0, k.declared_at - f.first_at < ?3
FROM k JOIN f ON f.trader = k.trader ORDER BY k.decided_at, k.decl",
        office_in("c.office")
    )
}

pub(crate) fn scored_control(r: &dyn Columns) -> Result<crate::ScoredControl> {
    Ok(crate::ScoredControl {
        declaration_id: r.text(0)?,
        office: r.text(1)?,
        decided_at: r.int(2)?,
        decision: serde_json::from_str(&r.text(3)?)?,
        finding: r.flag(4)?,
        new_trader: r.flag(5)?,
    })
}

/// `Store::drift_rows`' screened (not historical) declarations per China
/// day of declaration, office and newness, read through the index on
/// `declared_at` (decisions have none on SQLite); parameters as
/// [`drift_controls_sql`].
pub(crate) fn drift_screened_sql(office_in: fn(&str) -> String) -> String {
    format!(
        "WITH k AS (SELECT d.declared_at, d.office, d.trader FROM declarations d
        WHERE d.declared_at >= ?1 AND d.declared_at < ?2 AND NOT d.historical AND {}),
     {DRIFT_FIRST}
SELECT (k.declared_at + 28800) / 86400 AS day, k.office, k.declared_at - f.first_at < ?3 AS is_new, COUNT(*)
FROM k JOIN f ON f.trader = k.trader GROUP BY 1, 2, 3 ORDER BY 1, 2, 3",
        office_in("d.office")
    )
}

pub(crate) fn screened_day(r: &dyn Columns) -> Result<crate::ScreenedDay> {
    Ok(crate::ScreenedDay {
        day: r.int(0)?,
        office: r.text(1)?,
        new_trader: r.flag(2)?,
        declarations: to_u64(r.int(3)?),
    })
}

/// The decision of the last declaration stored (decisions are written with
/// their new declaration, so the highest `decl` is the last screened).
/// `Store::last_action_seq`: the primary key's last entry (per month on
/// PostgreSQL), no row read.
pub(crate) const LAST_ACTION_SEQ: &str = "SELECT COALESCE(MAX(seq), 0) FROM action_log";

pub(crate) const LAST_DECIDED_AT: &str = "SELECT decided_at FROM decisions ORDER BY decl DESC LIMIT 1";

pub(crate) fn rule_stats(r: &dyn Columns) -> Result<RuleStats> {
    Ok(record!(r => RuleStats {
        id, version: to_u32, hits: to_u64, controls: to_u64, completed: to_u64, findings: to_u64, revenue_cny,
        recent_hits: to_u64
    }))
}

pub(crate) const ACTION_COLUMNS: &str =
    "seq, at, actor, office, action, target, before, after, reason, prev_hash, hash";

/// A logged action; an entry edited into something that no longer decodes
/// is an error (which `verify_actions` reports as a broken link).
pub(crate) fn logged_action(r: &dyn Columns) -> Result<LoggedAction> {
    let parse = |s: Option<String>| -> Result<Option<serde_json::Value>> {
        Ok(match s {
            Some(s) => Some(serde_json::from_str(&s)?),
            None => None,
        })
    };
    Ok(LoggedAction {
        seq: r.int(0)?,
        action: Action {
            at: china_time(r.int(1)?),
            actor: r.text(2)?,
            office: r.text_opt(3)?,
            action: r.text(4)?,
            target: r.text(5)?,
            before: parse(r.text_opt(6)?)?,
            after: parse(r.text_opt(7)?)?,
            reason: r.text_opt(8)?,
        },
        prev_hash: r.text(9)?,
        hash: r.text(10)?,
    })
}

pub(crate) const MODEL_COLUMNS: &str = "id, created_at, created_by, status, metrics";

/// A model version; its bytes are the sixth column when `with_bytes`.
pub(crate) fn model(r: &dyn Columns, with_bytes: bool) -> Result<ModelRecord> {
    Ok(ModelRecord {
        id: r.text(0)?,
        created_at: r.int(1)?,
        created_by: r.text(2)?,
        status: r.text(3)?,
        metrics: serde_json::from_str(&r.text(4)?)?,
        bytes: if with_bytes { r.bytes(5)? } else { Vec::new() },
    })
}

pub(crate) const RISK_LEVELS_OF_KEY: &str = "SELECT kind, key, computed_at, level, score, detail FROM risk_levels
     WHERE kind = ?1 AND key = ?2 ORDER BY computed_at DESC";
/// The latest level of each key; `?2` is NULL (PostgreSQL wants its type).
pub(crate) fn latest_risk_levels(key_type: &str) -> String {
    format!(
        "SELECT kind, key, computed_at, level, score, detail FROM risk_levels r WHERE kind = ?1 AND ?2{key_type} IS NULL
         AND computed_at = (SELECT MAX(computed_at) FROM risk_levels x WHERE x.kind = r.kind AND x.key = r.key)
         ORDER BY score DESC, key"
    )
}

pub(crate) fn risk_level(r: &dyn Columns) -> Result<RiskLevelRecord> {
    Ok(RiskLevelRecord {
        kind: r.text(0)?,
        key: r.text(1)?,
        computed_at: r.int(2)?,
        level: r.text(3)?,
        score: r.real(4)?,
        detail: serde_json::from_str(&r.text(5)?)?,
    })
}

pub(crate) const WEBHOOKS: &str =
    "SELECT id, kind, url, secret, department, created_by, created_at, active, offices, hs_chapters FROM webhooks
     ORDER BY created_at, id";

pub(crate) fn webhook(r: &dyn Columns) -> Result<Webhook> {
    let list = |s: Option<String>| -> Vec<String> {
        s.unwrap_or_default().split(',').filter(|x| !x.is_empty()).map(str::to_string).collect()
    };
    Ok(record!(r => Webhook {
        id, kind, url, secret, department, created_by, created_at, active, offices: list, hs_chapters: list
    }))
}

pub(crate) const DELIVERY_COLUMNS: &str =
    "id, hook, event_id, kind, payload, status, attempts, next_at, last_status, last_error, created_at, delivered_at";

pub(crate) fn delivery(r: &dyn Columns) -> Result<Delivery> {
    Ok(record!(r => Delivery {
        id, hook, event_id, kind, payload, status, attempts: |n: i64| u32::try_from(n).unwrap_or(u32::MAX), next_at,
        last_status: |s: Option<i64>| s.and_then(|s| u16::try_from(s).ok()), last_error, created_at, delivered_at
    }))
}

pub(crate) const USER_COLUMNS: &str =
    "username, display_name, role, office, department, disabled, created_at, password_hash";

pub(crate) fn user(r: &dyn Columns) -> Result<User> {
    Ok(record!(r => User { username, display_name, role, office, department, disabled, created_at, password_hash }))
}

pub(crate) const TOKEN_COLUMNS: &str = "id, username, name, scopes, secret_hash, created_at, expires_at, revoked_at";

pub(crate) fn token(r: &dyn Columns) -> Result<ApiToken> {
    let split = |s: String| s.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect();
    Ok(record!(r => ApiToken { id, username, name, scopes: split, secret_hash, created_at, expires_at, revoked_at }))
}

pub(crate) const SESSION: &str =
    "SELECT token_hash, username, created_at, expires_at, address FROM sessions WHERE token_hash = ?1";
pub(crate) const SESSIONS: &str = "SELECT token_hash, username, created_at, expires_at, address FROM sessions
     WHERE username = ?1 AND expires_at > ?2 ORDER BY created_at DESC, token_hash";

pub(crate) fn session(r: &dyn Columns) -> Result<Session> {
    Ok(record!(r => Session { token_hash, username, created_at, expires_at, address }))
}

/// The search's columns and joins; each dialect adds its own filters.
pub(crate) const SUMMARY_COLUMNS: &str =
    "SELECT d.id, d.office, d.trader, d.declared_at, d.tz, d.value_cny, d.historical,
            c.channel, c.risk_value, c.risk_level, t.status, COALESCE(t.channel, c.channel),
            EXISTS (SELECT 1 FROM action_log a WHERE a.action = 'override' AND a.target = d.id)
     FROM declarations d
     LEFT JOIN decisions c ON c.decl = d.seq AND c.decided_at = d.decided_at
     LEFT JOIN control_tasks t ON t.decl = d.seq";

pub(crate) fn declaration_summary(r: &dyn Columns) -> Result<DeclarationSummary> {
    let tz = i32::try_from(r.int(4)?).unwrap_or(0);
    let off = chrono::FixedOffset::east_opt(tz).unwrap_or(chrono::FixedOffset::east_opt(0).expect("utc"));
    Ok(DeclarationSummary {
        id: r.text(0)?,
        office: r.text(1)?,
        trader: r.text(2)?,
        declared_at: chrono::DateTime::from_timestamp(r.int(3)?, 0).unwrap_or_default().with_timezone(&off),
        value_cny: r.real(5)?,
        historical: r.flag(6)?,
        channel: r.text_opt(7)?,
        risk_value: r.real_opt(8)?,
        risk_level: r.text_opt(9)?,
        task_status: r.text_opt(10)?,
        channel_in_force: r.text_opt(11)?,
        overridden: r.flag(12)?,
    })
}

// ------------------------------------------------------------------ cases

pub(crate) const INSERT_CASE: &str = "INSERT INTO cases (version, kind, department, office, status, declaration_id, \
     enterprise, due_at, updated_at, body) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) RETURNING id";

pub(crate) const CASE_BODY: &str = "UPDATE cases SET body = ?2 WHERE id = ?1";

/// A new version over the one it was made from (`?8`), or nothing.
pub(crate) const UPDATE_CASE: &str = "UPDATE cases SET version = ?2, department = ?3, office = ?4, status = ?5, \
     due_at = ?6, updated_at = ?7, body = ?9 WHERE id = ?1 AND version = ?8";

pub(crate) const CASE: &str = "SELECT id, body FROM cases WHERE id = ?1";

pub(crate) const CASES: &str = "SELECT id, body FROM cases
     WHERE (CAST(?1 AS TEXT) IS NULL OR kind = ?1) AND (CAST(?2 AS TEXT) IS NULL OR department = ?2)
       AND (CAST(?3 AS TEXT) IS NULL OR status = ?3) AND (CAST(?4 AS TEXT) IS NULL OR declaration_id = ?4)
       AND (CAST(?5 AS TEXT) IS NULL OR enterprise = ?5)
     ORDER BY id DESC";

/// A case from (id, body): the id column is the truth.
pub(crate) fn case(r: &dyn Columns) -> Result<Case> {
    let mut c: Case = serde_json::from_str(&r.text(1)?)?;
    c.id = r.int(0)?;
    Ok(c)
}

/// The filter of [`CASES`] as its five parameters.
pub(crate) fn case_filter(q: &CaseQuery) -> [Option<String>; 5] {
    [
        q.kind.map(|k| k.as_str().to_string()),
        q.department.clone(),
        q.status.map(|s| s.as_str().to_string()),
        q.declaration_id.clone(),
        q.enterprise.clone(),
    ]
}

/// The action-log entry of a change to case `id`: its target names the case.
pub(crate) fn case_action(action: &Action, id: i64) -> Action {
    Action { target: format!("case:{id}"), ..action.clone() }
}

// ------------------------------------------------------------------ notes

pub(crate) const INSERT_NOTE: &str = "INSERT INTO notes (subject, at, author, department, text, watch_list) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6) RETURNING id";

pub(crate) const NOTES: &str = "SELECT id, subject, at, author, department, text, watch_list FROM notes WHERE subject = ?1 ORDER BY at DESC, id DESC";

pub(crate) fn note(r: &dyn Columns) -> Result<Note> {
    Ok(record!(r => Note { id, subject, at, author, department, text, watch_list }))
}

// ------------------------------------------------------------- committees

pub(crate) const COMMITTEE_EXISTS: &str = "SELECT id FROM committees WHERE unit = ?1";

pub(crate) const INSERT_COMMITTEE: &str = "INSERT INTO committees (level, unit, body) VALUES (?1, ?2, ?3) RETURNING id";

pub(crate) const COMMITTEES: &str = "SELECT id, body FROM committees ORDER BY id";

/// A committee from (id, body): the id column is the truth.
pub(crate) fn committee(r: &dyn Columns) -> Result<crate::committees::Committee> {
    let mut c: crate::committees::Committee = serde_json::from_str(&r.text(1)?)?;
    c.id = r.int(0)?;
    Ok(c)
}

pub(crate) const INSERT_COMMITTEE_ITEM: &str = "INSERT INTO committee_items \
     (committee, version, status, subject, proposed_at, decided_at, body) \
     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7) RETURNING id";

/// A new version over the one it was made from (`?6`), or nothing.
pub(crate) const UPDATE_COMMITTEE_ITEM: &str = "UPDATE committee_items SET version = ?2, status = ?3, \
     decided_at = ?4, body = ?5 WHERE id = ?1 AND version = ?6";

pub(crate) const VOTED: &str = "SELECT 1 FROM committee_votes WHERE item = ?1 AND voter = ?2";

pub(crate) const INSERT_VOTE: &str =
    "INSERT INTO committee_votes (item, voter, at, approve, comment) VALUES (?1, ?2, ?3, ?4, ?5)";

const ITEM_FILTER: &str = "(CAST(?1 AS BIGINT) IS NULL OR i.id = ?1) \
     AND (CAST(?2 AS BIGINT) IS NULL OR i.committee = ?2) \
     AND (CAST(?3 AS TEXT) IS NULL OR i.status = ?3) \
     AND (CAST(?4 AS BIGINT) IS NULL OR i.decided_at >= ?4) \
     AND (CAST(?5 AS BIGINT) IS NULL OR i.decided_at < ?5)";

pub(crate) fn committee_items_sql() -> String {
    format!("SELECT i.id, i.body FROM committee_items i WHERE {ITEM_FILTER} ORDER BY i.id DESC")
}

pub(crate) fn committee_votes_sql() -> String {
    format!(
        "SELECT v.item, v.voter, v.at, v.approve, v.comment FROM committee_votes v \
         JOIN committee_items i ON i.id = v.item WHERE {ITEM_FILTER} ORDER BY v.item, v.at, v.voter"
    )
}

/// The parameters of [`committee_items_sql`] and [`committee_votes_sql`]:
/// id, committee, status, decided from, decided before.
pub(crate) type ItemFilter = (Option<i64>, Option<i64>, Option<String>, Option<i64>, Option<i64>);

/// The [`ItemFilter`] of a query.
pub(crate) fn item_filter(q: &crate::committees::ItemQuery) -> ItemFilter {
    (q.id, q.committee, q.status.clone(), q.decided_from, q.decided_to)
}

/// An item from (id, body); its votes are attached afterwards.
pub(crate) fn committee_item(r: &dyn Columns) -> Result<crate::committees::CommitteeItem> {
    let mut i: crate::committees::CommitteeItem = serde_json::from_str(&r.text(1)?)?;
    i.id = r.int(0)?;
    Ok(i)
}

/// (item, vote) from a row of [`committee_votes_sql`].
pub(crate) fn committee_vote(r: &dyn Columns) -> Result<(i64, crate::committees::Vote)> {
    Ok((
        r.int(0)?,
        crate::committees::Vote { voter: r.text(1)?, at: r.int(2)?, approve: r.flag(3)?, comment: r.text_opt(4)? },
    ))
}
