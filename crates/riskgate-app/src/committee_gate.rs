//! The gate of the changes a risk committee decides (M10): which
//! committee covers a change, and the pending item a covered change
//! becomes. The gated use cases (`model::set_status`, `rules::approve`,
//! `settings::set_setting`) call [`gate`] once their own checks pass and
//! before they change anything: without a committee covering the change it
//! answers `None` and they go on as before. Below those use cases; the
//! votes that apply an approved change are in `committees`, above them
//! (docs/committees.md).

use anyhow::Result;
use riskgate_core::{Office, OfficeLevel};
use riskgate_store::{Committee, CommitteeItem, ItemQuery, Store};
use serde::{Deserialize, Serialize};

use crate::app::{App, now};
use crate::error::AppError;

/// A change a committee decides, as the use case takes it again once approved.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Change {
    /// `model activate ID` (HQ committee).
    ModelActivate { model: String },
    /// Approving a draft rule version (the committee of the rule's scope).
    RuleApprove { rule: String, version: u32 },
    /// A setting of the control budget, target rates or exploration share.
    Setting { key: String, value: String },
}

impl Change {
    pub fn kind(&self) -> &'static str {
        match self {
            Change::ModelActivate { .. } => "model_activate",
            Change::RuleApprove { .. } => "rule_approve",
            Change::Setting { .. } => "setting",
        }
    }

    /// What the change names: a model id, `RULE@VERSION` or a setting key.
    pub fn subject(&self) -> String {
        match self {
            Change::ModelActivate { model } => model.clone(),
            Change::RuleApprove { rule, version } => format!("{rule}@{version}"),
            Change::Setting { key, .. } => key.clone(),
        }
    }
}

/// What a gated use case did: the change took effect, or it waits for a
/// committee as the item returned.
#[derive(Debug, Clone, PartialEq)]
pub enum Gated<T> {
    Done(T),
    Pending(Box<CommitteeItem>),
}

impl<T> Gated<T> {
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Gated<U> {
        match self {
            Gated::Done(t) => Gated::Done(f(t)),
            Gated::Pending(i) => Gated::Pending(i),
        }
    }

    /// The item the change waits in, if it does.
    pub fn pending(&self) -> Option<&CommitteeItem> {
        match self {
            Gated::Done(_) => None,
            Gated::Pending(i) => Some(i),
        }
    }
}

/// The settings a committee decides: the control budget and its bounds,
/// the target rates and the exploration (random control) share.
pub fn is_committee_setting(key: &str) -> bool {
    matches!(key, "budget" | "budget.floor" | "budget.ceiling" | "random_rate" | "exploration")
        || key.starts_with("target.")
}

/// One stored rule version, if it exists.
fn rule_record(store: &dyn Store, id: &str, version: u32) -> Result<Option<riskgate_store::RuleRecord>> {
    Ok(store.rules()?.into_iter().find(|r| r.def.id == id && r.def.version == version))
}

/// The unit a change belongs to: `None` for national, else an office or district code.
fn unit_of(store: &dyn Store, change: &Change) -> Result<Option<String>> {
    Ok(match change {
        Change::ModelActivate { .. } => None,
        Change::RuleApprove { rule, version } => rule_record(store, rule, *version)?.and_then(|r| r.def.scope),
        Change::Setting { key, .. } => key.strip_prefix("target.").filter(|o| *o != "default").map(str::to_string),
    })
}

/// The committee that decides a change of `unit` (`None`: national): the
/// committee of the unit's district, else the HQ committee, else none.
/// An office's district is found by walking up the office tree; a code the
/// tree does not hold is taken as a district code.
pub fn committee_for(store: &dyn Store, unit: Option<&str>) -> Result<Option<Committee>> {
    let committees = store.committees()?;
    if committees.is_empty() {
        return Ok(None);
    }
    if let Some(u) = unit
        && let Some(district) = district_of(&store.offices()?, u)
        && let Some(c) = committees.iter().find(|c| c.level == "district" && c.unit == district)
    {
        return Ok(Some(c.clone()));
    }
    Ok(committees.into_iter().find(|c| c.level == "hq"))
}

/// The district holding office `code` (itself if a district); `None` for HQ.
fn district_of(offices: &[Office], code: &str) -> Option<String> {
    let mut at = code;
    for _ in 0..=offices.len() {
        let Some(o) = offices.iter().find(|o| o.code == at) else {
            // Not in the registry: a district code as written.
            return (at == code).then(|| code.to_string());
        };
        match o.level {
            OfficeLevel::Hq => return None,
            OfficeLevel::District => return Some(o.code.clone()),
            OfficeLevel::Office => at = o.parent.as_deref()?,
        }
    }
    None
}

/// Members who may vote on an item: not its proposer, and for a rule not its author.
pub(crate) fn eligible(store: &dyn Store, c: &Committee, item: &CommitteeItem) -> Result<Vec<String>> {
    let author = match serde_json::from_value::<Change>(item.change.clone()) {
        Ok(Change::RuleApprove { rule, version }) => rule_record(store, &rule, version)?.map(|r| r.created_by),
        _ => None,
    };
    Ok(c.members.iter().filter(|m| **m != item.proposed_by && Some(*m) != author.as_ref()).cloned().collect())
}

/// Called by a gated use case once its checks pass and before it changes
/// anything: `None` when no committee covers the change (it takes effect
/// at once, as without committees), else the pending item it became.
pub(crate) fn gate(
    app: &mut App,
    change: Change,
    summary: String,
    before: Option<serde_json::Value>,
    after: Option<serde_json::Value>,
) -> Result<Option<CommitteeItem>> {
    let unit = unit_of(app.store.as_ref(), &change)?;
    let Some(c) = committee_for(app.store.as_ref(), unit.as_deref())? else { return Ok(None) };
    let subject = change.subject();
    let kind = change.kind();
    let open = app.store.committee_items(&ItemQuery {
        committee: Some(c.id),
        status: Some("pending".into()),
        ..Default::default()
    })?;
    if let Some(i) = open.iter().find(|i| i.kind == kind && i.subject == subject) {
        return Err(AppError::conflict(format!(
            "committee item {} already proposes {kind} {subject} to {}; vote on it or withdraw it",
            i.id, c.name
        ))
        .into());
    }
    let mut item = CommitteeItem {
        id: 0,
        committee: c.id,
        version: 1,
        status: "pending".into(),
        kind: kind.into(),
        subject,
        change: serde_json::to_value(&change)?,
        summary,
        before,
        after,
        proposed_by: app.user.clone(),
        proposed_at: now().timestamp(),
        votes: Vec::new(),
        decided_at: None,
        decision: None,
    };
    let voters = eligible(app.store.as_ref(), &c, &item)?;
    if (voters.len() as u32) < c.quorum {
        return Err(AppError::conflict(format!(
            "{} needs {} approvals but has only {} members who may vote on this change (not its proposer {}{}): \
             no item proposed",
            c.name,
            c.quorum,
            voters.len(),
            item.proposed_by,
            if kind == "rule_approve" { " nor the rule's author" } else { "" }
        ))
        .into());
    }
    let mut a = app.action("committee_propose", &format!("committee:{}", c.id));
    a.before = item.before.clone();
    a.after = Some(serde_json::json!({"committee": c.id, "change": item.change, "after": item.after}));
    item.id = app.store.insert_committee_item(&item, &a)?;
    Ok(Some(item))
}
