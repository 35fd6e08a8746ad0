//! The top-k SVD of a whole collection (the `svd` init, `static`, a prior data set): LAPACK's
//! exact SVD against the randomized one, timed in the same run, with their agreement.
//!
//! `cargo bench --bench init` (sizes n x d with `DEMUD_INIT_SIZES=5000x1024,20000x1024`,
//! k with `DEMUD_INIT_K=20`). f32 storage, CNN-like items (non-negative, 40 directions with
//! decaying weights over a noise floor, every 1,000th item pushed along a direction of its
//! own). Agreement: the first pick of the `svd` init, the top 50 of the `static` order, the
//! largest principal angle between the two k-dimensional bases, and the largest relative
//! difference of the scores of all items under the two models.

use demud::model::{SvdMethod, Truncation};
use demud::scoring::exact_scores;
use demud::{Scoring, SubspaceModel};
use ndarray::{Array2, ArrayView2};
use ndarray_linalg::{JobSvd, SVDDC};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::time::Instant;

/// Directions of the low-rank part.
const RANK: usize = 40;

fn data(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let base: Vec<f32> = (0..d).map(|_| rng.random::<f32>()).collect();
    let directions = Array2::from_shape_fn((RANK, d), |_| rng.random::<f32>() - 0.5);
    let weights = Array2::from_shape_fn((n, RANK), |(_, j)| {
        (rng.random::<f32>() - 0.5) * 8.0 / (1 + j) as f32
    });
    let mut x = weights.dot(&directions);
    for (i, mut item) in x.rows_mut().into_iter().enumerate() {
        let odd = i % 1000 == 999;
        for (j, v) in item.iter_mut().enumerate() {
            let planted = if odd && j % 97 == i % 97 { 5.0 } else { 0.0 };
            *v = (base[j] + *v + 0.3 * rng.random::<f32>() + planted).max(0.0);
        }
    }
    x
}

fn model(x: ArrayView2<f32>, k: usize, method: SvdMethod) -> (SubspaceModel, f64) {
    let start = Instant::now();
    let model = SubspaceModel::of_collection(x, k, Truncation::DropNullDirections, method, 0)
        .expect("SVD of the collection");
    (model, start.elapsed().as_secs_f64())
}

/// Items in descending score order (ties: lowest index), as `static` ranks them.
fn order(scores: &[f64]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..scores.len()).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]).then(a.cmp(&b)));
    order
}

fn main() {
    let sizes: Vec<(usize, usize)> = std::env::var("DEMUD_INIT_SIZES")
        .ok()
        .map(|s| {
            s.split(',')
                .map(|v| {
                    let (n, d) = v.trim().split_once('x').expect("sizes are NxD");
                    (n.parse().expect("n"), d.parse().expect("d"))
                })
                .collect()
        })
        .unwrap_or_else(|| vec![(1000, 1024), (4000, 1024), (20_000, 1024)]);
    let k: usize = std::env::var("DEMUD_INIT_K")
        .ok()
        .map_or(20, |v| v.parse().expect("k is a number"));
    // `cargo bench` passes --bench; a plain `cargo test --benches` run passes nothing: keep it short.
    let full = std::env::args().any(|a| a == "--bench");
    let sizes = if full { sizes } else { vec![(300, 64)] };
    println!("Top-{k} SVD of the collection, f32 storage, exact (LAPACK gesdd) vs randomized");
    println!(
        "{:>8} {:>6} {:>11} {:>11} {:>8} {:>11} {:>11} {:>12} {:>13}",
        "n",
        "d",
        "exact (s)",
        "rand. (s)",
        "ratio",
        "first pick",
        "top 50",
        "max angle",
        "score diff"
    );
    for (n, d) in sizes {
        let x = data(n, d, n as u64);
        let (exact, exact_s) = model(x.view(), k, SvdMethod::Exact);
        let (fast, fast_s) = model(x.view(), k, SvdMethod::Randomized);
        let all = vec![true; n];
        let se = exact_scores(x.view(), &all, &exact, &Scoring::default()).to_vec();
        let sr = exact_scores(x.view(), &all, &fast, &Scoring::default()).to_vec();
        let (oe, or) = (order(&se), order(&sr));
        let top = 50.min(n);
        let same_top = oe[..top] == or[..top];
        // The largest principal angle: arccos of the smallest singular value of U_e^T U_r.
        let (_, cosines, _) = exact
            .basis()
            .t()
            .dot(&fast.basis())
            .svddc(JobSvd::None)
            .expect("small SVD");
        let smallest = cosines.iter().copied().fold(1.0_f64, f64::min).min(1.0);
        let score_diff = se
            .iter()
            .zip(&sr)
            .map(|(a, b)| (a - b).abs() / a.abs().max(f64::MIN_POSITIVE))
            .fold(0.0, f64::max);
        println!(
            "{n:>8} {d:>6} {exact_s:>11.3} {fast_s:>11.3} {:>8.1} {:>11} {:>11} {:>12.2e} {:>13.2e}",
            exact_s / fast_s,
            if oe[0] == or[0] { "equal" } else { "DIFFERS" },
            if same_top { "equal" } else { "differs" },
            smallest.acos(),
            score_diff
        );
    }
}
