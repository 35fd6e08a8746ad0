//! Nearest neighbours of query items among reference items by inner product (cosine
//! similarity for unit vectors).
//!
//! - **Exact** ([`most_similar`]): brute force, one BLAS matrix product per block of queries
//!   against all references, then a partial sort per query. O(n_q n_r d) flops at BLAS speed
//!   and O(block n_r) memory: 10^4 x 10^4 items of 256 dimensions take about a second.
//! - **HNSW** ([`GraphIndex`]): a hierarchical navigable small-world graph (Malkov & Yashunin
//!   2018, the `instant-distance` crate) over the references, searched in roughly
//!   O(ef log n_r d) per query instead of O(n_r d). It pays when the references are many
//!   (the default switches at 10^6, [`NeighbourSearch::default`]): at 10^6 references of 256
//!   dimensions the exact search costs 0.5 Gflop per query. The graph proposes `ef_search`
//!   candidates; their similarities are then recomputed exactly in f64 and sorted as the
//!   exact search sorts them, so the measures see exact similarities of the neighbours found,
//!   and only a true neighbour the graph misses can differ from the exact answer.
//!
//! (The peers' `distance` module does the exact search for Euclidean distances among the items
//! of one collection; here queries are never references, and similarity needs no norm terms.)

use crate::{DemudError, Result};
use instant_distance::{Builder, HnswMap, Point, Search};
use ndarray::linalg::general_mat_mul;
use ndarray::{s, Array2, ArrayView2, Axis};
use std::sync::Arc;

/// Similarities held at once (16 MiB of f64).
const BLOCK_ELEMS: usize = 1 << 21;

/// The k most similar references of each query, most similar first.
#[derive(Clone, Debug)]
pub struct QueryNeighbours {
    /// `idx[(q, r)]`: the reference with the (r+1)-th largest inner product with query q.
    pub idx: Array2<usize>,
    /// `sim[(q, r)]`: that inner product.
    pub sim: Array2<f64>,
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

/// How the k nearest training items of each query are found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NeighbourSearch {
    /// Exact below `threshold` reference items, an HNSW graph with the default settings
    /// ([`NeighbourSearch::hnsw`]) built as `build` says from `threshold` on.
    Auto {
        /// The number of reference items from which the graph is used.
        threshold: usize,
        /// How the graph is built when it is used.
        build: GraphBuild,
    },
    /// Always exact (BLAS matrix products).
    Exact,
    /// Always an HNSW graph.
    Hnsw {
        /// Candidates kept while a point is inserted (larger: a better graph, a slower build).
        ef_construction: usize,
        /// Candidates kept while a query is searched (larger: better recall, slower queries);
        /// raised to the number of neighbours asked for when it is below it.
        ef_search: usize,
        /// Seed of the layer each reference is put on.
        seed: u64,
        /// On all cores, or on one so that the seed fixes the graph.
        build: GraphBuild,
    },
}

/// How the HNSW graph is built.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum GraphBuild {
    /// The points of a layer are inserted in parallel on rayon's pool (all cores): each
    /// insertion reads the neighbour lists the others are writing, so two builds may link a
    /// few points differently, and a query near them may get another approximate neighbour.
    Parallel,
    /// On one thread: the same seed gives the same graph and the same answers on every
    /// machine, at the price of using one core (here ~1-2 ms per item of 256 dimensions,
    /// about half an hour per 10^6 items).
    Reproducible,
}

impl Default for NeighbourSearch {
    /// Exact up to 10^6 reference items: there a block of queries against every reference
    /// is a fast matrix product, and the answer is exact.
    fn default() -> Self {
        NeighbourSearch::Auto {
            threshold: 1_000_000,
            build: GraphBuild::Parallel,
        }
    }
}

impl NeighbourSearch {
    /// An HNSW graph with `ef_construction` = 200 and `ef_search` = 256, seed 0, built in
    /// parallel (recall at k = 30 above 0.95 on the tests' clustered data, where 100 and 128
    /// gave 0.94).
    pub fn hnsw() -> Self {
        NeighbourSearch::Hnsw {
            ef_construction: 200,
            ef_search: 256,
            seed: 0,
            build: GraphBuild::Parallel,
        }
    }

    /// What the search is for `n_references` items: `Exact` or `Hnsw`.
    pub fn resolve(self, n_references: usize) -> Self {
        match self {
            NeighbourSearch::Auto { threshold, build } if n_references >= threshold => {
                match Self::hnsw() {
                    NeighbourSearch::Hnsw {
                        ef_construction,
                        ef_search,
                        seed,
                        ..
                    } => NeighbourSearch::Hnsw {
                        ef_construction,
                        ef_search,
                        seed,
                        build,
                    },
                    other => other,
                }
            }
            NeighbourSearch::Auto { .. } => NeighbourSearch::Exact,
            other => other,
        }
    }

    pub(crate) fn check(&self) -> Result<()> {
        match *self {
            NeighbourSearch::Auto { threshold: 0, .. } => Err(DemudError::invalid(
                "neighbour_search",
                "the threshold of the HNSW graph must be at least 1",
            )),
            NeighbourSearch::Hnsw {
                ef_construction,
                ef_search,
                ..
            } if ef_construction == 0 || ef_search == 0 => Err(DemudError::invalid(
                "neighbour_search",
                "ef_construction and ef_search must be at least 1",
            )),
            _ => Ok(()),
        }
    }

    /// Builds what the search for `k` neighbours needs over `reference` (one item per row;
    /// unit vectors, for the graph's cosine distance): nothing for the exact search, the graph
    /// otherwise (searched with at least `k` candidates). Needs `1 <= k <= ` the references.
    pub fn index(self, reference: ArrayView2<f64>, k: usize) -> Result<NeighbourIndex> {
        self.check()?;
        check_k(k, reference.nrows())?;
        Ok(match self.resolve(reference.nrows()) {
            NeighbourSearch::Hnsw {
                ef_construction,
                ef_search,
                seed,
                build,
            } => NeighbourIndex::Graph(GraphIndex::build(
                reference,
                ef_construction,
                ef_search.max(k),
                seed,
                build,
            )?),
            _ => NeighbourIndex::Exact,
        })
    }
}

/// `1 <= k <= n_references`, or an error naming `k`.
fn check_k(k: usize, n_references: usize) -> Result<()> {
    if k == 0 || k > n_references {
        return Err(DemudError::invalid(
            "k",
            format!("{k} neighbours asked of {n_references} reference items"),
        ));
    }
    Ok(())
}

/// The references prepared for [`NeighbourIndex::most_similar`] by [`NeighbourSearch::index`].
pub enum NeighbourIndex {
    /// Brute force over the reference matrix.
    Exact,
    /// An HNSW graph over the references.
    Graph(GraphIndex),
}

impl NeighbourIndex {
    /// The `k` references (the rows of `reference` the index was built on) with the largest
    /// inner product with each query (row of `queries`), most similar first, ties to the lower
    /// index: exactly, or among the graph's candidates, their similarities exact.
    pub fn most_similar(
        &self,
        queries: ArrayView2<f64>,
        reference: ArrayView2<f64>,
        k: usize,
    ) -> Result<QueryNeighbours> {
        if queries.ncols() != reference.ncols() {
            return Err(DemudError::DimensionMismatch {
                what: "the queries",
                expected: reference.ncols(),
                found: queries.ncols(),
            });
        }
        check_k(k, reference.nrows())?;
        Ok(match self {
            NeighbourIndex::Exact => most_similar(queries, reference, k),
            NeighbourIndex::Graph(graph) => graph.most_similar(queries, reference, k),
        })
    }
}

/// One row of a shared f32 matrix of unit vectors: the graph's points share one buffer (a
/// point is 24 bytes, not a copy of its row). The distance is `1 − cos`.
#[derive(Clone)]
struct UnitRow {
    values: Arc<[f32]>,
    row: u32,
    dims: u32,
}

impl UnitRow {
    fn slice(&self) -> &[f32] {
        let (d, r) = (self.dims as usize, self.row as usize);
        &self.values[r * d..(r + 1) * d]
    }
}

impl Point for UnitRow {
    fn distance(&self, other: &Self) -> f32 {
        1.0 - dot_f32(self.slice(), other.slice())
    }
}

/// `a . b` for the graph's distance, the build's and the search's inner loop (75% of the
/// build in a profile): eight running sums over blocks of eight, since one sum is a chain of
/// dependent additions the compiler may not reorder (floating-point addition is not
/// associative), while eight independent ones fill a vector register. (An AVX2 build of the
/// same loop, chosen at run time, measured no faster here: the graph's bookkeeping around it
/// weighs as much.)
fn dot_f32(a: &[f32], b: &[f32]) -> f32 {
    let mut sums = [0.0f32; 8];
    let (a8, b8) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = a8
        .remainder()
        .iter()
        .zip(b8.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in a8.zip(b8) {
        let x: &[f32; 8] = x.try_into().expect("a block of eight");
        let y: &[f32; 8] = y.try_into().expect("a block of eight");
        for l in 0..8 {
            sums[l] += x[l] * y[l];
        }
    }
    sums.iter().sum::<f32>() + tail
}

/// An HNSW graph over the reference items (as f32).
pub struct GraphIndex {
    map: HnswMap<UnitRow, u32>,
}

impl GraphIndex {
    /// Builds the graph over the rows of `reference` (unit vectors, or the distance is not a
    /// cosine distance), on all cores or on one ([`GraphBuild`]).
    fn build(
        reference: ArrayView2<f64>,
        ef_construction: usize,
        ef_search: usize,
        seed: u64,
        build: GraphBuild,
    ) -> Result<Self> {
        let (n, d) = reference.dim();
        assert!(
            n < u32::MAX as usize && d < u32::MAX as usize,
            "too many items"
        );
        let values: Arc<[f32]> = reference.iter().map(|&v| v as f32).collect();
        let points = (0..n)
            .map(|row| UnitRow {
                values: Arc::clone(&values),
                row: row as u32,
                dims: d as u32,
            })
            .collect();
        let ids = (0..n as u32).collect();
        let builder = Builder::default()
            .ef_construction(ef_construction)
            .ef_search(ef_search)
            .seed(seed);
        let map = match build {
            GraphBuild::Parallel => builder.build(points, ids),
            GraphBuild::Reproducible => {
                // A pool of one thread: rayon's parallel loops then run in one fixed order.
                let pool = rayon::ThreadPoolBuilder::new()
                    .num_threads(1)
                    .build()
                    .map_err(|e| {
                        DemudError::invalid(
                            "neighbour_search",
                            format!("the reproducible HNSW build could not set up its pool: {e}"),
                        )
                    })?;
                pool.install(|| builder.build(points, ids))
            }
        };
        Ok(GraphIndex { map })
    }

    /// The `k` most similar references of each query among the graph's `ef_search`
    /// candidates, by their exact f64 inner product, most similar first, ties to the lower
    /// index (the order of [`most_similar`]). A query for which the graph finds fewer than `k`
    /// candidates is answered by the exact search.
    fn most_similar(
        &self,
        queries: ArrayView2<f64>,
        reference: ArrayView2<f64>,
        k: usize,
    ) -> QueryNeighbours {
        let nq = queries.nrows();
        let d = queries.ncols();
        let mut idx = Array2::<usize>::zeros((nq, k));
        let mut sim = Array2::<f64>::zeros((nq, k));
        // The search keeps ef candidates; a search object sized for more is made once.
        let mut search = Search::default();
        let mut candidates: Vec<(f64, usize)> = Vec::new();
        for (q, query) in queries.rows().into_iter().enumerate() {
            let point = UnitRow {
                values: query.iter().map(|&v| v as f32).collect(),
                row: 0,
                dims: d as u32,
            };
            candidates.clear();
            candidates.extend(self.map.search(&point, &mut search).map(|item| {
                let j = *item.value as usize;
                (query.dot(&reference.row(j)), j)
            }));
            if candidates.len() < k {
                let exact = most_similar(query.insert_axis(Axis(0)), reference, k);
                idx.row_mut(q).assign(&exact.idx.row(0));
                sim.row_mut(q).assign(&exact.sim.row(0));
                continue;
            }
            candidates.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
            for (c, &(v, j)) in candidates[..k].iter().enumerate() {
                idx[(q, c)] = j;
                sim[(q, c)] = v;
            }
        }
        QueryNeighbours { idx, sim }
    }
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

    /// Unit vectors around `clusters` seeded centres in `d` dimensions (rows of `n`), the kind
    /// of data the kNN space holds: neighbours are close, and many are at similar distances.
    fn clustered(n: usize, d: usize, clusters: usize, seed: u64) -> Array2<f64> {
        use rand::{Rng, SeedableRng};
        let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
        let centres: Array2<f64> =
            Array2::from_shape_fn((clusters, d), |_| rng.random_range(-1.0..1.0));
        let mut x: Array2<f64> = Array2::from_shape_fn((n, d), |(i, j)| {
            centres[(i % clusters, j)] + 0.35 * rng.random_range(-1.0..1.0)
        });
        for mut row in x.rows_mut() {
            let norm = row.dot(&row).sqrt();
            row.mapv_inplace(|v| v / norm);
        }
        x
    }

    #[test]
    fn the_graph_finds_nearly_every_exact_neighbour_with_exact_similarities() {
        let reference = clustered(4000, 32, 25, 1);
        let queries = clustered(300, 32, 25, 2);
        let k = 30;
        let exact = most_similar(queries.view(), reference.view(), k);
        let index = NeighbourSearch::hnsw().index(reference.view(), k).unwrap();
        assert!(matches!(index, NeighbourIndex::Graph(_)));
        let found = index
            .most_similar(queries.view(), reference.view(), k)
            .unwrap();
        let mut hits = 0;
        for q in 0..queries.nrows() {
            let truth: std::collections::HashSet<usize> =
                exact.idx.row(q).iter().copied().collect();
            hits += found
                .idx
                .row(q)
                .iter()
                .filter(|j| truth.contains(j))
                .count();
            for c in 0..k {
                let j = found.idx[(q, c)];
                // The similarity of a neighbour found is its exact f64 inner product...
                assert_eq!(found.sim[(q, c)], queries.row(q).dot(&reference.row(j)));
                // ...and they come most similar first.
                if c > 0 {
                    assert!(found.sim[(q, c)] <= found.sim[(q, c - 1)]);
                }
            }
        }
        let recall = hits as f64 / (queries.nrows() * k) as f64;
        assert!(recall >= 0.95, "recall {recall}");
        // The nearest neighbour, which the measures use most, is found nearly always.
        let first = (0..queries.nrows())
            .filter(|&q| found.idx[(q, 0)] == exact.idx[(q, 0)])
            .count();
        assert!(
            first as f64 >= 0.98 * queries.nrows() as f64,
            "{first} firsts"
        );
    }

    #[test]
    fn a_seed_gives_the_same_graph_and_answers() {
        let reference = clustered(1500, 16, 10, 3);
        let queries = clustered(100, 16, 10, 4);
        let answer = |seed| {
            let search = NeighbourSearch::Hnsw {
                ef_construction: 40,
                ef_search: 12,
                seed,
                build: GraphBuild::Reproducible,
            };
            search
                .index(reference.view(), 10)
                .unwrap()
                .most_similar(queries.view(), reference.view(), 10)
                .unwrap()
                .idx
        };
        assert_eq!(answer(7), answer(7));
    }

    #[test]
    fn auto_is_exact_below_its_threshold_and_a_graph_from_it() {
        let auto = NeighbourSearch::Auto {
            threshold: 1000,
            build: GraphBuild::Parallel,
        };
        assert_eq!(auto.resolve(999), NeighbourSearch::Exact);
        assert_eq!(auto.resolve(1000), NeighbourSearch::hnsw());
        let reproducible = NeighbourSearch::Auto {
            threshold: 1000,
            build: GraphBuild::Reproducible,
        };
        assert!(matches!(
            reproducible.resolve(1000),
            NeighbourSearch::Hnsw {
                build: GraphBuild::Reproducible,
                ..
            }
        ));
        assert_eq!(
            NeighbourSearch::default().resolve(999_999),
            NeighbourSearch::Exact
        );
        let reference = clustered(200, 8, 5, 5);
        assert!(matches!(
            auto.index(reference.view(), 5),
            Ok(NeighbourIndex::Exact)
        ));
        assert!(auto.index(reference.view(), 201).is_err());
        let index = auto.index(reference.view(), 5).unwrap();
        assert!(index
            .most_similar(reference.slice(s![.., ..7]), reference.view(), 5)
            .is_err());
        assert!(NeighbourSearch::Auto {
            threshold: 0,
            build: GraphBuild::Parallel
        }
        .check()
        .is_err());
        let no_candidates = NeighbourSearch::Hnsw {
            ef_construction: 10,
            ef_search: 0,
            seed: 0,
            build: GraphBuild::Parallel,
        };
        assert!(no_candidates.check().is_err());
        assert!(NeighbourSearch::hnsw().check().is_ok());
    }

    #[test]
    fn the_graph_distance_is_one_minus_the_inner_product() {
        // 19 values: two blocks of eight and a tail of three.
        let a: Vec<f32> = (0..19).map(|i| (i as f32 - 9.0) / 8.0).collect();
        let b: Vec<f32> = (0..19).map(|i| ((i * 7 % 5) as f32) / 4.0).collect();
        let want: f32 = a.iter().zip(&b).map(|(x, y)| x * y).sum();
        assert!((dot_f32(&a, &b) - want).abs() <= 1e-5 * want.abs().max(1.0));
        let p = |v: &[f32]| UnitRow {
            values: v.into(),
            row: 0,
            dims: v.len() as u32,
        };
        assert!((p(&a).distance(&p(&b)) - (1.0 - want)).abs() < 1e-5);
    }
}
