//! The derived view of one declaration: every context look-up and derived
//! number that the rule facts, the statistical scorer and the model
//! features read, computed once per declaration (see the crate docs).
//! Each consumer keeps its own formulas; the view only spares them from
//! looking the same things up again.

use std::cell::OnceCell;

use riskgate_core::{Declaration, Item};

use crate::context::{
    Context, EnterpriseInfo, ForexMatch, History, RefPoint, put_pair_key, put_ref_key, put_route_key,
};

/// One declaration against the context at the moment it arrives.
#[derive(Debug)]
pub struct View<'a> {
    pub declaration: &'a Declaration,
    pub context: &'a Context,
    /// The matched forex payments, if any.
    pub forex: Option<ForexMatch>,
    /// The prior finding rate (`Context::base_rate`).
    pub base_rate: f64,
    /// CNY per unit of the declaration's currency.
    pub rate: f64,
    pub total_value_cny: f64,
    pub declared_duty_cny: f64,
    /// The trader in the enterprise registry.
    pub enterprise: Option<&'a EnterpriseInfo>,
    pub trader_age_days: Option<f64>,
    pub trader: Option<&'a History>,
    pub declarant: Option<&'a History>,
    pub overseas: Option<&'a History>,
    /// One per item line, in declaration order.
    pub items: Vec<ItemView<'a>>,
    /// The items' route keys, end to end (see `View::route_key`).
    route_keys: String,
    novelty: OnceCell<Novelty>,
}

/// One item line against the context.
#[derive(Debug)]
pub struct ItemView<'a> {
    pub item: &'a Item,
    pub hs6: &'a str,
    /// value × rate.
    pub value_cny: f64,
    /// CNY per declared unit.
    pub unit_value: f64,
    /// Net kg per declared unit.
    pub kg_per_unit: f64,
    /// Unit value reference for HS6 × origin, seen from `unit_value`.
    pub unit_value_ref: Option<RefPoint>,
    /// Unit value reference for HS6 over all origins, seen from `unit_value`.
    pub unit_value_hs6: Option<RefPoint>,
    /// Kg per unit reference for HS6, seen from `kg_per_unit`.
    pub kg_ref: Option<RefPoint>,
    pub goods: Option<&'a History>,
    pub route: Option<&'a History>,
    route_key: (usize, usize),
}

/// What only the learned model reads, derived on first use so that the
/// statistical path does not pay for it.
#[derive(Debug, Clone, Copy)]
pub struct Novelty {
    /// Lowest robust z of CNY per net kg against the HS6 reference (≥ 5
    /// observations) over the items with a weight; NaN when none.
    pub min_value_per_kg_z: f64,
    /// The trader never declared one of the items' HS6 codes before.
    pub new_hs6: bool,
    /// The trader never declared one of the items' origins before.
    pub new_origin: bool,
}

impl<'a> View<'a> {
    /// The view of `d` decided at its own declaration time, matching its
    /// forex payments (as `View::at` with `d.declared_at`).
    pub fn new(d: &'a Declaration, ctx: &'a Context) -> Self {
        View::at(d, ctx, d.declared_at.timestamp())
    }

    /// The view of `d` decided at `now` (Unix seconds), matching the forex
    /// payments made by then (`ForexIndex::lookup_at`): nothing dated after
    /// the decision enters it.
    pub fn at(d: &'a Declaration, ctx: &'a Context, now: i64) -> Self {
        let rate = d.rate();
        let total_value_cny = total_value_cny(d, rate);
        let fx = ctx.forex.lookup_at(d, total_value_cny, now);
        View::build(d, ctx, rate, total_value_cny, fx)
    }

    /// The view of `d` now, with forex payments already matched.
    pub fn with_forex(d: &'a Declaration, ctx: &'a Context, forex: Option<ForexMatch>) -> Self {
        let rate = d.rate();
        View::build(d, ctx, rate, total_value_cny(d, rate), forex)
    }

    fn build(d: &'a Declaration, ctx: &'a Context, rate: f64, total_value_cny: f64, forex: Option<ForexMatch>) -> Self {
        let enterprise = ctx.enterprises.get(&d.trader.id);
        let mut route_keys = String::with_capacity(6 * d.items.len());
        let mut key = String::with_capacity(24);
        let items = d
            .items
            .iter()
            .map(|item| {
                let hs6 = item.hs6();
                let value_cny = item.value * rate;
                let unit_value = value_cny / item.quantity;
                let kg_per_unit = item.net_weight_kg / item.quantity;
                let start = route_keys.len();
                route_keys.push_str(put_route_key(&mut key, d, &item.origin));
                ItemView {
                    item,
                    hs6,
                    value_cny,
                    unit_value,
                    kg_per_unit,
                    unit_value_ref: ctx
                        .unit_value
                        .get(put_ref_key(&mut key, hs6, &item.origin))
                        .map(|r| r.point(unit_value)),
                    unit_value_hs6: ctx.unit_value_hs6.get(hs6).map(|r| r.point(unit_value)),
                    kg_ref: ctx.kg_per_unit.get(hs6).map(|r| r.point(kg_per_unit)),
                    goods: ctx.goods.get(hs6),
                    route: ctx.routes.get(&route_keys[start..]),
                    route_key: (start, route_keys.len()),
                }
            })
            .collect();
        View {
            declaration: d,
            context: ctx,
            forex,
            base_rate: ctx.base_rate(),
            rate,
            total_value_cny,
            // As `Declaration::declared_duty_cny`, with the rate looked up once.
            declared_duty_cny: d.items.iter().map(|i| i.value * i.duty_rate).sum::<f64>() * rate,
            enterprise,
            trader_age_days: enterprise.and_then(|e| e.age_days(d.declared_at)),
            trader: ctx.traders.get(&d.trader.id),
            declarant: ctx.declarants.get(&d.declarant.id),
            overseas: d.overseas_party.as_ref().and_then(|p| ctx.overseas.get(&p.id)),
            items,
            route_keys,
            novelty: OnceCell::new(),
        }
    }

    /// The route key "origin>departure" of item `i`.
    pub fn route_key(&self, i: usize) -> &str {
        let (a, b) = self.items[i].route_key;
        &self.route_keys[a..b]
    }

    /// What only the learned model reads (derived once, on first call).
    pub fn novelty(&self) -> Novelty {
        *self.novelty.get_or_init(|| {
            let (d, ctx) = (self.declaration, self.context);
            let mut key = String::with_capacity(40);
            let mut n = Novelty { min_value_per_kg_z: f64::NAN, new_hs6: false, new_origin: false };
            for it in &self.items {
                let item = it.item;
                if item.net_weight_kg > 0.0
                    && let Some(z) = ctx
                        .value_per_kg
                        .get(it.hs6)
                        .filter(|r| r.n >= 5)
                        .and_then(|r| r.z(it.value_cny / item.net_weight_kg))
                    && (n.min_value_per_kg_z.is_nan() || z < n.min_value_per_kg_z)
                {
                    n.min_value_per_kg_z = z;
                }
                let new = |key: &str| ctx.pairs.get(key).is_none_or(|c| *c == 0);
                if !n.new_hs6 && new(put_pair_key(&mut key, &d.trader.id, "h", it.hs6)) {
                    n.new_hs6 = true;
                }
                if !n.new_origin && new(put_pair_key(&mut key, &d.trader.id, "o", &item.origin)) {
                    n.new_origin = true;
                }
            }
            n
        })
    }
}

/// As `Declaration::total_value_cny`, with the rate looked up once.
fn total_value_cny(d: &Declaration, rate: f64) -> f64 {
    d.total_value() * rate
}
