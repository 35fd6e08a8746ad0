//! The network that made a run's features, run again on single images: the layer's value, its
//! split over the feature map's positions, and the pixel gradient of a direction in it.

use crate::error::{MapsError, Result, TorchContext};
use demud_datasets::extraction::ExtractionRecord;
use demud_datasets::images::{ImageCollection, ImageItem, Preprocess};
use demud_encoders::extract::normalised_batch;
use demud_encoders::{input_gradient, Encoder, ExtractorSpec};
use image::RgbImage;
use ndarray::{Array1, Array2, Array3, ArrayView1};
use tch::{Kind, Tensor};

/// A layer's value split over the positions of a feature map: `m x d` parts, and the grid
/// `(rows, columns)` of the `m` positions.
pub type Parts = (Array2<f64>, (usize, usize));

/// A network and the layer a run ranked.
pub struct Network {
    encoder: Box<dyn Encoder>,
    layer: String,
    preprocess: Preprocess,
    record: Option<ExtractionRecord>,
}

impl Network {
    /// `layer` of `encoder` (checked), seeing images through `preprocess`.
    pub fn new(encoder: Box<dyn Encoder>, layer: &str, preprocess: Preprocess) -> Result<Self> {
        demud_encoders::extract::select_layers(encoder.as_ref(), &[layer.to_string()])?;
        Ok(Network {
            preprocess,
            encoder,
            layer: layer.to_string(),
            record: None,
        })
    }

    /// The network, layer and preprocessing of an extractor spec (one layer); the pixel and
    /// bag-of-words baselines have no network to explain with.
    pub fn from_spec(spec: &ExtractorSpec) -> Result<Self> {
        if spec.model.default_layer().is_none() {
            return Err(MapsError::Setting {
                name: "model",
                reason: format!(
                    "explanation maps need the network that made the features; {} is not one",
                    spec.model.name()
                ),
            });
        }
        if spec.layers().len() != 1 {
            return Err(MapsError::Setting {
                name: "layer",
                reason: format!(
                    "explanation maps explain one layer, not {}",
                    spec.layers().join(", ")
                ),
            });
        }
        match spec.load_network()? {
            Some(network) => {
                let record = spec.record(&network.layers[0], network.preprocess)?;
                let mut built =
                    Network::new(network.encoder, &network.layers[0], network.preprocess)?;
                built.record = Some(record);
                Ok(built)
            }
            None => unreachable!("a model with layers is a network"),
        }
    }

    /// What features this network makes (kind, weights, preprocessing), when it was built
    /// from a spec: checked against a run's record before its items are explained.
    pub fn record(&self) -> Option<&ExtractionRecord> {
        self.record.as_ref()
    }

    /// How the network sees images.
    pub fn preprocess(&self) -> &Preprocess {
        &self.preprocess
    }

    /// An item's image decoded as the network's features were made (transparent pixels on
    /// the preprocessing's background).
    pub fn load(&self, collection: &ImageCollection, item: &ImageItem) -> Result<RgbImage> {
        Ok(collection.load_over(item, self.preprocess.background)?)
    }

    /// The network's name.
    pub fn name(&self) -> &str {
        self.encoder.name()
    }
    /// The layer.
    pub fn layer(&self) -> &str {
        &self.layer
    }
    /// Side of the network's input, in pixels.
    pub fn side(&self) -> usize {
        self.preprocess.side as usize
    }

    /// An image resized and cropped as the network sees it (`side x side`).
    pub fn prepare(&self, image: &RgbImage) -> RgbImage {
        self.preprocess.apply(image)
    }

    /// An image resized and cropped as the network sees it, at `scale` times its input side
    /// (the same window of the image, in finer pixels).
    pub fn prepare_scaled(&self, image: &RgbImage, scale: u32) -> RgbImage {
        self.preprocess.scaled(scale).apply(image)
    }

    /// Prepared images (all of one size) as the network's normalised input,
    /// `n x 3 x h x w`.
    pub fn input(&self, prepared: &[RgbImage]) -> Tensor {
        normalised_batch(&self.preprocess, prepared)
    }

    /// The layer's values for prepared images, one row each.
    pub fn features(&self, prepared: &[RgbImage]) -> Result<Array2<f64>> {
        let input = self.input(prepared);
        let out = tch::no_grad(|| {
            self.encoder
                .forward(&input, std::slice::from_ref(&self.layer))
        })?
        .swap_remove(0)
        .flatten(1, -1);
        to_array2(&out)
    }

    /// The layer's value for one prepared image as a sum of parts over its feature map's
    /// positions (`m x d`, and the grid), when the layer is one. The image may be larger than
    /// the network's input side for networks that take any size (EfficientNet): the grid is
    /// then finer.
    pub fn parts(&self, prepared: &RgbImage) -> Result<Option<Parts>> {
        let input = self.input(std::slice::from_ref(prepared));
        let Some(parts) = tch::no_grad(|| self.encoder.layer_parts(&input, &self.layer))? else {
            return Ok(None);
        };
        let values = parts.values.squeeze_dim(0);
        Ok(Some((to_array2(&values)?, parts.grid)))
    }

    /// The gradient of `<layer(image), direction>` with respect to the normalised input
    /// pixels, and those pixels: both `3 x side x side`.
    pub fn pixel_gradient(
        &self,
        prepared: &RgbImage,
        direction: ArrayView1<f64>,
    ) -> Result<(Array3<f32>, Array3<f32>)> {
        let input = self.input(std::slice::from_ref(prepared));
        let direction = Tensor::from_slice(&direction.mapv(|v| v as f32).to_vec())
            .view([1, direction.len() as i64]);
        let gradient = input_gradient(self.encoder.as_ref(), &input, &self.layer, &direction)?;
        Ok((to_array3(&gradient)?, to_array3(&input)?))
    }
}

fn to_array2(t: &Tensor) -> Result<Array2<f64>> {
    let size = t.size();
    let values = Vec::<f64>::try_from(t.to_kind(Kind::Double).flatten(0, -1))
        .context(|| "reading a layer's values".into())?;
    Ok(Array2::from_shape_vec((size[0] as usize, size[1] as usize), values).expect("n x d"))
}

fn to_array3(t: &Tensor) -> Result<Array3<f32>> {
    let t = t.squeeze_dim(0);
    let size = t.size();
    let values = Vec::<f32>::try_from(t.to_kind(Kind::Float).flatten(0, -1))
        .context(|| "reading pixels".into())?;
    Ok(Array3::from_shape_vec(
        (size[0] as usize, size[1] as usize, size[2] as usize),
        values,
    )
    .expect("3 x h x w"))
}

/// The largest difference between two feature vectors relative to the first's largest value.
pub(crate) fn relative_difference(a: ArrayView1<f64>, b: ArrayView1<f64>) -> f64 {
    let scale = a.iter().fold(1e-12_f64, |m, v| m.max(v.abs()));
    let diff: Array1<f64> = &a - &b;
    diff.iter().fold(0.0_f64, |m, v| m.max(v.abs())) / scale
}
