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
    check_safetensors(weights)?;
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

/// The largest JSON header a safetensors file may have (the format's own limit).
const MAX_HEADER: u64 = 100 << 20;

/// What a file that is not a safetensors file holds, in a few words, from its first bytes.
fn describe_start(start: &[u8]) -> String {
    if start.starts_with(b"PK\x03\x04") {
        return "a zip archive (a PyTorch .pt/.pth file or a TorchScript module?)".into();
    }
    if start.first() == Some(&0x80) {
        return "a Python pickle (an old PyTorch .pth file?)".into();
    }
    let text: String = String::from_utf8_lossy(start)
        .chars()
        .take_while(|c| !c.is_control() || *c == ' ')
        .collect();
    if start
        .iter()
        .all(|b| b.is_ascii_graphic() || b.is_ascii_whitespace())
        && !text.is_empty()
    {
        return format!("text ({:?}...)", text.trim());
    }
    "something else".into()
}

/// Checks that `path` is a whole safetensors file before libtorch reads it: an 8-byte
/// little-endian header length, a JSON header of that length, and tensor data that ends where
/// the header says. A text file, a PyTorch pickle or a truncated copy is an error naming the
/// file and what it should be, never libtorch's `HeaderTooLarge` or
/// `MetadataIncompleteBuffer`.
pub fn check_safetensors(path: &Path) -> Result<()> {
    use std::io::Read;
    let bad = |reason: String| EncoderError::Weights {
        path: path.to_path_buf(),
        reason,
    };
    let expected = "expected a safetensors weights file (PyTorch state dicts convert once with .venv/bin/python scripts/convert_weights.py)";
    let mut file = std::fs::File::open(path).map_err(|e| bad(format!("cannot read it: {e}")))?;
    let size = file
        .metadata()
        .map_err(|e| bad(format!("cannot read it: {e}")))?
        .len();
    let mut start = Vec::new();
    (&mut file)
        .take(64)
        .read_to_end(&mut start)
        .map_err(|e| bad(format!("cannot read it: {e}")))?;
    if size < 8 {
        return Err(bad(format!(
            "{size} bytes: too short to be weights; {expected}"
        )));
    }
    let header = u64::from_le_bytes(start[..8].try_into().expect("8 bytes"));
    let looks_like_json = start.get(8) == Some(&b'{');
    if !looks_like_json || header > MAX_HEADER {
        return Err(bad(format!(
            "this is {}, not safetensors weights; {expected}",
            describe_start(&start)
        )));
    }
    if 8 + header > size {
        return Err(bad(format!(
            "truncated: its header alone needs {} bytes and the file has {size}; copy or convert the weights again",
            8 + header
        )));
    }
    let mut text = vec![0u8; header as usize];
    std::io::Seek::seek(&mut file, std::io::SeekFrom::Start(8))
        .and_then(|_| file.read_exact(&mut text))
        .map_err(|e| bad(format!("cannot read its header: {e}")))?;
    let tensors: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(&text)
        .map_err(|e| {
            bad(format!(
                "its header is not a safetensors header ({e}); {expected}"
            ))
        })?;
    let end = tensors
        .iter()
        .filter(|(name, _)| *name != "__metadata__")
        .filter_map(|(_, t)| t.get("data_offsets")?.as_array()?.get(1)?.as_u64())
        .max()
        .unwrap_or(0);
    if 8 + header + end > size {
        return Err(bad(format!(
            "truncated: its {} tensors need {} bytes and the file has {size}; copy or convert the weights again",
            tensors.len() - usize::from(tensors.contains_key("__metadata__")),
            8 + header + end
        )));
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
        // Files that are not whole safetensors files are named for what they are.
        let text = dir.path().join("notes.safetensors");
        std::fs::write(&text, "hello, these are not weights\n").unwrap();
        let err = load_weights(&mut store(), &text).unwrap_err().to_string();
        assert!(
            err.contains("notes.safetensors: this is text (\"hello, these are not weights\"...)")
                && err.contains("expected a safetensors weights file"),
            "{err}"
        );
        write(&path, &[("fc.weight", weight()), ("fc.bias", bias())]);
        let whole = std::fs::read(&path).unwrap();
        let cut = dir.path().join("cut.safetensors");
        for (keep, expected) in [
            (whole.len() - 4, "its 2 tensors need"),
            (20, "its header alone needs"),
        ] {
            std::fs::write(&cut, &whole[..keep]).unwrap();
            let err = load_weights(&mut store(), &cut).unwrap_err().to_string();
            assert!(
                err.contains("cut.safetensors: truncated") && err.contains(expected),
                "{keep}: {err}"
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
