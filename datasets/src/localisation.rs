//! Does an explanation point at what is new? Maps made from the decoder's renders, scored
//! against the ground-truth masks of planted novelties.
//!
//! Two maps per selection:
//!
//! - the **novel-content map** of the paper's render dec(e): each pixel's squared distance
//!   (over RGB) from the render's own mean colour. dec(e) is an image, not a heat map; where it
//!   departs from its overall colour is where it shows something;
//! - the **difference map** |dec(x) - dec(x̂)|²: what the decoder draws for the item but not for
//!   its expected content.
//!
//! Two scores per map and mask:
//!
//! - **energy share**: the map's mass inside the mask over its total mass. A map that knows
//!   nothing scores the mask's share of the image on average (reported beside it as chance);
//! - **pointing game**: is the map's maximum inside the mask.
//!
//! ```
//! use demud_datasets::localisation::{difference_map, localise};
//! use ndarray::{Array2, Array3};
//! let expected = Array3::<f32>::zeros((3, 8, 8));
//! let mut item = expected.clone();
//! item[[0, 2, 3]] = 1.0; // one red pixel the expected content lacks
//! let map = difference_map(item.view(), expected.view());
//! let mut mask = Array2::from_elem((8, 8), false);
//! mask[[2, 3]] = true;
//! let score = localise(map.view(), mask.view());
//! assert_eq!((score.energy_share, score.hit, score.mask_share), (1.0, true, 1.0 / 64.0));
//! ```

use crate::images::Preprocess;
use image::GrayImage;
use ndarray::{Array2, ArrayView2, ArrayView3, Axis, Zip};

/// How well one map points at one mask.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Localisation {
    /// Share of the map's mass inside the mask (0 for an all-zero map).
    pub energy_share: f64,
    /// Share of the image the mask covers: the energy share of a uniform map.
    pub mask_share: f64,
    /// Whether the map's maximum is inside the mask (the first maximum in row order).
    pub hit: bool,
}

/// Means of several [`Localisation`]s.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct LocalisationSummary {
    /// How many maps were scored.
    pub items: usize,
    /// Mean energy share.
    pub energy_share: f64,
    /// Mean mask share (chance level of the energy share).
    pub mask_share: f64,
    /// Share of maps whose maximum is inside the mask.
    pub pointing: f64,
}

/// Squared distance of each pixel of a render (3 x h x w) from the render's mean colour.
pub fn contrast_map(render: ArrayView3<f32>) -> Array2<f32> {
    let mean = render
        .mean_axis(Axis(2))
        .and_then(|m| m.mean_axis(Axis(1)))
        .expect("a render has pixels");
    let mut map = Array2::<f32>::zeros((render.shape()[1], render.shape()[2]));
    for (channel, &m) in render.outer_iter().zip(&mean) {
        Zip::from(&mut map)
            .and(&channel)
            .for_each(|out, &v| *out += (v - m) * (v - m));
    }
    map
}

/// Squared RGB distance of two renders (3 x h x w), pixel by pixel.
pub fn difference_map(a: ArrayView3<f32>, b: ArrayView3<f32>) -> Array2<f32> {
    assert_eq!(a.shape(), b.shape(), "renders of different sizes");
    let mut map = Array2::<f32>::zeros((a.shape()[1], a.shape()[2]));
    for (ca, cb) in a.outer_iter().zip(b.outer_iter()) {
        Zip::from(&mut map)
            .and(&ca)
            .and(&cb)
            .for_each(|out, &x, &y| *out += (x - y) * (x - y));
    }
    map
}

/// Scores a non-negative map against a mask of the same shape.
pub fn localise(map: ArrayView2<f32>, mask: ArrayView2<bool>) -> Localisation {
    assert_eq!(map.shape(), mask.shape(), "map and mask of different sizes");
    let (mut inside, mut total) = (0f64, 0f64);
    let mut best = (f32::NEG_INFINITY, false);
    Zip::from(&map).and(&mask).for_each(|&v, &m| {
        let v = v.max(0.0);
        total += v as f64;
        if m {
            inside += v as f64;
        }
        if v > best.0 {
            best = (v, m);
        }
    });
    let covered = mask.iter().filter(|&&m| m).count();
    Localisation {
        energy_share: if total > 0.0 { inside / total } else { 0.0 },
        mask_share: covered as f64 / mask.len().max(1) as f64,
        hit: total > 0.0 && best.1,
    }
}

/// Means over several scores (all zero for none).
pub fn summarise(scores: &[Localisation]) -> LocalisationSummary {
    let n = scores.len();
    let mean = |f: &dyn Fn(&Localisation) -> f64| {
        if n == 0 {
            0.0
        } else {
            scores.iter().map(f).sum::<f64>() / n as f64
        }
    };
    LocalisationSummary {
        items: n,
        energy_share: mean(&|s| s.energy_share),
        mask_share: mean(&|s| s.mask_share),
        pointing: mean(&|s| f64::from(u8::from(s.hit))),
    }
}

/// A full-size mask brought to a render's grid: the same resize and centre crop as the image
/// (`geometry`), then set where at least half on.
pub fn mask_on_grid(mask: &GrayImage, geometry: &Preprocess) -> Array2<bool> {
    let grid = geometry.apply(mask);
    let (w, h) = grid.dimensions();
    Array2::from_shape_fn((h as usize, w as usize), |(y, x)| {
        grid.get_pixel(x as u32, y as u32)[0] >= 128
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array3;

    #[test]
    fn a_map_spread_evenly_scores_the_mask_share_and_misses_nothing_it_cannot_see() {
        let map = Array2::<f32>::ones((10, 10));
        let mut mask = Array2::from_elem((10, 10), false);
        mask.slice_mut(ndarray::s![0..5, 0..2]).fill(true);
        let score = localise(map.view(), mask.view());
        assert!((score.energy_share - 0.1).abs() < 1e-12);
        assert_eq!(score.mask_share, 0.1);
        assert!(score.hit, "first maximum (0, 0) is inside");
        let zero = Array2::<f32>::zeros((10, 10));
        let score = localise(zero.view(), mask.view());
        assert_eq!((score.energy_share, score.hit), (0.0, false));
    }

    #[test]
    fn contrast_map_lights_up_what_differs_from_the_render_colour() {
        let mut render = Array3::<f32>::from_elem((3, 6, 6), 0.5);
        render[[1, 4, 1]] = 1.0;
        let map = contrast_map(render.view());
        let max = map.iter().cloned().fold(f32::MIN, f32::max);
        assert_eq!(map[[4, 1]], max);
        assert!(map[[0, 0]] < max / 100.0);
        let summary = summarise(&[
            localise(map.view(), Array2::from_elem((6, 6), true).view()),
            Localisation {
                energy_share: 0.0,
                mask_share: 0.5,
                hit: false,
            },
        ]);
        assert_eq!(summary.items, 2);
        assert!((summary.energy_share - 0.5).abs() < 1e-6);
        assert_eq!(summary.pointing, 0.5);
        assert_eq!(summary.mask_share, 0.75);
    }

    #[test]
    fn masks_follow_the_image_geometry() {
        // A 128 x 96 mask with its left quarter on; the 64 px ImageNet crop keeps the middle.
        let mut mask = GrayImage::new(128, 96);
        for y in 0..96 {
            for x in 0..32 {
                mask.put_pixel(x, y, image::Luma([255]));
            }
        }
        let grid = mask_on_grid(&mask, &Preprocess::imagenet(64));
        assert_eq!(grid.dim(), (64, 64));
        // Resized to 73 px high (97 wide), the crop starts 16 px in; the on part ends at 24.
        let on_columns: Vec<usize> = (0..64).filter(|&x| grid[[30, x]]).collect();
        assert_eq!(on_columns, (0..8).collect::<Vec<_>>());
    }
}
