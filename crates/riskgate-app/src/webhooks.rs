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

/// Registers a webhook for every office and chapter; returns it with its
/// secret (shown only this once).
pub fn add(app: &mut App, kind: &str, url: &str, department: &str) -> Result<Webhook> {
    add_filtered(app, kind, url, department, &[], &[])
}

/// Registers a webhook taking only the events of `offices` and `chapters`
/// (HS chapters, 2 digits; empty: all); returns it with its secret.
pub fn add_filtered(
    app: &mut App,
    kind: &str,
    url: &str,
    department: &str,
    offices: &[String],
    chapters: &[String],
) -> Result<Webhook> {
    let known: std::collections::HashSet<String> = app.store.offices()?.into_iter().map(|o| o.code).collect();
    for (i, o) in offices.iter().enumerate() {
        if !known.contains(o) {
            return Err(
                crate::AppError::invalid(&format!("offices[{i}]"), format!("offices[{i}]: no office {o:?}")).into()
            );
        }
    }
    for (i, c) in chapters.iter().enumerate() {
        if !(c.len() == 2 && c.bytes().all(|b| b.is_ascii_digit())) {
            return Err(crate::AppError::invalid(
                &format!("hs_chapters[{i}]"),
                format!("hs_chapters[{i}]: expected a 2-digit HS chapter, got {c:?}"),
            )
            .into());
        }
    }
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
        offices: offices.to_vec(),
        hs_chapters: chapters.to_vec(),
    };
    let mut a = app.action("webhook_add", &id);
    // The secret never goes to the action log.
    a.after = Some(serde_json::json!({"kind": kind, "url": url, "department": department,
                                      "offices": offices, "hs_chapters": chapters}));
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

/// A department user's own subscription: as [`add_filtered`] for the
/// user's department, to an `https://` address outside loopback and
/// private networks (the server connects to it).
pub fn subscribe(
    app: &mut App,
    department: &str,
    kind: &str,
    url: &str,
    offices: &[String],
    chapters: &[String],
) -> Result<Webhook> {
    if !WEBHOOK_KINDS.contains(&kind) {
        return Err(crate::AppError::invalid(
            "kind",
            format!("kind: expected one of {}, got {kind:?}", WEBHOOK_KINDS.join(", ")),
        )
        .into());
    }
    let host = url.strip_prefix("https://").map(|r| r.split(['/', '?', '#']).next().unwrap_or(""));
    let Some(host) = host.filter(|h| !h.is_empty()) else {
        return Err(crate::AppError::invalid("url", format!("url: expected an https:// address, got {url:?}")).into());
    };
    let name = host.rsplit_once(':').filter(|(_, p)| p.bytes().all(|b| b.is_ascii_digit())).map_or(host, |(h, _)| h);
    let name = name.trim_start_matches('[').trim_end_matches(']');
    let internal = name.eq_ignore_ascii_case("localhost")
        || name.parse::<std::net::IpAddr>().is_ok_and(|ip| match ip {
            std::net::IpAddr::V4(v) => v.is_loopback() || v.is_private() || v.is_link_local() || v.is_unspecified(),
            std::net::IpAddr::V6(v) => v.is_loopback() || v.is_unspecified() || (v.segments()[0] & 0xfe00) == 0xfc00,
        });
    if internal {
        return Err(crate::AppError::invalid("url", format!("url: {name} is a loopback or private address")).into());
    }
    add_filtered(app, kind, url, department, offices, chapters)
}

/// Removes a subscription of `department` (`None`: any, for administrators).
pub fn unsubscribe(app: &mut App, id: &str, department: Option<&str>) -> Result<()> {
    let hook = app.store.webhooks()?.into_iter().find(|h| h.id == id && h.active);
    match hook {
        Some(h) if department.is_none_or(|d| d == h.department) => remove(app, id, Some("部门退订 / unsubscribed")),
        _ => Err(crate::AppError::not_found(format!("no subscription {id:?}")).into()),
    }
}
