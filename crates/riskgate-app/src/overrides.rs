//! Lane overrides: an officer changes the lane of a screened declaration
//! whose control is not completed, with a reason; logged with before,
//! after and reason in the same transaction (`Store::override_channel`).
//! One function for the CLI (`tasks override`, `import overrides`) and
//! the HTTP API (`POST /declarations/{id}/override`).

use anyhow::Result;
use riskgate_core::Channel;
use riskgate_store::{LoggedAction, Override, OverrideDone, StoreError};

use crate::app::App;
use crate::error::AppError;

/// The longest reason an override may give (the action log keeps it).
pub const MAX_REASON_CHARS: usize = 2_000;

/// Changes the lane now (stamped with the app's clock, +08:00) in the name
/// of `officer`; the acting user is recorded as who entered it when it is
/// someone else.
pub fn override_lane(
    app: &mut App,
    declaration_id: &str,
    lane: Channel,
    officer: &str,
    reason: &str,
) -> Result<OverrideDone> {
    let o = Override {
        declaration_id: declaration_id.to_string(),
        channel: lane,
        officer: officer.to_string(),
        reason: reason.trim().to_string(),
        at: crate::app::now(),
        entered_by: (app.user != officer).then(|| app.user.clone()),
    };
    apply(app, &o)
}

/// Applies an override as made (an import of past overrides keeps their
/// time). Refusals: an officer unknown to the registry (when entered by
/// someone else), empty reason, unknown or unscreened
/// declaration, same lane, completed control, released goods. Emits the
/// override event and, when the override to green released the goods, the
/// release event.
pub fn apply(app: &mut App, o: &Override) -> Result<OverrideDone> {
    if o.reason.trim().is_empty() {
        return Err(AppError::invalid(
            "reason",
            format!("override of {}: reason: a reason is required", o.declaration_id),
        )
        .into());
    }
    if o.reason.chars().count() > MAX_REASON_CHARS {
        return Err(AppError::invalid(
            "reason",
            format!("override of {}: reason: at most {MAX_REASON_CHARS} characters", o.declaration_id),
        )
        .into());
    }
    // An officer acting in their own (authenticated) name is who they are;
    // an override entered for someone else must name a registry officer.
    if o.officer != app.user && !known_officer(app, &o.officer)? {
        return Err(AppError::invalid(
            "officer",
            format!("officer: expected an officer id known to the registry, got {:?}", o.officer),
        )
        .into());
    }
    match app.store.override_channel(o) {
        Ok(done) => {
            let prefix = &app.events.prefix;
            let mut events = vec![crate::events::override_event(prefix, &done, &o.at)];
            if done.released {
                events.push(crate::events::release_event(
                    prefix,
                    &done.office,
                    &done.declaration_id,
                    &o.at,
                    "override",
                ));
            }
            app.emit(&events)?;
            Ok(done)
        }
        Err(StoreError::User(m)) if m.contains("no declaration") => Err(AppError::not_found(m).into()),
        Err(StoreError::User(m)) => Err(AppError::conflict(m).into()),
        Err(e) => Err(e.into()),
    }
}

/// Whether `id` is in the officer registry (any id when none is loaded).
pub fn known_officer(app: &App, id: &str) -> Result<bool> {
    let officers = app.store.officers()?;
    Ok(officers.is_empty() || officers.iter().any(|o| o.id == id))
}

/// An `override` action-log entry read back: the lanes before and after,
/// who entered it for the officer and the engine's lane, as
/// `Store::override_channel` logs them (one reading for the integrity
/// indicators and the declaration page).
#[derive(Debug, Clone, Copy)]
pub struct LoggedOverride<'a> {
    pub from: Option<&'a str>,
    pub to: Option<&'a str>,
    pub entered_by: Option<&'a str>,
    pub engine_channel: Option<&'a str>,
}

impl<'a> LoggedOverride<'a> {
    pub fn of(l: &'a LoggedAction) -> Self {
        let text = |v: &'a Option<serde_json::Value>, k: &str| v.as_ref().and_then(|v| v[k].as_str());
        let a = &l.action;
        LoggedOverride {
            from: text(&a.before, "channel"),
            to: text(&a.after, "channel"),
            entered_by: text(&a.after, "entered_by"),
            engine_channel: text(&a.after, "engine_channel"),
        }
    }
}
