//! `riskgate rules`: the rule lifecycle (draft → approved by a second user →
//! active → retired), testing on declarations and back-testing on stored
//! history. Every change and every read of rule logic is logged.

use std::collections::{BTreeMap, HashMap, HashSet};

use anyhow::Result;
use chrono::NaiveDate;
use riskgate_core::{Channel, Declaration};
use riskgate_engine::{Engine, EngineConfig, RuleDef, RuleStatus, rulebook};
use riskgate_store::{Event, RuleRecord};
use serde::{Deserialize, Serialize};

use crate::app::{App, now};
use crate::error::{AppError, Kind};
use crate::events;

/// A rule file (TOML) as analysts write it; over HTTP, the same fields as JSON.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RuleFile {
    pub id: String,
    pub title: String,
    pub when: String,
    #[serde(default)]
    pub weight: f64,
    pub channel: Option<String>,
    #[serde(default)]
    pub instructions: String,
    #[serde(default)]
    pub department: String,
    pub valid_from: Option<NaiveDate>,
    pub valid_to: Option<NaiveDate>,
    /// A disposal measure: eliminate, transfer, prevent, control,
    /// diversify, accept or avoid (the most severe of the fired rules' and
    /// the risk level's is taken).
    pub disposal: Option<String>,
    /// Refer each declaration the rule fires on to a department: a case
    /// kind (anti_smuggling, post_clearance_audit, tariff, legal,
    /// processing_trade, complaint).
    pub refer: Option<String>,
    /// The unit whose risk committee approves the rule: an office or
    /// district code; absent for a rule of national scope (docs/committees.md).
    pub scope: Option<String>,
}

/// Checks a rule file's fields (not its condition) and makes a draft definition.
pub fn rule_def(f: RuleFile, origin: &str) -> Result<RuleDef> {
    let invalid = |field: &str, msg: String| AppError::invalid(field, format!("{origin}: {field}: {msg}"));
    if f.id.is_empty() || !f.id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_') {
        return Err(invalid("id", format!("expected letters, digits, '-' or '_', got {:?}", f.id)).into());
    }
    // Titles and instructions reach terminals, tables and other systems:
    // no control characters (escape sequences), a line break in
    // instructions only; bounded lengths.
    for (field, text, max, newlines) in [
        ("title", &f.title, 200, false),
        ("department", &f.department, 64, false),
        ("instructions", &f.instructions, 2_000, true),
    ] {
        if text.chars().any(|c| c.is_control() && !(newlines && c == '\n')) {
            return Err(invalid(field, "expected text without control characters".into()).into());
        }
        if text.chars().count() > max {
            return Err(invalid(field, format!("expected at most {max} characters")).into());
        }
    }
    if !(0.0..=1.0).contains(&f.weight) {
        return Err(invalid("weight", format!("expected 0 to 1, got {}", f.weight)).into());
    }
    let channel = match f.channel.as_deref() {
        None => None,
        Some(s) => Some(
            Channel::parse(s)
                .ok_or_else(|| invalid("channel", format!("expected \"green\", \"yellow\" or \"red\", got {s:?}")))?,
        ),
    };
    let disposal = match f.disposal.as_deref() {
        None => None,
        Some(s) => Some(riskgate_core::Disposal::parse(s).ok_or_else(|| {
            invalid(
                "disposal",
                format!("expected eliminate, transfer, prevent, control, diversify, accept or avoid, got {s:?}"),
            )
        })?),
    };
    if let Some(k) = f.refer.as_deref() {
        match riskgate_core::CaseKind::parse(k) {
            Some(riskgate_core::CaseKind::Integrity) | None => {
                return Err(invalid(
                    "refer",
                    format!("expected a case kind other than integrity (anti_smuggling, post_clearance_audit, tariff, legal, processing_trade, complaint), got {k:?}"),
                )
                .into());
            }
            Some(_) => {}
        }
    }
    if let Some(s) = f.scope.as_deref()
        && (s.is_empty() || s.len() > 16 || !s.chars().all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(
            invalid("scope", format!("expected an office or district code (letters and digits), got {s:?}")).into()
        );
    }
    Ok(RuleDef {
        id: f.id,
        version: 0,
        title: f.title,
        when: f.when,
        weight: f.weight,
        channel,
        instructions: f.instructions,
        department: f.department,
        valid_from: f.valid_from,
        valid_to: f.valid_to,
        disposal,
        refer: f.refer,
        scope: f.scope,
    })
}

/// Compiles a rule against the live schema and lists, with a located error.
pub fn check(app: &App, def: &RuleDef, origin: &str) -> Result<()> {
    let e = app.engine.schema();
    rulebook::compile_one(def, e, app.engine.lists())
        .map(|_| ())
        .map_err(|err| anyhow::anyhow!("{origin}: when: {err}"))
}

/// Stores a checked definition as the next draft version of its rule.
fn add_def(app: &mut App, mut def: RuleDef) -> Result<RuleRecord> {
    let existing = app.store.rules()?;
    def.version = existing.iter().filter(|r| r.def.id == def.id).map(|r| r.def.version).max().unwrap_or(0) + 1;
    let rec = RuleRecord {
        def,
        status: RuleStatus::Draft,
        created_by: app.user.clone(),
        created_at: now().timestamp(),
        approved_by: None,
        approved_at: None,
        retired_at: None,
    };
    let mut a = app.action("rule_add", &format!("{}@{}", rec.def.id, rec.def.version));
    a.after = Some(serde_json::to_value(&rec)?);
    app.store.insert_rule(&rec, &a)?;
    emit_change(app, "added", &rec)?;
    Ok(rec)
}

/// Checks a draft's condition against the live schema and lists, then
/// stores it as the next draft version (`rules add`, `POST /rules`).
pub fn add_checked(app: &mut App, def: RuleDef, origin: &str) -> Result<RuleRecord> {
    crate::accounts::require_identity(&app.user, "writing a rule")?;
    if let Err(e) = rulebook::compile_one(&def, app.engine.schema(), app.engine.lists()) {
        return Err(rule_syntax(&e, origin).into());
    }
    if let Some(scope) = def.scope.as_deref() {
        let offices = app.store.offices()?;
        if !offices.is_empty() && !offices.iter().any(|o| o.code == scope) {
            let prefix = if origin.is_empty() { String::new() } else { format!("{origin}: ") };
            return Err(AppError::invalid("scope", format!("{prefix}scope: no office {scope:?}")).into());
        }
    }
    add_def(app, def)
}

/// A rule condition that does not compile: 422 with its position.
pub fn rule_syntax(e: &riskgate_rules::RuleError, origin: &str) -> AppError {
    let prefix = if origin.is_empty() { String::new() } else { format!("{origin}: ") };
    AppError::new(Kind::Unprocessable, "rule_syntax", "when", format!("{prefix}when: {e}"))
        .with_extra(serde_json::json!({"line": e.line, "column": e.column, "kind": e.kind.code()}))
}

/// The rule-change event of a stored change, to webhooks and the bus.
fn emit_change(app: &mut App, change: &str, rec: &RuleRecord) -> Result<()> {
    let ev = events::rule_change_event(
        &app.events.prefix,
        change,
        &rec.def.id,
        rec.def.version,
        &app.user,
        chrono::Utc::now().timestamp(),
    );
    app.emit(&[ev])
}

pub fn find(app: &App, id: &str, version: Option<u32>) -> Result<RuleRecord> {
    find_in(app.store.as_ref(), id, version)
}

pub fn find_in(store: &dyn riskgate_store::Store, id: &str, version: Option<u32>) -> Result<RuleRecord> {
    let all = store.rules()?;
    let mut of_id: Vec<RuleRecord> = all.into_iter().filter(|r| r.def.id == id).collect();
    if of_id.is_empty() {
        return Err(AppError::not_found(format!("no rule {id:?}")).into());
    }
    of_id.sort_by_key(|r| r.def.version);
    match version {
        Some(v) => of_id
            .into_iter()
            .find(|r| r.def.version == v)
            .ok_or_else(|| AppError::not_found(format!("rule {id} has no version {v}")).into()),
        None => Ok(of_id.pop().expect("non-empty")),
    }
}

/// Approves a draft rule version: it becomes active. The approver must not
/// be its author (four eyes). While a committee covers the rule's scope
/// (its district's, else HQ's), the approval becomes a pending committee
/// item instead (`committees::gate`), applied once the committee approves.
pub fn approve(app: &mut App, id: &str, version: Option<u32>) -> Result<crate::committee_gate::Gated<RuleRecord>> {
    crate::accounts::require_identity(&app.user, "approving a rule")?;
    let rec = find(app, id, version)?;
    check_approvable(app, &rec, &app.user.clone())?;
    let scope = rec.def.scope.as_deref().map_or_else(|| "national scope".to_string(), |s| format!("scope {s}"));
    if let Some(item) = crate::committee_gate::gate(
        app,
        crate::committee_gate::Change::RuleApprove { rule: id.to_string(), version: rec.def.version },
        format!("approve rule {id} version {} ({}; {scope})", rec.def.version, rec.def.title),
        Some(serde_json::json!({"status": "draft"})),
        Some(serde_json::json!({"status": "active"})),
    )? {
        return Ok(crate::committee_gate::Gated::Pending(Box::new(item)));
    }
    let user = app.user.clone();
    apply_approve(app, id, rec.def.version, &user, None).map(crate::committee_gate::Gated::Done)
}

/// A draft, not written by `approver`, whose condition compiles.
fn check_approvable(app: &App, rec: &RuleRecord, approver: &str) -> Result<()> {
    let id = &rec.def.id;
    if rec.status != RuleStatus::Draft {
        return Err(AppError::conflict(format!(
            "rule {id} version {} is {}, only a draft can be approved",
            rec.def.version,
            rec.status.as_str()
        ))
        .into());
    }
    if rec.created_by == approver {
        return Err(AppError::forbidden(
            "four_eyes",
            format!(
                "rule {id} version {} was written by {}: another user must approve it (four-eyes principle)",
                rec.def.version, rec.created_by
            ),
        )
        .into());
    }
    check(app, &rec.def, &format!("rule {id}"))
}

/// Activates a draft approved by `approver` (the user approving, or the
/// proposer of the committee item `via` names), retiring the previous
/// active version; `via` becomes the entries' reason.
pub(crate) fn apply_approve(
    app: &mut App,
    id: &str,
    version: u32,
    approver: &str,
    via: Option<String>,
) -> Result<RuleRecord> {
    let rec = find(app, id, Some(version))?;
    check_approvable(app, &rec, approver)?;
    let t = now().timestamp();
    // The previous active version of the same rule is retired by the approval.
    for old in app.store.rules()?.into_iter().filter(|r| r.def.id == id && r.status == RuleStatus::Active) {
        let mut o = old.clone();
        o.status = RuleStatus::Retired;
        o.retired_at = Some(t);
        let mut a = app.action("rule_retire", &format!("{id}@{}", old.def.version));
        a.reason = Some(format!("superseded by version {}", rec.def.version));
        a.before = Some(serde_json::json!({"status": "active"}));
        a.after = Some(serde_json::json!({"status": "retired"}));
        app.store.set_rule_status(id, old.def.version, &o, &a)?;
    }
    let mut new = rec.clone();
    new.status = RuleStatus::Active;
    new.approved_by = Some(approver.to_string());
    new.approved_at = Some(t);
    let mut a = app.action("rule_approve", &format!("{id}@{}", rec.def.version));
    a.before = Some(serde_json::json!({"status": "draft"}));
    a.after = Some(serde_json::json!({"status": "active", "approved_by": approver}));
    a.reason = via;
    app.store.set_rule_status(id, rec.def.version, &new, &a)?;
    crate::app::install_rules(app.store.as_ref(), &mut app.engine)?;
    emit_change(app, "approved", &new)?;
    Ok(new)
}

pub fn retire(app: &mut App, id: &str, version: Option<u32>, reason: &str) -> Result<RuleRecord> {
    crate::accounts::require_identity(&app.user, "retiring a rule")?;
    let rec = find(app, id, version)?;
    if reason.trim().is_empty() {
        return Err(AppError::invalid("reason", "reason: retiring a rule needs a reason").into());
    }
    if rec.status == RuleStatus::Retired {
        return Err(AppError::conflict(format!("rule {id} version {} is already retired", rec.def.version)).into());
    }
    let mut new = rec.clone();
    new.status = RuleStatus::Retired;
    new.retired_at = Some(now().timestamp());
    let mut a = app.action("rule_retire", &format!("{id}@{}", rec.def.version));
    a.before = Some(serde_json::json!({"status": rec.status.as_str()}));
    a.after = Some(serde_json::json!({"status": "retired"}));
    a.reason = Some(reason.trim().to_string());
    app.store.set_rule_status(id, rec.def.version, &new, &a)?;
    crate::app::install_rules(app.store.as_ref(), &mut app.engine)?;
    emit_change(app, "retired", &new)?;
    Ok(new)
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ListRow {
    pub id: String,
    pub version: u32,
    pub status: &'static str,
    pub title: String,
    pub department: String,
    pub hits: u64,
    pub controls: u64,
    pub findings: u64,
    pub hit_rate: Option<f64>,
    pub revenue_cny: f64,
    /// Share of the last 1,000 screened declarations the rule hit.
    pub recent_selection_rate: f64,
    pub alarm: Option<String>,
}

/// A rule whose recent selection rate exceeds this share of traffic is
/// flagged as running away.
pub const RUNAWAY_RATE: f64 = 0.02;

pub fn list(app: &App) -> Result<Vec<ListRow>> {
    list_in(app.store.as_ref(), None, None)
}

/// The rule list `who` may read: every rule with statistics on their
/// offices (`ReadRuleStats`), or a department user's own department's
/// rules (`ReadDepartmentRules`; none without a department).
pub fn list_for(store: &dyn riskgate_store::Store, who: &crate::accounts::Identity) -> Result<Vec<ListRow>> {
    use crate::accounts::Perm;
    let offices = who.office_filter();
    if who.may(Perm::ReadRuleStats) {
        return list_in(store, offices.as_deref(), None);
    }
    who.require(Perm::ReadDepartmentRules)?;
    match who.department.as_deref().filter(|d| !d.is_empty()) {
        Some(d) => list_in(store, offices.as_deref(), Some(d)),
        None => Ok(Vec::new()),
    }
}

/// Every rule version with its statistics on the decisions of `offices`
/// (the caller's scope; `None`: national).
pub fn list_in(
    store: &dyn riskgate_store::Store,
    offices: Option<&[String]>,
    department: Option<&str>,
) -> Result<Vec<ListRow>> {
    let by_rule = |v: Vec<riskgate_store::RuleStats>| -> HashMap<(String, u32), riskgate_store::RuleStats> {
        v.into_iter().map(|s| ((s.id.clone(), s.version), s)).collect()
    };
    let stats = by_rule(store.rule_stats(offices)?);
    // The runaway alarm watches the whole traffic: a rule selecting too
    // much nationally is flagged for everyone who sees it.
    let scoped_national = if offices.is_some() { Some(by_rule(store.rule_stats(None)?)) } else { None };
    let national = scoped_national.as_ref().unwrap_or(&stats);
    let recent_n = store.declaration_count()?.clamp(1, 1000) as f64;
    Ok(store
        .rules()?
        .into_iter()
        .filter(|r| department.is_none_or(|d| r.def.department == d))
        .map(|r| {
            let key = (r.def.id.clone(), r.def.version);
            let s = stats.get(&key).cloned().unwrap_or_default();
            let rate = national.get(&key).map_or(0.0, |n| n.recent_hits as f64 / recent_n);
            ListRow {
                id: r.def.id,
                version: r.def.version,
                status: r.status.as_str(),
                title: r.def.title,
                department: r.def.department,
                hits: s.hits,
                controls: s.controls,
                findings: s.findings,
                hit_rate: (s.completed > 0).then(|| s.findings as f64 / s.completed as f64),
                revenue_cny: s.revenue_cny,
                recent_selection_rate: rate,
                alarm: (r.status == RuleStatus::Active && rate > RUNAWAY_RATE).then(|| {
                    format!(
                        "selection rate {:.1}% of recent traffic exceeds {:.1}%",
                        rate * 100.0,
                        RUNAWAY_RATE * 100.0
                    )
                }),
            }
        })
        .collect())
}

pub fn show(app: &mut App, id: &str, version: Option<u32>) -> Result<RuleRecord> {
    let rec = find(app, id, version)?;
    let a = app.action("rule_read", &format!("{id}@{}", rec.def.version));
    app.store.append_action(&a)?;
    Ok(rec)
}

/// Whether the rule fires on each declaration, against the current context.
pub fn test_declarations(app: &App, def: &RuleDef, decls: &[Declaration]) -> Result<Vec<(String, bool)>> {
    let compiled = rulebook::compile_one(def, app.engine.schema(), app.engine.lists())?;
    let mut facts = riskgate_rules::Facts::new(&app.engine.schema().schema);
    let mut out = Vec::new();
    for d in decls {
        let fx = app.engine.context.forex.lookup(d, d.total_value_cny());
        app.engine.schema().fill(&mut facts, d, &app.engine.context, fx);
        out.push((d.id.clone(), compiled.eval(&facts) && def.valid_at(d.declared_at)));
    }
    Ok(out)
}

#[derive(Debug, Default, Serialize, PartialEq, utoipa::ToSchema)]
pub struct Backtest {
    pub rule: String,
    pub declarations: u64,
    pub hits: u64,
    /// Hits that were not controlled already: what the rule would add.
    pub added_controls: u64,
    pub added_targeting_rate: f64,
    pub hits_controlled: u64,
    pub hits_with_finding: u64,
    pub hit_rate_on_controlled: Option<f64>,
    pub revenue_cny: f64,
    /// Hits also hit by an active rule at the time.
    pub overlap_with_active: u64,
    pub overlap_rate: Option<f64>,
    /// Hits per office, and per office per day over the period.
    #[schema(value_type = Object)]
    pub load_per_office: BTreeMap<String, (u64, f64)>,
    /// The first `BACKTEST_HIT_IDS` declarations hit, in history order.
    pub hit_ids: Vec<String>,
}

/// How many hit declaration ids a back-test lists.
pub const BACKTEST_HIT_IDS: usize = 50;

/// Replays the stored history in its original order, with the context each
/// declaration had when it arrived, and evaluates the rule on every one.
pub fn backtest(app: &App, def: &RuleDef, from: Option<i64>, to: Option<i64>) -> Result<Backtest> {
    backtest_in(app.store.as_ref(), clone_lists(app), def, from, to, None)
}

/// The back-test on any store handle with the given lists (the server runs
/// it on a reader thread so screening goes on). With `scope`, only the
/// declarations of those offices are counted (the context is still built
/// from everything, as screening saw it).
pub fn backtest_in(
    store: &dyn riskgate_store::Store,
    lists: riskgate_rules::Lists,
    def: &RuleDef,
    from: Option<i64>,
    to: Option<i64>,
    scope: Option<&HashSet<String>>,
) -> Result<Backtest> {
    let in_scope = |office: &str| scope.is_none_or(|s| s.contains(office));
    let mut engine = Engine::new(EngineConfig::default());
    engine.set_lists(lists);
    for e in store.enterprises()? {
        engine.context.set_enterprise(&e);
    }
    for p in store.forex()? {
        engine.context.add_forex(&p);
    }
    let compiled = rulebook::compile_one(def, engine.schema(), engine.lists())?;
    let mut facts = riskgate_rules::Facts::new(&engine.schema().schema);
    let mut hit_ids: HashSet<String> = HashSet::new();
    let mut days: HashMap<String, HashSet<i64>> = HashMap::new();
    let in_range = |t: i64| from.is_none_or(|f| t >= f) && to.is_none_or(|x| t < x);
    store.replay(0, &mut |ev| match ev {
        Event::Historical(d) | Event::Screened { declaration: d, .. } => {
            let t = d.declared_at.timestamp();
            if in_range(t) && in_scope(&d.office) {
                let fx = engine.context.forex.lookup(&d, d.total_value_cny());
                engine.schema().fill(&mut facts, &d, &engine.context, fx);
                if compiled.eval(&facts) && def.valid_at(d.declared_at) {
                    hit_ids.insert(d.id.clone());
                }
                days.entry(d.office.clone()).or_default().insert(t.div_euclid(86_400));
            }
            engine.apply_historical(&d);
        }
        Event::Outcome { outcome, keys } => engine.apply_outcome(&keys, &outcome),
    })?;
    let mut b = Backtest { rule: format!("{}@{}", def.id, def.version), ..Default::default() };
    let mut office_hits: BTreeMap<String, u64> = BTreeMap::new();
    store.history(from, to, &mut |row| {
        if !in_scope(&row.declaration.office) {
            return;
        }
        b.declarations += 1;
        if !hit_ids.contains(&row.declaration.id) {
            return;
        }
        b.hits += 1;
        if b.hit_ids.len() < BACKTEST_HIT_IDS {
            b.hit_ids.push(row.declaration.id.clone());
        }
        *office_hits.entry(row.declaration.office.clone()).or_default() += 1;
        let controlled = row.decision.as_ref().is_some_and(|d| d.channel.is_control()) || !row.outcomes.is_empty();
        if controlled {
            let border: Vec<_> =
                row.outcomes.iter().filter(|o| o.control != riskgate_core::ControlKind::Audit).collect();
            if !border.is_empty() || !row.outcomes.is_empty() {
                b.hits_controlled += 1;
                if row.outcomes.iter().any(|o| o.is_finding()) {
                    b.hits_with_finding += 1;
                }
                b.revenue_cny += row.outcomes.iter().map(|o| o.additional_duty).sum::<f64>();
            }
        } else {
            b.added_controls += 1;
        }
        if row.decision.as_ref().is_some_and(|d| d.rule_hits().next().is_some()) {
            b.overlap_with_active += 1;
        }
    })?;
    b.added_targeting_rate = if b.declarations > 0 { b.added_controls as f64 / b.declarations as f64 } else { 0.0 };
    b.hit_rate_on_controlled = (b.hits_controlled > 0).then(|| b.hits_with_finding as f64 / b.hits_controlled as f64);
    b.overlap_rate = (b.hits > 0).then(|| b.overlap_with_active as f64 / b.hits as f64);
    for (office, n) in office_hits {
        let d = days.get(&office).map_or(1, |s| s.len().max(1)) as f64;
        b.load_per_office.insert(office, (n, n as f64 / d));
    }
    Ok(b)
}

pub fn clone_lists(app: &App) -> riskgate_rules::Lists {
    let mut lists = riskgate_rules::Lists::new();
    for name in app.engine.lists().names() {
        if let Some(v) = app.engine.lists().get(name) {
            lists.set(name, v.iter().cloned());
        }
    }
    lists
}
