//! Using the engine as a library: discover on the generated collection, explain the first
//! selections, and measure how fast classes are found.
//!
//! `cargo run --release --example discover`

use demud::evaluation::{class_codes, discovery_curve, nauc, random_baseline};
use demud::{DemudParams, Init, UpdateMethod};
use demud_datasets::synthetic::Recipe;

fn main() -> Result<(), demud::DemudError> {
    let collection = Recipe::default().generate();
    // CNN features arrive as f32; the engine keeps the model in f64 either way.
    let features = collection.features.mapv(|v| v as f32);
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
