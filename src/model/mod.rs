//! The model of "uninteresting" (already seen) data: mean, orthonormal basis, singular values
//! and the number of items it models, with the updates that add one item to it.
//!
//! The reconstruction of an item is `xhat = U U^T (x - mu) + mu` (expected content) and its
//! residual `e = x - xhat` (novel content).
//!
//! ```
//! use demud::model::{IncrementalMethod, SubspaceModel, RankZeroStyle};
//! use ndarray::array;
//!
//! let mut model = SubspaceModel::rank_zero(array![0.0, 0.0, 0.0].view(), RankZeroStyle::Empty);
//! model.add_item(array![1.0, 0.0, 0.0].view(), IncrementalMethod::Brand, 2).unwrap();
//! assert_eq!(model.rank(), 1);
//! // An item on the line through the two seen items is fully expected.
//! let xhat = model.reconstruct(array![3.0, 0.0, 0.0].view());
//! assert!((xhat[0] - 3.0).abs() < 1e-12);
//! ```

mod randomized;

pub(crate) use randomized::RowRanges;

use crate::element::Element;
use crate::error::{DemudError, Result};
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};
use ndarray_linalg::{JobSvd, SVDDC};
use serde::{Deserialize, Serialize};

/// An incremental SVD update that adds one item at a time.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum IncrementalMethod {
    /// Brand (2002), as in the reference: the new item enters as `x - mu'` (new mean).
    Brand,
    /// Ross et al. (2008) with mean tracking: the new item enters as `sqrt(m/(m+1)) (x - mu)`,
    /// which makes the update exact for the scatter matrix of the centred items.
    Ross,
}

/// How a model of a single item (rank 0) is stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RankZeroStyle {
    /// No basis at all: every deviation from the mean counts as novel.
    Empty,
    /// The reference implementation's quirk: basis `e_0` with singular value 0, so feature 0
    /// is left out of the next score and a spurious direction stays until truncated.
    ReferenceFirstAxis,
}

/// Which singular directions of a batch SVD are kept.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Truncation {
    /// Keep at most `k` directions, dropping those whose singular value is numerically zero
    /// (the centred items of a set of `m` have rank at most `m - 1`).
    DropNullDirections,
    /// Keep `min(k, m, d)` directions as the reference does, even numerically null ones.
    KeepAll,
}

/// How the top-k SVD of a whole collection is computed: the `svd` initialisation, `static`,
/// and the model of a prior data set.
///
/// The exact SVD (LAPACK `gesdd`) of n x d items costs O(n d min(n, d)) time and holds an
/// `f64` copy of the items, LAPACK's left singular vectors and its workspace (16 to 24 n d
/// bytes); the randomized one (Halko, Martinsson & Tropp 2011, see `randomized.rs`) costs
/// O(n d k) per pass over the items, makes 5 passes and holds no copy. Their models agree to
/// rounding when `k + 10 >= min(n, d)` (the randomized subspace is then the whole space),
/// closely when the singular values fall steeply past the k-th, and less so when they fall
/// slowly: at 20,000 x 1,024 with singular values falling as 1/j, scores differ by up to
/// 2.6% and the static order's top 50 by a few swaps (the first pick agreed in every
/// measurement). Beyond the structure of the data (the k-th and later singular values at the
/// noise floor) the two models hold different, equally good noise directions.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SvdMethod {
    /// Randomized from [`SvdMethod::AUTO_MIN_VALUES`] values (n x d) up and when
    /// `min(n, d) > 2 (k + 10)`, exact below.
    #[default]
    Auto,
    /// LAPACK's divide-and-conquer SVD of the centred items in `f64`.
    Exact,
    /// The randomized subspace iteration, seeded by the run's seed.
    Randomized,
}

impl SvdMethod {
    /// The collection size (n x d values) from which [`SvdMethod::Auto`] takes the randomized
    /// SVD. Measured with `benches/init.rs` on a 2-core machine (f32 items, d = 1,024,
    /// k = 20): at 4 million values (4,000 items) the exact SVD takes 2 to 4 s and holds
    /// about 100 MB of copies, the randomized one 0.2 s; at 20 million, 9 to 18 s against
    /// 0.6 to 1.4 s. Below the threshold the exact model costs seconds at most, and keeps
    /// scores exact and runs made before the randomized SVD reproducible; above, its time
    /// grows as n d min(n, d) and its copies as 24 n d bytes.
    pub const AUTO_MIN_VALUES: usize = 4_000_000;

    /// Whether the randomized SVD computes the top `k` of `n` x `d` items.
    pub(crate) fn is_randomized(self, n: usize, d: usize, k: usize) -> bool {
        match self {
            SvdMethod::Exact => false,
            SvdMethod::Randomized => true,
            SvdMethod::Auto => {
                n.saturating_mul(d) >= Self::AUTO_MIN_VALUES
                    && n.min(d) > 2 * (k + randomized::OVERSAMPLING)
            }
        }
    }
}

/// What an incremental update did to the basis, in the terms the fast score update needs.
///
/// With `v = x - mu_old`, `L = U_old^T v` and `J` the unit residual of `v` off the old basis,
/// the new basis is `U_new = [U_old, J] rotation` (without `J` when `new_direction` is `None`).
#[derive(Clone, Debug)]
pub struct BasisChange {
    /// Number of items the model held before the update.
    pub old_count: usize,
    /// `v = x - mu_old`.
    pub shift: Array1<f64>,
    /// `L = U_old^T v` (old rank).
    pub shift_in_basis: Array1<f64>,
    /// `K = || v - U_old L ||` when `v` added a direction, `None` when it lay in the old span.
    pub new_direction: Option<f64>,
    /// `(old rank [+ 1]) x (new rank)` rotation.
    pub rotation: Array2<f64>,
}

/// Mean, orthonormal basis (d x r), singular values (r) and item count of the seen data.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct SubspaceModel {
    mean: Array1<f64>,
    basis: Array2<f64>,
    singular_values: Array1<f64>,
    count: usize,
}

impl SubspaceModel {
    /// The model of a single item: mean = the item, rank 0 (or the reference's `e_0` quirk).
    pub fn rank_zero(item: ArrayView1<f64>, style: RankZeroStyle) -> Self {
        let d = item.len();
        let (basis, singular_values) = match style {
            RankZeroStyle::Empty => (Array2::zeros((d, 0)), Array1::zeros(0)),
            RankZeroStyle::ReferenceFirstAxis => {
                let mut basis = Array2::zeros((d, 1));
                basis[(0, 0)] = 1.0;
                (basis, Array1::zeros(1))
            }
        };
        SubspaceModel {
            mean: item.to_owned(),
            basis,
            singular_values,
            count: 1,
        }
    }

    /// A model with a mean and no basis (used for the `mean` initialisation).
    pub fn mean_only(mean: Array1<f64>, count: usize, style: RankZeroStyle) -> Self {
        let mut model = Self::rank_zero(mean.view(), style);
        model.count = count;
        model
    }

    /// The top-`k` SVD model of `items` (one item per row), centred on their mean.
    pub fn from_items(items: ArrayView2<f64>, k: usize, truncation: Truncation) -> Result<Self> {
        let (m, d) = items.dim();
        if m == 0 || d == 0 {
            return Err(DemudError::Empty {
                what: "the data set to model",
                items: m,
                features: d,
            });
        }
        let mean = items.mean_axis(Axis(0)).expect("non-empty");
        if m == 1 {
            // One centred item is the zero vector: no direction to model.
            return Ok(Self::mean_only(mean, 1, RankZeroStyle::Empty));
        }
        let centred = &items - &mean;
        Self::from_centred(centred, mean, k, truncation)
    }

    /// The top-`k` SVD model of a whole collection (one item per row, in its storage
    /// precision), centred on its mean, computed by `method` (`seed` seeds the randomized
    /// SVD). Missing values (NaN) are the feature's mean over the items that have it.
    pub fn of_collection<T: Element>(
        data: ArrayView2<T>,
        k: usize,
        truncation: Truncation,
        method: SvdMethod,
        seed: u64,
    ) -> Result<Self> {
        let (n, d) = data.dim();
        if n == 0 || d == 0 {
            return Err(DemudError::Empty {
                what: "the data set to model",
                items: n,
                features: d,
            });
        }
        let mean = randomized::column_means(data);
        if n == 1 {
            return Ok(Self::mean_only(mean, 1, RankZeroStyle::Empty));
        }
        if !method.is_randomized(n, d, k) {
            // One f64 copy, centred in place (missing values become the mean, i.e. 0).
            let mut centred = data.mapv(Element::to_f64);
            ndarray::Zip::from(centred.rows_mut()).for_each(|mut row| {
                ndarray::Zip::from(&mut row).and(&mean).for_each(|v, &mu| {
                    *v = if v.is_nan() { 0.0 } else { *v - mu };
                });
            });
            return Self::from_centred(centred, mean, k, truncation);
        }
        let (sv, basis) = randomized::top_right_singular(data, mean.view(), k, seed)?;
        let keep = Self::kept_directions(sv.view(), n, d, k, truncation);
        Ok(SubspaceModel {
            mean,
            basis: basis.slice(s![.., ..keep]).to_owned(),
            singular_values: sv.slice(s![..keep]).to_owned(),
            count: n,
        })
    }

    /// The top-`k` SVD model of a collection split into row ranges (one process holds `data`,
    /// others the other ranges; `ranges` combines their partial results), centred on `mean`,
    /// the mean of all the ranges. The same model results on every range.
    ///
    /// The randomized SVD runs as in one process, its sums combined over the ranges. The exact
    /// one is a TSQR (Demmel et al. 2012): each range's centred f64 copy is reduced to its R
    /// factor (at most d x d), the R factors are stacked and reduced to one R, and the SVD of
    /// that R has the singular values and right vectors of the whole centred collection.
    /// Not the d x d Gram matrix `C^T C` with `eigh`: squaring the singular values halves their
    /// digits, so directions at the noise floor would lose the null-direction truncation that
    /// the one-process SVD applies to them.
    pub(crate) fn of_row_ranges<T: Element>(
        data: ArrayView2<T>,
        mean: Array1<f64>,
        k: usize,
        truncation: Truncation,
        method: SvdMethod,
        seed: u64,
        ranges: &dyn RowRanges,
    ) -> Result<Self> {
        let d = data.ncols();
        let n = ranges.total_rows();
        if n == 1 {
            return Ok(Self::mean_only(mean, 1, RankZeroStyle::Empty));
        }
        let (sv, basis) = if method.is_randomized(n, d, k) {
            randomized::top_right_singular_over(data, mean.view(), k, seed, ranges)?
        } else {
            let local = if data.nrows() == 0 {
                Array2::zeros((0, d))
            } else {
                let mut centred = data.mapv(Element::to_f64);
                ndarray::Zip::from(centred.rows_mut()).for_each(|mut row| {
                    ndarray::Zip::from(&mut row)
                        .and(&mean)
                        .for_each(|v, &mu| *v -= mu);
                });
                ndarray_linalg::QRInto::qr_into(centred)
                    .map_err(|e| DemudError::linalg("the QR of a row range", e))?
                    .1
            };
            let r = match ranges.stack(local.clone())? {
                Some(stacked) if stacked.nrows() > 0 => {
                    ndarray_linalg::QRInto::qr_into(stacked)
                        .map_err(|e| DemudError::linalg("the QR of the stacked R factors", e))?
                        .1
                }
                Some(stacked) => stacked,
                None => local,
            };
            let (_, sv, vt) = r
                .svddc(JobSvd::Some)
                .map_err(|e| DemudError::linalg("the SVD of the stacked R factors", e))?;
            (sv, vt.expect("requested V^T").t().to_owned())
        };
        let keep = Self::kept_directions(sv.view(), n, d, k, truncation);
        Ok(SubspaceModel {
            mean,
            basis: basis.slice(s![.., ..keep]).to_owned(),
            singular_values: sv.slice(s![..keep]).to_owned(),
            count: n,
        })
    }

    /// The model of `m` items from their centred copy (consumed by the SVD).
    fn from_centred(
        centred: Array2<f64>,
        mean: Array1<f64>,
        k: usize,
        truncation: Truncation,
    ) -> Result<Self> {
        let (m, d) = centred.dim();
        let (_, sv, vt) = centred
            .svddc(JobSvd::Some)
            .map_err(|e| DemudError::linalg("the SVD of the modelled items", e))?;
        let vt = vt.expect("requested V^T");
        let keep = Self::kept_directions(sv.view(), m, d, k, truncation);
        Ok(SubspaceModel {
            mean,
            basis: vt.slice(s![..keep, ..]).t().to_owned(),
            singular_values: sv.slice(s![..keep]).to_owned(),
            count: m,
        })
    }

    /// How many of the singular values `sv` (descending) of `m` centred items of `d`
    /// features a model of `k` directions keeps.
    fn kept_directions(
        sv: ArrayView1<f64>,
        m: usize,
        d: usize,
        k: usize,
        truncation: Truncation,
    ) -> usize {
        let available = sv.len().min(k);
        match truncation {
            Truncation::KeepAll => available,
            Truncation::DropNullDirections => {
                let tol = sv.first().copied().unwrap_or(0.0) * (m.max(d) as f64) * f64::EPSILON;
                sv.iter().take(available).filter(|&&s| s > tol).count()
            }
        }
    }

    /// Builds a model from its parts, checking shapes and that the basis is orthonormal
    /// (columns of norm 1 or 0, pairwise orthogonal, within `1e-6`).
    pub fn from_parts(
        mean: Array1<f64>,
        basis: Array2<f64>,
        singular_values: Array1<f64>,
        count: usize,
    ) -> Result<Self> {
        let model = SubspaceModel {
            mean,
            basis,
            singular_values,
            count,
        };
        model.validate()?;
        Ok(model)
    }

    pub(crate) fn validate(&self) -> Result<()> {
        let d = self.mean.len();
        let bad = |reason: String| Err(DemudError::ModelState(reason));
        if self.basis.nrows() != d {
            return bad(format!(
                "basis has {} rows, mean has {d} features",
                self.basis.nrows()
            ));
        }
        if self.basis.ncols() != self.singular_values.len() {
            return bad(format!(
                "basis has {} columns but there are {} singular values",
                self.basis.ncols(),
                self.singular_values.len()
            ));
        }
        if self.count == 0 {
            return bad("the model counts 0 items".into());
        }
        let all = self.mean.iter().chain(self.basis.iter());
        if all
            .chain(self.singular_values.iter())
            .any(|v| !v.is_finite())
        {
            return bad("the model holds NaN or infinite values".into());
        }
        let gram = self.basis.t().dot(&self.basis);
        for ((i, j), &g) in gram.indexed_iter() {
            let ok = if i == j {
                (g - 1.0).abs() < 1e-6 || g.abs() < 1e-6
            } else {
                g.abs() < 1e-6
            };
            if !ok {
                return bad(format!(
                    "the basis is not orthonormal (U^T U [{i},{j}] = {g})"
                ));
            }
        }
        Ok(())
    }

    /// The model of the same items in other units: `unit` (a multiplication by a constant)
    /// applied to the mean and the singular values; the basis does not change.
    pub(crate) fn rescaled(&self, unit: impl Fn(f64) -> f64) -> Self {
        SubspaceModel {
            mean: self.mean.mapv(&unit),
            basis: self.basis.clone(),
            singular_values: self.singular_values.mapv(&unit),
            count: self.count,
        }
    }

    /// Number of features d.
    pub fn dim(&self) -> usize {
        self.mean.len()
    }
    /// Number of basis directions r.
    pub fn rank(&self) -> usize {
        self.basis.ncols()
    }
    /// The mean mu of the modelled items.
    pub fn mean(&self) -> ArrayView1<'_, f64> {
        self.mean.view()
    }
    /// The orthonormal basis U (d x r).
    pub fn basis(&self) -> ArrayView2<'_, f64> {
        self.basis.view()
    }
    /// The singular values s (r).
    pub fn singular_values(&self) -> ArrayView1<'_, f64> {
        self.singular_values.view()
    }
    /// Number of items m the model summarises.
    pub fn count(&self) -> usize {
        self.count
    }

    /// Expected content `U U^T (x - mu) + mu` of an item without missing values.
    pub fn reconstruct(&self, x: ArrayView1<f64>) -> Array1<f64> {
        let centred = &x - &self.mean;
        self.basis.dot(&self.basis.t().dot(&centred)) + &self.mean
    }

    /// Adds one item (no missing values) and truncates to `k` directions, returning how the
    /// basis changed. Costs O(d r + r^3).
    pub fn add_item(
        &mut self,
        x: ArrayView1<f64>,
        method: IncrementalMethod,
        k: usize,
    ) -> Result<BasisChange> {
        let m = self.count as f64;
        let shift = &x - &self.mean;
        let shift_in_basis = self.basis.t().dot(&shift);
        let off_basis = &shift - &self.basis.dot(&shift_in_basis);
        let off_norm = off_basis.dot(&off_basis).sqrt();
        let shift_norm = shift.dot(&shift).sqrt();
        // A residual at rounding level carries no direction: adding it would put noise in U.
        let new_direction = (off_norm > 1e-13 * shift_norm).then_some(off_norm);

        // The item enters the small matrix as `scale * v`: Brand uses x - mu' = m/(m+1) v;
        // Ross the exact scatter update sqrt(m/(m+1)) v.
        let scale = match method {
            IncrementalMethod::Brand => m / (m + 1.0),
            IncrementalMethod::Ross => (m / (m + 1.0)).sqrt(),
        };
        let r = self.rank();
        let rows = r + usize::from(new_direction.is_some());
        if rows == 0 {
            // No basis and an item at the mean (a copy of the items modelled so far): only the
            // mean and count change. (LAPACK must not see the 0 x 1 matrix this would give.)
            self.mean.scaled_add(1.0 / (m + 1.0), &shift);
            self.count += 1;
            return Ok(BasisChange {
                old_count: self.count - 1,
                shift,
                shift_in_basis,
                new_direction: None,
                rotation: Array2::zeros((0, 0)),
            });
        }
        let mut small = Array2::<f64>::zeros((rows, r + 1));
        for i in 0..r {
            small[(i, i)] = self.singular_values[i];
            small[(i, r)] = scale * shift_in_basis[i];
        }
        if let Some(norm) = new_direction {
            small[(r, r)] = scale * norm;
        }
        let (u_small, sv, _) = small
            .svddc(JobSvd::Some)
            .map_err(|e| DemudError::linalg("the SVD of the incremental update", e))?;
        let u_small = u_small.expect("requested U");

        let keep = sv.len().min(k).min(self.count + 1);
        let rotation = u_small.slice(s![.., ..keep]).to_owned();
        let mut extended = Array2::<f64>::zeros((self.dim(), rows));
        extended.slice_mut(s![.., ..r]).assign(&self.basis);
        if let Some(norm) = new_direction {
            extended.column_mut(r).assign(&off_basis.mapv(|v| v / norm));
        }
        self.basis = extended.dot(&rotation);
        self.singular_values = sv.slice(s![..keep]).to_owned();
        self.mean.scaled_add(1.0 / (m + 1.0), &shift);
        self.count += 1;
        Ok(BasisChange {
            old_count: self.count - 1,
            shift,
            shift_in_basis,
            new_direction,
            rotation,
        })
    }
}

#[cfg(test)]
mod tests;
