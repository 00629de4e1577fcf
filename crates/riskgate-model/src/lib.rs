//! Gradient-boosted trees over named numeric features, and the metrics to judge a ranking.
//!
//! The crate knows nothing about customs. A caller fills a [`Dataset`] (feature
//! names plus row-major `f64` rows, `NaN` = missing), trains a [`Model`] with
//! per-row sample weights, stores it with [`Model::to_bytes`] and scores rows one
//! at a time or in batches. [`metrics`] ranks scores and reports precision,
//! recall and value share at fractions of rows, plus AUC.
//!
//! The trees come from `forust-ml` (an XGBoost-style trainer). This crate pins
//! every knob it exposes so training is deterministic: same data and params give
//! byte-identical [`Model::to_bytes`]. forust trains on rayon's global pool; its
//! parallel steps reduce in a fixed order, so the thread count does not change the trees.
//!
//! Architecture invariant: no I/O, no clock, no environment, no printing; no
//! dependency on any other riskgate crate.

mod dataset;
mod error;
pub mod metrics;
mod model;

pub use dataset::Dataset;
pub use error::ModelError;
pub use model::{Model, Objective, TrainParams, TrainSummary};
