//! Weights files: safetensors with PyTorch's parameter names.
//!
//! PyTorch `.pth` files are converted once with the venv's torch:
//! `.venv/bin/python scripts/convert_weights.py FILE.pth OUT.safetensors`.

use crate::error::{EncoderError, Result, TorchContext};
use std::path::{Path, PathBuf};
use tch::nn;

/// Loads safetensors weights into a var store, with a clear message for other formats.
pub fn load_weights(vs: &mut nn::VarStore, weights: &Path) -> Result<()> {
    if weights.extension().is_none_or(|e| e != "safetensors") {
        return Err(EncoderError::WeightsFormat {
            path: weights.to_path_buf(),
        });
    }
    vs.load(weights)
        .context(|| format!("loading weights from {}", weights.display()))
}

/// Where `scripts/setup` puts weights and class names: `$DEMUD_MODELS`, else the `models/`
/// folder of the checkout this crate was built from.
pub fn models_dir() -> PathBuf {
    std::env::var_os("DEMUD_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models"))
}
