use super::*;
use ndarray::Array2;
use rand::Rng;

/// `per_class` items of each of 4 classes: class c lies near its own 2-D plane through its
/// own centre in 8 dimensions, with a little noise off the plane.
fn clusters(per_class: usize, seed: u64) -> (Array2<f64>, Vec<usize>) {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let n = 4 * per_class;
    let mut data = Array2::<f64>::zeros((n, 8));
    let mut labels = vec![0; n];
    for i in 0..n {
        let c = i / per_class;
        labels[i] = c;
        data[(i, c)] = 4.0 + rng.random_range(-1.0..1.0);
        data[(i, 4 + c)] = rng.random_range(-1.0..1.0);
        data[(i, (c + 1) % 4)] += rng.random_range(-1.0..1.0);
        for j in 0..8 {
            data[(i, j)] += rng.random_range(-0.05..0.05);
        }
    }
    (data, labels)
}

#[test]
fn planted_mislabels_rank_first_and_resemble_their_true_class() {
    let (data, truth) = clusters(40, 1);
    let mut labels = truth.clone();
    let planted = [5, 47, 90, 133];
    for &i in &planted {
        labels[i] = (truth[i] + 2) % 4;
    }
    for refine in [false, true] {
        let params = AuditParams::new(2).neighbours(7).refine(refine);
        let result = audit(data.view(), &labels, &params).unwrap();
        let mut top: Vec<usize> = result.items[..4].iter().map(|s| s.index).collect();
        top.sort_unstable();
        assert_eq!(top, planted, "refine {refine}");
        for s in &result.items[..4] {
            assert_eq!(s.resembles, truth[s.index], "item {}", s.index);
            assert_eq!(s.best_other_class, truth[s.index]);
            assert_eq!(s.evidence, Evidence::Both);
            assert!(s.residual_ratio() > 1.0 && s.agreement < 0.5);
            assert!(s
                .resembled_neighbours
                .iter()
                .all(|nb| labels[nb.index] == truth[s.index]));
            assert!(s
                .own_neighbours
                .iter()
                .all(|nb| labels[nb.index] == s.label));
            assert_eq!(s.top_features.len(), 5);
        }
        // The residual features are the item's own values minus its class model's.
        let s = &result.items[0];
        for f in &s.top_features {
            assert_eq!(f.actual, data[(s.index, f.feature)]);
            assert!((f.actual - f.expected - f.residual).abs() < 1e-12);
        }
        if refine {
            assert!(planted.iter().all(|i| result.set_aside.contains(i)));
        }
    }
}

#[test]
fn an_item_is_judged_by_a_model_fitted_without_it() {
    // Class 1 has two items 2 apart: a model that included the judged item would explain it
    // exactly (residual 0); fitted on the other item alone, the residual is 2² = 4.
    let (mut data, mut labels) = clusters(20, 2);
    let n = data.nrows();
    let mut extra = Array2::<f64>::zeros((2, 8));
    extra[(0, 7)] = 10.0;
    extra[(1, 7)] = 12.0;
    data = ndarray::concatenate(Axis(0), &[data.view(), extra.view()]).unwrap();
    labels.extend([4, 4]);
    let result = audit(data.view(), &labels, &AuditParams::new(3).neighbours(3)).unwrap();
    for s in result.items.iter().filter(|s| s.index >= n) {
        assert!((s.own_residual - 4.0).abs() < 1e-9, "{}", s.own_residual);
    }
}

#[test]
fn the_same_seed_gives_the_same_audit_and_scores_are_percentiles() {
    let (data, mut labels) = clusters(30, 3);
    labels[10] = 3;
    let params = AuditParams::new(2).seed(9);
    let a = audit(data.view(), &labels, &params).unwrap();
    let b = audit(data.view(), &labels, &params).unwrap();
    assert_eq!(a, b);
    assert!(a.items.windows(2).all(|w| w[0].score >= w[1].score));
    assert!(a.items.iter().all(|s| s.score > 0.0 && s.score <= 1.0));
    let c = audit(data.view(), &labels, &params.clone().seed(10)).unwrap();
    assert_eq!(c.items[0].index, 10);
}

#[test]
fn percentiles_share_tied_ranks() {
    assert_eq!(
        percentiles(&[3.0, 1.0, 1.0, 2.0]),
        vec![1.0, 0.375, 0.375, 0.75]
    );
}

#[test]
fn bad_inputs_are_refused_with_what_is_wrong() {
    let (mut data, labels) = clusters(10, 4);
    let p = AuditParams::new(2);
    let err = audit(data.view(), &labels[1..], &p)
        .unwrap_err()
        .to_string();
    assert!(err.contains("39 labels for 40 items"), "{err}");
    let mut lonely = labels.clone();
    lonely[0] = 4;
    let err = audit(data.view(), &lonely, &p).unwrap_err().to_string();
    assert!(err.contains("class 4 has 1 item"), "{err}");
    let err = audit(data.view(), &vec![0; 40], &p)
        .unwrap_err()
        .to_string();
    assert!(err.contains("one class only"), "{err}");
    let err = audit(data.view(), &labels, &p.clone().folds(1))
        .unwrap_err()
        .to_string();
    assert!(err.contains("folds"), "{err}");
    let err = audit(data.view(), &labels, &p.clone().neighbours(40))
        .unwrap_err()
        .to_string();
    assert!(err.contains("neighbours"), "{err}");
    data[(3, 5)] = f64::NAN;
    assert!(matches!(
        audit(data.view(), &labels, &p),
        Err(DemudError::MissingValue {
            item: 3,
            feature: 5
        })
    ));
}

#[test]
fn explanations_are_the_class_models_residuals_in_the_conditioned_space() {
    let (data, truth) = clusters(30, 3);
    let mut labels = truth.clone();
    labels[7] = 2;
    labels[65] = 0;
    let conditioning: Conditioning = "centre+l2".parse().unwrap();
    let params = AuditParams::new(2)
        .neighbours(7)
        .conditioning(conditioning.clone())
        .explained(3);
    let result = audit(data.view(), &labels, &params).unwrap();
    assert_eq!(result.explanations.len(), 3);
    let z = result.conditioner.transform(data.view()).unwrap();
    let expected_z = conditioning
        .fit(data.view())
        .unwrap()
        .transform(data.view())
        .unwrap();
    assert!((&z - &expected_z).iter().all(|v| v.abs() < 1e-12));
    for (e, s) in result.explanations.iter().zip(&result.items) {
        // Most suspect first, under the given label's model and the resembled class's.
        assert_eq!(e.index, s.index);
        assert_eq!((e.own.class, e.resembled.class), (s.label, s.resembles));
        for fit in [&e.own, &e.resembled] {
            let sum = &fit.expected + &fit.residual;
            assert!(sum
                .iter()
                .zip(z.row(s.index))
                .all(|(a, b)| (a - b).abs() < 1e-12));
        }
        // |e|² is the residual the audit judged the item by.
        let own = e.own.residual.dot(&e.own.residual);
        assert!((own - s.own_residual).abs() <= 1e-10 * s.own_residual.max(1.0));
        if s.resembles == s.best_other_class {
            let other = e.resembled.residual.dot(&e.resembled.residual);
            assert!((other - s.other_residual).abs() <= 1e-10 * s.other_residual.max(1.0));
        }
    }
    // Off by default.
    let plain = audit(data.view(), &labels, &AuditParams::new(2).neighbours(7)).unwrap();
    assert!(plain.explanations.is_empty());
}
