//! `demud extract`: images in, feature files out (`.npy` + items CSV, optionally CSV), in the
//! formats `demud discover` reads.

use crate::args::ExtractArgs;
use crate::ui::{progress_bar, set_torch_threads, Verbosity};
use anyhow::{bail, Context, Result};
use demud_datasets::features::{items_path, write_csv_features, write_npy_features};
use demud_datasets::images::ImageCollection;
use demud_encoders::imagenet::{class_names, write_top5};
use demud_encoders::weights::models_dir;
use demud_encoders::{extract, ExtractorSpec, OnUnreadable};

/// The extractor `--model`, `--layer`, `--weights` and the baselines' options name.
fn spec(args: &ExtractArgs) -> ExtractorSpec {
    ExtractorSpec {
        batch: args.batch,
        pixels_side: args.pixels_side,
        vocabulary: args.vocabulary,
        seed: args.seed,
        ..args.network.spec()
    }
}

/// `demud extract`.
pub fn run(args: &ExtractArgs) -> Result<()> {
    set_torch_threads(args.threads);
    if args.out.extension().is_none_or(|e| e != "npy") {
        bail!(
            "--out {}: the features file must end in .npy",
            args.out.display()
        );
    }
    let collection = match &args.manifest {
        Some(manifest) => ImageCollection::from_manifest(&args.images, manifest)?,
        None => ImageCollection::from_folder(&args.images)?,
    };
    let mut extractor = spec(args).build()?;
    let verbosity = Verbosity::from_quiet(args.quiet);
    let started = std::time::Instant::now();
    let bar = progress_bar(verbosity, "extracting", collection.items.len() as u64);
    let on_unreadable = if args.strict {
        OnUnreadable::Fail
    } else {
        OnUnreadable::Skip
    };
    let result = extract(extractor.as_mut(), &collection, on_unreadable, |done| {
        bar.set_position(done as u64)
    })?;
    bar.finish_and_clear();
    for (item, why) in &result.skipped {
        eprintln!("warning: skipped {}: {why}", item.id);
    }
    let features = &result.features;
    let ids: Vec<String> = result.kept.iter().map(|i| i.id.clone()).collect();
    let labels: Option<Vec<String>> = result.kept.iter().any(|i| i.label.is_some()).then(|| {
        result
            .kept
            .iter()
            .map(|i| i.label.clone().unwrap_or_default())
            .collect()
    });
    write_npy_features(&args.out, &ids, labels.as_deref(), features)?;
    if args.csv {
        let names: Vec<String> = (0..features.ncols()).map(|j| format!("f{j}")).collect();
        let all_labels = labels
            .clone()
            .unwrap_or_else(|| vec![String::new(); ids.len()]);
        write_csv_features(
            &args.out.with_extension("csv"),
            &ids,
            Some(&all_labels),
            &names,
            features.view(),
        )?;
    }
    if let Some(path) = &args.top5 {
        let classes = args
            .classes
            .clone()
            .unwrap_or_else(|| models_dir().join("imagenet-classes.json"));
        let names = class_names(&classes)?;
        let ids: Vec<&str> = result.kept.iter().map(|i| i.id.as_str()).collect();
        write_top5(path, &names, &ids, features.view())
            .with_context(|| "--top5 needs a logits layer")?;
    }
    if verbosity == Verbosity::Normal {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "{}: {} images -> {} x {} features in {:.1} s ({:.1} images/s){}; kept items in {}",
            extractor.describe(),
            collection.items.len(),
            features.nrows(),
            features.ncols(),
            seconds,
            collection.items.len() as f64 / seconds,
            if result.skipped.is_empty() {
                String::new()
            } else {
                format!(", {} skipped", result.skipped.len())
            },
            items_path(&args.out).display()
        );
    }
    Ok(())
}
