//! SQLite side of the NATS bus epoch and the webhook tables (migration 7).

use rusqlite::{Connection, OptionalExtension, params};

use crate::{Delivery, DeliveryAttempt, NewDelivery, Result, Webhook};

const MAX_SEQ: &str =
    "SELECT MAX(COALESCE((SELECT MAX(seq) FROM declarations), 0), COALESCE((SELECT MAX(seq) FROM outcomes), 0))";

pub(crate) fn load_bus_epoch(conn: &Connection) -> Result<Option<(i64, Vec<u8>)>> {
    Ok(conn
        .query_row("SELECT as_of_seq, body FROM bus_epoch WHERE id = 1", [], |r| Ok((r.get(0)?, r.get(1)?)))
        .optional()?)
}

pub(crate) fn init_bus_epoch(conn: &mut Connection, body: &[u8], replace: bool) -> Result<bool> {
    // IMMEDIATE: the sequence read and the insert happen under the write lock.
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let seq: i64 = tx.query_row(MAX_SEQ, [], |r| r.get(0))?;
    let n = if replace {
        tx.execute(
            "INSERT INTO bus_epoch (id, as_of_seq, body) VALUES (1, ?1, ?2)
             ON CONFLICT(id) DO UPDATE SET as_of_seq = excluded.as_of_seq, body = excluded.body",
            params![seq, body],
        )?
    } else {
        tx.execute("INSERT OR IGNORE INTO bus_epoch (id, as_of_seq, body) VALUES (1, ?1, ?2)", params![seq, body])?
    };
    tx.commit()?;
    Ok(n > 0)
}

pub(crate) fn insert_webhook(tx: &rusqlite::Transaction<'_>, h: &Webhook) -> Result<()> {
    tx.execute(
        "INSERT INTO webhooks (id, kind, url, secret, department, created_by, created_at, active)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![h.id, h.kind, h.url, h.secret, h.department, h.created_by, h.created_at, h.active],
    )?;
    Ok(())
}

pub(crate) fn webhooks(conn: &Connection) -> Result<Vec<Webhook>> {
    let mut st = conn.prepare(
        "SELECT id, kind, url, secret, department, created_by, created_at, active FROM webhooks ORDER BY created_at, id",
    )?;
    let rows = st.query_map([], |r| {
        Ok(Webhook {
            id: r.get(0)?,
            kind: r.get(1)?,
            url: r.get(2)?,
            secret: r.get(3)?,
            department: r.get(4)?,
            created_by: r.get(5)?,
            created_at: r.get(6)?,
            active: r.get(7)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
}

pub(crate) fn enqueue_deliveries(conn: &mut Connection, events: &[NewDelivery<'_>], now: i64) -> Result<usize> {
    let tx = conn.transaction()?;
    let mut n = 0;
    {
        let mut hooks = tx.prepare_cached("SELECT id FROM webhooks WHERE kind = ?1 AND active = 1")?;
        let mut ins = tx.prepare_cached(
            "INSERT OR IGNORE INTO webhook_deliveries (hook, event_id, kind, payload, status, attempts, next_at, created_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5)",
        )?;
        for e in events {
            let ids: Vec<String> = hooks.query_map([e.kind], |r| r.get(0))?.collect::<rusqlite::Result<_>>()?;
            for id in ids {
                n += ins.execute(params![id, e.event_id, e.kind, e.payload, now])?;
            }
        }
    }
    tx.commit()?;
    Ok(n)
}

const DELIVERY_COLS: &str = "id, hook, event_id, kind, payload, status, attempts, next_at, last_status, last_error, \
                             created_at, delivered_at";

fn row_to_delivery(r: &rusqlite::Row<'_>) -> rusqlite::Result<Delivery> {
    Ok(Delivery {
        id: r.get(0)?,
        hook: r.get(1)?,
        event_id: r.get(2)?,
        kind: r.get(3)?,
        payload: r.get(4)?,
        status: r.get(5)?,
        attempts: r.get(6)?,
        next_at: r.get(7)?,
        last_status: r.get(8)?,
        last_error: r.get(9)?,
        created_at: r.get(10)?,
        delivered_at: r.get(11)?,
    })
}

pub(crate) fn claim_deliveries(conn: &mut Connection, now: i64, lease: i64, limit: usize) -> Result<Vec<Delivery>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let out = {
        let mut st = tx.prepare(&format!(
            "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE status = 'pending' AND next_at <= ?1
             ORDER BY next_at, id LIMIT ?2"
        ))?;
        let out: Vec<Delivery> =
            st.query_map(params![now, limit as i64], row_to_delivery)?.collect::<rusqlite::Result<_>>()?;
        let mut up = tx.prepare("UPDATE webhook_deliveries SET next_at = ?2 WHERE id = ?1")?;
        for d in &out {
            up.execute(params![d.id, now + lease])?;
        }
        out
    };
    tx.commit()?;
    Ok(out)
}

pub(crate) fn record_delivery_attempt(conn: &Connection, id: i64, a: &DeliveryAttempt) -> Result<()> {
    conn.execute(
        "UPDATE webhook_deliveries SET attempts = attempts + 1, status = ?2, next_at = ?3, last_status = ?4,
         last_error = ?5, delivered_at = CASE WHEN ?2 = 'delivered' THEN ?6 ELSE delivered_at END WHERE id = ?1",
        params![id, a.status, a.next_at, a.http_status, a.error, a.at],
    )?;
    Ok(())
}

pub(crate) fn deliveries(conn: &Connection, hook: Option<&str>, limit: usize) -> Result<Vec<Delivery>> {
    let mut st = conn.prepare(&format!(
        "SELECT {DELIVERY_COLS} FROM webhook_deliveries WHERE (?1 IS NULL OR hook = ?1) ORDER BY id DESC LIMIT ?2"
    ))?;
    let out = st.query_map(params![hook, limit as i64], row_to_delivery)?.collect::<rusqlite::Result<_>>()?;
    Ok(out)
}
