//! `demud archive`: the downlink loop. `init` makes an archive of what the team has seen,
//! `rank` ranks a new batch against it (extracting images with the archive's network, with a
//! reviewer's feedback when given) and writes the run, its maps and its report, `fold` adds
//! the reviewed batch to the archive, `status` says what the archive holds.

use crate::args::{ArchiveArgs, ArchiveCommand, ArchiveFoldArgs, ArchiveInitArgs};
use crate::args::{ArchiveRankArgs, ArchiveStatusArgs, BatchArgs};
use crate::ui::{extract_spec, progress_bar, Verbosity};
use anyhow::{bail, Context, Result};
use demud::DemudParams;
use demud_datasets::archive::{Archive, ArchiveRecord, ArchiveSettings, BATCHES_DIR};
use demud_datasets::atomic::ensure_outside;
use demud_datasets::extraction::{read_extraction_record, ExtractionRecord};
use demud_datasets::features::read_features;
use demud_datasets::images::ImageCollection;
use demud_datasets::run::{
    default_conditioning_of, run_discovery_to, write_maps, DiscoveryInputs, DiscoveryOutputs,
    DiscoverySettings, ExplanationFiles, MapsFolder, RunFolder,
};
use demud_datasets::{CsvLayout, FeatureMatrix, FeatureTable};
use demud_encoders::ExtractorSpec;
use demud_maps::{map_run, MapSettings, Network};
use demud_report::html::{collection_labels, write_report, ReportInput};
use std::path::{Path, PathBuf};

/// `demud archive`.
pub fn run(args: &ArchiveArgs) -> Result<()> {
    match &args.command {
        ArchiveCommand::Init(args) => init(args),
        ArchiveCommand::Rank(args) => rank(args),
        ArchiveCommand::Fold(args) => fold(args),
        ArchiveCommand::Status(args) => status(args),
    }
}

/// A batch's features, how they were made, its name and where its images are.
struct Batch {
    table: FeatureTable,
    extraction: Option<ExtractionRecord>,
    name: String,
    images: Option<PathBuf>,
}

/// The batch's name: as given, else the stem of its list or manifest, the image folder's
/// name or the features file's stem.
fn batch_name(args: &BatchArgs) -> Result<String> {
    if let Some(name) = &args.name {
        return Ok(name.clone());
    }
    // A list or manifest names the batch (one image folder may hold many days' images).
    let source = args
        .list
        .as_deref()
        .or(args.manifest.as_deref())
        .and_then(Path::file_stem)
        .or_else(|| args.images.as_deref().and_then(Path::file_name))
        .or_else(|| args.features.as_deref().and_then(Path::file_stem));
    match source.and_then(|s| s.to_str()) {
        Some(name) => Ok(name.to_string()),
        None => bail!("give the batch a name with --name"),
    }
}

/// Reads the batch's features, or extracts its images with `spec`.
fn load_batch(
    args: &BatchArgs,
    spec: Option<&ExtractorSpec>,
    verbosity: Verbosity,
) -> Result<Batch> {
    let name = batch_name(args)?;
    if let Some(features) = &args.features {
        let mut table = read_features(features, CsvLayout::default(), args.items.as_deref())?;
        if let Some(labels) = &args.labels {
            table.attach_labels(labels)?;
        }
        return Ok(Batch {
            table,
            extraction: read_extraction_record(features)?,
            name,
            images: None,
        });
    }
    let images = args.images.clone().context("give --features or --images")?;
    let spec = spec.context(
        "the archive holds features from a table, not from images: give the batch's --features",
    )?;
    let collection = match (&args.manifest, &args.list) {
        (Some(manifest), _) => ImageCollection::from_manifest(&images, manifest)?,
        (None, Some(list)) => ImageCollection::from_list(&images, list, args.class_map.as_deref())?,
        (None, None) => ImageCollection::from_folder(&images)?,
    };
    let (extraction, records) = extract_spec(spec, &collection, verbosity)?;
    let (Some(features), Some(record)) = (extraction.features.first(), records.first()) else {
        bail!("the extractor made no features");
    };
    if extraction.kept.is_empty() {
        bail!("no image of {} could be read", images.display());
    }
    let mut table = FeatureTable {
        ids: extraction.ids(),
        labels: extraction.labels(),
        feature_names: (0..features.ncols()).map(|j| format!("f{j}")).collect(),
        matrix: FeatureMatrix::F32(features.clone()),
    };
    if let Some(labels) = &args.labels {
        table.attach_labels(labels)?;
    }
    Ok(Batch {
        table,
        extraction: Some(ExtractionRecord {
            images: images.clone(),
            ..record.clone()
        }),
        name,
        images: Some(images),
    })
}

/// `demud archive init`.
fn init(args: &ArchiveInitArgs) -> Result<()> {
    let verbosity = Verbosity::from_quiet(args.quiet);
    let spec = args.batch.images.is_some().then(|| args.network.spec());
    if spec.as_ref().is_some_and(|s| s.layers().len() > 1) {
        bail!("--layer: an archive holds one layer's features; give one");
    }
    let batch = load_batch(&args.batch, spec.as_ref(), verbosity)?;
    let conditioning = match &args.conditioning.0 {
        Some(steps) => steps.clone(),
        None => {
            // As `discover` would choose for these features (images are stored as `.npy`).
            let as_given = args
                .batch
                .features
                .clone()
                .unwrap_or_else(|| PathBuf::from("batch.npy"));
            default_conditioning_of(
                &as_given,
                demud::Compatibility::Clean,
                batch.table.matrix.has_missing(),
                batch.extraction.as_ref(),
            )
        }
    };
    let settings = ArchiveSettings {
        k: args.k,
        update: args.update.into(),
        conditioning,
    };
    let archive = Archive::create(
        &args.archive,
        settings,
        &batch.name,
        &batch.table,
        batch.extraction,
    )?;
    println!(
        "archive {}: {} (batch {:?})",
        args.archive.display(),
        describe(archive.record()),
        batch.name
    );
    Ok(())
}

/// `demud archive rank`.
fn rank(args: &ArchiveRankArgs) -> Result<()> {
    let verbosity = Verbosity::from_quiet(args.quiet);
    let mut archive = Archive::open(&args.archive)?;
    let spec = archive
        .record()
        .extraction
        .as_ref()
        .map(|record| ExtractorSpec::from_record(record, args.weights.clone()))
        .transpose()?;
    archive.check_name_free(&batch_name(&args.batch)?)?;
    let batch = load_batch(&args.batch, spec.as_ref(), verbosity)?;
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| archive.run_dir(&batch.name));
    let mut inputs: Vec<&Path> = vec![archive.dir()];
    inputs.extend(args.batch.features.as_deref());
    inputs.extend(args.batch.images.as_deref());
    inputs.extend(args.review.files().map(PathBuf::as_path));
    // The default run folder lives inside the archive, beside (not over) its batches.
    let inside_archive = out.starts_with(archive.dir().join(demud_datasets::archive::RUNS_DIR));
    if !inside_archive {
        ensure_outside(&out, &inputs)?;
    } else {
        ensure_outside(&out, &inputs[1..])?;
    }
    let review = args.review.read()?;
    for id in review.seen.iter().chain(&review.interesting) {
        if !batch.table.ids.contains(id) {
            bail!(
                "{:?} (in --seen or --interesting) is not an item of batch {:?}",
                id,
                batch.name
            );
        }
    }
    // A new batch is staged for the run to refer to; if the ranking fails it is removed, so
    // a failed rank leaves the archive as it was.
    let was_pending = archive.batch_features(&batch.name).exists();
    let features = archive.stage(&batch.name, &batch.table, batch.extraction.clone())?;
    let bar = progress_bar(verbosity, "ranking", 0);
    let mut params =
        DemudParams::new(archive.record().settings.k).update(archive.record().settings.update);
    if let Some(n) = args.n {
        params = params.n_select(n);
    }
    let ranked = run_discovery_to(
        &out,
        &DiscoveryInputs {
            features,
            model_in: Some(archive.model_path()),
            review,
            ..Default::default()
        },
        DiscoverySettings {
            params,
            k: None,
            conditioning: None,
        },
        DiscoveryOutputs {
            top_features: 5,
            explanations: ExplanationFiles::Written,
        },
        |done, total| {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        },
    );
    bar.finish_and_clear();
    if let Err(e) = ranked {
        if !was_pending {
            archive.unstage(&batch.name)?;
        }
        return Err(e.into());
    }
    let run = RunFolder::open(&out)?;
    let maps = match (&batch.images, &spec, args.no_maps) {
        (Some(images), Some(spec), false) => {
            let network = Network::from_spec(spec)?;
            let settings = MapSettings {
                limit: Some(args.top),
                ..MapSettings::default()
            };
            let maps = map_run(&run, images, &network, &settings)?;
            write_maps(&run.maps_dir(), &maps)?;
            MapsFolder::open_or_default(None, &run)?
        }
        _ => None,
    };
    let labels = collection_labels(&run, None)?;
    let page = write_report(
        &out.join("report"),
        &ReportInput {
            title: &format!("{} against {}", batch.name, archive.dir().display()),
            run: &run,
            render: None,
            localisation: None,
            maps: maps.as_ref(),
            labels: labels.as_deref(),
            random_orders: 1000,
        },
    )?;
    println!(
        "batch {:?}: {} items ranked against {} archive items",
        batch.name,
        batch.table.ids.len(),
        archive.record().n_items()
    );
    println!("rank  score         id");
    for s in run.selections().iter().take(args.top) {
        let label = match s.label.is_empty() {
            true => String::new(),
            false => format!("  ({})", s.label),
        };
        println!("{:>4}  {:<12.6e}  {}{label}", s.rank, s.score, s.id);
    }
    println!("run: {}", out.display());
    println!("report: {}", page.display());
    println!(
        "after review: demud archive fold --archive {} --name {}",
        archive.dir().display(),
        batch.name
    );
    Ok(())
}

/// `demud archive fold`.
fn fold(args: &ArchiveFoldArgs) -> Result<()> {
    let mut archive = Archive::open(&args.archive)?;
    let folded = archive.fold(&args.name)?;
    println!(
        "folded {:?} ({} items): the archive holds {} items in {} batches; model of {} directions",
        folded.batch.name,
        folded.batch.items,
        folded.total,
        archive.record().batches.len(),
        folded.rank
    );
    Ok(())
}

/// What an archive holds and how it models it, in one line.
fn describe(record: &ArchiveRecord) -> String {
    format!(
        "{} items of {} features, k = {}, update {}, conditioning {}{}",
        record.n_items(),
        record.n_features,
        record.settings.k,
        match record.settings.update {
            demud::UpdateMethod::Ross => "ross",
            _ => "brand",
        },
        record.settings.conditioning,
        record
            .extraction
            .as_ref()
            .map(|e| format!(", features {}", e.kind))
            .unwrap_or_default()
    )
}

/// `demud archive status`.
fn status(args: &ArchiveStatusArgs) -> Result<()> {
    let archive = Archive::open(&args.archive)?;
    let record = archive.record();
    println!("archive {}: {}", args.archive.display(), describe(record));
    for batch in &record.batches {
        println!("folded   {:<24} {:>8} items", batch.name, batch.items);
    }
    let mut pending: Vec<String> = std::fs::read_dir(archive.dir().join(BATCHES_DIR))
        .map(|entries| {
            entries
                .filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    name.strip_suffix(".npy").map(str::to_string)
                })
                .filter(|name| archive.folded(name).is_none())
                .collect()
        })
        .unwrap_or_default();
    pending.sort();
    for name in pending {
        println!("pending  {name:<24} (ranked, not folded)");
    }
    Ok(())
}
