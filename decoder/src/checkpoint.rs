//! The checkpoint folder of a decoder:
//!
//! - [`WEIGHTS_FILE`] (`decoder.safetensors`): the network's variables by name;
//! - [`OPTIMIZER_FILE`] (`optimizer.safetensors`): Adam's moments, `m.NAME` and `v.NAME` for
//!   each variable (see [`crate::adam`]);
//! - [`ARCH_FILE`] (`decoder.json`): a [`CheckpointRecord`], the architecture and how it was
//!   trained so far (its step count is Adam's).
//!
//! [`save`] writes each file atomically (a temporary file beside it, synced and renamed into
//! place) in that order, the JSON last, so an interrupted save leaves the previous checkpoint
//! readable: a reader goes by the JSON, which names the epoch the other two files have
//! reached or passed.

use crate::adam::Adam;
use crate::error::{DecoderError, Result, TorchContext};
use crate::network::{DecoderArch, UpConvDecoder};
use crate::training::{sorted_variables, TrainingRecord};
use demud_datasets::atomic::{write_atomic, write_atomic_path};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use tch::Tensor;

/// File of the weights inside a checkpoint folder.
pub const WEIGHTS_FILE: &str = "decoder.safetensors";
/// File of the architecture and training record inside a checkpoint folder.
pub const ARCH_FILE: &str = "decoder.json";
/// File of Adam's moments inside a checkpoint folder.
pub const OPTIMIZER_FILE: &str = "optimizer.safetensors";
/// The `format` field of [`ARCH_FILE`].
pub const FORMAT: &str = "demud-upconv-decoder";
/// The current version of [`ARCH_FILE`].
pub const VERSION: u32 = 1;

/// Everything in [`ARCH_FILE`].
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct CheckpointRecord {
    /// Always [`FORMAT`].
    pub format: String,
    /// [`VERSION`] when written.
    pub version: u32,
    /// The architecture.
    pub arch: DecoderArch,
    /// How it was trained so far.
    pub training: TrainingRecord,
}

/// Reads and checks a checkpoint's [`ARCH_FILE`]: its format, its version and its
/// architecture.
pub fn read_record(dir: &Path) -> Result<CheckpointRecord> {
    let path = dir.join(ARCH_FILE);
    let text = std::fs::read_to_string(&path).map_err(|source| DecoderError::CheckpointIo {
        path: path.clone(),
        source,
    })?;
    // A loss that stopped being a number was written as null by versions that saved
    // diverged training: named for what it is, not as a JSON type error.
    if let Ok(value) = serde_json::from_str::<serde_json::Value>(&text) {
        let losses = value["training"]["losses"].as_array();
        if let Some(epoch) = losses.and_then(|l| l.iter().position(|v| !v.is_number())) {
            return Err(DecoderError::DivergedCheckpoint {
                path,
                epoch: epoch + 1,
            });
        }
    }
    let record: CheckpointRecord =
        serde_json::from_str(&text).map_err(|source| DecoderError::Checkpoint {
            path: path.clone(),
            source,
        })?;
    if record.format != FORMAT || record.version > VERSION {
        return Err(DecoderError::CheckpointFormat {
            path,
            format: record.format,
            version: record.version,
        });
    }
    record.arch.validate()?;
    Ok(record)
}

/// The decoder of a checkpoint folder and its record.
pub(crate) fn load_decoder(dir: &Path) -> Result<(UpConvDecoder, CheckpointRecord)> {
    let record = read_record(dir)?;
    let mut decoder = UpConvDecoder::new(record.arch.clone(), record.training.seed)?;
    let weights = dir.join(WEIGHTS_FILE);
    decoder
        .var_store_mut()
        .load(&weights)
        .context(|| format!("loading the decoder weights {}", weights.display()))?;
    for (name, tensor) in sorted_variables(&decoder) {
        if !bool::try_from(tensor.isfinite().all()).unwrap_or(false) {
            return Err(DecoderError::DivergedWeights {
                path: weights,
                tensor: name,
            });
        }
    }
    Ok((decoder, record))
}

/// Adam's state for `variables` (sorted by name) from a checkpoint folder's
/// [`OPTIMIZER_FILE`], after the steps of `training`.
pub(crate) fn read_optimizer(
    dir: &Path,
    variables: &[(String, Tensor)],
    training: &TrainingRecord,
) -> Result<Adam> {
    let path = dir.join(OPTIMIZER_FILE);
    let saved: HashMap<String, Tensor> = Tensor::read_safetensors(&path)
        .context(|| format!("reading the optimizer state {}", path.display()))?
        .into_iter()
        .collect();
    Adam::from_state(training.learning_rate, variables, &saved, training.steps).map_err(|missing| {
        DecoderError::OptimizerState {
            path,
            key: missing.key,
            shape: missing.shape,
        }
    })
}

/// Writes the checkpoint folder (created if need be): weights, Adam's moments, and the
/// architecture with the record, each file atomically and in that order (see the module
/// documentation).
pub fn save(
    dir: &Path,
    decoder: &UpConvDecoder,
    adam: &Adam,
    training: &TrainingRecord,
) -> Result<()> {
    let variables = sorted_variables(decoder);
    let named: Vec<(&str, &Tensor)> = variables.iter().map(|(k, v)| (k.as_str(), v)).collect();
    write_tensors(&dir.join(WEIGHTS_FILE), &named)?;
    let moments = adam.state();
    let moments: Vec<(&str, &Tensor)> = moments.iter().map(|(k, v)| (k.as_str(), *v)).collect();
    write_tensors(&dir.join(OPTIMIZER_FILE), &moments)?;
    let record = CheckpointRecord {
        format: FORMAT.to_string(),
        version: VERSION,
        arch: decoder.arch().clone(),
        training: training.clone(),
    };
    write_atomic(&dir.join(ARCH_FILE), |w| {
        serde_json::to_writer_pretty(&mut *w, &record)?;
        Ok(w.write_all(b"\n")?)
    })?;
    debug_assert!(read_record(dir).is_ok());
    Ok(())
}

fn write_tensors(path: &Path, named: &[(&str, &Tensor)]) -> Result<()> {
    write_atomic_path(path, |temporary| {
        Ok(Tensor::write_safetensors(named, temporary)?)
    })?;
    Ok(())
}
