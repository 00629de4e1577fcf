//! SQLite side of the NATS bus epoch and the webhook tables (migration 7).

use rusqlite::{Connection, OptionalExtension, params};

use super::all;
use crate::rows::{DELIVERY_COLUMNS, INSERT_WEBHOOK, RECORD_ATTEMPT, WEBHOOKS, delivery, webhook};
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
        INSERT_WEBHOOK,
        params![
            h.id,
            h.kind,
            h.url,
            h.secret,
            h.department,
            h.created_by,
            h.created_at,
            h.active,
            crate::policy::filter_text(&h.offices),
            crate::policy::filter_text(&h.hs_chapters)
        ],
    )?;
    Ok(())
}

pub(crate) fn webhooks(conn: &Connection) -> Result<Vec<Webhook>> {
    all(conn, WEBHOOKS, [], webhook)
}

pub(crate) fn enqueue_deliveries(conn: &mut Connection, events: &[NewDelivery<'_>], now: i64) -> Result<usize> {
    let tx = conn.transaction()?;
    let mut n = 0;
    {
        let mut hooks = tx.prepare_cached(
            "SELECT id, offices, hs_chapters FROM webhooks
             WHERE kind = ?1 AND active = 1 AND (?2 IS NULL OR department = ?2)",
        )?;
        let mut ins = tx.prepare_cached(
            "INSERT OR IGNORE INTO webhook_deliveries (hook, event_id, kind, payload, status, attempts, next_at, created_at)
             VALUES (?1, ?2, ?3, ?4, 'pending', 0, ?5, ?5)",
        )?;
        for e in events {
            let rows: Vec<(String, Option<String>, Option<String>)> = hooks
                .query_map(params![e.kind, e.department], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let ids: Vec<String> = rows
                .into_iter()
                .filter(|(_, o, c)| crate::policy::hook_takes(o.as_deref(), c.as_deref(), e))
                .map(|(id, _, _)| id)
                .collect();
            for id in ids {
                n += ins.execute(params![id, e.event_id, e.kind, e.payload, now])?;
            }
        }
    }
    tx.commit()?;
    Ok(n)
}

pub(crate) fn claim_deliveries(conn: &mut Connection, now: i64, lease: i64, limit: usize) -> Result<Vec<Delivery>> {
    let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
    let out = {
        let out = all(
            &tx,
            &format!(
                "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE status = 'pending' AND next_at <= ?1
                 ORDER BY next_at, id LIMIT ?2"
            ),
            params![now, limit as i64],
            delivery,
        )?;
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
    conn.execute(RECORD_ATTEMPT, params![id, a.status, a.next_at, a.http_status, a.error, a.at])?;
    Ok(())
}

pub(crate) fn deliveries(conn: &Connection, hook: Option<&str>, limit: usize) -> Result<Vec<Delivery>> {
    all(
        conn,
        &format!(
            "SELECT {DELIVERY_COLUMNS} FROM webhook_deliveries WHERE (?1 IS NULL OR hook = ?1) ORDER BY id DESC LIMIT ?2"
        ),
        params![hook, limit as i64],
        delivery,
    )
}
