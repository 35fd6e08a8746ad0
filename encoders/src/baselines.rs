//! The papers' baseline features: raw pixels, and a bag of visual words over dense HOG
//! descriptors (imageproc's HOG; the vocabulary by seeded k-means).
//!
//! ```
//! use demud_encoders::baselines::{pixel_features, BagOfWords};
//! let a = image::RgbImage::from_fn(50, 40, |x, _| image::Rgb([(x * 5) as u8, 0, 0]));
//! let b = image::RgbImage::from_fn(60, 60, |_, y| image::Rgb([0, (y * 4) as u8, 0]));
//! assert_eq!(pixel_features(&a, 8).len(), 8 * 8 * 3);
//! let bow = BagOfWords::fit(&[a.clone(), b.clone()], 3, 0).unwrap();
//! let h = bow.histogram(&a);
//! assert_eq!(h.len(), 3);
//! assert!((h.iter().sum::<f32>() - 1.0).abs() < 1e-5);
//! ```

use crate::error::{EncoderError, Result};
use crate::extract::FeatureExtractor;
use demud_datasets::images::{Crop, Preprocess};
use image::{imageops::FilterType, GrayImage, RgbImage};
use imageproc::hog::{hog, HogOptions};
use ndarray::{Array2, ArrayView1, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// Pixel features: the image resized (shorter side) and centre-cropped to `side x side`, RGB
/// values in [0, 1], flattened row by row.
pub fn pixel_features(image: &RgbImage, side: u32) -> Vec<f32> {
    flattened(&PixelExtractor::new(side).preprocess.apply(image))
}

/// An image's RGB values in [0, 1], row by row.
fn flattened(image: &RgbImage) -> Vec<f32> {
    image
        .as_raw()
        .iter()
        .map(|&v| f32::from(v) / 255.0)
        .collect()
}

/// The pixel baseline as a [`FeatureExtractor`]: each image prepared by `preprocess`
/// (by default [`pixel_features`]' resize and centre crop), then flattened.
#[derive(Clone, Copy, Debug)]
pub struct PixelExtractor {
    /// The image's geometry; its `side` is the side of the flattened image.
    pub preprocess: Preprocess,
}

impl PixelExtractor {
    /// Pixels of `side x side`: the shorter side resized to `side`, the centre kept, values
    /// in [0, 1], transparent pixels on white.
    pub fn new(side: u32) -> Self {
        PixelExtractor {
            preprocess: Preprocess::imagenet(side)
                .with_crop(Crop::Center { resize: side })
                .unnormalised(),
        }
    }
}

impl FeatureExtractor for PixelExtractor {
    fn describe(&self) -> String {
        format!("pixels {0} x {0}", self.preprocess.side)
    }
    fn outputs(&self) -> Vec<String> {
        vec!["pixels".into()]
    }
    fn preprocess(&self) -> Preprocess {
        self.preprocess
    }
    fn batch_size(&self) -> usize {
        64
    }
    fn output_widths(&mut self) -> Result<Option<Vec<usize>>> {
        let side = self.preprocess.side as usize;
        Ok(Some(vec![side * side * 3]))
    }
    fn extract_batch(&mut self, prepared: &[RgbImage]) -> Result<Vec<Array2<f32>>> {
        let side = self.preprocess.side;
        let d = (side * side * 3) as usize;
        let values: Vec<f32> = prepared.iter().flat_map(flattened).collect();
        Ok(vec![
            Array2::from_shape_vec((prepared.len(), d), values).expect("n x d values")
        ])
    }
}

/// The bag-of-visual-words baseline as a [`FeatureExtractor`]: each image's [`dense_hog`]
/// descriptors are kept while the images are read; [`FeatureExtractor::finish`] fits the
/// vocabulary of `words` words on all of them (seeded k-means) and turns each image into its
/// histogram.
#[derive(Clone, Copy, Debug)]
pub struct BagOfWordsExtractor {
    /// Words in the vocabulary (the paper tried 3 to 20).
    pub words: usize,
    /// Seed of the k-means.
    pub seed: u64,
    /// The image's geometry before the descriptors (by default the whole image squeezed to
    /// 96 x 96, [`BagOfWordsExtractor::new`]).
    pub preprocess: Preprocess,
}

impl BagOfWordsExtractor {
    /// A vocabulary of `words` words fitted with `seed`, on the whole image resized to the
    /// descriptors' 96 x 96.
    pub fn new(words: usize, seed: u64) -> Self {
        BagOfWordsExtractor {
            words,
            seed,
            preprocess: Preprocess::imagenet(DESCRIPTOR_IMAGE_SIDE)
                .with_crop(Crop::Stretch)
                .unnormalised(),
        }
    }
}

impl FeatureExtractor for BagOfWordsExtractor {
    fn describe(&self) -> String {
        format!("bag of {} visual words", self.words)
    }
    fn outputs(&self) -> Vec<String> {
        vec!["bow".into()]
    }
    fn preprocess(&self) -> Preprocess {
        self.preprocess
    }
    fn batch_size(&self) -> usize {
        64
    }
    fn output_widths(&mut self) -> Result<Option<Vec<usize>>> {
        Ok(Some(vec![self.words]))
    }
    fn extract_batch(&mut self, prepared: &[RgbImage]) -> Result<Vec<Array2<f32>>> {
        let blocks: Vec<Array2<f32>> = prepared.iter().map(dense_hog).collect();
        let d = blocks[0].len();
        let values: Vec<f32> = blocks.iter().flat_map(|b| b.iter().copied()).collect();
        Ok(vec![
            Array2::from_shape_vec((prepared.len(), d), values).expect("n x d values")
        ])
    }
    fn finish(&mut self, outputs: Vec<Array2<f32>>) -> Result<Vec<Array2<f32>>> {
        let rows = outputs.into_iter().next().expect("one output");
        let width = DESCRIPTOR_LENGTH;
        let blocks: Vec<Array2<f32>> = rows
            .rows()
            .into_iter()
            .map(|row| {
                let row = row.to_owned();
                let count = row.len() / width;
                row.into_shape_with_order((count, width))
                    .expect("whole descriptors")
            })
            .collect();
        let descriptors = blocks.iter().map(Array2::nrows).sum();
        let words = BagOfWords::fit_descriptors(&blocks, self.words, self.seed).ok_or(
            EncoderError::Vocabulary {
                words: self.words,
                descriptors,
            },
        )?;
        let histograms: Vec<f32> = blocks.iter().flat_map(|b| words.histogram_of(b)).collect();
        Ok(vec![Array2::from_shape_vec(
            (blocks.len(), self.words),
            histograms,
        )
        .expect("n x words values")])
    }
}

/// Side the image is resized to before dense descriptors are taken.
const DESCRIPTOR_IMAGE_SIDE: u32 = 96;
/// Values of one HOG descriptor (9 orientations x 2 x 2 cells).
const DESCRIPTOR_LENGTH: usize = 36;
/// Patch side and stride of the dense grid.
const PATCH: u32 = 16;
const STRIDE: u32 = 8;

/// Dense HOG descriptors (9 orientations, 2 x 2 cells of 8 px) on a 16 px grid with 8 px
/// stride over the grey image resized to 96 x 96: 121 descriptors of 36 values.
pub fn dense_hog(image: &RgbImage) -> Array2<f32> {
    let grey: GrayImage = image::imageops::grayscale(image);
    let grey = image::imageops::resize(
        &grey,
        DESCRIPTOR_IMAGE_SIDE,
        DESCRIPTOR_IMAGE_SIDE,
        FilterType::Triangle,
    );
    let options = HogOptions::new(9, false, 8, 2, 1);
    let mut rows = Vec::new();
    let mut count = 0;
    for y in (0..=DESCRIPTOR_IMAGE_SIDE - PATCH).step_by(STRIDE as usize) {
        for x in (0..=DESCRIPTOR_IMAGE_SIDE - PATCH).step_by(STRIDE as usize) {
            let patch = image::imageops::crop_imm(&grey, x, y, PATCH, PATCH).to_image();
            rows.extend(hog(&patch, options).expect("16 px patches fit 2 x 2 cells of 8 px"));
            count += 1;
        }
    }
    Array2::from_shape_vec((count, DESCRIPTOR_LENGTH), rows).expect("descriptors of 36 values")
}

/// A visual vocabulary (k-means centres of dense HOG descriptors) and its histograms.
#[derive(Clone, Debug, PartialEq)]
pub struct BagOfWords {
    /// `k x 36` cluster centres.
    pub centres: Array2<f32>,
}

fn nearest(centres: &Array2<f32>, row: ArrayView1<f32>) -> usize {
    centres
        .rows()
        .into_iter()
        .map(|c| {
            c.iter()
                .zip(row)
                .map(|(a, b)| (a - b) * (a - b))
                .sum::<f32>()
        })
        .enumerate()
        .min_by(|a, b| a.1.total_cmp(&b.1))
        .map(|(i, _)| i)
        .expect("k >= 1")
}

impl BagOfWords {
    /// Learns a vocabulary of `k` words from the descriptors of `images` by k-means
    /// (k-means++ seeding with `seed`, 30 Lloyd iterations). `None` when there are fewer
    /// descriptors than words.
    pub fn fit(images: &[RgbImage], k: usize, seed: u64) -> Option<Self> {
        let blocks: Vec<Array2<f32>> = images.iter().map(dense_hog).collect();
        Self::fit_descriptors(&blocks, k, seed)
    }

    /// [`BagOfWords::fit`] from the images' [`dense_hog`] descriptors.
    pub fn fit_descriptors(blocks: &[Array2<f32>], k: usize, seed: u64) -> Option<Self> {
        let views: Vec<_> = blocks.iter().map(|b| b.view()).collect();
        let data = ndarray::concatenate(Axis(0), &views).ok()?;
        if k == 0 || data.nrows() < k {
            return None;
        }
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        // k-means++: each next centre drawn with probability proportional to squared distance.
        let mut centres = Array2::<f32>::zeros((k, data.ncols()));
        centres
            .row_mut(0)
            .assign(&data.row(rng.random_range(0..data.nrows())));
        let mut dist: Vec<f32> = vec![f32::INFINITY; data.nrows()];
        for c in 1..k {
            for (i, row) in data.rows().into_iter().enumerate() {
                let d: f32 = row
                    .iter()
                    .zip(centres.row(c - 1))
                    .map(|(a, b)| (a - b) * (a - b))
                    .sum();
                dist[i] = dist[i].min(d);
            }
            let total: f32 = dist.iter().sum();
            let mut target = rng.random::<f32>() * total;
            let pick = dist.iter().position(|&d| {
                target -= d;
                target <= 0.0
            });
            centres
                .row_mut(c)
                .assign(&data.row(pick.unwrap_or(data.nrows() - 1)));
        }
        for _ in 0..30 {
            let mut sums = Array2::<f32>::zeros(centres.dim());
            let mut counts = vec![0usize; k];
            for row in data.rows() {
                let c = nearest(&centres, row);
                sums.row_mut(c).scaled_add(1.0, &row);
                counts[c] += 1;
            }
            for (c, &count) in counts.iter().enumerate() {
                if count > 0 {
                    centres.row_mut(c).assign(&(&sums.row(c) / count as f32));
                }
            }
        }
        Some(BagOfWords { centres })
    }

    /// Number of words.
    pub fn len(&self) -> usize {
        self.centres.nrows()
    }

    /// True for an empty vocabulary.
    pub fn is_empty(&self) -> bool {
        self.centres.nrows() == 0
    }

    /// The share of the image's descriptors that fall on each word (sums to 1).
    pub fn histogram(&self, image: &RgbImage) -> Vec<f32> {
        self.histogram_of(&dense_hog(image))
    }

    /// The histogram of an image's [`dense_hog`] descriptors.
    pub fn histogram_of(&self, descriptors: &Array2<f32>) -> Vec<f32> {
        let mut h = vec![0f32; self.len()];
        for row in descriptors.rows() {
            h[nearest(&self.centres, row)] += 1.0;
        }
        let n = descriptors.nrows() as f32;
        h.iter_mut().for_each(|v| *v /= n);
        h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_separate_textures() {
        let stripes = |vertical: bool| {
            RgbImage::from_fn(64, 64, move |x, y| {
                let v = if (if vertical { x } else { y } / 4) % 2 == 0 {
                    255
                } else {
                    0
                };
                image::Rgb([v, v, v])
            })
        };
        let bow = BagOfWords::fit(&[stripes(true), stripes(false)], 2, 3).unwrap();
        let (a, b) = (
            bow.histogram(&stripes(true)),
            bow.histogram(&stripes(false)),
        );
        // Each texture is dominated by a different word.
        let top = |h: &[f32]| {
            h.iter()
                .enumerate()
                .max_by(|x, y| x.1.total_cmp(y.1))
                .unwrap()
                .0
        };
        assert_ne!(top(&a), top(&b));
        assert!(a[top(&a)] > 0.6 && b[top(&b)] > 0.6, "{a:?} {b:?}");
        assert!(BagOfWords::fit(&[stripes(true)], 1000, 0).is_none());
    }

    #[test]
    fn pixels_are_the_centre_crop_in_unit_range() {
        let img = RgbImage::from_fn(20, 10, |x, _| {
            image::Rgb([if x < 10 { 0 } else { 255 }, 0, 0])
        });
        let p = pixel_features(&img, 10);
        assert_eq!(p.len(), 300);
        assert!(p.iter().all(|v| (0.0..=1.0).contains(v)));
        // Left half of the crop dark, right half bright (red channel of row 0).
        assert!(p[0] < 0.1 && p[3 * 9] > 0.9);
    }
}
