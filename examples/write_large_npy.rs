//! Writes a seeded collection of CNN-like features as an f32 (or f16) `.npy` file, for
//! measuring the CLI's time and peak memory at scale (README "Benchmark"):
//!
//! ```text
//! cargo run --release --example write_large_npy -- /tmp/large.npy 200000 1024
//! /usr/bin/time -v target/release/demud discover --features /tmp/large.npy --k 20 --n 50 \
//!     --conditioning none --out /tmp/large-run
//! ```
//!
//! `write_large_npy OUT.npy N D [SEED] [f16]` writes half precision (`<f2`) instead: the same
//! items rounded to f16. The items are described in `benches/common/large_npy.rs`; they are
//! written block by block, so the generator holds one block, not the collection.

// The engine links OpenBLAS, which ndarray's matrix product calls.
use demud as _;

#[path = "../benches/common/large_npy.rs"]
mod large_npy;

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: write_large_npy OUT.npy N D [SEED] [f16]";
    let path = args.get(1).expect(usage);
    let n: usize = args.get(2).expect(usage).parse().expect("N is a number");
    let d: usize = args.get(3).expect(usage).parse().expect("D is a number");
    let seed: u64 = args
        .get(4)
        .map_or(0, |s| s.parse().expect("SEED is a number"));
    let precision = match args.get(5).map(String::as_str) {
        None | Some("f32") => large_npy::Precision::F32,
        Some("f16") => large_npy::Precision::F16,
        Some(other) => panic!("{other:?} is not a precision: f32 or f16"),
    };
    large_npy::write(std::path::Path::new(path), n, d, seed, precision)
}
