//! The system of record behind one interface, `Store`, so that no caller
//! knows which engine holds the data. `SqliteStore` is the embedded store
//! (one file under `--data DIR`, WAL mode); PostgreSQL implements the same
//! trait for national deployments.
//!
//! Architecture invariant: only this crate writes SQL. Decisions and the
//! action log are append-only (enforced by triggers as well as by the API).
//! Every batch is one transaction: a declaration is stored with its items,
//! decision, rule hits and control task, or not at all.

pub mod accounts;
pub mod committees;
pub mod facts;
pub use facts::{By, Facts, FactsQuery, Grain};
mod migrations;
mod policy;
pub use policy::MAX_OVERRIDES_PER_OFFICER;
mod postgres;
mod rows;
mod sqlite;

use chrono::{DateTime, FixedOffset};
use riskgate_core::{
    Case, CaseQuery, Decision, Declaration, Enterprise, ForexPayment, Office, Officer, Outcome, OutcomeKeys, Release,
    RuleDef, RuleStatus, Screened, TaxInvoice, WorkforceRecord,
};
use serde::{Deserialize, Serialize};

pub use accounts::{Accounts, ApiToken, DeclarationQuery, DeclarationSummary, Search, Session, TaskOutcomes, User};
pub use committees::{Committee, CommitteeItem, Committees, ItemQuery, Vote};
pub use postgres::PgStore;
pub use sqlite::{Durability, SqliteStore};

/// Migration versions of each backend (SQLite, PostgreSQL), for checks and
/// `riskgate migrate`: the same, as both render one list.
pub fn migration_numbers() -> (Vec<u32>, Vec<u32>) {
    let numbers: Vec<u32> = migrations::MIGRATIONS.iter().map(|m| m.0).collect();
    (numbers.clone(), numbers)
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database error: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("PostgreSQL error: {}", postgres::pg_message(.0))]
    Postgres(#[from] ::postgres::Error),
    #[error("PostgreSQL connection pool: {0}")]
    Pool(#[from] r2d2::Error),
    #[error("stored data could not be decoded: {0}")]
    Decode(#[from] serde_json::Error),
    /// The request conflicts with what is stored (a duplicate, an unknown
    /// reference, a lane already set): the caller's to fix.
    #[error("{0}")]
    User(String),
    /// The store cannot be opened or reached (bad URL, no server, failed
    /// migration, no directory): an operational failure, never the caller's.
    #[error("{0}")]
    Unavailable(String),
    /// A stored record no longer validates: the data is damaged.
    #[error("{0}")]
    Corrupt(String),
}

pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// A rule version with its lifecycle record.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RuleRecord {
    pub def: RuleDef,
    pub status: RuleStatus,
    pub created_by: String,
    pub created_at: i64,
    pub approved_by: Option<String>,
    pub approved_at: Option<i64>,
    pub retired_at: Option<i64>,
}

/// One entry for the action log (who, when, before, after, why).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Action {
    pub at: DateTime<FixedOffset>,
    pub actor: String,
    pub office: Option<String>,
    pub action: String,
    pub target: String,
    /// The state before the change, when there was one: an object, or a
    /// setting's value as a string.
    #[schema(value_type = Option<Value>)]
    pub before: Option<serde_json::Value>,
    /// The state after the change, or the filter of a read.
    #[schema(value_type = Option<Value>)]
    pub after: Option<serde_json::Value>,
    pub reason: Option<String>,
}

/// A logged action as stored, with its place in the hash chain.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct LoggedAction {
    pub seq: i64,
    pub action: Action,
    pub prev_hash: String,
    pub hash: String,
}

/// What happened to the screening context, in the order it happened; a
/// checkpoint plus the events after it rebuild the engine's state exactly.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    Historical(Box<Declaration>),
    Screened { declaration: Box<Declaration>, office: String, ranking: f64, controlled: bool, mandatory: bool },
    Outcome { outcome: Box<Outcome>, keys: OutcomeKeys },
}

/// A learned model version with its evaluation figures.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ModelRecord {
    pub id: String,
    pub created_at: i64,
    pub created_by: String,
    /// `candidate`, `active`, `shadow` or `retired`.
    pub status: String,
    /// The evaluation figures (hold-out precision, recall, AUC, ... by targeting rate).
    #[schema(value_type = Object)]
    pub metrics: serde_json::Value,
    #[serde(skip)]
    pub bytes: Vec<u8>,
}

/// A recomputed risk level of an enterprise or a goods code (M3).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct RiskLevelRecord {
    /// `enterprise` or `goods`.
    pub kind: String,
    pub key: String,
    pub computed_at: i64,
    pub level: String,
    pub score: f64,
    /// The indicators behind the level.
    #[schema(value_type = Object)]
    pub detail: serde_json::Value,
}

/// A stored declaration in time order, for training and analysis.
#[derive(Debug, Clone, PartialEq)]
pub struct TimelineRow {
    pub declaration: Declaration,
    pub decision: Option<Decision>,
}

/// A screened declaration ready to store: the declaration, its body as
/// received (JSON), the engine's result and the decision serialised once.
#[derive(Debug, Clone, Copy)]
pub struct NewDecision<'a> {
    pub declaration: &'a Declaration,
    pub body: &'a str,
    pub screened: &'a Screened,
    pub decision_json: &'a str,
    /// The shadow model's id and score, if one ran.
    pub shadow: Option<(&'a str, f64)>,
}

/// A stored declaration with what is known about it.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredDeclaration {
    pub seq: i64,
    pub declaration: Declaration,
    pub decision: Option<Decision>,
    pub historical: bool,
}

/// Result of storing one outcome.
#[derive(Debug, Clone, PartialEq)]
pub enum OutcomeStored {
    /// `released`: this outcome released the goods (they were not released
    /// before).
    Stored {
        keys: OutcomeKeys,
        released: bool,
    },
    Duplicate,
}

/// The sums of one office's live declarations in a period, from which the
/// KPI figures are computed (DESIGN.md "KPIs").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct OfficeCounts {
    pub office: String,
    pub facts: Facts,
}

pub const SOURCES: [&str; 4] = ["rule", "score", "random", "manual"];

/// One trader's count and CNY sum of one money-flow source over a period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowSum {
    pub trader: String,
    pub count: u64,
    pub amount_cny: f64,
    /// Payments only: the part carrying an invoice reference.
    pub with_reference_cny: f64,
}

/// An import declaration as the money-flow checks read it: columns of
/// `declarations` and `items`, no JSON body decoded
/// (`Store::invoiced_imports`, `Store::referenced_imports`).
#[derive(Debug, Clone, PartialEq)]
pub struct ImportLines {
    pub id: String,
    pub trader: String,
    pub office: String,
    /// Seconds since the epoch (whole seconds, as stored), and the UTC
    /// offset it was declared with (seconds east).
    pub declared_at: i64,
    pub tz: i32,
    /// CNY per unit of the declared currency, as `Declaration::rate`
    /// gives it (1 when the lines carry no value).
    pub rate: f64,
    /// The item lines, by line number.
    pub lines: Vec<ImportLine>,
}

/// One item line of an [`ImportLines`]: goods code, value in the declared
/// currency, duty rate.
#[derive(Debug, Clone, PartialEq)]
pub struct ImportLine {
    pub hs_code: String,
    pub value: f64,
    pub duty_rate: f64,
}

impl ImportLines {
    /// The declared time with its offset (`Declaration::declared_at`).
    pub fn declared_at(&self) -> DateTime<FixedOffset> {
        let off = FixedOffset::east_opt(self.tz).unwrap_or(FixedOffset::east_opt(0).expect("utc"));
        DateTime::from_timestamp(self.declared_at, 0).unwrap_or_default().with_timezone(&off)
    }

    /// Σ line values, in the declared currency (`Declaration::total_value`).
    pub fn total_value(&self) -> f64 {
        self.lines.iter().map(|i| i.value).sum()
    }

    pub fn total_value_cny(&self) -> f64 {
        self.total_value() * self.rate
    }

    /// The value-weighted duty rate of the lines, 0 without value
    /// (`Declaration::duty_rate`).
    pub fn duty_rate(&self) -> f64 {
        let value = self.total_value();
        if value > 0.0 { self.lines.iter().map(|i| i.value * i.duty_rate).sum::<f64>() / value } else { 0.0 }
    }
}

/// An import declaration that lists an invoice, of a trader that has
/// payments abroad carrying invoice references, with its decision time and
/// invoice numbers (`Store::referenced_imports`).
#[derive(Debug, Clone, PartialEq)]
pub struct ReferencedImport {
    pub import: ImportLines,
    /// When it was screened (`None`: stored as history).
    pub decided_at: Option<i64>,
    /// The ids of its documents of kind "invoice" (`Declaration::invoice_ids`),
    /// in no particular order; one listed twice comes twice.
    pub invoices: Vec<String>,
}

/// A payment abroad carrying an invoice reference.
#[derive(Debug, Clone, PartialEq)]
pub struct ReferencedPayment {
    pub trader: String,
    pub reference: String,
    pub paid_at: i64,
    pub amount_cny: f64,
}

/// What `Store::money_flow` answers: per trader, import declarations
/// (declared value), forex payments and VAT invoices of the period.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct FlowSums {
    pub declared: Vec<FlowSum>,
    pub paid: Vec<FlowSum>,
    pub invoiced: Vec<FlowSum>,
}

/// Live statistics of one rule version (DESIGN.md "Rules").
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RuleStats {
    pub id: String,
    pub version: u32,
    pub hits: u64,
    pub controls: u64,
    pub completed: u64,
    pub findings: u64,
    pub revenue_cny: f64,
    /// Hits in the most recent 1,000 screened declarations (runaway alarm).
    pub recent_hits: u64,
}

/// A control task as an officer sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct ControlTask {
    pub id: i64,
    pub declaration_id: String,
    pub office: String,
    pub channel: String,
    pub disposal: String,
    pub instructions: String,
    pub status: String,
    pub opened_at: i64,
    pub closed_at: Option<i64>,
    pub officer: Option<String>,
    pub risk_value: f64,
    /// A trader's urgent-clearance request: its kind and note.
    pub urgent: Option<String>,
    pub urgent_at: Option<i64>,
    /// When the overdue control was escalated to the office's managers.
    pub escalated_at: Option<i64>,
    /// When the control is due (by lane, sooner when urgent; from the settings).
    pub due_at: Option<i64>,
}

/// A note on a subject (`enterprise:ID`): a department's feedback or
/// intelligence, or an analyst's remark, shown with the subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Note {
    pub id: i64,
    pub subject: String,
    pub at: i64,
    pub author: String,
    /// The author's department, for a department user.
    pub department: Option<String>,
    pub text: String,
    /// The watch-list the note put its subject on, if any.
    pub watch_list: Option<String>,
}

/// A mark on an open control task, set once.
#[derive(Debug, Clone, PartialEq)]
pub enum TaskMark {
    /// An urgent-clearance request (kind and note) made at `at`.
    Urgent { request: String, at: i64 },
    /// Escalated to the office's managers at `at` (it was overdue).
    Escalated { at: i64 },
}

/// A declaration of stored history with its decision and outcomes, for back-tests.
#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub declaration: Declaration,
    pub decision: Option<Decision>,
    pub outcomes: Vec<Outcome>,
    /// When the goods were released (a release record, or a lane
    /// overridden to green), if they were.
    pub released_at: Option<i64>,
}

/// A registered webhook: an HTTP(S) endpoint receiving one kind of event,
/// signed with its own secret (M5).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Webhook {
    pub id: String,
    /// Event kind (one of `riskgate_app::events::WEBHOOK_KINDS`).
    pub kind: String,
    pub url: String,
    /// HMAC-SHA256 key; never shown after registration.
    #[serde(skip_serializing)]
    #[schema(ignore)]
    pub secret: String,
    pub department: String,
    pub created_by: String,
    pub created_at: i64,
    pub active: bool,
    /// Only events of these offices (empty: every office).
    #[serde(default)]
    pub offices: Vec<String>,
    /// Only events about goods of these HS chapters (2 digits; empty: all).
    #[serde(default)]
    pub hs_chapters: Vec<String>,
}

/// An event to hand to every active webhook of its kind.
#[derive(Debug, Clone, PartialEq)]
pub struct NewDelivery<'a> {
    /// Stable id of the event (the same event enqueued twice is delivered once).
    pub event_id: &'a str,
    pub kind: &'a str,
    pub payload: &'a str,
    /// Only the webhooks of this department (`None`: every one of the kind).
    pub department: Option<&'a str>,
    /// The office the event concerns: a webhook filtered by offices gets it
    /// only when it is one of them (an event with no office passes).
    pub office: Option<&'a str>,
    /// The HS chapters it concerns: a webhook filtered by chapters gets it
    /// only when one of them is (an event with none does not).
    pub chapters: &'a [String],
}

/// One delivery of one event to one webhook, with its attempts so far.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Delivery {
    pub id: i64,
    pub hook: String,
    pub event_id: String,
    pub kind: String,
    #[serde(skip_serializing)]
    pub payload: String,
    /// `pending`, `delivered` or `failed` (gave up).
    pub status: String,
    pub attempts: u32,
    /// When the next attempt is due (seconds since the epoch).
    pub next_at: i64,
    pub last_status: Option<u16>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub delivered_at: Option<i64>,
}

/// What one delivery attempt came to.
#[derive(Debug, Clone, PartialEq)]
pub struct DeliveryAttempt {
    pub at: i64,
    pub http_status: Option<u16>,
    pub error: Option<String>,
    /// `delivered`, `failed`, or `pending` with `next_at` set.
    pub status: &'static str,
    pub next_at: i64,
}

/// An officer's override of the engine's lane for one screened declaration
/// (a change of a risk outcome: logged with before, after and reason).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Override {
    pub declaration_id: String,
    /// The lane wanted: `green` releases at once; `yellow`/`red` control.
    pub channel: riskgate_core::Channel,
    /// The officer who decides the override (the action log's actor).
    pub officer: String,
    pub reason: String,
    pub at: DateTime<FixedOffset>,
    /// The account that entered it (the CLI user or the console session),
    /// when it is not the officer.
    pub entered_by: Option<String>,
}

/// What an override changed.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct OverrideDone {
    pub declaration_id: String,
    pub office: String,
    pub before: String,
    pub after: String,
    /// The declaration was released by the override (to green).
    pub released: bool,
    /// The action-log entry written.
    pub log_seq: i64,
}

/// One completed control with what the engine said about its declaration,
/// for integrity indicators (no JSON bodies: read straight from columns).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ControlRecord {
    pub declaration_id: String,
    pub office: String,
    pub trader: String,
    pub declarant: String,
    pub declared_at: i64,
    /// The declaration's UTC offset in seconds (its local time of day).
    pub tz: i32,
    pub officer: String,
    /// `document`, `physical` or `audit`.
    pub control: String,
    pub completed_at: i64,
    pub finding: bool,
    pub released_at: Option<i64>,
    /// The engine's lane, risk value and decision time; `None` for
    /// declarations stored as history (legacy controls).
    pub channel: Option<String>,
    pub risk_value: Option<f64>,
    pub decided_at: Option<i64>,
    pub random: bool,
}

/// What the model drift report reads ([`Store::drift_rows`]): the controls
/// of decisions with `decided_at` in `[from, to)` and the screened
/// declarations with `declared_at` in it, of `offices` (all when `None`).
#[derive(Debug, Clone, Copy)]
pub struct DriftQuery<'a> {
    pub from: i64,
    pub to: i64,
    pub offices: Option<&'a [String]>,
    /// A trader is new on a declaration when its first declaration in the
    /// store is less than this many seconds before it.
    pub new_within: i64,
}

/// A completed control of a screened declaration, with the decision that
/// sent it (whose reasons carry the model's score).
#[derive(Debug, Clone, PartialEq)]
pub struct ScoredControl {
    pub declaration_id: String,
    pub office: String,
    pub decided_at: i64,
    pub decision: Decision,
    /// Any of its outcomes found something.
    pub finding: bool,
    pub new_trader: bool,
}

/// Screened declarations declared on one China day (days since
/// 1970-01-01 at +08:00), by office and trader newness.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScreenedDay {
    pub day: i64,
    pub office: String,
    pub new_trader: bool,
    pub declarations: u64,
}

/// The rows of [`Store::drift_rows`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DriftRows {
    /// In decision order.
    pub controls: Vec<ScoredControl>,
    /// Ordered by day, office, newness.
    pub screened: Vec<ScreenedDay>,
}

/// The store interface every backend implements.
pub trait Store: Send + Accounts + Search + Committees {
    fn backend(&self) -> &'static str;
    /// Another handle on the same store (a second connection), e.g. for a
    /// writer thread while this one reads.
    fn reopen(&self) -> Result<Box<dyn Store>>;

    // Reference and external data.
    fn upsert_offices(&mut self, rows: &[Office]) -> Result<()>;
    fn offices(&self) -> Result<Vec<Office>>;
    fn upsert_officers(&mut self, rows: &[Officer]) -> Result<()>;
    fn officers(&self) -> Result<Vec<Officer>>;
    fn upsert_enterprises(&mut self, rows: &[Enterprise]) -> Result<()>;
    fn enterprises(&self) -> Result<Vec<Enterprise>>;
    fn insert_forex(&mut self, rows: &[ForexPayment]) -> Result<()>;
    fn forex(&self) -> Result<Vec<ForexPayment>>;
    /// Per trader over `[from, to)` (seconds): import declarations and
    /// their declared value, forex payments, VAT invoices — all offices'
    /// — of the traders that declared an import in `offices` when given;
    /// `trader` narrows to one trader. One grouped pass over each table's
    /// rows of the period, no bodies read.
    fn money_flow(&self, from: i64, to: i64, offices: Option<&[String]>, trader: Option<&str>) -> Result<FlowSums>;
    /// The import declarations declared in `[from, to)` that list an
    /// invoice and whose trader has a payment with an invoice reference,
    /// oldest stored first (read by columns, their invoice numbers taken
    /// from the body by the database's JSON functions: no body decoded),
    /// and every payment with a reference made from `paid_from` on.
    fn referenced_imports(
        &self,
        from: i64,
        to: i64,
        paid_from: i64,
    ) -> Result<(Vec<ReferencedImport>, Vec<ReferencedPayment>)>;
    fn insert_invoices(&mut self, rows: &[TaxInvoice]) -> Result<()>;
    /// The VAT invoices issued in `[issued_from, issued_to)`, oldest first,
    /// and the import declarations of their traders declared in
    /// `[declared_from, declared_to)`, oldest stored first, read by
    /// columns with their lines (no body decoded).
    fn invoiced_imports(
        &self,
        issued_from: i64,
        issued_to: i64,
        declared_from: i64,
        declared_to: i64,
    ) -> Result<(Vec<ImportLines>, Vec<TaxInvoice>)>;
    /// Stores workforce records; `true` where a record was new or changed
    /// (a litigation case's outcome), `false` for an exact repeat.
    /// Upserts workforce records (bumps the `registry` mark of [`Store::integrity_marks`]).
    fn insert_workforce(&mut self, rows: &[WorkforceRecord]) -> Result<Vec<bool>>;
    fn workforce(&self) -> Result<Vec<WorkforceRecord>>;

    // Declarations and decisions.
    /// Stored decisions (or `None` for historical ones) of the ids already known.
    fn known(&self, ids: &[&str]) -> Result<std::collections::HashMap<String, Option<Decision>>>;
    /// Stores declarations with their decisions, rule hits and control
    /// tasks, and the cases their fired rules refer (each with its action-log
    /// entry, as `insert_case` stores one), in one transaction: a crash
    /// leaves all of it or none. Ids must be new (check with `known`).
    /// Returns the ids given to the cases, in order.
    fn commit_screened(&mut self, batch: &[NewDecision<'_>], referrals: &[(Case, Action)]) -> Result<Vec<i64>>;
    /// Stores past declarations without decisions; returns how many were new.
    fn commit_historical(&mut self, batch: &[Declaration]) -> Result<Vec<bool>>;
    fn declaration(&self, id: &str) -> Result<Option<StoredDeclaration>>;
    fn declaration_count(&self) -> Result<u64>;

    // Controls, outcomes, releases.
    /// Stores outcomes in one transaction. Unknown declarations fail the
    /// whole batch with a user error naming the id; check first.
    fn commit_outcomes(&mut self, batch: &[Outcome]) -> Result<Vec<OutcomeStored>>;
    fn commit_releases(&mut self, batch: &[Release]) -> Result<Vec<bool>>;
    fn open_tasks(&self, office: Option<&str>, limit: usize) -> Result<Vec<ControlTask>>;
    /// Changes the lane of a screened declaration whose control is not yet
    /// completed, and logs it (before, after, reason) in the same
    /// transaction. To green closes the task as `overridden` and releases
    /// the declaration; green to yellow/red needs goods not yet released.
    /// User errors: unknown or unscreened declaration, empty reason, same
    /// lane, control already completed, goods already released.
    fn override_channel(&mut self, o: &Override) -> Result<OverrideDone>;
    /// Sets `mark` on the open control task of `declaration_id` and logs
    /// `action` in the same transaction; `false` (nothing logged) when there
    /// is no open task or it already carries that mark.
    fn mark_task(&mut self, declaration_id: &str, mark: &TaskMark, action: &Action) -> Result<bool>;
    /// Completed controls (outcomes) with `completed_at` in `[from, to)`, in
    /// completion order, joined with their declaration and decision.
    fn control_records(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<ControlRecord>>;
    /// The model drift report's input: the completed controls of the
    /// decisions `q` selects (one row per declaration, however many
    /// outcomes it has) and the screened declarations declared in the
    /// period per day, office and trader newness. Reads the outcomes, the
    /// decisions of controlled declarations, the declarations of the period
    /// and the traders' first declaration times, never every decision body.
    fn drift_rows(&self, q: &DriftQuery<'_>) -> Result<DriftRows>;
    /// The decision time of the last declaration screened, if any.
    fn last_decided_at(&self) -> Result<Option<i64>>;

    // Rules and lists.
    fn rules(&self) -> Result<Vec<RuleRecord>>;
    fn insert_rule(&mut self, rule: &RuleRecord, action: &Action) -> Result<()>;
    fn set_rule_status(&mut self, id: &str, version: u32, record: &RuleRecord, action: &Action) -> Result<()>;
    /// Hits, controls, findings and revenue per rule version, counted on the
    /// decisions of `offices` (all offices when `None`).
    fn rule_stats(&self, offices: Option<&[String]>) -> Result<Vec<RuleStats>>;
    fn lists(&self) -> Result<Vec<(String, String)>>;
    fn set_list(&mut self, name: &str, values: &[String], action: &Action) -> Result<()>;
    fn setting(&self, key: &str) -> Result<Option<String>>;
    fn set_setting(&mut self, key: &str, value: &str, action: &Action) -> Result<()>;

    // Action log.
    fn append_action(&mut self, action: &Action) -> Result<()>;
    fn actions(&self, limit: usize) -> Result<Vec<LoggedAction>>;
    /// Entries with `at` in `[from, to)`, oldest first.
    fn actions_in(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<LoggedAction>>;
    /// Checks the hash chain; returns the seq of the first broken entry (an
    /// edited, undecodable, inserted or deleted entry; a deletion shows at
    /// the entry after the gap).
    fn verify_actions(&self) -> Result<Option<i64>>;
    /// The hash of entry `seq` as stored (for anchors kept outside the store).
    fn action_hash(&self, seq: i64) -> Result<Option<String>>;

    // Engine state, as bytes the caller encodes: the store does not know the engine.
    /// The saved engine state with the last event sequence it covers.
    fn load_checkpoint(&self) -> Result<Option<(i64, Vec<u8>)>>;
    /// Saves the engine state `body` as covering the events up to
    /// `as_of_seq`, or, with `None`, every event stored so far (right only
    /// for a state that folded every stored event: events another process
    /// stored meanwhile would never be replayed into it).
    ///
    /// A checkpoint never moves back: saving one that covers fewer events
    /// than the saved one leaves the saved one (a checkpoint written in the
    /// background may finish after a newer one).
    fn save_checkpoint(&mut self, body: &[u8], as_of_seq: Option<i64>) -> Result<()>;
    /// The sequence number of the last event stored (0 if none).
    fn last_seq(&self) -> Result<i64>;
    /// The sequence number of the newest action-log entry (0 when empty).
    fn last_action_seq(&self) -> Result<i64>;
    /// This connection's commits no longer copy the write-ahead log into
    /// the database when it grows (SQLite: the copy and its two fsyncs took
    /// 50–140 ms on the committing thread); the caller runs
    /// [`Store::checkpoint_wal`] on another connection instead. Nothing to
    /// do for PostgreSQL.
    fn defer_wal_checkpoints(&mut self) -> Result<()>;
    /// Copies what it can of the write-ahead log into the database without
    /// waiting for readers or blocking writers (SQLite's PASSIVE
    /// checkpoint); nothing for PostgreSQL.
    fn checkpoint_wal(&mut self) -> Result<()>;
    /// Marks that change whenever the integrity indicators' input may
    /// have: the last outcome stored (controls, case results), the last
    /// override logged, and a count of officer-registry and workforce
    /// writes. Equal marks, equal input: a computed report can be reused.
    fn integrity_marks(&self) -> Result<[i64; 3]>;
    /// Events after `seq`, in order, handed to `f` one by one; returns the
    /// sequence number of the last one (`seq` if none). Events stored while
    /// it runs are not handed over.
    fn replay(&self, after_seq: i64, f: &mut dyn FnMut(Event)) -> Result<i64> {
        self.replay_skipping(after_seq, &mut |_| false, f)
    }
    /// [`Store::replay`] without the declarations `skip` names by id: they
    /// are passed over before their body is decoded (a bus worker's own
    /// declarations, already folded when it screened them).
    fn replay_skipping(
        &self,
        after_seq: i64,
        skip: &mut dyn FnMut(&str) -> bool,
        f: &mut dyn FnMut(Event),
    ) -> Result<i64>;

    // Learned models and risk levels.
    fn insert_model(&mut self, model: &ModelRecord, action: &Action) -> Result<()>;
    /// All versions, newest first, without their bytes.
    fn models(&self) -> Result<Vec<ModelRecord>>;
    fn model(&self, id: &str) -> Result<Option<ModelRecord>>;
    /// Makes `id` active or shadow (the previous holder of that status goes
    /// back to candidate), or retires it.
    fn set_model_status(&mut self, id: &str, status: &str, action: &Action) -> Result<()>;
    /// (active risk value, shadow score, finding) for every declaration the
    /// model scored in shadow and that has a control outcome.
    fn shadow_outcomes(&self, model: &str) -> Result<Vec<(f64, f64, bool)>>;
    fn insert_risk_levels(&mut self, rows: &[RiskLevelRecord]) -> Result<()>;
    /// The latest level of each key of `kind`, or the history of one key.
    fn risk_levels(&self, kind: &str, key: Option<&str>) -> Result<Vec<RiskLevelRecord>>;
    /// Declarations in declared-time order with their decisions.
    fn timeline(&self, f: &mut dyn FnMut(TimelineRow)) -> Result<()>;
    /// Every outcome with the keys of its declaration, in completion-time order.
    fn outcomes_by_time(&self) -> Result<Vec<(Outcome, OutcomeKeys)>>;

    // Analysis (facts.rs).
    /// Office totals of `[from, to)`: from the facts table when both ends
    /// are midnights in China time (or open), else by a scan of the
    /// declarations; the same figures either way.
    fn office_counts(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<OfficeCounts>> {
        let midnight = |t: Option<i64>| t.is_none_or(|t| facts::day_start(facts::day_of(t)) == t);
        let rows = if midnight(from) && midnight(to) {
            self.facts(&FactsQuery::new(
                Grain::Day,
                from.map_or(i64::MIN, facts::day_of),
                to.map_or(i64::MAX, facts::day_of),
                "",
                By::Office,
            ))?
            .rows
        } else {
            self.scan_facts(from, to)?
        };
        Ok(rows.into_iter().map(|(office, facts)| OfficeCounts { office, facts }).collect())
    }
    /// Office totals of `[from, to)` computed from the declarations (any
    /// times; slow at scale).
    fn scan_facts(&self, from: Option<i64>, to: Option<i64>) -> Result<Vec<(String, Facts)>>;
    /// Folds up to `max` events after the lowest mark of the facts
    /// table's units into the units at that mark (facts.rs); returns how
    /// many events were folded (0: up to date, or another writer folded
    /// them).
    fn fold_facts(&mut self, max: i64) -> Result<i64>;
    /// The sums `q` asks for, exact at the moment of reading (the events
    /// not yet folded are added on the fly).
    fn facts(&self, q: &FactsQuery) -> Result<facts::FactRows>;
    /// Stored declarations in a time range with decisions and outcomes.
    fn history(&self, from: Option<i64>, to: Option<i64>, f: &mut dyn FnMut(HistoryRow)) -> Result<()>;

    // NATS bus (ARCHITECTURE.md "NATS bus and workers").
    /// The engine state (encoded by the caller) every bus partition starts
    /// from, with the last event sequence it covers.
    fn load_bus_epoch(&self) -> Result<Option<(i64, Vec<u8>)>>;
    /// Stores the engine state `body` as the bus epoch covering every event
    /// stored so far. Without `replace`, keeps an existing epoch and returns `false`.
    fn init_bus_epoch(&mut self, body: &[u8], replace: bool) -> Result<bool>;

    // Webhooks (M5).
    /// Registers a webhook and logs `action` in the same transaction.
    fn insert_webhook(&mut self, hook: &Webhook, action: &Action) -> Result<()>;
    /// Every registered webhook (active or removed), oldest first.
    fn webhooks(&self) -> Result<Vec<Webhook>>;
    /// Deactivates a webhook (its deliveries stay visible); `false` if unknown or already removed.
    fn remove_webhook(&mut self, id: &str, action: &Action) -> Result<bool>;
    /// Creates a pending delivery per active webhook of each event's kind,
    /// once per (webhook, event id); returns how many were new.
    fn enqueue_deliveries(&mut self, events: &[NewDelivery<'_>], now: i64) -> Result<usize>;
    /// Takes up to `limit` pending deliveries due at `now` and pushes their
    /// next attempt `lease` seconds ahead, so that another process does not
    /// take them at the same time.
    fn claim_deliveries(&mut self, now: i64, lease: i64, limit: usize) -> Result<Vec<Delivery>>;
    fn record_delivery_attempt(&mut self, id: i64, attempt: &DeliveryAttempt) -> Result<()>;
    /// Deliveries, newest first, of one webhook or of all.
    fn deliveries(&self, hook: Option<&str>, limit: usize) -> Result<Vec<Delivery>>;

    // Notes (M5 feedback).
    /// Stores a note (its `id` is ignored) and logs `action` in one transaction; returns the id.
    fn insert_note(&mut self, note: &Note, action: &Action) -> Result<i64>;
    /// The notes on `subject`, newest first.
    fn notes(&self, subject: &str) -> Result<Vec<Note>>;

    // Cases (M4, M5).
    /// Stores a new case (its `id` is ignored; the store gives one) and logs
    /// `action`, whose target becomes `case:ID`, in one transaction; returns the id.
    fn insert_case(&mut self, case: &Case, action: &Action) -> Result<i64>;
    /// Stores new cases, each with its entry as [`Store::insert_case`]
    /// does, then logs the entry `then` makes of their ids: all in one
    /// transaction (an audit plan's cases and its entry, or nothing).
    fn insert_cases(&mut self, cases: &[(Case, Action)], then: &dyn Fn(&[i64]) -> Action) -> Result<Vec<i64>>;
    /// Stores `case` over the version it was made from (`case.version - 1`)
    /// and logs `action` (target `case:ID`) in one transaction; a user error
    /// when the stored case is not that version (changed meanwhile) or unknown.
    fn update_case(&mut self, case: &Case, action: &Action) -> Result<()>;
    fn case(&self, id: i64) -> Result<Option<Case>>;
    /// The cases `q` selects, newest first.
    fn cases(&self, q: &CaseQuery) -> Result<Vec<Case>>;
}

/// The user error of a case update that found another version stored.
pub(crate) fn stale_case(id: i64) -> StoreError {
    StoreError::User(format!("case {id} was changed by someone else meanwhile: read it again"))
}

/// Hash of one action-log entry chained to the previous one.
pub fn chain_hash(prev: &str, seq: i64, a: &Action) -> String {
    use sha2::{Digest, Sha256};
    let mut h = Sha256::new();
    h.update(prev.as_bytes());
    h.update(seq.to_le_bytes());
    h.update(serde_json::to_vec(a).expect("action serialises"));
    let out = h.finalize();
    out.iter().map(|b| format!("{b:02x}")).collect()
}
