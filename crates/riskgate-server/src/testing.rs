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
    let resp = router.clone().oneshot(req.body(body).expect("a request")).await.expect("an answer");
    let status = resp.status();
    let cookie = resp
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|c| c.to_str().ok())
        .map(|c| format!("Cookie {}", c.split(';').next().unwrap_or(c)));
    let bytes = axum::body::to_bytes(resp.into_body(), 16 << 20).await.expect("a body");
    Answer { status, body: serde_json::from_slice(&bytes).unwrap_or(Value::Null), cookie }
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
