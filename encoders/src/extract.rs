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
    /// The requested layers for a batch.
    fn forward(&self, input: &Tensor, layers: &[String]) -> Result<Vec<Tensor>> {
        let wanted = select_layers(self, layers)?;
        let all = self.forward_all(input)?;
        Ok(wanted.into_iter().map(|i| all[i].shallow_clone()).collect())
    }
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
        let side = self.preprocess.crop as i64;
        let mut pixels = Vec::with_capacity(images.len() * 3 * (side * side) as usize);
        for image in images {
            pixels.extend(self.preprocess.normalise(&self.preprocess.apply(image)));
        }
        let input = Tensor::from_slice(&pixels).view([images.len() as i64, 3, side, side]);
        let mut outputs = tch::no_grad(|| self.encoder.forward_all(&input))?;
        let out = outputs.swap_remove(self.position);
        let flat = out.flatten(1, -1).to_kind(tch::Kind::Float).contiguous();
        let d = flat.size()[1] as usize;
        let values = Vec::<f32>::try_from(flat.flatten(0, -1))
            .context(|| format!("reading layer {}", self.layer))?;
        Ok(Array2::from_shape_vec((images.len(), d), values).expect("n x d values"))
    }
}
