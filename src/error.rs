//! The engine's one error type. Messages name the parameter, item or feature at fault.
//!
//! ```
//! use demud::{DemudError, DemudParams};
//! use ndarray::array;
//!
//! let data = array![[1.0, f64::NAN]];
//! let err = DemudParams::new(1).discover(data.view()).err().unwrap();
//! assert!(matches!(err, DemudError::MissingValue { item: 0, feature: 1 }));
//! ```

use thiserror::Error;

/// Everything the engine can refuse or fail at. Messages name the item, feature or parameter.
#[derive(Debug, Error)]
pub enum DemudError {
    /// The collection (or a prior data set) has no items or no features.
    #[error("{what} is empty ({items} items x {features} features)")]
    Empty {
        /// Which input: "the collection", "the prior data set".
        what: &'static str,
        /// Number of items found.
        items: usize,
        /// Number of features found.
        features: usize,
    },
    /// A value is NaN while the missing-value policy is `error`.
    #[error("item {item}, feature {feature}: value is missing (NaN); choose a missing-value policy (`zero` or `ignore`) to allow it")]
    MissingValue {
        /// 0-based item index.
        item: usize,
        /// 0-based feature index.
        feature: usize,
    },
    /// A value is infinite (never allowed).
    #[error("item {item}, feature {feature}: value is infinite")]
    InfiniteValue {
        /// 0-based item index.
        item: usize,
        /// 0-based feature index.
        feature: usize,
    },
    /// A value is so large that squared distances between items would exceed the largest
    /// `f64`: scores (and the expected content) could not be reported. The engine rescales
    /// any other collection internally, so only this extreme is refused.
    #[error("{what}, item {item}, feature {feature}: |value| {value:e} is too large: scores are squared distances, which would exceed the largest f64; divide the features by {divide_by:e} or more (values up to {limit:.1e} are ranked)")]
    ValueTooLarge {
        /// Which input: "the collection" or "the prior data set".
        what: &'static str,
        /// 0-based item index in that input.
        item: usize,
        /// 0-based feature index.
        feature: usize,
        /// The value.
        value: f64,
        /// The largest |value| this collection's number of features allows.
        limit: f64,
        /// A power of ten that brings the value within the limit.
        divide_by: f64,
    },
    /// Two inputs disagree on the number of features.
    #[error("dimension mismatch: {what} has {found} features, the collection has {expected}")]
    DimensionMismatch {
        /// Which input disagrees ("the prior data set", "the model", "the feature weights").
        what: &'static str,
        /// The collection's number of features.
        expected: usize,
        /// The other input's number.
        found: usize,
    },
    /// A parameter is out of its valid range or inconsistent with another.
    #[error("invalid parameter `{name}`: {reason}")]
    InvalidParameter {
        /// The parameter's name.
        name: &'static str,
        /// Why it is refused.
        reason: String,
    },
    /// LAPACK failed (non-convergence); the source is ndarray-linalg's error.
    #[error("linear algebra failure in {context}: {source}")]
    Linalg {
        /// What was being computed.
        context: &'static str,
        /// The underlying error, kept for `Error::source`.
        #[source]
        source: ndarray_linalg::error::LinalgError,
    },
    /// A saved model state cannot be used.
    #[error("model state: {0}")]
    ModelState(String),
}

/// Shorthand for results of the engine.
pub type Result<T, E = DemudError> = std::result::Result<T, E>;

impl DemudError {
    pub(crate) fn invalid(name: &'static str, reason: impl Into<String>) -> Self {
        DemudError::InvalidParameter {
            name,
            reason: reason.into(),
        }
    }

    pub(crate) fn linalg(
        context: &'static str,
        source: ndarray_linalg::error::LinalgError,
    ) -> Self {
        DemudError::Linalg { context, source }
    }
}

#[cfg(test)]
mod tests {
    use super::DemudError;
    use ndarray_linalg::error::LinalgError;
    use std::error::Error;

    #[test]
    fn a_linalg_failure_keeps_its_source() {
        let err = DemudError::linalg(
            "the SVD of the modelled items",
            LinalgError::NotSquare { rows: 2, cols: 3 },
        );
        let source = err.source().expect("the LAPACK error is the source");
        assert!(matches!(
            source.downcast_ref::<LinalgError>(),
            Some(LinalgError::NotSquare { rows: 2, cols: 3 })
        ));
        let message = err.to_string();
        assert!(
            message.starts_with("linear algebra failure in the SVD of the modelled items: ")
                && message.ends_with(&source.to_string()),
            "{message}"
        );
    }
}
