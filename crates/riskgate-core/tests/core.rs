//! Validation suite of riskgate-core: every record kind of DATA.md accepted or rejected with an error naming the field path.

use expect_test::{Expect, expect};
use riskgate_core::{
    Declaration, Enterprise, ForexPayment, Office, Officer, Outcome, Release, TaxInvoice, ValidationError,
};
use serde_json::{Value, json};

/// One change to a valid base record; pointers are RFC 6901 JSON pointers.
enum Edit {
    None,
    Set(&'static str, Value),
    Remove(&'static str),
    Whole(Value),
}

fn apply(base: &Value, edit: &Edit) -> Value {
    let mut v = base.clone();
    match edit {
        Edit::None => {}
        Edit::Whole(w) => v = w.clone(),
        Edit::Set(ptr, x) => {
            let (parent, key) = ptr.rsplit_once('/').expect("pointer has a '/'");
            match v.pointer_mut(parent).unwrap_or_else(|| panic!("no parent for {ptr}")) {
                Value::Object(m) => {
                    m.insert(key.to_string(), x.clone());
                }
                Value::Array(a) => {
                    let i: usize = key.parse().expect("array index");
                    if i == a.len() {
                        a.push(x.clone());
                    } else {
                        a[i] = x.clone();
                    }
                }
                other => panic!("cannot set {ptr} inside {other}"),
            }
        }
        Edit::Remove(ptr) => {
            let (parent, key) = ptr.rsplit_once('/').expect("pointer has a '/'");
            match v.pointer_mut(parent).unwrap_or_else(|| panic!("no parent for {ptr}")) {
                Value::Object(m) => {
                    m.remove(key).unwrap_or_else(|| panic!("nothing to remove at {ptr}"));
                }
                Value::Array(a) => {
                    a.remove(key.parse().expect("array index"));
                }
                other => panic!("cannot remove {ptr} from {other}"),
            }
        }
    }
    v
}

/// Runs every case against `parse` and renders one line per case, so a
/// single snapshot shows which field path each rejection names.
fn check<T>(parse: fn(&Value) -> Result<T, ValidationError>, base: &Value, cases: &[(&str, Edit)], expect: Expect) {
    let mut out = String::new();
    for (what, edit) in cases {
        let line = match parse(&apply(base, edit)) {
            Ok(_) => "ok".to_string(),
            Err(e) => {
                assert!(!e.path.is_empty(), "{what}: error without a path: {e}");
                e.to_string()
            }
        };
        out.push_str(&format!("{what} => {line}\n"));
    }
    expect.assert_eq(&out);
}

/// The example declaration of DATA.md.
fn declaration() -> Value {
    json!({
      "id": "310120260000012345",
      "declared_at": "2026-03-01T09:12:00+08:00",
      "direction": "import",
      "office": "2201",
      "transport_mode": "sea",
      "trade_mode": "0110",
      "trader":   {"id": "91310000MA1FL0XX1X", "name": "Shanghai Trading Co."},
      "declarant": {"id": "3120980123", "name": "Pudong Brokers"},
      "overseas_party": {"id": "US-88213", "name": "Acme Inc.", "country": "US"},
      "country_of_departure": "US",
      "incoterm": "CIF",
      "currency": "USD",
      "items": [
        {"line": 1, "hs_code": "8517130000", "description": "smartphones",
         "origin": "VN", "quantity": 1200, "unit": "台", "net_weight_kg": 240.0,
         "value": 180000.00, "duty_rate": 0.0}
      ],
      "documents": [{"kind": "invoice", "id": "INV-2026-0931"},
                    {"kind": "certificate_of_origin", "id": "CO-VN-112"}],
      "attributes": {}
    })
}

#[test]
fn declaration_validation() {
    let second_item = json!({"line": 2, "hs_code": "851713", "origin": "CN", "quantity": 1,
                             "net_weight_kg": 0.2, "value": 10.0, "duty_rate": 0.1});
    let cases = [
        ("DATA.md example", Edit::None),
        (
            "optional fields absent",
            Edit::Whole({
                let mut v = declaration();
                let m = v.as_object_mut().unwrap();
                for k in ["overseas_party", "country_of_departure", "incoterm", "documents", "attributes"] {
                    m.remove(k);
                }
                v
            }),
        ),
        ("optional field null", Edit::Set("/incoterm", Value::Null)),
        ("second item, 6-digit hs_code", Edit::Set("/items/1", second_item.clone())),
        ("missing id", Edit::Remove("/id")),
        ("missing declared_at", Edit::Remove("/declared_at")),
        ("missing trader", Edit::Remove("/trader")),
        ("missing trader.id", Edit::Remove("/trader/id")),
        ("missing currency", Edit::Remove("/currency")),
        ("missing items", Edit::Remove("/items")),
        ("missing items[0].hs_code", Edit::Remove("/items/0/hs_code")),
        ("missing items[0].value", Edit::Remove("/items/0/value")),
        ("required field null", Edit::Set("/office", Value::Null)),
        ("id is a number", Edit::Set("/id", json!(310120260000012345u64))),
        ("trader is a string", Edit::Set("/trader", json!("91310000MA1FL0XX1X"))),
        ("items is an object", Edit::Set("/items", json!({"line": 1}))),
        ("item is a string", Edit::Set("/items/0", json!("8517130000"))),
        ("quantity is a string", Edit::Set("/items/0/quantity", json!("1200"))),
        ("value 1e308 (would make running totals infinite)", Edit::Set("/items/0/value", json!(1e308))),
        ("value at the bound 1e15", Edit::Set("/items/0/value", json!(1e15))),
        ("quantity above 1e12", Edit::Set("/items/0/quantity", json!(1e15))),
        ("net_weight_kg above 1e10", Edit::Set("/items/0/net_weight_kg", json!(2e10))),
        ("description is a number", Edit::Set("/items/0/description", json!(7))),
        ("attributes is an array", Edit::Set("/attributes", json!([]))),
        ("documents is an object", Edit::Set("/documents", json!({}))),
        ("direction unknown", Edit::Set("/direction", json!("transit"))),
        ("direction in capitals", Edit::Set("/direction", json!("IMPORT"))),
        ("transport_mode unknown", Edit::Set("/transport_mode", json!("pipeline"))),
        ("hs_code with a letter", Edit::Set("/items/0/hs_code", json!("85A7"))),
        ("hs_code too short", Edit::Set("/items/0/hs_code", json!("85171"))),
        ("hs_code too long", Edit::Set("/items/0/hs_code", json!("85171300001"))),
        ("hs_code as a number", Edit::Set("/items/0/hs_code", json!(8517130000u64))),
        ("origin lower case", Edit::Set("/items/0/origin", json!("vn"))),
        ("origin 3 letters", Edit::Set("/items/0/origin", json!("VNM"))),
        ("country_of_departure bad", Edit::Set("/country_of_departure", json!("USA"))),
        ("overseas_party.country bad", Edit::Set("/overseas_party/country", json!("U1"))),
        ("quantity zero", Edit::Set("/items/0/quantity", json!(0))),
        ("quantity negative", Edit::Set("/items/0/quantity", json!(-5))),
        ("net_weight_kg negative", Edit::Set("/items/0/net_weight_kg", json!(-0.1))),
        ("value negative", Edit::Set("/items/0/value", json!(-1.0))),
        ("value zero", Edit::Set("/items/0/value", json!(0))),
        ("duty_rate negative", Edit::Set("/items/0/duty_rate", json!(-0.01))),
        // Some agricultural tariffs exceed 500% (e.g. 754% in the KCS data).
        ("duty_rate above 10", Edit::Set("/items/0/duty_rate", json!(10.5))),
        ("duty_rate exactly 10", Edit::Set("/items/0/duty_rate", json!(10))),
        ("line zero", Edit::Set("/items/0/line", json!(0))),
        ("line fractional", Edit::Set("/items/0/line", json!(1.5))),
        ("empty items", Edit::Set("/items", json!([]))),
        (
            "duplicate item line",
            Edit::Set("/items/1", {
                let mut i = second_item.clone();
                i["line"] = json!(1);
                i
            }),
        ),
        ("declared_at without offset", Edit::Set("/declared_at", json!("2026-03-01T09:12:00"))),
        ("declared_at date only", Edit::Set("/declared_at", json!("2026-03-01"))),
        ("declared_at in UTC", Edit::Set("/declared_at", json!("2026-03-01T01:12:00Z"))),
        ("currency unknown", Edit::Set("/currency", json!("XYZ"))),
        ("currency lower case", Edit::Set("/currency", json!("usd"))),
        ("incoterm unknown", Edit::Set("/incoterm", json!("ABC"))),
        ("trade_mode 3 digits", Edit::Set("/trade_mode", json!("110"))),
        ("trade_mode letters", Edit::Set("/trade_mode", json!("GEN1"))),
        ("trade_mode as a number", Edit::Set("/trade_mode", json!(110))),
        ("id with a space", Edit::Set("/id", json!("3101 2026"))),
        ("id empty", Edit::Set("/id", json!(""))),
        ("documents entry missing id", Edit::Remove("/documents/1/id")),
        ("documents entry not an object", Edit::Set("/documents/0", json!("INV-2026-0931"))),
        ("documents entry unknown field", Edit::Set("/documents/0/date", json!("2026-02-01"))),
        ("overseas_party unknown field", Edit::Set("/overseas_party/address", json!("1 Main St"))),
        ("overseas_party missing id", Edit::Remove("/overseas_party/id")),
        ("trader unknown field", Edit::Set("/trader/credit_class", json!("advanced"))),
        ("not an object (array)", Edit::Whole(json!([declaration()]))),
        ("not an object (string)", Edit::Whole(json!("310120260000012345"))),
        ("not an object (null)", Edit::Whole(Value::Null)),
        ("long bad string is cut", Edit::Set("/trade_mode", json!("x".repeat(60)))),
    ];
    check(
        Declaration::from_json,
        &declaration(),
        &cases,
        expect![[r#"
            DATA.md example => ok
            optional fields absent => ok
            optional field null => ok
            second item, 6-digit hs_code => ok
            missing id => id: expected an id of letters, digits, '-', '_', '.' or '/' (at most 64), got nothing (field missing)
            missing declared_at => declared_at: expected an RFC 3339 time with offset, e.g. "2026-03-01T09:12:00+08:00", got nothing (field missing)
            missing trader => trader: expected an object {id, name}, got nothing (field missing)
            missing trader.id => trader.id: expected an id of letters, digits, '-', '_', '.' or '/' (at most 64), got nothing (field missing)
            missing currency => currency: expected a currency code with a reference rate (CNY, USD, EUR, GBP, JPY, HKD, KRW, AUD, CAD, SGD, MYR, THB, VND, RUB, CHF, NZD, TWD, INR, IDR, BRL), got nothing (field missing)
            missing items => items: expected a non-empty array of item lines, got nothing (field missing)
            missing items[0].hs_code => items[0].hs_code: expected 6 to 10 digits, got nothing (field missing)
            missing items[0].value => items[0].value: expected a declared value from 0 to 1e15, got nothing (field missing)
            required field null => office: expected an office code of letters and digits, got nothing (field missing)
            id is a number => id: expected an id of letters, digits, '-', '_', '.' or '/' (at most 64), got 310120260000012345
            trader is a string => trader: expected a JSON object, got "91310000MA1FL0XX1X"
            items is an object => items: expected a non-empty array of item lines, got an object
            item is a string => items[0]: expected a JSON object, got "8517130000"
            quantity is a string => items[0].quantity: expected a positive number from 1e-6 to 1e12, got "1200"
            value 1e308 (would make running totals infinite) => items[0].value: expected a declared value from 0 to 1e15, got 1e+308
            value at the bound 1e15 => ok
            quantity above 1e12 => items[0].quantity: expected a positive number from 1e-6 to 1e12, got 1000000000000000.0
            net_weight_kg above 1e10 => items[0].net_weight_kg: expected a number of kilograms, 0 or from 1e-6 to 1e10, got 20000000000.0
            description is a number => items[0].description: expected a string, got 7
            attributes is an array => attributes: expected an object, got an array
            documents is an object => documents: expected an array of {kind, id}, got an object
            direction unknown => direction: expected one of "import", "export", got "transit"
            direction in capitals => direction: expected one of "import", "export", got "IMPORT"
            transport_mode unknown => transport_mode: expected one of "sea", "air", "road", "rail", "post", "other", got "pipeline"
            hs_code with a letter => items[0].hs_code: expected 6 to 10 digits, got "85A7"
            hs_code too short => items[0].hs_code: expected 6 to 10 digits, got "85171"
            hs_code too long => items[0].hs_code: expected 6 to 10 digits, got "85171300001"
            hs_code as a number => items[0].hs_code: expected 6 to 10 digits, got 8517130000
            origin lower case => items[0].origin: expected a 2-letter country code, got "vn"
            origin 3 letters => items[0].origin: expected a 2-letter country code, got "VNM"
            country_of_departure bad => country_of_departure: expected a 2-letter country code, got "USA"
            overseas_party.country bad => overseas_party.country: expected a 2-letter country code, got "U1"
            quantity zero => items[0].quantity: expected a positive number from 1e-6 to 1e12, got 0
            quantity negative => items[0].quantity: expected a positive number from 1e-6 to 1e12, got -5
            net_weight_kg negative => items[0].net_weight_kg: expected a number of kilograms, 0 or from 1e-6 to 1e10, got -0.1
            value negative => items[0].value: expected a declared value from 0 to 1e15, got -1.0
            value zero => ok
            duty_rate negative => items[0].duty_rate: expected a duty rate as a fraction between 0 and 10 (1000%), got -0.01
            duty_rate above 10 => items[0].duty_rate: expected a duty rate as a fraction between 0 and 10 (1000%), got 10.5
            duty_rate exactly 10 => ok
            line zero => items[0].line: expected a positive whole line number, got 0
            line fractional => items[0].line: expected a positive whole line number, got 1.5
            empty items => items: expected a non-empty array of item lines, got an empty array
            duplicate item line => items[1].line: expected a line number unique within the declaration, got 1 again
            declared_at without offset => declared_at: expected an RFC 3339 time with offset, e.g. "2026-03-01T09:12:00+08:00", got "2026-03-01T09:12:00"
            declared_at date only => declared_at: expected an RFC 3339 time with offset, e.g. "2026-03-01T09:12:00+08:00", got "2026-03-01"
            declared_at in UTC => ok
            currency unknown => currency: expected a currency code with a reference rate (CNY, USD, EUR, GBP, JPY, HKD, KRW, AUD, CAD, SGD, MYR, THB, VND, RUB, CHF, NZD, TWD, INR, IDR, BRL), got "XYZ"
            currency lower case => currency: expected a currency code with a reference rate (CNY, USD, EUR, GBP, JPY, HKD, KRW, AUD, CAD, SGD, MYR, THB, VND, RUB, CHF, NZD, TWD, INR, IDR, BRL), got "usd"
            incoterm unknown => incoterm: expected an Incoterms code such as "CIF" or "FOB", got "ABC"
            trade_mode 3 digits => trade_mode: expected a 4-digit trade mode code, got "110"
            trade_mode letters => trade_mode: expected a 4-digit trade mode code, got "GEN1"
            trade_mode as a number => trade_mode: expected a 4-digit trade mode code, got 110
            id with a space => id: expected an id of letters, digits, '-', '_', '.' or '/' (at most 64), got "3101 2026"
            id empty => id: expected an id of letters, digits, '-', '_', '.' or '/' (at most 64), got ""
            documents entry missing id => documents[1].id: expected a non-empty string, got nothing (field missing)
            documents entry not an object => documents[0]: expected a JSON object, got "INV-2026-0931"
            documents entry unknown field => documents[0].date: expected no such field in this record kind, got an unknown field
            overseas_party unknown field => overseas_party.address: expected no such field in this record kind, got an unknown field
            overseas_party missing id => overseas_party.id: expected a non-empty string, got nothing (field missing)
            trader unknown field => trader.credit_class: expected no such field in this record kind, got an unknown field
            not an object (array) => (record): expected a JSON object, got an array
            not an object (string) => (record): expected a JSON object, got "310120260000012345"
            not an object (null) => (record): expected a JSON object, got null
            long bad string is cut => trade_mode: expected a 4-digit trade mode code, got "xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…"
        "#]],
    );
}

#[test]
fn unknown_fields_are_kept_in_attributes() {
    let mut v = declaration();
    v["vessel"] = json!("COSCO SHIPPING ARIES");
    v["attributes"] = json!({"manifest": "M-1"});
    v["items"][0]["brand"] = json!("Acme");
    v["items"][0]["attributes"] = json!({"model": "X1"});
    let d = Declaration::from_json(&v).expect("valid declaration");
    assert_eq!(d.attributes.get("vessel"), Some(&json!("COSCO SHIPPING ARIES")));
    assert_eq!(d.attributes.get("manifest"), Some(&json!("M-1")));
    assert_eq!(d.attributes.len(), 2, "known fields leak into attributes: {:?}", d.attributes);
    let item = &d.items[0];
    assert_eq!(item.attributes.get("brand"), Some(&json!("Acme")));
    assert_eq!(item.attributes.get("model"), Some(&json!("X1")));
    assert_eq!(item.attributes.len(), 2, "known item fields leak into attributes: {:?}", item.attributes);

    // The base example has none: `attributes` must not collect known fields.
    let plain = Declaration::from_json(&declaration()).unwrap();
    assert!(plain.attributes.is_empty(), "{:?}", plain.attributes);
    assert!(plain.items[0].attributes.is_empty(), "{:?}", plain.items[0].attributes);
}

#[test]
fn declaration_round_trips_through_json() {
    let mut rich = declaration();
    rich["vessel"] = json!("COSCO SHIPPING ARIES");
    rich["items"][0]["brand"] = json!("Acme");
    rich["items"].as_array_mut().unwrap().push(json!({"line": 7, "hs_code": "851713", "origin": "CN", "quantity": 2.5,
                              "net_weight_kg": 0.0, "value": 0.1, "duty_rate": 0.13}));
    let mut sparse = declaration();
    for k in ["overseas_party", "country_of_departure", "incoterm", "documents"] {
        sparse.as_object_mut().unwrap().remove(k);
    }
    sparse["trader"] = json!({"id": "91310000MA1FL0XX1X"});
    for v in [declaration(), rich, sparse] {
        let d = Declaration::from_json(&v).expect("valid declaration");
        let again = Declaration::from_json(&d.to_json())
            .unwrap_or_else(|e| panic!("to_json output rejected: {e}\n{}", d.to_json()));
        assert_eq!(again, d);
        assert_eq!(again.to_json(), d.to_json());
    }
}

fn outcome() -> Value {
    json!({"declaration_id": "310120260000012345", "officer": "E20931",
           "control": "physical", "completed_at": "2026-03-01T15:40:00+08:00",
           "result": "finding", "findings": ["undervaluation"],
           "additional_duty": 23100.00, "seizure": false,
           "released_at": "2026-03-01T16:05:00+08:00", "note": "invoice price below market"})
}

#[test]
fn outcome_validation() {
    let cases = [
        ("DATA.md example", Edit::None),
        (
            "no_finding without findings",
            Edit::Whole({
                let mut v = outcome();
                v["result"] = json!("no_finding");
                v["findings"] = json!([]);
                v
            }),
        ),
        ("finding without findings", Edit::Remove("/findings")),
        ("finding with empty findings", Edit::Set("/findings", json!([]))),
        ("no_finding with findings", Edit::Set("/result", json!("no_finding"))),
        ("bad finding kind", Edit::Set("/findings/1", json!("fraud"))),
        ("finding kind not a string", Edit::Set("/findings/0", json!(1))),
        ("findings not an array", Edit::Set("/findings", json!("origin"))),
        ("bad result", Edit::Set("/result", json!("positive"))),
        ("bad control", Edit::Set("/control", json!("xray"))),
        ("missing officer", Edit::Remove("/officer")),
        ("completed_at without offset", Edit::Set("/completed_at", json!("2026-03-01 15:40"))),
        ("negative additional_duty", Edit::Set("/additional_duty", json!(-1))),
        ("additional_duty 1.7e308", Edit::Set("/additional_duty", json!(1.7e308))),
        ("seizure not a bool", Edit::Set("/seizure", json!("no"))),
        ("released_at a year before", Edit::Set("/released_at", json!("2025-01-01T00:00:00+08:00"))),
        ("unknown field kept", Edit::Set("/container", json!("MSCU1234567"))),
    ];
    check(
        Outcome::from_json,
        &outcome(),
        &cases,
        expect![[r#"
            DATA.md example => ok
            no_finding without findings => ok
            finding without findings => findings: expected at least one finding kind when result is "finding", got none
            finding with empty findings => findings: expected at least one finding kind when result is "finding", got none
            no_finding with findings => findings: expected no findings when result is "no_finding", got ["undervaluation"]
            bad finding kind => findings[1]: expected one of undervaluation, misclassification, origin, quantity, prohibited, licence, smuggling, other, got "fraud"
            finding kind not a string => findings[0]: expected one of undervaluation, misclassification, origin, quantity, prohibited, licence, smuggling, other, got 1
            findings not an array => findings: expected an array of finding kinds, got "origin"
            bad result => result: expected one of "finding", "no_finding", got "positive"
            bad control => control: expected one of "document", "physical", "audit", got "xray"
            missing officer => officer: expected an officer id, got nothing (field missing)
            completed_at without offset => completed_at: expected an RFC 3339 time with offset, e.g. "2026-03-01T09:12:00+08:00", got "2026-03-01 15:40"
            negative additional_duty => additional_duty: expected an amount in CNY from 0 to 1e15, got -1
            additional_duty 1.7e308 => additional_duty: expected an amount in CNY from 0 to 1e15, got 1.7e+308
            seizure not a bool => seizure: expected true or false, got "no"
            released_at a year before => released_at: expected a time not long before completed_at, got 2025-01-01T00:00:00+08:00
            unknown field kept => ok
        "#]],
    );

    let mut v = outcome();
    v["container"] = json!("MSCU1234567");
    let o = Outcome::from_json(&v).unwrap();
    assert_eq!(o.attributes.get("container"), Some(&json!("MSCU1234567")));
    assert_eq!(o.attributes.len(), 1, "{:?}", o.attributes);
    assert!(o.is_finding());
}

#[test]
fn office_validation() {
    let base = json!({"code": "2201", "name": "Waigaoqiao", "parent": "2200", "level": "office"});
    let cases = [
        ("DATA.md example", Edit::None),
        ("hq without parent", Edit::Whole(json!({"code": "0000", "name": "GACC", "level": "hq"}))),
        ("office without parent", Edit::Remove("/parent")),
        (
            "district with empty parent",
            Edit::Whole(json!({"code": "2200", "name": "Shanghai", "parent": "", "level": "district"})),
        ),
        ("bad level", Edit::Set("/level", json!("bureau"))),
        ("missing name", Edit::Remove("/name")),
        ("unknown field rejected", Edit::Set("/city", json!("Shanghai"))),
    ];
    check(
        Office::from_json,
        &base,
        &cases,
        expect![[r#"
        DATA.md example => ok
        hq without parent => ok
        office without parent => parent: expected the code of the parent office (only HQ has none), got nothing
        district with empty parent => parent: expected the code of the parent office (only HQ has none), got nothing
        bad level => level: expected one of "hq", "district", "office", got "bureau"
        missing name => name: expected a non-empty string, got nothing (field missing)
        unknown field rejected => city: expected no such field in this record kind, got an unknown field
    "#]],
    );
}

#[test]
fn officer_validation() {
    let base = json!({"id": "E20931", "name": "Li Wei", "office": "2201", "post": "inspection",
                      "post_since": "2023-05-01", "department": "control"});
    let cases = [
        ("DATA.md example", Edit::None),
        ("post_since as a time", Edit::Set("/post_since", json!("2023-05-01T08:00:00+08:00"))),
        ("bad post_since", Edit::Set("/post_since", json!("05/01/2023"))),
        ("missing post", Edit::Remove("/post")),
        ("unknown field rejected", Edit::Set("/rank", json!(3))),
    ];
    check(
        Officer::from_json,
        &base,
        &cases,
        expect![[r#"
        DATA.md example => ok
        post_since as a time => ok
        bad post_since => post_since: expected a date "YYYY-MM-DD" or an RFC 3339 time, got "05/01/2023"
        missing post => post: expected a non-empty string, got nothing (field missing)
        unknown field rejected => rank: expected no such field in this record kind, got an unknown field
    "#]],
    );
}

#[test]
fn enterprise_validation() {
    let base = json!({"id": "91310000MA1FL0XX1X", "name": "Shanghai Trading Co.", "credit_class": "general",
                      "registered_at": "2015-06-30", "registered_capital_cny": 5000000});
    let cases = [
        ("DATA.md example", Edit::None),
        ("bad credit_class", Edit::Set("/credit_class", json!("AEO"))),
        ("missing credit_class", Edit::Remove("/credit_class")),
        ("negative registered_capital_cny", Edit::Set("/registered_capital_cny", json!(-1))),
        ("unknown field kept", Edit::Set("/industry", json!("electronics"))),
    ];
    check(
        Enterprise::from_json,
        &base,
        &cases,
        expect![[r#"
            DATA.md example => ok
            bad credit_class => credit_class: expected one of "advanced", "general", "ordinary", "dishonest", got "AEO"
            missing credit_class => credit_class: expected one of "advanced", "general", "ordinary", "dishonest", got nothing (field missing)
            negative registered_capital_cny => registered_capital_cny: expected an amount in CNY from 0 to 1e15, got -1
            unknown field kept => ok
        "#]],
    );
}

#[test]
fn forex_payment_validation() {
    let base = json!({"trader": "91310000MA1FL0XX1X", "paid_at": "2026-02-20T10:00:00+08:00",
                      "amount": 150000.0, "currency": "USD", "bank": "BOC", "reference": "FX-1"});
    let cases = [
        ("DATA.md example", Edit::None),
        ("zero amount", Edit::Set("/amount", json!(0))),
        ("negative amount", Edit::Set("/amount", json!(-10.5))),
        ("unknown currency", Edit::Set("/currency", json!("BTC"))),
        ("paid_at without offset", Edit::Set("/paid_at", json!("2026-02-20T10:00:00"))),
        ("unknown field rejected", Edit::Set("/swift", json!("BKCHCNBJ"))),
    ];
    check(
        ForexPayment::from_json,
        &base,
        &cases,
        expect![[r#"
            DATA.md example => ok
            zero amount => amount: expected a positive amount up to 1e15, got 0
            negative amount => amount: expected a positive amount up to 1e15, got -10.5
            unknown currency => currency: expected a currency code with a reference rate (CNY, USD, EUR, GBP, JPY, HKD, KRW, AUD, CAD, SGD, MYR, THB, VND, RUB, CHF, NZD, TWD, INR, IDR, BRL), got "BTC"
            paid_at without offset => paid_at: expected an RFC 3339 time with offset, e.g. "2026-03-01T09:12:00+08:00", got "2026-02-20T10:00:00"
            unknown field rejected => swift: expected no such field in this record kind, got an unknown field
        "#]],
    );
}

#[test]
fn tax_invoice_validation() {
    let base = json!({"trader": "91310000MA1FL0XX1X", "issued_at": "2026-03-05T00:00:00+08:00",
                      "amount_cny": 1300000.0, "hs_code": "8517"});
    let cases = [
        ("DATA.md example", Edit::None),
        ("bad hs_code", Edit::Set("/hs_code", json!("8"))),
        ("missing amount_cny", Edit::Remove("/amount_cny")),
        ("unknown field rejected", Edit::Set("/seller", json!("X"))),
    ];
    check(
        TaxInvoice::from_json,
        &base,
        &cases,
        expect![[r#"
            DATA.md example => ok
            bad hs_code => hs_code: expected 2 to 10 digits, got "8"
            missing amount_cny => amount_cny: expected an amount in CNY between -1e15 and 1e15, got nothing (field missing)
            unknown field rejected => seller: expected no such field in this record kind, got an unknown field
        "#]],
    );
}

#[test]
fn release_validation() {
    let base = json!({"declaration_id": "310120260000012345", "released_at": "2026-03-01T09:13:00+08:00"});
    let cases = [
        ("DATA.md example", Edit::None),
        ("bad time", Edit::Set("/released_at", json!("yesterday"))),
        ("time without offset", Edit::Set("/released_at", json!("2026-03-01T09:13:00"))),
        ("time as a number", Edit::Set("/released_at", json!(1772327580))),
        ("missing released_at", Edit::Remove("/released_at")),
        ("unknown field rejected", Edit::Set("/by", json!("E20931"))),
    ];
    check(
        Release::from_json,
        &base,
        &cases,
        expect![[r#"
        DATA.md example => ok
        bad time => released_at: expected an RFC 3339 time with offset, e.g. "2026-03-01T09:12:00+08:00", got "yesterday"
        time without offset => released_at: expected an RFC 3339 time with offset, e.g. "2026-03-01T09:12:00+08:00", got "2026-03-01T09:13:00"
        time as a number => released_at: expected an RFC 3339 time with offset, e.g. "2026-03-01T09:12:00+08:00", got 1772327580
        missing released_at => released_at: expected an RFC 3339 time with offset, e.g. "2026-03-01T09:12:00+08:00", got nothing (field missing)
        unknown field rejected => by: expected no such field in this record kind, got an unknown field
    "#]],
    );
}
