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
pub(crate) fn for_each_block(a: &Points, b: &Points, f: impl FnMut(usize, ArrayView2<'_, f64>)) {
    blocks(a, b, false, block_rows(b.len()), f)
}

/// The upper triangle of the distances among `points`, half the work of
/// [`for_each_block`]: `f(start, d2)` gets `d2[(r, c)]`, the squared distance between items
/// `start + r` and `start + c`. Every pair (i, j) with i <= j is in the block of row i;
/// callers take `c >= r` (or `c > r` without the item itself), since the block's first
/// columns also repeat pairs of earlier rows of the same block.
pub(crate) fn for_each_upper_block(points: &Points, f: impl FnMut(usize, ArrayView2<'_, f64>)) {
    blocks(points, points, true, block_rows(points.len()), f)
}

/// The blocked loop with `rows` rows per block.
fn blocks(
    a: &Points,
    b: &Points,
    upper: bool,
    rows: usize,
    mut f: impl FnMut(usize, ArrayView2<'_, f64>),
) {
    let (n, m) = (a.len(), b.len());
    if n == 0 || m == 0 {
        return;
    }
    let rows = rows.clamp(1, n);
    let mut buf = Array2::<f64>::zeros((rows, m));
    let mut start = 0;
    while start < n {
        let end = (start + rows).min(n);
        let first = if upper { start } else { 0 };
        let mut d2 = buf.slice_mut(s![..end - start, ..m - first]);
        // d2 = -2 A_blk B^T, then add the norms and clamp.
        general_mat_mul(
            -2.0,
            &a.x.slice(s![start..end, ..]),
            &b.x.slice(s![first.., ..]).t(),
            0.0,
            &mut d2,
        );
        for (r, mut row) in d2.outer_iter_mut().enumerate() {
            let an = a.norms[start + r];
            row.iter_mut()
                .zip(b.norms.slice(s![first..]))
                .for_each(|(v, &bn)| *v = ((an + bn) + *v).max(0.0));
        }
        f(start, d2.view());
        start = end;
    }
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
    let mut best: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
    for_each_block(points, points, |start, d2| {
        for (r, row) in d2.outer_iter().enumerate() {
            let i = start + r;
            // The k nearest so far, sorted by (distance, index). Scanning j upwards, an item
            // equally distant to one kept has a higher index, so it goes after it: ties fall
            // to the lower index without comparing indices.
            best.clear();
            for (j, &v) in row.iter().enumerate() {
                if j == i || (best.len() == k && v >= best[k - 1].0) {
                    continue;
                }
                let at = best.partition_point(|e| e.0 <= v);
                best.insert(at, (v, j));
                best.truncate(k);
            }
            for (c, &(v, j)) in best.iter().enumerate() {
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
    use ndarray::{array, Array2};

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
        let mut seen = 0;
        for_each_upper_block(&p, |start, d2| {
            for (r, row) in d2.outer_iter().enumerate() {
                for (c, &v) in row.iter().enumerate().skip(r) {
                    let (i, j) = (start + r, start + c);
                    let diff = &data.row(i) - &data.row(j);
                    assert!((v - diff.dot(&diff)).abs() < 1e-12);
                    seen += 1;
                }
            }
        });
        assert_eq!(seen, 10);
    }

    #[test]
    fn several_blocks_cover_every_pair_once() {
        let data = Array2::from_shape_fn((7, 3), |(i, f)| {
            ((i * 5 + f * 3) % 7) as f64 - 2.5 * f as f64
        });
        let p = Points::centred(data.view());
        for upper in [false, true] {
            let mut seen = Array2::<usize>::zeros((7, 7));
            blocks(&p, &p, upper, 3, |start, d2| {
                for (r, row) in d2.outer_iter().enumerate() {
                    let skip = if upper { r } else { 0 };
                    let first = if upper { start } else { 0 };
                    for (c, &v) in row.iter().enumerate().skip(skip) {
                        let (i, j) = (start + r, first + c);
                        let diff = &data.row(i) - &data.row(j);
                        assert!((v - diff.dot(&diff)).abs() < 1e-12, "{i}, {j}");
                        seen[(i, j)] += 1;
                    }
                }
            });
            for ((i, j), &count) in seen.indexed_iter() {
                let want = usize::from(!upper || i <= j);
                assert_eq!(count, want, "upper {upper}: pair {i}, {j}");
            }
        }
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

    #[test]
    fn neighbours_match_a_full_sort_on_a_grid_full_of_ties() {
        // 16 items on a 4 x 4 integer grid: the mean is a multiple of 1/16, so every
        // distance is exact and ties are real.
        let data = Array2::from_shape_fn((16, 2), |(i, f)| {
            if f == 0 {
                (i % 4) as f64
            } else {
                (i / 4) as f64
            }
        });
        for k in [1, 3, 5, 15] {
            let nb = k_nearest(&Points::centred(data.view()), k);
            for i in 0..16 {
                let mut all: Vec<(f64, usize)> = (0..16)
                    .filter(|&j| j != i)
                    .map(|j| {
                        let d = &data.row(i) - &data.row(j);
                        (d.dot(&d), j)
                    })
                    .collect();
                all.sort_by(|a, b| a.0.total_cmp(&b.0).then(a.1.cmp(&b.1)));
                let want: Vec<usize> = all[..k].iter().map(|e| e.1).collect();
                assert_eq!(nb.idx.row(i).to_vec(), want, "item {i}, k = {k}");
            }
        }
    }
}
