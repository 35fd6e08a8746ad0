//! Isolation forest (Liu, Ting & Zhou, ICDM 2008).
//!
//! Each of t trees is grown on a subsample of ψ items drawn without replacement: a node
//! picks a feature at random and a split value uniformly between that feature's minimum and
//! maximum in the node, and sends the items below the split left, the others right, until a
//! node holds at most one item or the height limit `ceil(log2 ψ)` is reached. Anomalies are
//! few and different, so they are isolated near the root. An item's path length `h(x)` is
//! the number of edges to the leaf it falls in plus `c(size)` for the items the leaf still
//! held (the average path length of an unsuccessful binary-search-tree lookup among that
//! many, which estimates the unbuilt subtree), and its score is
//!
//! `s(x) = 2^(-E[h(x)] / c(ψ))`, `c(m) = 2 H(m - 1) - 2 (m - 1) / m`, `c(2) = 1`, `c(1) = 0`,
//!
//! with `H(i) = ln i + 0.5772156649` (Euler's constant). Scores near 1 are anomalies; near
//! 0.5 or below, ordinary items.
//!
//! Implemented here rather than taken from crates.io: the crates found either fix the
//! dimension at compile time (`extended-isolation-forest`'s `Forest<f64, N>`), take no seed
//! or depend on rand 0.8 (`isolation_forest`, `extended-isolation-forest`), or come with the
//! linfa framework (`isoforest`); the algorithm is short.
//!
//! One detail the paper leaves open: a node picks its feature among those that are not
//! constant within it (as scikit-learn does); a node whose items are all equal is a leaf.
//!
//! ```
//! use demud::peers::{iforest_scores, IForestParams};
//! use ndarray::Array2;
//!
//! let mut data = Array2::<f64>::zeros((101, 2));
//! for i in 0..100 {
//!     data[(i, 0)] = (i % 10) as f64;
//!     data[(i, 1)] = (i / 10) as f64;
//! }
//! data[(100, 0)] = 50.0;
//! let s = iforest_scores(data.view(), &IForestParams::default(), 1).unwrap();
//! assert!(s[100] > 0.6 && s.iter().take(100).all(|&v| v < s[100]));
//! ```

use super::check_data;
use crate::error::{DemudError, Result};
use ndarray::{Array1, ArrayView2};
use rand::seq::index::sample;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Parameters of the isolation forest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct IForestParams {
    n_trees: usize,
    subsample: usize,
}

impl Default for IForestParams {
    /// t = 100 trees, ψ = 256 (the paper's defaults).
    fn default() -> Self {
        IForestParams {
            n_trees: 100,
            subsample: 256,
        }
    }
}

impl IForestParams {
    /// Default parameters (t = 100, ψ = 256).
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of trees t (>= 1).
    pub fn n_trees(mut self, t: usize) -> Self {
        self.n_trees = t;
        self
    }
    /// Subsample size ψ (>= 2); collections with fewer items use all of them.
    pub fn subsample(mut self, psi: usize) -> Self {
        self.subsample = psi;
        self
    }
    /// Number of trees.
    pub fn n_trees_value(&self) -> usize {
        self.n_trees
    }
    /// Subsample size.
    pub fn subsample_value(&self) -> usize {
        self.subsample
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.n_trees == 0 {
            return Err(DemudError::invalid("n_trees", "must be at least 1"));
        }
        if self.subsample < 2 {
            return Err(DemudError::invalid(
                "subsample",
                format!("is {}; a tree needs at least 2 items", self.subsample),
            ));
        }
        Ok(())
    }
}

/// `c(m)`: average path length of an unsuccessful search in a binary search tree of m items.
fn average_path(m: usize) -> f64 {
    const EULER: f64 = 0.577_215_664_901_532_9;
    match m {
        0 | 1 => 0.0,
        2 => 1.0,
        _ => {
            let m = m as f64;
            2.0 * ((m - 1.0).ln() + EULER) - 2.0 * (m - 1.0) / m
        }
    }
}

/// A node of an isolation tree.
enum Node {
    /// Items with `x[feature] < split` go to `left`, the others to `right` (node indices).
    Split {
        feature: usize,
        split: f64,
        left: usize,
        right: usize,
    },
    /// A leaf that held `size` items of the subsample.
    Leaf { size: usize },
}

/// One isolation tree, its nodes in a flat vector (root first).
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    /// Grows a tree on the items `idx` of `data` up to `height_limit`.
    fn grow(
        data: ArrayView2<'_, f64>,
        idx: &mut [usize],
        height_limit: usize,
        rng: &mut ChaCha8Rng,
    ) -> Tree {
        let mut tree = Tree { nodes: Vec::new() };
        let mut candidates = Vec::with_capacity(data.ncols());
        tree.grow_node(data, idx, 0, height_limit, rng, &mut candidates);
        tree
    }

    fn grow_node(
        &mut self,
        data: ArrayView2<'_, f64>,
        idx: &mut [usize],
        height: usize,
        height_limit: usize,
        rng: &mut ChaCha8Rng,
        candidates: &mut Vec<(usize, f64, f64)>,
    ) -> usize {
        let me = self.nodes.len();
        self.nodes.push(Node::Leaf { size: idx.len() });
        if height >= height_limit || idx.len() <= 1 {
            return me;
        }
        // Features not constant within the node, with their ranges.
        candidates.clear();
        for q in 0..data.ncols() {
            let (lo, hi) = idx
                .iter()
                .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), &i| {
                    let v = data[(i, q)];
                    (lo.min(v), hi.max(v))
                });
            if hi > lo {
                candidates.push((q, lo, hi));
            }
        }
        if candidates.is_empty() {
            return me;
        }
        let (feature, lo, hi) = candidates[rng.random_range(0..candidates.len())];
        let split = rng.random_range(lo..hi);
        // Partition in place: items below the split first.
        let mut mid = 0;
        for j in 0..idx.len() {
            if data[(idx[j], feature)] < split {
                idx.swap(mid, j);
                mid += 1;
            }
        }
        let (l, r) = idx.split_at_mut(mid);
        let left = self.grow_node(data, l, height + 1, height_limit, rng, candidates);
        let right = self.grow_node(data, r, height + 1, height_limit, rng, candidates);
        self.nodes[me] = Node::Split {
            feature,
            split,
            left,
            right,
        };
        me
    }

    /// `h(x)`: edges from the root to x's leaf plus `c(leaf size)`.
    fn path_length(&self, x: ndarray::ArrayView1<'_, f64>) -> f64 {
        let mut node = 0;
        let mut depth = 0.0;
        loop {
            match self.nodes[node] {
                Node::Split {
                    feature,
                    split,
                    left,
                    right,
                } => {
                    node = if x[feature] < split { left } else { right };
                    depth += 1.0;
                }
                Node::Leaf { size } => return depth + average_path(size),
            }
        }
    }
}

/// The isolation-forest anomaly score `2^(-E[h(x)]/c(ψ))` of every item, with trees grown
/// from a ChaCha8 generator seeded with `seed`. A collection of one item scores 0.5.
pub fn iforest_scores(
    data: ArrayView2<'_, f64>,
    params: &IForestParams,
    seed: u64,
) -> Result<Array1<f64>> {
    check_data(data)?;
    params.check()?;
    let n = data.nrows();
    let psi = params.subsample.min(n);
    let norm = average_path(psi);
    if norm == 0.0 {
        return Ok(Array1::from_elem(n, 0.5));
    }
    // ceil(log2 ψ) for ψ >= 2.
    let height_limit = (usize::BITS - (psi - 1).leading_zeros()) as usize;
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut total = Array1::<f64>::zeros(n);
    for _ in 0..params.n_trees {
        let mut idx = sample(&mut rng, n, psi).into_vec();
        let tree = Tree::grow(data, &mut idx, height_limit, &mut rng);
        for (t, x) in total.iter_mut().zip(data.rows()) {
            *t += tree.path_length(x);
        }
    }
    let t = params.n_trees as f64;
    Ok(total.mapv(|h| (-(h / t) / norm).exp2()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{rank, PeerMethod};
    use ndarray::Array2;

    fn grid_and_outlier() -> Array2<f64> {
        let mut data = Array2::<f64>::zeros((301, 3));
        for i in 0..300 {
            data[(i, 0)] = (i % 10) as f64;
            data[(i, 1)] = ((i / 10) % 10) as f64;
            data[(i, 2)] = (i / 100) as f64;
        }
        data[(300, 0)] = 4.0;
        data[(300, 1)] = 4.0;
        data[(300, 2)] = 30.0;
        data
    }

    #[test]
    fn average_path_matches_the_paper() {
        assert_eq!(average_path(1), 0.0);
        assert_eq!(average_path(2), 1.0);
        // c(256) = 2(ln 255 + γ) - 2·255/256 ≈ 10.2448.
        assert!((average_path(256) - 10.244_770_920_116_851).abs() < 1e-9);
    }

    #[test]
    fn an_isolated_item_ranks_first_and_the_seed_fixes_the_order() {
        let data = grid_and_outlier();
        let m = PeerMethod::IsolationForest(IForestParams::default());
        let a = rank(&m, data.view(), 10, 11).unwrap();
        assert_eq!(a[0].index, 300);
        assert!(a[0].score > 0.7, "{}", a[0].score);
        assert_eq!(a, rank(&m, data.view(), 10, 11).unwrap());
        // Another seed grows other trees: the outlier still wins, the scores differ.
        let b = rank(&m, data.view(), 10, 12).unwrap();
        assert_eq!(b[0].index, 300);
        let sa = iforest_scores(data.view(), &IForestParams::default(), 11).unwrap();
        let sb = iforest_scores(data.view(), &IForestParams::default(), 12).unwrap();
        assert_ne!(sa, sb);
    }

    #[test]
    fn tiny_collections_and_bad_parameters() {
        let one = Array2::<f64>::ones((1, 2));
        assert_eq!(
            iforest_scores(one.view(), &IForestParams::new(), 0)
                .unwrap()
                .to_vec(),
            vec![0.5]
        );
        // Two equal items: no split is possible, both score 2^(-c(2)/c(2)) = 0.5.
        let two = Array2::<f64>::ones((2, 2));
        let s = iforest_scores(two.view(), &IForestParams::new(), 0).unwrap();
        assert_eq!(s.to_vec(), vec![0.5, 0.5]);
        assert!(iforest_scores(two.view(), &IForestParams::new().n_trees(0), 0).is_err());
        assert!(iforest_scores(two.view(), &IForestParams::new().subsample(1), 0).is_err());
    }
}
