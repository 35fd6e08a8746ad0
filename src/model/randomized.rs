//! The top-k SVD of a whole collection without a copy of it: a randomized subspace iteration
//! (Halko, Martinsson & Tropp 2011, "Finding structure with randomness", algorithms 4.3-4.4
//! and 5.1), streaming the collection in row blocks in its storage precision.
//!
//! With `C = X - 1 mu^T` the centred collection (n x d) and `l = k + p` columns (p the
//! oversampling), the right singular subspace is found in d-space:
//!
//! ```text
//! Z_0 = Omega                        (d x l, Gaussian, seeded)
//! Z_j = orth(C^T C Z_{j-1})          (j = 1..q: one pass over X each, QR of a d x l matrix)
//! Y   = C Z_q                        (n x l: the last pass)
//! Y   = Q R,   R = U_R S V_R^T       (thin QR of Y, SVD of the l x l R)
//! basis = Z_q V_R,   singular values = S
//! ```
//!
//! `span(Z_q) = span((C^T C)^q Omega)`: each pass multiplies the weight of direction i by
//! `s_i^2`, so after q passes the directions beyond `l` are suppressed by `(s_{l+1}/s_i)^(2q)`
//! against direction `i <= k` (Halko et al., section 10.4). The last step is a Rayleigh-Ritz
//! projection: `C Z_q = Q (U_R S V_R^T)` is an SVD of `C` restricted to `span(Z_q)`, so the
//! singular values come from `C Z_q` itself, never from the squared spectrum of `C^T C`, and a
//! numerically null direction keeps a singular value at rounding level, as in the exact SVD
//! (which the null-direction truncation then drops the same way).
//!
//! Each pass converts one block of rows to `f64` and subtracts the mean there (explicit
//! centring: the large common offset of non-negative CNN features never enters a product), so
//! the memory beyond the collection is one block plus O((n + d) l) numbers. `C^T C Z` is one
//! pass, not two: `C^T C Z = sum over blocks C_b^T (C_b Z)`.
//!
//! Missing values (NaN) are the feature's mean, as in the exact path: after centring by that
//! mean they are exactly 0.

use crate::element::Element;
use crate::error::{DemudError, Result};
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Zip};
use ndarray_linalg::{JobSvd, QRInto, SVDDC};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Extra columns beyond k (Halko et al. recommend 5 to 10): the directions just beyond the
/// k-th are found too, which sharpens the top k.
pub(crate) const OVERSAMPLING: usize = 10;

/// Passes of `C^T C` (power iterations). Chosen from the measurements of `benches/init.rs`
/// (20,000 x 1,024 CNN-like f32 items, k = 20, whose singular values fall as 1/j past k):
/// 4 passes with 10 extra columns take 0.6 s and leave scores within 2.6% of the exact
/// model's (largest principal angle 0.06); 6 passes with 20 extra columns take 1.1 s and
/// 0.09% (0.003). 4 keeps `discover --init svd` at 200,000 x 1,024 near 15 s on 2 cores;
/// `SvdMethod::Exact` is there when scores must be the exact model's.
pub(crate) const POWER_ITERATIONS: usize = 4;

/// About 4 MB of `f64` per block of rows: large enough for BLAS to run at speed, small beside
/// the collection.
const BLOCK_BYTES: usize = 1 << 22;

/// Singular values (descending) and right singular vectors (d x l, as columns) of the centred
/// collection `data - mean`, for `l = min(k + OVERSAMPLING, n, d)` directions, of which the
/// first `k` are accurate. NaN entries count as the mean (0 after centring).
pub(crate) fn top_right_singular<T: Element>(
    data: ArrayView2<T>,
    mean: ArrayView1<f64>,
    k: usize,
    seed: u64,
) -> Result<(Array1<f64>, Array2<f64>)> {
    top_right_singular_over(data, mean, k, seed, &WholeCollection(data.nrows()))
}

/// How the partial results of the row ranges of a collection are combined: a collection split
/// over several processes (`discovery::distributed`) sums its ranks' `C_r^T C_r Z` and stacks
/// their R factors; a whole collection in one process has nothing to combine.
pub(crate) trait RowRanges {
    /// Number of items in all the ranges together.
    fn total_rows(&self) -> usize;
    /// Replaces `values` by their element-wise sum over the ranges (the same on every range).
    fn sum(&self, values: &mut [f64]) -> Result<()>;
    /// Every range's `r` (at most as many rows as columns) stacked in range order, or `None`
    /// when this is the only range.
    fn stack(&self, r: Array2<f64>) -> Result<Option<Array2<f64>>>;
}

/// A collection held whole by one process.
pub(crate) struct WholeCollection(pub(crate) usize);

impl RowRanges for WholeCollection {
    fn total_rows(&self) -> usize {
        self.0
    }
    fn sum(&self, _: &mut [f64]) -> Result<()> {
        Ok(())
    }
    fn stack(&self, _: Array2<f64>) -> Result<Option<Array2<f64>>> {
        Ok(None)
    }
}

/// [`top_right_singular`] of a collection whose rows `data` are one of several `ranges`: every
/// range runs the same passes over its own rows, and the d x l sums of the power iterations and
/// the R factors of the last pass are combined by `ranges` (`C^T C Z = sum_r C_r^T C_r Z`; the
/// R of the stacked R_r is an R of `C Z`, as in the streamed QR). The result is the same on
/// every range.
pub(crate) fn top_right_singular_over<T: Element>(
    data: ArrayView2<T>,
    mean: ArrayView1<f64>,
    k: usize,
    seed: u64,
    ranges: &dyn RowRanges,
) -> Result<(Array1<f64>, Array2<f64>)> {
    let d = data.ncols();
    let n = data.nrows();
    let l = (k + OVERSAMPLING).min(ranges.total_rows()).min(d);
    let mut z = gaussian(d, l, seed);
    let rows = block_rows(n, d);
    // The power iterations multiply in the storage precision (sgemm for f32 items, half the
    // time of dgemm), each block's product added to an f64 sum: they only steer the subspace,
    // and its rounding (relative 1e-7 per block) is far below what they converge to. The last
    // pass, which gives the singular values and the basis, runs in f64.
    // (For f16 items, in f32: `Element::Arithmetic`.)
    type A<T> = <T as Element>::Arithmetic;
    let mut yb = Array2::<A<T>>::zeros((rows, l));
    let mut wb = Array2::<A<T>>::zeros((d, l));
    for _ in 0..POWER_ITERATIONS {
        // W = C^T (C Z), then orthonormalised: without it the columns would all turn towards
        // the first singular direction and lose the others to rounding.
        let zt = z.mapv(A::<T>::from_f64);
        let mut w = Array2::<f64>::zeros((d, l));
        for_each_centred_block(data, mean, rows, |block: ArrayView2<A<T>>| {
            let mut y = yb.slice_mut(s![..block.nrows(), ..]);
            general_mat_mul(
                A::<T>::from_f64(1.0),
                &block,
                &zt,
                A::<T>::from_f64(0.0),
                &mut y,
            );
            general_mat_mul(
                A::<T>::from_f64(1.0),
                &block.t(),
                &y,
                A::<T>::from_f64(0.0),
                &mut wb,
            );
            Zip::from(&mut w)
                .and(&wb)
                .for_each(|s, &v| *s += v.to_f64());
            Ok(())
        })?;
        ranges.sum(w.as_slice_mut().expect("a new array is contiguous"))?;
        z = w.qr_into().map_err(qr_failed)?.0;
    }
    // Y = C Z = Q R, with R found block by block (a streamed QR: the R of [R_prev; Y_b] is an R
    // of all the rows so far), so Y is never held. Y's singular values and right vectors are R's.
    let mut r = Array2::<f64>::zeros((0, l));
    for_each_centred_block(data, mean, rows, |block: ArrayView2<f64>| {
        let mut stacked = Array2::<f64>::zeros((r.nrows() + block.nrows(), l));
        stacked.slice_mut(s![..r.nrows(), ..]).assign(&r);
        let mut y = stacked.slice_mut(s![r.nrows().., ..]);
        general_mat_mul(1.0, &block, &z, 0.0, &mut y);
        r = stacked.qr_into().map_err(qr_failed)?.1;
        Ok(())
    })?;
    if let Some(stacked) = ranges.stack(r.clone())? {
        r = stacked.qr_into().map_err(qr_failed)?.1;
    }
    let (_, sv, vt) = r
        .svddc(JobSvd::Some)
        .map_err(|e| DemudError::linalg("the small SVD of the randomized SVD", e))?;
    let vt = vt.expect("requested V^T");
    Ok((sv, z.dot(&vt.t())))
}

fn qr_failed(e: ndarray_linalg::error::LinalgError) -> DemudError {
    DemudError::linalg("a QR step of the randomized SVD", e)
}

/// The per-feature mean over the values that are not NaN (0 where a feature has none), in one
/// pass over the rows in storage order.
pub(crate) fn column_means<T: Element>(data: ArrayView2<T>) -> Array1<f64> {
    let d = data.ncols();
    let mut sums = Array1::<f64>::zeros(d);
    let mut counts = vec![0usize; d];
    for row in data.rows() {
        Zip::from(&mut sums)
            .and(&row)
            .and(&mut counts[..])
            .for_each(|s, &v, c| {
                let v = v.to_f64();
                if !v.is_nan() {
                    *s += v;
                    *c += 1;
                }
            });
    }
    Zip::from(&mut sums).and(&counts[..]).for_each(|s, &c| {
        *s = if c == 0 { 0.0 } else { *s / c as f64 };
    });
    sums
}

/// A d x l matrix of independent standard normal numbers (Box-Muller on the seeded stream).
fn gaussian(d: usize, l: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_simple_fn((d, l), || {
        // 1 - u lies in (0, 1]: its logarithm is finite.
        let u: f64 = 1.0 - rng.random::<f64>();
        let v: f64 = rng.random();
        (-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * v).cos()
    })
}

/// Rows per block: about [`BLOCK_BYTES`] of `f64`, at least 64 (BLAS speed), at most `n`.
fn block_rows(n: usize, d: usize) -> usize {
    (BLOCK_BYTES / (8 * d.max(1))).clamp(64, 8192).min(n).max(1)
}

/// Calls `visit(block)` for consecutive blocks of `rows` rows of `data`, each with `mean`
/// subtracted in f64 (explicit centring: no cancellation), NaN replaced by 0 (the mean), and
/// rounded to `U`.
fn for_each_centred_block<T: Element, U: Element>(
    data: ArrayView2<T>,
    mean: ArrayView1<f64>,
    rows: usize,
    mut visit: impl FnMut(ArrayView2<U>) -> Result<()>,
) -> Result<()> {
    let (n, d) = data.dim();
    let mut block = Array2::<U>::zeros((rows, d));
    for start in (0..n).step_by(rows) {
        let end = (start + rows).min(n);
        let mut centred = block.slice_mut(s![..end - start, ..]);
        Zip::from(centred.rows_mut())
            .and(data.slice(s![start..end, ..]).rows())
            .for_each(|mut out, row| {
                Zip::from(&mut out)
                    .and(&row)
                    .and(&mean)
                    .for_each(|o, &v, &mu| {
                        let c = v.to_f64() - mu;
                        *o = U::from_f64(if c.is_nan() { 0.0 } else { c });
                    });
            });
        visit(centred.view())?;
    }
    Ok(())
}
