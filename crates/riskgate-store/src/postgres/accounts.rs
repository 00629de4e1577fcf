//! PostgreSQL side of `Accounts` and `Search` (PG migration 6); the same
//! semantics as `sqlite/accounts.rs`.

use postgres::Row;
use riskgate_core::Outcome;

use super::{PgStore, decode};
use crate::accounts::{Accounts, ApiToken, DeclarationQuery, DeclarationSummary, Search, Session, TaskOutcomes, User};
use crate::{Action, ControlTask, Result, StoreError};

const USER_COLS: &str = "username, display_name, role, office, department, disabled, created_at, password_hash";

fn row_to_user(r: &Row) -> User {
    User {
        username: r.get(0),
        display_name: r.get(1),
        role: r.get(2),
        office: r.get(3),
        department: r.get(4),
        disabled: r.get(5),
        created_at: r.get(6),
        password_hash: r.get(7),
    }
}

const TOKEN_COLS: &str = "id, username, name, scopes, secret_hash, created_at, expires_at, revoked_at";

fn row_to_token(r: &Row) -> ApiToken {
    let scopes: String = r.get(3);
    ApiToken {
        id: r.get(0),
        username: r.get(1),
        name: r.get(2),
        scopes: scopes.split(',').filter(|s| !s.is_empty()).map(str::to_string).collect(),
        secret_hash: r.get(4),
        created_at: r.get(5),
        expires_at: r.get(6),
        revoked_at: r.get(7),
    }
}

impl Accounts for PgStore {
    fn insert_user(&mut self, u: &User, action: &Action) -> Result<()> {
        self.with_action(action, |tx| {
            let n = tx.execute(
                &format!(
                    "INSERT INTO users ({USER_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
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
        let r = self
            .conn
            .borrow_mut()
            .query_opt(&format!("SELECT {USER_COLS} FROM users WHERE username = $1"), &[&username])?;
        Ok(r.as_ref().map(row_to_user))
    }

    fn users(&self) -> Result<Vec<User>> {
        let rows = self.conn.borrow_mut().query(&format!("SELECT {USER_COLS} FROM users ORDER BY username"), &[])?;
        Ok(rows.iter().map(row_to_user).collect())
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

    fn insert_session(&mut self, s: &Session) -> Result<()> {
        let conn = self.conn.get_mut();
        let mut tx = conn.transaction()?;
        tx.execute("DELETE FROM sessions WHERE expires_at <= $1", &[&s.created_at])?;
        tx.execute(
            "INSERT INTO sessions (token_hash, username, created_at, expires_at) VALUES ($1, $2, $3, $4)",
            &[&s.token_hash, &s.username, &s.created_at, &s.expires_at],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn session(&self, token_hash: &str) -> Result<Option<Session>> {
        let r = self.conn.borrow_mut().query_opt(
            "SELECT token_hash, username, created_at, expires_at FROM sessions WHERE token_hash = $1",
            &[&token_hash],
        )?;
        Ok(r.map(|r| Session { token_hash: r.get(0), username: r.get(1), created_at: r.get(2), expires_at: r.get(3) }))
    }

    fn delete_session(&mut self, token_hash: &str) -> Result<()> {
        self.conn.get_mut().execute("DELETE FROM sessions WHERE token_hash = $1", &[&token_hash])?;
        Ok(())
    }

    fn insert_token(&mut self, t: &ApiToken, action: &Action) -> Result<()> {
        let scopes = t.scopes.join(",");
        self.with_action(action, |tx| {
            tx.execute(
                &format!("INSERT INTO api_tokens ({TOKEN_COLS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"),
                &[&t.id, &t.username, &t.name, &scopes, &t.secret_hash, &t.created_at, &t.expires_at, &t.revoked_at],
            )?;
            Ok(())
        })
    }

    fn token(&self, id: &str) -> Result<Option<ApiToken>> {
        let r =
            self.conn.borrow_mut().query_opt(&format!("SELECT {TOKEN_COLS} FROM api_tokens WHERE id = $1"), &[&id])?;
        Ok(r.as_ref().map(row_to_token))
    }

    fn tokens(&self) -> Result<Vec<ApiToken>> {
        let rows = self
            .conn
            .borrow_mut()
            .query(&format!("SELECT {TOKEN_COLS} FROM api_tokens ORDER BY created_at, id"), &[])?;
        Ok(rows.iter().map(row_to_token).collect())
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
        let rows = self.conn.borrow_mut().query(
            "SELECT d.id, d.office, d.trader, d.declared_at, d.tz, d.value_cny, d.historical,
                    c.channel, c.risk_value, c.risk_level, t.status
             FROM declarations d
             LEFT JOIN decisions c ON c.decl = d.seq
             LEFT JOIN control_tasks t ON t.decl = d.seq
             WHERE ($1::text[] IS NULL OR d.office = ANY($1))
               AND ($2::text IS NULL OR d.id LIKE $2 OR d.trader = $3)
               AND ($4::text IS NULL OR d.trader = $4)
               AND ($5::text IS NULL OR c.channel = $5)
               AND ($6::bigint IS NULL OR d.declared_at >= $6)
               AND ($7::bigint IS NULL OR d.declared_at < $7)
             ORDER BY d.seq DESC LIMIT $8",
            &[&q.offices, &prefix, &q.q, &q.trader, &q.channel, &q.from, &q.to, &limit],
        )?;
        Ok(rows
            .iter()
            .map(|r| {
                let at: i64 = r.get(3);
                let tz: i64 = r.get(4);
                let off = chrono::FixedOffset::east_opt(i32::try_from(tz).unwrap_or(0))
                    .unwrap_or(chrono::FixedOffset::east_opt(0).expect("utc"));
                DeclarationSummary {
                    id: r.get(0),
                    office: r.get(1),
                    trader: r.get(2),
                    declared_at: chrono::DateTime::from_timestamp(at, 0).unwrap_or_default().with_timezone(&off),
                    value_cny: r.get(5),
                    historical: r.get(6),
                    channel: r.get(7),
                    risk_value: r.get(8),
                    risk_level: r.get(9),
                    task_status: r.get(10),
                }
            })
            .collect())
    }

    fn task_outcomes(&self, declaration_id: &str) -> Result<TaskOutcomes> {
        let mut conn = self.conn.borrow_mut();
        let task = conn
            .query_opt(
                "SELECT t.id, d.id, t.office, t.channel, t.disposal, t.instructions, t.status, t.opened_at, t.closed_at,
                        t.officer, c.risk_value
                 FROM control_tasks t JOIN declarations d ON d.seq = t.decl JOIN decisions c ON c.decl = t.decl
                 WHERE d.id = $1",
                &[&declaration_id],
            )?
            .map(|r| ControlTask {
                id: r.get(0),
                declaration_id: r.get(1),
                office: r.get(2),
                channel: r.get(3),
                disposal: r.get(4),
                instructions: r.get(5),
                status: r.get(6),
                opened_at: r.get(7),
                closed_at: r.get(8),
                officer: r.get(9),
                risk_value: r.get(10),
            });
        let rows = conn.query(
            "SELECT o.body FROM outcomes o JOIN declarations d ON d.seq = o.decl WHERE d.id = $1 ORDER BY o.seq",
            &[&declaration_id],
        )?;
        let outcomes =
            rows.iter().map(|r| decode(&r.get::<_, String>(0), Outcome::from_json)).collect::<Result<Vec<_>>>()?;
        Ok(TaskOutcomes { task, outcomes })
    }
}
