//! `riskgate config set` and `POST /api/v1/settings`: a setting changed
//! through one use case, so every transport checks, logs and (for the
//! settings a risk committee decides) waits for the committee alike.

use anyhow::Result;

use crate::app::App;

/// Sets a setting (`riskgate config set`, `PUT /api/v1/settings/{key}`),
/// checked by `app::check_setting` (a refusal names `key` or `value`). While
/// a committee covers it — the control budget and its bounds, target
/// rates, the exploration share (`committees::is_committee_setting`) — the
/// change becomes a pending committee item instead. The engine reads
/// settings when it is built: a running server reloads it after a change.
pub fn set_setting(app: &mut App, key: &str, value: &str) -> Result<crate::committee_gate::Gated<()>> {
    if let Err(e) = crate::app::check_setting(key, value) {
        let field = if e.to_string().starts_with("unknown setting") { "key" } else { "value" };
        return Err(crate::AppError::invalid(field, format!("{e:#}")).into());
    }
    if crate::committee_gate::is_committee_setting(key) {
        crate::accounts::require_identity(&app.user, &format!("setting {key} (a committee matter)"))?;
    }
    let before = app.store.setting(key)?;
    if crate::committee_gate::is_committee_setting(key)
        && let Some(item) = crate::committee_gate::gate(
            app,
            crate::committee_gate::Change::Setting { key: key.to_string(), value: value.to_string() },
            format!("set {key} from {} to {value}", before.as_deref().unwrap_or("its default")),
            before.as_ref().map(|b| serde_json::json!({ "value": b })),
            Some(serde_json::json!({ "value": value })),
        )?
    {
        return Ok(crate::committee_gate::Gated::Pending(Box::new(item)));
    }
    apply_setting(app, key, value, None)?;
    Ok(crate::committee_gate::Gated::Done(()))
}

/// Stores a checked setting with its action-log entry; `via` (the
/// committee item that approved it) becomes the entry's reason.
pub(crate) fn apply_setting(app: &mut App, key: &str, value: &str, via: Option<String>) -> Result<()> {
    crate::app::check_setting(key, value)?;
    let mut a = app.action("setting", key);
    a.before = app.store.setting(key)?.map(serde_json::Value::String);
    a.after = Some(serde_json::Value::String(value.to_string()));
    a.reason = via;
    app.store.set_setting(key, value, &a)?;
    Ok(())
}
