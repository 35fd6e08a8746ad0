//! The randomized SVD of a whole collection against LAPACK's exact one.

use super::randomized::{column_means, top_right_singular, OVERSAMPLING};
use super::{SubspaceModel, SvdMethod, Truncation};
use crate::discovery::{DemudParams, Init, UpdateMethod};
use crate::element::Element;
use ndarray::{Array1, Array2, ArrayView2, Axis};
use ndarray_linalg::{JobSvd, QR, SVDDC};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

/// `n` x `d` items: a mean offset, `rank` directions with weights of standard deviation
/// `top / (1 + j)`, plus uniform noise of size `noise` (low rank plus noise).
fn low_rank_plus_noise(
    n: usize,
    d: usize,
    rank: usize,
    top: f64,
    noise: f64,
    seed: u64,
) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let offset: Vec<f64> = (0..d).map(|_| rng.random::<f64>() * 3.0).collect();
    let directions = Array2::from_shape_fn((rank, d), |_| rng.random::<f64>() - 0.5);
    let weights = Array2::from_shape_fn((n, rank), |(_, j)| {
        (rng.random::<f64>() - 0.5) * top / (1 + j) as f64
    });
    let mut x = weights.dot(&directions);
    for (j, mut col) in x.columns_mut().into_iter().enumerate() {
        col.mapv_inplace(|v| v + offset[j] + noise * (rng.random::<f64>() - 0.5));
    }
    x
}

/// Cosines of the principal angles between the column spans of two orthonormal bases
/// (the singular values of `a^T b`), smallest first.
fn principal_cosines(a: ArrayView2<f64>, b: ArrayView2<f64>) -> Vec<f64> {
    let (_, s, _) = a.t().dot(&b).svddc(JobSvd::None).expect("small SVD");
    let mut s = s.to_vec();
    s.sort_by(f64::total_cmp);
    s
}

fn model<T: Element>(x: ArrayView2<T>, k: usize, method: SvdMethod, seed: u64) -> SubspaceModel {
    SubspaceModel::of_collection(x, k, Truncation::DropNullDirections, method, seed)
        .expect("model of the collection")
}

#[test]
fn randomized_singular_values_and_subspace_match_the_exact_svd_on_low_rank_plus_noise() {
    let x = low_rank_plus_noise(800, 150, 8, 40.0, 0.5, 1);
    let k = 6;
    let exact = model(x.view(), k, SvdMethod::Exact, 0);
    let fast = model(x.view(), k, SvdMethod::Randomized, 0);
    assert_eq!((exact.rank(), fast.rank()), (k, k));
    assert_eq!(exact.mean(), fast.mean());
    for (s, t) in exact.singular_values().iter().zip(fast.singular_values()) {
        assert!((s - t).abs() <= 1e-9 * s, "singular values {s} vs {t}");
    }
    let cosines = principal_cosines(exact.basis(), fast.basis());
    assert!(
        cosines[0] > 1.0 - 1e-9,
        "largest principal angle: cos = {}",
        cosines[0]
    );
    // The comparison can tell subspaces apart: a random one of k directions is far off.
    let random = Array2::from_shape_fn((150, k), |(i, j)| ((i * 7 + j * 13) % 11) as f64 - 5.0);
    let (random, _) = random.qr().expect("QR");
    assert!(principal_cosines(exact.basis(), random.view())[0] < 0.5);
}

#[test]
fn randomized_svd_in_f32_matches_the_exact_svd_of_the_same_values() {
    let x = low_rank_plus_noise(600, 100, 5, 30.0, 0.3, 2).mapv(|v| v as f32);
    let k = 4;
    let exact = model(x.view(), k, SvdMethod::Exact, 0);
    let fast = model(x.view(), k, SvdMethod::Randomized, 0);
    for (s, t) in exact.singular_values().iter().zip(fast.singular_values()) {
        assert!((s - t).abs() <= 1e-9 * s, "singular values {s} vs {t}");
    }
    assert!(principal_cosines(exact.basis(), fast.basis())[0] > 1.0 - 1e-9);
}

#[test]
fn randomized_svd_is_determined_by_the_seed() {
    let x = low_rank_plus_noise(300, 60, 4, 10.0, 1.0, 3);
    let mean = column_means(x.view());
    let a = top_right_singular(x.view(), mean.view(), 3, 7).expect("svd");
    let b = top_right_singular(x.view(), mean.view(), 3, 7).expect("svd");
    assert_eq!(a, b, "same seed, same bits");
    let c = top_right_singular(x.view(), mean.view(), 3, 8).expect("svd");
    assert_ne!(a.1, c.1, "another seed starts from another random matrix");
    // ... and finds the same top directions.
    let cos = principal_cosines(
        a.1.slice(ndarray::s![.., ..3]),
        c.1.slice(ndarray::s![.., ..3]),
    );
    assert!(cos[0] > 1.0 - 1e-6, "cos = {}", cos[0]);
}

#[test]
fn randomized_svd_fills_missing_values_with_the_feature_mean_as_the_exact_path_does() {
    let mut x = low_rank_plus_noise(400, 80, 5, 20.0, 0.5, 4);
    for i in (0..400).step_by(7) {
        x[(i, (i * 13) % 80)] = f64::NAN;
    }
    let exact = model(x.view(), 4, SvdMethod::Exact, 0);
    let fast = model(x.view(), 4, SvdMethod::Randomized, 0);
    assert!(exact.mean().iter().all(|v| v.is_finite()));
    assert_eq!(exact.mean(), fast.mean());
    for (s, t) in exact.singular_values().iter().zip(fast.singular_values()) {
        assert!((s - t).abs() <= 1e-9 * s, "singular values {s} vs {t}");
    }
    assert!(principal_cosines(exact.basis(), fast.basis())[0] > 1.0 - 1e-9);
    // The mean skips the missing values: feature 0 misses item 0 only.
    let observed: Vec<f64> = x
        .column(0)
        .iter()
        .copied()
        .filter(|v| !v.is_nan())
        .collect();
    let mean0 = observed.iter().sum::<f64>() / observed.len() as f64;
    assert!((exact.mean()[0] - mean0).abs() < 1e-12);
}

#[test]
fn randomized_svd_of_rank_deficient_items_drops_the_null_directions_as_the_exact_one_does() {
    // 30 items on a 3-dimensional affine subspace of R^60: k = 8 keeps 3 directions.
    let x = low_rank_plus_noise(30, 60, 3, 10.0, 0.0, 5);
    let exact = model(x.view(), 8, SvdMethod::Exact, 0);
    let fast = model(x.view(), 8, SvdMethod::Randomized, 0);
    assert_eq!(exact.rank(), 3);
    assert_eq!(fast.rank(), 3);
    assert!(principal_cosines(exact.basis(), fast.basis())[0] > 1.0 - 1e-9);
}

/// The UCI data sets of the reference conformance test (id, label, features).
fn uci(name: &str) -> Array2<f64> {
    let text = match name {
        "glass" => include_str!("../../tests/fixtures/uci/glass.csv"),
        "ecoli" => include_str!("../../tests/fixtures/uci/ecoli.csv"),
        _ => unreachable!(),
    };
    let rows: Vec<Vec<f64>> = text
        .lines()
        .skip(1)
        .filter(|l| !l.is_empty())
        .map(|l| {
            l.split(',')
                .skip(2)
                .map(|v| v.parse().expect("number"))
                .collect()
        })
        .collect();
    let d = rows[0].len();
    Array2::from_shape_vec((rows.len(), d), rows.concat()).expect("rectangular")
}

/// The first selection under the `svd` init and the whole `static` order, with `method`.
fn first_pick_and_static_order<T: Element>(
    x: ArrayView2<T>,
    k: usize,
    method: SvdMethod,
) -> (usize, Vec<usize>) {
    let first = DemudParams::new(k)
        .init(Init::Svd)
        .svd(method)
        .n_select(1)
        .discover(x)
        .expect("run")
        .next()
        .expect("a pick")
        .expect("no error")
        .index;
    let order = DemudParams::new(k)
        .update(UpdateMethod::Static)
        .svd(method)
        .discover(x)
        .expect("run")
        .map(|s| s.expect("no error").index)
        .collect();
    (first, order)
}

#[test]
fn randomized_first_pick_and_static_order_equal_the_exact_ones_on_glass_and_ecoli() {
    for name in ["glass", "ecoli"] {
        let x = uci(name);
        for k in 1..x.ncols() {
            assert_eq!(
                first_pick_and_static_order(x.view(), k, SvdMethod::Randomized),
                first_pick_and_static_order(x.view(), k, SvdMethod::Exact),
                "{name}, k = {k}"
            );
        }
    }
}

/// Relative difference of exact scores within which the randomized model may order two items
/// the other way here: its subspace is off the exact one by small angles (1e-3 here, the
/// power iterations' convergence), which move scores by about 1e-4.
const NEAR_TIE: f64 = 1e-3;

#[test]
fn randomized_first_pick_and_static_order_equal_the_exact_ones_on_cnn_like_data() {
    // Non-negative items (ReLU-like) with 12 directions over a flat noise floor, 3 planted
    // outliers; d = 256 is far beyond k + oversampling, so the randomized subspace is a true
    // subset. Scores under the exact model of 1,500 items fall within 1e-6 of each other here
    // and there: the static order is equal up to such near-ties. (With k beyond the 12
    // directions, the last ones are any of the noise floor's, in both models: see
    // `beyond_the_spectrums_structure_only_the_outliers_agree`.)
    for (seed, k) in [(10, 5), (11, 8), (12, 10)] {
        let x = cnn_like(seed);
        assert!(x.ncols() > k + OVERSAMPLING);
        let exact_model = model(x.view(), k, SvdMethod::Exact, 0);
        let scores = crate::scoring::exact_scores(
            x.view(),
            &vec![true; x.nrows()],
            &exact_model,
            &Default::default(),
        );
        let x32 = x.mapv(|v| v as f32);
        for (precision, (first, order), exact) in [
            (
                "f64",
                first_pick_and_static_order(x.view(), k, SvdMethod::Randomized),
                first_pick_and_static_order(x.view(), k, SvdMethod::Exact),
            ),
            (
                "f32",
                first_pick_and_static_order(x32.view(), k, SvdMethod::Randomized),
                first_pick_and_static_order(x32.view(), k, SvdMethod::Exact),
            ),
        ] {
            let at = format!("{precision}, seed {seed}, k = {k}");
            assert_eq!(first, exact.0, "{at}: first pick");
            assert_eq!(
                order[..30],
                exact.1[..30],
                "{at}: the top 30 of the static order"
            );
            let mut swaps = 0;
            for (p, (&ours, &theirs)) in order.iter().zip(&exact.1).enumerate() {
                if ours != theirs {
                    swaps += 1;
                    let (a, b) = (scores[ours], scores[theirs]);
                    assert!(
                        (a - b).abs() <= NEAR_TIE * b,
                        "{at}: static rank {p} takes item {ours} (exact score {a}), the exact path item {theirs} ({b})"
                    );
                }
            }
            assert!(swaps < x.nrows() / 4, "{at}: {swaps} near-ties swapped");
        }
    }
}

/// 1,500 non-negative items of 256 features: 12 directions over a noise floor, items 100,
/// 700 and 1,400 pushed along a feature of their own.
fn cnn_like(seed: u64) -> Array2<f64> {
    let mut x = low_rank_plus_noise(1500, 256, 12, 8.0, 1.0, seed).mapv(|v| v.max(0.0));
    for (i, j) in [(100, 7), (700, 77), (1400, 200)] {
        x[(i, j)] += 6.0;
    }
    x
}

#[test]
fn beyond_the_spectrums_structure_only_the_outliers_agree() {
    // k = 20 > 12 directions: the exact and randomized models hold different noise directions,
    // and scores differ by percents, but the planted outliers lead both static orders.
    let x = cnn_like(12);
    let (first, order) = first_pick_and_static_order(x.view(), 20, SvdMethod::Randomized);
    let exact = first_pick_and_static_order(x.view(), 20, SvdMethod::Exact);
    assert_eq!(first, exact.0);
    let mut top: Vec<usize> = order[..3].to_vec();
    top.sort_unstable();
    assert_eq!(top, vec![100, 700, 1400]);
    assert_eq!(order[..3], exact.1[..3]);
}

#[test]
fn a_prior_data_set_is_modelled_with_the_runs_svd_method() {
    let prior = low_rank_plus_noise(500, 120, 6, 20.0, 0.5, 6);
    let x = low_rank_plus_noise(50, 120, 6, 20.0, 2.0, 7);
    let start = |method| {
        let params = DemudParams::new(4)
            .init(Init::Prior(prior.clone()))
            .svd(method)
            .seed(3)
            .n_select(1);
        params
            .discover(x.view())
            .expect("run")
            .model()
            .expect("a prior model")
    };
    let expected = model(prior.view(), 4, SvdMethod::Randomized, 3);
    assert_eq!(start(SvdMethod::Randomized), expected);
    assert_eq!(
        start(SvdMethod::Exact),
        model(prior.view(), 4, SvdMethod::Exact, 0)
    );
    assert_ne!(start(SvdMethod::Randomized), start(SvdMethod::Exact));
}

#[test]
fn auto_takes_the_randomized_svd_for_large_collections_only() {
    let big = SvdMethod::AUTO_MIN_VALUES;
    assert!(SvdMethod::Auto.is_randomized(big / 1000, 1000, 20));
    assert!(!SvdMethod::Auto.is_randomized(big / 1000 - 1, 1000, 20));
    // Too few features (or items) for a k + 10 column sketch to save anything.
    assert!(!SvdMethod::Auto.is_randomized(big, 60, 20));
    assert!(SvdMethod::Auto.is_randomized(big, 61, 20));
    assert!(!SvdMethod::Exact.is_randomized(big, 1000, 20));
    assert!(SvdMethod::Randomized.is_randomized(10, 3, 2));
    // Below the threshold Auto is the exact path, bit for bit.
    let x = low_rank_plus_noise(200, 40, 4, 10.0, 1.0, 8);
    assert_eq!(
        model(x.view(), 3, SvdMethod::Auto, 0),
        model(x.view(), 3, SvdMethod::Exact, 0)
    );
}

#[test]
fn the_column_means_skip_missing_values_and_match_the_mean_of_complete_data() {
    let x = low_rank_plus_noise(50, 7, 2, 3.0, 1.0, 9);
    let mean: Array1<f64> = x.mean_axis(Axis(0)).expect("rows");
    assert_eq!(column_means(x.view()), mean);
    let mut y = x.clone();
    y[(3, 2)] = f64::NAN;
    let expected = (x.column(2).sum() - x[(3, 2)]) / 49.0;
    assert!((column_means(y.view())[2] - expected).abs() < 1e-12);
    let empty = Array2::from_elem((3, 1), f64::NAN);
    assert_eq!(column_means(empty.view())[0], 0.0);
}
