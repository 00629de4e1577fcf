//! NATS JetStream as the declaration and event bus (ARCHITECTURE.md "NATS
//! bus and workers"): `submit` publishes declarations to a stream
//! partitioned by office; `worker` processes hold leases on partitions and
//! screen each partition in stream order, storing through the `Store`
//! trait and acknowledging only after the commit.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use async_nats::jetstream::{self, consumer, kv, stream};
use futures_util::StreamExt;
use riskgate_engine::Checkpoint;
use riskgate_store::{Event, Store};

use riskgate_app::app::{App, apply_event, configured_engine, load_external};
use riskgate_app::events::{self, OutEvent};
use riskgate_app::imports::check_office;
use riskgate_app::screening::{self, Clock, ParsedLine, Slot, Summary};

pub mod client;
pub mod ready;
pub mod sink;
pub mod webhooks;

pub use client::{connect, publish_events};
pub use sink::NatsSink;

fn report(file: &Path, line: usize, msg: &dyn std::fmt::Display) {
    eprintln!("{} line {line}: {msg}", file.display());
}

/// Opens a new handle on the system of record (each partition task and the
/// webhook dispatcher get their own connection).
pub type StoreFactory = Arc<dyn Fn() -> Result<Box<dyn Store>> + Send + Sync>;

/// Names of the bus objects under one prefix (`riskgate` in production;
/// tests use a fresh prefix each so that they never share a stream).
#[derive(Debug, Clone)]
pub struct Names {
    pub prefix: String,
}

impl Names {
    pub fn new(prefix: &str) -> Result<Names> {
        anyhow::ensure!(
            !prefix.is_empty() && prefix.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_'),
            "--bus-prefix: expected letters, digits, '-' or '_', got {prefix:?}"
        );
        Ok(Names { prefix: prefix.to_string() })
    }
    fn upper(&self) -> String {
        self.prefix.to_uppercase().replace('-', "_")
    }
    pub fn stream(&self) -> String {
        format!("{}_DECLARATIONS", self.upper())
    }
    pub fn subject(&self, partition: u32) -> String {
        format!("{}.in.{partition}", self.prefix)
    }
    pub fn consumer(&self, partition: u32) -> String {
        format!("{}-p{partition}", self.prefix)
    }
    pub fn leases(&self) -> String {
        format!("{}_leases", self.upper())
    }
}

/// The partition of an office: FNV-1a of its code modulo the partition
/// count (stable across processes, platforms and releases).
pub fn partition_of(office: &str, partitions: u32) -> u32 {
    let mut h: u32 = 0x811c_9dc5;
    for b in office.as_bytes() {
        h ^= u32::from(*b);
        h = h.wrapping_mul(0x0100_0193);
    }
    h % partitions.max(1)
}

/// The declarations stream, created if missing; returns it with its
/// partition count (recorded in the stream's description when created).
pub async fn ensure_stream(js: &jetstream::Context, names: &Names, partitions: u32) -> Result<(stream::Stream, u32)> {
    anyhow::ensure!((1..=256).contains(&partitions), "--partitions: expected 1 to 256, got {partitions}");
    let mut s = js
        .get_or_create_stream(stream::Config {
            name: names.stream(),
            subjects: vec![format!("{}.in.*", names.prefix)],
            description: Some(format!("riskgate declarations; partitions={partitions}")),
            duplicate_window: Duration::from_secs(120),
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .with_context(|| format!("cannot create or open the JetStream stream {}", names.stream()))?;
    let info = s.info().await.context("stream info")?;
    let n = info
        .config
        .description
        .as_deref()
        .and_then(|d| d.split("partitions=").nth(1))
        .and_then(|n| n.trim().parse::<u32>().ok())
        .with_context(|| format!("stream {} does not record its partition count", names.stream()))?;
    Ok((s, n))
}

/// What `submit` did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct SubmitSummary {
    pub published: usize,
    /// Already in the stream within its de-duplication window.
    pub duplicates: usize,
    pub rejected: usize,
}

/// Publishes the valid declarations of `file` to the stream, each with its
/// id as the JetStream message id, and waits for every acknowledgement.
/// Bad lines are reported (file, line, field) and not published.
pub fn submit(
    url: &str,
    names: &Names,
    file: &Path,
    partitions: u32,
    offices: &HashSet<String>,
) -> Result<SubmitSummary> {
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    rt.block_on(async {
        let client = connect(url).await?;
        let js = jetstream::new(client.clone());
        let (_, n) = ensure_stream(&js, names, partitions).await?;
        let f = std::fs::File::open(file).with_context(|| format!("cannot read {}", file.display()))?;
        let mut summary = SubmitSummary::default();
        let mut pending = std::collections::VecDeque::new();
        // Line by line as bytes: a line that is not UTF-8 is rejected like
        // any bad line, not the end of the file half-way.
        for next in riskgate_core::json::Lines::new(std::io::BufReader::new(f)) {
            let (line, text) =
                next.map_err(|(n, e)| anyhow::Error::new(e).context(format!("{} line {n}", file.display())))?;
            let checked = text.and_then(|text| {
                let d = screening::parse_declaration(&text)?;
                check_office(offices, &d)?;
                Ok((d, text))
            });
            let (d, text) = match checked {
                Ok(x) => x,
                Err(e) => {
                    report(file, line, &e);
                    summary.rejected += 1;
                    continue;
                }
            };
            let subject = names.subject(partition_of(&d.office, n));
            let publish = jetstream::context::Publish::build().message_id(&d.id).payload(text.into());
            let ack = js.send_publish(subject, publish).await.context("publish")?;
            pending.push_back(ack);
            if pending.len() >= 1024 {
                let ack = pending.pop_front().expect("non-empty").await.context("publish acknowledgement")?;
                count(&mut summary, ack.duplicate);
            }
        }
        while let Some(ack) = pending.pop_front() {
            count(&mut summary, ack.await.context("publish acknowledgement")?.duplicate);
        }
        Ok(summary)
    })
}

fn count(s: &mut SubmitSummary, duplicate: bool) {
    if duplicate {
        s.duplicates += 1;
    } else {
        s.published += 1;
    }
}

/// The engine state every partition starts from: the stored bus epoch, or,
/// the first time, the full state of the store (which becomes the epoch).
pub fn ensure_epoch(store: &mut dyn Store, user: &str) -> Result<(i64, Checkpoint)> {
    if let Some((seq, body)) = store.load_bus_epoch()? {
        return Ok((seq, riskgate_app::app::decode_checkpoint(&body)?));
    }
    let app = App::with_store(store.reopen()?, user)?;
    store.init_bus_epoch(&riskgate_app::app::encode_checkpoint(&app.engine.checkpoint())?, false)?;
    let (seq, body) = store.load_bus_epoch()?.context("the bus epoch was not stored")?;
    Ok((seq, riskgate_app::app::decode_checkpoint(&body)?))
}

/// `riskgate bus rebase`: a new epoch from the full state of the store, so
/// that every partition sees the outcomes and the other partitions'
/// declarations stored since the last one. Run it with the workers stopped.
pub fn rebase(app: &mut App) -> Result<i64> {
    app.store.init_bus_epoch(&riskgate_app::app::encode_checkpoint(&app.engine.checkpoint())?, true)?;
    let (seq, _) = app.store.load_bus_epoch()?.context("the bus epoch was not stored")?;
    let mut a = app.action("bus_rebase", "bus_epoch");
    a.after = Some(serde_json::json!({ "as_of_seq": seq }));
    app.store.append_action(&a)?;
    Ok(seq)
}

/// A partition's engine: the epoch plus the partition's own declarations
/// stored since, replayed in store order (the order they were screened).
fn build_partition(store: Box<dyn Store>, epoch: &(i64, Checkpoint), p: u32, n: u32, user: &str) -> Result<App> {
    let mut engine = configured_engine(store.as_ref())?;
    engine.restore(epoch.1.clone());
    load_external(store.as_ref(), &mut engine)?;
    let cfg = engine.config.selectivity.clone();
    store.replay(epoch.0, &mut |ev| {
        let mine = match &ev {
            Event::Historical(d) => partition_of(&d.office, n) == p,
            Event::Screened { office, .. } => partition_of(office, n) == p,
            // Outcomes reach partitions at the next epoch (`bus rebase`).
            Event::Outcome { .. } => false,
        };
        if mine {
            apply_event(&mut engine, &cfg, ev);
        }
    })?;
    Ok(App::from_parts(store, engine, user))
}

/// Settings of `riskgate worker`.
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    pub url: String,
    pub names: Names,
    pub id: String,
    pub user: String,
    pub batch: usize,
    pub clock: Clock,
    /// A lease not renewed for this long is free for another worker.
    pub lease: Duration,
    /// Partition count if the worker creates the stream.
    pub partitions: u32,
    /// Deliver webhooks from this process too.
    pub webhooks: bool,
    pub webhook: crate::webhooks::DeliveryOptions,
}

struct Shared {
    opts: WorkerOptions,
    open_store: StoreFactory,
    client: async_nats::Client,
    stream: stream::Stream,
    partitions: u32,
    epoch: Arc<(i64, Checkpoint)>,
    offices: HashSet<String>,
    /// Partitions built at once by this process (each build replays the
    /// events since the epoch and holds two store connections meanwhile).
    builds: tokio::sync::Semaphore,
}

struct Owned {
    revision: u64,
    /// Finish the batch in hand, then stop.
    stop: Arc<AtomicBool>,
    /// The lease is gone: commit nothing more.
    lost: Arc<AtomicBool>,
    handle: tokio::task::JoinHandle<Result<()>>,
}

/// Runs a worker until SIGTERM or ctrl-c, then finishes the batches in
/// hand, releases its leases and returns.
pub fn run_worker(opts: WorkerOptions, open_store: StoreFactory) -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build()?;
    // The factory (and the store inside it) is dropped here, outside the
    // runtime: a synchronous PostgreSQL client must not be dropped on it.
    let keep = open_store.clone();
    let r = rt.block_on(worker_main(opts, open_store));
    drop(rt);
    drop(keep);
    r
}

async fn shutdown_signal() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

async fn worker_main(opts: WorkerOptions, open_store: StoreFactory) -> Result<()> {
    let client = connect(&opts.url).await?;
    let js = jetstream::new(client.clone());
    let (stream, n) = ensure_stream(&js, &opts.names, opts.partitions).await?;
    let leases = match js.get_key_value(opts.names.leases()).await {
        Ok(kv) => kv,
        Err(_) => {
            // The bucket's stream as `create_key_value` would make it; that
            // call first asks for account details that nats-server 2.9
            // (Debian's) answers in a shape this client does not read.
            let bucket = opts.names.leases();
            js.get_or_create_stream(stream::Config {
                name: format!("KV_{bucket}"),
                description: Some("riskgate partition leases and worker presence".into()),
                subjects: vec![format!("$KV.{bucket}.>")],
                max_messages_per_subject: 1,
                max_age: opts.lease,
                storage: stream::StorageType::Memory,
                allow_rollup: true,
                deny_delete: true,
                allow_direct: true,
                discard: stream::DiscardPolicy::New,
                num_replicas: 1,
                ..Default::default()
            })
            .await
            .context("cannot create the lease bucket")?;
            js.get_key_value(bucket).await.context("cannot open the lease bucket")?
        }
    };
    let (epoch, offices, ready, broken) = {
        let open = open_store.clone();
        let user = opts.user.clone();
        let client = client.clone();
        tokio::task::spawn_blocking(move || -> Result<_> {
            let mut store = open()?;
            let ready = crate::ready::readiness(store.as_ref(), Some(&client));
            let epoch = ensure_epoch(store.as_mut(), &user)?;
            let offices: HashSet<String> = store.offices()?.into_iter().map(|o| o.code).collect();
            let broken = store.verify_actions()?;
            Ok((epoch, offices, ready, broken))
        })
        .await??
    };
    eprintln!("worker {}: readiness {}", opts.id, serde_json::to_string(&ready)?);
    eprintln!("worker {}: stream {} with {n} partitions, bus epoch at event {}", opts.id, opts.names.stream(), epoch.0);
    if let Some(seq) = broken {
        let ev = events::integrity_event(
            &opts.names.prefix,
            "action_log",
            &seq.to_string(),
            serde_json::json!({"message": "the action log hash chain is broken", "first_broken_entry": seq}),
        );
        eprintln!("worker {}: WARNING action log broken at entry {seq}; supervisors notified", opts.id);
        publish_events(&client, &[ev]).await?;
    }
    let shared = Arc::new(Shared {
        opts: opts.clone(),
        open_store: open_store.clone(),
        client: client.clone(),
        stream,
        partitions: n,
        epoch: Arc::new(epoch),
        offices,
        builds: tokio::sync::Semaphore::new(2),
    });
    let stop_all = Arc::new(AtomicBool::new(false));
    let dispatcher = if opts.webhooks {
        let open = open_store.clone();
        let stop = stop_all.clone();
        let wopts = opts.webhook.clone();
        // Its own thread: a synchronous store must not be used on the async threads.
        Some(std::thread::spawn(move || crate::webhooks::run_dispatcher(open()?, &wopts, &stop)))
    } else {
        None
    };
    let mut owned: HashMap<u32, Owned> = HashMap::new();
    let mut tick = tokio::time::interval(opts.lease / 4);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let me = format!("worker.{}", opts.id);
    let start = partition_of(&opts.id, n);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = &mut shutdown => break,
        }
        leases.put(&me, opts.id.clone().into()).await.context("worker presence")?;
        // Tasks that ended on an error give their partition back; it is
        // rebuilt from the store by whoever takes it next.
        let done: Vec<u32> = owned.iter().filter(|(_, o)| o.handle.is_finished()).map(|(p, _)| *p).collect();
        for p in done {
            let o = owned.remove(&p).expect("listed");
            match o.handle.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("worker {}: partition {p} stopped: {e:#}", opts.id),
                Err(e) => eprintln!("worker {}: partition {p} panicked: {e}", opts.id),
            }
            if !o.lost.load(Ordering::SeqCst) {
                let _ = leases.delete(lease_key(p)).await;
            }
        }
        for (p, o) in owned.iter_mut() {
            match leases.update(lease_key(*p), opts.id.clone().into(), o.revision).await {
                Ok(rev) => o.revision = rev,
                Err(e) => {
                    eprintln!("worker {}: lost the lease on partition {p}: {e}", opts.id);
                    o.lost.store(true, Ordering::SeqCst);
                    o.stop.store(true, Ordering::SeqCst);
                }
            }
        }
        let live = count_workers(&leases).await.unwrap_or(1).max(1);
        let share = (n as usize).div_ceil(live);
        while owned.len() > share {
            let p = *owned.keys().max().expect("non-empty");
            let o = owned.remove(&p).expect("present");
            o.stop.store(true, Ordering::SeqCst);
            let _ = o.handle.await;
            if !o.lost.load(Ordering::SeqCst) {
                let _ = leases.delete(lease_key(p)).await;
            }
            eprintln!("worker {}: handed partition {p} back ({live} workers)", opts.id);
        }
        for k in 0..n {
            if owned.len() >= share {
                break;
            }
            let p = (start + k) % n;
            if owned.contains_key(&p) {
                continue;
            }
            if let Ok(revision) = leases.create(lease_key(p), opts.id.clone().into()).await {
                let stop = Arc::new(AtomicBool::new(false));
                let lost = Arc::new(AtomicBool::new(false));
                let handle = tokio::spawn(partition_task(shared.clone(), p, stop.clone(), lost.clone()));
                eprintln!("worker {}: took partition {p}", opts.id);
                owned.insert(p, Owned { revision, stop, lost, handle });
            }
        }
    }
    eprintln!("worker {}: shutting down, finishing work in hand", opts.id);
    for o in owned.values() {
        o.stop.store(true, Ordering::SeqCst);
    }
    for (p, o) in owned.drain() {
        match o.handle.await {
            Ok(Ok(())) => {}
            Ok(Err(e)) => eprintln!("worker {}: partition {p} stopped: {e:#}", opts.id),
            Err(e) => eprintln!("worker {}: partition {p} panicked: {e}", opts.id),
        }
        let _ = leases.delete(lease_key(p)).await;
    }
    let _ = leases.delete(&me).await;
    stop_all.store(true, Ordering::SeqCst);
    if let Some(d) = dispatcher {
        d.join().map_err(|_| anyhow::anyhow!("webhook dispatcher panicked"))??;
    }
    client.flush().await?;
    eprintln!("worker {}: stopped", opts.id);
    Ok(())
}

fn lease_key(p: u32) -> String {
    format!("partition.{p}")
}

async fn count_workers(leases: &kv::Store) -> Result<usize> {
    let mut keys = leases.keys().await?;
    let mut n = 0;
    while let Some(k) = keys.next().await {
        if k?.starts_with("worker.") {
            n += 1;
        }
    }
    Ok(n)
}

/// The partition's durable consumer, recreated to start right after its
/// acknowledgement floor: every message not yet acknowledged is delivered
/// again, in stream order, to the new owner (idempotency makes the ones
/// already committed no-ops).
async fn reset_consumer(sh: &Shared, p: u32) -> Result<consumer::Consumer<consumer::pull::Config>> {
    let name = sh.opts.names.consumer(p);
    let start = match sh.stream.consumer_info(&name).await {
        Ok(info) => {
            let floor = info.ack_floor.stream_sequence;
            sh.stream.delete_consumer(&name).await.with_context(|| format!("delete consumer {name}"))?;
            Some(floor + 1)
        }
        Err(_) => None,
    };
    let deliver_policy = match start {
        Some(s) => consumer::DeliverPolicy::ByStartSequence { start_sequence: s },
        None => consumer::DeliverPolicy::All,
    };
    sh.stream
        .create_consumer(consumer::pull::Config {
            durable_name: Some(name.clone()),
            filter_subject: sh.opts.names.subject(p),
            deliver_policy,
            ack_policy: consumer::AckPolicy::Explicit,
            ack_wait: Duration::from_secs(120),
            max_ack_pending: (sh.opts.batch * 2) as i64,
            ..Default::default()
        })
        .await
        .with_context(|| format!("create consumer {name}"))
}

/// A partition's state back from the blocking batch job: the app, the ids
/// screened so far, the events to publish and the hooked event kinds.
type BatchDone = (App, HashSet<String>, Vec<OutEvent>, events::HookedKinds);

async fn partition_task(sh: Arc<Shared>, p: u32, stop: Arc<AtomicBool>, lost: Arc<AtomicBool>) -> Result<()> {
    let mut slot = None;
    let r = partition_loop(sh, p, stop, lost, &mut slot).await;
    // Stores are synchronous: dropped on the blocking pool, never on an async thread.
    if let Some(app) = slot.take() {
        let _ = tokio::task::spawn_blocking(move || drop(app)).await;
    }
    r
}

async fn partition_loop(
    sh: Arc<Shared>,
    p: u32,
    stop: Arc<AtomicBool>,
    lost: Arc<AtomicBool>,
    slot: &mut Option<App>,
) -> Result<()> {
    let permit = sh.builds.acquire().await.context("build gate")?;
    let t = Instant::now();
    *slot = Some({
        let sh = sh.clone();
        tokio::task::spawn_blocking(move || {
            build_partition((sh.open_store)()?, &sh.epoch, p, sh.partitions, &sh.opts.user)
        })
        .await??
    });
    drop(permit);
    eprintln!("worker {}: partition {p} ready in {:.1}s", sh.opts.id, t.elapsed().as_secs_f64());
    let consumer = reset_consumer(&sh, p).await?;
    let source = PathBuf::from(format!("nats:{}", sh.opts.names.subject(p)));
    let mut seen: HashSet<String> = HashSet::new();
    let mut hooked = events::HookedKinds::default();
    while !stop.load(Ordering::SeqCst) {
        let mut batch = consumer
            .fetch()
            .max_messages(sh.opts.batch)
            .expires(Duration::from_millis(500))
            .messages()
            .await
            .context("fetch")?;
        let mut msgs = Vec::new();
        while let Some(m) = batch.next().await {
            msgs.push(m.map_err(|e| anyhow::anyhow!("fetch: {e}"))?);
        }
        if msgs.is_empty() {
            continue;
        }
        let parsed: Vec<ParsedLine> = msgs
            .iter()
            .map(|m| {
                let seq = m.info().map(|i| i.stream_sequence as usize).unwrap_or(0);
                screening::parse_bytes(seq, m.payload.to_vec())
            })
            .collect();
        let job = {
            let sh = sh.clone();
            let lost = lost.clone();
            let source = source.clone();
            let mut app = slot.take().context("partition state")?;
            move || -> Result<BatchDone> {
                let mut seen = seen;
                let mut summary = Summary::default();
                // Declarations stored by someone else (an earlier owner whose
                // last commit may have landed after this engine was built):
                // rebuild from the store so that the engine has folded in
                // exactly what is stored, in store order.
                let ids: Vec<&str> =
                    parsed.iter().filter_map(|l| l.result.as_ref().ok().map(|d| d.id.as_str())).collect();
                if app.store.known(&ids)?.keys().any(|id| !seen.contains(id)) {
                    let store = app.store.reopen()?;
                    drop(app);
                    app = build_partition(store, &sh.epoch, p, sh.partitions, &sh.opts.user)?;
                }
                let mut b =
                    screening::screen_batch(&mut app, &sh.offices, parsed, sh.opts.clock, &mut seen, &mut summary)?;
                for (l, slot) in b.parsed.iter().zip(&b.slots) {
                    if let Slot::Error(e, _) = slot {
                        report(&source, l.line, e);
                    }
                }
                anyhow::ensure!(!lost.load(Ordering::SeqCst), "lease lost before commit; batch not stored");
                screening::commit_batch(app.store.as_mut(), &mut b)?;
                // The same events as the CLI and the HTTP server, plus one per
                // refused record (the bus has no one else to tell).
                // Published by this task (not the fire-and-forget sink): the
                // messages are acknowledged only once their events are sent.
                let out = screening::batch_events(&sh.opts.names.prefix, &b, true)?;
                let kinds = hooked.current(app.store.as_ref())?;
                events::enqueue_webhooks(app.store.as_mut(), kinds, &out, chrono::Utc::now().timestamp())?;
                Ok((app, seen, out, hooked))
            }
        };
        let (a, s, out, h) = tokio::task::spawn_blocking(job).await??;
        *slot = Some(a);
        seen = s;
        hooked = h;
        publish_events(&sh.client, &out).await?;
        // Acknowledged only now that the batch is committed and its events sent.
        for m in &msgs {
            m.ack().await.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        }
    }
    sh.client.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn partitions_are_stable_and_spread() {
        // Pinned: changing the hash would move offices between partitions
        // of an existing stream.
        for n in [1, 2, 8, 256] {
            assert!(["2201", "2202", "5301", ""].iter().all(|o| partition_of(o, n) < n));
        }
        assert_eq!(partition_of("2201", 1), 0);
        assert_eq!(partition_of("2201", 0), 0, "zero partitions behave as one");
        let got: Vec<u32> = ["2201", "2202", "2203", "5301", "4700"].iter().map(|o| partition_of(o, 8)).collect();
        expect_test::expect!["[2, 7, 4, 6, 4]"].assert_eq(&format!("{got:?}"));
        let names = Names::new("t-1").unwrap();
        assert_eq!(names.stream(), "T_1_DECLARATIONS");
        assert_eq!(names.subject(3), "t-1.in.3");
        assert!(Names::new("a.b").is_err());
    }
}
