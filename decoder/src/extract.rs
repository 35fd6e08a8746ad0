//! Batched feature extraction over an image collection.
//!
//! Images are decoded, resized and centre-cropped as the model expects, normalised, and run
//! through the encoder in batches without gradients. Images that cannot be decoded are skipped
//! and listed (or refused, in strict mode); the result says which items were kept.

use crate::error::{NeuralError, Result, TorchContext};
use demud_datasets::images::{ImageCollection, ImageItem, Preprocess};
use ndarray::Array2;
use tch::Tensor;

/// A network that maps a batch of images (n x 3 x h x w, normalised) to named feature layers.
pub trait Encoder {
    /// The model's name.
    fn name(&self) -> &str;
    /// Names of the layers it can return, in forward order.
    fn layers(&self) -> Vec<String>;
    /// The preprocessing it expects (default: torchvision's ImageNet evaluation transform at
    /// 224 px).
    fn preprocess(&self) -> Preprocess {
        Preprocess::imagenet(224)
    }
    /// The requested layers for a batch, each as n x d (spatial maps flattened).
    fn forward(&self, input: &Tensor, layers: &[String]) -> Result<Vec<Tensor>>;
}

/// Positions of `requested` among the encoder's layers, or an error naming the unknown one.
pub(crate) fn select_layers(
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
                .ok_or_else(|| NeuralError::UnknownLayer {
                    model: encoder.name().to_string(),
                    layer: name.clone(),
                    available: layers.join(", "),
                })
        })
        .collect()
}

/// The features of the kept images, one matrix per requested layer.
#[derive(Debug)]
pub struct Extraction {
    /// The images that were read, in collection order; row i of every layer is `kept[i]`.
    pub kept: Vec<ImageItem>,
    /// Images that could not be read, with the reason.
    pub skipped: Vec<(ImageItem, String)>,
    /// One `kept.len() x d` matrix per requested layer.
    pub features: Vec<Array2<f32>>,
}

/// Runs `encoder` over every image of `collection`, `batch_size` at a time. `progress` is
/// called with the number of images handled so far. With `strict`, an unreadable image is an
/// error; otherwise it is skipped and listed in [`Extraction::skipped`].
pub fn extract(
    encoder: &dyn Encoder,
    collection: &ImageCollection,
    layers: &[String],
    batch_size: usize,
    strict: bool,
    mut progress: impl FnMut(usize),
) -> Result<Extraction> {
    select_layers(encoder, layers)?;
    let preprocess = encoder.preprocess();
    let side = preprocess.crop as i64;
    let mut kept = Vec::new();
    let mut skipped = Vec::new();
    let mut rows: Vec<Vec<f32>> = vec![Vec::new(); layers.len()];
    let mut dims = vec![0usize; layers.len()];
    let mut done = 0;
    for chunk in collection.items.chunks(batch_size.max(1)) {
        let mut pixels = Vec::with_capacity(chunk.len() * 3 * (side * side) as usize);
        let mut in_batch = 0;
        for item in chunk {
            match collection.load(item) {
                Ok(image) => {
                    pixels.extend(preprocess.normalise(&preprocess.apply(&image)));
                    kept.push(item.clone());
                    in_batch += 1;
                }
                Err(e) if !strict => skipped.push((item.clone(), e.to_string())),
                Err(e) => return Err(e.into()),
            }
        }
        if in_batch > 0 {
            let input = Tensor::from_slice(&pixels).view([in_batch as i64, 3, side, side]);
            let outputs = tch::no_grad(|| encoder.forward(&input, layers))?;
            for (l, out) in outputs.into_iter().enumerate() {
                let flat = out.flatten(1, -1).to_kind(tch::Kind::Float).contiguous();
                dims[l] = flat.size()[1] as usize;
                let values = Vec::<f32>::try_from(flat.flatten(0, -1))
                    .context(|| format!("reading layer {}", layers[l]))?;
                rows[l].extend(values);
            }
        }
        done += chunk.len();
        progress(done);
    }
    if kept.is_empty() {
        return Err(NeuralError::Other(format!(
            "none of the {} images could be read (first problem: {})",
            collection.items.len(),
            skipped
                .first()
                .map_or("-".into(), |(i, e)| format!("{}: {e}", i.id))
        )));
    }
    let features = rows
        .into_iter()
        .zip(dims)
        .map(|(values, d)| {
            Array2::from_shape_vec((kept.len(), d), values).expect("rows of d values")
        })
        .collect();
    Ok(Extraction {
        kept,
        skipped,
        features,
    })
}
