//! Webhook registrations (M5): departments register an HTTP(S) endpoint
//! per event kind; delivery (signing, retries) is `riskgate_bus::webhooks`.

use anyhow::{Context, Result};
use riskgate_store::Webhook;

use crate::app::App;
use crate::events::WEBHOOK_KINDS;

fn random_secret() -> Result<String> {
    use std::io::Read;
    let mut b = [0u8; 32];
    std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b)).context("reading /dev/urandom")?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// Registers a webhook; returns it with its secret (shown only this once).
pub fn add(app: &mut App, kind: &str, url: &str, department: &str) -> Result<Webhook> {
    anyhow::ensure!(
        WEBHOOK_KINDS.contains(&kind),
        "--kind: expected one of {}, got {kind:?} (integrity warnings go to supervisors over NATS only)",
        WEBHOOK_KINDS.join(", ")
    );
    anyhow::ensure!(
        url.starts_with("https://") || url.starts_with("http://"),
        "url: expected an http:// or https:// address, got {url:?}"
    );
    anyhow::ensure!(!department.trim().is_empty(), "--department: must not be empty");
    let now = crate::app::now();
    let secret = random_secret()?;
    let id = format!("wh-{}", &secret[..12]);
    let hook = Webhook {
        id: id.clone(),
        kind: kind.to_string(),
        url: url.to_string(),
        secret,
        department: department.to_string(),
        created_by: app.user.clone(),
        created_at: now.timestamp(),
        active: true,
    };
    let mut a = app.action("webhook_add", &id);
    // The secret never goes to the action log.
    a.after = Some(serde_json::json!({"kind": kind, "url": url, "department": department}));
    app.store.insert_webhook(&hook, &a)?;
    Ok(hook)
}

pub fn remove(app: &mut App, id: &str, reason: Option<&str>) -> Result<()> {
    let hook = app.store.webhooks()?.into_iter().find(|h| h.id == id).with_context(|| format!("no webhook {id:?}"))?;
    let mut a = app.action("webhook_remove", id);
    a.before = Some(serde_json::json!({"kind": hook.kind, "url": hook.url, "department": hook.department}));
    a.reason = reason.map(str::to_string);
    anyhow::ensure!(app.store.remove_webhook(id, &a)?, "webhook {id} is already removed");
    Ok(())
}
