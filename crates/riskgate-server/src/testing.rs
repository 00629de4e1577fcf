//! Requests through the router in process (no socket), for the tests of
//! this crate and of the `riskgate` binary.

use axum::Router;
use axum::body::Body;
use axum::http::{Request, StatusCode, header};
use serde_json::{Value, json};
use tower::ServiceExt;

/// What the router answered.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    /// The body as JSON; `null` when it is not JSON.
    pub body: Value,
    /// The session cookie set, as `Cookie name=value`.
    pub cookie: Option<String>,
    pub headers: axum::http::HeaderMap,
}

/// `method uri` with `auth`, an `Authorization` value or `Cookie name=value`;
/// a body is sent as JSON.
pub async fn call(router: &Router, method: &str, uri: &str, auth: &str, body: Option<Value>) -> Answer {
    let mut req = Request::builder().method(method).uri(uri);
    req = match auth.split_once(' ') {
        Some(("Cookie", c)) => req.header(header::COOKIE, c),
        _ => req.header(header::AUTHORIZATION, auth),
    };
    let body = match body {
        Some(b) => {
            req = req.header(header::CONTENT_TYPE, "application/json");
            Body::from(b.to_string())
        }
        None => Body::empty(),
    };
    send(router, req.body(body).expect("a request")).await
}

/// Sends `req` through the router (set its headers, and a client address
/// with an `axum::extract::ConnectInfo<SocketAddr>` extension).
pub async fn send(router: &Router, req: Request<Body>) -> Answer {
    let resp = router.clone().oneshot(req).await.expect("an answer");
    let status = resp.status();
    let cookie = resp
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .map(|c| format!("Cookie {}", c.split(';').next().unwrap_or(c)));
    let headers = resp.headers().clone();
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20).await.expect("a body");
    Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null), cookie, headers }
}

/// Declaration `id` of one item worth `value` CNY, at office 2201 on
/// 1 March 2026.
pub fn declaration(id: &str, value: f64) -> Value {
    json!({
        "id": id, "declared_at": "2026-03-01T09:00:00+08:00", "direction": "import",
        "office": "2201", "transport_mode": "sea", "trade_mode": "0110",
        "trader": {"id": "T1"}, "declarant": {"id": "B1"}, "currency": "CNY",
        "items": [{"line": 1, "hs_code": "8517130000", "origin": "VN", "quantity": 10,
                   "net_weight_kg": 5.0, "value": value, "duty_rate": 0.1}]
    })
}

/// Checks an answer against the OpenAPI document: the operation documents
/// `status` and, when it documents a JSON body, `body` validates against
/// its schema. `route` is the path pattern (`/api/v1/rules/{id}`).
pub fn check_answer(doc: &Value, method: &str, route: &str, status: u16, body: &Value) -> Result<(), String> {
    let op = &doc["paths"][route][method.to_lowercase()];
    if op.is_null() {
        return Err(format!("{method} {route} is not in the document"));
    }
    let resp = &op["responses"][status.to_string()];
    if resp.is_null() {
        return Err(format!("{method} {route} does not document status {status}"));
    }
    match resp["content"]["application/json"]["schema"].as_object() {
        Some(_) => validate(doc, &resp["content"]["application/json"]["schema"], body, "")
            .map_err(|e| format!("{method} {route} {status}: {e}")),
        None => Ok(()),
    }
}

/// Validates `v` against a schema of the document (the JSON Schema subset
/// utoipa writes: `$ref`, `type` (one or a list), `properties`, `required`,
/// `additionalProperties`, `items`, `oneOf`, `anyOf`, `allOf`, `enum`, and
/// the `date` and `date-time` formats). Objects are strict: a property the
/// schema does not name is an error unless `additionalProperties` allows it
/// or the schema names none at all, so an answer cannot grow fields the
/// document lacks.
pub fn validate(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema)?;
    if let Some(parts) = schema["allOf"].as_array() {
        for p in parts {
            validate_open(doc, p, v, at)?;
        }
        return strict(doc, schema, v, at);
    }
    for key in ["oneOf", "anyOf"] {
        if let Some(alts) = schema[key].as_array() {
            let errors: Vec<String> = alts.iter().filter_map(|s| validate(doc, s, v, at).err()).collect();
            if errors.len() == alts.len() {
                return Err(format!("{at}: matches none of {key}: {}", errors.join(" | ")));
            }
            return Ok(());
        }
    }
    validate_open(doc, schema, v, at)?;
    strict(doc, schema, v, at)
}

fn resolve<'a>(doc: &'a Value, schema: &'a Value) -> Result<&'a Value, String> {
    match schema["$ref"].as_str() {
        Some(r) => {
            let name = r.strip_prefix("#/components/schemas/").ok_or_else(|| format!("unknown reference {r}"))?;
            let s = &doc["components"]["schemas"][name];
            if s.is_null() { Err(format!("reference {r} is not in the document")) } else { resolve(doc, s) }
        }
        None => Ok(schema),
    }
}

/// Type, enum, format, required properties, items; no unknown-property check.
fn validate_open(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let schema = resolve(doc, schema)?;
    if schema.get("allOf").is_some() || schema.get("oneOf").is_some() || schema.get("anyOf").is_some() {
        return validate(doc, schema, v, at);
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => vec![],
    };
    let type_ok = |t: &str| match t {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "string" => v.is_string(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "number" => v.is_number(),
        "array" => v.is_array(),
        "object" => v.is_object(),
        _ => false,
    };
    if !types.is_empty() && !types.iter().any(|t| type_ok(t)) {
        return Err(format!("{at}: expected {types:?}, got {v}"));
    }
    if let Some(e) = schema["enum"].as_array()
        && !e.contains(v)
    {
        return Err(format!("{at}: {v} is not one of {e:?}"));
    }
    if let Some(s) = v.as_str() {
        let ok = match schema["format"].as_str() {
            Some("date-time") => chrono::DateTime::parse_from_rfc3339(s).is_ok(),
            Some("date") => chrono::NaiveDate::parse_from_str(s, "%Y-%m-%d").is_ok(),
            _ => true,
        };
        if !ok {
            return Err(format!("{at}: {s:?} is not a {}", schema["format"]));
        }
    }
    if let Some(o) = v.as_object() {
        for r in schema["required"].as_array().into_iter().flatten().filter_map(Value::as_str) {
            if !o.contains_key(r) {
                return Err(format!("{at}: required property {r} is missing"));
            }
        }
        for (k, x) in o {
            let path = format!("{at}.{k}");
            if let Some(p) = schema["properties"].get(k) {
                validate(doc, p, x, &path)?;
            } else if schema["additionalProperties"].is_object() {
                validate(doc, &schema["additionalProperties"], x, &path)?;
            }
        }
    }
    if let (Some(a), Some(items)) = (v.as_array(), schema.get("items")) {
        for (i, x) in a.iter().enumerate() {
            validate(doc, items, x, &format!("{at}[{i}]"))?;
        }
    }
    Ok(())
}

/// The property names a schema allows (through `allOf` and references);
/// `None` when it allows any.
fn known(doc: &Value, schema: &Value) -> Result<Option<Vec<String>>, String> {
    let schema = resolve(doc, schema)?;
    if let Some(parts) = schema["allOf"].as_array() {
        let mut all = Vec::new();
        for p in parts {
            match known(doc, p)? {
                Some(k) => all.extend(k),
                None => return Ok(None),
            }
        }
        return Ok(Some(all));
    }
    let any = schema["additionalProperties"] == Value::Bool(true) || schema["additionalProperties"].is_object();
    match schema["properties"].as_object() {
        Some(p) if !any => Ok(Some(p.keys().cloned().collect())),
        _ => Ok(None),
    }
}

fn strict(doc: &Value, schema: &Value, v: &Value, at: &str) -> Result<(), String> {
    let (Some(o), Some(names)) = (v.as_object(), known(doc, schema)?) else { return Ok(()) };
    match o.keys().find(|k| !names.contains(k)) {
        Some(k) => Err(format!("{at}: property {k} is not in the document")),
        None => Ok(()),
    }
}
