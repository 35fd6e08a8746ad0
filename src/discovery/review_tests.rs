//! A reviewer's feedback: seen items absorbed into the model, withheld items, and a class of
//! interest ranked up or down.

use super::*;
use crate::scoring::{Interest, InterestMode, ScoreMethod, Scoring};
use ndarray::{s, Array2};
use rand::Rng;
use rand_chacha::ChaCha8Rng;

fn noise(n: usize, d: usize, seed: u64) -> Array2<f64> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, d), |_| rng.random::<f64>() - 0.5)
}

fn run(params: &DemudParams, data: ArrayView2<f64>) -> Vec<Selection> {
    params.discover(data).unwrap().map(|s| s.unwrap()).collect()
}

/// The collection without `drop`, and each kept row's index in the full collection.
fn without(data: &Array2<f64>, drop: &[usize]) -> (Array2<f64>, Vec<usize>) {
    let keep: Vec<usize> = (0..data.nrows()).filter(|i| !drop.contains(i)).collect();
    (data.select(Axis(0), &keep), keep)
}

fn prior_model(d: usize, k: usize) -> SubspaceModel {
    SubspaceModel::from_items(noise(40, d, 1).view(), k, Truncation::DropNullDirections).unwrap()
}

#[test]
fn seen_items_are_ranked_as_if_they_had_been_selected_first() {
    let data = noise(60, 12, 2);
    let k = 4;
    let seen = vec![17, 3, 41];
    let params = DemudParams::new(k).init(Init::Model(prior_model(12, k)));
    let with_feedback = run(&params.clone().seen(seen.clone()), data.view());

    // The same model with the seen items added in order, ranking the others.
    let mut absorbed = prior_model(12, k);
    for &i in &seen {
        absorbed
            .add_item(data.row(i), IncrementalMethod::Brand, k)
            .unwrap();
    }
    let (rest, index) = without(&data, &seen);
    let by_hand = run(&params.init(Init::Model(absorbed)), rest.view());

    assert_eq!(with_feedback.len(), 57);
    for (a, b) in with_feedback.iter().zip(&by_hand) {
        assert_eq!(a.index, index[b.index]);
        assert!((a.score - b.score).abs() <= 1e-12 * b.score.max(1.0));
    }
    assert!(with_feedback.iter().all(|s| !seen.contains(&s.index)));
}

#[test]
fn withheld_items_are_neither_candidates_nor_modelled() {
    let data = noise(50, 10, 3);
    let withheld = vec![0, 9, 30];
    let params = DemudParams::new(3).init(Init::Model(prior_model(10, 3)));
    let picks = run(&params.clone().withheld(withheld.clone()), data.view());
    let (rest, index) = without(&data, &withheld);
    let by_hand = run(&params, rest.view());
    let mapped: Vec<usize> = by_hand.iter().map(|s| index[s.index]).collect();
    assert_eq!(picks.iter().map(|s| s.index).collect::<Vec<_>>(), mapped);
}

/// Background noise, and two kinds of novel items: one along feature 8, one along feature 9.
fn two_novel_kinds() -> (Array2<f64>, Vec<usize>, Vec<usize>) {
    let mut data = noise(80, 10, 4) * 0.1;
    let kind_a: Vec<usize> = (60..70).collect();
    let kind_b: Vec<usize> = (70..80).collect();
    for (j, &i) in kind_a.iter().enumerate() {
        data[(i, 8)] = 3.0 + 0.1 * j as f64;
    }
    for (j, &i) in kind_b.iter().enumerate() {
        // Kind B is louder: plain DEMUD finds it first.
        data[(i, 9)] = 5.0 + 0.1 * j as f64;
    }
    (data, kind_a, kind_b)
}

#[test]
fn a_class_of_interest_ranks_its_look_alikes_up_or_down() {
    let (data, kind_a, kind_b) = two_novel_kinds();
    let model =
        SubspaceModel::from_items(data.slice(s![..60, ..]), 3, Truncation::DropNullDirections)
            .unwrap();
    let base = DemudParams::new(3).init(Init::Model(model.clone()));
    let first_picks = |mode, kept: usize| {
        let residual = explain(&model, data.row(kept).view()).1;
        let residuals = residual.insert_axis(Axis(0));
        let interest = Interest::from_residuals(residuals.view(), 3, mode).unwrap();
        let picks = run(
            &base
                .clone()
                .interest(interest)
                .withheld(vec![kept])
                .n_select(5),
            data.view(),
        );
        assert!(picks.iter().all(|p| p.index != kept));
        picks.iter().map(|p| p.index).collect::<Vec<_>>()
    };
    let plain: Vec<usize> = run(&base.clone().n_select(5), data.view())
        .iter()
        .map(|p| p.index)
        .collect();
    // Plain DEMUD takes the louder kind first, then alternates as the model learns each.
    assert!(kind_b.contains(&plain[0]), "{plain:?}");
    assert!(plain.iter().any(|i| kind_a.contains(i)), "{plain:?}");
    // Up: the kept item's kind comes first, though the other kind is louder. Once one is
    // selected the model learns its direction and the rest of its kind are explained, as in
    // any DEMUD run: one look-alike, then the next kind of novelty.
    let up = first_picks(InterestMode::Up, kind_a[0]);
    assert!(kind_a.contains(&up[0]), "{up:?}");
    // Down, keeping an item of the louder kind: the other kind comes first.
    let down = first_picks(InterestMode::Down, kind_b[0]);
    assert!(kind_a.contains(&down[0]), "{down:?}");
}

#[test]
fn up_and_down_split_the_plain_score() {
    let residuals = noise(3, 7, 5);
    let e = noise(1, 7, 6).row(0).to_owned();
    let plain = Scoring::new(ScoreMethod::LowHigh).score(e.view());
    let part = |mode| {
        let interest = Interest::from_residuals(residuals.view(), 2, mode).unwrap();
        let scoring = Scoring::new(ScoreMethod::LowHigh).with_interest(interest);
        let score = scoring.score(e.view());
        // The direction's inner product with e is the score (attribution maps split it).
        assert!((scoring.direction(e.view()).dot(&e) - score).abs() < 1e-12);
        score
    };
    let (up, down) = (part(InterestMode::Up), part(InterestMode::Down));
    assert!(up > 0.0 && down > 0.0);
    assert!((up + down - plain).abs() < 1e-12 * plain);
}

#[test]
fn feedback_that_cannot_apply_is_refused() {
    let data = noise(10, 4, 7);
    let refused = |params: DemudParams| params.discover(data.view()).err().unwrap().to_string();
    let model = || Init::Model(prior_model(4, 2));
    assert!(refused(DemudParams::new(2).seen(vec![1])).contains("prior data set or a saved model"));
    assert!(refused(DemudParams::new(2).init(model()).seen(vec![10])).contains("out of range"));
    assert!(refused(
        DemudParams::new(2)
            .init(model())
            .seen(vec![1])
            .withheld(vec![1])
    )
    .contains("listed twice"));
    assert!(refused(
        DemudParams::new(2)
            .init(model())
            .withheld((0..10).collect())
    )
    .contains("nothing is left"));
    let interest = Interest::from_residuals(noise(2, 4, 8).view(), 2, InterestMode::Up).unwrap();
    assert!(refused(
        DemudParams::new(2)
            .init(model())
            .score(ScoreMethod::High)
            .interest(interest)
    )
    .contains("lowhigh"));
    let exact = Interest::from_residuals(Array2::zeros((2, 4)).view(), 2, InterestMode::Up);
    assert!(exact.unwrap_err().to_string().contains("no novel content"));
}
