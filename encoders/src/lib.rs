//! # demud-encoders
//!
//! Everything that turns images into the feature vectors the engine reads, behind one
//! [`FeatureExtractor`] trait and one extraction loop ([`extract()`]), so that reading images,
//! skipping or refusing unreadable ones and keeping rows in order exist once:
//!
//! - [`efficientnet`]: EfficientNet-Lite0 with its ImageNet weights (the default model);
//! - [`alexnet`]: AlexNet in torchvision's layout (pool5, fc6 / fc7 before their ReLU, fc8);
//! - [`torchscript`]: any traced TorchScript module;
//! - [`baselines`]: the papers' pixel and bag-of-visual-words features (no libtorch);
//! - [`extract`](mod@extract): the loop, the [`Encoder`] trait of CNNs and [`LayerExtractor`],
//!   which makes one CNN layer a feature extractor;
//! - [`kinds`]: which extractor to build ([`ExtractorSpec`]), from flags or a short name;
//! - [`imagenet`]: ImageNet class names for the logits layers;
//! - [`weights`]: loading safetensors weights.
//!
//! The engine crate (`demud`) does not depend on this one: it builds without libtorch.

#![warn(missing_docs)]

pub mod alexnet;
pub mod baselines;
pub mod efficientnet;
pub mod error;
pub mod extract;
pub mod imagenet;
pub mod kinds;
pub mod pipeline;
pub mod torchscript;
pub mod weights;

pub use error::{EncoderError, Result};
pub use extract::{
    extract, input_gradient, Encoder, ExtractOptions, Extraction, FeatureExtractor, LayerExtractor,
    LayerParts, OnUnreadable,
};
pub use kinds::{ExtractorSpec, LoadedNetwork, Model, Preprocessing};
