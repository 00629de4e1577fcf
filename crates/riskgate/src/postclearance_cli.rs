//! `riskgate post-clearance …`: post-clearance audit selection and audit
//! plans at the command line (the use cases are
//! `riskgate_app::postclearance`, the same the API calls).

use std::process::ExitCode;

use anyhow::{Context, Result};
use clap::Subcommand;
use riskgate_app::App;
use riskgate_app::cases::Actor;
use riskgate_app::postclearance::{self, PlanRequest, Query, Rank};
use riskgate_app::specialised;

use crate::{Format, Period};

#[derive(Subcommand)]
pub enum PostClearanceCmd {
    /// Rank the released declarations of a period, and their traders, by
    /// the duty an audit is expected to recover, as known now (payments
    /// abroad made since, findings since on the same parties, goods and
    /// routes), each with its reasons. Default period: the 92 days up to now.
    Select {
        #[command(flatten)]
        period: Period,
        /// Only declarations of this unit's subtree.
        #[arg(long)]
        office: Option<String>,
        #[arg(long, default_value_t = 200)]
        limit: usize,
        /// duty (expected recoverable duty), probability (of a finding) or
        /// balanced (probability × √duty).
        #[arg(long, default_value = "duty")]
        rank: String,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// An audit plan: the audits each unit can do (`--capacity UNIT=N`,
    /// repeated; a unit is an office or a district), chosen from the
    /// ranking with a share drawn at random, each opened as a
    /// post-clearance audit case with its selection probability.
    Plan {
        #[command(flatten)]
        period: Period,
        /// UNIT=N: N audits for the declarations of office or district UNIT.
        #[arg(long, required = true)]
        capacity: Vec<String>,
        /// Share of each unit's audits drawn at random (0 to 0.5).
        #[arg(long, default_value_t = postclearance::DEFAULT_EXPLORE)]
        explore: f64,
        /// The plan's name (default: audit-plan-<time>); the random draws are keyed on it.
        #[arg(long)]
        name: Option<String>,
        /// Choose and print, but open no case.
        #[arg(long)]
        dry_run: bool,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Specialised audit (专业审计): rank the units (field offices) or the
    /// posts (office × post) whose control work is most worth auditing, by
    /// the problem declarations expected beyond their peers' — findings
    /// their controls missed, problems the random controls show in what
    /// they let go, overrides to a lighter lane, post-clearance audit
    /// findings on their releases — plus their integrity score, each with
    /// its reasons and figures (docs/cases.md). Default period: the 92 days
    /// up to now.
    Specialised {
        #[command(flatten)]
        period: Period,
        /// unit or post.
        #[arg(long, default_value = "unit")]
        by: String,
        /// Only units or posts of this unit's subtree (peers stay every office).
        #[arg(long)]
        office: Option<String>,
        #[arg(long, default_value_t = 20)]
        limit: usize,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

pub fn run(app: &mut App, cmd: PostClearanceCmd) -> Result<ExitCode> {
    match cmd {
        PostClearanceCmd::Select { period, office, limit, rank, format } => {
            let (from, to) = period.bounds();
            let q = Query {
                from,
                to,
                offices: crate::office_scope(app, office)?,
                limit: limit.max(1),
                rank: Rank::parse(&rank)?,
                rule_reasons: true,
            };
            let s = postclearance::select(app, &q)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&s)?),
                Format::Table => print_selection(&s),
            }
        }
        PostClearanceCmd::Plan { period, capacity, explore, name, dry_run, format } => {
            let (from, to) = period.bounds();
            let capacity = capacity
                .iter()
                .map(|c| {
                    let (unit, n) = c.split_once('=').with_context(|| format!("--capacity {c:?}: expected UNIT=N"))?;
                    let n: usize = n.trim().parse().with_context(|| format!("--capacity {c:?}: N is not a count"))?;
                    Ok((unit.trim().to_string(), n))
                })
                .collect::<Result<Vec<_>>>()?;
            let req = PlanRequest { from, to, offices: None, capacity, explore, name, dry_run };
            let p = postclearance::plan(app, &Actor::operator(), &req)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&p)?),
                Format::Table => print_plan(&p),
            }
        }
        PostClearanceCmd::Specialised { period, by, office, limit, format } => {
            let (from, to) = period.bounds();
            let q = specialised::Query {
                from,
                to,
                offices: crate::office_scope(app, office)?,
                by: specialised::AuditBy::parse(&by)?,
                limit: limit.max(1),
                // The operator reads integrity data at the command line
                // (`riskgate integrity`); the read is logged.
                integrity: true,
            };
            let s = specialised::select(app, &q)?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&s)?),
                Format::Table => print_specialised(&s),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

fn print_specialised(s: &specialised::SpecialisedSelection) {
    println!(
        "专业审计选择 / specialised audit selection {} – {} by {}: {} ranked{}",
        s.from,
        s.to,
        match s.by {
            specialised::AuditBy::Unit => "unit",
            specialised::AuditBy::Post => "post",
        },
        s.ranked,
        if s.integrity { " (integrity scores included)" } else { "" }
    );
    println!(
        "{:<28} {:>8} {:>7} {:>7} {:>7} {:>7} {:>6} {:>7} {:>7}  integrity",
        "unit / post", "score", "decl.", "ctrl", "hit", "peers", "ovr↓", "audited", "found"
    );
    for r in &s.rows {
        let who = match (&r.unit, &r.office, &r.post) {
            (Some(u), _, _) => u.clone(),
            (None, Some(o), Some(p)) => format!("{o}/{p}"),
            _ => String::new(),
        };
        let pct = |x: Option<f64>| x.map_or_else(|| "—".into(), |v| format!("{:.1}%", 100.0 * v));
        println!(
            "{:<28} {:>8.2} {:>7} {:>7} {:>7} {:>7} {:>6} {:>7} {:>7}  {}",
            who,
            r.score,
            r.declarations,
            r.controls,
            pct(r.hit_rate),
            pct(r.peer_hit_rate),
            r.overrides_down,
            r.audited_releases,
            r.audit_findings_after_release,
            r.integrity_level.as_deref().unwrap_or("—")
        );
        for x in &r.reasons {
            println!("{:<28} {x}", "");
        }
    }
}

fn print_selection(s: &postclearance::Selection) {
    println!(
        "稽查选案 / post-clearance audit selection {} – {} (ranked by {}, scored {}): {} released declarations \
         considered, {} paid abroad above their declared value",
        s.from,
        s.to,
        match s.rank {
            Rank::Duty => "expected duty",
            Rank::Probability => "probability",
            Rank::Balanced => "probability × √duty",
        },
        s.scorer.as_deref().unwrap_or("on payments only"),
        s.considered,
        s.overpaid
    );
    println!(
        "{:<20} {:<16} {:>6} {:>7} {:>12} {:>12} {:>8} {:>7}",
        "declaration", "trader", "office", "prob.", "exp. duty", "declared", "paid×", "screen"
    );
    for c in &s.declarations {
        println!(
            "{:<20} {:<16} {:>6} {:>6.1}% {:>12.0} {:>12.0} {:>8} {:>7}",
            c.declaration_id,
            c.trader,
            c.office,
            100.0 * c.probability,
            c.expected_duty,
            c.declared_cny,
            c.paid_ratio.map_or_else(|| "—".into(), |r| format!("{r:.2}")),
            c.risk_value_at_screening.map_or_else(|| "—".into(), |r| format!("{r:.3}")),
        );
        for r in c.reasons.iter().chain(&c.money_flow) {
            println!("{:<20} {r}", "");
        }
    }
    println!("\n企业稽查 / enterprise audits:");
    println!("{:<16} {:<24} {:>6} {:>8} {:>14}  level", "trader", "name", "decl.", "overpaid", "exp. duty CNY");
    for t in &s.traders {
        println!(
            "{:<16} {:<24} {:>6} {:>8} {:>14.0}  {}",
            t.trader,
            t.name.as_deref().unwrap_or(""),
            t.declarations,
            t.overpaid_declarations,
            t.expected_duty,
            t.risk_level.as_deref().unwrap_or("—")
        );
    }
}

fn print_plan(p: &postclearance::Plan) {
    println!(
        "稽查计划 / audit plan {} ({} – {}, {:.0}% drawn at random){}",
        p.name,
        p.from,
        p.to,
        100.0 * p.explore,
        if p.dry_run { " — dry run, no case opened" } else { "" }
    );
    println!(
        "{:<8} {:>8} {:>10} {:>7} {:>7} {:>14}",
        "unit", "capacity", "candidates", "ranked", "random", "exp. duty CNY"
    );
    for u in &p.units {
        println!(
            "{:<8} {:>8} {:>10} {:>7} {:>7} {:>14.0}",
            u.unit, u.capacity, u.candidates, u.ranked, u.random, u.expected_duty
        );
    }
    println!("{:<20} {:<8} {:<7} {:>8} {:>12} {:>8}", "declaration", "unit", "drawn", "p(sel.)", "exp. duty", "case");
    for a in &p.audits {
        println!(
            "{:<20} {:<8} {:<7} {:>8.4} {:>12.0} {:>8}",
            a.declaration_id,
            a.unit,
            a.drawn,
            a.selection_probability,
            a.expected_duty,
            a.case_id.map_or_else(|| "—".into(), |c| c.to_string())
        );
    }
}
