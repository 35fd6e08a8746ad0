//! `demud demo`: the engine alone on the built-in generated feature collection. Generates the
//! seeded, imbalanced collection, runs DEMUD (Brand and Ross updates) and the static SVD
//! baseline on it, and writes the run folders, the nAUC table and the discovery chart.

use crate::args::DemoArgs;
use crate::ui::{progress_bar, Verbosity};
use anyhow::Result;
use demud::{DemudParams, Init, UpdateMethod};
use demud_datasets::features::write_csv_features;
use demud_datasets::run::{
    run_discovery_to, DiscoveryInputs, DiscoveryOutputs, DiscoverySettings, ExplanationFiles,
};
use demud_datasets::synthetic::Recipe;
use demud_report::curves::{evaluate, format_table, plot_rows, read_run_labels, write_table};

/// The nAUC horizons reported, as in the papers.
const AT: [usize; 3] = [10, 50, 300];

/// `demud demo`.
pub fn run(args: &DemoArgs) -> Result<()> {
    let verbosity = Verbosity::from_quiet(args.quiet);
    let recipe = Recipe {
        seed: args.seed,
        ..Recipe::default()
    };
    let collection = recipe.generate();
    let (n, d) = collection.features.dim();
    let features = args.out.join("collection.csv");
    let names: Vec<String> = (0..d).map(|j| format!("f{j}")).collect();
    write_csv_features(
        &features,
        &collection.ids,
        Some(&collection.labels),
        &names,
        collection.features.view(),
    )?;
    if verbosity == Verbosity::Normal {
        eprintln!(
            "generated {n} items x {d} features in {} classes (sizes {:?}) -> {}",
            recipe.class_sizes.len(),
            recipe.class_sizes,
            features.display()
        );
    }
    let inputs = DiscoveryInputs {
        features: features.clone(),
        ..DiscoveryInputs::default()
    };
    let outputs = DiscoveryOutputs {
        top_features: 5,
        explanations: ExplanationFiles::Written,
    };
    let mut read_back = Vec::new();
    for (name, update) in [
        ("demud-brand", UpdateMethod::Brand),
        ("demud-ross", UpdateMethod::Ross),
        ("static-svd", UpdateMethod::Static),
    ] {
        let out = args.out.join("runs").join(name);
        let params = DemudParams::new(args.k)
            .init(Init::Svd)
            .update(update)
            .seed(args.seed)
            .n_select(args.n);
        let bar = progress_bar(verbosity, name, args.n as u64);
        run_discovery_to(
            &out,
            &inputs,
            DiscoverySettings {
                params,
                k: Some(args.k),
                conditioning: None,
            },
            outputs,
            |done, _| bar.set_position(done as u64),
        )?;
        bar.finish_and_clear();
        read_back.push(read_run_labels(&out, name.to_string(), None)?);
    }
    let table = evaluate(&read_back, &collection.labels, &AT, args.random, args.seed)?;
    println!("{}", format_table(&table, &AT));
    write_table(&args.out.join("nauc.csv"), &table, &AT)?;
    let (png, svg) = plot_rows(
        &args.out.join("discovery"),
        &table,
        "Discovery curve: generated collection",
    )?;
    println!(
        "results in {}: runs/<run>/selections.csv (and explanations), nauc.csv, {}, {}",
        args.out.display(),
        png.file_name().unwrap_or_default().to_string_lossy(),
        svg.file_name().unwrap_or_default().to_string_lossy()
    );
    Ok(())
}
