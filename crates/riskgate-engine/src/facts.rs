//! The one place where a declaration and its context become rule facts:
//! the customs schema of field names a rule may use, and the filling of
//! those fields. The rules crate knows nothing of customs; this does.

use riskgate_core::Declaration;
use riskgate_rules::{Facts, FieldId, Schema, Scope, Type};

use crate::context::{Context, ForexMatch};
use crate::view::View;

/// Field ids of the customs schema, resolved once.
#[derive(Debug)]
pub struct CustomsSchema {
    pub schema: Schema,
    id: FieldId,
    office: FieldId,
    direction: FieldId,
    transport_mode: FieldId,
    trade_mode: FieldId,
    currency: FieldId,
    incoterm: FieldId,
    departure: FieldId,
    item_count: FieldId,
    total_value_cny: FieldId,
    declared_duty_cny: FieldId,
    hour: FieldId,
    weekday: FieldId,
    trader_id: FieldId,
    trader_class: FieldId,
    trader_age: FieldId,
    trader_capital: FieldId,
    trader_known: FieldId,
    trader: HistoryFields,
    declarant_id: FieldId,
    declarant: HistoryFields,
    overseas_id: FieldId,
    overseas_country: FieldId,
    forex_matched: FieldId,
    forex_paid: FieldId,
    forex_ratio: FieldId,
    forex_by_ref: FieldId,
    i_line: FieldId,
    i_hs: FieldId,
    i_hs6: FieldId,
    i_hs4: FieldId,
    i_hs2: FieldId,
    i_origin: FieldId,
    i_description: FieldId,
    i_quantity: FieldId,
    i_unit: FieldId,
    i_kg: FieldId,
    i_value: FieldId,
    i_value_cny: FieldId,
    i_unit_value: FieldId,
    i_duty_rate: FieldId,
    i_kg_per_unit: FieldId,
    i_ref_median: FieldId,
    i_ref_count: FieldId,
    i_ref_z: FieldId,
    i_ref6_median: FieldId,
    i_kgref_median: FieldId,
    i_kgref_z: FieldId,
    i_route: FieldId,
    i_goods: HistoryFields,
    i_route_hist: HistoryFields,
}

#[derive(Debug, Clone, Copy)]
struct HistoryFields {
    declarations: FieldId,
    recent: FieldId,
    controls: FieldId,
    findings: FieldId,
    finding_rate: FieldId,
    revenue: FieldId,
}

/// Documentation of every field: (name, type, meaning), for `rules fields`.
pub const FIELD_DOCS: &[(&str, &str, &str)] = &[
    ("id", "text", "declaration id"),
    ("office", "text", "field office code"),
    ("direction", "text", "import | export"),
    ("transport_mode", "text", "sea | air | road | rail | post | other"),
    ("trade_mode", "text", "4-digit trade mode (0110 general trade …)"),
    ("currency", "text", "declaration currency"),
    ("incoterm", "text", "CIF, FOB, …"),
    ("country_of_departure", "text", "2-letter country"),
    ("item_count", "number", "number of item lines"),
    ("total_value_cny", "number", "declared total value in CNY"),
    ("declared_duty_cny", "number", "declared duty in CNY (Σ value × duty_rate)"),
    ("hour", "number", "local hour of declaration (0–23)"),
    ("weekday", "number", "1 = Monday … 7 = Sunday"),
    ("trader.id", "text", "consignee/consignor id"),
    ("trader.credit_class", "text", "advanced | general | ordinary | dishonest | unknown"),
    ("trader.age_days", "number", "days since registration"),
    ("trader.registered_capital_cny", "number", "registered capital"),
    ("trader.known", "bool", "the trader is in the enterprise registry"),
    (
        "trader.* / declarant.*",
        "number",
        "declarations, recent (90-day half-life), controls, findings, finding_rate (smoothed), revenue_cny",
    ),
    ("declarant.id", "text", "declarant (broker) id"),
    ("overseas.id", "text", "overseas party id"),
    ("overseas.country", "text", "overseas party country"),
    (
        "forex.matched",
        "bool",
        "a payment abroad made before the decision matched this declaration: by invoice reference, else \
         (imports) by trader and amount within the 60 days before",
    ),
    ("forex.paid_cny", "number", "matched payments in CNY"),
    (
        "forex.paid_ratio",
        "number",
        "paid ÷ declared value (above 1: paid more than declared; an unreferenced match is the payment \
         within 2% of the value, else the smallest one up to 4× it that no earlier import explains)",
    ),
    ("forex.by_reference", "bool", "matched by invoice reference (not by amount)"),
    ("item.line", "number", "item line number"),
    ("item.hs_code / item.hs6 / item.hs4 / item.hs2", "text", "HS code and its prefixes"),
    ("item.origin", "text", "country of origin"),
    ("item.description", "text", "goods description"),
    ("item.unit", "text", "unit of quantity"),
    (
        "item.quantity / item.net_weight_kg / item.value / item.value_cny / item.duty_rate",
        "number",
        "as declared (value_cny converted)",
    ),
    ("item.unit_value", "number", "CNY per declared unit"),
    ("item.kg_per_unit", "number", "net kg per declared unit"),
    (
        "item.ref.median / item.ref.count / item.ref.z",
        "number",
        "unit value reference for HS6 × origin: median, observations, robust z of this item",
    ),
    ("item.ref_hs6.median", "number", "unit value reference for HS6 over all origins"),
    ("item.kg_ref.median / item.kg_ref.z", "number", "kg per unit reference for HS6 and robust z"),
    ("item.route", "text", "origin>departure"),
    (
        "item.goods.* / item.route.*",
        "number",
        "history of the HS6 code / route: declarations, recent, controls, findings, finding_rate, revenue_cny",
    ),
];

fn history_fields(s: &mut Schema, prefix: &str, scope: Scope) -> HistoryFields {
    let mut f = |n: &str| s.field(&format!("{prefix}.{n}"), scope, Type::Number);
    HistoryFields {
        declarations: f("declarations"),
        recent: f("recent"),
        controls: f("controls"),
        findings: f("findings"),
        finding_rate: f("finding_rate"),
        revenue: f("revenue_cny"),
    }
}

impl Default for CustomsSchema {
    fn default() -> Self {
        Self::new()
    }
}

impl CustomsSchema {
    pub fn new() -> Self {
        use Scope::{Header as H, Item as I};
        use Type::{Bool as B, Number as N, Text as T};
        let mut s = Schema::new();
        CustomsSchema {
            id: s.field("id", H, T),
            office: s.field("office", H, T),
            direction: s.field("direction", H, T),
            transport_mode: s.field("transport_mode", H, T),
            trade_mode: s.field("trade_mode", H, T),
            currency: s.field("currency", H, T),
            incoterm: s.field("incoterm", H, T),
            departure: s.field("country_of_departure", H, T),
            item_count: s.field("item_count", H, N),
            total_value_cny: s.field("total_value_cny", H, N),
            declared_duty_cny: s.field("declared_duty_cny", H, N),
            hour: s.field("hour", H, N),
            weekday: s.field("weekday", H, N),
            trader_id: s.field("trader.id", H, T),
            trader_class: s.field("trader.credit_class", H, T),
            trader_age: s.field("trader.age_days", H, N),
            trader_capital: s.field("trader.registered_capital_cny", H, N),
            trader_known: s.field("trader.known", H, B),
            trader: history_fields(&mut s, "trader", H),
            declarant_id: s.field("declarant.id", H, T),
            declarant: history_fields(&mut s, "declarant", H),
            overseas_id: s.field("overseas.id", H, T),
            overseas_country: s.field("overseas.country", H, T),
            forex_matched: s.field("forex.matched", H, B),
            forex_paid: s.field("forex.paid_cny", H, N),
            forex_ratio: s.field("forex.paid_ratio", H, N),
            forex_by_ref: s.field("forex.by_reference", H, B),
            i_line: s.field("item.line", I, N),
            i_hs: s.field("item.hs_code", I, T),
            i_hs6: s.field("item.hs6", I, T),
            i_hs4: s.field("item.hs4", I, T),
            i_hs2: s.field("item.hs2", I, T),
            i_origin: s.field("item.origin", I, T),
            i_description: s.field("item.description", I, T),
            i_quantity: s.field("item.quantity", I, N),
            i_unit: s.field("item.unit", I, T),
            i_kg: s.field("item.net_weight_kg", I, N),
            i_value: s.field("item.value", I, N),
            i_value_cny: s.field("item.value_cny", I, N),
            i_unit_value: s.field("item.unit_value", I, N),
            i_duty_rate: s.field("item.duty_rate", I, N),
            i_kg_per_unit: s.field("item.kg_per_unit", I, N),
            i_ref_median: s.field("item.ref.median", I, N),
            i_ref_count: s.field("item.ref.count", I, N),
            i_ref_z: s.field("item.ref.z", I, N),
            i_ref6_median: s.field("item.ref_hs6.median", I, N),
            i_kgref_median: s.field("item.kg_ref.median", I, N),
            i_kgref_z: s.field("item.kg_ref.z", I, N),
            i_route: s.field("item.route", I, T),
            i_goods: history_fields(&mut s, "item.goods", I),
            i_route_hist: history_fields(&mut s, "item.route", I),
            schema: s,
        }
    }

    /// Fills `facts` for one declaration against the current context.
    /// (Screening fills from the view it shares with the scorers: `fill_view`.)
    pub fn fill(&self, facts: &mut Facts, d: &Declaration, ctx: &Context, fx: Option<ForexMatch>) {
        self.fill_view(facts, &View::with_forex(d, ctx, fx));
    }

    /// Fills `facts` from the derived view of one declaration.
    pub fn fill_view(&self, facts: &mut Facts, v: &View<'_>) {
        use chrono::{Datelike, Timelike};
        let d = v.declaration;
        facts.clear();
        let prior = v.base_rate;
        facts.set_text(self.id, &d.id);
        facts.set_text(self.office, &d.office);
        facts.set_text(self.direction, d.direction.as_str());
        facts.set_text(self.transport_mode, d.transport_mode.as_str());
        facts.set_text(self.trade_mode, &d.trade_mode);
        facts.set_text(self.currency, &d.currency);
        if let Some(x) = &d.incoterm {
            facts.set_text(self.incoterm, x);
        }
        if let Some(x) = &d.country_of_departure {
            facts.set_text(self.departure, x);
        }
        facts.set_num(self.item_count, d.items.len() as f64);
        facts.set_num(self.total_value_cny, v.total_value_cny);
        facts.set_num(self.declared_duty_cny, v.declared_duty_cny);
        facts.set_num(self.hour, f64::from(d.declared_at.hour()));
        facts.set_num(self.weekday, f64::from(d.declared_at.weekday().number_from_monday()));
        facts.set_text(self.trader_id, &d.trader.id);
        match v.enterprise {
            Some(e) => {
                facts.set_text(self.trader_class, e.credit_class.as_str());
                facts.set_bool(self.trader_known, true);
                if let Some(c) = e.registered_capital_cny {
                    facts.set_num(self.trader_capital, c);
                }
            }
            None => {
                facts.set_text(self.trader_class, "unknown");
                facts.set_bool(self.trader_known, false);
            }
        }
        if let Some(age) = v.trader_age_days {
            facts.set_num(self.trader_age, age);
        }
        set_history(facts, self.trader, None, v.trader, prior);
        facts.set_text(self.declarant_id, &d.declarant.id);
        set_history(facts, self.declarant, None, v.declarant, prior);
        if let Some(p) = &d.overseas_party {
            facts.set_text(self.overseas_id, &p.id);
            if let Some(c) = &p.country {
                facts.set_text(self.overseas_country, c);
            }
        }
        facts.set_bool(self.forex_matched, v.forex.is_some());
        if let Some(m) = v.forex {
            facts.set_num(self.forex_paid, m.paid_cny);
            facts.set_num(self.forex_ratio, m.ratio);
            facts.set_bool(self.forex_by_ref, m.by_reference);
        }
        for (n, it) in v.items.iter().enumerate() {
            let item = it.item;
            let i = facts.push_item();
            facts.set_item_num(i, self.i_line, f64::from(item.line));
            facts.set_item_text(i, self.i_hs, &item.hs_code);
            facts.set_item_text(i, self.i_hs6, it.hs6);
            facts.set_item_text(i, self.i_hs4, &item.hs_code[..4]);
            facts.set_item_text(i, self.i_hs2, &item.hs_code[..2]);
            facts.set_item_text(i, self.i_origin, &item.origin);
            if let Some(x) = &item.description {
                facts.set_item_text(i, self.i_description, x);
            }
            if let Some(x) = &item.unit {
                facts.set_item_text(i, self.i_unit, x);
            }
            facts.set_item_num(i, self.i_quantity, item.quantity);
            facts.set_item_num(i, self.i_kg, item.net_weight_kg);
            facts.set_item_num(i, self.i_value, item.value);
            facts.set_item_num(i, self.i_value_cny, it.value_cny);
            facts.set_item_num(i, self.i_duty_rate, item.duty_rate);
            facts.set_item_num(i, self.i_unit_value, it.unit_value);
            facts.set_item_num(i, self.i_kg_per_unit, it.kg_per_unit);
            if let Some(r) = it.unit_value_ref {
                facts.set_item_num(i, self.i_ref_count, r.n as f64);
                if let Some(m) = r.median {
                    facts.set_item_num(i, self.i_ref_median, m);
                }
                if let Some(z) = r.z {
                    facts.set_item_num(i, self.i_ref_z, z);
                }
            } else {
                facts.set_item_num(i, self.i_ref_count, 0.0);
            }
            if let Some(m) = it.unit_value_hs6.and_then(|r| r.median) {
                facts.set_item_num(i, self.i_ref6_median, m);
            }
            if let Some(r) = it.kg_ref {
                if let Some(m) = r.median {
                    facts.set_item_num(i, self.i_kgref_median, m);
                }
                if let Some(z) = r.z {
                    facts.set_item_num(i, self.i_kgref_z, z);
                }
            }
            facts.set_item_text(i, self.i_route, v.route_key(n));
            set_history(facts, self.i_goods, Some(i), it.goods, prior);
            set_history(facts, self.i_route_hist, Some(i), it.route, prior);
        }
    }
}

fn set_history(
    facts: &mut Facts,
    f: HistoryFields,
    item: Option<usize>,
    h: Option<&crate::context::History>,
    prior: f64,
) {
    let default = crate::context::History::default();
    let h = h.unwrap_or(&default);
    let vals = [
        (f.declarations, h.declarations as f64),
        (f.recent, h.recent),
        (f.controls, h.controls as f64),
        (f.findings, h.findings as f64),
        (f.finding_rate, h.smoothed_rate(prior, crate::context::PRIOR_STRENGTH)),
        (f.revenue, h.revenue_cny),
    ];
    for (id, v) in vals {
        match item {
            None => facts.set_num(id, v),
            Some(i) => facts.set_item_num(i, id, v),
        }
    }
}
