//! Exact internal rescaling of collections whose magnitudes the arithmetic cannot rank as
//! they are.
//!
//! Scores are squared distances. In `f64`, values beyond about `1e154 / sqrt(d)` make them
//! overflow and values below about `1e-154` make them underflow to zero; the one pass per
//! selection in `f32` overflows or underflows far sooner (`x_i . x`). A collection whose largest
//! |value| lies outside [`Element::SAFE_MAGNITUDES`] is therefore multiplied by a power of two
//! `2^exponent` that brings it to `[1, 2)`, ranked, and every number reported (expected
//! content, residual, scores, the model) is divided back. Multiplying by a power of two is
//! exact in binary floating point (short of the smallest subnormals), so the ranking of
//! `2^j X` is the ranking of `X` step for step: the picks do not depend on the units.
//!
//! Collections inside the safe range are left as they are (no copy), and a collection whose
//! squared distances cannot be represented at all, even after the run, is refused
//! ([`DemudError::ValueTooLarge`]).

use crate::element::Element;
use crate::error::{DemudError, Result};
use ndarray::ArrayView2;

/// Multiplication by `2^exponent`, exact, and its inverse.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Rescaling {
    exponent: i32,
}

/// The largest |value| of an input and where it is.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub(crate) struct Largest {
    pub(crate) value: f64,
    pub(crate) item: usize,
    pub(crate) feature: usize,
}

impl Largest {
    /// The largest finite |value| of `data` (NaN and infinities are left to the caller).
    pub(crate) fn of<T: Element>(data: ArrayView2<T>) -> Self {
        let mut largest = Largest::default();
        for ((item, feature), v) in data.indexed_iter() {
            let v = v.to_f64().abs();
            if v > largest.value && v.is_finite() {
                largest = Largest {
                    value: v,
                    item,
                    feature,
                };
            }
        }
        largest
    }

    /// Refuses a value whose squared distances to other values of the same size cannot be
    /// represented: `(2 |v|)^2 d` must stay below the largest `f64`.
    pub(crate) fn check_representable(&self, what: &'static str, d: usize) -> Result<()> {
        let limit = (f64::MAX / (4.0 * d as f64)).sqrt();
        if self.value <= limit {
            return Ok(());
        }
        Err(DemudError::ValueTooLarge {
            what,
            item: self.item,
            feature: self.feature,
            value: self.value,
            limit,
            // Parsed rather than `powi`, which is inexact and would print as 1.0000000000000002e155.
            divide_by: format!("1e{}", (self.value / limit).log10().ceil())
                .parse()
                .expect("a power of ten"),
        })
    }
}

impl Rescaling {
    /// No rescaling.
    pub(crate) const IDENTITY: Rescaling = Rescaling { exponent: 0 };

    /// The rescaling a collection stored as `T` with largest |value| `largest` needs: none
    /// inside `T`'s safe range (or for an all-zero collection), else the power of two that
    /// brings `largest` to `[1, 2)`.
    pub(crate) fn for_magnitude<T: Element>(largest: f64) -> Self {
        let (low, high) = T::SAFE_MAGNITUDES;
        if largest == 0.0 || (low..=high).contains(&largest) {
            return Self::IDENTITY;
        }
        Rescaling {
            exponent: -binary_exponent(largest),
        }
    }

    /// True when values are used as they are.
    pub(crate) fn is_identity(self) -> bool {
        self.exponent == 0
    }

    /// A value of the input in the engine's units.
    pub(crate) fn apply(self, v: f64) -> f64 {
        times_power_of_two(v, self.exponent)
    }

    /// A value (or residual, expected content, mean, singular value) back in the input's
    /// units.
    pub(crate) fn undo(self, v: f64) -> f64 {
        times_power_of_two(v, -self.exponent)
    }

    /// A squared quantity (a score) back in the input's units.
    pub(crate) fn undo_squared(self, v: f64) -> f64 {
        times_power_of_two(v, -2 * self.exponent)
    }
}

/// `floor(log2 m)` for a finite `m > 0`, read from the bits: exact where `log2` rounds.
fn binary_exponent(m: f64) -> i32 {
    if m < f64::MIN_POSITIVE {
        // Subnormal: scale into the normal range first (exact).
        return binary_exponent(m * 2f64.powi(64)) - 64;
    }
    ((m.to_bits() >> 52) & 0x7ff) as i32 - 1023
}

/// `v * 2^exponent` in steps whose factors are representable; each step is exact unless the
/// result itself leaves the range (the steps all go the same way, so no step under- or
/// overflows where the final result would not).
fn times_power_of_two(mut v: f64, mut exponent: i32) -> f64 {
    while exponent != 0 {
        let step = exponent.clamp(-1000, 1000);
        v *= 2f64.powi(step);
        exponent -= step;
    }
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn the_binary_exponent_is_exact_for_normal_and_subnormal_values() {
        for e in [-1074, -1060, -1022, -1, 0, 1, 52, 1023] {
            let m = times_power_of_two(1.0, e);
            assert_eq!(binary_exponent(m), e, "2^{e}");
            if e < 1023 && e > -1022 {
                // Just below the next power of two, where log2 can round up.
                let below = f64::from_bits(times_power_of_two(1.0, e + 1).to_bits() - 1);
                assert_eq!(binary_exponent(below), e, "below 2^{}", e + 1);
            }
        }
    }

    #[test]
    fn rescaling_brings_the_largest_value_to_one_two_and_undoes_exactly() {
        for largest in [1e-310, 3e-170, 1e-80, 7.5e100, 1.7e300] {
            let r = Rescaling::for_magnitude::<f64>(largest);
            let scaled = r.apply(largest);
            assert!((1.0..2.0).contains(&scaled), "{largest:e} -> {scaled}");
            assert_eq!(r.undo(scaled), largest);
            assert_eq!(r.undo_squared(r.apply(largest) * r.apply(largest)), {
                // The square of a rescaled value, back in the input's units, is the square
                // (where it is representable).
                largest * largest
            });
        }
        // Ordinary magnitudes are left alone; f32's range is narrower.
        assert!(Rescaling::for_magnitude::<f64>(1e20).is_identity());
        assert!(!Rescaling::for_magnitude::<f32>(1e20).is_identity());
        assert!(Rescaling::for_magnitude::<f32>(255.0).is_identity());
        assert!(Rescaling::for_magnitude::<f64>(0.0).is_identity());
    }

    #[test]
    fn the_largest_value_is_found_and_an_unrepresentable_one_refused() {
        let data = array![[1.0, -3.0], [2.0, 0.5]];
        let largest = Largest::of(data.view());
        assert_eq!((largest.item, largest.feature, largest.value), (0, 1, 3.0));
        assert!(largest.check_representable("the collection", 2).is_ok());
        let huge = array![[1.0, 0.0], [0.0, 1e200]];
        let err = Largest::of(huge.view())
            .check_representable("the collection", 2)
            .unwrap_err();
        let message = err.to_string();
        assert!(
            matches!(
                err,
                DemudError::ValueTooLarge {
                    item: 1,
                    feature: 1,
                    ..
                }
            ) && message.contains("is too large")
                && message.contains("divide the features by 1e47"),
            "{message}"
        );
    }
}
