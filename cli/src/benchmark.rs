//! `demud benchmark`: the papers' Table 1 on labelled features or images, resumable.

use crate::args::{BenchmarkArgs, Named};
use crate::ui::{extract_spec, progress_bar, set_torch_threads, Verbosity};
use anyhow::{bail, Context, Result};
use demud::Conditioning;
use demud_datasets::atomic::{ensure_outside, write_atomic};
use demud_datasets::benchmark::Variant;
use demud_datasets::features::{content_hash, read_features, read_items, ItemRow};
use demud_datasets::images::ImageCollection;
use demud_datasets::{CsvLayout, FeatureTable};
use demud_encoders::ExtractorSpec;
use demud_report::benchmark::{
    format_markdown, plot_tables, run_benchmark, write_csv, FeatureSet, LabelSet, Plan,
};
use std::path::{Path, PathBuf};

/// `demud benchmark`.
pub fn run(args: &BenchmarkArgs) -> Result<()> {
    let verbosity = Verbosity::from_quiet(args.quiet);
    let mut given: Vec<&Path> = args.features.iter().map(|f| f.path.as_path()).collect();
    given.extend(args.labels.iter().map(|l| l.path.as_path()));
    given.extend(args.images.iter().map(PathBuf::as_path));
    given.extend(args.manifest.iter().map(PathBuf::as_path));
    ensure_outside(&args.out, &given)?;
    let plan = plan(args)?;
    let mut sources: Vec<Named> = args.features.clone();
    if let Some(images) = &args.images {
        sources.extend(extract_kinds(args, images, verbosity)?);
    }
    if sources.is_empty() {
        bail!("give feature files (--features NAME=FILE) or an image folder (--images DIR)");
    }
    let mut feature_sets = Vec::with_capacity(sources.len());
    for source in &sources {
        let table = read_features(&source.path, CsvLayout::default(), None)?;
        feature_sets.push(FeatureSet {
            name: source.name.clone(),
            fingerprint: content_hash(&source.path)?,
            table,
        });
    }
    let label_sets = label_sets(args, &sources[0], &feature_sets[0].table)?;
    let bar = progress_bar(verbosity, "cells", 0);
    let outcome = run_benchmark(
        &args.out.join("cells"),
        &plan,
        &feature_sets,
        &label_sets,
        |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    )?;
    bar.finish_and_clear();
    let table = format_markdown(&outcome.tables);
    write_atomic(&args.out.join("table.md"), |w| {
        Ok(w.write_all(table.as_bytes())?)
    })?;
    write_csv(&args.out.join("table.csv"), &outcome.tables)?;
    if !outcome.sweep.is_empty() {
        let sweep = format_markdown(&outcome.sweep);
        write_atomic(&args.out.join("k_sweep.md"), |w| {
            Ok(w.write_all(sweep.as_bytes())?)
        })?;
        write_csv(&args.out.join("k_sweep.csv"), &outcome.sweep)?;
    }
    let figures = args.out.join("figures");
    std::fs::create_dir_all(&figures)
        .with_context(|| format!("cannot create {}", figures.display()))?;
    plot_tables(&figures, &outcome.tables)?;
    print!("{table}");
    if verbosity == Verbosity::Normal {
        eprintln!(
            "{} cells computed, {} reused; tables, k sweep and figures in {}",
            outcome.computed,
            outcome.reused,
            args.out.display()
        );
    }
    Ok(())
}

/// The plan the options describe; bad values are named.
fn plan(args: &BenchmarkArgs) -> Result<Plan> {
    let conditionings = args
        .conditioning
        .iter()
        .map(|c| {
            c.parse::<Conditioning>()
                .map_err(|e| anyhow::anyhow!("--conditioning {c:?}: {e}"))
        })
        .collect::<Result<Vec<_>>>()?;
    let variants = args
        .variants
        .iter()
        .map(|v| match v.as_str() {
            "full" => Ok(Variant::Full),
            "unbalanced" => Ok(Variant::Unbalanced { seed: args.seed }),
            other => {
                bail!("--variants: unknown variant {other:?}; the variants are full and unbalanced")
            }
        })
        .collect::<Result<Vec<_>>>()?;
    if args.at.is_empty() || args.at.contains(&0) {
        bail!("--at: give numbers of selections t >= 1");
    }
    if args.random == 0 {
        bail!("--random: the random baseline needs at least 1 order");
    }
    if args.k == 0 || args.k_sweep.contains(&0) {
        bail!("--k / --k-sweep: k must be at least 1");
    }
    Ok(Plan {
        variants,
        methods: args.methods.clone(),
        conditionings,
        k: args.k,
        k_sweep: args.k_sweep.clone(),
        sweep_conditioning: Conditioning::recommended(),
        at: args.at.clone(),
        orders: args.random,
        seed: args.seed,
    })
}

/// Extracts each kind of `--kinds` into `OUT/features/<name>-<hash>.npy`, unless an earlier
/// run left it there (its items file's fingerprint proves it whole). The layers of one network
/// that are missing come from one forward pass.
fn extract_kinds(args: &BenchmarkArgs, images: &Path, verbosity: Verbosity) -> Result<Vec<Named>> {
    set_torch_threads(args.threads);
    let collection = match &args.manifest {
        Some(manifest) => ImageCollection::from_manifest(images, manifest)?,
        None => ImageCollection::from_folder(images)?,
    };
    let dir = args.out.join("features");
    std::fs::create_dir_all(&dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let order = collection
        .items
        .iter()
        .map(|i| i.id.as_str())
        .collect::<Vec<_>>()
        .join("\n");
    let mut kinds = Vec::new();
    for kind in &args.kinds {
        let mut spec: ExtractorSpec = kind.parse().with_context(|| format!("--kinds {kind:?}"))?;
        spec.weights = spec.weights.or_else(|| args.weights.clone());
        spec.seed = args.seed;
        spec.preprocessing = args.preprocess.choice();
        // The file name holds a hash of everything the features depend on (the extractor and
        // its options, the images and their order), so that changed inputs are extracted
        // anew instead of reusing an earlier run's file.
        let identity = format!("{spec:?}|{}|{order}", images.display());
        let path = dir.join(format!(
            "{}-{:08x}.npy",
            spec.name(),
            xxhash_rust::xxh3::xxh3_64(identity.as_bytes()) as u32
        ));
        let done = path.exists() && read_features(&path, CsvLayout::default(), None).is_ok();
        kinds.push((spec, path, done));
    }
    // Missing kinds grouped by extractor: a network's layers together, each baseline alone.
    let mut groups: Vec<(ExtractorSpec, Vec<PathBuf>)> = Vec::new();
    for (spec, path, done) in &kinds {
        if *done {
            continue;
        }
        let same_network = |g: &ExtractorSpec| {
            spec.model.default_layer().is_some()
                && ExtractorSpec {
                    layers: Vec::new(),
                    ..g.clone()
                } == ExtractorSpec {
                    layers: Vec::new(),
                    ..spec.clone()
                }
                && !g.layers().contains(&spec.layers()[0])
        };
        match groups.iter_mut().find(|(g, _)| same_network(g)) {
            Some((group, paths)) => {
                group.layers.extend(spec.layers());
                paths.push(path.clone());
            }
            None => groups.push((
                ExtractorSpec {
                    layers: spec.layers(),
                    ..spec.clone()
                },
                vec![path.clone()],
            )),
        }
    }
    for (spec, paths) in groups {
        let (result, records) = extract_spec(&spec, &collection, verbosity)?;
        for (output, (path, record)) in paths.iter().zip(&records).enumerate() {
            result.write(output, path, record)?;
        }
    }
    Ok(kinds
        .into_iter()
        .map(|(spec, path, _)| Named {
            name: spec.name(),
            path,
        })
        .collect())
}

/// The label sets of `--labels`, or the first feature set's own labels (its items file's or
/// its CSV's label column).
fn label_sets(args: &BenchmarkArgs, first: &Named, table: &FeatureTable) -> Result<Vec<LabelSet>> {
    if !args.labels.is_empty() {
        return args
            .labels
            .iter()
            .map(|l| {
                Ok(LabelSet {
                    name: l.name.clone(),
                    path: l.path.clone(),
                    rows: read_items(&l.path)?,
                })
            })
            .collect();
    }
    let Some(labels) = &table.labels else {
        bail!(
            "{}: the items have no labels; give --labels FILE (a CSV id,label)",
            first.path.display()
        );
    };
    let rows = table
        .ids
        .iter()
        .zip(labels)
        .enumerate()
        .map(|(i, (id, label))| ItemRow {
            line: i as u64 + 1,
            id: id.clone(),
            label: Some(label.clone()),
        })
        .collect();
    Ok(vec![LabelSet {
        name: "labels".into(),
        path: first.path.clone(),
        rows,
    }])
}
