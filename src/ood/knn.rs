//! Exact nearest neighbours of query items among reference items by inner product (cosine
//! similarity for unit vectors), found by brute force: one BLAS matrix product per block of
//! queries against all references, then a partial sort per query. O(n_q n_r d) flops at BLAS
//! speed and O(block n_r) memory: 10^4 x 10^4 items of 256 dimensions take about a second.
//! (The peers' `distance` module does the same for Euclidean distances among the items of
//! one collection; here queries are never references, and similarity needs no norm terms.)

use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayView2};

/// Similarities held at once (16 MiB of f64).
const BLOCK_ELEMS: usize = 1 << 21;

/// The k most similar references of each query, most similar first.
pub(crate) struct QueryNeighbours {
    /// `idx[(q, r)]`: the reference with the (r+1)-th largest inner product with query q.
    pub(crate) idx: Array2<usize>,
    /// `sim[(q, r)]`: that inner product.
    pub(crate) sim: Array2<f64>,
}

/// The `k` references (rows of `reference`) with the largest inner product with each query
/// (row of `queries`); ties go to the lower reference index. Needs `1 <= k <= n_r`.
pub(crate) fn most_similar(
    queries: ArrayView2<f64>,
    reference: ArrayView2<f64>,
    k: usize,
) -> QueryNeighbours {
    let (nq, nr) = (queries.nrows(), reference.nrows());
    debug_assert!(k >= 1 && k <= nr);
    let mut idx = Array2::<usize>::zeros((nq, k));
    let mut sim = Array2::<f64>::zeros((nq, k));
    let rows = (BLOCK_ELEMS / nr.max(1)).clamp(1, 4096);
    let mut block = Array2::<f64>::zeros((rows.min(nq.max(1)), nr));
    let mut best: Vec<(f64, usize)> = Vec::with_capacity(k + 1);
    let mut start = 0;
    while start < nq {
        let end = (start + rows).min(nq);
        let mut s_blk = block.slice_mut(s![..end - start, ..]);
        general_mat_mul(
            1.0,
            &queries.slice(s![start..end, ..]),
            &reference.t(),
            0.0,
            &mut s_blk,
        );
        for (r, row) in s_blk.outer_iter().enumerate() {
            // The k largest so far, sorted by similarity, descending. Scanning references
            // upwards, one equal to a kept similarity goes after it: ties to the lower index.
            best.clear();
            for (j, &v) in row.iter().enumerate() {
                if best.len() == k && v <= best[k - 1].0 {
                    continue;
                }
                let at = best.partition_point(|e| e.0 >= v);
                best.insert(at, (v, j));
                best.truncate(k);
            }
            for (c, &(v, j)) in best.iter().enumerate() {
                idx[(start + r, c)] = j;
                sim[(start + r, c)] = v;
            }
        }
        start = end;
    }
    QueryNeighbours { idx, sim }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn neighbours_by_inner_product_with_ties_to_the_lower_index() {
        let reference = array![[1.0, 0.0], [0.0, 1.0], [1.0, 0.0], [0.6, 0.8]];
        let queries = array![[1.0, 0.0], [0.0, 2.0]];
        let nb = most_similar(queries.view(), reference.view(), 3);
        assert_eq!(nb.idx.row(0).to_vec(), vec![0, 2, 3]);
        assert_eq!(nb.sim.row(0).to_vec(), vec![1.0, 1.0, 0.6]);
        assert_eq!(nb.idx.row(1).to_vec(), vec![1, 3, 0]);
        assert_eq!(nb.sim.row(1).to_vec(), vec![2.0, 1.6, 0.0]);
    }

    #[test]
    fn blocks_agree_with_a_full_sort() {
        // More queries than one block holds (the block is 2^21 / 3000 = 699 rows).
        let (nq, nr, d) = (1500, 3000, 3);
        // Small integers: every product is exact, so ties are real and found alike.
        let f = |i: usize, j: usize| ((i * 31 + j * 17) % 23) as f64 - 11.0;
        let queries = Array2::from_shape_fn((nq, d), |(i, j)| f(i, j + 5));
        let reference = Array2::from_shape_fn((nr, d), |(i, j)| f(i * 3, j));
        let nb = most_similar(queries.view(), reference.view(), 4);
        for q in [0, 698, 699, 700, 1499] {
            let mut all: Vec<(f64, usize)> = (0..nr)
                .map(|j| (queries.row(q).dot(&reference.row(j)), j))
                .collect();
            all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            let want: Vec<usize> = all[..4].iter().map(|e| e.1).collect();
            assert_eq!(nb.idx.row(q).to_vec(), want, "query {q}");
        }
    }
}
