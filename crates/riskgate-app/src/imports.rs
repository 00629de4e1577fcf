//! Imports per record kind, each in two steps: `check` finds what is wrong
//! with which record (by its number: a file's line, an array's index) and
//! `commit` stores the good ones, brings the engine up to date, writes the
//! action-log entry and emits the events. The CLI reports the bad records
//! and commits the rest; the HTTP API refuses a request with any bad record
//! (all or nothing). Both call the same two functions, so both store, log
//! and emit alike.

use std::collections::{HashMap, HashSet};

use anyhow::Result;
use riskgate_core::{
    Declaration, Enterprise, ForexPayment, Office, Officer, Outcome, Release, TaxInvoice, ValidationError,
    WorkforceRecord,
};
use riskgate_store::{Action, OutcomeStored, Store};
use serde_json::{Value, json};

use crate::app::App;
use crate::error::AppError;

/// What a run of imports or screening did.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Summary {
    pub accepted: usize,
    pub rejected: usize,
    pub duplicates: usize,
    /// Seconds spent per screening stage on the main thread: idempotency
    /// look-up, engine, store commit, output, waiting for the parser,
    /// final checkpoint (for `bench screen`).
    pub stage_secs: [f64; 6],
    /// CPU seconds of the parser, screening and writer threads, where
    /// Linux reports them (steadier than wall time on a shared machine).
    pub cpu_secs: [Option<f64>; 3],
}

impl Summary {
    /// `what: N accepted, N rejected, N duplicates`.
    pub fn line(&self, what: &str) -> String {
        format!("{what}: {} accepted, {} rejected, {} duplicates", self.accepted, self.rejected, self.duplicates)
    }
}

/// A record that cannot be stored: its number and what is wrong.
#[derive(Debug, Clone, PartialEq)]
pub struct RecordError {
    pub index: usize,
    pub error: ValidationError,
}

/// Numbered records (file line or array index) of one kind.
pub type Rows<T> = Vec<(usize, T)>;

fn unknown(index: usize, field: &str, expected: &str, got: &str) -> RecordError {
    RecordError { index, error: ValidationError::new(field, expected, format!("{got:?}")) }
}

/// The records without an error.
pub fn good<T>(rows: Rows<T>, errors: &[RecordError]) -> Vec<T> {
    let bad: HashSet<usize> = errors.iter().map(|e| e.index).collect();
    rows.into_iter().filter(|(i, _)| !bad.contains(i)).map(|(_, t)| t).collect()
}

/// One kind of record as the CLI and the API both import it: how a record
/// is parsed, the check against the store, then the commit of the good
/// records (`source` names where they came from: a file, or `api`).
pub struct Kind<T: 'static> {
    pub parse: fn(&Value) -> Result<T, ValidationError>,
    pub check: fn(&dyn Store, &Rows<T>) -> Result<Vec<RecordError>>,
    pub commit: fn(&mut App, &[T], &str) -> Result<Summary>,
}

impl<T> Clone for Kind<T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Kind<T> {}

pub const OFFICES: Kind<Office> = Kind { parse: Office::from_json, check: check_offices, commit: commit_offices };
pub const OFFICERS: Kind<Officer> = Kind { parse: Officer::from_json, check: check_officers, commit: commit_officers };
pub const ENTERPRISES: Kind<Enterprise> =
    Kind { parse: Enterprise::from_json, check: no_check, commit: commit_enterprises };
pub const FOREX: Kind<ForexPayment> = Kind { parse: ForexPayment::from_json, check: no_check, commit: commit_forex };
pub const INVOICES: Kind<TaxInvoice> = Kind { parse: TaxInvoice::from_json, check: no_check, commit: commit_invoices };
/// Outcomes in bulk: officers must be in the registry; logged as `record_outcomes`.
pub const OUTCOMES: Kind<Outcome> =
    Kind { parse: Outcome::from_json, check: check_outcomes_by_registry, commit: commit_outcomes_bulk };
pub const RELEASES: Kind<Release> = Kind { parse: Release::from_json, check: check_releases, commit: commit_releases };
/// Workforce records of one kind: give the kind's own `parse`
/// (`WorkforceRecord::disciplinary_from_json`, …).
pub const fn workforce(parse: fn(&Value) -> Result<WorkforceRecord, ValidationError>) -> Kind<WorkforceRecord> {
    Kind { parse, check: check_workforce, commit: commit_workforce }
}

/// For kinds with nothing to check against the store.
fn no_check<T>(_: &dyn Store, _: &Rows<T>) -> Result<Vec<RecordError>> {
    Ok(Vec::new())
}

fn check_outcomes_by_registry(store: &dyn Store, rows: &Rows<Outcome>) -> Result<Vec<RecordError>> {
    check_outcomes(store, rows, true)
}

/// Bulk outcomes (legacy records, other systems) are marked as imported
/// (`attributes.entry` = `import`, with who imported them), whatever the
/// record says, so they are never mistaken for a control recorded in person
/// against an open task (`entry` = `in_person`).
fn commit_outcomes_bulk(app: &mut App, rows: &[Outcome], source: &str) -> Result<Summary> {
    let action = app.action("record_outcomes", source);
    let marked: Vec<Outcome> = rows
        .iter()
        .map(|o| {
            let mut o = o.clone();
            o.attributes.insert("entry".into(), json!("import"));
            o.attributes.insert("imported_by".into(), json!(app.user));
            o
        })
        .collect();
    commit_outcomes(app, &marked, action)
}

fn office_codes(store: &dyn Store) -> Result<HashSet<String>> {
    Ok(store.offices()?.into_iter().map(|o| o.code).collect())
}

fn officer_ids(store: &dyn Store) -> Result<HashSet<String>> {
    Ok(store.officers()?.into_iter().map(|o| o.id).collect())
}

/// A declaration's office must be in the registry (any office while none is loaded).
pub fn check_office(offices: &HashSet<String>, d: &Declaration) -> Result<(), String> {
    if !offices.is_empty() && !offices.contains(&d.office) {
        return Err(ValidationError::new(
            "office",
            "a field office code known to the registry",
            format!("{:?}", d.office),
        )
        .to_string());
    }
    Ok(())
}

fn log_import(app: &mut App, action: &str, source: &str, s: &Summary) -> Result<()> {
    let mut a = app.action(action, source);
    a.after = Some(json!({"accepted": s.accepted, "duplicates": s.duplicates}));
    app.store.append_action(&a)?;
    Ok(())
}

/// Every record stored (the store upserts or appends them), and logged.
fn all_accepted(app: &mut App, action: &str, source: &str, accepted: usize) -> Result<Summary> {
    let s = Summary { accepted, ..Default::default() };
    log_import(app, action, source, &s)?;
    Ok(s)
}

fn counted(new: &[bool]) -> Summary {
    let accepted = new.iter().filter(|x| **x).count();
    Summary { accepted, duplicates: new.len() - accepted, ..Default::default() }
}

// ------------------------------------------------------------- offices

/// The tree must hold together: every parent known (among the records or
/// stored). An import never moves an office: a stored office imported again
/// with another parent or level refuses the whole import (409 `conflict`,
/// field `parent` or `level`), because that would silently widen or narrow
/// every scope under it; [`move_office`] is the deliberate, logged way.
pub fn check_offices(store: &dyn Store, rows: &Rows<Office>) -> Result<Vec<RecordError>> {
    let stored: HashMap<String, Office> = store.offices()?.into_iter().map(|o| (o.code.clone(), o)).collect();
    for (i, o) in rows {
        let Some(s) = stored.get(&o.code) else { continue };
        let at = if rows.len() == 1 { String::new() } else { format!("[{i}].") };
        let (field, was, now) = if s.parent != o.parent {
            ("parent", s.parent.as_deref().unwrap_or("(none)"), o.parent.as_deref().unwrap_or("(none)"))
        } else if s.level != o.level {
            ("level", s.level.as_str(), o.level.as_str())
        } else {
            continue;
        };
        return Err(AppError::new(
            crate::Kind::Conflict,
            "conflict",
            &format!("{at}{field}"),
            format!(
                "{at}{field}: office {} has {field} {was}, not {now}; an import never moves an office \
                 (an administrator moves it with `riskgate offices move`)",
                o.code
            ),
        )
        .into());
    }
    let mut known: HashSet<String> = stored.into_keys().collect();
    known.extend(rows.iter().map(|(_, o)| o.code.clone()));
    Ok(rows
        .iter()
        .filter_map(|(i, o)| {
            o.parent
                .as_ref()
                .filter(|p| !known.contains(*p))
                .map(|p| unknown(*i, "parent", "the code of a known office", p))
        })
        .collect())
}

pub fn commit_offices(app: &mut App, rows: &[Office], source: &str) -> Result<Summary> {
    app.store.upsert_offices(rows)?;
    all_accepted(app, "import_offices", source, rows.len())
}

/// Moves an office under another parent (and, when given, to another
/// level): the administrator's deliberate path (`riskgate offices move`),
/// never an import. The new parent must exist and not lie under the office
/// (no cycle); a reason is required; logged as `office_move` with the
/// office before and after.
pub fn move_office(
    app: &mut App,
    code: &str,
    parent: &str,
    level: Option<riskgate_core::OfficeLevel>,
    reason: &str,
) -> Result<Office> {
    let offices = app.store.offices()?;
    let before = offices
        .iter()
        .find(|o| o.code == code)
        .cloned()
        .ok_or_else(|| AppError::not_found(format!("no office {code:?}")))?;
    if !offices.iter().any(|o| o.code == parent) {
        return Err(AppError::invalid("parent", format!("parent: expected a known office code, got {parent:?}")).into());
    }
    if crate::accounts::subtree(&offices, code).contains(parent) {
        return Err(AppError::invalid("parent", format!("parent: {parent} is {code} or under it")).into());
    }
    let reason = reason.trim().to_string();
    if reason.is_empty() || reason.chars().count() > crate::overrides::MAX_REASON_CHARS {
        let max = crate::overrides::MAX_REASON_CHARS;
        return Err(AppError::invalid("reason", format!("reason: expected 1 to {max} characters")).into());
    }
    let mut after = before.clone();
    after.parent = Some(parent.to_string());
    if let Some(l) = level {
        after.level = l;
    }
    if after == before {
        return Err(AppError::conflict(format!("office {code} is already under {parent}")).into());
    }
    app.store.upsert_offices(std::slice::from_ref(&after))?;
    let mut a = app.action("office_move", code);
    a.before = Some(serde_json::to_value(&before)?);
    a.after = Some(serde_json::to_value(&after)?);
    a.reason = Some(reason);
    app.store.append_action(&a)?;
    Ok(after)
}

// ------------------------------------------------------------ officers

pub fn check_officers(store: &dyn Store, rows: &Rows<Officer>) -> Result<Vec<RecordError>> {
    let offices = office_codes(store)?;
    Ok(rows
        .iter()
        .filter(|(_, o)| !offices.is_empty() && !offices.contains(&o.office))
        .map(|(i, o)| unknown(*i, "office", "an office code known to the registry", &o.office))
        .collect())
}

pub fn commit_officers(app: &mut App, rows: &[Officer], source: &str) -> Result<Summary> {
    app.store.upsert_officers(rows)?;
    all_accepted(app, "import_officers", source, rows.len())
}

// ------------------------------------------- enterprises, forex, invoices

pub fn commit_enterprises(app: &mut App, rows: &[Enterprise], source: &str) -> Result<Summary> {
    app.store.upsert_enterprises(rows)?;
    for e in rows {
        app.engine.context.set_enterprise(e);
    }
    all_accepted(app, "import_enterprises", source, rows.len())
}

pub fn commit_forex(app: &mut App, rows: &[ForexPayment], source: &str) -> Result<Summary> {
    rows.chunks(10_000).try_for_each(|chunk| app.store.insert_forex(chunk))?;
    for p in rows {
        app.engine.context.add_forex(p);
    }
    all_accepted(app, "import_forex", source, rows.len())
}

pub fn commit_invoices(app: &mut App, rows: &[TaxInvoice], source: &str) -> Result<Summary> {
    rows.chunks(10_000).try_for_each(|chunk| app.store.insert_invoices(chunk))?;
    all_accepted(app, "import_invoices", source, rows.len())
}

// ----------------------------------------------------------- workforce

/// Units and officers must be known to the registry when one is loaded.
pub fn check_workforce(store: &dyn Store, rows: &Rows<WorkforceRecord>) -> Result<Vec<RecordError>> {
    let offices = office_codes(store)?;
    let officers = officer_ids(store)?;
    Ok(rows
        .iter()
        .filter_map(|(i, r)| match r {
            WorkforceRecord::Disciplinary { officer, .. } if !officers.is_empty() && !officers.contains(officer) => {
                Some(unknown(*i, "officer", "an officer id known to the registry", officer))
            }
            r => r.unit().filter(|u| !offices.is_empty() && !offices.contains(*u)).map(|u| {
                let field = if matches!(r, WorkforceRecord::Litigation { .. }) { "office" } else { "unit" };
                unknown(*i, field, "an office code known to the registry", u)
            }),
        })
        .collect())
}

pub fn commit_workforce(app: &mut App, rows: &[WorkforceRecord], source: &str) -> Result<Summary> {
    let s = counted(&app.store.insert_workforce(rows)?);
    log_import(app, "import_workforce", source, &s)?;
    Ok(s)
}

// ------------------------------------------------------------- history

/// Past declarations: stored without screening and folded into the
/// context (no action-log entry per chunk: the caller logs the import).
pub fn commit_historical(app: &mut App, rows: &[Declaration]) -> Result<Summary> {
    let stored = app.store.commit_historical(rows)?;
    let mut s = Summary::default();
    for (d, new) in rows.iter().zip(stored) {
        if new {
            app.engine.apply_historical(d);
            s.accepted += 1;
        } else {
            s.duplicates += 1;
        }
    }
    Ok(s)
}

// ---------------------------------------------------- outcomes, releases

/// Outcomes must name a stored declaration and, when `check_officer`, an
/// officer of the registry (an outcome recorded by the officer in person
/// over HTTP is in the caller's own name instead).
pub fn check_outcomes(store: &dyn Store, rows: &Rows<Outcome>, check_officer: bool) -> Result<Vec<RecordError>> {
    let officers = if check_officer { officer_ids(store)? } else { HashSet::new() };
    let mut errors = Vec::new();
    for chunk in rows.chunks(5_000) {
        let ids: Vec<&str> = chunk.iter().map(|(_, o)| o.declaration_id.as_str()).collect();
        let known = store.known(&ids)?;
        for (i, o) in chunk {
            if !known.contains_key(&o.declaration_id) {
                errors.push(unknown(*i, "declaration_id", "the id of a stored declaration", &o.declaration_id));
            } else if !officers.is_empty() && !officers.contains(&o.officer) {
                errors.push(unknown(*i, "officer", "an officer id known to the registry", &o.officer));
            }
        }
    }
    Ok(errors)
}

/// Stores outcomes, folds them into the engine's histories, logs `action`
/// (its `after` is what was stored unless set) and, for declarations
/// screened here (not history), emits an outcome event per stored outcome,
/// a finding event per outcome that found something and a release event
/// per outcome that released the goods.
pub fn commit_outcomes(app: &mut App, rows: &[Outcome], mut action: Action) -> Result<Summary> {
    let mut s = Summary::default();
    let mut events = Vec::new();
    let mut referrals = Vec::new();
    for chunk in rows.chunks(5_000) {
        let ids: Vec<&str> = chunk.iter().map(|o| o.declaration_id.as_str()).collect();
        let office_of: HashMap<String, String> =
            app.store.known(&ids)?.into_iter().filter_map(|(id, d)| d.map(|d| (id, d.office))).collect();
        let stored = app.store.commit_outcomes(chunk)?;
        for (o, st) in chunk.iter().zip(stored) {
            match st {
                OutcomeStored::Stored { keys, released } => {
                    app.engine.apply_outcome(&keys, o);
                    s.accepted += 1;
                    // Screened (live) declarations only: outcomes of history
                    // are neither events (they carry no office, so every
                    // office-filtered subscription would get them) nor
                    // referred again.
                    let Some(office) = office_of.get(&o.declaration_id) else { continue };
                    let prefix = &app.events.prefix;
                    events.push(crate::events::outcome_event(prefix, office, o));
                    events.extend(crate::events::finding_event(prefix, office, o));
                    if let (Some(at), true) = (&o.released_at, released) {
                        events.push(crate::events::release_event(prefix, office, &o.declaration_id, at, "outcome"));
                    }
                    referrals.push((o.clone(), office.clone()));
                }
                OutcomeStored::Duplicate => s.duplicates += 1,
            }
        }
    }
    if action.after.is_none() {
        action.after = Some(json!({"accepted": s.accepted, "duplicates": s.duplicates}));
    }
    app.store.append_action(&action)?;
    app.checkpoint()?;
    app.emit(&events)?;
    for (o, office) in referrals {
        crate::referrals::refer_outcome(app, &o, &office)?;
    }
    Ok(s)
}

/// The release gate (M1): a release names a declaration that was screened
/// and whose control, if it has one, is no longer open (completed, or
/// overridden to green). A declaration stored as history was never screened.
pub fn check_releases(store: &dyn Store, rows: &Rows<Release>) -> Result<Vec<RecordError>> {
    let mut errors = Vec::new();
    for chunk in rows.chunks(5_000) {
        let ids: Vec<&str> = chunk.iter().map(|(_, r)| r.declaration_id.as_str()).collect();
        let known = store.known(&ids)?;
        for (i, r) in chunk {
            let id = &r.declaration_id;
            let refusal = match known.get(id) {
                None => Some(("the id of a stored declaration", id.clone())),
                Some(None) => Some(("a screened declaration", format!("{id} (stored as history, never screened)"))),
                Some(Some(d)) if d.channel != riskgate_core::Channel::Green => {
                    let task = store.task_outcomes(id)?.task;
                    task.filter(|t| t.status == "open").map(|_| {
                        (
                            "a declaration whose control is completed",
                            format!("{id} (its {} control is still open)", d.channel.as_str()),
                        )
                    })
                }
                Some(Some(_)) => None,
            };
            if let Some((expected, got)) = refusal {
                errors.push(unknown(*i, "declaration_id", expected, &got));
            }
        }
    }
    Ok(errors)
}

/// Stores releases (checked by [`check_releases`]), logs the import and
/// emits a release event per release not stored before.
pub fn commit_releases(app: &mut App, rows: &[Release], source: &str) -> Result<Summary> {
    let mut new = Vec::with_capacity(rows.len());
    let mut events = Vec::new();
    for chunk in rows.chunks(5_000) {
        let ids: Vec<&str> = chunk.iter().map(|r| r.declaration_id.as_str()).collect();
        let office_of: HashMap<String, String> =
            app.store.known(&ids)?.into_iter().filter_map(|(id, d)| d.map(|d| (id, d.office))).collect();
        let stored = app.store.commit_releases(chunk)?;
        for (r, _) in chunk.iter().zip(&stored).filter(|(_, new)| **new) {
            let office = office_of.get(&r.declaration_id).map_or("", String::as_str);
            events.push(crate::events::release_event(
                &app.events.prefix,
                office,
                &r.declaration_id,
                &r.released_at,
                "release",
            ));
        }
        new.extend(stored);
    }
    let s = counted(&new);
    log_import(app, "record_releases", source, &s)?;
    app.emit(&events)?;
    Ok(s)
}

/// An officer records the outcome of a control in person (the console,
/// `POST /controls/{id}/outcome`): facts come from the system, not the
/// caller. The declaration must have an open control task (a control never
/// opened, already completed or overridden away gets 409), and the times
/// are the server's: `completed_at` is now, and `released_at`, when the
/// outcome releases the goods, is now too. Bulk imports of outcomes
/// recorded elsewhere (`import outcomes`, `POST /outcomes`, for machines
/// and administrators) keep their own times.
pub fn record_control_outcome(app: &mut App, mut o: Outcome) -> Result<Summary> {
    let task = app.store.task_outcomes(&o.declaration_id)?.task;
    match task {
        None => {
            return Err(crate::error::AppError::conflict(format!(
                "declaration_id: {} has no control task: only a controlled declaration takes an outcome",
                o.declaration_id
            ))
            .into());
        }
        Some(t) if t.status != "open" => {
            return Err(crate::error::AppError::conflict(format!(
                "declaration_id: the control of {} is {}, not open: its outcome is already recorded or it was released",
                o.declaration_id, t.status
            ))
            .into());
        }
        Some(_) => {}
    }
    // Goods seized at the control are not released by the same act: the
    // release (of what is not seized) follows once the seizure is handled.
    if o.seizure && o.released_at.is_some() {
        return Err(crate::error::AppError::invalid(
            "released_at",
            "released_at: goods seized by this control cannot be released with the same outcome; \
             record the outcome without release and release what is not seized afterwards",
        )
        .into());
    }
    let now = crate::app::now();
    o.completed_at = now;
    o.attributes.insert("entry".into(), json!("in_person"));
    o.attributes.remove("imported_by");
    if o.released_at.is_some() {
        o.released_at = Some(now);
    }
    // The outcome itself goes to the action log.
    let mut action = app.action("record_outcome", &o.declaration_id);
    action.after = Some(serde_json::to_value(&o)?);
    commit_outcomes(app, std::slice::from_ref(&o), action)
}
