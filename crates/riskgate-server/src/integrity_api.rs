//! `GET /api/v1/integrity/…`: the integrity indicators (riskgate-integrity)
//! for integrity supervisors (and admins, who may read the action log too).
//! Every read is written to the action log as `integrity_read`, as the CLI
//! does; rows are limited to the caller's office subtree.

use std::collections::HashSet;
use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query};
use riskgate_integrity::{Config, ReasonFigures, Report, Subject};
use serde_json::{Value, json};

use crate::answers::{OfficerProfile, Ranked, RankedOfficers, RankedPosts, RankedUnits, Warnings};
use crate::api::{PeriodQuery, office_scope, time_param};
use crate::auth::{Caller, Perm, Principal};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use riskgate_app::integrity::history_of;

struct Params {
    scope: Option<HashSet<String>>,
    from: Option<i64>,
    to: Option<i64>,
    filter: Value,
}

fn params(state: &AppState, p: &Principal, q: &PeriodQuery) -> ApiResult<Params> {
    p.require(Perm::ReadActions)?;
    let scope = office_scope(p, &state.offices(), &q.office)?;
    let (from, to) = (time_param("from", &q.from, false)?, time_param("to", &q.to, true)?);
    Ok(Params { scope, from, to, filter: json!({"office": q.office, "from": q.from, "to": q.to}) })
}

fn visible(scope: &Option<HashSet<String>>, s: &Subject) -> bool {
    scope.as_ref().is_none_or(|sc| sc.contains(&s.office))
}

/// The report (computed, or from the cache while its input is unchanged)
/// on a reader thread; the read is logged either way.
async fn read_report(state: &AppState, p: Principal, what: &str, prm: &Params) -> ApiResult<Arc<Report>> {
    let (from, to, mut filter, what) = (prm.from, prm.to, prm.filter.clone(), what.to_string());
    let shared = state.inner.shared.clone();
    state
        .read(move |s| {
            let (_, r) = shared.integrity.get(s, from, to, &Config::default())?;
            let mut a = p.action("integrity_read", &what);
            filter["officers"] = json!(r.officers.len());
            a.after = Some(filter);
            s.append_action(&a)?;
            Ok(r)
        })
        .await
}

/// A ranked row: the subject without its evidence (that is in the profile).
fn row(rank: usize, s: &Subject) -> Ranked {
    Ranked { rank, subject: Subject { evidence: vec![], ..s.clone() } }
}

fn ranked(rows: &[Subject], scope: &Option<HashSet<String>>) -> Vec<Ranked> {
    rows.iter().filter(|s| visible(scope, s)).enumerate().map(|(i, s)| row(i + 1, s)).collect()
}

/// The subjects of one level (`officers`, `posts`, `units`), ranked, in
/// the caller's offices; the read is logged.
async fn level(
    state: AppState,
    p: Principal,
    q: PeriodQuery,
    what: &str,
    level: fn(&Report) -> &[Subject],
) -> ApiResult<Vec<Ranked>> {
    let prm = params(&state, &p, &q)?;
    let r = read_report(&state, p, what, &prm).await?;
    Ok(ranked(level(&r), &prm.scope))
}

/// Officers ranked by integrity score, highest first.
///
/// Each with level, indicator values against peers and reasons; the read
/// is logged as `integrity_read`. Who: integrity_supervisor, admin.
#[utoipa::path(get, path = "/integrity/officers", tag = "integrity", params(PeriodQuery),
    responses((status = 200, body = RankedOfficers)))]
pub async fn officers(Caller(state, p): Caller, Query(q): Query<PeriodQuery>) -> ApiResult<Json<RankedOfficers>> {
    Ok(Json(RankedOfficers { officers: level(state, p, q, "officers", |r| &r.officers).await? }))
}

/// Posts (office/post) ranked by integrity score (the read is logged).
///
/// Who: integrity_supervisor, admin.
#[utoipa::path(get, path = "/integrity/posts", tag = "integrity", params(PeriodQuery),
    responses((status = 200, body = RankedPosts)))]
pub async fn posts(Caller(state, p): Caller, Query(q): Query<PeriodQuery>) -> ApiResult<Json<RankedPosts>> {
    Ok(Json(RankedPosts { posts: level(state, p, q, "posts", |r| &r.posts).await? }))
}

/// Units (offices) ranked by integrity score (the read is logged).
///
/// Who: integrity_supervisor, admin.
#[utoipa::path(get, path = "/integrity/units", tag = "integrity", params(PeriodQuery),
    responses((status = 200, body = RankedUnits)))]
pub async fn units(Caller(state, p): Caller, Query(q): Query<PeriodQuery>) -> ApiResult<Json<RankedUnits>> {
    Ok(Json(RankedUnits { units: level(state, p, q, "units", |r| &r.units).await? }))
}

/// Officers, posts and units at warning level with their reasons (logged).
///
/// Who: integrity_supervisor, admin.
#[utoipa::path(get, path = "/integrity/warnings", tag = "integrity", params(PeriodQuery),
    responses((status = 200, body = Warnings)))]
pub async fn warnings(Caller(state, p): Caller, Query(q): Query<PeriodQuery>) -> ApiResult<Json<Warnings>> {
    let prm = params(&state, &p, &q)?;
    let r = read_report(&state, p, "warnings", &prm).await?;
    let w: Vec<Ranked> = r.warnings().into_iter().filter(|s| visible(&prm.scope, s)).map(|s| row(0, s)).collect();
    Ok(Json(Warnings { warnings: w }))
}

/// One officer's integrity profile.
///
/// Indicators against peers, reasons, month-by-month history and the
/// evidence (declaration ids and the action-log entries themselves); the
/// read is logged. Who: integrity_supervisor, admin.
#[utoipa::path(get, path = "/integrity/officers/{id}", tag = "integrity", params(("id" = String, Path), PeriodQuery),
    responses((status = 200, body = OfficerProfile)))]
pub async fn officer(
    Caller(state, p): Caller,
    Path(id): Path<String>,
    Query(q): Query<PeriodQuery>,
) -> ApiResult<Json<OfficerProfile>> {
    let prm = params(&state, &p, &q)?;
    let (from, to, scope) = (prm.from, prm.to, prm.scope.clone());
    let target = format!("officer {id}");
    let who = id.clone();
    let shared = state.inner.shared.clone();
    let found = state
        .read(move |s| {
            let (input, r) = shared.integrity.get(s, from, to, &Config::default())?;
            let mut a = p.action("integrity_read", &target);
            a.after = Some(prm.filter);
            s.append_action(&a)?;
            let Some(sub) = r.officers.iter().find(|x| x.id == id && visible(&scope, x)).cloned() else {
                return Ok(None);
            };
            let hist = history_of(&input, &id, &Config::default());
            let seqs: HashSet<i64> = sub.evidence.iter().flat_map(|e| e.log_entries.iter().copied()).collect();
            let entries: Vec<_> = if seqs.is_empty() {
                vec![]
            } else {
                s.actions_in(None, None)?.into_iter().filter(|l| seqs.contains(&l.seq)).collect()
            };
            Ok(Some((sub, hist, entries)))
        })
        .await?;
    let Some((sub, hist, entries)) = found else {
        return Err(ApiError::not_found(format!("no officer {who:?} with controls in the caller's offices")));
    };
    let indicator_figures = sub.indicators.iter().map(ReasonFigures::of).collect();
    Ok(Json(OfficerProfile { subject: sub, indicator_figures, history: hist, log_entries: entries }))
}
