//! Cases and referrals over HTTP (`/api/v1/cases…`): list, read, open, the
//! steps of a case (accept, start, conclude, close, return, reject,
//! resend), notes and escalation. Who may see and move which case is
//! decided by `riskgate_app::cases::Actor`; these handlers check the coarse
//! permission, parse and render.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use riskgate_app::App;
use riskgate_app::cases::{self, Actor, NewCase, StepBody, kind_word, status_word};
use riskgate_core::{Case, CaseQuery, CaseStep};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::api::{as_user, json_change};
use crate::auth::{Caller, Perm, Principal};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

fn actor(p: &Principal) -> Actor {
    Actor { role: Some(p.role), department: p.department.clone(), scope: p.scope.clone() }
}

/// A change to a case in the caller's name ([`json_change`] with the
/// caller as the case `Actor`).
async fn change<B: DeserializeOwned + Send + 'static>(
    state: &AppState,
    p: &Principal,
    perm: Perm,
    request: (&HeaderMap, &[u8]),
    f: impl FnOnce(&mut App, &Actor, B) -> anyhow::Result<Case> + Send + 'static,
) -> ApiResult<Case> {
    let a = actor(p);
    json_change(state, p, perm, request, move |app, b| f(app, &a, b)).await
}

/// The active subscriptions of `department`.
async fn department_hooks(state: &AppState, department: String) -> ApiResult<Vec<riskgate_store::Webhook>> {
    let hooks = state.read(move |s| Ok(s.webhooks()?)).await?;
    Ok(hooks.into_iter().filter(|h| h.active && h.department == department).collect())
}

#[derive(Serialize, ToSchema)]
pub struct CaseList {
    pub cases: Vec<Case>,
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct CaseListQuery {
    /// `anti_smuggling`, `post_clearance_audit`, `tariff`, `legal`, `processing_trade`, `integrity` or `complaint`.
    kind: Option<String>,
    /// An owning department.
    department: Option<String>,
    /// `opened`, `accepted`, `in_progress`, `concluded`, `closed`, `returned` or `rejected`.
    status: Option<String>,
    declaration_id: Option<String>,
    enterprise: Option<String>,
    /// Only cases past their deadline (`true`).
    overdue: Option<bool>,
    /// 1 to 1000 (default 100).
    limit: Option<usize>,
}

/// Cases the caller may see: overdue first, then newest first.
///
/// Department users see their department's cases (the inbox); officers,
/// analysts and managers the cases of their offices (integrity cases only
/// integrity supervisors). Who: all but admin and machine.
#[utoipa::path(get, path = "/cases", tag = "cases", params(CaseListQuery), responses((status = 200, body = CaseList)))]
pub async fn list(Caller(state, p): Caller, Query(q): Query<CaseListQuery>) -> ApiResult<Json<CaseList>> {
    p.require(Perm::ReadCases)?;
    let limit = q.limit.unwrap_or(100);
    if !(1..=1000).contains(&limit) {
        return Err(ApiError::query("limit", format!("limit: expected 1 to 1000, got {limit}")));
    }
    let word = |w: Option<String>| w.filter(|s| !s.is_empty());
    let query = CaseQuery {
        kind: word(q.kind).as_deref().map(kind_word).transpose().map_err(ApiError::query_refusal)?,
        department: word(q.department),
        status: word(q.status).as_deref().map(status_word).transpose().map_err(ApiError::query_refusal)?,
        declaration_id: word(q.declaration_id),
        enterprise: word(q.enterprise),
    };
    let (a, overdue) = (actor(&p), q.overdue.unwrap_or(false));
    let cases = state.read(move |s| cases::list(s, &a, &query, overdue, limit)).await?;
    Ok(Json(CaseList { cases }))
}

/// One case with its history and result.
///
/// Who: all but admin and machine, for the cases they may see (else 404).
#[utoipa::path(get, path = "/cases/{id}", tag = "cases", params(("id" = i64, Path)),
    responses((status = 200, body = Case)))]
pub async fn get(Caller(state, p): Caller, Path(id): Path<i64>) -> ApiResult<Json<Case>> {
    p.require(Perm::ReadCases)?;
    let a = actor(&p);
    Ok(Json(state.read(move |s| cases::get(s, &a, id)).await?))
}

/// Open a case by hand (a referral to a department).
///
/// About a declaration (its office owns the case, its trader is linked),
/// an enterprise or an officer; the owning department and the deadlines
/// come from the kind and the settings. Seizures and smuggling findings
/// open anti-smuggling referrals by themselves. Who: field_officer,
/// risk_analyst, district_manager, hq_manager; integrity cases
/// integrity_supervisor.
#[utoipa::path(post, path = "/cases", tag = "cases", request_body = NewCase, responses((status = 201, body = Case)))]
pub async fn open(Caller(state, p): Caller, headers: HeaderMap, body: Bytes) -> ApiResult<(StatusCode, Json<Case>)> {
    let c =
        change(&state, &p, Perm::OpenCase, (&headers, &body), |app, a, new: NewCase| cases::open(app, a, new)).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

/// Take a step on a case.
///
/// `accept`, `start`, `conclude` (with `result`), `return` and `reject`
/// (with a reason in `note`) are the owning department's; `close` the
/// department's or a manager's; `resend` (a returned case) the sender's
/// side. A step not allowed from the case's state answers 409; `version`,
/// when sent, must be the case's current one. Concluding a case about a
/// declaration with a finding or duty records it as an outcome (histories,
/// rule statistics, model labels, KPIs). Who: as said, among all but admin
/// and machine.
#[utoipa::path(post, path = "/cases/{id}/{step}", tag = "cases",
    params(("id" = i64, Path), ("step" = String, Path,
        description = "accept, start, conclude, close, return, reject or resend")),
    request_body = StepBody, responses((status = 200, body = Case)))]
pub async fn step(
    Caller(state, p): Caller,
    Path((id, step)): Path<(i64, String)>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Case>> {
    p.require(Perm::ReadCases)?;
    let Some(s) = CaseStep::parse(&step) else {
        return Err(ApiError::not_found(format!("no step {step:?}: use {}", CaseStep::names().join(", "))));
    };
    let f = move |app: &mut App, a: &Actor, b: StepBody| cases::step(app, a, id, s, b);
    Ok(Json(change(&state, &p, Perm::ReadCases, (&headers, &body), f).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteBody {
    pub note: String,
}

/// Add a note to a case's history.
///
/// Who: all but admin and machine, on the cases they may see.
#[utoipa::path(post, path = "/cases/{id}/notes", tag = "cases", params(("id" = i64, Path)),
    request_body = NoteBody, responses((status = 200, body = Case)))]
pub async fn note(
    Caller(state, p): Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<Case>> {
    let f = move |app: &mut App, a: &Actor, b: NoteBody| cases::note(app, a, id, &b.note);
    Ok(Json(change(&state, &p, Perm::ReadCases, (&headers, &body), f).await?))
}

/// Escalate the overdue cases of the caller's offices.
///
/// A case not accepted by its acceptance deadline, or not concluded by its
/// due date, is marked escalated, logged, and announced to the office's
/// managers (`case` event `escalated`); each deadline escalates once.
/// Answers the cases escalated now. Who: district_manager, hq_manager.
#[utoipa::path(post, path = "/cases/escalate", tag = "cases", responses((status = 200, body = CaseList)))]
pub async fn escalate(Caller(state, p): Caller) -> ApiResult<Json<CaseList>> {
    p.require(Perm::Escalate)?;
    let a = actor(&p);
    let cases = as_user(&state, p.username.clone(), p.office.clone(), move |app| Ok(cases::escalate(app, &a)?)).await?;
    Ok(Json(CaseList { cases }))
}

// ----------------------------------------------------------- subscriptions

#[derive(Serialize, ToSchema)]
pub struct SubscriptionList {
    pub subscriptions: Vec<riskgate_store::Webhook>,
}

/// A new subscription with its signing secret, shown only in this answer.
#[derive(Serialize, ToSchema)]
pub struct NewSubscription {
    pub subscription: riskgate_store::Webhook,
    /// HMAC-SHA256 key of the `X-Riskgate-Signature` header; never shown again.
    pub secret: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SubscribeBody {
    /// `decision`, `control_task`, `finding`, `outcome`, `release`, `override`, `rule_change` or `case`.
    pub kind: String,
    /// An `https://` address outside loopback and private networks.
    pub url: String,
    /// Only events of these offices (empty: all).
    #[serde(default)]
    pub offices: Vec<String>,
    /// Only events about goods of these HS chapters (2 digits; empty: all).
    #[serde(default)]
    pub hs_chapters: Vec<String>,
}

fn own_department(p: &Principal) -> ApiResult<String> {
    p.require(Perm::ManageSubscriptions)?;
    p.department.clone().ok_or_else(|| ApiError::forbidden("the caller has no department"))
}

/// The caller's department's subscriptions (webhooks), secrets never shown.
///
/// Who: department_user.
#[utoipa::path(get, path = "/subscriptions", tag = "subscriptions", responses((status = 200, body = SubscriptionList)))]
pub async fn subscriptions(Caller(state, p): Caller) -> ApiResult<Json<SubscriptionList>> {
    let department = own_department(&p)?;
    Ok(Json(SubscriptionList { subscriptions: department_hooks(&state, department).await? }))
}

/// Subscribe the caller's department to an event kind.
///
/// Deliveries are signed with the secret answered here once; optional
/// filters by office and HS chapter (an event with no chapter, e.g. a rule
/// change, does not pass a chapter filter). Logged as `webhook_add`.
/// Who: department_user.
#[utoipa::path(post, path = "/subscriptions", tag = "subscriptions", request_body = SubscribeBody,
    responses((status = 201, body = NewSubscription)))]
pub async fn subscribe(
    Caller(state, p): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<NewSubscription>)> {
    let department = own_department(&p)?;
    let f = move |app: &mut App, b: SubscribeBody| {
        riskgate_app::webhooks::subscribe(app, &department, &b.kind, &b.url, &b.offices, &b.hs_chapters)
    };
    let hook = json_change(&state, &p, Perm::ManageSubscriptions, (&headers, &body), f).await?;
    let secret = hook.secret.clone();
    Ok((StatusCode::CREATED, Json(NewSubscription { subscription: hook, secret })))
}

/// End one of the caller's department's subscriptions.
///
/// Who: department_user (another department's subscription answers 404).
#[utoipa::path(delete, path = "/subscriptions/{id}", tag = "subscriptions", params(("id" = String, Path)),
    responses((status = 200, body = SubscriptionList)))]
pub async fn unsubscribe(Caller(state, p): Caller, Path(id): Path<String>) -> ApiResult<Json<SubscriptionList>> {
    let department = own_department(&p)?;
    let d = department.clone();
    as_user(&state, p.username.clone(), p.office.clone(), move |app| {
        Ok(riskgate_app::webhooks::unsubscribe(app, &id, Some(&d))?)
    })
    .await?;
    Ok(Json(SubscriptionList { subscriptions: department_hooks(&state, department).await? }))
}
