//! `demud extract`: images in, feature files out (`.npy` + items CSV, optionally CSV), in the
//! formats `demud discover` reads.

use crate::args::ExtractArgs;
use crate::ui::{extract_with_progress, set_torch_threads, Verbosity};
use anyhow::{bail, Result};
use demud_datasets::extraction::{describe_geometry, parts_path, ExtractionRecord, PartsRecord};
use demud_datasets::features::write_csv_features;
use demud_datasets::images::{ImageCollection, ImageLimits};
use demud_datasets::parts::{write_parts, PartsPrecision};
use demud_encoders::extract::default_decode_workers;
use demud_encoders::imagenet::{class_names, logits_output, write_top5};
use demud_encoders::weights::models_dir;
use demud_encoders::{ExtractOptions, ExtractorSpec, OnUnreadable};
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// The extractor `--model`, `--layer`, `--weights` and the baselines' options name.
fn spec(args: &ExtractArgs) -> ExtractorSpec {
    ExtractorSpec {
        batch: args.batch,
        pixels_side: args.pixels_side,
        vocabulary: args.vocabulary,
        seed: args.seed,
        parts: args.parts.clone(),
        ..args.network.spec()
    }
}

/// Where output `layer` goes: `--out` itself for one output, `<stem>.<layer>.npy` beside it
/// for several.
fn output_path(out: &Path, layer: &str, outputs: usize) -> PathBuf {
    if outputs == 1 {
        return out.to_path_buf();
    }
    let stem = out.file_stem().unwrap_or_default().to_string_lossy();
    out.with_file_name(format!("{stem}.{layer}.npy"))
}

/// Writes a layer's parts (rows of `m x d` values, `d` the layer's width) beside its
/// features, on the square grid of `m` positions.
fn write_layer_parts(
    features: &Path,
    layer: &str,
    d: usize,
    parts: &Array2<f32>,
    precision: PartsPrecision,
) -> Result<PartsRecord> {
    let m = parts.ncols() / d.max(1);
    let side = (m as f64).sqrt().round() as usize;
    if side * side != m || m * d != parts.ncols() {
        bail!(
            "layer {layer}: {} part values per item are not a square grid of {d}-value positions",
            parts.ncols()
        );
    }
    let path = parts_path(features);
    let cube = parts
        .view()
        .into_shape_with_order((parts.nrows(), m, d))
        .expect("m x d values per item");
    write_parts(&path, cube, precision)?;
    Ok(PartsRecord {
        file: path.file_name().expect("a file").into(),
        grid: (side, side),
        precision,
    })
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
    let spec = spec(args);
    let mut extractor = spec.build()?;
    // The class names are checked against the network's outputs before any image is read.
    let top5 = match &args.top5 {
        Some(path) => {
            let classes = args
                .classes
                .clone()
                .unwrap_or_else(|| models_dir().join("imagenet-classes.json"));
            let names = class_names(&classes)?;
            let output = logits_output(extractor.as_mut(), &names, &classes)?;
            Some((path, classes, names, output))
        }
        None => None,
    };
    let mut outputs = extractor.outputs();
    if spec.parts.is_some() {
        outputs.pop(); // the parts go beside their layer's features
    }
    let paths: Vec<PathBuf> = outputs
        .iter()
        .map(|o| output_path(&args.out, o, outputs.len()))
        .collect();
    let verbosity = Verbosity::from_quiet(args.quiet);
    let started = std::time::Instant::now();
    let on_unreadable = if args.strict {
        OnUnreadable::Fail
    } else {
        OnUnreadable::Skip
    };
    let options = ExtractOptions {
        on_unreadable,
        decode_workers: args.decode_workers.unwrap_or_else(default_decode_workers),
        image_limits: ImageLimits {
            max_side: args.max_image_side,
            max_bytes: args.max_image_mb << 20,
            ..ImageLimits::DEFAULT
        },
    };
    let result = extract_with_progress(extractor.as_mut(), &collection, options, verbosity)?;
    let records = spec.records(extractor.as_ref())?;
    for (o, (path, record)) in paths.iter().zip(&records).enumerate() {
        let mut record = ExtractionRecord {
            images: args.images.clone(),
            ..record.clone()
        };
        if spec.parts.as_deref() == Some(outputs[o].as_str()) {
            let parts = result.features.last().expect("the parts come last");
            record.parts = Some(write_layer_parts(
                path,
                &outputs[o],
                result.features[o].ncols(),
                parts,
                args.parts_precision,
            )?);
        }
        result.write(o, path, &record)?;
        if args.csv {
            let features = &result.features[o];
            let names: Vec<String> = (0..features.ncols()).map(|j| format!("f{j}")).collect();
            let labels = result
                .labels()
                .unwrap_or_else(|| vec![String::new(); result.kept.len()]);
            write_csv_features(
                &path.with_extension("csv"),
                &result.ids(),
                Some(&labels),
                &names,
                features.view(),
            )?;
        }
    }
    if let Some((path, classes, names, output)) = &top5 {
        // The layer whose values are one per class (logits, fc8).
        let found = match output {
            Some(o) => result.features.get(*o),
            None => result.features.iter().find(|f| f.ncols() == names.len()),
        };
        let Some(logits) = found else {
            bail!(
                "--top5 needs a logits layer ({} values, one per class of {}); the layers extracted have {}",
                names.len(),
                classes.display(),
                result
                    .features
                    .iter()
                    .map(|f| f.ncols().to_string())
                    .collect::<Vec<_>>()
                    .join(", ")
            );
        };
        let ids: Vec<&str> = result.kept.iter().map(|i| i.id.as_str()).collect();
        write_top5(path, names, &ids, logits.view())?;
    }
    if verbosity == Verbosity::Normal {
        let seconds = started.elapsed().as_secs_f64();
        let shapes: Vec<String> = outputs
            .iter()
            .zip(&result.features)
            .zip(&paths)
            .map(|((o, f), p)| format!("{o}: {} x {} -> {}", f.nrows(), f.ncols(), p.display()))
            .collect();
        eprintln!(
            "{} ({}): {} images in {:.1} s ({:.1} images/s){}; {}",
            extractor.describe(),
            describe_geometry(&extractor.preprocess()),
            collection.items.len(),
            seconds,
            collection.items.len() as f64 / seconds,
            if result.skipped.is_empty() {
                String::new()
            } else {
                format!(", {} skipped", result.skipped.len())
            },
            shapes.join("; ")
        );
    }
    Ok(())
}
