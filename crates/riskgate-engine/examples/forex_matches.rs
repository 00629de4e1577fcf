//! What the money-flow match tells about the live imports of a seeded
//! world: how many under-valued imports show a payment above their declared
//! value at the decision (by reference, by amount), and how many honest
//! imports show one too (false signals), for
//!
//! * the old matching (before issue 13 session 5): references at any date,
//!   amounts within 2% in ±60 days, payments after the decision included;
//! * the matching at the decision (`ForexIndex::lookup_at`), with the
//!   world's payments as generated;
//! * the same with every reference removed (payments as a bank reports
//!   them without an invoice number).
//!
//! Only the forex look-ups run (no scoring); imports are folded into the
//! context in time order so that earlier imports explain payments.
//!
//! `cargo run --release -p riskgate-engine --example forex_matches -- [SEED] [SCALE]`

#[path = "../tests/support/world.rs"]
mod world;

use riskgate_core::{Declaration, Direction, ForexPayment};
use riskgate_engine::context::{AMOUNT_TOLERANCE, ForexIndex, ForexMatch};
use riskgate_engine::{Engine, EngineConfig};

/// The old look-up, kept here only to measure against.
fn old_lookup(idx: &ForexIndex, decl: &Declaration, declared_cny: f64) -> Option<ForexMatch> {
    if declared_cny <= 0.0 {
        return None;
    }
    let mut paid = 0.0;
    let mut found = false;
    for inv in decl.invoice_ids() {
        if let Some(ps) = idx.by_reference.get(inv) {
            for p in ps.iter().filter(|p| p.trader == decl.trader.id) {
                paid += p.amount_cny;
                found = true;
            }
        }
    }
    if found {
        return Some(ForexMatch { paid_cny: paid, ratio: paid / declared_cny, by_reference: true });
    }
    let ps = idx.unreferenced.get(&decl.trader.id)?;
    let t = decl.declared_at.timestamp();
    let w = 60 * 86_400;
    let lo = ps.partition_point(|p| p.paid_at < t - w);
    ps[lo..]
        .iter()
        .take_while(|p| p.paid_at <= t + w)
        .find(|p| ((p.amount_cny - declared_cny) / declared_cny).abs() <= AMOUNT_TOLERANCE)
        .map(|p| ForexMatch { paid_cny: p.amount_cny, ratio: p.amount_cny / declared_cny, by_reference: false })
}

#[derive(Default)]
struct Tally {
    n: usize,
    over_ref: usize,
    over_amount: usize,
    paid_amount: usize,
    paid_ref: usize,
    none: usize,
}

impl Tally {
    fn add(&mut self, m: Option<ForexMatch>) {
        self.n += 1;
        let over = |m: &ForexMatch| m.ratio > 1.0 + AMOUNT_TOLERANCE;
        match m {
            None => self.none += 1,
            Some(m) if m.by_reference && over(&m) => self.over_ref += 1,
            Some(m) if over(&m) => self.over_amount += 1,
            Some(m) if m.by_reference => self.paid_ref += 1,
            Some(_) => self.paid_amount += 1,
        }
    }

    fn line(&self, what: &str) -> String {
        let pct = |x: usize| 100.0 * x as f64 / self.n.max(1) as f64;
        format!(
            "{what:<22} {:>6} | over-paid: by reference {:>5} ({:4.1}%), by amount {:>5} ({:4.1}%) | paid ≈ value: by reference {:>5}, by amount {:>5} | no match {:>5} ({:4.1}%)",
            self.n,
            self.over_ref,
            pct(self.over_ref),
            self.over_amount,
            pct(self.over_amount),
            self.paid_ref,
            self.paid_amount,
            self.none,
            pct(self.none)
        )
    }
}

fn run(w: &world::World, payments: &[ForexPayment], how: &str) {
    let mut e = Engine::new(EngineConfig::default());
    for p in payments {
        e.context.add_forex(p);
    }
    for d in &w.history {
        e.apply_historical(d);
    }
    let (mut under, mut other_fraud, mut honest) = (Tally::default(), Tally::default(), Tally::default());
    for d in &w.live {
        if d.direction == Direction::Import {
            let v = d.total_value_cny();
            let m = match how {
                "old" => old_lookup(&e.context.forex, d, v),
                _ => e.context.forex.lookup_at(d, v, d.declared_at.timestamp()),
            };
            match w.truth.get(&d.id) {
                Some(t) if t.kinds.iter().any(|k| k == "undervaluation") => under.add(m),
                Some(t) if t.fraud => other_fraud.add(m),
                _ => honest.add(m),
            }
        }
        e.apply_historical(d);
    }
    println!("{how}:");
    println!("  {}", under.line("undervalued imports"));
    println!("  {}", other_fraud.line("other fraud"));
    println!("  {}", honest.line("honest imports"));
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let seed: u64 = args.first().and_then(|s| s.parse().ok()).unwrap_or(1);
    let scale: f64 = args.get(1).and_then(|s| s.parse().ok()).unwrap_or(1.0);
    let w = world::generate(seed, scale);
    let with_ref = w.forex.iter().filter(|p| p.reference.is_some()).count();
    println!(
        "world seed {seed} scale {scale}: {} history, {} live declarations, {} payments ({with_ref} with a reference)",
        w.history.len(),
        w.live.len(),
        w.forex.len()
    );
    run(&w, &w.forex, "old");
    run(&w, &w.forex, "at the decision");
    let stripped: Vec<ForexPayment> = w.forex.iter().cloned().map(|p| ForexPayment { reference: None, ..p }).collect();
    run(&w, &stripped, "at the decision, no references");
}
