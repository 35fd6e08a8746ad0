//! Training the decoder on (image, feature vector) pairs: pixel L2 loss, Adam, seeded.
//!
//! Everything random is seeded: the initial weights (libtorch's generator, seeded once), and
//! each epoch's shuffle (its own ChaCha stream from the seed and the epoch number). Adam is
//! written out here rather than taken from `tch::nn::Optimizer` because that one cannot save
//! its moments: with them in the checkpoint, stopping after epoch m and resuming gives the
//! same weights as training straight through.
//!
//! Adam (Kingma & Ba 2015), per parameter p with gradient g at step t:
//! m ← β1 m + (1 - β1) g, v ← β2 v + (1 - β2) g²,
//! p ← p - lr · (m / (1 - β1^t)) / (sqrt(v / (1 - β2^t)) + ε).

use super::{
    read_record, CheckpointRecord, DecoderArch, UpConvDecoder, ARCH_FILE, FORMAT, VERSION,
    WEIGHTS_FILE,
};
use crate::error::{NeuralError, Result, TorchContext};
use ndarray::{ArrayView2, ArrayView4};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use tch::{Kind, Reduction, Tensor};

/// File of Adam's moments inside a checkpoint folder.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";

const BETA1: f64 = 0.9;
const BETA2: f64 = 0.999;
const EPSILON: f64 = 1e-8;

/// How to train.
#[derive(Clone, Debug, PartialEq)]
pub struct TrainParams {
    /// Passes over the collection.
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
    /// about 7.5 minutes on 2 CPU cores (`cargo bench --bench decoder_training`).
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
    /// Refuses settings that cannot train.
    pub fn validate(&self) -> Result<()> {
        if self.batch_size == 0 {
            return Err(NeuralError::Other("batch size must be positive".into()));
        }
        if !(self.learning_rate.is_finite() && self.learning_rate > 0.0) {
            return Err(NeuralError::Other(format!(
                "learning rate {} must be positive",
                self.learning_rate
            )));
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
    /// Trainable variables by name, sorted (the order Adam's moments are kept and saved in).
    variables: Vec<(String, Tensor)>,
    first_moments: Vec<Tensor>,
    second_moments: Vec<Tensor>,
    record: TrainingRecord,
}

fn sorted_variables(decoder: &UpConvDecoder) -> Vec<(String, Tensor)> {
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
        let zeros = || variables.iter().map(|(_, v)| v.zeros_like()).collect();
        Ok(Trainer {
            first_moments: zeros(),
            second_moments: zeros(),
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
        let optimizer = dir.join(OPTIMIZER_FILE);
        let saved: std::collections::HashMap<String, Tensor> = Tensor::read_safetensors(&optimizer)
            .context(|| format!("reading the optimizer state {}", optimizer.display()))?
            .into_iter()
            .collect();
        let variables = sorted_variables(&decoder);
        let moment = |prefix: &str| -> Result<Vec<Tensor>> {
            variables
                .iter()
                .map(|(name, v)| {
                    let key = format!("{prefix}.{name}");
                    match saved.get(&key) {
                        Some(t) if t.size() == v.size() => Ok(t.shallow_clone()),
                        _ => Err(NeuralError::Weights {
                            path: optimizer.clone(),
                            message: format!(
                                "no {key} of shape {:?}: not this decoder's optimizer state",
                                v.size()
                            ),
                        }),
                    }
                })
                .collect()
        };
        Ok(Trainer {
            first_moments: moment("m")?,
            second_moments: moment("v")?,
            variables,
            decoder,
            record: record.training,
        })
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
            return Err(NeuralError::Other(format!(
                "the decoder reads {} features, the training vectors have {d}",
                arch.input_dim
            )));
        }
        if targets.dim() != (n, 3, s, s) {
            return Err(NeuralError::Other(format!(
                "{n} feature vectors need {n} x 3 x {s} x {s} target images, got {:?}",
                targets.dim()
            )));
        }
        if n == 0 {
            return Err(NeuralError::Other("no training pairs".into()));
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
            self.adam_step();
            let value = loss.double_value(&[]);
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

    fn adam_step(&mut self) {
        self.record.steps += 1;
        let t = self.record.steps as i32;
        let lr = self.record.learning_rate;
        let (correct1, correct2) = (1.0 - BETA1.powi(t), 1.0 - BETA2.powi(t));
        tch::no_grad(|| {
            for (((_, p), m), v) in self
                .variables
                .iter_mut()
                .zip(&mut self.first_moments)
                .zip(&mut self.second_moments)
            {
                let g = p.grad();
                if !g.defined() {
                    continue;
                }
                m.copy_(&(&*m * BETA1 + &g * (1.0 - BETA1)));
                v.copy_(&(&*v * BETA2 + (&g * &g) * (1.0 - BETA2)));
                let step = (&*m / correct1) / ((&*v / correct2).sqrt() + EPSILON) * lr;
                let _ = p.g_sub_(&step);
            }
        });
    }

    /// Writes the checkpoint folder: weights, Adam's moments, and the architecture with the
    /// record. Each file is written beside its final name and renamed into place, the JSON
    /// last, so an interrupted save leaves the previous checkpoint readable.
    pub fn save(&self, dir: &Path) -> Result<()> {
        std::fs::create_dir_all(dir).map_err(|e| NeuralError::Weights {
            path: dir.to_path_buf(),
            message: format!("cannot create the checkpoint folder: {e}"),
        })?;
        let named: Vec<(String, &Tensor)> =
            self.variables.iter().map(|(k, v)| (k.clone(), v)).collect();
        write_tensors(&dir.join(WEIGHTS_FILE), &named)?;
        let moments: Vec<(String, &Tensor)> = self
            .variables
            .iter()
            .zip(&self.first_moments)
            .map(|((k, _), m)| (format!("m.{k}"), m))
            .chain(
                self.variables
                    .iter()
                    .zip(&self.second_moments)
                    .map(|((k, _), v)| (format!("v.{k}"), v)),
            )
            .collect();
        write_tensors(&dir.join(OPTIMIZER_FILE), &moments)?;
        let record = CheckpointRecord {
            format: FORMAT.to_string(),
            version: VERSION,
            arch: self.decoder.arch().clone(),
            training: self.record.clone(),
        };
        let json = serde_json::to_string_pretty(&record).expect("records serialise");
        let path = dir.join(ARCH_FILE);
        let temporary = temporary_beside(&path);
        std::fs::write(&temporary, json)
            .and_then(|()| std::fs::rename(&temporary, &path))
            .map_err(|e| NeuralError::Weights {
                path: path.clone(),
                message: format!("cannot write: {e}"),
            })?;
        debug_assert!(read_record(dir).is_ok());
        Ok(())
    }
}

fn temporary_beside(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".partial");
    path.with_file_name(name)
}

fn write_tensors(path: &Path, named: &[(String, &Tensor)]) -> Result<()> {
    let temporary = temporary_beside(path);
    Tensor::write_safetensors(named, &temporary)
        .context(|| format!("writing {}", temporary.display()))?;
    std::fs::rename(&temporary, path).map_err(|e| NeuralError::Weights {
        path: path.to_path_buf(),
        message: format!("cannot move the new file into place: {e}"),
    })
}

fn tensor_of(values: impl Iterator<Item = f32>, shape: &[usize]) -> Tensor {
    let values: Vec<f32> = values.collect();
    let shape: Vec<i64> = shape.iter().map(|&x| x as i64).collect();
    Tensor::from_slice(&values)
        .view(shape.as_slice())
        .to_kind(Kind::Float)
}
