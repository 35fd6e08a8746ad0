//! DEMUD on the generated collection through the public API: it must find classes faster than
//! the static SVD baseline and random order, in f32 and f64 alike.

use demud::evaluation::{class_codes, discovery_curve, nauc, random_baseline};
use demud::{DemudParams, Init, UpdateMethod};
use demud_datasets::synthetic::Recipe;

fn nauc_of(
    update: UpdateMethod,
    features: ndarray::ArrayView2<f32>,
    labels: &[String],
    t: usize,
) -> (f64, Vec<usize>) {
    let params = DemudParams::new(10)
        .init(Init::Svd)
        .update(update)
        .n_select(t);
    let picks: Vec<usize> = params
        .discover(features)
        .unwrap()
        .map(|s| s.unwrap().index)
        .collect();
    let (_, classes) = class_codes(labels);
    let curve = discovery_curve(picks.iter().map(|&i| &labels[i]));
    (nauc(&curve, classes, t).unwrap(), picks)
}

#[test]
fn demud_finds_the_rare_classes_faster_than_static_svd_and_random() {
    let collection = Recipe::default().generate();
    let features = collection.features.mapv(|v| v as f32);
    let t = 100;
    let (brand, brand_picks) = nauc_of(UpdateMethod::Brand, features.view(), &collection.labels, t);
    let (ross, _) = nauc_of(UpdateMethod::Ross, features.view(), &collection.labels, t);
    let (fixed, _) = nauc_of(UpdateMethod::Static, features.view(), &collection.labels, t);
    let (codes, classes) = class_codes(&collection.labels);
    let random = nauc(&random_baseline(&codes, t, 500, 1), classes, t).unwrap();
    assert!(
        brand > fixed + 5.0 && brand > random + 10.0,
        "brand {brand:.1}, static {fixed:.1}, random {random:.1}"
    );
    assert!(ross > fixed + 5.0, "ross {ross:.1}, static {fixed:.1}");
    // The singleton class is among the first 100 selections.
    let singleton = collection
        .labels
        .iter()
        .position(|l| l == "class-11")
        .unwrap();
    assert!(brand_picks.contains(&singleton));

    // f64 storage of the same values makes the same picks.
    let same_values = features.mapv(f64::from);
    let params = DemudParams::new(10).init(Init::Svd).n_select(t);
    let picks64: Vec<usize> = params
        .discover(same_values.view())
        .unwrap()
        .map(|s| s.unwrap().index)
        .collect();
    assert_eq!(picks64, brand_picks);
}
