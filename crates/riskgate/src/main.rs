//! The `riskgate` binary: command-line front end over the store and the
//! screening engine. Only this crate knows files, flags and wire formats.

mod bench;
mod bench_analysis;
mod bench_http;
mod bench_integrity;
mod cases_cli;
mod committee_cli;
mod csv_map;
mod import;
mod jsonl;
mod login;
mod postclearance_cli;
mod progress;
mod render;
mod rules_file;
mod screen;
mod world;

use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use riskgate_core::WorkforceRecord;

use riskgate_app::events::{self, Emitter};
use riskgate_app::{App, app, explain, integrity, kpi, levels, model, rules as rules_cmd, webhooks};
use riskgate_bus as bus;
use riskgate_bus::ready;
use riskgate_server as server;

/// Screening allocates and frees many small objects across two threads;
/// glibc's allocator spent a third of the time in malloc/free there.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;
use crate::import::records;
use crate::screen::{ClockArg as Clock, ScreenOptions};
use riskgate_app::accounts::Perm;
use riskgate_app::imports::{self, workforce};

#[derive(Parser)]
#[command(
    name = "riskgate",
    version,
    about = "Customs risk management: screens every declaration, targets ~4% for control, learns from outcomes"
)]
struct Cli {
    /// Directory of the embedded store.
    #[arg(long, global = true, default_value = "riskgate-data", env = "RISKGATE_DATA")]
    data: PathBuf,
    /// PostgreSQL instead of the embedded store: postgres://USER@HOST:PORT/DATABASE.
    #[arg(long, global = true, env = "RISKGATE_DATABASE_URL")]
    database_url: Option<String>,
    /// PostgreSQL schema to use (created if absent); default: the connection's search_path.
    #[arg(long, global = true, env = "RISKGATE_DATABASE_SCHEMA")]
    database_schema: Option<String>,
    /// Who is acting: the account to log in as (with RISKGATE_LOGIN_PASSWORD
    /// or --login); without credentials, the name the local operator is
    /// logged under (`local:NAME`).
    #[arg(long, global = true, env = "RISKGATE_USER")]
    user: Option<String>,
    /// Ask for the --user's password on the terminal.
    #[arg(long, global = true)]
    login: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Table,
    Json,
}

impl Format {
    /// Rows as pretty JSON, or one line each.
    fn print_rows<T: serde::Serialize>(self, rows: &[T], line: impl Fn(&T) -> String) -> Result<()> {
        match self {
            Format::Json => println!("{}", serde_json::to_string_pretty(rows)?),
            Format::Table => rows.iter().for_each(|r| println!("{}", line(r))),
        }
        Ok(())
    }
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum ReportFormat {
    Xlsx,
    Html,
    Csv,
}

#[derive(Subcommand)]
enum Command {
    /// Import records (JSON Lines, DATA.md formats) or a CSV through a mapping.
    Import {
        #[command(subcommand)]
        kind: ImportKind,
    },
    /// Validate, store and screen declarations; write one decision per input line.
    Screen {
        file: PathBuf,
        #[arg(long)]
        out: Option<PathBuf>,
        /// Stamp decisions with the wall clock or the declaration's own time.
        #[arg(long, value_enum, default_value = "wall")]
        clock: Clock,
    },
    /// Key performance indicators (M9) rolled up office → district → HQ.
    Kpi {
        #[arg(long)]
        office: Option<String>,
        #[command(flatten)]
        period: Period,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// A unit's enforcement figures broken down by the units below it or by
    /// a dimension (officer, trader, hs2/hs4/hs6 goods, origin, transport,
    /// trade_mode, direction, finding, rule, source); the same answer as
    /// `GET /api/v1/analysis`.
    Analysis {
        /// The unit (office code; default: the top of the tree).
        #[arg(long)]
        office: Option<String>,
        #[arg(long, default_value = "unit")]
        dim: String,
        /// A key, or a prefix ending in `*` (`--dim hs4 --key '85*'`).
        #[arg(long)]
        key: Option<String>,
        #[command(flatten)]
        period: Period,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// The figures of `--key` month by month instead (a rule over time:
        /// `--dim rule --key R-1`; the model: `--dim source --key score`);
        /// the same answer as `GET /api/v1/analysis/trend`.
        #[arg(long)]
        trend: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Money flow (M6): per trader, the import value declared in the period
    /// against its payments abroad and VAT invoices of the same period
    /// (payments that came after release included), traders paid or
    /// invoiced well above declared marked. The same answer as
    /// `GET /api/v1/moneyflow`; reconcile a quarter or longer (default: the
    /// 92 days up to now; at most 367 days).
    MoneyFlow {
        #[command(flatten)]
        period: Period,
        /// Only traders that declared in this unit's subtree.
        #[arg(long)]
        office: Option<String>,
        #[arg(long)]
        trader: Option<String>,
        /// Only the traders marked as paid or invoiced above declared.
        #[arg(long)]
        flagged: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// The KPI report of a unit for a period as a file: every KPI with its
    /// formula, figures, target and verdict, the monthly trend, the units
    /// below, rule and model performance.
    Report {
        /// 2026-Q1 (a quarter), 2026-03 (a month), 2026 (a year) or
        /// 2026-01-01..2026-03-31 (days, the last included); China time.
        #[arg(long)]
        period: String,
        /// An office code (default: HQ).
        #[arg(long)]
        office: Option<String>,
        /// xlsx, html (printable, A4; print it to PDF from a browser) or csv.
        #[arg(long, value_enum)]
        format: ReportFormat,
        #[arg(long)]
        out: PathBuf,
    },
    /// Risk rules (profiles): add, list, show, test, backtest, approve, retire.
    Rules {
        #[command(subcommand)]
        cmd: RulesCmd,
    },
    /// Learned models: train, list, show, activate, shadow, retire.
    Model {
        #[command(subcommand)]
        cmd: ModelCmd,
    },
    /// Risk levels of enterprises and goods (M3), with their history.
    Levels {
        #[command(subcommand)]
        cmd: LevelsCmd,
    },
    /// Named watch-lists used by rules (`x in list("NAME")`).
    Lists {
        #[command(subcommand)]
        cmd: ListsCmd,
    },
    /// Settings: seed, random_rate, window, budget (office | district |
    /// national), budget.floor, budget.ceiling, target.default, target.OFFICE.
    /// While a risk committee covers them, budget, target and exploration
    /// settings become a committee item (`riskgate committee`).
    Config {
        #[command(subcommand)]
        cmd: ConfigCmd,
    },
    /// Show a stored declaration's decision with its explanation.
    Decision {
        id: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Open control tasks of an office, highest risk first; `tasks override` changes a lane.
    Tasks {
        #[command(subcommand)]
        cmd: Option<TasksCmd>,
        #[arg(long)]
        office: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Tasks of the same order to skip first (paging).
        #[arg(long, default_value_t = 0)]
        offset: usize,
    },
    /// Workforce and integrity risk (M7): officers, posts and units ranked by
    /// score against peers. Every read is written to the action log.
    Integrity {
        #[command(subcommand)]
        cmd: IntegrityCmd,
        #[command(flatten)]
        period: Period,
        /// Thresholds and rules (TOML; fields of riskgate_integrity::Config).
        #[arg(long, global = true)]
        config: Option<PathBuf>,
    },
    /// Cases and referrals to departments (anti-smuggling, post-clearance
    /// audit, tariff, legal, processing trade, integrity): list, show, open,
    /// step, note, escalate.
    Cases {
        #[command(subcommand)]
        cmd: cases_cli::CasesCmd,
    },
    /// Post-clearance audit (稽查): select released declarations and traders
    /// by expected recoverable duty; plan audits per unit as cases.
    PostClearance {
        #[command(subcommand)]
        cmd: postclearance_cli::PostClearanceCmd,
    },
    /// Risk committees (M10): committees, the changes awaiting their
    /// approval, votes and minutes.
    Committee {
        #[command(subcommand)]
        cmd: committee_cli::CommitteeCmd,
    },
    /// Feedback and intelligence on enterprises (notes; a department's watch-list).
    Notes {
        #[command(subcommand)]
        cmd: cases_cli::NotesCmd,
    },
    /// The action log; `audit verify` checks its hash chain.
    Audit {
        #[command(subcommand)]
        cmd: AuditCmd,
    },
    /// Write a seeded synthetic world in DATA.md formats.
    Generate {
        #[arg(long, default_value_t = 1)]
        seed: u64,
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Colluding officers to plant (0 for a world without collusion).
        #[arg(long, default_value_t = 4)]
        colluders: usize,
        #[command(flatten)]
        collusion: world::CollusionArgs,
        outdir: PathBuf,
    },
    /// Officers complete the controls of DECISIONS (written to --out), or,
    /// with --audits, the audit department concludes the open audit cases
    /// that audit plans chose; judged by a world's truth.jsonl.
    Simulate {
        #[arg(long)]
        truth: PathBuf,
        #[arg(long, required_unless_present = "audits")]
        decisions: Option<PathBuf>,
        #[arg(long, required_unless_present = "audits")]
        out: Option<PathBuf>,
        /// Conclude the open post-clearance audit cases of audit plans (in the store).
        #[arg(long, conflicts_with_all = ["decisions", "out", "overrides"])]
        audits: bool,
        /// Also write the overrides officers make before controlling (apply
        /// them with `import overrides` before importing the outcomes).
        #[arg(long)]
        overrides: Option<PathBuf>,
        #[arg(long, default_value_t = 1)]
        seed: u64,
    },
    /// A consistent copy of the embedded store, safe while `serve` runs
    /// (SQLite's online backup). PostgreSQL: see docs/postgres.md.
    Backup {
        /// A new file (refused if it exists).
        #[arg(long)]
        out: PathBuf,
    },
    /// Bring a backup back as the store in --data, after checking it
    /// (integrity, schema, action-log chain). Stop `serve` first.
    Restore {
        file: PathBuf,
        /// Replace the store already in --data.
        #[arg(long)]
        force: bool,
    },
    /// Generate a world, import its history, screen live traffic, show KPIs and explanations.
    Demo {
        #[arg(long, default_value_t = 7)]
        seed: u64,
        /// 1 ≈ 100,000 declarations (60% history, 40% live); at 1 the live
        /// window has enough findings for a meaningful model evaluation.
        #[arg(long, default_value_t = 1.0)]
        scale: f64,
        /// Replace a store already in the data directory (removes DATA/riskgate.db*);
        /// without it, the demo refuses to touch an existing store.
        #[arg(long)]
        fresh: bool,
        /// Colluding officers to plant (0 for a world without collusion).
        #[arg(long, default_value_t = 4)]
        colluders: usize,
    },
    /// Serve the HTTP API and the web console.
    Serve {
        /// Address to listen on (port 0 picks a free port; the address is printed).
        #[arg(long, default_value = "127.0.0.1:8080")]
        addr: std::net::SocketAddr,
        /// Retrain the risk model every period (30s, 15m, 24h, 7d) on a thread
        /// of its own, without pausing screening; each new model becomes the
        /// shadow model (see --retrain-activate).
        #[arg(long, value_parser = server::retrain::parse_period)]
        retrain_every: Option<std::time::Duration>,
        /// Make each retrained model active at once instead of shadow.
        #[arg(long)]
        retrain_activate: bool,
        /// Read the model drift report every --drift-check-every and retrain
        /// at once when it flags drift in outcomes of decisions made after
        /// the active model was trained (at most once per check period).
        #[arg(long)]
        retrain_on_drift: bool,
        /// How often --retrain-on-drift reads the drift report (30s, 15m, 24h, 7d).
        #[arg(long, value_parser = server::retrain::parse_period, default_value = "1h", requires = "retrain_on_drift")]
        drift_check_every: std::time::Duration,
        /// Compute the integrity indicators every period (30s, 15m, 24h, 7d)
        /// and push each new or raised warning to the supervisors' inbox and
        /// event namespace (as `riskgate integrity notify` does).
        #[arg(long, value_parser = server::retrain::parse_period)]
        integrity_every: Option<std::time::Duration>,
        /// Escalate overdue controls and cases every period (as `tasks
        /// escalate` and `cases escalate` do; each deadline once).
        #[arg(long, value_parser = server::retrain::parse_period)]
        escalate_every: Option<std::time::Duration>,
    },
    /// Accounts of people and machines: add, list, disable.
    Users {
        #[command(subcommand)]
        cmd: UsersCmd,
    },
    /// The office tree: move an office under another parent (imports never do).
    Offices {
        #[command(subcommand)]
        cmd: OfficesCmd,
    },
    /// API tokens for machines: issue, list, revoke.
    Tokens {
        #[command(subcommand)]
        cmd: TokensCmd,
    },
    /// Publish declarations to the NATS JetStream bus (validated first; bad lines are reported, not sent).
    Submit {
        file: PathBuf,
        #[command(flatten)]
        bus: BusArgs,
        /// Partitions of the stream if this call creates it (kept for its life).
        #[arg(long, default_value_t = 8)]
        partitions: u32,
    },
    /// Screen declarations from the bus: one of any number of identical workers sharing the partitions.
    Worker {
        #[command(flatten)]
        bus: BusArgs,
        /// This worker's name (default: host and process id).
        #[arg(long)]
        id: Option<String>,
        #[arg(long, default_value_t = 500)]
        batch: usize,
        /// Stamp decisions with the wall clock or the declaration's own time.
        #[arg(long, value_enum, default_value = "wall")]
        clock: Clock,
        /// Seconds after which a silent worker's partitions go to others.
        #[arg(long, default_value_t = 5)]
        lease_secs: u64,
        /// Partitions of the stream if this worker creates it.
        #[arg(long, default_value_t = 8)]
        partitions: u32,
        /// How far (in stream messages) a partition may run ahead of the
        /// others: a declaration is screened once every other partition has
        /// stored its declarations from before it, but for at most this many
        /// (0: exactly the decisions of one process, at a few hundred
        /// declarations a second; 100 differed from one process in about
        /// 0.6% of lanes and risk values, BENCHMARKS.md).
        #[arg(long, default_value_t = 100)]
        order_slack: u64,
        /// Milliseconds a batch waits for a partition whose frontier stands
        /// still (its worker stopped) before it is screened without it;
        /// longer than the lease, so that a stopped worker's partitions are
        /// taken over first and the order is kept.
        #[arg(long, default_value_t = 6000)]
        order_wait_ms: u64,
        /// Do not deliver webhooks from this process.
        #[arg(long)]
        no_webhooks: bool,
    },
    /// Bus maintenance: `bus rebase` starts a new epoch from the full store state.
    Bus {
        #[command(subcommand)]
        cmd: BusCmd,
    },
    /// Webhooks per event kind: add, list, remove, deliveries, deliver.
    Webhooks {
        #[command(subcommand)]
        cmd: WebhooksCmd,
    },
    /// Database (and bus, with --nats-url) readiness as JSON; exit code 1 when not ready.
    Ready {
        #[arg(long, env = "RISKGATE_NATS_URL")]
        nats_url: Option<String>,
    },
    /// Create or upgrade the store's schema and print its migration versions (idempotent).
    Migrate,
    /// Benchmarks (screen throughput, rule stage scaling).
    Bench {
        #[command(subcommand)]
        cmd: bench::BenchCmd,
    },
}

/// A period of days, China time; both ends inclusive.
#[derive(clap::Args)]
pub(crate) struct Period {
    /// First day (inclusive), YYYY-MM-DD.
    #[arg(long)]
    from: Option<chrono::NaiveDate>,
    /// Last day (inclusive), YYYY-MM-DD.
    #[arg(long)]
    to: Option<chrono::NaiveDate>,
}

impl Period {
    /// As [from, to) in seconds since the epoch.
    pub(crate) fn bounds(&self) -> (Option<i64>, Option<i64>) {
        (self.from.map(day_start), self.to.map(|d| day_start(d) + 86_400))
    }
}

/// `--office CODE`: the office and every office under it, sorted
/// (`None`: every office).
pub(crate) fn office_scope(app: &App, office: Option<String>) -> Result<Option<Vec<String>>> {
    let Some(code) = office else { return Ok(None) };
    let all = app.store.offices()?;
    anyhow::ensure!(all.iter().any(|o| o.code == code), "--office: no office {code:?}");
    let mut v: Vec<String> = riskgate_app::accounts::subtree(&all, &code).into_iter().collect();
    v.sort();
    Ok(Some(v))
}

/// Where the bus is.
#[derive(clap::Args)]
struct BusArgs {
    #[arg(long, env = "RISKGATE_NATS_URL", default_value = "nats://127.0.0.1:4222")]
    nats_url: String,
    /// Prefix of the stream, consumers, lease bucket and event subjects.
    #[arg(long, env = "RISKGATE_BUS_PREFIX", default_value = "riskgate")]
    bus_prefix: String,
}

#[derive(Subcommand)]
enum BusCmd {
    /// New bus epoch from the full state of the store (outcomes and all partitions); stop the workers first.
    Rebase,
}

#[derive(Subcommand)]
enum WebhooksCmd {
    /// Register an endpoint for one event kind; prints its signing secret once.
    Add {
        #[arg(long)]
        kind: String,
        #[arg(long)]
        url: String,
        #[arg(long)]
        department: String,
        /// Only events of these offices (comma-separated codes).
        #[arg(long, value_delimiter = ',')]
        offices: Vec<String>,
        /// Only events about goods of these HS chapters (comma-separated, 2 digits).
        #[arg(long, value_delimiter = ',')]
        hs_chapters: Vec<String>,
    },
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    Remove {
        id: String,
        #[arg(long)]
        reason: Option<String>,
    },
    /// Delivery status, newest first.
    Deliveries {
        #[arg(long)]
        hook: Option<String>,
        #[arg(long, default_value_t = 50)]
        limit: usize,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Deliver due webhooks (workers do this too); --once tries each due delivery once and exits.
    Deliver {
        #[arg(long)]
        once: bool,
        /// First retry delay in seconds (doubles each attempt).
        #[arg(long, default_value_t = 5.0)]
        backoff_secs: f64,
        #[arg(long, default_value_t = 12)]
        max_attempts: u32,
    },
}

#[derive(Subcommand)]
enum ImportKind {
    Offices {
        file: PathBuf,
    },
    Officers {
        file: PathBuf,
    },
    Enterprises {
        file: PathBuf,
    },
    Forex {
        file: PathBuf,
    },
    Invoices {
        file: PathBuf,
    },
    Declarations {
        file: PathBuf,
        /// Store as past declarations without screening them.
        #[arg(long)]
        historical: bool,
        #[arg(long, value_enum, default_value = "wall")]
        clock: Clock,
    },
    Outcomes {
        file: PathBuf,
    },
    Releases {
        file: PathBuf,
    },
    /// Disciplinary cases against officers (workforce records).
    Disciplinary {
        file: PathBuf,
    },
    /// Internal-affairs inspections of units.
    Inspections {
        file: PathBuf,
    },
    /// Leadership integrity-responsibility assessments of units.
    Assessments {
        file: PathBuf,
    },
    /// Administrative litigation cases.
    Litigation {
        file: PathBuf,
    },
    /// Lane overrides officers made ({declaration_id, officer, at, to, reason}), each logged.
    Overrides {
        file: PathBuf,
    },
    /// Declarations from CSV through a TOML column mapping.
    Csv {
        #[arg(long)]
        mapping: PathBuf,
        file: PathBuf,
        #[arg(long, value_enum, default_value = "wall")]
        clock: Clock,
    },
}

#[derive(Subcommand)]
enum RulesCmd {
    /// Add a rule (TOML file) as a new draft version.
    Add { file: PathBuf },
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Show a rule version with its logic (logged as a read of rule logic).
    Show {
        id: String,
        #[arg(long)]
        version: Option<u32>,
    },
    /// Which declarations of FILE the rule (id or .toml file) fires on.
    Test {
        rule: String,
        #[arg(long)]
        version: Option<u32>,
        #[arg(long = "declarations")]
        file: PathBuf,
    },
    /// Replay stored history with outcomes through a rule (id or .toml file).
    Backtest {
        rule: String,
        #[arg(long)]
        version: Option<u32>,
        #[command(flatten)]
        period: Period,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Approve a draft (must be another user than its author); it becomes active.
    Approve {
        id: String,
        #[arg(long)]
        version: Option<u32>,
    },
    Retire {
        id: String,
        #[arg(long)]
        version: Option<u32>,
        #[arg(long)]
        reason: String,
    },
    /// The fields a rule may use.
    Fields,
}

#[derive(Subcommand)]
enum ModelCmd {
    /// Train on controlled declarations, evaluate on a later window, register as a candidate.
    Train {
        #[command(flatten)]
        period: Period,
        /// First day of the evaluation window (default: when 75% of the labelled declarations had arrived).
        #[arg(long)]
        split: Option<chrono::NaiveDate>,
        #[arg(long, default_value_t = 300)]
        iterations: usize,
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// Declaration attributes to use as features beside the engine's (e.g. tax_type,import_use).
        #[arg(long, value_delimiter = ',')]
        attributes: Vec<String>,
        /// Leave out engine features whose names start with any of these
        /// prefixes (e.g. trader_,declarant_ where party ids carry no signal).
        #[arg(long, value_delimiter = ',')]
        exclude: Vec<String>,
        /// Weigh recent outcomes more: weights halve every so many days
        /// before the newest outcome.
        #[arg(long)]
        half_life: Option<f64>,
        /// Keep the model trained on the earlier window only (by default the
        /// model put into service is trained again on every outcome once it
        /// has been evaluated).
        #[arg(long)]
        no_refit: bool,
        /// Make the new model active right away.
        #[arg(long)]
        activate: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    List,
    /// A model's evaluation, and its shadow comparison if it ran in shadow.
    Show {
        id: String,
    },
    /// Model drift: completed controls against what the learned model
    /// expected, by ISO week, office, model and trader newness, with the
    /// weekly share of new traders and a verdict (docs/model.md "Drift").
    Drift {
        /// First day of decisions (default: 26 weeks before the last decision, from a Monday).
        #[arg(long)]
        from: Option<chrono::NaiveDate>,
        /// Last day of decisions, included (default: up to the last decision).
        #[arg(long)]
        to: Option<chrono::NaiveDate>,
        /// An office code: its subtree only.
        #[arg(long)]
        office: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Make a model the active scorer (the previous one becomes a candidate).
    Activate {
        id: String,
    },
    /// Run a model in shadow beside the active one; it never changes a lane.
    Shadow {
        id: String,
    },
    Retire {
        id: String,
    },
}

#[derive(Subcommand)]
enum LevelsCmd {
    /// Recompute the levels of every trader and HS6 code from the outcomes so far.
    Recompute,
    /// Current levels, highest first, or one enterprise's history with --key.
    Enterprises(LevelsArgs),
    /// Current levels of HS6 codes, highest first, or one code's history with --key.
    Goods(LevelsArgs),
}

// The options of both listings of levels.
#[derive(clap::Args)]
struct LevelsArgs {
    #[arg(long)]
    key: Option<String>,
    #[arg(long, default_value_t = 50)]
    limit: usize,
    #[arg(long, value_enum, default_value = "table")]
    format: Format,
}

#[derive(Subcommand)]
enum UsersCmd {
    /// Add a user; the password is read from RISKGATE_PASSWORD or the first line of stdin.
    Add {
        username: String,
        /// field_officer, risk_analyst, district_manager, hq_manager, integrity_supervisor, department_user, admin, machine.
        #[arg(long)]
        role: String,
        /// Office whose subtree the user sees (none: national).
        #[arg(long)]
        office: Option<String>,
        /// For department users: tariff, audit, anti_smuggling, …
        #[arg(long)]
        department: Option<String>,
        #[arg(long)]
        name: Option<String>,
    },
    List,
    /// Set a user's password (an administrator's reset); read like `add`'s.
    /// Their sessions end.
    Passwd {
        username: String,
    },
    /// Disable a user: ends their sessions and revokes their tokens.
    Disable {
        username: String,
    },
    /// A user's open sessions (id, opened, expires, address).
    Sessions {
        username: String,
    },
    /// End one session of a user by its id (from `users sessions`).
    EndSession {
        username: String,
        id: String,
    },
}

#[derive(Subcommand)]
enum OfficesCmd {
    /// Move office CODE under PARENT (everyone scoped above it gains or
    /// loses it): logged as office_move with before, after and the reason.
    Move {
        code: String,
        #[arg(long)]
        parent: String,
        /// The office's new level (hq, district, office, …), if it changes too.
        #[arg(long)]
        level: Option<String>,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Subcommand)]
enum TokensCmd {
    /// Issue a token for USER; the secret is printed once.
    Issue {
        #[arg(long)]
        user: String,
        #[arg(long)]
        name: String,
        /// Comma-separated: declarations:write, imports:write, read.
        #[arg(long, value_delimiter = ',', default_value = "declarations:write,read")]
        scope: Vec<String>,
    },
    List,
    Revoke {
        id: String,
    },
}

#[derive(Subcommand)]
enum ListsCmd {
    /// Replace a list with the values of FILE (one per line).
    Set {
        name: String,
        file: PathBuf,
    },
    Show,
}

#[derive(Subcommand)]
enum ConfigCmd {
    Set { key: String, value: String },
    Show,
}

#[derive(Subcommand)]
enum TasksCmd {
    /// Record a trader's urgent-clearance request on an open control: it
    /// moves to the top of the workbench and is due within the urgent hours.
    Urgent {
        declaration_id: String,
        /// perishable, medical, live_animals, production_line, other.
        #[arg(long)]
        kind: String,
        #[arg(long)]
        note: String,
    },
    /// Escalate every open control past its deadline to the office's managers (once each).
    Escalate,
    /// Change the lane of a screened declaration whose control is not completed
    /// (logged with before, after and the reason).
    Override {
        declaration_id: String,
        #[arg(long, value_enum)]
        lane: LaneArg,
        /// The officer who decides the override.
        #[arg(long)]
        officer: String,
        #[arg(long)]
        reason: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
enum LaneArg {
    Green,
    Yellow,
    Red,
}

#[derive(Subcommand)]
enum IntegrityCmd {
    /// Officers ranked by integrity score, highest first.
    Officers {
        #[arg(long)]
        office: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
        #[arg(long)]
        limit: Option<usize>,
    },
    /// Posts (office × post) ranked by score.
    Posts {
        #[arg(long)]
        office: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Units (offices) ranked by score.
    Units {
        #[arg(long)]
        office: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Officers, posts and units at warning, with their reasons.
    Warnings {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// One officer's indicators against peers, with the evidence behind them.
    Officer {
        id: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Records level changes since the last run and pushes each new or
    /// raised warning to the supervisors' event namespace and inbox (run it
    /// after importing outcomes, or on a schedule); prints the new ones.
    Notify,
    /// The supervisors' inbox: warnings notified so far, newest first (JSON lines).
    Inbox {
        #[arg(long)]
        office: Option<String>,
    },
}

#[derive(Subcommand)]
enum AuditCmd {
    /// Check the hash chain, and with --anchors every anchor taken earlier.
    Verify {
        /// Anchors written by `audit anchor` (one JSON line each).
        #[arg(long, requires = "key")]
        anchors: Option<PathBuf>,
        /// The anchor key (at least 32 bytes), kept apart from the database.
        #[arg(long)]
        key: Option<PathBuf>,
    },
    /// Append the chain's head, signed with KEY, to OUT: a copy kept outside
    /// the database, so a rewritten and recomputed log still shows (run it
    /// periodically, e.g. hourly from cron, to storage the database's writers
    /// cannot change).
    Anchor {
        #[arg(long)]
        key: PathBuf,
        #[arg(long)]
        out: PathBuf,
    },
    /// The action log, newest first, as JSON lines (the same search as
    /// `GET /api/v1/actions`; the read is itself logged).
    Log {
        #[arg(long, default_value_t = 50)]
        limit: usize,
        /// Matching entries to skip (paging).
        #[arg(long, default_value_t = 0)]
        offset: usize,
        /// Only entries of this actor.
        #[arg(long)]
        officer: Option<String>,
        /// Only entries of this kind (`login`, `rule_add`, ...).
        #[arg(long)]
        action: Option<String>,
        /// From this day (YYYY-MM-DD) or RFC 3339 time.
        #[arg(long)]
        from: Option<String>,
        /// To this day (inclusive) or RFC 3339 time (exclusive).
        #[arg(long)]
        to: Option<String>,
        /// Include the entries that record a read (`actions_read`,
        /// `integrity_read`, `rule_read`); left out by default, as in the
        /// console, so the changes are not crowded out.
        #[arg(long)]
        reads: bool,
    },
}

use riskgate_app::day_start;

fn print_summary(s: &import::Summary, what: &str) -> ExitCode {
    eprintln!("{}", s.line(what));
    if s.rejected > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS }
}

/// Events of every command go to webhooks (the store's outbox) and, when
/// `RISKGATE_NATS_URL` is set, to NATS (`RISKGATE_BUS_PREFIX`, default `riskgate`).
fn emitter_from_env() -> Emitter {
    let prefix = events::prefix_from_env();
    match std::env::var("RISKGATE_NATS_URL") {
        Ok(url) if !url.is_empty() => Emitter::new(&prefix, std::sync::Arc::new(bus::NatsSink::start(&url))),
        _ => Emitter { prefix, ..Default::default() },
    }
}

fn run(cli: Cli) -> Result<ExitCode> {
    let emitter = emitter_from_env();
    let r = dispatch(cli, &emitter);
    emitter.sink.flush();
    r
}

/// Seconds since the epoch as a China-time minute, or `-`.
fn local_time(ts: Option<i64>) -> String {
    let t = ts.and_then(|s| chrono::DateTime::from_timestamp(s, 0));
    t.map_or("-".into(), |d| d.with_timezone(&app::now().timezone()).format("%Y-%m-%d %H:%M").to_string())
}

fn dispatch(cli: Cli, emitter: &Emitter) -> Result<ExitCode> {
    let data = cli.data.clone();
    let at = app::StoreAt::from_options(&data, cli.database_url.as_deref(), cli.database_schema.as_deref())?;
    let login = login::Login::from_cli(cli.user.clone(), cli.login)?;
    let open = || -> Result<App> {
        let mut app = App::open_at(&at, "")?.with_events(emitter.clone());
        login.enter(&mut app)?;
        Ok(app)
    };
    match cli.command {
        Command::Import { kind } => {
            let mut app = open()?;
            let (s, what) = match kind {
                ImportKind::Offices { file } => (records(&mut app, &file, imports::OFFICES)?, "offices"),
                ImportKind::Officers { file } => (records(&mut app, &file, imports::OFFICERS)?, "officers"),
                ImportKind::Enterprises { file } => (records(&mut app, &file, imports::ENTERPRISES)?, "enterprises"),
                ImportKind::Forex { file } => (records(&mut app, &file, imports::FOREX)?, "forex payments"),
                ImportKind::Invoices { file } => (records(&mut app, &file, imports::INVOICES)?, "tax invoices"),
                ImportKind::Declarations { file, historical: true, .. } => {
                    (import::import_historical(&mut app, &file)?, "historical declarations")
                }
                ImportKind::Declarations { file, historical: false, clock } => {
                    let opts = ScreenOptions { clock: clock.into(), ..Default::default() };
                    (import::import_declarations(&mut app, &file, &opts)?, "declarations")
                }
                ImportKind::Outcomes { file } => (records(&mut app, &file, imports::OUTCOMES)?, "outcomes"),
                ImportKind::Releases { file } => (records(&mut app, &file, imports::RELEASES)?, "releases"),
                ImportKind::Disciplinary { file } => (
                    records(&mut app, &file, workforce(WorkforceRecord::disciplinary_from_json))?,
                    "disciplinary cases",
                ),
                ImportKind::Inspections { file } => {
                    (records(&mut app, &file, workforce(WorkforceRecord::inspection_from_json))?, "inspections")
                }
                ImportKind::Assessments { file } => {
                    (records(&mut app, &file, workforce(WorkforceRecord::assessment_from_json))?, "assessments")
                }
                ImportKind::Litigation { file } => {
                    (records(&mut app, &file, workforce(WorkforceRecord::litigation_from_json))?, "litigation cases")
                }
                ImportKind::Overrides { file } => (import::import_overrides(&mut app, &file)?, "overrides"),
                ImportKind::Csv { mapping, file, clock } => {
                    let opts = ScreenOptions { clock: clock.into(), ..Default::default() };
                    (import::import_csv(&mut app, &mapping, &file, &opts)?, "declarations (csv)")
                }
            };
            Ok(print_summary(&s, what))
        }
        Command::Screen { file, out, clock } => {
            let mut app = open()?;
            let opts = ScreenOptions { out, clock: clock.into(), ..Default::default() };
            let s = screen::screen_values(&mut app, &file, None, &opts)?;
            Ok(print_summary(&s, "declarations"))
        }
        Command::Analysis { office, dim, key, period, limit, trend, format } => {
            let mut app = open()?;
            kpi::fold(app.store.as_mut(), std::time::Duration::MAX)?;
            let (from, to) = period.bounds();
            let request = riskgate_app::analysis::Request { unit: office, dim, key, from, to, limit };
            if trend {
                let t = riskgate_app::analysis::trend(app.store.as_ref(), &request)?;
                match format {
                    Format::Json => println!("{}", serde_json::to_string_pretty(&t)?),
                    Format::Table => render::print_key_trend(&t),
                }
                return Ok(ExitCode::SUCCESS);
            }
            let b = riskgate_app::analysis::breakdown(app.store.as_ref(), &request)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&b)?),
                Format::Table => render::print_breakdown(&b),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::MoneyFlow { period, office, trader, flagged, limit, format } => {
            let app = open()?;
            let (from, to) = period.bounds();
            let offices = office_scope(&app, office)?;
            let query = riskgate_app::moneyflow::Query { from, to, offices, trader, flagged_only: flagged, limit };
            let r = riskgate_app::moneyflow::reconcile(app.store.as_ref(), &query)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&r)?),
                Format::Table => render::print_money_flow(&r),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Kpi { office, period, format } => {
            let mut app = open()?;
            kpi::fold(app.store.as_mut(), std::time::Duration::MAX)?;
            let (from, to) = period.bounds();
            let offices = app.store.offices()?;
            let mut units = kpi::report(app.store.as_ref(), from, to)?;
            if let Some(code) = office {
                // The unit and everything under it.
                let keep = riskgate_app::accounts::subtree(&offices, &code);
                units.retain(|u| keep.contains(&u.code));
                anyhow::ensure!(!units.is_empty(), "--office: no data for office {code:?}");
            }
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&serde_json::json!({ "units": units }))?),
                Format::Table => {
                    render::print_table(&units)?;
                    render::print_workforce(&units);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Report { period, office, format, out } => {
            let mut app = open()?;
            kpi::fold(app.store.as_mut(), std::time::Duration::MAX)?;
            let period = riskgate_app::report::Period::parse(&period)?;
            let opts = riskgate_app::report::Options { office, rules: true, models: true };
            let r = riskgate_app::report::build(app.store.as_ref(), &period, &opts)?;
            let bytes = match format {
                ReportFormat::Xlsx => server::reports::xlsx(&r)?,
                ReportFormat::Html => server::reports::html(&r).into_bytes(),
                ReportFormat::Csv => server::reports::csv(&r).into_bytes(),
            };
            std::fs::write(&out, bytes).with_context(|| format!("writing {}", out.display()))?;
            println!(
                "KPI report of {} ({}) for {} ({} to {}): {} KPIs, {} months, {} units below, written to {}",
                r.unit.name,
                r.unit.code,
                r.period.label,
                r.period.first,
                r.period.last,
                r.unit.kpis.len(),
                r.trend.len(),
                r.below.len(),
                out.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Rules { cmd } => {
            let app = open()?;
            if matches!(cmd, RulesCmd::Add { .. } | RulesCmd::Approve { .. } | RulesCmd::Retire { .. }) {
                login.require(Perm::RuleLogic)?;
            }
            rules(cmd, app)
        }
        Command::Model { cmd } => {
            let app = open()?;
            let changes = matches!(cmd, ModelCmd::Activate { .. } | ModelCmd::Shadow { .. } | ModelCmd::Retire { .. })
                || matches!(cmd, ModelCmd::Train { activate: true, .. });
            if changes {
                login.require(Perm::ChangeModels)?;
            }
            model_cmd(cmd, app)
        }
        Command::Levels { cmd } => {
            let mut app = open()?;
            let (kind, LevelsArgs { key, limit, format }) = match cmd {
                LevelsCmd::Recompute => {
                    let (e, g) = levels::recompute(&mut app)?;
                    println!("risk levels recomputed for {e} enterprises and {g} HS6 codes");
                    return Ok(ExitCode::SUCCESS);
                }
                LevelsCmd::Enterprises(args) => ("enterprise", args),
                LevelsCmd::Goods(args) => ("goods", args),
            };
            let mut rows = app.store.risk_levels(kind, key.as_deref())?;
            rows.truncate(limit);
            format.print_rows(&rows, |r| {
                format!(
                    "{}\t{}\t{:.4}\t{}\tcontrols {}\tfindings {}",
                    r.key,
                    r.level,
                    r.score,
                    chrono::DateTime::from_timestamp(r.computed_at, 0)
                        .map(|t| t.date_naive().to_string())
                        .unwrap_or_default(),
                    r.detail["controls"],
                    r.detail["findings"]
                )
            })?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Lists { cmd } => {
            let mut app = open()?;
            match cmd {
                ListsCmd::Set { name, file } => {
                    let text =
                        std::fs::read_to_string(&file).with_context(|| format!("cannot read {}", file.display()))?;
                    let values: Vec<String> =
                        text.lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect();
                    let mut a = app.action("list_set", &name);
                    a.after = Some(serde_json::json!({"values": values.len()}));
                    app.store.set_list(&name, &values, &a)?;
                    println!("list {name}: {} values", values.len());
                }
                ListsCmd::Show => {
                    let mut counts: std::collections::BTreeMap<String, usize> = Default::default();
                    for (n, _) in app.store.lists()? {
                        *counts.entry(n).or_default() += 1;
                    }
                    for (n, c) in counts {
                        println!("{n}\t{c} values");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Config { cmd } => {
            let mut app = open()?;
            match cmd {
                ConfigCmd::Set { key, value } => {
                    if riskgate_app::committee_gate::is_committee_setting(&key) {
                        login.require(Perm::ChangeSettings)?;
                    }
                    let g = riskgate_app::settings::set_setting(&mut app, &key, &value)?;
                    committee_cli::print_gated(&g, |_| format!("{key} = {value}"));
                }
                ConfigCmd::Show => {
                    let c = &app.engine.config;
                    println!("{}", serde_json::to_string_pretty(c)?);
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Decision { id, format } => {
            let app = open()?;
            let d = app.store.declaration(&id)?.with_context(|| format!("no declaration {id:?}"))?;
            match (d.decision, format) {
                (Some(dec), Format::Json) => println!("{}", serde_json::to_string_pretty(&dec)?),
                (Some(dec), Format::Table) => print!("{}", explain::explain(&dec, dec.source.as_str())),
                (None, _) => println!("{id}: stored as history, not screened"),
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Tasks { cmd: Some(TasksCmd::Urgent { declaration_id, kind, note }), .. } => {
            let t = riskgate_app::tasks::request_urgent(&mut open()?, &declaration_id, &kind, &note, None)?;
            println!("{}: urgent ({}), due {}", t.declaration_id, t.urgent.unwrap_or_default(), local_time(t.due_at));
            Ok(ExitCode::SUCCESS)
        }
        Command::Tasks { cmd: Some(TasksCmd::Escalate), .. } => {
            let done = riskgate_app::tasks::escalate_overdue(&mut open()?, None)?;
            for t in &done {
                println!("{}\t{}\t{}\tdue {}", t.declaration_id, t.office, t.channel, local_time(t.due_at));
            }
            println!("{} overdue control(s) escalated", done.len());
            Ok(ExitCode::SUCCESS)
        }
        Command::Tasks { cmd: Some(TasksCmd::Override { declaration_id, lane, officer, reason }), .. } => {
            let mut app = open()?;
            let lane = match lane {
                LaneArg::Green => riskgate_core::Channel::Green,
                LaneArg::Yellow => riskgate_core::Channel::Yellow,
                LaneArg::Red => riskgate_core::Channel::Red,
            };
            let done = riskgate_app::overrides::override_lane(&mut app, &declaration_id, lane, &officer, &reason)?;
            println!(
                "{}: {} → {} by {officer}{} (action log entry {})",
                done.declaration_id,
                done.before,
                done.after,
                if done.released { ", released" } else { "" },
                done.log_seq
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Cases { cmd } => cases_cli::run(&mut open()?, cmd),
        Command::PostClearance { cmd } => postclearance_cli::run(&mut open()?, cmd),
        Command::Committee { cmd } => {
            let mut app = open()?;
            login.require(committee_cli::perm(&cmd))?;
            committee_cli::run(&mut app, cmd)
        }
        Command::Notes { cmd } => cases_cli::notes(&mut open()?, cmd),
        Command::Integrity { cmd, period, config } => {
            let mut app = open()?;
            let cfg = integrity::load_config(config.as_deref())?;
            let (from, to) = period.bounds();
            let what = match &cmd {
                IntegrityCmd::Officers { office, .. } => {
                    format!("officers office={}", office.as_deref().unwrap_or("*"))
                }
                IntegrityCmd::Posts { office, .. } => format!("posts office={}", office.as_deref().unwrap_or("*")),
                IntegrityCmd::Units { office, .. } => format!("units office={}", office.as_deref().unwrap_or("*")),
                IntegrityCmd::Warnings { .. } => "warnings".to_string(),
                IntegrityCmd::Officer { id, .. } => format!("officer {id}"),
                IntegrityCmd::Notify => "notify".to_string(),
                IntegrityCmd::Inbox { office } => {
                    let scope = office.as_deref().map(|o| integrity::subtree(app.store.as_ref(), o)).transpose()?;
                    let entries = integrity::inbox(app.store.as_ref(), scope.as_ref())?;
                    let mut a = app.action("integrity_read", "inbox");
                    a.after = Some(serde_json::json!({"office": office, "entries": entries.len()}));
                    app.store.append_action(&a)?;
                    for e in entries {
                        println!("{}", serde_json::to_string(&e)?);
                    }
                    return Ok(ExitCode::SUCCESS);
                }
            };
            let r = integrity::report(&mut app, &what, from, to, &cfg)?;
            let keep = |office: &Option<String>| -> Result<Option<std::collections::HashSet<String>>> {
                office.as_deref().map(|o| integrity::subtree(app.store.as_ref(), o)).transpose()
            };
            match cmd {
                IntegrityCmd::Officers { office, format, limit } => {
                    let k = keep(&office)?;
                    let rows: Vec<_> = r
                        .officers
                        .iter()
                        .filter(|s| k.as_ref().is_none_or(|k| k.contains(&s.office)))
                        .take(limit.unwrap_or(usize::MAX))
                        .collect();
                    render::print_list(&rows, "officers", format == Format::Json)?;
                }
                IntegrityCmd::Posts { office, format } => {
                    let k = keep(&office)?;
                    let rows: Vec<_> =
                        r.posts.iter().filter(|s| k.as_ref().is_none_or(|k| k.contains(&s.office))).collect();
                    render::print_list(&rows, "posts", format == Format::Json)?;
                }
                IntegrityCmd::Units { office, format } => {
                    let k = keep(&office)?;
                    let rows: Vec<_> =
                        r.units.iter().filter(|s| k.as_ref().is_none_or(|k| k.contains(&s.office))).collect();
                    render::print_list(&rows, "units", format == Format::Json)?;
                }
                IntegrityCmd::Warnings { format } => render::print_warnings(&r, format == Format::Json)?,
                IntegrityCmd::Officer { id, format } => {
                    let s = r.officers.iter().find(|s| s.id == id).with_context(|| format!("no officer {id:?}"))?;
                    let hist = integrity::history(app.store.as_ref(), &id, from, to, &cfg)?;
                    render::print_profile(&app, s, &hist, format == Format::Json)?;
                }
                IntegrityCmd::Notify => {
                    for e in integrity::notify_warnings(&mut app, &r)? {
                        println!("{}", serde_json::to_string(&e)?);
                    }
                }
                // Answered before the report is computed.
                IntegrityCmd::Inbox { .. } => {}
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Tasks { office, limit, offset, cmd: None } => {
            let app = open()?;
            let offices = office.map(|o| vec![o]);
            let now = app::now().timestamp();
            for t in riskgate_app::tasks::open(app.store.as_ref(), offices.as_deref(), limit, offset)? {
                let flags = [
                    t.urgent.as_deref().map(|u| format!("加急/urgent ({u})")),
                    t.due_at.filter(|d| *d < now).map(|_| "超期/overdue".to_string()),
                    t.escalated_at.map(|_| "已升级/escalated".to_string()),
                ];
                println!(
                    "{}\t{}\t{}\t{:.3}\t{}\t{}\tdue {}\t{}",
                    t.declaration_id,
                    t.office,
                    t.channel,
                    t.risk_value,
                    t.disposal,
                    t.instructions,
                    local_time(t.due_at),
                    flags.into_iter().flatten().collect::<Vec<_>>().join(" ")
                );
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Audit { cmd } => {
            let app = open()?;
            match cmd {
                AuditCmd::Anchor { key, out } => {
                    let key = riskgate_app::anchor::read_key(&key)?;
                    match riskgate_app::anchor::take(app.store.as_ref(), &key)? {
                        Some(a) => {
                            riskgate_app::anchor::append(&out, &a)?;
                            println!("anchored entry {} ({}) in {}", a.seq, a.hash, out.display());
                        }
                        None => println!("the action log is empty: nothing to anchor"),
                    }
                    Ok(ExitCode::SUCCESS)
                }
                AuditCmd::Verify { anchors, key } => match app.store.verify_actions()? {
                    None => {
                        println!("action log intact");
                        if let (Some(file), Some(key)) = (anchors, key) {
                            let key = riskgate_app::anchor::read_key(&key)?;
                            let text = std::fs::read_to_string(&file)
                                .with_context(|| format!("cannot read {}", file.display()))?;
                            let problems = riskgate_app::anchor::check(app.store.as_ref(), &key, &text)?;
                            let n = text.lines().filter(|l| !l.trim().is_empty()).count();
                            if !problems.is_empty() {
                                for p in &problems {
                                    println!("{}:{}: {}", file.display(), p.line, p.what);
                                }
                                println!("{} of {n} anchors do not match: the log was rewritten", problems.len());
                                return Ok(ExitCode::from(2));
                            }
                            println!("{n} anchors match");
                        }
                        Ok(ExitCode::SUCCESS)
                    }
                    Some(seq) => {
                        // Name the entry as it now reads, if it still decodes.
                        let entry =
                            app.store.actions_in(None, None).ok().and_then(|v| v.into_iter().find(|l| l.seq == seq));
                        match entry {
                            Some(l) => println!(
                                "action log broken at entry {seq}: {} {} {} {} — its content or its link to the entry before no longer matches the hash chain (edited, inserted, or the entry before it deleted)",
                                l.action.at.to_rfc3339(),
                                l.action.actor,
                                l.action.action,
                                l.action.target
                            ),
                            None => println!("action log broken at entry {seq}: the entry no longer decodes"),
                        }
                        Ok(ExitCode::from(2))
                    }
                },
                AuditCmd::Log { limit, offset, officer, action, from, to, reads } => {
                    let mut app = app;
                    let time = |field: &str, v: &Option<String>, end: bool| {
                        v.as_deref().map(|v| riskgate_app::app::parse_time(field, v, end)).transpose()
                    };
                    let filter = riskgate_app::actionlog::ActionFilter {
                        from: time("from", &from, false)?,
                        to: time("to", &to, true)?,
                        officer: officer.clone(),
                        action: action.clone(),
                        reads,
                        offices: None,
                    };
                    let mut read = app.action("actions_read", "action_log");
                    read.after = Some(serde_json::json!({
                        "officer": officer, "action": action, "from": from, "to": to, "reads": reads,
                        "offset": offset,
                    }));
                    for l in riskgate_app::actionlog::search(app.store.as_mut(), &read, &filter, limit, offset)? {
                        println!("{}", serde_json::to_string(&l)?);
                    }
                    Ok(ExitCode::SUCCESS)
                }
            }
        }
        Command::Generate { seed, scale, colluders, collusion, outdir } => {
            let cfg = riskgate_synth::WorldConfig {
                colluders,
                collusion: collusion.params()?,
                ..riskgate_synth::WorldConfig::new(seed, scale)
            };
            let s = world::generate_world(&cfg, &outdir)?;
            eprintln!(
                "world seed {seed} scale {scale}: {} history + {} live declarations, fraud {:.2}% / {:.2}%, written to {}",
                s.history_declarations,
                s.live_declarations,
                100.0 * s.history_fraud as f64 / s.history_declarations.max(1) as f64,
                100.0 * s.live_fraud as f64 / s.live_declarations.max(1) as f64,
                outdir.display()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Simulate { truth, decisions, out, audits, overrides, seed } => {
            let mut app = open()?;
            if audits {
                let (n, found) = world::simulate_audits(&mut app, seed, &truth)?;
                eprintln!("{n} audit cases concluded, {found} with a finding");
                return Ok(ExitCode::SUCCESS);
            }
            let (Some(decisions), Some(out)) = (decisions, out) else {
                anyhow::bail!("simulate: --decisions and --out are needed (or --audits)")
            };
            let n = world::simulate(&app, seed, &truth, &decisions, &out, overrides.as_deref())?;
            eprintln!("{n} outcomes written to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Backup { out } => {
            let app::StoreAt::Sqlite(dir) = &at else {
                anyhow::bail!("backup copies the embedded store; for PostgreSQL use pg_basebackup (docs/postgres.md)")
            };
            anyhow::ensure!(dir.join("riskgate.db").exists(), "{} holds no store", dir.display());
            let mut store = riskgate_store::SqliteStore::open(dir)?;
            let (who, office) = login.actor(&mut store)?;
            store.backup_to(&out)?;
            let mut a = riskgate_app::accounts::cli_action(&who, "backup", &out.display().to_string());
            a.office = office;
            a.after = Some(serde_json::json!({ "declarations": riskgate_store::Store::declaration_count(&store)? }));
            let mut store = store;
            riskgate_store::Store::append_action(&mut store, &a)?;
            eprintln!("store copied to {}", out.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Restore { file, force } => {
            let app::StoreAt::Sqlite(dir) = &at else {
                anyhow::bail!("restore brings back the embedded store; for PostgreSQL see docs/postgres.md")
            };
            anyhow::ensure!(file.exists(), "{}: no such backup", file.display());
            anyhow::ensure!(
                force || !dir.join("riskgate.db").exists(),
                "{} already holds a store: `restore --force` replaces it",
                dir.display()
            );
            riskgate_store::SqliteStore::restore(&file, dir)?;
            let mut app = open()?;
            let a = app.action("restore", &file.display().to_string());
            app.store.append_action(&a)?;
            eprintln!("store restored from {}", file.display());
            Ok(ExitCode::SUCCESS)
        }
        Command::Demo { seed, scale, fresh, colluders } => {
            match &at {
                app::StoreAt::Sqlite(_) => {
                    // An existing store is replaced only when asked (`--fresh`).
                    anyhow::ensure!(
                        fresh || !data.join("riskgate.db").exists(),
                        "{} already holds a store: `demo --fresh` replaces it (its data is deleted), \
                         or give another directory with --data",
                        data.display()
                    );
                    if fresh {
                        for suffix in ["", "-wal", "-shm"] {
                            let _ = std::fs::remove_file(data.join(format!("riskgate.db{suffix}")));
                        }
                    }
                }
                app::StoreAt::Postgres { .. } => {
                    // Never drop data in a shared database: the demo wants an empty schema.
                    let n = at.open_store()?.declaration_count()?;
                    anyhow::ensure!(
                        n == 0,
                        "demo on PostgreSQL needs an empty store ({n} declarations stored); pass --database-schema NEW"
                    );
                }
            }
            world::demo(&at, &data, seed, scale, colluders)?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Migrate => {
            match &at {
                app::StoreAt::Sqlite(dir) => {
                    let s = riskgate_store::SqliteStore::open(dir)
                        .with_context(|| format!("cannot open the store in {}", dir.display()))?;
                    println!("sqlite {}: schema version {}", dir.join("riskgate.db").display(), s.schema_version()?);
                }
                app::StoreAt::Postgres { url, schema } => {
                    let mut s = riskgate_store::PgStore::open_in_schema(url, schema.as_deref())?;
                    // This month's and next month's partitions, ahead of the first write.
                    let now = chrono::Utc::now().timestamp();
                    s.ensure_months(now)?;
                    s.ensure_months(now + 31 * 86_400)?;
                    let versions: Vec<String> = s.migration_versions()?.iter().map(u32::to_string).collect();
                    println!(
                        "postgres schema {}: migrations applied {}",
                        schema.as_deref().unwrap_or("(search_path)"),
                        versions.join(", ")
                    );
                    for (name, rows) in s.partitions()? {
                        println!("  partition {name}: {rows} rows");
                    }
                }
            }
            Ok(ExitCode::SUCCESS)
        }
        Command::Submit { file, bus, partitions } => {
            let names = bus::Names::new(&bus.bus_prefix)?;
            let offices: std::collections::HashSet<String> =
                at.open_store()?.offices()?.into_iter().map(|o| o.code).collect();
            let t = std::time::Instant::now();
            let s = bus::submit(&bus.nats_url, &names, &file, partitions, &offices)?;
            eprintln!(
                "{} declarations published, {} already in the stream, {} rejected ({:.1}s)",
                s.published,
                s.duplicates,
                s.rejected,
                t.elapsed().as_secs_f64()
            );
            Ok(if s.rejected > 0 { ExitCode::from(1) } else { ExitCode::SUCCESS })
        }
        Command::Worker { bus, id, batch, clock, lease_secs, partitions, order_slack, order_wait_ms, no_webhooks } => {
            let id = id.unwrap_or_else(|| {
                let host = std::fs::read_to_string("/etc/hostname").unwrap_or_default();
                format!("{}-{}", host.trim(), std::process::id())
            });
            let opts = bus::WorkerOptions {
                url: bus.nats_url,
                names: bus::Names::new(&bus.bus_prefix)?,
                id: events::token(&id),
                user: login.local_name(),
                batch: batch.max(1),
                clock: clock.into(),
                lease: std::time::Duration::from_secs(lease_secs.max(1)),
                partitions,
                order_slack,
                order_wait: std::time::Duration::from_millis(order_wait_ms),
                webhooks: !no_webhooks,
                webhook: bus::webhooks::DeliveryOptions::default(),
            };
            // One store (one pool on PostgreSQL); every task gets its own handle on it.
            let base = std::sync::Mutex::new(at.open_store()?);
            let factory =
                move || base.lock().map_err(|_| anyhow::anyhow!("store lock poisoned"))?.reopen().map_err(Into::into);
            bus::run_worker(opts, std::sync::Arc::new(factory))?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Bus { cmd: BusCmd::Rebase } => {
            let mut app = open()?;
            let seq = bus::rebase(&mut app)?;
            println!("bus epoch now covers every event up to {seq}");
            Ok(ExitCode::SUCCESS)
        }
        Command::Webhooks { cmd } => webhooks_cmd(cmd, &at, &open),
        Command::Ready { nats_url } => {
            let store = at.open_store()?;
            let client = match nats_url {
                Some(url) => {
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                    Some((rt.block_on(bus::connect(&url)), rt))
                }
                None => None,
            };
            let r = match &client {
                Some((Ok(c), _)) => ready::readiness(store.as_ref(), Some(c)),
                Some((Err(e), _)) => {
                    let mut r = ready::readiness(store.as_ref(), None);
                    r.bus = Some(ready::Check { ok: false, detail: format!("{e:#}"), millis: 0.0 });
                    r.ready = false;
                    r
                }
                None => ready::readiness(store.as_ref(), None),
            };
            println!("{}", serde_json::to_string_pretty(&r)?);
            Ok(if r.ready { ExitCode::SUCCESS } else { ExitCode::from(1) })
        }
        Command::Serve {
            addr,
            retrain_every,
            retrain_activate,
            retrain_on_drift,
            drift_check_every,
            integrity_every,
            escalate_every,
        } => {
            let schedule = (retrain_every.is_some() || retrain_on_drift).then(|| server::retrain::Schedule {
                every: retrain_every,
                activate: retrain_activate,
                drift_check: retrain_on_drift.then_some(drift_check_every),
            });
            if retrain_activate && schedule.is_none() {
                anyhow::bail!("--retrain-activate needs --retrain-every or --retrain-on-drift");
            }
            server::serve(&at, addr, schedule, integrity_every, escalate_every, emitter.clone())?;
            Ok(ExitCode::SUCCESS)
        }
        Command::Users { cmd } => users_cmd(cmd, open()?),
        Command::Tokens { cmd } => tokens_cmd(cmd, open()?),
        Command::Offices { cmd: OfficesCmd::Move { code, parent, level, reason } } => {
            let level = match level {
                Some(l) => Some(riskgate_core::OfficeLevel::parse(&l).ok_or_else(|| {
                    let all: Vec<&str> = riskgate_core::OfficeLevel::ALL.iter().map(|(n, _)| *n).collect();
                    anyhow::anyhow!("--level: expected one of {}, got {l:?}", all.join(", "))
                })?),
                None => None,
            };
            let mut app = open()?;
            let before = app.store.offices()?.into_iter().find(|o| o.code == code).and_then(|o| o.parent);
            let o = riskgate_app::imports::move_office(&mut app, &code, &parent, level, &reason)?;
            println!(
                "office {code} moved from {} to {} (level {})",
                before.as_deref().unwrap_or("(none)"),
                o.parent.as_deref().unwrap_or("(none)"),
                o.level.as_str()
            );
            Ok(ExitCode::SUCCESS)
        }
        Command::Bench { cmd } => {
            bench::run(cmd, &at)?;
            Ok(ExitCode::SUCCESS)
        }
    }
}

fn webhooks_cmd(cmd: WebhooksCmd, at: &app::StoreAt, open: &dyn Fn() -> Result<App>) -> Result<ExitCode> {
    match cmd {
        WebhooksCmd::Add { kind, url, department, offices, hs_chapters } => {
            let mut app = open()?;
            let h = webhooks::add_filtered(&mut app, &kind, &url, &department, &offices, &hs_chapters)?;
            println!("webhook {} for {} events to {} ({})", h.id, h.kind, h.url, h.department);
            println!("signing secret (shown once; X-Riskgate-Signature = sha256=HMAC-SHA256(secret, body)):");
            println!("{}", h.secret);
        }
        WebhooksCmd::List { format } => {
            let store = at.open_store()?;
            let hooks = store.webhooks()?;
            format.print_rows(&hooks, |h| {
                format!(
                    "{}\t{}\t{}\t{}\t{}\tby {}",
                    h.id,
                    if h.active { "active" } else { "removed" },
                    h.kind,
                    h.department,
                    h.url,
                    h.created_by
                )
            })?;
        }
        WebhooksCmd::Remove { id, reason } => {
            let mut app = open()?;
            webhooks::remove(&mut app, &id, reason.as_deref())?;
            println!("webhook {id} removed");
        }
        WebhooksCmd::Deliveries { hook, limit, format } => {
            let store = at.open_store()?;
            let rows = store.deliveries(hook.as_deref(), limit)?;
            format.print_rows(&rows, |d| {
                format!(
                    "{}\t{}\t{}\t{}\t{}\tattempts {}\t{}\t{}",
                    d.id,
                    d.hook,
                    d.status,
                    d.kind,
                    d.event_id,
                    d.attempts,
                    d.last_status.map_or("-".to_string(), |s| s.to_string()),
                    d.last_error.as_deref().unwrap_or_default()
                )
            })?;
        }
        WebhooksCmd::Deliver { once, backoff_secs, max_attempts } => {
            anyhow::ensure!(backoff_secs > 0.0, "--backoff-secs: expected a positive number, got {backoff_secs}");
            let opts = bus::webhooks::DeliveryOptions {
                backoff: std::time::Duration::from_secs_f64(backoff_secs),
                max_attempts: max_attempts.max(1),
                ..Default::default()
            };
            let mut store = at.open_store()?;
            if once {
                let n = bus::webhooks::deliver_due(store.as_mut(), &opts, 10_000)?;
                println!("{n} deliveries attempted");
            } else {
                let stop = std::sync::atomic::AtomicBool::new(false);
                bus::webhooks::run_dispatcher(store, &opts, &stop)?;
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// A password from RISKGATE_PASSWORD or the first line of stdin.
fn read_password() -> Result<String> {
    Ok(match std::env::var("RISKGATE_PASSWORD") {
        Ok(p) => p,
        Err(_) => {
            let mut line = String::new();
            std::io::stdin().read_line(&mut line).context("reading the password from stdin")?;
            line.trim_end_matches(['\r', '\n']).to_string()
        }
    })
}

fn users_cmd(cmd: UsersCmd, mut app: App) -> Result<ExitCode> {
    match cmd {
        UsersCmd::Passwd { username } => {
            let password = read_password()?;
            riskgate_app::accounts::set_password(app.store.as_mut(), &app.user, &username, &password)?;
            println!("password of {username} set; their sessions ended");
        }
        UsersCmd::Add { username, role, office, department, name } => {
            let password = read_password()?;
            let new = riskgate_app::accounts::NewUser {
                username: &username,
                password: &password,
                role: &role,
                office,
                department,
                display_name: name,
            };
            let u = riskgate_app::accounts::add_user(app.store.as_mut(), &app.user, new)?;
            println!("user {} added with role {}", u.username, u.role);
        }
        UsersCmd::List => {
            for u in app.store.users()? {
                println!(
                    "{}\t{}\t{}\t{}\t{}{}",
                    u.username,
                    u.role,
                    u.office.as_deref().unwrap_or("(national)"),
                    u.department.as_deref().unwrap_or("-"),
                    u.display_name,
                    if u.disabled { "\tDISABLED" } else { "" }
                );
            }
        }
        UsersCmd::Disable { username } => {
            let mut a = app.action("user_disable", &username);
            a.after = Some(serde_json::json!({"disabled": true}));
            app.store.set_user_disabled(&username, true, app::now().timestamp(), &a)?;
            println!("user {username} disabled; their sessions ended and tokens revoked");
        }
        UsersCmd::Sessions { username } => {
            for s in riskgate_app::accounts::sessions(app.store.as_ref(), &username, None)? {
                println!(
                    "{}\t{}\t{}\t{}",
                    s.id,
                    s.created_at.format("%Y-%m-%d %H:%M %:z"),
                    s.expires_at.format("%Y-%m-%d %H:%M %:z"),
                    s.address.as_deref().unwrap_or("-")
                );
            }
        }
        UsersCmd::EndSession { username, id } => {
            riskgate_app::accounts::end_session(app.store.as_mut(), &app.user, None, &username, &id)?;
            println!("session {id} of {username} ended");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn tokens_cmd(cmd: TokensCmd, mut app: App) -> Result<ExitCode> {
    match cmd {
        TokensCmd::Issue { user, name, scope } => {
            let (t, secret) = riskgate_app::accounts::issue_token(&mut app, &user, &name, scope)?;
            eprintln!("token {} issued to {user} (scopes {}); the secret is shown once:", t.id, t.scopes.join(","));
            println!("{secret}");
        }
        TokensCmd::List => {
            for t in app.store.tokens()? {
                println!(
                    "{}\t{}\t{}\t{}{}",
                    t.id,
                    t.username,
                    t.name,
                    t.scopes.join(","),
                    if t.revoked_at.is_some() { "\tREVOKED" } else { "" }
                );
            }
        }
        TokensCmd::Revoke { id } => {
            let a = app.action("token_revoke", &id);
            app.store.revoke_token(&id, app::now().timestamp(), &a)?;
            println!("token {id} revoked");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn model_cmd(cmd: ModelCmd, mut app: App) -> Result<ExitCode> {
    match cmd {
        ModelCmd::Train {
            period,
            split,
            iterations,
            seed,
            attributes,
            exclude,
            half_life,
            no_refit,
            activate,
            format,
        } => {
            let (from, to) = period.bounds();
            if let Some(h) = half_life {
                anyhow::ensure!(h.is_finite() && h > 0.0, "--half-life: expected a number of days above 0, got {h}");
            }
            let defaults = model::TrainOptions::default();
            let mut opts = model::TrainOptions {
                from,
                to,
                split: split.map(day_start),
                attributes,
                exclude,
                half_life_days: half_life.or(defaults.half_life_days),
                refit: !no_refit,
                ..defaults
            };
            opts.params.iterations = iterations;
            opts.params.seed = seed;
            let (id, e) = model::train_and_register(&mut app, &opts)?;
            match format {
                Format::Json => {
                    println!("{}", serde_json::to_string_pretty(&serde_json::json!({"id": id, "evaluation": e}))?)
                }
                Format::Table => render::print_evaluation(&id, &e),
            }
            if activate {
                let g = model::set_status(&mut app, &id, "active")?;
                committee_cli::print_gated(&g, |_| format!("model {id} is now active"));
            }
        }
        ModelCmd::List => {
            for m in app.store.models()? {
                let auc = m.metrics["evaluation"]["auc"].as_f64().unwrap_or(f64::NAN);
                let p4 = m.metrics["evaluation"]["at"]
                    .as_array()
                    .and_then(|a| a.iter().find(|r| r["rate"] == 0.04))
                    .and_then(|r| r["precision"].as_f64())
                    .unwrap_or(f64::NAN);
                println!("{}\t{}\tAUC {auc:.3}\tprecision@4% {:.1}%\tby {}", m.id, m.status, p4 * 100.0, m.created_by);
            }
        }
        ModelCmd::Show { id } => {
            let m = app.store.model(&id)?.with_context(|| format!("no model {id:?}"))?;
            println!(
                "{}",
                serde_json::to_string_pretty(
                    &serde_json::json!({"id": m.id, "status": m.status, "created_by": m.created_by, "metrics": m.metrics})
                )?
            );
            let shadow = app.store.shadow_outcomes(&id)?;
            if !shadow.is_empty() {
                let found: Vec<bool> = shadow.iter().map(|s| s.2).collect();
                let ones = vec![1.0; shadow.len()];
                let zeros = vec![0.0; shadow.len()];
                let active: Vec<f64> = shadow.iter().map(|s| s.0).collect();
                let shadowed: Vec<f64> = shadow.iter().map(|s| s.1).collect();
                println!("shadow comparison on {} controlled declarations with outcomes:", shadow.len());
                for (name, scores) in [("active", &active), ("shadow", &shadowed)] {
                    let at = model::weighted_at(scores, &found, &zeros, &ones, &[0.1, 0.25, 0.5]);
                    let cells: Vec<String> =
                        at.iter().map(|r| format!("top {:.0}%: {:.1}%", r.rate * 100.0, r.precision * 100.0)).collect();
                    println!("  {name:<7} hit rate {}", cells.join(", "));
                }
            }
        }
        ModelCmd::Drift { from, to, office, format } => {
            let offices = match office {
                Some(code) => {
                    let all = app.store.offices()?;
                    if !all.iter().any(|o| o.code == code) {
                        anyhow::bail!("--office: no office {code:?}");
                    }
                    let mut v: Vec<String> = riskgate_app::accounts::subtree(&all, &code).into_iter().collect();
                    v.sort();
                    Some(v)
                }
                None => None,
            };
            let query = riskgate_app::drift::Query {
                from: from.map(day_start),
                to: to.map(|d| day_start(d) + 86_400),
                offices,
            };
            let r = riskgate_app::drift::report(app.store.as_ref(), &query)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&r)?),
                Format::Table => render::print_drift(&r),
            }
        }
        ModelCmd::Activate { id } => {
            let g = model::set_status(&mut app, &id, "active")?;
            committee_cli::print_gated(&g, |_| format!("model {id} is now active"));
        }
        ModelCmd::Shadow { id } => {
            model::set_status(&mut app, &id, "shadow")?;
            println!("model {id} now runs in shadow");
        }
        ModelCmd::Retire { id } => {
            model::set_status(&mut app, &id, "retired")?;
            println!("model {id} retired");
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn rules(cmd: RulesCmd, mut app: App) -> Result<ExitCode> {
    match cmd {
        RulesCmd::Add { file } => {
            let r = rules_file::add(&mut app, &file)?;
            println!(
                "rule {} version {} added as draft by {}; another user must approve it",
                r.def.id, r.def.version, r.created_by
            );
        }
        RulesCmd::List { format } => {
            let rows = rules_cmd::list(&app)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&rows)?),
                Format::Table => {
                    println!(
                        "{:<12} {:>3} {:<8} {:>7} {:>7} {:>7} {:>7} {:>12}  title",
                        "id", "v", "status", "hits", "ctrl", "found", "hit%", "duty CNY"
                    );
                    for r in rows {
                        println!(
                            "{:<12} {:>3} {:<8} {:>7} {:>7} {:>7} {:>7} {:>12.0}  {}{}",
                            r.id,
                            r.version,
                            r.status,
                            r.hits,
                            r.controls,
                            r.findings,
                            r.hit_rate.map_or("—".into(), |h| format!("{:.1}", h * 100.0)),
                            r.revenue_cny,
                            r.title,
                            r.alarm.map(|a| format!("  ⚠ {a}")).unwrap_or_default()
                        );
                    }
                }
            }
        }
        RulesCmd::Show { id, version } => {
            let r = rules_cmd::show(&mut app, &id, version)?;
            println!("{}", serde_json::to_string_pretty(&r)?);
        }
        RulesCmd::Test { rule, version, file } => {
            let def = rules_file::resolve(&app, &rule, version)?;
            let res = rules_file::test(&mut app, &def, &file)?;
            let hits = res.iter().filter(|(_, h)| *h).count();
            for (id, h) in &res {
                println!("{id}\t{}", if *h { "fires" } else { "-" });
            }
            eprintln!("{hits} of {} declarations hit", res.len());
        }
        RulesCmd::Backtest { rule, version, period, format } => {
            let def = rules_file::resolve(&app, &rule, version)?;
            let (from, to) = period.bounds();
            let b = rules_cmd::backtest(&app, &def, from, to)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&b)?),
                Format::Table => {
                    println!("back-test of {} over {} stored declarations", b.rule, b.declarations);
                    println!("  hits                      {}", b.hits);
                    println!(
                        "  added controls            {} (targeting rate +{:.2}%)",
                        b.added_controls,
                        b.added_targeting_rate * 100.0
                    );
                    println!(
                        "  hit rate on controlled    {} ({} of {})",
                        b.hit_rate_on_controlled.map_or("—".into(), |h| format!("{:.1}%", h * 100.0)),
                        b.hits_with_finding,
                        b.hits_controlled
                    );
                    println!("  revenue on controlled     {:.0} CNY", b.revenue_cny);
                    println!(
                        "  overlap with active rules {} ({})",
                        b.overlap_with_active,
                        b.overlap_rate.map_or("—".into(), |h| format!("{:.1}%", h * 100.0))
                    );
                    println!("  load per office (hits, hits per day):");
                    for (o, (n, per_day)) in &b.load_per_office {
                        println!("    {o}  {n}  {per_day:.2}");
                    }
                }
            }
        }
        RulesCmd::Approve { id, version } => {
            let g = rules_cmd::approve(&mut app, &id, version)?;
            committee_cli::print_gated(&g, |r| {
                format!("rule {} version {} approved by {} and active", r.def.id, r.def.version, app.user)
            });
        }
        RulesCmd::Retire { id, version, reason } => {
            let r = rules_cmd::retire(&mut app, &id, version, &reason)?;
            println!("rule {} version {} retired", r.def.id, r.def.version);
        }
        RulesCmd::Fields => {
            for (name, ty, doc) in riskgate_engine::facts::FIELD_DOCS {
                println!("{name:<60} {ty:<7} {doc}");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn main() -> ExitCode {
    // Output piped into a reader that stops early (`| head`) ends the
    // command quietly, as for any Unix tool, instead of a panic trace.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let payload = info.payload();
        let msg =
            payload.downcast_ref::<String>().map(String::as_str).or_else(|| payload.downcast_ref::<&str>().copied());
        if msg.is_some_and(|m| m.contains("Broken pipe")) {
            std::process::exit(141);
        }
        default_hook(info);
    }));
    let cli = Cli::parse();
    match run(cli) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
    }
}
