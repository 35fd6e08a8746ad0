//! # demud-maps
//!
//! Where in an image a DEMUD selection's novelty is, made with the network that made its
//! features:
//!
//! - the **novelty map**: the selection's score split exactly over the positions of the
//!   layer's feature map ([`demud::attribution`]), for layers that are a sum over them
//!   (EfficientNet-Lite0 `block`, `pool`, `logits`; AlexNet `pool5`, `fc6`; TorchScript map
//!   outputs). It sums to the score; a 7 x 7 grid at 224 px, so each cell is 32 px;
//! - **gradient maps**: the score's gradient with respect to the pixels, with the model fixed
//!   at the one that selected the item, times the input (`gradient-input`) or as a magnitude
//!   (`gradient`); any layer;
//! - **overlays** of each on the image ([`overlay`]), one colour scale per run;
//! - the **mislabel audit's maps** ([`audit`]): where a suspect departs from its own class's
//!   model and from the class it resembles;
//! - **faithfulness** ([`faithfulness`]): re-scoring images with a part in-painted or the
//!   top pixels of a map deleted, under the model that selected the item.
//!
//! The maps folder it writes is `demud_datasets::run::MapsFolder`.

#![warn(missing_docs)]

pub mod audit;
pub mod error;
pub mod faithfulness;
pub mod maps;
pub mod network;
pub mod overlay;

pub use error::{MapsError, Result};
pub use maps::{map_run, maps_of, Explained, MapSettings, SelectionMaps};
pub use network::Network;
