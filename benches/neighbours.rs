//! COOD's kNN measures need each query's 30 nearest training items in the 256-dimensional kNN
//! space: the exact search (BLAS) against the HNSW graph that `NeighbourSearch::Auto` switches
//! to at 10^6 training items, timed in the same run, with the graph's recall.
//!
//! `cargo bench --bench neighbours` (reference sizes with `DEMUD_NEIGHBOUR_SIZES=100000,1000000`,
//! queries with `DEMUD_NEIGHBOUR_QUERIES=2000`, other graph settings with
//! `DEMUD_HNSW=ef_construction,ef_search`). The graph is built in parallel, as by default. Data: unit vectors around 500 seeded centres
//! (clusters of very unequal spread), as the kNN space of CNN features is. Printed per size: the
//! exact search's time per query, the graph's build time and time per query, the recall of the
//! 30 neighbours and of the nearest one, and the number of queries from which the graph (build
//! included) is cheaper than the exact search.

use demud::ood::{GraphBuild, NeighbourSearch};
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::collections::HashSet;
use std::time::Instant;

const DIMS: usize = 256;
const K: usize = 30;
const CENTRES: usize = 500;

fn unit_items(n: usize, centres: &Array2<f64>, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let mut x = Array2::<f64>::zeros((n, DIMS));
    for mut row in x.rows_mut() {
        let c = rng.random_range(0..CENTRES);
        // Spreads from 0.2 to 1.0 of a centre's length: tight classes and loose ones.
        let spread = 0.2 + 0.8 * (c as f64 / CENTRES as f64);
        for (j, v) in row.iter_mut().enumerate() {
            *v = centres[(c, j)] + spread * (rng.random::<f64>() - 0.5);
        }
        let norm = row.dot(&row).sqrt();
        row.mapv_inplace(|v| v / norm);
    }
    x
}

fn sizes(var: &str, default: &str) -> Vec<usize> {
    std::env::var(var)
        .unwrap_or_else(|_| default.into())
        .split(',')
        .map(|v| v.trim().parse().expect("a number of items"))
        .collect()
}

fn main() {
    let queries_n = sizes("DEMUD_NEIGHBOUR_QUERIES", "2000")[0];
    let mut rng = ChaCha8Rng::seed_from_u64(0);
    let centres = Array2::from_shape_fn((CENTRES, DIMS), |_| rng.random::<f64>() - 0.5);
    let queries = unit_items(queries_n, &centres, 1);
    // `DEMUD_HNSW=ef_construction,ef_search` to try other settings than the default's.
    let graph_search = match std::env::var("DEMUD_HNSW") {
        Ok(v) => {
            let ef = sizes("DEMUD_HNSW", &v);
            NeighbourSearch::Hnsw {
                ef_construction: ef[0],
                ef_search: ef[1],
                seed: 0,
                build: GraphBuild::Parallel,
            }
        }
        Err(_) => NeighbourSearch::hnsw(),
    };
    println!(
        "k = {K}, {DIMS} dimensions, {queries_n} queries; graph: {:?}",
        graph_search
    );
    println!(
        "{:>10} {:>14} {:>10} {:>14} {:>9} {:>11} {:>12} {:>16}",
        "references",
        "exact ms/query",
        "build s",
        "graph ms/query",
        "speed-up",
        "recall@30",
        "recall@1",
        "graph pays from"
    );
    for n in sizes("DEMUD_NEIGHBOUR_SIZES", "100000") {
        let reference = unit_items(n, &centres, 2);
        let start = Instant::now();
        let exact = NeighbourSearch::Exact
            .index(reference.view(), K)
            .and_then(|index| index.most_similar(queries.view(), reference.view(), K))
            .expect("exact search");
        let exact_s = start.elapsed().as_secs_f64();
        // Build and search timed apart: the build is paid once per fitted model.
        let start = Instant::now();
        let graph = graph_search.index(reference.view(), K).expect("graph");
        let build_s = start.elapsed().as_secs_f64();
        let start = Instant::now();
        let found = graph
            .most_similar(queries.view(), reference.view(), K)
            .expect("graph search");
        let graph_s = start.elapsed().as_secs_f64();
        let (mut hits, mut firsts) = (0, 0);
        for q in 0..queries_n {
            let truth: HashSet<usize> = exact.idx.row(q).iter().copied().collect();
            hits += found
                .idx
                .row(q)
                .iter()
                .filter(|j| truth.contains(j))
                .count();
            firsts += usize::from(found.idx[(q, 0)] == exact.idx[(q, 0)]);
        }
        let per_exact = exact_s / queries_n as f64;
        let per_graph = graph_s.max(1e-9) / queries_n as f64;
        let pays_from = if per_exact > per_graph {
            format!("{:.0} queries", build_s / (per_exact - per_graph))
        } else {
            "never".into()
        };
        println!(
            "{:>10} {:>14.3} {:>10.1} {:>14.3} {:>8.1}x {:>11.3} {:>12.3} {:>16}",
            n,
            per_exact * 1e3,
            build_s,
            per_graph * 1e3,
            per_exact / per_graph,
            hits as f64 / (queries_n * K) as f64,
            firsts as f64 / queries_n as f64,
            pays_from
        );
    }
}
