//! `/api/v1/openapi.json`: hand-maintained from one route table, so the
//! document lists every route the router serves with the statuses each can
//! answer; tests/api.rs calls a sample of them and checks the answers
//! against this document.

use axum::Json;
use serde_json::{Map, Value, json};

use crate::error::CODES;

/// (method, path, summary, who may call it, body, statuses)
type Route = (&'static str, &'static str, &'static str, &'static str, Option<&'static str>, &'static [u16]);

const READ: &[u16] = &[200, 400, 401, 403];
const READ_ONE: &[u16] = &[200, 401, 403, 404];
const IMPORT: &[u16] = &[200, 400, 401, 403, 409, 415, 422];
const CHANGE: &[u16] = &[200, 400, 401, 403, 404, 409, 415, 422];

pub const ROUTES: &[Route] = &[
    (
        "post",
        "/api/v1/session",
        "Log in: sets the HttpOnly, SameSite=Strict session cookie",
        "anyone",
        Some("Login"),
        &[200, 400, 401],
    ),
    ("delete", "/api/v1/session", "Log out", "any session", None, &[204, 401]),
    (
        "get",
        "/api/v1/me",
        "The caller: username, role, office, department, permissions",
        "any caller",
        None,
        &[200, 401],
    ),
    (
        "post",
        "/api/v1/declarations",
        "Screen one declaration (object) or many (array, all or nothing); returns the decision(s) synchronously; a known id returns its first decision",
        "machine (scope declarations:write)",
        Some("Declaration"),
        &[200, 400, 401, 403, 409, 415, 422],
    ),
    (
        "get",
        "/api/v1/declarations",
        "Search declarations in the caller's offices: office, lane, q (id prefix or trader), trader, from, to, limit",
        "all but admin",
        None,
        READ,
    ),
    (
        "get",
        "/api/v1/declarations/{id}",
        "A declaration with its decision and explanation (rules fired with versions for analysts only; score with top features, random draw, selection probability), task and outcomes",
        "all but admin",
        None,
        READ_ONE,
    ),
    (
        "post",
        "/api/v1/declarations/{id}/override",
        "Override the lane with a mandatory reason",
        "field_officer, district_manager",
        Some("Override"),
        &[200, 400, 401, 403, 404, 409, 415, 422],
    ),
    ("get", "/api/v1/offices", "The office tree (HQ → district → office)", "any caller", None, &[200, 401]),
    (
        "post",
        "/api/v1/offices",
        "Import offices (DATA.md Office; object or array)",
        "admin, machine",
        Some("Office"),
        IMPORT,
    ),
    (
        "get",
        "/api/v1/officers",
        "Officers in the caller's offices",
        "district_manager, hq_manager, integrity_supervisor, admin",
        None,
        READ,
    ),
    ("post", "/api/v1/officers", "Import officers", "admin, machine", Some("Officer"), IMPORT),
    (
        "get",
        "/api/v1/enterprises",
        "Enterprises with their current risk level, highest first; q filters id and name",
        "field_officer, risk_analyst, managers, department_user",
        None,
        READ,
    ),
    ("post", "/api/v1/enterprises", "Import enterprises", "admin, machine", Some("Enterprise"), IMPORT),
    (
        "get",
        "/api/v1/enterprises/{id}",
        "An enterprise: risk level and its history, recent declarations and (latest 50) controls with their task and outcomes, in the caller's offices",
        "field_officer, risk_analyst, managers, department_user",
        None,
        READ_ONE,
    ),
    ("post", "/api/v1/forex", "Import forex payments", "admin, machine", Some("ForexPayment"), IMPORT),
    ("post", "/api/v1/invoices", "Import tax invoices", "admin, machine", Some("TaxInvoice"), IMPORT),
    ("post", "/api/v1/outcomes", "Import control outcomes (other systems)", "admin, machine", Some("Outcome"), IMPORT),
    ("post", "/api/v1/releases", "Import releases", "admin, machine", Some("Release"), IMPORT),
    (
        "post",
        "/api/v1/workforce",
        "Import workforce records; ?kind=disciplinary|inspection|assessment|litigation",
        "admin, integrity_supervisor",
        Some("WorkforceRecord"),
        IMPORT,
    ),
    (
        "get",
        "/api/v1/controls",
        "Open control tasks in the caller's offices, highest risk first, with instructions",
        "field_officer, risk_analyst, district_manager, hq_manager",
        None,
        READ,
    ),
    (
        "post",
        "/api/v1/controls/{id}/outcome",
        "Record the outcome of the control of declaration {id} in the caller's name",
        "field_officer",
        Some("Outcome"),
        CHANGE,
    ),
    (
        "get",
        "/api/v1/rules",
        "Rule versions with live statistics and runaway alarms (no logic)",
        "risk_analyst, district_manager, hq_manager",
        None,
        READ,
    ),
    (
        "post",
        "/api/v1/rules",
        "Create a draft rule version; a condition that does not compile is refused with line and column",
        "risk_analyst",
        Some("RuleDraft"),
        &[201, 400, 401, 403, 409, 415, 422],
    ),
    (
        "post",
        "/api/v1/rules/test",
        "Test a stored rule or a draft on declarations (stored ids or given in full)",
        "risk_analyst",
        Some("RuleTest"),
        CHANGE,
    ),
    (
        "get",
        "/api/v1/rules/{id}",
        "A rule version with its logic (logged as a read of rule logic); ?version=",
        "risk_analyst",
        None,
        READ_ONE,
    ),
    (
        "post",
        "/api/v1/rules/{id}/backtest",
        "Back-test on stored history: targeting rate, hit rate, revenue, overlap, load per office; ?version=&from=&to=",
        "risk_analyst",
        None,
        &[200, 400, 401, 403, 404],
    ),
    (
        "post",
        "/api/v1/rules/{id}/approve",
        "Approve a draft (by another user than its author: code four_eyes otherwise); it becomes active",
        "risk_analyst",
        None,
        &[200, 401, 403, 404, 409],
    ),
    (
        "post",
        "/api/v1/rules/{id}/retire",
        "Retire a rule version with a reason",
        "risk_analyst",
        Some("Retire"),
        CHANGE,
    ),
    ("get", "/api/v1/models", "Model versions with their evaluation figures", "risk_analyst, hq_manager", None, READ),
    (
        "get",
        "/api/v1/models/{id}",
        "A model's evaluation and its shadow comparison",
        "risk_analyst, hq_manager",
        None,
        READ_ONE,
    ),
    (
        "post",
        "/api/v1/models/{id}/status",
        "Make a model active, shadow or retired",
        "risk_analyst",
        Some("ModelStatus"),
        CHANGE,
    ),
    (
        "get",
        "/api/v1/kpi",
        "M9 KPIs with formulas and targets, rolled up office → district → HQ, in the caller's offices; ?office=&from=&to=",
        "all people",
        None,
        READ,
    ),
    ("get", "/api/v1/kpis", "Same as /api/v1/kpi", "all people", None, READ),
    (
        "get",
        "/api/v1/kpi/trend",
        "One unit's KPI figures per week or month; ?office=&period=week|month&from=&to= (default: the 12 periods up to the latest declaration)",
        "all people",
        None,
        READ,
    ),
    ("get", "/api/v1/kpis/trend", "Same as /api/v1/kpi/trend", "all people", None, READ),
    (
        "get",
        "/api/v1/actions",
        "The action log (hash-chained), newest first; ?officer=&office=&action=&from=&to=&limit= (the read is logged; filters look through the latest 50,000 entries)",
        "integrity_supervisor, admin",
        None,
        READ,
    ),
    (
        "get",
        "/api/v1/actions/verify",
        "Checks the action log's hash chain: {intact, broken_at}",
        "integrity_supervisor, admin",
        None,
        READ,
    ),
    (
        "get",
        "/api/v1/integrity/officers",
        "Officers ranked by integrity score, highest first, with level, indicator values and reasons; ?office=&from=&to= (the read is logged as integrity_read)",
        "integrity_supervisor, admin",
        None,
        READ,
    ),
    (
        "get",
        "/api/v1/integrity/officers/{id}",
        "One officer's integrity profile: indicators against peers, reasons, month-by-month history, evidence (declaration ids and action-log entries); ?from=&to= (logged)",
        "integrity_supervisor, admin",
        None,
        &[200, 400, 401, 403, 404],
    ),
    (
        "get",
        "/api/v1/integrity/posts",
        "Posts (office/post) ranked by integrity score; ?office=&from=&to= (logged)",
        "integrity_supervisor, admin",
        None,
        READ,
    ),
    (
        "get",
        "/api/v1/integrity/units",
        "Units (offices) ranked by integrity score; ?office=&from=&to= (logged)",
        "integrity_supervisor, admin",
        None,
        READ,
    ),
    (
        "get",
        "/api/v1/integrity/warnings",
        "Officers, posts and units at warning level with their reasons; ?office=&from=&to= (logged)",
        "integrity_supervisor, admin",
        None,
        READ,
    ),
    ("get", "/api/v1/openapi.json", "This document", "anyone", None, &[200]),
    ("get", "/healthz", "Liveness", "anyone", None, &[200]),
    ("get", "/readyz", "Readiness: the store answers and the screening thread runs", "anyone", None, &[200, 503]),
    ("get", "/metrics", "Prometheus metrics", "anyone", None, &[200]),
];

fn status_text(s: u16) -> &'static str {
    match s {
        200 => "OK",
        201 => "Created",
        204 => "No content",
        400 => "Bad request (invalid_json, invalid_query)",
        401 => "Not authenticated",
        403 => "Forbidden (forbidden, four_eyes, csrf)",
        404 => "Not found in the caller's scope",
        409 => "Conflict with stored state",
        415 => "Body must be application/json",
        422 => "Invalid field (invalid_field, rule_syntax)",
        501 => "Not implemented in this build",
        503 => "Unavailable",
        _ => "",
    }
}

pub fn build() -> Value {
    let mut paths: Map<String, Value> = Map::new();
    for (method, path, summary, who, body, statuses) in ROUTES {
        let mut responses = Map::new();
        for s in *statuses {
            let mut r = json!({"description": status_text(*s)});
            if *s >= 400 {
                r["content"] = json!({"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}});
            }
            responses.insert(s.to_string(), r);
        }
        // Every authenticated route can also fail inside.
        responses.insert("500".into(), json!({"description": "Internal error (no details; incident number)", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}));
        let mut op = json!({
            "summary": summary,
            "description": format!("Who: {who}."),
            "responses": responses,
        });
        let params: Vec<Value> = path
            .split('/')
            .filter_map(|seg| seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')))
            .map(|name| json!({"name": name, "in": "path", "required": true, "schema": {"type": "string"}}))
            .collect();
        if !params.is_empty() {
            op["parameters"] = Value::Array(params);
        }
        if let Some(b) = body {
            op["requestBody"] = json!({"required": true, "content": {"application/json": {"schema": {"$ref": format!("#/components/schemas/{b}")}}}});
        }
        paths.entry(path.to_string()).or_insert_with(|| json!({}))[*method] = op;
    }
    let codes: Vec<Value> = CODES.iter().map(|(c, s, d)| json!({"code": c, "status": s, "meaning": d})).collect();
    let object = |desc: &str| json!({"type": "object", "description": desc});
    json!({
        "openapi": "3.0.3",
        "info": {
            "title": "riskgate API",
            "version": env!("CARGO_PKG_VERSION"),
            "description": "Customs risk management. People authenticate with a session cookie (POST /api/v1/session); machines with `Authorization: Bearer rgt_<id>_<secret>` tokens (`riskgate tokens issue`). Changes made with a session cookie must come from the console's own origin. Records are the DATA.md formats.",
            "x-error-codes": codes,
        },
        "paths": paths,
        "components": {
            "securitySchemes": {
                "session": {"type": "apiKey", "in": "cookie", "name": crate::auth::SESSION_COOKIE},
                "token": {"type": "http", "scheme": "bearer"},
            },
            "schemas": {
                "Error": {"type": "object", "required": ["error"], "properties": {"error": {"type": "object",
                    "required": ["code", "message"], "properties": {
                        "code": {"type": "string", "enum": CODES.iter().map(|c| c.0).collect::<Vec<_>>()},
                        "message": {"type": "string"},
                        "field": {"type": "string", "description": "path of the offending field, e.g. items[0].hs_code or [3].office"},
                        "line": {"type": "integer"}, "column": {"type": "integer"}}}}},
                "Login": {"type": "object", "required": ["username", "password"], "properties": {"username": {"type": "string"}, "password": {"type": "string"}}},
                "Override": {"type": "object", "required": ["channel", "reason"], "properties": {"channel": {"type": "string", "enum": ["green", "yellow", "red"]}, "reason": {"type": "string"}}},
                "Retire": {"type": "object", "required": ["reason"], "properties": {"reason": {"type": "string"}, "version": {"type": "integer"}}},
                "ModelStatus": {"type": "object", "required": ["status"], "properties": {"status": {"type": "string", "enum": ["active", "shadow", "retired"]}}},
                "RuleDraft": {"type": "object", "required": ["id", "title", "when"], "properties": {
                    "id": {"type": "string"}, "title": {"type": "string"}, "when": {"type": "string"},
                    "weight": {"type": "number"}, "channel": {"type": "string", "enum": ["green", "yellow", "red"]},
                    "instructions": {"type": "string"}, "department": {"type": "string"},
                    "valid_from": {"type": "string", "format": "date"}, "valid_to": {"type": "string", "format": "date"}}},
                "RuleTest": {"type": "object", "properties": {"id": {"type": "string"}, "version": {"type": "integer"},
                    "rule": {"$ref": "#/components/schemas/RuleDraft"},
                    "declaration_ids": {"type": "array", "items": {"type": "string"}},
                    "declarations": {"type": "array", "items": {"$ref": "#/components/schemas/Declaration"}}}},
                "Declaration": object("DATA.md Declaration (or an array of them)"),
                "Office": object("DATA.md Office (or an array)"),
                "Officer": object("DATA.md Officer (or an array)"),
                "Enterprise": object("DATA.md Enterprise (or an array)"),
                "ForexPayment": object("DATA.md Forex payment (or an array)"),
                "TaxInvoice": object("DATA.md Tax invoice (or an array)"),
                "Outcome": object("DATA.md Control outcome (or an array)"),
                "Release": object("DATA.md Release (or an array)"),
                "WorkforceRecord": object("DATA.md workforce record of the kind named by ?kind= (or an array)"),
            }
        }
    })
}

pub async fn document() -> Json<Value> {
    Json(build())
}
