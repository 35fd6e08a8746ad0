//! Nearest-neighbour outlier scores: the distance to the k-th nearest neighbour, and the
//! local outlier factor (Breunig, Kriegel, Ng & Sander, SIGMOD 2000).
//!
//! Both use exact Euclidean neighbours found by brute force, one matrix product per block of
//! rows (memory O(block · n)). An item is not its own neighbour; among equally distant
//! items the lower index is the nearer, so every item has exactly k neighbours.
//!
//! LOF with MinPts = k: with `N(p)` the k neighbours of p and `kd(o)` the distance from o
//! to its k-th neighbour,
//!
//! - reachability distance: `reach(p, o) = max(kd(o), d(p, o))`;
//! - local reachability density: `lrd(p) = 1 / mean_{o ∈ N(p)} reach(p, o)`;
//! - `LOF(p) = mean_{o ∈ N(p)} lrd(o) / lrd(p)`: about 1 inside a cluster, larger for an
//!   item less dense than its neighbours.
//!
//! Breunig et al. let N(p) include every item tied with the k-th; this takes exactly k
//! (ties by lower index), as scikit-learn does. As scikit-learn, `lrd` is
//! `1 / (mean + 1e-10)` so that duplicates (mean 0) give a large finite density instead of
//! infinity.
//!
//! ```
//! use demud::peers::{knn_distance_scores, lof_scores, KnnParams};
//! use ndarray::array;
//!
//! let data = array![[0.0], [1.0], [3.0], [6.0], [15.0]];
//! let p = KnnParams::new(2);
//! assert_eq!(knn_distance_scores(data.view(), &p).unwrap().to_vec(), vec![3.0, 2.0, 3.0, 5.0, 12.0]);
//! let lof = lof_scores(data.view(), &p).unwrap();
//! assert!((lof[4] - 273.0 / 80.0).abs() < 1e-8);
//! ```

use super::check_data;
use super::distance::{k_nearest, Points};
use crate::error::{DemudError, Result};
use ndarray::{Array1, ArrayView2};
use serde::{Deserialize, Serialize};

/// The neighbourhood size k of the kNN-distance and LOF scores (MinPts for LOF).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct KnnParams {
    k: usize,
}

impl Default for KnnParams {
    /// k = 10.
    fn default() -> Self {
        KnnParams { k: 10 }
    }
}

impl KnnParams {
    /// k neighbours (1 <= k < n, checked against the collection).
    pub fn new(k: usize) -> Self {
        KnnParams { k }
    }
    /// The number of neighbours.
    pub fn k(&self) -> usize {
        self.k
    }

    pub(crate) fn check(&self, n: usize) -> Result<()> {
        if self.k == 0 {
            return Err(DemudError::invalid("k", "must be at least 1"));
        }
        if self.k >= n {
            return Err(DemudError::invalid(
                "k",
                format!(
                    "k = {} needs more than k items (an item is not its own neighbour); the collection has {n}",
                    self.k
                ),
            ));
        }
        Ok(())
    }
}

/// The Euclidean distance of every item to its k-th nearest neighbour.
pub fn knn_distance_scores(data: ArrayView2<'_, f64>, params: &KnnParams) -> Result<Array1<f64>> {
    check_data(data)?;
    params.check(data.nrows())?;
    let nb = k_nearest(&Points::centred(data), params.k);
    Ok(nb.dist.column(params.k - 1).to_owned())
}

/// The local outlier factor of every item with MinPts = k.
pub fn lof_scores(data: ArrayView2<'_, f64>, params: &KnnParams) -> Result<Array1<f64>> {
    check_data(data)?;
    params.check(data.nrows())?;
    let k = params.k;
    let nb = k_nearest(&Points::centred(data), k);
    let kdist = nb.dist.column(k - 1);
    let lrd: Array1<f64> = nb
        .idx
        .rows()
        .into_iter()
        .zip(nb.dist.rows())
        .map(|(idx, dist)| {
            let reach: f64 = idx.iter().zip(dist).map(|(&o, &d)| d.max(kdist[o])).sum();
            1.0 / (reach / k as f64 + 1e-10)
        })
        .collect();
    Ok(nb
        .idx
        .rows()
        .into_iter()
        .zip(&lrd)
        .map(|(idx, &own)| idx.iter().map(|&o| lrd[o]).sum::<f64>() / k as f64 / own)
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::peers::{rank, PeerMethod};
    use ndarray::array;

    /// On a line at 0, 1, 3, 6, 15 (mean 5, so the centred values stay integers and every
    /// distance is exact) with k = 2, the neighbours are
    /// 0: {1, 3}, 1: {0, 3}, 3: {1, 0} (0 and 6 both at 3: lower index), 6: {3, 1},
    /// 15: {6, 3}; k-distances 3, 2, 3, 5, 12.
    fn line() -> ndarray::Array2<f64> {
        array![[0.0], [1.0], [3.0], [6.0], [15.0]]
    }

    #[test]
    fn knn_distance_on_a_line() {
        let p = KnnParams::new(2);
        let s = knn_distance_scores(line().view(), &p).unwrap();
        assert_eq!(s.to_vec(), vec![3.0, 2.0, 3.0, 5.0, 12.0]);
        let order: Vec<usize> = rank(&PeerMethod::KnnDistance(p), line().view(), 5, 0)
            .unwrap()
            .iter()
            .map(|r| r.index)
            .collect();
        assert_eq!(order, vec![4, 3, 0, 2, 1]);
    }

    #[test]
    fn lof_on_a_line_matches_the_hand_computation() {
        // reach(p, o) = max(kd(o), d(p, o)):
        // lrd(0)  = 1 / mean(max(2,1), max(3,3))   = 1/2.5  = 2/5
        // lrd(1)  = 1 / mean(max(3,1), max(3,2))   = 1/3
        // lrd(3)  = 1 / mean(max(2,2), max(3,3))   = 2/5
        // lrd(6)  = 1 / mean(max(3,3), max(2,5))   = 1/4
        // lrd(15) = 1 / mean(max(5,9), max(3,12))  = 2/21
        // LOF(p) = mean lrd(N(p)) / lrd(p):
        // 0: (1/3 + 2/5)/2 / (2/5) = 11/12;  1: (2/5 + 2/5)/2 / (1/3) = 6/5;
        // 3: (1/3 + 2/5)/2 / (2/5) = 11/12;  6: (2/5 + 1/3)/2 / (1/4) = 22/15;
        // 15: (1/4 + 2/5)/2 / (2/21) = 273/80.
        let s = lof_scores(line().view(), &KnnParams::new(2)).unwrap();
        let expected = [
            11.0 / 12.0,
            6.0 / 5.0,
            11.0 / 12.0,
            22.0 / 15.0,
            273.0 / 80.0,
        ];
        for (i, (a, e)) in s.iter().zip(expected).enumerate() {
            assert!((a - e).abs() < 1e-8, "item {i}: {a} vs {e}");
        }
        let order: Vec<usize> = rank(&PeerMethod::Lof(KnnParams::new(2)), line().view(), 5, 0)
            .unwrap()
            .iter()
            .map(|r| r.index)
            .collect();
        assert_eq!(order, vec![4, 3, 1, 0, 2]);
    }

    #[test]
    fn k_must_be_below_n() {
        assert!(knn_distance_scores(line().view(), &KnnParams::new(5)).is_err());
        assert!(lof_scores(line().view(), &KnnParams::new(0)).is_err());
        assert!(lof_scores(line().view(), &KnnParams::new(4)).is_ok());
    }

    #[test]
    fn duplicates_give_finite_lof() {
        let data = array![[1.0], [1.0], [1.0], [5.0]];
        let s = lof_scores(data.view(), &KnnParams::new(2)).unwrap();
        assert!(s.iter().all(|v| v.is_finite()));
        assert!(s[3] > s[0]);
    }
}
