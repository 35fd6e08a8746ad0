//! A seeded, generated collection with imbalanced classes and a few rare ones: the default
//! data of `demud demo` (the engine alone), and a test bed for discovery curves.
//!
//! Each class is a Gaussian cloud around its own centre, stretched along a few class-specific
//! directions, so that a rank-k model of the common classes explains them well and the rare
//! classes stand out by their residual.
//!
//! ```
//! use demud_datasets::synthetic::Recipe;
//! let c = Recipe::default().generate();
//! assert_eq!(c.features.nrows(), Recipe::default().class_sizes.iter().sum::<usize>());
//! assert_eq!(c.features, Recipe::default().generate().features); // seeded
//! ```

use ndarray::{Array1, Array2};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

/// How to generate a collection.
#[derive(Clone, Debug, PartialEq)]
pub struct Recipe {
    /// Seed of every random draw.
    pub seed: u64,
    /// Number of features.
    pub dim: usize,
    /// Items per class, common to rare.
    pub class_sizes: Vec<usize>,
    /// Number of directions each class varies along.
    pub class_rank: usize,
    /// Spread of the class centres (standard deviation per feature).
    pub centre_spread: f64,
    /// Spread along a class's own directions.
    pub within_spread: f64,
    /// Isotropic noise.
    pub noise: f64,
}

impl Default for Recipe {
    /// 12 classes from 600 items down to a single one, 64 features.
    fn default() -> Self {
        Recipe {
            seed: 2013,
            dim: 64,
            class_sizes: vec![600, 400, 250, 150, 80, 40, 20, 10, 5, 3, 2, 1],
            class_rank: 3,
            centre_spread: 1.0,
            within_spread: 2.0,
            noise: 0.3,
        }
    }
}

/// A generated collection, items in random order.
#[derive(Clone, Debug, PartialEq)]
pub struct Collection {
    /// Ids `item-0000`, ...
    pub ids: Vec<String>,
    /// Class names `class-00` (the most common) ... per item.
    pub labels: Vec<String>,
    /// Items x features.
    pub features: Array2<f64>,
}

impl Recipe {
    /// Draws the collection.
    pub fn generate(&self) -> Collection {
        let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
        let d = self.dim;
        let normal = |rng: &mut ChaCha8Rng| -> f64 { StandardNormal.sample(rng) };
        let mut rows: Vec<(usize, Array1<f64>)> = Vec::new();
        for (class, &size) in self.class_sizes.iter().enumerate() {
            let centre: Array1<f64> = (0..d)
                .map(|_| self.centre_spread * normal(&mut rng))
                .collect();
            let directions = Array2::from_shape_fn((self.class_rank, d), |_| {
                normal(&mut rng) * self.within_spread / (d as f64).sqrt()
            });
            for _ in 0..size {
                let z: Array1<f64> = (0..self.class_rank)
                    .map(|_| normal(&mut rng) * 3.0)
                    .collect();
                let noise: Array1<f64> = (0..d).map(|_| self.noise * normal(&mut rng)).collect();
                rows.push((class, &centre + &directions.t().dot(&z) + noise));
            }
        }
        rows.shuffle(&mut rng);
        let n = rows.len();
        let mut features = Array2::zeros((n, d));
        let mut labels = Vec::with_capacity(n);
        for (i, (class, row)) in rows.into_iter().enumerate() {
            features.row_mut(i).assign(&row);
            labels.push(format!("class-{class:02}"));
        }
        Collection {
            ids: (0..n).map(|i| format!("item-{i:04}")).collect(),
            labels,
            features,
        }
    }
}
