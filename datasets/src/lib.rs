//! # demud-datasets
//!
//! Every file of the product, each with one typed reader and one writer, and the seeded
//! collections the product generates itself:
//!
//! - [`features`]: feature tables from CSV (id first, optional label column, optional header)
//!   or `.npy` (with an items CSV of ids and labels), label files matched by id, and writers;
//! - [`benchmark`]: the benchmark folder, one record per finished cell, and computing a cell;
//! - [`archive`]: the archive folder of a downlink loop: folded batches, their model, pending
//!   batches;
//! - [`atomic`]: all-or-nothing writes of a file or a whole folder;
//! - [`images`]: image collections (ImageFolder or manifest) and model preprocessing;
//! - [`parts`]: each item's layer split over its feature map's positions (memory-mapped, f16
//!   or f32), for the exact novelty maps;
//! - [`ood_tables`]: the tables of `demud ood` (metrics per measure, scores per item) and
//!   `demud noise-check` (max softmax, landing, detection, centroid distances and tree);
//! - [`extraction`]: how a features file was made from images (kind, weights, preprocessing),
//!   checked wherever features from two extractions meet;
//! - [`run`]: the run folder (selections, explanations, renders, localisation): one typed
//!   record, reader and writer per file;
//! - [`planted`]: seeded image collections with planted novelties and their masks;
//! - [`synthetic`]: a seeded, imbalanced collection with a few rare classes (the data of
//!   `demud demo`).

#![warn(missing_docs)]

// The workspace builds ndarray with BLAS: link Debian's OpenBLAS here too.
extern crate blas_src;
extern crate openblas_src;

pub mod archive;
pub mod atomic;
pub mod benchmark;
pub mod error;
pub mod extraction;
pub mod features;
pub mod hierarchy;
pub mod images;
pub mod label_tables;
pub mod noise;
pub mod ood_tables;
pub mod parts;
pub mod planted;
pub mod run;
pub mod synthetic;

pub use error::{BoxError, DataError, Result};
pub use features::{CsvLayout, Detect, FeatureMatrix, FeatureTable};
