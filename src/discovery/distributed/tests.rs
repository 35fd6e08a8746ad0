//! The distributed loop on 1 to 5 simulated ranks against the one-process loop.

use super::*;
use crate::model::SvdMethod;
use crate::scoring::ScoreMethod;
use ndarray::{s, Array2};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Low-rank structure plus noise, with a few outliers: n x d.
fn collection(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let factors = Array2::from_shape_simple_fn((n, 3), || rng.random::<f64>() - 0.5);
    let loadings = Array2::from_shape_simple_fn((3, d), || rng.random::<f64>() * 4.0);
    let mut x = factors.dot(&loadings) + 1.0;
    x.mapv_inplace(|v| v + 0.05 * (rng.random::<f64>() - 0.5));
    for i in (7..n).step_by(23) {
        let j = i % d;
        x[(i, j)] += 3.0;
    }
    x
}

/// Splits `data` into `ranks` contiguous ranges of unequal sizes (`sizes` if given) and runs
/// the distributed loop on each in its own thread; every rank's selections (or error).
fn on_ranks<T: Element>(
    params: &DemudParams,
    data: ArrayView2<T>,
    sizes: &[usize],
) -> Vec<Result<Vec<Selection>>> {
    let group = ThreadRanks::group(sizes.len());
    let mut start = 0;
    let ranges: Vec<(usize, usize)> = sizes
        .iter()
        .map(|&n| {
            start += n;
            (start - n, start)
        })
        .collect();
    assert_eq!(start, data.nrows());
    std::thread::scope(|scope| {
        let handles: Vec<_> = group
            .iter()
            .zip(&ranges)
            .map(|(comm, &(a, b))| {
                let rows = data.slice(s![a..b, ..]);
                scope.spawn(move || {
                    params
                        .discover_distributed(rows, comm)?
                        .collect::<Result<Vec<_>>>()
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("no rank panics"))
            .collect()
    })
}

/// Unequal contiguous sizes summing to n over `ranks` ranks.
fn split(n: usize, ranks: usize) -> Vec<usize> {
    let cuts: Vec<usize> = (0..=ranks).map(|r| (n * r * r) / (ranks * ranks)).collect();
    cuts.windows(2).map(|w| w[1] - w[0]).collect()
}

/// Asserts that every rank made the one process's selections: same items in the same order,
/// scores and explanations within `tol` relative.
fn assert_same(single: &[Selection], ranks: &[Result<Vec<Selection>>], tol: f64, what: &str) {
    for (r, result) in ranks.iter().enumerate() {
        let picks = result
            .as_ref()
            .unwrap_or_else(|e| panic!("{what}: rank {r}: {e}"));
        let order = |s: &[Selection]| s.iter().map(|p| p.index).collect::<Vec<_>>();
        assert_eq!(
            order(picks),
            order(single),
            "{what}: rank {r} of {}",
            ranks.len()
        );
        for (a, b) in picks.iter().zip(single) {
            let scale = b.score.abs().max(1e-300);
            assert!(
                (a.score - b.score).abs() <= tol * scale,
                "{what}: rank {r}, pick {}: score {} against {}",
                a.rank,
                a.score,
                b.score
            );
            let norm = b.expected.iter().fold(1.0_f64, |m, v| m.max(v.abs()));
            for (u, v) in a.residual.iter().zip(&b.residual) {
                assert!(
                    (u - v).abs() <= tol * norm,
                    "{what}: residual of pick {}",
                    a.rank
                );
            }
        }
        // Every rank reports the same numbers, bit for bit.
        assert_eq!(
            picks,
            ranks[0].as_ref().expect("rank 0"),
            "{what}: rank {r} against rank 0"
        );
    }
}

fn check<T: Element>(params: &DemudParams, data: ArrayView2<T>, what: &str) {
    let single: Vec<Selection> = params
        .discover(data)
        .expect("one process")
        .collect::<Result<_>>()
        .expect("one process runs");
    for ranks in 1..=4 {
        let got = on_ranks(params, data, &split(data.nrows(), ranks));
        assert_same(&single, &got, 1e-9, &format!("{what}, {ranks} ranks"));
    }
}

#[test]
fn one_to_four_ranks_select_what_one_process_selects_under_every_init() {
    let data = collection(150, 12, 1);
    let base = DemudParams::new(4).n_select(60);
    for (init, name) in [
        (Init::Index(5), "index"),
        (Init::Random, "random"),
        (Init::Mean, "mean"),
        (Init::Svd, "svd (exact: TSQR)"),
    ] {
        check(&base.clone().init(init.clone()), data.view(), name);
        let f32s = data.mapv(|v| v as f32);
        check(
            &base.clone().init(init),
            f32s.view(),
            &format!("{name}, f32"),
        );
    }
}

#[test]
fn the_randomized_svd_init_and_ross_and_refreshes_agree_too() {
    let data = collection(130, 30, 2);
    let params = DemudParams::new(3)
        .n_select(50)
        .init(Init::Svd)
        .svd(SvdMethod::Randomized)
        .seed(9);
    check(&params, data.view(), "randomized svd");
    let ross = DemudParams::new(5)
        .n_select(70)
        .init(Init::Mean)
        .update(UpdateMethod::Ross)
        .refresh_every(7);
    check(&ross, data.view(), "ross, refreshed every 7");
}

#[test]
fn a_prior_data_set_and_a_saved_model_start_every_rank_alike() {
    let data = collection(100, 10, 3);
    let prior = collection(20, 10, 4);
    check(
        &DemudParams::new(3).n_select(30).init(Init::Prior(prior)),
        data.view(),
        "prior",
    );
    let saved = DemudParams::new(3)
        .init(Init::Mean)
        .n_select(10)
        .discover(data.view())
        .expect("runs");
    let mut saved = saved;
    saved.by_ref().for_each(|s| drop(s.expect("pick")));
    let model = saved.model().expect("a model");
    check(
        &DemudParams::new(3).n_select(30).init(Init::Model(model)),
        data.view(),
        "saved model",
    );
}

#[test]
fn exact_ties_across_ranks_go_to_the_lower_index_and_empty_ranks_take_part() {
    // Every item twice (i and i + 30): each pair ties exactly, the copies on different ranks.
    let half = collection(30, 6, 5);
    let mut data = Array2::zeros((60, 6));
    data.slice_mut(s![..30, ..]).assign(&half);
    data.slice_mut(s![30.., ..]).assign(&half);
    let params = DemudParams::new(2).init(Init::Mean).n_select(40);
    let single: Vec<Selection> = params
        .discover(data.view())
        .expect("one process")
        .collect::<Result<_>>()
        .expect("runs");
    for sizes in [
        vec![30, 30],
        vec![17, 0, 25, 18],
        vec![0, 60],
        vec![60, 0, 0],
    ] {
        let got = on_ranks(&params, data.view(), &sizes);
        assert_same(&single, &got, 1e-9, &format!("ties over {sizes:?}"));
    }
}

#[test]
fn unsupported_options_and_bad_values_are_refused_on_every_rank() {
    let data = collection(40, 5, 6);
    for params in [
        DemudParams::new(2).update(UpdateMethod::Full),
        DemudParams::new(2).update(UpdateMethod::Static),
        DemudParams::new(2).score(ScoreMethod::High),
        DemudParams::new(2).withheld(vec![3]),
        DemudParams::new(2).path(ScorePath::Exact),
        DemudParams::new(2).missing(MissingPolicy::Ignore),
    ] {
        for result in on_ranks(&params, data.view(), &[20, 20]) {
            let err = result.expect_err("refused");
            assert!(err.to_string().contains("distributed"), "{params:?}: {err}");
        }
    }
    // A missing value on rank 1 only: rank 1 names the item (global index), rank 0 the rank;
    // neither waits for the other.
    let mut holed = data.clone();
    holed[(25, 2)] = f64::NAN;
    let results = on_ranks(&DemudParams::new(2), holed.view(), &[20, 20]);
    let messages: Vec<String> = results
        .into_iter()
        .map(|r| r.expect_err("refused").to_string())
        .collect();
    assert!(messages[0].contains("rank 1"), "{}", messages[0]);
    assert!(messages[1].contains("25"), "{}", messages[1]);
}

#[test]
fn half_precision_shards_select_what_one_process_selects_even_with_an_empty_rank() {
    let data = collection(90, 16, 7).mapv(half::f16::from_f64);
    for init in [Init::Mean, Init::Svd] {
        let params = DemudParams::new(3).n_select(40).init(init);
        let single: Vec<Selection> = params
            .discover(data.view())
            .expect("one process")
            .collect::<Result<_>>()
            .expect("runs");
        for sizes in [
            vec![90],
            vec![45, 45],
            vec![30, 0, 60],
            vec![20, 20, 20, 30],
        ] {
            let got = on_ranks(&params, data.view(), &sizes);
            assert_same(&single, &got, 1e-9, &format!("f16 over {sizes:?}"));
        }
    }
}
