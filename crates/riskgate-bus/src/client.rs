//! The NATS connection and event publishing shared by the worker and the sink.

use std::time::Duration;

use anyhow::{Context, Result};
use riskgate_app::events::OutEvent;

/// Connects with riskgate's name and a short timeout.
pub async fn connect(url: &str) -> Result<async_nats::Client> {
    async_nats::ConnectOptions::new()
        .connection_timeout(Duration::from_secs(3))
        .name("riskgate")
        .connect(url)
        .await
        .with_context(|| format!("cannot connect to NATS at {url}"))
}

/// Publishes events on core NATS with their id as `Nats-Msg-Id`, so that a
/// stream capturing them drops repeats (events are at-least-once).
pub async fn publish_events(client: &async_nats::Client, events: &[OutEvent]) -> Result<()> {
    for e in events {
        let mut h = async_nats::HeaderMap::new();
        h.insert("Nats-Msg-Id", e.id.as_str());
        client
            .publish_with_headers(e.subject.clone(), h, e.payload.clone().into())
            .await
            .with_context(|| format!("publish {}", e.subject))?;
    }
    Ok(())
}
