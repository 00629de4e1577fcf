//! Fuzzing on the stable toolchain: property tests of every JSON record
//! parser at the system's edge (`Declaration::from_json` and the other
//! record kinds of DATA.md) and of the JSON reader they share
//! (`riskgate_core::json`, which refuses repeated keys).
//!
//! Inputs: valid records generated field by field, the same mutated (a
//! value replaced by a wrong type, a huge, tiny, negative or out-of-bound
//! number, an out-of-range or malformed date, a long string, control
//! characters; a field removed or added; a value nested deep), arbitrary
//! JSON values with keys drawn from the records' fields, valid record texts
//! with bytes flipped, inserted or deleted, and arbitrary bytes.
//!
//! Properties, for every kind: no panic; an accepted record's numbers are
//! finite and inside the bounds of docs/security.md; it round-trips (parse → serialise → parse gives the same
//! record); a refusal names a field of the record (a DATA.md field or a key
//! the input has) with a bounded, terminal-safe message.
//!
//! CI runs `CASES` cases per property (a few seconds in debug). By hand:
//! `PROPTEST_CASES=100000 cargo test --release -p riskgate-core --test fuzz`.
//! Failing cases proptest finds are kept in `tests/fuzz.proptest-regressions`
//! and replayed first; `regressions` below pins the bugs found so far.

use std::fmt::Debug;

use proptest::prelude::*;
use proptest::sample::{Index, select};
use proptest::test_runner::Config;
use riskgate_core::fields::{MAX_AMOUNT, MAX_QUANTITY, MAX_WEIGHT_KG, MIN_QUANTITY, MIN_WEIGHT_KG};
use riskgate_core::json::{self, JsonError};
use riskgate_core::{
    Declaration, Enterprise, ForexPayment, Office, Officer, Outcome, Release, TaxInvoice, ValidationError,
    WorkforceRecord,
};
use serde_json::{Map, Value, json};

/// Cases per property in CI; `PROPTEST_CASES` overrides.
const CASES: u32 = 256;

fn config() -> Config {
    let mut c = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = CASES;
    }
    c
}

// ------------------------------------------------------------ record kinds

#[derive(Debug, Clone, Copy, PartialEq)]
enum Kind {
    Declaration,
    Office,
    Officer,
    Enterprise,
    Forex,
    Invoice,
    Outcome,
    Release,
    Disciplinary,
    Inspection,
    Assessment,
    Litigation,
}

const KINDS: [Kind; 12] = [
    Kind::Declaration,
    Kind::Office,
    Kind::Officer,
    Kind::Enterprise,
    Kind::Forex,
    Kind::Invoice,
    Kind::Outcome,
    Kind::Release,
    Kind::Disciplinary,
    Kind::Inspection,
    Kind::Assessment,
    Kind::Litigation,
];

impl Kind {
    /// The record's own top-level fields (DATA.md).
    fn fields(self) -> &'static [&'static str] {
        match self {
            Kind::Declaration => &[
                "id",
                "declared_at",
                "direction",
                "office",
                "transport_mode",
                "trade_mode",
                "trader",
                "declarant",
                "overseas_party",
                "country_of_departure",
                "incoterm",
                "currency",
                "items",
                "documents",
                "attributes",
            ],
            Kind::Office => &["code", "name", "parent", "level"],
            Kind::Officer => &["id", "name", "office", "post", "post_since", "department"],
            Kind::Enterprise => {
                &["id", "name", "credit_class", "registered_at", "registered_capital_cny", "attributes"]
            }
            Kind::Forex => &["trader", "paid_at", "amount", "currency", "bank", "reference"],
            Kind::Invoice => &["trader", "issued_at", "amount_cny", "hs_code"],
            Kind::Outcome => &[
                "declaration_id",
                "officer",
                "control",
                "completed_at",
                "result",
                "findings",
                "additional_duty",
                "seizure",
                "released_at",
                "note",
                "attributes",
            ],
            Kind::Release => &["declaration_id", "released_at"],
            Kind::Disciplinary => &["officer", "opened_at", "kind", "status"],
            Kind::Inspection => &["unit", "inspected_at", "passed"],
            Kind::Assessment => &["unit", "year", "passed"],
            Kind::Litigation => &["id", "office", "filed_at", "outcome"],
        }
    }

    /// The kind's refusal of `v`, if it refuses it.
    fn refusal(self, v: &Value) -> Option<ValidationError> {
        match self {
            Kind::Declaration => Declaration::from_json(v).err(),
            Kind::Office => Office::from_json(v).err(),
            Kind::Officer => Officer::from_json(v).err(),
            Kind::Enterprise => Enterprise::from_json(v).err(),
            Kind::Forex => ForexPayment::from_json(v).err(),
            Kind::Invoice => TaxInvoice::from_json(v).err(),
            Kind::Outcome => Outcome::from_json(v).err(),
            Kind::Release => Release::from_json(v).err(),
            Kind::Disciplinary => WorkforceRecord::disciplinary_from_json(v).err(),
            Kind::Inspection => WorkforceRecord::inspection_from_json(v).err(),
            Kind::Assessment => WorkforceRecord::assessment_from_json(v).err(),
            Kind::Litigation => WorkforceRecord::litigation_from_json(v).err(),
        }
    }

    /// Runs the kind's parser on `v` and checks every property.
    fn check(self, v: &Value) -> Result<(), TestCaseError> {
        match self {
            Kind::Declaration => check(self, v, Declaration::from_json, Declaration::to_json, declaration_bounds),
            Kind::Office => check(self, v, Office::from_json, to_value, |_| Ok(())),
            Kind::Officer => check(self, v, Officer::from_json, to_value, |_| Ok(())),
            Kind::Enterprise => check(self, v, Enterprise::from_json, to_value, |e| {
                within("registered_capital_cny", e.registered_capital_cny.unwrap_or(0.0), 0.0, MAX_AMOUNT)
            }),
            Kind::Forex => check(self, v, ForexPayment::from_json, to_value, |p| {
                within("amount", p.amount, 0.0, MAX_AMOUNT)?;
                prop_assert!(p.amount > 0.0);
                finite("amount_cny", p.amount_cny())
            }),
            Kind::Invoice => check(self, v, TaxInvoice::from_json, to_value, |t| {
                within("amount_cny", t.amount_cny, -MAX_AMOUNT, MAX_AMOUNT)
            }),
            Kind::Outcome => check(self, v, Outcome::from_json, to_value, |o| {
                within("additional_duty", o.additional_duty, 0.0, MAX_AMOUNT)
            }),
            Kind::Release => check(self, v, Release::from_json, to_value, |_| Ok(())),
            Kind::Disciplinary => check(self, v, WorkforceRecord::disciplinary_from_json, workforce, workforce_bounds),
            Kind::Inspection => check(self, v, WorkforceRecord::inspection_from_json, workforce, workforce_bounds),
            Kind::Assessment => check(self, v, WorkforceRecord::assessment_from_json, workforce, workforce_bounds),
            Kind::Litigation => check(self, v, WorkforceRecord::litigation_from_json, workforce, workforce_bounds),
        }
    }
}

fn to_value<T: serde::Serialize>(t: &T) -> Value {
    serde_json::to_value(t).expect("a record serialises")
}

fn workforce(w: &WorkforceRecord) -> Value {
    w.to_json()
}

fn finite(what: &str, x: f64) -> Result<(), TestCaseError> {
    prop_assert!(x.is_finite(), "{} is not finite: {}", what, x);
    Ok(())
}

fn within(what: &str, x: f64, lo: f64, hi: f64) -> Result<(), TestCaseError> {
    prop_assert!(x.is_finite() && lo <= x && x <= hi, "{} = {} is outside {}..={}", what, x, lo, hi);
    Ok(())
}

fn declaration_bounds(d: &Declaration) -> Result<(), TestCaseError> {
    prop_assert!(!d.items.is_empty());
    for it in &d.items {
        prop_assert!(it.line >= 1);
        prop_assert!((6..=10).contains(&it.hs_code.len()) && it.hs6().len() == 6);
        within("quantity", it.quantity, MIN_QUANTITY, MAX_QUANTITY)?;
        within("net_weight_kg", it.net_weight_kg, 0.0, MAX_WEIGHT_KG)?;
        prop_assert!(it.net_weight_kg == 0.0 || it.net_weight_kg >= MIN_WEIGHT_KG, "{}", it.net_weight_kg);
        finite("kg per unit", it.net_weight_kg / it.quantity)?;
        if it.net_weight_kg > 0.0 {
            finite("value per kg", it.value * d.rate() / it.net_weight_kg)?;
        }
        within("value", it.value, 0.0, MAX_AMOUNT)?;
        within("duty_rate", it.duty_rate, 0.0, 10.0)?;
        if let Some(u) = it.unit_value() {
            finite("unit value", u)?;
        }
    }
    finite("total_value_cny", d.total_value_cny())?;
    finite("declared_duty_cny", d.declared_duty_cny())
}

fn workforce_bounds(w: &WorkforceRecord) -> Result<(), TestCaseError> {
    if let WorkforceRecord::Assessment { year, .. } = w {
        prop_assert!((1949..=2200).contains(year), "year {}", year);
    }
    Ok(())
}

/// The properties of one parser on one input.
fn check<T: PartialEq + Debug>(
    kind: Kind,
    v: &Value,
    parse: fn(&Value) -> Result<T, ValidationError>,
    serialise: fn(&T) -> Value,
    bounds: fn(&T) -> Result<(), TestCaseError>,
) -> Result<(), TestCaseError> {
    match parse(v) {
        Ok(t) => {
            bounds(&t)?;
            let out = serialise(&t);
            // Through text, as a stored body is read back.
            let text = out.to_string();
            let back = json::parse(&text).map_err(|e| TestCaseError::fail(format!("{kind:?} {text}: {e}")))?;
            match parse(&back) {
                Ok(again) => prop_assert_eq!(&again, &t, "{:?} round trip through {}", kind, text),
                Err(e) => return Err(TestCaseError::fail(format!("{kind:?}: serialised {text} is refused: {e}"))),
            }
            Ok(())
        }
        Err(e) => names_a_field(kind, &e, v),
    }
}

/// A refusal names a field of the record: a DATA.md field of the kind or
/// a key the input has (`(record)` when the input is not an object), says
/// what was expected and what came, and its message is bounded and carries
/// no raw control characters.
fn names_a_field(kind: Kind, e: &ValidationError, v: &Value) -> Result<(), TestCaseError> {
    let msg = e.to_string();
    prop_assert!(!e.path.is_empty() && !e.expected.is_empty() && !e.got.is_empty(), "{:?}: {:?}", kind, e);
    prop_assert!(msg.chars().count() <= 600, "{:?}: a message of {} characters", kind, msg.chars().count());
    prop_assert!(!msg.chars().any(char::is_control), "{:?}: control characters in {:?}", kind, msg);
    let Value::Object(m) = v else {
        prop_assert_eq!(&e.path, "(record)");
        return Ok(());
    };
    let named = kind
        .fields()
        .iter()
        .map(|f| f.to_string())
        .chain(m.keys().map(String::as_str).map(rendered))
        .any(|f| e.path == f || e.path.starts_with(&format!("{f}.")) || e.path.starts_with(&format!("{f}[")));
    prop_assert!(named, "{:?}: {:?} names no field of {}", kind, e.path, v);
    Ok(())
}

fn rendered(key: &str) -> String {
    let mut s = String::new();
    json::push_key(&mut s, key);
    s
}

// ------------------------------------------------------ valid generators

const DIRECTIONS: &[&str] = &["import", "export"];
const MODES: &[&str] = &["sea", "air", "road", "rail", "post", "other"];
const INCOTERMS: &[&str] = &["CIF", "FOB", "EXW", "C&F"];
const LEVELS: &[&str] = &["hq", "district", "office"];
const CLASSES: &[&str] = &["advanced", "general", "ordinary", "dishonest"];
const CONTROLS: &[&str] = &["document", "physical", "audit"];
const OUTCOMES: &[&str] = &["won", "lost", "withdrawn", "pending"];
const OFFSETS: &[&str] = &["+08:00", "Z", "-05:00", "+14:00", "-12:00", "+05:45", "+00:00", "-00:00"];
const CURRENCIES: &[&str] = &["CNY", "USD", "EUR", "JPY", "VND", "IDR", "KRW", "CHF"];

fn code() -> BoxedStrategy<String> {
    prop_oneof![4 => "[A-Za-z0-9][A-Za-z0-9_./-]{0,15}", 1 => "[A-Z0-9]{64}"].boxed()
}

fn text() -> BoxedStrategy<String> {
    prop_oneof!["[a-zA-Z][a-zA-Z ]{0,11}", "[a-z]\\PC{0,7}", Just("海关总署".to_string())].boxed()
}

fn time() -> BoxedStrategy<String> {
    (
        prop_oneof![4 => 1990i32..2100, 1 => 0i32..=9999],
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        prop::option::of(0u32..1_000_000_000),
    )
        .prop_flat_map(|t| (Just(t), select(OFFSETS)))
        .prop_map(|((y, mo, d, h, mi, s, frac), off)| match frac {
            Some(f) => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}.{f:09}{off}"),
            None => format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{off}"),
        })
        .boxed()
}

fn date() -> BoxedStrategy<String> {
    (prop_oneof![4 => 1990i32..2100, 1 => 0i32..=9999], 1u32..=12, 1u32..=28)
        .prop_map(|(y, m, d)| format!("{y:04}-{m:02}-{d:02}"))
        .boxed()
}

fn number(lo: f64, hi: f64) -> BoxedStrategy<Value> {
    prop_oneof![
        4 => (lo..=hi).prop_map(|x| json!(x)),
        1 => Just(json!(hi)),
        1 => Just(json!(lo)),
        2 => (0u32..10_000).prop_map(move |n| json!(f64::from(n).clamp(lo, hi))),
    ]
    .boxed()
}

/// Extra fields beyond DATA.md's (kept in `attributes`).
fn extras() -> BoxedStrategy<Map<String, Value>> {
    prop::collection::vec(("x_[a-z]{1,6}", small_json()), 0..3).prop_map(|kv| kv.into_iter().collect()).boxed()
}

fn small_json() -> BoxedStrategy<Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i32>().prop_map(Value::from),
        text().prop_map(Value::from)
    ]
    .boxed()
}

fn opt<T: Debug + Clone + 'static>(s: impl Strategy<Value = T> + 'static) -> BoxedStrategy<Option<T>> {
    prop::option::of(s).boxed()
}

/// Sets `k` to `v` if present.
fn put(m: &mut Map<String, Value>, k: &str, v: Option<impl Into<Value>>) {
    if let Some(v) = v {
        m.insert(k.to_string(), v.into());
    }
}

fn party() -> BoxedStrategy<Value> {
    (code(), opt(text()))
        .prop_map(|(id, name)| {
            let mut m = Map::new();
            m.insert("id".into(), id.into());
            put(&mut m, "name", name);
            Value::Object(m)
        })
        .boxed()
}

fn item() -> BoxedStrategy<Value> {
    (
        ("[0-9]{6,10}", opt(text()), "[A-Z]{2}", number(1e-3, MAX_QUANTITY), opt("[a-z台千克]{1,3}")),
        (number(0.0, MAX_WEIGHT_KG), number(0.0, MAX_AMOUNT), number(0.0, 10.0), extras()),
    )
        .prop_map(|((hs, description, origin, quantity, unit), (kg, value, duty, extra))| {
            let mut m = Map::new();
            m.insert("hs_code".into(), hs.into());
            put(&mut m, "description", description);
            m.insert("origin".into(), origin.into());
            m.insert("quantity".into(), quantity);
            put(&mut m, "unit", unit);
            m.insert("net_weight_kg".into(), kg);
            m.insert("value".into(), value);
            m.insert("duty_rate".into(), duty);
            m.extend(extra);
            m
        })
        .prop_map(Value::Object)
        .boxed()
}

fn declaration() -> BoxedStrategy<Value> {
    (
        (code(), time(), select(DIRECTIONS), code(), select(MODES)),
        ("[0-9]{4}", party(), party(), opt((code(), opt(text()), opt("[A-Z]{2}")))),
        (opt("[A-Z]{2}"), opt(select(INCOTERMS)), select(CURRENCIES)),
        (prop::collection::vec(item(), 1..4), prop::collection::vec(("invoice|contract|[a-z_]{1,8}", code()), 0..3)),
        (extras(), opt(extras())),
    )
        .prop_map(
            |(
                (id, at, dir, office, mode),
                (tm, trader, declarant, overseas),
                (dep, inc, cur),
                (items, docs),
                (extra, attrs),
            )| {
                let mut m = Map::new();
                m.insert("id".into(), id.into());
                m.insert("declared_at".into(), at.into());
                m.insert("direction".into(), dir.into());
                m.insert("office".into(), office.into());
                m.insert("transport_mode".into(), mode.into());
                m.insert("trade_mode".into(), tm.into());
                m.insert("trader".into(), trader);
                m.insert("declarant".into(), declarant);
                if let Some((id, name, country)) = overseas {
                    let mut p = Map::new();
                    p.insert("id".into(), id.into());
                    put(&mut p, "name", name);
                    put(&mut p, "country", country);
                    m.insert("overseas_party".into(), Value::Object(p));
                }
                put(&mut m, "country_of_departure", dep);
                put(&mut m, "incoterm", inc);
                m.insert("currency".into(), cur.into());
                let items: Vec<Value> = items
                    .into_iter()
                    .enumerate()
                    .map(|(i, mut it)| {
                        it["line"] = json!(i + 1);
                        it
                    })
                    .collect();
                m.insert("items".into(), items.into());
                m.insert(
                    "documents".into(),
                    docs.into_iter().map(|(kind, id)| json!({"kind": kind, "id": id})).collect(),
                );
                m.extend(extra);
                put(&mut m, "attributes", attrs.map(Value::Object));
                Value::Object(m)
            },
        )
        .boxed()
}

fn office() -> BoxedStrategy<Value> {
    (code(), text(), select(LEVELS), code())
        .prop_map(|(code, name, level, parent)| {
            let mut m = json!({"code": code, "name": name, "level": level});
            if level != "hq" {
                m["parent"] = parent.into();
            }
            m
        })
        .boxed()
}

fn officer() -> BoxedStrategy<Value> {
    (code(), text(), code(), text(), opt(prop_oneof![date(), time()]), opt(text()))
        .prop_map(|(id, name, office, post, since, dept)| {
            let mut m = Map::new();
            m.insert("id".into(), id.into());
            m.insert("name".into(), name.into());
            m.insert("office".into(), office.into());
            m.insert("post".into(), post.into());
            put(&mut m, "post_since", since);
            put(&mut m, "department", dept);
            Value::Object(m)
        })
        .boxed()
}

fn enterprise() -> BoxedStrategy<Value> {
    (code(), text(), select(CLASSES), opt(date()), opt(number(0.0, MAX_AMOUNT)), extras())
        .prop_map(|(id, name, class, at, capital, extra)| {
            let mut m = Map::new();
            m.insert("id".into(), id.into());
            m.insert("name".into(), name.into());
            m.insert("credit_class".into(), class.into());
            put(&mut m, "registered_at", at);
            put(&mut m, "registered_capital_cny", capital);
            m.extend(extra);
            Value::Object(m)
        })
        .boxed()
}

fn forex() -> BoxedStrategy<Value> {
    (code(), time(), number(0.01, MAX_AMOUNT), select(CURRENCIES), opt(text()), opt(code()))
        .prop_map(|(trader, at, amount, cur, bank, reference)| {
            let mut m = Map::new();
            m.insert("trader".into(), trader.into());
            m.insert("paid_at".into(), at.into());
            m.insert("amount".into(), amount);
            m.insert("currency".into(), cur.into());
            put(&mut m, "bank", bank);
            put(&mut m, "reference", reference);
            Value::Object(m)
        })
        .boxed()
}

fn invoice() -> BoxedStrategy<Value> {
    (code(), time(), number(-MAX_AMOUNT, MAX_AMOUNT), opt("[0-9]{2,10}"))
        .prop_map(|(trader, at, amount, hs)| {
            let mut m = json!({"trader": trader, "issued_at": at, "amount_cny": amount});
            if let Some(hs) = hs {
                m["hs_code"] = hs.into();
            }
            m
        })
        .boxed()
}

const FINDINGS: &[&str] =
    &["undervaluation", "misclassification", "origin", "quantity", "prohibited", "licence", "smuggling", "other"];

fn outcome() -> BoxedStrategy<Value> {
    (
        (code(), code(), select(CONTROLS), time()),
        (
            prop::collection::vec(select(FINDINGS), 0..3),
            opt(number(0.0, MAX_AMOUNT)),
            opt(any::<bool>()),
            any::<bool>(),
        ),
        (opt(text()), extras()),
    )
        .prop_map(|((decl, officer, control, at), (findings, duty, seizure, released), (note, extra))| {
            let mut m = Map::new();
            m.insert("declaration_id".into(), decl.into());
            m.insert("officer".into(), officer.into());
            m.insert("control".into(), control.into());
            m.insert("completed_at".into(), at.clone().into());
            m.insert("result".into(), if findings.is_empty() { "no_finding" } else { "finding" }.into());
            if !findings.is_empty() {
                m.insert("findings".into(), findings.into());
            }
            put(&mut m, "additional_duty", duty);
            put(&mut m, "seizure", seizure);
            if released {
                m.insert("released_at".into(), at.into());
            }
            put(&mut m, "note", note);
            m.extend(extra);
            Value::Object(m)
        })
        .boxed()
}

fn release() -> BoxedStrategy<Value> {
    (code(), time()).prop_map(|(id, at)| json!({"declaration_id": id, "released_at": at})).boxed()
}

fn disciplinary() -> BoxedStrategy<Value> {
    (code(), prop_oneof![time(), date()], text(), text())
        .prop_map(
            |(officer, at, kind, status)| json!({"officer": officer, "opened_at": at, "kind": kind, "status": status}),
        )
        .boxed()
}

fn inspection() -> BoxedStrategy<Value> {
    (code(), prop_oneof![time(), date()], any::<bool>())
        .prop_map(|(unit, at, passed)| json!({"unit": unit, "inspected_at": at, "passed": passed}))
        .boxed()
}

fn assessment() -> BoxedStrategy<Value> {
    (code(), 1949i32..=2200, any::<bool>())
        .prop_map(|(unit, year, passed)| json!({"unit": unit, "year": year, "passed": passed}))
        .boxed()
}

fn litigation() -> BoxedStrategy<Value> {
    (code(), code(), prop_oneof![time(), date()], select(OUTCOMES))
        .prop_map(|(id, office, at, outcome)| json!({"id": id, "office": office, "filed_at": at, "outcome": outcome}))
        .boxed()
}

fn valid(kind: Kind) -> BoxedStrategy<Value> {
    match kind {
        Kind::Declaration => declaration(),
        Kind::Office => office(),
        Kind::Officer => officer(),
        Kind::Enterprise => enterprise(),
        Kind::Forex => forex(),
        Kind::Invoice => invoice(),
        Kind::Outcome => outcome(),
        Kind::Release => release(),
        Kind::Disciplinary => disciplinary(),
        Kind::Inspection => inspection(),
        Kind::Assessment => assessment(),
        Kind::Litigation => litigation(),
    }
}

/// A valid record of any kind, with its kind.
fn any_valid() -> BoxedStrategy<(Kind, Value)> {
    prop::strategy::Union::new(KINDS.map(|k| valid(k).prop_map(move |v| (k, v)).boxed())).boxed()
}

// ------------------------------------------------------------- mutations

/// Values that break records: wrong types, numbers at and past the bounds,
/// huge, tiny and negative numbers, malformed and out-of-range dates, long
/// strings, control characters, nesting.
fn nasty() -> BoxedStrategy<Value> {
    const NUMBERS: &[f64] = &[
        0.0,
        -0.0,
        -1.0,
        0.5,
        1.0,
        1.5,
        10.0,
        10.000000000000002,
        1948.0,
        1949.0,
        2200.0,
        2200.5,
        2201.0,
        999_999.0,
        1e6,
        1e-6,
        9.99999999999999e-7,
        1e10,
        1.0000000000000002e10,
        1e12,
        1.0000000000000002e12,
        1e15,
        1.0000000000000002e15,
        -1e15,
        -1.0000000000000002e15,
        1e300,
        -1e300,
        f64::MAX,
        f64::MIN,
        f64::MIN_POSITIVE,
        5e-324,
        -5e-324,
    ];
    const STRINGS: &[&str] = &[
        "",
        " ",
        "\t\n",
        "\u{0}",
        "\u{1b}[31mred\u{1b}[0m",
        "\u{202e}evil",
        "NaN",
        "Infinity",
        "-inf",
        "1e400",
        "12",
        "true",
        "null",
        "0000-01-01T00:00:00+00:00",
        "1899-12-31T23:59:59+00:00",
        "1900-01-01T00:00:00+14:00",
        "2199-12-31T23:59:59-12:00",
        "2200-01-01T00:00:00+08:00",
        "9999-12-31T23:59:59-23:59",
        "2026-02-30T00:00:00Z",
        "2026-06-30T23:59:60Z",
        "2026-03-01T25:00:00+08:00",
        "2026-03-01T09:12:00.1234567891234+08:00",
        "2026-03-01T09:12:00+24:00",
        "2026-03-01",
        "1899-12-31",
        "2200-01-01",
        "0000-01-01",
        "+262143-12-31",
        "-262143-01-01",
        "+12345-01-01",
        "5-1-1",
        "85171300",
        "8517130000000",
        "US",
        "usd",
        "import",
        "hq",
        "finding",
        "physical",
    ];
    prop_oneof![
        2 => Just(Value::Null),
        1 => any::<bool>().prop_map(Value::from),
        2 => any::<i64>().prop_map(Value::from),
        1 => any::<u64>().prop_map(Value::from),
        2 => any::<f64>().prop_map(|x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)),
        4 => select(NUMBERS).prop_map(|x| json!(x)),
        4 => select(STRINGS).prop_map(Value::from),
        2 => "\\PC{0,30}".prop_map(Value::from),
        1 => "[\\x00-\\x1f\\x7f]{1,10}".prop_map(Value::from),
        1 => (1usize..20_000, "[a-z0-9é]").prop_map(|(n, c)| Value::String(c.repeat(n))),
        1 => Just(json!([])),
        1 => Just(json!({})),
        1 => (1usize..=120).prop_map(|depth| (0..depth).fold(json!(1), |v, _| json!([v]))),
        1 => (1usize..=120).prop_map(|depth| (0..depth).fold(json!({}), |v, _| json!({"id": v}))),
        2 => arbitrary_json(),
    ]
    .boxed()
}

/// Keys that records know, and others.
fn key() -> BoxedStrategy<String> {
    let mut known: Vec<&str> = KINDS.iter().flat_map(|k| k.fields().iter().copied()).collect();
    known.extend(["line", "hs_code", "origin", "quantity", "net_weight_kg", "value", "duty_rate", "kind", "country"]);
    known.sort_unstable();
    known.dedup();
    prop_oneof![
        3 => select(known).prop_map(str::to_string),
        1 => "[a-z_]{0,8}",
        1 => "\\PC{0,4}",
        1 => "[\\x00-\\x1f]{1,3}",
        1 => (65usize..300).prop_map(|n| "k".repeat(n)),
    ]
    .boxed()
}

fn arbitrary_json() -> BoxedStrategy<Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(|x| serde_json::Number::from_f64(x).map_or(Value::Null, Value::Number)),
        "\\PC{0,12}".prop_map(Value::from),
    ];
    leaf.prop_recursive(5, 48, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key(), inner), 0..6).prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
    .boxed()
}

/// One edit: what to do, where (an index over the nodes of the value), with what.
#[derive(Debug, Clone)]
enum Edit {
    Replace(Index, Value),
    Remove(Index, Index),
    Add(Index, String, Value),
    Nest(Index, usize),
}

fn edit() -> BoxedStrategy<Edit> {
    prop_oneof![
        4 => (any::<Index>(), nasty()).prop_map(|(at, v)| Edit::Replace(at, v)),
        2 => (any::<Index>(), any::<Index>()).prop_map(|(at, which)| Edit::Remove(at, which)),
        2 => (any::<Index>(), key(), nasty()).prop_map(|(at, k, v)| Edit::Add(at, k, v)),
        1 => (any::<Index>(), 1usize..=100).prop_map(|(at, depth)| Edit::Nest(at, depth)),
    ]
    .boxed()
}

/// Pointers to every node of `v` (the root included).
fn nodes(v: &Value, at: String, out: &mut Vec<String>) {
    match v {
        Value::Object(m) => {
            for (k, x) in m {
                nodes(x, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
            }
        }
        Value::Array(a) => {
            for (i, x) in a.iter().enumerate() {
                nodes(x, format!("{at}/{i}"), out);
            }
        }
        _ => {}
    }
    out.push(at);
}

fn apply(v: &mut Value, e: &Edit) {
    let mut all = Vec::new();
    nodes(v, String::new(), &mut all);
    let at = |i: &Index| all[i.index(all.len())].clone();
    match e {
        Edit::Replace(i, x) => *v.pointer_mut(&at(i)).expect("a node") = x.clone(),
        Edit::Remove(i, which) => match v.pointer_mut(&at(i)).expect("a node") {
            Value::Object(m) if !m.is_empty() => {
                let k = m.keys().nth(which.index(m.len())).expect("a key").clone();
                m.shift_remove(&k);
            }
            Value::Array(a) if !a.is_empty() => {
                a.remove(which.index(a.len()));
            }
            _ => {}
        },
        Edit::Add(i, k, x) => match v.pointer_mut(&at(i)).expect("a node") {
            Value::Object(m) => {
                m.insert(k.clone(), x.clone());
            }
            Value::Array(a) => a.push(x.clone()),
            _ => {}
        },
        Edit::Nest(i, depth) => {
            let node = v.pointer_mut(&at(i)).expect("a node");
            *node = (0..*depth).fold(node.take(), |x, _| json!([x]));
        }
    }
}

/// A valid record of any kind with one to four edits.
fn mutated() -> BoxedStrategy<(Kind, Value)> {
    (any_valid(), prop::collection::vec(edit(), 1..5))
        .prop_map(|((k, mut v), edits)| {
            for e in &edits {
                apply(&mut v, e);
            }
            (k, v)
        })
        .boxed()
}

#[derive(Debug, Clone)]
enum ByteEdit {
    Set(Index, u8),
    Insert(Index, u8),
    Delete(Index),
}

fn byte_edit() -> BoxedStrategy<ByteEdit> {
    let byte =
        prop_oneof![select(b"{}[]:,\"\\0123456789.eE+-tfnul \x00\x1f\x7f\x80\xbf\xc3\xe6\xff".to_vec()), any::<u8>()];
    prop_oneof![
        (any::<Index>(), byte.clone()).prop_map(|(i, b)| ByteEdit::Set(i, b)),
        (any::<Index>(), byte).prop_map(|(i, b)| ByteEdit::Insert(i, b)),
        any::<Index>().prop_map(ByteEdit::Delete),
    ]
    .boxed()
}

/// The text of a valid record with one to eight bytes changed.
fn mangled() -> BoxedStrategy<(Kind, Vec<u8>)> {
    (any_valid(), prop::collection::vec(byte_edit(), 1..9))
        .prop_map(|((k, v), edits)| {
            let mut b = v.to_string().into_bytes();
            for e in edits {
                match e {
                    ByteEdit::Set(i, x) if !b.is_empty() => {
                        let i = i.index(b.len());
                        b[i] = x;
                    }
                    ByteEdit::Insert(i, x) => b.insert(i.index(b.len() + 1), x),
                    ByteEdit::Delete(i) if !b.is_empty() => {
                        b.remove(i.index(b.len()));
                    }
                    _ => {}
                }
            }
            (k, b)
        })
        .boxed()
}

/// The text of `v` with the `n`th object (in writing order, wrapping)
/// given one of its keys again; returns the text and the repeated key's path.
fn with_repeated_key(v: &Value, n: usize, which: Index) -> Option<(String, String)> {
    fn objects(v: &Value, path: String, out: &mut Vec<(String, Vec<String>)>) {
        match v {
            Value::Object(m) => {
                if !m.is_empty() {
                    out.push((path.clone(), m.keys().cloned().collect()));
                }
                for (k, x) in m {
                    let mut p = path.clone();
                    json::push_key(&mut p, k);
                    objects(x, p, out);
                }
            }
            Value::Array(a) => {
                for (i, x) in a.iter().enumerate() {
                    objects(x, format!("{path}[{i}]"), out);
                }
            }
            _ => {}
        }
    }
    fn write(v: &Value, target: &mut Option<usize>, key: &str, out: &mut String) {
        match v {
            Value::Object(m) if !m.is_empty() => {
                let here = *target == Some(0);
                *target = target.and_then(|t| t.checked_sub(1));
                out.push('{');
                for (i, (k, x)) in m.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push_str(&Value::String(k.clone()).to_string());
                    out.push(':');
                    write(x, target, key, out);
                }
                if here {
                    // The key again, written with escapes, as another system might.
                    let escaped: String = key.encode_utf16().map(|u| format!("\\u{u:04x}")).collect();
                    out.push_str(&format!(",\"{escaped}\":null"));
                }
                out.push('}');
            }
            Value::Array(a) => {
                out.push('[');
                for (i, x) in a.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write(x, target, key, out);
                }
                out.push(']');
            }
            other => out.push_str(&other.to_string()),
        }
    }
    let mut all = Vec::new();
    objects(v, String::new(), &mut all);
    if all.is_empty() {
        return None;
    }
    let n = n % all.len();
    let (path, keys) = &all[n];
    let key = &keys[which.index(keys.len())];
    let mut field = path.clone();
    json::push_key(&mut field, key);
    let mut out = String::new();
    write(v, &mut Some(n), key, &mut out);
    Some((out, field))
}

// -------------------------------------------------------------- properties

proptest! {
    #![proptest_config(config())]

    /// Generated valid records are accepted and round-trip (the generators
    /// are right, so the mutations below start from good records).
    #[test]
    fn valid_records_are_accepted_and_round_trip((kind, v) in any_valid()) {
        if let Some(e) = kind.refusal(&v) {
            return Err(TestCaseError::fail(format!("{kind:?} refused {v}: {e}")));
        }
        kind.check(&v)?;
    }

    /// Valid records mutated field by field: no panic, bounds, round trip,
    /// refusals naming a field; the JSON reader reads their text back.
    #[test]
    fn mutated_records_are_accepted_within_bounds_or_refused_naming_a_field((kind, v) in mutated()) {
        kind.check(&v)?;
        // Its text reads back the same (nested past serde_json's limit of
        // 128, both refuse it alike).
        let text = v.to_string();
        if let Ok(back) = json::parse(&text) {
            prop_assert_eq!(back, v);
        }
        read_and_check(text.as_bytes(), &[])?;
    }

    /// Arbitrary JSON values, keys biased to the records' fields, against every kind.
    #[test]
    fn arbitrary_values_never_panic_any_parser(v in arbitrary_json()) {
        for kind in KINDS {
            kind.check(&v)?;
        }
    }

    /// Record texts with bytes changed: the JSON reader never panics and
    /// agrees with serde_json on whatever has no repeated key; the record
    /// parser never panics on what it reads.
    #[test]
    fn mangled_record_texts_never_panic((kind, bytes) in mangled()) {
        read_and_check(&bytes, &[kind])?;
    }

    /// Arbitrary bytes, against every kind.
    #[test]
    fn arbitrary_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..300)) {
        read_and_check(&bytes, &KINDS)?;
    }

    /// A key given twice in any object of a record, at any depth, is
    /// refused, naming its path; serde_json alone would have kept the last.
    #[test]
    fn a_repeated_key_is_refused_naming_its_path((_, v) in any_valid(), n in 0usize..64, which in any::<Index>()) {
        let (text, field) = with_repeated_key(&v, n, which).expect("a record is an object");
        prop_assert!(serde_json::from_str::<Value>(&text).is_ok(), "{}", text);
        match json::parse(&text) {
            Err(e @ JsonError::RepeatedKey { .. }) => {
                prop_assert_eq!(e.field(), Some(field.as_str()), "{}", text);
                let msg = e.to_string();
                prop_assert!(msg.starts_with(&format!("{field}: ")), "{}", msg);
                prop_assert!(!msg.chars().any(char::is_control), "{:?}", msg);
            }
            other => return Err(TestCaseError::fail(format!("{text}: {other:?}"))),
        }
    }
}

fn read_and_check(bytes: &[u8], kinds: &[Kind]) -> Result<(), TestCaseError> {
    let ours = json::parse_slice(bytes);
    let theirs = serde_json::from_slice::<Value>(bytes);
    match (&ours, &theirs) {
        (Ok(a), Ok(b)) => prop_assert_eq!(a, b),
        (Err(JsonError::Syntax(a)), Err(b)) => prop_assert_eq!(a.to_string(), b.to_string()),
        // A repeated key is found when the key is read, before any syntax
        // error later in the text.
        (Err(JsonError::RepeatedKey { .. }), _) => {}
        _ => return Err(TestCaseError::fail(format!("ours {ours:?}, serde_json {theirs:?}"))),
    }
    if let Ok(v) = ours {
        for kind in kinds {
            kind.check(&v)?;
        }
    }
    Ok(())
}

/// The bugs the properties found, kept as plain tests (the inputs are also
/// in `tests/fuzz.proptest-regressions`).
mod regressions {
    use super::*;

    fn refusal(kind: Kind, v: Value) -> String {
        kind.refusal(&v).expect("refused").to_string()
    }

    /// An unknown field's name was put into the path as it came: an empty
    /// key gave an empty path, a control character reached the terminal,
    /// a key of a megabyte made a message of a megabyte.
    #[test]
    fn an_unknown_field_is_named_quoted_and_bounded() {
        let office = json!({"code": "2201", "name": "n", "level": "hq"});
        let with = |k: &str| {
            let mut v = office.clone();
            v[k] = json!(1);
            refusal(Kind::Office, v)
        };
        expect_test::expect![[r#"
            [
                "[\"\"]: expected no such field in this record kind, got an unknown field",
                "[\"\\u{1b}[2J\"]: expected no such field in this record kind, got an unknown field",
                "[\"kkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkkk\"…]: expected no such field in this record kind, got an unknown field",
                "colour: expected no such field in this record kind, got an unknown field",
            ]
        "#]]
        .assert_debug_eq(&[with(""), with("\u{1b}[2J"), with(&"k".repeat(1_000_000)), with("colour")]);
    }

    /// A bare date with a year of five digits (`+12345-01-01`, which
    /// chrono's `%Y` takes) was accepted as a time that serialises to a
    /// text no RFC 3339 parser reads back: the stored record would not
    /// read back. A bare date is `YYYY-MM-DD`, as DATA.md writes it.
    #[test]
    fn a_bare_date_has_a_four_digit_year() {
        let case = |at: &str| {
            WorkforceRecord::disciplinary_from_json(
                &json!({"officer": "E1", "opened_at": at, "kind": "k", "status": "s"}),
            )
            .map(|w| w.to_json()["opened_at"].clone())
            .map_err(|e| e.to_string())
        };
        expect_test::expect![[r#"
            [
                Err(
                    "opened_at: expected an RFC 3339 time with offset or a date \"YYYY-MM-DD\", got \"+12345-01-01\"",
                ),
                Err(
                    "opened_at: expected an RFC 3339 time with offset or a date \"YYYY-MM-DD\", got \"2026-3-1\"",
                ),
                Ok(
                    String("0100-01-01T00:00:00+08:00"),
                ),
                Ok(
                    String("2026-03-01T00:00:00+08:00"),
                ),
            ]
        "#]]
        .assert_debug_eq(&[case("+12345-01-01"), case("2026-3-1"), case("0100-01-01"), case("2026-03-01")]);
        let officer = json!({"id": "E1", "name": "n", "office": "2201", "post": "p", "post_since": "+12345-01-01"});
        assert_eq!(Officer::from_json(&officer).unwrap_err().path, "post_since");
    }

    /// A field kept in `attributes` nested 127 deep was accepted; stored
    /// (the record serialised, its attributes one level further in) it
    /// nested past serde_json's limit of 128, so every later read of the
    /// record failed: one outcome could break the model's training data.
    #[test]
    fn attributes_nest_a_bounded_depth() {
        let deep = |n: usize| (0..n).fold(json!(1), |v, _| json!([v]));
        let outcome = |x: Value| {
            json!({"declaration_id": "D1", "officer": "E1", "control": "document",
                   "completed_at": "2026-03-01T15:40:00+08:00", "result": "no_finding", "x_deep": x})
        };
        let text = outcome(deep(126)).to_string();
        let v = json::parse(&text).expect("within the limit as sent");
        expect_test::expect![[r#"
            "x_deep: expected a value nested at most 32 deep, got one nested deeper"
        "#]]
        .assert_debug_eq(&Outcome::from_json(&v).unwrap_err().to_string());
        let mut explicit = outcome(json!(1));
        explicit["attributes"] = json!({"y": deep(33)});
        assert_eq!(Outcome::from_json(&explicit).unwrap_err().path, "attributes.y");
        // At the bound, it is kept and reads back.
        let o = Outcome::from_json(&outcome(deep(32))).unwrap();
        let back = json::parse(&serde_json::to_string(&o).unwrap()).unwrap();
        assert_eq!(Outcome::from_json(&back).unwrap(), o);
    }

    /// A quantity or weight of 5e-324 (any tiny positive number) was
    /// accepted, and the engine's unit value, kg per unit and value per kg
    /// (divided by them) became infinite.
    #[test]
    fn quantities_and_weights_are_not_vanishingly_small() {
        let item = |quantity: f64, kg: f64| {
            let v = json!({"id": "A1", "declared_at": "2026-03-01T09:00:00+08:00", "direction": "import",
                "office": "2201", "transport_mode": "sea", "trade_mode": "0110", "trader": {"id": "T1"},
                "declarant": {"id": "D1"}, "currency": "USD", "items": [{"line": 1, "hs_code": "851713",
                "origin": "VN", "quantity": quantity, "net_weight_kg": kg, "value": 1e6, "duty_rate": 0.1}]});
            Declaration::from_json(&v).map(|d| d.items[0].unit_value()).map_err(|e| e.to_string())
        };
        expect_test::expect![[r#"
            [
                Err(
                    "items[0].quantity: expected a positive number from 1e-6 to 1e12, got 5e-324",
                ),
                Err(
                    "items[0].net_weight_kg: expected a number of kilograms, 0 or from 1e-6 to 1e10, got 5e-324",
                ),
                Ok(
                    Some(
                        1000000000000.0,
                    ),
                ),
                Ok(
                    Some(
                        1000000.0,
                    ),
                ),
            ]
        "#]]
        .assert_debug_eq(&[item(5e-324, 1.0), item(1.0, 5e-324), item(1e-6, 1e-6), item(1.0, 0.0)]);
    }
}
