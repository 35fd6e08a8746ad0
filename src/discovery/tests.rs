use super::*;
use crate::model::IncrementalMethod;
use crate::scoring::{ScoreMethod, Scoring};
use ndarray::{array, Array2};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

/// Gaussian-ish data with unequal feature scales and an offset mean, seeded.
fn random_data(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |(_, j)| {
        let u: f64 = (0..4).map(|_| rng.random::<f64>()).sum::<f64>() - 2.0;
        3.0 + u * (1.0 + j as f64 % 5.0)
    })
}

fn run<T: Element>(params: &DemudParams, data: ArrayView2<T>) -> Vec<Selection> {
    params.discover(data).unwrap().map(|s| s.unwrap()).collect()
}

fn indices(selections: &[Selection]) -> Vec<usize> {
    selections.iter().map(|s| s.index).collect()
}

#[test]
fn fast_scores_match_exact_recomputation_over_500_selections() {
    for &(n, d, k, update) in &[
        (700, 40, 10, UpdateMethod::Brand),
        (600, 120, 50, UpdateMethod::Brand),
        (520, 8, 3, UpdateMethod::Brand),
        (560, 30, 12, UpdateMethod::Ross),
    ] {
        let data = random_data(n, d, n as u64);
        let params = DemudParams::new(k)
            .update(update)
            .refresh_every(0)
            .n_select(500);
        let mut discovery = params.discover(data.view()).unwrap();
        let mut worst = 0.0f64;
        for _ in 0..500 {
            discovery.next().unwrap().unwrap();
            if let Some((fast, exact)) = discovery.fast_and_exact_scores() {
                let top = exact.iter().cloned().fold(0.0, f64::max);
                for (f, e) in fast.iter().zip(&exact) {
                    worst = worst.max((f - e).abs() / top);
                }
            }
        }
        assert!(
            worst <= 1e-9,
            "n={n} d={d} k={k}: relative difference {worst:e}"
        );
        assert!(
            discovery.fast_and_exact_scores().is_some(),
            "the fast path was used"
        );
    }
}

#[test]
fn fast_and_exact_paths_make_the_same_picks_with_the_same_scores() {
    for &(n, d, k, refresh) in &[(700, 40, 10, 0), (600, 25, 20, 7), (550, 9, 6, 64)] {
        let data = random_data(n, d, 11 + d as u64);
        let params = DemudParams::new(k).n_select(500).refresh_every(refresh);
        let fast = run(&params, data.view());
        let exact = run(&params.clone().path(ScorePath::Exact), data.view());
        assert_eq!(indices(&fast), indices(&exact), "n={n} d={d} k={k}");
        for (f, e) in fast.iter().zip(&exact) {
            let scale = e.score.abs().max(1e-12);
            assert!(
                (f.score - e.score).abs() / scale <= 1e-9,
                "{} vs {}",
                f.score,
                e.score
            );
        }
    }
}

#[test]
fn f32_storage_gives_the_f64_picks() {
    let data = random_data(400, 64, 5);
    let data32 = data.mapv(|v| v as f32);
    // The f64 run on the rounded values is the reference for the f32 run.
    let rounded = data32.mapv(f64::from);
    let params = DemudParams::new(8).n_select(200);
    let picks32 = run(&params, data32.view());
    let picks64 = run(&params, rounded.view());
    assert_eq!(indices(&picks32), indices(&picks64));
    for (a, b) in picks32.iter().zip(&picks64) {
        assert!((a.score - b.score).abs() <= 1e-9 * b.score.abs().max(1e-12));
    }
}

#[test]
fn f16_storage_gives_the_f32_picks_on_values_exact_in_f16() {
    // Multiples of 1/64 below 32 in magnitude have at most 11 significant bits: f16, f32 and
    // f64 hold the same numbers, so only the one pass per selection (the f16 kernel against
    // sgemv) and the randomized SVD's products can differ, by f32 rounding.
    let data = random_data(500, 70, 11).mapv(|v| ((v * 64.0).round() / 64.0).clamp(-31.0, 31.0));
    let data16 = data.mapv(half::f16::from_f64);
    let data32 = data.mapv(|v| v as f32);
    assert!(data16.iter().zip(&data).all(|(h, v)| f64::from(*h) == *v));
    for (init, svd) in [
        (Init::Svd, SvdMethod::Exact),
        (Init::Svd, SvdMethod::Randomized),
        (Init::Mean, SvdMethod::Exact),
        (Init::Index(7), SvdMethod::Exact),
    ] {
        for update in [UpdateMethod::Brand, UpdateMethod::Ross] {
            let params = DemudParams::new(9)
                .init(init.clone())
                .svd(svd)
                .update(update)
                .refresh_every(64)
                .n_select(300);
            let picks16 = run(&params, data16.view());
            let picks32 = run(&params, data32.view());
            assert_eq!(
                indices(&picks16),
                indices(&picks32),
                "{init:?} {svd:?} {update:?}"
            );
            for (a, b) in picks16.iter().zip(&picks32) {
                let tolerance = 1e-9 * b.score.abs().max(1e-12);
                assert!((a.score - b.score).abs() <= tolerance, "{a:?} {b:?}");
                assert_eq!(a.expected, b.expected);
                assert_eq!(a.residual, b.residual);
            }
        }
    }
}

#[test]
fn brand_ross_and_full_agree_when_the_data_has_lower_rank_than_k() {
    // 60 items in a 3-dimensional affine subspace of R^10: nothing is ever truncated, so
    // every update spans the centred selected items and the scores agree.
    let mut rng = ChaCha8Rng::seed_from_u64(3);
    let coords = Array2::from_shape_fn((60, 3), |_| rng.random::<f64>() * 4.0 - 2.0);
    let axes = Array2::from_shape_fn((3, 10), |_| rng.random::<f64>() - 0.5);
    let data = coords.dot(&axes) + 1.5;
    let params = DemudParams::new(5).init(Init::Index(0));
    let reference = run(&params.clone().update(UpdateMethod::Full), data.view());
    for update in [UpdateMethod::Brand, UpdateMethod::Ross] {
        let other = run(&params.clone().update(update), data.view());
        // Scores drop to rounding level once 4 items span the subspace: compare those that count.
        let informative = 1 + reference
            .iter()
            .skip(1)
            .take_while(|s| s.score > 1e-8)
            .count();
        assert!(informative >= 4);
        assert_eq!(
            indices(&other)[..informative],
            indices(&reference)[..informative]
        );
        for (a, b) in other.iter().zip(&reference).take(informative) {
            assert!((a.score - b.score).abs() <= 1e-8 * b.score, "{update:?}");
        }
    }
}

#[test]
fn ross_is_the_exact_scatter_update_and_brand_is_not() {
    let data = random_data(6, 9, 8);
    let full = SubspaceModel::from_items(data.view(), 9, Truncation::DropNullDirections).unwrap();
    let mut ross = SubspaceModel::rank_zero(data.row(0), RankZeroStyle::Empty);
    let mut brand = ross.clone();
    for row in data.rows().into_iter().skip(1) {
        ross.add_item(row, IncrementalMethod::Ross, 9).unwrap();
        brand.add_item(row, IncrementalMethod::Brand, 9).unwrap();
    }
    assert_eq!(ross.rank(), 5);
    for (a, b) in ross.singular_values().iter().zip(full.singular_values()) {
        assert!((a - b).abs() < 1e-10 * b, "ross {a} vs full {b}");
    }
    // Brand's m/(m+1) scaling shrinks the singular values (same span, different weights).
    assert!(brand.singular_values()[0] < full.singular_values()[0] * (1.0 - 1e-3));
    assert!((&ross.mean() - &full.mean())
        .iter()
        .all(|v| v.abs() < 1e-12));
}

#[test]
fn incremental_bases_stay_orthonormal_through_truncation() {
    let data = random_data(300, 20, 9);
    for method in [IncrementalMethod::Brand, IncrementalMethod::Ross] {
        let mut model = SubspaceModel::rank_zero(data.row(0), RankZeroStyle::Empty);
        for row in data.rows().into_iter().skip(1) {
            model.add_item(row, method, 6).unwrap();
        }
        assert_eq!(model.rank(), 6);
        assert_eq!(model.count(), 300);
        let gram = model.basis().t().dot(&model.basis());
        let err = (&gram - &Array2::<f64>::eye(6))
            .iter()
            .fold(0.0f64, |m, v| m.max(v.abs()));
        assert!(err < 1e-10, "{method:?}: |U^T U - I| = {err:e}");
        model.validate().unwrap();
    }
}

#[test]
fn reference_compatibility_reproduces_the_e0_quirk() {
    // After item 0, the reference's model is U = e_0: an item differing only in feature 0
    // scores 0 for the second selection.
    let data = array![[0.0, 0.0], [10.0, 0.0], [0.0, 1.0]];
    let clean = run(&DemudParams::new(1).init(Init::Index(0)), data.view());
    let compat = run(
        &DemudParams::new(1)
            .init(Init::Index(0))
            .compat(Compatibility::Reference),
        data.view(),
    );
    assert_eq!(indices(&clean), vec![0, 1, 2]);
    assert_eq!(clean[1].score, 100.0);
    assert_eq!(indices(&compat)[..2], [0, 2]);
    assert_eq!(compat[1].score, 1.0);
}

#[test]
fn first_selection_follows_the_init() {
    let data = array![[0.0, 0.0], [1.0, 0.1], [0.9, 0.0], [-1.0, -0.1], [0.1, 3.0]];
    let first =
        |init: Init| run(&DemudParams::new(1).init(init).n_select(1), data.view())[0].clone();
    let by_index = first(Init::Index(2));
    assert_eq!((by_index.index, by_index.score), (2, 0.0));
    assert_eq!(by_index.expected.to_vec(), vec![0.9, 0.0]);
    // Mean (0.2, 0.6): item 4 is farthest.
    let by_mean = first(Init::Mean);
    assert_eq!(by_mean.index, 4);
    assert!((by_mean.score - (0.01 + 5.76)).abs() < 1e-12);
    // The top direction of the whole collection is the spread along feature 1 (item 4) ... so
    // the item worst explained by it is off that axis.
    let by_svd = first(Init::Svd);
    let model = SubspaceModel::from_items(data.view(), 1, Truncation::DropNullDirections).unwrap();
    let scores = exact_scores(data.view(), &[true; 5], &model, &Scoring::default());
    let best = argmax(scores.iter().copied().enumerate()).unwrap();
    assert_eq!(by_svd.index, best.0);
    assert!((by_svd.score - best.1).abs() < 1e-12);
    // Random: seeded.
    let a = run(&DemudParams::new(1).init(Init::Random).seed(4), data.view());
    let b = run(&DemudParams::new(1).init(Init::Random).seed(4), data.view());
    assert_eq!(indices(&a), indices(&b));
    let firsts: std::collections::HashSet<usize> = (0..20)
        .map(|seed| {
            run(
                &DemudParams::new(1)
                    .init(Init::Random)
                    .seed(seed)
                    .n_select(1),
                data.view(),
            )[0]
            .index
        })
        .collect();
    assert!(firsts.len() > 1, "different seeds pick different items");
}

#[test]
fn score_methods_and_weights_change_the_pick() {
    // After item 0 (the origin) the model is the origin alone.
    let data = array![[0.0, 0.0], [3.0, 0.0], [0.0, -4.0]];
    let second =
        |params: DemudParams| run(&params.init(Init::Index(0)).n_select(2), data.view())[1].clone();
    let lowhigh = second(DemudParams::new(1));
    assert_eq!((lowhigh.index, lowhigh.score), (2, 16.0));
    let high = second(DemudParams::new(1).score(ScoreMethod::High));
    assert_eq!((high.index, high.score), (1, 9.0));
    let low = second(DemudParams::new(1).score(ScoreMethod::Low));
    assert_eq!((low.index, low.score), (2, 16.0));
    let weighted = second(DemudParams::new(1).weights(array![2.0, 0.5]));
    assert_eq!((weighted.index, weighted.score), (1, 36.0));
    // Residual is the novel content, expected the model's prediction.
    assert_eq!(lowhigh.residual.to_vec(), vec![0.0, -4.0]);
    assert_eq!(lowhigh.expected.to_vec(), vec![0.0, 0.0]);
}

#[test]
fn missing_values_follow_the_policy() {
    let data = array![[0.0, 0.0], [1.0, f64::NAN], [0.0, 3.0]];
    let err = DemudParams::new(1).discover(data.view()).err().unwrap();
    assert!(
        matches!(
            err,
            DemudError::MissingValue {
                item: 1,
                feature: 1
            }
        ),
        "{err}"
    );
    assert!(err.to_string().contains("item 1, feature 1"));

    let zero = run(
        &DemudParams::new(1)
            .init(Init::Index(0))
            .missing(MissingPolicy::Zero),
        data.view(),
    );
    let filled = array![[0.0, 0.0], [1.0, 0.0], [0.0, 3.0]];
    assert_eq!(
        indices(&zero),
        indices(&run(
            &DemudParams::new(1).init(Init::Index(0)),
            filled.view()
        ))
    );

    let ignore = run(
        &DemudParams::new(1)
            .init(Init::Index(0))
            .missing(MissingPolicy::Ignore),
        data.view(),
    );
    assert_eq!(indices(&ignore), vec![0, 2, 1]);
    assert_eq!(ignore[1].score, 9.0);
    // Item 1 is scored on feature 0 alone and its residual is unknown on feature 1.
    assert!(ignore[2].residual[1].is_nan());
    assert!(ignore[2].expected[1].is_finite());
    assert!(ignore[2].score.is_finite());

    let inf = array![[0.0, f64::INFINITY]];
    let err = DemudParams::new(1)
        .missing(MissingPolicy::Zero)
        .discover(inf.view())
        .err()
        .unwrap();
    assert!(matches!(
        err,
        DemudError::InfiniteValue {
            item: 0,
            feature: 1
        }
    ));
}

#[test]
fn ignore_policy_runs_the_whole_collection_with_every_update() {
    let mut data = random_data(40, 6, 21);
    for i in (0..40).step_by(7) {
        data[(i, i % 6)] = f64::NAN;
    }
    for update in [
        UpdateMethod::Brand,
        UpdateMethod::Ross,
        UpdateMethod::Full,
        UpdateMethod::Static,
    ] {
        for init in [Init::Svd, Init::Index(0), Init::Mean] {
            if update == UpdateMethod::Static && init != Init::Svd {
                continue;
            }
            let picks = run(
                &DemudParams::new(3)
                    .update(update)
                    .init(init)
                    .missing(MissingPolicy::Ignore),
                data.view(),
            );
            let mut seen = indices(&picks);
            seen.sort();
            assert_eq!(seen, (0..40).collect::<Vec<_>>());
            assert!(picks.iter().all(|s| s.score.is_finite()));
        }
    }
}

#[test]
fn static_ranks_once_by_the_collection_svd() {
    let data = random_data(50, 7, 2);
    let picks = run(
        &DemudParams::new(2).update(UpdateMethod::Static),
        data.view(),
    );
    let model = SubspaceModel::from_items(data.view(), 2, Truncation::DropNullDirections).unwrap();
    let scores = exact_scores(data.view(), &[true; 50], &model, &Scoring::default());
    let mut order: Vec<usize> = (0..50).collect();
    order.sort_by(|&a, &b| scores[b].total_cmp(&scores[a]));
    assert_eq!(indices(&picks), order);
    for s in &picks {
        assert!((s.score - scores[s.index]).abs() < 1e-9 * scores[s.index]);
    }
    let err = DemudParams::new(2)
        .update(UpdateMethod::Static)
        .init(Init::Index(0))
        .discover(data.view());
    assert!(err.err().unwrap().to_string().contains("static"));
}

#[test]
fn a_prior_data_set_makes_known_content_uninteresting() {
    // Prior: items along feature 0. Collection: more of those, plus one along feature 2.
    let prior = Array2::from_shape_fn((20, 3), |(i, j)| if j == 0 { i as f64 } else { 0.0 });
    let mut data =
        Array2::from_shape_fn((10, 3), |(i, j)| if j == 0 { 2.0 * i as f64 } else { 0.0 });
    data[(6, 2)] = 1.0;
    let picks = run(
        &DemudParams::new(1).init(Init::Prior(prior.clone())),
        data.view(),
    );
    assert_eq!(picks[0].index, 6);
    assert!((picks[0].score - 1.0).abs() < 1e-12);
    let full = run(
        &DemudParams::new(1)
            .init(Init::Prior(prior.clone()))
            .update(UpdateMethod::Full),
        data.view(),
    );
    assert_eq!(full[0].index, 6);
    let wrong = Array2::zeros((3, 4));
    let err = DemudParams::new(1)
        .init(Init::Prior(wrong))
        .discover(data.view())
        .err()
        .unwrap();
    assert!(matches!(
        err,
        DemudError::DimensionMismatch {
            found: 4,
            expected: 3,
            ..
        }
    ));
}

#[test]
fn a_saved_model_continues_where_the_run_stopped() {
    let data = random_data(80, 12, 13);
    let (first, second) = data.view().split_at(Axis(0), 40);
    let params = DemudParams::new(4);
    let mut discovery = params.discover(first).unwrap();
    for s in discovery.by_ref() {
        s.unwrap();
    }
    let model = discovery.model().unwrap();
    assert_eq!(model.count(), 40);
    let state = crate::ModelState::new(model.clone(), &params);
    let json = serde_json_like_roundtrip(&state);
    assert_eq!(json.model, model);
    let continued = run(&params.clone().init(Init::Model(json.model)), second);
    let direct = run(&params.clone().init(Init::Model(model)), second);
    assert_eq!(continued, direct);
    let mismatch = SubspaceModel::rank_zero(array![1.0, 2.0].view(), RankZeroStyle::Empty);
    let err = params
        .clone()
        .init(Init::Model(mismatch))
        .discover(second)
        .err()
        .unwrap();
    assert!(matches!(
        err,
        DemudError::DimensionMismatch {
            what: "the model",
            ..
        }
    ));
}

/// JSON round trip (the CLI's format for saved states).
fn serde_json_like_roundtrip(state: &crate::ModelState) -> crate::ModelState {
    let text = serde_json::to_string(state).unwrap();
    serde_json::from_str::<crate::ModelState>(&text)
        .unwrap()
        .checked()
        .unwrap()
}

#[test]
fn tiny_collections_and_large_k_work() {
    let one = array![[1.0, 2.0, 3.0]];
    for init in [Init::Svd, Init::Mean, Init::Index(0), Init::Random] {
        let picks = run(&DemudParams::new(3).init(init), one.view());
        assert_eq!(indices(&picks), vec![0]);
        assert_eq!(picks[0].score, 0.0);
    }
    let three = array![
        [1.0, 0.0, 0.0, 0.0, 2.0],
        [0.0, 1.0, 0.0, 0.0, 2.0],
        [0.0, 0.0, 1.0, 0.0, 2.0]
    ];
    for update in [
        UpdateMethod::Brand,
        UpdateMethod::Full,
        UpdateMethod::Ross,
        UpdateMethod::Static,
    ] {
        let picks = run(&DemudParams::new(5).update(update), three.view());
        assert_eq!(picks.len(), 3);
    }
    let picks = run(&DemudParams::new(2).n_select(10), three.view());
    assert_eq!(
        picks.len(),
        3,
        "n larger than the collection selects everything"
    );
}

#[test]
fn invalid_parameters_are_refused_with_their_name() {
    let data = array![[1.0, 2.0], [3.0, 4.0]];
    let msg = |p: DemudParams| p.discover(data.view()).err().unwrap().to_string();
    assert!(msg(DemudParams::new(3)).contains("k = 3 exceeds the number of features d = 2"));
    assert!(msg(DemudParams::new(0)).contains("`k`"));
    assert!(msg(DemudParams::new(1).init(Init::Index(2))).contains("item index 2 is out of range"));
    assert!(
        msg(DemudParams::new(1).weights(array![1.0])).contains("feature weights has 1 features")
    );
    assert!(msg(DemudParams::new(1).weights(array![1.0, -1.0])).contains("weight of feature 1"));
    assert!(msg(DemudParams::new(1).n_select(0)).contains("`n`"));
    let empty = Array2::<f64>::zeros((0, 3));
    assert!(DemudParams::new(1)
        .discover(empty.view())
        .err()
        .unwrap()
        .to_string()
        .contains("empty"));
}

#[test]
fn ties_go_to_the_lowest_index() {
    let data = array![[0.0, 0.0], [1.0, 0.0], [-1.0, 0.0], [0.0, 1.0]];
    let picks = run(
        &DemudParams::new(1).init(Init::Index(0)).n_select(2),
        data.view(),
    );
    assert_eq!(picks[1].index, 1);
}

#[test]
fn the_isolated_rule_alternates_demud_and_the_most_isolated_item_after_the_warmup() {
    let data = random_data(120, 6, 21);
    let (warmup, neighbours) = (4, 5);
    let plain = run(&DemudParams::new(3).n_select(30), data.view());
    let params = DemudParams::new(3)
        .n_select(30)
        .selection(SelectionRule::Isolated { warmup, neighbours });
    let isolation =
        crate::peers::knn_distance_scores(data.view(), &crate::peers::KnnParams::new(neighbours))
            .unwrap();
    let mut discovery = params.discover(data.view()).unwrap();
    let mut picked = vec![false; data.nrows()];
    let mut picks = Vec::new();
    for s in 0..30 {
        // The scores every remaining item has under the model before this selection.
        let before = discovery.model().map(|m| {
            exact_scores(
                data.view(),
                &vec![true; data.nrows()],
                &m,
                &Scoring::default(),
            )
        });
        let selection = discovery.next().unwrap().unwrap();
        let i = selection.index;
        assert!(!picked[i]);
        let remaining = (0..data.nrows()).filter(|&j| !picked[j]);
        if s > warmup && (s - warmup) % 2 == 1 {
            let most_isolated = remaining
                .max_by(|&a, &b| isolation[a].total_cmp(&isolation[b]).then(b.cmp(&a)))
                .unwrap();
            assert_eq!(
                i, most_isolated,
                "selection {s} takes the most isolated item"
            );
        } else if let Some(before) = before {
            let best = remaining.map(|j| before[j]).fold(f64::MIN, f64::max);
            assert!(
                (selection.score - best).abs() <= 1e-9 * best.max(1.0),
                "selection {s} takes DEMUD's pick"
            );
        }
        // Every pick is explained by the model: expected plus novel content is the item.
        let x = data.row(i);
        let sum = &selection.expected + &selection.residual;
        assert!(sum.iter().zip(x).all(|(a, b)| (a - b).abs() < 1e-9));
        picked[i] = true;
        picks.push(i);
    }
    assert_eq!(
        picks[..=warmup],
        indices(&plain)[..=warmup],
        "the warm-up is DEMUD's"
    );
    assert_ne!(picks, indices(&plain), "the rule changes the ranking");
}

#[test]
fn the_isolated_rule_refuses_static_and_impossible_neighbours() {
    let data = random_data(10, 3, 2);
    let rule = |neighbours| SelectionRule::Isolated {
        warmup: 2,
        neighbours,
    };
    let err = DemudParams::new(2)
        .update(UpdateMethod::Static)
        .selection(rule(3))
        .discover(data.view())
        .err()
        .unwrap();
    assert!(err.to_string().contains("`static`"), "{err}");
    for bad in [0, 10] {
        let err = DemudParams::new(2)
            .selection(rule(bad))
            .discover(data.view())
            .err()
            .unwrap();
        assert!(err.to_string().contains("1 <= k < n"), "{err}");
    }
}

#[test]
fn identical_items_are_ranked_with_scores_zero_under_every_init_and_update() {
    // A collection of copies (and a prior of one copy) used to reach LAPACK with a 0 x 1
    // matrix and crash: the model has no direction to add.
    let copies = array![[1.0, 2.0], [1.0, 2.0], [1.0, 2.0]];
    for update in [UpdateMethod::Brand, UpdateMethod::Full, UpdateMethod::Ross] {
        for init in [Init::Svd, Init::Mean, Init::Index(1), Init::Random] {
            for compat in [Compatibility::Clean, Compatibility::Reference] {
                let params = DemudParams::new(1)
                    .update(update)
                    .init(init.clone())
                    .compat(compat);
                let picks = run(&params, copies.view());
                assert_eq!(picks.len(), 3, "{update:?} {init:?} {compat:?}");
                assert!(picks.iter().all(|s| s.score == 0.0));
            }
        }
    }
    let prior = array![[1.0, 2.0]];
    let picks = run(&DemudParams::new(1).init(Init::Prior(prior)), copies.view());
    assert_eq!(indices(&picks), vec![0, 1, 2]);
}

#[test]
fn values_whose_squares_overflow_are_refused_naming_the_item_and_feature() {
    let data = array![[1.0, 1.0], [1.0, 2.0], [3.0, -1e200]];
    let err = DemudParams::new(1).discover(data.view()).err().unwrap();
    assert!(
        matches!(
            err,
            DemudError::ValueTooLarge {
                what: "the collection",
                item: 2,
                feature: 1,
                ..
            }
        ) && err.to_string().contains("1e200"),
        "{err}"
    );
    let prior = array![[1e308, 0.0]];
    let err = DemudParams::new(1)
        .init(Init::Prior(prior))
        .discover(data.slice(ndarray::s![..2, ..]))
        .err()
        .unwrap();
    assert!(
        err.to_string()
            .starts_with("the prior data set, item 0, feature 0"),
        "{err}"
    );
}

/// Scores of `scaled` selections brought back to the units of the unscaled run.
fn assert_same_run(plain: &[Selection], scaled: &[Selection], factor: f64, what: &str) {
    assert_eq!(indices(plain), indices(scaled), "{what}");
    for (p, q) in plain.iter().zip(scaled) {
        let expected = p.score * factor * factor;
        if expected.is_normal() {
            assert!(
                (q.score - expected).abs() <= 1e-9 * expected,
                "{what}: score {} vs {expected}",
                q.score
            );
        }
        assert!(q.score.is_finite() && q.score >= 0.0, "{what}");
        let residual = p.residual.mapv(|v| v * factor);
        if residual.iter().all(|v| v.is_normal() || *v == 0.0) {
            let scale = residual.iter().fold(0.0_f64, |m, v| m.max(v.abs()));
            for (a, b) in q.residual.iter().zip(&residual) {
                assert!((a - b).abs() <= 1e-9 * scale, "{what}: residual {a} vs {b}");
            }
        }
    }
}

#[test]
fn the_picks_do_not_depend_on_the_units_from_subnormal_to_huge() {
    // Each scale used to end in a wrong answer: squares of 1e-170 underflow to 0 (every score
    // 0, the ranking in file order), f32 products of 1e-30 underflow in the one pass per
    // selection, squares of 1e160 overflow. The engine rescales such collections exactly.
    let data = random_data(40, 5, 3);
    for update in [UpdateMethod::Brand, UpdateMethod::Ross, UpdateMethod::Full] {
        for path in [ScorePath::Auto, ScorePath::Exact] {
            let params = DemudParams::new(2).update(update).path(path).n_select(20);
            let plain = run(&params, data.view());
            for exponent in [-1000, -700, -300, -100, 40, 300, 500] {
                let factor = 2f64.powi(exponent / 2) * 2f64.powi(exponent - exponent / 2);
                let scaled = data.mapv(|v| v * factor);
                let what = format!("{update:?} {path:?} x 2^{exponent}");
                assert_same_run(&plain, &run(&params, scaled.view()), factor, &what);
            }
            // Factors that are not powers of two move the scores by rounding only.
            for factor in [1e-170, 3e-30, 7e120] {
                let scaled = data.mapv(|v| v * factor);
                let picks = run(&params, scaled.view());
                assert_eq!(indices(&plain), indices(&picks), "{update:?} x {factor:e}");
            }
        }
    }
    // All values subnormal: they keep only ~16 of their bits, so the picks may move, but the
    // collection is ranked.
    let subnormal = data.mapv(|v| v * 2f64.powi(-530) * 2f64.powi(-530));
    assert!(subnormal.iter().all(|v| *v == 0.0 || !v.is_normal()));
    let picks = run(&DemudParams::new(2), subnormal.view());
    assert_eq!(picks.len(), data.nrows());
    assert!(picks.iter().all(|s| s.score.is_finite() && s.score >= 0.0));
    // Scores (squares of ~1e-319) are below the smallest f64 and read 0; the residuals are
    // representable and say the items differ.
    assert!(picks
        .iter()
        .skip(1)
        .any(|s| s.residual.iter().any(|&e| e != 0.0)));
    // f32 storage, whose one pass per selection over- and underflows far sooner.
    let narrow = data.mapv(|v| v as f32);
    let params = DemudParams::new(2).n_select(20);
    let plain = run(&params, narrow.view());
    for exponent in [-100, -60, 60, 100] {
        let factor = 2f64.powi(exponent);
        let scaled = narrow.mapv(|v| (f64::from(v) * factor) as f32);
        let what = format!("f32 x 2^{exponent}");
        assert_same_run(&plain, &run(&params, scaled.view()), factor, &what);
    }
    // A prior (and the saved model it gives) is rescaled with the collection.
    let prior = data.slice(ndarray::s![..10, ..]).to_owned();
    let rest = data.slice(ndarray::s![10.., ..]).to_owned();
    let params = DemudParams::new(2).n_select(10);
    let with_prior = params.clone().init(Init::Prior(prior.clone()));
    let plain = run(&with_prior, rest.view());
    let factor = 2f64.powi(-600);
    let tiny_prior = params.clone().init(Init::Prior(prior.mapv(|v| v * factor)));
    let tiny_rest = rest.mapv(|v| v * factor);
    assert_same_run(&plain, &run(&tiny_prior, tiny_rest.view()), factor, "prior");
    // The model is reported in the data's units, and continues as the unscaled one does.
    let model_after_one = |params: &DemudParams, data: ArrayView2<f64>| {
        let mut discovery = params.discover(data).unwrap();
        discovery.next().unwrap().unwrap();
        discovery.model().unwrap()
    };
    let plain_model = model_after_one(&with_prior, rest.view());
    let tiny_model = model_after_one(&tiny_prior, tiny_rest.view());
    for (a, b) in tiny_model.mean().iter().zip(plain_model.mean()) {
        assert_eq!(*a, b * factor);
    }
    let continue_from = |model| params.clone().init(Init::Model(model));
    let tail = ndarray::s![5.., ..];
    assert_same_run(
        &run(&continue_from(plain_model), rest.slice(tail)),
        &run(&continue_from(tiny_model), tiny_rest.slice(tail)),
        factor,
        "continued from a saved model",
    );
}

#[test]
fn the_kept_selecting_model_rescores_each_selection_to_its_score() {
    let data = random_data(60, 6, 5);
    for init in [Init::Svd, Init::Mean, Init::Index(3)] {
        let params = DemudParams::new(2).init(init.clone()).n_select(6);
        let mut discovery = params
            .discover(data.view())
            .unwrap()
            .keeping_selecting_models();
        assert!(discovery.selecting_model().is_none());
        while let Some(selection) = discovery.next() {
            let s = selection.unwrap();
            match discovery.selecting_model() {
                Some(model) => {
                    let (_, residual) = explain(&model, data.row(s.index).view());
                    let score = params.scoring().score(residual.view());
                    assert!(
                        (score - s.score).abs() <= 1e-9 * s.score.max(1.0),
                        "{init:?}"
                    );
                    assert!(s.rank > 1 || init != Init::Index(3));
                }
                None => assert_eq!((s.rank, &init), (1, &Init::Index(3))),
            }
        }
    }
    // Not kept unless asked for.
    let mut plain = DemudParams::new(2)
        .n_select(2)
        .discover(data.view())
        .unwrap();
    plain.next().unwrap().unwrap();
    assert!(plain.selecting_model().is_none());
}

/// A small collection drawn from a few values (so duplicates, zeros and ties are common),
/// optionally with whole rows copied.
fn small_collection() -> impl proptest::strategy::Strategy<Value = Array2<f64>> {
    use proptest::prelude::*;
    (2usize..10, 1usize..5).prop_flat_map(|(n, d)| {
        let value = prop_oneof![
            Just(0.0),
            Just(1.0),
            Just(-2.5),
            (-8i32..8).prop_map(f64::from),
            -10.0..10.0f64,
        ];
        (
            proptest::collection::vec(value, n * d),
            proptest::collection::vec((0..n, 0..n), 0..3),
        )
            .prop_map(move |(values, copies)| {
                let mut data = Array2::from_shape_vec((n, d), values).unwrap();
                for (from, to) in copies {
                    let row = data.row(from).to_owned();
                    data.row_mut(to).assign(&row);
                }
                data
            })
    })
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(192))]

    /// Any small finite collection, at any scale from 2^-1000 to 2^450, is ranked without
    /// panic or error; scores are finite and non-negative; and the picks are those of the
    /// same collection in other (power-of-two) units.
    #[test]
    fn any_collection_at_any_scale_is_ranked_with_the_same_picks(
        data in small_collection(),
        k in 1usize..5,
        update in proptest::sample::select(vec![UpdateMethod::Brand, UpdateMethod::Ross, UpdateMethod::Full]),
        init in proptest::sample::select(vec![Init::Svd, Init::Mean, Init::Index(0)]),
        exponent in -1000i32..450,
    ) {
        let k = k.min(data.ncols());
        let params = DemudParams::new(k).update(update).init(init);
        let plain = run(&params, data.view());
        let factor = 2f64.powi(exponent / 2) * 2f64.powi(exponent - exponent / 2);
        let scaled = data.mapv(|v| v * factor);
        let picks = run(&params, scaled.view());
        proptest::prop_assert_eq!(picks.len(), data.nrows());
        for s in plain.iter().chain(&picks) {
            proptest::prop_assert!(s.score.is_finite() && s.score >= 0.0, "score {}", s.score);
        }
        proptest::prop_assert_eq!(indices(&plain), indices(&picks));
    }
}
