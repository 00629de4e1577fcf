//! Referrals made by the system and the pieces every case change shares:
//! a new case with its deadlines, storing it with its action-log entry, and
//! the `case` event. Kept below `cases` (the use cases people call) and
//! `imports` (which refers a seizure or smuggling finding as it stores the
//! outcome), so that neither calls the other's caller.

use anyhow::Result;
use chrono::{DateTime, Duration, FixedOffset};
use riskgate_core::{Case, CaseEntry, CaseKind, CaseQuery, CaseStatus, ControlKind, Outcome};
use serde_json::json;

use riskgate_store::Store;

use crate::app::App;
use crate::events::{OutEvent, token};

/// Days the owning department has to accept (or return, reject) a new case
/// unless the setting `case.accept_days` says otherwise.
pub const ACCEPT_DAYS: i64 = 3;

pub(crate) fn setting_number(store: &dyn Store, key: &str, default: i64) -> Result<i64> {
    Ok(store.setting(key)?.and_then(|v| v.parse().ok()).unwrap_or(default))
}

/// The department owning cases of `kind` (setting `case.department.KIND`).
pub fn department_of(store: &dyn Store, kind: CaseKind) -> Result<String> {
    Ok(store
        .setting(&format!("case.department.{}", kind.as_str()))?
        .unwrap_or_else(|| kind.default_department().to_string()))
}

/// A new case as `by` opens it at `now`, with its deadlines from the settings.
pub(crate) fn draft(
    store: &dyn Store,
    kind: CaseKind,
    office: String,
    by: &str,
    now: DateTime<FixedOffset>,
) -> Result<Case> {
    let accept_days = setting_number(store, "case.accept_days", ACCEPT_DAYS)?;
    let due_days = setting_number(store, &format!("case.due_days.{}", kind.as_str()), kind.default_due_days())?;
    Ok(Case {
        id: 0,
        version: 1,
        kind,
        department: department_of(store, kind)?,
        office,
        status: CaseStatus::Opened,
        declaration_id: None,
        enterprise: None,
        officer: None,
        origin: "manual".into(),
        title: String::new(),
        assignee: None,
        opened_by: by.to_string(),
        opened_at: now,
        accept_by: now + Duration::days(accept_days),
        due_at: now + Duration::days(due_days),
        updated_at: now,
        escalated_at: None,
        result: None,
        history: vec![CaseEntry { at: now, by: by.to_string(), what: "opened".into(), note: None }],
        selection: None,
    })
}

/// The `case` event of a change, addressed to the owning department
/// (`<prefix>.case.<department>.<change>`; webhooks of kind `case` of that
/// department only).
pub fn case_event(prefix: &str, c: &Case, change: &str) -> OutEvent {
    let payload = json!({
        "id": c.id,
        "version": c.version,
        "change": change,
        "kind": c.kind,
        "department": c.department,
        "office": c.office,
        "status": c.status,
        "declaration_id": c.declaration_id,
        "enterprise": c.enterprise,
        "title": c.title,
        "due_at": c.due_at,
        "at": c.updated_at,
    });
    OutEvent {
        id: format!("case:{}:{}", c.id, c.version),
        kind: "case",
        subject: format!("{prefix}.case.{}.{}", token(&c.department), token(change)),
        payload: payload.to_string(),
        department: Some(c.department.clone()),
        office: Some(c.office.clone()),
        chapters: Vec::new(),
    }
}

/// The `case_open` entry of a new case in `actor`'s name (at the case's
/// opening, in its office).
fn open_action(actor: &str, c: &Case, reason: Option<String>) -> Result<riskgate_store::Action> {
    let mut action = crate::app::new_action(actor, Some(c.office.clone()), "case_open", "case:");
    action.at = c.opened_at;
    action.after = Some(serde_json::to_value(c)?);
    action.reason = reason;
    Ok(action)
}

/// Stores a new case in `actor`'s name with its `case_open` entry; sets its id.
fn insert_new(store: &mut dyn Store, actor: &str, c: &mut Case, reason: Option<String>) -> Result<()> {
    let action = open_action(actor, c, reason)?;
    c.id = store.insert_case(c, &action)?;
    Ok(())
}

/// Stores new cases (each with its reason) in `app.user`'s name and the
/// entry `then` makes of their ids, in one transaction; emits their events.
pub(crate) fn store_new_all(
    app: &mut App,
    cases: Vec<(Case, Option<String>)>,
    then: &dyn Fn(&[i64]) -> riskgate_store::Action,
) -> Result<Vec<Case>> {
    let actor = app.user.clone();
    let mut rows = Vec::with_capacity(cases.len());
    for (c, reason) in cases {
        let action = open_action(&actor, &c, reason)?;
        rows.push((c, action));
    }
    let ids = app.store.insert_cases(&rows, then)?;
    let stored: Vec<Case> = rows.into_iter().zip(ids).map(|((c, _), id)| Case { id, ..c }).collect();
    let events: Vec<_> = stored.iter().map(|c| case_event(&app.events.prefix, c, "opened")).collect();
    app.emit(&events)?;
    Ok(stored)
}

pub(crate) fn store_new(app: &mut App, mut c: Case, reason: Option<String>) -> Result<Case> {
    let actor = app.user.clone();
    insert_new(app.store.as_mut(), &actor, &mut c, reason)?;
    let ev = case_event(&app.events.prefix, &c, "opened");
    app.emit(&[ev])?;
    Ok(c)
}

/// The referral a control outcome calls for: anti-smuggling when goods were
/// seized or smuggling / prohibited goods were found (`None` otherwise).
/// Opened by the system in the name of the officer who recorded it, unless
/// an open anti-smuggling case on the declaration exists.
pub(crate) fn refer_outcome(app: &mut App, o: &Outcome, office: &str) -> Result<Option<Case>> {
    let smuggling = o.findings.iter().any(|f| f == "smuggling" || f == "prohibited");
    if !(o.seizure || smuggling) || o.attributes.contains_key("case") {
        return Ok(None);
    }
    let q = CaseQuery {
        kind: Some(CaseKind::AntiSmuggling),
        declaration_id: Some(o.declaration_id.clone()),
        ..Default::default()
    };
    if app.store.cases(&q)?.iter().any(|c| c.status.is_open() || c.status == CaseStatus::Concluded) {
        return Ok(None);
    }
    let trader = app.store.declaration(&o.declaration_id)?.map(|d| d.declaration.trader.id);
    let now = crate::app::now();
    let mut c = draft(app.store.as_ref(), CaseKind::AntiSmuggling, office.to_string(), "system", now)?;
    c.origin = if o.seizure { "seizure" } else { "smuggling_finding" }.into();
    c.declaration_id = Some(o.declaration_id.clone());
    c.enterprise = trader;
    c.officer = Some(o.officer.clone());
    c.title = format!(
        "{} — {} {}",
        if o.seizure {
            "查获移交缉私 / seizure referred"
        } else {
            "走私嫌疑移交缉私 / smuggling referred"
        },
        o.control.as_str(),
        o.findings.join(",")
    );
    c.history[0].note = o.note.clone();
    // Logged in both languages, as the title above ("中文 / English").
    let zh = match o.control {
        ControlKind::Document => "审单",
        ControlKind::Physical => "查验",
        ControlKind::Audit => "稽查",
    };
    let why = format!("报关单 {0} 的{zh}结果 / {1} control of {0}", o.declaration_id, o.control.as_str());
    Ok(Some(store_new(app, c, Some(why))?))
}

/// The referrals the fired rules of newly screened declarations ask for
/// (`refer = "KIND"` in a rule): one case per declaration and kind, in the
/// name of `system`, each with its action-log entry. The screening step
/// stores them with the batch, in its transaction (`Store::commit_screened`).
pub fn rule_referrals(
    store: &dyn Store,
    screened: &[(&riskgate_core::Declaration, &riskgate_core::Screened)],
) -> Result<Vec<(Case, riskgate_store::Action)>> {
    let mut out = Vec::new();
    for (d, s) in screened {
        let mut kinds: Vec<&str> = Vec::new();
        for (kind, rule) in &s.refer {
            let Some(k) = CaseKind::parse(kind) else { continue };
            if kinds.contains(&kind.as_str()) {
                continue;
            }
            kinds.push(kind);
            let now = s.decision.decided_at;
            let mut c = draft(store, k, d.office.clone(), "system", now)?;
            c.origin = format!("rule:{rule}");
            c.declaration_id = Some(d.id.clone());
            c.enterprise = Some(d.trader.id.clone());
            c.title = format!("规则 {rule} 移交 / referred by rule {rule}");
            let action = open_action("system", &c, Some(format!("rule {rule} fired on {}", d.id)))?;
            out.push((c, action));
        }
    }
    Ok(out)
}
