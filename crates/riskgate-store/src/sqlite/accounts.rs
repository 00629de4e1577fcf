//! SQLite side of `Accounts` and `Search` (migration 6).

use riskgate_core::Outcome;
use rusqlite::{OptionalExtension, params};

use super::{SqliteStore, decode};
use crate::accounts::{Accounts, ApiToken, DeclarationQuery, DeclarationSummary, Search, Session, TaskOutcomes, User};
use crate::{Action, ControlTask, Result, StoreError};

const USER_COLS: &str = "username, display_name, role, office, department, disabled, created_at, password_hash";

fn row_to_user(r: &rusqlite::Row<'_>) -> rusqlite::Result<User> {
    Ok(User {
        username: r.get(0)?,
        display_name: r.get(1)?,
        role: r.get(2)?,
        office: r.get(3)?,
        department: r.get(4)?,
        disabled: r.get(5)?,
        created_at: r.get(6)?,
        password_hash: r.get(7)?,
    })
}

const TOKEN_COLS: &str = "id, username, name, scopes, secret_hash, created_at, expires_at, revoked_at";

fn row_to_token(r: &rusqlite::Row<'_>) -> rusqlite::Result<ApiToken> {
    let scopes: String = r.get(3)?;
    Ok(ApiToken {
        id: r.get(0)?,
        username: r.get(1)?,
        name: r.get(2)?,
        scopes: scopes.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        secret_hash: r.get(4)?,
        created_at: r.get(5)?,
        expires_at: r.get(6)?,
        revoked_at: r.get(7)?,
    })
}

impl Accounts for SqliteStore {
    fn insert_user(&mut self, u: &User, action: &Action) -> Result<()> {
        let tx = self.conn.transaction()?;
        let exists = tx.prepare_cached("SELECT 1 FROM users WHERE username = ?1")?.exists([&u.username])?;
        if exists {
            return Err(StoreError::User(format!("username: {:?} is already taken", u.username)));
        }
        tx.execute(
            &format!("INSERT INTO users ({USER_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
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
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(())
    }

    fn user(&self, username: &str) -> Result<Option<User>> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {USER_COLS} FROM users WHERE username = ?1"))?
            .query_row([username], row_to_user)
            .optional()?)
    }

    fn users(&self) -> Result<Vec<User>> {
        let mut st = self.conn.prepare(&format!("SELECT {USER_COLS} FROM users ORDER BY username"))?;
        let rows = st.query_map([], row_to_user)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn set_user_disabled(&mut self, username: &str, disabled: bool, at: i64, action: &Action) -> Result<()> {
        let tx = self.conn.transaction()?;
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
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(())
    }

    fn insert_session(&mut self, s: &Session) -> Result<()> {
        // Expired sessions are swept on each login.
        let tx = self.conn.transaction()?;
        tx.execute("DELETE FROM sessions WHERE expires_at <= ?1", [s.created_at])?;
        tx.execute(
            "INSERT INTO sessions (token_hash, username, created_at, expires_at) VALUES (?1, ?2, ?3, ?4)",
            params![s.token_hash, s.username, s.created_at, s.expires_at],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        Ok(self
            .conn
            .prepare_cached("SELECT token_hash, username, created_at, expires_at FROM sessions WHERE token_hash = ?1")?
            .query_row([token_hash], |r| {
                Ok(Session { token_hash: r.get(0)?, username: r.get(1)?, created_at: r.get(2)?, expires_at: r.get(3)? })
            })
            .optional()?)
    }

    fn delete_session(&mut self, token_hash: &str) -> Result<()> {
        self.conn.execute("DELETE FROM sessions WHERE token_hash = ?1", [token_hash])?;
        Ok(())
    }

    fn insert_token(&mut self, t: &ApiToken, action: &Action) -> Result<()> {
        let tx = self.conn.transaction()?;
        tx.execute(
            &format!("INSERT INTO api_tokens ({TOKEN_COLS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"),
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
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(())
    }

    fn token(&self, id: &str) -> Result<Option<ApiToken>> {
        Ok(self
            .conn
            .prepare_cached(&format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = ?1"))?
            .query_row([id], row_to_token)
            .optional()?)
    }

    fn tokens(&self) -> Result<Vec<ApiToken>> {
        let mut st = self.conn.prepare(&format!("SELECT {TOKEN_COLS} FROM api_tokens ORDER BY created_at, id"))?;
        let rows = st.query_map([], row_to_token)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn revoke_token(&mut self, id: &str, at: i64, action: &Action) -> Result<()> {
        let tx = self.conn.transaction()?;
        let n =
            tx.execute("UPDATE api_tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL", params![id, at])?;
        if n != 1 {
            return Err(StoreError::User(format!("token: no active token {id:?}")));
        }
        Self::append_action_tx(&tx, action)?;
        tx.commit()?;
        Ok(())
    }
}

impl Search for SqliteStore {
    fn search_declarations(&self, q: &DeclarationQuery) -> Result<Vec<DeclarationSummary>> {
        let offices = q.offices.as_ref().map(|o| serde_json::to_string(o).expect("strings serialise"));
        let prefix = q.q.as_ref().map(|s| format!("{}%", s.replace(['%', '_'], "")));
        let mut st = self.conn.prepare_cached(
            "SELECT d.id, d.office, d.trader, d.declared_at, d.tz, d.value_cny, d.historical,
                    c.channel, c.risk_value, c.risk_level, t.status
             FROM declarations d
             LEFT JOIN decisions c ON c.decl = d.seq
             LEFT JOIN control_tasks t ON t.decl = d.seq
             WHERE (?1 IS NULL OR d.office IN (SELECT value FROM json_each(?1)))
               AND (?2 IS NULL OR d.id LIKE ?2 OR d.trader = ?3)
               AND (?4 IS NULL OR d.trader = ?4)
               AND (?5 IS NULL OR c.channel = ?5)
               AND (?6 IS NULL OR d.declared_at >= ?6)
               AND (?7 IS NULL OR d.declared_at < ?7)
             ORDER BY d.seq DESC LIMIT ?8",
        )?;
        let rows =
            st.query_map(params![offices, prefix, q.q, q.trader, q.channel, q.from, q.to, q.limit as i64], |r| {
                let at: i64 = r.get(3)?;
                let tz: i32 = r.get(4)?;
                let off = chrono::FixedOffset::east_opt(tz).unwrap_or(chrono::FixedOffset::east_opt(0).expect("utc"));
                Ok(DeclarationSummary {
                    id: r.get(0)?,
                    office: r.get(1)?,
                    trader: r.get(2)?,
                    declared_at: chrono::DateTime::from_timestamp(at, 0).unwrap_or_default().with_timezone(&off),
                    value_cny: r.get(5)?,
                    historical: r.get(6)?,
                    channel: r.get(7)?,
                    risk_value: r.get(8)?,
                    risk_level: r.get(9)?,
                    task_status: r.get(10)?,
                })
            })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn task_outcomes(&self, declaration_id: &str) -> Result<TaskOutcomes> {
        let task = self
            .conn
            .prepare_cached(
                "SELECT t.id, d.id, t.office, t.channel, t.disposal, t.instructions, t.status, t.opened_at, t.closed_at, t.officer, c.risk_value
                 FROM control_tasks t JOIN declarations d ON d.seq = t.decl JOIN decisions c ON c.decl = t.decl
                 WHERE d.id = ?1",
            )?
            .query_row([declaration_id], |r| {
                Ok(ControlTask {
                    id: r.get(0)?,
                    declaration_id: r.get(1)?,
                    office: r.get(2)?,
                    channel: r.get(3)?,
                    disposal: r.get(4)?,
                    instructions: r.get(5)?,
                    status: r.get(6)?,
                    opened_at: r.get(7)?,
                    closed_at: r.get(8)?,
                    officer: r.get(9)?,
                    risk_value: r.get(10)?,
                })
            })
            .optional()?;
        let mut st = self.conn.prepare_cached(
            "SELECT o.body FROM outcomes o JOIN declarations d ON d.seq = o.decl WHERE d.id = ?1 ORDER BY o.seq",
        )?;
        let bodies: Vec<String> = st.query_map([declaration_id], |r| r.get(0))?.collect::<Result<_, _>>()?;
        let outcomes = bodies.iter().map(|b| decode(b, Outcome::from_json)).collect::<Result<Vec<_>>>()?;
        Ok(TaskOutcomes { task, outcomes })
    }
}
