//! Noise images for checking what a classifier says about inputs that are nothing at all:
//! Gaussian noise with a collection's per-channel mean and standard deviation (the same
//! first two moments as the real images, none of their structure), and uniform noise over
//! every pixel value. Both are seeded.
//!
//! Statistics are on pixel values scaled to [0, 1], after the collection's preprocessing
//! ([`crate::images::Preprocess::apply`]), so the noise matches what the network sees.
//!
//! ```
//! use demud_datasets::noise::{noise_images, ChannelStats, Noise};
//! let images = noise_images(Noise::Uniform, 3, 8, 8, 0);
//! let mut stats = ChannelStats::default();
//! images.iter().for_each(|i| stats.add(i));
//! assert_eq!(stats.pixels(), 3 * 64);
//! ```

use image::{Rgb, RgbImage};
use rand::{Rng, SeedableRng};
use rand_distr::{Distribution, Normal};

/// Running per-channel mean and standard deviation of pixel values in [0, 1].
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ChannelStats {
    pixels: u64,
    sum: [f64; 3],
    sum_sq: [f64; 3],
}

impl ChannelStats {
    /// Adds every pixel of `image`.
    pub fn add(&mut self, image: &RgbImage) {
        for p in image.pixels() {
            for c in 0..3 {
                let v = f64::from(p[c]) / 255.0;
                self.sum[c] += v;
                self.sum_sq[c] += v * v;
            }
        }
        self.pixels += u64::from(image.width()) * u64::from(image.height());
    }

    /// Pixels added.
    pub fn pixels(&self) -> u64 {
        self.pixels
    }

    /// Mean of each channel (R, G, B); 0 before any pixel.
    pub fn mean(&self) -> [f64; 3] {
        let n = self.pixels.max(1) as f64;
        self.sum.map(|s| s / n)
    }

    /// Population standard deviation of each channel: sqrt(E[v²] − E[v]²).
    pub fn std(&self) -> [f64; 3] {
        let n = self.pixels.max(1) as f64;
        let mean = self.mean();
        [0, 1, 2].map(|c| (self.sum_sq[c] / n - mean[c] * mean[c]).max(0.0).sqrt())
    }
}

/// A kind of noise image.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Noise {
    /// Every pixel and channel independently N(mean_c, std_c²) in [0, 1] units, clipped to
    /// [0, 1] and rounded to 8 bits.
    Gaussian {
        /// Per-channel mean.
        mean: [f64; 3],
        /// Per-channel standard deviation.
        std: [f64; 3],
    },
    /// Every pixel and channel independently uniform over 0..=255.
    Uniform,
}

impl Noise {
    /// Gaussian noise with the moments of `stats`.
    pub fn gaussian_like(stats: &ChannelStats) -> Self {
        Noise::Gaussian {
            mean: stats.mean(),
            std: stats.std(),
        }
    }

    /// The kind's name in tables and files: `gaussian` or `uniform`.
    pub fn name(&self) -> &'static str {
        match self {
            Noise::Gaussian { .. } => "gaussian",
            Noise::Uniform => "uniform",
        }
    }
}

/// `count` noise images of `width x height`, the same for the same seed and kind.
pub fn noise_images(
    noise: Noise,
    count: usize,
    width: u32,
    height: u32,
    seed: u64,
) -> Vec<RgbImage> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    (0..count)
        .map(|_| match noise {
            Noise::Uniform => RgbImage::from_fn(width, height, |_, _| Rgb(rng.random())),
            Noise::Gaussian { mean, std } => {
                let normals: Vec<Normal<f64>> = (0..3)
                    // A zero (or rounding-negative) spread is a constant channel.
                    .map(|c| Normal::new(mean[c], std[c].max(0.0)).expect("finite moments"))
                    .collect();
                RgbImage::from_fn(width, height, |_, _| {
                    Rgb([0, 1, 2].map(|c| {
                        (normals[c].sample(&mut rng).clamp(0.0, 1.0) * 255.0).round() as u8
                    }))
                })
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_by_hand() {
        // Two pixels: (0, 255, 51) and (255, 255, 153): means (0.5, 1, 0.4), sds (0.5, 0, 0.2).
        let mut img = RgbImage::new(2, 1);
        img.put_pixel(0, 0, Rgb([0, 255, 51]));
        img.put_pixel(1, 0, Rgb([255, 255, 153]));
        let mut s = ChannelStats::default();
        s.add(&img);
        for (a, b) in s.mean().iter().zip([0.5, 1.0, 0.4]) {
            assert!((a - b).abs() < 1e-12);
        }
        for (a, b) in s.std().iter().zip([0.5, 0.0, 0.2]) {
            assert!((a - b).abs() < 1e-9, "{:?}", s.std());
        }
    }

    #[test]
    fn noise_is_seeded_and_has_the_moments_asked_for() {
        // Means and sds far enough from 0 and 1 that clipping is negligible (3 sd inside).
        let kind = Noise::Gaussian {
            mean: [0.3, 0.5, 0.7],
            std: [0.05, 0.1, 0.08],
        };
        let a = noise_images(kind, 4, 32, 32, 7);
        assert_eq!(a, noise_images(kind, 4, 32, 32, 7));
        assert_ne!(a, noise_images(kind, 4, 32, 32, 8));
        let mut s = ChannelStats::default();
        a.iter().for_each(|i| s.add(i));
        // 4,096 pixels: the sample mean's error is sd / 64, the sd's about sd / 90; 8-bit
        // rounding adds 1/255 / sqrt(12) ≈ 0.001 of spread.
        for c in 0..3 {
            assert!(
                (s.mean()[c] - [0.3, 0.5, 0.7][c]).abs() < 0.006,
                "{:?}",
                s.mean()
            );
            assert!(
                (s.std()[c] - [0.05, 0.1, 0.08][c]).abs() < 0.006,
                "{:?}",
                s.std()
            );
        }

        // Uniform: mean 1/2, sd of the discrete uniform on 0..=255 over 255 ≈ 0.2898.
        let u = noise_images(Noise::Uniform, 4, 32, 32, 1);
        assert_eq!(u, noise_images(Noise::Uniform, 4, 32, 32, 1));
        let mut s = ChannelStats::default();
        u.iter().for_each(|i| s.add(i));
        let sd = ((256.0f64 * 256.0 - 1.0) / 12.0).sqrt() / 255.0;
        for c in 0..3 {
            assert!((s.mean()[c] - 0.5).abs() < 0.015, "{:?}", s.mean());
            assert!((s.std()[c] - sd).abs() < 0.01, "{:?}", s.std());
        }
    }
}
