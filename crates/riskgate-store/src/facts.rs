//! Daily and monthly aggregates of the live declarations (issue 14, DESIGN.md
//! "KPIs"): the `facts` table holds, per period × office × dimension × key,
//! the sums every KPI and breakdown is computed from, so views read a few
//! thousand rows instead of scanning declarations.
//!
//! One function says what a declaration adds ([`contribution`]): its own
//! facts, its decision and the outcomes recorded so far. The table is kept
//! by folding the event sequence (declarations and outcomes share one) in
//! order: for every declaration an event range touches, its contribution
//! after the range minus its contribution before, under the keys it had
//! before and has after (a declaration's officer and finding keys come from
//! its outcomes). The table is folded unit by unit ([`units`]: a grain and
//! a dimension, e.g. the monthly trader rows): each unit has its own mark
//! (`counters.facts:GRAIN:DIM`), which moves in the transaction that adds
//! that unit's rows, so a fold holds SQLite's one write lock for one unit at
//! a time and a screening commit waiting for it waits for a few
//! milliseconds, not for the whole fold (issue 16). A read adds the events
//! after the marks of the units it reads computed the same way without
//! writing (the "tail"), so every answer is exact at the moment it is read,
//! whether or not the fold has caught up.
//!
//! Releases are the one fact that changes in place (`released_at` of a
//! controlled declaration): the transaction that stores one adds it to the
//! units whose fold has already taken the declaration ([`release_deltas`]);
//! the fold of each other unit adds it when it takes the declaration,
//! reading releases under the write lock ([`fold_releases`]), so none is
//! counted twice or lost. A green declaration is released when it is
//! decided, so its release is part of its contribution.
//!
//! Days and months are China time (+08:00), the same boundaries as the
//! `from`/`to` of every period query. `grain = 'day'` rows exist for the
//! office totals only (dimension `''`); every dimension has monthly rows.

use std::collections::{BTreeSet, HashMap};

use crate::Result;
use crate::rows::Columns;

macro_rules! facts {
    ($($(#[$m:meta])* $name:ident),* $(,)?) => {
        /// The sums behind the KPIs of one slice of traffic (an office, a
        /// goods heading, a trader…). Counts are whole numbers kept as
        /// floating point (exact below 2^53), money is CNY.
        #[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
        pub struct Facts { $($(#[$m])* pub $name: f64,)* }

        impl Facts {
            /// The `facts` table's value columns, in order.
            pub const COLUMNS: &'static [&'static str] = &[$(stringify!($name)),*];

            /// `self += sign × other`.
            pub fn add(&mut self, other: &Facts, sign: f64) {
                $(self.$name += sign * other.$name;)*
            }

            pub fn values(&self) -> Vec<f64> {
                vec![$(self.$name),*]
            }

            pub(crate) fn read(r: &dyn Columns, first: usize) -> Result<Facts> {
                let mut i = first..;
                Ok(Facts { $($name: r.real_opt(i.next().unwrap_or_default())?.unwrap_or(0.0),)* })
            }

            pub fn is_zero(&self) -> bool {
                true $(&& self.$name == 0.0)*
            }
        }
    };
}

facts! {
    /// Live declarations received (history imports are not).
    declarations,
    /// History imports (`import declarations --historical`): never screened.
    historical,
    /// Live declarations with a decision of the engine.
    screened,
    /// Declarations the engine sent to control (yellow or red).
    engine_controls,
    /// Controls by the source that chose them: rule, score, random, manual.
    controls_rule,
    controls_score,
    controls_random,
    controls_manual,
    /// Declarations with at least one completed border control (the engine's
    /// controls, officers' overrides and manual controls alike).
    carried_out,
    completed_rule,
    completed_score,
    completed_random,
    completed_manual,
    findings_rule,
    findings_score,
    findings_random,
    findings_manual,
    /// Additional duty and taxes assessed by controls and audits.
    additional_duty_cny,
    /// Duty and taxes as declared (Σ item value × duty rate, in CNY).
    declared_duty_cny,
    /// Declared value.
    value_cny,
    imports_sea,
    same_day_sea,
    imports_other,
    same_day_other,
    /// Smuggling found at the border (controls before release)…
    smuggling_border,
    /// …and later, by audit of released goods.
    smuggling_later,
    /// Declarations the engine let go (green, or no decision).
    uncontrolled,
    uncontrolled_value_cny,
    /// Declared value of the completed random controls, each weighted by
    /// 1 / its selection probability (Horvitz–Thompson)…
    random_value_cny,
    /// …and the additional duty they found, weighted the same way.
    random_revenue_cny,
    /// Seconds from declaration to the first completed border control,
    /// summed over `carried_out`.
    control_seconds,
    /// Declarations with a seizure.
    seizures,
    /// Additional duty found by post-clearance audits in declarations the
    /// engine let go (part of `additional_duty_cny`): recovered from the
    /// evasion the random controls estimate there.
    audit_duty_uncontrolled_cny,
}

impl Facts {
    pub fn controls_by_source(&self) -> [f64; 4] {
        [self.controls_rule, self.controls_score, self.controls_random, self.controls_manual]
    }
    pub fn completed_by_source(&self) -> [f64; 4] {
        [self.completed_rule, self.completed_score, self.completed_random, self.completed_manual]
    }
    pub fn findings_by_source(&self) -> [f64; 4] {
        [self.findings_rule, self.findings_score, self.findings_random, self.findings_manual]
    }
    pub fn completed(&self) -> f64 {
        self.completed_by_source().iter().sum()
    }
    pub fn findings(&self) -> f64 {
        self.findings_by_source().iter().sum()
    }
    fn source_slot(&mut self, i: usize) -> [&mut f64; 3] {
        match i {
            0 => [&mut self.controls_rule, &mut self.completed_rule, &mut self.findings_rule],
            1 => [&mut self.controls_score, &mut self.completed_score, &mut self.findings_score],
            2 => [&mut self.controls_random, &mut self.completed_random, &mut self.findings_random],
            _ => [&mut self.controls_manual, &mut self.completed_manual, &mut self.findings_manual],
        }
    }
}

/// The dimensions a breakdown can be asked for (`''` is the office total).
pub const DIMENSIONS: &[&str] = &[
    "direction",
    "transport",
    "trade_mode",
    "hs2",
    "hs4",
    "hs6",
    "origin",
    "trader",
    "source",
    "rule",
    "officer",
    "finding",
];

/// Dimensions whose keys come from outcomes: release counts are not kept
/// under them (a release is added once, under the keys the declaration has
/// of its own).
fn from_outcomes(dim: &str) -> bool {
    matches!(dim, "officer" | "finding")
}

/// `day` rows: the office totals per day; `month` rows: every dimension;
/// `quarter` and `year` rows: the dimensions with many keys ([`YEARLY`]),
/// so a breakdown over whole quarters and years sums one row per key and
/// quarter or year instead of three or twelve.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Grain {
    Day,
    Month,
    Quarter,
    Year,
}

impl Grain {
    pub fn as_str(self) -> &'static str {
        match self {
            Grain::Day => "day",
            Grain::Month => "month",
            Grain::Quarter => "quarter",
            Grain::Year => "year",
        }
    }
}

/// Dimensions with tens of thousands of keys nationally: they also have
/// quarterly and yearly rows (migration 20). HS headings (about 1,200)
/// and the other dimensions read monthly rows fast enough.
pub const YEARLY: &[&str] = &["trader", "hs6"];

/// How a monthly period is read from coarser rows: the whole years
/// `[y0, y1)` from yearly rows (`y0 == y1`: none), the other whole quarters
/// of `[q0, q1)` from quarterly rows, the months outside those quarters
/// from monthly rows. Quarter `q` is year × 4 + (month − 1) / 3.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Coarse {
    pub years: (i64, i64),
    pub quarters: (i64, i64),
}

/// The whole quarters and years inside months `[from, to)` (year × 12 +
/// month − 1; open ends as `i64::MIN`/`MAX`), if there is a whole quarter.
pub fn coarse_periods(from: i64, to: i64) -> Option<Coarse> {
    let ceil = |v: i64, n: i64| v.div_euclid(n) + i64::from(v.rem_euclid(n) != 0);
    let (q0, q1) = (ceil(from, 3), to.div_euclid(3));
    if q0 >= q1 {
        return None;
    }
    let (y0, y1) = (ceil(q0, 4), q1.div_euclid(4));
    Some(Coarse { years: if y0 < y1 { (y0, y1) } else { (0, 0) }, quarters: (q0, q1) })
}

impl Coarse {
    /// The five period ranges read, each `[lo, hi)` of its grain: the
    /// years; the quarters before and after them; the months before and
    /// after the quarters (of monthly `[from, to)`).
    fn ranges(&self, from: i64, to: i64) -> [(Grain, i64, i64); 5] {
        let (y0, y1) = self.years;
        let (q0, q1) = self.quarters;
        // Without whole years the quarters are one range.
        let (qa, qb) = if y0 < y1 { (y0.saturating_mul(4), y1.saturating_mul(4)) } else { (q1, q1) };
        [
            (Grain::Year, y0, y1),
            (Grain::Quarter, q0, qa),
            (Grain::Quarter, qb, q1),
            (Grain::Month, from, q0.saturating_mul(3)),
            (Grain::Month, q1.saturating_mul(3), to),
        ]
    }

    /// Whether a row of `grain` at `period` is read for monthly `[from, to)`.
    fn takes(&self, grain: Grain, period: i64, from: i64, to: i64) -> bool {
        self.ranges(from, to).iter().any(|&(g, lo, hi)| g == grain && period >= lo && period < hi)
    }

    /// `?8` … `?15`: the ends of [`Self::ranges`] but the period's own
    /// (`?2`, `?3`).
    fn params(&self, from: i64, to: i64) -> [i64; 8] {
        let r = self.ranges(from, to);
        [r[0].1, r[0].2, r[1].1, r[1].2, r[2].1, r[2].2, r[3].2, r[4].1]
    }
}

/// One row of the `facts` table.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct FactKey {
    pub grain: Grain,
    /// Day: days since 1970-01-01 (China time); month: year × 12 + month − 1.
    pub period: i64,
    pub office: String,
    pub dim: String,
    pub key: String,
}

/// China time's offset, the boundary of every day and month here.
const CHINA: i64 = 8 * 3600;

/// The day (China time) `ts` falls on.
pub fn day_of(ts: i64) -> i64 {
    (ts + CHINA).div_euclid(86_400)
}

/// The month (China time) `ts` falls in, as year × 12 + month − 1.
pub fn month_of(ts: i64) -> i64 {
    let date = chrono::DateTime::from_timestamp(ts + CHINA, 0).map(|t| t.date_naive()).unwrap_or_default();
    use chrono::Datelike;
    i64::from(date.year()) * 12 + i64::from(date.month0())
}

/// The first second (UTC seconds) of day number `day` in China time.
pub fn day_start(day: i64) -> i64 {
    day * 86_400 - CHINA
}

/// The first second of month `m` (year × 12 + month − 1) in China time.
pub fn month_start(m: i64) -> i64 {
    let (y, mo) = (m.div_euclid(12), m.rem_euclid(12) + 1);
    chrono::NaiveDate::from_ymd_opt(y as i32, mo as u32, 1)
        .map_or(0, |d| d.and_hms_opt(0, 0, 0).unwrap_or_default().and_utc().timestamp() - CHINA)
}

/// What a read of the table asks: rows of `grain` in `[from, to)` (periods
/// of that grain), of dimension `dim` (`""`: office totals), optionally only
/// some offices and keys, summed by `by`.
#[derive(Debug, Clone)]
pub struct FactsQuery {
    pub grain: Grain,
    pub from: i64,
    pub to: i64,
    pub dim: String,
    pub offices: Option<Vec<String>>,
    /// Keys equal to this or, with a trailing `*`, starting with it.
    pub key: Option<String>,
    /// Only these keys.
    pub keys: Option<Vec<String>>,
    pub by: By,
    /// Only the `top` groups with the most findings (then declarations,
    /// then by key).
    pub top: Option<usize>,
    /// Read the whole years and quarters of the period from yearly and
    /// quarterly rows and the months around them from monthly rows
    /// ([`YEARLY`] dimensions, `grain` month, by key; see
    /// [`FactsQuery::with_coarse`]).
    pub coarse: Option<Coarse>,
}

impl FactsQuery {
    /// Rows of `grain` and `dim` in `[from, to)` summed `by`, every key.
    pub fn new(grain: Grain, from: i64, to: i64, dim: &str, by: By) -> FactsQuery {
        FactsQuery {
            grain,
            from,
            to,
            dim: dim.to_string(),
            offices: None,
            key: None,
            keys: None,
            by,
            top: None,
            coarse: None,
        }
    }

    /// The same read, with the whole quarters and years of a monthly
    /// period by key read from quarterly and yearly rows where the
    /// dimension has them.
    pub fn with_coarse(self) -> FactsQuery {
        let coarse = (self.grain == Grain::Month && self.by == By::Key && YEARLY.contains(&self.dim.as_str()))
            .then(|| coarse_periods(self.from, self.to))
            .flatten();
        FactsQuery { coarse, ..self }
    }
}

/// The groups a read gives, and how many there were before `top` kept
/// the first ones.
#[derive(Debug, Clone, Default)]
pub struct FactRows {
    pub rows: Vec<(String, Facts)>,
    pub groups: usize,
}

/// Literals of a SQL list (quotes doubled).
fn literals(v: &[String]) -> String {
    if v.is_empty() {
        return "NULL".into();
    }
    v.iter().map(|c| format!("'{}'", c.replace('\'', "''"))).collect::<Vec<_>>().join(", ")
}

/// How the rows of a read are summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum By {
    Office,
    Key,
    Period,
}

impl FactsQuery {
    fn takes(&self, k: &FactKey) -> bool {
        let period = match &self.coarse {
            Some(c) => c.takes(k.grain, k.period, self.from, self.to),
            None => k.grain == self.grain && k.period >= self.from && k.period < self.to,
        };
        period
            && k.dim == self.dim
            && self.offices.as_ref().is_none_or(|o| o.contains(&k.office))
            && self.keys.as_ref().is_none_or(|o| o.contains(&k.key))
            && self.key.as_deref().is_none_or(|want| match want.strip_suffix('*') {
                Some(prefix) => k.key.starts_with(prefix),
                None => k.key == want,
            })
    }

    fn group(&self, k: &FactKey) -> String {
        match self.by {
            By::Office => k.office.clone(),
            By::Key => k.key.clone(),
            By::Period => k.period.to_string(),
        }
    }

    /// The SQL summing the stored rows: `?1` grain, `?2`/`?3` periods, `?4`
    /// dimension, `?5` the key or key prefix ([`Self::key_param`]), `?6` the
    /// offices and `?7` the keys (a JSON array on SQLite, `text[]` on
    /// PostgreSQL; NULL when not asked). `top`: the `ORDER BY … LIMIT` of
    /// [`FactsQuery::top`] (left out when unfolded events must be merged
    /// first). The column after the sums counts the groups.
    pub(crate) fn sql(&self, top: bool, pg: bool) -> String {
        let group = match self.by {
            By::Office => "office",
            By::Key => "key",
            By::Period => "CAST(period AS TEXT)",
        };
        let sums: Vec<String> = Facts::COLUMNS.iter().map(|c| format!("SUM({c})")).collect();
        let mut sql = format!("SELECT {group}, {}, COUNT(*) OVER () FROM {}", sums.join(", "), self.rows("*", pg));
        sql.push_str(&format!(" GROUP BY {group}"));
        if let (true, Some(n)) = (top, self.top) {
            sql.push_str(&format!(
                " ORDER BY SUM(findings_rule) + SUM(findings_score) + SUM(findings_random) + SUM(findings_manual) DESC,
                           SUM(declarations) DESC, {group} LIMIT {n}"
            ));
        }
        sql
    }

    /// The first step of a ranked read by key ([`Self::ranked`]): every
    /// group's findings and declarations, and nothing else, read from the
    /// narrow index `facts_rank` (dimension, grain, office, key, period and
    /// the five ranking columns; migration 19) in key order, so a national
    /// breakdown by trader or HS subheading reads a few bytes per row and
    /// sorts nothing. On SQLite the rows come one per stored row (key,
    /// four findings columns, declarations) and are summed by the caller:
    /// SQLite's aggregate functions cost about 1 µs a row, three times the
    /// row itself. Same parameters as [`Self::sql`].
    pub(crate) fn rank_sql(&self, pg: bool) -> String {
        const COLUMNS: &str = "key, findings_rule, findings_score, findings_random, findings_manual, declarations";
        if pg {
            format!(
                "SELECT key, SUM(findings_rule + findings_score + findings_random + findings_manual),
                        SUM(declarations) FROM {} GROUP BY key",
                self.rows(COLUMNS, pg)
            )
        } else {
            // One seek of the index per grain read (coarse periods).
            // The rows are summed by the caller: no outer query.
            self.branches(COLUMNS, pg, true)
        }
    }

    /// The `FROM` of a read: the table with its `WHERE`, or the rows of
    /// each grain read (coarse periods) as one `UNION ALL` named `facts`,
    /// each branch a seek of its own.
    fn rows(&self, columns: &str, pg: bool) -> String {
        // A few keys of one unit (the second step of a ranked read): seek
        // the unit's periods in the narrow index and look up the matching
        // rows, instead of every unit's rows of the period (SQLite cannot
        // see the bound ranges when it plans).
        let few_keys = self.keys.is_some() && self.offices.as_ref().is_some_and(|o| o.len() == 1);
        self.rows_from(columns, pg, few_keys)
    }

    /// [`Self::rows`], through the narrow index on SQLite when `narrow`.
    fn rows_from(&self, columns: &str, pg: bool, narrow: bool) -> String {
        match self.filter(pg).as_slice() {
            [one] => format!("facts{} WHERE {one}", if narrow && !pg { " INDEXED BY facts_rank" } else { "" }),
            _ => format!("({}) AS facts", self.branches(columns, pg, narrow)),
        }
    }

    /// `SELECT columns` of each grain read, joined by `UNION ALL` (through
    /// the narrow index on SQLite when `narrow`).
    fn branches(&self, columns: &str, pg: bool, narrow: bool) -> String {
        let hint = if narrow && !pg { " INDEXED BY facts_rank" } else { "" };
        self.filter(pg)
            .iter()
            .map(|w| format!("SELECT {columns} FROM facts{hint} WHERE {w}"))
            .collect::<Vec<_>>()
            .join(" UNION ALL ")
    }

    /// Whether a read is ranked in two steps: groups by key cut to the
    /// `top` first ([`Self::rank_sql`], then the full sums of those keys).
    pub fn ranked(&self) -> bool {
        self.by == By::Key && self.top.is_some()
    }

    /// The `WHERE` of [`Self::sql`] and [`Self::rank_sql`]: one per grain
    /// read (years, quarters, months with coarse periods).
    fn filter(&self, pg: bool) -> Vec<String> {
        let mut sql = String::new();
        // Every parameter is used (PostgreSQL types each from its use).
        let list = |column: &str, n: u8, asked: Option<usize>| match (asked, pg) {
            (None, false) => format!(" AND CAST(?{n} AS TEXT) IS NULL"),
            (None, true) => format!(" AND CAST(?{n} AS TEXT[]) IS NULL"),
            // One value: an equality the index can seek and keep its order on.
            (Some(1), false) => format!(" AND {column} = json_extract(?{n}, '$[0]')"),
            (Some(1), true) => format!(" AND {column} = (CAST(?{n} AS TEXT[]))[1]"),
            (Some(_), false) => format!(" AND {column} IN (SELECT value FROM json_each(?{n}))"),
            (Some(_), true) => format!(" AND {column} = ANY(CAST(?{n} AS TEXT[]))"),
        };
        match self.key.as_deref() {
            Some(k) if k.ends_with('*') => sql.push_str(" AND substr(key, 1, length(?5)) = ?5"),
            Some(_) => sql.push_str(" AND key = ?5"),
            None => sql.push_str(" AND CAST(?5 AS TEXT) IS NULL"),
        }
        sql.push_str(&list("office", 6, self.offices.as_ref().map(Vec::len)));
        sql.push_str(&list("key", 7, self.keys.as_ref().map(Vec::len)));
        match self.coarse {
            None => vec![format!("grain = ?1 AND period >= ?2 AND period < ?3 AND dim = ?4{sql}")],
            // ?8 … ?15: [`Coarse::params`], one range per branch, each a
            // seek (most are empty); the months start at the period's
            // `?2` and end at its `?3`. Every one is compared with a
            // period, so PostgreSQL types each as one.
            Some(_) => [("'year'", 8, 9), ("'quarter'", 10, 11), ("'quarter'", 12, 13), ("?1", 2, 14), ("?1", 15, 3)]
                .iter()
                .map(|(grain, lo, hi)| {
                    format!("dim = ?4 AND grain = {grain} AND period >= ?{lo} AND period < ?{hi}{sql}")
                })
                .collect(),
        }
    }

    /// `?8` … `?15` of a read with coarse periods, when it has them (the
    /// SQL names them only then).
    pub(crate) fn params_coarse(&self) -> Option<[i64; 8]> {
        self.coarse.map(|c| c.params(self.from, self.to))
    }

    /// `?5`: the key, or the prefix of a `prefix*` pattern.
    pub(crate) fn key_param(&self) -> Option<String> {
        self.key.as_deref().map(|k| k.strip_suffix('*').unwrap_or(k).to_string())
    }
}

/// The update adding a delta's non-zero columns (`mask`: bit `i` for
/// column `i` of [`Facts::COLUMNS`]) to a stored row: `?1`–`?5` grain,
/// period, office, dim, key, then the columns' values in order.
pub(crate) fn update_sql(mask: u64) -> String {
    let sets: Vec<String> = Facts::COLUMNS
        .iter()
        .enumerate()
        .filter(|(i, _)| mask & (1 << i) != 0)
        .enumerate()
        .map(|(n, (_, c))| format!("{c} = {c} + ?{}", n + 6))
        .collect();
    format!(
        "UPDATE facts SET {} WHERE dim = ?4 AND grain = ?1 AND period = ?2 AND office = ?3 AND key = ?5",
        sets.join(", ")
    )
}

/// The insert of a new row: `?1`–`?5` as in [`update_sql`], then every
/// column.
pub(crate) fn insert_sql() -> String {
    let cols = Facts::COLUMNS.join(", ");
    let marks: Vec<String> = (6..6 + Facts::COLUMNS.len()).map(|i| format!("?{i}")).collect();
    format!(
        "INSERT INTO facts (grain, period, office, dim, key, {cols}) VALUES (?1, ?2, ?3, ?4, ?5, {})",
        marks.join(", ")
    )
}

/// Reads rows for the fold: `each(sql, params, f)` runs `sql` (with `?N`
/// marks) and calls `f` on every row.
pub(crate) trait Reader {
    fn each(&self, sql: &str, params: &[i64], f: &mut dyn FnMut(&dyn Columns) -> Result<()>) -> Result<()>;
}

/// Monthly rows are also kept for every unit with units below it, under
/// the office code `^UNIT` (its whole subtree), so a district's or HQ's
/// breakdown reads one row per key and month, not one per office.
pub const SUBTREE: &str = "^";

/// The rollup codes (`^UNIT`) each office's rows are added to: every unit
/// above it, and itself when units sit below it.
pub(crate) type Rollups = HashMap<String, Vec<String>>;

pub(crate) fn rollup_map<'a>(tree: impl IntoIterator<Item = (&'a str, Option<&'a str>)>) -> Rollups {
    let parent: HashMap<&str, Option<&str>> = tree.into_iter().collect();
    let has_children: BTreeSet<&str> = parent.values().flatten().copied().collect();
    let mut out = HashMap::new();
    for code in parent.keys() {
        let mut v = Vec::new();
        if has_children.contains(code) {
            v.push(format!("{SUBTREE}{code}"));
        }
        let mut at = parent.get(code).copied().flatten();
        for _ in 0..16 {
            let Some(p) = at else { break };
            v.push(format!("{SUBTREE}{p}"));
            at = parent.get(p).copied().flatten();
        }
        out.insert(code.to_string(), v);
    }
    out
}

/// The office tree as stored: (code, parent).
fn tree(r: &dyn Reader) -> Result<Vec<(String, Option<String>)>> {
    let mut tree = Vec::new();
    r.each("SELECT code, parent FROM offices", &[], &mut |row| {
        tree.push((row.text(0)?, row.text_opt(1)?));
        Ok(())
    })?;
    Ok(tree)
}

/// The rollups of the office tree as stored.
pub(crate) fn rollups(r: &dyn Reader) -> Result<Rollups> {
    let tree = tree(r)?;
    Ok(rollup_map(tree.iter().map(|(c, p)| (c.as_str(), p.as_deref()))))
}

/// What the fold knows of one declaration.
#[derive(Debug, Default)]
struct DeclState {
    seq: i64,
    office: String,
    declared_at: i64,
    tz: i64,
    direction: String,
    transport_mode: String,
    trade_mode: String,
    trader: String,
    value_cny: f64,
    historical: bool,
    released_at: Option<i64>,
    channel: Option<String>,
    source: Option<String>,
    propensity: Option<f64>,
    items: Vec<(String, String, f64, f64)>,
    rules: BTreeSet<String>,
    outcomes: Vec<OutcomeFact>,
}

#[derive(Debug)]
struct OutcomeFact {
    seq: i64,
    officer: String,
    audit: bool,
    completed_at: i64,
    finding: bool,
    additional_duty: f64,
    smuggling: bool,
    seizure: bool,
    kinds: Vec<String>,
}

/// The declarations of `set` (a SQL subquery of declaration seqs using
/// `?1`, `?2`), with their outcomes up to event `?3`.
fn load(r: &dyn Reader, set: &str, params: [i64; 3]) -> Result<Vec<DeclState>> {
    let mut by_seq: HashMap<i64, DeclState> = HashMap::new();
    r.each(
        &format!(
            "SELECT d.seq, d.office, d.declared_at, d.tz, d.direction, d.transport_mode, d.trade_mode, d.trader,
                    d.value_cny, d.historical, d.released_at, c.channel, c.source, c.propensity
             FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq AND c.decided_at = d.decided_at WHERE d.seq IN ({set})"
        ),
        &params[..2],
        &mut |row| {
            let s = DeclState {
                seq: row.int(0)?,
                office: row.text(1)?,
                declared_at: row.int(2)?,
                tz: row.int(3)?,
                direction: row.text(4)?,
                transport_mode: row.text(5)?,
                trade_mode: row.text_opt(6)?.unwrap_or_default(),
                trader: row.text(7)?,
                value_cny: row.real(8)?,
                historical: row.flag(9)?,
                released_at: row.int_opt(10)?,
                channel: row.text_opt(11)?,
                source: row.text_opt(12)?,
                propensity: row.real_opt(13)?,
                ..Default::default()
            };
            by_seq.insert(s.seq, s);
            Ok(())
        },
    )?;
    if by_seq.is_empty() {
        return Ok(Vec::new());
    }
    r.each(
        &format!("SELECT decl, hs_code, origin, value, duty_rate FROM items WHERE decl IN ({set})"),
        &params[..2],
        &mut |row| {
            if let Some(s) = by_seq.get_mut(&row.int(0)?) {
                s.items.push((row.text(1)?, row.text(2)?, row.real(3)?, row.real(4)?));
            }
            Ok(())
        },
    )?;
    r.each(&format!("SELECT decl, rule_id FROM rule_hits WHERE decl IN ({set})"), &params[..2], &mut |row| {
        if let Some(s) = by_seq.get_mut(&row.int(0)?) {
            s.rules.insert(row.text(1)?);
        }
        Ok(())
    })?;
    r.each(
        &format!(
            "SELECT decl, seq, officer, control, completed_at, finding, additional_duty, smuggling, seizure, body
             FROM outcomes WHERE decl IN ({set}) AND seq <= ?3"
        ),
        &params,
        &mut |row| {
            if let Some(s) = by_seq.get_mut(&row.int(0)?) {
                let body = row.text(9)?;
                let kinds = serde_json::from_str::<serde_json::Value>(&body)
                    .ok()
                    .and_then(|v| {
                        v.get("findings")
                            .and_then(|f| f.as_array())
                            .map(|a| a.iter().filter_map(|x| x.as_str().map(str::to_string)).collect())
                    })
                    .unwrap_or_default();
                s.outcomes.push(OutcomeFact {
                    seq: row.int(1)?,
                    officer: row.text(2)?,
                    audit: row.text(3)? == "audit",
                    completed_at: row.int(4)?,
                    finding: row.flag(5)?,
                    additional_duty: row.real(6)?,
                    smuggling: row.flag(7)?,
                    seizure: row.flag(8)?,
                    kinds,
                });
            }
            Ok(())
        },
    )?;
    let mut out: Vec<DeclState> = by_seq.into_values().collect();
    out.sort_by_key(|s| s.seq);
    Ok(out)
}

fn inverse(p: Option<f64>) -> f64 {
    match p {
        Some(p) if p > 0.0 && p <= 1.0 => 1.0 / p,
        _ => 1.0,
    }
}

fn same_day(a: i64, b: i64, tz: i64) -> bool {
    (a + tz).div_euclid(86_400) == (b + tz).div_euclid(86_400)
}

/// What declaration `s` adds with the outcomes recorded up to event
/// `upto`. `late_release`: count the release of a declaration that was not
/// released when decided (the fold leaves it to [`fold_releases`]).
fn contribution(s: &DeclState, upto: i64, late_release: bool) -> Facts {
    let mut f = Facts::default();
    if s.historical {
        f.historical = 1.0;
        return f;
    }
    f.declarations = 1.0;
    f.value_cny = s.value_cny;
    let item_value: f64 = s.items.iter().map(|i| i.2).sum();
    if item_value > 0.0 {
        f.declared_duty_cny = s.items.iter().map(|i| i.2 * i.3).sum::<f64>() * s.value_cny / item_value;
    }
    let green = s.channel.as_deref() == Some("green");
    let controlled = s.channel.is_some() && !green;
    if s.channel.is_some() {
        f.screened = 1.0;
    }
    if controlled {
        f.engine_controls = 1.0;
        if let Some(i) = s.source.as_deref().and_then(crate::policy::source_index) {
            *f.source_slot(i)[0] += 1.0;
        }
    } else {
        f.uncontrolled = 1.0;
        f.uncontrolled_value_cny = s.value_cny;
    }
    if s.direction == "import" {
        let released = if green || late_release { s.released_at } else { None };
        let same = f64::from(u8::from(released.is_some_and(|t| same_day(t, s.declared_at, s.tz))));
        if s.transport_mode == "sea" {
            f.imports_sea = 1.0;
            f.same_day_sea = same;
        } else {
            f.imports_other = 1.0;
            f.same_day_other = same;
        }
    }
    let outcomes: Vec<&OutcomeFact> = s.outcomes.iter().filter(|o| o.seq <= upto).collect();
    if outcomes.is_empty() {
        return f;
    }
    let duty: f64 = outcomes.iter().map(|o| o.additional_duty).sum();
    f.additional_duty_cny = duty;
    if !controlled {
        f.audit_duty_uncontrolled_cny = outcomes.iter().filter(|o| o.audit).map(|o| o.additional_duty).sum();
    }
    f.smuggling_border = f64::from(u8::from(outcomes.iter().any(|o| o.smuggling && !o.audit)));
    f.smuggling_later = f64::from(u8::from(outcomes.iter().any(|o| o.smuggling && o.audit)));
    f.seizures = f64::from(u8::from(outcomes.iter().any(|o| o.seizure)));
    let first_border = outcomes.iter().filter(|o| !o.audit).map(|o| o.completed_at).min();
    let Some(first) = first_border else { return f };
    f.carried_out = 1.0;
    f.control_seconds = (first - s.declared_at).max(0) as f64;
    let slot = if controlled { s.source.as_deref().and_then(crate::policy::source_index) } else { Some(3) };
    if let Some(i) = slot {
        // The control's own finding: a later audit's is not the border's hit.
        let finding = f64::from(u8::from(outcomes.iter().any(|o| o.finding && !o.audit)));
        let [controls, completed, findings] = f.source_slot(i);
        if !controlled {
            // A manual control of a declaration the engine let go.
            *controls += 1.0;
        }
        *completed = 1.0;
        *findings = finding;
        if i == 2 {
            // What the random control itself found: an audit after release
            // was not drawn at random, so its duty does not scale up.
            let border: f64 = outcomes.iter().filter(|o| !o.audit).map(|o| o.additional_duty).sum();
            f.random_value_cny = s.value_cny * inverse(s.propensity);
            f.random_revenue_cny = border * inverse(s.propensity);
        }
    }
    f
}

/// The (dimension, key) pairs declaration `s` counts under with the
/// outcomes up to `upto`: `("", "")` first.
fn keys(s: &DeclState, upto: i64) -> Vec<(&'static str, String)> {
    let mut k: Vec<(&'static str, String)> = vec![("", String::new())];
    if s.historical {
        return k;
    }
    k.push(("direction", s.direction.clone()));
    k.push(("transport", s.transport_mode.clone()));
    if !s.trade_mode.is_empty() {
        k.push(("trade_mode", s.trade_mode.clone()));
    }
    let mut goods = BTreeSet::new();
    for (hs, origin, _, _) in &s.items {
        for (dim, n) in [("hs2", 2), ("hs4", 4), ("hs6", 6)] {
            if hs.len() >= n && hs.is_char_boundary(n) {
                goods.insert((dim, hs[..n].to_string()));
            }
        }
        goods.insert(("origin", origin.clone()));
    }
    k.extend(goods);
    k.push(("trader", s.trader.clone()));
    if let Some(src) = &s.source {
        k.push(("source", src.clone()));
    }
    k.extend(s.rules.iter().map(|r| ("rule", r.clone())));
    let mut later = BTreeSet::new();
    for o in s.outcomes.iter().filter(|o| o.seq <= upto) {
        later.insert(("officer", o.officer.clone()));
        for kind in &o.kinds {
            later.insert(("finding", kind.clone()));
        }
    }
    k.extend(later);
    k
}

/// Adds `sign × f` of declaration `s` under each of `keys` to `out`, and
/// the monthly rows to the rollups `up` of its office.
fn emit(
    out: &mut HashMap<FactKey, Facts>,
    up: &HashMap<String, Vec<String>>,
    s: &DeclState,
    keys: &[(&'static str, String)],
    f: &Facts,
    sign: f64,
) {
    let ups = up.get(&s.office).map_or(&[][..], Vec::as_slice);
    let (day, month) = (day_of(s.declared_at), month_of(s.declared_at));
    let mut masked = *f;
    masked.imports_sea = 0.0;
    masked.same_day_sea = 0.0;
    masked.imports_other = 0.0;
    masked.same_day_other = 0.0;
    for (dim, key) in keys {
        let f = if from_outcomes(dim) { &masked } else { f };
        let mut put = |grain, period, office: &str| {
            out.entry(FactKey { grain, period, office: office.to_string(), dim: (*dim).to_string(), key: key.clone() })
                .or_default()
                .add(f, sign);
        };
        put(Grain::Month, month, &s.office);
        for u in ups {
            put(Grain::Month, month, u);
        }
        if YEARLY.contains(dim) {
            for (grain, period) in [(Grain::Quarter, month.div_euclid(3)), (Grain::Year, month.div_euclid(12))] {
                put(grain, period, &s.office);
                for u in ups {
                    put(grain, period, u);
                }
            }
        }
        if dim.is_empty() {
            put(Grain::Day, day, &s.office);
        }
    }
}

/// Declarations stored or given outcomes by events `(?1, ?2]`.
const TOUCHED: &str = "SELECT seq FROM declarations WHERE seq > ?1 AND seq <= ?2
                       UNION SELECT decl FROM outcomes WHERE seq > ?1 AND seq <= ?2";

/// What events `(mark, hi]` change in the table.
/// `only`: the keys of one dimension only (a read needs no others).
/// `late`: count releases of declarations not released when decided as
/// they stand (a read); the fold leaves them to [`fold_releases`], which it
/// runs under the write lock.
pub(crate) fn deltas(
    r: &dyn Reader,
    up: &Rollups,
    mark: i64,
    hi: i64,
    only: Option<&str>,
    late: bool,
) -> Result<HashMap<FactKey, Facts>> {
    let mut out = HashMap::new();
    let pick = |mut k: Vec<(&'static str, String)>| {
        if let Some(d) = only {
            k.retain(|(dim, _)| *dim == d);
        }
        k
    };
    for s in load(r, TOUCHED, [mark, hi, hi])? {
        if s.seq <= mark {
            emit(&mut out, up, &s, &pick(keys(&s, mark)), &contribution(&s, mark, late), -1.0);
        }
        emit(&mut out, up, &s, &pick(keys(&s, hi)), &contribution(&s, hi, late), 1.0);
    }
    out.retain(|_, f| !f.is_zero());
    Ok(out)
}

/// What the releases of declarations `seqs` (just stored) add: one
/// same-day release each, under the keys the declaration has of its own, if
/// it was released on the day it was declared and was not released when
/// decided (those are in the contribution). Only declarations the fold has
/// taken (`seq <= mark`, the mark read in the same transaction): the fold
/// adds the releases of the others when it takes them.
pub(crate) fn release_deltas(r: &dyn Reader, seqs: &[i64], marks: &Marks) -> Result<HashMap<FactKey, Facts>> {
    per_mark(
        r,
        marks,
        |mark| seqs.iter().any(|s| *s <= mark),
        |up, mark| {
            let list: Vec<String> = seqs.iter().filter(|s| **s <= mark).map(|s| s.to_string()).collect();
            let set =
                format!("SELECT seq FROM declarations WHERE seq IN ({}) AND seq > ?1 AND seq <= ?2", list.join(","));
            released(r, up, &set, [i64::MIN, mark])
        },
    )
}

/// `compute(rollups, mark)` for each mark the units `marks` holds stand
/// at and `needs`, keeping the rows of the units at that mark: what a
/// read's tail or a release adds when units have folded to different
/// events. The office tree is read only if some mark needs it.
fn per_mark(
    r: &dyn Reader,
    marks: &Marks,
    needs: impl Fn(i64) -> bool,
    mut compute: impl FnMut(&Rollups, i64) -> Result<HashMap<FactKey, Facts>>,
) -> Result<HashMap<FactKey, Facts>> {
    let groups: Vec<(i64, Vec<Unit>)> = marks.groups().into_iter().filter(|(m, _)| needs(*m)).collect();
    if groups.is_empty() {
        return Ok(HashMap::new());
    }
    let up = rollups(r)?;
    let mut out = HashMap::new();
    for (mark, units) in groups {
        let mut d = compute(&up, mark)?;
        d.retain(|k, _| units.contains(&(k.grain, k.dim.as_str())));
        out.extend(d);
    }
    Ok(out)
}

/// The releases of the declarations the fold takes in `(mark, hi]`, read
/// under the write lock (so none stored meanwhile is missed). Only
/// declarations that can have one: imports, not historical, not green
/// (those are released when decided and their release is in the
/// contribution).
pub(crate) fn fold_releases(r: &dyn Reader, up: &Rollups, mark: i64, hi: i64) -> Result<HashMap<FactKey, Facts>> {
    released(r, up, RELEASED_IN, [mark, hi])
}

/// The declarations of events `(?1, ?2]` whose release [`fold_releases`]
/// counts.
const RELEASED_IN: &str =
    "SELECT d.seq FROM declarations d LEFT JOIN decisions c ON c.decl = d.seq AND c.decided_at = d.decided_at
     WHERE d.seq > ?1 AND d.seq <= ?2 AND d.released_at IS NOT NULL AND d.direction = 'import'
       AND (c.channel IS NULL OR c.channel <> 'green')";

/// Which declarations of events `(mark, hi]` [`fold_releases`] counts a
/// release of: a fold reads the releases once and checks under each
/// unit's lock that this set has not changed (a release is set once).
pub(crate) fn released_in(r: &dyn Reader, mark: i64, hi: i64) -> Result<Vec<i64>> {
    let mut out = Vec::new();
    r.each(&format!("{RELEASED_IN} ORDER BY d.seq"), &[mark, hi], &mut |row| {
        out.push(row.int(0)?);
        Ok(())
    })?;
    Ok(out)
}

/// A unit of the table folded on its own: a grain and a dimension
/// (`""`: the office totals), with its mark `counters.facts:GRAIN:DIM`.
pub type Unit = (Grain, &'static str);

/// Every unit: the office totals by day and month, every dimension by
/// month, the [`YEARLY`] dimensions by quarter and year too ([`emit`]
/// writes exactly these).
pub fn units() -> Vec<Unit> {
    let mut v = vec![(Grain::Day, ""), (Grain::Month, "")];
    v.extend(DIMENSIONS.iter().map(|d| (Grain::Month, *d)));
    for d in YEARLY {
        v.push((Grain::Quarter, *d));
        v.push((Grain::Year, *d));
    }
    v
}

/// The counter holding `unit`'s mark.
pub fn mark_name(unit: Unit) -> String {
    format!("facts:{}:{}", unit.0.as_str(), unit.1)
}

/// The marks of every unit (`counters.facts:*`).
pub(crate) const MARKS: &str = "SELECT name, value FROM counters WHERE name LIKE 'facts:%'";

/// Moves one unit's mark, if nobody else did (`?1` from, `?2` to, `?3` the
/// counter's name).
pub(crate) const MOVE_MARK: &str = "UPDATE counters SET value = ?2 WHERE name = ?3 AND value = ?1";

/// The last event each unit's rows hold.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Marks(pub Vec<(Unit, i64)>);

impl Marks {
    /// Reads every unit's mark; a unit without one is a corrupt store.
    pub(crate) fn read(rows: impl IntoIterator<Item = (String, i64)>) -> Result<Marks> {
        let stored: HashMap<String, i64> = rows.into_iter().collect();
        units()
            .into_iter()
            .map(|u| {
                let name = mark_name(u);
                stored
                    .get(&name)
                    .map(|m| (u, *m))
                    .ok_or_else(|| crate::StoreError::Corrupt(format!("the KPI aggregates have no mark {name}")))
            })
            .collect::<Result<Vec<_>>>()
            .map(Marks)
    }

    pub(crate) fn from_reader(r: &dyn Reader) -> Result<Marks> {
        let mut rows = Vec::new();
        r.each(MARKS, &[], &mut |row| {
            rows.push((row.text(0)?, row.int(1)?));
            Ok(())
        })?;
        Marks::read(rows)
    }

    /// The lowest mark.
    pub(crate) fn low(&self) -> i64 {
        self.0.iter().map(|(_, m)| *m).min().unwrap_or(0)
    }

    /// The units at each mark, lowest mark first.
    pub(crate) fn groups(&self) -> Vec<(i64, Vec<Unit>)> {
        let mut by: std::collections::BTreeMap<i64, Vec<Unit>> = Default::default();
        for (u, m) in &self.0 {
            by.entry(*m).or_default().push(*u);
        }
        by.into_iter().collect()
    }

    /// Only the units a read of `q` uses.
    pub(crate) fn of_query(&self, q: &FactsQuery) -> Marks {
        let mut grains = vec![q.grain];
        if q.coarse.is_some() {
            grains.extend([Grain::Quarter, Grain::Year]);
        }
        Marks(self.0.iter().filter(|((g, d), _)| *d == q.dim && grains.contains(g)).cloned().collect())
    }
}

/// The events not yet folded into the units `marks` holds (of one
/// dimension), computed as the fold would add them: exact answers between
/// folds.
pub(crate) fn tail(r: &dyn Reader, marks: &Marks, dim: &str, last: i64) -> Result<HashMap<FactKey, Facts>> {
    per_mark(r, marks, |mark| mark < last, |up, mark| deltas(r, up, mark, last, Some(dim), true))
}

/// Deltas split by unit.
pub(crate) type ByUnit = HashMap<Unit, HashMap<FactKey, Facts>>;

/// Splits deltas by the unit each row belongs to.
pub(crate) fn by_unit(deltas: HashMap<FactKey, Facts>) -> ByUnit {
    let all = units();
    let mut out: HashMap<Unit, HashMap<FactKey, Facts>> = HashMap::new();
    for (k, f) in deltas {
        let unit = all.iter().find(|(g, d)| *g == k.grain && *d == k.dim).copied();
        // Rows are only ever of a unit (`emit`); an unknown one is a bug.
        let unit = unit.expect("every emitted row is of a unit");
        out.entry(unit).or_default().insert(k, f);
    }
    out
}

fn released(r: &dyn Reader, up: &Rollups, set: &str, range: [i64; 2]) -> Result<HashMap<FactKey, Facts>> {
    let mut out = HashMap::new();
    for s in load(r, set, [range[0], range[1], i64::MAX])? {
        if s.historical || s.channel.as_deref() == Some("green") || s.direction != "import" {
            continue;
        }
        let Some(t) = s.released_at else { continue };
        if !same_day(t, s.declared_at, s.tz) {
            continue;
        }
        let mut f = Facts::default();
        if s.transport_mode == "sea" {
            f.same_day_sea = 1.0;
        } else {
            f.same_day_other = 1.0;
        }
        let own: Vec<(&'static str, String)> =
            keys(&s, i64::MIN).into_iter().filter(|(d, _)| !from_outcomes(d)).collect();
        emit(&mut out, up, &s, &own, &f, 1.0);
    }
    Ok(out)
}

/// The office totals of the declarations declared in `[from, to)`
/// (any times), computed from the declarations themselves: the oracle the
/// table is tested against, and the answer for periods that do not start
/// and end at midnight.
pub(crate) fn scan(r: &dyn Reader, from: i64, to: i64) -> Result<Vec<(String, Facts)>> {
    let mut by_office: HashMap<String, Facts> = HashMap::new();
    let set = "SELECT seq FROM declarations WHERE declared_at >= ?1 AND declared_at < ?2";
    for s in load(r, set, [from, to, i64::MAX])? {
        by_office.entry(s.office.clone()).or_default().add(&contribution(&s, i64::MAX, true), 1.0);
    }
    let mut v: Vec<(String, Facts)> = by_office.into_iter().collect();
    v.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(v)
}

/// The stored sums of `q` plus the events after the fold's mark (`tail`).
pub(crate) fn answer(stored: FactRows, tail: &HashMap<FactKey, Facts>, q: &FactsQuery) -> FactRows {
    if tail.is_empty() && q.top.is_some() {
        // Ranked and cut by the database.
        return stored;
    }
    let mut by: HashMap<String, Facts> = stored.rows.into_iter().collect();
    for (k, f) in tail {
        if q.takes(k) {
            by.entry(q.group(k)).or_default().add(f, 1.0);
        }
    }
    let mut v: Vec<(String, Facts)> = by.into_iter().filter(|(_, f)| !f.is_zero()).collect();
    let groups = v.len();
    match q.top {
        Some(n) => {
            v.sort_by(|a, b| {
                b.1.findings()
                    .total_cmp(&a.1.findings())
                    .then(b.1.declarations.total_cmp(&a.1.declarations))
                    .then(a.0.cmp(&b.0))
            });
            v.truncate(n);
        }
        None => v.sort_by(|a, b| a.0.cmp(&b.0)),
    }
    FactRows { rows: v, groups }
}

/// The `top` keys of a ranked read ([`FactsQuery::ranked`]) from each
/// stored group's findings and declarations (`ranks`, the rows of
/// [`FactsQuery::rank_sql`], summed per key) plus the events not yet folded, ranked as
/// [`answer`] ranks (findings, then declarations, then key); and how many
/// groups there were. Groups with neither findings nor declarations left
/// (every contribution moved to another key) do not count.
pub(crate) fn top_keys(
    ranks: Vec<(String, f64, f64)>,
    tail: &HashMap<FactKey, Facts>,
    q: &FactsQuery,
) -> (Vec<String>, usize) {
    let mut by: HashMap<String, (f64, f64)> = HashMap::with_capacity(ranks.len());
    for (k, f, d) in ranks {
        let e = by.entry(k).or_default();
        e.0 += f;
        e.1 += d;
    }
    for (k, f) in tail {
        if q.takes(k) {
            let e = by.entry(q.group(k)).or_default();
            e.0 += f.findings();
            e.1 += f.declarations;
        }
    }
    let mut v: Vec<(String, (f64, f64))> = by.into_iter().filter(|(_, (f, d))| *f != 0.0 || *d != 0.0).collect();
    let groups = v.len();
    let n = q.top.unwrap_or(usize::MAX).min(v.len());
    let order = |a: &(String, (f64, f64)), b: &(String, (f64, f64))| {
        b.1.0.total_cmp(&a.1.0).then(b.1.1.total_cmp(&a.1.1)).then(a.0.cmp(&b.0))
    };
    if n < v.len() {
        v.select_nth_unstable_by(n, order);
        v.truncate(n);
    }
    v.sort_by(order);
    (v.into_iter().map(|(k, _)| k).collect(), groups)
}

/// Whether storing offices `new` changes where rows are rolled up: an
/// office's rollup list changes (moved, or a unit gets its first unit
/// below), or an office with stored declarations is registered only now.
/// The aggregates are then rebuilt (`RESET`, in the same transaction).
pub(crate) fn tree_changes(r: &dyn Reader, new: &[riskgate_core::Office]) -> Result<bool> {
    let tree = tree(r)?;
    let before = rollup_map(tree.iter().map(|(c, p)| (c.as_str(), p.as_deref())));
    let mut merged: HashMap<&str, Option<&str>> = tree.iter().map(|(c, p)| (c.as_str(), p.as_deref())).collect();
    for o in new {
        merged.insert(o.code.as_str(), o.parent.as_deref());
    }
    let after = rollup_map(merged);
    if before.iter().any(|(code, up)| after.get(code) != Some(up)) {
        return Ok(true);
    }
    for o in new.iter().filter(|o| !before.contains_key(&o.code)) {
        let mut found = false;
        r.each(
            &format!("SELECT 1 FROM declarations WHERE office = {} LIMIT 1", literals(std::slice::from_ref(&o.code))),
            &[],
            &mut |_| {
                found = true;
                Ok(())
            },
        )?;
        if found {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Empties the aggregates for the fold to rebuild them from the first event.
/// The mark first: a release holding it (PostgreSQL `FOR SHARE`) is waited
/// for before any row is touched.
pub(crate) const RESET: &str = "UPDATE counters SET value = 0 WHERE name LIKE 'facts:%'; DELETE FROM facts;";

/// A read adds at most this many unfolded events on the fly; further
/// behind (after the upgrade that introduced the aggregates, or a rebuild),
/// it answers that the aggregates are catching up.
pub const TAIL_LIMIT: i64 = 200_000;

pub(crate) fn behind(mark: i64, last: i64) -> crate::StoreError {
    crate::StoreError::Unavailable(format!(
        "the KPI aggregates are catching up ({} events not yet folded; `serve` folds them in the background, `riskgate kpi` at once): try again in a few minutes",
        last - mark
    ))
}

/// How many events one fold round takes at most.
pub const FOLD_CHUNK: i64 = 10_000;

/// The events a round of the background fold of `serve` takes at most:
/// with 1,000 declarations a second, the largest unit (monthly trader rows)
/// then holds the write lock for a few milliseconds per round.
pub const FOLD_CHUNK_LIVE: i64 = 500;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn days_and_months_are_china_time() {
        // 2026-03-31 16:00 UTC is 2026-04-01 00:00 in China.
        let t = chrono::DateTime::parse_from_rfc3339("2026-03-31T16:00:00Z").unwrap().timestamp();
        assert_eq!(month_of(t), 2026 * 12 + 3);
        assert_eq!(month_of(t - 1), 2026 * 12 + 2);
        assert_eq!(day_start(day_of(t)), t);
        assert_eq!(month_start(month_of(t)), t);
        assert_eq!(day_of(t - 1) + 1, day_of(t));
    }

    /// What an audit after release adds: its duty is collected, and when
    /// the engine had let the declaration go it is recovered from the
    /// evasion the random controls estimate there; it is never the random
    /// control's own finding.
    #[test]
    fn audit_duty_counts_as_recovered_only_in_uncontrolled_declarations() {
        let outcome = |seq, audit, duty| OutcomeFact {
            seq,
            officer: "o".into(),
            audit,
            completed_at: 100 + seq,
            finding: duty > 0.0,
            additional_duty: duty,
            smuggling: false,
            seizure: false,
            kinds: vec![],
        };
        let decl = |channel: &str, source: &str, outcomes| DeclState {
            seq: 1,
            office: "2201".into(),
            declared_at: 0,
            tz: 8 * 3600,
            direction: "import".into(),
            transport_mode: "sea".into(),
            trade_mode: "0110".into(),
            trader: "T".into(),
            value_cny: 10_000.0,
            historical: false,
            released_at: None,
            channel: Some(channel.into()),
            source: Some(source.into()),
            propensity: Some(0.5),
            items: vec![("85171300".into(), "CN".into(), 10_000.0, 0.1)],
            rules: BTreeSet::new(),
            outcomes,
        };
        // (channel, source, outcomes) → (additional, recovered by audit, random revenue)
        let table: Vec<(&str, &str, Vec<OutcomeFact>, [f64; 3])> = vec![
            ("green", "score", vec![outcome(2, true, 500.0)], [500.0, 500.0, 0.0]),
            ("red", "score", vec![outcome(2, false, 0.0), outcome(3, true, 700.0)], [700.0, 0.0, 0.0]),
            ("yellow", "random", vec![outcome(2, false, 100.0), outcome(3, true, 900.0)], [1000.0, 0.0, 200.0]),
            ("green", "score", vec![], [0.0, 0.0, 0.0]),
        ];
        for (channel, source, outcomes, want) in table {
            let f = contribution(&decl(channel, source, outcomes), i64::MAX, false);
            assert_eq!([f.additional_duty_cny, f.audit_duty_uncontrolled_cny, f.random_revenue_cny], want, "{channel}");
        }
    }

    #[test]
    fn a_query_takes_keys_and_prefixes() {
        let q = FactsQuery {
            grain: Grain::Month,
            from: 10,
            to: 12,
            dim: "hs4".into(),
            offices: Some(vec!["2201".into()]),
            key: Some("85*".into()),
            keys: None,
            by: By::Key,
            top: None,
            coarse: None,
        };
        let k = |period, office: &str, key: &str| FactKey {
            grain: Grain::Month,
            period,
            office: office.into(),
            dim: "hs4".into(),
            key: key.into(),
        };
        assert!(q.takes(&k(10, "2201", "8517")));
        assert!(!q.takes(&k(12, "2201", "8517")));
        assert!(!q.takes(&k(11, "2202", "8517")));
        assert!(!q.takes(&k(11, "2201", "8417")));
    }

    #[test]
    fn whole_years_and_quarters_come_from_coarse_rows_and_the_months_around_them_from_monthly_rows() {
        let jan = |y: i64| y * 12;
        let c = |y: (i64, i64), q: (i64, i64)| Some(Coarse { years: y, quarters: q });
        assert_eq!(coarse_periods(jan(2026), jan(2027)), c((2026, 2027), (2026 * 4, 2027 * 4)));
        assert_eq!(coarse_periods(jan(2026) + 1, jan(2027)), c((0, 0), (2026 * 4 + 1, 2027 * 4)));
        assert_eq!(coarse_periods(jan(2026), jan(2026) + 2), None);
        assert_eq!(coarse_periods(jan(2026) + 1, jan(2026) + 5), None);
        assert_eq!(coarse_periods(jan(2025) + 5, jan(2027) + 2), c((2026, 2027), (2025 * 4 + 2, 2027 * 4)));
        let all = coarse_periods(i64::MIN, i64::MAX).expect("whole years");
        assert!(all.years.0 < all.years.1);
        // June 2025 to February 2027: months June 2025, January and
        // February 2027; quarters Q3 and Q4 2025; the year 2026.
        let q = FactsQuery::new(Grain::Month, jan(2025) + 5, jan(2027) + 2, "hs6", By::Key).with_coarse();
        let row =
            |grain, period| FactKey { grain, period, office: "2201".into(), dim: "hs6".into(), key: "851713".into() };
        let read: Vec<(Grain, i64)> =
            [(Grain::Year, 2020..2030), (Grain::Quarter, 8090..8120), (Grain::Month, 24290..24340)]
                .into_iter()
                .flat_map(|(g, r)| r.map(move |p| (g, p)))
                .filter(|(g, p)| q.takes(&row(*g, *p)))
                .collect();
        let want = vec![
            (Grain::Year, 2026),
            (Grain::Quarter, 2025 * 4 + 2),
            (Grain::Quarter, 2025 * 4 + 3),
            (Grain::Month, jan(2025) + 5),
            (Grain::Month, jan(2027)),
            (Grain::Month, jan(2027) + 1),
        ];
        assert_eq!(read, want);
        // Dimensions with few keys and other reads keep monthly rows only.
        assert_eq!(FactsQuery::new(Grain::Month, i64::MIN, i64::MAX, "origin", By::Key).with_coarse().coarse, None);
        assert_eq!(FactsQuery::new(Grain::Month, i64::MIN, i64::MAX, "hs6", By::Period).with_coarse().coarse, None);
    }
}
