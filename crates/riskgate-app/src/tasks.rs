//! Control tasks at work (M1, M12): each open control has a deadline by
//! lane (sooner when the trader asked for urgent clearance), an urgent
//! request moves it to the top of the workbench, and an overdue control is
//! escalated once to the office's managers. Deadlines come from the
//! settings `task.due_hours.yellow`, `task.due_hours.red` and
//! `task.due_hours.urgent`.

use std::collections::HashSet;

use anyhow::Result;
use riskgate_store::{ControlTask, Store, TaskMark};
use serde_json::json;

use crate::app::App;
use crate::error::AppError;
use crate::events::{OutEvent, token};

/// Hours to complete a control by lane, and after an urgent request,
/// unless the settings say otherwise.
pub const DUE_HOURS: [(&str, f64); 3] = [("yellow", 24.0), ("red", 48.0), ("urgent", 4.0)];

/// The kinds of urgent-clearance request (M12).
pub const URGENT_KINDS: [&str; 5] = ["perishable", "medical", "live_animals", "production_line", "other"];

fn hours(store: &dyn Store, which: &str) -> Result<f64> {
    let default = DUE_HOURS.iter().find(|(k, _)| *k == which).map_or(48.0, |(_, h)| *h);
    Ok(store.setting(&format!("task.due_hours.{which}"))?.and_then(|v| v.parse().ok()).unwrap_or(default))
}

/// Fills each task's `due_at`: opened + the lane's hours, or the urgent
/// request + the urgent hours when that is sooner.
pub fn with_deadlines(store: &dyn Store, tasks: &mut [ControlTask]) -> Result<()> {
    let (yellow, red, urgent) = (hours(store, "yellow")?, hours(store, "red")?, hours(store, "urgent")?);
    let secs = |h: f64| (h * 3600.0).round() as i64;
    for t in tasks {
        let lane = if t.channel == "red" { red } else { yellow };
        let mut due = t.opened_at + secs(lane);
        if let Some(at) = t.urgent_at {
            due = due.min(at + secs(urgent));
        }
        t.due_at = Some(due);
    }
    Ok(())
}

/// Open control tasks of `offices` (all when `None`) with their deadlines:
/// urgent requests first, then by risk; `offset` tasks of that order are
/// skipped (paging), then at most `limit` are returned.
pub fn open(store: &dyn Store, offices: Option<&[String]>, limit: usize, offset: usize) -> Result<Vec<ControlTask>> {
    // Each office's first `offset + limit` in the same order hold the
    // merged list's first `offset + limit`.
    let want = limit.saturating_add(offset);
    let mut tasks = match offices {
        None => store.open_tasks(None, want)?,
        Some(codes) => {
            let mut all = Vec::new();
            for c in codes {
                all.extend(store.open_tasks(Some(c), want)?);
            }
            all
        }
    };
    tasks.sort_by(|a, b| {
        (a.urgent.is_none().cmp(&b.urgent.is_none())).then(b.risk_value.total_cmp(&a.risk_value)).then(a.id.cmp(&b.id))
    });
    let mut tasks: Vec<ControlTask> = tasks.into_iter().skip(offset).take(limit).collect();
    with_deadlines(store, &mut tasks)?;
    Ok(tasks)
}

fn task_event(prefix: &str, t: &ControlTask, change: &str) -> OutEvent {
    let payload = json!({
        "declaration_id": t.declaration_id,
        "office": t.office,
        "channel": t.channel,
        "change": change,
        "urgent": t.urgent,
        "opened_at": t.opened_at,
        "due_at": t.due_at,
        "escalated_at": t.escalated_at,
    });
    OutEvent {
        id: format!("control_task:{}:{change}", t.declaration_id),
        kind: "control_task",
        subject: format!("{prefix}.task.{change}.{}", token(&t.office)),
        payload: payload.to_string(),
        department: None,
        office: Some(t.office.clone()),
        chapters: Vec::new(),
    }
}

/// The open task of `declaration_id` in `scope` (404 otherwise).
fn open_task(store: &dyn Store, declaration_id: &str, scope: Option<&HashSet<String>>) -> Result<ControlTask> {
    match store.task_outcomes(declaration_id)?.task {
        Some(t) if scope.is_none_or(|s| s.contains(&t.office)) => {
            if t.status != "open" {
                return Err(AppError::conflict(format!(
                    "declaration_id: the control of {declaration_id} is {}, not open",
                    t.status
                ))
                .into());
            }
            Ok(t)
        }
        _ => Err(AppError::not_found(format!("no control task for {declaration_id:?}")).into()),
    }
}

/// Records a trader's urgent-clearance request on an open control (kind
/// and note), once: the control moves to the top of the workbench and is
/// due within the urgent hours. Logged (`task_urgent`) and announced
/// (`control_task` event `urgent`).
pub fn request_urgent(
    app: &mut App,
    declaration_id: &str,
    kind: &str,
    note: &str,
    scope: Option<&HashSet<String>>,
) -> Result<ControlTask> {
    if !URGENT_KINDS.contains(&kind) {
        return Err(AppError::invalid(
            "kind",
            format!("kind: expected one of {}, got {kind:?}", URGENT_KINDS.join(", ")),
        )
        .into());
    }
    let note = note.trim();
    if note.is_empty() || note.chars().count() > 1_000 {
        return Err(AppError::invalid("note", "note: say what is urgent (1 to 1,000 characters)").into());
    }
    let task = open_task(app.store.as_ref(), declaration_id, scope)?;
    if task.urgent.is_some() {
        return Err(AppError::conflict(format!("declaration_id: {declaration_id} is already marked urgent")).into());
    }
    let now = crate::app::now();
    let request = format!("{kind}: {note}");
    let mut action = app.action("task_urgent", declaration_id);
    action.office = Some(task.office.clone());
    action.after = Some(json!({"urgent": request}));
    let mark = TaskMark::Urgent { request, at: now.timestamp() };
    app.store.mark_task(declaration_id, &mark, &action)?;
    let mut t = open_task(app.store.as_ref(), declaration_id, None)?;
    with_deadlines(app.store.as_ref(), std::slice::from_mut(&mut t))?;
    let ev = task_event(&app.events.prefix, &t, "urgent");
    app.emit(&[ev])?;
    Ok(t)
}

/// Escalates every open control of `scope` past its deadline and not yet
/// escalated: marked, logged (`task_escalate`) and announced to the
/// office's managers (`control_task` event `escalated`). Returns them;
/// running it again escalates nothing twice.
pub fn escalate_overdue(app: &mut App, scope: Option<&HashSet<String>>) -> Result<Vec<ControlTask>> {
    let now = crate::app::now().timestamp();
    let mut tasks = app.store.open_tasks(None, usize::MAX >> 1)?;
    with_deadlines(app.store.as_ref(), &mut tasks)?;
    let mut out = Vec::new();
    for mut t in tasks {
        let overdue = t.due_at.is_some_and(|d| d < now);
        if !overdue || t.escalated_at.is_some() || scope.is_some_and(|s| !s.contains(&t.office)) {
            continue;
        }
        let mut action = app.action("task_escalate", &t.declaration_id);
        action.office = Some(t.office.clone());
        action.after = Some(json!({"due_at": t.due_at, "opened_at": t.opened_at, "channel": t.channel}));
        if app.store.mark_task(&t.declaration_id, &TaskMark::Escalated { at: now }, &action)? {
            t.escalated_at = Some(now);
            let ev = task_event(&app.events.prefix, &t, "escalated");
            app.emit(&[ev])?;
            out.push(t);
        }
    }
    Ok(out)
}
