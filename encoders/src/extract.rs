//! The one extraction loop over an image collection, and the trait every feature extractor
//! implements (CNN layers, pixels, bag of words).
//!
//! Images are read one batch at a time; an image that cannot be read is skipped and listed, or
//! stops the run ([`OnUnreadable`]); the result says which items were kept, in collection
//! order, so row i of the features is `kept[i]`.

use crate::error::{EncoderError, Result, TorchContext};
use demud_datasets::images::{ImageCollection, ImageItem, Preprocess};
use demud_datasets::DataError;
use image::RgbImage;
use ndarray::Array2;
use tch::Tensor;

/// Anything that turns images into feature rows of a fixed length.
pub trait FeatureExtractor {
    /// What the features are, for messages ("efficientnet-lite0 layer pool").
    fn describe(&self) -> String;
    /// Images handed to [`FeatureExtractor::extract_batch`] at a time.
    fn batch_size(&self) -> usize {
        1
    }
    /// One row per image, every row of the same length.
    fn extract_batch(&mut self, images: &[RgbImage]) -> Result<Array2<f32>>;
    /// A last step over the rows of every kept image (the bag of words fits its vocabulary
    /// on all descriptors here); by default the rows are the features.
    fn finish(&mut self, rows: Array2<f32>) -> Result<Array2<f32>> {
        Ok(rows)
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
    /// The images that were read, in collection order; row i of `features` is `kept[i]`.
    pub kept: Vec<ImageItem>,
    /// Images that could not be read, with the reason.
    pub skipped: Vec<(ImageItem, DataError)>,
    /// `kept.len() x d`.
    pub features: Array2<f32>,
}

/// Runs `extractor` over every image of `collection`. `progress` is called with the number of
/// images handled so far.
pub fn extract(
    extractor: &mut dyn FeatureExtractor,
    collection: &ImageCollection,
    on_unreadable: OnUnreadable,
    mut progress: impl FnMut(usize),
) -> Result<Extraction> {
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    let mut values = Vec::new();
    let mut d = 0;
    let mut done = 0;
    for chunk in collection.items.chunks(extractor.batch_size().max(1)) {
        let mut images = Vec::with_capacity(chunk.len());
        for item in chunk {
            match collection.load(item) {
                Ok(image) => {
                    images.push(image);
                    kept.push(item.clone());
                }
                Err(e) => match on_unreadable {
                    OnUnreadable::Skip => skipped.push((item.clone(), e)),
                    OnUnreadable::Fail => return Err(e.into()),
                },
            }
        }
        if !images.is_empty() {
            let rows = extractor.extract_batch(&images)?;
            d = rows.ncols();
            values.extend(rows.iter());
        }
        done += chunk.len();
        progress(done);
    }
    if kept.is_empty() {
        return Err(EncoderError::NothingReadable {
            total: collection.items.len(),
            first: skipped.into_iter().next().map(|(_, e)| e),
        });
    }
    let rows = Array2::from_shape_vec((kept.len(), d), values).expect("rows of d values");
    Ok(Extraction {
        kept,
        skipped,
        features: extractor.finish(rows)?,
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

/// One layer of a CNN as a [`FeatureExtractor`] (spatial maps flattened).
pub struct LayerExtractor {
    encoder: Box<dyn Encoder>,
    layer: String,
    position: usize,
    preprocess: Preprocess,
    batch_size: usize,
}

impl LayerExtractor {
    /// `layer` of `encoder`, `batch_size` images per forward pass.
    pub fn new(encoder: Box<dyn Encoder>, layer: &str, batch_size: usize) -> Result<Self> {
        let position = select_layers(encoder.as_ref(), &[layer.to_string()])?[0];
        Ok(LayerExtractor {
            preprocess: encoder.preprocess(),
            encoder,
            layer: layer.to_string(),
            position,
            batch_size: batch_size.max(1),
        })
    }
}

impl FeatureExtractor for LayerExtractor {
    fn describe(&self) -> String {
        format!("{} layer {}", self.encoder.name(), self.layer)
    }
    fn batch_size(&self) -> usize {
        self.batch_size
    }
    fn extract_batch(&mut self, images: &[RgbImage]) -> Result<Array2<f32>> {
        let prepared: Vec<RgbImage> = images.iter().map(|i| self.preprocess.apply(i)).collect();
        let input = normalised_batch(&self.preprocess, &prepared);
        let mut outputs = tch::no_grad(|| self.encoder.forward_all(&input))?;
        let out = outputs.swap_remove(self.position);
        let flat = out.flatten(1, -1).to_kind(tch::Kind::Float).contiguous();
        let d = flat.size()[1] as usize;
        let values = Vec::<f32>::try_from(flat.flatten(0, -1))
            .context(|| format!("reading layer {}", self.layer))?;
        Ok(Array2::from_shape_vec((images.len(), d), values).expect("n x d values"))
    }
}
