//! The CSV mapping under fuzzing (property tests on the stable toolchain):
//! arbitrary rows (quotes, delimiters and line breaks inside cells, ragged
//! rows, blank lines, non-UTF-8 bytes, numbers JSON cannot hold) through a
//! fixed mapping, and arbitrary mappings (any delimiter, targets that
//! clash, huge `pad`, non-finite `scale`, odd date formats) over them.
//!
//! Properties: no panic; one declaration per run of rows with the same
//! `group_by` value, reported at the CSV line its first row starts on; a
//! refused declaration names a field of the mapping or the column (and the
//! CSV line of a later row); good rows give the declarations they describe.
//!
//! CI runs `CASES` cases per property; by hand:
//! `PROPTEST_CASES=20000 cargo test --release -p riskgate --bin riskgate csv_map`.
//! Failing cases are kept in `proptest-regressions/csv_map/tests.txt`.

use std::collections::BTreeMap;

use proptest::prelude::*;
use proptest::sample::select;
use proptest::test_runner::Config;
use riskgate_core::Declaration;
use serde_json::Value;

use super::{Mapping, Source, Spec, read};

const CASES: u32 = 128;

fn config() -> Config {
    let mut c = Config::default();
    if std::env::var_os("PROPTEST_CASES").is_none() {
        c.cases = CASES;
    }
    c
}

const MAPPING: &str = r#"
group_by = "Declaration ID"
[header]
id = "Declaration ID"
declared_at = { column = "Date", format = "%Y-%m-%d", time = "09:00:00", offset = "+08:00" }
direction = { value = "import" }
office = "Office"
transport_mode = { column = "Mode", map = { "10" = "sea", "40" = "air" }, default = "other" }
trade_mode = { column = "Trade", pad = 4 }
"trader.id" = "Importer"
"declarant.id" = "Broker"
currency = { value = "USD" }
note = "Note"
[item]
hs_code = { column = "HS", pad = 6 }
origin = "Origin"
quantity = "Qty"
net_weight_kg = "Kg"
value = "Price"
duty_rate = { column = "Tax %", scale = 0.01 }
"#;

const HEADER: &[&str] = &[
    "Declaration ID",
    "Date",
    "Office",
    "Mode",
    "Trade",
    "Importer",
    "Broker",
    "HS",
    "Origin",
    "Qty",
    "Kg",
    "Price",
    "Tax %",
    "Note",
];

fn mapping() -> Mapping {
    let m: Mapping = toml::from_str(MAPPING).unwrap();
    m.check().unwrap();
    m
}

/// A good value for column `i` of `HEADER`.
fn good_cell(i: usize) -> BoxedStrategy<Vec<u8>> {
    let s: BoxedStrategy<String> = match i {
        0 => "C[0-3]".boxed(),
        1 => "20[0-9]{2}-0[1-9]-1[0-9]".boxed(),
        2 => Just("2201".to_string()).boxed(),
        3 => select(vec!["10", "40", "99"]).prop_map(str::to_string).boxed(),
        4 => "[0-9]{1,4}".boxed(),
        5 => "T[0-9]".boxed(),
        6 => "B[0-9]".boxed(),
        7 => "[0-9]{4,10}".boxed(),
        8 => "[A-Z]{2}".boxed(),
        9 => "[1-9][0-9]{0,4}(\\.[0-9]{1,3})?".boxed(),
        10 | 11 => "[0-9]{1,6}(\\.[0-9]{1,2})?".boxed(),
        12 => "[0-9]{1,2}".boxed(),
        _ => "[a-z ,\"海关]{0,10}".boxed(),
    };
    s.prop_map(String::into_bytes).boxed()
}

/// A cell that breaks something.
fn bad_cell() -> BoxedStrategy<Vec<u8>> {
    const CELLS: &[&[u8]] = &[
        b"",
        b" ",
        b"NaN",
        b"inf",
        b"-inf",
        b"1e999",
        b"-1e999",
        b"-0",
        b"1e15",
        b"-5",
        b"\"",
        b"a,b",
        b"two\nlines",
        b"cr\ronly",
        b"\xff",
        b"\xc3",
        b"\xe6\xb5",
        b"ok\xff\xfe",
        b"\xef\xbb\xbfbom",
        b"\x00\x1b[2J",
        "海关".as_bytes(),
        b"2026-02-30",
        b"99999-01-01",
        b"0000-01-01",
        b"85A7",
    ];
    prop_oneof![
        4 => select(CELLS).prop_map(<[u8]>::to_vec),
        1 => prop::collection::vec(any::<u8>(), 0..12),
        1 => (1usize..5000).prop_map(|n| vec![b'9'; n]),
    ]
    .boxed()
}

fn row() -> BoxedStrategy<Vec<Vec<u8>>> {
    let cells: Vec<BoxedStrategy<Vec<u8>>> =
        (0..HEADER.len()).map(|i| prop_oneof![6 => good_cell(i), 1 => bad_cell()].boxed()).collect();
    (cells, 1usize..=HEADER.len() + 2)
        .prop_map(|(mut cells, n)| {
            cells.resize(n, b"extra".to_vec());
            cells
        })
        .boxed()
}

/// Writes rows as CSV (cells quoted when they must be), some ending in
/// CRLF, some followed by a blank line; returns the text and the line each
/// row starts on.
fn write(rows: &[Vec<Vec<u8>>], crlf: &[bool], blank: &[bool]) -> (Vec<u8>, Vec<usize>) {
    let mut out = HEADER.join(",").into_bytes();
    out.push(b'\n');
    let mut starts = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        starts.push(1 + out.iter().filter(|b| **b == b'\n').count());
        let mut line = Vec::new();
        for (j, c) in r.iter().enumerate() {
            if j > 0 {
                line.push(b',');
            }
            if c.iter().any(|b| matches!(b, b',' | b'"' | b'\n' | b'\r')) || (r.len() == 1 && c.is_empty()) {
                line.push(b'"');
                for b in c {
                    if *b == b'"' {
                        line.push(b'"');
                    }
                    line.push(*b);
                }
                line.push(b'"');
            } else {
                line.extend_from_slice(c);
            }
        }
        out.extend_from_slice(&line);
        out.extend_from_slice(if crlf[i % crlf.len()] { b"\r\n" } else { b"\n" });
        if blank[i % blank.len()] {
            out.push(b'\n');
        }
    }
    (out, starts)
}

fn header_targets(m: &Mapping) -> Vec<String> {
    m.header.keys().cloned().collect()
}

/// A refusal names a mapped field, or the column of a row that is not
/// UTF-8, after `(CSV line N) ` for a row other than the first.
fn names_a_field(m: &Mapping, msg: &str, lines: &[usize]) -> Result<(), TestCaseError> {
    let rest = match msg.strip_prefix("(CSV line ") {
        Some(r) => {
            let (n, rest) = r.split_once(") ").ok_or_else(|| TestCaseError::fail(msg.to_string()))?;
            let n: usize = n.parse().map_err(|_| TestCaseError::fail(msg.to_string()))?;
            prop_assert!(lines.contains(&n), "{} names line {} of rows {:?}", msg, n, lines);
            rest
        }
        None => msg,
    };
    let field = rest.starts_with("not UTF-8 text: column ")
        || header_targets(m).iter().any(|t| rest.starts_with(&format!("{t}: ")))
        || (rest.starts_with("items[") && m.item.keys().any(|t| rest.contains(&format!("].{t}: "))));
    prop_assert!(field, "{:?} names no field", msg);
    prop_assert!(msg.chars().count() < 400 && !msg.chars().any(char::is_control), "{:?}", msg);
    Ok(())
}

/// Reads rows through `m`, checking line numbers, grouping and refusals.
fn check_rows(m: &Mapping, rows: &[Vec<Vec<u8>>], crlf: &[bool], blank: &[bool]) -> Result<(), TestCaseError> {
    let (text, starts) = write(rows, crlf, blank);
    let lines = read(m, &text[..]).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
    // One declaration per run of rows with the same group cell.
    let mut groups: Vec<Vec<usize>> = Vec::new();
    for (i, r) in rows.iter().enumerate() {
        let same = i > 0 && rows[i - 1].first() == r.first();
        if same {
            groups.last_mut().expect("a group").push(starts[i]);
        } else {
            groups.push(vec![starts[i]]);
        }
    }
    prop_assert_eq!(lines.len(), groups.len());
    for ((line, result), rows) in lines.iter().zip(&groups) {
        prop_assert_eq!(*line, rows[0]);
        match result {
            Err(msg) => names_a_field(m, msg, rows)?,
            Ok(v) => {
                prop_assert_eq!(v["items"].as_array().map(Vec::len), Some(rows.len()));
                // A cell gives a string or a finite number, never a null.
                prop_assert!(!has_null(v), "{}", v);
                if let Err(e) = Declaration::from_json(v) {
                    prop_assert!(!e.path.is_empty(), "{:?}", e);
                }
            }
        }
    }
    Ok(())
}

fn has_null(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Array(a) => a.iter().any(has_null),
        Value::Object(m) => m.values().any(has_null),
        _ => false,
    }
}

fn any_mapping() -> BoxedStrategy<Mapping> {
    let targets = prop_oneof![
        6 => select(vec![
            "id", "declared_at", "office", "transport_mode", "trader.id", "trader.name", "line", "quantity", "value",
            "hs_code", "attr", "deep.a.b",
        ]),
        1 => select(vec!["trader", "items", "items.x", "a..b", "", ".", "x.", "trader.id.x"]),
    ];
    let column: BoxedStrategy<String> =
        prop_oneof![4 => select(HEADER).prop_map(str::to_string), 1 => "\\PC{0,6}".boxed()].boxed();
    let spec = (
        (
            prop::option::weighted(0.9, column.clone()),
            prop::option::of("[a-z0-9.]{0,6}"),
            prop::collection::hash_map("[0-9]{1,2}", "[a-z]{0,4}", 0..3),
        ),
        (
            prop::option::of("[a-z0-9]{0,4}"),
            prop::option::of(select(vec![
                "%Y-%m-%d",
                "%d/%m/%Y",
                "%",
                "%Q",
                "%Y",
                "%s",
                "%+",
                "%.3f",
                "%Y-%m-%d %H:%M",
                "%e%%%j",
            ])),
            prop::option::of(select(vec!["09:00:00", "", "25:99", "T"])),
            prop::option::of(select(vec!["+08:00", "Z", "", "+99:00"])),
        ),
        (
            prop::option::of(prop_oneof![
                any::<f64>(),
                select(vec![0.01, 1.0, -1.0, 0.0, f64::NAN, f64::INFINITY, 1e300])
            ]),
            prop::option::of(select(vec![0usize, 4, 6, 64, 65, 1 << 40, usize::MAX])),
            prop::option::of("[A-Z-]{0,3}"),
        ),
    )
        .prop_map(|((column, value, map), (default, format, time, offset), (scale, pad, prefix))| Spec {
            column,
            value,
            map,
            default,
            format: format.map(str::to_string),
            time: time.map(str::to_string),
            offset: offset.map(str::to_string),
            scale,
            pad,
            prefix,
        });
    let source = prop_oneof![column.prop_map(Source::Column), spec.prop_map(|s| Source::Spec(Box::new(s)))];
    let section = prop::collection::btree_map(targets.prop_map(str::to_string), source, 0..6).boxed();
    (
        prop_oneof![4 => Just("Declaration ID".to_string()), 1 => select(HEADER).prop_map(str::to_string)],
        section.clone(),
        section,
        prop_oneof![6 => Just(','), 1 => select(vec![';', '\t', '|', '"', '\n', 'é', '，', '\0'])],
        any::<bool>(),
    )
        .prop_map(|(group_by, header, item, delimiter, historical)| Mapping {
            historical,
            group_by,
            header,
            item,
            delimiter,
        })
        .boxed()
}

proptest! {
    #![proptest_config(config())]

    /// Rows of every sort through the mapping of the CLI test.
    #[test]
    fn any_rows_map_or_are_refused_naming_line_and_field(
        rows in prop::collection::vec(row(), 0..12),
        crlf in prop::collection::vec(any::<bool>(), 1..4),
        blank in prop::collection::vec(prop::bool::weighted(0.1), 1..4),
    ) {
        check_rows(&mapping(), &rows, &crlf, &blank)?;
    }

    /// Any mapping, checked or not, over rows of every sort: no panic; a
    /// refused mapping names its key.
    #[test]
    fn any_mapping_never_panics(m in any_mapping(), rows in prop::collection::vec(row(), 0..6)) {
        if let Err(e) = m.check() {
            prop_assert!(e.starts_with("delimiter: ") || e.starts_with("header.") || e.starts_with("item."), "{}", e);
        }
        let (text, _) = write(&rows, &[false], &[false]);
        if let Ok(lines) = read(&m, &text[..]) {
            for (_, v) in lines {
                if let Ok(v) = v {
                    let _ = Declaration::from_json(&v);
                }
            }
        }
    }

    /// Good rows give the declarations they describe.
    #[test]
    fn good_rows_give_their_declarations(groups in prop::collection::vec(prop::collection::vec(
        ("[0-9]{4,10}", "[A-Z]{2}", 1u32..100_000, 0u32..1_000_000, 0u32..10_000_000, 0u32..100), 1..4), 1..6),
        day in 1u32..=28,
    ) {
        let mut rows = Vec::new();
        for (g, items) in groups.iter().enumerate() {
            for (hs, origin, qty, kg, price, tax) in items {
                let cells = [format!("C{g}"), format!("2026-03-{day:02}"), "2201".into(), "10".into(), "110".into(),
                    "T1".into(), "B1".into(), hs.clone(), origin.clone(), qty.to_string(), kg.to_string(),
                    price.to_string(), tax.to_string(), "n".into()];
                rows.push(cells.map(String::into_bytes).to_vec());
            }
        }
        let m = mapping();
        let (text, _) = write(&rows, &[false], &[false]);
        let lines = read(&m, &text[..]).map_err(|e| TestCaseError::fail(format!("{e:#}")))?;
        prop_assert_eq!(lines.len(), groups.len());
        for ((_, v), (g, items)) in lines.into_iter().zip(groups.iter().enumerate()) {
            let v = v.map_err(TestCaseError::fail)?;
            let d = Declaration::from_json(&v).map_err(|e| TestCaseError::fail(format!("{v}: {e}")))?;
            prop_assert_eq!(&d.id, &format!("C{g}"));
            prop_assert_eq!(d.declared_at.to_rfc3339(), format!("2026-03-{day:02}T09:00:00+08:00"));
            prop_assert_eq!(d.trade_mode.as_str(), "0110");
            prop_assert_eq!(d.attributes.get("note"), Some(&Value::from("n")));
            prop_assert_eq!(d.items.len(), items.len());
            for (it, (hs, origin, qty, kg, price, tax)) in d.items.iter().zip(items) {
                prop_assert_eq!(&it.hs_code, &format!("{hs:0>6}"));
                prop_assert_eq!(&it.origin, origin);
                prop_assert_eq!(it.quantity, f64::from(*qty));
                prop_assert_eq!(it.net_weight_kg, f64::from(*kg));
                prop_assert_eq!(it.value, f64::from(*price));
                prop_assert_eq!(it.duty_rate, f64::from(*tax) * 0.01);
            }
        }
    }
}

/// The bugs the properties found, as plain tests.
mod regressions {
    use super::*;

    fn lines(m: &Mapping, text: &[u8]) -> BTreeMap<usize, String> {
        read(m, text)
            .unwrap()
            .into_iter()
            .map(|(l, r)| (l, r.map_or_else(|e| e, |v| format!("ok {} item(s)", v["items"].as_array().unwrap().len()))))
            .collect()
    }

    fn row(id: &str, qty: &str, hs: &str) -> String {
        format!("{id},2026-03-01,2201,10,0110,T1,B1,{hs},VN,{qty},5,1000,10,n\n")
    }

    /// "NaN", "inf" and "1e999" parsed as numbers JSON cannot hold: the
    /// item got `null` and was refused as "field missing".
    #[test]
    fn numbers_json_cannot_hold_are_refused_as_such() {
        let text = HEADER.join(",")
            + "\n"
            + &row("A", "NaN", "851713")
            + &row("B", "1e999", "851713")
            + &row("C", "7", "851713");
        expect_test::expect![[r#"
            {
                2: "(CSV line 2) items[0].quantity: expected a finite number, got \"NaN\"",
                3: "(CSV line 3) items[0].quantity: expected a finite number, got \"1e999\"",
                4: "ok 1 item(s)",
            }
        "#]]
        .assert_debug_eq(&lines(&mapping(), text.as_bytes()));
    }

    /// A row that is not UTF-8 stopped the whole file (after earlier
    /// batches were stored): now only its declaration is refused, naming
    /// the line and column.
    #[test]
    fn a_row_that_is_not_utf8_refuses_its_declaration_only() {
        let mut text = (HEADER.join(",") + "\n" + &row("A", "1", "851713")).into_bytes();
        text.extend_from_slice(
            &row("A", "2", "85\u{1}7").into_bytes().iter().map(|b| if *b == 1 { 0xff } else { *b }).collect::<Vec<_>>(),
        );
        text.extend_from_slice(row("B", "3", "851713").as_bytes());
        text.extend_from_slice(
            &row("C", "4", "851713")
                .into_bytes()
                .iter()
                .map(|b| if *b == b'T' { 0xc3 } else { *b })
                .collect::<Vec<_>>(),
        );
        expect_test::expect![[r#"
            {
                2: "(CSV line 3) not UTF-8 text: column \"HS\" has a bad byte at offset 2 of the cell (the row starts at offset 144 of the file); the file must be UTF-8",
                4: "ok 1 item(s)",
                5: "not UTF-8 text: column \"Importer\" has a bad byte at offset 0 of the cell (the row starts at offset 254 of the file); the file must be UTF-8",
            }
        "#]]
        .assert_debug_eq(&lines(&mapping(), &text));
    }

    /// Lines were counted by records, so a quoted cell spanning lines or a
    /// blank line shifted every later line number (and the csv crate's own
    /// positions lag after a blank line or a CRLF).
    #[test]
    fn line_numbers_count_lines_not_records() {
        let text = HEADER.join(",")
            + "\r\n"
            + &row("A", "1", "851713").replace(",n\n", ",\"two\nlines\"\r\n")
            + "\n"
            + &row("B", "x", "851713");
        expect_test::expect![[r#"
            {
                2: "ok 1 item(s)",
                5: "(CSV line 5) items[0].quantity: expected a number, got \"x\"",
            }
        "#]]
        .assert_debug_eq(&lines(&mapping(), text.as_bytes()));
    }

    /// A mapping that could not work was taken as it came: `pad = 1e18`
    /// tried to allocate an exabyte of zeros, a non-ASCII delimiter was cut
    /// to its low byte, `scale = nan` nulled every number, and
    /// `"trader" = …` beside `"trader.id" = …` dropped one silently.
    #[test]
    fn a_mapping_that_cannot_work_is_refused_naming_its_key() {
        let refusal = |extra: &str| {
            let text = MAPPING.replacen("[header]\n", &format!("[header]\n{extra}\n"), 1);
            let text = if extra.starts_with("delimiter") { format!("{extra}\n{}", MAPPING) } else { text };
            match toml::from_str::<Mapping>(&text) {
                Ok(m) => m.check().unwrap_err(),
                Err(e) => format!("toml: {e}"),
            }
        };
        expect_test::expect![[r#"
            [
                "header.\"x\".pad: expected at most 64, got 1000000000000000000",
                "header.\"x\".scale: expected a finite number, got NaN",
                "header.\"trader\": mapped as a value, but \"trader.id\" maps a field inside it",
                "header.\"a..b\": expected a field path such as \"trader.id\", with no empty part",
                "header.\"items\": items come from the [item] section",
                "header.\"x\": expected `column` or `value`",
                "delimiter: expected one ASCII character other than a quote or a line end, got '，'",
            ]
        "#]]
        .assert_debug_eq(&[
            refusal("x = { column = \"Note\", pad = 1000000000000000000 }"),
            refusal("x = { column = \"Note\", scale = nan }"),
            refusal("trader = \"Importer\""),
            refusal("\"a..b\" = \"Note\""),
            refusal("items = \"Note\""),
            refusal("x = { prefix = \"P\" }"),
            refusal("delimiter = \"，\""),
        ]);
        // Unchecked, a huge pad is still bounded.
        let spec = Source::Spec(Box::new(Spec { column: Some("HS".into()), pad: Some(usize::MAX), ..Spec::default() }));
        let row = csv::StringRecord::from(vec!["8517"]);
        let v = super::super::resolve(&spec, &row, &[("HS".to_string(), 0)].into(), "hs_code").unwrap().unwrap();
        assert_eq!(v.as_str().unwrap().len(), super::super::MAX_PAD);
    }
}
