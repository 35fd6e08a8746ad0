//! The one extraction loop over an image collection, and the trait every feature extractor
//! implements (CNN layers, pixels, bag of words).
//!
//! Images are read one batch at a time; an image that cannot be read is skipped and listed, or
//! stops the run ([`OnUnreadable`]); the result says which items were kept, in collection
//! order, so row i of the features is `kept[i]`.

use crate::error::{EncoderError, Result, TorchContext};
use crate::pipeline::prepare_in_batches;
use demud_datasets::extraction::{write_extraction_record, ExtractionRecord};
use demud_datasets::features::write_npy_features;
use demud_datasets::images::{ImageCollection, ImageItem, ImageLimits, Preprocess};
use demud_datasets::DataError;
use image::RgbImage;
use ndarray::Array2;
use std::path::Path;
use tch::Tensor;

/// Anything that turns images into feature rows of a fixed length, one matrix per output (a
/// network's layers, taken in one forward pass; a baseline has one).
pub trait FeatureExtractor {
    /// What the features are, for messages ("efficientnet-lite0 layers pool, logits").
    fn describe(&self) -> String;
    /// The names of its outputs, in the order of [`FeatureExtractor::extract_batch`]'s
    /// matrices.
    fn outputs(&self) -> Vec<String>;
    /// How every image is decoded and brought to the extractor's input size before
    /// [`FeatureExtractor::extract_batch`] sees it; the extraction loop applies it, on worker
    /// threads.
    fn preprocess(&self) -> Preprocess;
    /// Images handed to [`FeatureExtractor::extract_batch`] at a time.
    fn batch_size(&self) -> usize {
        1
    }
    /// One matrix per output, one row per image (`prepared` by
    /// [`FeatureExtractor::preprocess`]), every row of an output of the same length.
    fn extract_batch(&mut self, prepared: &[RgbImage]) -> Result<Vec<Array2<f32>>>;
    /// A last step over the rows of every kept image (the bag of words fits its vocabulary
    /// on all descriptors here); by default the rows are the features.
    fn finish(&mut self, outputs: Vec<Array2<f32>>) -> Result<Vec<Array2<f32>>> {
        Ok(outputs)
    }
    /// The number of values of each output per image, known before any image is read (a
    /// network runs once on a blank image), so that options that depend on them are checked
    /// before the work; `None` when the extractor cannot tell.
    fn output_widths(&mut self) -> Result<Option<Vec<usize>>> {
        Ok(None)
    }
}

/// What to do with an image that cannot be read or decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum OnUnreadable {
    /// Leave it out and list it in [`Extraction::skipped`].
    #[default]
    Skip,
    /// Stop with its error.
    Fail,
}

/// The features of the images that could be read.
#[derive(Debug)]
pub struct Extraction {
    /// The images that were read, in collection order; row i of each features matrix is
    /// `kept[i]`.
    pub kept: Vec<ImageItem>,
    /// Images that could not be read, with the reason.
    pub skipped: Vec<(ImageItem, DataError)>,
    /// One `kept.len() x d` matrix per output of the extractor
    /// ([`FeatureExtractor::outputs`]).
    pub features: Vec<Array2<f32>>,
}

impl Extraction {
    /// The kept items' ids, in row order.
    pub fn ids(&self) -> Vec<String> {
        self.kept.iter().map(|i| i.id.clone()).collect()
    }

    /// The kept items' labels (empty where unknown), or `None` when no item has one.
    pub fn labels(&self) -> Option<Vec<String>> {
        self.kept.iter().any(|i| i.label.is_some()).then(|| {
            self.kept
                .iter()
                .map(|i| i.label.clone().unwrap_or_default())
                .collect()
        })
    }

    /// Writes output `output` as `.npy` features at `path`, then its items file and last its
    /// extraction record (each atomically; the later ones carry the features' fingerprint, so
    /// an interrupted write over an earlier extraction is an error when read, never a mix).
    pub fn write(&self, output: usize, path: &Path, record: &ExtractionRecord) -> Result<()> {
        let ids = self.ids();
        write_npy_features(path, &ids, self.labels().as_deref(), &self.features[output])?;
        write_extraction_record(path, record)?;
        Ok(())
    }
}

/// How [`extract`] reads a collection.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ExtractOptions {
    /// What to do with an image that cannot be read.
    pub on_unreadable: OnUnreadable,
    /// Threads that decode, resize and crop the next images while the extractor works on the
    /// current batch (0: all on the calling thread, between batches).
    pub decode_workers: usize,
    /// The largest image decoded; a larger one is unreadable (skipped or failed as
    /// `on_unreadable` says).
    pub image_limits: ImageLimits,
}

impl Default for ExtractOptions {
    /// Unreadable images skipped; [`default_decode_workers`] threads; the default
    /// [`ImageLimits`].
    fn default() -> Self {
        ExtractOptions {
            on_unreadable: OnUnreadable::Skip,
            decode_workers: default_decode_workers(),
            image_limits: ImageLimits::default(),
        }
    }
}

/// One decoding thread beside the network's: the forward pass keeps every core busy, and one
/// worker hides the decoding and resizing behind it (`benches/extraction.rs` measures the
/// choices); none on a single core.
pub fn default_decode_workers() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
    usize::from(cores > 1)
}

/// Runs `extractor` over every image of `collection`: each image is decoded onto the
/// preprocessing's background and resized and cropped by it
/// ([`FeatureExtractor::preprocess`]) on `options.decode_workers` threads
/// ([`prepare_in_batches`]) while the extractor works on the batch before. `progress` is
/// called with the number of images handled so far.
pub fn extract(
    extractor: &mut dyn FeatureExtractor,
    collection: &ImageCollection,
    options: ExtractOptions,
    mut progress: impl FnMut(usize),
) -> Result<Extraction> {
    let preprocess = extractor.preprocess();
    let outputs = extractor.outputs().len();
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    let mut values: Vec<Vec<f32>> = vec![Vec::new(); outputs];
    let mut widths = vec![0; outputs];
    let mut done = 0;
    let prepare = |item: &ImageItem| {
        collection
            .load_within(item, preprocess.background, options.image_limits)
            .map(|image| preprocess.apply(&image))
    };
    let items = &collection.items;
    prepare_in_batches(
        items,
        extractor.batch_size().max(1),
        options.decode_workers,
        prepare,
        |batch| {
            let mut images = Vec::with_capacity(batch.len());
            done += batch.len();
            for prepared in batch {
                let item = &items[prepared.index];
                match prepared.image {
                    Ok(image) => {
                        images.push(image);
                        kept.push(item.clone());
                    }
                    Err(e) => match options.on_unreadable {
                        OnUnreadable::Skip => skipped.push((item.clone(), e)),
                        OnUnreadable::Fail => return Err(e.into()),
                    },
                }
            }
            if !images.is_empty() {
                let batch = extractor.extract_batch(&images)?;
                for ((rows, values), width) in batch.iter().zip(&mut values).zip(&mut widths) {
                    *width = rows.ncols();
                    values.extend(rows.iter());
                }
            }
            progress(done);
            Ok(())
        },
    )?;
    if kept.is_empty() {
        return Err(EncoderError::NothingReadable {
            total: collection.items.len(),
            first: skipped.into_iter().next().map(|(_, e)| e),
        });
    }
    let n = kept.len();
    let matrices = values
        .into_iter()
        .zip(widths)
        .map(|(values, d)| Array2::from_shape_vec((n, d), values).expect("rows of d values"))
        .collect();
    Ok(Extraction {
        kept,
        skipped,
        features: extractor.finish(matrices)?,
    })
}

/// A network that maps a batch of images (n x 3 x h x w, normalised) to its feature layers.
pub trait Encoder {
    /// The model's name.
    fn name(&self) -> &str;
    /// Names of the layers it returns, in forward order.
    fn layers(&self) -> Vec<String>;
    /// The preprocessing it expects (default: torchvision's ImageNet evaluation transform at
    /// 224 px).
    fn preprocess(&self) -> Preprocess {
        Preprocess::imagenet(224)
    }
    /// Every layer for a batch, in the order of [`Encoder::layers`].
    fn forward_all(&self, input: &Tensor) -> Result<Vec<Tensor>>;
    /// A layer for a batch as a sum of parts over the positions of a feature map (see
    /// [`LayerParts`]), for layers that are one: a spatial average or flattening of a map,
    /// possibly followed by an affine map. `None` for a layer after a nonlinearity of the whole
    /// map (AlexNet's `fc7`), which only a gradient can explain.
    fn layer_parts(&self, input: &Tensor, layer: &str) -> Result<Option<LayerParts>> {
        let _ = (input, layer);
        Ok(None)
    }
    /// The requested layers for a batch.
    fn forward(&self, input: &Tensor, layers: &[String]) -> Result<Vec<Tensor>> {
        let wanted = select_layers(self, layers)?;
        let all = self.forward_all(input)?;
        Ok(wanted.into_iter().map(|i| all[i].shallow_clone()).collect())
    }
    /// Every layer ([`Encoder::forward_all`]) and the parts of `layer`
    /// ([`Encoder::layer_parts`]), from one forward pass where the network can (by default,
    /// two).
    fn forward_with_parts(
        &self,
        input: &Tensor,
        layer: &str,
    ) -> Result<(Vec<Tensor>, Option<LayerParts>)> {
        Ok((self.forward_all(input)?, self.layer_parts(input, layer)?))
    }
}

/// A layer's value for a batch of `n` images as a sum over the `m = rows x columns` positions
/// of a feature map: item i's layer value is `Σ_p values[i, p, :]`. What `demud::attribution`
/// splits a selection's score over.
#[derive(Debug)]
pub struct LayerParts {
    /// `n x m x d` (f32), positions in row-major order.
    pub values: Tensor,
    /// The map's grid, `(rows, columns)`.
    pub grid: (usize, usize),
}

impl LayerParts {
    fn grid_of(map: &Tensor) -> (i64, i64, i64, i64) {
        let size = map.size();
        assert_eq!(size.len(), 4, "a feature map is n x c x h x w");
        (size[0], size[1], size[2], size[3])
    }

    /// The parts of a spatial average of `map` (`n x c x h x w`): position p holds `f_p / hw`.
    pub fn of_average(map: &Tensor) -> Self {
        let (n, c, h, w) = Self::grid_of(map);
        let values = map
            .to_kind(tch::Kind::Float)
            .contiguous()
            .view([n, c, h * w])
            .transpose(1, 2)
            .contiguous()
            / (h * w) as f64;
        LayerParts {
            values,
            grid: (h as usize, w as usize),
        }
    }

    /// The parts of `map` (`n x c x h x w`) flattened channel-major to `c h w` values:
    /// position p holds its `c` values in their slots of the flat vector and zeros elsewhere.
    pub fn of_flattening(map: &Tensor) -> Self {
        let (n, c, h, w) = Self::grid_of(map);
        let m = h * w;
        let eye = Tensor::eye(m, (tch::Kind::Float, map.device())).view([1, m, 1, m]);
        let values = (map.to_kind(tch::Kind::Float).view([n, 1, c, m]) * eye).view([n, m, c * m]);
        LayerParts {
            values,
            grid: (h as usize, w as usize),
        }
    }

    /// The parts of `W x + b` (`weight` is `out x d`): each part through `W`, and `b` shared
    /// equally among the positions.
    pub fn through_linear(self, weight: &Tensor, bias: Option<&Tensor>) -> Self {
        let m = self.values.size()[1];
        let mut values = self.values.matmul(&weight.tr());
        if let Some(b) = bias {
            values += b / m as f64;
        }
        LayerParts { values, ..self }
    }
}

/// The gradient of `<layer(input), direction>` with respect to the (normalised) input pixels:
/// `input` is `n x 3 x h x w`, `direction` `n x d` for a layer of `d` values. With the
/// direction the gradient of a score with respect to the layer, this is the score's gradient
/// with respect to the pixels (a vector-Jacobian product through the network's autograd).
pub fn input_gradient(
    encoder: &dyn Encoder,
    input: &Tensor,
    layer: &str,
    direction: &Tensor,
) -> Result<Tensor> {
    let position = select_layers(encoder, &[layer.to_string()])?[0];
    let pixels = input.detach().set_requires_grad(true);
    let out = encoder
        .forward_all(&pixels)?
        .swap_remove(position)
        .flatten(1, -1)
        .to_kind(tch::Kind::Float);
    if out.size() != direction.size() {
        return Err(EncoderError::Spec {
            reason: format!(
                "a gradient direction of shape {:?} for layer {layer} of shape {:?}",
                direction.size(),
                out.size()
            ),
        });
    }
    let dot = (out * direction).sum(tch::Kind::Float);
    dot.f_backward()
        .context(|| format!("the gradient of layer {layer} with respect to the pixels"))?;
    Ok(pixels.grad())
}

/// Prepared images (resized and cropped, all of one size) as a network's normalised input,
/// `n x 3 x h x w`.
pub fn normalised_batch(preprocess: &Preprocess, prepared: &[RgbImage]) -> Tensor {
    let (w, h) = prepared.first().map_or((0, 0), |i| i.dimensions());
    let mut pixels = Vec::with_capacity(prepared.len() * 3 * (w * h) as usize);
    for image in prepared {
        pixels.extend(preprocess.normalise(image));
    }
    Tensor::from_slice(&pixels).view([prepared.len() as i64, 3, i64::from(h), i64::from(w)])
}

/// Positions of `requested` among the encoder's layers, or an error naming the unknown one.
pub fn select_layers(
    encoder: &(impl Encoder + ?Sized),
    requested: &[String],
) -> Result<Vec<usize>> {
    let layers = encoder.layers();
    requested
        .iter()
        .map(|name| {
            layers
                .iter()
                .position(|l| l == name)
                .ok_or_else(|| EncoderError::UnknownLayer {
                    model: encoder.name().to_string(),
                    layer: name.clone(),
                    available: layers.join(", "),
                })
        })
        .collect()
}

/// Layers of a CNN as a [`FeatureExtractor`], all from one forward pass per batch (spatial
/// maps flattened).
pub struct LayerExtractor {
    encoder: Box<dyn Encoder>,
    layers: Vec<String>,
    positions: Vec<usize>,
    preprocess: Preprocess,
    batch_size: usize,
    parts_of: Option<String>,
}

impl LayerExtractor {
    /// `layers` of `encoder` (at least one, each once), images prepared by `preprocess`,
    /// `batch_size` images per forward pass.
    pub fn new(
        encoder: Box<dyn Encoder>,
        layers: &[String],
        preprocess: Preprocess,
        batch_size: usize,
    ) -> Result<Self> {
        if layers.is_empty() {
            return Err(EncoderError::Spec {
                reason: "no layer to extract".into(),
            });
        }
        if let Some(twice) = layers
            .iter()
            .enumerate()
            .find(|(i, l)| layers[..*i].contains(l))
        {
            return Err(EncoderError::Spec {
                reason: format!("layer {} is asked for twice", twice.1),
            });
        }
        let positions = select_layers(encoder.as_ref(), layers)?;
        Ok(LayerExtractor {
            preprocess,
            encoder,
            layers: layers.to_vec(),
            positions,
            batch_size: batch_size.max(1),
            parts_of: None,
        })
    }

    /// Also the parts of `layer` (one of the layers), from the same pass: one more output,
    /// `<layer>.parts`, each row an item's `m x d` parts flattened position by position
    /// ([`LayerParts`]). A layer that is not a sum over a feature map's positions is refused
    /// at the first batch.
    pub fn with_parts(mut self, layer: &str) -> Result<Self> {
        if !self.layers.iter().any(|l| l == layer) {
            return Err(EncoderError::Spec {
                reason: format!(
                    "parts of layer {layer}, which is not among the layers extracted ({})",
                    self.layers.join(", ")
                ),
            });
        }
        self.parts_of = Some(layer.to_string());
        Ok(self)
    }
}

impl FeatureExtractor for LayerExtractor {
    fn describe(&self) -> String {
        let plural = if self.layers.len() == 1 { "" } else { "s" };
        format!(
            "{} layer{plural} {}",
            self.encoder.name(),
            self.layers.join(", ")
        )
    }
    fn outputs(&self) -> Vec<String> {
        let mut outputs = self.layers.clone();
        outputs.extend(self.parts_of.iter().map(|l| format!("{l}.parts")));
        outputs
    }
    fn preprocess(&self) -> Preprocess {
        self.preprocess
    }
    fn batch_size(&self) -> usize {
        self.batch_size
    }
    /// One forward pass over a blank image of the input's size.
    fn output_widths(&mut self) -> Result<Option<Vec<usize>>> {
        let side = self.preprocess.side;
        let blank = RgbImage::new(side, side);
        let rows = self.extract_batch(std::slice::from_ref(&blank))?;
        Ok(Some(rows.iter().map(|r| r.ncols()).collect()))
    }
    fn extract_batch(&mut self, prepared: &[RgbImage]) -> Result<Vec<Array2<f32>>> {
        let input = normalised_batch(&self.preprocess, prepared);
        let (outputs, parts) = tch::no_grad(|| match &self.parts_of {
            Some(layer) => self.encoder.forward_with_parts(&input, layer),
            None => Ok((self.encoder.forward_all(&input)?, None)),
        })?;
        let rows = |tensor: &Tensor, what: &str| -> Result<Array2<f32>> {
            let flat = tensor.flatten(1, -1).to_kind(tch::Kind::Float).contiguous();
            let d = flat.size()[1] as usize;
            let values =
                Vec::<f32>::try_from(flat.flatten(0, -1)).context(|| format!("reading {what}"))?;
            Ok(Array2::from_shape_vec((prepared.len(), d), values).expect("n x d values"))
        };
        let mut matrices = self
            .positions
            .iter()
            .zip(&self.layers)
            .map(|(&position, layer)| rows(&outputs[position], &format!("layer {layer}")))
            .collect::<Result<Vec<_>>>()?;
        if let Some(layer) = &self.parts_of {
            let Some(parts) = parts else {
                return Err(EncoderError::Spec {
                    reason: format!(
                        "layer {layer} of {} is not a sum over a feature map's positions: it has no parts to save",
                        self.encoder.name()
                    ),
                });
            };
            matrices.push(rows(&parts.values, &format!("the parts of layer {layer}"))?);
        }
        Ok(matrices)
    }
}
