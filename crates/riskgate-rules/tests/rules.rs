//! The crate's one integration-test binary: evaluation corpus, error corpus, index
//! equivalence, size limits on a small stack, canonical form, and property tests.

use expect_test::{Expect, expect};
use riskgate_rules::limits::{MAX_DEPTH, MAX_NODES, MAX_SET_LEN, MAX_SOURCE_LEN, MAX_STRING_LEN};
use riskgate_rules::{CompiledRule, Facts, Lists, RuleErrorKind, RuleSet, Schema, Scope, Type, canonical, compile};

fn schema() -> Schema {
    let mut s = Schema::new();
    for (name, ty) in [
        ("trade_mode", Type::Text),
        ("transport_mode", Type::Text),
        ("trader.id", Type::Text),
        ("trader.credit_class", Type::Text),
        ("trader.finding_rate", Type::Number),
        ("trader.age_days", Type::Number),
        ("declarant.finding_rate", Type::Number),
        ("forex.paid_ratio", Type::Number),
        ("total_value", Type::Number),
        ("first_time", Type::Bool),
        ("item.hs_code", Type::Text),
        ("item.unit_value", Type::Number),
        ("item.ref.median", Type::Number),
        ("item.origin", Type::Text),
        ("item.value_cny", Type::Number),
        ("item.dangerous", Type::Bool),
        ("item.name", Type::Text),
    ] {
        // `item.…` fields are per item, the others per declaration.
        s.field(name, if name.starts_with("item.") { Scope::Item } else { Scope::Header }, ty);
    }
    s
}

fn lists() -> Lists {
    let mut l = Lists::new();
    l.set("watch_traders", ["T1", "T2"].map(String::from));
    l.set("hs_watch", ["8517", "8471"].map(String::from));
    l
}

/// Fills `facts` from `"field=value ... | item.field=value ... | ..."`: the
/// first segment is the header, every further one an item line.
fn fill(schema: &Schema, facts: &mut Facts, spec: &str) {
    facts.clear();
    for (n, segment) in spec.split('|').enumerate() {
        let item = (n > 0).then(|| facts.push_item());
        for pair in segment.split_whitespace() {
            let (name, value) = pair.split_once('=').expect("field=value");
            let (id, _, ty) = schema.lookup(name).unwrap_or_else(|| panic!("{name}"));
            match (item, ty) {
                (None, Type::Number) => facts.set_num(id, value.parse().unwrap()),
                (None, Type::Text) => facts.set_text(id, value),
                (None, Type::Bool) => facts.set_bool(id, value.parse().unwrap()),
                (Some(i), Type::Number) => facts.set_item_num(i, id, value.parse().unwrap()),
                (Some(i), Type::Text) => facts.set_item_text(i, id, value),
                (Some(i), Type::Bool) => facts.set_item_bool(i, id, value.parse().unwrap()),
            }
        }
    }
}

/// Evaluates each `(rule, facts)` case and snapshots `result  rule  @ facts`.
fn check_eval(cases: &[(&str, &str)], expect: Expect) {
    let schema = schema();
    let lists = lists();
    let mut facts = Facts::new(&schema);
    let mut out = String::new();
    for (rule, spec) in cases {
        let compiled = compile(rule, &schema, &lists).unwrap_or_else(|e| panic!("{rule}: {e}"));
        fill(&schema, &mut facts, spec);
        let result = compiled.eval(&facts);
        out.push_str(&format!("{result:<5}  {rule}  @ {spec}\n"));
    }
    expect.assert_eq(&out);
}

#[test]
fn literals_and_comparisons() {
    check_eval(
        &[
            ("trader.finding_rate > 0.2", "trader.finding_rate=0.3"),
            ("trader.finding_rate > 0.2", "trader.finding_rate=0.2"),
            ("trader.finding_rate >= 0.2", "trader.finding_rate=0.2"),
            ("trader.finding_rate <= 0.2", "trader.finding_rate=0.2"),
            ("trader.finding_rate < 0.2", "trader.finding_rate=0.1"),
            ("total_value == 100_000", "total_value=100000"),
            ("total_value == 1e6", "total_value=1000000"),
            ("total_value != 1.5e-3", "total_value=0.0015"),
            ("trade_mode == \"0110\"", "trade_mode=0110"),
            ("trade_mode != \"0110\"", "trade_mode=0615"),
            ("\"0110\" == trade_mode", "trade_mode=0110"),
            ("trader.credit_class == \"高级认证\"", "trader.credit_class=高级认证"),
            ("\"a\\\"b\\\\\" == \"a\\\"b\\\\\"", ""),
            ("true", ""),
            ("false", ""),
            ("first_time", "first_time=true"),
            ("first_time == false", "first_time=false"),
            ("first_time != (total_value > 5)", "first_time=true total_value=1"),
        ],
        expect![[r#"
            true   trader.finding_rate > 0.2  @ trader.finding_rate=0.3
            false  trader.finding_rate > 0.2  @ trader.finding_rate=0.2
            true   trader.finding_rate >= 0.2  @ trader.finding_rate=0.2
            true   trader.finding_rate <= 0.2  @ trader.finding_rate=0.2
            true   trader.finding_rate < 0.2  @ trader.finding_rate=0.1
            true   total_value == 100_000  @ total_value=100000
            true   total_value == 1e6  @ total_value=1000000
            false  total_value != 1.5e-3  @ total_value=0.0015
            true   trade_mode == "0110"  @ trade_mode=0110
            true   trade_mode != "0110"  @ trade_mode=0615
            true   "0110" == trade_mode  @ trade_mode=0110
            true   trader.credit_class == "高级认证"  @ trader.credit_class=高级认证
            true   "a\"b\\" == "a\"b\\"  @ 
            true   true  @ 
            false  false  @ 
            true   first_time  @ first_time=true
            true   first_time == false  @ first_time=false
            true   first_time != (total_value > 5)  @ first_time=true total_value=1
        "#]],
    );
}

#[test]
fn arithmetic_and_logic() {
    check_eval(
        &[
            ("total_value + 1 * 2 == 12", "total_value=10"),
            ("(total_value + 1) * 2 == 22", "total_value=10"),
            ("total_value / 4 == 2.5", "total_value=10"),
            ("-total_value < -5", "total_value=10"),
            ("10 - 2 - 3 == 5", ""),
            ("abs(total_value - 100) < 1", "total_value=100.5"),
            ("min(total_value, 3) == 3 and max(total_value, 3) == 10", "total_value=10"),
            ("total_value > 5 and trade_mode == \"0110\"", "total_value=10 trade_mode=0615"),
            ("total_value > 5 or trade_mode == \"0110\"", "total_value=10 trade_mode=0615"),
            ("not trade_mode == \"0110\"", "trade_mode=0615"),
            ("not not first_time", "first_time=true"),
            ("false or true and false", ""),
            ("(false or true) and true", ""),
            ("forex.paid_ratio > 1.3   # paid abroad 30% more than declared", "forex.paid_ratio=1.5"),
            ("# leading comment\ntotal_value > 1 # trailing\n  and\n  total_value < 100", "total_value=50"),
        ],
        expect![[r#"
            true   total_value + 1 * 2 == 12  @ total_value=10
            true   (total_value + 1) * 2 == 22  @ total_value=10
            true   total_value / 4 == 2.5  @ total_value=10
            true   -total_value < -5  @ total_value=10
            true   10 - 2 - 3 == 5  @ 
            true   abs(total_value - 100) < 1  @ total_value=100.5
            true   min(total_value, 3) == 3 and max(total_value, 3) == 10  @ total_value=10
            false  total_value > 5 and trade_mode == "0110"  @ total_value=10 trade_mode=0615
            true   total_value > 5 or trade_mode == "0110"  @ total_value=10 trade_mode=0615
            true   not trade_mode == "0110"  @ trade_mode=0615
            true   not not first_time  @ first_time=true
            false  false or true and false  @ 
            true   (false or true) and true  @ 
            true   forex.paid_ratio > 1.3   # paid abroad 30% more than declared  @ forex.paid_ratio=1.5
            true   # leading comment
            total_value > 1 # trailing
              and
              total_value < 100  @ total_value=50
        "#]],
    );
}

#[test]
fn sets_lists_and_prefixes() {
    check_eval(
        &[
            ("trade_mode in [\"0110\", \"0615\"]", "trade_mode=0615"),
            ("trade_mode in [\"0110\", \"0615\"]", "trade_mode=9610"),
            ("trade_mode not in [\"0110\", \"0615\"]", "trade_mode=9610"),
            ("trade_mode in []", "trade_mode=9610"),
            ("trade_mode in [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\",\"g\",\"h\",\"i\",\"9610\",]", "trade_mode=9610"),
            ("total_value in [1, 2.5, -3]", "total_value=-3"),
            ("total_value not in [1, 2.5, -3]", "total_value=2"),
            ("trader.id in list(\"watch_traders\")", "trader.id=T2"),
            ("trader.id in list(\"watch_traders\")", "trader.id=T3"),
            ("trader.id not in list(\"watch_traders\")", "trader.id=T3"),
            ("trader.id starts_with \"T\"", "trader.id=T3"),
            ("any(item: item.hs_code starts_with \"8517\")", "| item.hs_code=85171200"),
            ("any(item: item.hs_code starts_with \"8517\")", "| item.hs_code=851"),
            ("any(item: item.hs_code starts_with [\"8471\", \"8517\"])", "| item.hs_code=84713000"),
            ("any(item: item.hs_code starts_with list(\"hs_watch\"))", "| item.hs_code=85176200"),
            ("any(item: item.hs_code starts_with list(\"hs_watch\"))", "| item.hs_code=8517"),
            ("any(item: item.hs_code starts_with list(\"hs_watch\"))", "| item.hs_code=85"),
            ("any(item: item.name starts_with \"手机\")", "| item.name=手机壳"),
        ],
        expect![[r#"
            true   trade_mode in ["0110", "0615"]  @ trade_mode=0615
            false  trade_mode in ["0110", "0615"]  @ trade_mode=9610
            true   trade_mode not in ["0110", "0615"]  @ trade_mode=9610
            false  trade_mode in []  @ trade_mode=9610
            true   trade_mode in ["a","b","c","d","e","f","g","h","i","9610",]  @ trade_mode=9610
            true   total_value in [1, 2.5, -3]  @ total_value=-3
            true   total_value not in [1, 2.5, -3]  @ total_value=2
            true   trader.id in list("watch_traders")  @ trader.id=T2
            false  trader.id in list("watch_traders")  @ trader.id=T3
            true   trader.id not in list("watch_traders")  @ trader.id=T3
            true   trader.id starts_with "T"  @ trader.id=T3
            true   any(item: item.hs_code starts_with "8517")  @ | item.hs_code=85171200
            false  any(item: item.hs_code starts_with "8517")  @ | item.hs_code=851
            true   any(item: item.hs_code starts_with ["8471", "8517"])  @ | item.hs_code=84713000
            true   any(item: item.hs_code starts_with list("hs_watch"))  @ | item.hs_code=85176200
            true   any(item: item.hs_code starts_with list("hs_watch"))  @ | item.hs_code=8517
            false  any(item: item.hs_code starts_with list("hs_watch"))  @ | item.hs_code=85
            true   any(item: item.name starts_with "手机")  @ | item.name=手机壳
        "#]],
    );
}

#[test]
fn quantifiers() {
    check_eval(
        &[
            ("any(item: item.origin == \"KP\")", "| item.origin=CN | item.origin=KP"),
            ("any(item: item.origin == \"KP\")", "| item.origin=CN"),
            ("any(item: item.origin == \"KP\")", ""),
            ("all(item: item.origin == \"CN\")", "| item.origin=CN | item.origin=CN"),
            ("all(item: item.origin == \"CN\")", "| item.origin=CN | item.origin=KP"),
            ("all(item: item.origin == \"CN\")", ""),
            ("count(item: item.origin in [\"KP\", \"IR\"]) >= 1", "| item.origin=IR | item.origin=CN"),
            ("count(item: item.origin in [\"KP\", \"IR\"]) == 2", "| item.origin=IR | item.origin=KP | item.origin=CN"),
            ("count(item: true) == 0", ""),
            ("sum(item: item.value_cny) > 50000", "| item.value_cny=30000 | item.value_cny=30000"),
            ("sum(item: item.value_cny) == 30000", "| item.value_cny=30000 | item.origin=CN"),
            ("sum(item: item.value_cny) == 0", ""),
            (
                "sum(item: item.value_cny * 2) / count(item: true) == 30000",
                "| item.value_cny=10000 | item.value_cny=20000",
            ),
            ("any(item: item.dangerous)", "| item.dangerous=false | item.dangerous=true"),
            ("any(item: item.unit_value < trader.finding_rate)", "trader.finding_rate=1 | item.unit_value=0.5"),
            (
                "trade_mode == \"0110\" and any(item: item.hs_code starts_with \"8517\" and item.unit_value < 0.5 * item.ref.median)",
                "trade_mode=0110 | item.hs_code=85171200 item.unit_value=10 item.ref.median=100",
            ),
            (
                "trade_mode == \"0110\" and any(item: item.hs_code starts_with \"8517\" and item.unit_value < 0.5 * item.ref.median)",
                "trade_mode=0110 | item.hs_code=85171200 item.unit_value=60 item.ref.median=100 | item.hs_code=94011000 item.unit_value=1 item.ref.median=100",
            ),
            (
                "trader.id in list(\"watch_traders\") or declarant.finding_rate > 0.2",
                "trader.id=T9 declarant.finding_rate=0.25",
            ),
            (
                "transport_mode == \"post\" and sum(item: item.value_cny) > 50000 and trader.age_days < 90",
                "transport_mode=post trader.age_days=30 | item.value_cny=40000 | item.value_cny=20000",
            ),
        ],
        expect![[r#"
            true   any(item: item.origin == "KP")  @ | item.origin=CN | item.origin=KP
            false  any(item: item.origin == "KP")  @ | item.origin=CN
            false  any(item: item.origin == "KP")  @ 
            true   all(item: item.origin == "CN")  @ | item.origin=CN | item.origin=CN
            false  all(item: item.origin == "CN")  @ | item.origin=CN | item.origin=KP
            true   all(item: item.origin == "CN")  @ 
            true   count(item: item.origin in ["KP", "IR"]) >= 1  @ | item.origin=IR | item.origin=CN
            true   count(item: item.origin in ["KP", "IR"]) == 2  @ | item.origin=IR | item.origin=KP | item.origin=CN
            true   count(item: true) == 0  @ 
            true   sum(item: item.value_cny) > 50000  @ | item.value_cny=30000 | item.value_cny=30000
            true   sum(item: item.value_cny) == 30000  @ | item.value_cny=30000 | item.origin=CN
            true   sum(item: item.value_cny) == 0  @ 
            true   sum(item: item.value_cny * 2) / count(item: true) == 30000  @ | item.value_cny=10000 | item.value_cny=20000
            true   any(item: item.dangerous)  @ | item.dangerous=false | item.dangerous=true
            true   any(item: item.unit_value < trader.finding_rate)  @ trader.finding_rate=1 | item.unit_value=0.5
            true   trade_mode == "0110" and any(item: item.hs_code starts_with "8517" and item.unit_value < 0.5 * item.ref.median)  @ trade_mode=0110 | item.hs_code=85171200 item.unit_value=10 item.ref.median=100
            false  trade_mode == "0110" and any(item: item.hs_code starts_with "8517" and item.unit_value < 0.5 * item.ref.median)  @ trade_mode=0110 | item.hs_code=85171200 item.unit_value=60 item.ref.median=100 | item.hs_code=94011000 item.unit_value=1 item.ref.median=100
            true   trader.id in list("watch_traders") or declarant.finding_rate > 0.2  @ trader.id=T9 declarant.finding_rate=0.25
            true   transport_mode == "post" and sum(item: item.value_cny) > 50000 and trader.age_days < 90  @ transport_mode=post trader.age_days=30 | item.value_cny=40000 | item.value_cny=20000
        "#]],
    );
}

#[test]
fn missing_values() {
    check_eval(
        &[
            ("missing(total_value)", ""),
            ("present(total_value)", ""),
            ("present(total_value)", "total_value=0"),
            ("total_value < 3", ""),
            ("total_value >= 3", ""),
            ("total_value == 3", ""),
            ("total_value != 3", ""),
            ("not (total_value < 3)", ""),
            ("present(total_value) and not (total_value < 3)", ""),
            ("total_value + 1 > 0", ""),
            ("abs(total_value) >= 0", ""),
            ("-total_value <= 0", ""),
            ("total_value / 0 > 0", "total_value=1"),
            ("not (total_value / 0 > 0)", "total_value=1"),
            ("trade_mode == \"0110\"", ""),
            ("trade_mode != \"0110\"", ""),
            ("trade_mode in [\"0110\"]", ""),
            ("trade_mode not in [\"0110\"]", ""),
            ("trader.id in list(\"watch_traders\")", ""),
            ("trader.id not in list(\"watch_traders\")", ""),
            ("trader.id starts_with \"T\"", ""),
            ("first_time", ""),
            ("not first_time", ""),
            ("first_time == false", ""),
            ("first_time != true", ""),
            ("any(item: missing(item.unit_value))", "| item.hs_code=1"),
            ("any(item: item.unit_value < 1)", "| item.hs_code=1"),
            ("all(item: present(item.unit_value))", "| item.unit_value=1 | item.hs_code=1"),
            ("count(item: item.unit_value > 0) == 1", "| item.unit_value=1 | item.hs_code=1"),
            ("sum(item: item.unit_value) == 1", "| item.unit_value=1 | item.hs_code=1"),
        ],
        expect![[r#"
            true   missing(total_value)  @ 
            false  present(total_value)  @ 
            true   present(total_value)  @ total_value=0
            false  total_value < 3  @ 
            false  total_value >= 3  @ 
            false  total_value == 3  @ 
            false  total_value != 3  @ 
            true   not (total_value < 3)  @ 
            false  present(total_value) and not (total_value < 3)  @ 
            false  total_value + 1 > 0  @ 
            false  abs(total_value) >= 0  @ 
            false  -total_value <= 0  @ 
            false  total_value / 0 > 0  @ total_value=1
            true   not (total_value / 0 > 0)  @ total_value=1
            false  trade_mode == "0110"  @ 
            false  trade_mode != "0110"  @ 
            false  trade_mode in ["0110"]  @ 
            false  trade_mode not in ["0110"]  @ 
            false  trader.id in list("watch_traders")  @ 
            false  trader.id not in list("watch_traders")  @ 
            false  trader.id starts_with "T"  @ 
            false  first_time  @ 
            true   not first_time  @ 
            false  first_time == false  @ 
            false  first_time != true  @ 
            true   any(item: missing(item.unit_value))  @ | item.hs_code=1
            false  any(item: item.unit_value < 1)  @ | item.hs_code=1
            false  all(item: present(item.unit_value))  @ | item.unit_value=1 | item.hs_code=1
            true   count(item: item.unit_value > 0) == 1  @ | item.unit_value=1 | item.hs_code=1
            true   sum(item: item.unit_value) == 1  @ | item.unit_value=1 | item.hs_code=1
        "#]],
    );
}

/// Compiles each rule, which must fail, and snapshots `rule` then the error.
fn check_errors(rules: &[&str], expect: Expect) {
    let schema = schema();
    let lists = lists();
    let mut out = String::new();
    for rule in rules {
        match compile(rule, &schema, &lists) {
            Ok(_) => panic!("compiled but should not: {rule}"),
            Err(e) => out.push_str(&format!("{rule:?}\n    {e}\n")),
        }
    }
    expect.assert_eq(&out);
}

#[test]
fn syntax_errors() {
    check_errors(
        &[
            "",
            "trade_mode ==",
            "trade_mode = \"0110\"",
            "(total_value > 1",
            "total_value > 1)",
            "total_value > 1 total_value",
            "trade_mode == \"0110",
            "trade_mode == \"a\\n\"",
            "total_value > 1x",
            "total_value > 1 and and total_value < 3",
            "1 < total_value < 3",
            "trade_mode in \"0110\"",
            "trade_mode in [\"a\" \"b\"]",
            "trade_mode in [trade_mode]",
            "trade_mode in list(watch_traders)",
            "foo(total_value) > 1",
            "any(x: item.hs_code == \"1\")",
            "any(item item.hs_code == \"1\")",
            "min(total_value) > 1",
            "missing(1)",
            "total_value > 1 $",
            "total_value != 1 and\n  ! first_time",
            "total_value > 1\n  and trader.age_days <\n  # nothing after the operator\n",
        ],
        expect![[r#"
            ""
                line 1, column 1: expected an expression, found end of input
            "trade_mode =="
                line 1, column 14: expected an expression, found end of input
            "trade_mode = \"0110\""
                line 1, column 12: unexpected `=`; use `==` to compare
            "(total_value > 1"
                line 1, column 17: expected `)`, found end of input
            "total_value > 1)"
                line 1, column 16: expected end of rule, found `)`
            "total_value > 1 total_value"
                line 1, column 17: expected end of rule, found `total_value`
            "trade_mode == \"0110"
                line 1, column 15: unterminated string
            "trade_mode == \"a\\n\""
                line 1, column 17: unknown escape; only `\"` and `\\` are allowed
            "total_value > 1x"
                line 1, column 15: malformed number `1x`
            "total_value > 1 and and total_value < 3"
                line 1, column 21: expected an expression, found `and`
            "1 < total_value < 3"
                line 1, column 17: comparisons cannot be chained; join them with `and` (found `<`)
            "trade_mode in \"0110\""
                line 1, column 15: expected `[...]` or `list("...")`, found `"0110"`
            "trade_mode in [\"a\" \"b\"]"
                line 1, column 20: expected `,` or `]`, found `"b"`
            "trade_mode in [trade_mode]"
                line 1, column 16: expected a number or string literal, found `trade_mode`
            "trade_mode in list(watch_traders)"
                line 1, column 20: expected a list name in double quotes, found `watch_traders`
            "foo(total_value) > 1"
                line 1, column 1: unknown function `foo`; known: abs, min, max, any, all, count, sum, missing, present
            "any(x: item.hs_code == \"1\")"
                line 1, column 5: expected `item:`, found `x`
            "any(item item.hs_code == \"1\")"
                line 1, column 10: expected `:`, found `item.hs_code`
            "min(total_value) > 1"
                line 1, column 16: expected `,`, found `)`
            "missing(1)"
                line 1, column 9: expected a field name, found `1`
            "total_value > 1 $"
                line 1, column 17: unexpected character `$`
            "total_value != 1 and\n  ! first_time"
                line 2, column 3: unexpected `!`; use `not` or `!=`
            "total_value > 1\n  and trader.age_days <\n  # nothing after the operator\n"
                line 4, column 1: expected an expression, found end of input
        "#]],
    );
}

#[test]
fn name_and_type_errors() {
    check_errors(
        &[
            "trade_mod == \"0110\"",
            "trader.finding_rat > 0.2",
            "completely_unknown > 1",
            "item.hs_code == \"8517\"",
            "trade_mode == \"0110\" and\n    item.unit_value < 3",
            "any(item: count(item: item.unit_value > 1) > 0)",
            "trader.id in list(\"watch_trader\")",
            "total_value in list(\"watch_traders\")",
            "trade_mode == 110",
            "total_value == \"110\"",
            "trade_mode < \"0110\"",
            "first_time < true",
            "total_value and first_time",
            "first_time or trade_mode",
            "not total_value",
            "trade_mode + 1 > 2",
            "-first_time",
            "abs(trade_mode) > 1",
            "total_value",
            "trade_mode",
            "sum(item: item.hs_code) > 1",
            "any(item: item.unit_value)",
            "trade_mode in [\"0110\", 1]",
            "total_value in [1, \"2\"]",
            "first_time in [1]",
            "total_value starts_with \"1\"",
            "trade_mode starts_with [1]",
            "total_value > 1 and\n  trade_mode == \"0110\" and\n      trader.credit_class > 2",
        ],
        expect![[r#"
            "trade_mod == \"0110\""
                line 1, column 1: unknown field `trade_mod`; did you mean `trade_mode`?
            "trader.finding_rat > 0.2"
                line 1, column 1: unknown field `trader.finding_rat`; did you mean `trader.finding_rate`?
            "completely_unknown > 1"
                line 1, column 1: unknown field `completely_unknown`
            "item.hs_code == \"8517\""
                line 1, column 1: item field `item.hs_code` can only be used inside any(item: ...), all(item: ...), count(item: ...) or sum(item: ...)
            "trade_mode == \"0110\" and\n    item.unit_value < 3"
                line 2, column 5: item field `item.unit_value` can only be used inside any(item: ...), all(item: ...), count(item: ...) or sum(item: ...)
            "any(item: count(item: item.unit_value > 1) > 0)"
                line 1, column 11: quantifiers cannot be nested
            "trader.id in list(\"watch_trader\")"
                line 1, column 19: unknown list "watch_trader"; known lists: hs_watch, watch_traders
            "total_value in list(\"watch_traders\")"
                line 1, column 21: lists hold text; a number cannot be looked up in a list
            "trade_mode == 110"
                line 1, column 12: cannot compare text with number
            "total_value == \"110\""
                line 1, column 13: cannot compare number with text
            "trade_mode < \"0110\""
                line 1, column 12: `<` needs numbers, found text operands
            "first_time < true"
                line 1, column 12: `<` needs numbers, found bool operands
            "total_value and first_time"
                line 1, column 1: `and` needs a condition, found number
            "first_time or trade_mode"
                line 1, column 15: `or` needs a condition, found text
            "not total_value"
                line 1, column 5: `not` needs a condition, found number
            "trade_mode + 1 > 2"
                line 1, column 1: `+` needs a number, found text
            "-first_time"
                line 1, column 2: unary `-` needs a number, found bool
            "abs(trade_mode) > 1"
                line 1, column 5: `abs` needs a number, found text
            "total_value"
                line 1, column 1: a rule must be a condition, found number
            "trade_mode"
                line 1, column 1: a rule must be a condition, found text
            "sum(item: item.hs_code) > 1"
                line 1, column 11: `sum` needs a number, found text
            "any(item: item.unit_value)"
                line 1, column 11: `any` needs a condition, found number
            "trade_mode in [\"0110\", 1]"
                line 1, column 24: expected a text literal, found number
            "total_value in [1, \"2\"]"
                line 1, column 20: expected a number literal, found text
            "first_time in [1]"
                line 1, column 12: `in` needs a number or text, found bool
            "total_value starts_with \"1\""
                line 1, column 13: `starts_with` needs text, found number
            "trade_mode starts_with [1]"
                line 1, column 25: `starts_with` prefixes must be text, found number
            "total_value > 1 and\n  trade_mode == \"0110\" and\n      trader.credit_class > 2"
                line 3, column 27: cannot compare text with number
        "#]],
    );
}

/// Runs `f` on a thread with a 256 KiB stack (a tenth of a Tokio worker's), to
/// show that the limits keep parsing, compiling and evaluating within it.
fn on_small_stack<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
    std::thread::Builder::new().stack_size(256 * 1024).spawn(f).expect("spawn").join().expect("no panic")
}

/// Inputs that used to overflow the stack (and abort the process) or to make
/// evaluation slow: each must be refused with a limit error at a position.
#[test]
fn oversized_rules_are_refused_with_a_limit_error() {
    let cases: Vec<(&str, String)> = vec![
        ("1,000 nested parentheses", format!("{}first_time{}", "(".repeat(1_000), ")".repeat(1_000))),
        ("30,000 nested parentheses", format!("{}first_time{}", "(".repeat(30_000), ")".repeat(30_000))),
        ("100,000 nested parentheses", format!("{}first_time{}", "(".repeat(100_000), ")".repeat(100_000))),
        ("2,000 `not`s", format!("{}first_time", "not ".repeat(2_000))),
        ("16,000 `not`s", format!("{}first_time", "not ".repeat(16_000))),
        ("100,000 `not`s", format!("{}first_time", "not ".repeat(100_000))),
        ("2,000 unary minuses", format!("{}total_value < 0", "-".repeat(2_000))),
        ("1,000 nested calls", format!("{}total_value{} > 0", "abs(".repeat(1_000), ")".repeat(1_000))),
        (
            "1,000 nested quantifier bodies",
            format!("any(item: {}item.dangerous{})", "(".repeat(1_000), ")".repeat(1_000)),
        ),
        ("a 10,000-term sum", format!("total_value{} > 0", " + 1".repeat(10_000))),
        ("a 10,000-factor product", format!("total_value{} > 0", " * 1".repeat(10_000))),
        ("a set of 10,001 strings", format!("trade_mode in [{}]", "\"a\",".repeat(10_001))),
        ("150,000 prefixes", format!("trader.id starts_with [{}]", "\"T\",".repeat(150_000))),
        ("18,000 nodes", format!("{}false", "0 < 1 or ".repeat(6_000))),
        ("a 1,025-byte string", format!("trade_mode == \"{}\"", "a".repeat(1_025))),
        ("a 100,000-byte rule", format!("first_time{}", " ".repeat(100_000))),
        ("a 100,000-byte rule on line 3", format!("first_time\n\n{}", "中".repeat(30_000))),
    ];
    let out = on_small_stack(move || {
        let schema = schema();
        let lists = lists();
        let mut out = String::new();
        for (name, rule) in &cases {
            match compile(rule, &schema, &lists) {
                Ok(_) => panic!("{name}: compiled but should not"),
                Err(e) => {
                    assert_eq!(e.kind, RuleErrorKind::Limit, "{name}: {e}");
                    out.push_str(&format!("{name}: {} {e}\n", e.kind));
                }
            }
        }
        out
    });
    expect![[r#"
        1,000 nested parentheses: rule.limit line 1, column 65: nested too deeply; the limit is 64 levels
        30,000 nested parentheses: rule.limit line 1, column 65: nested too deeply; the limit is 64 levels
        100,000 nested parentheses: rule.limit line 1, column 65537: rule text is 200010 bytes long; the limit is 65536 bytes
        2,000 `not`s: rule.limit line 1, column 257: nested too deeply; the limit is 64 levels
        16,000 `not`s: rule.limit line 1, column 257: nested too deeply; the limit is 64 levels
        100,000 `not`s: rule.limit line 1, column 65537: rule text is 400010 bytes long; the limit is 65536 bytes
        2,000 unary minuses: rule.limit line 1, column 65: nested too deeply; the limit is 64 levels
        1,000 nested calls: rule.limit line 1, column 257: nested too deeply; the limit is 64 levels
        1,000 nested quantifier bodies: rule.limit line 1, column 74: nested too deeply; the limit is 64 levels
        a 10,000-term sum: rule.limit line 1, column 269: nested too deeply; the limit is 64 levels
        a 10,000-factor product: rule.limit line 1, column 269: nested too deeply; the limit is 64 levels
        a set of 10,001 strings: rule.limit line 1, column 40016: too many elements; the limit is 10000 per set
        150,000 prefixes: rule.limit line 1, column 65537: rule text is 600024 bytes long; the limit is 65536 bytes
        18,000 nodes: rule.limit line 1, column 49154: rule is too large; the limit is 16384 nodes
        a 1,025-byte string: rule.limit line 1, column 15: string literal is longer than the limit of 1024 bytes
        a 100,000-byte rule: rule.limit line 1, column 65537: rule text is 100010 bytes long; the limit is 65536 bytes
        a 100,000-byte rule on line 3: rule.limit line 3, column 21843: rule text is 90012 bytes long; the limit is 65536 bytes
    "#]].assert_eq(&out);
}

/// Each row builds a rule of size `n`; the rule at the row's limit compiles and
/// evaluates to `expected` on a small stack, and one step more is refused.
#[test]
fn rules_at_the_limits_compile_and_one_more_does_not() {
    type Shape = (&'static str, fn(usize) -> String, usize, bool);
    let shapes: &[Shape] = &[
        ("parentheses", |n| format!("{}first_time{}", "(".repeat(n), ")".repeat(n)), MAX_DEPTH, true),
        ("not", |n| format!("{}first_time", "not ".repeat(n)), MAX_DEPTH, true),
        // The comparison above the operand is one more level.
        ("unary minus", |n| format!("{}total_value < 0", "-".repeat(n)), MAX_DEPTH - 1, true),
        ("abs", |n| format!("{}total_value{} >= 2", "abs(".repeat(n), ")".repeat(n)), MAX_DEPTH - 1, true),
        ("sum chain", |n| format!("total_value{} == {}", " + 1".repeat(n), n + 2), MAX_DEPTH - 1, true),
        (
            "parenthesised quantifier body",
            |n| format!("any(item: {}item.dangerous{})", "(".repeat(n - 1), ")".repeat(n - 1)),
            MAX_DEPTH,
            true,
        ),
        (
            "`not (`",
            |n| {
                // Each `not (` opens two levels; an odd limit adds one plain group.
                let (odd_open, odd_close) = if n % 2 == 1 { ("(", ")") } else { ("", "") };
                format!("{odd_open}{}first_time{}{odd_close}", "not (".repeat(n / 2), ")".repeat(n / 2))
            },
            MAX_DEPTH,
            true,
        ),
        ("set elements", |n| format!("total_value in [{}]", "3, ".repeat(n - 1) + "2"), MAX_SET_LEN, true),
        (
            "nodes",
            |n| {
                // `in` + field + 10,000 elements, `or`, `in` + field + the rest.
                let rest = n - (2 + MAX_SET_LEN) - 1 - 2;
                format!("total_value in [{}] or total_value in [{}]", "1,".repeat(MAX_SET_LEN), "7,".repeat(rest))
            },
            MAX_NODES,
            false,
        ),
        (
            "string bytes",
            |n| format!("trade_mode != \"{}\"", "é".repeat(n / 2) + &"a".repeat(n % 2)),
            MAX_STRING_LEN,
            true,
        ),
        ("source bytes", |n| format!("first_time{}", " ".repeat(n - "first_time".len())), MAX_SOURCE_LEN, true),
    ];
    let shapes = shapes.to_vec();
    let out = on_small_stack(move || {
        let schema = schema();
        let lists = lists();
        let mut facts = Facts::new(&schema);
        fill(&schema, &mut facts, "first_time=true total_value=2 trade_mode=x | item.dangerous=true");
        let mut out = String::new();
        for (name, shape, limit, expected) in shapes {
            let at = shape(limit);
            let rule = compile(&at, &schema, &lists).unwrap_or_else(|e| panic!("{name} at {limit}: {e}"));
            assert_eq!(rule.eval(&facts), expected, "{name} at {limit}");
            // Printing adds no nesting, so the canonical form is within the limits too.
            let printed = canonical(&at).unwrap_or_else(|e| panic!("{name} at {limit}: canonical: {e}"));
            let reprinted = compile(&printed, &schema, &lists).unwrap_or_else(|e| panic!("{name}: {printed}: {e}"));
            assert_eq!(reprinted.eval(&facts), expected, "{name} printed");
            match compile(&shape(limit + 1), &schema, &lists) {
                Ok(_) => panic!("{name}: {} compiled", limit + 1),
                Err(e) => out.push_str(&format!("{name} {limit}+1: {} {e}\n", e.kind)),
            }
        }
        out
    });
    expect![[r#"
        parentheses 64+1: rule.limit line 1, column 65: nested too deeply; the limit is 64 levels
        not 64+1: rule.limit line 1, column 257: nested too deeply; the limit is 64 levels
        unary minus 63+1: rule.limit line 1, column 77: nested too deeply; the limit is 64 levels
        abs 63+1: rule.limit line 1, column 333: nested too deeply; the limit is 64 levels
        sum chain 63+1: rule.limit line 1, column 269: nested too deeply; the limit is 64 levels
        parenthesised quantifier body 64+1: rule.limit line 1, column 74: nested too deeply; the limit is 64 levels
        `not (` 64+1: rule.limit line 1, column 161: nested too deeply; the limit is 64 levels
        set elements 10000+1: rule.limit line 1, column 30017: too many elements; the limit is 10000 per set
        nodes 16384+1: rule.limit line 1, column 20019: rule is too large; the limit is 16384 nodes
        string bytes 1024+1: rule.limit line 1, column 15: string literal is longer than the limit of 1024 bytes
        source bytes 65536+1: rule.limit line 1, column 65537: rule text is 65537 bytes long; the limit is 65536 bytes
    "#]]
    .assert_eq(&out);
}

#[test]
fn canonical_form() {
    let rules = [
        "trade_mode==\"0110\"   # comment\n and total_value>1_000",
        "((a)) or (b and c) or d",
        "(a or b) or c",
        "a and (b and c)",
        "not not a and not (b or c)",
        "not a < 3",
        "(not a) == b",
        "a - (b - c) - d * (e / f) / g",
        "-(a + b) * - -c >= abs(-1) + min(x, max(y, 2))",
        "(a < b) != (c in [1, -2.5, -0, 1e999])",
        r#"x not in ["a\"b", "c\\"] and y starts_with list("l")"#,
        r#"any(item: item.a starts_with ["85", "8517"]) or count(item: true) > 0.000001"#,
        "sum(item: item.v) / 100000000 > 12345678.5",
        "missing(a) or present(item.b)",
        "(first_time)",
    ];
    let mut out = String::new();
    for rule in rules {
        let printed = canonical(rule).unwrap_or_else(|e| panic!("{rule}: {e}"));
        assert_eq!(canonical(&printed).as_ref(), Ok(&printed), "not a fixed point: {rule}");
        out.push_str(&format!("{printed}\n"));
    }
    expect![[r#"
        trade_mode == "0110" and total_value > 1000
        a or b and c or d
        (a or b) or c
        a and (b and c)
        not not a and not (b or c)
        not a < 3
        (not a) == b
        a - (b - c) - d * (e / f) / g
        -(a + b) * --c >= abs(-1) + min(x, max(y, 2))
        (a < b) != (c in [1, -2.5, -0, 1e999])
        x not in ["a\"b", "c\\"] and y starts_with list("l")
        any(item: item.a starts_with ["85", "8517"]) or count(item: true) > 1e-6
        sum(item: item.v) / 1e8 > 12345678.5
        missing(a) or present(item.b)
        first_time
    "#]]
    .assert_eq(&out);
}

/// `and` / `or` chains are one level however long, so they need no nesting.
#[test]
fn long_logic_chains_stay_flat() {
    on_small_stack(|| {
        let schema = schema();
        let mut facts = Facts::new(&schema);
        fill(&schema, &mut facts, "first_time=true");
        for (rule, expected) in [
            (format!("{}first_time", "false or ".repeat(7_000)), true),
            (format!("{}first_time", "true and ".repeat(7_000)), true),
            (format!("{}not first_time", "total_value > 1 or ".repeat(3_000)), false),
        ] {
            let compiled = compile(&rule, &schema, &Lists::new()).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(compiled.eval(&facts), expected);
        }
    });
}

/// A tiny deterministic PRNG (SplitMix64) so the property test needs no crate.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }

    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len() as u64) as usize]
    }
}

const MODES: &[&str] = &["0110", "0615", "9610", "1210"];
const PREFIXES: &[&str] = &["85", "8517", "851712", "8471", "9401", "94", "61", "6109"];
const ORIGINS: &[&str] = &["CN", "KP", "IR", "US", "VN"];

fn random_rule(rng: &mut Rng) -> String {
    let mode = rng.pick(MODES);
    let prefix = rng.pick(PREFIXES);
    let origin = rng.pick(ORIGINS);
    let trader = format!("T{}", rng.below(20));
    let x = rng.below(100);
    match rng.below(12) {
        0 => format!("trade_mode == \"{mode}\" and total_value > {x}"),
        1 => format!("trader.id in [\"{trader}\", \"T{}\"] and trader.finding_rate > 0.{x}", rng.below(20)),
        2 => "trader.id in list(\"watch_traders\")".to_owned(),
        3 => format!("any(item: item.hs_code starts_with \"{prefix}\" and item.unit_value < {x})"),
        4 => format!("trade_mode == \"{mode}\" and any(item: item.origin == \"{origin}\") and total_value > {x}"),
        5 => "any(item: item.hs_code starts_with list(\"hs_watch\"))".to_owned(),
        6 => format!(
            "trade_mode in [\"{mode}\", \"0615\"] and any(item: item.hs_code starts_with [\"{prefix}\", \"6109\"])"
        ),
        // The rest have no usable key and must be evaluated every time.
        7 => format!("trader.finding_rate > 0.{x}"),
        8 => format!("count(item: item.unit_value < {x}) >= 2"),
        9 => format!("not (trade_mode == \"{mode}\")"),
        10 => format!("trade_mode == \"{mode}\" or trader.age_days < {x}"),
        _ => format!("all(item: item.origin in [\"{origin}\"]) and trade_mode != \"{mode}\""),
    }
}

fn random_facts(rng: &mut Rng, schema: &Schema, facts: &mut Facts) {
    let id = |name: &str| schema.lookup(name).unwrap().0;
    facts.clear();
    if rng.below(5) > 0 {
        facts.set_text(id("trade_mode"), rng.pick(MODES));
    }
    if rng.below(5) > 0 {
        facts.set_text(id("trader.id"), &format!("T{}", rng.below(25)));
    }
    facts.set_num(id("trader.finding_rate"), rng.below(100) as f64 / 100.0);
    facts.set_num(id("trader.age_days"), rng.below(200) as f64);
    facts.set_num(id("total_value"), rng.below(150) as f64);
    for _ in 0..rng.below(5) {
        let i = facts.push_item();
        let hs = format!("{}{}", rng.pick(PREFIXES), rng.below(10_000));
        if rng.below(6) > 0 {
            facts.set_item_text(i, id("item.hs_code"), &hs);
        }
        facts.set_item_text(i, id("item.origin"), rng.pick(ORIGINS));
        facts.set_item_num(i, id("item.unit_value"), rng.below(120) as f64);
    }
}

#[test]
fn rule_set_matches_brute_force() {
    let schema = schema();
    let lists = lists();
    let mut rng = Rng(7);
    let rules: Vec<(usize, CompiledRule)> = (0..400)
        .map(|i| {
            let text = random_rule(&mut rng);
            (i, compile(&text, &schema, &lists).unwrap_or_else(|e| panic!("{text}: {e}")))
        })
        .collect();
    let set = RuleSet::new(rules.clone());
    assert_eq!(set.len(), 400);
    // Templates 0-6 are indexable, 7-11 are not: both kinds must be present.
    assert!(set.indexed_len() > 150 && set.indexed_len() < 350, "{}", set.indexed_len());

    let mut facts = Facts::new(&schema);
    let mut got = Vec::new();
    let mut total_matches = 0;
    for _ in 0..500 {
        random_facts(&mut rng, &schema, &mut facts);
        got.clear();
        set.matching(&facts, &mut got);
        let want: Vec<usize> = rules.iter().filter(|(_, r)| r.eval(&facts)).map(|(k, _)| *k).collect();
        assert_eq!(got, want);
        total_matches += want.len();
    }
    // Guards against a vacuous pass where nothing ever matches.
    assert!(total_matches > 5_000, "{total_matches}");
}

#[test]
fn rule_set_files_rules_under_discriminating_keys() {
    let schema = schema();
    let lists = lists();
    let texts = [
        // Item prefix beats the header trade mode.
        r#"trade_mode == "0110" and any(item: item.hs_code starts_with "8517")"#,
        r#"trader.id == "T1""#,
        // Keys under `or` or `not` would be unsound, so these stay unindexed.
        r#"trader.id == "T1" or total_value > 3"#,
        r#"not (trader.id == "T1")"#,
        r#"any(item: item.hs_code starts_with "")"#,
    ];
    let rules = texts.iter().enumerate().map(|(i, t)| (i, compile(t, &schema, &lists).unwrap())).collect();
    let set = RuleSet::new(rules);
    assert_eq!((set.len(), set.indexed_len()), (5, 2));

    let mut facts = Facts::new(&schema);
    fill(&schema, &mut facts, "trade_mode=0110 trader.id=T1 | item.hs_code=85171200");
    let mut out = Vec::new();
    set.matching(&facts, &mut out);
    assert_eq!(out, [0, 1, 2, 4]);
}

#[test]
fn facts_are_reusable_after_clear() {
    let schema = schema();
    let rule = compile(r#"trade_mode == "0110" and count(item: true) == 1"#, &schema, &Lists::new()).unwrap();
    let mut facts = Facts::new(&schema);
    fill(&schema, &mut facts, "trade_mode=0110 | item.hs_code=1");
    assert!(rule.eval(&facts));
    fill(&schema, &mut facts, "| item.hs_code=1");
    assert!(!rule.eval(&facts), "trade_mode must be missing after clear");
    fill(&schema, &mut facts, "trade_mode=0110 | item.hs_code=1 | item.hs_code=2");
    assert!(!rule.eval(&facts), "items must not accumulate across clears");
}

#[test]
fn compiled_rules_report_their_fields() {
    let schema = schema();
    let rule = compile(
        "total_value > 1 and any(item: item.unit_value < item.ref.median) and total_value < 9",
        &schema,
        &Lists::new(),
    )
    .unwrap();
    let names: Vec<&str> = rule.fields().into_iter().map(|f| schema.name(f)).collect();
    expect![[r#"
        [
            "total_value",
            "item.unit_value",
            "item.ref.median",
        ]
    "#]]
    .assert_debug_eq(&names);
}

/// Property tests over generated rule texts. Failing cases proptest finds are
/// kept in `tests/rules.proptest-regressions` and replayed first.
mod properties {
    use super::{fill, lists, schema};
    use proptest::prelude::*;
    use proptest::test_runner::Config;
    use riskgate_rules::{CompiledRule, Facts, Lists, Schema, canonical, compile};

    const CASES: u32 = 256;

    /// A few fixed subjects every generated rule is evaluated on.
    const FACTS: &[&str] = &[
        "",
        "first_time=true total_value=10 trade_mode=0110 trader.id=T1 trader.finding_rate=0.3 \
         | item.hs_code=85171200 item.unit_value=0.5 item.origin=KP item.dangerous=true \
         | item.hs_code=94 item.value_cny=100 item.name=手机壳",
        "first_time=false total_value=0 trader.age_days=-1 trade_mode=\" | item.unit_value=0 item.ref.median=0",
    ];

    fn all_facts(schema: &Schema) -> Vec<Facts> {
        FACTS
            .iter()
            .map(|spec| {
                let mut facts = Facts::new(schema);
                fill(schema, &mut facts, spec);
                facts
            })
            .collect()
    }

    fn eval_all(rule: &CompiledRule, facts: &[Facts]) -> Vec<bool> {
        facts.iter().map(|f| rule.eval(f)).collect()
    }

    // Generators of well-formed, well-typed rule texts over the test schema.
    // Compound subexpressions are parenthesised, sometimes twice, and the
    // pieces are joined by random blanks, newlines and comments.

    fn blank() -> impl Strategy<Value = &'static str> + Clone {
        prop_oneof![8 => Just(" "), 1 => Just("  "), 1 => Just("\n"), 1 => Just(" # note \"x\" (\n"), 1 => Just("\t")]
    }

    fn number() -> BoxedStrategy<String> {
        prop_oneof![
            (0u32..1000).prop_map(|n| n.to_string()),
            "[0-9]{1,3}\\.[0-9]{1,3}",
            "[1-9]e[+-]?[0-9]{1,3}",
            "[1-9]_[0-9]{3}",
        ]
        .boxed()
    }

    fn string() -> BoxedStrategy<String> {
        "[a-z0-9 \"\\\\#()手]{0,6}"
            .prop_map(|s| format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\"")))
            .boxed()
    }

    fn field(names: &'static [&'static str]) -> BoxedStrategy<String> {
        proptest::sample::select(names).prop_map(str::to_owned).boxed()
    }

    const NUM_FIELDS: &[&str] = &["total_value", "trader.finding_rate", "trader.age_days", "forex.paid_ratio"];
    const TEXT_FIELDS: &[&str] = &["trade_mode", "trader.id", "transport_mode"];
    const ITEM_NUM_FIELDS: &[&str] = &["item.unit_value", "item.ref.median", "item.value_cny"];
    const ITEM_TEXT_FIELDS: &[&str] = &["item.hs_code", "item.origin", "item.name"];

    fn paren(s: String) -> String {
        format!("({s})")
    }

    fn num(depth: u32, item: bool) -> BoxedStrategy<String> {
        let mut leaves = vec![number(), field(NUM_FIELDS)];
        if item {
            leaves.push(field(ITEM_NUM_FIELDS));
        }
        let leaf = proptest::strategy::Union::new(leaves).boxed();
        if depth == 0 {
            return leaf;
        }
        let sub = num(depth - 1, item);
        let op = prop_oneof![Just("+"), Just("-"), Just("*"), Just("/")];
        let mut options = vec![
            (4, leaf),
            (
                2,
                (sub.clone(), blank(), op, blank(), sub.clone())
                    .prop_map(|(a, s, o, t, b)| paren(format!("{a}{s}{o}{t}{b}")))
                    .boxed(),
            ),
            (1, sub.clone().prop_map(|a| format!("-{a}")).boxed()),
            (1, sub.clone().prop_map(|a| format!("abs({a})")).boxed()),
            (
                1,
                (prop_oneof![Just("min"), Just("max")], sub.clone(), sub.clone())
                    .prop_map(|(f, a, b)| format!("{f}({a}, {b})"))
                    .boxed(),
            ),
            (1, sub.prop_map(paren).boxed()),
        ];
        if !item {
            options.push((1, cond(depth - 1, true).prop_map(|c| format!("count(item: {c})")).boxed()));
            options.push((1, num(depth - 1, true).prop_map(|n| format!("sum(item:{n})")).boxed()));
        }
        proptest::strategy::Union::new_weighted(options).boxed()
    }

    fn text(item: bool) -> BoxedStrategy<String> {
        let mut leaves = vec![string(), field(TEXT_FIELDS)];
        if item {
            leaves.push(field(ITEM_TEXT_FIELDS));
        }
        proptest::strategy::Union::new(leaves).boxed()
    }

    fn cond(depth: u32, item: bool) -> BoxedStrategy<String> {
        let mut leaves = vec![
            prop_oneof![Just("true".to_owned()), Just("false".to_owned()), Just("first_time".to_owned())].boxed(),
            (prop_oneof![Just("missing"), Just("present")], field(NUM_FIELDS))
                .prop_map(|(f, x)| format!("{f}({x})"))
                .boxed(),
        ];
        if item {
            leaves.push(Just("item.dangerous".to_owned()).boxed());
        }
        let leaf = proptest::strategy::Union::new(leaves).boxed();
        let cmp = prop_oneof![Just("<"), Just("<="), Just(">"), Just(">="), Just("=="), Just("!=")];
        let eq = prop_oneof![Just("=="), Just("!=")];
        let n = num(depth.saturating_sub(1), item);
        let t = text(item);
        let mut options = vec![
            (3, leaf),
            (
                3,
                (n.clone(), blank(), cmp, blank(), n.clone())
                    .prop_map(|(a, s, o, u, b)| format!("{a}{s}{o}{u}{b}"))
                    .boxed(),
            ),
            (2, (t.clone(), eq.clone(), t.clone()).prop_map(|(a, o, b)| format!("{a} {o} {b}")).boxed()),
            (
                1,
                (n, any::<bool>(), proptest::collection::vec((any::<bool>(), number()), 0..12))
                    .prop_map(|(a, neg, xs)| {
                        let xs: Vec<String> =
                            xs.into_iter().map(|(m, x)| if m { format!("-{x}") } else { x }).collect();
                        format!("{a} {}in [{}]", if neg { "not " } else { "" }, xs.join(", "))
                    })
                    .boxed(),
            ),
            (
                2,
                (t.clone(), any::<bool>(), proptest::collection::vec(string(), 0..12), any::<bool>())
                    .prop_map(|(a, neg, xs, list)| {
                        let set =
                            if list { "list(\"watch_traders\")".to_owned() } else { format!("[{}]", xs.join(",")) };
                        format!("{a} {}in {set}", if neg { "not " } else { "" })
                    })
                    .boxed(),
            ),
            (
                2,
                (
                    t,
                    prop_oneof![
                        string(),
                        proptest::collection::vec(string(), 0..12).prop_map(|xs| format!("[{}]", xs.join(", "))),
                        Just("list(\"hs_watch\")".to_owned()),
                    ],
                )
                    .prop_map(|(a, set)| format!("{a} starts_with {set}"))
                    .boxed(),
            ),
        ];
        if depth > 0 {
            let sub = cond(depth - 1, item);
            let junction = prop_oneof![Just(" and "), Just(" or ")];
            options.push((1, sub.clone().prop_map(|c| format!("not {c}")).boxed()));
            options.push((1, sub.clone().prop_map(|c| paren(paren(c))).boxed()));
            options.push((1, (sub.clone(), eq, sub.clone()).prop_map(|(a, o, b)| format!("({a}) {o} ({b})")).boxed()));
            options.push((
                3,
                (junction, proptest::collection::vec(sub, 2..5)).prop_map(|(j, cs)| paren(cs.join(j))).boxed(),
            ));
            if !item {
                let q = prop_oneof![Just("any"), Just("all")];
                options.push((2, (q, cond(depth - 1, true)).prop_map(|(q, c)| format!("{q}(item: {c})")).boxed()));
            }
        }
        proptest::strategy::Union::new_weighted(options).boxed()
    }

    /// Words and symbols of the language, valid or not, for token soup.
    const TOKENS: &[&str] = &[
        "(",
        ")",
        "[",
        "]",
        ",",
        ":",
        "+",
        "-",
        "*",
        "/",
        "<",
        "<=",
        ">",
        ">=",
        "==",
        "!=",
        "=",
        "!",
        "and",
        "or",
        "not",
        "in",
        "starts_with",
        "true",
        "false",
        "any",
        "all",
        "count",
        "sum",
        "abs",
        "min",
        "max",
        "missing",
        "present",
        "list",
        "item",
        "item:",
        "\"a\"",
        "\"8517\"",
        "\"",
        "\"\\",
        "1",
        "2.5",
        "1e999",
        "1_0",
        "1x",
        "0.",
        "total_value",
        "trade_mode",
        "first_time",
        "item.hs_code",
        "item.unit_value",
        "item.dangerous",
        "a.",
        "unknown",
        "#",
        "\n",
        "$",
        "手",
    ];

    fn check(text: &str, schema: &Schema, lists: &Lists, facts: &[Facts]) -> Result<(), TestCaseError> {
        if let Ok(rule) = compile(text, schema, lists) {
            let expected = eval_all(&rule, facts);
            // Printing and parsing again gives the same tree: the canonical
            // form is a fixed point and compiles to the same rule.
            let printed = canonical(text).map_err(|e| TestCaseError::fail(format!("canonical: {e}")))?;
            prop_assert_eq!(canonical(&printed), Ok(printed.clone()), "printed: {}", printed);
            let reparsed =
                compile(&printed, schema, lists).map_err(|e| TestCaseError::fail(format!("{printed}: {e}")))?;
            prop_assert_eq!(eval_all(&reparsed, facts), expected, "printed: {}", printed);
        } else if let Ok(printed) = canonical(text) {
            // A syntax-only round trip must not turn a bad rule into a good one.
            prop_assert!(compile(&printed, schema, lists).is_err(), "printed: {}", printed);
            prop_assert_eq!(canonical(&printed), Ok(printed.clone()));
        }
        Ok(())
    }

    proptest! {
        #![proptest_config(Config::with_cases(CASES))]

        #[test]
        fn well_formed_rules_compile_and_round_trip(text in (cond(4, false), blank(), blank()).prop_map(|(c, a, b)| format!("{a}{c}{b}"))) {
            let (schema, lists) = (schema(), lists());
            let facts = all_facts(&schema);
            if let Err(e) = compile(&text, &schema, &lists) {
                return Err(TestCaseError::fail(format!("{text}\n{e}")));
            }
            check(&text, &schema, &lists, &facts)?;
        }

        #[test]
        fn token_soup_never_panics(tokens in proptest::collection::vec(proptest::sample::select(TOKENS), 0..40)) {
            let (schema, lists) = (schema(), lists());
            check(&tokens.join(" "), &schema, &lists, &all_facts(&schema))?;
        }

        #[test]
        fn byte_soup_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
            let (schema, lists) = (schema(), lists());
            check(&String::from_utf8_lossy(&bytes), &schema, &lists, &all_facts(&schema))?;
        }

        #[test]
        fn starts_with_many_prefixes_matches_brute_force(
            prefixes in proptest::collection::vec("[0-9]{0,4}", 0..40),
            values in proptest::collection::vec("[0-9]{0,6}", 1..20),
        ) {
            let schema = schema();
            let quoted: Vec<String> = prefixes.iter().map(|p| format!("\"{p}\"")).collect();
            let rule = compile(&format!("trader.id starts_with [{}]", quoted.join(", ")), &schema, &Lists::new()).unwrap();
            let id = schema.lookup("trader.id").unwrap().0;
            let mut facts = Facts::new(&schema);
            for v in &values {
                facts.set_text(id, v);
                let expected = prefixes.iter().any(|p| v.starts_with(p.as_str()));
                prop_assert_eq!(rule.eval(&facts), expected, "{} against {:?}", v, prefixes);
            }
        }

        #[test]
        fn in_many_numbers_matches_brute_force(
            set in proptest::collection::vec(-20i32..20, 0..40),
            values in proptest::collection::vec(-21i32..21, 1..20),
        ) {
            let schema = schema();
            // Halves, and a negative zero for every zero, exercise the ordering.
            let lits: Vec<String> = set.iter().map(|&x| if x == 0 { "-0".to_owned() } else { format!("{}", f64::from(x) / 2.0) }).collect();
            let rule = compile(&format!("total_value in [{}]", lits.join(", ")), &schema, &Lists::new()).unwrap();
            let id = schema.lookup("total_value").unwrap().0;
            let mut facts = Facts::new(&schema);
            for &v in &values {
                let v = f64::from(v) / 2.0;
                facts.set_num(id, v);
                let expected = set.iter().any(|&x| f64::from(x) / 2.0 == v);
                prop_assert_eq!(rule.eval(&facts), expected, "{} in {:?}", v, lits);
            }
        }
    }
}
