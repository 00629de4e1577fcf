//! The rules both backends apply, written once: when a lane override is
//! allowed and what it changes, how office counts are tallied, what an
//! outcome changes, how an action is normalised before it is hashed. Each
//! backend only reads and writes rows; the decisions are taken here.

use chrono::{DateTime, FixedOffset};
use riskgate_core::{Declaration, Outcome, OutcomeKeys};

use crate::{Action, Override, OverrideDone, Result, StoreError};

/// The user error for a batch naming a declaration that is not stored.
pub(crate) fn unknown_declaration(index: usize, id: &str) -> StoreError {
    StoreError::User(format!("record {}: declaration_id: no declaration \"{id}\" is stored", index + 1))
}

/// Parses a stored JSON body with the record kind's own validation.
pub(crate) fn decode<T>(
    body: &str,
    parse: fn(&serde_json::Value) -> Result<T, riskgate_core::ValidationError>,
) -> Result<T> {
    let v: serde_json::Value = serde_json::from_str(body)?;
    parse(&v).map_err(|e| StoreError::Corrupt(format!("stored record does not validate: {e}")))
}

/// A stored decision body, if any.
pub(crate) fn decision_of(body: Option<String>) -> Result<Option<riskgate_core::Decision>> {
    Ok(match body {
        Some(b) => Some(serde_json::from_str(&b)?),
        None => None,
    })
}

pub(crate) fn json<T: serde::Serialize>(v: &T) -> String {
    serde_json::to_string(v).expect("serialisable")
}

/// Seconds since the epoch at China time, as the action log reads times back.
pub(crate) fn china_time(ts: i64) -> DateTime<FixedOffset> {
    DateTime::from_timestamp(ts, 0)
        .unwrap_or_default()
        .with_timezone(&FixedOffset::east_opt(8 * 3600).expect("valid offset"))
}

/// The action as it will be read back (whole seconds at China time), which
/// is what its hash must cover.
pub(crate) fn normalised(a: &Action) -> Action {
    let mut norm = a.clone();
    norm.at = china_time(a.at.timestamp());
    norm
}

/// Whether an outcome reports smuggling (or prohibited goods).
pub(crate) fn smuggling(o: &Outcome) -> bool {
    o.findings.iter().any(|f| f == "smuggling" || f == "prohibited")
}

/// The keys an outcome updates, for `outcomes_by_time`: legacy random
/// controls carry their flag in the outcome.
pub(crate) fn keys_by_time(o: &Outcome, d: &Declaration, random: bool) -> OutcomeKeys {
    let random = random || o.attributes.get("legacy_random").and_then(serde_json::Value::as_bool).unwrap_or(false);
    OutcomeKeys::of(d, random)
}

/// What a backend reads, inside its write transaction, about the
/// declaration an override names.
#[derive(Debug)]
pub(crate) struct OverrideFacts {
    /// The declaration's row key (`seq`).
    pub decl: i64,
    pub office: String,
    pub released_at: Option<i64>,
    /// The engine's lane; `None` for a declaration stored as history.
    pub engine_channel: Option<String>,
    /// The control task's (channel, status), if one was ever opened.
    pub task: Option<(String, String)>,
    /// Whether an outcome is stored for it.
    pub completed: bool,
    /// Overrides of it by the officer of this override so far.
    pub overrides_by_officer: i64,
}

/// The most times one officer may override the lane of one declaration:
/// enough to correct a mistake, not to flip a lane back and forth.
pub const MAX_OVERRIDES_PER_OFFICER: i64 = 3;

/// The one write an override makes besides its log entry.
#[derive(Debug, PartialEq)]
pub(crate) enum OverrideWrite {
    /// To yellow/red with a task already there: reopen it in the new lane.
    ReopenTask,
    /// To yellow/red without a task: open one with these instructions.
    OpenTask { instructions: String },
    /// To green: close the task as overridden and release the goods.
    Release,
}

/// What an allowed override changes.
#[derive(Debug)]
pub(crate) struct OverridePlan {
    pub before: String,
    pub after: String,
    pub write: OverrideWrite,
    engine_channel: String,
}

/// Refuses an override without a reason or an officer (before any read).
pub(crate) fn check_override(o: &Override) -> Result<()> {
    let id = &o.declaration_id;
    if o.reason.trim().is_empty() {
        return Err(StoreError::User(format!("override of {id}: reason: a reason is required")));
    }
    if o.officer.trim().is_empty() {
        return Err(StoreError::User(format!("override of {id}: officer: an officer is required")));
    }
    Ok(())
}

/// Decides whether `o` may change the lane of the declaration described by
/// `facts` (`None`: not stored), and what it writes.
pub(crate) fn plan_override(o: &Override, facts: Option<&OverrideFacts>) -> Result<OverridePlan> {
    let id = &o.declaration_id;
    let Some(f) = facts else {
        return Err(StoreError::User(format!("override: declaration_id: no declaration \"{id}\" is stored")));
    };
    let Some(decided) = &f.engine_channel else {
        return Err(StoreError::User(format!("override of {id}: stored as history, never screened")));
    };
    if f.completed || f.task.as_ref().is_some_and(|(_, s)| s == "closed") {
        return Err(StoreError::User(format!("override of {id}: its control is already completed")));
    }
    if f.overrides_by_officer >= MAX_OVERRIDES_PER_OFFICER {
        return Err(StoreError::User(format!(
            "override of {id}: {} has overridden its lane {} times, the most one officer may; \
             another officer or the district manager must decide",
            o.officer, f.overrides_by_officer
        )));
    }
    let before = match &f.task {
        Some((channel, status)) if status == "open" => channel.clone(),
        Some(_) => "green".to_string(),
        None => decided.clone(),
    };
    let after = o.channel.as_str().to_string();
    if before == after {
        return Err(StoreError::User(format!("override of {id}: channel: already {after}")));
    }
    let write = if o.channel.is_control() {
        if let Some(t) = f.released_at {
            let when = DateTime::from_timestamp(t, 0).unwrap_or_default();
            return Err(StoreError::User(format!(
                "override of {id}: the goods were released at {when}; order a post-clearance audit instead"
            )));
        }
        if f.task.is_some() {
            OverrideWrite::ReopenTask
        } else {
            OverrideWrite::OpenTask { instructions: format!("manual override: {}", o.reason.trim()) }
        }
    } else {
        OverrideWrite::Release
    };
    Ok(OverridePlan { before, after, write, engine_channel: decided.clone() })
}

impl OverridePlan {
    /// The action-log entry of the override (before, after, reason).
    pub(crate) fn action(&self, o: &Override, office: &str) -> Action {
        let mut after_json = serde_json::json!({"channel": self.after, "engine_channel": self.engine_channel});
        if let Some(e) = &o.entered_by {
            after_json["entered_by"] = serde_json::Value::from(e.clone());
        }
        Action {
            at: o.at,
            actor: o.officer.clone(),
            office: Some(office.to_string()),
            action: "override".into(),
            target: o.declaration_id.clone(),
            before: Some(serde_json::json!({"channel": self.before})),
            after: Some(after_json),
            reason: Some(o.reason.trim().to_string()),
        }
    }

    pub(crate) fn done(self, o: &Override, office: String, released: bool, log_seq: i64) -> OverrideDone {
        OverrideDone {
            declaration_id: o.declaration_id.clone(),
            office,
            before: self.before,
            after: self.after,
            released,
            log_seq,
        }
    }
}

pub(crate) fn source_index(s: &str) -> Option<usize> {
    crate::SOURCES.iter().position(|x| *x == s)
}

/// Whether a webhook with these filters (comma-separated office codes and HS
/// chapters, or NULL) takes the event `e`.
pub(crate) fn hook_takes(offices: Option<&str>, chapters: Option<&str>, e: &crate::NewDelivery<'_>) -> bool {
    let list = |s: Option<&str>| -> Vec<String> {
        s.unwrap_or("").split(',').map(str::trim).filter(|x| !x.is_empty()).map(str::to_string).collect()
    };
    let (offices, chapters) = (list(offices), list(chapters));
    let office_ok = offices.is_empty() || e.office.is_none_or(|o| offices.iter().any(|x| x == o));
    let chapter_ok = chapters.is_empty() || e.chapters.iter().any(|c| chapters.contains(c));
    office_ok && chapter_ok
}

/// A list as the webhook filter columns keep it (comma-separated; NULL when empty).
pub(crate) fn filter_text(v: &[String]) -> Option<String> {
    (!v.is_empty()).then(|| v.join(","))
}
