//! Exact Euclidean distances by brute force, one matrix product per block of rows.
//!
//! `||a - b||² = ||a||² + ||b||² - 2 a·b`: the cross terms of a block of rows against all
//! items are one BLAS matrix product, so the work is O(n² d) at BLAS speed while the memory
//! is O(block · n). The expansion cancels when the items are far from the origin compared
//! with their distances, so the items are first centred on their mean (distances do not
//! change under translation) and the result is clamped at 0 (rounding can make it slightly
//! negative for near-duplicates).

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array1, Array2, ArrayView1, ArrayView2, Axis};
use std::cmp::Ordering;

/// Target number of distances held at once (16 MiB of f64).
const BLOCK_ELEMS: usize = 1 << 21;

/// Items centred on their mean, with their squared norms, ready for blocked distances.
pub(crate) struct Points {
    /// The centred items, one per row (standard layout).
    pub(crate) x: Array2<f64>,
    /// `||x_i||²` of each centred item.
    pub(crate) norms: Array1<f64>,
    /// The mean that was subtracted.
    pub(crate) mean: Array1<f64>,
}

impl Points {
    /// Centres `data` on its mean.
    pub(crate) fn centred(data: ArrayView2<'_, f64>) -> Self {
        let mean = data
            .mean_axis(Axis(0))
            .unwrap_or_else(|| Array1::zeros(data.ncols()));
        let x = &data - &mean;
        Self::from_centred(x, mean)
    }

    /// Wraps items already expressed relative to `mean`.
    pub(crate) fn from_centred(x: Array2<f64>, mean: Array1<f64>) -> Self {
        let x = if x.is_standard_layout() {
            x
        } else {
            x.as_standard_layout().into_owned()
        };
        let norms = x.rows().into_iter().map(|r| r.dot(&r)).collect();
        Points { x, norms, mean }
    }

    /// The subset of these items with the given indices (same centring).
    pub(crate) fn select(&self, indices: &[usize]) -> Self {
        Points {
            x: self.x.select(Axis(0), indices),
            norms: indices.iter().map(|&i| self.norms[i]).collect(),
            mean: self.mean.clone(),
        }
    }

    /// Number of items.
    pub(crate) fn len(&self) -> usize {
        self.x.nrows()
    }

    /// Squared distances of every item to one point given relative to the same mean.
    pub(crate) fn sq_dists_to(&self, p: ArrayView1<'_, f64>) -> Array1<f64> {
        let pn = p.dot(&p);
        let mut g = self.x.dot(&p);
        g.iter_mut()
            .zip(&self.norms)
            .for_each(|(g, &xn)| *g = ((xn + pn) - 2.0 * *g).max(0.0));
        g
    }
}

/// Rows per block so that a block of distances to `cols` items holds about `BLOCK_ELEMS`.
fn block_rows(cols: usize) -> usize {
    (BLOCK_ELEMS / cols.max(1)).clamp(1, 4096)
}

/// Calls `f(start, d2)` for consecutive blocks of rows of `a`, where `d2[(r, j)]` is the
/// squared distance between item `start + r` of `a` and item `j` of `b` (both centred on the
/// same mean). One matrix product per block.
pub(crate) fn for_each_block(
    a: &Points,
    b: &Points,
    mut f: impl FnMut(usize, ArrayView2<'_, f64>),
) {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return;
    }
    let rows = block_rows(m).min(n);
    let mut buf = Array2::<f64>::zeros((rows, m));
    let mut start = 0;
    while start < n {
        let end = (start + rows).min(n);
        let mut d2 = buf.slice_mut(s![..end - start, ..]);
        // d2 = -2 A_blk B^T, then add the norms and clamp.
        general_mat_mul(-2.0, &a.x.slice(s![start..end, ..]), &b.x.t(), 0.0, &mut d2);
        for (r, mut row) in d2.outer_iter_mut().enumerate() {
            let an = a.norms[start + r];
            row.iter_mut()
                .zip(&b.norms)
                .for_each(|(v, &bn)| *v = ((an + bn) + *v).max(0.0));
        }
        f(start, d2.view());
        start = end;
    }
}

/// Orders (squared distance, index) pairs: nearer first, ties by lower index.
pub(crate) fn by_distance_then_index(a: &(f64, usize), b: &(f64, usize)) -> Ordering {
    a.0.total_cmp(&b.0).then(a.1.cmp(&b.1))
}

/// The k nearest neighbours of every item among the others (an item is not its own
/// neighbour), nearest first, ties by lower index.
pub(crate) struct Neighbours {
    /// `idx[(i, r)]`: the (r+1)-th nearest neighbour of item i.
    pub(crate) idx: Array2<usize>,
    /// `dist[(i, r)]`: its Euclidean distance to item i.
    pub(crate) dist: Array2<f64>,
}

/// Exact k-nearest-neighbour lists; needs `1 <= k < points.len()`.
pub(crate) fn k_nearest(points: &Points, k: usize) -> Neighbours {
    let n = points.len();
    debug_assert!(k >= 1 && k < n);
    let mut idx = Array2::<usize>::zeros((n, k));
    let mut dist = Array2::<f64>::zeros((n, k));
    let mut cand: Vec<(f64, usize)> = Vec::with_capacity(n);
    for_each_block(points, points, |start, d2| {
        for (r, row) in d2.outer_iter().enumerate() {
            let i = start + r;
            cand.clear();
            cand.extend(
                row.iter()
                    .enumerate()
                    .filter(|&(j, _)| j != i)
                    .map(|(j, &v)| (v, j)),
            );
            // The k smallest by (distance, index), then in order.
            if k < cand.len() {
                cand.select_nth_unstable_by(k - 1, by_distance_then_index);
            }
            let nearest = &mut cand[..k];
            nearest.sort_unstable_by(by_distance_then_index);
            for (c, &(v, j)) in nearest.iter().enumerate() {
                idx[(i, c)] = j;
                dist[(i, c)] = v.sqrt();
            }
        }
    });
    Neighbours { idx, dist }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn blocked_distances_match_the_definition() {
        let data = array![[1.0, 2.0], [4.0, 6.0], [1.0, 2.0], [-3.0, 0.5]];
        let p = Points::centred(data.view());
        let mut seen = 0;
        for_each_block(&p, &p, |start, d2| {
            for (r, row) in d2.outer_iter().enumerate() {
                for (j, &v) in row.iter().enumerate() {
                    let diff = &data.row(start + r) - &data.row(j);
                    assert!((v - diff.dot(&diff)).abs() < 1e-12);
                    seen += 1;
                }
            }
        });
        assert_eq!(seen, 16);
    }

    #[test]
    fn neighbours_exclude_the_item_and_break_ties_by_index() {
        // On a line at 0, 1, 2: item 1 has both others at distance 1.
        let data = array![[0.0], [1.0], [2.0]];
        let nb = k_nearest(&Points::centred(data.view()), 2);
        assert_eq!(nb.idx.row(1).to_vec(), vec![0, 2]);
        assert_eq!(nb.idx.row(0).to_vec(), vec![1, 2]);
        assert_eq!(nb.dist.row(0).to_vec(), vec![1.0, 2.0]);
    }
}
