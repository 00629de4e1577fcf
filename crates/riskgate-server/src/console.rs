//! The web console's static files, embedded at build time (build.rs) and
//! served at `/`; paths that are not files get `index.html` (the console
//! routes in the browser).

use axum::http::{StatusCode, Uri, header};
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

mod files {
    include!(concat!(env!("OUT_DIR"), "/console_files.rs"));
}

fn content_type(path: &str) -> &'static str {
    match path.rsplit('.').next().unwrap_or("") {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "woff2" => "font/woff2",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

fn file(path: &str) -> Option<&'static [u8]> {
    files::FILES.iter().find(|(p, _)| *p == path).map(|(_, b)| *b)
}

pub async fn serve(uri: Uri) -> Response {
    let path = uri.path().trim_start_matches('/');
    if path.starts_with("api/") {
        return ApiError::not_found(format!("no endpoint {}", uri.path())).into_response();
    }
    let path = if path.is_empty() { "index.html" } else { path };
    let (path, body) = match file(path) {
        Some(b) => (path, b),
        // A console route (no extension): the single page handles it.
        None if !path.rsplit('/').next().unwrap_or("").contains('.') => match file("index.html") {
            Some(b) => ("index.html", b),
            None => return (StatusCode::NOT_FOUND, "the web console is not part of this build\n").into_response(),
        },
        None => return (StatusCode::NOT_FOUND, "not found\n").into_response(),
    };
    (
        [
            (header::CONTENT_TYPE, content_type(path)),
            (header::CACHE_CONTROL, "no-cache"),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        ],
        body,
    )
        .into_response()
}
