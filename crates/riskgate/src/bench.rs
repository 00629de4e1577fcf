//! `riskgate bench`: throughput measured on this machine, never asserted in
//! tests. `screen` times end-to-end screening with persistence; `rules`
//! times the rule stage alone as the number of active rules grows.

use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};
use clap::Subcommand;
use riskgate_core::Declaration;
use riskgate_engine::{Engine, EngineConfig, RuleDef};
use riskgate_synth::WorldFile;

use std::collections::HashMap;

use crate::screen::ScreenOptions;
use riskgate_app::imports;
use riskgate_app::screening::Clock;
use riskgate_app::{App, StoreAt};

#[derive(Subcommand)]
pub enum BenchCmd {
    /// The KPI and breakdown views on a store of N screened declarations
    /// over a year: the aggregates' catch-up fold, then each view's read
    /// time, with the aggregates caught up and with 20,000 events unfolded.
    Analysis {
        #[arg(long, default_value_t = 1_000_000)]
        n: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Working directory (default: a temporary one, removed afterwards).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Integrity indicators of every officer, post and unit: a store with
    /// DECLARATIONS declarations and CONTROLS controls by OFFICERS officers;
    /// load and compute timed apart.
    Integrity {
        #[arg(long, default_value_t = 300)]
        officers: usize,
        #[arg(long, default_value_t = 1_000_000)]
        declarations: usize,
        #[arg(long, default_value_t = 50_000)]
        controls: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Integrity on generated worlds with planted colluders (or none,
    /// `--colluders 0`): where they rank, warnings on honest officers, and
    /// weeks from the start of collusion (`--collusion-start-day`) to watch
    /// and warning. Worlds are screened with the statistical scorer.
    Collusion {
        #[arg(long, value_delimiter = ',', default_value = "1")]
        seeds: Vec<u64>,
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        #[arg(long, default_value_t = 6)]
        colluders: usize,
        #[command(flatten)]
        collusion: crate::world::CollusionArgs,
        /// Days between the cut-offs at which the report is recomputed.
        #[arg(long, default_value_t = 7)]
        step_days: u32,
        /// Integrity thresholds and rules (TOML; fields of
        /// riskgate_integrity::Config, e.g. `cusum = true`); default: the
        /// defaults. Repeat it to compare configurations on the same worlds
        /// (`default` stands for the defaults).
        #[arg(long)]
        integrity_config: Vec<std::path::PathBuf>,
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// Fixed-rate load on `POST /api/v1/declarations` of a running server.
    Http(crate::bench_http::HttpBench),
    /// End-to-end `screen` of N live declarations into a fresh store.
    Screen {
        #[arg(long, default_value_t = 100_000)]
        n: usize,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Working directory (default: a temporary one, removed afterwards).
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Screen with a learned model trained on the history's controls.
        #[arg(long)]
        model: bool,
    },
    /// A generated world screened twice: statistical scorer vs the learned
    /// model (trained on the history's legacy controls), both with the demo
    /// rules; hit rates of the simulated controls and precision against the
    /// ground truth.
    World {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        /// Retrain the model after every so many days of live traffic
        /// (0: train once on the history only).
        #[arg(long, default_value_t = 14)]
        retrain_days: i64,
        /// The control budget: national (the default, as in service),
        /// district or office (each office its own 4%) (setting `budget`).
        #[arg(long, default_value = "national")]
        budget: String,
        /// Which scorers: statistical, model or both.
        #[arg(long, default_value = "both")]
        scorers: String,
        /// Exploration draws: uniform or targeted (setting `exploration`).
        #[arg(long, default_value = "uniform")]
        exploration: String,
        /// Further settings, as `riskgate config set` takes them
        /// (e.g. `--set ranking.value=0.5 --set credit.general=1`).
        #[arg(long = "set", value_name = "KEY=VALUE")]
        settings: Vec<String>,
        /// Training: recent outcomes weigh more (half-life in days).
        #[arg(long)]
        half_life: Option<f64>,
        /// Training: keep the model trained on the earlier window only.
        #[arg(long)]
        no_refit: bool,
        /// After the live window, with the payments made since: the top N
        /// released declarations by post-clearance selection against the
        /// base rate and the N highest risk values stored at screening;
        /// then an audit plan of N, audited, and the KPIs before and after
        /// (0: skip).
        #[arg(long, default_value_t = 200)]
        post_clearance: usize,
    },
    /// Model training time and scoring throughput: a world (scale 10 ≈ 1M
    /// declarations) with history and live traffic screened and controlled,
    /// then `model train` timed, and scoring measured on one thread.
    Model {
        #[arg(long, default_value_t = 10.0)]
        scale: f64,
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
    },
    /// The public KCS benchmark (../shared/data/kcs): train on train + valid,
    /// report precision and revenue share on the test split.
    Kcs {
        /// Folder with df_syn_{train,valid,test}_eng.csv.
        #[arg(long, default_value = "../shared/data/kcs")]
        data: std::path::PathBuf,
        #[arg(long, default_value = "bench/kcs/mapping.toml")]
        mapping: std::path::PathBuf,
        #[arg(long)]
        dir: Option<std::path::PathBuf>,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Tree depth (deep trees let the model remember parties and codes).
        #[arg(long, default_value_t = 12)]
        depth: usize,
        /// Leave the KCS codes kept in attributes out of the features.
        #[arg(long)]
        no_attributes: bool,
        /// Grow trees leaf-wise with at most this many leaves (as LightGBM).
        #[arg(long)]
        max_leaves: Option<usize>,
        /// Leave out features whose names start with any of these prefixes.
        #[arg(long, value_delimiter = ',')]
        exclude: Vec<String>,
    },
    /// Rule stage alone with 100, 1,000 and 10,000 active rules.
    Rules {
        #[arg(long, value_delimiter = ',', default_value = "100,1000,10000")]
        counts: Vec<usize>,
        #[arg(long, default_value_t = 20_000)]
        declarations: usize,
    },
}

fn peak_rss_mib() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = s.lines().find(|l| l.starts_with("VmHWM:"))?;
    let kb: f64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kb / 1024.0)
}

fn head(src: &Path, dst: &Path, n: usize) -> Result<usize> {
    use std::io::{BufRead, Write};
    let r = std::io::BufReader::new(std::fs::File::open(src)?);
    let mut w = std::io::BufWriter::new(std::fs::File::create(dst)?);
    let mut k = 0;
    for line in r.lines().take(n) {
        writeln!(w, "{}", line?)?;
        k += 1;
    }
    w.flush()?;
    Ok(k)
}

pub fn run(cmd: BenchCmd, at: &StoreAt) -> Result<()> {
    if !matches!(cmd, BenchCmd::Screen { .. } | BenchCmd::Rules { .. }) {
        anyhow::ensure!(
            matches!(at, StoreAt::Sqlite(_)),
            "--database-url: of the benchmarks only `bench screen` runs on PostgreSQL"
        );
    }
    match cmd {
        BenchCmd::Integrity { officers, declarations, controls, seed, dir } => {
            let dir =
                dir.unwrap_or_else(|| std::env::temp_dir().join(format!("riskgate-bench-{}", std::process::id())));
            let r = crate::bench::integrity_bench(officers, declarations, controls, seed, &dir);
            let _ = std::fs::remove_dir_all(&dir);
            r?;
        }
        BenchCmd::Collusion { seeds, scale, colluders, collusion, step_days, integrity_config, dir } => {
            let params = collusion.params()?;
            let mut variants = Vec::new();
            for path in &integrity_config {
                let is_default = path.as_os_str() == "default";
                let config = riskgate_app::integrity::load_config((!is_default).then_some(path.as_path()))?;
                variants.push(crate::bench_integrity::Variant { name: path.display().to_string(), config });
            }
            if variants.is_empty() {
                let config = riskgate_app::integrity::load_config(None)?;
                variants.push(crate::bench_integrity::Variant { name: "default".into(), config });
            }
            let keep = dir.is_some();
            let dir =
                dir.unwrap_or_else(|| std::env::temp_dir().join(format!("riskgate-bench-{}", std::process::id())));
            let r = crate::bench_integrity::collusion(&seeds, scale, colluders, params, step_days, &variants, &dir);
            if !keep {
                let _ = std::fs::remove_dir_all(&dir);
            }
            r?;
        }
        BenchCmd::Http(b) => crate::bench_http::run(&b)?,
        BenchCmd::Analysis { n, seed, dir } => {
            let keep = dir.is_some();
            let dir =
                dir.unwrap_or_else(|| std::env::temp_dir().join(format!("riskgate-bench-{}", std::process::id())));
            let r = crate::bench_analysis::run(n, seed, &dir);
            if !keep {
                let _ = std::fs::remove_dir_all(&dir);
            }
            r?;
        }
        BenchCmd::Screen { n, seed, dir, model } => {
            let tmp;
            let dir = match dir {
                Some(d) => d,
                None => {
                    tmp = std::env::temp_dir().join(format!("riskgate-bench-{}", std::process::id()));
                    tmp.clone()
                }
            };
            let _ = std::fs::remove_dir_all(&dir);
            // Live traffic is 40% of a world: scale so that there are n live declarations.
            let scale = (n as f64 / 40_000.0 * 1.05).max(0.05);
            let world = dir.join("world");
            crate::world::generate(seed, scale, &world)?;
            let f = |w: WorldFile| world.join(w.file_name());
            // A fresh store: SQLite in the working directory, or a new
            // PostgreSQL schema dropped at the end.
            let store_at = match at {
                StoreAt::Sqlite(_) => StoreAt::Sqlite(dir.clone()),
                StoreAt::Postgres { url, .. } => StoreAt::Postgres {
                    url: url.clone(),
                    schema: Some(format!("riskgate_bench_{}", std::process::id())),
                },
            };
            let mut app = App::open_at(&store_at, "bench")?;
            println!("store: {}", app.store.backend());
            crate::import::records(&mut app, &f(WorldFile::Offices), imports::OFFICES)?;
            crate::import::records(&mut app, &f(WorldFile::Officers), imports::OFFICERS)?;
            crate::import::records(&mut app, &f(WorldFile::Enterprises), imports::ENTERPRISES)?;
            crate::import::records(&mut app, &f(WorldFile::Forex), imports::FOREX)?;
            let t = Instant::now();
            let h = crate::import::import_historical(&mut app, &f(WorldFile::History))?;
            let hist_secs = t.elapsed().as_secs_f64();
            crate::import::records(&mut app, &f(WorldFile::HistoryOutcomes), imports::OUTCOMES)?;
            if model {
                let (id, _) =
                    riskgate_app::model::train_and_register(&mut app, &riskgate_app::model::TrainOptions::default())?;
                riskgate_app::model::set_status(&mut app, &id, "active")?;
                app.reload()?;
                println!("scorer: learned model {id}");
            } else {
                println!("scorer: statistical");
            }
            let live = dir.join("live_n.jsonl");
            let n = head(&f(WorldFile::Live), &live, n)?;
            let opts = ScreenOptions {
                out: Some(dir.join("decisions.jsonl")),
                clock: Clock::Declared,
                quiet: true,
                ..Default::default()
            };
            let t = Instant::now();
            let s = crate::screen::screen_values(&mut app, &live, None, &opts)?;
            let secs = t.elapsed().as_secs_f64();
            println!("machine: {} cores", std::thread::available_parallelism().map_or(0, |p| p.get()));
            println!(
                "historical import: {} declarations in {hist_secs:.2} s = {:.0} per second",
                h.accepted,
                h.accepted as f64 / hist_secs
            );
            println!(
                "screen end-to-end (parse, validate, screen, store, write decisions): {} declarations in {secs:.2} s = {:.0} per second",
                s.accepted,
                s.accepted as f64 / secs
            );
            println!("rejected {} duplicates {} (of {n} lines)", s.rejected, s.duplicates);
            let [k, e, c, w, p, cp] = s.stage_secs;
            println!(
                "stages: screening thread: id look-up {k:.2} s, engine {e:.2} s, waiting for the parser {p:.2} s; \
                 writer thread: store commit {c:.2} s, output {w:.2} s; final checkpoint {cp:.2} s"
            );
            if let StoreAt::Sqlite(_) = &store_at {
                let (limit, rows) = write_limit(&live, &dir.join("decisions.jsonl"), &dir.join("limit.db"))?;
                let rate = s.accepted as f64 / secs;
                println!(
                    "physical limit, same disk, same run (parse + a declaration row with the raw document and a decision row, WAL, 1,000 per transaction): {rows} in {limit:.2} s = {:.0} per second; screen end-to-end = {:.2} of it",
                    rows as f64 / limit,
                    rate / (rows as f64 / limit)
                );
            }
            if let [Some(p), Some(sc), Some(w)] = s.cpu_secs {
                println!(
                    "CPU time: parser thread {p:.2} s, screening thread {sc:.2} s ({:.1} µs per declaration), writer thread {w:.2} s",
                    sc / s.accepted.max(1) as f64 * 1e6
                );
            }
            if let Some(m) = peak_rss_mib() {
                println!("peak memory (VmHWM): {m:.0} MiB");
            }
            let _ = std::fs::remove_dir_all(dir.join("world"));
            drop(app);
            if let StoreAt::Postgres { url, schema: Some(schema) } = &store_at {
                riskgate_store::PgStore::drop_schema(url, schema)?;
            }
        }
        BenchCmd::Model { scale, seed, dir } => bench_model(seed, scale, dir)?,
        BenchCmd::Kcs { data, mapping, dir, seed, depth, no_attributes, max_leaves, exclude } => bench_kcs(
            &data,
            &mapping,
            dir,
            KcsModel { seed, depth, use_attributes: !no_attributes, max_leaves, exclude },
        )?,
        BenchCmd::World {
            seed,
            scale,
            dir,
            retrain_days,
            budget,
            scorers,
            exploration,
            settings,
            half_life,
            no_refit,
            post_clearance,
        } => {
            let mut pairs = vec![("budget".to_string(), budget), ("exploration".to_string(), exploration)];
            for s in settings {
                let (k, v) = s.split_once('=').with_context(|| format!("--set: expected KEY=VALUE, got {s:?}"))?;
                pairs.push((k.trim().to_string(), v.trim().to_string()));
            }
            for (k, v) in &pairs {
                riskgate_app::app::check_setting(k, v)?;
            }
            let defaults = riskgate_app::model::TrainOptions::default();
            let train = riskgate_app::model::TrainOptions {
                half_life_days: half_life.or(defaults.half_life_days),
                refit: !no_refit,
                ..defaults
            };
            let variants: &[&str] = match scorers.as_str() {
                "both" => &["statistical", "model"],
                "statistical" => &["statistical"],
                "model" => &["model"],
                other => anyhow::bail!("--scorers: expected statistical, model or both, got {other:?}"),
            };
            let run = WorldRun { retrain_days, settings: &pairs, train: &train, variants, post_clearance };
            bench_world(seed, scale, dir, &run)?
        }
        BenchCmd::Rules { counts, declarations } => {
            let mut sink = riskgate_synth::MemorySink::default();
            riskgate_synth::generate(
                &riskgate_synth::WorldConfig::new(3, declarations as f64 / 100_000.0 * 1.2),
                &mut sink,
            )?;
            let decls: Vec<Declaration> = sink
                .of(WorldFile::History)
                .chain(sink.of(WorldFile::Live))
                .take(declarations)
                .filter_map(|v| Declaration::from_json(v).ok())
                .collect();
            let hs: Vec<String> =
                decls.iter().flat_map(|d| d.items.iter().map(|i| i.hs_code[..6].to_string())).collect();
            let traders: Vec<String> = decls.iter().map(|d| d.trader.id.clone()).collect();
            println!(
                "machine: {} cores; {} declarations per run",
                std::thread::available_parallelism().map_or(0, |p| p.get()),
                decls.len()
            );
            for &count in &counts {
                let mut rng = riskgate_core::rng::Rng::new(count as u64);
                let mut defs = Vec::with_capacity(count);
                for i in 0..count {
                    // A realistic mix: goods-specific price rules, trader
                    // watch rules, and a few unindexed general rules.
                    // Rules name specific goods and traders: most of them
                    // names ones absent from a given declaration, as in a
                    // real rule base; 1% are unindexed general rules.
                    let hs_key =
                        if rng.chance(0.1) { rng.pick(&hs).clone() } else { format!("{:06}", rng.below(1_000_000)) };
                    let trader_key = if rng.chance(0.1) {
                        rng.pick(&traders).clone()
                    } else {
                        format!("91{:016}", rng.below(10u64.pow(16)))
                    };
                    let when = match i % 100 {
                        0 => format!("total_value_cny > {} and trader.finding_rate > 0.{}", 100_000 + i, 1 + i % 8),
                        k if k < 60 => format!(
                            "trade_mode == \"0110\" and any(item: item.hs_code starts_with \"{}\" and item.unit_value < 0.{} * item.ref.median)",
                            hs_key,
                            3 + i % 5
                        ),
                        _ => format!("trader.id == \"{}\" and declared_duty_cny > {}", trader_key, 1000 + i),
                    };
                    defs.push(RuleDef::new(&format!("B-{i:05}"), &when, 0.1));
                }
                let mut engine = Engine::new(EngineConfig::default());
                let t = Instant::now();
                let errors = engine.set_rules(defs);
                anyhow::ensure!(errors.is_empty(), "bench rules failed to compile: {:?}", errors.first());
                let compile = t.elapsed().as_secs_f64();
                // Warm the context so references exist, then time the rule stage alone.
                for d in &decls {
                    engine.apply_historical(d);
                }
                let mut hits = 0usize;
                let t = Instant::now();
                for d in &decls {
                    hits += engine.rule_hits(d).len();
                }
                let per = t.elapsed().as_secs_f64() / decls.len() as f64;
                println!(
                    "{count:>6} active rules ({} indexed): compile {:.1} ms; rule stage {:.2} µs per declaration (facts + matching); {hits} hits",
                    engine.rules().indexed_len(),
                    compile * 1e3,
                    per * 1e6
                );
            }
        }
    }
    Ok(())
}

/// Seconds to parse the live declarations and write each with its decision
/// as one declaration row and one decision row (the commit's physical
/// limit on this disk; `SqliteStore::raw_write_limit`), and how many.
fn write_limit(live: &Path, decisions: &Path, db: &Path) -> Result<(f64, usize)> {
    let read = |p: &Path| -> Result<Vec<String>> {
        Ok(std::fs::read_to_string(p)?.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect())
    };
    let (lines, decided) = (read(live)?, read(decisions)?);
    anyhow::ensure!(
        lines.len() == decided.len(),
        "bench screen: {} decisions for {} lines",
        decided.len(),
        lines.len()
    );
    let durability = match std::env::var("RISKGATE_DURABILITY").as_deref() {
        Ok("power") => riskgate_store::Durability::Power,
        _ => riskgate_store::Durability::Process,
    };
    let _ = std::fs::remove_file(db);
    let mut pairs = lines.into_iter().zip(decided);
    let mut bad = None;
    let t = Instant::now();
    let n = riskgate_store::SqliteStore::raw_write_limit(db, durability, || {
        let (line, decision) = pairs.next()?;
        match riskgate_app::screening::parse_declaration(&line) {
            Ok(d) => Some((d.id, line, decision)),
            Err(e) => {
                bad = Some(e);
                None
            }
        }
    })?;
    let secs = t.elapsed().as_secs_f64();
    for suffix in ["", "-wal", "-shm"] {
        let _ = std::fs::remove_file(format!("{}{suffix}", db.display()));
    }
    if let Some(e) = bad {
        anyhow::bail!("bench screen: a live declaration does not parse: {e}");
    }
    Ok((secs, n))
}

/// Share of the top `rate` of declarations by `score` that are truly fraudulent.
fn truth_precision(scores: &[(f64, bool)], rate: f64) -> f64 {
    let mut v: Vec<&(f64, bool)> = scores.iter().collect();
    v.sort_by(|a, b| b.0.total_cmp(&a.0));
    let k = ((rate * v.len() as f64).ceil() as usize).max(1);
    v[..k.min(v.len())].iter().filter(|x| x.1).count() as f64 / k as f64
}

/// How `bench world` operates a world.
struct WorldRun<'a> {
    /// Retrain after so many days of live traffic (0: once).
    retrain_days: i64,
    settings: &'a [(String, String)],
    train: &'a riskgate_app::model::TrainOptions,
    variants: &'a [&'a str],
    /// Top N of post-clearance selection to judge (0: skip).
    post_clearance: usize,
}

fn bench_world(seed: u64, scale: f64, dir: Option<std::path::PathBuf>, run: &WorldRun<'_>) -> Result<()> {
    let WorldRun { retrain_days, settings, train, variants, post_clearance } = *run;
    let setting = |k: &str| settings.iter().rev().find(|(key, _)| key == k).map_or("", |(_, v)| v.as_str());
    let (budget, exploration) = (setting("budget"), setting("exploration"));
    use riskgate_core::{Decision, Reason};
    let dir = dir.unwrap_or_else(|| std::env::temp_dir().join(format!("riskgate-world-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir);
    let world = dir.join("world");
    let summary = crate::world::generate(seed, scale, &world)?;
    // Declaration → (fraudulent, duty evaded).
    let truth: std::collections::HashMap<String, (bool, f64)> =
        crate::jsonl::read(&world.join(WorldFile::Truth.file_name()))?
            .into_iter()
            .filter_map(|l| l.value.ok())
            .filter_map(|v| {
                let evaded = v["evaded_duty_cny"].as_f64().unwrap_or(0.0);
                Some((v["declaration_id"].as_str()?.to_string(), (v["fraud"].as_bool()?, evaded)))
            })
            .collect();
    println!(
        "world seed {seed} scale {scale}: {} history + {} live declarations, live fraud rate {:.2}%",
        summary.history_declarations,
        summary.live_declarations,
        100.0 * summary.live_fraud as f64 / summary.live_declarations.max(1) as f64
    );
    for &variant in variants {
        let data = dir.join(variant);
        let mut app = App::open(&data, "bench")?;
        let a = app.action("setting", "seed");
        app.store.set_setting("seed", &seed.to_string(), &a)?;
        for (key, value) in settings {
            let a = app.action("setting", key);
            app.store.set_setting(key, value, &a)?;
        }
        app.reload()?;
        crate::world::load_world(&mut app, &world, false)?;
        crate::world::add_demo_rules(&mut app, &data.join("rules"))?;
        if variant == "model" {
            let t = Instant::now();
            let (id, e) = riskgate_app::model::train_and_register(&mut app, train)?;
            println!(
                "model {id}: trained in {:.1} s (whole replay) on {} controls ({} findings); AUC on the later window {:.3}",
                t.elapsed().as_secs_f64(),
                e.train_rows,
                e.train_findings,
                e.auc
            );
            riskgate_app::model::set_status(&mut app, &id, "active")?;
            app.reload()?;
        }
        // Live traffic in periods; after each, the controls are completed and
        // (model variant) the model is retrained on everything known so far.
        let live = world.join(WorldFile::Live.file_name());
        let parts = if retrain_days > 0 {
            crate::world::split_by_days(&live, retrain_days, &data.join("parts"))?
        } else {
            vec![live]
        };
        let mut sum = crate::import::Summary::default();
        let mut secs = 0.0;
        let mut decision_files = Vec::new();
        // The live window's halves, by declared time, for the drift check.
        let half = first_declared_at(&parts[parts.len() / 2])?;
        for (i, part) in parts.iter().enumerate() {
            let suffix = format!("-{i:03}");
            let (s, t) = crate::world::screen_file(&mut app, part, &world, seed, &data, &suffix, 0)?;
            sum.accepted += s.accepted;
            secs += t;
            decision_files.push(data.join(format!("decisions{suffix}.jsonl")));
            if variant == "model" && i + 1 < parts.len() {
                let (id, _) = riskgate_app::model::train_and_register(&mut app, train)?;
                riskgate_app::model::set_status(&mut app, &id, "active")?;
                app.reload()?;
            }
        }
        riskgate_app::kpi::fold(app.store.as_mut(), std::time::Duration::MAX)?;
        let counts = app.store.office_counts(None, None)?;
        let total = riskgate_app::kpi::sum(&counts).facts;
        let completed = total.completed() as u64;
        let found = total.findings() as u64;
        println!(
            "[{variant}] screened {} live declarations at {:.0}/s (screening time only); targeting rate {:.2}%; hit rate of controls {:.1}% ({found}/{completed})",
            sum.accepted,
            sum.accepted as f64 / secs,
            100.0 * total.engine_controls / total.declarations.max(1.0),
            100.0 * found as f64 / completed.max(1) as f64
        );
        for (i, name) in riskgate_store::SOURCES.iter().enumerate() {
            let (f, c) = (total.findings_by_source()[i] as u64, total.completed_by_source()[i] as u64);
            if c > 0 {
                println!("    by {name}: {:.1}% ({f}/{c})", 100.0 * f as f64 / c as f64);
            }
        }
        let hit = |c: &riskgate_store::Facts| {
            let (f, n) = (c.findings(), c.completed() as u64);
            (100.0 * f / n.max(1) as f64, n)
        };
        for (name, from, to) in [("first half", None, half), ("second half", half, None)] {
            let c = riskgate_app::kpi::sum(&app.store.office_counts(from, to)?).facts;
            let (h, n) = hit(&c);
            println!(
                "    {name}: targeting {:.2}%, hit rate {h:.1}% of {n} controls, additional duty {:.0} CNY",
                100.0 * c.engine_controls / c.declarations.max(1.0),
                c.additional_duty_cny
            );
        }
        println!("    per office (budget {budget}): targeting rate, hit rate of completed controls");
        for c in &counts {
            let f = &c.facts;
            if f.declarations > 0.0 {
                let (h, n) = hit(f);
                println!(
                    "      {}: {:.2}% of {} declarations, hit rate {h:.1}% of {n}",
                    c.office,
                    100.0 * f.engine_controls / f.declarations,
                    f.declarations
                );
            }
        }

        // Precision against the ground truth at 4% of live traffic, ranking
        // by the rules alone, the score alone, and both (the risk value).
        let mut rules = Vec::new();
        let mut score = Vec::new();
        let mut both = Vec::new();
        // Horvitz–Thompson estimate of the frauds among the declarations
        // the score and rules let go, from the exploration draws alone
        // (weighted by 1/propensity), against the true count.
        let (mut ht, mut ht_var, mut let_go_frauds, mut draws, mut draw_frauds) = (0.0, 0.0, 0u64, 0u64, 0u64);
        let mut evaded = 0.0;
        // Ground-truth precision of the controls actually chosen, by source
        // and lane: what the selection keeps of the ranking's edge, before
        // the officers' detection (which differs by lane) enters.
        let mut chosen: std::collections::BTreeMap<&str, (u64, u64)> = std::collections::BTreeMap::new();
        for l in decision_files.iter().map(|f| crate::jsonl::read(f)).collect::<Result<Vec<_>>>()?.into_iter().flatten()
        {
            let Ok(v) = l.value else { continue };
            let Ok(d) = serde_json::from_value::<Decision>(v) else { continue };
            let (fraud, duty) = truth.get(&d.declaration_id).copied().unwrap_or((false, 0.0));
            evaded += duty;
            let keep: f64 = d
                .reasons
                .iter()
                .filter_map(|r| match r {
                    Reason::Rule { weight, channel, .. } => Some(if channel.is_some() { 1.0 } else { *weight }),
                    _ => None,
                })
                .map(|w| 1.0 - w)
                .product();
            let s = d.reasons.iter().find_map(|r| match r {
                Reason::Model { score, .. } => Some(*score),
                _ => None,
            });
            if !matches!(d.source, riskgate_core::Source::Score | riskgate_core::Source::Rule) {
                let_go_frauds += u64::from(fraud);
                if d.random {
                    draws += 1;
                    draw_frauds += u64::from(fraud);
                    let p = d.selection_probability;
                    if fraud {
                        ht += 1.0 / p;
                        ht_var += (1.0 - p) / (p * p);
                    }
                }
            }
            if d.channel.is_control() {
                for key in ["all", d.source.as_str(), d.channel.as_str()] {
                    let e = chosen.entry(key).or_default();
                    e.0 += 1;
                    e.1 += u64::from(fraud);
                }
            }
            rules.push((1.0 - keep, fraud));
            score.push((s.unwrap_or(0.0), fraud));
            both.push((d.risk_value, fraud));
        }
        println!(
            "    exploration ({exploration}): {draws} draws, {draw_frauds} of them fraudulent ({:.1}%); frauds among the \
             declarations let go: estimated {ht:.0} ± {:.0} (s.e.), true {let_go_frauds}",
            100.0 * draw_frauds as f64 / draws.max(1) as f64,
            ht_var.sqrt()
        );
        let shown: Vec<String> = chosen
            .iter()
            .map(|(k, (n, f))| format!("{k} {:.1}% ({f}/{n})", 100.0 * *f as f64 / (*n).max(1) as f64))
            .collect();
        println!("    truth precision of the controls chosen: {}", shown.join(", "));
        println!(
            "    revenue found: additional duty {:.0} CNY of {evaded:.0} CNY evaded in the live window ({:.1}%)",
            total.additional_duty_cny,
            100.0 * total.additional_duty_cny / evaded.max(1.0)
        );
        println!(
            "    truth precision at 4% of live traffic: rules only {:.1}%, score only {:.1}%, both {:.1}%",
            100.0 * truth_precision(&rules, 0.04),
            100.0 * truth_precision(&score, 0.04),
            100.0 * truth_precision(&both, 0.04)
        );
        if post_clearance > 0 {
            let live_from = riskgate_app::day_start(summary_live_start(&world)?);
            bench_post_clearance(&mut app, &world, seed, live_from, post_clearance)?;
        }
    }
    if let Some(m) = peak_rss_mib() {
        println!("peak memory (VmHWM): {m:.0} MiB");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// The first day of a generated world's live traffic (its first live declaration's day).
fn summary_live_start(world: &std::path::Path) -> Result<chrono::NaiveDate> {
    let t = first_declared_at(&world.join(WorldFile::Live.file_name()))?.context("the world has no live traffic")?;
    Ok(chrono::DateTime::from_timestamp(t + 8 * 3600, 0).context("a time")?.date_naive())
}

/// Post-clearance audit selection after the live window, with every payment
/// made since (issue 12): the top `n` released declarations by selection
/// (expected duty, and probability) against the base rate among the
/// released and the `n` highest risk values stored at screening; then an
/// audit plan of `n` over the whole country (10% drawn at random),
/// concluded by the simulated audit department, and the KPIs it moves.
fn bench_post_clearance(app: &mut App, world: &std::path::Path, seed: u64, from: i64, n: usize) -> Result<()> {
    use riskgate_app::postclearance::{self, Rank};
    // Declaration → (fraudulent, duty and VAT evaded, only after release).
    let truth: std::collections::HashMap<String, (bool, f64, bool)> =
        crate::jsonl::read(&world.join(WorldFile::Truth.file_name()))?
            .into_iter()
            .filter_map(|l| l.value.ok())
            .filter_map(|v| {
                let evaded = v["evaded_duty_cny"].as_f64().unwrap_or(0.0);
                let post = v["post_release"].as_bool().unwrap_or(false);
                Some((v["declaration_id"].as_str()?.to_string(), (v["fraud"].as_bool()?, evaded, post)))
            })
            .collect();
    let to = riskgate_app::now().timestamp();
    let t = Instant::now();
    let scored = postclearance::candidates(app, from, to, None, Rank::Duty)?;
    let secs = t.elapsed().as_secs_f64();
    let rows = &scored.rows;
    let judge = |ids: &mut dyn Iterator<Item = &str>| {
        let (mut k, mut frauds, mut duty, mut post) = (0usize, 0usize, 0.0, 0usize);
        for id in ids {
            let (f, d, p) = truth.get(id).copied().unwrap_or((false, 0.0, false));
            k += 1;
            frauds += usize::from(f);
            duty += if f { d } else { 0.0 };
            post += usize::from(f && p);
        }
        (k, frauds, duty, post)
    };
    let line = |name: &str, (k, f, d, p): (usize, usize, f64, usize)| {
        println!(
            "      {name:<44} {:>6.2}% fraudulent ({f}/{k}), evaded duty in them {d:>12.0} CNY, {p} post-release only",
            100.0 * f as f64 / k.max(1) as f64
        );
    };
    println!(
        "    post-clearance selection over {} released live declarations ({} with payments above declared, {} contradicted by a later VAT invoice; scored in {secs:.1} s, model {}):",
        rows.len(),
        rows.iter().filter(|c| c.paid_ratio.is_some_and(|r| r > 1.02)).count(),
        rows.iter().filter(|c| c.invoice.is_some()).count(),
        scored.scorer.as_deref().unwrap_or("none")
    );
    line("(a) base rate, all released", judge(&mut rows.iter().map(|c| c.declaration_id.as_str())));
    let mut by_risk: Vec<&postclearance::Candidate> = rows.iter().collect();
    by_risk
        .sort_by(|a, b| b.risk_value_at_screening.unwrap_or(0.0).total_cmp(&a.risk_value_at_screening.unwrap_or(0.0)));
    line(
        &format!("(b) top {n} by risk value stored at screening"),
        judge(&mut by_risk.iter().take(n).map(|c| c.declaration_id.as_str())),
    );
    line(
        &format!("selection: top {n} by expected duty"),
        judge(&mut rows.iter().take(n).map(|c| c.declaration_id.as_str())),
    );
    let mut by_p: Vec<&postclearance::Candidate> = rows.iter().collect();
    by_p.sort_by(|a, b| b.probability.total_cmp(&a.probability));
    line(
        &format!("selection: top {n} by probability"),
        judge(&mut by_p.iter().take(n).map(|c| c.declaration_id.as_str())),
    );
    // Between the two: probability × √(duty if found).
    let mut by_mix: Vec<&postclearance::Candidate> = rows.iter().collect();
    by_mix.sort_by(|a, b| {
        (b.probability * b.duty_if_found.max(0.0).sqrt()).total_cmp(&(a.probability * a.duty_if_found.max(0.0).sqrt()))
    });
    line(
        &format!("selection: top {n} by p × √duty"),
        judge(&mut by_mix.iter().take(n).map(|c| c.declaration_id.as_str())),
    );
    // The loop: an audit plan, audited, and the KPIs of the live window.
    let kpis = |app: &App| -> Result<(Option<f64>, Option<f64>, f64)> {
        let c = riskgate_app::kpi::sum(&app.store.office_counts(Some(from), None)?).facts;
        let f = riskgate_app::kpi::figures(&c);
        let get = |k: &str| f.iter().find(|x| x.key == k).and_then(|x| x.value);
        Ok((get("smuggling_deterrence_rate"), get("revenue_collection_rate"), c.additional_duty_cny))
    };
    riskgate_app::kpi::fold(app.store.as_mut(), std::time::Duration::MAX)?;
    let before = kpis(app)?;
    let hq = app.store.offices()?.into_iter().find(|o| o.level.as_str() == "hq").context("the world has no HQ")?.code;
    let req = postclearance::PlanRequest {
        from: Some(from),
        to: Some(to),
        offices: None,
        capacity: vec![(hq, n)],
        explore: postclearance::DEFAULT_EXPLORE,
        name: Some(format!("bench-{seed}")),
        dry_run: false,
    };
    let plan = postclearance::plan(app, &riskgate_app::cases::Actor::operator(), &req)?;
    let (audits, found) = crate::world::simulate_audits(app, seed, &world.join(WorldFile::Truth.file_name()))?;
    riskgate_app::kpi::fold(app.store.as_mut(), std::time::Duration::MAX)?;
    let after = kpis(app)?;
    let pct = |x: Option<f64>| x.map_or_else(|| "—".to_string(), |x| format!("{:.2}%", 100.0 * x));
    println!(
        "    audit plan {}: {audits} audits ({} ranked, {} random), {found} found something ({:.1}%)",
        plan.name,
        plan.units.iter().map(|u| u.ranked).sum::<usize>(),
        plan.units.iter().map(|u| u.random).sum::<usize>(),
        100.0 * found as f64 / audits.max(1) as f64
    );
    println!(
        "    KPIs of the live window before → after the audits: smuggling deterrence {} → {}, revenue collection {} → {}, additional duty {:.0} → {:.0} CNY",
        pct(before.0),
        pct(after.0),
        pct(before.1),
        pct(after.1),
        before.2,
        after.2
    );
    Ok(())
}

/// The declared time (seconds) of the first declaration in a JSON Lines file.
fn first_declared_at(file: &std::path::Path) -> Result<Option<i64>> {
    let first = crate::jsonl::read(file)?.into_iter().find_map(|l| l.value.ok());
    Ok(first
        .and_then(|v| v["declared_at"].as_str().and_then(|t| chrono::DateTime::parse_from_rfc3339(t).ok()))
        .map(|t| t.timestamp()))
}

fn bench_model(seed: u64, scale: f64, dir: Option<std::path::PathBuf>) -> Result<()> {
    let dir = dir.unwrap_or_else(|| std::env::temp_dir().join(format!("riskgate-model-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir);
    let world = dir.join("world");
    let t = Instant::now();
    crate::world::generate(seed, scale, &world)?;
    let mut app = App::open(&dir.join("data"), "bench")?;
    crate::world::load_world(&mut app, &world, false)?;
    crate::world::screen_live(&mut app, &world, seed, &dir.join("data"))?;
    let declarations = app.store.declaration_count()?;
    let outcomes = app.store.outcomes_by_time()?.len();
    println!(
        "machine: {} cores; store: {declarations} declarations, {outcomes} outcomes (built in {:.0} s)",
        std::thread::available_parallelism().map_or(0, |p| p.get()),
        t.elapsed().as_secs_f64()
    );
    let opts = riskgate_app::model::TrainOptions::default();
    let t = Instant::now();
    let rows = riskgate_app::model::examples(app.store.as_ref(), opts.max_weight, &opts.attributes)?;
    let replay = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let (scorer, e) = riskgate_app::model::train(app.store.as_ref(), "bench", &opts)?;
    let total = t.elapsed().as_secs_f64();
    println!(
        "training: replay of the store to leak-free features {replay:.1} s ({} labelled rows); whole `model train` {total:.1} s \
         (of which fitting {:.1} s on {} rows, {} findings); AUC on the later window {:.3}; model {} bytes",
        rows.len(),
        e.train_seconds,
        e.train_rows,
        e.train_findings,
        e.auc,
        e.model_bytes
    );
    let m = scorer.classifier();
    let n = rows.len().min(200_000);
    let reps = (400_000 / n.max(1)).max(1);
    let t = Instant::now();
    let mut sink = 0.0;
    for _ in 0..reps {
        for r in &rows[..n] {
            sink += m.predict(&r.features);
        }
    }
    let per_s = (n * reps) as f64 / t.elapsed().as_secs_f64();
    let t = Instant::now();
    for r in &rows[..n.min(50_000)] {
        sink += m.contributions(&r.features).1;
    }
    let contrib_per_s = n.min(50_000) as f64 / t.elapsed().as_secs_f64();
    println!(
        "scoring on one thread: model only {per_s:.0} declarations/s; with per-feature contributions {contrib_per_s:.0}/s ({})",
        if sink.is_nan() { "nan" } else { "ok" }
    );
    if let Some(m) = peak_rss_mib() {
        println!("peak memory (VmHWM): {m:.0} MiB");
    }
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// One KCS row's label and its declared-duty revenue proxy.
struct KcsLabel {
    id: String,
    date: chrono::NaiveDate,
    fraud: bool,
    duty_proxy: f64,
}

fn kcs_labels(file: &Path) -> Result<Vec<KcsLabel>> {
    let mut r = csv::Reader::from_path(file)?;
    let h = r.headers()?.clone();
    let col = |name: &str| {
        h.iter().position(|x| x == name).ok_or_else(|| anyhow::anyhow!("{}: no column {name}", file.display()))
    };
    let (id, date, fraud, price, tax) =
        (col("Declaration ID")?, col("Date")?, col("Fraud")?, col("Item Price")?, col("Tax Rate")?);
    let mut out = Vec::new();
    for rec in r.records() {
        let rec = rec?;
        let num = |i: usize| rec.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
        out.push(KcsLabel {
            id: format!("KCS-{}", &rec[id]),
            date: chrono::NaiveDate::parse_from_str(&rec[date], "%Y-%m-%d")?,
            fraud: &rec[fraud] == "1",
            duty_proxy: num(price) * num(tax) / 100.0,
        });
    }
    Ok(out)
}

/// How `bench kcs` builds its model.
struct KcsModel {
    seed: u64,
    depth: usize,
    use_attributes: bool,
    max_leaves: Option<usize>,
    /// Feature-name prefixes left out.
    exclude: Vec<String>,
}

fn bench_kcs(data: &Path, mapping: &Path, dir: Option<std::path::PathBuf>, m: KcsModel) -> Result<()> {
    let KcsModel { seed, depth, use_attributes, max_leaves, exclude } = m;
    use riskgate_model::{Dataset, Model, Objective};
    let dir = dir.unwrap_or_else(|| std::env::temp_dir().join(format!("riskgate-kcs-{}", std::process::id())));
    let _ = std::fs::remove_dir_all(&dir);
    let files = ["df_syn_train_eng.csv", "df_syn_valid_eng.csv", "df_syn_test_eng.csv"].map(|f| data.join(f));
    let mut app = App::open(&dir, "bench")?;
    let opts = ScreenOptions::default();
    let t = Instant::now();
    // Train and valid: stored as history with their inspection results.
    for f in &files[..2] {
        let s = crate::import::import_csv(&mut app, mapping, f, &opts)?;
        anyhow::ensure!(s.rejected == 0, "{}: {} rows rejected", f.display(), s.rejected);
        let outcomes: Vec<riskgate_core::Outcome> = kcs_labels(f)?
            .iter()
            .map(|l| {
                // Known the day after declaration: later rows may learn from it, the row itself not.
                let done = format!("{}T09:00:00+09:00", l.date + chrono::Duration::days(1));
                let mut v = serde_json::json!({"declaration_id": l.id, "officer": "KCS", "control": "physical",
                    "completed_at": done, "result": if l.fraud { "finding" } else { "no_finding" }});
                if l.fraud {
                    v["findings"] = serde_json::json!(["other"]);
                    v["additional_duty"] = serde_json::json!(l.duty_proxy.max(0.0));
                }
                riskgate_core::Outcome::from_json(&v).map_err(|e| anyhow::anyhow!("{}: {e}", l.id))
            })
            .collect::<Result<_>>()?;
        for chunk in outcomes.chunks(5_000) {
            app.store.commit_outcomes(chunk)?;
        }
    }
    // Test: stored as history without results (they are what we predict).
    let s = crate::import::import_csv(&mut app, mapping, &files[2], &opts)?;
    anyhow::ensure!(s.rejected == 0, "test: {} rows rejected", s.rejected);
    let load = t.elapsed().as_secs_f64();
    let test: HashMap<String, KcsLabel> = kcs_labels(&files[2])?.into_iter().map(|l| (l.id.clone(), l)).collect();
    let valid_ids: std::collections::HashSet<String> = kcs_labels(&files[1])?.into_iter().map(|l| l.id).collect();

    // Features on arrival for every row (test rows see train/valid results only).
    // The KCS codes that the mapping keeps in the declarations' attributes.
    let attributes: Vec<String> = if !use_attributes {
        Vec::new()
    } else {
        ["process_type", "import_use", "payment_type", "tax_type", "origin_indicator", "courier"]
            .map(String::from)
            .to_vec()
    };
    let all_names = riskgate_engine::features::feature_names(&attributes);
    let keep: Vec<usize> =
        (0..all_names.len()).filter(|&i| !exclude.iter().any(|p| all_names[i].starts_with(p.as_str()))).collect();
    let names: Vec<String> = keep.iter().map(|&i| all_names[i].clone()).collect();
    let mut row = Vec::with_capacity(keep.len());
    let labels: HashMap<String, bool> =
        kcs_labels(&files[0])?.into_iter().chain(kcs_labels(&files[1])?).map(|l| (l.id, l.fraud)).collect();
    let (mut train, mut valid, mut all, mut test_rows) =
        (Dataset::new(names.clone()), Dataset::new(names.clone()), Dataset::new(names.clone()), Dataset::new(names));
    let (mut y_train, mut y_valid, mut y_all) = (Vec::new(), Vec::new(), Vec::new());
    let mut test_ids = Vec::new();
    let t = Instant::now();
    riskgate_app::model::replay_features(app.store.as_ref(), &attributes, &mut |rec, f| {
        let id = &rec.declaration.id;
        row.clear();
        row.extend(keep.iter().map(|&i| f[i]));
        let f = &row[..];
        if let Some(&fraud) = labels.get(id) {
            let y = f64::from(u8::from(fraud));
            if valid_ids.contains(id) {
                valid.push(f);
                y_valid.push(y);
            } else {
                train.push(f);
                y_train.push(y);
            }
            all.push(f);
            y_all.push(y);
        } else if test.contains_key(id) {
            test_rows.push(f);
            test_ids.push(id.clone());
        }
    })?;
    let features_s = t.elapsed().as_secs_f64();
    // Rounds by early stopping on valid when fitting on train, then refit on train + valid.
    let t = Instant::now();
    let mut params = riskgate_model::TrainParams {
        iterations: 2000,
        learning_rate: 0.05,
        max_depth: depth,
        max_leaves,
        early_stopping_rounds: Some(50),
        seed,
        ..Default::default()
    };
    let w = |n: usize| vec![1.0; n];
    let probe = Model::train(
        Objective::Classification,
        &train,
        &y_train,
        &w(y_train.len()),
        Some((&valid, &y_valid, &w(y_valid.len()))),
        &params,
    )?;
    params.iterations = probe.trees().max(1);
    params.early_stopping_rounds = None;
    let model = Model::train(Objective::Classification, &all, &y_all, &w(y_all.len()), None, &params)?;
    let train_s = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let scores = model.predict_batch(&test_rows);
    let score_s = t.elapsed().as_secs_f64();
    let found: Vec<f64> = test_ids.iter().map(|id| f64::from(u8::from(test[id].fraud))).collect();
    let duty: Vec<f64> = test_ids.iter().map(|id| test[id].duty_proxy.max(0.0)).collect();
    let base = found.iter().sum::<f64>() / found.len() as f64;
    let at = riskgate_model::metrics::at_k(&scores, &found, None, Some(&duty), &[0.01, 0.02, 0.04, 0.05, 0.10]);
    println!(
        "KCS: {} train+valid rows ({} frauds), {} test rows ({} frauds, base rate {:.1}%)",
        y_all.len(),
        y_all.iter().sum::<f64>(),
        found.len(),
        found.iter().sum::<f64>(),
        base * 100.0
    );
    println!(
        "load {load:.1} s; leak-free features for all rows {features_s:.1} s; training ({} rounds chosen on valid, refit on train+valid) {train_s:.1} s; scoring {score_s:.2} s",
        params.iterations
    );
    println!("  k      selected  precision  lift   recall  revenue(duty proxy)");
    print_at_k(&at, base);
    println!("  AUC {:.3}", riskgate_model::metrics::auc(&scores, &found));
    // The other end of the trade-off: rank by expected duty (p × declared duty).
    let expected: Vec<f64> = scores.iter().zip(&duty).map(|(p, d)| p * d).collect();
    let by_duty = riskgate_model::metrics::at_k(&expected, &found, None, Some(&duty), &[0.01, 0.02, 0.04, 0.05, 0.10]);
    println!("ranked by p × declared duty:");
    print_at_k(&by_duty, base);
    let _ = std::fs::remove_dir_all(&dir);
    Ok(())
}

/// `bench integrity`: a store with `declarations` declarations (stored as
/// history), `controls` completed controls by `officers` officers in 20
/// offices, 1% of them overridden, then the indicators of every officer,
/// post and unit computed from it; loading and computing are timed apart.
/// One line per share selected: precision, lift over `base`, recall and revenue.
fn print_at_k(rows: &[riskgate_model::metrics::AtK], base: f64) {
    for r in rows {
        println!(
            "  {:>3.0}%  {:>8}  {:>8.1}%  {:>4.1}×  {:>5.1}%  {:>8.1}%",
            r.k * 100.0,
            r.selected,
            r.precision * 100.0,
            r.precision / base,
            r.recall * 100.0,
            r.value_share * 100.0
        );
    }
}

pub fn integrity_bench(officers: usize, declarations: usize, controls: usize, seed: u64, dir: &Path) -> Result<()> {
    use riskgate_core::rng::Rng;
    use std::time::Instant;
    anyhow::ensure!(officers >= 20 && controls <= declarations, "need ≥ 20 officers and controls ≤ declarations");
    let _ = std::fs::remove_dir_all(dir);
    let mut app = App::open(dir, "bench")?;
    let mut r = Rng::new(seed);
    use riskgate_core::{Office, OfficeLevel};
    let mut offices =
        vec![Office::new("0000", None, OfficeLevel::Hq), Office::new("2200", Some("0000"), OfficeLevel::District)];
    let codes: Vec<String> = (0..20).map(|i| format!("22{:02}", i + 1)).collect();
    offices.extend(codes.iter().map(|c| Office::new(c, Some("2200"), OfficeLevel::Office)));
    app.store.upsert_offices(&offices)?;
    let mut staff: Vec<Vec<String>> = vec![Vec::new(); codes.len()];
    let mut regs = Vec::new();
    for k in 0..officers {
        let office = k % codes.len();
        let id = format!("E{:05}", 10_000 + k);
        let post = if (k / codes.len()).is_multiple_of(2) { "inspection" } else { "document_review" };
        let since = format!("20{:02}-03-01", 16 + r.below(10));
        regs.push(
            riskgate_core::Officer::from_json(&serde_json::json!({"id": id, "name": id, "office": codes[office],
                "post": post, "post_since": since}))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
        staff[office].push(id);
    }
    app.store.upsert_officers(&regs)?;
    let t = Instant::now();
    let mut batch = Vec::with_capacity(10_000);
    let day0 = chrono::NaiveDate::from_ymd_opt(2026, 1, 5).expect("date");
    let mut controlled = Vec::with_capacity(controls);
    let every = declarations / controls.max(1);
    for i in 0..declarations {
        let office = r.below(codes.len() as u64) as usize;
        let trader = (r.uniform().powi(3) * 30_000.0) as u64;
        let at = day0 + chrono::Duration::days((i * 250 / declarations) as i64);
        let id = format!("{}2026{:010}", codes[office], i);
        let v = serde_json::json!({"id": id, "declared_at": format!("{at}T{:02}:{:02}:00+08:00", 8 + r.below(10), r.below(60)),
            "direction": "import", "office": codes[office], "transport_mode": "sea", "trade_mode": "0110",
            "trader": {"id": format!("T{trader:06}")}, "declarant": {"id": format!("B{:04}", trader % 2000)},
            "country_of_departure": "VN", "currency": "USD",
            "items": [{"line": 1, "hs_code": "8471300000", "origin": "VN", "quantity": 10, "net_weight_kg": 5.0,
                       "value": 1000.0, "duty_rate": 0.1}]});
        batch.push(riskgate_core::Declaration::from_json(&v).map_err(|e| anyhow::anyhow!("{e}"))?);
        if every > 0 && i % every == 0 && controlled.len() < controls {
            controlled.push((id, office, at));
        }
        if batch.len() == 10_000 {
            app.store.commit_historical(&batch)?;
            batch.clear();
        }
    }
    app.store.commit_historical(&batch)?;
    let mut outcomes = Vec::with_capacity(controlled.len());
    for (id, office, at) in &controlled {
        let officer = &staff[*office][r.below(staff[*office].len() as u64) as usize];
        let kind = if r.chance(0.5) { "document" } else { "physical" };
        let finding = r.chance(0.2);
        let done = format!("{at}T{:02}:{:02}:00+08:00", 12 + r.below(6), r.below(60));
        outcomes.push(
            riskgate_core::Outcome::from_json(&serde_json::json!({"declaration_id": id, "officer": officer,
                "control": kind, "completed_at": done, "result": if finding { "finding" } else { "no_finding" },
                "findings": if finding { vec!["undervaluation"] } else { vec![] }, "additional_duty": 0.0,
                "seizure": false, "released_at": format!("{at}T19:00:00+08:00")}))
            .map_err(|e| anyhow::anyhow!("{e}"))?,
        );
    }
    for chunk in outcomes.chunks(5_000) {
        app.store.commit_outcomes(chunk)?;
    }
    for (k, (id, office, at)) in controlled.iter().enumerate().filter(|(k, _)| k % 100 == 0) {
        let mut a = app.action("override", id);
        a.actor = staff[*office][k % staff[*office].len()].clone();
        a.office = Some(codes[*office].clone());
        a.at = at.and_hms_opt(10, 0, 0).expect("time").and_utc().fixed_offset();
        a.before = Some(serde_json::json!({"channel": "red"}));
        a.after = Some(serde_json::json!({"channel": "green"}));
        a.reason = Some("bench".into());
        app.store.append_action(&a)?;
    }
    println!(
        "store built in {:.1} s: {declarations} declarations, {} controls, {officers} officers",
        t.elapsed().as_secs_f64(),
        outcomes.len()
    );
    let t = Instant::now();
    let input = riskgate_app::integrity::load_input(app.store.as_ref(), None, None, None)?;
    let load = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let report = riskgate_integrity::compute(&input, &riskgate_integrity::Config::default());
    let secs = t.elapsed().as_secs_f64();
    println!(
        "integrity: {} officers, {} posts, {} units from {} controls and {} overrides: load {load:.2} s, compute {secs:.2} s",
        report.officers.len(),
        report.posts.len(),
        report.units.len(),
        input.controls.len(),
        input.overrides.len()
    );
    // What a supervisor's page waits for: the first read computes the
    // report (and caches it), later reads find it while nothing changed,
    // a new outcome makes the next read compute it again.
    let cache = riskgate_app::integrity::ReportCache::default();
    let cfg = riskgate_integrity::Config::default();
    let t = Instant::now();
    cache.get(app.store.as_ref(), None, None, &cfg)?;
    let first = t.elapsed().as_secs_f64();
    let t = Instant::now();
    let mut bytes = 0;
    for _ in 0..20 {
        let (_, r) = cache.get(app.store.as_ref(), None, None, &cfg)?;
        bytes = serde_json::to_vec(&r.officers)?.len();
    }
    let hit = t.elapsed().as_secs_f64() / 20.0;
    let (id, _, _) = controlled.last().expect("controls");
    let more = riskgate_core::Outcome::from_json(&serde_json::json!({"declaration_id": id, "officer": staff[0][0],
        "control": "document", "completed_at": "2026-12-31T12:00:00+08:00", "result": "no_finding"}))
    .map_err(|e| anyhow::anyhow!("{e}"))?;
    app.store.commit_outcomes(&[more])?;
    let t = Instant::now();
    let refreshed = cache.refresh(app.store.as_ref())?;
    let refresh = t.elapsed().as_secs_f64();
    let t = Instant::now();
    cache.get(app.store.as_ref(), None, None, &cfg)?;
    let after = t.elapsed().as_secs_f64();
    println!(
        "supervisor's read (ReportCache): first {:.0} ms; unchanged input {:.1} ms per read incl. the officers' rows as JSON ({bytes} bytes); \
         after a new outcome: the background refresh {:.0} ms ({refreshed} report), then a read {:.1} ms",
        first * 1e3,
        hit * 1e3,
        refresh * 1e3,
        after * 1e3
    );
    Ok(())
}
