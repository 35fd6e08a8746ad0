//! `demud train-decoder`: train the up-convolutional decoder on a collection's (image,
//! feature vector) pairs, with a progress bar, a loss curve, checkpoints and resume.

use crate::ui::{progress_bar, set_torch_threads, Verbosity};
use anyhow::{bail, Context, Result};
use clap::Args;
use demud_datasets::features::{items_path, read_features};
use demud_datasets::images::{ImageCollection, ImageItem};
use demud_datasets::{CsvLayout, FeatureMatrix};
use demud_decoder::checkpoint::ARCH_FILE;
use demud_decoder::fit::{input_scale, train_with_checkpoints, Progress, Schedule};
use demud_decoder::training::targets;
use demud_decoder::{DecoderArch, TrainParams, Trainer};
use demud_report::charts::write_loss;
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// Options of `demud train-decoder`.
#[derive(Args, Debug, Clone)]
pub struct TrainDecoderArgs {
    /// The image folder the features were extracted from (item ids are paths inside it).
    #[arg(long, value_name = "DIR")]
    pub images: PathBuf,
    /// The features (`extract`'s .npy with its items CSV beside it, or a features CSV).
    #[arg(long, value_name = "FILE")]
    pub features: PathBuf,
    /// Items CSV of a .npy (default: `<stem>.items.csv` beside it).
    #[arg(long, value_name = "FILE")]
    pub items: Option<PathBuf>,
    /// Checkpoint folder (decoder.safetensors, decoder.json, optimizer.safetensors, loss.csv,
    /// loss.png).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Output image side in pixels (64 on a CPU; 128 or 227 with time or a GPU).
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// Widths of the hidden fully connected layers (D&B's full size: 4096,4096,4096).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "1024,1024",
        value_name = "W,..."
    )]
    pub hidden: Vec<usize>,
    /// Total epochs (with --resume: including those already done).
    #[arg(long, default_value_t = TrainParams::default().epochs)]
    pub epochs: usize,
    /// Pairs per step.
    #[arg(long, default_value_t = TrainParams::default().batch_size)]
    pub batch: usize,
    /// Adam's learning rate.
    #[arg(long, default_value_t = TrainParams::default().learning_rate)]
    pub lr: f64,
    /// Seed of the initial weights and the shuffles.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Continue from the checkpoint in --out (its architecture, seed and optimizer state).
    #[arg(long)]
    pub resume: bool,
    /// Save a checkpoint every N epochs (and always at the end).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub checkpoint_every: usize,
    /// Threads libtorch may use (default: its own choice, the number of cores).
    #[arg(long)]
    pub threads: Option<i32>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Features as f32 rows with their ids (the items file beside a `.npy` unless `items`).
fn load_features(features: &Path, items: Option<&Path>) -> Result<(Vec<String>, Array2<f32>)> {
    let beside = items_path(features);
    if items.is_none() && features.extension().is_some_and(|e| e == "npy") && !beside.is_file() {
        bail!(
            "{}: no items file; the decoder needs each row's image id (pass --items)",
            beside.display()
        );
    }
    let table = read_features(features, CsvLayout::default(), items)?;
    let matrix = match table.matrix {
        FeatureMatrix::F32(m) => m,
        FeatureMatrix::F64(m) => m.mapv(|v| v as f32),
    };
    if matrix.iter().any(|v| !v.is_finite()) {
        bail!(
            "{}: the decoder needs finite features (missing values found)",
            features.display()
        );
    }
    Ok((table.ids, matrix))
}

/// `demud train-decoder`.
pub fn run(args: &TrainDecoderArgs) -> Result<()> {
    set_torch_threads(args.threads);
    let (ids, features) = load_features(&args.features, args.items.as_deref())?;
    let collection = ImageCollection {
        root: args.images.clone(),
        items: ids
            .iter()
            .map(|id| ImageItem {
                id: id.clone(),
                label: None,
            })
            .collect(),
    };
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
        let arch = DecoderArch {
            input_scale: input_scale(features.view()),
            hidden: args.hidden.clone(),
            ..DecoderArch::new(features.ncols(), args.size)
        };
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
