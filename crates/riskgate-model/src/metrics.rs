//! How well scores rank rows: the numbers that decide whether a model beats the rules it would replace.
//!
//! Labels are 0 or 1; a fractional label counts as that share of a positive. Weights are the
//! same per-row sample weights used in training (inverse selection probability), so the
//! figures estimate the whole population, not just the rows that happened to be checked.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

/// The top `selected` rows by score, where `selected = ceil(k * n)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AtK {
    pub k: f64,
    pub selected: usize,
    /// Weighted positives among the selected / weighted selected rows (0 if nothing is selected).
    pub precision: f64,
    /// Weighted positives among the selected / all weighted positives (0 if there are none).
    pub recall: f64,
    /// `weight * label * value` over selected rows / the same over all rows (0 if that is 0).
    /// Without `values` it equals `recall`.
    pub value_share: f64,
}

/// Rows ranked by score descending (ties broken by row index, `NaN` scores last); for each `k`
/// in `ks` (a fraction of rows in 0..=1) the figures for the top `ceil(k * n)` rows.
///
/// # Panics
/// If `labels`, `weights` or `values` are not as long as `scores`.
pub fn at_k(scores: &[f64], labels: &[f64], weights: Option<&[f64]>, values: Option<&[f64]>, ks: &[f64]) -> Vec<AtK> {
    let n = scores.len();
    assert_eq!(labels.len(), n, "labels and scores differ in length");
    let weight = |i: usize| weights.map_or(1.0, |w| w[i]);
    let value = |i: usize| values.map_or(1.0, |v| v[i]);
    if let Some(w) = weights {
        assert_eq!(w.len(), n, "weights and scores differ in length");
    }
    if let Some(v) = values {
        assert_eq!(v.len(), n, "values and scores differ in length");
    }

    // Prefix sums along the ranking: selected weight, positive weight, positive value.
    let order = ranking(scores);
    let mut prefix = Vec::with_capacity(n + 1);
    let mut acc = (0.0, 0.0, 0.0);
    prefix.push(acc);
    for &i in &order {
        let positive = weight(i) * labels[i];
        acc = (acc.0 + weight(i), acc.1 + positive, acc.2 + positive * value(i));
        prefix.push(acc);
    }
    let (_, all_positive, all_value) = acc;
    let share = |part: f64, whole: f64| if whole == 0.0 { 0.0 } else { part / whole };

    ks.iter()
        .map(|&k| {
            let selected = top_count(k, n);
            let (w, positive, val) = prefix[selected];
            AtK {
                k,
                selected,
                precision: share(positive, w),
                recall: share(positive, all_positive),
                value_share: share(val, all_value),
            }
        })
        .collect()
}

/// Area under the ROC curve: the chance a random positive (label >= 0.5) scores above a random
/// negative, ties counting half. `NaN` when either class is absent.
///
/// # Panics
/// If `labels` is not as long as `scores`.
pub fn auc(scores: &[f64], labels: &[f64]) -> f64 {
    assert_eq!(labels.len(), scores.len(), "labels and scores differ in length");
    let mut order = ranking(scores);
    order.reverse();
    let positives = labels.iter().filter(|&&l| l >= 0.5).count();
    let negatives = labels.len() - positives;
    if positives == 0 || negatives == 0 {
        return f64::NAN;
    }
    // Sum of 1-based ascending ranks of the positives, tied scores sharing their mean rank.
    let mut rank_sum = 0.0;
    let mut start = 0;
    while start < order.len() {
        let mut end = start + 1;
        while end < order.len() && key(scores[order[end]]) == key(scores[order[start]]) {
            end += 1;
        }
        let mean_rank = (start + 1 + end) as f64 / 2.0;
        rank_sum += mean_rank * order[start..end].iter().filter(|&&i| labels[i] >= 0.5).count() as f64;
        start = end;
    }
    let p = positives as f64;
    (rank_sum - p * (p + 1.0) / 2.0) / (p * negatives as f64)
}

/// `ceil(k * n)`, forgiving the rounding in products like `0.3 * 10 = 3.0000000000000004`.
fn top_count(k: f64, n: usize) -> usize {
    let exact = k * n as f64;
    let count = (exact - 1e-9 * exact.abs().max(1.0)).ceil();
    if count.is_nan() || count <= 0.0 { 0 } else { (count as usize).min(n) }
}

/// Row indices by score, highest first; ties keep index order, `NaN` goes last.
fn ranking(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| match key(scores[b]).total_cmp(&key(scores[a])) {
        Ordering::Equal => a.cmp(&b),
        other => other,
    });
    order
}

fn key(score: f64) -> f64 {
    if score.is_nan() { f64::NEG_INFINITY } else { score }
}
