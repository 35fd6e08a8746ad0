//! The up-convolutional decoder of Dosovitskiy & Brox (CVPR 2016, "Inverting visual
//! representations with convolutional networks"), in their design for fully connected
//! layers: a few linear layers on the feature vector, a reshape to a small spatial map, then a
//! stack of up-convolutions (transposed convolutions, stride 2) with leaky ReLU up to an RGB
//! image. WHI 2018 fed DEMUD's reconstruction x̂ and residual e through such decoders to draw
//! "expected" and "novel" content ([`crate::render`]); here the decoder is trained on the
//! user's own collection ([`crate::training`]) because the papers' Caffe decoders cannot be
//! had.
//!
//! Each up-convolution (4 x 4 kernel, stride 2, doubling the side) is followed by a 3 x 3
//! convolution, as in D&B's larger decoders; channels halve at each stage. Sides that are not
//! 4 · 2^m (227 px, say) are reached by a final bilinear resize of the next larger power.
//!
//! The network reads the feature vector times a fixed `input_scale` (1 / RMS of the training
//! features, stored in the architecture): a scale only, no centring, so that, as in the paper,
//! the residual e (centred near zero) is drawn by the same network as the features themselves.

use crate::error::{DecoderError, Result, TorchContext};
use demud_datasets::images::Preprocess;
use ndarray::{Array4, ArrayView2};
use serde::{Deserialize, Serialize};
use std::path::Path;
use tch::nn::{self, Module};
use tch::{Device, Kind, Tensor};

/// Widths of the default decoder's hidden fully connected layers (D&B's full size is three of
/// 4096).
pub const DEFAULT_HIDDEN: [usize; 2] = [1024, 1024];

/// The decoder's architecture (saved beside its weights).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DecoderArch {
    /// Length of the feature vectors it reads.
    pub input_dim: usize,
    /// Multiplies the features before the first layer (1 / RMS of the training features).
    pub input_scale: f32,
    /// Widths of the hidden fully connected layers.
    pub hidden: Vec<usize>,
    /// Channels of the first spatial map.
    pub start_channels: usize,
    /// Side of the first spatial map.
    pub start_side: usize,
    /// Fewest channels an up-convolution stage keeps.
    pub min_channels: usize,
    /// Negative slope of the leaky ReLUs (D&B: 0.3).
    pub leak: f64,
    /// Side of the output image in pixels.
    pub image_size: usize,
    /// How the features' images were prepared (their extraction record): the decoder draws
    /// the same view, at `image_size`. Absent: ImageNet's centre crop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub view: Option<Preprocess>,
}

impl DecoderArch {
    /// The default decoder for `input_dim` features and `image_size` px output: two hidden
    /// layers of 1024, a 256 x 4 x 4 start, channels halving to at least 16 (a CPU-sized
    /// version of D&B's fc decoder, which uses three layers of 4096).
    pub fn new(input_dim: usize, image_size: usize) -> Self {
        DecoderArch {
            input_dim,
            input_scale: 1.0,
            hidden: DEFAULT_HIDDEN.to_vec(),
            start_channels: 256,
            start_side: 4,
            min_channels: 16,
            leak: 0.3,
            image_size,
            view: None,
        }
    }

    /// Refuses architectures that cannot be built.
    pub fn validate(&self) -> Result<()> {
        let problem = if self.input_dim == 0 {
            Some("input_dim must be positive".to_string())
        } else if self.image_size < self.start_side.max(1) * 2 {
            Some(format!(
                "image_size {} must be at least twice start_side {}",
                self.image_size, self.start_side
            ))
        } else if !(self.input_scale.is_finite() && self.input_scale > 0.0) {
            Some(format!("input_scale {} must be positive", self.input_scale))
        } else if self.start_channels == 0 || self.min_channels == 0 {
            Some("channel counts must be positive".to_string())
        } else if self.hidden.contains(&0) {
            Some(format!(
                "hidden layer widths {:?} must be positive",
                self.hidden
            ))
        } else {
            None
        };
        match problem {
            Some(reason) => Err(DecoderError::Architecture { reason }),
            None => Ok(()),
        }
    }

    /// Number of up-convolution stages: doublings from `start_side` to at least `image_size`.
    pub fn stages(&self) -> usize {
        let mut side = self.start_side.max(1);
        let mut stages = 0;
        while side < self.image_size {
            side *= 2;
            stages += 1;
        }
        stages
    }

    /// The view of the images the decoder is trained to draw: the features' own (crop mode,
    /// background) at `image_size`, or ImageNet's shorter-side resize and centre crop (224 of
    /// 256) when unknown; values left in [0, 1].
    pub fn target_preprocess(&self) -> Preprocess {
        self.view_at(self.image_size as u32)
    }

    /// The features' view of an image at `side` pixels, values in [0, 1] (the originals a
    /// render shows beside the decoded images).
    pub fn view_at(&self, side: u32) -> Preprocess {
        self.view
            .map_or(Preprocess::imagenet(side), |v| v.at_side(side))
            .unnormalised()
    }
}

/// The decoder network and its weights.
#[derive(Debug)]
pub struct UpConvDecoder {
    vs: nn::VarStore,
    arch: DecoderArch,
    linears: Vec<nn::Linear>,
    upconvs: Vec<nn::ConvTranspose2D>,
    convs: Vec<nn::Conv2D>,
    to_rgb: nn::Conv2D,
}

impl UpConvDecoder {
    /// A decoder with fresh weights drawn from libtorch's generator seeded with `seed`.
    pub fn new(arch: DecoderArch, seed: u64) -> Result<Self> {
        arch.validate()?;
        // libtorch's generator is global: hold a lock from seeding to the last draw, so that
        // decoders built on other threads at the same time cannot take numbers from this one.
        static SEEDED_INIT: std::sync::Mutex<()> = std::sync::Mutex::new(());
        let _guard = SEEDED_INIT.lock().unwrap_or_else(|e| e.into_inner());
        tch::manual_seed(seed as i64);
        let vs = nn::VarStore::new(Device::Cpu);
        let root = vs.root();
        let mut linears = Vec::new();
        let mut width = arch.input_dim as i64;
        for (i, &h) in arch.hidden.iter().enumerate() {
            linears.push(nn::linear(
                &root / format!("fc{i}"),
                width,
                h as i64,
                Default::default(),
            ));
            width = h as i64;
        }
        let start = (arch.start_channels * arch.start_side * arch.start_side) as i64;
        linears.push(nn::linear(
            &root / "fc_map",
            width,
            start,
            Default::default(),
        ));
        let (mut upconvs, mut convs) = (Vec::new(), Vec::new());
        let mut channels = arch.start_channels as i64;
        for s in 0..arch.stages() {
            let out = (channels / 2).max(arch.min_channels as i64);
            let up = nn::ConvTransposeConfig {
                stride: 2,
                padding: 1,
                ..Default::default()
            };
            upconvs.push(nn::conv_transpose2d(
                &root / format!("upconv{s}"),
                channels,
                out,
                4,
                up,
            ));
            let same = nn::ConvConfig {
                padding: 1,
                ..Default::default()
            };
            convs.push(nn::conv2d(&root / format!("conv{s}"), out, out, 3, same));
            channels = out;
        }
        let same = nn::ConvConfig {
            padding: 1,
            ..Default::default()
        };
        let to_rgb = nn::conv2d(&root / "to_rgb", channels, 3, 3, same);
        Ok(UpConvDecoder {
            vs,
            arch,
            linears,
            upconvs,
            convs,
            to_rgb,
        })
    }

    /// Loads a checkpoint folder written by [`crate::training::Trainer::save`]: the
    /// architecture and training record from [`crate::checkpoint::ARCH_FILE`], the weights
    /// from [`crate::checkpoint::WEIGHTS_FILE`].
    pub fn load(dir: &Path) -> Result<(Self, crate::checkpoint::CheckpointRecord)> {
        crate::checkpoint::load_decoder(dir)
    }

    /// The architecture.
    pub fn arch(&self) -> &DecoderArch {
        &self.arch
    }

    /// The variables, by name (for saving and the optimizer).
    pub(crate) fn var_store(&self) -> &nn::VarStore {
        &self.vs
    }

    /// The variables, to load saved weights into.
    pub(crate) fn var_store_mut(&mut self) -> &mut nn::VarStore {
        &mut self.vs
    }

    /// Number of trainable numbers.
    pub fn parameter_count(&self) -> i64 {
        self.vs
            .trainable_variables()
            .iter()
            .map(Tensor::numel)
            .map(|n| n as i64)
            .sum()
    }

    fn leaky(&self, xs: Tensor) -> Tensor {
        // max(x, a x) is leaky ReLU for 0 < a < 1.
        xs.maximum(&(&xs * self.arch.leak))
    }

    /// Images (n x 3 x s x s, roughly in [0, 1]) for features (n x input_dim), with gradients
    /// when the caller records them.
    pub fn forward(&self, features: &Tensor) -> Tensor {
        let mut xs = features * f64::from(self.arch.input_scale);
        let last = self.linears.len() - 1;
        for (i, linear) in self.linears.iter().enumerate() {
            xs = linear.forward(&xs);
            if i < last {
                xs = self.leaky(xs);
            }
        }
        let side = self.arch.start_side as i64;
        let mut xs = self.leaky(xs.view([-1, self.arch.start_channels as i64, side, side]));
        for (up, conv) in self.upconvs.iter().zip(&self.convs) {
            xs = self.leaky(up.forward(&xs));
            xs = self.leaky(conv.forward(&xs));
        }
        let xs = self.to_rgb.forward(&xs);
        let size = self.arch.image_size as i64;
        if xs.size()[2] == size {
            xs
        } else {
            xs.upsample_bilinear2d([size, size], false, None, None)
        }
    }

    /// Decodes feature vectors (rows) to images, without gradients, `batch` rows at a time;
    /// values are clamped to [0, 1].
    pub fn decode(&self, features: ArrayView2<f32>, batch: usize) -> Result<Array4<f32>> {
        let (n, d) = features.dim();
        if d != self.arch.input_dim {
            return Err(DecoderError::FeatureWidth {
                expected: self.arch.input_dim,
                found: d,
            });
        }
        let s = self.arch.image_size;
        let mut out = Vec::with_capacity(n * 3 * s * s);
        for start in (0..n).step_by(batch.max(1)) {
            let rows = features.slice(ndarray::s![start..(start + batch.max(1)).min(n), ..]);
            let flat: Vec<f32> = rows.iter().copied().collect();
            let input = Tensor::from_slice(&flat).view([rows.nrows() as i64, d as i64]);
            let images = tch::no_grad(|| self.forward(&input)).clamp(0.0, 1.0);
            out.extend(
                Vec::<f32>::try_from(images.to_kind(Kind::Float).contiguous().flatten(0, -1))
                    .context(|| "reading decoded images".to_string())?,
            );
        }
        Ok(Array4::from_shape_vec((n, 3, s, s), out).expect("n x 3 x s x s values"))
    }
}
