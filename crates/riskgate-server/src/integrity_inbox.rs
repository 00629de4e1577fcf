//! The supervisors' integrity inbox: `POST /api/v1/integrity/notify`
//! records the level changes since the last run and pushes each new or
//! raised warning to the supervisors' event namespace
//! (`riskgate_app::integrity::notify_warnings`); `GET
//! /api/v1/integrity/inbox` lists those warnings, newest first, within the
//! caller's office subtree. Both need `Perm::ReadActions` (integrity
//! supervisors and admins, as every integrity read); the read is logged.
//! Kept apart from `integrity_api` so the two evolve independently.

use axum::Json;
use axum::extract::Query;
use riskgate_integrity::Config;
use serde_json::json;

use crate::answers::{Inbox, NewWarnings};
use crate::api::{OfficeQuery, as_user, office_scope};
use crate::auth::{Caller, Perm};
use crate::error::ApiResult;
use crate::state::AppState;
use riskgate_app::integrity::{InboxEntry, inbox as read_inbox, notify_warnings};

/// One notification run in `user`'s name: the report is computed on a
/// reader thread (screening goes on meanwhile), then the level changes are
/// recorded and each new or raised warning pushed to supervisors on the
/// screening thread (`notify_warnings`: one already notified is not sent
/// again). The HTTP `notify` and `serve --integrity-every` both run this.
pub(crate) async fn notify_as(state: &AppState, user: String, office: Option<String>) -> ApiResult<Vec<InboxEntry>> {
    let shared = state.inner.shared.clone();
    let report = state.read(move |s| Ok(shared.integrity.get(s, None, None, &Config::default())?.1)).await?;
    as_user(state, user, office, move |app| Ok(notify_warnings(app, &report)?)).await
}

/// Notify supervisors of new or raised integrity warnings.
///
/// Computes the report over all records, records each level change in the
/// action log and pushes each new or raised warning to the supervisors'
/// event namespace; answers the new inbox entries in the caller's offices.
/// Running it again on the same records notifies nothing.
/// Who: integrity_supervisor, admin.
#[utoipa::path(post, path = "/integrity/notify", tag = "integrity", responses((status = 200, body = NewWarnings)))]
pub async fn notify(Caller(state, p): Caller) -> ApiResult<Json<NewWarnings>> {
    p.require(Perm::ReadActions)?;
    let scope = office_scope(&p, &state.offices(), &None)?;
    let entries = notify_as(&state, p.username.clone(), p.office.clone()).await?;
    let shown: Vec<_> =
        entries.into_iter().filter(|e| scope.as_ref().is_none_or(|sc| sc.contains(&e.office))).collect();
    Ok(Json(NewWarnings { new_warnings: shown }))
}

/// The supervisors' inbox: the warnings they were notified of, newest first.
///
/// In the caller's office subtree; the read is logged as `integrity_read`.
/// Who: integrity_supervisor, admin.
#[utoipa::path(get, path = "/integrity/inbox", tag = "integrity", params(OfficeQuery),
    responses((status = 200, body = Inbox)))]
pub async fn inbox(Caller(state, p): Caller, Query(q): Query<OfficeQuery>) -> ApiResult<Json<Inbox>> {
    p.require(Perm::ReadActions)?;
    let scope = office_scope(&p, &state.offices(), &q.office)?;
    let office = q.office.clone();
    let entries = state
        .read(move |s| {
            let entries = read_inbox(s, scope.as_ref())?;
            let mut a = p.action("integrity_read", "inbox");
            a.after = Some(json!({"office": office, "entries": entries.len()}));
            s.append_action(&a)?;
            Ok(entries)
        })
        .await?;
    Ok(Json(Inbox { inbox: entries }))
}
