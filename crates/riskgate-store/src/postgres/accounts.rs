//! PostgreSQL side of `Accounts` and `Search` (PG migration 6); the same
//! semantics as `sqlite/accounts.rs`.

use riskgate_core::Outcome;

use super::{PgStore, all, decode};
use crate::accounts::{Accounts, ApiToken, DeclarationQuery, DeclarationSummary, Search, Session, TaskOutcomes, User};
use crate::rows::{
    ACTION_COLUMNS, INSERT_SESSION, OVERRIDES_OF, SESSION, SESSIONS, SUMMARY_COLUMNS, TASK_COLUMNS, TOKEN_COLUMNS,
    USER_COLUMNS, control_task, declaration_summary, dollars, logged_action, session, token, user,
};
use crate::{Action, Result, StoreError};

impl Accounts for PgStore {
    fn insert_user(&mut self, u: &User, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            let n = tx.execute(
                &format!(
                    "INSERT INTO users ({USER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
                     ON CONFLICT (username) DO NOTHING"
                ),
                &[
                    &u.username,
                    &u.display_name,
                    &u.role,
                    &u.office,
                    &u.department,
                    &u.disabled,
                    &u.created_at,
                    &u.password_hash,
                ],
            )?;
            if n != 1 {
                return Err(StoreError::User(format!("username: {:?} is already taken", u.username)));
            }
            Ok(())
        })
    }

    fn user(&self, username: &str) -> Result<Option<User>> {
        let sql = format!("SELECT {USER_COLUMNS} FROM users WHERE username = $1");
        Ok(all(&mut self.conn.borrow_mut(), &sql, &[&username], user)?.pop())
    }

    fn users(&self) -> Result<Vec<User>> {
        all(&mut self.conn.borrow_mut(), &format!("SELECT {USER_COLUMNS} FROM users ORDER BY username"), &[], user)
    }

    fn set_user_disabled(&mut self, username: &str, disabled: bool, at: i64, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            let n = tx.execute("UPDATE users SET disabled = $2 WHERE username = $1", &[&username, &disabled])?;
            if n != 1 {
                return Err(StoreError::User(format!("username: no user {username:?}")));
            }
            if disabled {
                tx.execute("DELETE FROM sessions WHERE username = $1", &[&username])?;
                tx.execute(
                    "UPDATE api_tokens SET revoked_at = $2 WHERE username = $1 AND revoked_at IS NULL",
                    &[&username, &at],
                )?;
            }
            Ok(())
        })
    }

    fn set_password(&mut self, username: &str, password_hash: &str, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            let n =
                tx.execute("UPDATE users SET password_hash = $2 WHERE username = $1", &[&username, &password_hash])?;
            if n != 1 {
                return Err(StoreError::User(format!("username: no user {username:?}")));
            }
            tx.execute("DELETE FROM sessions WHERE username = $1", &[&username])?;
            Ok(())
        })
    }

    fn insert_session(&mut self, s: &Session) -> Result<()> {
        let conn = self.conn.get_mut();
        let mut tx = conn.transaction()?;
        tx.execute("DELETE FROM sessions WHERE expires_at <= $1", &[&s.created_at])?;
        tx.execute(&dollars(INSERT_SESSION), &[&s.token_hash, &s.username, &s.created_at, &s.expires_at, &s.address])?;
        tx.commit()?;
        Ok(())
    }

    fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        Ok(all(&mut self.conn.borrow_mut(), &dollars(SESSION), &[&token_hash], session)?.pop())
    }

    fn delete_session(&mut self, token_hash: &str) -> Result<()> {
        self.conn.get_mut().execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])?;
        Ok(())
    }

    fn sessions(&self, username: &str, now: i64) -> Result<Vec<Session>> {
        all(&mut self.conn.borrow_mut(), &dollars(SESSIONS), &[&username, &now], session)
    }

    fn end_session(&mut self, username: &str, id: &str, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            let n = tx.execute(
                "DELETE FROM sessions WHERE username = $1 AND substr(token_hash, 1, 16) = $2",
                &[&username, &id],
            )?;
            if n == 0 {
                return Err(StoreError::User(format!("id: no session {id} of {username:?}")));
            }
            Ok(())
        })
    }

    fn insert_token(&mut self, t: &ApiToken, action: &Action) -> Result<()> {
        let scopes = t.scopes.join(",");
        self.with_action(action, |tx| {
            tx.execute(
                &format!("INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
                &[&t.id, &t.username, &t.name, &scopes, &t.secret_hash, &t.created_at, &t.expires_at, &t.revoked_at],
            )?;
            Ok(())
        })
    }

    fn token(&self, id: &str) -> Result<Option<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = $1");
        Ok(all(&mut self.conn.borrow_mut(), &sql, &[&id], token)?.pop())
    }

    fn tokens(&self) -> Result<Vec<ApiToken>> {
        let sql = format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id");
        all(&mut self.conn.borrow_mut(), &sql, &[], token)
    }

    fn revoke_token(&mut self, id: &str, at: i64, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            let n =
                tx.execute("UPDATE api_tokens SET revoked_at = $2 WHERE id = $1 AND revoked_at IS NULL", &[&id, &at])?;
            if n != 1 {
                return Err(StoreError::User(format!("token: no active token {id:?}")));
            }
            Ok(())
        })
    }
}

impl Search for PgStore {
    fn search_declarations(&self, q: &DeclarationQuery) -> Result<Vec<DeclarationSummary>> {
        let prefix = q.q.as_ref().map(|s| format!("{}%", s.replace(['%', '_', '\\'], "")));
        let limit = i64::try_from(q.limit).unwrap_or(i64::MAX);
        let offset = i64::try_from(q.offset).unwrap_or(i64::MAX);
        all(
            &mut self.conn.borrow_mut(),
            &format!(
                "{SUMMARY_COLUMNS}
                 WHERE ($1::text[] IS NULL OR d.office = ANY($1))
                   AND ($2::text IS NULL OR d.id LIKE $2 OR d.trader = $3)
                   AND ($4::text IS NULL OR d.trader = $4)
                   AND ($19::text IS NULL OR starts_with(d.trader, $19)
                        OR d.trader IN (SELECT id FROM enterprises WHERE strpos(body::json ->> 'name', $19) > 0))
                   AND ($5::text IS NULL OR c.channel = $5)
                   AND ($6::bigint IS NULL OR d.declared_at >= $6)
                   AND ($7::bigint IS NULL OR d.declared_at < $7)
                   AND ($9::text IS NULL OR (c.body::json ->> 'disposal') = $9)
                   AND ($10::boolean IS NULL OR (c.channel IN ('yellow', 'red')) = $10)
                   AND ($11::boolean IS NULL OR EXISTS (SELECT 1 FROM outcomes o WHERE o.decl = d.seq AND o.finding) = $11)
                   AND ($12::text IS NULL OR c.source = $12)
                   AND ($13::text IS NULL OR c.risk_level = $13)
                   AND ($14::text IS NULL OR t.status = $14 OR ($14 = 'none' AND t.status IS NULL))
                   AND ($15::text IS NULL OR EXISTS (SELECT 1 FROM items i WHERE i.decl = d.seq AND i.hs_code LIKE $15))
                   AND ($16::text IS NULL OR EXISTS (SELECT 1 FROM items i WHERE i.decl = d.seq AND i.origin = $16))
                   AND ($17::text IS NULL OR EXISTS (SELECT 1 FROM outcomes o WHERE o.decl = d.seq AND o.officer = $17))
                   AND ($18::text IS NULL OR EXISTS (SELECT 1 FROM rule_hits h WHERE h.decl = d.seq AND h.rule_id = $18))
                 ORDER BY d.seq DESC LIMIT $8 OFFSET $20"
            ),
            &[
                &q.offices,
                &prefix,
                &q.q,
                &q.trader,
                &q.channel,
                &q.from,
                &q.to,
                &limit,
                &q.disposal,
                &q.controlled,
                &q.finding,
                &q.source,
                &q.risk_level,
                &q.status,
                &q.hs.as_ref().map(|h| format!("{}%", h.replace(['%', '_', '\\'], ""))),
                &q.origin,
                &q.officer,
                &q.rule,
                &q.trader_match,
                &offset,
            ],
            declaration_summary,
        )
    }

    fn task_outcomes(&self, declaration_id: &str) -> Result<TaskOutcomes> {
        let mut conn = self.conn.borrow_mut();
        let task =
            all(&mut conn, &format!("SELECT {TASK_COLUMNS} WHERE d.id = $1"), &[&declaration_id], control_task)?.pop();
        let rows = conn.query(
            "SELECT o.body FROM outcomes o JOIN declarations d ON d.seq = o.decl WHERE d.id = $1 ORDER BY o.seq",
            &[&declaration_id],
        )?;
        let outcomes =
            rows.iter().map(|r| decode(&r.get::<_, String>(0), Outcome::from_json)).collect::<Result<Vec<_>>>()?;
        Ok(TaskOutcomes { task, outcomes })
    }

    fn overrides(&self, declaration_id: &str) -> Result<Vec<crate::LoggedAction>> {
        all(
            &mut self.conn.borrow_mut(),
            &dollars(&format!("SELECT {ACTION_COLUMNS} FROM action_log {OVERRIDES_OF}")),
            &[&declaration_id],
            logged_action,
        )
    }
}
