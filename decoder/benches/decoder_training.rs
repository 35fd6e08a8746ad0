//! Time of the decoder's training at its default settings, against the budget the main job
//! plans with: 2,000 images at 64 px in 10 minutes on this 2-core CPU.
//!
//! `cargo bench -p demud-decoder --bench decoder_training`. Measures seconds per Adam step
//! (batch 32, EfficientNet-Lite0's 1280 pool features, 64 px and 128 px) over a few epochs of
//! random pairs, then prints the epochs of 2,000 images that fit in 10 minutes.

use demud_decoder::{DecoderArch, TrainParams, Trainer};
use ndarray::{Array2, Array4};
use std::time::Instant;

const FEATURES: usize = 1280;
const PAIRS: usize = 256;
const BUDGET_SECONDS: f64 = 600.0;
const BUDGET_IMAGES: usize = 2000;

fn main() {
    tch::set_num_threads(2);
    println!("| output | params | s / step (batch 32) | s / epoch of 2,000 | epochs in 10 min |");
    println!("|---|---|---|---|---|");
    for size in [64usize, 128] {
        let arch = DecoderArch::new(FEATURES, size);
        let params = TrainParams::default();
        let mut trainer = Trainer::new(arch, &params).expect("decoder");
        let features = Array2::from_shape_fn((PAIRS, FEATURES), |(i, j)| {
            ((i * 31 + j * 17) % 97) as f32 / 97.0
        });
        let targets = Array4::from_shape_fn((PAIRS, 3, size, size), |(i, c, y, x)| {
            ((i + c + y + x) % 5) as f32 / 5.0
        });
        // One warm-up epoch, then the timed ones.
        trainer
            .epoch(features.view(), targets.view(), |_, _| {})
            .expect("epoch");
        let epochs = 3;
        let started = Instant::now();
        for _ in 0..epochs {
            trainer
                .epoch(features.view(), targets.view(), |_, _| {})
                .expect("epoch");
        }
        let steps = epochs * PAIRS.div_ceil(params.batch_size);
        let per_step = started.elapsed().as_secs_f64() / steps as f64;
        let per_epoch = per_step * BUDGET_IMAGES.div_ceil(params.batch_size) as f64;
        let parameters: i64 = tch::no_grad(|| trainer.decoder().parameter_count());
        println!(
            "| {size} px | {:.1} M | {per_step:.3} | {per_epoch:.1} | {:.0} |",
            parameters as f64 / 1e6,
            BUDGET_SECONDS / per_epoch
        );
    }
}
