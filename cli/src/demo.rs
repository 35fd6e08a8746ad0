//! `demud demo`: the engine alone on the built-in generated feature collection. Generates the seeded,
//! imbalanced collection, runs DEMUD (Brand and Ross updates) and the static SVD baseline on
//! it, and writes selections, explanations, the nAUC table and the discovery chart.

use crate::curve::{evaluate, format_table, plot_rows, read_run, write_table};
use crate::discover::{
    self, CompatArg, DetectArg, DiscoverArgs, InitArg, MissingArg, ScoreArg, UpdateArg,
};
use crate::output::write_csv;
use anyhow::Result;
use clap::Args;
use demud_datasets::synthetic::Recipe;
use std::path::PathBuf;

/// Options of `demud demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Output folder.
    #[arg(long, default_value = "results/demo", value_name = "DIR")]
    pub out: PathBuf,
    /// Seed of the generated collection.
    #[arg(long, default_value_t = Recipe::default().seed)]
    pub seed: u64,
    /// Principal components of the model.
    #[arg(long, short, default_value_t = 10)]
    pub k: usize,
    /// Selections per run.
    #[arg(long, short, default_value_t = 300)]
    pub n: usize,
    /// Random orders of the baseline.
    #[arg(long, default_value_t = 1000)]
    pub random: usize,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The nAUC horizons reported, as in the papers.
const AT: [usize; 3] = [10, 50, 300];

/// `demud demo`.
pub fn run(args: &DemoArgs) -> Result<()> {
    let recipe = Recipe {
        seed: args.seed,
        ..Recipe::default()
    };
    let collection = recipe.generate();
    let (n, d) = collection.features.dim();
    let features = args.out.join("collection.csv");
    let labels = args.out.join("labels.csv");
    let header = ["id", "label"]
        .into_iter()
        .map(String::from)
        .chain((0..d).map(|j| format!("f{j}")));
    let rows = (0..n).map(|i| {
        [collection.ids[i].clone(), collection.labels[i].clone()]
            .into_iter()
            .chain(collection.features.row(i).iter().map(|v| v.to_string()))
            .collect::<Vec<_>>()
    });
    write_csv(
        &features,
        std::iter::once(header.collect::<Vec<_>>()).chain(rows),
    )?;
    let label_rows = (0..n).map(|i| vec![collection.ids[i].clone(), collection.labels[i].clone()]);
    write_csv(
        &labels,
        std::iter::once(vec!["id".to_string(), "label".to_string()]).chain(label_rows),
    )?;
    if !args.quiet {
        eprintln!(
            "generated {n} items x {d} features in {} classes (sizes {:?}) -> {}",
            recipe.class_sizes.len(),
            recipe.class_sizes,
            features.display()
        );
    }

    let runs = [
        ("demud-brand", UpdateArg::Brand),
        ("demud-ross", UpdateArg::Ross),
        ("static-svd", UpdateArg::Static),
    ];
    let mut read_back = Vec::new();
    for (name, update) in runs {
        let out = args.out.join("runs").join(name);
        discover::run(&DiscoverArgs {
            features: features.clone(),
            items: None,
            labels: None,
            k: Some(args.k),
            n: Some(args.n),
            init: InitArg::Svd,
            seed: args.seed,
            update,
            score: ScoreArg::Lowhigh,
            weights: None,
            missing: MissingArg::Error,
            compat: CompatArg::Clean,
            prior: None,
            model_in: None,
            model_out: None,
            out: out.clone(),
            exact: false,
            refresh_every: 256,
            csv_header: DetectArg::Auto,
            csv_labels: DetectArg::Auto,
            top_features: 5,
            no_explanations: false,
            quiet: args.quiet,
        })?;
        read_back.push(read_run(&out, name.to_string(), None)?);
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
        png.file_name().unwrap().to_string_lossy(),
        svg.file_name().unwrap().to_string_lossy()
    );
    Ok(())
}
