//! SQLite side of `Accounts` and `Search` (migration 6).

use riskgate_core::Outcome;
use rusqlite::params;

use super::{SqliteStore, all, decode};
use crate::accounts::{Accounts, ApiToken, DeclarationQuery, DeclarationSummary, Search, Session, TaskOutcomes, User};
use crate::rows::{
    ACTION_COLUMNS, INSERT_SESSION, OVERRIDES_OF, SESSION, SESSIONS, SUMMARY_COLUMNS, TASK_COLUMNS, TOKEN_COLUMNS,
    USER_COLUMNS, control_task, declaration_summary, logged_action, session, token, user,
};
use crate::{Action, Result, StoreError};

impl Accounts for SqliteStore {
    fn insert_user(&mut self, u: &User, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            let exists = tx.prepare_cached("SELECT 1 FROM users WHERE username = ?1")?.exists([&u.username])?;
            if exists {
                return Err(StoreError::User(format!("username: {:?} is already taken", u.username)));
            }
            tx.execute(
                &format!("INSERT INTO users ({USER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    u.username,
                    u.display_name,
                    u.role,
                    u.office,
                    u.department,
                    u.disabled,
                    u.created_at,
                    u.password_hash
                ],
            )?;
            Ok(())
        })
    }

    fn user(&self, username: &str) -> Result<Option<User>> {
        Ok(all(&self.conn, &format!("SELECT {USER_COLUMNS} FROM users WHERE username = ?1"), [username], user)?.pop())
    }

    fn users(&self) -> Result<Vec<User>> {
        all(&self.conn, &format!("SELECT {USER_COLUMNS} FROM users ORDER BY username"), [], user)
    }

    fn set_user_disabled(&mut self, username: &str, disabled: bool, at: i64, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            let n = tx.execute("UPDATE users SET disabled = ?2 WHERE username = ?1", params![username, disabled])?;
            if n != 1 {
                return Err(StoreError::User(format!("username: no user {username:?}")));
            }
            if disabled {
                tx.execute("DELETE FROM sessions WHERE username = ?1", [username])?;
                tx.execute(
                    "UPDATE api_tokens SET revoked_at = ?2 WHERE username = ?1 AND revoked_at IS NULL",
                    params![username, at],
                )?;
            }
            Ok(())
        })
    }

    fn set_password(&mut self, username: &str, password_hash: &str, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            let n = tx
                .execute("UPDATE users SET password_hash = ?2 WHERE username = ?1", params![username, password_hash])?;
            if n != 1 {
                return Err(StoreError::User(format!("username: no user {username:?}")));
            }
            tx.execute("DELETE FROM sessions WHERE username = ?1", [username])?;
            Ok(())
        })
    }

    fn insert_session(&mut self, s: &Session) -> Result<()> {
        // Expired sessions are swept on each login.
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [s.created_at])?;
        tx.execute(INSERT_SESSION, params![s.token_hash, s.username, s.created_at, s.expires_at, s.address])?;
        tx.commit()?;
        Ok(())
    }

    fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        Ok(all(&self.conn, SESSION, [token_hash], session)?.pop())
    }

    fn delete_session(&mut self, token_hash: &str) -> Result<()> {
        self.conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(())
    }

    fn sessions(&self, username: &str, now: i64) -> Result<Vec<Session>> {
        all(&self.conn, SESSIONS, params![username, now], session)
    }

    fn end_session(&mut self, username: &str, id: &str, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            let n = tx.execute(
                "DELETE FROM sessions WHERE username = ?1 AND substr(token_hash, 1, 16) = ?2",
                params![username, id],
            )?;
            if n == 0 {
                return Err(StoreError::User(format!("id: no session {id} of {username:?}")));
            }
            Ok(())
        })
    }

    fn insert_token(&mut self, t: &ApiToken, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            tx.execute(
                &format!("INSERT INTO api_tokens ({TOKEN_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
                params![
                    t.id,
                    t.username,
                    t.name,
                    t.scopes.join(","),
                    t.secret_hash,
                    t.created_at,
                    t.expires_at,
                    t.revoked_at
                ],
            )?;
            Ok(())
        })
    }

    fn token(&self, id: &str) -> Result<Option<ApiToken>> {
        Ok(all(&self.conn, &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens WHERE id = ?1"), [id], token)?.pop())
    }

    fn tokens(&self) -> Result<Vec<ApiToken>> {
        all(&self.conn, &format!("SELECT {TOKEN_COLUMNS} FROM api_tokens ORDER BY created_at, id"), [], token)
    }

    fn revoke_token(&mut self, id: &str, at: i64, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            let n = tx.execute(
                "UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL",
                params![id, at],
            )?;
            if n != 1 {
                return Err(StoreError::User(format!("token: no active token {id:?}")));
            }
            Ok(())
        })
    }
}

impl Search for SqliteStore {
    fn search_declarations(&self, q: &DeclarationQuery) -> Result<Vec<DeclarationSummary>> {
        let offices = q.offices.as_ref().map(|o| serde_json::to_string(o).expect("strings serialise"));
        let prefix = q.q.as_ref().map(|s| format!("{}%", s.replace(['%', '_'], "")));
        all(
            &self.conn,
            &format!(
                "{SUMMARY_COLUMNS}
                 WHERE (?1 IS NULL OR d.office IN (SELECT value FROM json_each(?1)))
                   AND (?2 IS NULL OR d.id LIKE ?2 OR d.trader = ?3)
                   AND (?4 IS NULL OR d.trader = ?4)
                   AND (?19 IS NULL OR d.trader = ?19
                        OR d.trader IN (SELECT DISTINCT trader FROM declarations WHERE trader > ?19 AND trader < ?19 || char(1114111))
                        OR d.trader IN (SELECT id FROM enterprises WHERE instr(json_extract(body, '$.name'), ?19) > 0))
                   AND (?5 IS NULL OR c.channel = ?5)
                   AND (?6 IS NULL OR d.declared_at >= ?6)
                   AND (?7 IS NULL OR d.declared_at < ?7)
                   AND (?9 IS NULL OR json_extract(c.body, '$.disposal') = ?9)
                   AND (?10 IS NULL OR (c.channel IN ('yellow', 'red')) = ?10)
                   AND (?11 IS NULL OR EXISTS (SELECT 1 FROM outcomes o WHERE o.decl = d.seq AND o.finding = 1) = ?11)
                   AND (?12 IS NULL OR c.source = ?12)
                   AND (?13 IS NULL OR c.risk_level = ?13)
                   AND (?14 IS NULL OR t.status = ?14 OR (?14 = 'none' AND t.status IS NULL))
                   AND (?15 IS NULL OR EXISTS (SELECT 1 FROM items i WHERE i.decl = d.seq AND i.hs_code LIKE ?15))
                   AND (?16 IS NULL OR EXISTS (SELECT 1 FROM items i WHERE i.decl = d.seq AND i.origin = ?16))
                   AND (?17 IS NULL OR EXISTS (SELECT 1 FROM outcomes o WHERE o.decl = d.seq AND o.officer = ?17))
                   AND (?18 IS NULL OR EXISTS (SELECT 1 FROM rule_hits h WHERE h.decl = d.seq AND h.rule_id = ?18))
                 ORDER BY d.seq DESC LIMIT ?8 OFFSET ?20"
            ),
            params![
                offices,
                prefix,
                q.q,
                q.trader,
                q.channel,
                q.from,
                q.to,
                q.limit as i64,
                q.disposal,
                q.controlled,
                q.finding,
                q.source,
                q.risk_level,
                q.status,
                q.hs.as_ref().map(|h| format!("{}%", h.replace(['%', '_'], ""))),
                q.origin,
                q.officer,
                q.rule,
                q.trader_match,
                i64::try_from(q.offset).unwrap_or(i64::MAX)
            ],
            declaration_summary,
        )
    }

    fn task_outcomes(&self, declaration_id: &str) -> Result<TaskOutcomes> {
        let task =
            all(&self.conn, &format!("SELECT {TASK_COLUMNS} WHERE d.id = ?1"), [declaration_id], control_task)?.pop();
        let mut st = self.conn.prepare_cached(
            "SELECT o.body FROM outcomes o JOIN declarations d ON d.seq = o.decl WHERE d.id = ?1 ORDER BY o.seq",
        )?;
        let bodies: Vec<String> = st.query_map([declaration_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
        let outcomes = bodies.iter().map(|b| decode(b, Outcome::from_json)).collect::<Result<Vec<_>>>()?;
        Ok(TaskOutcomes { task, outcomes })
    }

    fn overrides(&self, declaration_id: &str) -> Result<Vec<crate::LoggedAction>> {
        all(
            &self.conn,
            &format!("SELECT {ACTION_COLUMNS} FROM action_log {OVERRIDES_OF}"),
            [declaration_id],
            logged_action,
        )
    }
}
