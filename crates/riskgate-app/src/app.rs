//! The running system: a store and an engine brought to the store's state
//! (checkpoint + replay of later events), plus the settings that shape it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use chrono::{DateTime, FixedOffset, Utc};
use riskgate_engine::model_scorer::ModelScorer;
use riskgate_engine::{Engine, EngineConfig, RuleStatus, TargetRates};
use riskgate_rules::Lists;
use riskgate_store::{Action, Durability, Event, PgStore, SqliteStore, Store};

use crate::events::{Emitter, OutEvent};

pub struct App {
    pub store: Box<dyn Store>,
    pub engine: Engine,
    /// Who acts: recorded in every action-log entry the use cases write.
    pub user: String,
    /// The acting user's office, recorded with their action-log entries.
    pub office: Option<String>,
    /// Where the events of committed changes go.
    pub events: Emitter,
}

/// Wall-clock now at +08:00 (China Standard Time), the customs working zone.
pub fn now() -> DateTime<FixedOffset> {
    Utc::now().with_timezone(&FixedOffset::east_opt(8 * 3600).expect("valid offset"))
}

/// The dates a query may name: wide enough for any customs history and
/// plan, narrow enough that period arithmetic on them cannot overflow.
pub const FIRST_DAY: (i32, u32, u32) = (1900, 1, 1);
pub const LAST_DAY: (i32, u32, u32) = (2199, 12, 31);

/// A query's day (`YYYY-MM-DD`) between [`FIRST_DAY`] and [`LAST_DAY`];
/// the refusal names `field`.
pub fn parse_day(field: &str, s: &str) -> Result<chrono::NaiveDate> {
    let first = chrono::NaiveDate::from_ymd_opt(FIRST_DAY.0, FIRST_DAY.1, FIRST_DAY.2).expect("a date");
    let last = chrono::NaiveDate::from_ymd_opt(LAST_DAY.0, LAST_DAY.1, LAST_DAY.2).expect("a date");
    let day = chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").ok().filter(|d| (first..=last).contains(d));
    day.ok_or_else(|| invalid_query(field, format!("expected a day YYYY-MM-DD from {first} to {last}, got {s:?}")))
}

/// The refusal of a query parameter: `field: expected …`.
fn invalid_query(field: &str, expected: String) -> anyhow::Error {
    crate::AppError::new(crate::Kind::Invalid, "invalid_query", field, format!("{field}: {expected}")).into()
}

/// A query's time: a day as [`parse_day`] (its start, or its end when
/// `end`) or an RFC 3339 time within the same years, as Unix seconds.
pub fn parse_time(field: &str, s: &str, end: bool) -> Result<i64> {
    if s.len() == 10 {
        return parse_day(field, s).map(|d| day_start(d) + if end { 86_400 } else { 0 });
    }
    let lo = day_start(parse_day(field, "1900-01-01")?);
    let hi = day_start(parse_day(field, "2199-12-31")?) + 86_400;
    let t = DateTime::parse_from_rfc3339(s).ok().map(|t| t.timestamp()).filter(|t| (lo..=hi).contains(t));
    t.ok_or_else(|| {
        invalid_query(field, format!("expected YYYY-MM-DD or an RFC 3339 time from 1900 to 2199, got {s:?}"))
    })
}

/// The day (YYYY-MM-DD) in the customs working zone (+08:00) of Unix seconds `t`.
pub fn china_date(t: i64) -> String {
    DateTime::from_timestamp(t, 0)
        .map(|x| x.with_timezone(&FixedOffset::east_opt(8 * 3600).expect("valid offset")).date_naive().to_string())
        .unwrap_or_default()
}

/// Midnight starting `d` in the customs working zone (+08:00), as Unix seconds.
pub fn day_start(d: chrono::NaiveDate) -> i64 {
    d.and_hms_opt(0, 0, 0).expect("midnight").and_utc().timestamp() - 8 * 3600
}

/// Where the store lives: the embedded SQLite file under `--data DIR`, or
/// a PostgreSQL database (`--database-url postgres://…`, optionally in
/// `--database-schema NAME`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreAt {
    Sqlite(PathBuf),
    Postgres { url: String, schema: Option<String> },
}

impl StoreAt {
    /// From the global options: a `postgres://` URL selects PostgreSQL,
    /// no URL the SQLite store under `data`.
    pub fn from_options(data: &Path, url: Option<&str>, schema: Option<&str>) -> Result<StoreAt> {
        match url.map(str::trim).filter(|u| !u.is_empty()) {
            None => {
                anyhow::ensure!(
                    schema.is_none(),
                    "--database-schema: only meaningful with --database-url postgres://…"
                );
                Ok(StoreAt::Sqlite(data.to_path_buf()))
            }
            Some(u) if u.starts_with("postgres://") || u.starts_with("postgresql://") => {
                if let Some(s) = schema {
                    anyhow::ensure!(
                        !s.is_empty() && s.len() <= 63 && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                        "--database-schema: expected up to 63 letters, digits or underscores, got {s:?}"
                    );
                }
                Ok(StoreAt::Postgres { url: u.to_string(), schema: schema.map(str::to_string) })
            }
            Some(u) => anyhow::bail!(
                "--database-url: expected postgres://USER@HOST:PORT/DATABASE (or nothing for SQLite under --data), got a {}:// URL",
                u.split("://").next().unwrap_or(u)
            ),
        }
    }

    /// Opens (and migrates) the store.
    pub fn open_store(&self) -> Result<Box<dyn Store>> {
        match self {
            StoreAt::Sqlite(data) => {
                // RISKGATE_DURABILITY=power makes every batch reach the disk before
                // it is acknowledged (survives power loss; about half the speed).
                let durability = match std::env::var("RISKGATE_DURABILITY").as_deref() {
                    Ok("power") => Durability::Power,
                    Ok("process") | Err(_) => Durability::Process,
                    Ok(other) => {
                        anyhow::bail!("RISKGATE_DURABILITY: expected \"process\" or \"power\", got {other:?}")
                    }
                };
                let store = SqliteStore::open_with(data, durability)
                    .with_context(|| format!("cannot open the store in {}", data.display()))?;
                Ok(Box::new(store))
            }
            StoreAt::Postgres { url, schema } => {
                let store =
                    PgStore::open_in_schema(url, schema.as_deref()).context("cannot open the PostgreSQL store")?;
                Ok(Box::new(store))
            }
        }
    }
}

/// The engine state as the store keeps it: JSON, as stores have always held it.
pub fn encode_checkpoint(checkpoint: &riskgate_engine::Checkpoint) -> Result<Vec<u8>> {
    Ok(serde_json::to_vec(checkpoint).map_err(riskgate_store::StoreError::Decode)?)
}

/// Saves a state taken with [`App::checkpoint_snapshot`] (on any connection to the store).
pub fn save_snapshot(store: &mut dyn Store, snapshot: &(riskgate_engine::Checkpoint, i64)) -> Result<()> {
    store.save_checkpoint(&encode_checkpoint(&snapshot.0)?, Some(snapshot.1))?;
    Ok(())
}

/// The engine state from the bytes `encode_checkpoint` made.
pub fn decode_checkpoint(body: &[u8]) -> Result<riskgate_engine::Checkpoint> {
    Ok(serde_json::from_slice(body).map_err(riskgate_store::StoreError::Decode)?)
}

impl App {
    pub fn open(data: &Path, user: &str) -> Result<App> {
        App::open_at(&StoreAt::Sqlite(data.to_path_buf()), user)
    }

    pub fn open_at(at: &StoreAt, user: &str) -> Result<App> {
        let store = at.open_store()?;
        App::with_store(store, user)
    }

    /// An app on an open store, its engine brought to the store's state.
    pub fn with_store(store: Box<dyn Store>, user: &str) -> Result<App> {
        let mut app = App {
            store,
            engine: Engine::new(EngineConfig::default()),
            user: user.to_string(),
            office: None,
            events: Emitter::default(),
        };
        app.reload()?;
        Ok(app)
    }

    /// An app from a store and an engine already brought to the state the
    /// caller wants (a bus partition's engine sees only its partition).
    pub fn from_parts(store: Box<dyn Store>, engine: Engine, user: &str) -> App {
        App { store, engine, user: user.to_string(), office: None, events: Emitter::default() }
    }

    /// The same app with its events going to `events`.
    pub fn with_events(mut self, events: Emitter) -> App {
        self.events = events;
        self
    }

    /// Enqueues webhooks for and publishes events of a committed change.
    pub fn emit(&mut self, events: &[OutEvent]) -> Result<()> {
        self.events.emit(self.store.as_mut(), events)
    }

    /// Rebuilds the engine from the store: settings, registry, payments,
    /// lists, active rules, then checkpoint and replay. A checkpoint that
    /// cannot be decoded (damaged, or written by a build that could not
    /// represent its state) is not fatal: the state is rebuilt by replaying
    /// every stored event, which is what the checkpoint only abbreviates.
    pub fn reload(&mut self) -> Result<()> {
        let mut engine = configured_engine(self.store.as_ref())?;
        let after = match self.store.load_checkpoint()? {
            Some((seq, body)) => match decode_checkpoint(&body) {
                Ok(cp) => {
                    engine.restore(cp);
                    seq
                }
                Err(e) => {
                    eprintln!("warning: the engine checkpoint does not decode ({e:#}); rebuilding it by replay");
                    0
                }
            },
            None => 0,
        };
        load_external(self.store.as_ref(), &mut engine)?;
        let cfg = engine.config.selectivity.clone();
        let mut replayed = 0usize;
        let last = self.store.replay(after, &mut |ev| {
            replayed += 1;
            apply_event(&mut engine, &cfg, ev);
        })?;
        self.engine = engine;
        if replayed > 0 {
            // Covering what was replayed, not what is stored by now: another
            // process (a running `serve`) may have stored events since, and a
            // checkpoint claiming them would keep them out of every later
            // replay (tests/crash/run.sh found it).
            self.store.save_checkpoint(&encode_checkpoint(&self.engine.checkpoint())?, Some(last))?;
        }
        Ok(())
    }

    /// Saves the engine state as covering every event stored so far: call
    /// it once everything this process stored is committed.
    pub fn checkpoint(&mut self) -> Result<()> {
        self.store.save_checkpoint(&encode_checkpoint(&self.engine.checkpoint())?, None)?;
        Ok(())
    }

    /// The engine state and the last stored event it covers, to be encoded
    /// and saved elsewhere ([`save_snapshot`]) while this process goes on.
    /// Call it, like [`App::checkpoint`], once everything this process
    /// stored is committed and folded.
    pub fn checkpoint_snapshot(&self) -> Result<(riskgate_engine::Checkpoint, i64)> {
        let seq = self.store.last_seq()?;
        Ok((self.engine.checkpoint(), seq))
    }

    pub fn action(&self, action: &str, target: &str) -> Action {
        new_action(&self.user, self.office.clone(), action, target)
    }
}

/// An action-log entry by `actor` (of `office`) at this moment, with
/// nothing before, after or as a reason yet.
pub fn new_action(actor: &str, office: Option<String>, action: &str, target: &str) -> Action {
    Action {
        at: now(),
        actor: actor.to_string(),
        office,
        action: action.to_string(),
        target: target.to_string(),
        before: None,
        after: None,
        reason: None,
    }
}

/// Checks a setting before it is stored (`riskgate config set`): the keys
/// `configured_engine` reads, with their ranges.
pub fn check_setting(key: &str, value: &str) -> Result<()> {
    let number = || -> Result<f64> {
        let r: f64 = value.parse().with_context(|| format!("{key}: expected a number, got {value:?}"))?;
        anyhow::ensure!(r.is_finite(), "{key}: expected a finite number, got {value}");
        Ok(r)
    };
    match key {
        "seed" | "window" => {
            value.parse::<u64>().with_context(|| format!("{key}: expected a whole number, got {value:?}"))?;
        }
        "random_rate" => {
            let r = number()?;
            anyhow::ensure!((0.0..=1.0).contains(&r), "{key}: expected 0 to 1, got {value}");
        }
        "budget" => {
            anyhow::ensure!(
                riskgate_engine::selectivity::Budget::parse(value).is_some(),
                "{key}: expected office, district or national, got {value:?}"
            );
        }
        "exploration" => {
            anyhow::ensure!(
                riskgate_engine::selectivity::Exploration::parse(value).is_some(),
                "{key}: expected uniform or targeted, got {value:?}"
            );
        }
        "ranking.value" => {
            let r = number()?;
            anyhow::ensure!(
                (0.0..=1.0).contains(&r),
                "{key}: expected 0 (rank by the probability of a finding) to 1 (by the expected duty recovered), got {value}"
            );
        }
        "budget.floor" => {
            let r = number()?;
            anyhow::ensure!((0.0..=1.0).contains(&r), "{key}: expected 0 to 1 (a share of the target), got {value}");
        }
        "budget.ceiling" => {
            let r = number()?;
            anyhow::ensure!(
                (1.0..=25.0).contains(&r),
                "{key}: expected 1 to 25 (a multiple of the target), got {value}"
            );
        }
        "credit.advanced" | "credit.general" | "credit.ordinary" | "credit.dishonest" | "credit.unknown" => {
            let f = number()?;
            anyhow::ensure!((0.05..=5.0).contains(&f), "{key}: expected a factor from 0.05 to 5, got {value}");
        }
        "task.due_hours.yellow" | "task.due_hours.red" | "task.due_hours.urgent" => {
            let h = number()?;
            anyhow::ensure!((0.01..=720.0).contains(&h), "{key}: expected 0.01 to 720 hours, got {value}");
        }
        "case.accept_days" => {
            let d: i64 = value.parse().with_context(|| format!("{key}: expected whole days, got {value:?}"))?;
            anyhow::ensure!((1..=365).contains(&d), "{key}: expected 1 to 365 days, got {value}");
        }
        k if k.starts_with("case.due_days.") || k.starts_with("case.department.") => {
            let kind = k.trim_start_matches("case.due_days.").trim_start_matches("case.department.");
            anyhow::ensure!(
                riskgate_core::CaseKind::parse(kind).is_some(),
                "{key}: no case kind {kind:?} (anti_smuggling, post_clearance_audit, tariff, legal, \
                 processing_trade, integrity, complaint)"
            );
            if k.starts_with("case.due_days.") {
                let d: i64 = value.parse().with_context(|| format!("{key}: expected whole days, got {value:?}"))?;
                anyhow::ensure!((1..=3650).contains(&d), "{key}: expected 1 to 3650 days, got {value}");
            } else {
                anyhow::ensure!(
                    !value.trim().is_empty() && value.len() <= 64,
                    "{key}: expected a department name of 1 to 64 characters"
                );
            }
        }
        k if k.starts_with("target.") => {
            parse_target(value).with_context(|| key.to_string())?;
        }
        _ => anyhow::bail!(
            "unknown setting {key:?}: use seed, random_rate, exploration, window, budget, budget.floor, \
             budget.ceiling, ranking.value, target.default, target.OFFICE, case.accept_days, case.due_days.KIND, \
             case.department.KIND, task.due_hours.(yellow|red|urgent) or \
             credit.(advanced|general|ordinary|dishonest|unknown)"
        ),
    }
    Ok(())
}

/// The exploration share when none is configured (issue 13): 0.25% of the
/// traffic drawn at random among what the score lets go, the rest of the
/// budget to the score. Against 0.5% on four generated worlds (BENCHMARKS.md
/// "Half the random share"), the realised hit rate rose 0.6–1.9 points and
/// the model's own top-4% precision did not fall, while the standard error
/// of the undetected-fraud estimate grew 1.2–2×. Stores that screened before
/// keep 0.5% (migration 23); `config set random_rate` changes it.
pub const DEFAULT_RANDOM_RATE: f64 = 0.0025;

/// An engine with the store's settings, lists, active rules and models,
/// but no state yet (no checkpoint, no registry, no payments).
pub fn configured_engine(store: &dyn Store) -> Result<Engine> {
    let mut cfg = EngineConfig::default();
    if let Some(s) = store.setting("seed")? {
        cfg.selectivity.seed = s.parse().context("setting seed")?;
    }
    cfg.selectivity.random_rate = DEFAULT_RANDOM_RATE;
    if let Some(s) = store.setting("random_rate")? {
        cfg.selectivity.random_rate = s.parse().context("setting random_rate")?;
    }
    if let Some(s) = store.setting("window")? {
        cfg.selectivity.window = s.parse().context("setting window")?;
    }
    if let Some(s) = store.setting("target.default")? {
        cfg.selectivity.default_target = parse_target(&s).context("setting target.default")?;
    }
    // One national budget unless configured otherwise (issue 13): every
    // office filling its own 4% put controls on clean offices' declarations
    // that rank below risky offices' (bench world, BENCHMARKS.md "Keeping
    // the ranking's edge"); floors and ceilings bound each office.
    cfg.selectivity.budget = riskgate_engine::selectivity::Budget::National;
    if let Some(s) = store.setting("budget")? {
        cfg.selectivity.budget = riskgate_engine::selectivity::Budget::parse(&s)
            .with_context(|| format!("setting budget: expected office, district or national, got {s:?}"))?;
    }
    if let Some(s) = store.setting("exploration")? {
        cfg.selectivity.exploration = riskgate_engine::selectivity::Exploration::parse(&s)
            .with_context(|| format!("setting exploration: expected uniform or targeted, got {s:?}"))?;
    }
    if let Some(s) = store.setting("ranking.value")? {
        cfg.value_weight = s.parse().context("setting ranking.value")?;
    }
    if let Some(s) = store.setting("budget.floor")? {
        cfg.selectivity.floor = s.parse().context("setting budget.floor")?;
    }
    if let Some(s) = store.setting("budget.ceiling")? {
        cfg.selectivity.ceiling = s.parse().context("setting budget.ceiling")?;
    }
    // Credit-class factors on the ranking value (M12), configurable.
    for (class, factor) in [
        ("advanced", &mut cfg.credit.advanced),
        ("general", &mut cfg.credit.general),
        ("ordinary", &mut cfg.credit.ordinary),
        ("dishonest", &mut cfg.credit.dishonest),
        ("unknown", &mut cfg.credit.unknown),
    ] {
        if let Some(s) = store.setting(&format!("credit.{class}"))? {
            *factor = s.parse().with_context(|| format!("setting credit.{class}"))?;
        }
    }
    let offices = store.offices()?;
    let district: std::collections::HashMap<&str, &str> = offices
        .iter()
        .filter(|o| o.level == riskgate_core::OfficeLevel::District)
        .map(|o| (o.code.as_str(), o.code.as_str()))
        .collect();
    for o in &offices {
        if let Some(d) = o.parent.as_deref().and_then(|p| district.get(p)) {
            cfg.selectivity.district_of.insert(o.code.clone(), d.to_string());
        }
    }
    for o in offices {
        if let Some(s) = store.setting(&format!("target.{}", o.code))? {
            cfg.selectivity
                .office_targets
                .insert(o.code.clone(), parse_target(&s).with_context(|| format!("setting target.{}", o.code))?);
        }
    }
    let mut engine = Engine::new(cfg);
    let mut lists = Lists::new();
    let mut grouped: std::collections::BTreeMap<String, Vec<String>> = Default::default();
    for (name, value) in store.lists()? {
        grouped.entry(name).or_default().push(value);
    }
    for (name, values) in grouped {
        lists.set(&name, values);
    }
    engine.set_lists(lists);
    install(store, &mut engine)?;
    install_rules(store, &mut engine)?;
    Ok(engine)
}

/// Loads the active rule versions into the engine (at start and after
/// every rule change); one that no longer compiles is skipped with a warning.
pub fn install_rules(store: &dyn Store, engine: &mut Engine) -> Result<()> {
    let active: Vec<_> = store.rules()?.into_iter().filter(|r| r.status == RuleStatus::Active).map(|r| r.def).collect();
    for (id, v, e) in engine.set_rules(active) {
        eprintln!("warning: active rule {id} version {v} does not compile and is skipped: {e}");
    }
    Ok(())
}

/// The enterprise registry and payments, reloaded from their tables.
pub fn load_external(store: &dyn Store, engine: &mut Engine) -> Result<()> {
    for e in store.enterprises()? {
        engine.context.set_enterprise(&e);
    }
    for p in store.forex()? {
        engine.context.add_forex(&p);
    }
    Ok(())
}

/// Folds one stored event into the engine's state.
pub fn apply_event(engine: &mut Engine, cfg: &riskgate_engine::SelectivityConfig, ev: Event) {
    match ev {
        Event::Historical(d) => engine.apply_historical(&d),
        Event::Screened { declaration, office, ranking, controlled, mandatory } => {
            engine.selectivity.replay(cfg, &office, ranking, controlled, mandatory);
            engine.apply_historical(&declaration);
        }
        Event::Outcome { outcome, keys } => engine.apply_outcome(&keys, &outcome),
    }
}

/// "yellow,red" rates, e.g. "0.02,0.02"; a single number splits evenly.
pub fn parse_target(s: &str) -> Result<TargetRates> {
    let parts: Vec<&str> = s.split(',').map(str::trim).collect();
    let t = match parts.as_slice() {
        [total] => {
            let t: f64 = total.parse()?;
            TargetRates { yellow: t / 2.0, red: t / 2.0 }
        }
        [y, r] => TargetRates { yellow: y.parse()?, red: r.parse()? },
        _ => anyhow::bail!("expected \"TOTAL\" or \"YELLOW,RED\" rates, got {s:?}"),
    };
    anyhow::ensure!(
        (0.0..=1.0).contains(&t.yellow) && (0.0..=1.0).contains(&t.red) && t.total() <= 1.0,
        "rates must be between 0 and 1, got {s:?}"
    );
    Ok(t)
}

/// Loads the active and shadow models into the engine.
pub fn install(store: &dyn Store, engine: &mut Engine) -> Result<()> {
    for m in store.models()? {
        if m.status != "active" && m.status != "shadow" {
            continue;
        }
        let full = store.model(&m.id)?.with_context(|| format!("model {} vanished", m.id))?;
        // A stored model that no longer loads (damaged, or from a build that
        // cannot read it) is skipped like a rule that no longer compiles:
        // screening goes on with the statistical scorer rather than the
        // store refusing to open. `model::set_status` refuses to activate one.
        let scorer = match ModelScorer::from_bytes(full.id.clone(), &full.bytes) {
            Ok(s) => s,
            Err(e) => {
                eprintln!("warning: {} model {} does not load and is skipped: {e:#}", m.status, full.id);
                continue;
            }
        };
        if m.status == "active" {
            engine.set_scorer(Some(Box::new(scorer)));
        } else {
            engine.set_shadow(Some(Box::new(scorer)));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Settings are checked before they are stored: each row a key, a value
    /// and whether it is taken.
    #[test]
    fn settings_are_checked_by_key() {
        for (key, value, ok) in [
            ("credit.advanced", "0.5", true),
            ("credit.dishonest", "2", true),
            ("credit.unknown", "0", false),
            ("credit.platinum", "0.5", false),
            ("task.due_hours.red", "8", true),
            ("task.due_hours.urgent", "0", false),
            ("case.accept_days", "5", true),
            ("case.accept_days", "0", false),
            ("case.due_days.tariff", "45", true),
            ("case.due_days.nothing", "45", false),
            ("case.department.complaint", "法规", true),
            ("case.department.legal", " ", false),
            ("budget", "national", true),
            ("budget", "planet", false),
            ("random_rate", "1.5", false),
            ("ranking.value", "0.5", true),
            ("ranking.value", "1.5", false),
            ("ranking.value", "value", false),
        ] {
            assert_eq!(check_setting(key, value).is_ok(), ok, "{key} = {value:?}");
        }
    }

    /// Credit-class factors come from the settings (M12: configuration, not code).
    #[test]
    fn credit_factors_come_from_the_settings() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let a = new_action("t", None, "config_set", "credit.advanced");
        store.set_setting("credit.advanced", "0.9", &a).unwrap();
        store.set_setting("credit.unknown", "1.3", &a).unwrap();
        let e = configured_engine(&store).unwrap();
        assert_eq!((e.config.credit.advanced, e.config.credit.unknown, e.config.credit.general), (0.9, 1.3, 0.7));
    }

    /// A new store explores at `DEFAULT_RANDOM_RATE` with one national
    /// budget; a configured share and budget win.
    #[test]
    fn a_new_store_takes_the_default_random_share_and_budget() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let e = configured_engine(&store).unwrap();
        let s = &e.config.selectivity;
        assert_eq!((s.random_rate, s.budget), (0.0025, riskgate_engine::selectivity::Budget::National));
        let a = new_action("t", None, "config_set", "random_rate");
        store.set_setting("random_rate", "0.005", &a).unwrap();
        store.set_setting("budget", "office", &a).unwrap();
        let e = configured_engine(&store).unwrap();
        let s = &e.config.selectivity;
        assert_eq!((s.random_rate, s.budget), (0.005, riskgate_engine::selectivity::Budget::Office));
    }
}
