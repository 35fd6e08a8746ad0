//! Training to a number of epochs with checkpoints, as `demud train-decoder` and the main job
//! do it: one [`Trainer::epoch`] after another, the checkpoint saved every few epochs and at
//! the end, and a hook after each save (the command line draws the loss curve there).

use crate::error::{DecoderError, Result};
use crate::network::DecoderArch;
use crate::training::{Trainer, TrainingRecord};
use demud_datasets::extraction::read_extraction_record;
use demud_datasets::features::{items_path, read_features};
use demud_datasets::images::{ImageCollection, ImageItem, Preprocess};
use demud_datasets::{CsvLayout, FeatureMatrix};
use ndarray::{Array2, ArrayView2, ArrayView4};
use std::path::Path;

/// A collection's feature vectors with the ids of the images they were computed from.
#[derive(Clone, Debug)]
pub struct TrainingSet {
    /// One image id (its path under the image folder) per row.
    pub ids: Vec<String>,
    /// The features, in f32.
    pub features: Array2<f32>,
    /// How their images were prepared (the features' extraction record), when known.
    pub view: Option<Preprocess>,
}

impl TrainingSet {
    /// Reads the features `extract` wrote (`.npy` with its items file, `items` or the one
    /// beside it) or a features CSV whose ids are image paths; refuses non-finite values.
    pub fn load(features: &Path, items: Option<&Path>) -> Result<Self> {
        let beside = items_path(features);
        let is_npy = features.extension().is_some_and(|e| e == "npy");
        if items.is_none() && is_npy && !beside.is_file() {
            return Err(DecoderError::NoItems { path: beside });
        }
        let table = read_features(features, CsvLayout::default(), items)?;
        let matrix = match table.matrix {
            FeatureMatrix::F32(m) => m,
            FeatureMatrix::F64(m) => m.mapv(|v| v as f32),
            mapped @ FeatureMatrix::Mapped(_) => mapped.to_f64().mapv(|v| v as f32),
        };
        if matrix.iter().any(|v| !v.is_finite()) {
            return Err(DecoderError::NotFinite {
                path: features.to_path_buf(),
            });
        }
        let view = read_extraction_record(features)?.map(|r| r.preprocess);
        Ok(TrainingSet {
            ids: table.ids,
            features: matrix,
            view,
        })
    }

    /// The images of the rows, under `images`.
    pub fn collection(&self, images: &Path) -> ImageCollection {
        ImageCollection {
            root: images.to_path_buf(),
            items: self
                .ids
                .iter()
                .map(|id| ImageItem {
                    id: id.clone(),
                    label: None,
                })
                .collect(),
        }
    }

    /// The default architecture for these features: `image_size` px output, these hidden
    /// widths, and the features read at [`input_scale`].
    pub fn arch(&self, image_size: usize, hidden: &[usize]) -> DecoderArch {
        DecoderArch {
            input_scale: input_scale(self.features.view()),
            hidden: hidden.to_vec(),
            view: self.view,
            ..DecoderArch::new(self.features.ncols(), image_size)
        }
    }
}

/// The scale the decoder reads features at: 1 / RMS of the training features (1 for all-zero
/// features), so that features and residuals of any layer reach the network at unit size.
pub fn input_scale(features: ArrayView2<f32>) -> f32 {
    let mean_square = features
        .iter()
        .map(|&v| f64::from(v) * f64::from(v))
        .sum::<f64>()
        / features.len().max(1) as f64;
    let rms = mean_square.sqrt();
    if rms > 0.0 {
        (1.0 / rms) as f32
    } else {
        1.0
    }
}

/// How long to train and how often to save.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Schedule {
    /// Total epochs, counting those a resumed trainer already has.
    pub epochs: usize,
    /// Save every this many epochs (0: only at the end).
    pub checkpoint_every: usize,
}

/// What training reports as it goes.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Progress {
    /// A step of `epoch` (0-based) is done: `pairs` of the epoch so far, the batch's loss.
    Step {
        /// The epoch.
        epoch: usize,
        /// Pairs done this epoch.
        pairs: usize,
        /// The batch's loss.
        loss: f64,
    },
    /// `epoch` (0-based) is done with this mean loss.
    Epoch {
        /// The epoch.
        epoch: usize,
        /// Its mean loss.
        mean: f64,
    },
}

/// Trains `trainer` from the epochs it has to `schedule.epochs`, saving the checkpoint in
/// `dir` every `checkpoint_every` epochs and after the last, calling `after_save` after each
/// save.
pub fn train_with_checkpoints<E: From<DecoderError>>(
    trainer: &mut Trainer,
    features: ArrayView2<f32>,
    targets: ArrayView4<f32>,
    dir: &Path,
    schedule: Schedule,
    mut on_progress: impl FnMut(Progress),
    mut after_save: impl FnMut(&TrainingRecord) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let done = trainer.record().epochs_done;
    for epoch in done..schedule.epochs {
        let mean = trainer.epoch(features, targets, |pairs, loss| {
            on_progress(Progress::Step { epoch, pairs, loss })
        })?;
        let last = epoch + 1 == schedule.epochs;
        let every = schedule.checkpoint_every;
        if last || (every > 0 && (epoch + 1) % every == 0) {
            trainer.save(dir)?;
            after_save(trainer.record())?;
        }
        on_progress(Progress::Epoch { epoch, mean });
    }
    Ok(())
}
