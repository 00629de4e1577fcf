//! Why training, checking or loading a model can fail, in words a user can act on.

use thiserror::Error;

/// Everything but [`ModelError::Trainer`] is a problem with the caller's input.
#[derive(Clone, Debug, Error, PartialEq)]
pub enum ModelError {
    #[error("the data has no rows")]
    NoRows,
    #[error("the data has no features")]
    NoFeatures,
    #[error("feature name {0:?} appears more than once")]
    DuplicateFeature(String),
    #[error("the data has {values} values, expected rows ({rows}) times features ({cols})")]
    BadShape { values: usize, rows: usize, cols: usize },
    #[error("rows of {what} ({got}) do not match rows of {data} ({rows})")]
    LengthMismatch { what: &'static str, got: usize, data: &'static str, rows: usize },
    #[error("row {row} of {what} is not a number")]
    NanLabel { what: &'static str, row: usize },
    #[error("row {row} of {what} is {value}; classification needs 0 or 1")]
    NotBinary { what: &'static str, row: usize, value: f64 },
    #[error("row {row} of {what} is {value}; regression needs a finite number")]
    NotFinite { what: &'static str, row: usize, value: f64 },
    #[error("row {row} of {what} is {value}; weights must be finite and not negative")]
    BadWeight { what: &'static str, row: usize, value: f64 },
    #[error("{what} sum to zero")]
    ZeroWeight { what: &'static str },
    #[error("classification needs rows of both classes with positive weight")]
    OneClass,
    #[error("feature names do not match {0}")]
    FeatureNames(&'static str),
    #[error("parameter {name} is {value}; it must be {expected}")]
    BadParam { name: &'static str, value: String, expected: &'static str },
    #[error("early stopping needs a validation set")]
    EarlyStoppingWithoutValidation,
    #[error("these bytes are not a model: {0}")]
    Decode(String),
    #[error("the tree trainer failed: {0}")]
    Trainer(String),
}

impl ModelError {
    /// A stable identifier for callers that map errors to their own codes.
    pub fn code(&self) -> &'static str {
        match self {
            ModelError::NoRows => "no_rows",
            ModelError::NoFeatures => "no_features",
            ModelError::DuplicateFeature(_) => "duplicate_feature",
            ModelError::BadShape { .. } => "bad_shape",
            ModelError::LengthMismatch { .. } => "length_mismatch",
            ModelError::NanLabel { .. } => "nan_label",
            ModelError::NotBinary { .. } => "not_binary",
            ModelError::NotFinite { .. } => "not_finite",
            ModelError::BadWeight { .. } => "bad_weight",
            ModelError::ZeroWeight { .. } => "zero_weight",
            ModelError::OneClass => "one_class",
            ModelError::FeatureNames(_) => "feature_names",
            ModelError::BadParam { .. } => "bad_param",
            ModelError::EarlyStoppingWithoutValidation => "early_stopping_without_validation",
            ModelError::Decode(_) => "decode",
            ModelError::Trainer(_) => "trainer",
        }
    }

    /// True for failures the caller's input cannot explain.
    pub fn is_internal(&self) -> bool {
        matches!(self, ModelError::Trainer(_))
    }
}
