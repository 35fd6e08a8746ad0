//! Farthest-first traversal (Gonzalez 1985; the "k-center greedy" of Sener & Savarese 2018).
//!
//! The first pick is the item farthest from the collection mean; each next pick is the item
//! whose distance to its nearest picked item is largest, which greedily 2-approximates the
//! k-center problem. The score of a pick is that distance (for the first, its distance to
//! the mean). Once every distinct point is picked the remaining items score 0 and follow in
//! index order. Each pick costs one matrix-vector product, O(n d).
//!
//! ```
//! use demud::peers::farthest_first;
//! use ndarray::array;
//!
//! let data = array![[0.0], [1.0], [2.0], [3.0], [10.0]];
//! let order = farthest_first(data.view(), 5).unwrap();
//! let picks: Vec<usize> = order.iter().map(|r| r.index).collect();
//! assert_eq!(picks, vec![4, 0, 3, 1, 2]);
//! ```

use super::distance::Points;
use super::{check_data, Ranked};
use crate::error::{DemudError, Result};
use ndarray::{Array1, ArrayView2};

/// The first `min(n_select, n)` items of the farthest-first traversal.
pub fn farthest_first(data: ArrayView2<'_, f64>, n_select: usize) -> Result<Vec<Ranked>> {
    check_data(data)?;
    if n_select == 0 {
        return Err(DemudError::invalid(
            "n_select",
            "must select at least 1 item",
        ));
    }
    let points = Points::centred(data);
    let n = points.len();
    // Squared distance of every item to its nearest pick; the mean (origin of the centred
    // items) stands for the nearest pick before the first.
    let mut nearest: Array1<f64> = points.norms.clone();
    let mut picked = vec![false; n];
    let mut out = Vec::with_capacity(n_select.min(n));
    for _ in 0..n_select.min(n) {
        // Largest distance among the unpicked, ties by lower index.
        let mut best: Option<usize> = None;
        for i in (0..n).filter(|&i| !picked[i]) {
            if best.is_none_or(|b| nearest[i] > nearest[b]) {
                best = Some(i);
            }
        }
        let Some(i) = best else { break };
        picked[i] = true;
        out.push(Ranked {
            index: i,
            score: nearest[i].sqrt(),
        });
        let to_pick = points.sq_dists_to(points.x.row(i));
        if out.len() == 1 {
            nearest.assign(&to_pick);
        } else {
            nearest.zip_mut_with(&to_pick, |a, &b| *a = a.min(b));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn points_on_a_line_in_exact_order() {
        // Mean 16/5 = 3.2: 10 is farthest (6.8). Then 0 (10 from 10), then 3 (3 from 0),
        // then 1 and 2 tie at 1 from their nearest picks: the lower index first.
        let data = array![[0.0], [1.0], [2.0], [3.0], [10.0]];
        let order = farthest_first(data.view(), 10).unwrap();
        let picks: Vec<usize> = order.iter().map(|r| r.index).collect();
        assert_eq!(picks, vec![4, 0, 3, 1, 2]);
        let expected = [6.8, 10.0, 3.0, 1.0, 1.0];
        for (r, e) in order.iter().zip(expected) {
            assert!((r.score - e).abs() < 1e-12, "{order:?}");
        }
    }

    #[test]
    fn duplicates_follow_in_index_order_with_score_zero() {
        let data = array![[0.0, 0.0], [0.0, 0.0], [4.0, 0.0], [0.0, 0.0]];
        let order = farthest_first(data.view(), 4).unwrap();
        let picks: Vec<usize> = order.iter().map(|r| r.index).collect();
        assert_eq!(picks, vec![2, 0, 1, 3]);
        assert_eq!(order[2].score, 0.0);
        assert_eq!(order[3].score, 0.0);
    }
}
