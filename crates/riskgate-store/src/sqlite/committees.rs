//! SQLite side of `Committees` (migration 17).

use rusqlite::params;

use super::{SqliteStore, all};
use crate::committees::{
    Committee, CommitteeItem, Committees, ItemQuery, Vote, attach_votes, committee_body, item_action, item_body,
    stale_item, unit_taken, voted_already,
};
use crate::rows;
use crate::{Action, Result};

impl Committees for SqliteStore {
    fn insert_committee(&mut self, c: &Committee, action: &Action) -> Result<i64> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        if tx.prepare_cached(rows::COMMITTEE_EXISTS)?.exists([&c.unit])? {
            return Err(unit_taken(&c.unit));
        }
        let id: i64 =
            tx.query_row(rows::INSERT_COMMITTEE, params![c.level, c.unit, committee_body(c)], |r| r.get(0))?;
        Self::append_action_tx(&tx, &Action { target: format!("committee:{id}"), ..action.clone() })?;
        tx.commit()?;
        Ok(id)
    }

    fn committees(&self) -> Result<Vec<Committee>> {
        all(&self.conn, rows::COMMITTEES, [], rows::committee)
    }

    fn insert_committee_item(&mut self, item: &CommitteeItem, action: &Action) -> Result<i64> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let id: i64 = tx.query_row(
            rows::INSERT_COMMITTEE_ITEM,
            params![
                item.committee,
                i64::from(item.version),
                item.status,
                item.subject,
                item.proposed_at,
                item.decided_at,
                item_body(item)
            ],
            |r| r.get(0),
        )?;
        Self::append_action_tx(&tx, &item_action(action, id))?;
        tx.commit()?;
        Ok(id)
    }

    fn update_committee_item(&mut self, item: &CommitteeItem, vote: Option<&Vote>, actions: &[Action]) -> Result<()> {
        let tx = self.conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let changed = tx.execute(
            rows::UPDATE_COMMITTEE_ITEM,
            params![
                item.id,
                i64::from(item.version),
                item.status,
                item.decided_at,
                item_body(item),
                i64::from(item.version) - 1
            ],
        )?;
        if changed == 0 {
            return Err(stale_item(item.id));
        }
        if let Some(v) = vote {
            if tx.prepare_cached(rows::VOTED)?.exists(params![item.id, v.voter])? {
                return Err(voted_already(item.id, &v.voter));
            }
            tx.execute(rows::INSERT_VOTE, params![item.id, v.voter, v.at, v.approve, v.comment])?;
        }
        for a in actions {
            Self::append_action_tx(&tx, &item_action(a, item.id))?;
        }
        tx.commit()?;
        Ok(())
    }

    fn committee_items(&self, q: &ItemQuery) -> Result<Vec<CommitteeItem>> {
        let f = rows::item_filter(q);
        let mut items =
            all(&self.conn, &rows::committee_items_sql(), params![f.0, f.1, f.2, f.3, f.4], rows::committee_item)?;
        let votes =
            all(&self.conn, &rows::committee_votes_sql(), params![f.0, f.1, f.2, f.3, f.4], rows::committee_vote)?;
        attach_votes(&mut items, votes);
        Ok(items)
    }
}
