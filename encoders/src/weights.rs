//! Weights files: safetensors with PyTorch's parameter names.
//!
//! PyTorch `.pth` files are converted once with the venv's torch:
//! `.venv/bin/python scripts/convert_weights.py FILE.pth OUT.safetensors`.

use crate::error::{EncoderError, Result, TorchContext};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use tch::{nn, Tensor};

/// Loads safetensors weights into a var store, with a clear message for other formats. Every
/// tensor the network needs must be in the file with its shape, floating point (half and
/// double precision are converted) and finite, and not all of them zero: a wrong file is an
/// error naming the tensor, never a broadcast or a libtorch abort. Extra tensors are ignored.
pub fn load_weights(vs: &mut nn::VarStore, weights: &Path) -> Result<()> {
    if weights.extension().is_none_or(|e| e != "safetensors") {
        return Err(EncoderError::WeightsFormat {
            path: weights.to_path_buf(),
        });
    }
    let bad = |reason: String| EncoderError::Weights {
        path: weights.to_path_buf(),
        reason,
    };
    let mut stored: HashMap<String, Tensor> = Tensor::read_safetensors(weights)
        .context(|| format!("reading weights from {}", weights.display()))?
        .into_iter()
        .collect();
    let mut variables: Vec<(String, Tensor)> = vs.variables().into_iter().collect();
    variables.sort_by(|a, b| a.0.cmp(&b.0));
    let mut any_nonzero = false;
    for (name, variable) in &variables {
        let tensor = stored.remove(name).ok_or_else(|| {
            bad(format!(
                "no tensor {name:?}: the network needs {} tensors (is this the right network's file?)",
                variables.len()
            ))
        })?;
        if tensor.size() != variable.size() {
            return Err(bad(format!(
                "tensor {name:?} has shape {:?}, the network needs {:?}",
                tensor.size(),
                variable.size()
            )));
        }
        if !tensor.is_floating_point() {
            return Err(bad(format!(
                "tensor {name:?} holds {:?} values, not floating point",
                tensor.kind()
            )));
        }
        // Half and double precision are converted to the network's single precision.
        let tensor = tensor.to_kind(variable.kind());
        if !bool::try_from(tensor.isfinite().all()).unwrap_or(false) {
            return Err(bad(format!("tensor {name:?} has NaN or infinite values")));
        }
        any_nonzero |= bool::try_from(tensor.ne(0.0).any()).unwrap_or(true);
        let mut variable = variable.shallow_clone();
        tch::no_grad(|| variable.copy_(&tensor));
    }
    if !any_nonzero {
        return Err(bad(
            "every weight is zero: every image would give the same features".into(),
        ));
    }
    Ok(())
}

/// Where `scripts/setup` puts weights and class names: `$DEMUD_MODELS`, else the `models/`
/// folder of the checkout this crate was built from.
pub fn models_dir() -> PathBuf {
    std::env::var_os("DEMUD_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use tch::{Device, Kind};

    /// A var store of one 2 x 3 linear layer.
    fn store() -> nn::VarStore {
        let vs = nn::VarStore::new(Device::Cpu);
        let _ = nn::linear(vs.root() / "fc", 3, 2, Default::default());
        vs
    }

    fn write(path: &Path, tensors: &[(&str, Tensor)]) {
        Tensor::write_safetensors(tensors, path).unwrap();
    }

    #[test]
    fn weights_that_do_not_fit_are_refused_naming_the_tensor() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("w.safetensors");
        let weight = || Tensor::ones([2, 3], (Kind::Float, Device::Cpu));
        let bias = || Tensor::zeros([2], (Kind::Float, Device::Cpu));
        let cases = [
            (vec![("fc.weight", weight())], "no tensor \"fc.bias\""),
            (
                vec![
                    (
                        "fc.weight",
                        Tensor::ones([3, 3], (Kind::Float, Device::Cpu)),
                    ),
                    ("fc.bias", bias()),
                ],
                "shape [3, 3]",
            ),
            (
                vec![("fc.weight", weight() * f64::NAN), ("fc.bias", bias())],
                "NaN",
            ),
            (
                vec![("fc.weight", weight() * 0.0), ("fc.bias", bias())],
                "every weight is zero",
            ),
            (
                vec![
                    (
                        "fc.weight",
                        Tensor::ones([2, 3], (Kind::Int64, Device::Cpu)),
                    ),
                    ("fc.bias", bias()),
                ],
                "not floating point",
            ),
        ];
        for (tensors, expected) in cases {
            write(&path, &tensors);
            let err = load_weights(&mut store(), &path).unwrap_err().to_string();
            assert!(
                err.contains(expected) && err.contains("w.safetensors"),
                "{err}"
            );
        }
        // Half precision loads, converted; extra tensors are ignored.
        write(
            &path,
            &[
                ("fc.weight", weight().to_kind(Kind::Half) * 0.5),
                ("fc.bias", bias()),
                ("extra", bias()),
            ],
        );
        let mut vs = store();
        load_weights(&mut vs, &path).unwrap();
        let loaded = vs.variables()["fc.weight"].shallow_clone();
        assert_eq!(loaded.kind(), Kind::Float);
        assert_eq!(loaded.double_value(&[1, 2]), 0.5);
    }
}
