//! `GET /api/v1/integrity/…`: the integrity indicators (riskgate-integrity)
//! for integrity supervisors (and admins, who may read the action log too).
//! Every read is written to the action log as `integrity_read`, as the CLI
//! does; rows are limited to the caller's office subtree.

use std::collections::HashSet;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::routing::{MethodRouter, get};
use riskgate_integrity::{Config, Report, Subject, compute};
use serde_json::{Value, json};

use crate::api::{PeriodQuery, office_scope, time_param};
use crate::auth::{Perm, Principal};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use riskgate_app::integrity::{history, load_input};

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

/// Computes the report on a reader thread and logs the read.
async fn read_report(state: &AppState, p: Principal, what: &str, prm: &Params) -> ApiResult<Report> {
    let (from, to, mut filter, what) = (prm.from, prm.to, prm.filter.clone(), what.to_string());
    state
        .read(move |s| {
            let input = load_input(s, from, to, None)?;
            let r = compute(&input, &Config::default());
            let mut a = p.action("integrity_read", &what);
            filter["officers"] = json!(r.officers.len());
            a.after = Some(filter);
            s.append_action(&a)?;
            Ok(r)
        })
        .await
}

/// A ranked row: the subject without its evidence (that is in the profile).
fn row(rank: usize, s: &Subject) -> Value {
    let mut v = serde_json::to_value(s).unwrap_or_default();
    if let Some(o) = v.as_object_mut() {
        o.remove("evidence");
        o.insert("rank".into(), json!(rank));
    }
    v
}

fn ranked(rows: &[Subject], scope: &Option<HashSet<String>>) -> Vec<Value> {
    rows.iter().filter(|s| visible(scope, s)).enumerate().map(|(i, s)| row(i + 1, s)).collect()
}

/// `GET /api/v1/integrity/{what}?office=&from=&to=`: the subjects of one
/// level (`officers`, `posts`, `units`), ranked.
pub(crate) fn ranked_route(what: &'static str, level: fn(&Report) -> &[Subject]) -> MethodRouter<AppState> {
    get(move |State(state): State<AppState>, p: Principal, Query(q): Query<PeriodQuery>| async move {
        let prm = params(&state, &p, &q)?;
        let r = read_report(&state, p, what, &prm).await?;
        ApiResult::Ok(Json(json!({ what: ranked(level(&r), &prm.scope) })))
    })
}

/// `GET /api/v1/integrity/warnings?office=&from=&to=`: every subject at warning.
pub async fn warnings(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<PeriodQuery>,
) -> ApiResult<Json<Value>> {
    let prm = params(&state, &p, &q)?;
    let r = read_report(&state, p, "warnings", &prm).await?;
    let w: Vec<Value> = r.warnings().into_iter().filter(|s| visible(&prm.scope, s)).map(|s| row(0, s)).collect();
    Ok(Json(json!({ "warnings": w })))
}

/// `GET /api/v1/integrity/officers/{id}?from=&to=`: indicators against
/// peers, reasons, month-by-month history and the evidence (declaration
/// ids and the action-log entries themselves).
pub async fn officer(
    State(state): State<AppState>,
    p: Principal,
    Path(id): Path<String>,
    Query(q): Query<PeriodQuery>,
) -> ApiResult<Json<Value>> {
    let prm = params(&state, &p, &q)?;
    let (from, to, scope) = (prm.from, prm.to, prm.scope.clone());
    let target = format!("officer {id}");
    let who = id.clone();
    let found = state
        .read(move |s| {
            let input = load_input(s, from, to, None)?;
            let r = compute(&input, &Config::default());
            let mut a = p.action("integrity_read", &target);
            a.after = Some(prm.filter);
            s.append_action(&a)?;
            let Some(sub) = r.officers.into_iter().find(|x| x.id == id && visible(&scope, x)) else {
                return Ok(None);
            };
            let hist = history(s, &id, from, to, &Config::default())?;
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
    let mut v = serde_json::to_value(&sub).map_err(|e| ApiError::internal(&e))?;
    v["history"] = serde_json::to_value(&hist).map_err(|e| ApiError::internal(&e))?;
    v["log_entries"] = serde_json::to_value(&entries).map_err(|e| ApiError::internal(&e))?;
    Ok(Json(v))
}
