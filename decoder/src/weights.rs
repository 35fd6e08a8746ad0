//! Weights files: safetensors with PyTorch's parameter names.
//!
//! PyTorch `.pth` files are converted once with the venv's torch:
//! `.venv/bin/python scripts/convert_weights.py FILE.pth OUT.safetensors`.

use crate::error::{NeuralError, Result, TorchContext};
use std::path::Path;
use tch::nn;

/// Loads safetensors weights into a var store, with a clear message for other formats.
pub fn load_weights(vs: &mut nn::VarStore, weights: &Path) -> Result<()> {
    if weights.extension().is_none_or(|e| e != "safetensors") {
        return Err(NeuralError::Weights {
            path: weights.to_path_buf(),
            message: format!(
                "expected a .safetensors file; convert a PyTorch state dict once with the venv's torch: .venv/bin/python scripts/convert_weights.py {} OUT.safetensors",
                weights.display()
            ),
        });
    }
    vs.load(weights)
        .context(|| format!("loading weights from {}", weights.display()))
}
