//! Every measure on a small case computed by hand, and the evaluation's split and rows.

use super::*;
use ndarray::array;

/// Six training items on the axes, mean 0: class 0 on the x axis (±1, ±2), class 1 on the y
/// axis (±1). The x axis carries variance 10, the y axis 2, so the top principal direction
/// is x. With 2 kNN dimensions the projection is a rotation, so the kNN similarity of a
/// query is its cosine with the items.
fn train() -> (Array2<f64>, Vec<usize>) {
    let x = array![
        [1.0, 0.0],
        [2.0, 0.0],
        [0.0, 1.0],
        [0.0, -1.0],
        [-1.0, 0.0],
        [-2.0, 0.0]
    ];
    (x, vec![0, 0, 1, 1, 0, 0])
}

/// The identity head: logits = f.
fn head() -> LinearHead {
    LinearHead::new(array![[1.0, 0.0], [0.0, 1.0]], array![0.0, 0.0]).unwrap()
}

fn params() -> OodParams {
    OodParams::new()
        .k(3)
        .knn_dims(2)
        .pca_components(1)
        .demud_k(1)
        .conditioning(Conditioning::none())
}

fn taxonomy() -> Taxonomy {
    let table = vec![
        ("x".to_string(), vec!["axes".to_string()]),
        ("y".to_string(), vec!["axes".to_string()]),
    ];
    Taxonomy::for_classes(&["x".to_string(), "y".to_string()], &table).unwrap()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

#[test]
fn every_measure_by_hand() {
    let (x, labels) = train();
    let model = params()
        .fit(x.view(), &labels, head(), Some(taxonomy()))
        .unwrap();
    // q1 = (3, 1): cosines 3/√10 with (1,0) and (2,0) (tied: the lower index first), 1/√10
    // with (0,1). q2 = (1, 3): 3/√10 with (0,1), then 1/√10 with (1,0) and (2,0).
    let queries = array![[3.0, 1.0], [1.0, 3.0]];
    let t = model.measures(queries.view()).unwrap();
    assert!(t.skipped.is_empty());
    assert_eq!(t.measures.len(), Measure::ALL.len());
    assert_eq!(t.predicted, vec![0, 1]);
    let r10 = 10f64.sqrt();
    let h = -(2.0 / 3.0 * (2.0f64 / 3.0).ln() + 1.0 / 3.0 * (1.0f64 / 3.0).ln());
    // Neighbours' own-class probabilities under the identity head: (1,0) -> σ(1),
    // (2,0) -> σ(2), (0,1) -> σ(1).
    let true_prob = (2.0 * sigmoid(1.0) + sigmoid(2.0)) / 3.0;
    let q1 = [
        (Measure::Knn1st, 1.0 - 3.0 / r10),
        (Measure::KnnKth, 1.0 - 1.0 / r10),
        (Measure::KnnAvg, 1.0 - 7.0 / (3.0 * r10)),
        // Pairs: (1,0)-(2,0) at 0, each with (0,1) at 1.
        (Measure::KnnAmong, 2.0 / 3.0),
        (Measure::Ldof, (1.0 - 7.0 / (3.0 * r10)) * 1.5),
        // Off the x axis by 1, globally and under class 0's PCA (the x axis).
        (Measure::PcaError, 1.0),
        (Measure::PcaClassError, 1.0),
        (Measure::Msp, sigmoid(2.0)),
        (Measure::MspT2, sigmoid(1.0)),
        (Measure::KnnVoteMax, 2.0 / 3.0),
        (Measure::MeanProbMax, (sigmoid(2.0) + 2.0 / 3.0) / 2.0),
        (Measure::TaxonDistance, 0.0),
        (Measure::NeighbourEntropy, h),
        (Measure::EnWeDi1st, (1.0 - 3.0 / r10) * (1.0 + h)),
        (Measure::EnWeDiAvg, (1.0 - 7.0 / (3.0 * r10)) * (1.0 + h)),
        (
            Measure::FeatureEntropy,
            -(0.75 * 0.75f64.ln() + 0.25 * 0.25f64.ln()),
        ),
        (Measure::FeatureSum, 4.0),
        (Measure::FeatureNorm, r10),
        (Measure::NeighbourTrueProb, true_prob),
        // DEMUD's error with k = 1 and no conditioning is the same PCA error.
        (Measure::Demud, 1.0),
    ];
    // q2: the head says class 1 (y), the neighbours (0,1), (1,0), (2,0) say class 0: taxon
    // distance 1 (siblings). Off the x axis by 3 (global error 9), off class 1's y axis by 1.
    let q2 = [
        (Measure::Knn1st, 1.0 - 3.0 / r10),
        (Measure::KnnKth, 1.0 - 1.0 / r10),
        (Measure::PcaError, 9.0),
        (Measure::PcaClassError, 1.0),
        (Measure::TaxonDistance, 1.0),
        (Measure::KnnVoteMax, 2.0 / 3.0),
        // Mean of (σ(-2), σ(2)) and (2/3, 1/3): class 1's (σ(2) + 1/3) / 2 is the larger.
        (Measure::MeanProbMax, (sigmoid(2.0) + 1.0 / 3.0) / 2.0),
        (Measure::Demud, 9.0),
    ];
    for (q, expected) in [(0, &q1[..]), (1, &q2[..])] {
        for &(m, want) in expected {
            let got = t.column(m).unwrap()[q];
            assert!(
                (got - want).abs() < 1e-9,
                "query {q}, {}: {got} vs {want}",
                m.name()
            );
        }
    }
}

#[test]
fn taxon_distance_is_skipped_without_a_hierarchy() {
    let (x, labels) = train();
    let model = params().fit(x.view(), &labels, head(), None).unwrap();
    let t = model.measures(array![[3.0, 1.0]].view()).unwrap();
    assert!(t.column(Measure::TaxonDistance).is_none());
    assert_eq!(t.skipped.len(), 1);
    assert_eq!(t.skipped[0].0, Measure::TaxonDistance);
    assert_eq!(t.measures.len(), Measure::ALL.len() - 1);
}

#[test]
fn bad_parameters_are_refused() {
    let (x, labels) = train();
    assert!(params().k(1).fit(x.view(), &labels, head(), None).is_err());
    assert!(params().k(7).fit(x.view(), &labels, head(), None).is_err());
    assert!(params()
        .temperature(0.0)
        .fit(x.view(), &labels, head(), None)
        .is_err());
    assert!(params().fit(x.view(), &labels[..5], head(), None).is_err());
    let wide = LinearHead::new(Array2::zeros((2, 3)), Array1::zeros(2)).unwrap();
    assert!(params().fit(x.view(), &labels, wide, None).is_err());
    let model = params().fit(x.view(), &labels, head(), None).unwrap();
    assert!(model.measures(array![[1.0, f64::NAN]].view()).is_err());
    assert!(model.measures(array![[1.0, 2.0, 3.0]].view()).is_err());
}

#[test]
fn measure_names_are_distinct_and_directions_follow_the_definitions() {
    let names: std::collections::HashSet<&str> = Measure::ALL.iter().map(|m| m.name()).collect();
    assert_eq!(names.len(), Measure::ALL.len());
    assert_eq!(Measure::Msp.oriented(0.9), -0.9);
    assert_eq!(Measure::Knn1st.oriented(0.9), 0.9);
}

/// A table with two measures: `knn-1st` separates ID from OOD perfectly, `msp` (lower is
/// OOD) does too once oriented; `feature-sum` is noise.
fn synthetic_table(n_id: usize, n_ood: usize) -> (MeasureTable, Vec<Category>) {
    let n = n_id + n_ood;
    let mut values = Array2::zeros((n, 3));
    let mut categories = Vec::new();
    for i in 0..n {
        let ood = i >= n_id;
        values[(i, 0)] = if ood { 2.0 } else { 1.0 } + (i % 7) as f64 * 0.01;
        values[(i, 1)] = if ood { 0.2 } else { 0.9 } - (i % 5) as f64 * 0.01;
        values[(i, 2)] = ((i * 37) % 11) as f64;
        categories.push(if ood {
            Category::Ood
        } else if i % 4 == 0 {
            Category::IdIncorrect
        } else {
            Category::IdCorrect
        });
    }
    let table = MeasureTable {
        measures: vec![Measure::Knn1st, Measure::Msp, Measure::FeatureSum],
        values,
        predicted: vec![0; n],
        skipped: vec![],
    };
    (table, categories)
}

#[test]
fn evaluation_splits_by_category_and_scores_oriented_measures() {
    let (table, categories) = synthetic_table(60, 40);
    let p = OodParams::new()
        .seed(3)
        .forest(ForestParams::default().trees(20))
        .forest_fraction(0.5);
    let e = p.evaluate(&table, &categories).unwrap();
    // Half of each of ID and OOD train the forest.
    let trains = |ood: bool| {
        (0..100)
            .filter(|&i| !e.scored[i] && (categories[i] == Category::Ood) == ood)
            .count()
    };
    assert_eq!((trains(false), trains(true)), (30, 20));
    assert_eq!(e.rows.len(), 2 * 4);
    let row = |task: Task, name: &str| e.task(task).find(|r| r.name() == name).unwrap();
    assert_eq!(row(Task::OodVsId, "knn-1st").metrics.auroc, 1.0);
    assert_eq!(row(Task::OodVsId, "msp").metrics.auroc, 1.0);
    assert_eq!(row(Task::OodVsId, "forest").metrics.auroc, 1.0);
    assert_eq!(row(Task::OodVsId, "msp").metrics.tpr_at_fpr, 1.0);
    // On the second task the ID-incorrect items are positives no measure sees.
    assert!(row(Task::UntrustedVsCorrect, "knn-1st").metrics.auroc < 1.0);
    assert_eq!(e.best_single(Task::OodVsId).unwrap().name(), "knn-1st");
    // The same seed gives the same split and scores; another seed another split.
    let again = p.evaluate(&table, &categories).unwrap();
    assert_eq!(again.scored, e.scored);
    assert_eq!(again.forest_scores, e.forest_scores);
    let other = p.clone().seed(4).evaluate(&table, &categories).unwrap();
    assert_ne!(other.scored, e.scored);
}

#[test]
fn cross_fitting_scores_every_query_with_a_forest_that_did_not_see_it() {
    let (table, categories) = synthetic_table(60, 40);
    let forest = ForestParams::default().trees(15);
    let p = OodParams::new()
        .seed(2)
        .forest(forest.clone())
        .forest_split(ForestSplit::CrossFit { folds: 4 });
    let e = p.evaluate(&table, &categories).unwrap();
    assert!(e.scored.iter().all(|&s| s));
    // Every row is scored on all 100 queries: 60 ID, 40 OOD.
    let forest_row = e.task(Task::OodVsId).find(|r| r.measure.is_none()).unwrap();
    assert_eq!(forest_row.metrics.auroc, 1.0);
    // Out of fold: an item's score is the vote of the forest trained without its fold. Refit
    // the forests by hand from the folds (recovered from the same seeded shuffle) and check.
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2);
    let mut fold = vec![0; 100];
    for ood in [false, true] {
        let mut group: Vec<usize> = (0..100)
            .filter(|&i| (categories[i] == Category::Ood) == ood)
            .collect();
        group.shuffle(&mut rng);
        for (r, &i) in group.iter().enumerate() {
            fold[i] = r % 4;
        }
    }
    for f in 0..4 {
        let train: Vec<usize> = (0..100).filter(|&i| fold[i] != f).collect();
        let out: Vec<bool> = train
            .iter()
            .map(|&i| categories[i] == Category::Ood)
            .collect();
        let votes = forest
            .fit(table.values.select(Axis(0), &train).view(), &out)
            .unwrap()
            .vote_fractions(table.values.view())
            .unwrap();
        for i in (0..100).filter(|&i| fold[i] == f) {
            assert_eq!(e.forest_scores[i], votes[i], "item {i}");
        }
    }
    // Too many folds for the OOD items, or one fold, are refused.
    let (small, small_categories) = synthetic_table(10, 3);
    let err = OodParams::new()
        .forest_split(ForestSplit::CrossFit { folds: 4 })
        .evaluate(&small, &small_categories)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("out-of-distribution items; there are 3"),
        "{err}"
    );
    assert!(OodParams::new()
        .forest_split(ForestSplit::CrossFit { folds: 1 })
        .evaluate(&table, &categories)
        .is_err());
}

#[test]
fn evaluation_refuses_a_split_that_leaves_a_side_empty() {
    let (table, categories) = synthetic_table(10, 1);
    assert!(OodParams::new().evaluate(&table, &categories).is_err());
    let (table, categories) = synthetic_table(10, 4);
    assert!(OodParams::new()
        .forest_fraction(1.0)
        .evaluate(&table, &categories)
        .is_err());
    assert!(OodParams::new().evaluate(&table, &categories[1..]).is_err());
}
