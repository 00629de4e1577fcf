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
//! under-declaring traders (7% of marked traders undervalued in the period
//! against 9% of all): traders there undervalue a few declarations among
//! many, and period edges dominate their sums. It is a view to reconcile
//! with, not an audit selection. The signal is per declaration: each
//! import of the period re-matched with the payments that carry its
//! invoice number, at any date up to now (`overpaid`: post-clearance audit
//! candidates by expected duty). Amounts are in CNY at the reference rates
//! the payments were stored with.
//!
//! VAT invoices carry no customs reference either; each one issued since
//! the period started is compared with the imports its trader declared in
//! the `INVOICE_LOOKBACK_DAYS` before it (`invoice_checks`): goods invoiced
//! at home under a code whose declarations do not account for the amount,
//! at the value of one line of a lower-duty code of the same chapter, point
//! at misclassification; an invoice far above the declared value of the one
//! import of those goods points at under-declaration.

use std::collections::HashMap;

use riskgate_store::{ImportLine, ImportLines, Store};
use serde::Serialize;

/// A trader is flagged when it paid abroad at least this multiple of its
/// declared import value…
pub const FLAG_RATIO: f64 = 1.25;
/// …and the difference is at least this much (CNY).
pub const FLAG_GAP_CNY: f64 = 50_000.0;
/// Likewise for VAT invoices issued against the declared import value
/// (resale far above the declared value).
pub const FLAG_INVOICE_RATIO: f64 = 2.0;
/// A declaration is listed as over-paid when the payments carrying its
/// invoice number reach this multiple of its declared value.
pub const OVERPAID_RATIO: f64 = 1.25;
/// Payments made up to this many days before the period count for its
/// declarations (prepayment).
pub const LEAD_DAYS: i64 = 90;
/// A VAT invoice is compared with the imports its trader declared up to
/// this many days before it.
pub const INVOICE_LOOKBACK_DAYS: i64 = 90;
/// Import VAT (增值税), due on the duty-paid value: what an undeclared
/// value or a too-low duty rate also evades.
pub const IMPORT_VAT: f64 = 0.13;
/// The domestic resale margin assumed when an invoice's amount stands in
/// for the value of the imported goods (the undeclared value is taken as
/// invoice ÷ margin − declared).
pub const RESALE_MARGIN: f64 = 1.3;
/// The period when none is given, in days up to now…
pub const DEFAULT_DAYS: i64 = 92;
/// …and the longest one taken (a year and a day).
pub const MAX_DAYS: i64 = 367;

#[derive(Debug, Clone)]
pub struct Query {
    /// `[from, to)` in seconds; default: the `DEFAULT_DAYS` up to now.
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
    /// The period reconciled, `[from, to)` in seconds.
    pub from: i64,
    pub to: i64,
    /// Traders with a declaration, a payment or an invoice in the period (in scope).
    pub traders: usize,
    pub flagged: usize,
    /// Paid above declared, summed over the flagged traders (CNY).
    pub flagged_gap_cny: f64,
    /// Largest gap first; flagged traders before the others.
    pub rows: Vec<TraderFlow>,
    /// Import declarations whose payments carrying their invoice number
    /// (at any date up to now) reach `OVERPAID_RATIO` × the declared value,
    /// in the scope: how many, and the first `limit` by expected duty.
    pub overpaid_total: usize,
    pub overpaid: Vec<Overpaid>,
    /// Import declarations of the period in scope that a later VAT invoice
    /// of their trader contradicts (`InvoiceCheck`): how many, and the
    /// first `limit` by expected duty.
    pub invoice_checks_total: usize,
    pub invoice_checks: Vec<InvoiceCheck>,
}

/// What a VAT invoice contradicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum InvoiceFinding {
    /// Invoiced under a goods code whose declared lines (if any) the amount
    /// exceeds `FLAG_INVOICE_RATIO` times, while it fits (1–2×) the value of
    /// one line of a lower-duty code of the same chapter.
    Code,
    /// Invoiced under a declared code at `FLAG_INVOICE_RATIO` × or more of
    /// the declared value of the only import of those goods in the lookback.
    Value,
}

/// One import declaration contradicted by a later VAT invoice of its
/// trader — a post-clearance audit lead, largest expected duty first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct InvoiceCheck {
    pub declaration_id: String,
    pub trader: String,
    pub office: String,
    /// RFC 3339.
    pub declared_at: String,
    pub finding: InvoiceFinding,
    /// The invoice: when, its goods code, its amount (CNY).
    pub invoice_issued_at: String,
    pub invoice_hs_code: String,
    pub invoice_cny: f64,
    /// The declared line(s) compared: goods code, value (CNY), duty rate.
    pub declared_hs_code: String,
    pub declared_cny: f64,
    pub declared_duty_rate: f64,
    /// The invoiced code's duty rate as declared by importers in the
    /// lookback (absent: no import of that code seen).
    pub invoice_duty_rate: Option<f64>,
    /// Invoice ÷ declared value.
    pub ratio: f64,
    /// Duty and import VAT an audit would recover if the invoice is right:
    /// `Code`: declared value × the duty-rate difference × (1 + VAT);
    /// `Value`: (invoice ÷ `RESALE_MARGIN` − declared) × (duty rate + VAT
    /// on the duty-paid value), as for payments above the declared value.
    pub expected_duty_cny: f64,
    /// `Code`: how many of the trader's imports in the lookback carry a
    /// lower-duty code of the chapter (the amount fits exactly one line of
    /// them); `Value`: 1, the one import of the goods.
    pub candidates: usize,
    pub reasons: Vec<String>,
}

/// One declaration re-matched with the payments that carry its invoice
/// number — post-clearance audit candidates, largest expected duty first.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Overpaid {
    pub declaration_id: String,
    pub trader: String,
    pub office: String,
    /// RFC 3339.
    pub declared_at: String,
    pub declared_cny: f64,
    pub paid_cny: f64,
    pub ratio: f64,
    /// The undeclared value (paid − declared) times the declaration's
    /// value-weighted duty rate.
    pub expected_duty_cny: f64,
    /// Whether the payments made by the decision already showed it (the
    /// rest came after the decision, most after release).
    pub seen_at_decision: bool,
}

/// Reconciles the period.
pub fn reconcile(store: &dyn Store, q: &Query) -> anyhow::Result<Reconciliation> {
    // A bounded period (default: the 92 days up to now): the re-match and
    // the invoice checks read the period's imports line by line.
    let to = q.to.unwrap_or_else(|| crate::app::now().timestamp());
    let from = q.from.unwrap_or(to - DEFAULT_DAYS * 86_400);
    if to <= from {
        return Err(crate::AppError::invalid("to", "to: the period must end after it starts").into());
    }
    if to - from > MAX_DAYS * 86_400 {
        return Err(crate::AppError::invalid("from", format!("from: a period of at most {MAX_DAYS} days")).into());
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
    // The store keeps payments and invoices of the traders in scope only.
    for p in &sums.paid {
        let r = row(&mut by, &p.trader);
        r.payments = p.count;
        r.paid_cny = p.amount_cny;
        r.paid_with_reference_cny = p.with_reference_cny;
    }
    for i in &sums.invoiced {
        let r = row(&mut by, &i.trader);
        r.invoices = i.count;
        r.invoiced_cny = i.amount_cny;
    }
    let names: HashMap<String, String> =
        store.enterprises()?.into_iter().map(|e| (e.id.clone(), e.name.clone())).collect();
    let mut rows: Vec<TraderFlow> = by.into_values().map(|r| assess(r, &names)).collect();
    let traders = rows.len();
    let flagged = rows.iter().filter(|r| r.flagged).count();
    // Summed in the listed order (not the map's), so the same store always
    // gives the same figure to the last digit.
    rows.sort_by(|a, b| b.flagged.cmp(&a.flagged).then(b.gap_cny.total_cmp(&a.gap_cny)).then(a.trader.cmp(&b.trader)));
    let flagged_gap_cny = rows.iter().filter(|r| r.flagged).map(|r| r.gap_cny.max(0.0)).sum();
    rows.retain(|r| !q.flagged_only || r.flagged);
    rows.truncate(q.limit);
    let mut overpaid = overpaid(store, q, from, to)?;
    let overpaid_total = overpaid.len();
    overpaid.truncate(q.limit);
    let mut invoice_checks = invoice_checks(store, from, to, q.offices.as_deref(), q.trader.as_deref())?;
    let invoice_checks_total = invoice_checks.len();
    invoice_checks.truncate(q.limit);
    Ok(Reconciliation {
        from,
        to,
        traders,
        flagged,
        flagged_gap_cny,
        rows,
        overpaid_total,
        overpaid,
        invoice_checks_total,
        invoice_checks,
    })
}

/// Whether two goods codes name the same goods: equal on the digits both
/// have, at least six (HS6, comparable across national tariffs).
fn same_goods(a: &str, b: &str) -> bool {
    let n = a.len().min(b.len());
    n >= 6 && a.as_bytes()[..n] == b.as_bytes()[..n]
}

fn chapter(code: &str) -> &str {
    code.get(..2).unwrap_or(code)
}

/// Every VAT invoice issued from the period's start up to now (none dated
/// later counts, wherever the clock stands), compared with its trader's
/// imports declared in the `INVOICE_LOOKBACK_DAYS` before it; the
/// contradicted imports declared in the period (in scope), by expected
/// duty. An invoice below `FLAG_INVOICE_RATIO` × the value of a declared
/// line of its goods contradicts nothing (a resale, or part of one);
/// otherwise it contradicts at most one import: the one lower-duty line of
/// the same chapter whose value it fits (1–2×; `Code`), else the one
/// import of its goods (`Value`); several candidates: none. An import
/// contradicted by several invoices is listed once (its largest).
/// Invoices without a goods code, or with fewer than six digits, are only
/// summed per trader.
pub(crate) fn invoice_checks(
    store: &dyn Store,
    from: i64,
    to: i64,
    offices: Option<&[String]>,
    trader: Option<&str>,
) -> anyhow::Result<Vec<InvoiceCheck>> {
    let lookback = INVOICE_LOOKBACK_DAYS * 86_400;
    // Invoices of goods declared in the period come up to the lookback after
    // it; each is compared with every import of its own lookback (also those
    // declared after the period: an invoice may resell those instead).
    let end = to.saturating_add(lookback).min(crate::app::now().timestamp().saturating_add(1));
    let (imports, invoices) = store.invoiced_imports(from, end, from.saturating_sub(lookback), end)?;
    // The tariff as the invoicing traders' imports declared it (mean rate
    // per code, and per HS6 for codes of another length): what the invoiced
    // code would have paid.
    let mut tariff: HashMap<&str, (f64, f64)> = HashMap::new();
    let mut tariff6: HashMap<&str, (f64, f64)> = HashMap::new();
    for i in &imports {
        for it in &i.lines {
            for (map, key) in [(&mut tariff, it.hs_code.as_str()), (&mut tariff6, it.hs_code.get(..6).unwrap_or(""))] {
                let e = map.entry(key).or_default();
                e.0 += it.duty_rate;
                e.1 += 1.0;
            }
        }
    }
    let rate_of = |code: &str| -> Option<f64> {
        tariff.get(code).or_else(|| tariff6.get(code.get(..6).unwrap_or(""))).map(|(sum, n)| sum / n)
    };
    let mut by_trader: HashMap<&str, Vec<&ImportLines>> = HashMap::new();
    for i in &imports {
        by_trader.entry(i.trader.as_str()).or_default().push(i);
    }
    for v in by_trader.values_mut() {
        v.sort_by_key(|d| (d.declared_at, d.id.as_str()));
    }
    let mut out: HashMap<String, InvoiceCheck> = HashMap::new();
    for inv in &invoices {
        let Some(code) = inv.hs_code.as_deref().filter(|c| c.len() >= 6) else { continue };
        let t = inv.issued_at.timestamp();
        let window: &[&ImportLines] = by_trader.get(inv.trader.as_str()).map_or(&[], |v| {
            let lo = v.partition_point(|d| d.declared_at < t - lookback);
            let hi = v.partition_point(|d| d.declared_at < t);
            &v[lo..hi.max(lo)]
        });
        let value = |d: &ImportLines, i: &ImportLine| i.value * d.rate;
        // A line of the invoiced goods explains an invoice below
        // `FLAG_INVOICE_RATIO` × its value: a resale, or part of one (large
        // imports are resold on several invoices).
        if window.iter().any(|d| {
            d.lines.iter().any(|i| same_goods(&i.hs_code, code) && inv.amount_cny < FLAG_INVOICE_RATIO * value(d, i))
        }) {
            continue;
        }
        let declaring: Vec<&ImportLines> =
            window.iter().copied().filter(|d| d.lines.iter().any(|i| same_goods(&i.hs_code, code))).collect();
        let invoice_rate = rate_of(code);
        // Another code of the invoiced goods' chapter, with a lower duty
        // than importers declare for the invoiced code (known).
        let lower = |i: &ImportLine| {
            chapter(&i.hs_code) == chapter(code)
                && !same_goods(&i.hs_code, code)
                && invoice_rate.is_some_and(|r| i.duty_rate < r)
        };
        let lower_imports = window.iter().filter(|d| d.lines.iter().any(lower)).count();
        // …whose declared value the amount fits as a resale (1–2×).
        let fitting: Vec<(&ImportLines, &ImportLine)> = window
            .iter()
            .flat_map(|d| d.lines.iter().filter(|i| lower(i)).map(move |i| (*d, i)))
            .filter(|(d, i)| {
                let v = value(d, i);
                v > 0.0 && inv.amount_cny >= v && inv.amount_cny < FLAG_INVOICE_RATIO * v
            })
            .collect();
        // Only imports of the period in scope are listed: the others are
        // skipped before any row is built.
        let listed = |d: &ImportLines| {
            (from..to).contains(&d.declared_at)
                && offices.is_none_or(|o| o.contains(&d.office))
                && trader.is_none_or(|t| t == d.trader)
        };
        let day = inv.issued_at.format("%Y-%m-%d");
        // `rate`: the invoiced code's (known: a lower line is lower than it).
        let code_check = |d: &ImportLines,
                          line: &ImportLine,
                          rate: f64,
                          candidates: usize,
                          declared_elsewhere: bool| {
            let declared = line.value * d.rate;
            let mut c = check_row(d, inv, code, InvoiceFinding::Code, &line.hs_code, declared, line.duty_rate);
            c.invoice_duty_rate = Some(rate);
            c.expected_duty_cny = declared * (rate - line.duty_rate).max(0.0) * (1.0 + IMPORT_VAT);
            c.candidates = candidates;
            let (zh_rate, en_rate) = (
                format!("，发票编码申报税率 {:.1}%", rate * 100.0),
                format!(", the invoiced code declared at {:.1}%", rate * 100.0),
            );
            let (zh, en) = if declared_elsewhere {
                (
                    format!(
                        "该企业此前 {INVOICE_LOOKBACK_DAYS} 日申报的 {code} 货值均与发票金额不符，而与此行申报货值相符"
                    ),
                    format!(
                        "no import of {code} by the trader in the {INVOICE_LOOKBACK_DAYS} days before fits the amount; \
                         this line's declared value does"
                    ),
                )
            } else {
                (
                    format!("商品编码 {code} 未见于该企业此前 {INVOICE_LOOKBACK_DAYS} 日的进口申报"),
                    format!("a code the trader did not declare in the {INVOICE_LOOKBACK_DAYS} days before"),
                )
            };
            c.reasons.push(format!(
                "{day} 开具增值税发票 {:.0} 元，{zh}；同章申报 {}（税率 {:.1}%{zh_rate}） / VAT invoice of {day} for \
                 {:.0} CNY under {code}: {en}; declared {} of the same chapter at {:.1}%{en_rate}",
                inv.amount_cny,
                line.hs_code,
                line.duty_rate * 100.0,
                inv.amount_cny,
                line.hs_code,
                line.duty_rate * 100.0,
            ));
            c
        };
        let check = if let ([(d, line)], Some(rate)) = (&fitting[..], invoice_rate) {
            // One lower-duty line of the chapter fits the amount, no line of
            // the invoiced goods does.
            if !listed(d) {
                continue;
            }
            code_check(d, line, rate, lower_imports, !declaring.is_empty())
        } else if let [d] = declaring[..] {
            // Declared once, far below the invoice: the value of those goods.
            if !listed(d) {
                continue;
            }
            let lines = d.lines.iter().filter(|i| same_goods(&i.hs_code, code));
            let (value, duty) = lines.fold((0.0, 0.0), |(v, r), i| (v + i.value, r + i.value * i.duty_rate));
            let declared = value * d.rate;
            if declared <= 0.0 || inv.amount_cny < FLAG_INVOICE_RATIO * declared {
                continue;
            }
            let rate = duty / value;
            let first = d.lines.iter().find(|i| same_goods(&i.hs_code, code)).map_or(code, |i| i.hs_code.as_str());
            let mut c = check_row(d, inv, code, InvoiceFinding::Value, first, declared, rate);
            c.invoice_duty_rate = invoice_rate;
            c.expected_duty_cny =
                (inv.amount_cny / RESALE_MARGIN - declared).max(0.0) * (rate + IMPORT_VAT * (1.0 + rate));
            c.candidates = 1;
            c.reasons.push(format!(
                "{day} 开具增值税发票 {:.0} 元，为该票同类货物申报货值 {:.0} 元的 {:.2} 倍 / VAT invoice of {day} for \
                 {:.0} CNY, {:.2}× the declared value {:.0} CNY of those goods",
                inv.amount_cny, declared, c.ratio, inv.amount_cny, c.ratio, declared,
            ));
            c
        } else {
            // Declared in several imports, none fitting: which one was resold is unknown.
            continue;
        };
        match out.get(&check.declaration_id) {
            Some(x) if x.expected_duty_cny >= check.expected_duty_cny => {}
            _ => {
                out.insert(check.declaration_id.clone(), check);
            }
        }
    }
    let mut out: Vec<InvoiceCheck> = out.into_values().collect();
    out.sort_by(|a, b| {
        b.expected_duty_cny.total_cmp(&a.expected_duty_cny).then(a.declaration_id.cmp(&b.declaration_id))
    });
    Ok(out)
}

fn check_row(
    d: &ImportLines,
    inv: &riskgate_core::TaxInvoice,
    code: &str,
    finding: InvoiceFinding,
    declared_code: &str,
    declared_cny: f64,
    declared_rate: f64,
) -> InvoiceCheck {
    InvoiceCheck {
        declaration_id: d.id.clone(),
        trader: d.trader.clone(),
        office: d.office.clone(),
        declared_at: d.declared_at().to_rfc3339(),
        finding,
        invoice_issued_at: inv.issued_at.to_rfc3339(),
        invoice_hs_code: code.to_string(),
        invoice_cny: inv.amount_cny,
        declared_hs_code: declared_code.to_string(),
        declared_cny,
        declared_duty_rate: declared_rate,
        invoice_duty_rate: None,
        ratio: if declared_cny > 0.0 { inv.amount_cny / declared_cny } else { 0.0 },
        expected_duty_cny: 0.0,
        candidates: 0,
        reasons: Vec::new(),
    }
}

/// Every import declaration of the period (in scope) re-matched with the
/// payments carrying its invoice number, the over-paid ones by expected
/// duty. Measured on a generated world, 70% of these were undervaluations
/// (BENCHMARKS.md "Money flow"), most of them invisible when screened.
fn overpaid(store: &dyn Store, q: &Query, from: i64, to: i64) -> anyhow::Result<Vec<Overpaid>> {
    let (imports, payments) = store.referenced_imports(from, to, from.saturating_sub(LEAD_DAYS * 86_400))?;
    let mut paid: HashMap<(&str, &str), Vec<(i64, f64)>> = HashMap::new();
    for p in &payments {
        paid.entry((p.trader.as_str(), p.reference.as_str())).or_default().push((p.paid_at, p.amount_cny));
    }
    // Each import's invoice numbers, once (listed twice, counted once).
    let invoices: Vec<Vec<&str>> = imports
        .iter()
        .map(|i| {
            let mut v: Vec<&str> = i.invoices.iter().map(String::as_str).collect();
            v.sort_unstable();
            v.dedup();
            v
        })
        .collect();
    // An invoice shipped in several declarations: its payments are shared
    // among them in proportion to their declared values.
    let mut shared: HashMap<(&str, &str), f64> = HashMap::new();
    for (i, invs) in imports.iter().zip(&invoices) {
        for inv in invs {
            *shared.entry((i.import.trader.as_str(), inv)).or_default() += i.import.total_value_cny();
        }
    }
    let mut out = Vec::new();
    for (i, invs) in imports.iter().zip(&invoices) {
        let d = &i.import;
        if q.offices.as_ref().is_some_and(|o| !o.contains(&d.office))
            || q.trader.as_ref().is_some_and(|t| *t != d.trader)
        {
            continue;
        }
        let declared = d.total_value_cny();
        if declared <= 0.0 {
            continue;
        }
        let decided = i.decided_at.unwrap_or(d.declared_at);
        let (mut total, mut before) = (0.0, 0.0);
        for &inv in invs {
            let key = (d.trader.as_str(), inv);
            let share = declared / shared.get(&key).copied().unwrap_or(declared);
            for &(at, amount) in paid.get(&key).map(Vec::as_slice).unwrap_or(&[]) {
                total += amount * share;
                if at <= decided {
                    before += amount * share;
                }
            }
        }
        if total < OVERPAID_RATIO * declared {
            continue;
        }
        let rate = d.duty_rate();
        out.push(Overpaid {
            declaration_id: d.id.clone(),
            trader: d.trader.clone(),
            office: d.office.clone(),
            declared_at: d.declared_at().to_rfc3339(),
            declared_cny: declared,
            paid_cny: total,
            ratio: total / declared,
            expected_duty_cny: (total - declared) * rate,
            seen_at_decision: before >= OVERPAID_RATIO * declared,
        });
    }
    out.sort_by(|a, b| {
        b.expected_duty_cny.total_cmp(&a.expected_duty_cny).then(a.declaration_id.cmp(&b.declaration_id))
    });
    Ok(out)
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

#[cfg(test)]
mod tests {
    use super::*;
    use riskgate_core::{Declaration, ForexPayment};
    use riskgate_store::SqliteStore;

    fn decl(id: &str, trader: &str, office: &str, day: u32, invoice: &str, value_usd: f64) -> Declaration {
        // The same invoice number listed twice.
        let mut v = import_json(id, trader, office, &format!("03-{day:02}"), "8517130000", 0.1, value_usd);
        v["documents"] = serde_json::json!([{"kind": "invoice", "id": invoice}, {"kind": "invoice", "id": invoice}]);
        Declaration::from_json(&v).unwrap()
    }

    fn pay(trader: &str, day: u32, cny: f64, reference: &str) -> ForexPayment {
        ForexPayment::from_json(&serde_json::json!({"trader": trader,
            "paid_at": format!("2026-03-{day:02}T10:00:00+08:00"), "amount": cny, "currency": "CNY",
            "reference": reference}))
        .unwrap()
    }

    /// Each import re-matched with the payments carrying its invoice number
    /// (the same number listed twice counts once; another trader's payment
    /// with that number never): over-paid ones listed by expected duty,
    /// whether the decision could see it, scoped by office and trader.
    #[test]
    fn imports_paid_above_their_declared_value_by_reference_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let usd = 7.10;
        store
            .commit_historical(&[
                decl("SEEN", "T1", "2201", 10, "INV-1", 1000.0), // paid 2× before its declaration
                decl("LATER", "T1", "2201", 11, "INV-2", 2000.0), // paid 1.5× after it
                decl("FAIR", "T1", "2201", 12, "INV-3", 1000.0), // paid its value
                decl("OTHER", "T2", "5301", 12, "INV-4", 1000.0), // paid 3× after
                decl("NOPAY", "T3", "5301", 12, "INV-1", 1000.0), // T1's INV-1 is not T3's
                decl("PART1", "T4", "5301", 13, "INV-5", 1000.0), // one invoice in two shipments,
                decl("PART2", "T4", "5301", 14, "INV-5", 1000.0), // paid in full once: not over-paid
            ])
            .unwrap();
        store
            .insert_forex(&[
                pay("T1", 5, 2000.0 * usd, "INV-1"),
                pay("T1", 20, 3000.0 * usd, "INV-2"),
                pay("T1", 20, 1000.0 * usd, "INV-3"),
                pay("T2", 25, 3000.0 * usd, "INV-4"),
                pay("T9", 25, 1.0, "INV-9"),
                pay("T4", 20, 2000.0 * usd, "INV-5"),
            ])
            .unwrap();
        let run = |offices: Option<Vec<String>>, trader: Option<&str>| {
            let march = |d: &str| chrono::DateTime::parse_from_rfc3339(d).unwrap().timestamp();
            let q = Query {
                from: Some(march("2026-03-01T00:00:00+08:00")),
                to: Some(march("2026-04-01T00:00:00+08:00")),
                offices,
                trader: trader.map(str::to_string),
                flagged_only: false,
                limit: 10,
            };
            let r = reconcile(&store, &q).unwrap();
            assert_eq!(r.overpaid_total, r.overpaid.len());
            r.overpaid
                .iter()
                .map(|o| {
                    format!("{} {:.2} {:.0} {}", o.declaration_id, o.ratio, o.expected_duty_cny, o.seen_at_decision)
                })
                .collect::<Vec<_>>()
        };
        // Expected duty = (paid − declared) × 10%: OTHER 2000 USD, LATER 1000 USD, SEEN 1000 USD over.
        assert_eq!(run(None, None), ["OTHER 3.00 1420 false", "LATER 1.50 710 false", "SEEN 2.00 710 true"]);
        assert_eq!(run(Some(vec!["2201".into()]), None), ["LATER 1.50 710 false", "SEEN 2.00 710 true"]);
        assert_eq!(run(None, Some("T2")), ["OTHER 3.00 1420 false"]);
        // Periods are bounded: at most a year and a day.
        let long =
            Query { from: Some(0), to: Some(400 * 86_400), offices: None, trader: None, flagged_only: false, limit: 1 };
        assert!(reconcile(&store, &long).unwrap_err().to_string().contains("at most 367 days"));
    }

    /// One import of one line, in USD, on `day` ("MM-DD") of 2026.
    fn import_json(
        id: &str,
        trader: &str,
        office: &str,
        day: &str,
        code: &str,
        rate: f64,
        value_usd: f64,
    ) -> serde_json::Value {
        serde_json::json!({
            "id": id, "declared_at": format!("2026-{day}T09:00:00+08:00"), "direction": "import",
            "office": office, "transport_mode": "sea", "trade_mode": "0110", "trader": {"id": trader},
            "declarant": {"id": "D1"}, "country_of_departure": "VN", "currency": "USD",
            "items": [{"line": 1, "hs_code": code, "origin": "VN", "quantity": 10, "net_weight_kg": 5.0,
                       "value": value_usd, "duty_rate": rate}]})
    }

    fn import(id: &str, trader: &str, office: &str, day: &str, code: &str, rate: f64, value_usd: f64) -> Declaration {
        Declaration::from_json(&import_json(id, trader, office, day, code, rate, value_usd)).unwrap()
    }

    fn invoice(trader: &str, month: u32, day: u32, cny: f64, code: &str) -> riskgate_core::TaxInvoice {
        riskgate_core::TaxInvoice::from_json(&serde_json::json!({"trader": trader,
            "issued_at": format!("2026-{month:02}-{day:02}T10:00:00+08:00"), "amount_cny": cny, "hs_code": code}))
        .unwrap()
    }

    /// A later VAT invoice under a code the trader did not declare, whose
    /// amount fits one lower-duty line of the same chapter, marks that
    /// import (code); so does one under a declared code far above every
    /// line of it; an invoice below twice a line of its own goods (a
    /// resale, or part of one: BIGSHIP) marks nothing; an invoiced code of
    /// unknown rate gives no code finding; an invoice far above the one
    /// import of its goods marks it (value); ambiguous, earlier, unrelated
    /// and modest invoices mark nothing; invoices after the period still
    /// count, and imports after it make an invoice ambiguous; scoped by
    /// office and trader.
    #[test]
    fn later_vat_invoices_that_contradict_an_import_are_listed() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let usd = 7.10;
        store
            .commit_historical(&[
                import("TARIFF", "T9", "5301", "03-02", "8517130000", 0.10, 100.0), // the invoiced code's rate, declared by another
                import("MIS", "T1", "2201", "03-10", "8517620000", 0.02, 1000.0),   // invoiced later as 8517130000
                import("UNDER", "T2", "2201", "03-11", "8471300000", 0.05, 1000.0), // invoiced at 3× its value
                import("FAIR", "T2", "2201", "03-12", "8528720000", 0.08, 1000.0),  // invoiced at 1.4×
                import("TWICE1", "T3", "5301", "03-12", "6403990000", 0.10, 1000.0), // two imports of the goods:
                import("TWICE2", "T3", "5301", "03-20", "6403990000", 0.10, 1000.0), // which one was resold is unknown
                import("ELSE", "T4", "5301", "03-12", "0901210000", 0.08, 1000.0),  // invoice of another chapter
                import("AFTER", "T5", "5301", "03-25", "8517620000", 0.02, 1000.0), // invoiced before it was declared
                import("LATE1", "T6", "5301", "03-30", "6110200000", 0.12, 1000.0), // invoiced at 4× on 5 April, but another
                import("LATE2", "T6", "5301", "04-02", "6110200000", 0.12, 1000.0), // import of the goods after the period: ambiguous
                import("X1", "T7", "2201", "03-05", "8516500000", 0.10, 1000.0), // the invoiced code, far below its amount;
                import("X2", "T7", "2201", "03-15", "8516600000", 0.02, 2000.0), // a lower-duty line the amount fits
                import("Y1", "T8", "2201", "03-05", "8516500000", 0.10, 1000.0), // the invoiced code fits the amount:
                import("Y2", "T8", "2201", "03-15", "8516600000", 0.02, 1000.0), // the lower line is not suspected
                import("BIGSHIP", "T10", "2201", "03-05", "9403600000", 0.10, 3000.0), // resold on three invoices:
                import("SMALL", "T10", "2201", "03-06", "9403200000", 0.00, 1000.0), // each fits this line, but is part of BIGSHIP
                import("L1", "T11", "2201", "03-05", "3926909000", 0.065, 1000.0), // the invoiced code's rate is unknown
            ])
            .unwrap();
        store
            .insert_invoices(&[
                invoice("T1", 4, 20, 1500.0 * usd, "8517130000"), // after the period: still counts
                invoice("T2", 3, 28, 3000.0 * usd, "84713000"),   // eight digits: the same goods
                invoice("T2", 3, 29, 1400.0 * usd, "8528720000"),
                invoice("T3", 3, 28, 5000.0 * usd, "6403990000"),
                invoice("T4", 3, 28, 5000.0 * usd, "8517130000"),
                invoice("T5", 3, 20, 5000.0 * usd, "8517130000"),
                invoice("T1", 3, 28, 9000.0 * usd, "85"), // a chapter only: summed, not checked
                invoice("T9", 3, 5, 100.0 * usd, "0901210000"), // T9's imports give the tariff
                invoice("T6", 4, 5, 4000.0 * usd, "6110200000"),
                invoice("T7", 4, 1, 2600.0 * usd, "8516500000"),
                invoice("T8", 4, 1, 1300.0 * usd, "8516500000"),
                invoice("T10", 3, 20, 1200.0 * usd, "9403600000"),
                invoice("T10", 3, 21, 1200.0 * usd, "9403600000"),
                invoice("T10", 3, 22, 1200.0 * usd, "9403600000"),
                invoice("T11", 3, 20, 1300.0 * usd, "3926100000"),
            ])
            .unwrap();
        let march = |d: &str| chrono::DateTime::parse_from_rfc3339(d).unwrap().timestamp();
        let checks = |offices: Option<Vec<String>>, trader: Option<&str>| {
            let q = Query {
                from: Some(march("2026-03-01T00:00:00+08:00")),
                to: Some(march("2026-04-01T00:00:00+08:00")),
                offices,
                trader: trader.map(str::to_string),
                flagged_only: false,
                limit: 10,
            };
            let r = reconcile(&store, &q).unwrap();
            assert_eq!(r.invoice_checks_total, r.invoice_checks.len());
            r.invoice_checks
        };
        let run = |offices: Option<Vec<String>>, trader: Option<&str>| {
            checks(offices, trader)
                .iter()
                .map(|c| {
                    format!(
                        "{} {:?} {} {:.2} {:.0} {}",
                        c.declaration_id, c.finding, c.invoice_hs_code, c.ratio, c.expected_duty_cny, c.candidates
                    )
                })
                .collect::<Vec<_>>()
        };
        // MIS: 7,100 CNY × (10% − 2%) × 1.13 = 641.84 CNY; X2: 14,200 × 8% × 1.13 = 1,283.68;
        // UNDER: (21,300 / 1.3 − 7,100) CNY × (5% + 13% × 1.05) = 1,731.58 CNY.
        assert_eq!(
            run(None, None),
            ["UNDER Value 84713000 3.00 1732 1", "X2 Code 8516500000 1.30 1284 1", "MIS Code 8517130000 1.50 642 1"]
        );
        assert_eq!(run(Some(vec!["5301".into()]), None), Vec::<String>::new());
        let x2 = checks(None, Some("T7"));
        assert!(x2[0].reasons[0].contains("this line's declared value does"), "{x2:?}");
        assert_eq!(run(None, Some("T2")), ["UNDER Value 84713000 3.00 1732 1"]);
        let mis = checks(None, Some("T1"));
        let c = &mis[0];
        assert_eq!((c.declared_hs_code.as_str(), c.invoice_duty_rate), ("8517620000", Some(0.10)));
        assert!(c.reasons[0].contains("8517130000") && c.reasons[0].contains("did not declare"), "{:?}", c.reasons);
    }

    /// No invoice dated after now counts, wherever the period ends (an
    /// invoice imported with a wrong, future date marks nothing until its
    /// date has come).
    #[test]
    fn invoices_dated_after_now_are_not_used() {
        let dir = tempfile::tempdir().unwrap();
        let mut store = SqliteStore::open(dir.path()).unwrap();
        let now = crate::app::now();
        let at = |days: i64| (now + chrono::Duration::days(days)).to_rfc3339();
        let mut d = import("RESOLD", "T1", "2201", "03-10", "8471300000", 0.05, 1000.0);
        d.declared_at = chrono::DateTime::parse_from_rfc3339(&at(-20)).unwrap();
        store.commit_historical(&[d]).unwrap();
        let invoice = |when: String| {
            riskgate_core::TaxInvoice::from_json(&serde_json::json!({"trader": "T1", "issued_at": when,
                "amount_cny": 3000.0 * 7.10, "hs_code": "8471300000"}))
            .unwrap()
        };
        store.insert_invoices(&[invoice(at(5))]).unwrap();
        let q = |store: &SqliteStore| {
            let q = Query {
                from: Some(now.timestamp() - 30 * 86_400),
                to: Some(now.timestamp() - 10 * 86_400),
                offices: None,
                trader: None,
                flagged_only: false,
                limit: 10,
            };
            reconcile(store, &q).unwrap().invoice_checks.len()
        };
        assert_eq!(q(&store), 0, "an invoice dated five days from now is not used");
        store.insert_invoices(&[invoice(at(-1))]).unwrap();
        assert_eq!(q(&store), 1, "the same invoice dated yesterday is");
    }
}
