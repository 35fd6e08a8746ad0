//! Does a map explain the selection? Re-scoring changed images under the model that selected
//! the item (a replayed run, [`demud_datasets::run::Replay`]):
//!
//! - **the novelty's share of the score**: the item's score with a planted part removed
//!   (in-painted from its surroundings, [`inpaint`]), against its score as it is. A map that
//!   points at a part causing little of the score is not explaining the selection;
//! - **deletion curves**: the score as the top p% of pixels by a map's value are deleted,
//!   in-painted from the pixels kept (a flat fill would itself be novel), p = 1..50%, against the
//!   same for pixels in a random order. For a planted novelty whose original is known the
//!   removed pixels can instead be put back as they were ([`Removal::Restore`]): the score then
//!   falls only as the novelty goes, so the curve measures whether the map ranks the pixels
//!   that cause the score first. The area between 1 and the curve (the mean drop of
//!   the score, as a share of it) is larger for a map that ranks the pixels the score depends
//!   on first.

use crate::error::Result;
use crate::network::Network;
use demud_datasets::run::Replay;
use image::RgbImage;
use ndarray::{Array2, ArrayView2};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// Fills the masked pixels from their surroundings: each starts at the mean colour of the
/// unmasked pixels next to the mask, then takes the mean of its four neighbours, repeatedly
/// (a harmonic fill: smooth, with the colours of the border).
pub fn inpaint(image: &RgbImage, mask: ArrayView2<bool>) -> RgbImage {
    harmonic_fill(image, mask, None)
}

/// Sweeps of the harmonic fill.
const FILL_SWEEPS: usize = 100;

/// The harmonic fill of the masked pixels, starting from `start` (the border's mean colour
/// when `None`).
fn harmonic_fill(image: &RgbImage, mask: ArrayView2<bool>, start: Option<&RgbImage>) -> RgbImage {
    let (w, h) = image.dimensions();
    let (wu, hu) = (w as usize, h as usize);
    assert_eq!(mask.dim(), (hu, wu), "mask and image sizes");
    let mut values = Array2::<[f32; 3]>::from_shape_fn((hu, wu), |(y, x)| {
        image.get_pixel(x as u32, y as u32).0.map(f32::from)
    });
    let neighbours = |y: usize, x: usize| {
        [(0i64, 1i64), (0, -1), (1, 0), (-1, 0)]
            .into_iter()
            .filter_map(move |(dy, dx)| {
                let (ny, nx) = (y as i64 + dy, x as i64 + dx);
                (ny >= 0 && nx >= 0 && ny < hu as i64 && nx < wu as i64)
                    .then_some((ny as usize, nx as usize))
            })
    };
    let masked: Vec<(usize, usize)> = mask
        .indexed_iter()
        .filter(|(_, &m)| m)
        .map(|(p, _)| p)
        .collect();
    if masked.is_empty() || masked.len() == mask.len() {
        return start.unwrap_or(image).clone();
    }
    match start {
        Some(start) => {
            for &(y, x) in &masked {
                values[[y, x]] = start.get_pixel(x as u32, y as u32).0.map(f32::from);
            }
        }
        None => {
            // The border's mean colour.
            let (mut sum, mut count) = ([0f32; 3], 0f32);
            for ((y, x), &m) in mask.indexed_iter() {
                if !m && neighbours(y, x).any(|(ny, nx)| mask[[ny, nx]]) {
                    let v = values[[y, x]];
                    (0..3).for_each(|c| sum[c] += v[c]);
                    count += 1.0;
                }
            }
            let mean = sum.map(|s| s / count.max(1.0));
            for &(y, x) in &masked {
                values[[y, x]] = mean;
            }
        }
    }
    for _ in 0..FILL_SWEEPS {
        for &(y, x) in &masked {
            let (mut s, mut n) = ([0f32; 3], 0f32);
            for (ny, nx) in neighbours(y, x) {
                let v = values[[ny, nx]];
                (0..3).for_each(|c| s[c] += v[c]);
                n += 1.0;
            }
            values[[y, x]] = s.map(|v| v / n);
        }
    }
    RgbImage::from_fn(w, h, |x, y| {
        image::Rgb(values[[y as usize, x as usize]].map(|v| v.round().clamp(0.0, 255.0) as u8))
    })
}

/// Standard deviation of the blur that deleted pixels take their colour from, as a share of
/// the image side (8 px at 224).
const BLUR_SHARE: f32 = 1.0 / 28.0;

/// The image blurred, what deleted pixels are replaced with.
pub fn blurred(image: &RgbImage) -> RgbImage {
    let sigma = (image.width().min(image.height()) as f32 * BLUR_SHARE).max(1.0);
    imageproc::filter::gaussian_blur_f32(image, sigma)
}

/// Pixel indices (row-major) by decreasing map value; ties by index.
pub fn order_by(map: ArrayView2<f32>) -> Vec<usize> {
    let flat: Vec<f32> = map.iter().copied().collect();
    let mut order: Vec<usize> = (0..flat.len()).collect();
    order.sort_by(|&a, &b| flat[b].total_cmp(&flat[a]).then(a.cmp(&b)));
    order
}

/// A seeded random order of `len` pixels.
pub fn random_order(len: usize, seed: u64) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    order.shuffle(&mut ChaCha8Rng::seed_from_u64(seed));
    order
}

/// The fractions of pixels a deletion curve removes: `steps` points spread evenly from 1% to
/// 50% (50 steps: 1%, 2%, ..., 50%; 0: none).
pub fn deletion_fractions(steps: u32) -> Vec<f64> {
    match steps {
        0 => Vec::new(),
        1 => vec![0.5],
        n => (0..n)
            .map(|i| 0.01 + 0.49 * f64::from(i) / f64::from(n - 1))
            .collect(),
    }
}

/// `image` with its first `count` pixels of `order` deleted: filled from the pixels kept
/// (a harmonic fill started from the blurred image `blur`), so that a deleted region takes the
/// colours around it rather than a colour of its own.
pub fn delete(image: &RgbImage, blur: &RgbImage, order: &[usize], count: usize) -> RgbImage {
    let (w, h) = image.dimensions();
    let mut mask = Array2::from_elem((h as usize, w as usize), false);
    for &p in &order[..count.min(order.len())] {
        mask[[p / w as usize, p % w as usize]] = true;
    }
    harmonic_fill(image, mask.view(), Some(blur))
}

/// Scores of prepared images (as the network sees them) under the model that scored
/// selection `rank` of a replayed run.
pub fn rescore(
    network: &Network,
    replay: &Replay,
    rank: usize,
    prepared: &[RgbImage],
) -> Result<Vec<f64>> {
    let mut scores = Vec::with_capacity(prepared.len());
    for chunk in prepared.chunks(16) {
        let features = network.features(chunk)?;
        for row in features.rows() {
            scores.push(replay.score(rank, row).ok_or_else(|| {
                crate::error::MapsError::Mismatch(format!(
                    "selection {rank} was made without a model (an index or random first pick): nothing to re-score it with"
                ))
            })?);
        }
    }
    Ok(scores)
}

/// How deleted pixels are filled.
#[derive(Clone, Copy, Debug)]
pub enum Removal<'a> {
    /// In-painted from the pixels kept ([`delete`]): for any image.
    InPaint,
    /// Put back as they were before a novelty was planted (this image, prepared as the network
    /// sees it): the score then falls only as the novelty goes.
    Restore(&'a RgbImage),
}

/// `image` with its first `count` pixels of `order` taken from `original`.
pub fn restore(image: &RgbImage, original: &RgbImage, order: &[usize], count: usize) -> RgbImage {
    let mut out = image.clone();
    let w = image.width() as usize;
    for &p in &order[..count.min(order.len())] {
        let (x, y) = ((p % w) as u32, (p / w) as u32);
        out.put_pixel(x, y, *original.get_pixel(x, y));
    }
    out
}

/// The deletion curve of one selection: its score, relative to the unchanged image's, as
/// the first `fraction` of the pixels in `order` are removed.
pub fn deletion_curve(
    network: &Network,
    replay: &Replay,
    rank: usize,
    prepared: &RgbImage,
    order: &[usize],
    fractions: &[f64],
    removal: Removal,
) -> Result<Vec<f64>> {
    let blur = blurred(prepared);
    let mut images = vec![prepared.clone()];
    for &f in fractions {
        let count = (f * order.len() as f64).round() as usize;
        images.push(match removal {
            Removal::InPaint => delete(prepared, &blur, order, count),
            Removal::Restore(original) => restore(prepared, original, order, count),
        });
    }
    let scores = rescore(network, replay, rank, &images)?;
    let base = scores[0];
    Ok(scores[1..]
        .iter()
        .map(|s| if base > 0.0 { s / base } else { 1.0 })
        .collect())
}

/// The mean drop of a deletion curve: `mean(1 - ratio)`. Larger is better.
pub fn deletion_auc(curve: &[f64]) -> f64 {
    if curve.is_empty() {
        return 0.0;
    }
    curve.iter().map(|r| 1.0 - r).sum::<f64>() / curve.len() as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;

    #[test]
    fn inpainting_takes_the_colour_of_the_surroundings() {
        let mut image = RgbImage::from_pixel(12, 12, Rgb([200, 180, 20]));
        let mut mask = Array2::from_elem((12, 12), false);
        for y in 4..8 {
            for x in 4..8 {
                image.put_pixel(x, y, Rgb([10, 10, 10]));
                mask[[y as usize, x as usize]] = true;
            }
        }
        let filled = inpaint(&image, mask.view());
        assert_eq!(filled.get_pixel(5, 6).0, [200, 180, 20]);
        assert_eq!(filled.get_pixel(0, 0), image.get_pixel(0, 0));
    }

    #[test]
    fn orders_and_deletion() {
        let map = ndarray::array![[0.1f32, 3.0], [2.0, 0.1]];
        assert_eq!(order_by(map.view()), vec![1, 2, 0, 3]);
        let random = random_order(100, 1);
        let mut sorted = random.clone();
        sorted.sort();
        assert_eq!(sorted, (0..100).collect::<Vec<_>>());
        assert_ne!(random, sorted);
        assert_eq!(random, random_order(100, 1));
        // Deleted pixels take the colour around them: a white pixel among black ones turns
        // black, whatever the blurred start.
        let mut image = RgbImage::from_pixel(5, 5, Rgb([0, 0, 0]));
        image.put_pixel(2, 1, Rgb([255, 255, 255]));
        let grey = RgbImage::from_pixel(5, 5, Rgb([128, 128, 128]));
        let out = delete(&image, &grey, &[7, 0], 1);
        assert_eq!(out.get_pixel(2, 1).0, [0; 3]);
        assert_eq!(out.get_pixel(0, 0).0, [0; 3]);
        assert_eq!(deletion_auc(&[1.0, 0.5, 0.0]), 0.5);
        let f = deletion_fractions(50);
        assert_eq!(f.len(), 50);
        assert!((f[0] - 0.01).abs() < 1e-12 && (f[49] - 0.5).abs() < 1e-12);
        assert!((f[1] - 0.02).abs() < 1e-12);
        assert!(deletion_fractions(0).is_empty());
    }
}
