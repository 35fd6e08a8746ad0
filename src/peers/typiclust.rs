//! TypiClust (Hacohen, Dekel & Weinshall, ICML 2022), as a ranking.
//!
//! The paper picks its b-th query by clustering into |labelled| + b clusters with k-means
//! and taking the most *typical* item of the largest cluster that holds no labelled item,
//! with
//!
//! `typicality(x) = 1 / (mean distance from x to its m nearest neighbours + 1e-5)`,
//!
//! m = 20 (the `1e-5` is the authors' code's guard against duplicates; it is in the data's
//! units). Re-clustering for every pick would cost n_select k-means runs, so this is the
//! practical ranking variant, with one clustering:
//!
//! 1. k-means (k-means++ seeded, Lloyd) into K clusters, K = `min(n, n_select)` unless set;
//! 2. within each cluster, typicality uses the m nearest neighbours *inside the cluster*
//!    (all other members when the cluster has m or fewer); a cluster of one item has no
//!    neighbours and its item has typicality 0;
//! 3. picks go round by round: the next pick comes from the cluster with the fewest picks
//!    so far, among those the one with the most unpicked items, then the lower cluster id;
//!    within the cluster, the most typical unpicked item (ties: lower index). The first
//!    round is exactly "the largest cluster with no pick yet"; later rounds repeat it by
//!    uncovered (unpicked) size, which is the authors' code's order (fewest labelled, then
//!    largest) without re-clustering. Exhausted and empty clusters are skipped.
//!
//! An item's score is its typicality.
//!
//! ```
//! use demud::peers::{typiclust, TypiClustParams};
//! use ndarray::array;
//!
//! // A small blob around (51, 0) and a bigger one around (0, 0).
//! let data = array![[50.0, 0.0], [51.0, 0.0], [52.0, 0.0],
//!                   [1.0, 0.0], [0.0, 0.0], [-1.0, 0.0], [0.0, 1.0], [0.0, -1.0]];
//! let picks: Vec<usize> = typiclust(data.view(), &TypiClustParams::default(), 2, 0)
//!     .unwrap()
//!     .iter()
//!     .map(|r| r.index)
//!     .collect();
//! assert_eq!(picks, vec![4, 1]);
//! ```

use super::distance::{k_nearest, Points};
use super::kmeans::{kmeans, members, KMeansParams};
use super::{check_data, Ranked};
use crate::error::{DemudError, Result};
use ndarray::ArrayView2;
use serde::{Deserialize, Serialize};

/// Parameters of TypiClust's ranking variant.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TypiClustParams {
    clusters: Option<usize>,
    neighbours: usize,
}

impl Default for TypiClustParams {
    /// K = `min(n, n_select)` clusters, typicality over 20 neighbours (the paper's).
    fn default() -> Self {
        TypiClustParams {
            clusters: None,
            neighbours: 20,
        }
    }
}

impl TypiClustParams {
    /// Default parameters.
    pub fn new() -> Self {
        Self::default()
    }
    /// Number of k-means clusters K (1 <= K <= n); default `min(n, n_select)`.
    pub fn clusters(mut self, k: usize) -> Self {
        self.clusters = Some(k);
        self
    }
    /// Number of neighbours m of the typicality (>= 1; default 20).
    pub fn neighbours(mut self, m: usize) -> Self {
        self.neighbours = m;
        self
    }
    /// The number of clusters, if set.
    pub fn clusters_value(&self) -> Option<usize> {
        self.clusters
    }
    /// The typicality's number of neighbours.
    pub fn neighbours_value(&self) -> usize {
        self.neighbours
    }

    pub(crate) fn check(&self, n: usize) -> Result<()> {
        if let Some(k) = self.clusters {
            if k == 0 || k > n {
                return Err(DemudError::invalid(
                    "clusters",
                    format!("is {k}; TypiClust needs 1 <= clusters <= n = {n} items"),
                ));
            }
        }
        if self.neighbours == 0 {
            return Err(DemudError::invalid("neighbours", "must be at least 1"));
        }
        Ok(())
    }
}

/// The first `min(n_select, n)` picks of TypiClust's ranking variant; `seed` seeds k-means++.
pub fn typiclust(
    data: ArrayView2<'_, f64>,
    params: &TypiClustParams,
    n_select: usize,
    seed: u64,
) -> Result<Vec<Ranked>> {
    check_data(data)?;
    params.check(data.nrows())?;
    if n_select == 0 {
        return Err(DemudError::invalid(
            "n_select",
            "must select at least 1 item",
        ));
    }
    let n = data.nrows();
    let k = params.clusters.unwrap_or(n_select.min(n));
    let labels = kmeans(data, &KMeansParams::new(k), seed)?.labels;
    let points = Points::centred(data);

    // Each cluster's members, most typical first (ties: lower index), with typicalities.
    let queues: Vec<Vec<(usize, f64)>> = members(&labels, k)
        .into_iter()
        .map(|m| by_typicality(&points, m, params.neighbours))
        .collect();
    let mut next = vec![0usize; k];
    let mut out = Vec::with_capacity(n_select.min(n));
    while out.len() < n_select.min(n) {
        // Fewest picks, then most unpicked items, then lower id.
        let c = (0..k)
            .filter(|&c| next[c] < queues[c].len())
            .min_by_key(|&c| (next[c], std::cmp::Reverse(queues[c].len() - next[c]), c))
            .expect("fewer picks than items leaves an unpicked item");
        let (index, score) = queues[c][next[c]];
        next[c] += 1;
        out.push(Ranked { index, score });
    }
    Ok(out)
}

/// The cluster's members with their typicality, most typical first, ties by lower index.
fn by_typicality(points: &Points, members: Vec<usize>, m: usize) -> Vec<(usize, f64)> {
    if members.len() < 2 {
        return members.into_iter().map(|i| (i, 0.0)).collect();
    }
    let m = m.min(members.len() - 1);
    let nb = k_nearest(&points.select(&members), m);
    let mut out: Vec<(usize, f64)> = members
        .iter()
        .zip(nb.dist.rows())
        .map(|(&i, d)| (i, 1.0 / (d.mean().unwrap_or(0.0) + 1e-5)))
        .collect();
    out.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{rank, PeerMethod};
    use ndarray::array;

    /// A small blob of 3 around (100, 100) (indices 0-2, centre 1) and a big one of 7
    /// around (0, 0) (indices 3-9, centre 6).
    fn blobs() -> ndarray::Array2<f64> {
        array![
            [100.0, 100.0],
            [101.0, 100.0],
            [102.0, 100.0],
            [1.0, 0.0],
            [-1.0, 0.0],
            [0.0, 1.0],
            [0.0, 0.0],
            [0.0, -1.0],
            [1.0, 1.0],
            [-1.0, -1.0]
        ]
    }

    #[test]
    fn first_the_centre_of_the_bigger_blob_then_of_the_smaller() {
        // Mean distance of (0, 0) to the other six: (4 + 2√2)/6 ≈ 1.138, the smallest of its
        // blob; in the small blob (101, 100) has mean 1 against 1.5 for the ends.
        for seed in 0..10 {
            let r = typiclust(blobs().view(), &TypiClustParams::new(), 2, seed).unwrap();
            let picks: Vec<usize> = r.iter().map(|r| r.index).collect();
            assert_eq!(picks, vec![6, 1], "seed {seed}");
            let mean = (4.0 + 2.0 * 2f64.sqrt()) / 6.0;
            assert!((r[0].score - 1.0 / (mean + 1e-5)).abs() < 1e-9);
            assert!((r[1].score - 1.0 / (1.0 + 1e-5)).abs() < 1e-9);
        }
    }

    #[test]
    fn later_rounds_go_back_to_the_bigger_cluster() {
        let m = PeerMethod::TypiClust(TypiClustParams::new().clusters(2));
        let r = rank(&m, blobs().view(), 6, 0).unwrap();
        let picks: Vec<usize> = r.iter().map(|r| r.index).collect();
        assert_eq!(&picks[..2], &[6, 1]);
        // Rounds alternate big, small; the small blob is exhausted after 3 picks.
        assert!(picks[2] >= 3 && picks[3] < 3 && picks[4] >= 3 && picks[5] < 3);
        // (1, 1) and (-1, -1) are the least typical of the big blob: last from it.
        let r = rank(&m, blobs().view(), 10, 0).unwrap();
        let mut tail: Vec<usize> = r[8..].iter().map(|r| r.index).collect();
        tail.sort_unstable();
        assert_eq!(tail, vec![8, 9]);
    }

    #[test]
    fn singleton_clusters_and_bad_parameters() {
        let data = array![[0.0], [10.0], [11.0]];
        let r = typiclust(data.view(), &TypiClustParams::new(), 3, 0).unwrap();
        assert_eq!(r.len(), 3);
        assert!(typiclust(data.view(), &TypiClustParams::new().clusters(4), 1, 0).is_err());
        assert!(typiclust(data.view(), &TypiClustParams::new().neighbours(0), 1, 0).is_err());
    }
}
