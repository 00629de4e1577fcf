//! PostgreSQL side of `Committees` (migration 17); the same semantics as
//! `sqlite/committees.rs`.

use postgres::types::ToSql;

use super::{PgStore, all};
use crate::committees::{
    Committee, CommitteeItem, Committees, ItemQuery, Vote, attach_votes, committee_body, item_action, item_body,
    stale_item, unit_taken, voted_already,
};
use crate::rows::{self, dollars};
use crate::{Action, Result};

impl Committees for PgStore {
    fn insert_committee(&mut self, c: &Committee, action: &Action) -> Result<i64> {
        self.ensure_month("action_log", action.at.timestamp())?;
        let mut tx = self.conn.get_mut().transaction()?;
        // One committee creation at a time: the unit check and the insert
        // cannot interleave with another's.
        tx.execute("LOCK TABLE committees IN SHARE ROW EXCLUSIVE MODE", &[])?;
        if tx.query_opt(&dollars(rows::COMMITTEE_EXISTS), &[&c.unit])?.is_some() {
            return Err(unit_taken(&c.unit));
        }
        let row = tx.query_one(&dollars(rows::INSERT_COMMITTEE), &[&c.level, &c.unit, &committee_body(c)])?;
        let id: i64 = row.try_get(0)?;
        Self::append_action_tx(&mut tx, &Action { target: format!("committee:{id}"), ..action.clone() })?;
        tx.commit()?;
        Ok(id)
    }

    fn committees(&self) -> Result<Vec<Committee>> {
        all(&mut self.conn.borrow_mut(), &dollars(rows::COMMITTEES), &[], rows::committee)
    }

    fn insert_committee_item(&mut self, item: &CommitteeItem, action: &Action) -> Result<i64> {
        self.ensure_month("action_log", action.at.timestamp())?;
        let mut tx = self.conn.get_mut().transaction()?;
        let row = tx.query_one(
            &dollars(rows::INSERT_COMMITTEE_ITEM),
            &[
                &item.committee,
                &i64::from(item.version),
                &item.status,
                &item.subject,
                &item.proposed_at,
                &item.decided_at,
                &item_body(item),
            ],
        )?;
        let id: i64 = row.try_get(0)?;
        Self::append_action_tx(&mut tx, &item_action(action, id))?;
        tx.commit()?;
        Ok(id)
    }

    fn update_committee_item(&mut self, item: &CommitteeItem, vote: Option<&Vote>, actions: &[Action]) -> Result<()> {
        for a in actions {
            self.ensure_month("action_log", a.at.timestamp())?;
        }
        let mut tx = self.conn.get_mut().transaction()?;
        let changed = tx.execute(
            &dollars(rows::UPDATE_COMMITTEE_ITEM),
            &[
                &item.id,
                &i64::from(item.version),
                &item.status,
                &item.decided_at,
                &item_body(item),
                &(i64::from(item.version) - 1),
            ],
        )?;
        if changed == 0 {
            return Err(stale_item(item.id));
        }
        if let Some(v) = vote {
            // The item's row is locked by the update above: no other vote on
            // it can be stored between this check and the insert.
            if tx.query_opt(&dollars(rows::VOTED), &[&item.id, &v.voter])?.is_some() {
                return Err(voted_already(item.id, &v.voter));
            }
            tx.execute(&dollars(rows::INSERT_VOTE), &[&item.id, &v.voter, &v.at, &v.approve, &v.comment])?;
        }
        for a in actions {
            Self::append_action_tx(&mut tx, &item_action(a, item.id))?;
        }
        tx.commit()?;
        Ok(())
    }

    fn committee_items(&self, q: &ItemQuery) -> Result<Vec<CommitteeItem>> {
        let f = rows::item_filter(q);
        let params: [&(dyn ToSql + Sync); 5] = [&f.0, &f.1, &f.2, &f.3, &f.4];
        let mut conn = self.conn.borrow_mut();
        let mut items = all(&mut conn, &dollars(&rows::committee_items_sql()), &params, rows::committee_item)?;
        let votes = all(&mut conn, &dollars(&rows::committee_votes_sql()), &params, rows::committee_vote)?;
        attach_votes(&mut items, votes);
        Ok(items)
    }
}
