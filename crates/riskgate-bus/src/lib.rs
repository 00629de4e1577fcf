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
use riskgate_store::Store;

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
    let config = stream::Config {
        name: names.stream(),
        subjects: vec![format!("{}.in.*", names.prefix)],
        description: Some(format!("riskgate declarations; partitions={partitions}")),
        duplicate_window: Duration::from_secs(120),
        storage: stream::StorageType::File,
        ..Default::default()
    };
    let mut s = match js.get_or_create_stream(config).await {
        Ok(s) => s,
        // Two processes starting at once (workers, submit) both found no
        // stream and both created it: the second creation is refused
        // ("subjects overlap"), and the stream it wanted is there now.
        Err(first) => {
            tokio::time::sleep(Duration::from_millis(200)).await;
            js.get_stream(names.stream())
                .await
                .map_err(|_| first)
                .with_context(|| format!("cannot create or open the JetStream stream {}", names.stream()))?
        }
    };
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

/// The engine a worker process screens with, shared by all the partitions
/// it holds: the bus epoch plus every event stored since, in store order —
/// every office's declarations, whichever worker screened them, and the
/// outcomes — so that a decision sees what one process would have seen,
/// up to the batches other workers screen at the same moment (the catch-up
/// before each batch, [`Screener::catch_up`]).
struct Screener {
    app: App,
    /// The last stored event folded in.
    applied: i64,
    /// Declarations this process screened and stored whose event the
    /// catch-up has not passed yet: folded when screened, skipped when
    /// replayed.
    own: HashSet<String>,
    /// Every declaration this process screened (a repeat within a batch, or
    /// one whose commit another batch has not finished, is not screened twice).
    seen: HashSet<String>,
    hooked: events::HookedKinds,
    /// The last action-log entry read when the engine's reference data
    /// (settings, lists, rules, models, offices, enterprises, payments) was
    /// loaded, or checked since ([`Screener::reference_change`]).
    actions_seen: i64,
}

/// Action-log entries that change what an engine is configured with
/// (`configured_engine`, `load_external`): a worker that sees one rebuilds
/// its engine before its next batch. Model status changes are
/// `model_<status>` (a training, `model_train`, changes nothing in use).
const REFERENCE_ACTIONS: [&str; 9] = [
    "rule_approve",
    "rule_retire",
    "list_set",
    "setting",
    "office_move",
    "import_offices",
    "import_enterprises",
    "import_forex",
    "committee_decide",
];

fn changes_reference(action: &str) -> bool {
    REFERENCE_ACTIONS.contains(&action) || (action.starts_with("model_") && action != "model_train")
}

fn last_action(store: &dyn Store) -> Result<i64> {
    Ok(store.last_action_seq()?)
}

impl Screener {
    fn build(store: Box<dyn Store>, epoch: &(i64, Checkpoint), user: &str) -> Result<Screener> {
        // Read before the reference data, so a change made while it loads
        // is seen by the next check.
        let actions_seen = last_action(store.as_ref())?;
        let mut engine = configured_engine(store.as_ref())?;
        engine.restore(epoch.1.clone());
        load_external(store.as_ref(), &mut engine)?;
        let cfg = engine.config.selectivity.clone();
        let applied = store.replay(epoch.0, &mut |ev| apply_event(&mut engine, &cfg, ev))?;
        Ok(Screener {
            app: App::from_parts(store, engine, user),
            applied,
            own: HashSet::new(),
            seen: HashSet::new(),
            hooked: events::HookedKinds::default(),
            actions_seen,
        })
    }

    /// The latest action logged since the last check that changes the
    /// engine's reference data (a rule approved, a setting, a model
    /// activated, payments imported, ...), if any. One look-up of the last
    /// action-log entry per batch; the entries since are read only when
    /// there are some. The newest entries are read with a margin, and
    /// unless they reach back to one already checked (others may have been
    /// logged meanwhile), the answer is "changed": a rebuild reads all
    /// reference data afresh, a missed rule would stay missed.
    fn reference_change(&mut self) -> Result<Option<String>> {
        let store = self.app.store.as_ref();
        let last = last_action(store)?;
        if last <= self.actions_seen {
            return Ok(None);
        }
        let since = usize::try_from(last - self.actions_seen).unwrap_or(usize::MAX);
        if since > 10_000 {
            return Ok(Some(format!("{since} action-log entries")));
        }
        let read = store.actions(since + 64)?; // newest first
        let reached = read.len() < since + 64 || read.last().is_some_and(|a| a.seq <= self.actions_seen);
        if !reached {
            return Ok(Some("more action-log entries than read".into()));
        }
        let changed = read.iter().filter(|a| a.seq > self.actions_seen).find(|a| changes_reference(&a.action.action));
        let answer = changed.map(|a| format!("{} {} (action-log entry {})", a.action.action, a.action.target, a.seq));
        self.actions_seen = read.first().map_or(last, |a| a.seq);
        Ok(answer)
    }

    /// Folds in what was stored since the last catch-up, in store order:
    /// declarations screened by other workers (or by an earlier holder of a
    /// partition), historical imports and outcomes. Returns how many events
    /// were folded.
    fn catch_up(&mut self) -> Result<usize> {
        let App { store, engine, .. } = &mut self.app;
        let cfg = engine.config.selectivity.clone();
        let own = &mut self.own;
        let mut folded = 0;
        // Own declarations are passed over before their stored body is
        // decoded (most of a catch-up's cost when one worker does most).
        self.applied = store.replay_skipping(self.applied, &mut |id| own.remove(id), &mut |ev| {
            folded += 1;
            apply_event(engine, &cfg, ev);
        })?;
        Ok(folded)
    }
}

/// Runs `f` on the process's screener, building it first if there is none.
/// An error (or a panic) drops it: the engine may have folded declarations
/// that were not stored, so the next batch rebuilds it from the store.
fn with_screener<T>(sh: &Shared, f: impl FnOnce(&mut Screener) -> Result<T>) -> Result<T> {
    let mut guard = sh.screener.lock().unwrap_or_else(|poisoned| {
        sh.screener.clear_poison();
        let mut g = poisoned.into_inner();
        *g = None;
        g
    });
    // Reference data changed since the engine was built: build it again
    // (what was stored is replayed; nothing is lost).
    let changed = match guard.as_mut() {
        Some(s) => s.reference_change()?,
        None => None,
    };
    if let Some(why) = changed {
        eprintln!("worker {}: reference data changed ({why}); rebuilding the engine", sh.opts.id);
        *guard = None;
    }
    if guard.is_none() {
        let t = Instant::now();
        let s = Screener::build((sh.open_store)()?, &sh.epoch, &sh.opts.user)?;
        eprintln!(
            "worker {}: engine built in {:.1}s (bus epoch at event {}, stored events up to {})",
            sh.opts.id,
            t.elapsed().as_secs_f64(),
            sh.epoch.0,
            s.applied
        );
        *guard = Some(s);
    }
    let r = f(guard.as_mut().expect("built above"));
    if r.is_err() {
        *guard = None;
    }
    r
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
    /// A message is screened once every other partition has stored its
    /// messages from more than this many stream positions before it
    /// (`--order-slack`).
    pub order_slack: u64,
    /// How long a batch waits for that before it is screened anyway.
    pub order_wait: Duration,
    /// Deliver webhooks from this process too.
    pub webhooks: bool,
    pub webhook: crate::webhooks::DeliveryOptions,
}

struct Shared {
    opts: WorkerOptions,
    open_store: StoreFactory,
    client: async_nats::Client,
    stream: stream::Stream,
    epoch: Arc<(i64, Checkpoint)>,
    offices: HashSet<String>,
    /// The one engine of this process (`None` until the first partition
    /// needs it, and after an error until the next batch rebuilds it).
    screener: std::sync::Mutex<Option<Screener>>,
    /// The lease bucket, which also carries each partition's frontier.
    leases: kv::Store,
    /// Partition → its frontier: every message of the partition before this
    /// stream sequence is stored. Kept up to date from the bucket by
    /// [`watch_frontiers`] and by this process's own partitions.
    frontiers: std::sync::Mutex<HashMap<u32, (u64, Instant)>>,
    /// Woken when a frontier moves: waiting partitions look again then
    /// (they polled every millisecond before, which on a starved machine
    /// took the CPU the lease renewals needed).
    moved: tokio::sync::Notify,
    /// Worker presence keys seen (by [`watch_workers`]) and when.
    workers: std::sync::Mutex<HashMap<String, Instant>>,
    /// The partition count of the stream.
    partitions: u32,
}

struct Owned {
    revision: u64,
    /// Finish the batch in hand, then stop.
    stop: Arc<AtomicBool>,
    /// The partition's fence: what its task may still do.
    fence: Arc<Fence>,
    /// Stopping to be handed back: its lease is still renewed until its
    /// task has ended (so nobody takes it while a batch is in hand), but it
    /// no longer counts in this worker's share.
    releasing: bool,
    handle: tokio::task::JoinHandle<Result<()>>,
}

impl Owned {
    /// Ask the task to finish the batch in hand and stop; the lease is
    /// renewed (unless lost) until it has ended, then given back.
    fn release(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        self.releasing = true;
    }
}

/// Until when the holder of a partition may act on it. A lease is a
/// key in the bucket that expires `lease` after it was last written
/// (the bucket's `max_age`), and only then can another worker create it;
/// so a holder whose last renewal was *sent* at t may commit and announce
/// frontiers until t + lease/2 and still be done before anyone else can
/// hold the partition, however late the answer to the renewal or the next
/// renewal comes (a loaded machine, a slow bucket). Without this fence a
/// holder that had in fact lost the lease committed batches and announced
/// frontiers after the new holder started, and the other partitions
/// screened past declarations that were not stored yet.
struct Fence {
    origin: Instant,
    /// Milliseconds after `origin`.
    until_ms: std::sync::atomic::AtomicU64,
    /// The lease is gone (a renewal was refused): commit nothing more.
    lost: AtomicBool,
}

impl Fence {
    fn new(origin: Instant) -> Fence {
        Fence { origin, until_ms: std::sync::atomic::AtomicU64::new(0), lost: AtomicBool::new(false) }
    }
    /// A renewal (or the creation) sent at `sent` succeeded.
    fn renewed(&self, sent: Instant, lease: Duration) {
        let until = (sent.saturating_duration_since(self.origin) + lease / 2).as_millis() as u64;
        self.until_ms.fetch_max(until, Ordering::SeqCst);
    }
    /// A renewal was refused: the fence shuts for good.
    fn lose(&self) {
        self.lost.store(true, Ordering::SeqCst);
    }
    fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
    fn valid(&self) -> bool {
        !self.is_lost() && (self.origin.elapsed().as_millis() as u64) < self.until_ms.load(Ordering::SeqCst)
    }
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
        epoch: Arc::new(epoch),
        offices,
        screener: std::sync::Mutex::new(None),
        leases: leases.clone(),
        frontiers: std::sync::Mutex::new(HashMap::new()),
        moved: tokio::sync::Notify::new(),
        workers: std::sync::Mutex::new(HashMap::new()),
        partitions: n,
    });
    let watcher = tokio::spawn(watch_frontiers(shared.clone()));
    let presence = tokio::spawn(watch_workers(shared.clone()));
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
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let shutdown = shutdown_signal();
    tokio::pin!(shutdown);
    let mut stopping = false;
    let origin = Instant::now();
    let me = format!("worker.{}", opts.id);
    let start = partition_of(&opts.id, n);
    // Nothing in this loop waits for a partition task: a task that is
    // finishing its batch keeps its lease renewed here until it has ended
    // (waiting for it here once held up every other lease's renewal past
    // the lease time on a loaded machine).
    loop {
        if !stopping {
            tokio::select! {
                _ = tick.tick() => {}
                _ = &mut shutdown => {
                    eprintln!("worker {}: shutting down, finishing work in hand", opts.id);
                    stopping = true;
                    for o in owned.values_mut() {
                        o.release();
                    }
                }
            }
        } else {
            tick.tick().await;
        }
        // Renewals first, all at once: nothing else in the round may hold
        // them up.
        let renewals = owned.iter().filter(|(_, o)| !o.fence.is_lost()).map(|(p, o)| {
            let (p, revision, leases, id) = (*p, o.revision, leases.clone(), opts.id.clone());
            async move {
                let sent = Instant::now();
                (p, sent, leases.update(lease_key(p), id.into(), revision).await)
            }
        });
        for (p, sent, answer) in futures_util::future::join_all(renewals).await {
            let o = owned.get_mut(&p).expect("listed");
            match answer {
                Ok(rev) => {
                    o.revision = rev;
                    o.fence.renewed(sent, opts.lease);
                }
                Err(e) => {
                    eprintln!("worker {}: lost the lease on partition {p}: {e}", opts.id);
                    o.fence.lose();
                    o.release();
                }
            }
        }
        if !stopping {
            // A late or lost presence write is not fatal (a loaded server
            // times acknowledgements out): the others may count one worker
            // fewer for a moment, and rebalance back at the next one.
            if let Err(e) = leases.put(&me, opts.id.clone().into()).await {
                eprintln!("worker {}: cannot write its presence: {e}", opts.id);
            }
        }
        // Ended tasks (handed back, stopped, or ended on an error) give their
        // partition back; it is rebuilt from the store by whoever takes it next.
        let done: Vec<u32> = owned.iter().filter(|(_, o)| o.handle.is_finished()).map(|(p, _)| *p).collect();
        for p in done {
            let o = owned.remove(&p).expect("listed");
            match o.handle.await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => eprintln!("worker {}: partition {p} stopped: {e:#}", opts.id),
                Err(e) => eprintln!("worker {}: partition {p} panicked: {e}", opts.id),
            }
            if !o.fence.is_lost() {
                let _ = leases.delete(lease_key(p)).await;
                if o.releasing && !stopping {
                    eprintln!("worker {}: handed partition {p} back", opts.id);
                }
            }
        }
        if stopping && owned.is_empty() {
            break;
        }
        if stopping {
            continue;
        }
        let live = live_workers(&shared, &me);
        let share = (n as usize).div_ceil(live);
        let active = |owned: &HashMap<u32, Owned>| owned.values().filter(|o| !o.releasing).count();
        while active(&owned) > share {
            let p = *owned.iter().filter(|(_, o)| !o.releasing).map(|(p, _)| p).max().expect("non-empty");
            let o = owned.get_mut(&p).expect("present");
            o.release();
            eprintln!("worker {}: handing partition {p} back ({live} workers)", opts.id);
        }
        for k in 0..n {
            if active(&owned) >= share {
                break;
            }
            let p = (start + k) % n;
            if owned.contains_key(&p) {
                continue;
            }
            let sent = Instant::now();
            if let Ok(revision) = leases.create(lease_key(p), opts.id.clone().into()).await {
                let stop = Arc::new(AtomicBool::new(false));
                let fence = Arc::new(Fence::new(origin));
                fence.renewed(sent, opts.lease);
                let handle = tokio::spawn(partition_task(shared.clone(), p, stop.clone(), fence.clone()));
                eprintln!("worker {}: took partition {p}", opts.id);
                owned.insert(p, Owned { revision, stop, fence, releasing: false, handle });
            }
        }
    }
    let _ = leases.delete(&me).await;
    watcher.abort();
    presence.abort();
    // Stores are synchronous: dropped on the blocking pool, never on an async thread.
    let screener = shared.screener.lock().unwrap_or_else(|p| p.into_inner()).take();
    let _ = tokio::task::spawn_blocking(move || drop(screener)).await;
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

/// Follows the keys of the lease bucket that match `keys` (their current
/// values first, then every change) and hands each entry to `on`. A watch
/// that cannot start or ends is reported; what it kept up to date then
/// stands still (the callers say what that costs).
async fn follow(sh: Arc<Shared>, keys: &str, what: &str, on: impl Fn(&Shared, kv::Entry)) {
    let mut watch = match sh.leases.watch_with_history(keys).await {
        Ok(w) => w,
        Err(e) => {
            eprintln!("worker {}: WARNING cannot follow {what}: {e}", sh.opts.id);
            return;
        }
    };
    while let Some(entry) = watch.next().await {
        match entry {
            Ok(e) => on(&sh, e),
            Err(e) => {
                eprintln!("worker {}: WARNING the watch of {what} ended: {e}", sh.opts.id);
                return;
            }
        }
    }
}

/// Follows the workers' presence keys (each worker writes its own every
/// quarter of the lease). A watch, not a listing of the bucket's keys: a
/// listing while keys expire (a killed worker's) could wait for ever for
/// a key that was gone, and the lease loop with it. Without the watch,
/// this worker counts only itself and takes what it can.
async fn watch_workers(sh: Arc<Shared>) {
    follow(sh, "worker.*", "the other workers", |sh, e| {
        let mut w = sh.workers.lock().unwrap_or_else(|e| e.into_inner());
        if e.operation == kv::Operation::Put {
            w.insert(e.key, Instant::now());
        } else {
            w.remove(&e.key);
        }
    })
    .await
}

/// Workers whose presence was written within the lease, this one included.
fn live_workers(sh: &Shared, me: &str) -> usize {
    let w = sh.workers.lock().unwrap_or_else(|e| e.into_inner());
    let others = w.iter().filter(|(k, at)| k.as_str() != me && at.elapsed() < sh.opts.lease).count();
    others + 1
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

fn frontier_key(p: u32) -> String {
    format!("frontier.{p}")
}

/// Follows the partitions' frontiers in the lease bucket (every worker's).
/// Without it a partition cannot know how far the others are, and every
/// batch would wait `order_wait`; so a watch that cannot start or ends is
/// reported and the frontiers of this process alone are used.
async fn watch_frontiers(sh: Arc<Shared>) {
    follow(sh, "frontier.*", "the partitions' frontiers", |sh, e| {
        if e.operation != kv::Operation::Put {
            return;
        }
        let p = e.key.strip_prefix("frontier.").and_then(|p| p.parse::<u32>().ok());
        let seq = std::str::from_utf8(&e.value).ok().and_then(|v| v.parse::<u64>().ok());
        if let (Some(p), Some(seq)) = (p, seq) {
            raise_frontier(sh, p, seq);
        }
    })
    .await
}

/// Frontiers only move forward: a value read late or written by an earlier
/// holder of the partition never takes one back. Each keeps when it was
/// last announced (moved, or repeated by a holder that is waiting).
fn raise_frontier(sh: &Shared, p: u32, seq: u64) {
    let mut f = sh.frontiers.lock().unwrap_or_else(|e| e.into_inner());
    let v = f.entry(p).or_insert((0, Instant::now()));
    if seq >= v.0 {
        *v = (seq, Instant::now());
    }
    drop(f);
    sh.moved.notify_waiters();
}

/// Announces that every message of partition `p` before `seq` is stored;
/// the same value again only as a sign of life (every quarter of
/// `order_wait`), so that a waiting partition is not taken for a stopped one.
/// Only under a valid fence: a holder that may have lost the partition
/// announces nothing (its claim could run ahead of the new holder's store).
async fn publish_frontier(sh: &Shared, p: u32, seq: u64, last: &mut (u64, Instant), fence: &Fence) {
    if seq < last.0 || (seq == last.0 && last.1.elapsed() < sh.opts.order_wait / 4) || !fence.valid() {
        return;
    }
    *last = (seq, Instant::now());
    raise_frontier(sh, p, seq);
    if let Err(e) = sh.leases.put(frontier_key(p), seq.to_string().into()).await {
        eprintln!("worker {}: cannot publish the frontier of partition {p}: {e}", sh.opts.id);
    }
}

/// The lowest frontier of the other partitions (0 for one never
/// announced). With `stale`, the partitions whose frontier has not moved
/// for that long (or never announced) are left out: their worker has
/// stopped, or they have nothing to screen.
fn others_frontier(sh: &Shared, p: u32, stale: Option<Duration>) -> u64 {
    let f = sh.frontiers.lock().unwrap_or_else(|e| e.into_inner());
    (0..sh.partitions)
        .filter(|q| *q != p)
        .filter_map(|q| match (f.get(&q), stale) {
            (Some((seq, _)), None) => Some(*seq),
            (Some((seq, at)), Some(w)) => (at.elapsed() < w).then_some(*seq),
            (None, None) => Some(0),
            (None, Some(_)) => None,
        })
        .min()
        .unwrap_or(u64::MAX)
}

fn stream_seq(m: &jetstream::Message) -> u64 {
    m.info().map(|i| i.stream_sequence).unwrap_or(0)
}

async fn partition_task(sh: Arc<Shared>, p: u32, stop: Arc<AtomicBool>, fence: Arc<Fence>) -> Result<()> {
    let t = Instant::now();
    {
        let sh = sh.clone();
        tokio::task::spawn_blocking(move || with_screener(&sh, |s| s.catch_up())).await??;
    }
    eprintln!("worker {}: partition {p} ready in {:.1}s", sh.opts.id, t.elapsed().as_secs_f64());
    let consumer = reset_consumer(&sh, p).await?;
    let source = PathBuf::from(format!("nats:{}", sh.opts.names.subject(p)));
    // Fetched, not yet screened: in stream order.
    let mut buffer: std::collections::VecDeque<jetstream::Message> = std::collections::VecDeque::new();
    let mut announced = (0u64, Instant::now());
    while !stop.load(Ordering::SeqCst) {
        if buffer.is_empty() {
            // The stream's end before the fetch: when the fetch comes back
            // empty, every message of this partition before it is stored.
            let end = sh.stream.get_info().await.map(|i| i.state.last_sequence).ok();
            let mut batch = consumer
                .fetch()
                .max_messages(sh.opts.batch)
                .expires(Duration::from_millis(100))
                .messages()
                .await
                .context("fetch")?;
            while let Some(m) = batch.next().await {
                buffer.push_back(m.map_err(|e| anyhow::anyhow!("fetch: {e}"))?);
            }
            if buffer.is_empty() {
                if let Some(end) = end {
                    publish_frontier(&sh, p, end + 1, &mut announced, &fence).await;
                }
                continue;
            }
        }
        // Stream order across partitions: screen the messages no more than
        // `order_slack` positions past the slowest other partition's
        // frontier, so that the catch-up below has folded in (almost) every
        // declaration that arrived before them. After `order_wait`, the
        // partitions whose frontier has not moved for that long are left out
        // (a stopped worker's, until their lease moves); after five times
        // as long, the whole batch goes.
        let head = stream_seq(&buffer[0]);
        publish_frontier(&sh, p, head, &mut announced, &fence).await;
        let waited = Instant::now();
        let take = loop {
            // Registered before looking, so a frontier raised meanwhile wakes it.
            let moved = sh.moved.notified();
            tokio::pin!(moved);
            moved.as_mut().enable();
            publish_frontier(&sh, p, head, &mut announced, &fence).await;
            let long = waited.elapsed() >= sh.opts.order_wait;
            let horizon =
                others_frontier(&sh, p, long.then_some(sh.opts.order_wait)).saturating_add(sh.opts.order_slack);
            // Screened only under a lease renewed recently enough (see
            // `Fence`); otherwise wait for the renewal, or for the stop.
            let valid = fence.valid();
            let n = if valid { buffer.iter().take_while(|m| stream_seq(m) < horizon).count() } else { 0 };
            if n > 0 {
                if long {
                    eprintln!(
                        "worker {}: partition {p} screens {n} declarations from stream position {head} without \
                         waiting longer for partitions whose frontier stood still for {} ms",
                        sh.opts.id,
                        sh.opts.order_wait.as_millis()
                    );
                }
                break n;
            }
            if stop.load(Ordering::SeqCst) {
                // Not screened: the next holder of the partition gets them again.
                break 0;
            }
            if valid && waited.elapsed() >= sh.opts.order_wait * 5 {
                eprintln!(
                    "worker {}: partition {p} screens {} declarations from stream position {head} out of order \
                     after waiting {} ms for the other partitions",
                    sh.opts.id,
                    buffer.len(),
                    waited.elapsed().as_millis()
                );
                break buffer.len();
            }
            // A frontier moved, or a renewal may have made the fence valid again.
            let _ = tokio::time::timeout(Duration::from_millis(20), moved).await;
        };
        if take == 0 {
            break;
        }
        let msgs: Vec<jetstream::Message> = buffer.drain(..take).collect();
        let parsed: Vec<ParsedLine> =
            msgs.iter().map(|m| screening::parse_bytes(stream_seq(m) as usize, m.payload.to_vec())).collect();
        let job = {
            let sh = sh.clone();
            let fence = fence.clone();
            let source = source.clone();
            move || -> Result<Vec<OutEvent>> {
                with_screener(&sh, |s| {
                    // What the other workers, an earlier holder of this
                    // partition and the outcome imports stored since the last
                    // batch: a declaration stored by someone else is folded
                    // here and then found `known` (not screened again).
                    s.catch_up()?;
                    let mut summary = Summary::default();
                    let mut b = screening::screen_batch(
                        &mut s.app,
                        &sh.offices,
                        parsed,
                        sh.opts.clock,
                        &mut s.seen,
                        &mut summary,
                    )?;
                    for (l, slot) in b.parsed.iter().zip(&b.slots) {
                        if let Slot::Error(e, _) = slot {
                            report(&source, l.line, e);
                        }
                    }
                    anyhow::ensure!(
                        fence.valid(),
                        "the lease on partition {p} was lost or not renewed in time; batch not stored"
                    );
                    screening::commit_batch(s.app.store.as_mut(), &mut b)?;
                    let own = &mut s.own;
                    own.extend(
                        b.screened.iter().filter_map(|(i, ..)| b.parsed[*i].result.as_ref().ok()).map(|d| d.id.clone()),
                    );
                    // The same events as the CLI and the HTTP server, plus one per
                    // refused record (the bus has no one else to tell).
                    // Published by this task (not the fire-and-forget sink): the
                    // messages are acknowledged only once their events are sent.
                    let out = screening::batch_events(&sh.opts.names.prefix, &b, true)?;
                    let kinds = s.hooked.current(s.app.store.as_ref())?;
                    events::enqueue_webhooks(s.app.store.as_mut(), kinds, &out, chrono::Utc::now().timestamp())?;
                    Ok(out)
                })
            }
        };
        let out = tokio::task::spawn_blocking(job).await??;
        publish_events(&sh.client, &out).await?;
        // Acknowledged only now that the batch is committed and its events sent.
        for m in &msgs {
            m.ack().await.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
        }
        let next = buffer.front().map(stream_seq).unwrap_or_else(|| msgs.last().map_or(0, stream_seq) + 1);
        publish_frontier(&sh, p, next, &mut announced, &fence).await;
    }
    sh.client.flush().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The fence opens for half the lease from when a renewal was *sent*,
    /// never shrinks on a late answer to an older renewal, and shuts for
    /// good when the lease is lost.
    #[test]
    fn a_fence_lasts_half_the_lease_from_the_renewal_sent() {
        let lease = Duration::from_secs(2);
        let origin = Instant::now().checked_sub(Duration::from_secs(60)).expect("a minute after boot");
        let f = Fence::new(origin);
        assert!(!f.valid(), "no renewal yet");
        let now = Instant::now();
        f.renewed(now.checked_sub(Duration::from_millis(1500)).unwrap(), lease);
        assert!(!f.valid(), "sent 1.5 s ago: half a 2 s lease has passed");
        f.renewed(now, lease);
        assert!(f.valid());
        f.renewed(now.checked_sub(Duration::from_secs(5)).unwrap(), lease);
        assert!(f.valid(), "an older renewal answered late does not take the fence back");
        f.lose();
        assert!(!f.valid(), "a refused renewal shuts it");
    }

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
