//! # demud-neural
//!
//! The neural side of demud, on `tch` (libtorch): CNN encoders that turn images into the
//! feature vectors the engine reads, and the decoder that turns vectors back into images.
//!
//! - [`efficientnet`]: EfficientNet-Lite0 with its ImageNet weights (the default model);
//! - [`alexnet`]: AlexNet in torchvision's layout (pool5, fc6 / fc7 before their ReLU, fc8);
//! - [`torchscript`]: any traced TorchScript module;
//! - [`extract`]: batched extraction over an image collection;
//! - [`upconv`]: the up-convolutional decoder that draws feature vectors (and DEMUD's
//!   expected and novel content) as images, and its training;
//! - [`imagenet`]: ImageNet class names for the logits layers;
//! - [`weights`]: loading safetensors weights.
//!
//! The engine crate (`demud`) does not depend on this one: it builds without libtorch.

pub mod alexnet;
pub mod efficientnet;
pub mod error;
pub mod extract;
pub mod imagenet;
pub mod torchscript;
pub mod upconv;
pub mod weights;

pub use error::{NeuralError, Result};
pub use extract::{extract, Encoder, Extraction};
