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
use crate::error::{DemudError, Result};
use crate::model::SubspaceModel;
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Zip};
use ndarray_linalg::{JobSvd, SVDDC};
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

/// A score method with optional per-feature weights, or a class of interest.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Scoring {
    pub(crate) method: ScoreMethod,
    pub(crate) weights: Option<Array1<f64>>,
    pub(crate) interest: Option<Interest>,
}

/// Whether the look-alikes of a class of interest are ranked up or down.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum InterestMode {
    /// Score only the novel content that lies along the class's own novel directions:
    /// items whose novelty looks like the class's come first.
    #[default]
    Up,
    /// Score only the novel content outside those directions: more of the same comes last.
    Down,
}

/// A class of interest: items a reviewer kept as interesting, summarised by the directions of
/// their novel content under the model of what was seen (an orthonormal basis `B`, d x r).
///
/// DEMUD's residual `e` of a candidate splits into `P e` (along the class's novel directions,
/// `P = B Bᵀ`) and `(I - P) e`; `up` scores `||P e||²`, `down` scores `||(I - P) e||²`. Both
/// are parts of the plain score `||e||² = ||P e||² + ||(I - P) e||²`, so each selection is
/// still explained by the same expected content `x̂` and novel content `e`.
///
/// ```
/// use demud::scoring::{Interest, InterestMode, Scoring, ScoreMethod};
/// use ndarray::array;
///
/// // The kept items' novel content points along the first feature.
/// let kept = array![[2.0, 0.0, 0.0], [-1.0, 0.0, 0.0]];
/// let up = Interest::from_residuals(kept.view(), 2, InterestMode::Up).unwrap();
/// let scoring = Scoring::new(ScoreMethod::LowHigh).with_interest(up);
/// assert_eq!(scoring.score(array![3.0, 4.0, 0.0].view()), 9.0);
/// ```
#[derive(Clone, Debug, PartialEq)]
pub struct Interest {
    basis: Array2<f64>,
    mode: InterestMode,
}

impl Interest {
    /// The class's novel directions: the top `max_rank` right singular vectors of the kept
    /// items' residuals (one per row, under the model that ranks the candidates), keeping
    /// only directions whose singular value is above rounding.
    pub fn from_residuals(
        residuals: ArrayView2<f64>,
        max_rank: usize,
        mode: InterestMode,
    ) -> Result<Self> {
        let (m, d) = residuals.dim();
        if m == 0 || d == 0 {
            return Err(DemudError::Empty {
                what: "the class of interest",
                items: m,
                features: d,
            });
        }
        if let Some(((i, j), _)) = residuals.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(DemudError::invalid(
                "interest",
                format!(
                    "item {i} of the class of interest has a non-finite residual at feature {j}"
                ),
            ));
        }
        let (_, sv, vt) = residuals
            .to_owned()
            .svddc(JobSvd::Some)
            .map_err(|e| DemudError::linalg("the SVD of the class of interest", e))?;
        let vt = vt.expect("requested V^T");
        let tol = sv.first().copied().unwrap_or(0.0) * (m.max(d) as f64) * f64::EPSILON;
        let keep = sv
            .iter()
            .take(max_rank.max(1))
            .filter(|&&s| s > tol)
            .count();
        if keep == 0 {
            return Err(DemudError::invalid(
                "interest",
                "the items of interest have no novel content under the model (each is explained exactly): there is no direction to rank their look-alikes by",
            ));
        }
        Ok(Interest {
            basis: vt.slice(s![..keep, ..]).t().to_owned(),
            mode,
        })
    }

    /// The class's novel directions (d x r, orthonormal columns).
    pub fn basis(&self) -> ArrayView2<'_, f64> {
        self.basis.view()
    }

    /// Up or down.
    pub fn mode(&self) -> InterestMode {
        self.mode
    }

    /// The part of `e` that counts: `P e` (up) or `(I - P) e` (down), with NaN counted as 0.
    fn part(&self, residual: ArrayView1<f64>) -> Array1<f64> {
        let e = residual.mapv(|v| if v.is_nan() { 0.0 } else { v });
        let along = self.basis.dot(&self.basis.t().dot(&e));
        match self.mode {
            InterestMode::Up => along,
            InterestMode::Down => e - along,
        }
    }
}

impl Scoring {
    /// Unweighted scoring with `method`.
    pub fn new(method: ScoreMethod) -> Self {
        Scoring {
            method,
            weights: None,
            interest: None,
        }
    }

    /// Scores only the part of the residual along (up) or away from (down) a class of
    /// interest's novel directions ([`Interest`]); needs the plain `lowhigh` score without
    /// weights (checked when a run starts).
    pub fn with_interest(mut self, interest: Interest) -> Self {
        self.interest = Some(interest);
        self
    }

    /// The class of interest, if any.
    pub fn interest(&self) -> Option<&Interest> {
        self.interest.as_ref()
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
        self.method == ScoreMethod::LowHigh && self.weights.is_none() && self.interest.is_none()
    }

    /// The direction `s` with `score(e) = <e, s>` and `d score / d e = 2 s`:
    /// `s_j = w_j^2 clip(e_j)` (since `e_j clip(e_j) = clip(e_j)^2`), 0 on unobserved features.
    /// For the plain score `s = e`. Attribution maps split `<e, s>` over parts of the item.
    /// With a class of interest, `s = P e` (up) or `(I - P) e` (down), since `P` is a
    /// projection: `<e, P e> = ||P e||²`.
    pub fn direction(&self, residual: ArrayView1<f64>) -> Array1<f64> {
        if let Some(interest) = &self.interest {
            return interest.part(residual);
        }
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
        if let Some(interest) = &self.interest {
            let part = interest.part(residual);
            return part.dot(&part);
        }
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
