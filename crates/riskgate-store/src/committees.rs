//! Risk committees (M10, migration 17): committees at HQ and district level,
//! the changes waiting for their approval (items) and the members' votes.
//! Kept as a supertrait of `Store` so that every backend implements it
//! beside the rest; what a committee decides is the use-case layer's
//! (`riskgate_app::committees`), the store only keeps it consistent: one
//! committee per unit, one vote per member and item, an item changed only
//! over the version it was read at, each change with its action-log entries
//! in one transaction.

use serde::{Deserialize, Serialize};

use crate::{Action, Result};

/// A risk-management committee of one unit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Committee {
    /// Given by the store.
    #[serde(default)]
    pub id: i64,
    /// `hq` or `district`.
    pub level: String,
    /// The unit's office code: the root of the office tree (HQ) or a district.
    pub unit: String,
    pub name: String,
    /// Approvals (by members other than the proposer) that make a change take effect.
    pub quorum: u32,
    /// Account names.
    pub members: Vec<String>,
    pub created_by: String,
    /// Seconds since the epoch.
    pub created_at: i64,
}

/// One member's vote on an item.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct Vote {
    pub voter: String,
    /// Seconds since the epoch.
    pub at: i64,
    pub approve: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

/// A change waiting for (or decided by) a committee.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, utoipa::ToSchema)]
pub struct CommitteeItem {
    /// Given by the store.
    #[serde(default)]
    pub id: i64,
    pub committee: i64,
    /// 1 when proposed, one more with every stored change.
    pub version: u32,
    /// `pending`, `approved`, `rejected` or `withdrawn`.
    pub status: String,
    /// `model_activate`, `rule_approve` or `setting`.
    pub kind: String,
    /// What the change names: a model id, `RULE@VERSION` or a setting key.
    pub subject: String,
    /// The change as the use case takes it again once approved.
    #[schema(value_type = Object)]
    pub change: serde_json::Value,
    /// One line for people.
    pub summary: String,
    /// The state before the change (an object, e.g. `{"status": "draft"}`, `{"value": "0.04"}`).
    #[schema(value_type = Option<Object>)]
    pub before: Option<serde_json::Value>,
    /// The state it would have after.
    #[schema(value_type = Option<Object>)]
    pub after: Option<serde_json::Value>,
    pub proposed_by: String,
    /// Seconds since the epoch.
    pub proposed_at: i64,
    /// Oldest first (kept in their own table; read back with the item).
    #[serde(default)]
    pub votes: Vec<Vote>,
    #[serde(default)]
    pub decided_at: Option<i64>,
    /// Why it closed: quorum reached, rejected, withdrawn (with the reason given).
    #[serde(default)]
    pub decision: Option<String>,
}

/// Which items to read; every field narrows.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ItemQuery {
    pub id: Option<i64>,
    pub committee: Option<i64>,
    pub status: Option<String>,
    /// Decided at or after (seconds).
    pub decided_from: Option<i64>,
    /// Decided before (seconds).
    pub decided_to: Option<i64>,
}

pub trait Committees {
    /// Stores a committee (its `id` is ignored) and logs `action`, whose
    /// target becomes `committee:ID`, in one transaction; a user error when
    /// the unit has one already. Returns the id.
    fn insert_committee(&mut self, c: &Committee, action: &Action) -> Result<i64>;
    /// Every committee, oldest first.
    fn committees(&self) -> Result<Vec<Committee>>;
    /// Stores a new item (its `id` and votes are ignored) and logs `action`,
    /// whose target becomes `committee_item:ID`, in one transaction.
    fn insert_committee_item(&mut self, item: &CommitteeItem, action: &Action) -> Result<i64>;
    /// Stores `item` over the version it was made from (`item.version - 1`),
    /// with `vote` when given, and logs `actions` (targets become
    /// `committee_item:ID`), all in one transaction. User errors: the item
    /// changed meanwhile or is unknown; the voter voted on it already.
    fn update_committee_item(&mut self, item: &CommitteeItem, vote: Option<&Vote>, actions: &[Action]) -> Result<()>;
    /// The items `q` selects with their votes, newest first.
    fn committee_items(&self, q: &ItemQuery) -> Result<Vec<CommitteeItem>>;
}

/// The user error of an item update that found another version stored.
pub(crate) fn stale_item(id: i64) -> crate::StoreError {
    crate::StoreError::User(format!("committee item {id} was changed by someone else meanwhile: read it again"))
}

/// The user error of a second vote by the same member.
pub(crate) fn voted_already(id: i64, voter: &str) -> crate::StoreError {
    crate::StoreError::User(format!("{voter} has voted on committee item {id} already"))
}

/// The user error of a second committee of one unit.
pub(crate) fn unit_taken(unit: &str) -> crate::StoreError {
    crate::StoreError::User(format!("unit: unit {unit} has a committee already"))
}

/// The body stored for an item: everything but its id and votes.
pub(crate) fn item_body(item: &CommitteeItem) -> String {
    serde_json::to_string(&CommitteeItem { id: 0, votes: Vec::new(), ..item.clone() }).expect("an item serialises")
}

/// The body stored for a committee: everything but its id.
pub(crate) fn committee_body(c: &Committee) -> String {
    serde_json::to_string(&Committee { id: 0, ..c.clone() }).expect("a committee serialises")
}

pub(crate) fn item_action(action: &Action, id: i64) -> Action {
    Action { target: format!("committee_item:{id}"), ..action.clone() }
}

/// Puts the votes (item, vote), ordered by item, into their items.
pub(crate) fn attach_votes(items: &mut [CommitteeItem], votes: Vec<(i64, Vote)>) {
    let mut by_item: std::collections::HashMap<i64, Vec<Vote>> = std::collections::HashMap::new();
    for (item, v) in votes {
        by_item.entry(item).or_default().push(v);
    }
    for i in items {
        i.votes = by_item.remove(&i.id).unwrap_or_default();
    }
}
