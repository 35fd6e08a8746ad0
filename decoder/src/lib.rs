//! # demud-decoder
//!
//! The up-convolutional decoder of Dosovitskiy & Brox (CVPR 2016) on `tch` (libtorch): it
//! learns to draw images from their feature vectors, and then draws DEMUD's explanations of a
//! selection, its expected content dec(x̂) and its novel content dec(e) (WHI 2018).
//!
//! - [`network`]: the architecture ([`DecoderArch`]) and the network ([`UpConvDecoder`]);
//! - [`training`]: seeded training on (image, feature vector) pairs ([`Trainer`]);
//! - [`adam`]: the optimizer, written out so that its state can be checkpointed;
//! - [`checkpoint`]: the checkpoint folder (weights, optimizer state, record);
//! - [`fit`]: training to a number of epochs with checkpoints;
//! - [`render`]: a selection's five views (original, features, expected, novel, difference)
//!   and the contact sheet;
//! - [`explain`]: a whole run drawn, from a run folder and a checkpoint to a render folder.
//!
//! The engine crate (`demud`) does not depend on this one: it builds without libtorch.

#![warn(missing_docs)]

pub mod adam;
pub mod checkpoint;
pub mod error;
pub mod explain;
pub mod fit;
pub mod network;
pub mod render;
pub mod training;

pub use checkpoint::CheckpointRecord;
pub use error::{DecoderError, Result};
pub use network::{DecoderArch, UpConvDecoder};
pub use training::{TrainParams, Trainer, TrainingRecord};
