//! Storage precision of a collection.
//!
//! CNN features arrive as `f32`; tabular data as `f64`. The engine stores the collection in
//! either and does all model arithmetic in `f64`, so only the one big matrix-vector product per
//! selection runs in the storage precision (through BLAS `sgemv` / `dgemv`).
//!
//! ```
//! use demud::Element;
//! assert_eq!(<f32 as Element>::from_f64(0.5).to_f64(), 0.5);
//! assert_eq!(<f64 as Element>::NAME, "f64");
//! ```

use ndarray::LinalgScalar;

/// A floating-point type the collection can be stored in (`f32` or `f64`).
pub trait Element: LinalgScalar + PartialOrd + Send + Sync + std::fmt::Debug + 'static {
    /// The type's name as written in run parameters (`"f32"` or `"f64"`).
    const NAME: &'static str;
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
}

impl Element for f32 {
    const NAME: &'static str = "f32";
    const NEAR_TIE: f64 = 1e-4;
    // 2^-40 .. 2^40: squares stay normal (above 2^-126) and d x^2 below 2^126 for d < 2^46.
    const SAFE_MAGNITUDES: (f64, f64) = (9.094947017729282e-13, 1.099511627776e12);
    fn to_f64(self) -> f64 {
        f64::from(self)
    }
    fn from_f64(value: f64) -> Self {
        value as f32
    }
}

impl Element for f64 {
    const NAME: &'static str = "f64";
    const NEAR_TIE: f64 = 1e-9;
    // 2^-250 .. 2^250: squares stay far inside f64's normal range (2^-1022 .. 2^1024).
    const SAFE_MAGNITUDES: (f64, f64) = (5.527147875260445e-76, 1.8092513943330656e75);
    fn to_f64(self) -> f64 {
        self
    }
    fn from_f64(value: f64) -> Self {
        value
    }
}
