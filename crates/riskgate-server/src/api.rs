//! The API's handlers other than screening and sessions. Each asks for one
//! permission first, scopes what it reads to the caller's offices, runs
//! store work on a reader thread and engine work on the screening thread,
//! and logs changes and reads of rule logic or integrity data.

use std::collections::HashSet;

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};

use riskgate_app::imports::{self, Kind, RecordError, Rows};
use riskgate_app::screening::Summary;
use riskgate_core::{
    Declaration, Enterprise, ForexPayment, Office, OfficeLevel, Officer, Outcome, Reason, Release, TaxInvoice,
    ValidationError, WorkforceRecord,
};
use riskgate_store::{ControlTask, DeclarationQuery};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::{IntoParams, ToSchema};

use crate::answers::*;
use crate::auth::{Caller, Perm, Principal, subtree};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

pub use crate::state::require_json;

/// A day (YYYY-MM-DD, China time) or an RFC 3339 time, as seconds.
pub(super) fn time_param(name: &str, s: &Option<String>, end: bool) -> ApiResult<Option<i64>> {
    let Some(s) = s.as_deref().filter(|s| !s.is_empty()) else { return Ok(None) };
    riskgate_app::app::parse_time(name, s, end).map(Some).map_err(ApiError::query_refusal)
}

pub(super) fn limit_param(l: Option<usize>, default: usize, max: usize) -> ApiResult<usize> {
    match l {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(ApiError::query("limit", format!("limit: expected 1 to {max}, got {n}"))),
    }
}

/// Rows to skip (paging): 0 to 100,000, default 0.
pub(super) fn offset_param(o: Option<usize>) -> ApiResult<usize> {
    match o {
        None => Ok(0),
        Some(n) if n <= MAX_OFFSET => Ok(n),
        Some(n) => Err(ApiError::query("offset", format!("offset: expected 0 to {MAX_OFFSET}, got {n}"))),
    }
}

/// The largest `offset` a list takes.
const MAX_OFFSET: usize = 100_000;

/// The offices to read: the caller's scope, narrowed to `office`'s subtree.
pub(super) fn office_scope(
    p: &Principal,
    offices: &[Office],
    office: &Option<String>,
) -> ApiResult<Option<HashSet<String>>> {
    match office.as_deref().filter(|s| !s.is_empty()) {
        None => Ok(p.scope.clone()),
        Some(o) => {
            if !offices.iter().any(|x| x.code == o) {
                return Err(ApiError::query("office", format!("office: no office {o:?}")));
            }
            if !p.sees_office(o) {
                return Err(ApiError::forbidden(format!("office {o} is outside the caller's offices")).field("office"));
            }
            Ok(Some(subtree(offices, o)))
        }
    }
}

pub(super) fn sorted(s: Option<HashSet<String>>) -> Option<Vec<String>> {
    s.map(|s| {
        let mut v: Vec<String> = s.into_iter().collect();
        v.sort();
        v
    })
}

// ------------------------------------------------------------ declarations

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SearchQuery {
    /// An office code: its subtree (within the caller's offices).
    office: Option<String>,
    /// `green`, `yellow` or `red`.
    lane: Option<String>,
    /// Same as `lane`.
    channel: Option<String>,
    /// A disposal measure: `transfer` lists the post-clearance audit
    /// candidates (high risk released within the budget), `avoid`, … .
    disposal: Option<String>,
    /// A declaration id prefix or an exact trader id.
    q: Option<String>,
    /// A trader: its id, the start of its id, or part of its registered name.
    trader: Option<String>,
    /// A day (YYYY-MM-DD, China time) or an RFC 3339 time.
    from: Option<String>,
    /// A day (inclusive) or an RFC 3339 time (exclusive).
    to: Option<String>,
    /// 1 to 1000 (default 50).
    limit: Option<usize>,
    /// Rows to skip, newest first (paging; 0 to 100,000, default 0).
    offset: Option<usize>,
    /// `true`: sent to control by the decision (yellow or red); `false`: green.
    controlled: Option<String>,
    /// `true`: an outcome with a finding; `false`: none.
    finding: Option<String>,
    /// What selected it: `none`, `rule`, `score`, `random` or `manual`.
    source: Option<String>,
    /// `low`, `medium` or `high`.
    risk_level: Option<String>,
    /// The control task's status: `open`, `closed`, `overridden`, or `none` (no task).
    status: Option<String>,
    /// Goods: HS code prefix of an item (chapter `85`, heading `8517`, …).
    hs: Option<String>,
    /// Country of origin of an item (ISO code).
    origin: Option<String>,
    /// An outcome recorded by this officer (needs the officers' figures,
    /// as the analysis by officer does).
    officer: Option<String>,
    /// This rule fired on it (needs the rules' figures, as the analysis by
    /// rule does).
    rule: Option<String>,
}

/// A `true`/`false` query parameter; empty is absent.
fn flag_param(name: &str, v: Option<String>) -> ApiResult<Option<bool>> {
    match v.as_deref() {
        None | Some("") => Ok(None),
        Some("true") => Ok(Some(true)),
        Some("false") => Ok(Some(false)),
        Some(x) => Err(ApiError::query(name, format!("{name}: expected true or false, got {x:?}"))),
    }
}

/// A query parameter that must be one of `words`; empty is absent.
fn word_param(name: &str, v: Option<String>, words: &[&str]) -> ApiResult<Option<String>> {
    match v.filter(|s| !s.is_empty()) {
        None => Ok(None),
        Some(x) if words.contains(&x.as_str()) => Ok(Some(x)),
        Some(x) => Err(ApiError::query(name, format!("{name}: expected {}, got {x:?}", words.join(", ")))),
    }
}

/// Search declarations in the caller's offices, newest first.
///
/// Who: all but admin.
#[utoipa::path(get, path = "/declarations", tag = "declarations", params(SearchQuery),
    responses((status = 200, body = DeclarationList)))]
pub async fn search_declarations(
    Caller(state, p): Caller,
    Query(q): Query<SearchQuery>,
) -> ApiResult<Json<DeclarationList>> {
    p.require(Perm::ReadDeclarations)?;
    let offices = sorted(office_scope(&p, &state.offices(), &q.office)?);
    let channel = q.lane.or(q.channel).filter(|s| !s.is_empty());
    if let Some(c) = &channel
        && riskgate_core::Channel::parse(c).is_none()
    {
        return Err(ApiError::query("lane", format!("lane: expected green, yellow or red, got {c:?}")));
    }
    let disposal = q.disposal.filter(|s| !s.is_empty());
    if let Some(m) = &disposal
        && riskgate_core::Disposal::parse(m).is_none()
    {
        return Err(ApiError::query(
            "disposal",
            format!("disposal: expected eliminate, transfer, prevent, control, diversify, accept or avoid, got {m:?}"),
        ));
    }
    let query = DeclarationQuery {
        offices,
        q: q.q.filter(|s| !s.is_empty()),
        trader: None,
        trader_match: q.trader.filter(|s| !s.is_empty()),
        channel,
        disposal,
        from: time_param("from", &q.from, false)?,
        to: time_param("to", &q.to, true)?,
        limit: limit_param(q.limit, 50, 1000)?,
        offset: offset_param(q.offset)?,
        controlled: flag_param("controlled", q.controlled)?,
        finding: flag_param("finding", q.finding)?,
        source: word_param("source", q.source, &riskgate_core::Source::ALL.map(|(w, _)| w))?,
        risk_level: word_param("risk_level", q.risk_level, &riskgate_core::RiskLevel::ALL.map(|(w, _)| w))?,
        status: word_param("status", q.status, &["open", "closed", "overridden", "none"])?,
        hs: match q.hs.filter(|s| !s.is_empty()) {
            Some(h) if h.len() <= 10 && h.bytes().all(|b| b.is_ascii_digit()) => Some(h),
            Some(h) => return Err(ApiError::query("hs", format!("hs: expected 1 to 10 digits, got {h:?}"))),
            None => None,
        },
        origin: q.origin.filter(|s| !s.is_empty()),
        officer: q.officer.filter(|s| !s.is_empty()),
        rule: q.rule.filter(|s| !s.is_empty()),
    };
    if query.officer.is_some() {
        p.require(Perm::ReadOfficers)?;
    }
    if query.rule.is_some() {
        p.require(Perm::ReadRuleStats)?;
    }
    let rows = state.read(move |s| Ok(s.search_declarations(&query)?)).await?;
    Ok(Json(DeclarationList { declarations: rows }))
}

/// A declaration with its decision and explanation, task and outcomes.
///
/// The explanation gives the score with its top features, the random draw
/// and the selection probability; the rules fired (with versions) only to
/// analysts. Who: all but admin.
#[utoipa::path(get, path = "/declarations/{id}", tag = "declarations", params(("id" = String, Path)),
    responses((status = 200, body = DeclarationDetail)))]
pub async fn get_declaration(Caller(state, p): Caller, Path(id): Path<String>) -> ApiResult<Json<DeclarationDetail>> {
    p.require(Perm::ReadDeclarations)?;
    let key = id.clone();
    let (stored, tasks, logged) = state
        .read(move |s| {
            let d = s.declaration(&key)?;
            let (t, o) =
                if d.is_some() { (Some(s.task_outcomes(&key)?), s.overrides(&key)?) } else { (None, Vec::new()) };
            Ok((d, t, o))
        })
        .await?;
    let Some(stored) = stored.filter(|d| p.sees_office(&d.declaration.office)) else {
        return Err(ApiError::not_found(format!("no declaration {id:?}")));
    };
    let analyst = p.may(Perm::ReadRuleReasons);
    let explanation = stored.decision.as_ref().map(|d| explain(d, analyst));
    let mut decision = stored.decision;
    if !analyst && let Some(d) = decision.as_mut() {
        // Officers and others see instructions, never which rules fired.
        d.reasons.retain(|r| !matches!(r, Reason::Rule { .. }));
    }
    let (task, outcomes) = tasks.map(|t| (t.task, t.outcomes)).unwrap_or_default();
    // An override writes the new lane on the control task (to green: the
    // task closed as `overridden`), so the task's lane is the one in force.
    let channel_in_force = match &task {
        Some(t) => riskgate_core::Channel::parse(&t.channel),
        None => decision.as_ref().map(|d| d.channel),
    };
    Ok(Json(DeclarationDetail {
        declaration: stored.declaration,
        historical: stored.historical,
        decision,
        explanation,
        task,
        outcomes,
        channel_in_force,
        // Who changed the lane and why is for the people of customs
        // (ReadCases: every human role that reads declarations), not for
        // systems reading decisions back; they get the lane in force.
        overrides: if p.may(Perm::ReadCases) { logged.iter().map(lane_override).collect() } else { Vec::new() },
    }))
}

/// An `override` action-log entry as the declaration page shows it.
fn lane_override(l: &riskgate_store::LoggedAction) -> LaneOverride {
    let a = &l.action;
    let logged = riskgate_app::overrides::LoggedOverride::of(l);
    LaneOverride {
        at: a.at,
        officer: a.actor.clone(),
        entered_by: logged.entered_by.map(str::to_string),
        from: logged.from.unwrap_or_default().to_string(),
        to: logged.to.unwrap_or_default().to_string(),
        engine_channel: logged.engine_channel.map(str::to_string),
        reason: a.reason.clone().unwrap_or_default(),
        log_seq: l.seq,
    }
}

/// A decision in the terms its reader may see (`analyst`: the rules too).
fn explain(d: &riskgate_core::Decision, analyst: bool) -> Explanation {
    let mut e = Explanation {
        channel: d.channel,
        risk_value: d.risk_value,
        risk_level: d.risk_level,
        source: d.source,
        disposal: d.disposal,
        instructions: d.instructions.clone(),
        random_draw: d.random,
        random_rate: None,
        selection_probability: d.selection_probability,
        score: None,
        selectivity: None,
        credit: None,
        fallback: None,
        rules_fired: 0,
        rules: None,
    };
    let mut rules = Vec::new();
    for r in &d.reasons {
        match r {
            Reason::Rule { id, version, title, channel, weight } => rules.push(RuleFired {
                id: id.clone(),
                version: *version,
                title: title.clone(),
                channel: *channel,
                weight: *weight,
            }),
            Reason::Model { id, score, top_features, expected_revenue_cny } => {
                e.score = Some(ScoreExplained {
                    model: id.clone(),
                    probability: *score,
                    expected_revenue_cny: *expected_revenue_cny,
                    top_features: top_features
                        .iter()
                        .map(|(n, v)| FeatureContribution { feature: n.clone(), contribution: *v })
                        .collect(),
                })
            }
            Reason::Random { rate } => e.random_rate = Some(*rate),
            Reason::Credit { class, factor } => {
                e.credit = Some(CreditExplained { class: class.clone(), factor: *factor })
            }
            Reason::Selectivity { office, threshold, target_rate } => {
                e.selectivity = Some(SelectivityExplained {
                    office: office.clone(),
                    threshold: *threshold,
                    target_rate: *target_rate,
                })
            }
            Reason::Fallback { detail } => e.fallback = Some(detail.clone()),
        }
    }
    e.rules_fired = rules.len();
    e.rules = analyst.then_some(rules);
    e
}

/// Override the lane with a mandatory reason, in the caller's own name.
///
/// The lane change and its action-log entry are one transaction; refusals
/// (same lane, control completed, goods released) answer 409.
/// Who: field_officer, district_manager.
#[utoipa::path(post, path = "/declarations/{id}/override", tag = "declarations", params(("id" = String, Path)),
    request_body = OverrideBody, responses((status = 200, body = riskgate_store::OverrideDone)))]
pub async fn override_lane(
    Caller(state, p): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<riskgate_store::OverrideDone>> {
    p.require(Perm::OverrideLane)?;
    require_json(&headers)?;
    let b: OverrideBody = crate::state::parse_json(&body)?;
    if riskgate_core::Channel::parse(&b.channel).is_none() {
        return Err(ApiError::invalid(
            "channel",
            format!("channel: expected green, yellow or red, got {:?}", b.channel),
        ));
    }
    if b.reason.trim().is_empty() {
        return Err(ApiError::invalid("reason", "reason: an override needs a reason"));
    }
    let key = id.clone();
    let d = state.read(move |s| Ok(s.declaration(&key)?)).await?;
    if !d.is_some_and(|d| p.sees_office(&d.declaration.office)) {
        return Err(ApiError::not_found(format!("no declaration {id:?}")));
    }
    let channel = riskgate_core::Channel::parse(&b.channel).expect("checked above");
    // On the screening thread, in the caller's own name: the lane change
    // and its action-log entry are one store transaction; refusals (same
    // lane, control completed, released goods) come back as 409.
    let done = as_caller(&state, &p, move |app| {
        let officer = app.user.clone();
        Ok(riskgate_app::overrides::override_lane(app, &id, channel, &officer, &b.reason)?)
    })
    .await?;
    Ok(Json(done))
}
// --------------------------------------------------------------- imports

/// One record or an array of them, numbered by their index; all are
/// checked before any is stored.
fn records<T>(body: &[u8], parse: impl Fn(&Value) -> Result<T, ValidationError>) -> ApiResult<Rows<T>> {
    let v = crate::state::parse_records(body)?;
    let (values, array) = match v {
        Value::Array(a) => (a, true),
        o @ Value::Object(_) => (vec![o], false),
        _ => return Err(ApiError::invalid("", "expected a record object or an array of them")),
    };
    if values.is_empty() || values.len() > 100_000 {
        return Err(ApiError::invalid("", format!("expected 1 to 100000 records, got {}", values.len())));
    }
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            parse(v)
                .map(|t| (i, t))
                .map_err(|e| ApiError::validation(&e, &if array { format!("[{i}]") } else { String::new() }))
        })
        .collect()
}

/// All or nothing: the request is refused at its first bad record.
fn refuse_bad(errors: &[RecordError], n: usize) -> ApiResult<()> {
    match errors.first() {
        Some(e) => Err(ApiError::validation(&e.error, &if n == 1 { String::new() } else { format!("[{}]", e.index) })),
        None => Ok(()),
    }
}

fn unknown(i: usize, n: usize, field: &str, expected: &str, got: &str) -> ApiError {
    let f = if n == 1 { field.to_string() } else { format!("[{i}].{field}") };
    ApiError::invalid(&f, format!("{f}: expected {expected}, got {got:?}"))
}

async fn import_done(state: &AppState, kind: &str, s: Summary) -> Json<ImportSummary> {
    state.metrics().imported(kind, s.accepted);
    Json(ImportSummary { kind: kind.to_string(), accepted: s.accepted, duplicates: s.duplicates })
}

/// Checks then commits records of one kind on the screening thread, in
/// the caller's name (`riskgate_app::imports`, as the CLI does).
async fn import_rows<T: Send + Sync + 'static>(
    state: &AppState,
    p: &Principal,
    rows: Rows<T>,
    kind: Kind<T>,
) -> ApiResult<Summary> {
    as_caller(state, p, move |app| {
        refuse_bad(&(kind.check)(app.store.as_ref(), &rows)?, rows.len())?;
        let rows: Vec<T> = rows.into_iter().map(|(_, t)| t).collect();
        Ok((kind.commit)(app, &rows, "api")?)
    })
    .await
}

/// Counts engine changes towards the next checkpoint.
async fn unsaved(state: &AppState, n: usize) -> ApiResult<()> {
    state
        .write(move |live| {
            live.unsaved += n;
            Ok(())
        })
        .await
}

/// What follows an import's commit.
#[derive(Clone, Copy)]
enum Then {
    Nothing,
    /// The office tree is read again (callers' scopes, the office list).
    ReloadOffices,
    /// One engine change towards the next checkpoint.
    CountOne,
    /// One engine change per accepted record.
    CountAccepted,
}

/// `POST` of one record kind: the permission it takes, its name in the
/// answer and the metrics, and what follows the commit.
pub(crate) struct Import<T: 'static>(Perm, &'static str, Kind<T>, Then);

impl<T> Clone for Import<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Import<T> {}

pub(crate) const OFFICES: Import<Office> =
    Import(Perm::ImportReference, "offices", imports::OFFICES, Then::ReloadOffices);
pub(crate) const OFFICERS: Import<Officer> =
    Import(Perm::ImportReference, "officers", imports::OFFICERS, Then::Nothing);
pub(crate) const ENTERPRISES: Import<Enterprise> =
    Import(Perm::ImportReference, "enterprises", imports::ENTERPRISES, Then::CountOne);
pub(crate) const FOREX: Import<ForexPayment> = Import(Perm::ImportExternal, "forex", imports::FOREX, Then::CountOne);
pub(crate) const INVOICES: Import<TaxInvoice> =
    Import(Perm::ImportExternal, "invoices", imports::INVOICES, Then::Nothing);
pub(crate) const OUTCOMES: Import<Outcome> =
    Import(Perm::ImportOutcomes, "outcomes", imports::OUTCOMES, Then::CountAccepted);
pub(crate) const RELEASES: Import<Release> = Import(Perm::ImportOutcomes, "releases", imports::RELEASES, Then::Nothing);

/// The permission and the content type, before anything else.
fn admit(p: &Principal, perm: Perm, headers: &HeaderMap) -> ApiResult<()> {
    p.require(perm)?;
    require_json(headers)
}

/// Parses the body's records, refuses the request at a bad one, commits
/// them all and answers with the summary.
async fn import<T: Send + Sync + 'static>(
    state: &AppState,
    p: &Principal,
    body: &[u8],
    Import(_, name, kind, then): Import<T>,
) -> ApiResult<Json<ImportSummary>> {
    let rows = records(body, kind.parse)?;
    let s = import_rows(state, p, rows, kind).await?;
    match then {
        Then::Nothing => {}
        Then::ReloadOffices => reload_offices(state).await?,
        Then::CountOne => unsaved(state, 1).await?,
        Then::CountAccepted => unsaved(state, s.accepted).await?,
    }
    Ok(import_done(state, name, s).await)
}

/// The handler of one record kind's `POST`.
async fn import_kind<T: Send + Sync + 'static>(
    spec: Import<T>,
    state: AppState,
    p: Principal,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ImportSummary>> {
    admit(&p, spec.0, &headers)?;
    import(&state, &p, &body, spec).await
}

/// One `POST` handler per record kind, each documented with its record type.
macro_rules! import_handlers {
    ($($fn:ident $path:literal $tag:literal $ty:ty = $spec:expr, $who:literal, $what:literal;)*) => {$(
        #[doc = $what]
        #[doc = ""]
        #[doc = "All records are checked before any is stored; a bad one refuses the request, naming its index and field."]
        #[doc = $who]
        #[utoipa::path(post, path = $path, tag = $tag, request_body = Records<$ty>,
            responses((status = 200, body = ImportSummary)))]
        pub async fn $fn(Caller(state, p): Caller, headers: HeaderMap, body: Bytes)
            -> ApiResult<Json<ImportSummary>> {
            import_kind($spec, state, p, headers, body).await
        }
    )*};
}

import_handlers! {
    import_offices "/offices" "reference" Office = OFFICES, "Who: admin, machine.", "Import offices (DATA.md Office).";
    import_officers "/officers" "reference" Officer = OFFICERS, "Who: admin, machine.", "Import officers (DATA.md Officer).";
    import_enterprises "/enterprises" "reference" Enterprise = ENTERPRISES, "Who: admin, machine.",
        "Import enterprises (DATA.md Enterprise).";
    import_forex "/forex" "external" ForexPayment = FOREX, "Who: admin, machine.",
        "Import payments abroad (DATA.md Forex payment).";
    import_invoices "/invoices" "external" TaxInvoice = INVOICES, "Who: admin, machine.",
        "Import tax invoices (DATA.md Tax invoice).";
    import_outcomes "/outcomes" "controls" Outcome = OUTCOMES, "Who: admin, machine.",
        "Import control outcomes from other systems (DATA.md Outcome).";
    import_releases "/releases" "controls" Release = RELEASES, "Who: admin, machine.",
        "Import releases (DATA.md Release).";
}

async fn reload_offices(state: &AppState) -> ApiResult<()> {
    let all = state
        .write(|live| {
            let all = live.app.store.offices()?;
            live.offices = all.iter().map(|o| o.code.clone()).collect();
            Ok(all)
        })
        .await?;
    state.inner.shared.set_offices(all);
    Ok(())
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct WorkforceQuery {
    /// `disciplinary`, `inspection`, `assessment` or `litigation`.
    kind: Option<String>,
}

/// Import workforce records of one kind (DATA.md Workforce records).
///
/// The body holds the fields of the kind named by `?kind=` (the
/// `WorkforceRecord` variant of that kind, without `kind`).
/// Who: admin, integrity_supervisor.
#[utoipa::path(post, path = "/workforce", tag = "reference", params(WorkforceQuery),
    request_body(content = Records<serde_json::Value>, description = "WorkforceRecord fields of the kind named by ?kind="),
    responses((status = 200, body = ImportSummary)))]
pub async fn import_workforce(
    Caller(state, p): Caller,
    Query(q): Query<WorkforceQuery>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ImportSummary>> {
    admit(&p, Perm::ImportWorkforce, &headers)?;
    let parse: fn(&Value) -> Result<WorkforceRecord, ValidationError> = match q.kind.as_deref() {
        Some("disciplinary") => WorkforceRecord::disciplinary_from_json,
        Some("inspection") => WorkforceRecord::inspection_from_json,
        Some("assessment") => WorkforceRecord::assessment_from_json,
        Some("litigation") => WorkforceRecord::litigation_from_json,
        other => {
            return Err(ApiError::query(
                "kind",
                format!("kind: expected disciplinary, inspection, assessment or litigation, got {other:?}"),
            ));
        }
    };
    let spec = Import(Perm::ImportWorkforce, "workforce", imports::workforce(parse), Then::Nothing);
    import(&state, &p, &body, spec).await
}

// ------------------------------------------------------- reference reads

/// The office tree (HQ → district → office).
///
/// Who: any caller.
#[utoipa::path(get, path = "/offices", tag = "reference", responses((status = 200, body = OfficeList)))]
pub async fn list_offices(State(state): State<AppState>, _p: Principal) -> Json<OfficeList> {
    Json(OfficeList { offices: state.offices().to_vec() })
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct OfficeQuery {
    /// An office code: its subtree (within the caller's offices).
    pub(crate) office: Option<String>,
}

/// Officers in the caller's offices.
///
/// Who: district_manager, hq_manager, integrity_supervisor, admin.
#[utoipa::path(get, path = "/officers", tag = "reference", params(OfficeQuery),
    responses((status = 200, body = OfficerList)))]
pub async fn list_officers(Caller(state, p): Caller, Query(q): Query<OfficeQuery>) -> ApiResult<Json<OfficerList>> {
    p.require(Perm::ReadOfficers)?;
    let scope = office_scope(&p, &state.offices(), &q.office)?;
    let mut rows = state.read(|s| Ok(s.officers()?)).await?;
    rows.retain(|o| scope.as_ref().is_none_or(|s| s.contains(&o.office)));
    Ok(Json(OfficerList { officers: rows }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct EnterpriseQuery {
    /// Part of the id or name.
    q: Option<String>,
    /// Only enterprises at this risk level: `high`, `medium` or `low`.
    level: Option<String>,
    /// 1 to 1000 (default 50).
    limit: Option<usize>,
    /// Rows to skip, in the same order (paging; 0 to 100,000, default 0).
    offset: Option<usize>,
}

/// Enterprises with their credit class and risk level, highest risk first.
///
/// Who: field_officer, risk_analyst, managers, department_user.
#[utoipa::path(get, path = "/enterprises", tag = "reference", params(EnterpriseQuery),
    responses((status = 200, body = EnterpriseList)))]
pub async fn list_enterprises(
    Caller(state, p): Caller,
    Query(q): Query<EnterpriseQuery>,
) -> ApiResult<Json<EnterpriseList>> {
    p.require(Perm::ReadEnterprises)?;
    let limit = limit_param(q.limit, 50, 1000)?;
    let offset = offset_param(q.offset)?;
    let want = word_param("level", q.level, &["high", "medium", "low"])?;
    let needle = q.q.unwrap_or_default();
    let rows =
        state.read(move |s| riskgate_app::levels::enterprises(s, &needle, want.as_deref(), limit, offset)).await?;
    Ok(Json(EnterpriseList { enterprises: rows }))
}

/// An enterprise with its risk level and history, and its latest 50 controls
/// in the caller's offices with their outcomes.
///
/// Who: field_officer, risk_analyst, managers, department_user.
#[utoipa::path(get, path = "/enterprises/{id}", tag = "reference", params(("id" = String, Path)),
    responses((status = 200, body = EnterpriseDetail)))]
pub async fn get_enterprise(Caller(state, p): Caller, Path(id): Path<String>) -> ApiResult<Json<EnterpriseDetail>> {
    p.require(Perm::ReadEnterprises)?;
    let offices = p.office_filter();
    let key = id.clone();
    let (ent, history, decls, controls, notes) = state
        .read(move |s| {
            let ent = s.enterprises()?.into_iter().find(|e| e.id == key);
            let notes = riskgate_app::feedback::enterprise_notes(s, &key)?;
            let history = s.risk_levels("enterprise", Some(&key))?;
            let q = DeclarationQuery { offices, trader: Some(key.clone()), limit: 200, ..Default::default() };
            let decls = s.search_declarations(&q)?;
            // The latest 50 controls with their outcomes (findings, duty).
            let mut controls = Vec::new();
            for d in decls.iter().filter(|d| d.channel.as_deref().is_some_and(|c| c != "green")).take(50) {
                let t = s.task_outcomes(&d.id)?;
                controls.push(ControlRow { declaration: d.clone(), task: t.task, outcomes: t.outcomes });
            }
            Ok((ent, history, decls.len(), controls, notes))
        })
        .await?;
    let Some(ent) = ent else { return Err(ApiError::not_found(format!("no enterprise {id:?}"))) };
    Ok(Json(EnterpriseDetail {
        enterprise: ent,
        risk_level: history.first().cloned(),
        history,
        recent_declarations: decls,
        recent_controls: controls,
        notes,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    /// The feedback or intelligence (1 to 4,000 characters).
    text: String,
    /// Put the enterprise on the caller's department's watch-list
    /// (`watch.DEPARTMENT`, usable in rules); department users only.
    #[serde(default)]
    watch: bool,
}

/// Send feedback or intelligence on an enterprise.
///
/// A note analysts and officers see on the enterprise; with `watch`, a
/// department user also puts the enterprise on the department's
/// watch-list, which rules can use at once. Logged (`enterprise_note`,
/// `list_set`). Who: field_officer, risk_analyst, district_manager,
/// hq_manager, department_user.
#[utoipa::path(post, path = "/enterprises/{id}/notes", tag = "enterprises", params(("id" = String, Path)),
    request_body = NoteBody, responses((status = 201, body = riskgate_store::Note)))]
pub async fn note_enterprise(
    Caller(state, p): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<riskgate_store::Note>)> {
    let department = p.department.clone().filter(|_| p.role == riskgate_app::accounts::Role::DepartmentUser);
    let f = move |app: &mut riskgate_app::app::App, b: NoteBody| {
        riskgate_app::feedback::note_enterprise(app, &id, &b.text, department.as_deref(), b.watch)
    };
    Ok((StatusCode::CREATED, Json(json_change(&state, &p, Perm::SendFeedback, (&headers, &body), f).await?)))
}

// -------------------------------------------------------------- controls

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ControlsQuery {
    /// An office code: its subtree (within the caller's offices).
    office: Option<String>,
    /// 1 to 1000 (default 100).
    limit: Option<usize>,
    /// Controls to skip, in the same order (paging; 0 to 100,000, default 0).
    offset: Option<usize>,
}

/// Open control tasks in the caller's offices: urgent requests first, then
/// highest risk; each with its deadline (`due_at`) by lane, and when the
/// goods were declared, the trader and the main goods.
///
/// Who: field_officer, risk_analyst, district_manager, hq_manager.
#[utoipa::path(get, path = "/controls", tag = "controls", params(ControlsQuery),
    responses((status = 200, body = OpenControlList)))]
pub async fn list_controls(
    Caller(state, p): Caller,
    Query(q): Query<ControlsQuery>,
) -> ApiResult<Json<OpenControlList>> {
    p.require(Perm::ReadControls)?;
    let limit = limit_param(q.limit, 100, 1000)?;
    let offset = offset_param(q.offset)?;
    let offices = state.offices();
    let scope = office_scope(&p, &offices, &q.office)?;
    let codes: Option<Vec<String>> = scope.map(|s| {
        let mut v: Vec<String> = offices
            .iter()
            .filter(|o| o.level == OfficeLevel::Office && s.contains(&o.code))
            .map(|o| o.code.clone())
            .collect();
        v.sort();
        v
    });
    let controls = state
        .read(move |s| {
            let tasks = riskgate_app::tasks::open(s, codes.as_deref(), limit, offset)?;
            let mut out = Vec::with_capacity(tasks.len());
            for task in tasks {
                let stored = s.declaration(&task.declaration_id)?;
                out.push(OpenControl::new(task, stored.as_ref().map(|d| &d.declaration)));
            }
            Ok(out)
        })
        .await?;
    Ok(Json(OpenControlList { controls }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UrgentBody {
    /// `perishable`, `medical`, `live_animals`, `production_line` or `other`.
    kind: String,
    /// What is urgent and why (the trader's request).
    note: String,
}

/// Record a trader's urgent-clearance request on an open control.
///
/// The control moves to the top of the workbench and is due within
/// `task.due_hours.urgent` (default 4 hours); logged as `task_urgent` and
/// announced (`control_task` event `urgent`). Once per control (409 after).
/// Who: field_officer, district_manager, machine (the single window).
#[utoipa::path(post, path = "/controls/{id}/urgent", tag = "controls",
    params(("id" = String, Path, description = "The declaration id")),
    request_body = UrgentBody, responses((status = 200, body = ControlTask)))]
pub async fn mark_urgent(
    Caller(state, p): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ControlTask>> {
    let scope = p.scope.clone();
    let f = move |app: &mut riskgate_app::app::App, b: UrgentBody| {
        riskgate_app::tasks::request_urgent(app, &id, &b.kind, &b.note, scope.as_ref())
    };
    Ok(Json(json_change(&state, &p, Perm::MarkUrgent, (&headers, &body), f).await?))
}

/// Escalate the overdue controls of the caller's offices.
///
/// Each open control past its deadline is escalated once to the office's
/// managers (logged as `task_escalate`, `control_task` event `escalated`);
/// answers those escalated now. Who: district_manager, hq_manager.
#[utoipa::path(post, path = "/controls/escalate", tag = "controls", responses((status = 200, body = ControlList)))]
pub async fn escalate_controls(Caller(state, p): Caller) -> ApiResult<Json<ControlList>> {
    p.require(Perm::Escalate)?;
    let scope = p.scope.clone();
    let tasks =
        as_caller(&state, &p, move |app| Ok(riskgate_app::tasks::escalate_overdue(app, scope.as_ref())?)).await?;
    Ok(Json(ControlList { controls: tasks }))
}

/// Record the outcome of a control the caller did.
///
/// A DATA.md outcome: `declaration_id` comes from the path and `officer`
/// is the caller; the server stamps the times. The control task must be
/// open. Who: field_officer.
#[utoipa::path(post, path = "/controls/{id}/outcome", tag = "controls",
    params(("id" = String, Path, description = "The declaration id")),
    request_body = OutcomeBody, responses((status = 200, body = ImportSummary)))]
pub async fn record_outcome(
    Caller(state, p): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<ImportSummary>> {
    p.require(Perm::RecordOutcome)?;
    require_json(&headers)?;
    let mut v = crate::state::parse_records(&body)?;
    let Value::Object(m) = &mut v else { return Err(ApiError::invalid("", "expected an outcome object")) };
    match m.get("declaration_id") {
        Some(Value::String(d)) if *d != id => {
            return Err(ApiError::invalid("declaration_id", "declaration_id: must match the declaration in the path"));
        }
        _ => {}
    }
    match m.get("officer") {
        Some(Value::String(o)) if *o != p.username => {
            return Err(
                ApiError::forbidden("officer: an outcome is recorded in the caller's own name").field("officer")
            );
        }
        _ => {}
    }
    m.insert("declaration_id".into(), Value::String(id.clone()));
    m.insert("officer".into(), Value::String(p.username.clone()));
    // The server stamps the times (`record_control_outcome`); a body without
    // them is complete.
    m.entry("completed_at").or_insert_with(|| Value::String(riskgate_app::now().to_rfc3339()));
    let o = Outcome::from_json(&v).map_err(|e| ApiError::validation(&e, ""))?;
    let key = id.clone();
    let d = state.read(move |s| Ok(s.declaration(&key)?)).await?;
    if !d.as_ref().is_some_and(|d| p.sees_office(&d.declaration.office)) {
        return Err(ApiError::not_found(format!("no declaration {id:?}")));
    }
    let s = as_caller(&state, &p, move |app| Ok(imports::record_control_outcome(app, o)?)).await?;
    unsaved(&state, s.accepted).await?;
    Ok(import_done(&state, "outcomes", s).await)
}

// ----------------------------------------------------------------- rules

/// A change in the caller's name: `perm` checked, the body required to be
/// JSON and parsed as `B`, then `f` on the screening thread (refusals and
/// failures of `f` classified as every handler's are).
pub(crate) async fn json_change<B: serde::de::DeserializeOwned + Send + 'static, T: Send + 'static>(
    state: &AppState,
    p: &Principal,
    perm: Perm,
    (headers, body): (&HeaderMap, &[u8]),
    f: impl FnOnce(&mut riskgate_app::app::App, B) -> anyhow::Result<T> + Send + 'static,
) -> ApiResult<T> {
    p.require(perm)?;
    require_json(headers)?;
    let b: B = crate::state::parse_json(body)?;
    as_caller(state, p, move |app| Ok(f(app, b)?)).await
}

/// Runs `f` on the screening thread with the app acting as the caller.
pub(crate) async fn as_caller<T: Send + 'static>(
    state: &AppState,
    p: &Principal,
    f: impl FnOnce(&mut riskgate_app::app::App) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    as_user(state, p.username.clone(), p.office.clone(), f).await
}

/// Runs `f` on the screening thread with the app acting as `user` of
/// `office` (a caller, or the scheduler), then restores the app's own.
pub(crate) async fn as_user<T: Send + 'static>(
    state: &AppState,
    user: String,
    office: Option<String>,
    f: impl FnOnce(&mut riskgate_app::app::App) -> ApiResult<T> + Send + 'static,
) -> ApiResult<T> {
    state
        .write(move |live| {
            let before = std::mem::replace(&mut live.app.user, user);
            let before_office = std::mem::replace(&mut live.app.office, office);
            let r = f(&mut live.app);
            live.app.user = before;
            live.app.office = before_office;
            r
        })
        .await
}

/// After a rule or model change: the engine picks up the active set.
pub(crate) fn reload(app: &mut riskgate_app::app::App) -> ApiResult<()> {
    app.checkpoint()?;
    app.reload()?;
    Ok(())
}

/// Rule versions with live statistics and runaway alarms (no logic).
///
/// Who: risk_analyst, district_manager, hq_manager; a department_user
/// gets its own department's rules only.
#[utoipa::path(get, path = "/rules", tag = "rules", responses((status = 200, body = RuleList)))]
pub async fn list_rules(Caller(state, p): Caller) -> ApiResult<Json<RuleList>> {
    // Statistics on the caller's offices only (a district manager sees
    // their district's hits, controls and revenue, not the nation's).
    let who = p.0.clone();
    let rows = state.read(move |s| riskgate_app::rules::list_for(s, &who)).await?;
    Ok(Json(RuleList { rules: rows, runaway_rate: riskgate_app::rules::RUNAWAY_RATE }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct VersionQuery {
    /// A rule version (default: the latest).
    version: Option<u32>,
}

/// A rule version with its logic and all its versions.
///
/// The read is logged as a read of rule logic (`rule_read`). Who: risk_analyst.
#[utoipa::path(get, path = "/rules/{id}", tag = "rules", params(("id" = String, Path), VersionQuery),
    responses((status = 200, body = RuleDetail)))]
pub async fn get_rule(
    Caller(state, p): Caller,
    Path(id): Path<String>,
    Query(q): Query<VersionQuery>,
) -> ApiResult<Json<RuleDetail>> {
    p.require(Perm::RuleLogic)?;
    let (rec, versions) = state
        .read(move |s| {
            let rec = match riskgate_app::rules::find_in(s, &id, q.version) {
                Ok(r) => r,
                Err(_) => return Ok(None),
            };
            let versions: Vec<RuleVersion> = s
                .rules()?
                .into_iter()
                .filter(|r| r.def.id == id)
                .map(|r| RuleVersion {
                    version: r.def.version,
                    status: r.status,
                    created_by: r.created_by,
                    approved_by: r.approved_by,
                })
                .collect();
            // A read of rule logic is logged.
            s.append_action(&p.action("rule_read", &format!("{id}@{}", rec.def.version)))?;
            Ok(Some((rec, versions)))
        })
        .await?
        .ok_or_else(|| ApiError::not_found("no such rule or version"))?;
    Ok(Json(RuleDetail { status: rec.status, rule: rec, versions }))
}

/// The fields a rule condition may use (as `riskgate rules fields`).
///
/// Who: risk_analyst.
#[utoipa::path(get, path = "/rules/fields", tag = "rules", responses((status = 200, body = RuleFields)))]
pub async fn rule_fields(Caller(_state, p): Caller) -> ApiResult<Json<RuleFields>> {
    p.require(Perm::RuleLogic)?;
    let fields =
        riskgate_engine::facts::FIELD_DOCS.iter().map(|&(name, ty, doc)| RuleField { name, ty, doc }).collect();
    Ok(Json(RuleFields { fields }))
}

/// A draft as JSON: the fields of a rule file.
fn draft(body: &[u8]) -> ApiResult<riskgate_engine::RuleDef> {
    let f: riskgate_app::rules::RuleFile = crate::state::parse_json(body)?;
    // A refusal names its field (`AppError`), no message parsing.
    Ok(riskgate_app::rules::rule_def(f, "rule")?)
}

fn compile_error(e: &riskgate_rules::RuleError) -> ApiError {
    riskgate_app::rules::rule_syntax(e, "").into()
}

/// Create a draft rule version.
///
/// A condition that does not compile is refused (`rule_syntax`, with line
/// and column). Who: risk_analyst.
#[utoipa::path(post, path = "/rules", tag = "rules", request_body = riskgate_app::rules::RuleFile,
    responses((status = 201, body = RuleAnswer)))]
pub async fn create_rule(
    Caller(state, p): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<RuleAnswer>)> {
    p.require(Perm::RuleLogic)?;
    require_json(&headers)?;
    let def = draft(&body)?;
    let rec = as_caller(&state, &p, move |app| Ok(riskgate_app::rules::add_checked(app, def, "")?)).await?;
    Ok((StatusCode::CREATED, Json(RuleAnswer { status: rec.status, rule: rec })))
}

/// The body of `POST /rules/test` as parsed: the draft and declarations
/// stay JSON until they are validated with their own error paths.
#[derive(Deserialize)]
pub struct TestBody {
    id: Option<String>,
    version: Option<u32>,
    rule: Option<Value>,
    declaration_ids: Option<Vec<String>>,
    declarations: Option<Vec<Value>>,
}

/// Test a stored rule or a draft on declarations.
///
/// Does the rule fire on these declarations (stored ones by id, or given in
/// full), with today's context. Who: risk_analyst.
#[utoipa::path(post, path = "/rules/test", tag = "rules", request_body = RuleTest,
    responses((status = 200, body = RuleTestAnswer)))]
pub async fn test_rule(Caller(state, p): Caller, headers: HeaderMap, body: Bytes) -> ApiResult<Json<RuleTestAnswer>> {
    p.require(Perm::RuleLogic)?;
    require_json(&headers)?;
    let b: TestBody = crate::state::parse_json(&body)?;
    let def = match (&b.id, &b.rule) {
        (_, Some(r)) => Some(draft(r.to_string().as_bytes())?),
        (Some(_), None) => None,
        (None, None) => return Err(ApiError::invalid("id", "id: name a stored rule, or give a draft in `rule`")),
    };
    let mut decls = Vec::new();
    for (i, v) in b.declarations.iter().flatten().enumerate() {
        decls.push(Declaration::from_json(v).map_err(|e| ApiError::validation(&e, &format!("declarations[{i}]")))?);
    }
    let ids = b.declaration_ids.unwrap_or_default();
    if decls.is_empty() && ids.is_empty() {
        return Err(ApiError::invalid("declaration_ids", "declaration_ids: give stored ids or `declarations`"));
    }
    let (id, version) = (b.id.clone(), b.version);
    let offices = p.office_filter();
    let results = as_caller(&state, &p, move |app| {
        let def = match def {
            Some(d) => {
                riskgate_engine::rulebook::compile_one(&d, app.engine.schema(), app.engine.lists())
                    .map_err(|e| compile_error(&e))?;
                d
            }
            None => {
                let id = id.unwrap_or_default();
                riskgate_app::rules::find_in(app.store.as_ref(), &id, version)
                    .map_err(|_| ApiError::not_found(format!("no rule {id:?}")))?
                    .def
            }
        };
        for (i, did) in ids.iter().enumerate() {
            match app.store.declaration(did)? {
                Some(d) if offices.as_ref().is_none_or(|o| o.contains(&d.declaration.office)) => {
                    decls.push(d.declaration)
                }
                _ => return Err(unknown(i, 2, "declaration_ids", "the id of a stored declaration", did)),
            }
        }
        Ok(riskgate_app::rules::test_declarations(app, &def, &decls)?)
    })
    .await?;
    let hits = results.iter().filter(|(_, h)| *h).count();
    Ok(Json(RuleTestAnswer {
        results: results.into_iter().map(|(declaration_id, fires)| RuleTestResult { declaration_id, fires }).collect(),
        hits,
    }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct BacktestQuery {
    /// A rule version (default: the latest).
    version: Option<u32>,
    /// A day (YYYY-MM-DD) or an RFC 3339 time.
    from: Option<String>,
    /// A day (inclusive) or an RFC 3339 time (exclusive).
    to: Option<String>,
}

/// Back-test a rule version on stored history.
///
/// Targeting rate, hit rate, revenue, overlap with active rules and load
/// per office (logged as `rule_backtest`). Who: risk_analyst.
#[utoipa::path(post, path = "/rules/{id}/backtest", tag = "rules", params(("id" = String, Path), BacktestQuery),
    responses((status = 200, body = BacktestAnswer)))]
pub async fn backtest_rule(
    Caller(state, p): Caller,
    Path(id): Path<String>,
    Query(q): Query<BacktestQuery>,
) -> ApiResult<Json<BacktestAnswer>> {
    p.require(Perm::RuleLogic)?;
    let (from, to) = (time_param("from", &q.from, false)?, time_param("to", &q.to, true)?);
    let lists = state.write(|live| Ok(riskgate_app::rules::clone_lists(&live.app))).await?;
    let b = state
        .read(move |s| {
            let Ok(rec) = riskgate_app::rules::find_in(s, &id, q.version) else { return Ok(None) };
            let mut a = p.action("rule_backtest", &format!("{id}@{}", rec.def.version));
            a.after = Some(json!({"from": from, "to": to}));
            s.append_action(&a)?;
            // Counted on the caller's offices only.
            Ok(Some(riskgate_app::rules::backtest_in(s, lists, &rec.def, from, to, p.scope.as_ref())?))
        })
        .await?
        .ok_or_else(|| ApiError::not_found("no such rule or version"))?;
    Ok(Json(BacktestAnswer { backtest: b }))
}

/// Approve a draft rule version: it becomes active.
///
/// The approver must not be its author (`four_eyes`). While a risk
/// committee covers the rule's scope (its district's committee, else the
/// HQ committee), the approval becomes a committee item instead: 202 with
/// the item, and the rule stays a draft until the committee approves.
/// Who: risk_analyst.
#[utoipa::path(post, path = "/rules/{id}/approve", tag = "rules", params(("id" = String, Path), VersionQuery),
    responses((status = 200, body = RuleAnswer, description = "The rule version is active"),
        (status = 202, body = CommitteeItemAnswer,
            description = "The approval awaits the committee's")))]
pub async fn approve_rule(
    Caller(state, p): Caller,
    Path(id): Path<String>,
    Query(q): Query<VersionQuery>,
) -> ApiResult<axum::response::Response> {
    p.require(Perm::RuleLogic)?;
    let g = as_caller(&state, &p, move |app| Ok(riskgate_app::rules::approve(app, &id, q.version)?)).await?;
    Ok(crate::answers::gated(g.map(|rec| RuleAnswer { status: rec.status, rule: rec })))
}

/// Retire a rule version with a reason.
///
/// Who: risk_analyst.
#[utoipa::path(post, path = "/rules/{id}/retire", tag = "rules", params(("id" = String, Path)),
    request_body = RetireBody, responses((status = 200, body = RuleAnswer)))]
pub async fn retire_rule(
    Caller(state, p): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<RuleAnswer>> {
    p.require(Perm::RuleLogic)?;
    require_json(&headers)?;
    let b: RetireBody = crate::state::parse_json(&body)?;
    if b.reason.trim().is_empty() {
        return Err(ApiError::invalid("reason", "reason: retiring a rule needs a reason"));
    }
    let rec =
        as_caller(&state, &p, move |app| Ok(riskgate_app::rules::retire(app, &id, b.version, &b.reason)?)).await?;
    Ok(Json(RuleAnswer { status: rec.status, rule: rec }))
}

// ---------------------------------------------------------------- models

/// Model versions with their evaluation figures.
///
/// Who: risk_analyst, hq_manager.
#[utoipa::path(get, path = "/models", tag = "models", responses((status = 200, body = ModelList)))]
pub async fn list_models(Caller(state, p): Caller) -> ApiResult<Json<ModelList>> {
    p.require(Perm::ReadModels)?;
    let models = state.read(|s| Ok(s.models()?)).await?;
    Ok(Json(ModelList { models }))
}

/// Model drift: the completed controls of the period against what the
/// learned model expected of them (O, E, O/E, z, flag) by ISO week, office,
/// model and trader newness, the weekly share of new traders among the
/// declarations screened, and a verdict (docs/model.md "Drift").
///
/// `from`/`to` bound the decision times (default: the 26 weeks up to the
/// last decision). Who: risk_analyst, hq_manager (as `/models`), over their
/// offices.
#[utoipa::path(get, path = "/models/drift", tag = "models", params(PeriodQuery),
    responses((status = 200, body = riskgate_app::drift::DriftReport)))]
pub async fn model_drift(
    Caller(state, p): Caller,
    Query(q): Query<PeriodQuery>,
) -> ApiResult<Json<riskgate_app::drift::DriftReport>> {
    p.require(Perm::ReadModels)?;
    let offices = state.offices();
    let scope = sorted(office_scope(&p, &offices, &q.office)?);
    let (from, to) = (time_param("from", &q.from, false)?, time_param("to", &q.to, true)?);
    if let (Some(f), Some(t)) = (from, to)
        && f >= t
    {
        return Err(ApiError::query("from", "from: expected a day before to"));
    }
    let query = riskgate_app::drift::Query { from, to, offices: scope };
    let answer = state.read(move |s| riskgate_app::drift::report(s, &query)).await?;
    Ok(Json(answer))
}

/// A model's evaluation and, for a shadow model, its comparison with the
/// active one on the same controlled declarations.
///
/// Who: risk_analyst, hq_manager.
#[utoipa::path(get, path = "/models/{id}", tag = "models", params(("id" = String, Path)),
    responses((status = 200, body = ModelDetail)))]
pub async fn get_model(Caller(state, p): Caller, Path(id): Path<String>) -> ApiResult<Json<ModelDetail>> {
    p.require(Perm::ReadModels)?;
    let key = id.clone();
    let (m, shadow) = state.read(move |s| Ok((s.model(&key)?, s.shadow_outcomes(&key)?))).await?;
    let Some(m) = m else { return Err(ApiError::not_found(format!("no model {id:?}"))) };
    let comparison = (!shadow.is_empty()).then(|| {
        let found: Vec<bool> = shadow.iter().map(|s| s.2).collect();
        let ones = vec![1.0; shadow.len()];
        let zeros = vec![0.0; shadow.len()];
        let active: Vec<f64> = shadow.iter().map(|s| s.0).collect();
        let shadowed: Vec<f64> = shadow.iter().map(|s| s.1).collect();
        let rates = [0.1, 0.25, 0.5];
        ShadowComparison {
            controlled_with_outcome: shadow.len(),
            active: riskgate_app::model::weighted_at(&active, &found, &zeros, &ones, &rates),
            shadow: riskgate_app::model::weighted_at(&shadowed, &found, &zeros, &ones, &rates),
        }
    });
    Ok(Json(ModelDetail { model: m, shadow_comparison: comparison }))
}

/// Make a model active, shadow or retired.
///
/// While an HQ risk committee exists, activating a model becomes a
/// committee item instead: 202 with the item, and the model's status is
/// unchanged until the committee approves. Who: risk_analyst.
#[utoipa::path(post, path = "/models/{id}/status", tag = "models", params(("id" = String, Path)),
    request_body = ModelStatus, responses((status = 200, body = ModelStatus, description = "The status is changed"),
        (status = 202, body = CommitteeItemAnswer,
            description = "The activation awaits the committee's approval")))]
pub async fn set_model_status(
    Caller(state, p): Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<axum::response::Response> {
    p.require(Perm::ChangeModels)?;
    require_json(&headers)?;
    let b: ModelStatus = crate::state::parse_json(&body)?;
    if !matches!(b.status.as_str(), "active" | "shadow" | "retired") {
        return Err(ApiError::invalid(
            "status",
            format!("status: expected active, shadow or retired, got {:?}", b.status),
        ));
    }
    let status = b.status.clone();
    let g = as_caller(&state, &p, move |app| {
        if app.store.model(&id)?.is_none() {
            return Err(ApiError::not_found(format!("no model {id:?}")));
        }
        let g = riskgate_app::model::set_status(app, &id, &status)?;
        if g.pending().is_none() {
            reload(app)?;
        }
        Ok(g)
    })
    .await?;
    Ok(crate::answers::gated(g.map(|()| ModelStatus { status: b.status })))
}

// ------------------------------------------------------------------ KPIs

/// `?office=&from=&to=`: an office subtree and a period (KPIs, integrity).
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PeriodQuery {
    /// An office code: its subtree (within the caller's offices).
    pub(crate) office: Option<String>,
    /// A day (YYYY-MM-DD, China time) or an RFC 3339 time.
    pub(crate) from: Option<String>,
    /// A day (inclusive) or an RFC 3339 time (exclusive).
    pub(crate) to: Option<String>,
}

/// The M9 KPIs with formulas and targets, rolled up office → district →
/// HQ, for the caller's offices.
///
/// `/kpis` is the same. Who: all people.
#[utoipa::path(get, path = "/kpi", tag = "kpi", params(PeriodQuery), responses((status = 200, body = KpiAnswer)))]
pub async fn kpi(Caller(state, p): Caller, Query(q): Query<PeriodQuery>) -> ApiResult<Json<KpiAnswer>> {
    p.require(Perm::ReadKpi)?;
    let offices = state.offices();
    let scope = office_scope(&p, &offices, &q.office)?;
    let (from, to) = (time_param("from", &q.from, false)?, time_param("to", &q.to, true)?);
    let mut units = state.read(move |s| riskgate_app::kpi::report(s, from, to)).await?;
    if let Some(s) = scope {
        units.retain(|u| s.contains(&u.code));
    }
    Ok(Json(KpiAnswer { from: q.from, to: q.to, units }))
}

/// The same as `/kpi` (an alias kept for clients of the first release).
#[utoipa::path(get, path = "/kpis", tag = "kpi", params(PeriodQuery), responses((status = 200, body = KpiAnswer)))]
pub async fn kpis(c: Caller, q: Query<PeriodQuery>) -> ApiResult<Json<KpiAnswer>> {
    kpi(c, q).await
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TrendQuery {
    /// An office code (default: the caller's unit, or HQ).
    office: Option<String>,
    /// `week` (default) or `month`.
    period: Option<String>,
    /// YYYY-MM-DD.
    from: Option<String>,
    /// YYYY-MM-DD.
    to: Option<String>,
}

/// One unit's KPI figures per week or month.
///
/// Without `from`/`to`, the twelve periods up to the latest declaration.
/// `/kpis/trend` is the same. Who: all people.
#[utoipa::path(get, path = "/kpi/trend", tag = "kpi", params(TrendQuery), responses((status = 200, body = KpiTrend)))]
pub async fn kpi_trend(Caller(state, p): Caller, Query(q): Query<TrendQuery>) -> ApiResult<Json<KpiTrend>> {
    use chrono::{Datelike, Duration, NaiveDate};
    p.require(Perm::ReadKpi)?;
    let offices = state.offices();
    office_scope(&p, &offices, &q.office)?;
    let unit = match q.office.clone().filter(|s| !s.is_empty()).or_else(|| p.office.clone()) {
        Some(o) => o,
        None => offices.iter().find(|o| o.level == OfficeLevel::Hq).map(|o| o.code.clone()).unwrap_or_default(),
    };
    let monthly = match q.period.as_deref() {
        None | Some("week") => false,
        Some("month") => true,
        Some(other) => return Err(ApiError::query("period", format!("period: expected week or month, got {other:?}"))),
    };
    let day = |name: &str, s: &Option<String>| -> ApiResult<Option<NaiveDate>> {
        match s.as_deref().filter(|s| !s.is_empty()) {
            None => Ok(None),
            Some(s) => riskgate_app::app::parse_day(name, s).map(Some).map_err(ApiError::query_refusal),
        }
    };
    let (from, to) = (day("from", &q.from)?, day("to", &q.to)?);
    let latest = state
        .read(|s| Ok(s.search_declarations(&DeclarationQuery { limit: 1, ..Default::default() })?))
        .await?
        .first()
        .map(|d| d.declared_at.date_naive());
    let period = if monthly { "month" } else { "week" }.to_string();
    let Some(end) = to.or(latest) else { return Ok(Json(KpiTrend { office: unit, period, periods: vec![] })) };
    // Period starts: Monday of the week, or the first of the month.
    let start_of = |d: NaiveDate| {
        if monthly {
            d.with_day(1).expect("day 1")
        } else {
            d - Duration::days(d.weekday().num_days_from_monday() as i64)
        }
    };
    let next = |d: NaiveDate| {
        if monthly { d.checked_add_months(chrono::Months::new(1)).expect("in range") } else { d + Duration::days(7) }
    };
    let mut starts = Vec::new();
    let mut d = start_of(end);
    let first = from.map(start_of);
    loop {
        starts.push(d);
        if first.is_some_and(|f| d <= f) || (first.is_none() && starts.len() == 12) || starts.len() >= 104 {
            break;
        }
        d = if monthly {
            d.checked_sub_months(chrono::Months::new(1)).expect("in range")
        } else {
            d - Duration::days(7)
        };
    }
    starts.reverse();
    let periods: Vec<(NaiveDate, NaiveDate)> = starts.into_iter().map(|s| (s, next(s))).collect();
    let bounds: Vec<(i64, i64)> =
        periods.iter().map(|(a, b)| (riskgate_app::day_start(*a), riskgate_app::day_start(*b))).collect();
    let counts = state
        .read(move |s| {
            bounds
                .iter()
                .map(|(a, b)| riskgate_app::kpi::counts(s, Some(*a), Some(*b)))
                .collect::<anyhow::Result<Vec<_>>>()
        })
        .await?;
    let rows: Vec<TrendPeriod> = periods
        .iter()
        .zip(counts)
        .map(|((a, b), c)| {
            let units = riskgate_app::kpi::rollup(&offices, &c);
            let u = units.into_iter().find(|u| u.code == unit);
            let label = if monthly { a.format("%Y-%m").to_string() } else { a.format("%G-W%V").to_string() };
            TrendPeriod {
                period: label,
                from: *a,
                to: *b - Duration::days(1),
                declarations: u.as_ref().map_or(0, |u| u.declarations),
                figures: u.map(|u| u.figures).unwrap_or_default(),
            }
        })
        .collect();
    Ok(Json(KpiTrend { office: unit, period, periods: rows }))
}

/// The same as `/kpi/trend`.
#[utoipa::path(get, path = "/kpis/trend", tag = "kpi", params(TrendQuery), responses((status = 200, body = KpiTrend)))]
pub async fn kpis_trend(c: Caller, q: Query<TrendQuery>) -> ApiResult<Json<KpiTrend>> {
    kpi_trend(c, q).await
}

// ------------------------------------------------------------ action log

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ActionsQuery {
    /// The actor.
    officer: Option<String>,
    /// An office code: its subtree.
    office: Option<String>,
    /// The action kind (`login`, `rule_add`, `record_outcome`, ...).
    action: Option<String>,
    /// Same as `action`.
    kind: Option<String>,
    /// A day (YYYY-MM-DD) or an RFC 3339 time.
    from: Option<String>,
    /// A day (inclusive) or an RFC 3339 time (exclusive).
    to: Option<String>,
    /// 1 to 5000 (default 100).
    limit: Option<usize>,
    /// Matching entries to skip, newest first (paging; 0 to 100,000, default 0).
    offset: Option<usize>,
    /// `false`: leave out the entries that record a read (`actions_read`,
    /// `integrity_read`, `rule_read`), so a supervisor's own visits do not
    /// crowd the changes; they stay in the log. Default `true`.
    reads: Option<String>,
}

/// The action log (hash-chained), newest first.
///
/// Filters look through the latest 50,000 entries; the read is itself
/// logged. Who: integrity_supervisor, admin.
#[utoipa::path(get, path = "/actions", tag = "actions", params(ActionsQuery),
    responses((status = 200, body = ActionList)))]
pub async fn list_actions(Caller(state, p): Caller, Query(q): Query<ActionsQuery>) -> ApiResult<Json<ActionList>> {
    p.require(Perm::ReadActions)?;
    let limit = limit_param(q.limit, 100, 5000)?;
    let offset = offset_param(q.offset)?;
    let offices = office_scope(&p, &state.offices(), &q.office)?;
    let kind = q.action.or(q.kind).filter(|s| !s.is_empty());
    let officer = q.officer.filter(|s| !s.is_empty());
    let (from, to) = (time_param("from", &q.from, false)?, time_param("to", &q.to, true)?);
    let reads = flag_param("reads", q.reads)?.unwrap_or(true);
    // Reading integrity data is itself logged, with what was asked.
    let mut read = p.action("actions_read", "action_log");
    read.after = Some(json!({
        "officer": officer, "office": q.office, "action": kind, "from": q.from, "to": q.to, "reads": reads,
        "offset": offset,
    }));
    let filter = riskgate_app::actionlog::ActionFilter { officer, action: kind, from, to, reads, offices };
    let rows = state.read(move |s| riskgate_app::actionlog::search(s, &read, &filter, limit, offset)).await?;
    Ok(Json(ActionList { actions: rows }))
}

/// Check the action log's hash chain end to end.
///
/// Who: integrity_supervisor, admin.
#[utoipa::path(get, path = "/actions/verify", tag = "actions", responses((status = 200, body = ChainCheck)))]
pub async fn verify_actions(Caller(state, p): Caller) -> ApiResult<Json<ChainCheck>> {
    p.require(Perm::ReadActions)?;
    let broken = state
        .read(move |s| {
            s.append_action(&p.action("actions_verify", "action_log"))?;
            Ok(s.verify_actions()?)
        })
        .await?;
    Ok(Json(ChainCheck { intact: broken.is_none(), broken_at: broken }))
}

// ------------------------------------------------------------------ analysis

/// `?office=&dim=&key=&from=&to=&limit=`: one breakdown.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AnalysisQuery {
    /// The unit (default: the caller's unit, or HQ).
    office: Option<String>,
    /// `unit` (default: the units below), `officer`, `trader`, `hs2`, `hs4`,
    /// `hs6`, `origin`, `transport`, `trade_mode`, `direction`, `finding`,
    /// `rule` or `source`.
    dim: Option<String>,
    /// A key, or a key prefix ending in `*` (`85*`: under chapter 85).
    key: Option<String>,
    /// A day (YYYY-MM-DD, China time) or an RFC 3339 time.
    from: Option<String>,
    /// A day (inclusive) or an RFC 3339 time (exclusive).
    to: Option<String>,
    /// Rows kept, 1 to 1000 (default 50), largest by findings.
    limit: Option<usize>,
}

/// The `dim` of a breakdown (`unit` only where `units` allows it), checked
/// against what the caller may read: KPIs, and for officers, traders and
/// rules the permission behind those pages.
fn dimension_param(p: &crate::auth::Principal, dim: String, units: bool) -> ApiResult<String> {
    p.require(Perm::ReadKpi)?;
    let dims = riskgate_app::analysis::DIMENSIONS.iter().map(|d| d.0).filter(|d| units || *d != "unit");
    if !dims.clone().any(|d| d == dim) {
        let names: Vec<&str> = dims.collect();
        return Err(ApiError::query("dim", format!("dim: expected one of {}, got {dim:?}", names.join(", "))));
    }
    match dim.as_str() {
        "officer" => p.require(Perm::ReadOfficers)?,
        "trader" => p.require(Perm::ReadEnterprises)?,
        "rule" => p.require(Perm::ReadRuleStats)?,
        _ => {}
    }
    Ok(dim)
}

/// A unit's enforcement figures broken down by the units below it or by a
/// dimension of the traffic, each row with the period before for
/// comparison and where a click leads next.
///
/// Read from the KPI aggregates (daily rows for units, monthly for the
/// other dimensions: their period is widened to whole months and the
/// answer says so). Who: all people who read KPIs, in their own offices;
/// by officer: managers and integrity supervisors; by trader: those who
/// read enterprises; by rule: those who read rule statistics.
#[utoipa::path(get, path = "/analysis", tag = "kpi", params(AnalysisQuery),
    responses((status = 200, body = riskgate_app::analysis::Breakdown)))]
pub async fn analysis(
    Caller(state, p): Caller,
    Query(q): Query<AnalysisQuery>,
) -> ApiResult<Json<riskgate_app::analysis::Breakdown>> {
    let dim = dimension_param(&p, q.dim.filter(|s| !s.is_empty()).unwrap_or_else(|| "unit".into()), true)?;
    let offices = state.offices();
    office_scope(&p, &offices, &q.office)?;
    let unit = q.office.filter(|s| !s.is_empty()).or_else(|| p.office.clone());
    if dim == "unit"
        && let Some(u) = &unit
        && !offices.iter().any(|o| o.parent.as_deref() == Some(u.as_str()))
    {
        return Err(ApiError::query(
            "dim",
            format!(
                "dim: unit {u} has no units below it; break it down by officer, goods, trader or another dimension"
            ),
        ));
    }
    let request = riskgate_app::analysis::Request {
        unit,
        dim,
        key: q.key.filter(|s| !s.is_empty()),
        from: time_param("from", &q.from, false)?,
        to: time_param("to", &q.to, true)?,
        limit: limit_param(q.limit, 50, 1000)?,
    };
    let answer = state.read(move |s| riskgate_app::analysis::breakdown(s, &request)).await?;
    Ok(Json(answer))
}

/// One key's figures month by month (a rule, the model as `dim=source&key=score`,
/// a heading, a trader…) in a unit's subtree.
///
/// Who: as `/analysis` for the dimension.
#[utoipa::path(get, path = "/analysis/trend", tag = "kpi", params(AnalysisQuery),
    responses((status = 200, body = riskgate_app::analysis::KeyTrend)))]
pub async fn analysis_trend(
    Caller(state, p): Caller,
    Query(q): Query<AnalysisQuery>,
) -> ApiResult<Json<riskgate_app::analysis::KeyTrend>> {
    let dim = dimension_param(&p, q.dim.unwrap_or_default(), false)?;
    let key = match q.key.filter(|k| !k.is_empty()) {
        Some(k) if !k.ends_with('*') && k.len() <= 64 => k,
        _ => return Err(ApiError::query("key", "key: expected one key (no prefix pattern)")),
    };
    let offices = state.offices();
    office_scope(&p, &offices, &q.office)?;
    let request = riskgate_app::analysis::Request {
        unit: q.office.filter(|s| !s.is_empty()).or_else(|| p.office.clone()),
        dim,
        key: Some(key),
        from: time_param("from", &q.from, false)?,
        to: time_param("to", &q.to, true)?,
        limit: 0,
    };
    let answer = state.read(move |s| riskgate_app::analysis::trend(s, &request)).await?;
    Ok(Json(answer))
}

// ------------------------------------------------------------------ goods

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct GoodsQuery {
    /// HS code prefix (chapter `85`, heading `8517`, …).
    hs: Option<String>,
    /// 1 to 1000 (default 50).
    limit: Option<usize>,
}

fn hs_param(name: &str, v: Option<String>, max: usize) -> ApiResult<Option<String>> {
    match v.filter(|s| !s.is_empty()) {
        Some(h) if h.len() <= max && h.bytes().all(|b| b.is_ascii_digit()) => Ok(Some(h)),
        Some(h) => Err(ApiError::query(name, format!("{name}: expected 1 to {max} digits, got {h:?}"))),
        None => Ok(None),
    }
}

/// Risk levels of goods (HS6 codes, recomputed by `riskgate levels
/// recompute` from the outcomes so far), highest first.
///
/// Who: all people who read KPIs.
#[utoipa::path(get, path = "/goods", tag = "kpi", params(GoodsQuery), responses((status = 200, body = GoodsList)))]
pub async fn list_goods(Caller(state, p): Caller, Query(q): Query<GoodsQuery>) -> ApiResult<Json<GoodsList>> {
    p.require(Perm::ReadKpi)?;
    let limit = limit_param(q.limit, 50, 1000)?;
    let prefix = hs_param("hs", q.hs, 6)?.unwrap_or_default();
    let mut goods: Vec<riskgate_store::RiskLevelRecord> = state
        .read(|s| Ok(s.risk_levels("goods", None)?))
        .await?
        .into_iter()
        .filter(|g| g.key.starts_with(&prefix))
        .collect();
    goods.sort_by(|a, b| b.score.total_cmp(&a.score).then(a.key.cmp(&b.key)));
    goods.truncate(limit);
    Ok(Json(GoodsList { goods }))
}

/// One HS6 code's risk level with its history, newest first.
///
/// Who: all people who read KPIs.
#[utoipa::path(get, path = "/goods/{hs6}", tag = "kpi", params(("hs6" = String, Path)),
    responses((status = 200, body = GoodsDetail)))]
pub async fn get_goods(Caller(state, p): Caller, Path(hs6): Path<String>) -> ApiResult<Json<GoodsDetail>> {
    p.require(Perm::ReadKpi)?;
    if hs6.len() != 6 || !hs6.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ApiError::not_found(format!("no goods code {hs6:?} (six digits)")));
    }
    let key = hs6.clone();
    let history = state.read(move |s| Ok(s.risk_levels("goods", Some(&key))?)).await?;
    Ok(Json(GoodsDetail { hs6, risk_level: history.first().cloned(), history }))
}

// ------------------------------------------------------------------ money flow

/// `?from=&to=&office=&trader=&flagged=&limit=`: money flow per trader.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MoneyFlowQuery {
    /// A day (YYYY-MM-DD, China time) or an RFC 3339 time; default: 92
    /// days before `to`. A quarter or longer keeps payments that lead or
    /// trail their shipments inside; at most 367 days.
    from: Option<String>,
    /// A day (inclusive) or an RFC 3339 time (exclusive); default: now.
    to: Option<String>,
    /// Only traders that declared an import in this unit's subtree
    /// (default: the caller's offices); each such trader's sums cover all
    /// its offices.
    office: Option<String>,
    /// One trader.
    trader: Option<String>,
    /// Only the traders marked as paid or invoiced above declared.
    flagged: Option<bool>,
    /// Rows kept, 1 to 1000 (default 100): flagged first, largest gap first.
    limit: Option<usize>,
}

/// Money flow (M6): per trader, the import value declared in the period
/// against the payments abroad and the VAT invoices of the same period,
/// with or without invoice references, payments that arrived after the
/// goods were released included. A trader that paid abroad at least 1.25×
/// what it declared, by at least 50,000 CNY, or invoiced at home 2× (same
/// gap), is marked (`flagged`) with reasons: a lead to reconcile, not an
/// audit selection (period edges distort per-trader sums). Per declaration:
/// the imports paid above their declared value under their invoice number
/// (`overpaid`), and the imports a later VAT invoice of their trader
/// contradicts by goods code or value (`invoice_checks`; README
/// `money-flow`).
///
/// Who: risk analysts, district and HQ managers, department users, for
/// traders that declared in their offices.
#[utoipa::path(get, path = "/moneyflow", tag = "kpi", params(MoneyFlowQuery),
    responses((status = 200, body = riskgate_app::moneyflow::Reconciliation)))]
pub async fn money_flow(
    Caller(state, p): Caller,
    Query(q): Query<MoneyFlowQuery>,
) -> ApiResult<Json<riskgate_app::moneyflow::Reconciliation>> {
    p.require(Perm::ReadMoneyFlow)?;
    let offices = state.offices();
    let scope = office_scope(&p, &offices, &q.office)?;
    let query = riskgate_app::moneyflow::Query {
        from: time_param("from", &q.from, false)?,
        to: time_param("to", &q.to, true)?,
        offices: sorted(scope),
        trader: q.trader.filter(|s| !s.is_empty()),
        flagged_only: q.flagged.unwrap_or(false),
        limit: limit_param(q.limit, 100, 1000)?,
    };
    let answer = state.read(move |s| riskgate_app::moneyflow::reconcile(s, &query)).await?;
    Ok(Json(answer))
}
