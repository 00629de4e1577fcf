//! Cases and referrals (M4, M5): opening a case (by hand, or automatically
//! when a control seizes goods or finds smuggling), moving it through its
//! states, notes, escalation of overdue cases, and the result coming back
//! as an outcome that updates histories, rule statistics, model labels and
//! the KPIs. Every change is one store transaction with its action-log
//! entry and emits a `case` event addressed to the owning department.
//!
//! Who may do what is decided here ([`Actor`]); transports only check the
//! coarse permission and pass the caller.

use std::collections::HashSet;

use anyhow::Result;
use chrono::Duration;
use riskgate_core::records::FINDING_KINDS;
use riskgate_core::{
    Case, CaseEntry, CaseKind, CaseQuery, CaseResult, CaseStatus, CaseStep, ControlKind, Outcome, OutcomeResult,
};
use riskgate_store::Store;
use serde_json::json;

use crate::accounts::Role;
use crate::app::App;
use crate::error::{AppError, Kind};
use crate::events::token;
pub use crate::referrals::{ACCEPT_DAYS, case_event, department_of};
use crate::referrals::{draft, setting_number, store_new};

/// Who acts on a case: their role, department and offices. The CLI acts as
/// the operator (every step, every office), as it does for every command.
#[derive(Debug, Clone)]
pub struct Actor {
    /// `None`: the operator at the command line.
    pub role: Option<Role>,
    pub department: Option<String>,
    /// Offices the actor sees; `None`: all.
    pub scope: Option<HashSet<String>>,
}

impl Actor {
    pub fn operator() -> Actor {
        Actor { role: None, department: None, scope: None }
    }
    fn sees_office(&self, office: &str) -> bool {
        self.scope.as_ref().is_none_or(|s| s.contains(office))
    }
    fn of_department(&self, c: &Case) -> bool {
        self.role == Some(Role::DepartmentUser) && self.department.as_deref() == Some(c.department.as_str())
    }
    /// Whether the actor may see `c`: the owning department's users (any
    /// office in their scope), the offices' officers, analysts and managers;
    /// integrity cases only their supervisors and the integrity department.
    pub fn may_read(&self, c: &Case) -> bool {
        let Some(role) = self.role else { return true };
        if !self.sees_office(&c.office) {
            return false;
        }
        match role {
            Role::DepartmentUser => self.of_department(c),
            Role::IntegritySupervisor => c.kind == CaseKind::Integrity,
            Role::FieldOfficer | Role::RiskAnalyst | Role::DistrictManager | Role::HqManager => {
                c.kind != CaseKind::Integrity
            }
            Role::Admin | Role::Machine => false,
        }
    }
    /// Whether the actor may take `step` on `c` (seeing it is checked first).
    fn may_step(&self, c: &Case, step: CaseStep) -> bool {
        let Some(role) = self.role else { return true };
        match step {
            CaseStep::Accept | CaseStep::Start | CaseStep::Conclude | CaseStep::Return | CaseStep::Reject => {
                self.of_department(c)
            }
            CaseStep::Close => self.of_department(c) || matches!(role, Role::DistrictManager | Role::HqManager),
            CaseStep::Resend => !self.of_department(c) && role != Role::DepartmentUser,
        }
    }
    /// Kinds the actor may open: integrity cases only integrity supervisors;
    /// the others officers, analysts, managers and departments.
    fn may_open(&self, kind: CaseKind) -> bool {
        match self.role {
            None => true,
            Some(Role::IntegritySupervisor) => kind == CaseKind::Integrity,
            // Departments refer back (to another department, or to audit).
            Some(
                Role::FieldOfficer | Role::RiskAnalyst | Role::DistrictManager | Role::HqManager | Role::DepartmentUser,
            ) => kind != CaseKind::Integrity,
            Some(_) => false,
        }
    }
}

/// A case to open by hand.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCase {
    /// `anti_smuggling`, `post_clearance_audit`, `tariff`, `legal`, `processing_trade`, `integrity` or `complaint`.
    pub kind: String,
    /// The declaration it is about (its office owns the case).
    pub declaration_id: Option<String>,
    /// The enterprise (trader) it is about.
    pub enterprise: Option<String>,
    /// The officer concerned (integrity cases).
    pub officer: Option<String>,
    /// The owning office when no declaration names it (default: the opener's).
    pub office: Option<String>,
    pub title: String,
    pub note: Option<String>,
}

/// A step taken on a case.
#[derive(Debug, Clone, Default, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct StepBody {
    /// Needed to return or reject; kept in the history otherwise.
    pub note: Option<String>,
    /// The result, needed to conclude.
    pub result: Option<CaseResult>,
    /// The case version the caller saw (a change made meanwhile is refused).
    pub version: Option<u32>,
}

fn invalid(field: &str, message: impl Into<String>) -> anyhow::Error {
    AppError::invalid(field, message).into()
}

/// Opens a case by hand. The declaration (if named) must be stored and in
/// the actor's offices; its office owns the case and its trader is linked.
pub fn open(app: &mut App, actor: &Actor, new: NewCase) -> Result<Case> {
    open_with(app, actor, new, None)
}

/// Opens a post-clearance audit case an audit plan chose
/// (`postclearance::plan`), with why and with what probability.
/// Opens the cases an audit plan chose, each with its selection, and logs
/// the entry `then` makes of their ids: all in one transaction, or nothing
/// (every case is checked before any is stored).
pub fn open_selected(
    app: &mut App,
    actor: &Actor,
    chosen: Vec<(NewCase, riskgate_core::AuditSelection)>,
    then: &dyn Fn(&[i64]) -> riskgate_store::Action,
) -> Result<Vec<Case>> {
    let mut cases = Vec::with_capacity(chosen.len());
    for (new, selection) in chosen {
        let note = new.note.clone();
        cases.push((prepare(app, actor, new, Some(selection))?, note));
    }
    crate::referrals::store_new_all(app, cases, then)
}

fn open_with(
    app: &mut App,
    actor: &Actor,
    new: NewCase,
    selection: Option<riskgate_core::AuditSelection>,
) -> Result<Case> {
    let note = new.note.clone();
    let c = prepare(app, actor, new, selection)?;
    store_new(app, c, note)
}

/// A new case checked and drafted, not stored.
fn prepare(
    app: &mut App,
    actor: &Actor,
    new: NewCase,
    selection: Option<riskgate_core::AuditSelection>,
) -> Result<Case> {
    let kind = kind_word(&new.kind)?;
    if !actor.may_open(kind) {
        return Err(AppError::forbidden("forbidden", format!("this role may not open a {} case", kind.as_str())).into());
    }
    let title = new.title.trim();
    if title.is_empty() || title.chars().count() > 200 || title.chars().any(char::is_control) {
        return Err(invalid("title", "title: expected 1 to 200 characters without control characters"));
    }
    for (field, v) in [
        ("declaration_id", &new.declaration_id),
        ("enterprise", &new.enterprise),
        ("officer", &new.officer),
        ("office", &new.office),
    ] {
        if let Some(v) = v
            && (v.is_empty() || v.len() > 64 || !v.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c)))
        {
            return Err(invalid(
                field,
                format!("{field}: expected an id of letters, digits, '-', '_' or '.', got {v:?}"),
            ));
        }
    }
    if new.note.as_deref().is_some_and(|n| n.chars().count() > 4_000 || n.chars().any(|c| c.is_control() && c != '\n'))
    {
        return Err(invalid("note", "note: expected at most 4,000 characters without control characters"));
    }
    let mut office = new.office.clone().or_else(|| app.office.clone());
    let mut enterprise = new.enterprise.clone();
    if let Some(id) = &new.declaration_id {
        let d = app.store.declaration(id)?;
        let Some(d) = d.filter(|d| actor.sees_office(&d.declaration.office)) else {
            return Err(AppError::new(
                Kind::NotFound,
                "not_found",
                "declaration_id",
                format!("declaration_id: no declaration {id:?}"),
            )
            .into());
        };
        office = Some(d.declaration.office.clone());
        enterprise = enterprise.or(Some(d.declaration.trader.id.clone()));
    }
    if kind == CaseKind::Integrity && new.officer.is_none() {
        return Err(invalid("officer", "officer: an integrity case names the officer concerned"));
    }
    if new.declaration_id.is_none() && enterprise.is_none() && new.officer.is_none() {
        return Err(invalid("declaration_id", "a case is about a declaration, an enterprise or an officer: name one"));
    }
    let Some(office) = office else {
        return Err(invalid("office", "office: name the owning office (the opener has none)"));
    };
    if !app.store.offices()?.iter().any(|o| o.code == office) || !actor.sees_office(&office) {
        return Err(invalid("office", format!("office: no office {office:?} among the caller's offices")));
    }
    let now = crate::app::now();
    let mut c = draft(app.store.as_ref(), kind, office, &app.user.clone(), now)?;
    c.declaration_id = new.declaration_id;
    c.enterprise = enterprise;
    c.officer = new.officer;
    c.title = title.to_string();
    if selection.is_some() {
        c.origin = "audit_plan".into();
    }
    c.selection = selection;
    if let Some(n) = new.note.as_deref().map(str::trim).filter(|n| !n.is_empty()) {
        c.history[0].note = Some(n.to_string());
    }
    Ok(c)
}

fn read(store: &dyn Store, actor: &Actor, id: i64) -> Result<Case> {
    match store.case(id)? {
        Some(c) if actor.may_read(&c) => Ok(c),
        _ => Err(AppError::not_found(format!("no case {id}")).into()),
    }
}

/// One case, if the actor may see it.
pub fn get(store: &dyn Store, actor: &Actor, id: i64) -> Result<Case> {
    read(store, actor, id).map(|c| withhold_money_flow(actor, c))
}

/// What a reader without `ReadMoneyFlow` sees in place of money-flow lines.
pub const MONEY_FLOW_WITHHELD: &str = "（资金流信息，本角色不可见） / (money-flow detail, not shown to this role)";

/// The words that marked money-flow lines in audit cases opened before
/// `AuditSelection::money_flow` kept them apart: only those stored cases
/// are recognised by their words.
const LEGACY_MONEY_FLOW_MARKS: [&str; 3] = ["境外付汇", "增值税发票", "付汇高于申报"];

/// The case as `actor` may read it: a role that may not read money flow
/// (field officers) reads an audit plan's case without the payment and
/// invoice lines (`AuditSelection::money_flow`, and those lines in the
/// opening note). Only what is returned changes; the stored case keeps them.
fn withhold_money_flow(actor: &Actor, mut c: Case) -> Case {
    let Some(role) = actor.role else { return c };
    if c.origin != "audit_plan" || crate::accounts::allows(role, crate::accounts::Perm::ReadMoneyFlow) {
        return c;
    }
    let Some(s) = &mut c.selection else { return c };
    let lines = std::mem::take(&mut s.money_flow);
    let legacy = lines.is_empty();
    let marked = |l: &str| {
        if legacy { LEGACY_MONEY_FLOW_MARKS.iter().any(|m| l.contains(m)) } else { lines.iter().any(|x| x == l) }
    };
    if legacy {
        for r in &mut s.reasons {
            if marked(r) {
                *r = MONEY_FLOW_WITHHELD.to_string();
            }
        }
    } else {
        s.money_flow = vec![MONEY_FLOW_WITHHELD.to_string()];
    }
    let redact = |text: &str| -> String {
        text.lines().map(|l| if marked(l) { MONEY_FLOW_WITHHELD } else { l }).collect::<Vec<_>>().join("\n")
    };
    if let Some(e) = c.history.iter_mut().find(|e| e.what == "opened")
        && let Some(n) = &e.note
    {
        e.note = Some(redact(n));
    }
    c
}

/// A case kind from its word; the refusal names the field `kind`.
pub fn kind_word(k: &str) -> Result<CaseKind> {
    CaseKind::parse(k).ok_or_else(|| invalid("kind", format!("kind: no case kind {k:?}")))
}

/// A case status from its word; the refusal names the field `status`.
pub fn status_word(s: &str) -> Result<CaseStatus> {
    CaseStatus::parse(s).ok_or_else(|| invalid("status", format!("status: no case status {s:?}")))
}

/// The cases the actor may see that `q` selects (only those past their
/// deadline when `overdue`), at most `limit`: overdue ones first (oldest
/// deadline first), then the rest newest first.
pub fn list(store: &dyn Store, actor: &Actor, q: &CaseQuery, overdue: bool, limit: usize) -> Result<Vec<Case>> {
    let now = crate::app::now();
    let mut out: Vec<Case> = store
        .cases(q)?
        .into_iter()
        .filter(|c| actor.may_read(c) && (!overdue || c.overdue(now)))
        .map(|c| withhold_money_flow(actor, c))
        .collect();
    out.sort_by_key(|c| {
        (!c.overdue(now), if c.overdue(now) { c.deadline().map(|d| d.timestamp()) } else { None }, -c.id)
    });
    out.truncate(limit.max(1));
    Ok(out)
}

/// Takes `step` on case `id`: checks who may, that the step is allowed from
/// the case's state, and what it needs (a reason to return or reject, a
/// result to conclude). Concluding with a result about a declaration records
/// it as an outcome (see [`result_outcome`]).
pub fn step(app: &mut App, actor: &Actor, id: i64, step: CaseStep, body: StepBody) -> Result<Case> {
    let mut c = read(app.store.as_ref(), actor, id)?;
    if let Some(v) = body.version
        && v != c.version
    {
        return Err(AppError::new(
            Kind::Conflict,
            "stale",
            "version",
            format!("version: case {id} is at version {}, not {v}: read it again", c.version),
        )
        .into());
    }
    if !actor.may_step(&c, step) {
        return Err(AppError::forbidden("forbidden", format!("the caller may not {} case {id}", step.as_str())).into());
    }
    let Some(to) = step.apply(c.status) else {
        return Err(AppError::conflict(format!(
            "case {id} is {}: the step {} is not allowed from there (allowed: {})",
            c.status.as_str(),
            step.as_str(),
            {
                let ok = CaseStep::allowed_from(c.status);
                if ok.is_empty() { "none".to_string() } else { ok.join(", ") }
            }
        ))
        .into());
    };
    let note = body.note.as_deref().map(str::trim).filter(|n| !n.is_empty()).map(str::to_string);
    if note.as_deref().is_some_and(|n| n.chars().count() > 4_000 || n.chars().any(|c| c.is_control() && c != '\n')) {
        return Err(invalid("note", "note: expected at most 4,000 characters without control characters"));
    }
    if step.needs_reason() && note.is_none() {
        return Err(invalid("note", format!("note: a reason is needed to {} a case", step.as_str())));
    }
    if step == CaseStep::Conclude {
        let Some(r) = &body.result else {
            return Err(invalid("result", "result: concluding a case needs its result"));
        };
        check_result(r)?;
        c.result = body.result.clone();
    } else if body.result.is_some() {
        return Err(invalid("result", "result: only concluding a case takes a result"));
    }
    let now = crate::app::now();
    let before = json!({"status": c.status, "version": c.version});
    c.status = to;
    c.version += 1;
    c.updated_at = now;
    if step == CaseStep::Accept && c.assignee.is_none() {
        c.assignee = Some(app.user.clone());
    }
    if step == CaseStep::Resend {
        let accept_days = setting_number(app.store.as_ref(), "case.accept_days", ACCEPT_DAYS)?;
        c.accept_by = now + Duration::days(accept_days);
        c.escalated_at = None;
    }
    c.history.push(CaseEntry { at: now, by: app.user.clone(), what: step.as_str().into(), note: note.clone() });
    let mut action = app.action(&format!("case_{}", step.as_str()), "case:");
    action.office = Some(c.office.clone());
    action.before = Some(before);
    action.after = Some(json!({"status": c.status, "version": c.version, "result": c.result}));
    action.reason = note;
    app.store.update_case(&c, &action)?;
    if step == CaseStep::Conclude
        && let Some(o) = result_outcome(app, &c)?
    {
        let mut action = app.action("record_outcome", &o.declaration_id);
        action.after = Some(serde_json::to_value(&o)?);
        action.reason = Some(format!("案件 {0} 的办理结果 / result of case {0}", c.id));
        crate::imports::commit_outcomes(app, std::slice::from_ref(&o), action)?;
    }
    let ev = case_event(&app.events.prefix, &c, step.as_str());
    app.emit(&[ev])?;
    Ok(withhold_money_flow(actor, c))
}

fn check_result(r: &CaseResult) -> Result<()> {
    for (i, f) in r.findings.iter().enumerate() {
        if !FINDING_KINDS.contains(&f.as_str()) {
            return Err(invalid(
                &format!("result.findings[{i}]"),
                format!("result.findings[{i}]: expected one of {}, got {f:?}", FINDING_KINDS.join(", ")),
            ));
        }
    }
    for (field, x) in [("result.additional_duty", r.additional_duty), ("result.penalty", r.penalty)] {
        if !(x.is_finite() && (0.0..=riskgate_core::fields::MAX_AMOUNT).contains(&x)) {
            return Err(invalid(field, format!("{field}: expected an amount in CNY from 0 to 1e15, got {x}")));
        }
    }
    if r.summary.trim().is_empty() || r.summary.chars().count() > 4_000 {
        return Err(invalid(
            "result.summary",
            "result.summary: say what the case found (or that it found nothing), in at most 4,000 characters",
        ));
    }
    Ok(())
}

/// The outcome attribute carrying the probability with which an audit plan
/// chose the audit (training weighs its label by the inverse).
pub const SELECTION_PROBABILITY: &str = "selection_probability";

/// The outcome a concluded case writes back for its declaration, so that
/// histories, rule statistics, model labels and KPIs learn from it. Its
/// control is the one that referred it (a case opened from a border control
/// confirms that control's finding: smuggling counts as found at the
/// border), else `audit` (found after release: smuggling counts as found
/// later). `None` for a case about no declaration, or one that found
/// nothing and assessed nothing.
fn result_outcome(app: &App, c: &Case) -> Result<Option<Outcome>> {
    let (Some(id), Some(r)) = (&c.declaration_id, &c.result) else { return Ok(None) };
    let found = !(r.findings.is_empty() && r.additional_duty == 0.0 && !r.seizure);
    // An audit a plan chose is a label either way: its result, finding or
    // not, is learned from with its selection probability.
    if !found && c.selection.is_none() {
        return Ok(None);
    }
    let from_border = matches!(c.origin.as_str(), "seizure" | "smuggling_finding");
    let control = if from_border {
        let task = app.store.task_outcomes(id)?.task;
        match task.map(|t| t.channel) {
            Some(ch) if ch == "yellow" => ControlKind::Document,
            _ => ControlKind::Physical,
        }
    } else {
        ControlKind::Audit
    };
    let findings = match (found, r.findings.is_empty()) {
        (false, _) => Vec::new(),
        (true, true) => vec!["other".to_string()],
        (true, false) => r.findings.clone(),
    };
    let mut attributes = serde_json::Map::new();
    attributes.insert("case".into(), json!(c.id));
    attributes.insert("penalty".into(), json!(r.penalty));
    if let Some(s) = &c.selection {
        attributes.insert(SELECTION_PROBABILITY.into(), json!(s.selection_probability));
        attributes.insert("audit_plan".into(), json!(s.plan));
    }
    Ok(Some(Outcome {
        declaration_id: id.clone(),
        officer: crate::accounts::person(&app.user).to_string(),
        control,
        completed_at: c.updated_at,
        result: if found { OutcomeResult::Finding } else { OutcomeResult::NoFinding },
        findings,
        additional_duty: r.additional_duty,
        seizure: r.seizure,
        released_at: None,
        note: Some(r.summary.clone()),
        attributes,
    }))
}

/// Adds a note to a case's history (the department's users and those who
/// may see the case).
pub fn note(app: &mut App, actor: &Actor, id: i64, text: &str) -> Result<Case> {
    let mut c = read(app.store.as_ref(), actor, id)?;
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 4_000 || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(invalid("note", "note: expected 1 to 4,000 characters without control characters"));
    }
    let now = crate::app::now();
    c.version += 1;
    c.updated_at = now;
    c.history.push(CaseEntry { at: now, by: app.user.clone(), what: "note".into(), note: Some(text.to_string()) });
    let mut action = app.action("case_note", "case:");
    action.office = Some(c.office.clone());
    action.reason = Some(text.to_string());
    app.store.update_case(&c, &action)?;
    let ev = case_event(&app.events.prefix, &c, "note");
    app.emit(&[ev])?;
    Ok(withhold_money_flow(actor, c))
}

/// Escalates every case past its deadline that was not escalated since the
/// deadline passed: marks it, logs it and emits an `escalated` event for
/// the office's managers. Returns the cases escalated. Running it again
/// escalates nothing twice.
pub fn escalate(app: &mut App, actor: &Actor) -> Result<Vec<Case>> {
    let now = crate::app::now();
    let mut out = Vec::new();
    for mut c in app.store.cases(&CaseQuery::default())? {
        let Some(deadline) = c.deadline() else { continue };
        if deadline >= now || c.escalated_at.is_some_and(|e| e >= deadline) || !actor.may_read(&c) {
            continue;
        }
        c.version += 1;
        c.updated_at = now;
        c.escalated_at = Some(now);
        let what = if c.status == CaseStatus::Opened { "not accepted" } else { "not concluded" };
        c.history.push(CaseEntry {
            at: now,
            by: app.user.clone(),
            what: "escalate".into(),
            note: Some(format!("{what} by {}", deadline.to_rfc3339())),
        });
        let mut action = app.action("case_escalate", "case:");
        action.office = Some(c.office.clone());
        action.after = Some(json!({"status": c.status, "deadline": deadline, "version": c.version}));
        app.store.update_case(&c, &action)?;
        let prefix = app.events.prefix.clone();
        let mut ev = case_event(&prefix, &c, "escalated");
        // Escalations also reach the office's managers.
        ev.subject = format!("{prefix}.case.escalated.{}", token(&c.office));
        app.emit(&[ev])?;
        out.push(c);
    }
    Ok(out)
}
