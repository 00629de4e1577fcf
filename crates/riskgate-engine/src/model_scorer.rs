//! The learned scorer: gradient-boosted trees over `features::FEATURES`,
//! one classifier for the probability of a finding and, optionally, one
//! regressor for the duty recovered when there is one. It plugs in through
//! the same `Scorer` seam as the statistical scorer.

use riskgate_model::{Model, ModelError};

use std::borrow::Cow;

use crate::features::{FEATURES, FeatureLayout};
use crate::scorer::{Score, ScoreInput, Scorer};

/// How many of the largest feature contributions a score keeps.
const KEPT_CONTRIBUTIONS: usize = 8;

pub struct ModelScorer {
    id: String,
    /// Where each of the model's inputs comes from.
    layout: FeatureLayout,
    classifier: Model,
    /// Predicts ln(1 + additional duty in CNY) given a finding.
    revenue: Option<Model>,
}

impl std::fmt::Debug for ModelScorer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ModelScorer").field("id", &self.id).finish_non_exhaustive()
    }
}

impl ModelScorer {
    pub fn new(id: String, classifier: Model, revenue: Option<Model>) -> Result<Self, ModelError> {
        let layout = FeatureLayout::from_names(classifier.feature_names())
            .map_err(|_| ModelError::FeatureNames("the features this engine computes; retrain the model"))?;
        if let Some(r) = &revenue
            && r.feature_names() != classifier.feature_names()
        {
            return Err(ModelError::FeatureNames("the classifier's; retrain the model"));
        }
        Ok(ModelScorer { id, layout, classifier, revenue })
    }

    /// Stored form: the classifier's and the regressor's bytes, each
    /// preceded by its length (8 bytes, little-endian; 0 = absent).
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        for m in [Some(&self.classifier), self.revenue.as_ref()] {
            let b = m.map(Model::to_bytes).unwrap_or_default();
            out.extend_from_slice(&(b.len() as u64).to_le_bytes());
            out.extend_from_slice(&b);
        }
        out
    }

    pub fn from_bytes(id: String, bytes: &[u8]) -> Result<Self, ModelError> {
        let mut parts = Vec::new();
        let mut rest = bytes;
        for _ in 0..2 {
            if rest.len() < 8 {
                return Err(ModelError::Decode("model bundle is truncated".into()));
            }
            let (len, tail) = rest.split_at(8);
            let len = u64::from_le_bytes(len.try_into().expect("8 bytes")) as usize;
            if tail.len() < len {
                return Err(ModelError::Decode("model bundle is truncated".into()));
            }
            let (part, tail) = tail.split_at(len);
            parts.push(if len == 0 { None } else { Some(Model::from_bytes(part)?) });
            rest = tail;
        }
        let revenue = parts.pop().flatten();
        let classifier =
            parts.pop().flatten().ok_or_else(|| ModelError::Decode("model bundle has no classifier".into()))?;
        ModelScorer::new(id, classifier, revenue)
    }

    pub fn classifier(&self) -> &Model {
        &self.classifier
    }
}

impl Scorer for ModelScorer {
    fn id(&self) -> &str {
        &self.id
    }

    fn learns_rules(&self) -> bool {
        true
    }

    fn score(&self, input: &ScoreInput<'_>) -> Score {
        let mut row = Vec::with_capacity(FEATURES.len().max(self.layout.len()));
        self.layout.fill(input, &mut Vec::new(), &mut row);
        // Contributions plus the bias add up to the log-odds: one walk of
        // the trees gives both the explanation and the probability.
        let (contrib, bias) = self.classifier.contributions(&row);
        let probability = crate::scorer::sigmoid(bias + contrib.iter().sum::<f64>());
        // The eight largest by size, ties by name (names are unique, so the
        // order is total): picked first, then only those eight sorted.
        let mut top: Vec<(usize, f64)> = contrib.iter().copied().enumerate().filter(|(_, v)| v.abs() > 1e-9).collect();
        let order = |a: &(usize, f64), b: &(usize, f64)| {
            b.1.abs().total_cmp(&a.1.abs()).then_with(|| self.layout.name(a.0).cmp(&self.layout.name(b.0)))
        };
        if top.len() > KEPT_CONTRIBUTIONS {
            top.select_nth_unstable_by(KEPT_CONTRIBUTIONS - 1, order);
            top.truncate(KEPT_CONTRIBUTIONS);
        }
        top.sort_unstable_by(order);
        let contributions: Vec<(Cow<'static, str>, f64)> =
            top.into_iter().map(|(i, v)| (self.layout.name(i), v)).collect();
        let duty_if_found = match &self.revenue {
            Some(m) => m.predict(&row).exp_m1().max(0.0),
            None => {
                let per_value =
                    if input.context.value_found_cny > 0.0 { input.context.revenue_per_value_found } else { 0.05 };
                input.total_value_cny * per_value
            }
        };
        Score {
            probability,
            expected_revenue_cny: probability * duty_if_found,
            contributions,
            scorer_id: self.id.clone(),
        }
    }
}
