//! Reference exchange rates to CNY, so values in different currencies can be
//! compared against one reference. Amounts stay in their own currency at the
//! edges (DATA.md); only derived figures (`*_cny`) use these rates.

/// Reference rates (CNY per unit). A deployment may override them in its
/// settings; these defaults keep screening comparable across currencies.
pub const DEFAULT_RATES: &[(&str, f64)] = &[
    ("CNY", 1.0),
    ("USD", 7.10),
    ("EUR", 7.75),
    ("GBP", 9.00),
    ("JPY", 0.048),
    ("HKD", 0.91),
    ("KRW", 0.0052),
    ("AUD", 4.70),
    ("CAD", 5.20),
    ("SGD", 5.30),
    ("MYR", 1.55),
    ("THB", 0.20),
    ("VND", 0.00028),
    ("RUB", 0.080),
    ("CHF", 8.10),
    ("NZD", 4.30),
    ("TWD", 0.22),
    ("INR", 0.085),
    ("IDR", 0.00045),
    ("BRL", 1.30),
];

pub fn cny_rate(currency: &str) -> Option<f64> {
    DEFAULT_RATES.iter().find(|(c, _)| *c == currency).map(|(_, r)| *r)
}

pub fn known_currencies() -> String {
    DEFAULT_RATES.iter().map(|(c, _)| *c).collect::<Vec<_>>().join(", ")
}
