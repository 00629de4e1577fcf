//! `riskgate committee …`: risk committees at the command line (M10; the
//! use cases are `riskgate_app::committees`, the same the API calls). The
//! CLI is the local administrator's tool, as `users add` is: creating a
//! committee is not checked against a role here (over HTTP it needs the
//! administrator); votes are checked against the committee's members.

use std::process::ExitCode;

use anyhow::Result;
use clap::Subcommand;
use riskgate_app::App;
use riskgate_app::accounts::Perm;
use riskgate_app::committees::{self, Gated, NewCommittee};
use riskgate_store::CommitteeItem;

use crate::Format;

#[derive(Subcommand)]
pub enum CommitteeCmd {
    /// Create a committee (administrator): HQ or a district, with members and a quorum.
    Create {
        /// hq or district.
        #[arg(long)]
        level: String,
        /// The unit's office code (the HQ office or the district).
        #[arg(long)]
        unit: String,
        #[arg(long)]
        name: String,
        /// Approvals needed, by members other than the proposer.
        #[arg(long)]
        quorum: u32,
        /// Account names, comma-separated.
        #[arg(long, value_delimiter = ',')]
        members: Vec<String>,
    },
    /// Committees with their members and quorum.
    List {
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Items (proposed changes) with their votes, newest first.
    Items {
        /// One committee's items.
        #[arg(long)]
        committee: Option<i64>,
        /// pending, approved, rejected or withdrawn.
        #[arg(long)]
        status: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
    /// Vote on a pending item as a member (not its proposer).
    Vote {
        item: i64,
        /// Approve the change.
        #[arg(long, conflicts_with = "reject", required_unless_present = "reject")]
        approve: bool,
        /// Reject the change.
        #[arg(long)]
        reject: bool,
        #[arg(long)]
        comment: Option<String>,
    },
    /// Withdraw a pending item you proposed.
    Withdraw {
        item: i64,
        #[arg(long)]
        reason: String,
    },
    /// A committee's decisions in a period, with votes and comments.
    Minutes {
        committee: i64,
        /// First day (YYYY-MM-DD, China time); default 92 days before `to`.
        #[arg(long)]
        from: Option<String>,
        /// Last day, inclusive; default today.
        #[arg(long)]
        to: Option<String>,
        #[arg(long, value_enum, default_value = "table")]
        format: Format,
    },
}

/// The line printed for a gated change that now waits for a committee.
pub fn pending_line(item: &CommitteeItem) -> String {
    format!(
        "pending: committee item {} ({}) awaits the committee's approval; nothing changed yet",
        item.id, item.summary
    )
}

/// Prints what a gated change did: `done` or the pending item.
pub fn print_gated<T>(g: &Gated<T>, done: impl FnOnce(&T) -> String) {
    match g {
        Gated::Done(t) => println!("{}", done(t)),
        Gated::Pending(item) => println!("{}", pending_line(item)),
    }
}

fn item_line(i: &CommitteeItem) -> String {
    let approvals = i.votes.iter().filter(|v| v.approve).count();
    let rejections = i.votes.len() - approvals;
    format!(
        "{}\tcommittee {}\t{}\t{}\tby {}\t{} for, {} against\t{}",
        i.id,
        i.committee,
        i.status,
        i.summary,
        i.proposed_by,
        approvals,
        rejections,
        i.decision.as_deref().unwrap_or("")
    )
}

/// The permission a command needs from an authenticated user (the same
/// as over HTTP); the local operator may create committees (bootstrap),
/// and its votes are refused by the use case.
pub fn perm(cmd: &CommitteeCmd) -> Perm {
    match cmd {
        CommitteeCmd::Create { .. } => Perm::ManageCommittees,
        CommitteeCmd::Vote { .. } | CommitteeCmd::Withdraw { .. } => Perm::VoteCommittee,
        _ => Perm::ReadCommittees,
    }
}

pub fn run(app: &mut App, cmd: CommitteeCmd) -> Result<ExitCode> {
    match cmd {
        CommitteeCmd::Create { level, unit, name, quorum, members } => {
            let c = committees::create(app, NewCommittee { level, unit, name, quorum, members })?;
            println!(
                "committee {} created: {} ({} {}), quorum {} of {}",
                c.id,
                c.name,
                c.level,
                c.unit,
                c.quorum,
                c.members.join(", ")
            );
        }
        CommitteeCmd::List { format } => {
            format.print_rows(&committees::list(app.store.as_ref())?, |c| {
                format!("{}\t{}\t{}\t{}\tquorum {}\t{}", c.id, c.level, c.unit, c.name, c.quorum, c.members.join(","))
            })?;
        }
        CommitteeCmd::Items { committee, status, format } => {
            let items = committees::items(app.store.as_ref(), committee, status.as_deref())?;
            format.print_rows(&items, item_line)?;
        }
        CommitteeCmd::Vote { item, approve, reject, comment } => {
            debug_assert!(approve != reject);
            let i = committees::vote(app, item, approve, comment.as_deref())?;
            println!("{}", item_line(&i));
        }
        CommitteeCmd::Withdraw { item, reason } => {
            let i = committees::withdraw(app, item, &reason)?;
            println!("{}", item_line(&i));
        }
        CommitteeCmd::Minutes { committee, from, to, format } => {
            let to = match to {
                Some(d) => riskgate_app::app::parse_day("to", &d)?,
                None => riskgate_app::now().date_naive(),
            };
            let from = match from {
                Some(d) => riskgate_app::app::parse_day("from", &d)?,
                None => to - chrono::Days::new(92),
            };
            let m = committees::minutes(
                app.store.as_ref(),
                committee,
                riskgate_app::day_start(from),
                riskgate_app::day_start(to) + 86_400,
            )?;
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&m)?),
                Format::Table => print!("{}", m.text),
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
