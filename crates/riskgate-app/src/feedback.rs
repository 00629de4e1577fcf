//! Feedback and intelligence from departments back into the risk picture
//! (M5): a note on an enterprise that analysts and officers see with it,
//! optionally putting the enterprise on the department's watch-list
//! (`watch.DEPARTMENT`), which rules can use (`trader.id in
//! list("watch.anti_smuggling")`). Departments refer cases back with
//! `cases::open`.

use anyhow::Result;
use riskgate_store::{Note, Store};
use serde_json::json;

use crate::app::App;
use crate::error::AppError;

/// The watch-list of a department's intelligence.
pub fn watch_list(department: &str) -> String {
    format!("watch.{department}")
}

/// Notes on an enterprise, newest first.
pub fn enterprise_notes(store: &dyn Store, enterprise: &str) -> Result<Vec<Note>> {
    Ok(store.notes(&format!("enterprise:{enterprise}"))?)
}

/// Records a note on an enterprise in the acting user's name (logged as
/// `enterprise_note`); with `watch`, also puts the enterprise on its
/// department's watch-list (logged as `list_set`) and reloads the engine so
/// rules on that list see it at once. `department` is the author's
/// department: needed to watch.
pub fn note_enterprise(
    app: &mut App,
    enterprise: &str,
    text: &str,
    department: Option<&str>,
    watch: bool,
) -> Result<Note> {
    let text = text.trim();
    if text.is_empty() || text.chars().count() > 4_000 || text.chars().any(|c| c.is_control() && c != '\n') {
        return Err(AppError::invalid("text", "text: expected 1 to 4,000 characters without control characters").into());
    }
    if !app.store.enterprises()?.iter().any(|e| e.id == enterprise) {
        return Err(AppError::not_found(format!("no enterprise {enterprise:?}")).into());
    }
    let list = match (watch, department) {
        (false, _) => None,
        (true, Some(d)) => Some(watch_list(d)),
        (true, None) => {
            return Err(AppError::invalid(
                "watch",
                "watch: only a department's user puts an enterprise on its watch-list",
            )
            .into());
        }
    };
    let now = crate::app::now();
    let mut note = Note {
        id: 0,
        subject: format!("enterprise:{enterprise}"),
        at: now.timestamp(),
        author: app.user.clone(),
        department: department.map(str::to_string),
        text: text.to_string(),
        watch_list: list.clone(),
    };
    let mut action = app.action("enterprise_note", &note.subject);
    action.after = Some(json!({"department": note.department, "watch_list": list, "chars": text.chars().count()}));
    action.reason = Some(text.to_string());
    note.id = app.store.insert_note(&note, &action)?;
    if let Some(name) = list {
        let mut values: Vec<String> =
            app.store.lists()?.into_iter().filter(|(n, _)| *n == name).map(|(_, v)| v).collect();
        if !values.iter().any(|v| v == enterprise) {
            values.push(enterprise.to_string());
            let mut a = app.action("list_set", &name);
            a.after = Some(json!({"values": values.len(), "added": enterprise}));
            a.reason =
                Some(format!("企业 {enterprise} 的情报备注 {0} / intelligence note {0} on {enterprise}", note.id));
            app.store.set_list(&name, &values, &a)?;
            app.checkpoint()?;
            app.reload()?;
        }
    }
    Ok(note)
}
