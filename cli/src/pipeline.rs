//! `demud pipeline`: the whole product on built-in planted collections, in the rover's use
//! case (rank today's batch against the archive), each step the same library calls as the
//! command a user would run, with that command's defaults:
//!
//! 1. plant: an archive of yellow flowers, discs and stars, and a new batch of the same in
//!    which six flowers have a dark centre;
//! 2. extract: EfficientNet-Lite0 `pool` features of both;
//! 3. discover: DEMUD's selections from the batch, starting from a model of the archive;
//! 4. train the up-convolutional decoder on the batch's (image, feature) pairs;
//! 5. maps: where in each selection the novelty is (the score split over the network's
//!    feature map, pixel gradients), as overlays;
//! 6. render every selection's five views and the contact sheet;
//! 7. localise: do the maps point at the dark centres, and do the centres cause the scores?
//! 8. report: the HTML report.

use crate::args::PipelineArgs;
use crate::ui::{extract_spec, progress_bar, Verbosity};
use anyhow::Result;
use demud::DemudParams;
use demud_datasets::images::ImageCollection;
use demud_datasets::planted::{FlowerRecipe, MANIFEST_FILE};
use demud_datasets::run::{
    run_discovery_to, write_localisation, write_maps, write_render, DiscoveryInputs,
    DiscoveryOutputs, DiscoverySettings, ExplanationFiles, MapsFolder, RenderFolder, RunFolder,
};
use demud_decoder::explain::{render_run, RenderOptions};
use demud_decoder::fit::{train_with_checkpoints, Progress, Schedule, TrainingSet};
use demud_decoder::network::DEFAULT_HIDDEN;
use demud_decoder::training::targets;
use demud_decoder::{TrainParams, Trainer};
use demud_encoders::{ExtractorSpec, Model};
use demud_maps::faithfulness::deletion_fractions;
use demud_maps::{map_run, MapSettings, Network};
use demud_report::charts::write_loss;
use demud_report::html::{collection_labels, write_report, ReportInput};
use demud_report::localisation::{format_localisation, localise_run, LocaliseInputs, Rescoring};
use std::path::Path;
use std::time::Instant;

/// Runs one step, timing it.
fn step<T>(name: &str, f: impl FnOnce() -> Result<T>) -> Result<T> {
    let started = Instant::now();
    eprintln!("== {name}");
    let value = f()?;
    eprintln!("   ({:.0} s)", started.elapsed().as_secs_f64());
    Ok(value)
}

/// EfficientNet-Lite0 `pool` features of a planted collection folder, as `extract` writes them.
fn extract_pool(collection_dir: &Path, out: &Path, verbosity: Verbosity) -> Result<()> {
    let collection =
        ImageCollection::from_manifest(collection_dir, &collection_dir.join(MANIFEST_FILE))?;
    let spec = ExtractorSpec::new(Model::EfficientNetLite0);
    let (result, records) = extract_spec(&spec, &collection, verbosity)?;
    result.write(0, out, &records[0])?;
    Ok(())
}

/// The decoder trained on a collection's (image, feature) pairs, as `train-decoder` does.
fn train_decoder(
    args: &PipelineArgs,
    images: &Path,
    features: &Path,
    out: &Path,
    verbosity: Verbosity,
) -> Result<()> {
    let set = TrainingSet::load(features, None)?;
    let collection = set.collection(images);
    let arch = set.arch(args.size, &DEFAULT_HIDDEN);
    let params = TrainParams {
        epochs: args.epochs,
        seed: args.seed,
        ..TrainParams::default()
    };
    let mut trainer = Trainer::new(arch.clone(), &params)?;
    let pictures = targets(&collection, &collection.items, &arch)?;
    let n = set.ids.len();
    let bar = progress_bar(verbosity, "epoch", (args.epochs * n) as u64);
    let schedule = Schedule {
        epochs: args.epochs,
        checkpoint_every: 5,
    };
    train_with_checkpoints(
        &mut trainer,
        set.features.view(),
        pictures.view(),
        out,
        schedule,
        |progress| {
            if let Progress::Step { epoch, pairs, loss } = progress {
                bar.set_position((epoch * n + pairs) as u64);
                bar.set_message(format!(
                    "epoch {}/{} loss {loss:.4}",
                    epoch + 1,
                    args.epochs
                ));
            }
        },
        |record| write_loss(out, &record.losses).map_err(anyhow::Error::from),
    )?;
    bar.finish_and_clear();
    Ok(())
}

/// `demud pipeline`.
pub fn run(args: &PipelineArgs) -> Result<()> {
    let verbosity = Verbosity::from_quiet(args.quiet);
    let out = &args.out;
    let archive = out.join("archive");
    let archive_features = out.join("archive.npy");
    let planted = out.join("planted");
    let features = out.join("features.npy");
    let run_dir = out.join("run");
    let decoder = out.join("decoder");
    let started = Instant::now();
    step("plant (archive)", || {
        let recipe = FlowerRecipe {
            seed: args.seed.wrapping_add(1),
            planted: 0,
            ..FlowerRecipe::default()
        };
        Ok(recipe.generate().write(&archive)?)
    })?;
    step("plant (batch)", || {
        let recipe = FlowerRecipe {
            seed: args.seed,
            ..FlowerRecipe::default()
        };
        Ok(recipe.generate().write(&planted)?)
    })?;
    step("extract (archive)", || {
        extract_pool(&archive, &archive_features, verbosity)
    })?;
    step("extract (batch)", || {
        extract_pool(&planted, &features, verbosity)
    })?;
    step("discover", || {
        let inputs = DiscoveryInputs {
            features: features.clone(),
            prior: Some(archive_features.clone()),
            ..DiscoveryInputs::default()
        };
        let outputs = DiscoveryOutputs {
            top_features: 5,
            explanations: ExplanationFiles::Written,
        };
        let params = DemudParams::new(args.k).n_select(args.n);
        let bar = progress_bar(verbosity, "selecting", args.n as u64);
        run_discovery_to(
            &run_dir,
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
        Ok(())
    })?;
    let run = RunFolder::open(&run_dir)?;
    let network = Network::from_spec(&ExtractorSpec::new(Model::EfficientNetLite0))?;
    step("maps", || {
        let maps = map_run(&run, &planted, &network, &MapSettings::default())?;
        Ok(write_maps(&run.maps_dir(), &maps)?)
    })?;
    step("train-decoder", || {
        train_decoder(args, &planted, &features, &decoder, verbosity)
    })?;
    let maps = MapsFolder::open(&run.maps_dir(), &run)?;
    step("render", || {
        let options = RenderOptions {
            limit: None,
            original_size: 128,
            maps: Some(&maps),
        };
        Ok(write_render(
            &run.render_dir(),
            &render_run(&run, &decoder, &planted, options)?,
        )?)
    })?;
    let render = RenderFolder::open(&run.render_dir(), &run)?;
    let localisation = step("localise", || {
        let (rows, report) = localise_run(&LocaliseInputs {
            run: &run,
            planted: &planted,
            maps: Some(&maps),
            render: Some(&render),
            rescoring: Some(Rescoring {
                network: &network,
                fractions: deletion_fractions(25),
                random_orders: 2,
                seed: args.seed,
            }),
        })?;
        write_localisation(run.dir(), &rows, &report)?;
        print!("{}", format_localisation(&report));
        Ok(report)
    })?;
    let page = step("report", || {
        let labels = collection_labels(&run, None)?;
        Ok(write_report(
            &out.join("report"),
            &ReportInput {
                title: "DEMUD: a new batch of yellow objects against the archive",
                run: &run,
                render: Some(&render),
                maps: Some(&maps),
                localisation: Some(&localisation),
                labels: labels.as_deref(),
                random_orders: 1000,
            },
        )?)
    })?;
    println!(
        "pipeline done in {:.0} s; open {}",
        started.elapsed().as_secs_f64(),
        page.display()
    );
    Ok(())
}
