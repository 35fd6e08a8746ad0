//! Writes a seeded collection of CNN-like features as an f32 `.npy` file, for measuring the
//! CLI's time and peak memory at scale (README "Benchmark"):
//!
//! ```text
//! cargo run --release --example write_large_npy -- /tmp/large.npy 200000 1024
//! /usr/bin/time -v target/release/demud discover --features /tmp/large.npy --k 20 --n 50 \
//!     --conditioning none --out /tmp/large-run
//! ```
//!
//! Each item is non-negative (like ReLU activations): a shared base, a mix of 40 directions
//! with decaying weights (a spectrum with a clear top k), uniform noise, and every 10,000th
//! item pushed along a direction of its own (something to discover). Written block by block,
//! so the generator holds one block, not the collection.

// The engine links OpenBLAS, which ndarray's matrix product calls.
use demud as _;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::io::{BufWriter, Write};

/// Directions of the low-rank part.
const RANK: usize = 40;
/// Items generated per block.
const BLOCK: usize = 4096;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: write_large_npy OUT.npy N D [SEED]";
    let path = args.get(1).expect(usage);
    let n: usize = args.get(2).expect(usage).parse().expect("N is a number");
    let d: usize = args.get(3).expect(usage).parse().expect("D is a number");
    let seed: u64 = args
        .get(4)
        .map_or(0, |s| s.parse().expect("SEED is a number"));
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let base: Vec<f32> = (0..d).map(|_| rng.random::<f32>()).collect();
    let directions = Array2::from_shape_fn((RANK, d), |_| rng.random::<f32>() - 0.5);

    let mut out = BufWriter::with_capacity(1 << 22, std::fs::File::create(path)?);
    // .npy version 1.0: magic, header length, a dict padded with spaces to a multiple of 64.
    let mut header = format!("{{'descr': '<f4', 'fortran_order': False, 'shape': ({n}, {d}), }}");
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    out.write_all(b"\x93NUMPY\x01\x00")?;
    out.write_all(&(header.len() as u16).to_le_bytes())?;
    out.write_all(header.as_bytes())?;

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
        for v in block.iter() {
            out.write_all(&v.to_le_bytes())?;
        }
    }
    out.flush()
}
