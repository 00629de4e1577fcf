//! The supervisors' integrity inbox: `POST /api/v1/integrity/notify`
//! records the level changes since the last run and pushes each new or
//! raised warning to the supervisors' event namespace
//! (`riskgate_app::integrity::notify_warnings`); `GET
//! /api/v1/integrity/inbox` lists those warnings, newest first, within the
//! caller's office subtree. Both need `Perm::ReadActions` (integrity
//! supervisors and admins, as every integrity read); the read is logged.
//! Kept apart from `integrity_api` so the two evolve independently.

use axum::Json;
use axum::extract::{Query, State};
use riskgate_integrity::{Config, compute};
use serde_json::{Value, json};

use crate::api::{PeriodQuery, office_scope};
use crate::auth::{Perm, Principal};
use crate::error::ApiResult;
use crate::state::AppState;
use riskgate_app::integrity::{inbox as read_inbox, load_input, notify_warnings};

/// `POST /api/v1/integrity/notify`: computes the report over all records
/// and notifies supervisors of new or raised warnings; answers the new
/// inbox entries (visible to the caller).
pub async fn notify(State(state): State<AppState>, p: Principal) -> ApiResult<Json<Value>> {
    p.require(Perm::ReadActions)?;
    let scope = office_scope(&p, &state.offices(), &None)?;
    let (user, office) = (p.username.clone(), p.office.clone());
    let entries = state
        .write(move |live| {
            let before = std::mem::replace(&mut live.app.user, user);
            let before_office = std::mem::replace(&mut live.app.office, office);
            let r = (|| -> anyhow::Result<_> {
                let input = load_input(live.app.store.as_ref(), None, None, None)?;
                let report = compute(&input, &Config::default());
                notify_warnings(&mut live.app, &report)
            })();
            live.app.user = before;
            live.app.office = before_office;
            Ok(r?)
        })
        .await?;
    let shown: Vec<_> =
        entries.into_iter().filter(|e| scope.as_ref().is_none_or(|sc| sc.contains(&e.office))).collect();
    Ok(Json(json!({ "new_warnings": shown })))
}

/// `GET /api/v1/integrity/inbox?office=`: the warnings supervisors were
/// notified of, newest first (the read is logged as `integrity_read`).
pub async fn inbox(
    State(state): State<AppState>,
    p: Principal,
    Query(q): Query<PeriodQuery>,
) -> ApiResult<Json<Value>> {
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
    Ok(Json(json!({ "inbox": entries })))
}
