//! Every JSON answer and request body of the API as a type. The handlers
//! build these and the OpenAPI document is derived from them (utoipa), so
//! the document cannot drift from what the server sends; the API tests
//! validate every answer they see against it. Request bodies that the
//! handlers validate field by field themselves (records, rule tests) are
//! here only to be documented.

use riskgate_app::kpi::{Figure, Unit};
use riskgate_app::model::RateFigures;
use riskgate_app::rules::{Backtest, ListRow};
use riskgate_core::{
    Channel, ControlKind, Decision, Declaration, Disposal, Enterprise, Office, Officer, Outcome, OutcomeResult,
    RiskLevel, RuleStatus, Source,
};
use riskgate_integrity::{HistoryPoint, Subject};
use riskgate_store::{ControlTask, DeclarationSummary, LoggedAction, ModelRecord, RiskLevelRecord, RuleRecord};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

// ------------------------------------------------------------ errors

/// Every refusal and failure: `{"error": {...}}`.
#[derive(Serialize, ToSchema)]
pub struct ErrorAnswer {
    pub error: ErrorObject,
}

#[derive(Serialize, ToSchema)]
pub struct ErrorObject {
    /// A stable code (`info.x-error-codes` lists them with their statuses).
    pub code: String,
    pub message: String,
    /// Path of the offending field, e.g. `items[0].hs_code` or `[3].office`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// Line of a rule syntax error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Column of a rule syntax error.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column: Option<u32>,
    /// What kind of rule error (`rule.syntax`, `rule.unknown_field`,
    /// `rule.unknown_list`, `rule.type`, `rule.scope`, `rule.limit`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kind: Option<String>,
    /// Seconds to wait before trying again (`too_many_attempts`; also the `Retry-After` header).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub retry_after: Option<u64>,
}

// ---------------------------------------------------------- sessions

#[derive(Deserialize, ToSchema)]
pub struct Login {
    pub username: String,
    pub password: String,
}

/// A change of one's own password: the current one, and the new one
/// (12 to 1,024 characters, not only spaces).
#[derive(Deserialize, ToSchema)]
pub struct PasswordChange {
    pub current_password: String,
    pub new_password: String,
}

/// An administrator's reset of a user's password.
#[derive(Deserialize, ToSchema)]
pub struct PasswordReset {
    pub password: String,
}

/// A user's open sessions, newest first.
#[derive(Serialize, ToSchema)]
pub struct SessionList {
    pub sessions: Vec<riskgate_app::accounts::SessionInfo>,
}

/// The caller as the server knows them.
#[derive(Serialize, ToSchema)]
pub struct Me {
    pub username: String,
    pub display_name: String,
    /// `field_officer`, `risk_analyst`, `district_manager`, `hq_manager`,
    /// `integrity_supervisor`, `department_user`, `admin` or `machine`.
    pub role: String,
    pub office: Option<String>,
    pub department: Option<String>,
    /// The permissions the role grants (names as in `riskgate_app::accounts::Perm`).
    pub permissions: Vec<String>,
}

// ------------------------------------------------------ declarations

/// One declaration or an array of them (all or nothing).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Declarations {
    One(Box<Declaration>),
    Many(Vec<Declaration>),
}

/// The decision for one declaration, or one per declaration in order.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Screened {
    One(Box<Decision>),
    Many(Vec<ScreenedItem>),
}

/// In an array answer: the decision, or why there is none.
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum ScreenedItem {
    Decision(Box<Decision>),
    Historical(HistoricalItem),
}

/// A declaration stored as history (never screened) sent again.
#[derive(Serialize, ToSchema)]
pub struct HistoricalItem {
    pub declaration_id: String,
    pub error: ErrorObject,
}

#[derive(Serialize, ToSchema)]
pub struct DeclarationList {
    pub declarations: Vec<DeclarationSummary>,
}

/// A declaration with its decision, the decision explained, its control
/// task and outcomes.
#[derive(Serialize, ToSchema)]
pub struct DeclarationDetail {
    pub declaration: Declaration,
    /// Stored as history: never screened.
    pub historical: bool,
    /// Rule reasons only for analysts.
    pub decision: Option<Decision>,
    pub explanation: Option<Explanation>,
    pub task: Option<ControlTask>,
    pub outcomes: Vec<Outcome>,
    /// The lane in force now: the decision's, unless an officer changed it
    /// (then the control task's); `None` for a declaration stored as history.
    pub channel_in_force: Option<Channel>,
    /// Officers' changes of the lane (from the action log), oldest first;
    /// empty for systems (role machine), which get `channel_in_force` only.
    pub overrides: Vec<LaneOverride>,
}

/// One change of a declaration's lane by an officer: who, when, from what
/// lane to what, and why.
#[derive(Serialize, ToSchema)]
pub struct LaneOverride {
    pub at: chrono::DateTime<chrono::FixedOffset>,
    /// The officer who decided it.
    pub officer: String,
    /// The account that entered it, when not the officer.
    pub entered_by: Option<String>,
    /// The lane before (`green`, `yellow` or `red`).
    pub from: String,
    /// The lane after.
    pub to: String,
    /// The engine's lane.
    pub engine_channel: Option<String>,
    pub reason: String,
    /// The action-log entry.
    pub log_seq: i64,
}

/// The decision in the terms an officer or analyst reads it.
#[derive(Serialize, ToSchema)]
pub struct Explanation {
    pub channel: Channel,
    pub risk_value: f64,
    pub risk_level: RiskLevel,
    pub source: Source,
    pub disposal: Option<Disposal>,
    pub instructions: String,
    pub random_draw: bool,
    /// The random-control rate when the declaration was drawn.
    pub random_rate: Option<f64>,
    pub selection_probability: f64,
    pub score: Option<ScoreExplained>,
    pub selectivity: Option<SelectivityExplained>,
    pub credit: Option<CreditExplained>,
    /// Why the conservative default was used, when it was.
    pub fallback: Option<String>,
    pub rules_fired: usize,
    /// The rules that fired (analysts only).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<RuleFired>>,
}

#[derive(Serialize, ToSchema)]
pub struct ScoreExplained {
    pub model: String,
    pub probability: f64,
    pub expected_revenue_cny: Option<f64>,
    pub top_features: Vec<FeatureContribution>,
}

#[derive(Serialize, ToSchema)]
pub struct FeatureContribution {
    pub feature: String,
    pub contribution: f64,
}

#[derive(Serialize, ToSchema)]
pub struct SelectivityExplained {
    pub office: String,
    pub threshold: f64,
    pub target_rate: f64,
}

#[derive(Serialize, ToSchema)]
pub struct CreditExplained {
    pub class: String,
    pub factor: f64,
}

#[derive(Serialize, ToSchema)]
pub struct RuleFired {
    pub id: String,
    pub version: u32,
    pub title: String,
    pub channel: Option<Channel>,
    pub weight: f64,
}

#[derive(Deserialize, ToSchema)]
pub struct OverrideBody {
    /// `green` releases at once; `yellow` or `red` control.
    pub channel: String,
    pub reason: String,
}

// ----------------------------------------------------------- imports

/// What an import stored.
#[derive(Serialize, ToSchema)]
pub struct ImportSummary {
    pub kind: String,
    pub accepted: usize,
    /// Records already stored (same id), skipped.
    pub duplicates: usize,
}

/// One record or an array of them (all or nothing).
#[derive(Serialize, ToSchema)]
#[serde(untagged)]
pub enum Records<T> {
    One(T),
    Many(Vec<T>),
}

/// A control outcome recorded by the officer who did the control: a
/// DATA.md outcome whose `declaration_id` comes from the path and whose
/// `officer` is the caller; the server stamps missing times.
#[derive(Serialize, ToSchema)]
pub struct OutcomeBody {
    pub control: ControlKind,
    pub result: OutcomeResult,
    /// DATA.md finding kinds (`undervaluation`, `misclassification`, ...).
    pub findings: Option<Vec<String>>,
    pub additional_duty: Option<f64>,
    pub seizure: Option<bool>,
    /// Stamped by the server when absent.
    pub completed_at: Option<chrono::DateTime<chrono::FixedOffset>>,
    pub released_at: Option<chrono::DateTime<chrono::FixedOffset>>,
    pub note: Option<String>,
    /// Must match the path when given.
    pub declaration_id: Option<String>,
    /// Must be the caller when given.
    pub officer: Option<String>,
}

// ------------------------------------------------------ reference data

#[derive(Serialize, ToSchema)]
pub struct OfficeList {
    pub offices: Vec<Office>,
}

#[derive(Serialize, ToSchema)]
pub struct OfficerList {
    pub officers: Vec<Officer>,
}

#[derive(Serialize, ToSchema)]
pub struct EnterpriseList {
    pub enterprises: Vec<EnterpriseRow>,
}

pub use riskgate_app::levels::EnterpriseRow;

/// An enterprise with its risk level, history and recent controls.
#[derive(Serialize, ToSchema)]
pub struct EnterpriseDetail {
    pub enterprise: Enterprise,
    /// The latest computed level.
    pub risk_level: Option<RiskLevelRecord>,
    pub history: Vec<RiskLevelRecord>,
    /// Declarations of the trader in the caller's offices (the latest 200 at most).
    pub recent_declarations: usize,
    pub recent_controls: Vec<ControlRow>,
    /// Feedback and intelligence from departments and analysts, newest first.
    pub notes: Vec<riskgate_store::Note>,
}

/// A controlled declaration with its task and outcomes.
#[derive(Serialize, ToSchema)]
pub struct ControlRow {
    #[serde(flatten)]
    pub declaration: DeclarationSummary,
    pub task: Option<ControlTask>,
    pub outcomes: Vec<Outcome>,
}

#[derive(Serialize, ToSchema)]
pub struct ControlList {
    pub controls: Vec<ControlTask>,
}

/// The open controls of the workbench.
#[derive(Serialize, ToSchema)]
pub struct OpenControlList {
    pub controls: Vec<OpenControl>,
}

/// An open control with what an officer reads before going to the goods:
/// when they were declared, by whom, and the main goods. The declaration's
/// fields are absent when the declaration is not stored.
#[derive(Serialize, ToSchema)]
pub struct OpenControl {
    #[serde(flatten)]
    pub task: ControlTask,
    pub declared_at: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// The trader's id (统一社会信用代码).
    pub trader: Option<String>,
    pub trader_name: Option<String>,
    /// The item of highest value.
    pub main_goods: Option<MainGoods>,
    /// Items on the declaration.
    pub items: Option<usize>,
}

#[derive(Serialize, ToSchema)]
pub struct MainGoods {
    pub hs_code: String,
    pub description: Option<String>,
    pub origin: String,
}

impl OpenControl {
    pub fn new(task: ControlTask, declaration: Option<&Declaration>) -> OpenControl {
        let main = declaration.and_then(|d| d.items.iter().max_by(|a, b| a.value.total_cmp(&b.value)));
        OpenControl {
            task,
            declared_at: declaration.map(|d| d.declared_at),
            trader: declaration.map(|d| d.trader.id.clone()),
            trader_name: declaration.and_then(|d| d.trader.name.clone()),
            main_goods: main.map(|i| MainGoods {
                hs_code: i.hs_code.clone(),
                description: i.description.clone(),
                origin: i.origin.clone(),
            }),
            items: declaration.map(|d| d.items.len()),
        }
    }
}

// -------------------------------------------------------------- rules

#[derive(Serialize, ToSchema)]
pub struct RuleList {
    pub rules: Vec<ListRow>,
    /// A rule selecting more than this share of recent traffic raises an alarm.
    pub runaway_rate: f64,
}

/// A field a rule condition may use.
#[derive(Serialize, ToSchema)]
pub struct RuleField {
    pub name: &'static str,
    /// `text`, `number`, `bool`, … as `rules fields` prints it.
    #[serde(rename = "type")]
    pub ty: &'static str,
    pub doc: &'static str,
}

#[derive(Serialize, ToSchema)]
pub struct RuleFields {
    pub fields: Vec<RuleField>,
}

/// A rule version and its lifecycle state.
#[derive(Serialize, ToSchema)]
pub struct RuleAnswer {
    pub rule: RuleRecord,
    pub status: RuleStatus,
}

#[derive(Serialize, ToSchema)]
pub struct RuleDetail {
    pub rule: RuleRecord,
    pub status: RuleStatus,
    pub versions: Vec<RuleVersion>,
}

#[derive(Serialize, ToSchema)]
pub struct RuleVersion {
    pub version: u32,
    pub status: RuleStatus,
    pub created_by: String,
    pub approved_by: Option<String>,
}

/// A stored rule (latest version unless `version`) or a draft, tried on
/// stored declarations (by id) or on declarations given in full.
#[derive(ToSchema)]
pub struct RuleTest {
    pub id: Option<String>,
    pub version: Option<u32>,
    pub rule: Option<riskgate_app::rules::RuleFile>,
    pub declaration_ids: Option<Vec<String>>,
    pub declarations: Option<Vec<Declaration>>,
}

#[derive(Serialize, ToSchema)]
pub struct RuleTestAnswer {
    pub results: Vec<RuleTestResult>,
    pub hits: usize,
}

#[derive(Serialize, ToSchema)]
pub struct RuleTestResult {
    pub declaration_id: String,
    pub fires: bool,
}

#[derive(Serialize, ToSchema)]
pub struct BacktestAnswer {
    pub backtest: Backtest,
}

#[derive(Deserialize, ToSchema)]
pub struct RetireBody {
    pub reason: String,
    pub version: Option<u32>,
}

// ------------------------------------------------------------- models

#[derive(Serialize, ToSchema)]
pub struct ModelList {
    pub models: Vec<ModelRecord>,
}

#[derive(Serialize, ToSchema)]
pub struct ModelDetail {
    pub model: ModelRecord,
    /// The active and this (shadow) model on the same controlled declarations.
    pub shadow_comparison: Option<ShadowComparison>,
}

#[derive(Serialize, ToSchema)]
pub struct ShadowComparison {
    pub controlled_with_outcome: usize,
    pub active: Vec<RateFigures>,
    pub shadow: Vec<RateFigures>,
}

#[derive(Serialize, Deserialize, ToSchema)]
pub struct ModelStatus {
    /// `active`, `shadow` or `retired`.
    pub status: String,
}

// --------------------------------------------------------------- KPIs

#[derive(Serialize, ToSchema)]
pub struct KpiAnswer {
    pub from: Option<String>,
    pub to: Option<String>,
    /// HQ, districts and offices in the caller's scope.
    pub units: Vec<Unit>,
}

#[derive(Serialize, ToSchema)]
pub struct KpiTrend {
    pub office: String,
    /// `week` or `month`.
    pub period: String,
    pub periods: Vec<TrendPeriod>,
}

#[derive(Serialize, ToSchema)]
pub struct TrendPeriod {
    /// `2026-W14` or `2026-04`.
    pub period: String,
    pub from: chrono::NaiveDate,
    /// The last day of the period.
    pub to: chrono::NaiveDate,
    pub declarations: u64,
    pub figures: Vec<Figure>,
}

// --------------------------------------------------------- action log

#[derive(Serialize, ToSchema)]
pub struct ActionList {
    pub actions: Vec<LoggedAction>,
}

#[derive(Serialize, ToSchema)]
pub struct ChainCheck {
    pub intact: bool,
    /// The first entry whose hash does not match, if any.
    pub broken_at: Option<i64>,
}

// ---------------------------------------------------------- integrity

/// A ranked subject (its evidence is in the officer's profile).
#[derive(Serialize, ToSchema)]
pub struct Ranked {
    /// 1 = highest score in the caller's offices; 0 in the warnings list.
    pub rank: usize,
    #[serde(flatten)]
    pub subject: Subject,
}

#[derive(Serialize, ToSchema)]
pub struct RankedOfficers {
    pub officers: Vec<Ranked>,
}

#[derive(Serialize, ToSchema)]
pub struct RankedPosts {
    pub posts: Vec<Ranked>,
}

#[derive(Serialize, ToSchema)]
pub struct RankedUnits {
    pub units: Vec<Ranked>,
}

#[derive(Serialize, ToSchema)]
pub struct Warnings {
    pub warnings: Vec<Ranked>,
}

/// One officer: indicators against peers, reasons, evidence, the history
/// window by window and the action-log entries behind the evidence.
#[derive(Serialize, ToSchema)]
pub struct OfficerProfile {
    #[serde(flatten)]
    pub subject: Subject,
    /// Every indicator as figures, in the order of `indicators`.
    pub indicator_figures: Vec<riskgate_integrity::ReasonFigures>,
    pub history: Vec<HistoryPoint>,
    pub log_entries: Vec<LoggedAction>,
}

/// The supervisors' inbox: warnings they were notified of, newest first.
#[derive(Serialize, ToSchema)]
pub struct Inbox {
    pub inbox: Vec<riskgate_app::integrity::InboxEntry>,
}

/// The warnings a notification run found new or raised (in the caller's offices).
#[derive(Serialize, ToSchema)]
pub struct NewWarnings {
    pub new_warnings: Vec<riskgate_app::integrity::InboxEntry>,
}

/// Current risk levels of HS6 goods codes, highest first.
#[derive(Serialize, ToSchema)]
pub struct GoodsList {
    pub goods: Vec<RiskLevelRecord>,
}

/// One HS6 code's risk level and its history, newest first.
#[derive(Serialize, ToSchema)]
pub struct GoodsDetail {
    pub hs6: String,
    pub risk_level: Option<RiskLevelRecord>,
    pub history: Vec<RiskLevelRecord>,
}

// ------------------------------------------------------------ committees

/// One committee item: a change awaiting (or decided by) a committee.
#[derive(Serialize, ToSchema)]
pub struct CommitteeItemAnswer {
    pub item: riskgate_store::CommitteeItem,
}

/// The answer of a gated change: 200 with the change's answer when it took
/// effect, 202 with the committee item when it awaits a committee.
pub(crate) fn gated<T: Serialize>(g: riskgate_app::committees::Gated<T>) -> axum::response::Response {
    use axum::response::IntoResponse;
    use riskgate_app::committees::Gated;
    match g {
        Gated::Done(t) => (axum::http::StatusCode::OK, axum::Json(t)).into_response(),
        Gated::Pending(item) => {
            (axum::http::StatusCode::ACCEPTED, axum::Json(CommitteeItemAnswer { item: *item })).into_response()
        }
    }
}
