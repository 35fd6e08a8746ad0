//! Storage precision of a collection.
//!
//! CNN features arrive as `f32`; tabular data as `f64`; a very large collection can be stored
//! in half precision (`half::f16`, numpy's `<f2`) to halve its memory and the time of the one
//! pass over it per selection. The engine does all model arithmetic in `f64`, so only the one
//! big matrix-vector product per selection runs in the storage precision (BLAS `sgemv` /
//! `dgemv`; for `f16` a fused convert-and-multiply-add kernel accumulating in `f32`,
//! [`half_dot`]).
//!
//! ```
//! use demud::Element;
//! assert_eq!(<f32 as Element>::from_f64(0.5).to_f64(), 0.5);
//! assert_eq!(<f64 as Element>::NAME, "f64");
//! assert_eq!(<half::f16 as Element>::from_f64(0.5).to_f64(), 0.5);
//! ```

pub mod half_dot;

use ndarray::{Array1, ArrayView1, ArrayView2, LinalgScalar};

/// A floating-point type the collection can be stored in (`f16`, `f32` or `f64`).
pub trait Element: LinalgScalar + PartialOrd + Send + Sync + std::fmt::Debug + 'static {
    /// The type's name as written in run parameters (`"f16"`, `"f32"` or `"f64"`).
    const NAME: &'static str;
    /// The precision block products over the collection run in (the randomized SVD's power
    /// iterations, a conditioned copy): the type itself for `f32` and `f64`; `f32` for `f16`,
    /// whose 11-bit significand would lose a sum of thousands of products, and which BLAS
    /// does not multiply.
    type Arithmetic: Element;
    /// Relative score difference within which the fast path's scores (one matrix-vector product
    /// in this precision per selection) cannot order two items: such near-ties are re-scored
    /// exactly.
    const NEAR_TIE: f64;
    /// The magnitudes (largest |value| of a collection) this type's arithmetic ranks without
    /// help. The one pass per selection multiplies items in this precision: beyond the upper
    /// bound `d x^2` can overflow it, below the lower bound squares underflow and scores lose
    /// their digits. A collection outside is ranked after an exact power-of-two rescaling.
    const SAFE_MAGNITUDES: (f64, f64);
    /// Widens (or keeps) the value as `f64`.
    fn to_f64(self) -> f64;
    /// Rounds an `f64` to this type.
    fn from_f64(value: f64) -> Self;
    /// `g = X x` for a collection `X` (one item per row) and one item `x`: the one pass over
    /// the collection per selection of the fast update, in this type's arithmetic.
    fn dot_rows(data: ArrayView2<Self>, x: ArrayView1<Self>) -> Array1<f64>;
}

impl Element for f32 {
    const NAME: &'static str = "f32";
    type Arithmetic = f32;
    const NEAR_TIE: f64 = 1e-4;
    // 2^-40 .. 2^40: squares stay normal (above 2^-126) and d x^2 below 2^126 for d < 2^46.
    const SAFE_MAGNITUDES: (f64, f64) = (9.094947017729282e-13, 1.099511627776e12);
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(value: f64) -> Self {
        value as f32
    }
    fn dot_rows(data: ArrayView2<Self>, x: ArrayView1<Self>) -> Array1<f64> {
        // BLAS sgemv, accumulating in f32.
        data.dot(&x).mapv(f64::from)
    }
}

impl Element for f64 {
    const NAME: &'static str = "f64";
    type Arithmetic = f64;
    const NEAR_TIE: f64 = 1e-9;
    // 2^-250 .. 2^250: squares stay far inside f64's normal range (2^-1022 .. 2^1024).
    const SAFE_MAGNITUDES: (f64, f64) = (5.527147875260445e-76, 1.8092513943330656e75);
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(value: f64) -> Self {
        value
    }
    fn dot_rows(data: ArrayView2<Self>, x: ArrayView1<Self>) -> Array1<f64> {
        data.dot(&x)
    }
}

impl Element for half::f16 {
    const NAME: &'static str = "f16";
    type Arithmetic = f32;
    // The pass widens every value exactly to f32 and accumulates in f32, as sgemv does for
    // f32 storage: the same rounding of the scores.
    const NEAR_TIE: f64 = 1e-4;
    // Every finite f16 is inside f32's safe range (|v| <= 65504, and the smallest subnormal,
    // 2^-24, squares to a normal f32): no f16 collection needs rescaling.
    const SAFE_MAGNITUDES: (f64, f64) = (5.960464477539063e-8, 65504.0);
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(value: f64) -> Self {
        half::f16::from_f64(value)
    }
    fn dot_rows(data: ArrayView2<Self>, x: ArrayView1<Self>) -> Array1<f64> {
        half_dot::dot_rows(data, x)
    }
}
