//! Reading the action log (integrity supervisors, administrators): one
//! search for every transport, and the read is itself logged.

use std::collections::HashSet;

use anyhow::Result;
use riskgate_store::{Action, LoggedAction, Store};

/// Action kinds that record a read, not a change.
pub const READ_ACTIONS: &[&str] = &["actions_read", "integrity_read", "rule_read"];

/// The most recent entries a filtered search looks through.
pub const WINDOW: usize = 50_000;

/// What to look for; `None` and empty sets match everything.
#[derive(Debug, Clone)]
pub struct ActionFilter {
    /// The actor.
    pub officer: Option<String>,
    /// The action kind (`login`, `rule_add`, ...).
    pub action: Option<String>,
    /// From (inclusive) and to (exclusive), epoch seconds.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Include the entries that record a read (`READ_ACTIONS`).
    pub reads: bool,
    /// Only entries of these offices (the caller's subtree); `None`: all.
    pub offices: Option<HashSet<String>>,
}

impl Default for ActionFilter {
    fn default() -> ActionFilter {
        ActionFilter { officer: None, action: None, from: None, to: None, reads: true, offices: None }
    }
}

impl ActionFilter {
    fn matches(&self, l: &LoggedAction) -> bool {
        let at = l.action.at.timestamp();
        self.officer.as_ref().is_none_or(|o| &l.action.actor == o)
            && self.action.as_ref().is_none_or(|k| &l.action.action == k)
            && (self.reads || !READ_ACTIONS.contains(&l.action.action.as_str()))
            && self.from.is_none_or(|f| at >= f)
            && self.to.is_none_or(|t| at < t)
            && self.offices.as_ref().is_none_or(|sc| l.action.office.as_ref().is_some_and(|o| sc.contains(o)))
    }
}

/// The entries matching `filter` among the latest [`WINDOW`], newest first:
/// the first `offset` skipped (paging), then at most `limit`. `read` (the
/// caller's `actions_read` entry, naming the filter) is appended first, so
/// the reader's own visit is in the log it reads.
pub fn search(
    store: &mut dyn Store,
    read: &Action,
    filter: &ActionFilter,
    limit: usize,
    offset: usize,
) -> Result<Vec<LoggedAction>> {
    store.append_action(read)?;
    let rows = store.actions(WINDOW)?;
    Ok(rows.into_iter().filter(|l| filter.matches(l)).skip(offset).take(limit).collect())
}
