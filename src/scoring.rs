//! Scores: how much of an item the model fails to explain.
//!
//! `score(x) = sum_j (w_j * clip(e_j))^2` with `e = x - xhat`, where `clip` keeps both signs
//! (`lowhigh`), only `e > 0` (`high`) or only `e < 0` (`low`), and `w` are optional
//! per-feature weights. Missing features (NaN, under the `ignore` policy) are projected out:
//! the item is reconstructed from its observed features only and scored on them.
//!
//! ```
//! use demud::scoring::{Scoring, ScoreMethod};
//! use ndarray::array;
//!
//! let residual = array![1.0, -2.0, 3.0];
//! assert_eq!(Scoring::new(ScoreMethod::LowHigh).score(residual.view()), 14.0);
//! assert_eq!(Scoring::new(ScoreMethod::High).score(residual.view()), 10.0);
//! assert_eq!(Scoring::new(ScoreMethod::Low).score(residual.view()), 4.0);
//! ```

use crate::element::Element;
use crate::model::SubspaceModel;
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Zip};
use serde::{Deserialize, Serialize};

/// Which residual values count towards the score (reference option `scoremethod`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreMethod {
    /// Both signs (the default).
    #[default]
    LowHigh,
    /// Only negative residuals: features lower than expected.
    Low,
    /// Only positive residuals: features higher than expected.
    High,
}

/// What to do with missing values (NaN) in the collection.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum MissingPolicy {
    /// Refuse them, naming the first item and feature (the default).
    #[default]
    Error,
    /// Replace them by 0.
    Zero,
    /// Score each item on its observed features only; an item with missing values enters the
    /// model with them imputed by its reconstruction (Brand 2002).
    Ignore,
}

/// A score method with optional per-feature weights.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scoring {
    pub(crate) method: ScoreMethod,
    pub(crate) weights: Option<Array1<f64>>,
}

impl Scoring {
    /// Unweighted scoring with `method`.
    pub fn new(method: ScoreMethod) -> Self {
        Scoring {
            method,
            weights: None,
        }
    }

    /// Multiplies each residual feature by its weight before squaring.
    pub fn with_weights(mut self, weights: Array1<f64>) -> Self {
        self.weights = Some(weights);
        self
    }

    /// The score method.
    pub fn method(&self) -> ScoreMethod {
        self.method
    }

    /// The feature weights, if any.
    pub fn weights(&self) -> Option<&Array1<f64>> {
        self.weights.as_ref()
    }

    /// True when the score is `||x - mu||^2 - ||U^T (x - mu)||^2`, which the fast update keeps.
    pub fn is_plain_norm(&self) -> bool {
        self.method == ScoreMethod::LowHigh && self.weights.is_none()
    }

    /// The direction `s` with `score(e) = <e, s>` and `d score / d e = 2 s`:
    /// `s_j = w_j^2 clip(e_j)` (since `e_j clip(e_j) = clip(e_j)^2`), 0 on unobserved features.
    /// For the plain score `s = e`. Attribution maps split `<e, s>` over parts of the item.
    pub fn direction(&self, residual: ArrayView1<f64>) -> Array1<f64> {
        let mut s = residual.mapv(|e| match self.method {
            _ if e.is_nan() => 0.0,
            ScoreMethod::LowHigh => e,
            ScoreMethod::High => e.max(0.0),
            ScoreMethod::Low => e.min(0.0),
        });
        if let Some(w) = &self.weights {
            s *= &w.mapv(|w| w * w);
        }
        s
    }

    /// Score of a residual vector; NaN entries (unobserved features) do not count.
    pub fn score(&self, residual: ArrayView1<f64>) -> f64 {
        let clip = |e: f64| match self.method {
            ScoreMethod::LowHigh => e,
            ScoreMethod::High => e.max(0.0),
            ScoreMethod::Low => e.min(0.0),
        };
        let term = |e: f64, w: f64| {
            if e.is_nan() {
                0.0
            } else {
                let v = clip(e) * w;
                v * v
            }
        };
        match &self.weights {
            None => residual.iter().map(|&e| term(e, 1.0)).sum(),
            Some(w) => residual.iter().zip(w).map(|(&e, &w)| term(e, w)).sum(),
        }
    }
}

/// Expected content and residual of one item. Missing features (NaN) are left out of the
/// projection; the expected content is still given for them, the residual is NaN there.
pub fn explain(model: &SubspaceModel, x: ArrayView1<f64>) -> (Array1<f64>, Array1<f64>) {
    if !x.iter().any(|v| v.is_nan()) {
        let expected = model.reconstruct(x);
        let residual = &x - &expected;
        return (expected, residual);
    }
    let basis = model.basis();
    let mean = model.mean();
    let mut coords = Array1::<f64>::zeros(model.rank());
    for (j, &value) in x.iter().enumerate() {
        if !value.is_nan() {
            coords.scaled_add(value - mean[j], &basis.row(j));
        }
    }
    let expected = basis.dot(&coords) + mean;
    let residual = &x - &expected;
    (expected, residual)
}

/// Rows converted to f64 per block: 256 x 4096 x 8 B = 8 MB.
const BLOCK_ROWS: usize = 256;

/// Calls `visit(start, block)` for consecutive blocks of rows of `data`, each converted to f64
/// with `mean` subtracted (`block` row r is item `start + r`). The O(n d r) exact computations
/// go through this so that they never hold more than one block of f64 copies.
pub(crate) fn for_each_centred_block<T: Element>(
    data: ArrayView2<T>,
    mean: ArrayView1<f64>,
    mut visit: impl FnMut(usize, ArrayView2<f64>),
) {
    let (n, d) = data.dim();
    let mut block = Array2::<f64>::zeros((BLOCK_ROWS.min(n), d));
    for start in (0..n).step_by(BLOCK_ROWS) {
        let end = (start + BLOCK_ROWS).min(n);
        let mut centred = block.slice_mut(s![..end - start, ..]);
        Zip::from(centred.rows_mut())
            .and(data.slice(s![start..end, ..]).rows())
            .for_each(|mut out, row| {
                Zip::from(&mut out)
                    .and(&row)
                    .and(&mean)
                    .for_each(|o, &v, &mu| *o = v.to_f64() - mu);
            });
        visit(start, centred.view());
    }
}

/// Scores of every row of `data` under `model`, by explicit reconstruction (O(n d r)): the
/// plain, exact computation the fast update is checked against. Rows with `active[i] == false`
/// get `-inf`.
pub fn exact_scores<T: Element>(
    data: ArrayView2<T>,
    active: &[bool],
    model: &SubspaceModel,
    scoring: &Scoring,
) -> Array1<f64> {
    let basis = model.basis();
    let mut scores = Array1::from_elem(data.nrows(), f64::NEG_INFINITY);
    for_each_centred_block(data, model.mean(), |start, centred| {
        let coords = centred.dot(&basis);
        let residuals = &centred - &coords.dot(&basis.t());
        for (offset, residual) in residuals.rows().into_iter().enumerate() {
            let i = start + offset;
            if !active[i] {
                continue;
            }
            scores[i] = if residual.iter().any(|v| v.is_nan()) {
                let x = data.row(i).mapv(Element::to_f64);
                scoring.score(explain(model, x.view()).1.view())
            } else {
                scoring.score(residual)
            };
        }
    });
    scores
}
