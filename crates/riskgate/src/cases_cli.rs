//! `riskgate cases …`: cases and referrals at the command line (the
//! operator's tool: every office, every step; the use cases are
//! `riskgate_app::cases`, the same the API calls).

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use riskgate_app::App;
use riskgate_app::cases::{self, Actor, NewCase, StepBody, kind_word, status_word};
use riskgate_core::{Case, CaseQuery, CaseResult, CaseStep};

use crate::Format;

#[derive(Subcommand)]
pub enum CasesCmd {
    /// Cases, overdue first, then newest first.
    List {
        /// anti_smuggling, post_clearance_audit, tariff, legal, processing_trade, integrity, complaint.
        #[arg(long)]
        kind: Option<String>,
        #[arg(long)]
        department: Option<String>,
        /// opened, accepted, in_progress, concluded, closed, returned, rejected.
        #[arg(long)]
        status: Option<String>,
        #[arg(long)]
        declaration: Option<String>,
        #[arg(long)]
        enterprise: Option<String>,
        /// Only cases past their deadline.
        #[arg(long)]
        overdue: bool,
        #[arg(long, default_value_t = 100)]
        limit: usize,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// One case with its history.
    Show {
        id: i64,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Open a case (a referral to a department) about a declaration, an enterprise or an officer.
    Open {
        #[arg(long)]
        kind: String,
        #[arg(long)]
        title: String,
        #[arg(long)]
        declaration: Option<String>,
        #[arg(long)]
        enterprise: Option<String>,
        #[arg(long)]
        officer: Option<String>,
        /// The owning office when no declaration names it.
        #[arg(long)]
        office: Option<String>,
        #[arg(long)]
        note: Option<String>,
    },
    /// Take a step: accept, start, conclude, close, return, reject, resend.
    Step {
        id: i64,
        step: String,
        /// The reason (needed to return or reject).
        #[arg(long)]
        note: Option<String>,
        /// To conclude: finding kinds, comma-separated (none: nothing found).
        #[arg(long, value_delimiter = ',')]
        findings: Vec<String>,
        /// To conclude: duty assessed beyond what the control recorded (CNY).
        #[arg(long, default_value_t = 0.0)]
        additional_duty: f64,
        /// To conclude: penalty imposed (CNY).
        #[arg(long, default_value_t = 0.0)]
        penalty: f64,
        /// To conclude: goods seized.
        #[arg(long)]
        seizure: bool,
        /// To conclude: what the case found.
        #[arg(long)]
        summary: Option<String>,
    },
    /// Add a note to a case.
    Note { id: i64, text: String },
    /// Escalate every case past its deadline (each deadline once); for a daily cron.
    Escalate,
}

fn line(c: &Case) -> String {
    let about = c.declaration_id.as_deref().or(c.enterprise.as_deref()).or(c.officer.as_deref()).unwrap_or("-");
    format!(
        "{:>6}  {:<20} {:<16} {:<11} {:<8} {:<24} due {}{}  {}",
        c.id,
        c.kind.as_str(),
        c.department,
        c.status.as_str(),
        c.office,
        about,
        c.due_at.format("%Y-%m-%d"),
        if c.escalated_at.is_some() { " 已升级/escalated" } else { "" },
        c.title
    )
}

fn show(c: &Case, format: Format) -> Result<()> {
    if let Format::Json = format {
        println!("{}", serde_json::to_string_pretty(c)?);
        return Ok(());
    }
    println!("{}", line(c));
    for h in &c.history {
        println!("    {}  {:<10} {}  {}", h.at.format("%Y-%m-%d %H:%M"), h.what, h.by, h.note.as_deref().unwrap_or(""));
    }
    if let Some(r) = &c.result {
        println!(
            "    result: findings [{}], additional duty {:.2} CNY, penalty {:.2} CNY{}: {}",
            r.findings.join(", "),
            r.additional_duty,
            r.penalty,
            if r.seizure { ", seizure" } else { "" },
            r.summary
        );
    }
    Ok(())
}

pub fn run(app: &mut App, cmd: CasesCmd) -> Result<ExitCode> {
    let actor = Actor::operator();
    match cmd {
        CasesCmd::List { kind, department, status, declaration, enterprise, overdue, limit, format } => {
            let kind = kind.as_deref().map(kind_word).transpose()?;
            let status = status.as_deref().map(status_word).transpose()?;
            let q = CaseQuery { kind, department, status, declaration_id: declaration, enterprise };
            let rows = cases::list(app.store.as_ref(), &actor, &q, overdue, limit)?;
            format.print_rows(&rows, line)?;
        }
        CasesCmd::Show { id, format } => show(&cases::get(app.store.as_ref(), &actor, id)?, format)?,
        CasesCmd::Open { kind, title, declaration, enterprise, officer, office, note } => {
            let new = NewCase { kind, declaration_id: declaration, enterprise, officer, office, title, note };
            println!("{}", line(&cases::open(app, &actor, new)?));
        }
        CasesCmd::Step { id, step, note, findings, additional_duty, penalty, seizure, summary } => {
            let Some(s) = CaseStep::parse(&step) else {
                anyhow::bail!("step: expected one of {}, got {step:?}", CaseStep::names().join(", "));
            };
            let result = (s == CaseStep::Conclude).then(|| CaseResult {
                findings,
                additional_duty,
                penalty,
                seizure,
                summary: summary.unwrap_or_default(),
            });
            println!("{}", line(&cases::step(app, &actor, id, s, StepBody { note, result, version: None })?));
        }
        CasesCmd::Note { id, text } => println!("{}", line(&cases::note(app, &actor, id, &text)?)),
        CasesCmd::Escalate => {
            let done = cases::escalate(app, &actor)?;
            done.iter().for_each(|c| println!("{}", line(c)));
            println!("{} case(s) escalated", done.len());
        }
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Subcommand)]
pub enum NotesCmd {
    /// Feedback or intelligence on an enterprise; with --watch, the
    /// enterprise also goes on the department's watch-list (watch.DEPARTMENT).
    Add {
        enterprise: String,
        #[arg(long)]
        text: String,
        /// The author's department (needed with --watch).
        #[arg(long)]
        department: Option<String>,
        #[arg(long)]
        watch: bool,
    },
    /// The notes on an enterprise, newest first.
    List {
        enterprise: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

pub fn notes(app: &mut App, cmd: NotesCmd) -> Result<ExitCode> {
    let line = |n: &riskgate_store::Note| {
        let at = chrono::DateTime::from_timestamp(n.at, 0).map(|t| t.with_timezone(&riskgate_app::now().timezone()));
        format!(
            "{}\t{}\t{}{}\t{}{}",
            n.id,
            at.map_or("-".into(), |t| t.format("%Y-%m-%d %H:%M").to_string()),
            n.author,
            n.department.as_deref().map(|d| format!(" ({d})")).unwrap_or_default(),
            n.text,
            n.watch_list.as_deref().map(|l| format!("\t→ {l}")).unwrap_or_default()
        )
    };
    match cmd {
        NotesCmd::Add { enterprise, text, department, watch } => {
            let n = riskgate_app::feedback::note_enterprise(app, &enterprise, &text, department.as_deref(), watch)?;
            println!("{}", line(&n));
        }
        NotesCmd::List { enterprise, format } => {
            let rows = riskgate_app::feedback::enterprise_notes(app.store.as_ref(), &enterprise)?;
            format.print_rows(&rows, line)?;
        }
    }
    Ok(ExitCode::SUCCESS)
}
