//! The standing population of the synthetic world: goods codes, offices,
//! officers, traders, declarants and overseas parties, with the latent risk
//! attributes that drive planted fraud.

use chrono::{Datelike, Duration, NaiveDate};
use riskgate_core::CreditClass;
use riskgate_core::rng::Rng;
use serde_json::{Value, json};
use std::collections::{BTreeMap, HashSet};

use crate::WorldConfig;
use crate::catalogue::{self, FAMILIES, OFFICES};

pub(crate) struct Goods {
    pub code: String,
    pub description: &'static str,
    pub unit: &'static str,
    pub unit_value_usd: f64,
    pub kg_per_unit: f64,
    pub duty: f64,
    pub origins: &'static [&'static str],
    pub popularity: f64,
    /// Fraud attractiveness: family risk, raised by duty.
    pub risk: f64,
    /// Codes in the same chapter with the same unit and a clearly lower duty.
    pub lower_duty_alternatives: Vec<usize>,
}

impl Goods {
    pub fn chapter(&self) -> &str {
        &self.code[..2]
    }
}

pub(crate) struct Office {
    pub code: &'static str,
    pub name: &'static str,
    pub parent: &'static str,
    pub level: &'static str,
    pub district: &'static str,
    pub size: f64,
    pub modes: [f64; 5],
    /// Officers who carry out controls here (inspection and document review).
    pub control_officers: Vec<String>,
}

impl Office {
    pub fn is_field(&self) -> bool {
        self.level == "office"
    }
}

pub(crate) struct Officer {
    pub id: String,
    pub name: String,
    pub office: usize,
    pub post: &'static str,
    pub post_since: NaiveDate,
}

pub(crate) struct Trader {
    pub id: String,
    pub name: String,
    pub credit: CreditClass,
    pub registered_at: NaiveDate,
    pub capital_cny: f64,
    pub home_office: usize,
    /// Registered less than a year before the world starts.
    pub new: bool,
    /// One of the few heavily fraudulent traders.
    pub bad: bool,
    /// Latent probability-like fraud propensity before goods/route effects.
    pub propensity: f64,
    pub price_level: f64,
    pub import_share: f64,
    pub goods: Vec<usize>,
    pub goods_cum: Vec<f64>,
    pub declarants: [usize; 2],
    pub volume: f64,
}

pub(crate) struct Declarant {
    pub id: String,
    pub name: String,
    pub credit: CreditClass,
    pub registered_at: NaiveDate,
    pub complicit: bool,
}

pub(crate) struct Party {
    pub id: String,
    pub name: String,
    pub country: &'static str,
    pub shady: bool,
}

pub(crate) struct World {
    pub goods: Vec<Goods>,
    pub offices: Vec<Office>,
    pub officers: Vec<Officer>,
    pub traders: Vec<Trader>,
    pub declarants: Vec<Declarant>,
    pub parties: Vec<Party>,
    pub parties_by_country: BTreeMap<&'static str, Vec<usize>>,
    /// Per field office (index into `offices`), cumulative trader weights.
    pub trader_cum_by_office: Vec<Vec<f64>>,
    /// Per office, expected share of national traffic (0 for HQ/districts).
    pub office_share: Vec<f64>,
}

/// Countries buying Chinese exports, with weights.
pub(crate) const EXPORT_DESTINATIONS: &[(&str, f64)] = &[
    ("US", 16.0),
    ("JP", 6.0),
    ("KR", 5.0),
    ("DE", 4.0),
    ("VN", 5.0),
    ("HK", 6.0),
    ("NL", 3.0),
    ("GB", 3.0),
    ("IN", 3.0),
    ("RU", 4.0),
    ("MY", 3.0),
    ("AU", 3.0),
    ("MX", 2.0),
    ("BR", 2.0),
    ("AE", 2.0),
];

pub(crate) fn cumulative(weights: impl IntoIterator<Item = f64>) -> Vec<f64> {
    let mut acc = 0.0;
    weights
        .into_iter()
        .map(|w| {
            acc += w;
            acc
        })
        .collect()
}

/// Index drawn from cumulative weights by binary search.
pub(crate) fn pick_cum(rng: &mut Rng, cum: &[f64]) -> usize {
    let x = rng.uniform() * cum.last().copied().unwrap_or(0.0);
    cum.partition_point(|c| *c <= x).min(cum.len() - 1)
}

fn person_name(rng: &mut Rng) -> String {
    let mut s = String::from(*rng.pick(catalogue::SURNAMES));
    s.push_str(rng.pick::<&str>(catalogue::GIVEN));
    if rng.chance(0.4) {
        s.push_str(rng.pick::<&str>(catalogue::GIVEN));
    }
    s
}

const USCC_CHARS: &[u8] = b"0123456789ABCDEFGHJKLMNPQRTUWXY";

fn build_goods() -> Vec<Goods> {
    const VALUE_MULT: [f64; 5] = [1.0, 0.7, 1.5, 0.5, 2.0];
    const DUTY_FRAC: [f64; 5] = [0.5, 0.0, 1.0, 0.25, 0.75];
    const POP_MULT: [f64; 5] = [1.5, 1.0, 0.8, 0.6, 0.5];
    let mut goods = Vec::new();
    for f in FAMILIES {
        let n = f.variants.len() as f64;
        for (k, (suffix, desc)) in f.variants.iter().enumerate() {
            let duty = ((f.duty_lo + (f.duty_hi - f.duty_lo) * DUTY_FRAC[k % 5]) * 200.0).round() / 200.0;
            goods.push(Goods {
                code: format!("{}{}", f.heading, suffix),
                description: desc,
                unit: f.unit,
                unit_value_usd: f.unit_value_usd * VALUE_MULT[k % 5],
                kg_per_unit: f.kg_per_unit * VALUE_MULT[k % 5].sqrt(),
                duty,
                origins: f.origins,
                popularity: f.popularity / n * POP_MULT[k % 5],
                risk: f.risk * (0.6 + 4.0 * duty),
                lower_duty_alternatives: Vec::new(),
            });
        }
    }
    for i in 0..goods.len() {
        let alts: Vec<usize> = (0..goods.len())
            .filter(|&j| {
                j != i
                    && goods[j].chapter() == goods[i].chapter()
                    && goods[j].unit == goods[i].unit
                    && goods[j].duty <= goods[i].duty - 0.02
            })
            .collect();
        goods[i].lower_duty_alternatives = alts;
    }
    // Normalise risk so that the traffic-weighted mean is 1.
    let total_pop: f64 = goods.iter().map(|g| g.popularity).sum();
    let mean_risk: f64 = goods.iter().map(|g| g.popularity * g.risk).sum::<f64>() / total_pop;
    for g in &mut goods {
        g.risk /= mean_risk;
    }
    goods
}

pub(crate) fn build(cfg: &WorldConfig, root: &mut Rng) -> World {
    let sq = cfg.scale.max(0.0).sqrt();
    let mut officer_rng = root.fork(1);
    let mut trader_rng = root.fork(2);
    let mut declarant_rng = root.fork(3);
    let mut party_rng = root.fork(4);

    let goods = build_goods();

    // Offices.
    let mut offices: Vec<Office> = OFFICES
        .iter()
        .map(|d| {
            let level = if d.code == catalogue::HQ {
                "hq"
            } else if d.parent == catalogue::HQ {
                "district"
            } else {
                "office"
            };
            let district = match level {
                "office" => d.parent,
                "district" => d.code,
                _ => "",
            };
            Office {
                code: d.code,
                name: d.name,
                parent: d.parent,
                level,
                district,
                size: d.size,
                modes: d.modes,
                control_officers: Vec::new(),
            }
        })
        .collect();
    let total_size: f64 = offices.iter().map(|o| o.size).sum();

    // Officers: about 300 * sqrt(scale), spread by office size, at least 3 each.
    let target = (300.0 * sq).round() as usize;
    let mut officers = Vec::new();
    let mut next_officer = 10_000u32;
    for (oi, office) in offices.iter().enumerate() {
        let n = match office.level {
            "office" => ((target as f64 * office.size / total_size).round() as usize).max(3),
            _ => 3 + (target / 60),
        };
        for k in 0..n {
            let post = match office.level {
                "hq" => "risk_analysis",
                "district" => ["risk_analysis", "audit"][k % 2],
                _ => {
                    // The first two are always control staff so every office can control.
                    if k < 2 {
                        ["inspection", "document_review"][k]
                    } else {
                        let posts = ["inspection", "document_review", "release", "audit", "risk_analysis"];
                        posts[officer_rng.weighted(&[0.40, 0.30, 0.20, 0.05, 0.05])]
                    }
                }
            };
            next_officer += 1 + officer_rng.below(20) as u32;
            let years_back = officer_rng.range(0.1, 9.0);
            let post_since = cfg.start - Duration::days((years_back * 365.0) as i64);
            officers.push(Officer {
                id: format!("E{next_officer}"),
                name: person_name(&mut officer_rng),
                office: oi,
                post,
                post_since,
            });
        }
    }
    for o in &officers {
        if o.post == "inspection" || o.post == "document_review" {
            offices[o.office].control_officers.push(o.id.clone());
        }
    }

    // Field offices by size, for homes of traders.
    let field: Vec<usize> = (0..offices.len()).filter(|&i| offices[i].is_field()).collect();
    let field_cum = cumulative(field.iter().map(|&i| offices[i].size));

    // Overseas parties: a pool per country.
    let mut countries: Vec<&'static str> = Vec::new();
    for f in FAMILIES {
        countries.extend(f.origins.iter().copied());
    }
    countries.extend(catalogue::HUBS);
    countries.extend(EXPORT_DESTINATIONS.iter().map(|(c, _)| *c));
    countries.extend(["TH", "KR", "MN"]);
    countries.sort_unstable();
    countries.dedup();
    let per_country = 4 + (30.0 * sq).round() as usize;
    let mut parties = Vec::new();
    let mut parties_by_country: BTreeMap<&'static str, Vec<usize>> = BTreeMap::new();
    for c in &countries {
        let mut used = HashSet::new();
        for _ in 0..per_country {
            let mut num = 10_000 + party_rng.below(90_000);
            while !used.insert(num) {
                num = 10_000 + party_rng.below(90_000);
            }
            let name = format!(
                "{} {} {}",
                party_rng.pick(catalogue::FOREIGN_WORDS),
                party_rng.pick(catalogue::FOREIGN_WORDS),
                party_rng.pick(catalogue::FOREIGN_SUFFIX)
            );
            parties_by_country.entry(c).or_default().push(parties.len());
            parties.push(Party { id: format!("{c}-{num}"), name, country: c, shady: party_rng.chance(0.05) });
        }
    }

    // Declarants (brokers); a few are complicit.
    let n_declarants = ((200.0 * sq).round() as usize).max(8);
    let mut declarants = Vec::with_capacity(n_declarants);
    let mut declarant_district: Vec<&'static str> = Vec::with_capacity(n_declarants);
    let mut used_ids = HashSet::new();
    for _ in 0..n_declarants {
        let home = field[pick_cum(&mut declarant_rng, &field_cum)];
        let district = offices[home].district;
        let mut id = format!("{}{:06}", district, declarant_rng.below(1_000_000));
        while !used_ids.insert(id.clone()) {
            id = format!("{}{:06}", district, declarant_rng.below(1_000_000));
        }
        let complicit = declarant_rng.chance(0.06);
        let credit = if complicit {
            [CreditClass::Ordinary, CreditClass::Dishonest][declarant_rng.weighted(&[0.8, 0.2])]
        } else {
            [CreditClass::Advanced, CreditClass::General, CreditClass::Ordinary]
                [declarant_rng.weighted(&[0.15, 0.25, 0.6])]
        };
        let name = format!(
            "{}{}{}有限公司",
            catalogue::district_city(district),
            declarant_rng.pick(catalogue::NAME_WORDS),
            declarant_rng.pick(catalogue::BROKER_WORDS)
        );
        let registered_at = cfg.start - Duration::days(400 + declarant_rng.below(20 * 365) as i64);
        declarants.push(Declarant { id, name, credit, registered_at, complicit });
        declarant_district.push(district);
    }
    let complicit_ids: Vec<usize> = (0..n_declarants).filter(|&i| declarants[i].complicit).collect();

    // Traders.
    let n_traders = ((3000.0 * sq).round() as usize).max(40);
    let goods_cum_all = cumulative(goods.iter().map(|g| g.popularity));
    let goods_cum_risky = cumulative(goods.iter().map(|g| g.popularity * g.risk * g.risk));
    let mut traders = Vec::with_capacity(n_traders);
    let top = (n_traders / 100).max(1);
    for rank in 0..n_traders {
        let r = &mut trader_rng;
        let home_office = field[pick_cum(r, &field_cum)];
        let district = offices[home_office].district;
        let big = rank < top;
        let credit = if big {
            [CreditClass::Advanced, CreditClass::General, CreditClass::Ordinary][r.weighted(&[0.5, 0.3, 0.2])]
        } else {
            [CreditClass::Advanced, CreditClass::General, CreditClass::Ordinary, CreditClass::Dishonest]
                [r.weighted(&[0.025, 0.065, 0.855, 0.055])]
        };
        let new = !big && r.chance(0.12);
        let registered_at = if new {
            cfg.start - Duration::days(r.below(365) as i64)
        } else {
            cfg.start - Duration::days(365 + r.below(20 * 365) as i64)
        };
        let bad = !big && credit != CreditClass::Advanced && r.chance(0.03);
        let propensity = if bad {
            r.range(0.05, 0.15)
        } else {
            let base = match credit {
                CreditClass::Advanced => 0.0008,
                CreditClass::General => 0.005,
                CreditClass::Ordinary => 0.011,
                CreditClass::Dishonest => 0.03,
            };
            (base * if new { 2.5 } else { 1.0 } * r.lognormal(1.0, 0.7)).min(0.08)
        };
        let n_goods = 2 + r.below(7) as usize;
        let mut tg: Vec<usize> = Vec::with_capacity(n_goods);
        for _ in 0..n_goods {
            let cum = if bad { &goods_cum_risky } else { &goods_cum_all };
            let g = pick_cum(r, cum);
            if !tg.contains(&g) {
                tg.push(g);
            }
        }
        let goods_cum = cumulative((0..tg.len()).map(|k| 1.0 / (k as f64 + 1.0)));
        let local: Vec<usize> = (0..n_declarants).filter(|&i| declarant_district[i] == district).collect();
        let pool = if local.is_empty() { (0..n_declarants).collect() } else { local };
        let pick_declarant = |r: &mut Rng| {
            if (bad || credit == CreditClass::Dishonest) && !complicit_ids.is_empty() && r.chance(0.3) {
                *r.pick(&complicit_ids)
            } else {
                *r.pick(&pool)
            }
        };
        let declarants_of = [pick_declarant(r), pick_declarant(r)];
        let import_share = [0.97, 0.7, 0.35][r.weighted(&[0.7, 0.2, 0.1])];
        let capital_cny = (r.lognormal(5_000_000.0, 1.2) / 10_000.0).round() * 10_000.0;
        let name = format!(
            "{}{}{}有限公司",
            catalogue::district_city(district),
            r.pick(catalogue::NAME_WORDS),
            r.pick(catalogue::TRADE_WORDS)
        );
        let region = catalogue::district_region(district);
        let mut id;
        loop {
            id = format!("91{region}");
            for _ in 0..10 {
                id.push(USCC_CHARS[r.below(USCC_CHARS.len() as u64) as usize] as char);
            }
            if used_ids.insert(id.clone()) {
                break;
            }
        }
        traders.push(Trader {
            id,
            name,
            credit,
            registered_at,
            capital_cny: capital_cny.max(100_000.0),
            home_office,
            new,
            bad,
            propensity,
            price_level: r.lognormal(1.0, 0.15),
            import_share,
            goods: tg,
            goods_cum,
            declarants: declarants_of,
            // Zipf-like volume by rank.
            volume: 1.0 / (rank as f64 + 10.0).powf(1.1),
        });
    }

    // Where each trader declares: mostly its home office, a little elsewhere.
    let mut trader_cum_by_office = vec![Vec::new(); offices.len()];
    let mut office_share = vec![0.0; offices.len()];
    let total_volume: f64 = traders.iter().map(|t| t.volume).sum();
    for &oi in &field {
        let away = 0.15 * offices[oi].size / total_size;
        let w = traders.iter().map(|t| t.volume * if t.home_office == oi { 0.85 + away } else { away });
        let cum = cumulative(w);
        office_share[oi] = cum.last().copied().unwrap_or(0.0) / total_volume;
        trader_cum_by_office[oi] = cum;
    }

    World {
        goods,
        offices,
        officers,
        traders,
        declarants,
        parties,
        parties_by_country,
        trader_cum_by_office,
        office_share,
    }
}

impl World {
    pub fn office_json(&self, o: &Office) -> Value {
        let parent = if o.parent.is_empty() { Value::Null } else { Value::from(o.parent) };
        json!({"code": o.code, "name": o.name, "parent": parent, "level": o.level})
    }

    pub fn officer_json(&self, o: &Officer) -> Value {
        let department = match o.post {
            "risk_analysis" => "risk_management",
            "audit" => "post_clearance_audit",
            _ => "control",
        };
        json!({"id": o.id, "name": o.name, "office": self.offices[o.office].code, "post": o.post,
               "post_since": o.post_since.format("%Y-%m-%d").to_string(), "department": department})
    }

    pub fn trader_json(&self, t: &Trader) -> Value {
        json!({"id": t.id, "name": t.name, "credit_class": t.credit.as_str(),
               "registered_at": t.registered_at.format("%Y-%m-%d").to_string(),
               "registered_capital_cny": t.capital_cny, "attributes": {"role": "trader"}})
    }

    pub fn declarant_json(&self, d: &Declarant) -> Value {
        json!({"id": d.id, "name": d.name, "credit_class": d.credit.as_str(),
               "registered_at": d.registered_at.format("%Y-%m-%d").to_string(),
               "attributes": {"role": "declarant"}})
    }
}

/// Spring Festival (春节) dates, for the traffic dip around them.
pub(crate) fn spring_festival(year: i32) -> Option<NaiveDate> {
    let (m, d) = match year {
        2024 => (2, 10),
        2025 => (1, 29),
        2026 => (2, 17),
        2027 => (2, 6),
        2028 => (1, 26),
        2029 => (2, 13),
        2030 => (2, 3),
        _ => return None,
    };
    NaiveDate::from_ymd_opt(year, m, d)
}

/// Traffic multiplier for a calendar day: weekday/weekend, holidays, season.
pub(crate) fn day_factor(date: NaiveDate) -> f64 {
    let dow = date.weekday().num_days_from_monday();
    let mut f = if dow >= 5 { 0.5 } else { 1.2 };
    if let Some(sf) = spring_festival(date.year()) {
        let off = (date - sf).num_days();
        if (-3..=6).contains(&off) {
            f *= 0.35;
        } else if (7..=13).contains(&off) {
            f *= 0.8;
        }
    }
    if date.month() == 10 && date.day() <= 7 {
        f *= 0.4;
    }
    let doy = date.ordinal() as f64;
    f * (1.0 + 0.08 * (std::f64::consts::TAU * (doy - 100.0) / 365.0).sin())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalogue_has_about_two_hundred_distinct_plausible_codes() {
        let goods = build_goods();
        assert!((180..=230).contains(&goods.len()), "{}", goods.len());
        let codes: HashSet<&str> = goods.iter().map(|g| g.code.as_str()).collect();
        assert_eq!(codes.len(), goods.len(), "codes are unique");
        for g in &goods {
            assert!(g.code.len() == 10 && g.code.bytes().all(|b| b.is_ascii_digit()), "{}", g.code);
            assert!((0.0..=0.3).contains(&g.duty), "{} {}", g.code, g.duty);
            assert!(["台", "千克", "件", "个", "升"].contains(&g.unit));
            assert!(g.lower_duty_alternatives.iter().all(|&a| goods[a].chapter() == g.chapter()));
        }
        assert!(goods.iter().filter(|g| !g.lower_duty_alternatives.is_empty()).count() > 50);
    }

    #[test]
    fn traffic_follows_the_week_and_the_spring_festival() {
        let d = |m, day| NaiveDate::from_ymd_opt(2026, m, day).unwrap();
        assert!(day_factor(d(3, 4)) > 2.0 * day_factor(d(3, 7)), "Wednesday vs Saturday");
        assert!(day_factor(d(2, 18)) < 0.5 * day_factor(d(3, 4)), "Spring Festival dip");
    }

    #[test]
    fn offices_have_officers_and_credit_classes_follow_the_distribution() {
        let cfg = WorldConfig::new(4, 1.0);
        let w = build(&cfg, &mut Rng::new(4));
        assert!((250..=450).contains(&w.officers.len()), "{}", w.officers.len());
        assert!(w.offices.iter().filter(|o| o.is_field()).all(|o| o.control_officers.len() >= 2));
        let share = |c: CreditClass| w.traders.iter().filter(|t| t.credit == c).count() as f64 / w.traders.len() as f64;
        assert!((0.02..0.06).contains(&share(CreditClass::Advanced)));
        assert!((0.80..0.90).contains(&share(CreditClass::Ordinary)));
        assert!((0.03..0.08).contains(&share(CreditClass::Dishonest)));
        let total: f64 = w.office_share.iter().sum();
        assert!((total - 1.0).abs() < 1e-9);
    }
}
