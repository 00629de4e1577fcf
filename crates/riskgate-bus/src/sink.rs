//! The NATS event sink: events of committed changes go out on core NATS
//! with their id as `Nats-Msg-Id` (a stream capturing them drops repeats).
//! A thread of its own holds the connection, so synchronous use cases on
//! any thread (the CLI, the HTTP server's screening thread) publish
//! without a runtime of their own; `flush` waits until what was published
//! has been handed to the server.

use std::sync::Mutex;
use std::sync::mpsc;

use riskgate_app::events::{EventSink, OutEvent};

enum Msg {
    Events(Vec<OutEvent>),
    Flush(mpsc::Sender<()>),
}

pub struct NatsSink {
    tx: Mutex<mpsc::Sender<Msg>>,
    url: String,
}

impl std::fmt::Debug for NatsSink {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsSink").field("url", &self.url).finish_non_exhaustive()
    }
}

impl NatsSink {
    /// Starts the publishing thread; the connection is made there, and a
    /// bus that cannot be reached is reported on stderr, not fatal (the
    /// changes are committed; webhooks still get them from the outbox).
    pub fn start(url: &str) -> NatsSink {
        let (tx, rx) = mpsc::channel::<Msg>();
        let u = url.to_string();
        let spawned = std::thread::Builder::new().name("nats-events".into()).spawn(move || {
            let rt = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
                Ok(rt) => rt,
                Err(e) => return eprintln!("warning: events not published to NATS: {e}"),
            };
            rt.block_on(async move {
                let client = match crate::client::connect(&u).await {
                    Ok(c) => Some(c),
                    Err(e) => {
                        eprintln!("warning: events not published to NATS at {u}: {e:#}");
                        None
                    }
                };
                while let Ok(m) = rx.recv() {
                    match (m, &client) {
                        (Msg::Events(ev), Some(c)) => {
                            if let Err(e) = crate::client::publish_events(c, &ev).await {
                                eprintln!("warning: events not published to NATS at {u}: {e:#}");
                            }
                        }
                        (Msg::Events(_), None) => {}
                        (Msg::Flush(done), c) => {
                            if let Some(c) = c {
                                let _ = c.flush().await;
                            }
                            let _ = done.send(());
                        }
                    }
                }
            });
        });
        if let Err(e) = spawned {
            eprintln!("warning: events not published to NATS: {e}");
        }
        NatsSink { tx: Mutex::new(tx), url: url.to_string() }
    }
}

impl EventSink for NatsSink {
    fn publish(&self, events: &[OutEvent]) {
        let _ = self.tx.lock().expect("sink lock").send(Msg::Events(events.to_vec()));
    }

    fn flush(&self) {
        let (done, wait) = mpsc::channel();
        if self.tx.lock().expect("sink lock").send(Msg::Flush(done)).is_ok() {
            let _ = wait.recv_timeout(std::time::Duration::from_secs(5));
        }
    }
}
