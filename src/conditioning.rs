//! Feature conditioning: a fitted transform applied to every item before DEMUD ranks it.
//!
//! Raw CNN features are far from isotropic: a few directions carry most of the variance, and
//! an item's length says more about its contrast or texture than about what it shows. DEMUD's
//! reconstruction error then rewards visually odd items of visually varied classes. Centring,
//! scaling each item to unit length, a signed square root ("power" normalisation, Perronnin et
//! al. 2010) and PCA-whitening change which differences count. A [`Conditioning`] names the
//! steps; [`Conditioning::fit`] fits them on a set of items (the collection, or the archive
//! that a later batch is ranked against) and returns a [`Conditioner`], which is serialisable
//! so that a saved model conditions a later batch exactly as it conditioned the first.
//!
//! ```
//! use demud::conditioning::Conditioning;
//! use ndarray::array;
//!
//! let archive = array![[1.0_f64, 0.0], [3.0, 0.0], [2.0, 2.0]];
//! let conditioning: Conditioning = "centre+l2".parse().unwrap();
//! let conditioner = conditioning.fit(archive.view()).unwrap();
//! // A new item is centred on the archive's mean (2, 2/3), then scaled to unit length.
//! let z = conditioner.transform(array![[2.0_f64, 5.0 / 3.0]].view()).unwrap();
//! assert!((z[(0, 0)] - 0.0).abs() < 1e-12 && (z[(0, 1)] - 1.0).abs() < 1e-12);
//! ```

use crate::element::Element;
use crate::error::{DemudError, Result};
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};
use ndarray_linalg::{Eigh, UPLO};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

/// One conditioning step, applied to every item (row).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "lowercase")]
pub enum Step {
    /// Subtract the fitting set's mean.
    Centre,
    /// Divide each item by its Euclidean length (an all-zero item stays zero).
    #[serde(rename = "l2")]
    UnitLength,
    /// Signed square root of every value, `sign(v) sqrt(|v|)`: damps the few large activations
    /// that dominate distances between CNN features.
    Power,
    /// Project the centred item on the fitting set's top `dims` principal directions and divide
    /// each coordinate by that direction's standard deviation. Fewer directions are kept when
    /// the fitting set spans fewer (see [`Conditioner::output_dim`]).
    Whiten {
        /// The number of principal directions to keep.
        dims: usize,
    },
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Step::Centre => write!(f, "centre"),
            Step::UnitLength => write!(f, "l2"),
            Step::Power => write!(f, "power"),
            Step::Whiten { dims } => write!(f, "whiten:{dims}"),
        }
    }
}

/// An ordered list of steps; the empty list (`none`) leaves features as they are.
///
/// Written as the steps joined by `+`, for example `centre+l2` or `power+whiten:256+l2`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Conditioning {
    steps: Vec<Step>,
}

impl Conditioning {
    /// No conditioning.
    pub fn none() -> Self {
        Conditioning::default()
    }
    /// The conditioning the benchmark found best for CNN features (the README's discovery
    /// tables): the signed square root, then centring on the fitting set's mean, then unit
    /// length. The root damps the few large activations that dominate raw CNN features, and
    /// unit length makes DEMUD compare directions (what an image shows) rather than lengths
    /// (how strongly the network responds), so that it stops spending its picks on visually
    /// loud items of visually varied classes.
    pub fn recommended() -> Self {
        Conditioning::new(vec![Step::Power, Step::Centre, Step::UnitLength])
    }
    /// The steps, applied in this order.
    pub fn new(steps: Vec<Step>) -> Self {
        Conditioning { steps }
    }
    /// The steps.
    pub fn steps(&self) -> &[Step] {
        &self.steps
    }
    /// Whether there is nothing to do.
    pub fn is_none(&self) -> bool {
        self.steps.is_empty()
    }

    /// Fits every step on `data` (one item per row): each step is fitted on the output of the
    /// steps before it. Refuses an empty set, and non-finite values unless there is no step.
    pub fn fit<T: Element>(&self, data: ArrayView2<T>) -> Result<Conditioner> {
        let (n, d) = data.dim();
        if n == 0 || d == 0 {
            return Err(DemudError::Empty {
                what: "the set the conditioning is fitted on",
                items: n,
                features: d,
            });
        }
        if self.steps.is_empty() {
            // Nothing to fit: the identity takes any values (missing ones included, which the
            // engine's missing-value policy then handles).
            return Ok(Conditioner::identity(d));
        }
        let mut current = to_f64_checked(data)?;
        let mut fitted = Vec::with_capacity(self.steps.len());
        for step in &self.steps {
            let step = FittedStep::fit(*step, current.view())?;
            step.apply_rows(&mut current);
            fitted.push(step);
        }
        Ok(Conditioner {
            input_dim: d,
            fitted_on: n,
            steps: fitted,
        })
    }
}

impl fmt::Display for Conditioning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.steps.is_empty() {
            return write!(f, "none");
        }
        for (i, step) in self.steps.iter().enumerate() {
            if i > 0 {
                write!(f, "+")?;
            }
            write!(f, "{step}")?;
        }
        Ok(())
    }
}

impl FromStr for Conditioning {
    type Err = DemudError;

    /// Parses `none` or steps joined by `+`: `centre` (or `center`), `l2`, `power`,
    /// `whiten:D`.
    fn from_str(text: &str) -> Result<Self> {
        let text = text.trim();
        if text.is_empty() || text == "none" {
            return Ok(Conditioning::none());
        }
        let steps = text
            .split('+')
            .map(|token| match token.trim() {
                "centre" | "center" => Ok(Step::Centre),
                "l2" => Ok(Step::UnitLength),
                "power" => Ok(Step::Power),
                other => match other.strip_prefix("whiten:").map(str::parse::<usize>) {
                    Some(Ok(dims)) if dims > 0 => Ok(Step::Whiten { dims }),
                    _ => Err(DemudError::invalid(
                        "conditioning",
                        format!("unknown step {other:?} in {text:?}: the steps are none, centre, l2, power and whiten:D (D >= 1), joined by +"),
                    )),
                },
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Conditioning { steps })
    }
}

/// A step with what it learnt from the fitting set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(tag = "step", rename_all = "lowercase")]
enum FittedStep {
    Centre {
        mean: Array1<f64>,
    },
    #[serde(rename = "l2")]
    UnitLength,
    Power,
    Whiten {
        /// The number of directions asked for.
        dims: usize,
        mean: Array1<f64>,
        /// Principal directions, one per column (input dim x kept dims), orthonormal.
        directions: Array2<f64>,
        /// The standard deviation of the fitting set along each kept direction.
        deviations: Array1<f64>,
    },
}

/// Directions whose variance is below this fraction of the largest are not kept by `whiten`:
/// dividing by their tiny deviation would blow rounding noise up to unit size.
const WHITEN_RELATIVE_FLOOR: f64 = 1e-10;

impl FittedStep {
    fn fit(step: Step, data: ArrayView2<f64>) -> Result<Self> {
        Ok(match step {
            Step::Centre => FittedStep::Centre {
                mean: mean_of(data),
            },
            Step::UnitLength => FittedStep::UnitLength,
            Step::Power => FittedStep::Power,
            Step::Whiten { dims } => {
                if dims == 0 {
                    return Err(DemudError::invalid(
                        "conditioning",
                        "whiten:0 keeps no direction",
                    ));
                }
                let n = data.nrows();
                let mean = mean_of(data);
                let centred = &data - &mean;
                // The covariance (d x d) and its eigendecomposition: O(n d^2 + d^3), with the
                // n x d data read once by one matrix product.
                let covariance = centred.t().dot(&centred) / (n.max(2) - 1) as f64;
                let (values, vectors) = covariance
                    .eigh(UPLO::Upper)
                    .map_err(|e| DemudError::linalg("the covariance for whitening", e))?;
                // eigh returns ascending eigenvalues: walk them from the largest.
                let largest = values.iter().copied().fold(0.0_f64, f64::max);
                let kept: Vec<usize> = (0..values.len())
                    .rev()
                    .filter(|&j| largest > 0.0 && values[j] > largest * WHITEN_RELATIVE_FLOOR)
                    .take(dims)
                    .collect();
                if kept.is_empty() {
                    return Err(DemudError::invalid(
                        "conditioning",
                        "whiten: the fitting set has no variance (all items are equal)",
                    ));
                }
                let mut directions = Array2::zeros((data.ncols(), kept.len()));
                let mut deviations = Array1::zeros(kept.len());
                for (c, &j) in kept.iter().enumerate() {
                    directions.column_mut(c).assign(&vectors.column(j));
                    deviations[c] = values[j].sqrt();
                }
                FittedStep::Whiten {
                    dims,
                    mean,
                    directions,
                    deviations,
                }
            }
        })
    }

    fn output_dim(&self, input: usize) -> usize {
        match self {
            FittedStep::Whiten { deviations, .. } => deviations.len(),
            _ => input,
        }
    }

    fn step(&self) -> Step {
        match self {
            FittedStep::Centre { .. } => Step::Centre,
            FittedStep::UnitLength => Step::UnitLength,
            FittedStep::Power => Step::Power,
            FittedStep::Whiten { dims, .. } => Step::Whiten { dims: *dims },
        }
    }

    /// Applies the step to every row of `data`, in place (whitening replaces the matrix).
    fn apply_rows(&self, data: &mut Array2<f64>) {
        match self {
            FittedStep::Centre { mean } => *data -= mean,
            FittedStep::UnitLength => {
                for mut row in data.rows_mut() {
                    let norm = length(row.view());
                    if norm > 0.0 {
                        row /= norm;
                    }
                }
            }
            FittedStep::Power => data.mapv_inplace(signed_sqrt),
            FittedStep::Whiten {
                mean,
                directions,
                deviations,
                ..
            } => {
                let mut projected = (&*data - mean).dot(directions);
                projected /= deviations;
                *data = projected;
            }
        }
    }

    /// Applies the step to an item `x` given as the sum of `parts` (one per row), keeping
    /// that true: afterwards the rows of `parts` sum to the step's output for `x`. Each step is
    /// an affine map once the item is fixed (its length for `l2`, its ratio `sqrt|x|/|x|` per
    /// feature for `power`), and that map, with the constant shared equally, is applied to
    /// every part.
    fn apply_parts(&self, x: &mut Array1<f64>, parts: &mut Array2<f64>) {
        let m = parts.nrows().max(1) as f64;
        match self {
            FittedStep::Centre { mean } => {
                *parts -= &(mean / m);
                *x -= mean;
            }
            FittedStep::UnitLength => {
                let norm = length(x.view());
                if norm > 0.0 {
                    *parts /= norm;
                    *x /= norm;
                }
            }
            FittedStep::Power => {
                // signed_sqrt(x_j) = r_j x_j with r_j = 1 / sqrt|x_j|; where x_j = 0 its parts
                // sum to 0 and so do the scaled ones, whatever r_j: take 0.
                let ratio = x.mapv(|v| if v == 0.0 { 0.0 } else { 1.0 / v.abs().sqrt() });
                *parts *= &ratio;
                x.mapv_inplace(signed_sqrt);
            }
            FittedStep::Whiten {
                mean,
                directions,
                deviations,
                ..
            } => {
                let mut projected = (&*parts - &(mean / m)).dot(directions);
                projected /= deviations;
                *parts = projected;
                *x = (&*x - mean).dot(directions) / deviations;
            }
        }
    }

    /// The step's Jacobian at `input`, transposed, applied to `gradient` (a gradient with
    /// respect to the step's output becomes one with respect to its input).
    fn pullback(&self, input: ArrayView1<f64>, gradient: ArrayView1<f64>) -> Array1<f64> {
        match self {
            FittedStep::Centre { .. } => gradient.to_owned(),
            FittedStep::UnitLength => {
                // y = x / |x|: dy/dx = (I - y y^T) / |x|, symmetric.
                let norm = length(input);
                if norm == 0.0 {
                    return Array1::zeros(gradient.len());
                }
                let y = &input / norm;
                (&gradient - &(&y * y.dot(&gradient))) / norm
            }
            // d sqrt|x| sign(x) / dx = 1 / (2 sqrt|x|), unbounded at 0. An exact 0 in CNN
            // features is a rectifier that is off, through which no pixel moves the feature:
            // take 0 there.
            FittedStep::Power => ndarray::Zip::from(&input)
                .and(&gradient)
                .map_collect(|&x, &g| {
                    if x == 0.0 {
                        0.0
                    } else {
                        g / (2.0 * x.abs().sqrt())
                    }
                }),
            FittedStep::Whiten {
                directions,
                deviations,
                ..
            } => directions.dot(&(&gradient / deviations)),
        }
    }

    /// Maps a vector `z` of this step's output space back to its input space, for the item
    /// whose input to this step was `item`. Item-wise steps use the item's own values (its
    /// length for `l2`); `whiten` adds back the item's own part outside the kept directions,
    /// which the conditioned space does not see.
    fn invert(&self, z: ArrayView1<f64>, item: ArrayView1<f64>) -> Array1<f64> {
        match self {
            FittedStep::Centre { mean } => &z + mean,
            FittedStep::UnitLength => &z * length(item),
            FittedStep::Power => z.mapv(|v| v.signum() * v * v),
            FittedStep::Whiten {
                mean,
                directions,
                deviations,
                ..
            } => {
                let centred = &item - mean;
                let inside = directions.dot(&directions.t().dot(&centred));
                let outside = &centred - &inside;
                mean + &directions.dot(&(&z * deviations)) + &outside
            }
        }
    }
}

/// The Euclidean length of `x`, also where the sum of squares would underflow (values below
/// ~1e-154) or overflow (~1e154): there it is taken of `x / max|x|` and scaled back.
fn length(x: ArrayView1<f64>) -> f64 {
    let squares = x.dot(&x);
    if squares.is_normal() {
        return squares.sqrt();
    }
    let largest = x.fold(0.0_f64, |m, v| m.max(v.abs()));
    if largest == 0.0 || !largest.is_finite() {
        return largest;
    }
    let scaled = x.mapv(|v| v / largest);
    largest * scaled.dot(&scaled).sqrt()
}

fn signed_sqrt(v: f64) -> f64 {
    v.signum() * v.abs().sqrt()
}

fn mean_of(data: ArrayView2<f64>) -> Array1<f64> {
    data.mean_axis(Axis(0))
        .expect("the fitting set has at least one item")
}

fn to_f64_checked<T: Element>(data: ArrayView2<T>) -> Result<Array2<f64>> {
    let out = data.mapv(|v| v.to_f64());
    if let Some(((item, feature), v)) = out.indexed_iter().find(|(_, v)| !v.is_finite()) {
        return Err(if v.is_nan() {
            DemudError::MissingValue { item, feature }
        } else {
            DemudError::InfiniteValue { item, feature }
        });
    }
    Ok(out)
}

/// A fitted [`Conditioning`]: transforms items into the space DEMUD ranks them in, and maps
/// explanations made there back to the features.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Conditioner {
    input_dim: usize,
    fitted_on: usize,
    steps: Vec<FittedStep>,
}

impl Conditioner {
    /// The identity (no steps) for items of `dim` features.
    pub fn identity(dim: usize) -> Self {
        Conditioner {
            input_dim: dim,
            fitted_on: 0,
            steps: Vec::new(),
        }
    }
    /// Checks a conditioner read from a file: every step's widths agree with the features it
    /// receives, and whitening's deviations are finite and positive.
    pub fn validate(&self) -> Result<()> {
        let bad = |why: String| Err(DemudError::ModelState(format!("conditioning: {why}")));
        let mut width = self.input_dim;
        for (i, step) in self.steps.iter().enumerate() {
            match step {
                FittedStep::Centre { mean } if mean.len() != width => {
                    return bad(format!(
                        "step {} (centre) has a mean of {} values for {width} features",
                        i + 1,
                        mean.len()
                    ))
                }
                FittedStep::Whiten {
                    mean,
                    directions,
                    deviations,
                    ..
                } => {
                    if mean.len() != width
                        || directions.nrows() != width
                        || directions.ncols() != deviations.len()
                    {
                        return bad(format!(
                            "step {} (whiten) has shapes that do not fit {width} features",
                            i + 1
                        ));
                    }
                    if deviations.iter().any(|v| !(v.is_finite() && *v > 0.0))
                        || mean.iter().chain(directions.iter()).any(|v| !v.is_finite())
                    {
                        return bad(format!(
                            "step {} (whiten) has non-finite values or deviations <= 0",
                            i + 1
                        ));
                    }
                }
                FittedStep::Centre { mean } if mean.iter().any(|v| !v.is_finite()) => {
                    return bad(format!("step {} (centre) has a non-finite mean", i + 1))
                }
                _ => {}
            }
            width = step.output_dim(width);
        }
        Ok(())
    }

    /// The steps it was fitted for.
    pub fn conditioning(&self) -> Conditioning {
        Conditioning::new(self.steps.iter().map(FittedStep::step).collect())
    }
    /// Whether it leaves items as they are.
    pub fn is_identity(&self) -> bool {
        self.steps.is_empty()
    }
    /// The number of features it takes.
    pub fn input_dim(&self) -> usize {
        self.input_dim
    }
    /// The number of items it was fitted on.
    pub fn fitted_on(&self) -> usize {
        self.fitted_on
    }
    /// The number of features it gives (fewer than the input after `whiten`).
    pub fn output_dim(&self) -> usize {
        self.steps
            .iter()
            .fold(self.input_dim, |d, step| step.output_dim(d))
    }

    /// Transforms every item (row). The result has the storage precision of the input.
    pub fn transform<T: Element>(&self, data: ArrayView2<T>) -> Result<Array2<T>> {
        self.transform_as(data)
    }

    /// Transforms every item (row) into the precision `U`: a half-precision collection's
    /// conditioned copy is kept in `f32` ([`Element::Arithmetic`]), since conditioned values
    /// (unit-length items, whitened coordinates) would lose digits in `f16`.
    pub fn transform_as<T: Element, U: Element>(&self, data: ArrayView2<T>) -> Result<Array2<U>> {
        if data.ncols() != self.input_dim {
            return Err(DemudError::DimensionMismatch {
                what: "the conditioning",
                expected: data.ncols(),
                found: self.input_dim,
            });
        }
        if self.steps.is_empty() {
            return Ok(data.mapv(|v| U::from_f64(v.to_f64())));
        }
        // Blocks of rows keep the f64 working copy small for large f32 collections.
        const BLOCK: usize = 4096;
        let mut out = Array2::<U>::zeros((data.nrows(), self.output_dim()));
        for start in (0..data.nrows()).step_by(BLOCK) {
            let end = (start + BLOCK).min(data.nrows());
            let mut block =
                to_f64_checked(data.slice(s![start..end, ..])).map_err(|e| match e {
                    DemudError::MissingValue { item, feature } => DemudError::MissingValue {
                        item: item + start,
                        feature,
                    },
                    DemudError::InfiniteValue { item, feature } => DemudError::InfiniteValue {
                        item: item + start,
                        feature,
                    },
                    other => other,
                })?;
            for step in &self.steps {
                step.apply_rows(&mut block);
            }
            out.slice_mut(s![start..end, ..])
                .assign(&block.mapv(U::from_f64));
        }
        Ok(out)
    }

    /// Transforms one item given in `f64`.
    pub fn transform_item(&self, item: ArrayView1<f64>) -> Array1<f64> {
        let mut row = item.to_owned().insert_axis(Axis(0));
        for step in &self.steps {
            step.apply_rows(&mut row);
        }
        row.index_axis_move(Axis(0), 0)
    }

    /// Conditions an item given as a sum of parts (`m x input_dim`, one part per row: the
    /// positions of a feature map that a layer averages or flattens), returning parts in the
    /// conditioned space that sum to the conditioned item. Every step is affine once the item
    /// is fixed (see the module documentation of [`crate::attribution`]), so the split is
    /// exact up to rounding.
    pub fn condition_parts(&self, parts: ArrayView2<f64>) -> Result<Array2<f64>> {
        if parts.ncols() != self.input_dim {
            return Err(DemudError::DimensionMismatch {
                what: "the parts of the item",
                expected: self.input_dim,
                found: parts.ncols(),
            });
        }
        let mut x = parts.sum_axis(Axis(0));
        let mut conditioned = parts.to_owned();
        for step in &self.steps {
            step.apply_parts(&mut x, &mut conditioned);
        }
        Ok(conditioned)
    }

    /// Carries a gradient with respect to the conditioned item back to the item's features:
    /// `J(item)^T gradient`, where `J` is the conditioning's Jacobian at `item`.
    pub fn pullback(
        &self,
        item: ArrayView1<f64>,
        gradient: ArrayView1<f64>,
    ) -> Result<Array1<f64>> {
        if item.len() != self.input_dim || gradient.len() != self.output_dim() {
            return Err(DemudError::DimensionMismatch {
                what: "the gradient's item",
                expected: self.input_dim,
                found: item.len(),
            });
        }
        let mut inputs = Vec::with_capacity(self.steps.len());
        let mut row = item.to_owned().insert_axis(Axis(0));
        for step in &self.steps {
            inputs.push(row.row(0).to_owned());
            step.apply_rows(&mut row);
        }
        let mut g = gradient.to_owned();
        for (step, input) in self.steps.iter().zip(&inputs).rev() {
            g = step.pullback(input.view(), g.view());
        }
        Ok(g)
    }

    /// Maps an explanation made in the conditioned space back to the item's features:
    /// `expected` (the model's reconstruction of the conditioned item) goes back through the
    /// inverse steps, using the item's own values where a step is item-wise, and the novel
    /// content is what the item has beyond it, `item - expected`. An item the model explains
    /// perfectly comes back with zero novel content; with no steps both are returned as given.
    /// An item whose input to an `l2` step has zero length (it equals the fitting set's mean
    /// under `centre+l2`) has no length to scale back by: its expected content is the item
    /// itself, whatever its conditioned residual.
    pub fn explain_in_input_space(
        &self,
        item: ArrayView1<f64>,
        expected: ArrayView1<f64>,
    ) -> (Array1<f64>, Array1<f64>) {
        if self.steps.is_empty() {
            return (expected.to_owned(), &item - &expected);
        }
        if self.transform_item(item) == expected {
            // Explained exactly (the first pick of an index init): nothing is novel, and going
            // forward and back would only leave rounding noise.
            return (item.to_owned(), Array1::zeros(item.len()));
        }
        // The item's value at the input of every step.
        let mut inputs = Vec::with_capacity(self.steps.len());
        let mut row = item.to_owned().insert_axis(Axis(0));
        for step in &self.steps {
            inputs.push(row.row(0).to_owned());
            step.apply_rows(&mut row);
        }
        let mut z = expected.to_owned();
        for (step, input) in self.steps.iter().zip(&inputs).rev() {
            z = step.invert(z.view(), input.view());
        }
        let residual = &item - &z;
        (z, residual)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    fn close(a: ArrayView1<f64>, b: ArrayView1<f64>, tol: f64) -> bool {
        a.len() == b.len() && a.iter().zip(b).all(|(x, y)| (x - y).abs() <= tol)
    }

    #[test]
    fn unit_length_holds_for_items_whose_squares_under_or_overflow() {
        let l2: Conditioning = "l2".parse().unwrap();
        for scale in [1e-170, 1.0, 1e170] {
            let items = array![[3.0, 4.0], [0.0, 0.0], [-1.0, 0.0]].mapv(|v| v * scale);
            let conditioned = l2
                .fit(items.view())
                .unwrap()
                .transform(items.view())
                .unwrap();
            assert!(
                close(conditioned.row(0), array![0.6, 0.8].view(), 1e-15),
                "{scale:e}"
            );
            assert!(close(conditioned.row(1), array![0.0, 0.0].view(), 0.0));
            assert!(close(conditioned.row(2), array![-1.0, 0.0].view(), 0.0));
        }
    }

    fn collection() -> Array2<f64> {
        // 6 items in 3 features with unequal variances and a correlation.
        array![
            [1.0, 2.0, 0.5],
            [2.0, 1.0, -0.5],
            [3.0, 5.0, 0.0],
            [-1.0, 0.0, 1.0],
            [0.5, 1.5, 2.0],
            [4.0, 3.0, -1.0],
        ]
    }

    #[test]
    fn parses_and_prints_every_step() {
        let c: Conditioning = "power+centre+whiten:2+l2".parse().unwrap();
        assert_eq!(
            c.steps(),
            &[
                Step::Power,
                Step::Centre,
                Step::Whiten { dims: 2 },
                Step::UnitLength
            ]
        );
        assert_eq!(c.to_string(), "power+centre+whiten:2+l2");
        assert_eq!(
            "center".parse::<Conditioning>().unwrap().to_string(),
            "centre"
        );
        assert!("none".parse::<Conditioning>().unwrap().is_none());
        for bad in ["whiten", "whiten:0", "l3", "centre++l2"] {
            let err = bad.parse::<Conditioning>().unwrap_err().to_string();
            assert!(err.contains("conditioning"), "{bad}: {err}");
        }
    }

    #[test]
    fn centre_and_unit_length_are_fitted_on_one_set_and_applied_to_another() {
        let fit_on = collection();
        let conditioner = "centre+l2"
            .parse::<Conditioning>()
            .unwrap()
            .fit(fit_on.view())
            .unwrap();
        let mean = fit_on.mean_axis(Axis(0)).unwrap();
        let other = array![[10.0, -3.0, 2.0], [0.0, 0.0, 0.0]];
        let z = conditioner.transform(other.view()).unwrap();
        for (row, item) in z.rows().into_iter().zip(other.rows()) {
            let centred = &item - &mean;
            let expected = &centred / centred.dot(&centred).sqrt();
            assert!(close(row, expected.view(), 1e-12));
            assert!((row.dot(&row) - 1.0).abs() < 1e-12);
        }
    }

    #[test]
    fn unit_length_leaves_a_zero_item_zero() {
        let conditioner = Conditioning::new(vec![Step::UnitLength])
            .fit(array![[0.0, 0.0], [3.0, 4.0]].view())
            .unwrap();
        let z = conditioner
            .transform(array![[0.0, 0.0], [3.0, 4.0]].view())
            .unwrap();
        assert_eq!(z, array![[0.0, 0.0], [0.6, 0.8]]);
    }

    #[test]
    fn power_is_the_signed_square_root() {
        let conditioner = Conditioning::new(vec![Step::Power])
            .fit(array![[1.0]].view())
            .unwrap();
        let z = conditioner
            .transform(array![[4.0, -9.0, 0.0, 0.25]].view())
            .err();
        // Fitted on 1 feature: a 4-feature item is refused, naming the conditioning.
        assert!(matches!(z, Some(DemudError::DimensionMismatch { .. })));
        let conditioner = Conditioning::new(vec![Step::Power])
            .fit(array![[0.0, 0.0, 0.0, 0.0]].view())
            .unwrap();
        let z = conditioner
            .transform(array![[4.0, -9.0, 0.0, 0.25]].view())
            .unwrap();
        assert_eq!(z, array![[2.0, -3.0, 0.0, 0.5]]);
    }

    #[test]
    fn whitening_gives_the_fitting_set_identity_covariance() {
        let data = collection();
        let conditioner = Conditioning::new(vec![Step::Whiten { dims: 2 }])
            .fit(data.view())
            .unwrap();
        assert_eq!(conditioner.output_dim(), 2);
        let z = conditioner.transform(data.view()).unwrap();
        let mean = z.mean_axis(Axis(0)).unwrap();
        assert!(mean.iter().all(|m| m.abs() < 1e-12));
        let covariance = z.t().dot(&z) / (data.nrows() - 1) as f64;
        for i in 0..2 {
            for j in 0..2 {
                let want = if i == j { 1.0 } else { 0.0 };
                assert!((covariance[(i, j)] - want).abs() < 1e-10, "{covariance}");
            }
        }
        // The kept directions are the two of largest variance: the projection on them keeps
        // more of the variance than any other pair could, here more than 80%.
        let centred = &data - &data.mean_axis(Axis(0)).unwrap();
        let total: f64 = centred.iter().map(|v| v * v).sum();
        let FittedStep::Whiten { directions, .. } = &conditioner.steps[0] else {
            unreachable!()
        };
        let kept: f64 = centred.dot(directions).iter().map(|v| v * v).sum();
        assert!(kept / total > 0.8, "{}", kept / total);
    }

    #[test]
    fn whitening_keeps_only_directions_the_fitting_set_spans() {
        // Three items span a plane: whiten:3 keeps 2 directions.
        let data = array![[0.0, 0.0, 0.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]];
        let conditioner = Conditioning::new(vec![Step::Whiten { dims: 3 }])
            .fit(data.view())
            .unwrap();
        assert_eq!(conditioner.output_dim(), 2);
        let same = array![[1.0, 1.0, 1.0], [1.0, 1.0, 1.0]];
        let err = Conditioning::new(vec![Step::Whiten { dims: 1 }])
            .fit(same.view())
            .unwrap_err();
        assert!(err.to_string().contains("no variance"), "{err}");
    }

    #[test]
    fn fitting_refuses_bad_values_naming_them() {
        let err = Conditioning::new(vec![Step::Centre])
            .fit(array![[1.0, f64::INFINITY]].view())
            .unwrap_err();
        assert!(matches!(
            err,
            DemudError::InfiniteValue {
                item: 0,
                feature: 1
            }
        ));
        let conditioner = Conditioning::new(vec![Step::Centre])
            .fit(array![[1.0, 2.0]].view())
            .unwrap();
        let err = conditioner
            .transform(array![[1.0, 2.0], [f64::NAN, 0.0]].view())
            .unwrap_err();
        assert!(matches!(
            err,
            DemudError::MissingValue {
                item: 1,
                feature: 0
            }
        ));
    }

    #[test]
    fn a_damaged_conditioner_is_refused_by_validate() {
        let good = "centre+whiten:2"
            .parse::<Conditioning>()
            .unwrap()
            .fit(collection().view())
            .unwrap();
        assert!(good.validate().is_ok());
        let mut value = serde_json::to_value(&good).unwrap();
        // ndarray's serde form: {"v": 1, "dim": [...], "data": [...]}.
        value["steps"][0]["mean"]["dim"] = serde_json::json!([2]);
        value["steps"][0]["mean"]["data"] = serde_json::json!([1.0, 2.0]);
        let short: Conditioner = serde_json::from_value(value).unwrap();
        let err = short.validate().unwrap_err().to_string();
        assert!(
            err.contains("step 1 (centre) has a mean of 2 values for 3 features"),
            "{err}"
        );
        let mut value = serde_json::to_value(&good).unwrap();
        value["steps"][1]["deviations"]["data"][0] = serde_json::json!(0.0);
        let flat: Conditioner = serde_json::from_value(value).unwrap();
        let err = flat.validate().unwrap_err().to_string();
        assert!(err.contains("step 2 (whiten)"), "{err}");
    }

    #[test]
    fn an_exactly_explained_item_has_no_novel_content_after_mapping_back() {
        let conditioner = "power+centre+l2"
            .parse::<Conditioning>()
            .unwrap()
            .fit(collection().view())
            .unwrap();
        let item = array![0.3, 1.7, -0.2];
        let z = conditioner.transform_item(item.view());
        let (expected, residual) = conditioner.explain_in_input_space(item.view(), z.view());
        assert_eq!(expected, item);
        assert!(residual.iter().all(|r| *r == 0.0));
    }

    #[test]
    fn a_conditioner_survives_serialisation() {
        let conditioner = "power+centre+whiten:2+l2"
            .parse::<Conditioning>()
            .unwrap()
            .fit(collection().view())
            .unwrap();
        let json = serde_json::to_string(&conditioner).unwrap();
        let back: Conditioner = serde_json::from_str(&json).unwrap();
        assert_eq!(back, conditioner);
        let item = array![[0.3, -2.0, 1.0]];
        assert_eq!(
            back.transform(item.view()).unwrap(),
            conditioner.transform(item.view()).unwrap()
        );
        assert_eq!(back.conditioning().to_string(), "power+centre+whiten:2+l2");
    }

    #[test]
    fn f32_collections_are_transformed_in_f32_as_f64_would_round() {
        let data = collection();
        let conditioner = "centre+l2"
            .parse::<Conditioning>()
            .unwrap()
            .fit(data.view())
            .unwrap();
        let z64 = conditioner.transform(data.view()).unwrap();
        let z32 = conditioner
            .transform(data.mapv(|v| v as f32).view())
            .unwrap();
        assert_eq!(z32, z64.mapv(|v| v as f32));
    }

    #[test]
    fn explanations_map_back_to_the_features() {
        let data = collection();
        let item = array![2.5, -1.0, 0.75];
        for text in [
            "none",
            "centre",
            "l2",
            "power",
            "centre+l2",
            "power+centre+whiten:2+l2",
        ] {
            let conditioner = text
                .parse::<Conditioning>()
                .unwrap()
                .fit(data.view())
                .unwrap();
            let z = conditioner.transform_item(item.view());
            // A model that reconstructs the conditioned item exactly leaves nothing novel.
            let (expected, residual) = conditioner.explain_in_input_space(item.view(), z.view());
            assert!(
                close(expected.view(), item.view(), 1e-9),
                "{text}: {expected}"
            );
            assert!(
                residual.iter().all(|r| r.abs() < 1e-9),
                "{text}: {residual}"
            );
        }
        // Centring only shifts: the novel content is the conditioned residual itself.
        let conditioner = "centre"
            .parse::<Conditioning>()
            .unwrap()
            .fit(data.view())
            .unwrap();
        let z = conditioner.transform_item(item.view());
        let expected_z = array![0.1, 0.2, -0.3];
        let (_, residual) = conditioner.explain_in_input_space(item.view(), expected_z.view());
        assert!(close(residual.view(), (&z - &expected_z).view(), 1e-12));
        // Unit length: the expected content is scaled back to the item's own length.
        let conditioner = "l2"
            .parse::<Conditioning>()
            .unwrap()
            .fit(data.view())
            .unwrap();
        let norm = item.dot(&item).sqrt();
        let (expected, _) = conditioner.explain_in_input_space(item.view(), expected_z.view());
        assert!(close(expected.view(), (&expected_z * norm).view(), 1e-12));
    }
}
