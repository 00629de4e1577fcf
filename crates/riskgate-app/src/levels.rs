//! Risk levels of enterprises and goods (M3): recomputed from the same
//! outcome data the model learns from, kept with their history, shown to
//! analysts. The level is the smoothed finding rate of the trader's (or the
//! HS6 code's) controls against the national base rate.

use anyhow::Result;
use riskgate_core::CreditClass;
use riskgate_engine::context::History;
use riskgate_engine::scorer::PRIOR_STRENGTH;
use riskgate_store::{RiskLevelRecord, Store};

use crate::app::{App, now};

/// Smoothed rate at or above this multiple of the base rate is high risk.
pub const HIGH: f64 = 3.0;
/// … at or above this multiple, medium.
pub const MEDIUM: f64 = 1.5;

fn level(h: &History, base: f64, kind: &str, key: &str, at: i64) -> RiskLevelRecord {
    let score = h.smoothed_rate(base, PRIOR_STRENGTH);
    let level = if score >= HIGH * base {
        "high"
    } else if score >= MEDIUM * base {
        "medium"
    } else {
        "low"
    };
    RiskLevelRecord {
        kind: kind.into(),
        key: key.into(),
        computed_at: at,
        level: level.into(),
        score: (score * 10_000.0).round() / 10_000.0,
        detail: serde_json::json!({
            "declarations": h.declarations,
            "controls": h.controls,
            "findings": h.findings,
            "revenue_cny": h.revenue_cny,
            "base_rate": (base * 10_000.0).round() / 10_000.0,
            "formula": "(findings + base × 8) ÷ (controls + 8); high ≥ 3 × base, medium ≥ 1.5 × base",
        }),
    }
}

/// Recomputes the levels of every trader and HS6 code known to the context.
pub fn recompute(app: &mut App) -> Result<(usize, usize)> {
    let at = now().timestamp();
    let ctx = &app.engine.context;
    let base = ctx.base_rate();
    let mut rows: Vec<RiskLevelRecord> = Vec::new();
    let mut traders: Vec<(&String, &History)> = ctx.traders.iter().collect();
    traders.sort_by(|a, b| a.0.cmp(b.0));
    for (k, h) in &traders {
        rows.push(level(h, base, "enterprise", k, at));
    }
    let mut goods: Vec<(&String, &History)> = ctx.goods.iter().collect();
    goods.sort_by(|a, b| a.0.cmp(b.0));
    for (k, h) in &goods {
        rows.push(level(h, base, "goods", k, at));
    }
    let counts = (traders.len(), goods.len());
    for chunk in rows.chunks(10_000) {
        app.store.insert_risk_levels(chunk)?;
    }
    let mut a = app.action("risk_levels_recompute", "enterprise,goods");
    a.after = Some(serde_json::json!({"enterprises": counts.0, "goods": counts.1}));
    app.store.append_action(&a)?;
    Ok(counts)
}

/// One enterprise of the list with its latest risk level.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema)]
pub struct EnterpriseRow {
    pub id: String,
    pub name: String,
    pub credit_class: CreditClass,
    pub risk_level: Option<String>,
    pub risk_score: Option<f64>,
}

/// Enterprises whose id or name contains `needle` (any case; empty: all),
/// at risk `level` if given, highest risk first (the id orders equal
/// scores, so pages do not overlap): `offset` skipped, at most `limit`.
pub fn enterprises(
    store: &dyn Store,
    needle: &str,
    level: Option<&str>,
    limit: usize,
    offset: usize,
) -> Result<Vec<EnterpriseRow>> {
    let needle = needle.to_lowercase();
    let levels = store.risk_levels("enterprise", None)?;
    let latest: std::collections::HashMap<&str, &RiskLevelRecord> =
        levels.iter().map(|l| (l.key.as_str(), l)).collect();
    let mut rows: Vec<EnterpriseRow> = store
        .enterprises()?
        .into_iter()
        .filter(|e| {
            needle.is_empty() || e.id.to_lowercase().contains(&needle) || e.name.to_lowercase().contains(&needle)
        })
        .map(|e| {
            let l = latest.get(e.id.as_str());
            EnterpriseRow {
                risk_level: l.map(|l| l.level.clone()),
                risk_score: l.map(|l| l.score),
                id: e.id,
                name: e.name,
                credit_class: e.credit_class,
            }
        })
        .filter(|r| level.is_none_or(|w| r.risk_level.as_deref() == Some(w)))
        .collect();
    rows.sort_by(|a, b| {
        b.risk_score.unwrap_or(-1.0).total_cmp(&a.risk_score.unwrap_or(-1.0)).then_with(|| a.id.cmp(&b.id))
    });
    Ok(rows.into_iter().skip(offset).take(limit).collect())
}
