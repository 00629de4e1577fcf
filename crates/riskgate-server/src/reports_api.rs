//! Files for download: the KPI report of a unit for a period
//! (`GET /reports/kpi`, XLSX, printable HTML or CSV) and any console table
//! as XLSX (`POST /exports/xlsx`). The files are written by
//! [`crate::reports`], the same code as `riskgate report`.

use axum::body::Bytes;
use axum::extract::Query;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use riskgate_app::report::{self, Options, Period};
use riskgate_core::OfficeLevel;
use serde::Deserialize;
use utoipa::{IntoParams, ToSchema};

use crate::api::office_scope;
use crate::auth::{Caller, Perm};
use crate::error::{ApiError, ApiResult};
use crate::reports::{self as files, Column};

#[derive(Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReportQuery {
    /// `2026-Q1` (a quarter), `2026-03` (a month), `2026` (a year) or
    /// `2026-01-01..2026-03-31` (days, the last included); China time.
    period: Option<String>,
    /// An office code (default: the caller's unit, or HQ); within the caller's offices.
    office: Option<String>,
    /// `xlsx` (default), `html` (printable, A4) or `csv`.
    format: Option<String>,
}

/// A file answer with its type and a download name.
fn file(content_type: &'static str, name: &str, bytes: Vec<u8>) -> Response {
    let disposition = format!("attachment; filename=\"{name}\"");
    let mut r = ([(header::CONTENT_TYPE, HeaderValue::from_static(content_type))], bytes).into_response();
    if let Ok(v) = HeaderValue::from_str(&disposition) {
        r.headers_mut().insert(header::CONTENT_DISPOSITION, v);
    }
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// The KPI report of a unit for a period, as a file: every KPI with its
/// formula, numerator, denominator, target and verdict (a rate on fewer
/// than 30 cases is not judged), the monthly trend, the units directly
/// below, and, for readers who may see them, rule performance and model
/// status.
///
/// Scoped like `/kpis`: an office outside the caller's is refused.
/// Who: all people (as `/kpis`).
#[utoipa::path(get, path = "/reports/kpi", tag = "reports", params(ReportQuery),
    responses((status = 200, description = "The report: XLSX, HTML or CSV by `format`, as an attachment",
        content(
            (Vec<u8> = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
            (String = "text/html"),
            (String = "text/csv"),
        ))))]
pub async fn kpi_report(Caller(state, p): Caller, Query(q): Query<ReportQuery>) -> ApiResult<Response> {
    p.require(Perm::ReadKpi)?;
    let Some(period) = q.period.as_deref().filter(|s| !s.is_empty()) else {
        return Err(ApiError::query(
            "period",
            "period: required, e.g. 2026-Q1, 2026-03, 2026 or 2026-01-01..2026-03-31",
        ));
    };
    let period = Period::parse(period).map_err(ApiError::query_refusal)?;
    let format = match q.format.as_deref().filter(|s| !s.is_empty()) {
        None | Some("xlsx") => "xlsx",
        Some("html") => "html",
        Some("csv") => "csv",
        Some(x) => return Err(ApiError::query("format", format!("format: expected xlsx, html or csv, got {x:?}"))),
    };
    let offices = state.offices();
    office_scope(&p, &offices, &q.office)?;
    // The unit: the one asked for, else the caller's, else HQ (as /kpis/trend).
    let unit = match q.office.clone().filter(|s| !s.is_empty()).or_else(|| p.office.clone()) {
        Some(o) => o,
        None => offices.iter().find(|o| o.level == OfficeLevel::Hq).map(|o| o.code.clone()).unwrap_or_default(),
    };
    if !p.sees_office(&unit) {
        return Err(ApiError::forbidden(format!("office {unit} is outside the caller's offices")).field("office"));
    }
    let opts = Options { office: Some(unit), rules: p.may(Perm::ReadRuleStats), models: p.may(Perm::ReadModels) };
    // Built and written on a reader thread: the XLSX writing is CPU work.
    let (content_type, name, bytes) = state
        .read(move |s| {
            let r = report::build(s, &period, &opts)?;
            Ok(match format {
                "xlsx" => (files::XLSX_TYPE, files::file_name(&r, "xlsx"), files::xlsx(&r)?),
                "html" => (files::HTML_TYPE, files::file_name(&r, "html"), files::html(&r).into_bytes()),
                _ => (files::CSV_TYPE, files::file_name(&r, "csv"), files::csv(&r).into_bytes()),
            })
        })
        .await?;
    Ok(file(content_type, &name, bytes))
}

/// A console table to write as XLSX.
#[derive(Deserialize, ToSchema)]
pub struct TableBody {
    /// The sheet's name and the file's title.
    title: String,
    columns: Vec<Column>,
    /// Cells: a number, a string, `true`/`false` or `null`.
    #[schema(value_type = Vec<Vec<Object>>)]
    rows: Vec<Vec<serde_json::Value>>,
}

/// A table as XLSX: what the console's "下载 XLSX" sends (the rows it
/// shows), written with the header row frozen and numbers as numbers.
///
/// At most 100 columns and 20,000 rows; nothing is stored or logged.
/// Who: all people (not machines).
#[utoipa::path(post, path = "/exports/xlsx", tag = "reports", request_body = TableBody,
    responses((status = 200, description = "The table as an XLSX attachment",
        content_type = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet", body = Vec<u8>)))]
pub async fn export_xlsx(Caller(_state, p): Caller, headers: HeaderMap, body: Bytes) -> ApiResult<Response> {
    p.require(Perm::ExportTables)?;
    crate::api::require_json(&headers)?;
    let b: TableBody = crate::parse_json(&body)?;
    if b.columns.is_empty() || b.columns.len() > files::MAX_COLUMNS {
        return Err(ApiError::invalid("columns", format!("columns: expected 1 to {} columns", files::MAX_COLUMNS)));
    }
    if b.rows.len() > files::MAX_ROWS {
        return Err(ApiError::invalid("rows", format!("rows: at most {} rows", files::MAX_ROWS)));
    }
    let title: String = b.title.trim().chars().take(100).collect();
    // The writing is CPU work: off the runtime threads.
    let bytes = tokio::task::spawn_blocking(move || files::table_xlsx(&title, &b.columns, &b.rows))
        .await
        .map_err(|e| ApiError::internal(&format!("xlsx: {e}")))?
        .map_err(|e| ApiError::internal(&format!("xlsx: {e}")))?;
    Ok(file(files::XLSX_TYPE, "riskgate-table.xlsx", bytes))
}
