//! Risk committees over HTTP (M10): committees, the changes awaiting their
//! approval, votes, withdrawal, minutes, and `POST /settings` (the control
//! budget, target and exploration settings a committee may have to
//! approve). The use cases are `riskgate_app::committees` and
//! `riskgate_app::settings::set_setting`, the same the CLI calls.

use axum::Json;
use axum::body::Bytes;
use axum::extract::{Path, Query};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use riskgate_app::committees::{self, Minutes, NewCommittee};
use riskgate_store::{Committee, CommitteeItem};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::answers::{CommitteeItemAnswer, gated};
use crate::api::{as_caller, reload, require_json, time_param};
use crate::auth::{Caller, Perm};
use crate::error::{ApiError, ApiResult};

/// Every committee.
#[derive(Serialize, ToSchema)]
pub struct CommitteeList {
    pub committees: Vec<Committee>,
}

/// Committee items (proposed changes) with their votes, newest first.
#[derive(Serialize, ToSchema)]
pub struct CommitteeItems {
    pub items: Vec<CommitteeItem>,
}

/// A member's vote.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct VoteBody {
    /// `true` approves the change, `false` rejects it.
    pub approve: bool,
    pub comment: Option<String>,
}

/// Why the proposer withdraws an item.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct WithdrawBody {
    pub reason: String,
}

/// A setting to change (`riskgate config set KEY VALUE`).
#[derive(Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingBody {
    pub key: String,
    pub value: String,
}

/// The committees with their members and quorum.
///
/// Who: risk_analyst, district_manager, hq_manager, admin.
#[utoipa::path(get, path = "/committees", tag = "committees", responses((status = 200, body = CommitteeList)))]
pub async fn list(Caller(state, p): Caller) -> ApiResult<Json<CommitteeList>> {
    p.require(Perm::ReadCommittees)?;
    let committees = state.read(|s| committees::list(s)).await?;
    Ok(Json(CommitteeList { committees }))
}

/// Create a committee: HQ (`unit` the HQ office) or a district, its
/// members (account names) and quorum (approvals needed from members other
/// than the proposer). One committee per unit; logged as `committee_create`.
/// Who: admin.
#[utoipa::path(post, path = "/committees", tag = "committees", request_body = NewCommittee,
    responses((status = 201, body = Committee)))]
pub async fn create(
    Caller(state, p): Caller,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<(StatusCode, Json<Committee>)> {
    p.require(Perm::ManageCommittees)?;
    require_json(&headers)?;
    let new: NewCommittee = crate::state::parse_json(&body)?;
    let c = as_caller(&state, &p, move |app| Ok(committees::create(app, new)?)).await?;
    Ok((StatusCode::CREATED, Json(c)))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ItemsQuery {
    /// One committee's items.
    committee: Option<i64>,
    /// `pending`, `approved`, `rejected` or `withdrawn`.
    status: Option<String>,
}

/// Committee items with their votes, newest first.
///
/// Who: risk_analyst, district_manager, hq_manager, admin.
#[utoipa::path(get, path = "/committees/items", tag = "committees", params(ItemsQuery),
    responses((status = 200, body = CommitteeItems)))]
pub async fn items(Caller(state, p): Caller, Query(q): Query<ItemsQuery>) -> ApiResult<Json<CommitteeItems>> {
    p.require(Perm::ReadCommittees)?;
    let items = state
        .read(move |s| Ok(committees::items(s, q.committee, q.status.as_deref())))
        .await?
        .map_err(ApiError::query_refusal)?;
    Ok(Json(CommitteeItems { items }))
}

/// One committee item with its votes.
///
/// Who: risk_analyst, district_manager, hq_manager, admin.
#[utoipa::path(get, path = "/committees/items/{id}", tag = "committees", params(("id" = i64, Path)),
    responses((status = 200, body = CommitteeItemAnswer)))]
pub async fn item(Caller(state, p): Caller, Path(id): Path<i64>) -> ApiResult<Json<CommitteeItemAnswer>> {
    p.require(Perm::ReadCommittees)?;
    let item = state.read(move |s| committees::item(s, id)).await?;
    Ok(Json(CommitteeItemAnswer { item }))
}

/// Vote on a pending item as a member of its committee.
///
/// The proposer (and, for a rule, its author) may not vote (`four_eyes`);
/// others than members are refused (`not_a_member`). When approvals reach
/// the quorum the change takes effect as it would have directly (its own
/// action-log entry and events) and the item is `approved`; when the quorum
/// can no longer be reached it is `rejected`. Logged as `committee_vote`
/// and `committee_decide`. Who: risk_analyst, district_manager, hq_manager.
#[utoipa::path(post, path = "/committees/items/{id}/vote", tag = "committees", params(("id" = i64, Path)),
    request_body = VoteBody, responses((status = 200, body = CommitteeItemAnswer)))]
pub async fn vote(
    Caller(state, p): Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<CommitteeItemAnswer>> {
    p.require(Perm::VoteCommittee)?;
    require_json(&headers)?;
    let b: VoteBody = crate::state::parse_json(&body)?;
    let item = as_caller(&state, &p, move |app| {
        let item = committees::vote(app, id, b.approve, b.comment.as_deref())?;
        if item.status == "approved" {
            // A model or a setting changed: the engine takes it now.
            reload(app)?;
        }
        Ok(item)
    })
    .await?;
    Ok(Json(CommitteeItemAnswer { item }))
}

/// The proposer withdraws a pending item (`not_the_proposer` for anyone
/// else); nothing changes. Who: risk_analyst, district_manager, hq_manager.
#[utoipa::path(post, path = "/committees/items/{id}/withdraw", tag = "committees", params(("id" = i64, Path)),
    request_body = WithdrawBody, responses((status = 200, body = CommitteeItemAnswer)))]
pub async fn withdraw(
    Caller(state, p): Caller,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Json<CommitteeItemAnswer>> {
    p.require(Perm::VoteCommittee)?;
    require_json(&headers)?;
    let b: WithdrawBody = crate::state::parse_json(&body)?;
    let item = as_caller(&state, &p, move |app| Ok(committees::withdraw(app, id, &b.reason)?)).await?;
    Ok(Json(CommitteeItemAnswer { item }))
}

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct MinutesQuery {
    /// A day (YYYY-MM-DD, China time) or an RFC 3339 time; default 92 days before `to`.
    from: Option<String>,
    /// A day (inclusive) or an RFC 3339 time (exclusive); default now.
    to: Option<String>,
}

/// A committee's minutes: its decisions in the period, oldest first, with
/// every vote and comment, as records and as readable text.
///
/// Who: risk_analyst, district_manager, hq_manager, admin.
#[utoipa::path(get, path = "/committees/{id}/minutes", tag = "committees", params(("id" = i64, Path), MinutesQuery),
    responses((status = 200, body = Minutes)))]
pub async fn minutes(
    Caller(state, p): Caller,
    Path(id): Path<i64>,
    Query(q): Query<MinutesQuery>,
) -> ApiResult<Json<Minutes>> {
    p.require(Perm::ReadCommittees)?;
    let to = time_param("to", &q.to, true)?.unwrap_or_else(|| riskgate_app::now().timestamp() + 1);
    let from = time_param("from", &q.from, false)?.unwrap_or(to - 92 * 86_400);
    if from >= to {
        return Err(ApiError::query("from", "from: expected a day before to"));
    }
    let m = state.read(move |s| committees::minutes(s, id, from, to)).await?;
    Ok(Json(m))
}

/// Change a setting (`riskgate config set`): the keys and ranges of
/// `riskgate config` (an unknown key or a value out of range is 422 naming
/// `key` or `value`). The control budget and its bounds, target rates and
/// the exploration share wait for the approval of the committee covering
/// them when one exists: 202 with the committee item. Logged as `setting`.
/// Who: risk_analyst, hq_manager.
#[utoipa::path(post, path = "/settings", tag = "committees", request_body = SettingBody,
    responses((status = 200, body = SettingBody, description = "The setting took effect"),
        (status = 202, body = CommitteeItemAnswer, description = "The change awaits the committee's approval")))]
pub async fn set_setting(Caller(state, p): Caller, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    p.require(Perm::ChangeSettings)?;
    require_json(&headers)?;
    let b: SettingBody = crate::state::parse_json(&body)?;
    let g = as_caller(&state, &p, move |app| {
        let g = riskgate_app::settings::set_setting(app, &b.key, &b.value)?;
        if g.pending().is_none() {
            reload(app)?;
        }
        Ok(g.map(|()| b))
    })
    .await?;
    Ok(gated(g))
}
