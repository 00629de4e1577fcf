//! The crate's one integration-test binary: training, storage, scoring and metrics through the public API.

use expect_test::expect;
use riskgate_model::metrics::{self, AtK};
use riskgate_model::{Dataset, Model, ModelError, Objective, TrainParams};

/// splitmix64: enough randomness for synthetic data, reproducible, no dependency.
struct Rng(u64);

impl Rng {
    fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }
}

struct Synthetic {
    data: Dataset,
    y: Vec<f64>,
    weights: Vec<f64>,
}

/// Five features of which only `a` and `b` matter; `noise_c` is sometimes missing.
fn synthetic(seed: u64, rows: usize) -> Synthetic {
    let names = ["a", "b", "noise_c", "noise_d", "noise_e"].map(String::from).to_vec();
    let mut rng = Rng(seed);
    let mut data = Dataset::new(names);
    let (mut y, mut weights) = (Vec::new(), Vec::new());
    for _ in 0..rows {
        let mut row: Vec<f64> = (0..5).map(|_| rng.unit() * 2.0 - 1.0).collect();
        if rng.unit() < 0.2 {
            row[2] = f64::NAN;
        }
        let logit = 4.0 * row[0] + if row[1] > 0.3 { 2.5 } else { -1.0 };
        let p = 1.0 / (1.0 + (-logit).exp());
        y.push(if rng.unit() < p { 1.0 } else { 0.0 });
        // Inverse selection probabilities: some rows stand for five.
        weights.push(if rng.unit() < 0.3 { 5.0 } else { 1.0 });
        data.push(&row);
    }
    Synthetic { data, y, weights }
}

fn quick() -> TrainParams {
    TrainParams { iterations: 60, learning_rate: 0.1, max_depth: 4, ..TrainParams::default() }
}

fn classifier(s: &Synthetic) -> Model {
    Model::train(Objective::Classification, &s.data, &s.y, &s.weights, None, &quick()).unwrap()
}

#[test]
fn classifier_learns_the_two_informative_features() {
    let train = synthetic(1, 4000);
    let test = synthetic(2, 1000);
    let model = classifier(&train);
    let auc = metrics::auc(&model.predict_batch(&test.data), &test.y);
    assert!(auc > 0.85, "held-out AUC {auc}");

    // The noise features must matter far less than the two that drive the label.
    let mut importance = [0.0; 5];
    for i in 0..200 {
        let (contribs, _) = model.contributions(test.data.row(i));
        importance.iter_mut().zip(contribs).for_each(|(sum, c)| *sum += c.abs());
    }
    assert!(
        importance[0].min(importance[1]) > 3.0 * importance[2..].iter().cloned().fold(0.0, f64::max),
        "{importance:?}"
    );
}

#[test]
fn regression_learns_a_linear_target() {
    let train = synthetic(3, 2000);
    let test = synthetic(4, 500);
    let target = |d: &Dataset| (0..d.rows).map(|i| 3.0 * d.row(i)[0] - d.row(i)[1]).collect::<Vec<_>>();
    let ones = vec![1.0; train.data.rows];
    let model = Model::train(Objective::Regression, &train.data, &target(&train.data), &ones, None, &quick()).unwrap();
    let truth = target(&test.data);
    let predicted = model.predict_batch(&test.data);
    let mse = truth.iter().zip(&predicted).map(|(t, p)| (t - p).powi(2)).sum::<f64>() / truth.len() as f64;
    let mean = truth.iter().sum::<f64>() / truth.len() as f64;
    let var = truth.iter().map(|t| (t - mean).powi(2)).sum::<f64>() / truth.len() as f64;
    assert!(mse < 0.05 * var, "mse {mse} variance {var}");
}

#[test]
fn training_twice_gives_identical_bytes() {
    let train = synthetic(5, 3000);
    let valid = synthetic(6, 500);
    let params = TrainParams { early_stopping_rounds: Some(10), ..quick() };
    let fit = || {
        Model::train(
            Objective::Classification,
            &train.data,
            &train.y,
            &train.weights,
            Some((&valid.data, &valid.y, &valid.weights)),
            &params,
        )
        .unwrap()
        .to_bytes()
    };
    assert!(fit() == fit(), "two trainings on the same input differ");
}

#[test]
fn bytes_round_trip_keeps_every_prediction() {
    let train = synthetic(7, 2000);
    let test = synthetic(8, 1000);
    let model = classifier(&train);
    // predict_batch's docs promise callers can share a model across threads.
    fn shareable<T: Send + Sync>(_: &T) {}
    shareable(&model);
    let bytes = model.to_bytes();
    let loaded = Model::from_bytes(&bytes).unwrap();
    assert_eq!(loaded.to_bytes(), bytes);
    assert_eq!(loaded.feature_names(), model.feature_names());
    assert_eq!(loaded.trees(), model.trees());
    let batch = model.predict_batch(&test.data);
    assert_eq!(loaded.predict_batch(&test.data), batch);
    // Single rows and batches agree exactly.
    let single: Vec<f64> = (0..test.data.rows).map(|i| loaded.predict(test.data.row(i))).collect();
    assert_eq!(single, batch);
    let mut small = Dataset::new(test.data.names.clone());
    (0..100).for_each(|i| small.push(test.data.row(i)));
    assert_eq!(loaded.predict_batch(&small), batch[..100]);
}

#[test]
fn contributions_add_up_to_the_log_odds() {
    let train = synthetic(9, 2000);
    let test = synthetic(10, 200);
    let model = classifier(&train);
    for i in 0..test.data.rows {
        let row = test.data.row(i);
        let (contribs, bias) = model.contributions(row);
        assert_eq!(contribs.len(), 5);
        let p = model.predict(row);
        let log_odds = (p / (1.0 - p)).ln();
        let total = contribs.iter().sum::<f64>() + bias;
        assert!((total - model.raw(row)).abs() < 1e-6, "row {i}: {total} vs raw {}", model.raw(row));
        assert!((total - log_odds).abs() < 1e-6, "row {i}: {total} vs log-odds {log_odds}");
    }
}

#[test]
fn early_stopping_keeps_the_best_trees() {
    let train = synthetic(11, 1500);
    let valid = synthetic(12, 500);
    let params = TrainParams { iterations: 400, learning_rate: 0.3, early_stopping_rounds: Some(5), ..quick() };
    let valid_set = (&valid.data, valid.y.as_slice(), valid.weights.as_slice());
    let model =
        Model::train(Objective::Classification, &train.data, &train.y, &train.weights, Some(valid_set), &params)
            .unwrap();
    let summary = model.summary();
    assert!(model.trees() < 400, "{} trees", model.trees());
    assert_eq!(summary.trees, model.trees());
    assert_eq!(summary.valid_rows, Some(500));
    assert!(summary.valid_loss.is_some_and(|l| l > 0.0 && l < 0.6), "{:?}", summary.valid_loss);
}

fn tiny(rows: &[[f64; 2]]) -> Dataset {
    let mut d = Dataset::new(vec!["x".into(), "z".into()]);
    rows.iter().for_each(|r| d.push(r));
    d
}

fn render(result: Result<Model, ModelError>) -> String {
    match result {
        Ok(model) => format!("ok: {} trees", model.trees()),
        Err(e) => format!("{}: {e}", e.code()),
    }
}

#[test]
fn training_rejects_bad_input() {
    let four = tiny(&[[0.0, 1.0], [1.0, 0.0], [2.0, 1.0], [3.0, 0.0]]);
    let y = [0.0, 1.0, 0.0, 1.0];
    let w = [1.0; 4];
    let p = quick();
    let class = |data: &Dataset, y: &[f64], w: &[f64], p: &TrainParams| {
        render(Model::train(Objective::Classification, data, y, w, None, p))
    };
    let mut dup = four.clone();
    dup.names[1] = "x".into();
    let mut ragged = four.clone();
    ragged.values.pop();
    let other_names = Dataset { names: vec!["x".into(), "other".into()], ..four.clone() };
    let cases = [
        ("valid input", class(&four, &y, &w, &p)),
        ("y too short", class(&four, &y[..3], &w, &p)),
        ("weights too long", class(&four, &y, &[1.0; 5], &p)),
        ("zero rows", class(&tiny(&[]), &[], &[], &p)),
        ("no features", class(&Dataset { names: vec![], rows: 1, values: vec![] }, &[1.0], &[1.0], &p)),
        ("duplicate name", class(&dup, &y, &w, &p)),
        ("ragged values", class(&ragged, &y, &w, &p)),
        ("NaN label", class(&four, &[0.0, f64::NAN, 1.0, 0.0], &w, &p)),
        ("label 2", class(&four, &[0.0, 2.0, 1.0, 0.0], &w, &p)),
        ("one class", class(&four, &[1.0; 4], &w, &p)),
        ("positives weigh 0", class(&four, &y, &[1.0, 0.0, 1.0, 0.0], &p)),
        ("negative weight", class(&four, &y, &[1.0, -1.0, 1.0, 1.0], &p)),
        ("NaN weight", class(&four, &y, &[1.0, 1.0, f64::NAN, 1.0], &p)),
        ("all weights 0", class(&four, &y, &[0.0; 4], &p)),
        ("0 iterations", class(&four, &y, &w, &TrainParams { iterations: 0, ..quick() })),
        ("negative rate", class(&four, &y, &w, &TrainParams { learning_rate: -0.1, ..quick() })),
        ("depth 0", class(&four, &y, &w, &TrainParams { max_depth: 0, ..quick() })),
        ("NaN l2", class(&four, &y, &w, &TrainParams { l2: f64::NAN, ..quick() })),
        ("early stop, no valid", class(&four, &y, &w, &TrainParams { early_stopping_rounds: Some(3), ..quick() })),
        (
            "regression infinite y",
            render(Model::train(Objective::Regression, &four, &[0.0, f64::INFINITY, 1.0, 0.0], &w, None, &p)),
        ),
        (
            "valid names differ",
            render(Model::train(Objective::Classification, &four, &y, &w, Some((&other_names, &y, &w)), &p)),
        ),
        (
            "valid y too short",
            render(Model::train(Objective::Classification, &four, &y, &w, Some((&four, &y[..2], &w)), &p)),
        ),
        (
            "valid weight negative",
            render(Model::train(Objective::Classification, &four, &y, &w, Some((&four, &y, &[-1.0; 4])), &p)),
        ),
    ];
    let table: String = cases.iter().map(|(name, out)| format!("{name:<22} {out}\n")).collect();
    expect![[r#"
        valid input            ok: 60 trees
        y too short            length_mismatch: rows of y (3) do not match rows of data (4)
        weights too long       length_mismatch: rows of weights (5) do not match rows of data (4)
        zero rows              no_rows: the data has no rows
        no features            no_features: the data has no features
        duplicate name         duplicate_feature: feature name "x" appears more than once
        ragged values          bad_shape: the data has 7 values, expected rows (4) times features (2)
        NaN label              nan_label: row 1 of y is not a number
        label 2                not_binary: row 1 of y is 2; classification needs 0 or 1
        one class              one_class: classification needs rows of both classes with positive weight
        positives weigh 0      one_class: classification needs rows of both classes with positive weight
        negative weight        bad_weight: row 1 of weights is -1; weights must be finite and not negative
        NaN weight             bad_weight: row 2 of weights is NaN; weights must be finite and not negative
        all weights 0          zero_weight: weights sum to zero
        0 iterations           bad_param: parameter iterations is 0; it must be at least 1
        negative rate          bad_param: parameter learning_rate is -0.1; it must be a positive number
        depth 0                bad_param: parameter max_depth is 0; it must be at least 1
        NaN l2                 bad_param: parameter l2 is NaN; it must be a number not below 0
        early stop, no valid   early_stopping_without_validation: early stopping needs a validation set
        regression infinite y  not_finite: row 1 of y is inf; regression needs a finite number
        valid names differ     feature_names: feature names do not match the training data
        valid y too short      length_mismatch: rows of validation y (2) do not match rows of validation data (4)
        valid weight negative  bad_weight: row 0 of validation weights is -1; weights must be finite and not negative
    "#]]
    .assert_eq(&table);
}

#[test]
fn loading_and_checking_reject_foreign_input() {
    let train = synthetic(13, 300);
    let model = classifier(&train);
    let mut renamed = train.data.clone();
    renamed.names.swap(0, 1);
    let mut bumped: serde_json::Value = serde_json::from_slice(&model.to_bytes()).unwrap();
    bumped["format"] = 99.into();
    let lines = [
        model.check_dataset(&train.data).map_or_else(|e| e.to_string(), |()| "ok".into()),
        model.check_dataset(&renamed).map_or_else(|e| e.to_string(), |()| "ok".into()),
        render(Model::from_bytes(b"not json")),
        render(Model::from_bytes(&serde_json::to_vec(&bumped).unwrap())),
        render(Model::from_bytes(b"{\"format\":1}")),
    ];
    expect![[r#"
        ok
        feature names do not match the model
        decode: these bytes are not a model: expected ident at line 1 column 2
        decode: these bytes are not a model: format 99 is not the supported format 1
        decode: these bytes are not a model: missing field `objective` at line 1 column 12"#]]
    .assert_eq(&lines.join("\n"));
}

/// One ranking read three ways: unweighted, weighted with values, and
/// unweighted with values; a row per k, a column per case.
#[test]
fn at_k_with_and_without_weights_and_values() {
    // Ranked by score: rows 0, 2, 4, 7, 5, 8, 3, 6, 1, 9. Positives: rows 0, 2, 3, 7, 9.
    let scores = [0.9, 0.1, 0.8, 0.3, 0.7, 0.5, 0.2, 0.6, 0.4, 0.0];
    let labels = [1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0];
    // Row 9 (a positive ranked last) stands for 5 rows, row 4 (a negative ranked 3rd) for 2.
    let weights = [1.0, 1.0, 1.0, 1.0, 2.0, 1.0, 1.0, 1.0, 1.0, 5.0];
    // Values of negatives must not count.
    let values = [100.0, 1000.0, 10.0, 30.0, 1000.0, 1000.0, 1000.0, 10.0, 1000.0, 50.0];
    let ks = [0.0, 0.1, 0.25, 0.3, 0.5, 1.0];
    let at_k = |w: Option<&[f64]>, v: Option<&[f64]>| metrics::at_k(&scores, &labels, w, v, &ks);
    let tables = [at_k(None, None), at_k(Some(&weights), Some(&values)), at_k(None, Some(&values))];
    let mut out = String::from("unweighted | weighted, with values | unweighted, with values\n");
    for i in 0..ks.len() {
        let cells: Vec<String> = tables.iter().map(|t| at_k_cell(&t[i])).collect();
        out += &format!("k={:<4} {}\n", tables[0][i].k, cells.join(" | "));
    }
    expect![[r#"
        unweighted | weighted, with values | unweighted, with values
        k=0    selected=0  precision=0.0000 recall=0.0000 value_share=0.0000 | selected=0  precision=0.0000 recall=0.0000 value_share=0.0000 | selected=0  precision=0.0000 recall=0.0000 value_share=0.0000
        k=0.1  selected=1  precision=1.0000 recall=0.2000 value_share=0.2000 | selected=1  precision=1.0000 recall=0.1111 value_share=0.2500 | selected=1  precision=1.0000 recall=0.2000 value_share=0.5000
        k=0.25 selected=3  precision=0.6667 recall=0.4000 value_share=0.4000 | selected=3  precision=0.5000 recall=0.2222 value_share=0.2750 | selected=3  precision=0.6667 recall=0.4000 value_share=0.5500
        k=0.3  selected=3  precision=0.6667 recall=0.4000 value_share=0.4000 | selected=3  precision=0.5000 recall=0.2222 value_share=0.2750 | selected=3  precision=0.6667 recall=0.4000 value_share=0.5500
        k=0.5  selected=5  precision=0.6000 recall=0.6000 value_share=0.6000 | selected=5  precision=0.5000 recall=0.3333 value_share=0.3000 | selected=5  precision=0.6000 recall=0.6000 value_share=0.6000
        k=1    selected=10 precision=0.5000 recall=1.0000 value_share=1.0000 | selected=10 precision=0.6000 recall=1.0000 value_share=1.0000 | selected=10 precision=0.5000 recall=1.0000 value_share=1.0000
    "#]]
    .assert_eq(&out);
}

fn fmt_at_k(r: &AtK) -> String {
    format!("k={:<4} {}\n", r.k, at_k_cell(r))
}

/// `selected=… precision=… recall=… value_share=…`: one case at one k.
fn at_k_cell(r: &AtK) -> String {
    format!(
        "selected={:<2} precision={:.4} recall={:.4} value_share={:.4}",
        r.selected, r.precision, r.recall, r.value_share
    )
}

#[test]
fn at_k_breaks_ties_by_row_and_ranks_nan_last() {
    let scores = [f64::NAN, 0.5, 0.5, 0.5, 0.1];
    let labels = [1.0, 0.0, 1.0, 1.0, 0.0];
    let rows = metrics::at_k(&scores, &labels, None, None, &[0.2, 0.4, 0.8, 1.0]);
    expect![[r#"
        k=0.2  selected=1  precision=0.0000 recall=0.0000 value_share=0.0000
        k=0.4  selected=2  precision=0.5000 recall=0.3333 value_share=0.3333
        k=0.8  selected=4  precision=0.5000 recall=0.6667 value_share=0.6667
        k=1    selected=5  precision=0.6000 recall=1.0000 value_share=1.0000
    "#]]
    .assert_eq(&rows.iter().map(fmt_at_k).collect::<String>());
}

#[test]
fn auc_cases() {
    let cases: [(&str, &[f64], &[f64]); 5] = [
        // 16 of the 25 positive/negative pairs are ordered right.
        (
            "ten rows",
            &[0.9, 0.1, 0.8, 0.3, 0.7, 0.5, 0.2, 0.6, 0.4, 0.0],
            &[1.0, 0.0, 1.0, 1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 1.0],
        ),
        ("ties count half", &[0.5, 0.5, 0.5, 0.1], &[0.0, 1.0, 1.0, 0.0]),
        ("perfect", &[0.9, 0.8, 0.2], &[1.0, 1.0, 0.0]),
        ("reversed", &[0.1, 0.2, 0.9], &[1.0, 1.0, 0.0]),
        ("one class", &[0.1, 0.2], &[1.0, 1.0]),
    ];
    let table: String = cases.iter().map(|(name, s, l)| format!("{name:<16} {:.4}\n", metrics::auc(s, l))).collect();
    expect![[r#"
        ten rows         0.6400
        ties count half  0.7500
        perfect          1.0000
        reversed         0.0000
        one class        NaN
    "#]]
    .assert_eq(&table);
}
