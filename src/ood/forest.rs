//! COOD's combination: a random forest over the measures of each item, trained to tell
//! in-distribution items (0) from out-of-distribution ones (1); an item's combined score is
//! the fraction of trees that vote "out".
//!
//! Why our own forest: the score must be reproducible under a seed, and the kept crates give
//! no such forest on ndarray 0.16. `linfa-ensemble` 0.8 (ndarray 0.16) bags `linfa-trees`
//! whose split search and leaf classes go through `HashMap<label, f32>` with a randomly
//! seeded hasher: the order of the f32 sums changes from run to run, and so do near-tied
//! splits and tied leaves (measured: two fits with the same seed disagreed on 9 of 200 vote
//! fractions). `smartcore` 0.7's forest exposes only majority predictions, not the trees'
//! votes. So this is Breiman's forest written out, small and deterministic:
//!
//! - each tree is grown on a bootstrap sample (n draws with replacement) by CART: at every
//!   node, `features_per_split` measures (default ceil(sqrt(m))) are drawn without
//!   replacement, and the split `x_j <= t` (t halfway between consecutive distinct values)
//!   with the lowest weighted Gini impurity `sum_side n_side/n * 2 p_side (1 - p_side)` is
//!   taken (ties: the first measure drawn, then the lower threshold); if every drawn measure
//!   is constant on the node, the others are tried in drawn order;
//! - a node becomes a leaf when it is pure, at `max_depth`, or has nothing to split; it votes
//!   for its majority class (a tie votes "in");
//! - tree t draws from ChaCha8 seeded with the seed on stream t, so a tree depends only on
//!   the seed and its number.

use crate::error::{DemudError, Result};
use ndarray::{Array1, ArrayView1, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use serde::{Deserialize, Serialize};

/// Parameters of the forest.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ForestParams {
    trees: usize,
    max_depth: Option<usize>,
    features_per_split: Option<usize>,
    seed: u64,
}

impl Default for ForestParams {
    /// 100 trees grown until pure, ceil(sqrt(m)) measures tried per split, seed 0.
    fn default() -> Self {
        ForestParams {
            trees: 100,
            max_depth: None,
            features_per_split: None,
            seed: 0,
        }
    }
}

impl ForestParams {
    /// Number of trees (at least 1).
    pub fn trees(mut self, trees: usize) -> Self {
        self.trees = trees;
        self
    }
    /// Deepest a tree grows (`None`: until its leaves are pure).
    pub fn max_depth(mut self, depth: Option<usize>) -> Self {
        self.max_depth = depth;
        self
    }
    /// Measures drawn at each split (`None`: ceil(sqrt(m)); capped at m).
    pub fn features_per_split(mut self, features: Option<usize>) -> Self {
        self.features_per_split = features;
        self
    }
    /// The seed of the bootstrap samples and the measures drawn.
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
    /// The number of trees.
    pub fn n_trees(&self) -> usize {
        self.trees
    }

    pub(crate) fn check(&self) -> Result<()> {
        if self.trees == 0 {
            return Err(DemudError::invalid("trees", "must be at least 1"));
        }
        if self.max_depth == Some(0) {
            return Err(DemudError::invalid("max_depth", "must be at least 1"));
        }
        if self.features_per_split == Some(0) {
            return Err(DemudError::invalid(
                "features_per_split",
                "must be at least 1",
            ));
        }
        Ok(())
    }

    /// Trains the forest on `items` (one per row, one measure per column) with `out[i]` true
    /// for out-of-distribution items. Needs items of both kinds and finite values.
    pub fn fit<'a>(&self, items: ArrayView2<'a, f64>, out: &'a [bool]) -> Result<CoodForest> {
        self.check()?;
        let (n, m) = items.dim();
        if out.len() != n {
            return Err(DemudError::DimensionMismatch {
                what: "the forest's labels",
                expected: n,
                found: out.len(),
            });
        }
        if m == 0 || !out.iter().any(|&o| o) || out.iter().all(|&o| o) {
            return Err(DemudError::invalid(
                "labels",
                "the forest needs measures, and in- and out-of-distribution items to learn from",
            ));
        }
        if let Some(((i, j), v)) = items.indexed_iter().find(|(_, v)| !v.is_finite()) {
            return Err(DemudError::invalid(
                "measures",
                format!("item {i}, measure {j} is {v}; the forest needs finite values"),
            ));
        }
        let per_split = self
            .features_per_split
            .unwrap_or_else(|| (m as f64).sqrt().ceil() as usize)
            .min(m);
        let trees = (0..self.trees)
            .map(|t| {
                let mut rng = ChaCha8Rng::seed_from_u64(self.seed);
                rng.set_stream(t as u64);
                let sample: Vec<usize> = (0..n).map(|_| rng.random_range(0..n)).collect();
                let mut grower = Grower {
                    items,
                    out,
                    per_split,
                    max_depth: self.max_depth,
                    rng,
                    nodes: Vec::new(),
                };
                grower.grow(sample, 0);
                Tree {
                    nodes: grower.nodes,
                }
            })
            .collect();
        Ok(CoodForest { trees, width: m })
    }
}

/// A node of a tree: a leaf's vote, or a split `x[feature] <= threshold` (left) / above
/// (right), children by index.
#[derive(Clone, Debug)]
enum Node {
    Leaf(bool),
    Split {
        feature: usize,
        threshold: f64,
        left: usize,
        right: usize,
    },
}

#[derive(Clone, Debug)]
struct Tree {
    nodes: Vec<Node>,
}

impl Tree {
    fn vote(&self, x: ArrayView1<f64>) -> bool {
        let mut at = 0;
        loop {
            match self.nodes[at] {
                Node::Leaf(v) => return v,
                Node::Split {
                    feature,
                    threshold,
                    left,
                    right,
                } => at = if x[feature] <= threshold { left } else { right },
            }
        }
    }
}

struct Grower<'a> {
    items: ArrayView2<'a, f64>,
    out: &'a [bool],
    per_split: usize,
    max_depth: Option<usize>,
    rng: ChaCha8Rng,
    nodes: Vec<Node>,
}

impl Grower<'_> {
    /// Grows the subtree of the items `rows` (with repeats); returns its node's index.
    fn grow(&mut self, rows: Vec<usize>, depth: usize) -> usize {
        let at = self.nodes.len();
        self.nodes.push(Node::Leaf(false));
        let positives = rows.iter().filter(|&&i| self.out[i]).count();
        let majority = 2 * positives > rows.len();
        if positives == 0 || positives == rows.len() || self.max_depth == Some(depth) {
            self.nodes[at] = Node::Leaf(majority);
            return at;
        }
        let Some((feature, threshold)) = self.best_split(&rows, positives) else {
            self.nodes[at] = Node::Leaf(majority);
            return at;
        };
        let (left, right): (Vec<usize>, Vec<usize>) = rows
            .into_iter()
            .partition(|&i| self.items[(i, feature)] <= threshold);
        let left = self.grow(left, depth + 1);
        let right = self.grow(right, depth + 1);
        self.nodes[at] = Node::Split {
            feature,
            threshold,
            left,
            right,
        };
        at
    }

    /// The split of lowest weighted Gini impurity over the measures drawn (see the module).
    fn best_split(&mut self, rows: &[usize], positives: usize) -> Option<(usize, f64)> {
        let m = self.items.ncols();
        // A random order of all measures (Fisher-Yates); the first `per_split` are tried,
        // and the rest only while none of those could split.
        let mut order: Vec<usize> = (0..m).collect();
        for i in 0..m.saturating_sub(1) {
            let j = self.rng.random_range(i..m);
            order.swap(i, j);
        }
        let n = rows.len() as f64;
        let total_pos = positives as f64;
        let mut best: Option<(f64, usize, f64)> = None;
        let mut sorted: Vec<(f64, bool)> = Vec::with_capacity(rows.len());
        for (tried, &feature) in order.iter().enumerate() {
            if tried >= self.per_split && best.is_some() {
                break;
            }
            sorted.clear();
            sorted.extend(
                rows.iter()
                    .map(|&i| (self.items[(i, feature)], self.out[i])),
            );
            sorted.sort_by(|a, b| a.0.total_cmp(&b.0));
            let mut left_pos = 0.0;
            for s in 0..sorted.len() - 1 {
                left_pos += f64::from(u8::from(sorted[s].1));
                if sorted[s].0 == sorted[s + 1].0 {
                    continue;
                }
                let nl = (s + 1) as f64;
                let nr = n - nl;
                let (pl, pr) = (left_pos / nl, (total_pos - left_pos) / nr);
                let impurity = (nl * 2.0 * pl * (1.0 - pl) + nr * 2.0 * pr * (1.0 - pr)) / n;
                if best.is_none_or(|b| impurity < b.0) {
                    let threshold = sorted[s].0 + (sorted[s + 1].0 - sorted[s].0) / 2.0;
                    best = Some((impurity, feature, threshold));
                }
            }
        }
        best.map(|(_, f, t)| (f, t))
    }
}

/// A trained forest.
#[derive(Clone, Debug)]
pub struct CoodForest {
    trees: Vec<Tree>,
    width: usize,
}

impl CoodForest {
    /// The fraction of trees voting "out of distribution" for each item (row).
    pub fn vote_fractions(&self, items: ArrayView2<f64>) -> Result<Array1<f64>> {
        if items.ncols() != self.width {
            return Err(DemudError::DimensionMismatch {
                what: "the forest",
                expected: items.ncols(),
                found: self.width,
            });
        }
        Ok(items
            .rows()
            .into_iter()
            .map(|x| {
                let votes = self.trees.iter().filter(|t| t.vote(x)).count();
                votes as f64 / self.trees.len() as f64
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::{array, Array2};

    /// Two overlapping clouds in 4 measures, the second shifted along measure 0 only.
    fn clouds(seed: u64) -> (Array2<f64>, Vec<bool>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let n = 200;
        let out: Vec<bool> = (0..n).map(|i| i % 2 == 1).collect();
        let x = Array2::from_shape_fn((n, 4), |(i, j)| {
            let shift = if out[i] && j == 0 { 1.5 } else { 0.0 };
            rng.random::<f64>() + shift
        });
        (x, out)
    }

    #[test]
    fn the_same_seed_gives_the_same_scores_and_another_seed_other_trees() {
        let (x, out) = clouds(1);
        let (test, _) = clouds(2);
        let a = ForestParams::default().seed(7).fit(x.view(), &out).unwrap();
        let b = ForestParams::default().seed(7).fit(x.view(), &out).unwrap();
        let c = ForestParams::default().seed(8).fit(x.view(), &out).unwrap();
        let (sa, sb, sc) = (
            a.vote_fractions(test.view()).unwrap(),
            b.vote_fractions(test.view()).unwrap(),
            c.vote_fractions(test.view()).unwrap(),
        );
        assert_eq!(sa, sb);
        assert_ne!(sa, sc);
    }

    #[test]
    fn votes_are_fractions_that_separate_the_clouds() {
        let (x, out) = clouds(1);
        let (test, test_out) = clouds(3);
        let forest = ForestParams::default()
            .trees(40)
            .fit(x.view(), &out)
            .unwrap();
        let s = forest.vote_fractions(test.view()).unwrap();
        // Every score is a multiple of 1/40 in [0, 1].
        assert!(s
            .iter()
            .all(|&v| (0.0..=1.0).contains(&v) && ((v * 40.0) - (v * 40.0).round()).abs() < 1e-9));
        let auroc = crate::ood::metrics::detection_metrics(s.as_slice().unwrap(), &test_out)
            .unwrap()
            .auroc;
        assert!(auroc > 0.9, "{auroc}");
    }

    #[test]
    fn a_stump_takes_the_measure_of_lowest_gini_impurity() {
        // Measure 0 is the item's number (each threshold leaves mixed sides), measure 1
        // separates the classes exactly (impurity 0): every stump that sees both classes
        // splits on it, halfway between 0.5 and 10.
        let n = 16;
        let out: Vec<bool> = (0..n).map(|i| i % 2 == 1).collect();
        let x = Array2::from_shape_fn((n, 2), |(i, j)| match j {
            0 => i as f64,
            _ => {
                if out[i] {
                    10.0
                } else {
                    0.5
                }
            }
        });
        let forest = ForestParams::default()
            .trees(25)
            .max_depth(Some(1))
            .features_per_split(Some(2))
            .fit(x.view(), &out)
            .unwrap();
        for tree in &forest.trees {
            match tree.nodes[0] {
                Node::Split {
                    feature, threshold, ..
                } => {
                    assert_eq!((feature, threshold), (1, 5.25));
                }
                Node::Leaf(_) => panic!("a bootstrap sample of one class"),
            }
        }
        let s = forest
            .vote_fractions(array![[3.0, 0.5], [3.0, 10.0], [3.0, 5.25], [3.0, 5.3]].view())
            .unwrap();
        assert_eq!(s.to_vec(), vec![0.0, 1.0, 0.0, 1.0]);
    }

    #[test]
    fn bad_parameters_and_inputs_are_refused() {
        let (x, out) = clouds(1);
        assert!(ForestParams::default()
            .trees(0)
            .fit(x.view(), &out)
            .is_err());
        assert!(ForestParams::default()
            .features_per_split(Some(0))
            .fit(x.view(), &out)
            .is_err());
        assert!(ForestParams::default()
            .fit(x.view(), &[false; 200])
            .is_err());
        let forest = ForestParams::default()
            .trees(2)
            .fit(x.view(), &out)
            .unwrap();
        assert!(forest.vote_fractions(Array2::zeros((1, 3)).view()).is_err());
    }
}
