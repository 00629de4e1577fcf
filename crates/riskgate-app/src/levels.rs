//! Risk levels of enterprises and goods (M3): recomputed from the same
//! outcome data the model learns from, kept with their history, shown to
//! analysts. The level is the smoothed finding rate of the trader's (or the
//! HS6 code's) controls against the national base rate.

use anyhow::Result;
use riskgate_engine::context::History;
use riskgate_engine::scorer::PRIOR_STRENGTH;
use riskgate_store::RiskLevelRecord;

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
