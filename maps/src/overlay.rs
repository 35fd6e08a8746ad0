//! Maps drawn over their images: a perceptual colour map (inferno, from `colorous`) blended
//! in proportion to the map's value, one scale per run so that overlays compare.

use image::{Rgb, RgbImage};
use ndarray::ArrayView2;

/// The colour of `t` in [0, 1] on the colour map.
pub fn colour(t: f64) -> [u8; 3] {
    let c = colorous::INFERNO.eval_continuous(t.clamp(0.0, 1.0));
    [c.r, c.g, c.b]
}

/// Strongest blend of the colour over the image, at the top of the scale.
const MAX_ALPHA: f32 = 0.7;

/// `image` with `map` (same size) drawn over it: a pixel's colour is `colour(v / scale)`,
/// blended in by `0.7 v / scale`, so where the map is 0 or negative the image shows as it is.
pub fn overlay(image: &RgbImage, map: ArrayView2<f32>, scale: f32) -> RgbImage {
    let (w, h) = image.dimensions();
    assert_eq!(map.dim(), (h as usize, w as usize), "map and image sizes");
    RgbImage::from_fn(w, h, |x, y| {
        let v = map[[y as usize, x as usize]];
        let t = if scale > 0.0 && v > 0.0 {
            (v / scale).min(1.0)
        } else {
            0.0
        };
        let heat = colour(f64::from(t));
        let alpha = MAX_ALPHA * t;
        let base = image.get_pixel(x, y).0;
        Rgb(std::array::from_fn(|c| {
            (f32::from(base[c]) * (1.0 - alpha) + f32::from(heat[c]) * alpha).round() as u8
        }))
    })
}

/// The colour map from 0 (left) to the scale (right), `width x height`.
pub fn colour_bar(width: u32, height: u32) -> RgbImage {
    RgbImage::from_fn(width, height, |x, _| {
        Rgb(colour(f64::from(x) / f64::from(width.max(2) - 1)))
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::Array2;

    #[test]
    fn the_overlay_leaves_cold_pixels_and_colours_hot_ones() {
        let image = RgbImage::from_pixel(4, 3, Rgb([100, 150, 200]));
        let mut map = Array2::<f32>::zeros((3, 4));
        map[[1, 2]] = 2.0;
        map[[0, 0]] = -1.0;
        let drawn = overlay(&image, map.view(), 2.0);
        assert_eq!(
            drawn.get_pixel(0, 0),
            image.get_pixel(0, 0),
            "negative: as is"
        );
        assert_eq!(drawn.get_pixel(3, 2), image.get_pixel(3, 2), "zero: as is");
        let hot = drawn.get_pixel(2, 1).0;
        let top = colour(1.0);
        let expected: [u8; 3] = std::array::from_fn(|c| {
            (0.3 * [100.0, 150.0, 200.0][c] + 0.7 * f32::from(top[c])).round() as u8
        });
        assert_eq!(hot, expected);
        // The bar runs from the map's first colour to its last.
        let bar = colour_bar(10, 2);
        assert_eq!(bar.get_pixel(0, 1).0, colour(0.0));
        assert_eq!(bar.get_pixel(9, 0).0, colour(1.0));
        assert_ne!(colour(0.0), colour(1.0));
    }
}
