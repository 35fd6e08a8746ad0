//! Any TorchScript module (`torch.jit.trace` / `torch.jit.script` output) as an encoder.
//!
//! A module returning a tensor has one layer, `output`; one returning a tuple or list has
//! layers `0`, `1`, ...; one returning a dict of tensors has its keys as layers. The layers
//! are found by running the module once on a blank image when it is loaded.

use crate::error::{EncoderError, Result, TorchContext};
use crate::extract::{select_layers, Encoder, LayerParts};
use demud_datasets::images::Preprocess;
use std::path::Path;
use tch::{CModule, IValue, Tensor};

/// A loaded TorchScript module.
#[derive(Debug)]
pub struct TorchScript {
    module: CModule,
    layers: Vec<String>,
    input_size: u32,
}

fn outputs(value: IValue) -> Result<Vec<(String, Tensor)>> {
    match value {
        IValue::Tensor(t) => Ok(vec![("output".into(), t)]),
        IValue::Tuple(items) | IValue::GenericList(items) => items
            .into_iter()
            .enumerate()
            .map(|(i, v)| match v {
                IValue::Tensor(t) => Ok((i.to_string(), t)),
                other => Err(EncoderError::NotTensor {
                    what: format!("{i} ({other:?})"),
                }),
            })
            .collect(),
        IValue::GenericDict(pairs) => pairs
            .into_iter()
            .map(|(k, v)| match (k, v) {
                (IValue::String(name), IValue::Tensor(t)) => Ok((name, t)),
                (k, _) => Err(EncoderError::NotTensor {
                    what: format!("{k:?} (a dict entry needs a string key and a tensor)"),
                }),
            })
            .collect(),
        other => Err(EncoderError::NotTensor {
            what: format!("{other:?}"),
        }),
    }
}

impl TorchScript {
    /// Loads a module that takes `n x 3 x input_size x input_size` ImageNet-normalised images.
    pub fn load(path: &Path, input_size: u32) -> Result<Self> {
        check_module_file(path)?;
        let module = CModule::load(path)
            .context(|| format!("loading TorchScript module {}", path.display()))?;
        let probe = Tensor::zeros(
            [1, 3, input_size as i64, input_size as i64],
            (tch::Kind::Float, tch::Device::Cpu),
        );
        let value = tch::no_grad(|| module.forward_is(&[IValue::Tensor(probe)])).context(|| {
            format!(
                "running {} on a {input_size}x{input_size} image",
                path.display()
            )
        })?;
        let layers = outputs(value)?.into_iter().map(|(name, _)| name).collect();
        Ok(TorchScript {
            module,
            layers,
            input_size,
        })
    }
}

/// Checks that `path` holds a TorchScript module (the zip archive `torch.jit.save` writes)
/// before libtorch reads it: safetensors weights or any other file is an error naming the
/// file and what `--model torchscript` needs, not libtorch's stack trace.
pub fn check_module_file(path: &Path) -> Result<()> {
    use std::io::Read;
    let bad = |reason: String| EncoderError::Weights {
        path: path.to_path_buf(),
        reason,
    };
    let mut start = Vec::new();
    std::fs::File::open(path)
        .and_then(|f| f.take(4).read_to_end(&mut start))
        .map_err(|e| bad(format!("cannot read the TorchScript module: {e}")))?;
    if start.starts_with(b"PK\x03\x04") {
        return Ok(());
    }
    let what = match crate::weights::check_safetensors(path) {
        Ok(()) => "safetensors weights, not a TorchScript module (weights go with --model efficientnet-lite0 or alexnet)",
        Err(_) => "not a TorchScript module (not the zip archive torch.jit.save writes)",
    };
    Err(bad(format!(
        "{what}; --model torchscript takes a module saved by torch.jit.save: torch.jit.trace(model, example).save(FILE)"
    )))
}

impl Encoder for TorchScript {
    fn name(&self) -> &str {
        "torchscript"
    }
    fn layers(&self) -> Vec<String> {
        self.layers.clone()
    }
    fn preprocess(&self) -> Preprocess {
        Preprocess::imagenet(self.input_size)
    }
    fn forward_all(&self, input: &Tensor) -> Result<Vec<Tensor>> {
        let value = self
            .module
            .forward_is(&[IValue::Tensor(input.shallow_clone())])
            .context(|| "running the TorchScript module".into())?;
        Ok(outputs(value)?.into_iter().map(|(_, t)| t).collect())
    }

    /// An output that is a feature map (`n x c x h x w`) is flattened by extraction, so it is
    /// the sum of its positions' parts; other outputs are not split.
    fn layer_parts(&self, input: &Tensor, layer: &str) -> Result<Option<LayerParts>> {
        let position = select_layers(self, &[layer.to_string()])?[0];
        let out = self.forward_all(input)?.swap_remove(position);
        Ok((out.dim() == 4).then(|| LayerParts::of_flattening(&out)))
    }
}
