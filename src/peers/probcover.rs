//! ProbCover (Yehuda, Dekel, Hacohen & Weinshall, NeurIPS 2022): greedy maximum coverage of
//! δ-balls.
//!
//! The ball graph links two items when their Euclidean distance is at most δ; every item's
//! ball holds itself. Greedy max coverage: pick the item whose ball holds the most items not
//! yet covered (ties: lower index), mark them covered and drop the edges into them (here: the
//! per-item counts of uncovered neighbours are decremented), repeat. An item's score is the
//! number of items its pick newly covered.
//!
//! When everything is covered and picks remain, coverage **restarts**: only the picked items
//! count as covered, and the greedy goes on over the others with the same rule (the picked
//! items can never be picked again). Every unpicked item then covers at least itself, so the
//! continuation keeps spreading picks over the graph instead of falling back to index order.
//!
//! δ is a parameter, or is chosen label-free as the paper does ([`choose_delta`]): k-means
//! into K pseudo-classes, then the largest δ of a grid for which at least α = 0.95 of the
//! balls are *pure* (every item in the ball shares its centre's pseudo-class).
//!
//! The graph is built exactly from blocked distances (one matrix product per block of rows,
//! each pair once) and kept as adjacency lists: memory O(n + edges), which grows with δ.
//!
//! ```
//! use demud::peers::{probcover, Delta, ProbCoverParams};
//! use ndarray::array;
//!
//! let data = array![[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]];
//! let params = ProbCoverParams::new(Delta::Fixed(1.5));
//! let picks: Vec<usize> = probcover(data.view(), &params, 6, 0)
//!     .unwrap()
//!     .iter()
//!     .map(|r| r.index)
//!     .collect();
//! assert_eq!(picks, vec![1, 4, 2, 0, 5, 3]);
//! ```

use super::distance::{for_each_upper_block, Points};
use super::kmeans::{kmeans, KMeansParams};
use super::{check_data, Ranked};
use crate::error::{DemudError, Result};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

/// How ProbCover's ball radius δ is set.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Delta {
    /// This radius (finite, >= 0), in the data's units.
    Fixed(f64),
    /// Chosen label-free by ball purity ([`choose_delta`]).
    Auto(DeltaSearch),
}

/// The label-free choice of δ (Yehuda et al. 2022, section 4): k-means into K
/// pseudo-classes, then the largest candidate δ whose fraction of pure balls is >= α.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeltaSearch {
    pseudo_classes: Option<usize>,
    alpha: f64,
    candidates: Option<Vec<f64>>,
}

impl Default for DeltaSearch {
    /// K = `min(n, max(n_select, 2))`, α = 0.95, the default grid of candidates.
    fn default() -> Self {
        DeltaSearch {
            pseudo_classes: None,
            alpha: 0.95,
            candidates: None,
        }
    }
}

impl DeltaSearch {
    /// Default search (K from n_select, α = 0.95, default grid).
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of k-means pseudo-classes K (2 <= K <= n); default `min(n, max(n_select, 2))`.
    /// The paper uses the number of classes, which a discovery benchmark does not know.
    pub fn pseudo_classes(mut self, k: usize) -> Self {
        self.pseudo_classes = Some(k);
        self
    }
    /// The purity threshold α (in (0, 1]; default 0.95).
    pub fn alpha(mut self, alpha: f64) -> Self {
        self.alpha = alpha;
        self
    }
    /// The candidate radii (finite, >= 0, at least one). Default: 100 equally spaced radii
    /// `i·R/100`, i = 1..=100, where R is the largest distance from an item to its nearest
    /// item of another pseudo-class (beyond R no ball is pure).
    pub fn candidates(mut self, deltas: Vec<f64>) -> Self {
        self.candidates = Some(deltas);
        self
    }

    fn resolved_classes(&self, n: usize, n_select: usize) -> usize {
        self.pseudo_classes.unwrap_or(n_select.max(2).min(n))
    }

    pub(crate) fn check(&self, n: usize, n_select: usize) -> Result<()> {
        let k = self.resolved_classes(n, n_select);
        if k < 2 || k > n {
            return Err(DemudError::invalid(
                "pseudo_classes",
                format!("is {k}; the δ search needs 2 <= pseudo-classes <= n = {n} items"),
            ));
        }
        if !(self.alpha > 0.0 && self.alpha <= 1.0) {
            return Err(DemudError::invalid(
                "alpha",
                format!("is {}; the purity threshold must be in (0, 1]", self.alpha),
            ));
        }
        if let Some(c) = &self.candidates {
            if c.is_empty() {
                return Err(DemudError::invalid("candidates", "needs at least one δ"));
            }
            if let Some(bad) = c.iter().find(|d| !(d.is_finite() && **d >= 0.0)) {
                return Err(DemudError::invalid(
                    "candidates",
                    format!("δ = {bad}; radii must be finite and >= 0"),
                ));
            }
        }
        Ok(())
    }
}

/// The chosen δ and what it was chosen on.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DeltaChoice {
    /// The radius.
    pub delta: f64,
    /// The fraction of pure balls at that radius.
    pub purity: f64,
    /// The number of k-means pseudo-classes used.
    pub pseudo_classes: usize,
}

/// Parameters of ProbCover.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct ProbCoverParams {
    delta: Delta,
}

impl Default for ProbCoverParams {
    /// δ chosen by the default [`DeltaSearch`].
    fn default() -> Self {
        ProbCoverParams {
            delta: Delta::Auto(DeltaSearch::default()),
        }
    }
}

impl ProbCoverParams {
    /// ProbCover with this δ.
    pub fn new(delta: Delta) -> Self {
        ProbCoverParams { delta }
    }
    /// How δ is set.
    pub fn delta(&self) -> &Delta {
        &self.delta
    }

    pub(crate) fn check(&self, n: usize, n_select: usize) -> Result<()> {
        match &self.delta {
            Delta::Fixed(d) if !(d.is_finite() && *d >= 0.0) => Err(DemudError::invalid(
                "delta",
                format!("is {d}; the ball radius must be finite and >= 0"),
            )),
            Delta::Fixed(_) => Ok(()),
            Delta::Auto(search) => search.check(n, n_select),
        }
    }
}

/// Chooses δ label-free: k-means (seeded with `seed`) into K pseudo-classes (K defaults to
/// `min(n, max(n_select, 2))`), then the largest candidate δ for which the fraction of items
/// whose δ-ball holds only items of their own pseudo-class is >= α.
///
/// A ball `{y : d(x, y) <= δ}` is pure exactly when δ is below `r(x)`, the distance from x
/// to the nearest item of another pseudo-class, so one pass of blocked distances gives the
/// purity of every candidate (each pair computed once). Refused when no candidate reaches α (e.g. duplicates split
/// between pseudo-classes) or when k-means finds a single non-empty pseudo-class.
///
/// ```
/// use demud::peers::{choose_delta, DeltaSearch};
/// use ndarray::array;
///
/// let data = array![[0.0], [1.0], [2.0], [100.0], [101.0], [102.0]];
/// let search = DeltaSearch::new().pseudo_classes(2).candidates(vec![1.0, 50.0, 99.0]);
/// assert_eq!(choose_delta(data.view(), &search, 2, 0).unwrap().delta, 50.0);
/// ```
pub fn choose_delta(
    data: ArrayView2<'_, f64>,
    search: &DeltaSearch,
    n_select: usize,
    seed: u64,
) -> Result<DeltaChoice> {
    check_data(data)?;
    let n = data.nrows();
    search.check(n, n_select)?;
    let k = search.resolved_classes(n, n_select);
    let labels = kmeans(data, &KMeansParams::new(k), seed)?.labels;
    let points = Points::centred(data);
    // r(x)²: squared distance to the nearest item of another pseudo-class.
    let mut r2 = vec![f64::INFINITY; n];
    for_each_upper_block(&points, |start, d2| {
        for (r, row) in d2.outer_iter().enumerate() {
            let i = start + r;
            // Each pair once, from its lower index, updating both ends.
            for (c, &v) in row.iter().enumerate().skip(r + 1) {
                let j = start + c;
                if labels[i] != labels[j] {
                    r2[i] = r2[i].min(v);
                    r2[j] = r2[j].min(v);
                }
            }
        }
    });
    let r: Vec<f64> = r2.into_iter().map(f64::sqrt).collect();
    let candidates = match &search.candidates {
        Some(c) => c.clone(),
        None => {
            let reach = r
                .iter()
                .copied()
                .filter(|v| v.is_finite())
                .fold(0.0, f64::max);
            if reach == 0.0 {
                return Err(DemudError::invalid(
                    "pseudo_classes",
                    format!("k-means into {k} pseudo-classes found only one distinct group of items (are they all equal?), so ball purity cannot choose δ"),
                ));
            }
            (1..=100).map(|i| i as f64 * reach / 100.0).collect()
        }
    };
    let purity = |delta: f64| r.iter().filter(|&&rx| rx > delta).count() as f64 / n as f64;
    candidates
        .iter()
        .map(|&delta| (delta, purity(delta)))
        .filter(|&(_, p)| p >= search.alpha)
        .max_by(|a, b| a.0.total_cmp(&b.0))
        .map(|(delta, purity)| DeltaChoice {
            delta,
            purity,
            pseudo_classes: k,
        })
        .ok_or_else(|| {
            let smallest = candidates.iter().copied().fold(f64::INFINITY, f64::min);
            DemudError::invalid(
                "alpha",
                format!(
                    "no candidate δ has a fraction of pure balls >= α = {}; the smallest, δ = {smallest}, has {}",
                    search.alpha,
                    purity(smallest)
                ),
            )
        })
}

/// The first `min(n_select, n)` picks of ProbCover's greedy coverage; `seed` seeds the
/// k-means of the δ search (unused with a fixed δ).
pub fn probcover(
    data: ArrayView2<'_, f64>,
    params: &ProbCoverParams,
    n_select: usize,
    seed: u64,
) -> Result<Vec<Ranked>> {
    check_data(data)?;
    if n_select == 0 {
        return Err(DemudError::invalid(
            "n_select",
            "must select at least 1 item",
        ));
    }
    let n = data.nrows();
    params.check(n, n_select)?;
    let delta = match &params.delta {
        Delta::Fixed(d) => *d,
        Delta::Auto(search) => choose_delta(data, search, n_select, seed)?.delta,
    };
    let balls = ball_graph(&Points::centred(data), delta);
    Ok(greedy_cover(&balls, n_select.min(n)))
}

/// Adjacency lists of the δ-ball graph; every item's list holds itself.
fn ball_graph(points: &Points, delta: f64) -> Vec<Vec<usize>> {
    let n = points.len();
    let limit = delta * delta;
    let mut balls: Vec<Vec<usize>> = (0..n).map(|i| vec![i]).collect();
    for_each_upper_block(points, |start, d2| {
        for (r, row) in d2.outer_iter().enumerate() {
            let i = start + r;
            // Each pair is decided once (from its lower index), so the graph is symmetric
            // even where rounding would make d2(i, j) and d2(j, i) differ.
            for (c, &v) in row.iter().enumerate().skip(r + 1) {
                if v <= limit {
                    let j = start + c;
                    balls[i].push(j);
                    balls[j].push(i);
                }
            }
        }
    });
    balls
}

/// Greedy max coverage with restarts; see the module documentation.
fn greedy_cover(balls: &[Vec<usize>], take: usize) -> Vec<Ranked> {
    let n = balls.len();
    let mut picked = vec![false; n];
    let mut covered = vec![false; n];
    // Uncovered items in each ball.
    let mut count: Vec<usize> = balls.iter().map(Vec::len).collect();
    let mut out = Vec::with_capacity(take);
    while out.len() < take {
        let mut best: Option<usize> = None;
        for i in (0..n).filter(|&i| !picked[i]) {
            if best.is_none_or(|b| count[i] > count[b]) {
                best = Some(i);
            }
        }
        let Some(best) = best else { break };
        if count[best] == 0 {
            // Everything covered: restart with only the picks covered.
            covered.copy_from_slice(&picked);
            for (c, ball) in count.iter_mut().zip(balls) {
                *c = ball.iter().filter(|&&j| !covered[j]).count();
            }
            continue;
        }
        picked[best] = true;
        out.push(Ranked {
            index: best,
            score: count[best] as f64,
        });
        for &j in &balls[best] {
            if !covered[j] {
                covered[j] = true;
                // j leaves the uncovered part of every ball that holds it (the graph is
                // symmetric, so those are the balls of j's neighbours).
                for &i in &balls[j] {
                    count[i] -= 1;
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{rank, PeerMethod};
    use ndarray::array;

    fn indices(r: &[Ranked]) -> Vec<usize> {
        r.iter().map(|r| r.index).collect()
    }

    #[test]
    fn greedy_order_on_a_line_with_a_restart() {
        // Items at 0..=5, δ = 1.5: balls 0{0,1} 1{0,1,2} 2{1,2,3} 3{2,3,4} 4{3,4,5} 5{4,5}.
        // 1 covers 3 (ties with 2, 3, 4: lower index); then 4 covers {3, 4, 5}: all covered.
        // Restart with {1, 4} covered: 2 covers {2, 3}; then 0 and 5 cover themselves;
        // restart again: 3 covers itself.
        let data = array![[0.0], [1.0], [2.0], [3.0], [4.0], [5.0]];
        let m = PeerMethod::ProbCover(ProbCoverParams::new(Delta::Fixed(1.5)));
        let r = rank(&m, data.view(), 6, 0).unwrap();
        assert_eq!(indices(&r), vec![1, 4, 2, 0, 5, 3]);
        let scores: Vec<f64> = r.iter().map(|r| r.score).collect();
        assert_eq!(scores, vec![3.0, 3.0, 2.0, 1.0, 1.0, 1.0]);
    }

    #[test]
    fn a_dense_group_is_covered_before_isolated_items() {
        // Four items within 1 of (10, 10), two isolated ones; δ = 1.
        let data = array![
            [0.0, 0.0],
            [10.0, 10.0],
            [10.5, 10.0],
            [30.0, 0.0],
            [10.0, 10.5],
            [9.5, 10.0]
        ];
        let r = probcover(data.view(), &ProbCoverParams::new(Delta::Fixed(1.0)), 3, 0).unwrap();
        assert_eq!(indices(&r), vec![1, 0, 3]);
        assert_eq!(r[0].score, 4.0);
    }

    #[test]
    fn delta_is_the_largest_candidate_with_enough_pure_balls() {
        // Two blobs; r(x) = distance to the other blob: 100, 99, 98 | 98, 99, 100.
        let data = array![[0.0], [1.0], [2.0], [100.0], [101.0], [102.0]];
        let search = DeltaSearch::new()
            .pseudo_classes(2)
            .candidates(vec![0.5, 1.5, 50.0, 99.0, 150.0]);
        let c = choose_delta(data.view(), &search, 1, 0).unwrap();
        assert_eq!((c.delta, c.purity, c.pseudo_classes), (50.0, 1.0, 2));
        // At 98.5 four of six balls are pure (r = 99, 99, 100, 100).
        let c = choose_delta(
            data.view(),
            &search.clone().alpha(0.6).candidates(vec![98.5, 99.5]),
            1,
            0,
        )
        .unwrap();
        assert_eq!(c.delta, 98.5);
        assert!((c.purity - 4.0 / 6.0).abs() < 1e-12);
        // Default grid i·R/100 with R = 100: all pure below 98, so δ = 97.
        let c = choose_delta(data.view(), &DeltaSearch::new().pseudo_classes(2), 1, 0).unwrap();
        assert_eq!(c.delta, 97.0);
        // Nothing reaches α.
        let strict = DeltaSearch::new().pseudo_classes(2).candidates(vec![150.0]);
        assert!(choose_delta(data.view(), &strict, 1, 0).is_err());
        // With the chosen δ = 97 every blob is one ball: the two centres come first.
        let m = PeerMethod::ProbCover(ProbCoverParams::new(Delta::Auto(
            DeltaSearch::new().pseudo_classes(2),
        )));
        assert_eq!(indices(&rank(&m, data.view(), 2, 0).unwrap()), vec![0, 3]);
    }

    #[test]
    fn bad_parameters() {
        let data = array![[0.0], [1.0]];
        let fixed = |d| ProbCoverParams::new(Delta::Fixed(d));
        assert!(probcover(data.view(), &fixed(-1.0), 1, 0).is_err());
        assert!(probcover(data.view(), &fixed(f64::NAN), 1, 0).is_err());
        let auto = |s| ProbCoverParams::new(Delta::Auto(s));
        assert!(probcover(data.view(), &auto(DeltaSearch::new().alpha(0.0)), 1, 0).is_err());
        assert!(probcover(
            data.view(),
            &auto(DeltaSearch::new().pseudo_classes(3)),
            1,
            0
        )
        .is_err());
        assert!(probcover(
            data.view(),
            &auto(DeltaSearch::new().candidates(vec![])),
            1,
            0
        )
        .is_err());
        let one = array![[0.0]];
        assert!(probcover(one.view(), &ProbCoverParams::default(), 1, 0).is_err());
        assert_eq!(probcover(one.view(), &fixed(0.0), 1, 0).unwrap().len(), 1);
    }
}
