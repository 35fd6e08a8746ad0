//! A seeded collection of CNN-like features written as a `.npy` block by block (f32 or f16),
//! shared by `examples/write_large_npy.rs` and `benches/scale.rs`.
//!
//! Each item is non-negative (like ReLU activations): a shared base, a mix of 40 directions
//! with decaying weights (a spectrum with a clear top k), uniform noise, and every 10,000th
//! item pushed along a direction of its own (something to discover). The generator holds one
//! block, not the collection; the same seed gives the same items in either precision (the
//! f16 file holds the f32 values rounded to f16).

use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Directions of the low-rank part.
const RANK: usize = 40;
/// Items generated per block.
const BLOCK: usize = 4096;

/// How the values are written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Precision {
    /// `<f4`.
    F32,
    /// `<f2`.
    F16,
}

/// Writes `n x d` items at `path` in `precision`, seeded.
pub fn write(
    path: &Path,
    n: usize,
    d: usize,
    seed: u64,
    precision: Precision,
) -> std::io::Result<()> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let base: Vec<f32> = (0..d).map(|_| rng.random::<f32>()).collect();
    let directions = Array2::from_shape_fn((RANK, d), |_| rng.random::<f32>() - 0.5);

    let mut out = BufWriter::with_capacity(1 << 22, std::fs::File::create(path)?);
    // .npy version 1.0: magic, header length, a dict padded with spaces to a multiple of 64.
    let descr = match precision {
        Precision::F32 => "<f4",
        Precision::F16 => "<f2",
    };
    let mut header =
        format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': ({n}, {d}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&(header.len() as u16).to_le_bytes())?;
    out.write_all(header.as_bytes())?;

    let mut bytes = Vec::new();
    for start in (0..n).step_by(BLOCK) {
        let rows = BLOCK.min(n - start);
        // Weights of the directions: standard deviation 4 / (1 + j) for direction j.
        let weights = Array2::from_shape_fn((rows, RANK), |(_, j)| {
            (rng.random::<f32>() - 0.5) * 8.0 / (1 + j) as f32
        });
        let mut block = weights.dot(&directions);
        for (r, mut item) in block.rows_mut().into_iter().enumerate() {
            let odd = (start + r) % 10_000 == 9_999;
            for (j, v) in item.iter_mut().enumerate() {
                let planted = if odd && j % 97 == (start + r) % 97 {
                    5.0
                } else {
                    0.0
                };
                *v = (base[j] + *v + 0.3 * rng.random::<f32>() + planted).max(0.0);
            }
        }
        bytes.clear();
        match precision {
            Precision::F32 => block
                .iter()
                .for_each(|v| bytes.extend_from_slice(&v.to_le_bytes())),
            Precision::F16 => block
                .iter()
                .for_each(|v| bytes.extend_from_slice(&half::f16::from_f32(*v).to_le_bytes())),
        }
        out.write_all(&bytes)?;
    }
    out.flush()
}
