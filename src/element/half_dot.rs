//! The one pass per selection over a half-precision collection: `g = X x` with `X` stored as
//! `f16`, each value widened to `f32` (exactly: every `f16` is an `f32`) and multiplied-added
//! into `f32` accumulators, so no `f32` copy of the collection is ever made.
//!
//! The pass is memory-bound: it reads 2 bytes per value where `sgemv` on `f32` storage reads
//! 4, and the conversion (one `vcvtph2ps` per 8 values on x86-64) is far cheaper than the
//! load. The kernel is chosen at run time:
//!
//! - x86-64 with AVX2, FMA and F16C ([`Kernel::Avx2F16c`]): 32 values per step in four
//!   independent 8-lane accumulators (to hide the FMA latency), then 8 at a time, then the
//!   remainder one by one;
//! - anywhere else ([`Kernel::Portable`]): blocks of 256 values widened by the `half` crate's
//!   slice conversion (itself vectorised where the CPU allows), then an 8-lane `f32` dot
//!   product the compiler vectorises.
//!
//! Both sum in `f32` like `sgemv`; they differ only in the order of the additions (and the
//! FMA's single rounding), which the tests bound. Rows are split over the machine's cores
//! when the collection is large, as OpenBLAS splits `sgemv`.
//!
//! ```
//! use demud::element::half_dot::{dot_rows, dot_rows_with, Kernel};
//! use half::f16;
//! use ndarray::Array2;
//! let x = Array2::from_shape_fn((3, 21), |(i, j)| f16::from_f32((i * 21 + j) as f32 / 8.0));
//! let g = dot_rows(x.view(), x.row(1));
//! let portable = dot_rows_with(Kernel::Portable, x.view(), x.row(1));
//! let exact: f64 = x.row(1).iter().map(|v| f64::from(*v).powi(2)).sum();
//! assert_eq!(g[1], exact); // eighths below 2^11: every product and sum is exact in f32
//! assert_eq!(portable[1], exact);
//! ```

use half::f16;
use half::slice::HalfFloatSliceExt;
use ndarray::{Array1, ArrayView1, ArrayView2};

/// An implementation of the f16 row dot product.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kernel {
    /// The `half` crate's slice conversion and an `f32` dot product: any CPU.
    Portable,
    /// AVX2 + FMA + F16C intrinsics (x86-64 only; check [`Kernel::available`]).
    Avx2F16c,
}

impl Kernel {
    /// The fastest kernel this CPU runs.
    pub fn detected() -> Kernel {
        if Kernel::Avx2F16c.available() {
            Kernel::Avx2F16c
        } else {
            Kernel::Portable
        }
    }

    /// Whether this CPU can run the kernel.
    pub fn available(self) -> bool {
        match self {
            Kernel::Portable => true,
            Kernel::Avx2F16c => avx2_f16c_available(),
        }
    }
}

#[cfg(target_arch = "x86_64")]
fn avx2_f16c_available() -> bool {
    // std caches the CPUID answers: these are loads after the first call.
    std::arch::is_x86_feature_detected!("avx2")
        && std::arch::is_x86_feature_detected!("fma")
        && std::arch::is_x86_feature_detected!("f16c")
}

#[cfg(not(target_arch = "x86_64"))]
fn avx2_f16c_available() -> bool {
    false
}

/// Values a thread is given at least: below this, starting threads costs more than it saves.
const VALUES_PER_THREAD: usize = 1 << 20;

/// `g_i = x_i . x` for every row `x_i` of `data`, with the fastest kernel of this CPU.
pub fn dot_rows(data: ArrayView2<f16>, x: ArrayView1<f16>) -> Array1<f64> {
    dot_rows_with(Kernel::detected(), data, x)
}

/// `g_i = x_i . x` for every row of `data` with the given kernel (the detected one when this
/// CPU cannot run it).
pub fn dot_rows_with(kernel: Kernel, data: ArrayView2<f16>, x: ArrayView1<f16>) -> Array1<f64> {
    let kernel = if kernel.available() {
        kernel
    } else {
        Kernel::Portable
    };
    let (n, d) = data.dim();
    assert_eq!(x.len(), d, "one value of x per feature");
    let mut out = vec![0.0_f64; n];
    if n == 0 || d == 0 {
        return Array1::from(out);
    }
    let v: Vec<f32> = x.iter().map(|h| h.to_f32()).collect();
    // A memory map or an owned array is one contiguous slice; anything else is copied once.
    let data = data.as_standard_layout();
    let values = data.as_slice().expect("standard layout is contiguous");
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    let threads = cores.min((n * d) / VALUES_PER_THREAD).clamp(1, n);
    if threads == 1 {
        fill(kernel, values, &v, &mut out);
    } else {
        let rows = n.div_ceil(threads);
        std::thread::scope(|scope| {
            for (values, out) in values.chunks(rows * d).zip(out.chunks_mut(rows)) {
                let v = &v;
                scope.spawn(move || fill(kernel, values, v, out));
            }
        });
    }
    Array1::from(out)
}

/// `out[i] = row i . v` for the rows of `values` (each `v.len()` long).
fn fill(kernel: Kernel, values: &[f16], v: &[f32], out: &mut [f64]) {
    for (row, o) in values.chunks_exact(v.len()).zip(out) {
        *o = f64::from(dot(kernel, row, v));
    }
}

fn dot(kernel: Kernel, row: &[f16], v: &[f32]) -> f32 {
    match kernel {
        Kernel::Portable => dot_portable(row, v),
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `dot_rows_with` runs this kernel only where `available()` found AVX2, FMA
        // and F16C on this CPU; `row` and `v` have the same length (checked there).
        Kernel::Avx2F16c => unsafe { dot_avx2_f16c(row, v) },
        #[cfg(not(target_arch = "x86_64"))]
        Kernel::Avx2F16c => dot_portable(row, v),
    }
}

/// The portable kernel: widen 256 values at a time, then an 8-lane dot product.
fn dot_portable(row: &[f16], v: &[f32]) -> f32 {
    const BLOCK: usize = 256;
    let mut wide = [0.0_f32; BLOCK];
    let mut lanes = [0.0_f32; 8];
    let mut tail = 0.0_f32;
    for (half, v) in row.chunks(BLOCK).zip(v.chunks(BLOCK)) {
        let wide = &mut wide[..half.len()];
        half.convert_to_f32_slice(wide);
        let mut a = wide.chunks_exact(8);
        let mut b = v.chunks_exact(8);
        for (a, b) in (&mut a).zip(&mut b) {
            for l in 0..8 {
                lanes[l] += a[l] * b[l];
            }
        }
        for (a, b) in a.remainder().iter().zip(b.remainder()) {
            tail += a * b;
        }
    }
    lanes.iter().sum::<f32>() + tail
}

/// The AVX2 kernel: 8 halves widened per `vcvtph2ps`, fused multiply-add into four
/// accumulators of 8 lanes.
///
/// # Safety
/// The CPU must support AVX2, FMA and F16C, and `row.len() == v.len()`.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma,f16c")]
unsafe fn dot_avx2_f16c(row: &[f16], v: &[f32]) -> f32 {
    use std::arch::x86_64::*;
    debug_assert_eq!(row.len(), v.len());
    let d = row.len();
    let h = row.as_ptr().cast::<u16>();
    let w = v.as_ptr();
    // SAFETY (every load below): `j + 8 <= d` (or `j + 32 <= d`) before each load of 8 values
    // at `j`, so every read lies inside `row` (d halves: 16 bytes per 8) and `v` (d floats);
    // the `loadu` forms need no alignment.
    macro_rules! widen {
        ($j:expr) => {
            _mm256_cvtph_ps(_mm_loadu_si128(h.add($j).cast::<__m128i>()))
        };
    }
    let mut acc = [_mm256_setzero_ps(); 4];
    let mut j = 0;
    while j + 32 <= d {
        for (a, acc) in acc.iter_mut().enumerate() {
            let at = j + 8 * a;
            *acc = _mm256_fmadd_ps(widen!(at), _mm256_loadu_ps(w.add(at)), *acc);
        }
        j += 32;
    }
    while j + 8 <= d {
        acc[0] = _mm256_fmadd_ps(widen!(j), _mm256_loadu_ps(w.add(j)), acc[0]);
        j += 8;
    }
    let sum = _mm256_add_ps(_mm256_add_ps(acc[0], acc[1]), _mm256_add_ps(acc[2], acc[3]));
    let mut lanes = [0.0_f32; 8];
    _mm256_storeu_ps(lanes.as_mut_ptr(), sum);
    let mut total: f32 = lanes.iter().sum();
    for k in j..d {
        total += row[k].to_f32() * v[k];
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;
    use proptest::prelude::*;

    /// `g` in f64 from the exactly widened values, and the bound on an f32 sum's rounding:
    /// each of the d additions errs by at most 2^-24 of the partial sum, itself at most
    /// `sum |x_j v_j|`.
    fn reference(data: &Array2<f16>, x: ArrayView1<f16>) -> (Vec<f64>, Vec<f64>) {
        let d = data.ncols() as f64;
        data.rows()
            .into_iter()
            .map(|row| {
                let terms = row
                    .iter()
                    .zip(x)
                    .map(|(a, b)| f64::from(*a) * f64::from(*b));
                let (sum, abs) = terms.fold((0.0, 0.0), |(s, m), t: f64| (s + t, m + t.abs()));
                (sum, 2.0 * d * abs * f64::from(f32::EPSILON) + 1e-30)
            })
            .unzip()
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Every kernel agrees with the f64 sum within f32 rounding, and with each other, on
        /// sizes that are not multiples of 8 or 32 (the remainders), signed values over
        /// f16's range, subnormals and zeros included.
        #[test]
        fn kernels_agree_with_the_scalar_sum(
            n in 1usize..40,
            d in 1usize..300,
            seed in any::<u64>(),
            scale in prop_oneof![Just(1e-6_f32), Just(1.0_f32), Just(200.0_f32)],
        ) {
            use rand::{Rng, SeedableRng};
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let data = Array2::from_shape_fn((n, d), |_| {
                let v: f32 = rng.random::<f32>() - 0.5;
                if rng.random::<f32>() < 0.1 { f16::ZERO } else { f16::from_f32(v * scale) }
            });
            let x = data.row(n / 2).to_owned();
            let (want, bound) = reference(&data, x.view());
            let portable = dot_rows_with(Kernel::Portable, data.view(), x.view());
            let fast = dot_rows_with(Kernel::Avx2F16c, data.view(), x.view());
            let detected = dot_rows(data.view(), x.view());
            for i in 0..n {
                prop_assert!((portable[i] - want[i]).abs() <= bound[i], "portable row {i}: {} vs {}", portable[i], want[i]);
                prop_assert!((fast[i] - want[i]).abs() <= bound[i], "avx row {i}: {} vs {}", fast[i], want[i]);
                prop_assert!((fast[i] - portable[i]).abs() <= 2.0 * bound[i]);
                prop_assert_eq!(detected[i], fast[i]);
            }
        }
    }

    #[test]
    fn the_threaded_pass_equals_the_single_threaded_one() {
        // Large enough to be split over threads (on a machine with several cores), with a
        // row count that does not divide evenly.
        let (n, d) = (2 * VALUES_PER_THREAD / 100 + 7, 100);
        let data = Array2::from_shape_fn((n, d), |(i, j)| {
            f16::from_f32(((i * 31 + j * 7) % 64) as f32 / 16.0 - 2.0)
        });
        let x = data.row(3);
        let whole = dot_rows(data.view(), x);
        for (i, row) in data.rows().into_iter().enumerate().step_by(997) {
            let one = dot_rows(row.insert_axis(ndarray::Axis(0)), x);
            assert_eq!(whole[i], one[0], "row {i}");
        }
        // Sixteenths under 4 in magnitude: every product and partial sum is exact in f32.
        let exact: f64 = data
            .row(5)
            .iter()
            .zip(x)
            .map(|(a, b)| f64::from(*a) * f64::from(*b))
            .sum();
        assert_eq!(whole[5], exact);
        // A non-contiguous view (every other column) goes through the same kernel.
        let strided = data.slice(ndarray::s![..50, ..;2]);
        let g = dot_rows(strided, strided.row(0));
        let owned = strided.to_owned();
        assert_eq!(g, dot_rows(owned.view(), owned.row(0)));
    }
}
