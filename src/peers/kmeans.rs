//! k-means: seeded k-means++ initialisation (Arthur & Vassilvitskii 2007) and Lloyd's
//! iterations, for TypiClust's clusters and ProbCover's pseudo-classes.
//!
//! k-means++ picks the first centre uniformly at random and each next one with probability
//! proportional to the squared distance to the nearest centre chosen so far. Lloyd then
//! alternates assigning every item to its nearest centre (ties: lower cluster id) and moving
//! each centre to the mean of its items, until no assignment changes or `max_iter`
//! iterations. One run (no restarts); a cluster that loses all its items keeps its centre.
//! Assignments use the blocked distances of [`peers`](super) (one matrix product per block,
//! memory O(block · K)).
//!
//! Implemented here rather than with `linfa-clustering` (0.8.1, which does use ndarray
//! 0.16): it brings rand 0.8 and its generators beside this crate's rand 0.9 (its k-means
//! takes a rand 0.8 `Rng`, so the runs could not share the crate's ChaCha8 seeding), plus
//! rayon, sprs, kdtree, ndarray-stats and their dependencies, for some 80 lines.
//!
//! ```
//! use demud::peers::{kmeans, KMeansParams};
//! use ndarray::array;
//!
//! let data = array![[0.0, 0.0], [0.0, 1.0], [10.0, 0.0], [10.0, 1.0], [0.5, 0.5]];
//! let km = kmeans(data.view(), &KMeansParams::new(2), 3).unwrap();
//! assert_eq!(km.labels[0], km.labels[1]);
//! assert_eq!(km.labels[0], km.labels[4]);
//! assert_eq!(km.labels[2], km.labels[3]);
//! assert_ne!(km.labels[0], km.labels[2]);
//! ```

use super::check_data;
use super::distance::{for_each_block, Points};
use crate::error::{DemudError, Result};
use ndarray::{Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Parameters of k-means.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KMeansParams {
    k: usize,
    max_iter: usize,
}

impl KMeansParams {
    /// `k` clusters (1 <= k <= n), at most 300 Lloyd iterations.
    pub fn new(k: usize) -> Self {
        KMeansParams { k, max_iter: 300 }
    }
    /// Maximum number of Lloyd iterations (>= 1).
    pub fn max_iter(mut self, iterations: usize) -> Self {
        self.max_iter = iterations;
        self
    }
    /// The number of clusters.
    pub fn k(&self) -> usize {
        self.k
    }

    pub(crate) fn check(&self, n: usize) -> Result<()> {
        if self.k == 0 || self.k > n {
            return Err(DemudError::invalid(
                "clusters",
                format!(
                    "k-means into {} clusters needs 1 <= clusters <= n = {n} items",
                    self.k
                ),
            ));
        }
        if self.max_iter == 0 {
            return Err(DemudError::invalid("max_iter", "must be at least 1"));
        }
        Ok(())
    }
}

/// The result of k-means.
#[derive(Clone, Debug, PartialEq)]
pub struct KMeans {
    /// Cluster id (0..k) of every item.
    pub labels: Vec<usize>,
    /// The centres, one per row, in the data's coordinates.
    pub centres: Array2<f64>,
    /// Number of Lloyd iterations run.
    pub iterations: usize,
}

/// k-means of `data` (one item per row), initialised by k-means++ with a ChaCha8 generator
/// seeded with `seed`.
pub fn kmeans(data: ArrayView2<'_, f64>, params: &KMeansParams, seed: u64) -> Result<KMeans> {
    check_data(data)?;
    params.check(data.nrows())?;
    let points = Points::centred(data);
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut centres = plus_plus(&points, params.k, &mut rng);
    let mut labels = vec![usize::MAX; points.len()];
    let mut iterations = 0;
    while iterations < params.max_iter {
        iterations += 1;
        let changed = assign(&points, &centres, &mut labels);
        if !changed {
            break;
        }
        update(&points, &labels, &mut centres);
    }
    Ok(KMeans {
        labels,
        centres: centres.x + &points.mean,
        iterations,
    })
}

/// k-means++ seeding; centres are returned relative to the items' mean.
fn plus_plus(points: &Points, k: usize, rng: &mut ChaCha8Rng) -> Points {
    let n = points.len();
    let mut chosen = Vec::with_capacity(k);
    let mut is_chosen = vec![false; n];
    let first = rng.random_range(0..n);
    chosen.push(first);
    is_chosen[first] = true;
    let mut d2 = points.sq_dists_to(points.x.row(first));
    while chosen.len() < k {
        let total: f64 = d2.sum();
        let next = if total > 0.0 {
            // Inverse-CDF draw proportional to d2; items at distance 0 (the chosen ones
            // among them) have no weight.
            let u = rng.random_range(0.0..total);
            let mut acc = 0.0;
            let mut pick = None;
            for (i, &w) in d2.iter().enumerate() {
                if w > 0.0 {
                    acc += w;
                    pick = Some(i);
                    if acc > u {
                        break;
                    }
                }
            }
            pick.expect("a positive total has a positive weight")
        } else {
            // Fewer distinct points than k: the lowest unchosen index.
            (0..n).find(|&i| !is_chosen[i]).expect("k <= n")
        };
        chosen.push(next);
        is_chosen[next] = true;
        let to_next = points.sq_dists_to(points.x.row(next));
        d2.zip_mut_with(&to_next, |a, &b| *a = a.min(b));
    }
    points.select(&chosen)
}

/// Assigns every item to its nearest centre (ties: lower id); true if any label changed.
fn assign(points: &Points, centres: &Points, labels: &mut [usize]) -> bool {
    let mut changed = false;
    for_each_block(points, centres, |start, d2| {
        for (r, row) in d2.outer_iter().enumerate() {
            let mut best = 0;
            for (c, &v) in row.iter().enumerate() {
                if v < row[best] {
                    best = c;
                }
            }
            if labels[start + r] != best {
                labels[start + r] = best;
                changed = true;
            }
        }
    });
    changed
}

/// Moves every non-empty cluster's centre to the mean of its items.
fn update(points: &Points, labels: &[usize], centres: &mut Points) {
    let k = centres.len();
    let mut sums = Array2::<f64>::zeros(centres.x.raw_dim());
    let mut counts = vec![0usize; k];
    for (row, &c) in points.x.rows().into_iter().zip(labels) {
        sums.row_mut(c).scaled_add(1.0, &row);
        counts[c] += 1;
    }
    let mut x = centres.x.clone();
    for (c, &count) in counts.iter().enumerate() {
        if count > 0 {
            x.row_mut(c).assign(&(&sums.row(c) / count as f64));
        }
    }
    *centres = Points::from_centred(x, centres.mean.clone());
}

/// Indices of the items of each cluster, in index order.
pub(crate) fn members(labels: &[usize], k: usize) -> Vec<Vec<usize>> {
    let mut out = vec![Vec::new(); k];
    for (i, &c) in labels.iter().enumerate() {
        out[c].push(i);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn separated_blobs_are_found_for_any_seed() {
        let data = array![
            [0.0, 0.0],
            [1.0, 0.0],
            [0.0, 1.0],
            [20.0, 20.0],
            [21.0, 20.0],
            [50.0, 0.0],
            [51.0, 1.0]
        ];
        for seed in 0..20 {
            let km = kmeans(data.view(), &KMeansParams::new(3), seed).unwrap();
            let l = &km.labels;
            assert!(l[0] == l[1] && l[1] == l[2], "seed {seed}: {l:?}");
            assert!(l[3] == l[4] && l[5] == l[6], "seed {seed}: {l:?}");
            assert!(
                l[0] != l[3] && l[3] != l[5] && l[0] != l[5],
                "seed {seed}: {l:?}"
            );
            // Centres are the blob means, in the data's coordinates.
            let c = km.centres.row(l[3]);
            assert!((c[0] - 20.5).abs() < 1e-12 && (c[1] - 20.0).abs() < 1e-12);
        }
    }

    #[test]
    fn duplicates_and_bad_k() {
        let data = array![[1.0], [1.0], [1.0]];
        let km = kmeans(data.view(), &KMeansParams::new(2), 0).unwrap();
        assert_eq!(km.labels, vec![0, 0, 0]);
        assert!(kmeans(data.view(), &KMeansParams::new(4), 0).is_err());
        assert!(kmeans(data.view(), &KMeansParams::new(0), 0).is_err());
    }
}
