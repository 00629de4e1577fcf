//! Cases (案件): the referrals that carry a risk from the border to the
//! department that disposes of it (anti-smuggling 缉私, post-clearance audit
//! 稽查, tariff, legal, processing trade, integrity), with their state,
//! deadlines, notes and result (DESIGN.md "Disposal, cases and audit").
//!
//! This module holds the record and its state machine; who may move a case
//! and what a result writes back is the use-case layer's business.

use chrono::{DateTime, FixedOffset};
use serde::{Deserialize, Serialize};

/// What a case is about, and so which department owns it by default.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseKind {
    /// Referral to anti-smuggling (缉私).
    AntiSmuggling,
    /// Post-clearance audit (稽查).
    PostClearanceAudit,
    /// Tariff classification, valuation or origin (关税).
    Tariff,
    /// Legal (法规).
    Legal,
    /// Processing trade (加工贸易).
    ProcessingTrade,
    /// Integrity (督察内审): about an officer.
    Integrity,
    /// A trader's complaint against a control (投诉), answered by legal (法规).
    Complaint,
}

/// (name, kind, default owning department, default days to conclude).
const KINDS: [(&str, CaseKind, &str, i64); 7] = [
    ("anti_smuggling", CaseKind::AntiSmuggling, "anti_smuggling", 30),
    ("post_clearance_audit", CaseKind::PostClearanceAudit, "audit", 90),
    ("tariff", CaseKind::Tariff, "tariff", 30),
    ("legal", CaseKind::Legal, "legal", 60),
    ("processing_trade", CaseKind::ProcessingTrade, "processing_trade", 60),
    ("integrity", CaseKind::Integrity, "integrity", 30),
    ("complaint", CaseKind::Complaint, "legal", 15),
];

impl CaseKind {
    pub fn all() -> impl Iterator<Item = CaseKind> {
        KINDS.iter().map(|k| k.1)
    }
    fn row(self) -> &'static (&'static str, CaseKind, &'static str, i64) {
        KINDS.iter().find(|k| k.1 == self).expect("every kind is listed")
    }
    pub fn as_str(self) -> &'static str {
        self.row().0
    }
    pub fn parse(s: &str) -> Option<CaseKind> {
        KINDS.iter().find(|k| k.0 == s).map(|k| k.1)
    }
    /// The department that owns a case of this kind unless configured
    /// otherwise (setting `case.department.KIND`).
    pub fn default_department(self) -> &'static str {
        self.row().2
    }
    /// Days from opening to the conclusion deadline unless configured
    /// otherwise (setting `case.due_days.KIND`).
    pub fn default_due_days(self) -> i64 {
        self.row().3
    }
}

crate::word_enum! {
    /// Where a case stands. `opened → accepted → in_progress → concluded →
    /// closed`; the owning department may return an opened or accepted case
    /// to its sender or reject it, each with a reason; a returned case can be
    /// sent again.
    #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
    #[serde(rename_all = "snake_case")]
    pub enum CaseStatus {
        Opened => "opened",
        Accepted => "accepted",
        InProgress => "in_progress",
        Concluded => "concluded",
        Closed => "closed",
        Returned => "returned",
        Rejected => "rejected",
    }
}

impl CaseStatus {
    /// Still with the department (its deadlines run).
    pub fn is_open(self) -> bool {
        matches!(self, CaseStatus::Opened | CaseStatus::Accepted | CaseStatus::InProgress)
    }
}

/// A move of a case from one state to the next.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CaseStep {
    Accept,
    Start,
    Conclude,
    Close,
    Return,
    Reject,
    /// A returned case sent to the department again.
    Resend,
}

const STEPS: [(&str, CaseStep, &[CaseStatus], CaseStatus); 7] = [
    ("accept", CaseStep::Accept, &[CaseStatus::Opened], CaseStatus::Accepted),
    ("start", CaseStep::Start, &[CaseStatus::Accepted], CaseStatus::InProgress),
    ("conclude", CaseStep::Conclude, &[CaseStatus::Accepted, CaseStatus::InProgress], CaseStatus::Concluded),
    ("close", CaseStep::Close, &[CaseStatus::Concluded], CaseStatus::Closed),
    (
        "return",
        CaseStep::Return,
        &[CaseStatus::Opened, CaseStatus::Accepted, CaseStatus::InProgress],
        CaseStatus::Returned,
    ),
    ("reject", CaseStep::Reject, &[CaseStatus::Opened], CaseStatus::Rejected),
    ("resend", CaseStep::Resend, &[CaseStatus::Returned], CaseStatus::Opened),
];

impl CaseStep {
    fn row(self) -> &'static (&'static str, CaseStep, &'static [CaseStatus], CaseStatus) {
        STEPS.iter().find(|s| s.1 == self).expect("every step is listed")
    }
    pub fn as_str(self) -> &'static str {
        self.row().0
    }
    pub fn parse(s: &str) -> Option<CaseStep> {
        STEPS.iter().find(|x| x.0 == s).map(|x| x.1)
    }
    pub fn names() -> Vec<&'static str> {
        STEPS.iter().map(|s| s.0).collect()
    }
    /// The state this step leads to from `from`, or `None` when the step is
    /// not allowed there.
    pub fn apply(self, from: CaseStatus) -> Option<CaseStatus> {
        let (_, _, sources, to) = self.row();
        sources.contains(&from).then_some(*to)
    }
    /// The steps allowed from `status`, in order.
    pub fn allowed_from(status: CaseStatus) -> Vec<&'static str> {
        STEPS.iter().filter(|s| s.2.contains(&status)).map(|s| s.0).collect()
    }
    /// Steps that need a reason (returning, rejecting).
    pub fn needs_reason(self) -> bool {
        matches!(self, CaseStep::Return | CaseStep::Reject)
    }
}

/// What the department found (conclusion of a case).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseResult {
    /// Finding kinds (DATA.md outcome finding kinds); empty: nothing found.
    pub findings: Vec<String>,
    /// Duty and taxes the case assessed beyond what the control recorded (CNY).
    pub additional_duty: f64,
    /// Penalty imposed (CNY).
    pub penalty: f64,
    pub seizure: bool,
    pub summary: String,
}

/// One entry of a case's history: a step, a note, an escalation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CaseEntry {
    pub at: DateTime<FixedOffset>,
    pub by: String,
    /// `opened`, a step (`accept`, `conclude`, …), `note`, `assign` or `escalate`.
    pub what: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Why an audit plan chose a post-clearance audit case, and with what
/// probability: the audit's result is learned from with the inverse of it,
/// as a control's is (DESIGN.md "Post-clearance audit").
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct AuditSelection {
    /// The plan that chose it.
    pub plan: String,
    /// The unit whose capacity it takes.
    pub unit: String,
    /// `ranked` (among the unit's best by expected duty) or `random` (an
    /// exploration draw among the rest).
    pub drawn: String,
    /// Probability that the plan chose it.
    pub selection_probability: f64,
    /// Expected recoverable duty at selection (CNY) and its probability.
    pub expected_duty: f64,
    pub probability: f64,
    pub reasons: Vec<String>,
    /// The reasons that come from the money flow (payments abroad, VAT
    /// invoices: other agencies' data), kept apart from `reasons` so that
    /// they can be withheld from roles that may not read money flow. Absent
    /// in cases opened before it existed (their lines are in `reasons`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub money_flow: Vec<String>,
}

/// A case as stored and shown.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Case {
    pub id: i64,
    /// Bumped by every change (a change based on an older version is refused).
    pub version: u32,
    pub kind: CaseKind,
    /// The owning department.
    pub department: String,
    /// The office the case belongs to (the declaration's, or the opener's).
    pub office: String,
    pub status: CaseStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub declaration_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enterprise: Option<String>,
    /// The officer concerned (integrity cases) or whose control found it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub officer: Option<String>,
    /// Why it was opened: `seizure`, `smuggling_finding`, `manual`.
    pub origin: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    pub opened_by: String,
    pub opened_at: DateTime<FixedOffset>,
    /// The department must accept (or return, reject) by then.
    pub accept_by: DateTime<FixedOffset>,
    /// The case must be concluded by then.
    pub due_at: DateTime<FixedOffset>,
    pub updated_at: DateTime<FixedOffset>,
    /// Set when a deadline passed and the case was escalated to the office's managers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub escalated_at: Option<DateTime<FixedOffset>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<CaseResult>,
    pub history: Vec<CaseEntry>,
    /// Set on the post-clearance audits an audit plan chose.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub selection: Option<AuditSelection>,
}

impl Case {
    /// The deadline that applies now: acceptance while opened, conclusion
    /// while accepted or in progress; none once concluded or ended.
    pub fn deadline(&self) -> Option<DateTime<FixedOffset>> {
        match self.status {
            CaseStatus::Opened => Some(self.accept_by.min(self.due_at)),
            CaseStatus::Accepted | CaseStatus::InProgress => Some(self.due_at),
            _ => None,
        }
    }
    /// Past its deadline at `now`.
    pub fn overdue(&self, now: DateTime<FixedOffset>) -> bool {
        self.deadline().is_some_and(|d| d < now)
    }
}

/// What to list (every field narrows; `None` does not).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CaseQuery {
    pub kind: Option<CaseKind>,
    pub department: Option<String>,
    pub status: Option<CaseStatus>,
    pub declaration_id: Option<String>,
    pub enterprise: Option<String>,
}
