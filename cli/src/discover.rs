//! `demud discover`: run DEMUD on a feature file and write the run folder.

use crate::args::DiscoverArgs;
use crate::ui::{progress_bar, Verbosity};
use anyhow::{Context, Result};
use demud::{DemudParams, ScorePath};
use demud_datasets::atomic::ensure_outside;
use demud_datasets::run::{
    run_discovery_into, write_saved_model, DiscoveryInputs, DiscoveryOutputs, DiscoverySettings,
    ExplanationFiles, RankedFrom, RunWriter,
};
use demud_datasets::CsvLayout;
use std::path::PathBuf;

/// `demud discover`.
pub fn run(args: &DiscoverArgs) -> Result<()> {
    let inputs = DiscoveryInputs {
        features: args.features.clone(),
        items: args.items.clone(),
        labels: args.labels.clone(),
        weights: args.weights.clone(),
        prior: args.prior.clone(),
        model_in: args.model_in.clone(),
        layout: CsvLayout {
            header: args.csv_header.into(),
            label_column: args.csv_labels.into(),
        },
        review: args.review.read()?,
    };
    let mut given: Vec<&std::path::Path> = vec![&args.features];
    given.extend(args.review.files().map(PathBuf::as_path));
    given.extend(
        [
            &args.items,
            &args.labels,
            &args.weights,
            &args.prior,
            &args.model_in,
        ]
        .into_iter()
        .flatten()
        .map(PathBuf::as_path),
    );
    ensure_outside(&args.out, &given)?;
    if let Some(model_out) = &args.model_out {
        // --model-out may name --model-in (the model is continued in place), no other input.
        let others: Vec<&std::path::Path> = given
            .iter()
            .copied()
            .filter(|p| Some(*p) != args.model_in.as_deref())
            .collect();
        ensure_outside(model_out, &others)?;
    }
    let mut params = DemudParams::new(args.k.unwrap_or(1))
        .init(args.init.into())
        .update(args.update.into())
        .score(args.score.into())
        .missing(args.missing.into())
        .compat(args.compat.into())
        .seed(args.seed)
        .svd(args.svd.into())
        .selection(args.selection.0)
        .refresh_every(args.refresh_every)
        .path(if args.exact {
            ScorePath::Exact
        } else {
            ScorePath::Auto
        });
    if let Some(n) = args.n {
        params = params.n_select(n);
    }
    let outputs = DiscoveryOutputs {
        top_features: args.top_features,
        explanations: if args.no_explanations {
            ExplanationFiles::Skipped
        } else {
            ExplanationFiles::Written
        },
    };
    let verbosity = Verbosity::from_quiet(args.quiet);
    let bar = progress_bar(verbosity, "selecting", 0);
    let settings = DiscoverySettings {
        params,
        k: args.k,
        conditioning: args.conditioning.0.clone(),
    };
    // The run folder is staged beside --out from the start: each selection's explanation is
    // written there as it is made, and the folder replaces --out only once it is complete.
    let mut writer = RunWriter::begin(&args.out)?;
    let finished = run_discovery_into(&inputs, settings, outputs, &mut writer, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .map_err(|e| match e {
        demud_datasets::DataError::Engine { ref source, .. }
            if matches!(source, demud::DemudError::MissingValue { .. }) =>
        {
            anyhow::Error::new(e)
                .context("choose --missing zero or --missing ignore to allow missing values")
        }
        e => e.into(),
    })?;
    bar.finish_and_clear();
    // The model first: an unwritable --model-out then fails before the run folder is replaced.
    if let Some(path) = &args.model_out {
        let model = finished.model.context("the run produced no model")?;
        write_saved_model(path, &model)?;
    }
    writer.finish(&finished.run)?;
    // Identical items are valid input; the notes say why scores are 0.
    let zeros = finished.zero_scores;
    if zeros.copies > 0 {
        eprintln!(
            "note: {} selection(s) scored 0: the model reconstructs them exactly (copies of items it had seen, or combinations of them), so their order among themselves means nothing",
            zeros.copies
        );
    }
    if zeros.underflowed > 0 {
        eprintln!(
            "note: {} score(s) are below the smallest f64 (the data's values are tiny) and show as 0; the items were ranked at full precision",
            zeros.underflowed
        );
    }
    if verbosity == Verbosity::Normal {
        // Where the collection was in memory: a large mapped `.npy` is ranked in place only
        // without conditioning.
        let ranked = match finished.ranked_from {
            RankedFrom::MappedFile => "the memory-mapped features in place".to_string(),
            RankedFrom::LoadedFeatures => "the features as read".to_string(),
            RankedFrom::ConditionedCopy { bytes, of_mapped } => format!(
                "a conditioned copy of the features made in memory ({:.2} GB){}",
                bytes as f64 / 1e9,
                if of_mapped {
                    "; --conditioning none ranks the mapped file in place, with no copy"
                } else {
                    ""
                }
            ),
        };
        eprintln!(
            "selected {} of {} items in {:.2} s, ranking {ranked}; results in {}",
            finished.run.selections.len(),
            finished.run.record.n_items,
            finished.run.record.seconds,
            args.out.display()
        );
    }
    Ok(())
}
