//! `demud train-decoder`: train the up-convolutional decoder on a collection's (image,
//! feature vector) pairs, with a progress bar, a loss curve, checkpoints and resume.

use crate::args::TrainDecoderArgs;
use crate::ui::{progress_bar, set_torch_threads, Verbosity};
use anyhow::{bail, Context, Result};
use demud_decoder::checkpoint::ARCH_FILE;
use demud_decoder::fit::{train_with_checkpoints, Progress, Schedule, TrainingSet};
use demud_decoder::training::targets;
use demud_decoder::{TrainParams, Trainer};
use demud_report::charts::write_loss;

/// `demud train-decoder`.
pub fn run(args: &TrainDecoderArgs) -> Result<()> {
    set_torch_threads(args.threads);
    let set = TrainingSet::load(&args.features, args.items.as_deref())?;
    let collection = set.collection(&args.images);
    let (ids, features) = (&set.ids, &set.features);
    let mut trainer = if args.resume {
        if !args.out.join(ARCH_FILE).is_file() {
            bail!(
                "--resume: no checkpoint in {} (no {ARCH_FILE})",
                args.out.display()
            );
        }
        let trainer = Trainer::resume(&args.out)?;
        let arch = trainer.decoder().arch();
        if arch.input_dim != features.ncols() {
            bail!(
                "--resume: the checkpoint in {} reads {} features, {} has {}",
                args.out.display(),
                arch.input_dim,
                args.features.display(),
                features.ncols()
            );
        }
        trainer
    } else {
        let arch = set.arch(args.size, &args.hidden);
        let params = TrainParams {
            epochs: args.epochs,
            batch_size: args.batch,
            learning_rate: args.lr,
            seed: args.seed,
        };
        Trainer::new(arch, &params)?
    };
    let arch = trainer.decoder().arch().clone();
    let images = targets(&collection, &collection.items, &arch)
        .with_context(|| format!("reading the training images in {}", args.images.display()))?;
    let done = trainer.record().epochs_done;
    if done >= args.epochs {
        eprintln!(
            "the checkpoint already has {done} epochs (--epochs {})",
            args.epochs
        );
    }
    let verbosity = Verbosity::from_quiet(args.quiet);
    let bar = progress_bar(
        verbosity,
        "epoch",
        (args.epochs.saturating_sub(done) * ids.len()) as u64,
    );
    let schedule = Schedule {
        epochs: args.epochs,
        checkpoint_every: args.checkpoint_every,
    };
    let n = ids.len();
    train_with_checkpoints(
        &mut trainer,
        features.view(),
        images.view(),
        &args.out,
        schedule,
        |progress| match progress {
            Progress::Step { epoch, pairs, loss } => {
                bar.set_position(((epoch - done) * n + pairs) as u64);
                bar.set_message(format!(
                    "epoch {}/{} loss {loss:.4}",
                    epoch + 1,
                    args.epochs
                ));
            }
            Progress::Epoch { epoch, mean } => {
                if !bar.is_hidden() {
                    bar.println(format!("epoch {:>3}: loss {mean:.5}", epoch + 1));
                }
            }
        },
        |record| write_loss(&args.out, &record.losses).map_err(anyhow::Error::from),
    )?;
    bar.finish_and_clear();
    let record = trainer.record();
    if verbosity == Verbosity::Normal {
        eprintln!(
            "decoder: {} pairs, {} epochs, {} px, loss {:.5} -> {:.5}, {:.0} s training; checkpoint in {}",
            record.items,
            record.epochs_done,
            arch.image_size,
            record.losses.first().copied().unwrap_or(f64::NAN),
            record.losses.last().copied().unwrap_or(f64::NAN),
            record.seconds,
            args.out.display()
        );
    }
    Ok(())
}
