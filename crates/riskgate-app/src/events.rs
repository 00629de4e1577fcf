//! Events other systems subscribe to (docs/events.md): decisions by lane and
//! office, control tasks, findings, rule changes, and integrity warnings on
//! the supervisors' own subject namespace. An event goes to NATS (when a bus
//! is configured) and to every webhook registered for its kind.

use anyhow::Result;
use riskgate_core::{Channel, Decision, Outcome, OutcomeResult, Reason};
use riskgate_store::{NewDelivery, Store};
use serde_json::json;

/// Event kinds a webhook can subscribe to. Integrity warnings are for
/// supervisors only and go to NATS under their own namespace, never to a
/// department's webhook.
pub const WEBHOOK_KINDS: [&str; 8] =
    ["decision", "control_task", "finding", "rule_change", "case", "outcome", "release", "override"];

/// One event ready to publish: a stable id (de-duplication key), its kind,
/// the subject and the JSON payload.
#[derive(Debug, Clone, PartialEq)]
pub struct OutEvent {
    pub id: String,
    pub kind: &'static str,
    pub subject: String,
    pub payload: String,
    /// The department the event is addressed to (cases): only that
    /// department's webhooks receive it. `None`: every webhook of the kind.
    pub department: Option<String>,
    /// The office it concerns, for subscriptions filtered by office.
    pub office: Option<String>,
    /// The HS chapters (2 digits) of the declaration it concerns, for
    /// subscriptions filtered by chapter (empty: not known).
    pub chapters: Vec<String>,
}

impl OutEvent {
    /// An event about one office (`<prefix>.<what>.<office>`), for every
    /// webhook of its kind that the office filter lets through.
    fn at_office(id: String, kind: &'static str, prefix: &str, what: &str, office: &str, payload: String) -> OutEvent {
        OutEvent {
            id,
            kind,
            subject: format!("{prefix}.{what}.{}", token(office)),
            payload,
            department: None,
            office: Some(office.to_string()),
            chapters: Vec::new(),
        }
    }
}

/// A subject token from free text: NATS tokens may not hold `.`, `*`, `>` or spaces.
pub fn token(s: &str) -> String {
    let t: String =
        s.chars().map(|c| if c == '.' || c == '*' || c == '>' || c.is_whitespace() { '_' } else { c }).collect();
    if t.is_empty() { "_".to_string() } else { t }
}

/// A decision as those who may not read rule reasons see it: without its
/// reasons of kind `rule` (which rules fired, their titles and weights).
/// The submitting machine and the departments' events and webhooks get
/// this; analysts read the rules through `GET /declarations/{id}`.
pub fn without_rules(decision: &Decision) -> Decision {
    let mut d = decision.clone();
    d.reasons.retain(|r| !matches!(r, Reason::Rule { .. }));
    d
}

/// [`without_rules`] as JSON: `stored_json` (the decision as stored) when
/// no rule fired, so the common case costs nothing.
pub fn public_decision_json(decision: &Decision, stored_json: &str) -> Result<String> {
    if decision.reasons.iter().any(|r| matches!(r, Reason::Rule { .. })) {
        Ok(serde_json::to_string(&without_rules(decision))?)
    } else {
        Ok(stored_json.to_string())
    }
}

/// The decision event (payload: the decision as stored, DATA.md format,
/// without the rules that fired: [`without_rules`]) and, for yellow and
/// red, the control-task event.
pub fn decision_events(prefix: &str, decision: &Decision, decision_json: &str) -> Result<Vec<OutEvent>> {
    let office = token(&decision.office);
    let mut out = vec![OutEvent {
        id: format!("decision:{}", decision.declaration_id),
        kind: "decision",
        subject: format!("{prefix}.decision.{}.{office}", decision.channel.as_str()),
        payload: public_decision_json(decision, decision_json)?,
        department: None,
        office: Some(decision.office.clone()),
        chapters: Vec::new(),
    }];
    if decision.channel != Channel::Green {
        let payload = json!({
            "declaration_id": decision.declaration_id,
            "office": decision.office,
            "channel": decision.channel,
            "disposal": decision.disposal,
            "instructions": decision.instructions,
            "risk_value": decision.risk_value,
            "risk_level": decision.risk_level,
            "opened_at": decision.decided_at,
        });
        out.push(OutEvent {
            id: format!("control_task:{}", decision.declaration_id),
            kind: "control_task",
            subject: format!("{prefix}.task.{office}"),
            payload: payload.to_string(),
            department: None,
            office: Some(decision.office.clone()),
            chapters: Vec::new(),
        });
    }
    Ok(out)
}

/// A finding event for an outcome that found something (`None` otherwise).
pub fn finding_event(prefix: &str, office: &str, outcome: &Outcome) -> Option<OutEvent> {
    if outcome.result != OutcomeResult::Finding {
        return None;
    }
    let payload = json!({
        "declaration_id": outcome.declaration_id,
        "office": office,
        "control": outcome.control,
        "completed_at": outcome.completed_at,
        "findings": outcome.findings,
        "additional_duty": outcome.additional_duty,
        "seizure": outcome.seizure,
    });
    let id = format!("finding:{}:{}", outcome.declaration_id, outcome.completed_at.timestamp());
    Some(OutEvent::at_office(id, "finding", prefix, "finding", office, payload.to_string()))
}

/// An outcome event for every stored outcome of a screened declaration, with or without a finding
/// (`<prefix>.outcome.<office>`): what the control found, never who did it.
/// An outcome that found something also has its [`finding_event`].
pub fn outcome_event(prefix: &str, office: &str, outcome: &Outcome) -> OutEvent {
    let payload = json!({
        "declaration_id": outcome.declaration_id,
        "office": office,
        "control": outcome.control,
        "result": outcome.result,
        "completed_at": outcome.completed_at,
        "findings": outcome.findings,
        "additional_duty": outcome.additional_duty,
        "seizure": outcome.seizure,
        "released_at": outcome.released_at,
    });
    let id = format!("outcome:{}:{}", outcome.declaration_id, outcome.completed_at.timestamp());
    OutEvent::at_office(id, "outcome", prefix, "outcome", office, payload.to_string())
}

/// A release event (`<prefix>.release.<office>`): the goods of a screened
/// declaration left customs control, by a release record, an outcome that
/// released them or an override to green. A declaration is released once,
/// so its id is the event id. `by`: `release`, `outcome` or `override`.
pub fn release_event(
    prefix: &str,
    office: &str,
    declaration_id: &str,
    released_at: &chrono::DateTime<chrono::FixedOffset>,
    by: &str,
) -> OutEvent {
    let payload = json!({ "declaration_id": declaration_id, "office": office, "released_at": released_at, "by": by });
    OutEvent::at_office(format!("release:{declaration_id}"), "release", prefix, "release", office, payload.to_string())
}

/// A lane-override event (`<prefix>.override.<office>`): the lane an officer
/// set in place of the engine's, and when. The officer and the reason stay
/// in the action log (supervisors read them there).
pub fn override_event(
    prefix: &str,
    done: &riskgate_store::OverrideDone,
    at: &chrono::DateTime<chrono::FixedOffset>,
) -> OutEvent {
    let payload = json!({
        "declaration_id": done.declaration_id,
        "office": done.office,
        "from": done.before,
        "to": done.after,
        "at": at,
        "released": done.released,
    });
    let id = format!("override:{}:{}", done.declaration_id, done.log_seq);
    OutEvent::at_office(id, "override", prefix, "override", &done.office, payload.to_string())
}

/// A rule-change event (`added`, `approved`, `retired`). The payload names
/// the rule version and who changed it, never the rule's logic.
pub fn rule_change_event(prefix: &str, change: &str, id: &str, version: u32, actor: &str, at: i64) -> OutEvent {
    let payload = json!({ "rule": id, "version": version, "change": change, "by": actor, "at": at });
    OutEvent {
        id: format!("rule_change:{id}@{version}:{change}"),
        kind: "rule_change",
        subject: format!("{prefix}.rule.{change}"),
        payload: payload.to_string(),
        department: None,
        office: None,
        chapters: Vec::new(),
    }
}

/// An integrity warning for supervisors only (`<prefix>-supervisor.integrity.<kind>`).
pub fn integrity_event(prefix: &str, kind: &str, id: &str, detail: serde_json::Value) -> OutEvent {
    let payload = json!({ "kind": kind, "id": id, "detail": detail });
    OutEvent {
        id: format!("integrity:{kind}:{id}"),
        kind: "integrity_warning",
        subject: format!("{prefix}-supervisor.integrity.{}", token(kind)),
        payload: payload.to_string(),
        department: None,
        office: None,
        chapters: Vec::new(),
    }
}

/// Enqueues webhook deliveries for the events whose kind has active webhooks.
pub fn enqueue_webhooks(store: &mut dyn Store, kinds: &[String], events: &[OutEvent], now: i64) -> Result<usize> {
    let rows: Vec<NewDelivery<'_>> = events
        .iter()
        .filter(|e| kinds.iter().any(|k| k == e.kind))
        .map(|e| NewDelivery {
            event_id: &e.id,
            kind: e.kind,
            payload: &e.payload,
            department: e.department.as_deref(),
            office: e.office.as_deref(),
            chapters: &e.chapters,
        })
        .collect();
    if rows.is_empty() {
        return Ok(0);
    }
    Ok(store.enqueue_deliveries(&rows, now)?)
}

/// Kinds with at least one active webhook.
pub fn hooked_kinds(store: &dyn Store) -> Result<Vec<String>> {
    let mut kinds: Vec<String> = store.webhooks()?.into_iter().filter(|h| h.active).map(|h| h.kind).collect();
    kinds.sort();
    kinds.dedup();
    Ok(kinds)
}

/// Where events go once the change that caused them is committed: NATS
/// (`riskgate_bus::NatsSink`), a test recorder ([`Recorder`]) or nowhere
/// ([`NoSink`]). Publishing is at-least-once and never fails the use case:
/// the change itself is already committed; a sink reports what it could
/// not send.
pub trait EventSink: Send + Sync {
    fn publish(&self, events: &[OutEvent]);
    /// Waits until what was published has left the process (a one-shot
    /// command calls this before it exits).
    fn flush(&self) {}
    /// Whether anything listens (building events can be skipped if not).
    fn active(&self) -> bool {
        true
    }
}

/// Drops every event (no bus configured).
#[derive(Debug, Default)]
pub struct NoSink;

impl EventSink for NoSink {
    fn publish(&self, _: &[OutEvent]) {}
    fn active(&self) -> bool {
        false
    }
}

/// Keeps every event in memory, for tests of what a use case emits.
#[derive(Debug, Default)]
pub struct Recorder(pub std::sync::Mutex<Vec<OutEvent>>);

impl Recorder {
    pub fn take(&self) -> Vec<OutEvent> {
        std::mem::take(&mut *self.0.lock().expect("recorder lock"))
    }
}

impl EventSink for Recorder {
    fn publish(&self, events: &[OutEvent]) {
        self.0.lock().expect("recorder lock").extend_from_slice(events);
    }
}

/// The one way events leave a use case: webhook deliveries are enqueued in
/// the store (the outbox the dispatchers work through), then the events
/// go to the sink. Cheap to clone: every thread of a transport holds one.
#[derive(Clone)]
pub struct Emitter {
    pub prefix: String,
    pub sink: std::sync::Arc<dyn EventSink>,
}

impl std::fmt::Debug for Emitter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Emitter").field("prefix", &self.prefix).finish_non_exhaustive()
    }
}

impl Default for Emitter {
    fn default() -> Self {
        Emitter { prefix: prefix_from_env(), sink: std::sync::Arc::new(NoSink) }
    }
}

impl Emitter {
    pub fn new(prefix: &str, sink: std::sync::Arc<dyn EventSink>) -> Emitter {
        Emitter { prefix: prefix.to_string(), sink }
    }

    /// Enqueues webhook deliveries for `events`, then publishes them.
    pub fn emit(&self, store: &mut dyn Store, events: &[OutEvent]) -> Result<()> {
        if events.is_empty() {
            return Ok(());
        }
        let kinds = hooked_kinds(store)?;
        enqueue_webhooks(store, &kinds, events, chrono::Utc::now().timestamp())?;
        self.sink.publish(events);
        Ok(())
    }

    /// The events of a screened batch (`build` makes them, and is not
    /// called when no webhook and no sink would receive them): webhook
    /// deliveries enqueued, then published.
    pub fn emit_batch(
        &self,
        store: &mut dyn Store,
        hooked: &mut HookedKinds,
        build: impl FnOnce(&str) -> Result<Vec<OutEvent>>,
    ) -> Result<()> {
        let kinds = hooked.current(store)?;
        if kinds.is_empty() && !self.sink.active() {
            return Ok(());
        }
        let events = build(&self.prefix)?;
        enqueue_webhooks(store, kinds, &events, chrono::Utc::now().timestamp())?;
        self.sink.publish(&events);
        Ok(())
    }
}

/// The event kinds with an active webhook, as a screening path sees them:
/// read from the store again at most every ten seconds, not per batch.
#[derive(Debug, Default, Clone)]
pub struct HookedKinds {
    kinds: Vec<String>,
    read_at: Option<std::time::Instant>,
}

impl HookedKinds {
    pub fn current(&mut self, store: &dyn Store) -> Result<&[String]> {
        if self.read_at.is_none_or(|t| t.elapsed() > std::time::Duration::from_secs(10)) {
            self.kinds = hooked_kinds(store)?;
            self.read_at = Some(std::time::Instant::now());
        }
        Ok(&self.kinds)
    }
}

/// The subject prefix of events (`RISKGATE_BUS_PREFIX`, default `riskgate`).
pub fn prefix_from_env() -> String {
    std::env::var("RISKGATE_BUS_PREFIX").ok().filter(|s| !s.is_empty()).unwrap_or_else(|| "riskgate".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subjects_of_each_kind() {
        let d: Decision = serde_json::from_value(json!({
            "declaration_id": "D1", "decided_at": "2026-03-01T09:00:00+08:00", "channel": "red",
            "risk_value": 0.9, "risk_level": "high", "reasons": [], "random": false, "instructions": "open",
            "selection_probability": 1.0, "source": "rule", "disposal": "control", "office": "22.01", "engine": "e"
        }))
        .unwrap();
        let ev = decision_events("riskgate", &d, "{}").unwrap();
        let subjects: Vec<(&str, &str, &str)> =
            ev.iter().map(|e| (e.kind, e.subject.as_str(), e.id.as_str())).collect();
        assert_eq!(
            subjects,
            vec![
                ("decision", "riskgate.decision.red.22_01", "decision:D1"),
                ("control_task", "riskgate.task.22_01", "control_task:D1")
            ]
        );
        let r = rule_change_event("riskgate", "approved", "R-1", 2, "alice", 0);
        assert_eq!(r.subject, "riskgate.rule.approved");
        let i = integrity_event("riskgate", "action_log", "7", json!({}));
        assert_eq!(i.subject, "riskgate-supervisor.integrity.action_log");
        assert!(!i.subject.starts_with("riskgate."), "supervisor subjects are outside the departments' namespace");
    }

    #[test]
    fn decision_events_carry_no_rule_internals() {
        let reasons = json!([
            {"kind": "rule", "id": "R-SECRET", "version": 3, "title": "phones from VN", "weight": 0.7, "channel": "red"},
            {"kind": "random", "rate": 0.005}
        ]);
        // (reasons, what the payload's reasons must be)
        for (given, kept) in [(reasons.clone(), json!([{"kind": "random", "rate": 0.005}])), (json!([]), json!([]))] {
            let v = json!({
                "declaration_id": "D1", "decided_at": "2026-03-01T09:00:00+08:00", "channel": "red",
                "risk_value": 0.9, "risk_level": "high", "reasons": given, "random": false, "instructions": "open",
                "selection_probability": 1.0, "source": "rule", "disposal": "control", "office": "2201", "engine": "e"
            });
            let d: Decision = serde_json::from_value(v).unwrap();
            let stored = serde_json::to_string(&d).unwrap();
            for e in decision_events("riskgate", &d, &stored).unwrap() {
                assert!(!e.payload.contains("R-SECRET") && !e.payload.contains("phones"), "{}: {}", e.kind, e.payload);
                if e.kind == "decision" {
                    let p: serde_json::Value = serde_json::from_str(&e.payload).unwrap();
                    assert_eq!(p["reasons"], kept);
                    assert_eq!(p["instructions"], "open", "officers' instructions stay");
                }
            }
        }
    }
}
