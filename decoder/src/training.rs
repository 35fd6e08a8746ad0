//! Training the decoder on (image, feature vector) pairs: pixel L2 loss, [`Adam`], seeded.
//!
//! Everything random is seeded: the initial weights (libtorch's generator, seeded once), and
//! each epoch's shuffle (its own ChaCha stream from the seed and the epoch number). With
//! Adam's moments in the checkpoint ([`crate::checkpoint`]), stopping after epoch m and
//! resuming gives the same weights as training straight through.

use crate::adam::Adam;
use crate::checkpoint;
use crate::error::{DecoderError, Result};
use crate::network::{DecoderArch, UpConvDecoder};
use demud_datasets::images::{ImageCollection, ImageItem};
use image::RgbImage;
use ndarray::{Array3, Array4, ArrayView2, ArrayView4};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::{Kind, Reduction, Tensor};

/// How to train.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainParams {
    /// Passes over the collection (the caller's loop runs them: see [`Trainer::epoch`]).
    pub epochs: usize,
    /// Pairs per step.
    pub batch_size: usize,
    /// Adam's step size.
    pub learning_rate: f64,
    /// Seed of the initial weights and of the shuffles.
    pub seed: u64,
}

impl Default for TrainParams {
    /// 30 epochs of batch 32 at learning rate 5e-4, seed 0: 2,000 images at 64 px train in
    /// about 7.5 minutes on 2 CPU cores (`cargo bench -p demud-decoder --bench
    /// decoder_training`).
    fn default() -> Self {
        TrainParams {
            epochs: 30,
            batch_size: 32,
            learning_rate: 5e-4,
            seed: 0,
        }
    }
}

impl TrainParams {
    /// Refuses settings that cannot train: a zero batch size, a learning rate that is not a
    /// positive number.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(DecoderError::BatchSize);
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(DecoderError::LearningRate {
                value: self.learning_rate,
            });
        }
        Ok(())
    }
}

/// How a decoder was trained so far (saved in the checkpoint).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainingRecord {
    /// Seed of the initial weights and the shuffles.
    pub seed: u64,
    /// Pairs per step.
    pub batch_size: usize,
    /// Adam's step size.
    pub learning_rate: f64,
    /// Epochs completed.
    pub epochs_done: usize,
    /// Adam steps taken.
    pub steps: u64,
    /// Mean pixel MSE of each completed epoch (over its steps, as trained).
    pub losses: Vec<f64>,
    /// Pairs in the training set.
    pub items: usize,
    /// Training time so far.
    pub seconds: f64,
}

/// A decoder being trained, with its optimizer state.
#[derive(Debug)]
pub struct Trainer {
    decoder: UpConvDecoder,
    /// Trainable variables by name, sorted (the order Adam keeps its moments in).
    variables: Vec<(String, Tensor)>,
    adam: Adam,
    record: TrainingRecord,
}

/// The decoder's variables by name, sorted by name.
pub(crate) fn sorted_variables(decoder: &UpConvDecoder) -> Vec<(String, Tensor)> {
    let mut variables: Vec<(String, Tensor)> =
        decoder.var_store().variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    variables
}

impl Trainer {
    /// A fresh decoder of `arch` and a fresh optimizer.
    pub fn new(arch: DecoderArch, params: &TrainParams) -> Result<Self> {
        params.validate()?;
        let decoder = UpConvDecoder::new(arch, params.seed)?;
        let variables = sorted_variables(&decoder);
        let adam = Adam::new(params.learning_rate, &variables);
        Ok(Trainer {
            adam,
            variables,
            decoder,
            record: TrainingRecord {
                seed: params.seed,
                batch_size: params.batch_size,
                learning_rate: params.learning_rate,
                epochs_done: 0,
                steps: 0,
                losses: Vec::new(),
                items: 0,
                seconds: 0.0,
            },
        })
    }

    /// Continues from a checkpoint folder written by [`Trainer::save`]: weights, Adam's
    /// moments and the record (seed, epochs done, losses).
    pub fn resume(dir: &Path) -> Result<Self> {
        let (decoder, record) = UpConvDecoder::load(dir)?;
        let variables = sorted_variables(&decoder);
        let adam = checkpoint::read_optimizer(dir, &variables, &record.training)?;
        Ok(Trainer {
            adam,
            variables,
            decoder,
            record: record.training,
        })
    }

    /// Writes the checkpoint folder (see [`checkpoint::save`]).
    pub fn save(&self, dir: &Path) -> Result<()> {
        checkpoint::save(dir, &self.decoder, &self.adam, &self.record)
    }

    /// The decoder as trained so far.
    pub fn decoder(&self) -> &UpConvDecoder {
        &self.decoder
    }

    /// The decoder, training done.
    pub fn into_decoder(self) -> UpConvDecoder {
        self.decoder
    }

    /// The training record so far.
    pub fn record(&self) -> &TrainingRecord {
        &self.record
    }

    /// One epoch over the pairs (`features` row i draws `targets` image i, 3 x s x s in
    /// [0, 1]). `on_step` gets the pairs done so far this epoch and the batch's loss. Returns
    /// the epoch's mean loss.
    pub fn epoch(
        &mut self,
        features: ArrayView2<f32>,
        targets: ArrayView4<f32>,
        mut on_step: impl FnMut(usize, f64),
    ) -> Result<f64> {
        let arch = self.decoder.arch();
        let (n, d) = features.dim();
        let s = arch.image_size;
        if d != arch.input_dim {
            return Err(DecoderError::FeatureWidth {
                expected: arch.input_dim,
                found: d,
            });
        }
        if targets.dim() != (n, 3, s, s) {
            return Err(DecoderError::TargetShape {
                pairs: n,
                side: s,
                found: targets.dim(),
            });
        }
        if n == 0 {
            return Err(DecoderError::NoTrainingPairs);
        }
        let started = std::time::Instant::now();
        let all_features = tensor_of(features.iter().copied(), &[n, d]);
        let all_targets = tensor_of(targets.iter().copied(), &[n, 3, s, s]);
        let mut order: Vec<i64> = (0..n as i64).collect();
        let epoch = self.record.epochs_done as u64;
        let mut rng = ChaCha8Rng::seed_from_u64(
            self.record.seed ^ (epoch + 1).wrapping_mul(0x9E37_79B9_7F4A_7C15),
        );
        order.shuffle(&mut rng);
        let (mut total, mut batches) = (0.0, 0usize);
        for (b, chunk) in order.chunks(self.record.batch_size).enumerate() {
            let index = Tensor::from_slice(chunk);
            let input = all_features.index_select(0, &index);
            let target = all_targets.index_select(0, &index);
            let loss = self
                .decoder
                .forward(&input)
                .mse_loss(&target, Reduction::Mean);
            for (_, v) in &mut self.variables {
                v.zero_grad();
            }
            loss.backward();
            self.adam.step(&mut self.variables);
            self.record.steps = self.adam.steps();
            let value = loss.double_value(&[]);
            if !value.is_finite() {
                return Err(DecoderError::Diverged {
                    epoch: self.record.epochs_done + 1,
                    step: b + 1,
                    loss: value,
                });
            }
            total += value;
            batches += 1;
            on_step((b * self.record.batch_size + chunk.len()).min(n), value);
        }
        let mean = total / batches as f64;
        self.record.epochs_done += 1;
        self.record.losses.push(mean);
        self.record.items = n;
        self.record.seconds += started.elapsed().as_secs_f64();
        Ok(mean)
    }
}

fn tensor_of(values: impl Iterator<Item = f32>, shape: &[usize]) -> Tensor {
    let values: Vec<f32> = values.collect();
    let shape: Vec<i64> = shape.iter().map(|&x| x as i64).collect();
    Tensor::from_slice(&values)
        .view(shape.as_slice())
        .to_kind(Kind::Float)
}

/// The decoder's training targets for `items`: each image in [`DecoderArch::target_preprocess`]
/// geometry, as 3 x s x s values in [0, 1].
pub fn targets(
    collection: &ImageCollection,
    items: &[ImageItem],
    arch: &DecoderArch,
) -> Result<Array4<f32>> {
    let s = arch.image_size;
    let mut all = Array4::zeros((items.len(), 3, s, s));
    for (mut slot, item) in all.outer_iter_mut().zip(items) {
        let image = collection.load_over(item, arch.target_preprocess().background)?;
        slot.assign(&target(&image, arch));
    }
    Ok(all)
}

/// The target image of one item as an array (3 x s x s).
pub fn target(image: &RgbImage, arch: &DecoderArch) -> Array3<f32> {
    let preprocess = arch.target_preprocess();
    let s = arch.image_size;
    Array3::from_shape_vec((3, s, s), preprocess.normalise(&preprocess.apply(image)))
        .expect("3 x s x s values")
}
