//! Using the engine as a library: discover on a small seeded collection (classes from common
//! to rare), explain the first selections, and measure how fast classes are found.
//! (`demud demo` runs the same on demud-datasets' larger generated collection.)
//!
//! `cargo run --release --example discover`

use demud::evaluation::{class_codes, discovery_curve, nauc, random_baseline};
use demud::{DemudParams, Init, UpdateMethod};
use ndarray::Array2;
use rand::{Rng, SeedableRng};

/// Items of 8 classes, 400 down to 1, around random centres in 32 features.
struct Collection {
    ids: Vec<String>,
    labels: Vec<String>,
    features: Array2<f32>,
}

fn collection() -> Collection {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(2013);
    let sizes = [400, 200, 100, 50, 20, 8, 3, 1];
    let d = 32;
    let (mut ids, mut labels, mut values) = (Vec::new(), Vec::new(), Vec::new());
    for (class, &size) in sizes.iter().enumerate() {
        let centre: Vec<f32> = (0..d).map(|_| rng.random_range(-3.0..3.0)).collect();
        for _ in 0..size {
            ids.push(format!("item{}", ids.len()));
            labels.push(format!("class{class}"));
            values.extend(centre.iter().map(|c| c + rng.random_range(-1.0..1.0)));
        }
    }
    Collection {
        features: Array2::from_shape_vec((ids.len(), d), values).expect("n x d values"),
        ids,
        labels,
    }
}

fn main() -> Result<(), demud::DemudError> {
    // CNN features arrive as f32; the engine keeps the model in f64 either way.
    let collection = collection();
    let features = &collection.features;
    let params = DemudParams::new(10)
        .init(Init::Svd)
        .update(UpdateMethod::Brand)
        .n_select(100);

    let mut order = Vec::new();
    for selection in params.discover(features.view())? {
        let selection = selection?;
        if selection.rank <= 5 {
            // The feature the model failed to expect most: the core of the explanation.
            let (feature, novelty) = selection
                .residual
                .iter()
                .enumerate()
                .max_by(|a, b| a.1.abs().total_cmp(&b.1.abs()))
                .expect("features");
            println!(
                "#{} item {} ({}), score {:.2}: most novel feature f{feature} ({novelty:+.2} vs expected {:.2})",
                selection.rank,
                collection.ids[selection.index],
                collection.labels[selection.index],
                selection.score,
                selection.expected[feature]
            );
        }
        order.push(collection.labels[selection.index].clone());
    }

    let (codes, classes) = class_codes(&collection.labels);
    let demud = nauc(&discovery_curve(order.iter()), classes, 100)?;
    let random = nauc(&random_baseline(&codes, 100, 1000, 0), classes, 100)?;
    println!("nAUC@100: DEMUD {demud:.2}, random {random:.2} ({classes} classes)");
    Ok(())
}
