//! Webhooks (M5): departments register an HTTP(S) endpoint per event kind.
//! Each delivery is a POST of the event's JSON payload, signed with
//! HMAC-SHA256 over the exact body bytes using the hook's own secret:
//!
//! ```text
//! X-Riskgate-Signature: sha256=<lowercase hex>
//! X-Riskgate-Event: <kind>
//! X-Riskgate-Delivery: <delivery id>
//! X-Riskgate-Event-Id: <event id, stable across retries>
//! ```
//!
//! A 2xx answer delivers; anything else (or no answer within the timeout)
//! is retried with exponential back-off until `max_attempts`, then the
//! delivery is marked failed. Status is visible with `webhooks deliveries`.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use anyhow::Result;
use hmac::{Hmac, Mac};
use riskgate_store::{Delivery, DeliveryAttempt, Store, Webhook};
use sha2::Sha256;

/// Retry and timeout settings of delivery.
#[derive(Debug, Clone)]
pub struct DeliveryOptions {
    /// First retry after this long; doubled each attempt.
    pub backoff: Duration,
    /// Longest wait between two attempts.
    pub max_backoff: Duration,
    pub max_attempts: u32,
    pub timeout: Duration,
}

impl Default for DeliveryOptions {
    fn default() -> Self {
        DeliveryOptions {
            backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(3600),
            max_attempts: 12,
            timeout: Duration::from_secs(10),
        }
    }
}

/// `sha256=<hex>` of HMAC-SHA256(secret, body).
pub fn sign(secret: &str, body: &[u8]) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes keys of any length");
    mac.update(body);
    let out = mac.finalize().into_bytes();
    let hex: String = out.iter().map(|b| format!("{b:02x}")).collect();
    format!("sha256={hex}")
}

/// Delay before attempt `attempts + 1`, after `attempts` failures.
pub fn backoff(opts: &DeliveryOptions, attempts: u32) -> Duration {
    let factor = 1u32.checked_shl(attempts.saturating_sub(1)).unwrap_or(u32::MAX);
    opts.backoff.saturating_mul(factor).min(opts.max_backoff)
}

/// Attempts every due delivery once (up to `limit`); returns how many were tried.
pub fn deliver_due(store: &mut dyn Store, opts: &DeliveryOptions, limit: usize) -> Result<usize> {
    let now = chrono::Utc::now().timestamp();
    // Claimed for longer than one attempt can take, so no other process
    // tries the same delivery meanwhile.
    let lease = opts.timeout.as_secs() as i64 * 2 + 5;
    let due = store.claim_deliveries(now, lease, limit)?;
    if due.is_empty() {
        return Ok(0);
    }
    let hooks: std::collections::HashMap<String, Webhook> =
        store.webhooks()?.into_iter().map(|h| (h.id.clone(), h)).collect();
    // Redirects are not followed: a signed event goes only to the URL an
    // administrator registered, never where that server points it.
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .timeout_global(Some(opts.timeout))
        .http_status_as_error(false)
        .max_redirects(0)
        .build()
        .into();
    for d in &due {
        let attempt = match hooks.get(&d.hook).filter(|h| h.active) {
            Some(h) => attempt(&agent, h, d, opts),
            None => DeliveryAttempt {
                at: chrono::Utc::now().timestamp(),
                http_status: None,
                error: Some("webhook removed".into()),
                status: "failed",
                next_at: now,
            },
        };
        store.record_delivery_attempt(d.id, &attempt)?;
    }
    Ok(due.len())
}

fn attempt(agent: &ureq::Agent, h: &Webhook, d: &Delivery, opts: &DeliveryOptions) -> DeliveryAttempt {
    let r = agent
        .post(&h.url)
        .header("Content-Type", "application/json")
        .header("X-Riskgate-Signature", &sign(&h.secret, d.payload.as_bytes()))
        .header("X-Riskgate-Event", &d.kind)
        .header("X-Riskgate-Delivery", &d.id.to_string())
        .header("X-Riskgate-Event-Id", &d.event_id)
        .send(d.payload.as_bytes());
    let at = chrono::Utc::now().timestamp();
    let (http_status, error) = match r {
        Ok(resp) if resp.status().is_success() => {
            return DeliveryAttempt {
                at,
                http_status: Some(resp.status().as_u16()),
                error: None,
                status: "delivered",
                next_at: at,
            };
        }
        Ok(resp) => (Some(resp.status().as_u16()), Some(format!("HTTP {}", resp.status()))),
        Err(e) => (None, Some(e.to_string())),
    };
    let attempts = d.attempts + 1;
    if attempts >= opts.max_attempts {
        DeliveryAttempt { at, http_status, error, status: "failed", next_at: at }
    } else {
        let wait = backoff(opts, attempts);
        DeliveryAttempt { at, http_status, error, status: "pending", next_at: at + wait.as_secs().max(1) as i64 }
    }
}

/// Delivers until `stop` is set, checking for due deliveries every second.
pub fn run_dispatcher(mut store: Box<dyn Store>, opts: &DeliveryOptions, stop: &AtomicBool) -> Result<()> {
    while !stop.load(Ordering::SeqCst) {
        match deliver_due(store.as_mut(), opts, 100) {
            Ok(n) if n > 0 => continue,
            Ok(_) => {}
            Err(e) => eprintln!("webhooks: {e:#}"),
        }
        for _ in 0..10 {
            if stop.load(Ordering::SeqCst) {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_is_hmac_sha256_of_the_body() {
        // RFC 4231 test case 2.
        assert_eq!(
            sign("Jefe", b"what do ya want for nothing?"),
            "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let o = DeliveryOptions {
            backoff: Duration::from_secs(5),
            max_backoff: Duration::from_secs(60),
            ..Default::default()
        };
        let got: Vec<u64> = (1..=6).map(|a| backoff(&o, a).as_secs()).collect();
        assert_eq!(got, vec![5, 10, 20, 40, 60, 60]);
    }
}
