//! `/api/v1/openapi.json`, derived from the code: the router registers each
//! handler together with its `#[utoipa::path]` (utoipa-axum), so every
//! route served is in the document and nothing else is; request and answer
//! schemas come from the types the handlers parse and build
//! (`crate::answers`, the core records). The refusals every operation can
//! answer follow from its shape (see [`conventions`]).

use std::sync::OnceLock;

use axum::http::header;
use axum::response::IntoResponse;
use utoipa::OpenApi;
use utoipa::openapi::path::{Operation, ParameterIn};
use utoipa::openapi::security::{ApiKey, ApiKeyValue, Http, HttpAuthScheme, SecurityScheme};
use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};

use crate::answers::ErrorAnswer;
use crate::error::CODES;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "riskgate API",
        description = "Customs risk management. People authenticate with a session cookie \
            (POST /api/v1/session); machines with `Authorization: Bearer rgt_<id>_<secret>` tokens \
            (`riskgate tokens issue`). Changes made with a session cookie must come from the console's \
            own origin. Records are the DATA.md formats. Every refusal is `{\"error\": {\"code\", \
            \"message\", \"field\"}}`; `x-error-codes` lists the codes."
    ),
    components(schemas(ErrorAnswer)),
    security(("session" = []), ("token" = [])),
    tags(
        (name = "session", description = "Logging in and out"),
        (name = "declarations", description = "Screening, search, explanation, overrides"),
        (name = "controls", description = "Control tasks, outcomes, releases"),
        (name = "reference", description = "Offices, officers, enterprises, workforce records"),
        (name = "external", description = "Payments abroad and tax invoices from other agencies"),
        (name = "rules", description = "Risk profiles: drafts, tests, back-tests, four-eyes approval"),
        (name = "models", description = "Learned models and their evaluation"),
        (name = "kpi", description = "The M9 KPIs and their trend"),
        (name = "reports", description = "The KPI report and console tables as files (XLSX, printable HTML, CSV)"),
        (name = "audit", description = "Post-clearance audit selection and audit plans"),
        (name = "actions", description = "The hash-chained action log"),
        (name = "integrity", description = "Integrity indicators of officers, posts and units"),
        (name = "committees", description = "Risk committees: the changes awaiting their approval, votes, minutes; settings"),
        (name = "service", description = "Health, readiness, metrics, this document"),
    )
)]
pub struct ApiDoc;

/// The document for the routes of `crate::api_router` with the conventions applied.
pub fn build() -> utoipa::openapi::OpenApi {
    let (_, mut doc) = crate::api_router().split_for_parts();
    conventions(&mut doc);
    doc
}

/// The refusals an operation can answer, from its shape: every one can fail
/// inside (500); an authenticated one refuses missing credentials (401) and
/// roles or scopes without the permission (403); a body can be bad JSON
/// (400), too large (413), another media type (415) or an invalid record
/// (422); a query
/// parameter can be invalid (400); a path id can be unknown in the caller's
/// offices (404); a change can conflict with the stored state (409). The
/// security schemes and the error codes are added too.
pub fn conventions(doc: &mut utoipa::openapi::OpenApi) {
    let error = |what: &str| {
        ResponseBuilder::new()
            .description(what)
            .content(
                "application/json",
                ContentBuilder::new().schema(Some(Ref::from_schema_name("ErrorAnswer"))).build(),
            )
            .build()
    };
    for (path, item) in doc.paths.paths.iter_mut() {
        let ops: [(&str, &mut Option<Operation>); 3] =
            [("get", &mut item.get), ("post", &mut item.post), ("delete", &mut item.delete)];
        for (method, op) in ops {
            let Some(op) = op.as_mut() else { continue };
            let public = op.security.as_ref().is_some_and(|s| s.iter().all(|r| r == &Default::default()));
            let params = op.parameters.as_deref().unwrap_or_default();
            let query = params.iter().any(|p| p.parameter_in == ParameterIn::Query);
            let ids = params.iter().any(|p| p.parameter_in == ParameterIn::Path);
            let body = op.request_body.is_some();
            let service = !path.starts_with("/api/v1/") || path == "/api/v1/openapi.json";
            let mut add = |status: &str, what: &str| {
                op.responses.responses.entry(status.to_string()).or_insert_with(|| error(what).into());
            };
            if body || query {
                add("400", "Bad request (invalid_json, invalid_query)");
            }
            if !public && !service {
                add("401", "Not authenticated (unauthenticated)");
                add("403", "Forbidden (forbidden, four_eyes, csrf)");
            }
            if ids {
                add("404", "Not found in the caller's offices (not_found)");
            }
            if method == "post" && !public {
                add("409", "Conflicts with the stored state (conflict)");
            }
            if body {
                add("413", "The body is over the limit (payload_too_large)");
                add("415", "The body must be application/json (unsupported_media_type)");
                add("422", "An invalid field (invalid_field, rule_syntax); `field` names it");
            }
            if !service {
                add("500", "Internal error (internal): no details, an incident number");
            }
        }
    }
    let components = doc.components.get_or_insert_with(Default::default);
    components.add_security_scheme(
        "session",
        SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(crate::auth::SESSION_COOKIE))),
    );
    components.add_security_scheme("token", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
    let codes: Vec<serde_json::Value> =
        CODES.iter().map(|(c, s, d)| serde_json::json!({"code": c, "status": s, "meaning": d})).collect();
    let mut ext = utoipa::openapi::extensions::Extensions::default();
    ext.insert("x-error-codes".into(), serde_json::Value::Array(codes));
    doc.info.extensions = Some(ext);
}

/// This document.
#[utoipa::path(get, path = "/openapi.json", tag = "service", security(()),
    responses((status = 200, description = "The OpenAPI 3.1 document", content_type = "application/json")))]
pub async fn document() -> impl IntoResponse {
    static DOC: OnceLock<String> = OnceLock::new();
    let text = DOC.get_or_init(|| build().to_pretty_json().expect("the document serialises"));
    ([(header::CONTENT_TYPE, "application/json")], text.as_str())
}
