//! Post-clearance audit over HTTP (`/api/v1/post-clearance/…`): the
//! selection of released declarations and traders by expected recoverable
//! duty, and audit plans that open post-clearance audit cases. The use
//! cases are `riskgate_app::postclearance`, the same the CLI calls.
//!
//! Scoring re-reads the period and scores every released declaration with
//! the engine as it stands now, which takes seconds for a quarter of a big
//! customs district: it runs on a reader thread with its own connection and
//! engine (brought to the store's state), never on the screening thread.
//! Only opening a plan's cases runs there.

use std::collections::BTreeMap;

use axum::Json;
use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, StatusCode};
use riskgate_app::App;
use riskgate_app::cases::Actor;
use riskgate_app::postclearance::{self, Plan, PlanRequest, Rank, Selection};
use riskgate_app::specialised;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::{as_user, limit_param, office_scope, sorted, time_param};
use crate::auth::{Caller, Perm};
use crate::error::{ApiError, ApiResult};
use crate::state::{parse_json, require_json};

/// `?from=&to=&office=&limit=&rank=`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SelectionQuery {
    /// Declared from this day (YYYY-MM-DD, China time) or RFC 3339 time;
    /// default: 92 days before `to`; at most 367 days.
    from: Option<String>,
    /// Declared up to this day (inclusive) or time (exclusive); default: now.
    to: Option<String>,
    /// Only declarations of this unit's subtree (default: the caller's offices).
    office: Option<String>,
    /// Rows of each list, 1 to 1000 (default 200).
    limit: Option<usize>,
    /// `duty` (expected recoverable duty, the default), `probability` or
    /// `balanced` (probability × √duty).
    rank: Option<String>,
}

/// Post-clearance audit selection (M11): the released declarations of the
/// period not yet audited, and their traders, ranked by the duty an audit
/// is expected to recover as known now — the payments abroad made since
/// (by invoice reference, or by trader and amount without one), what
/// controls found since on the same parties, goods and routes (the model
/// scores each again), whether a control already looked — each with its
/// reasons. Rows carry `declaration_id` (or `trader`), `score`,
/// `expected_duty`, `reasons` and, apart from them, `money_flow` (the
/// payment and invoice lines).
///
/// Who: risk analysts, district and HQ managers, department users, for the
/// declarations of their offices.
#[utoipa::path(get, path = "/post-clearance/selection", tag = "audit", params(SelectionQuery),
    responses((status = 200, body = Selection)))]
pub async fn selection(Caller(state, p): Caller, Query(q): Query<SelectionQuery>) -> ApiResult<Json<Selection>> {
    p.require(Perm::SelectAudits)?;
    let offices = state.offices();
    let scope = office_scope(&p, &offices, &q.office)?;
    let rank = match q.rank.as_deref().filter(|s| !s.is_empty()) {
        None => Rank::Duty,
        Some(r) => Rank::parse(r).map_err(ApiError::query_refusal)?,
    };
    let query = postclearance::Query {
        from: time_param("from", &q.from, false)?,
        to: time_param("to", &q.to, true)?,
        offices: sorted(scope),
        limit: limit_param(q.limit, 200, 1000)?,
        rank,
        rule_reasons: p.may(Perm::ReadRuleReasons),
    };
    let user = p.username.clone();
    let answer = state
        .read(move |s| {
            let mut app = App::with_store(s.reopen()?, &user)?;
            postclearance::select(&mut app, &query)
        })
        .await?;
    Ok(Json(answer))
}

/// `?by=&from=&to=&office=&limit=`.
#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct SpecialisedQuery {
    /// `unit` (field offices, the default) or `post` (office × post).
    by: Option<String>,
    /// From this day (YYYY-MM-DD, China time) or RFC 3339 time; default:
    /// 92 days before `to`; at most 367 days.
    from: Option<String>,
    /// Up to this day (inclusive) or time (exclusive); default: now.
    to: Option<String>,
    /// Only units or posts of this unit's subtree (default: the caller's
    /// offices); peers are every office whatever the scope.
    office: Option<String>,
    /// Rows, 1 to 1000 (default 20).
    limit: Option<usize>,
}

/// Specialised audit selection (专业审计, M11): the units (field offices)
/// or posts (office × post) whose control work is most worth an audit,
/// ranked by the problem declarations expected beyond their peers'
/// (empirical-Bayes shrunk rates × volume): findings their controls missed,
/// problems the random controls show in what they let go, overrides to a
/// lighter lane, and post-clearance audit findings on the declarations they
/// released. Rows carry `unit` (or `office` and `post`), `score`,
/// `reasons` and the figures. Integrity scores enter only for callers who
/// may read integrity data (the read is then logged).
///
/// Who: risk analysts, district and HQ managers, department users, for
/// the units and posts of their offices.
#[utoipa::path(get, path = "/post-clearance/specialised", tag = "audit", params(SpecialisedQuery),
    responses((status = 200, body = specialised::SpecialisedSelection)))]
pub async fn specialised(
    Caller(state, p): Caller,
    Query(q): Query<SpecialisedQuery>,
) -> ApiResult<Json<specialised::SpecialisedSelection>> {
    p.require(Perm::SelectAudits)?;
    let offices = state.offices();
    let scope = office_scope(&p, &offices, &q.office)?;
    let by = match q.by.as_deref().filter(|s| !s.is_empty()) {
        None => specialised::AuditBy::Unit,
        Some(b) => specialised::AuditBy::parse(b).map_err(ApiError::query_refusal)?,
    };
    let query = specialised::Query {
        from: time_param("from", &q.from, false)?,
        to: time_param("to", &q.to, true)?,
        offices: sorted(scope),
        by,
        limit: limit_param(q.limit, 20, 1000)?,
        integrity: p.may(Perm::ReadActions),
    };
    let user = p.username.clone();
    let answer = state
        .read(move |s| {
            let mut app = App::with_store(s.reopen()?, &user)?;
            specialised::select(&mut app, &query)
        })
        .await?;
    Ok(Json(answer))
}

/// An audit plan.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PlanBody {
    /// The declarations to choose from: declared from this day
    /// (YYYY-MM-DD) to `to` (inclusive); default: the 92 days up to now.
    pub from: Option<String>,
    pub to: Option<String>,
    /// Audits per unit (an office or a district of the caller's), e.g.
    /// `{"2200": 20, "5300": 10}`; units may not overlap.
    pub capacity: BTreeMap<String, usize>,
    /// Share of each unit's audits drawn at random among the candidates not
    /// ranked in (0 to 0.5, default 0.1).
    pub explore: Option<f64>,
    /// The plan's name (default: audit-plan-<time>).
    pub name: Option<String>,
    /// Choose, open no case.
    #[serde(default)]
    pub dry_run: bool,
}

/// Make an audit plan: for each unit, the best of its released
/// declarations by expected duty up to its capacity, with a share drawn at
/// random among the rest, each opened as a post-clearance audit case (稽查)
/// owned by the audit department with its reasons and selection
/// probability (`selection`). When the department concludes the case, the
/// result — finding or not — comes back as an audit outcome carrying that
/// probability, so the model learns from audits without bias. The plan is
/// logged (`audit_plan`) and each case opening too.
///
/// Who: risk analysts, district and HQ managers, for units of their offices.
#[utoipa::path(post, path = "/post-clearance/plans", tag = "audit", request_body = PlanBody,
    responses((status = 201, body = Plan), (status = 200, body = Plan, description = "A dry run: chosen, nothing opened")))]
pub async fn plan(Caller(state, p): Caller, headers: HeaderMap, body: Bytes) -> ApiResult<(StatusCode, Json<Plan>)> {
    p.require(Perm::PlanAudits)?;
    require_json(&headers)?;
    let b: PlanBody = parse_json(&body)?;
    let day = |field: &str, s: &Option<String>, end: bool| -> ApiResult<Option<i64>> {
        let Some(s) = s.as_deref().filter(|s| !s.is_empty()) else { return Ok(None) };
        riskgate_app::app::parse_time(field, s, end).map(Some).map_err(ApiError::from)
    };
    let req = PlanRequest {
        from: day("from", &b.from, false)?,
        to: day("to", &b.to, true)?,
        offices: sorted(p.scope.clone()),
        capacity: b.capacity.into_iter().collect(),
        explore: b.explore.unwrap_or(postclearance::DEFAULT_EXPLORE),
        name: b.name,
        dry_run: b.dry_run,
    };
    let user = p.username.clone();
    let chosen_req = req.clone();
    let chosen = state
        .read(move |s| {
            let mut app = App::with_store(s.reopen()?, &user)?;
            postclearance::choose(&mut app, &chosen_req)
        })
        .await?;
    if req.dry_run {
        return Ok((StatusCode::OK, Json(chosen)));
    }
    let actor = Actor { role: Some(p.role), department: p.department.clone(), scope: p.scope.clone() };
    let opened = as_user(&state, p.username.clone(), p.office.clone(), move |app| {
        Ok(postclearance::open_plan(app, &actor, chosen)?)
    })
    .await?;
    Ok((StatusCode::CREATED, Json(opened)))
}
