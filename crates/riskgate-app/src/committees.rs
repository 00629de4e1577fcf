//! Risk committees (M10): committees at HQ and district level approve, by
//! quorum, the changes of their scope — model activation, rules, control
//! budgets, target rates and the exploration share — instead of those
//! changes taking effect at once (docs/committees.md).
//!
//! The gated use cases (`model::set_status`, `rules::approve`,
//! `settings::set_setting`) ask `committee_gate` first: without a
//! committee covering the change they go on as before; with one, the
//! change becomes a pending item and nothing else is stored. Here:
//! committees, items, votes, withdrawal, minutes. When members other than
//! the proposer approve an item up to the quorum, [`vote`] applies it
//! through the same use case's own step, so the stored change, its
//! action-log entry and its events are those of a direct change (the
//! entry's reason names the item).

use std::collections::HashSet;

use anyhow::{Context, Result};
use riskgate_core::OfficeLevel;
use riskgate_store::{Committee, CommitteeItem, ItemQuery, Store, Vote};
use serde::{Deserialize, Serialize};

use crate::app::{App, now};
use crate::committee_gate::eligible;
pub use crate::committee_gate::{Change, Gated, committee_for, is_committee_setting};
use crate::error::{AppError, Kind};

/// A committee to create (administrators only: the transports check).
#[derive(Debug, Clone, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCommittee {
    /// `hq` or `district`.
    pub level: String,
    /// The unit's office code (the HQ office, or the district).
    pub unit: String,
    pub name: String,
    pub quorum: u32,
    /// Account names.
    pub members: Vec<String>,
}

/// Creates a committee after checking every field against the office
/// registry and the accounts.
pub fn create(app: &mut App, new: NewCommittee) -> Result<Committee> {
    let level = match new.level.as_str() {
        "hq" => OfficeLevel::Hq,
        "district" => OfficeLevel::District,
        other => {
            return Err(AppError::invalid("level", format!("level: expected hq or district, got {other:?}")).into());
        }
    };
    let offices = app.store.offices()?;
    if new.unit.is_empty() || new.unit.len() > 16 || !new.unit.chars().all(|c| c.is_ascii_alphanumeric()) {
        return Err(AppError::invalid("unit", format!("unit: expected an office code, got {:?}", new.unit)).into());
    }
    if !offices.is_empty() {
        match offices.iter().find(|o| o.code == new.unit) {
            None => return Err(AppError::invalid("unit", format!("unit: no office {:?}", new.unit)).into()),
            Some(o) if o.level != level => {
                return Err(AppError::invalid(
                    "unit",
                    format!("unit: {} is a {} office, not {}", o.code, o.level.as_str(), new.level),
                )
                .into());
            }
            Some(_) => {}
        }
    }
    let name = new.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 || name.chars().any(char::is_control) {
        return Err(AppError::invalid("name", "name: expected 1 to 100 characters without control characters").into());
    }
    let mut seen = HashSet::new();
    if new.members.is_empty() || new.members.len() > 50 {
        return Err(AppError::invalid("members", "members: expected 1 to 50 account names").into());
    }
    for m in &new.members {
        if !seen.insert(m.as_str()) {
            return Err(AppError::invalid("members", format!("members: {m:?} is named twice")).into());
        }
        match app.store.user(m)? {
            None => return Err(AppError::invalid("members", format!("members: no account {m:?}")).into()),
            Some(u) if u.disabled || u.role == "machine" => {
                return Err(AppError::invalid(
                    "members",
                    format!("members: {m:?} is a disabled or machine account and cannot vote"),
                )
                .into());
            }
            Some(_) => {}
        }
    }
    if new.quorum == 0 || new.quorum as usize > new.members.len() {
        return Err(AppError::invalid(
            "quorum",
            format!("quorum: expected 1 to {} (the number of members), got {}", new.members.len(), new.quorum),
        )
        .into());
    }
    if level == OfficeLevel::Hq && app.store.committees()?.iter().any(|c| c.level == "hq") {
        return Err(AppError::conflict("level: there is an HQ committee already").into());
    }
    let mut c = Committee {
        id: 0,
        level: new.level,
        unit: new.unit,
        name,
        quorum: new.quorum,
        members: new.members,
        created_by: app.user.clone(),
        created_at: now().timestamp(),
    };
    let mut a = app.action("committee_create", "committee");
    a.after = Some(serde_json::to_value(&c)?);
    c.id = app.store.insert_committee(&c, &a)?;
    Ok(c)
}

pub fn list(store: &dyn Store) -> Result<Vec<Committee>> {
    Ok(store.committees()?)
}

/// One committee by id, or 404.
pub fn committee(store: &dyn Store, id: i64) -> Result<Committee> {
    store
        .committees()?
        .into_iter()
        .find(|c| c.id == id)
        .ok_or_else(|| AppError::not_found(format!("no committee {id}")).into())
}

/// One item by id, or 404.
pub fn item(store: &dyn Store, id: i64) -> Result<CommitteeItem> {
    store
        .committee_items(&ItemQuery { id: Some(id), ..Default::default() })?
        .pop()
        .ok_or_else(|| AppError::not_found(format!("no committee item {id}")).into())
}

/// Items of one committee or all, of one status or all, newest first.
pub fn items(store: &dyn Store, committee: Option<i64>, status: Option<&str>) -> Result<Vec<CommitteeItem>> {
    if let Some(s) = status
        && !matches!(s, "pending" | "approved" | "rejected" | "withdrawn")
    {
        return Err(AppError::new(
            Kind::Invalid,
            "invalid_query",
            "status",
            format!("status: expected pending, approved, rejected or withdrawn, got {s:?}"),
        )
        .into());
    }
    if let Some(c) = committee {
        self::committee(store, c)?;
    }
    Ok(store.committee_items(&ItemQuery { committee, status: status.map(str::to_string), ..Default::default() })?)
}

fn check_text(field: &str, text: &str) -> Result<()> {
    if text.chars().count() > 2_000 || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::invalid(
            field,
            format!("{field}: expected at most 2,000 characters without control characters"),
        )
        .into());
    }
    Ok(())
}

/// A member's vote on a pending item. When approvals reach the quorum the
/// change takes effect (through the use case's own step) and the item is
/// approved; when the quorum can no longer be reached, or rejections
/// reach it, the item is rejected. The vote and the decision are logged
/// with the item's update in one transaction; the change, applied first,
/// keeps its own entry (its reason names the item).
pub fn vote(app: &mut App, id: i64, approve: bool, comment: Option<&str>) -> Result<CommitteeItem> {
    crate::accounts::require_identity(&app.user, "a committee vote")?;
    let comment = comment.map(str::trim).filter(|c| !c.is_empty());
    if let Some(c) = comment {
        check_text("comment", c)?;
    }
    let mut item = item(app.store.as_ref(), id)?;
    let c = committee(app.store.as_ref(), item.committee)?;
    if item.status != "pending" {
        return Err(AppError::conflict(format!(
            "committee item {id} is {}, only a pending item takes votes",
            item.status
        ))
        .into());
    }
    if !c.members.contains(&app.user) {
        return Err(AppError::forbidden("not_a_member", format!("{} is not a member of {}", app.user, c.name)).into());
    }
    if item.proposed_by == app.user {
        return Err(AppError::forbidden(
            "four_eyes",
            format!("{} proposed committee item {id}: the other members decide it (four-eyes principle)", app.user),
        )
        .into());
    }
    let voters = eligible(app.store.as_ref(), &c, &item)?;
    if !voters.contains(&app.user) {
        return Err(AppError::forbidden(
            "four_eyes",
            format!(
                "{} wrote the rule of committee item {id}: the other members decide it (four-eyes principle)",
                app.user
            ),
        )
        .into());
    }
    if item.votes.iter().any(|v| v.voter == app.user) {
        return Err(AppError::conflict(format!("{} has voted on committee item {id} already", app.user)).into());
    }
    let t = now().timestamp();
    let v = Vote { voter: app.user.clone(), at: t, approve, comment: comment.map(str::to_string) };
    item.votes.push(v.clone());
    let approvals = item.votes.iter().filter(|v| v.approve).count() as u32;
    let rejections = item.votes.len() as u32 - approvals;
    let undecided = voters.iter().filter(|m| !item.votes.iter().any(|v| &&v.voter == m)).count() as u32;
    let mut va = app.action("committee_vote", "committee_item");
    va.after = Some(serde_json::json!({"vote": if approve { "approve" } else { "reject" }, "approvals": approvals,
        "rejections": rejections, "quorum": c.quorum}));
    va.reason = v.comment.clone();
    let mut actions = vec![va];
    item.version += 1;
    if approvals >= c.quorum {
        item.status = "approved".into();
        item.decision = Some(format!(
            "通过：同意 {approvals} 票（需 {q} 票） / approved: {approvals} of {q} approvals needed",
            q = c.quorum
        ));
    } else if rejections >= c.quorum || approvals + undecided < c.quorum {
        item.status = "rejected".into();
        item.decision = Some(format!(
            "否决：反对 {rejections} 票，同意 {approvals} 票（需 {q} 票） / rejected: {rejections} rejections, \
             {approvals} approvals; {q} needed",
            q = c.quorum
        ));
    }
    if item.status != "pending" {
        item.decided_at = Some(t);
        let mut d = app.action("committee_decide", "committee_item");
        d.before = Some(serde_json::json!({"status": "pending"}));
        d.after = Some(serde_json::json!({"status": item.status, "change": item.change, "approvals": approvals,
            "rejections": rejections, "voters": item.votes.iter().map(|v| &v.voter).collect::<Vec<_>>()}));
        d.reason = item.decision.clone();
        actions.push(d);
    }
    if item.status == "approved" {
        apply(app, &item, &c)?;
    }
    app.store.update_committee_item(&item, Some(&v), &actions)?;
    Ok(item)
}

/// Applies an approved item's change through the use case's own step.
fn apply(app: &mut App, item: &CommitteeItem, c: &Committee) -> Result<()> {
    let change: Change = serde_json::from_value(item.change.clone())
        .with_context(|| format!("committee item {} holds a change this build does not know", item.id))?;
    // "中文 / English": the console shows reasons in the reader's language.
    let via =
        format!("经{}批准（委员会事项 {}） / approved by the committee (committee item {})", c.name, item.id, item.id);
    match change {
        Change::ModelActivate { model } => crate::model::apply_status(app, &model, "active", Some(via)),
        Change::RuleApprove { rule, version } => {
            crate::rules::apply_approve(app, &rule, version, &item.proposed_by, Some(via)).map(|_| ())
        }
        Change::Setting { key, value } => crate::settings::apply_setting(app, &key, &value, Some(via)),
    }
}

/// The proposer withdraws a pending item (with a reason); nothing changes.
pub fn withdraw(app: &mut App, id: i64, reason: &str) -> Result<CommitteeItem> {
    crate::accounts::require_identity(&app.user, "withdrawing a committee item")?;
    let reason = reason.trim();
    if reason.is_empty() {
        return Err(AppError::invalid("reason", "reason: withdrawing an item needs a reason").into());
    }
    check_text("reason", reason)?;
    let mut item = item(app.store.as_ref(), id)?;
    if item.status != "pending" {
        return Err(AppError::conflict(format!(
            "committee item {id} is {}, only a pending item can be withdrawn",
            item.status
        ))
        .into());
    }
    if item.proposed_by != app.user {
        return Err(AppError::forbidden(
            "not_the_proposer",
            format!("committee item {id} was proposed by {}: only they may withdraw it", item.proposed_by),
        )
        .into());
    }
    item.version += 1;
    item.status = "withdrawn".into();
    item.decided_at = Some(now().timestamp());
    item.decision = Some(format!("withdrawn by {}: {reason}", app.user));
    let mut a = app.action("committee_withdraw", "committee_item");
    a.before = Some(serde_json::json!({"status": "pending"}));
    a.after = Some(serde_json::json!({"status": "withdrawn"}));
    a.reason = Some(reason.to_string());
    app.store.update_committee_item(&item, None, &[a])?;
    Ok(item)
}

/// A committee's minutes: its decisions in `[from, to)` (seconds), oldest
/// first, with every vote and comment.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Minutes {
    pub committee: Committee,
    pub from: i64,
    pub to: i64,
    pub decisions: Vec<CommitteeItem>,
    /// The same as readable text (times at +08:00).
    pub text: String,
}

pub fn minutes(store: &dyn Store, id: i64, from: i64, to: i64) -> Result<Minutes> {
    if from >= to {
        return Err(AppError::new(Kind::Invalid, "invalid_query", "from", "from: expected a day before to").into());
    }
    let committee = committee(store, id)?;
    let mut decisions = store.committee_items(&ItemQuery {
        committee: Some(id),
        decided_from: Some(from),
        decided_to: Some(to),
        ..Default::default()
    })?;
    decisions.retain(|i| i.status != "pending");
    decisions.sort_by_key(|i| (i.decided_at, i.id));
    let text = minutes_text(&committee, from, to, &decisions);
    Ok(Minutes { committee, from, to, decisions, text })
}

fn local(t: i64) -> String {
    let tz = chrono::FixedOffset::east_opt(8 * 3600).expect("valid offset");
    chrono::DateTime::from_timestamp(t, 0)
        .map_or_else(|| t.to_string(), |d| d.with_timezone(&tz).format("%Y-%m-%d %H:%M").to_string())
}

fn minutes_text(c: &Committee, from: i64, to: i64, decisions: &[CommitteeItem]) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "Minutes of {} ({} {}), {} to {} (UTC+8)", c.name, c.level, c.unit, local(from), local(to));
    let _ = writeln!(s, "Members: {}; quorum {}", c.members.join(", "), c.quorum);
    if decisions.is_empty() {
        let _ = writeln!(s, "\nNo decisions in this period.");
    }
    for i in decisions {
        let _ = writeln!(s, "\nItem {}: {} [{}]", i.id, i.summary, i.status);
        let _ = writeln!(s, "  proposed by {} at {}", i.proposed_by, local(i.proposed_at));
        if let (Some(b), Some(a)) = (&i.before, &i.after) {
            let _ = writeln!(s, "  before {b}, after {a}");
        }
        for v in &i.votes {
            let vote = if v.approve { "approve" } else { "reject" };
            let _ = write!(s, "  {} {vote} at {}", v.voter, local(v.at));
            let _ = match &v.comment {
                Some(c) => writeln!(s, ": {c}"),
                None => writeln!(s),
            };
        }
        if let (Some(t), Some(d)) = (i.decided_at, &i.decision) {
            let _ = writeln!(s, "  decided at {}: {d}", local(t));
        }
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use riskgate_core::{Office, RuleStatus};
    use riskgate_store::User;

    const OFFICES: [(&str, Option<&str>, OfficeLevel); 5] = [
        ("0000", None, OfficeLevel::Hq),
        ("2200", Some("0000"), OfficeLevel::District),
        ("2201", Some("2200"), OfficeLevel::Office),
        ("5300", Some("0000"), OfficeLevel::District),
        ("5301", Some("5300"), OfficeLevel::Office),
    ];

    /// A store with the office tree, accounts, a loadable candidate model
    /// `m1`, and draft rules by `author`: `R-N` (national) and `R-D`
    /// (scope office 2201, in district 2200).
    fn setup() -> (tempfile::TempDir, App) {
        let dir = tempfile::tempdir().unwrap();
        let mut app = App::open(dir.path(), "admin").unwrap();
        let offices: Vec<Office> = OFFICES
            .iter()
            .map(|(c, p, l)| Office {
                code: c.to_string(),
                name: c.to_string(),
                parent: p.map(str::to_string),
                level: *l,
            })
            .collect();
        app.store.upsert_offices(&offices).unwrap();
        for name in ["author", "p", "a", "b", "c", "d1", "d2", "outsider"] {
            let u = User {
                username: name.into(),
                display_name: name.into(),
                role: "risk_analyst".into(),
                office: None,
                department: None,
                disabled: false,
                created_at: 0,
                password_hash: "x".into(),
            };
            app.store.insert_user(&u, &app.action("user_add", name)).unwrap();
        }
        let names = crate::model::TrainOptions::default().names();
        let mut data = riskgate_model::Dataset::new(names.clone());
        let mut y = Vec::new();
        for i in 0..60 {
            let mut row = vec![0.0; names.len()];
            row[0] = f64::from(i);
            data.push(&row);
            y.push(if i >= 30 { 1.0 } else { 0.0 });
        }
        let params = riskgate_model::TrainParams { iterations: 3, min_leaf_weight: 1.0, ..Default::default() };
        let w = vec![1.0; y.len()];
        let m = riskgate_model::Model::train(riskgate_model::Objective::Classification, &data, &y, &w, None, &params)
            .unwrap();
        let scorer = riskgate_engine::model_scorer::ModelScorer::new("m1".into(), m, None).unwrap();
        let rec = riskgate_store::ModelRecord {
            id: "m1".into(),
            created_at: 0,
            created_by: "author".into(),
            status: "candidate".into(),
            metrics: serde_json::json!({}),
            bytes: scorer.to_bytes(),
        };
        app.store.insert_model(&rec, &app.action("model_train", "m1")).unwrap();
        app.user = "author".into();
        for (id, scope) in [("R-N", None), ("R-D", Some("2201"))] {
            let file: crate::rules::RuleFile = serde_json::from_value(serde_json::json!({
                "id": id, "title": "phones", "weight": 0.3, "scope": scope,
                "when": "any(item: item.hs_code starts_with \"8517\")"
            }))
            .unwrap();
            let def = crate::rules::rule_def(file, "test").unwrap();
            crate::rules::add_checked(&mut app, def, "").unwrap();
        }
        (dir, app)
    }

    fn committee(app: &mut App, level: &str, unit: &str, quorum: u32, members: &[&str]) -> Committee {
        app.user = "admin".into();
        create(
            app,
            NewCommittee {
                level: level.into(),
                unit: unit.into(),
                name: format!("{level} {unit} committee"),
                quorum,
                members: members.iter().map(|m| m.to_string()).collect(),
            },
        )
        .unwrap()
    }

    /// One gated change: its name, how `p` proposes it, and whether it has taken effect.
    type Case = (&'static str, fn(&mut App) -> Result<Option<CommitteeItem>>, fn(&App) -> bool);

    fn pending<T>(g: Gated<T>) -> Option<CommitteeItem> {
        g.pending().cloned()
    }

    fn cases() -> Vec<Case> {
        vec![
            (
                "model activation",
                |app| crate::model::set_status(app, "m1", "active").map(pending),
                |app| app.store.model("m1").unwrap().unwrap().status == "active",
            ),
            (
                "national rule",
                |app| crate::rules::approve(app, "R-N", None).map(pending),
                |app| crate::rules::find(app, "R-N", Some(1)).unwrap().status == RuleStatus::Active,
            ),
            (
                "target rate",
                |app| crate::settings::set_setting(app, "target.default", "0.05").map(pending),
                |app| app.store.setting("target.default").unwrap().as_deref() == Some("0.05"),
            ),
            (
                "budget",
                |app| crate::settings::set_setting(app, "budget", "district").map(pending),
                |app| app.store.setting("budget").unwrap().as_deref() == Some("district"),
            ),
            (
                "exploration share",
                |app| crate::settings::set_setting(app, "random_rate", "0.01").map(pending),
                |app| app.store.setting("random_rate").unwrap().as_deref() == Some("0.01"),
            ),
        ]
    }

    fn code(e: anyhow::Error) -> &'static str {
        crate::classify(&e).unwrap_or_else(|| panic!("not a refusal: {e:#}")).code
    }

    fn vote_as(app: &mut App, who: &str, id: i64, approve: bool) -> Result<CommitteeItem> {
        app.user = who.into();
        vote(app, id, approve, Some("considered"))
    }

    /// Without any committee every change takes effect at once, as before.
    #[test]
    fn without_committees_changes_take_effect_at_once() {
        let (_dir, mut app) = setup();
        for (name, propose, effective) in cases() {
            app.user = "p".into();
            assert_eq!(propose(&mut app).unwrap(), None, "{name}: no committee, no item");
            assert!(effective(&app), "{name} took effect");
        }
        assert!(app.store.committee_items(&ItemQuery::default()).unwrap().is_empty());
    }

    /// With an HQ committee of quorum 2, each change waits until two
    /// members other than the proposer approve it, then takes effect
    /// through its own use case (its action-log entry names the item).
    #[test]
    fn hq_changes_wait_for_two_approvals_other_than_the_proposer() {
        let (_dir, mut app) = setup();
        let hq = committee(&mut app, "hq", "0000", 2, &["p", "a", "b", "c"]);
        for (name, propose, effective) in cases() {
            app.user = "p".into();
            let item = propose(&mut app).unwrap().unwrap_or_else(|| panic!("{name}: no item"));
            assert_eq!((item.committee, item.status.as_str(), item.proposed_by.as_str()), (hq.id, "pending", "p"));
            assert!(!effective(&app), "{name} took effect without the committee");
            app.user = "p".into();
            assert_eq!(code(propose(&mut app).unwrap_err()), "conflict", "{name}: proposed twice");
            assert_eq!(code(vote_as(&mut app, "p", item.id, true).unwrap_err()), "four_eyes", "{name}");
            assert_eq!(code(vote_as(&mut app, "outsider", item.id, true).unwrap_err()), "not_a_member", "{name}");
            let once = vote_as(&mut app, "a", item.id, true).unwrap();
            assert_eq!(once.status, "pending", "{name}: one approval of two");
            assert!(!effective(&app), "{name} took effect on one approval");
            assert_eq!(code(vote_as(&mut app, "a", item.id, true).unwrap_err()), "conflict", "{name}: voted twice");
            let done = vote_as(&mut app, "b", item.id, true).unwrap();
            assert_eq!((done.status.as_str(), done.votes.len()), ("approved", 2), "{name}");
            assert!(effective(&app), "{name} did not take effect at the quorum");
            assert_eq!(code(vote_as(&mut app, "c", item.id, true).unwrap_err()), "conflict", "{name}: decided");
            let log = app.store.actions(20).unwrap();
            let target = format!("committee_item:{}", item.id);
            let on_item: Vec<&str> =
                log.iter().filter(|l| l.action.target == target).map(|l| l.action.action.as_str()).collect();
            assert_eq!(
                on_item,
                ["committee_decide", "committee_vote", "committee_vote", "committee_propose"],
                "{name}"
            );
            let via = format!("(committee item {})", item.id);
            assert!(
                log.iter().any(|l| l.action.reason.as_deref().is_some_and(|r| r.ends_with(&via))),
                "{name}: the change's own entry names the item"
            );
        }
        // Settings no committee decides are not gated.
        app.user = "p".into();
        assert_eq!(pending(crate::settings::set_setting(&mut app, "case.accept_days", "4").unwrap()), None);
        // Shadow and retirement are not activation.
        assert_eq!(pending(crate::model::set_status(&mut app, "m1", "shadow").unwrap()), None);
    }

    /// A rule of a district's scope goes to that district's committee (HQ
    /// members cannot vote on it); the rule's author may not vote either.
    #[test]
    fn a_district_rule_needs_the_district_committee() {
        let (_dir, mut app) = setup();
        committee(&mut app, "hq", "0000", 2, &["p", "a", "b"]);
        let district = committee(&mut app, "district", "2200", 1, &["p", "d1", "d2", "author"]);
        app.user = "p".into();
        let item = pending(crate::rules::approve(&mut app, "R-D", None).unwrap()).expect("an item");
        assert_eq!(item.committee, district.id);
        assert_eq!(code(vote_as(&mut app, "a", item.id, true).unwrap_err()), "not_a_member");
        assert_eq!(code(vote_as(&mut app, "author", item.id, true).unwrap_err()), "four_eyes");
        let done = vote_as(&mut app, "d1", item.id, true).unwrap();
        assert_eq!(done.status, "approved");
        let rule = crate::rules::find(&app, "R-D", Some(1)).unwrap();
        assert_eq!((rule.status, rule.approved_by.as_deref()), (RuleStatus::Active, Some("p")));
        // A target of an office in another district, without its own committee, goes to HQ.
        let t = pending(crate::settings::set_setting(&mut app, "target.5301", "0.03").unwrap()).expect("an item");
        assert_ne!(t.committee, district.id);
    }

    /// Rejections that leave the quorum out of reach close the item with
    /// nothing changed; a proposer may withdraw their own pending item.
    #[test]
    fn rejected_and_withdrawn_items_change_nothing() {
        let (_dir, mut app) = setup();
        committee(&mut app, "hq", "0000", 2, &["p", "a", "b"]);
        app.user = "p".into();
        let item = pending(crate::model::set_status(&mut app, "m1", "active").unwrap()).unwrap();
        let closed = vote_as(&mut app, "a", item.id, false).unwrap();
        assert_eq!(closed.status, "rejected", "two voters left, one rejected: two approvals cannot come");
        assert_eq!(app.store.model("m1").unwrap().unwrap().status, "candidate");
        app.user = "p".into();
        let again = pending(crate::model::set_status(&mut app, "m1", "active").unwrap()).unwrap();
        app.user = "a".into();
        assert_eq!(code(withdraw(&mut app, again.id, "no").unwrap_err()), "not_the_proposer");
        app.user = "p".into();
        assert_eq!(code(withdraw(&mut app, again.id, " ").unwrap_err()), "invalid_field");
        let w = withdraw(&mut app, again.id, "evaluation to be redone").unwrap();
        assert_eq!(w.status, "withdrawn");
        assert_eq!(app.store.model("m1").unwrap().unwrap().status, "candidate");
        let m = minutes(app.store.as_ref(), item.committee, 0, now().timestamp() + 1).unwrap();
        assert_eq!(m.decisions.iter().map(|i| i.status.as_str()).collect::<Vec<_>>(), ["rejected", "withdrawn"]);
        assert!(m.text.contains("a reject") && m.text.contains("considered"), "{}", m.text);
    }

    /// Committees are checked field by field.
    #[test]
    fn committees_are_checked_by_field() {
        let (_dir, mut app) = setup();
        app.user = "admin".into();
        for (level, unit, quorum, members, field) in [
            ("region", "0000", 1, vec!["a"], "level"),
            ("hq", "2200", 1, vec!["a"], "unit"),
            ("district", "9999", 1, vec!["a"], "unit"),
            ("hq", "0000", 2, vec!["a"], "quorum"),
            ("hq", "0000", 0, vec!["a"], "quorum"),
            ("hq", "0000", 1, vec!["a", "a"], "members"),
            ("hq", "0000", 1, vec!["nobody"], "members"),
        ] {
            let new = NewCommittee {
                level: level.into(),
                unit: unit.into(),
                name: "c".into(),
                quorum,
                members: members.iter().map(|m| m.to_string()).collect(),
            };
            let e = crate::classify(&create(&mut app, new).unwrap_err()).unwrap();
            assert_eq!(e.field, field, "{level} {unit}: {}", e.message);
        }
        committee(&mut app, "hq", "0000", 1, &["a"]);
        let dup = NewCommittee {
            level: "hq".into(),
            unit: "0000".into(),
            name: "c".into(),
            quorum: 1,
            members: vec!["b".into()],
        };
        assert_eq!(code(create(&mut app, dup).unwrap_err()), "conflict");
    }
}
