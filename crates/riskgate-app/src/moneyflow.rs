//! Money flow (M6, issue 13 item 5): what each trader declared on import
//! reconciled against what it paid abroad (forex payments) and what it
//! invoiced at home (VAT invoices) over a period, with or without invoice
//! references. Screening matches payments one declaration at a time and
//! only with what was paid before the decision; this is the retrospective
//! view, which also counts the payments that arrived after the goods were
//! released. A trader that paid abroad well above what it declared, by a
//! large amount, is marked (`flagged`) with its reasons.
//!
//! Payments lag or lead shipments, so short periods carry edge effects:
//! reconcile over a quarter or longer. Measured on a generated world
//! (BENCHMARKS.md "Money flow"), the per-trader mark does NOT single out
//! under-declaring traders (5% of marked traders undervalued in the period
//! against 9% of all): traders there undervalue a few declarations among
//! many, and period edges dominate their sums. It is a view to reconcile
//! with, not an audit selection; re-matching each released declaration
//! with the payments that carry its invoice number is the signal (70% of
//! such over-payments were undervaluations in the same measurement) and is
//! not built yet. Amounts are in CNY at the reference rates the payments
//! were stored with.

use std::collections::HashMap;

use riskgate_store::Store;
use serde::Serialize;

/// A trader is flagged when it paid abroad at least this multiple of its
/// declared import value…
pub const FLAG_RATIO: f64 = 1.25;
/// …and the difference is at least this much (CNY).
pub const FLAG_GAP_CNY: f64 = 50_000.0;
/// Likewise for VAT invoices issued against the declared import value
/// (resale far above the declared value).
pub const FLAG_INVOICE_RATIO: f64 = 2.0;

#[derive(Debug, Clone)]
pub struct Query {
    /// `[from, to)` in seconds; `None`: unbounded.
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Only traders that declared in these offices (the caller's subtree);
    /// `None`: every trader.
    pub offices: Option<Vec<String>>,
    /// One trader only.
    pub trader: Option<String>,
    /// Only the marked traders.
    pub flagged_only: bool,
    pub limit: usize,
}

/// One trader over the period.
#[derive(Debug, Clone, Default, Serialize, utoipa::ToSchema)]
pub struct TraderFlow {
    pub trader: String,
    pub name: Option<String>,
    /// Import declarations and their declared value (CNY).
    pub declarations: u64,
    pub declared_cny: f64,
    /// Payments abroad and their amount (CNY); the part carrying an invoice reference.
    pub payments: u64,
    pub paid_cny: f64,
    pub paid_with_reference_cny: f64,
    /// VAT invoices issued and their amount (CNY).
    pub invoices: u64,
    pub invoiced_cny: f64,
    /// Paid ÷ declared (absent when nothing was declared).
    pub paid_ratio: Option<f64>,
    /// Paid − declared (CNY); positive: paid more than declared.
    pub gap_cny: f64,
    pub invoiced_ratio: Option<f64>,
    /// Paid (or invoiced) well above the declared value: see the module's
    /// note on what this mark is worth.
    pub flagged: bool,
    /// Why, in Chinese and English.
    pub reasons: Vec<String>,
}

#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Reconciliation {
    pub from: Option<i64>,
    pub to: Option<i64>,
    /// Traders with a declaration, a payment or an invoice in the period (in scope).
    pub traders: usize,
    pub flagged: usize,
    /// Paid above declared, summed over the flagged traders (CNY).
    pub flagged_gap_cny: f64,
    /// Largest gap first; flagged traders before the others.
    pub rows: Vec<TraderFlow>,
}

/// Reconciles the period.
pub fn reconcile(store: &dyn Store, q: &Query) -> anyhow::Result<Reconciliation> {
    let (from, to) = (q.from.unwrap_or(i64::MIN), q.to.unwrap_or(i64::MAX));
    if to <= from {
        return Err(crate::AppError::invalid("to", "to: the period must end after it starts").into());
    }
    let sums = store.money_flow(from, to, q.offices.as_deref(), q.trader.as_deref())?;
    let mut by: HashMap<String, TraderFlow> = HashMap::new();
    fn row<'a>(by: &'a mut HashMap<String, TraderFlow>, t: &str) -> &'a mut TraderFlow {
        by.entry(t.to_string()).or_insert_with(|| TraderFlow { trader: t.to_string(), ..Default::default() })
    }
    for d in &sums.declared {
        let r = row(&mut by, &d.trader);
        r.declarations = d.count;
        r.declared_cny = d.amount_cny;
    }
    let in_scope = |by: &HashMap<String, TraderFlow>, t: &str| q.offices.is_none() || by.contains_key(t);
    for p in &sums.paid {
        if !in_scope(&by, &p.trader) {
            continue;
        }
        let r = row(&mut by, &p.trader);
        r.payments = p.count;
        r.paid_cny = p.amount_cny;
        r.paid_with_reference_cny = p.with_reference_cny;
    }
    for i in &sums.invoiced {
        if !in_scope(&by, &i.trader) {
            continue;
        }
        let r = row(&mut by, &i.trader);
        r.invoices = i.count;
        r.invoiced_cny = i.amount_cny;
    }
    let names: HashMap<String, String> =
        store.enterprises()?.into_iter().map(|e| (e.id.clone(), e.name.clone())).collect();
    let mut rows: Vec<TraderFlow> = by.into_values().map(|r| assess(r, &names)).collect();
    let traders = rows.len();
    let flagged = rows.iter().filter(|r| r.flagged).count();
    let flagged_gap_cny = rows.iter().filter(|r| r.flagged).map(|r| r.gap_cny).sum();
    rows.retain(|r| !q.flagged_only || r.flagged);
    rows.sort_by(|a, b| b.flagged.cmp(&a.flagged).then(b.gap_cny.total_cmp(&a.gap_cny)).then(a.trader.cmp(&b.trader)));
    rows.truncate(q.limit);
    Ok(Reconciliation { from: q.from, to: q.to, traders, flagged, flagged_gap_cny, rows })
}

/// Ratios, gap, flag and reasons of one trader's sums.
fn assess(mut r: TraderFlow, names: &HashMap<String, String>) -> TraderFlow {
    r.name = names.get(&r.trader).cloned();
    r.gap_cny = r.paid_cny - r.declared_cny;
    r.paid_ratio = (r.declared_cny > 0.0).then(|| r.paid_cny / r.declared_cny);
    r.invoiced_ratio = (r.declared_cny > 0.0).then(|| r.invoiced_cny / r.declared_cny);
    if r.gap_cny >= FLAG_GAP_CNY && r.paid_ratio.is_none_or(|x| x >= FLAG_RATIO) {
        r.flagged = true;
        r.reasons.push(match r.paid_ratio {
            Some(x) => format!(
                "付汇 {:.0} 元为申报进口货值 {:.0} 元的 {x:.2} 倍 / Paid abroad {:.0} CNY, {x:.2}× the declared import value {:.0} CNY",
                r.paid_cny, r.declared_cny, r.paid_cny, r.declared_cny
            ),
            None => format!(
                "付汇 {:.0} 元而本期无进口申报 / Paid abroad {:.0} CNY with no import declared in the period",
                r.paid_cny, r.paid_cny
            ),
        });
    }
    if let Some(x) = r.invoiced_ratio.filter(|x| *x >= FLAG_INVOICE_RATIO)
        && r.invoiced_cny - r.declared_cny >= FLAG_GAP_CNY
    {
        r.flagged = true;
        r.reasons.push(format!(
            "增值税发票 {:.0} 元为申报进口货值的 {x:.2} 倍 / VAT invoices {:.0} CNY, {x:.2}× the declared import value",
            r.invoiced_cny, r.invoiced_cny
        ));
    }
    r
}
