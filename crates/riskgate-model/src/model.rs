//! Trains, stores and scores a forust-ml booster behind a small, deterministic API.

use std::collections::HashSet;
use std::fmt;

use forust_ml::GradientBooster;
use forust_ml::Matrix;
use forust_ml::gradientbooster::{GrowPolicy, MissingNodeTreatment};
use forust_ml::objective::ObjectiveType;
use forust_ml::sampler::SampleMethod;
use serde::{Deserialize, Serialize};

use crate::{Dataset, ModelError};

/// Bumped when the stored layout changes, so old bytes fail loudly instead of scoring wrongly.
const FORMAT: u32 = 1;

#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub enum Objective {
    /// Log loss; labels are 0 or 1 and the model predicts a probability.
    Classification,
    /// Squared loss; the model predicts the label's scale.
    Regression,
}

#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainParams {
    /// Most trees to grow (fewer if early stopping ends training).
    pub iterations: usize,
    /// Shrinks each tree's leaf values.
    pub learning_rate: f64,
    pub max_depth: usize,
    /// Least sum of hessians (weighted) a leaf may hold; guards against leaves fit to a handful of rows.
    pub min_leaf_weight: f64,
    /// L2 penalty on leaf values.
    pub l2: f64,
    /// Passed to the trainer. No row or column sampling is switched on, so today it changes nothing;
    /// it is kept so that turning sampling on later stays reproducible.
    pub seed: u64,
    /// Stop once the validation loss has not improved for this many trees, and keep the trees up
    /// to the best one. Needs a validation set.
    pub early_stopping_rounds: Option<usize>,
    /// Grow leaf-wise (best split first, as LightGBM does) up to this many
    /// leaves per tree, within `max_depth`; `None` grows level by level.
    #[serde(default)]
    pub max_leaves: Option<usize>,
}

impl Default for TrainParams {
    fn default() -> Self {
        TrainParams {
            iterations: 300,
            learning_rate: 0.05,
            max_depth: 6,
            min_leaf_weight: 1.0,
            l2: 1.0,
            seed: 0,
            early_stopping_rounds: None,
            max_leaves: None,
        }
    }
}

/// What training saw and produced, stored with the model.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct TrainSummary {
    pub params: TrainParams,
    pub rows: usize,
    pub weight_sum: f64,
    /// Rows of the validation set, if one was given.
    pub valid_rows: Option<usize>,
    /// Trees kept in the model.
    pub trees: usize,
    /// Weighted validation loss of the kept model (log loss or root mean squared error).
    pub valid_loss: Option<f64>,
    /// The starting score: log-odds of the weighted positive share, or the weighted mean label.
    pub base_score: f64,
}

/// A trained model that can be stored as bytes and scored row by row.
#[derive(Serialize, Deserialize)]
pub struct Model {
    format: u32,
    objective: Objective,
    names: Vec<String>,
    summary: TrainSummary,
    booster: GradientBooster,
    /// The trees laid out compactly for one row at a time (with the
    /// average node values for path contributions), built on first use.
    #[serde(skip)]
    flat: std::sync::OnceLock<Option<Flat>>,
}

/// Every tree's split nodes in one array, 32 bytes a node (forust's nodes
/// carry training statistics and are three times that), leaves in another:
/// scoring a row walks one path per tree. A child reference carries a leaf
/// bit, so a walk knows it has reached a leaf without loading it, and trees
/// are walked four at a time, one level each in turn, so that the four
/// paths' loads overlap instead of waiting on each other (the walk is bound
/// by the latency of those loads, not by arithmetic). Same comparisons, and
/// the same additions in the same order, as forust's
/// `predict_row_from_row_slice` and `predict_contributions_row_average`, so
/// results are identical to the bit (`flat_trees_score_exactly_as_forust`).
#[derive(Debug)]
struct Flat {
    splits: Vec<FlatSplit>,
    leaves: Vec<FlatLeaf>,
    /// Each tree's root, as a child reference.
    roots: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct FlatSplit {
    /// The split threshold.
    value: f64,
    /// The path-averaged node value (`Tree::distribute_leaf_weights`).
    avg: f64,
    feature: u32,
    /// Children, as references: an index into `Flat::splits`, or with
    /// `LEAF` set an index into `Flat::leaves`.
    left: u32,
    right: u32,
    missing: u32,
}

#[derive(Debug, Clone, Copy)]
struct FlatLeaf {
    value: f64,
    avg: f64,
}

/// The leaf bit of a child reference.
const LEAF: u32 = 1 << 31;

/// Trees walked together.
const LANES: usize = 4;

impl Flat {
    /// `None` unless missing values are NaN (as every model this crate
    /// trains has): forust treats another missing value differently.
    fn new(booster: &GradientBooster) -> Option<Flat> {
        let mut splits = Vec::new();
        let mut leaves = Vec::new();
        let mut roots = Vec::with_capacity(booster.trees.len());
        if !booster.missing.is_nan() {
            return None;
        }
        for tree in &booster.trees {
            // Each node's reference: splits and leaves numbered apart.
            let (s0, l0) = (splits.len(), leaves.len());
            let (mut s, mut l) = (0usize, 0usize);
            let mut refs = Vec::with_capacity(tree.nodes.len());
            for n in &tree.nodes {
                let r = if n.is_leaf {
                    l += 1;
                    u32::try_from(l0 + l - 1).ok().filter(|r| r & LEAF == 0)? | LEAF
                } else {
                    s += 1;
                    u32::try_from(s0 + s - 1).ok().filter(|r| r & LEAF == 0)?
                };
                refs.push(r);
            }
            let at = |i: usize| refs.get(i).copied();
            roots.push(at(0)?);
            let avg = tree.distribute_leaf_weights();
            for (n, a) in tree.nodes.iter().zip(avg) {
                if n.is_leaf {
                    leaves.push(FlatLeaf { value: n.weight_value as f64, avg: a });
                } else {
                    splits.push(FlatSplit {
                        value: n.split_value,
                        avg: a,
                        feature: u32::try_from(n.split_feature).ok()?,
                        left: at(n.left_child)?,
                        right: at(n.right_child)?,
                        missing: at(n.missing_node)?,
                    });
                }
            }
        }
        Some(Flat { splits, leaves, roots })
    }

    #[inline(always)]
    fn child(n: &FlatSplit, row: &[f64]) -> u32 {
        let v = row[n.feature as usize];
        if v.is_nan() {
            n.missing
        } else if v < n.value {
            n.left
        } else {
            n.right
        }
    }

    /// The leaf each of up to `LANES` trees from `roots` reaches, walking
    /// them one level at a time together.
    #[inline(always)]
    fn leaves_of(&self, roots: &[u32], row: &[f64]) -> [u32; LANES] {
        let mut r = [LEAF; LANES];
        r[..roots.len()].copy_from_slice(roots);
        while r.iter().any(|x| x & LEAF == 0) {
            for x in &mut r {
                if *x & LEAF == 0 {
                    *x = Self::child(&self.splits[*x as usize], row);
                }
            }
        }
        r
    }

    fn raw(&self, base_score: f64, row: &[f64]) -> f64 {
        let mut acc = base_score;
        for group in self.roots.chunks(LANES) {
            let ends = self.leaves_of(group, row);
            // In tree order, as forust adds them.
            for &end in &ends[..group.len()] {
                acc += self.leaves[(end & !LEAF) as usize].value;
            }
        }
        acc
    }

    /// Adds each tree's contributions to `values` (one per feature, then the bias).
    fn contributions(&self, row: &[f64], values: &mut [f64]) {
        let bias = values.len() - 1;
        for &root in &self.roots {
            let mut r = root;
            if r & LEAF != 0 {
                values[bias] += self.leaves[(r & !LEAF) as usize].avg;
                continue;
            }
            let mut n = &self.splits[r as usize];
            values[bias] += n.avg;
            loop {
                r = Self::child(n, row);
                if r & LEAF != 0 {
                    values[n.feature as usize] += self.leaves[(r & !LEAF) as usize].avg - n.avg;
                    break;
                }
                let c = &self.splits[r as usize];
                values[n.feature as usize] += c.avg - n.avg;
                n = c;
            }
        }
    }
}

impl fmt::Debug for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Model")
            .field("objective", &self.objective)
            .field("names", &self.names)
            .field("summary", &self.summary)
            .finish_non_exhaustive()
    }
}

impl Model {
    /// Trains with per-row sample weights (inverse selection probability); `valid` optional for
    /// early stopping and the reported validation loss.
    pub fn train(
        objective: Objective,
        data: &Dataset,
        y: &[f64],
        weights: &[f64],
        valid: Option<(&Dataset, &[f64], &[f64])>,
        params: &TrainParams,
    ) -> Result<Model, ModelError> {
        check_params(params)?;
        check_names(&data.names)?;
        check_rows(objective, data, y, weights, "data", "y", "weights")?;
        if objective == Objective::Classification {
            let has = |class: f64| y.iter().zip(weights).any(|(&l, &w)| l == class && w > 0.0);
            if !has(0.0) || !has(1.0) {
                return Err(ModelError::OneClass);
            }
        }
        if let Some((vdata, vy, vw)) = valid {
            if vdata.names != data.names {
                return Err(ModelError::FeatureNames("the training data"));
            }
            check_rows(objective, vdata, vy, vw, "validation data", "validation y", "validation weights")?;
        } else if params.early_stopping_rounds.is_some() {
            return Err(ModelError::EarlyStoppingWithoutValidation);
        }

        let mut booster = booster(objective, params);
        let columns = data.column_major();
        let matrix = Matrix::new(&columns, data.rows, data.cols());
        let valid_columns = valid.map(|(vdata, _, _)| vdata.column_major());
        let evaluation = valid
            .zip(valid_columns.as_ref())
            .map(|((vdata, vy, vw), columns)| vec![(Matrix::new(columns, vdata.rows, vdata.cols()), vy, vw)]);
        booster.fit(&matrix, y, weights, evaluation).map_err(|e| ModelError::Trainer(e.to_string()))?;

        // Early stopping grows a few trees past the best one; drop them so the stored model is
        // exactly what predicts.
        let kept = booster.prediction_iteration.unwrap_or(booster.trees.len()).min(booster.trees.len());
        booster.trees.truncate(kept);
        booster.prediction_iteration = None;
        let valid_loss = booster.evaluation_history.as_ref().and_then(|history| {
            let row = booster.best_iteration.unwrap_or(history.rows.checked_sub(1)?);
            (row < history.rows).then(|| *history.get(row, history.cols - 1))
        });
        // The per-tree history is only a training log; it would grow the stored model.
        booster.evaluation_history = None;
        booster.best_iteration = None;

        let summary = TrainSummary {
            params: params.clone(),
            rows: data.rows,
            weight_sum: weights.iter().sum(),
            valid_rows: valid.map(|(vdata, _, _)| vdata.rows),
            trees: booster.trees.len(),
            valid_loss,
            base_score: booster.base_score,
        };
        Ok(Model {
            format: FORMAT,
            objective,
            names: data.names.clone(),
            summary,
            booster,
            flat: std::sync::OnceLock::new(),
        })
    }

    /// The prediction for one row in feature order: a probability for classification.
    ///
    /// # Panics
    /// If `row` does not have one value per feature.
    pub fn predict(&self, row: &[f64]) -> f64 {
        self.assert_row(row);
        self.link(self.raw(row))
    }

    /// Predictions for every row, same as [`Model::predict`] on each, on the calling thread.
    ///
    /// Walking each row through the trees beats forust's column-wise batch predict here (measured
    /// ~100k rows/s on one thread against ~75k rows/s on two, 300 trees of depth 6); callers that
    /// want more threads can split the rows, since a `Model` is `Sync`.
    ///
    /// # Panics
    /// If the dataset's feature names are not the model's; see [`Model::check_dataset`].
    pub fn predict_batch(&self, data: &Dataset) -> Vec<f64> {
        assert!(data.names == self.names, "feature names do not match the model");
        (0..data.rows).map(|i| self.link(self.raw(data.row(i)))).collect()
    }

    /// Per-feature contributions for one row (path-averaged node values, as XGBoost's
    /// `approx_contribs`: one walk per tree, fast enough for every screened declaration;
    /// log-odds for classification), in
    /// the order of [`Model::feature_names`], plus the bias. They add up to the raw score.
    ///
    /// # Panics
    /// If `row` does not have one value per feature.
    pub fn contributions(&self, row: &[f64]) -> (Vec<f64>, f64) {
        self.assert_row(row);
        let mut values = vec![0.0; row.len() + 1];
        values[row.len()] = self.booster.base_score;
        match self.flat() {
            Some(flat) => flat.contributions(row, &mut values),
            None => self.forust_contributions(row, &mut values),
        }
        let bias = values.pop().expect("one value per feature plus the bias");
        (values, bias)
    }

    fn flat(&self) -> Option<&Flat> {
        self.flat.get_or_init(|| Flat::new(&self.booster)).as_ref()
    }

    /// forust's own walk (models whose missing value is not NaN).
    fn forust_contributions(&self, row: &[f64], values: &mut [f64]) {
        for tree in &self.booster.trees {
            let w = tree.distribute_leaf_weights();
            tree.predict_contributions_row_average(row, values, &w, &self.booster.missing);
        }
    }

    /// The score before the link function: log-odds for classification.
    pub fn raw(&self, row: &[f64]) -> f64 {
        self.assert_row(row);
        match self.flat() {
            Some(flat) => flat.raw(self.booster.base_score, row),
            None => self.forust_raw(row),
        }
    }

    /// Same order of additions as forust's own predict: base score, then each tree in turn.
    fn forust_raw(&self, row: &[f64]) -> f64 {
        self.booster.trees.iter().fold(self.booster.base_score, |acc, tree| {
            acc + tree.predict_row_from_row_slice(row, &self.booster.missing)
        })
    }

    /// Fails if `data` does not carry the model's features in the model's order.
    pub fn check_dataset(&self, data: &Dataset) -> Result<(), ModelError> {
        if data.names != self.names {
            return Err(ModelError::FeatureNames("the model"));
        }
        if data.values.len() != data.rows * data.cols() {
            return Err(ModelError::BadShape { values: data.values.len(), rows: data.rows, cols: data.cols() });
        }
        Ok(())
    }

    pub fn feature_names(&self) -> &[String] {
        &self.names
    }

    pub fn objective(&self) -> Objective {
        self.objective
    }

    pub fn summary(&self) -> &TrainSummary {
        &self.summary
    }

    pub fn trees(&self) -> usize {
        self.booster.trees.len()
    }

    /// JSON bytes; identical for identical training inputs.
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a model always serializes to JSON")
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Model, ModelError> {
        #[derive(Deserialize)]
        struct Header {
            format: u32,
        }
        let header: Header = serde_json::from_slice(bytes).map_err(|e| ModelError::Decode(e.to_string()))?;
        if header.format != FORMAT {
            return Err(ModelError::Decode(format!("format {} is not the supported format {FORMAT}", header.format)));
        }
        let model: Model = serde_json::from_slice(bytes).map_err(|e| ModelError::Decode(e.to_string()))?;
        let cols = model.names.len();
        if model.booster.trees.iter().flat_map(|t| &t.nodes).any(|n| !n.is_leaf && n.split_feature >= cols) {
            return Err(ModelError::Decode("a tree splits on a feature the model does not name".to_string()));
        }
        Ok(model)
    }

    fn link(&self, raw: f64) -> f64 {
        match self.objective {
            Objective::Classification => 1.0 / (1.0 + (-raw).exp()),
            Objective::Regression => raw,
        }
    }

    fn assert_row(&self, row: &[f64]) {
        assert_eq!(
            row.len(),
            self.names.len(),
            "row has {} values but the model has {} features",
            row.len(),
            self.names.len()
        );
    }
}

/// Every trainer knob, set explicitly so a forust default changing cannot change our models.
fn booster(objective: Objective, params: &TrainParams) -> GradientBooster {
    let mut b = GradientBooster::default();
    b.objective_type = match objective {
        Objective::Classification => ObjectiveType::LogLoss,
        Objective::Regression => ObjectiveType::SquaredLoss,
    };
    b.iterations = params.iterations;
    b.learning_rate = params.learning_rate as f32;
    b.max_depth = params.max_depth;
    b.max_leaves = params.max_leaves.unwrap_or(usize::MAX);
    b.l1 = 0.0;
    b.l2 = params.l2 as f32;
    b.gamma = 0.0;
    b.max_delta_step = 0.0;
    b.min_leaf_weight = params.min_leaf_weight as f32;
    b.initialize_base_score = true;
    b.nbins = 256;
    // forust's parallel paths are written to give the same trees as its serial ones (ordered
    // reductions, index tie-breaks); the determinism test holds us to that.
    b.parallel = true;
    b.num_threads = None;
    b.tiled_histograms = false;
    b.allow_missing_splits = true;
    b.monotone_constraints = None;
    b.subsample = 1.0;
    b.colsample_bytree = 1.0;
    b.sample_method = SampleMethod::None;
    b.seed = params.seed;
    b.missing = f64::NAN;
    b.create_missing_branch = false;
    b.grow_policy = if params.max_leaves.is_some() { GrowPolicy::LossGuide } else { GrowPolicy::DepthWise };
    b.evaluation_metric = None;
    b.early_stopping_rounds = params.early_stopping_rounds;
    b.terminate_missing_features = HashSet::new();
    b.missing_node_treatment = MissingNodeTreatment::AssignToParent;
    b.log_iterations = 0;
    b.force_children_to_bound_parent = false;
    b
}

fn check_params(p: &TrainParams) -> Result<(), ModelError> {
    let bad = |name, value: String, expected| Err(ModelError::BadParam { name, value, expected });
    if p.iterations == 0 {
        return bad("iterations", p.iterations.to_string(), "at least 1");
    }
    if !(p.learning_rate.is_finite() && p.learning_rate > 0.0) {
        return bad("learning_rate", p.learning_rate.to_string(), "a positive number");
    }
    if p.max_depth == 0 {
        return bad("max_depth", p.max_depth.to_string(), "at least 1");
    }
    if !(p.min_leaf_weight.is_finite() && p.min_leaf_weight >= 0.0) {
        return bad("min_leaf_weight", p.min_leaf_weight.to_string(), "a number not below 0");
    }
    if !(p.l2.is_finite() && p.l2 >= 0.0) {
        return bad("l2", p.l2.to_string(), "a number not below 0");
    }
    if p.early_stopping_rounds == Some(0) {
        return bad("early_stopping_rounds", "0".to_string(), "at least 1");
    }
    Ok(())
}

fn check_names(names: &[String]) -> Result<(), ModelError> {
    if names.is_empty() {
        return Err(ModelError::NoFeatures);
    }
    let mut seen = HashSet::new();
    match names.iter().find(|n| !seen.insert(n.as_str())) {
        Some(dup) => Err(ModelError::DuplicateFeature(dup.clone())),
        None => Ok(()),
    }
}

fn check_rows(
    objective: Objective,
    data: &Dataset,
    y: &[f64],
    weights: &[f64],
    data_what: &'static str,
    y_what: &'static str,
    weights_what: &'static str,
) -> Result<(), ModelError> {
    if data.values.len() != data.rows * data.cols() {
        return Err(ModelError::BadShape { values: data.values.len(), rows: data.rows, cols: data.cols() });
    }
    if data.rows == 0 {
        return Err(ModelError::NoRows);
    }
    for (what, got) in [(y_what, y.len()), (weights_what, weights.len())] {
        if got != data.rows {
            return Err(ModelError::LengthMismatch { what, got, data: data_what, rows: data.rows });
        }
    }
    for (row, &label) in y.iter().enumerate() {
        if label.is_nan() {
            return Err(ModelError::NanLabel { what: y_what, row });
        }
        match objective {
            Objective::Classification if label != 0.0 && label != 1.0 => {
                return Err(ModelError::NotBinary { what: y_what, row, value: label });
            }
            Objective::Regression if !label.is_finite() => {
                return Err(ModelError::NotFinite { what: y_what, row, value: label });
            }
            _ => {}
        }
    }
    if let Some((row, &value)) = weights.iter().enumerate().find(|(_, w)| !(w.is_finite() && **w >= 0.0)) {
        return Err(ModelError::BadWeight { what: weights_what, row, value });
    }
    if weights.iter().all(|&w| w == 0.0) {
        return Err(ModelError::ZeroWeight { what: weights_what });
    }
    Ok(())
}

#[cfg(test)]
mod flat_tests {
    use super::*;

    /// The compact trees give forust's scores and contributions to the
    /// bit, on rows with missing values, values equal to thresholds and
    /// values outside the training range.
    #[test]
    fn flat_trees_score_exactly_as_forust() {
        let names: Vec<String> = ["a", "b", "c", "d"].map(String::from).to_vec();
        let mut data = Dataset::new(names);
        let (mut y, mut w) = (Vec::new(), Vec::new());
        let mut x: u64 = 7;
        let mut unit = || {
            x = x.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            (x >> 11) as f64 / (1u64 << 53) as f64
        };
        for i in 0..2_000 {
            let mut row = [unit() * 2.0 - 1.0, unit(), (unit() * 10.0).floor(), unit() - 0.5];
            if i % 5 == 0 {
                row[2] = f64::NAN;
            }
            y.push(if row[0] + row[1] * 0.5 + unit() * 0.8 > 0.6 { 1.0 } else { 0.0 });
            w.push(1.0 + (i % 3) as f64);
            data.push(&row);
        }
        let params = TrainParams { iterations: 80, learning_rate: 0.1, max_depth: 5, ..TrainParams::default() };
        for objective in [Objective::Classification, Objective::Regression] {
            let model = Model::train(objective, &data, &y, &w, None, &params).unwrap();
            let flat = model.flat().expect("NaN is the missing value");
            let thresholds: Vec<f64> = flat.splits.iter().map(|n| n.value).collect();
            let mut rows: Vec<Vec<f64>> = (0..data.rows).map(|i| data.row(i).to_vec()).collect();
            rows.push(vec![f64::NAN; 4]);
            rows.push(vec![1e9, -1e9, 1e9, -1e9]);
            rows.extend(thresholds.iter().map(|t| vec![*t; 4]));
            for row in &rows {
                assert_eq!(model.raw(row).to_bits(), model.forust_raw(row).to_bits(), "{row:?}");
                let (mut a, mut b) = (vec![0.0; 5], vec![0.0; 5]);
                flat.contributions(row, &mut a);
                model.forust_contributions(row, &mut b);
                assert_eq!(
                    a.iter().map(|v| v.to_bits()).collect::<Vec<_>>(),
                    b.iter().map(|v| v.to_bits()).collect::<Vec<_>>()
                );
            }
        }
    }
}
