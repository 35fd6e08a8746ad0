//! `demud train-decoder`: train the up-convolutional decoder on a collection's (image,
//! feature vector) pairs, with a progress bar, a loss curve, checkpoints and resume.

use crate::discover::progress_bar;
use crate::output::write_csv;
use crate::plot::{line_chart, Axes, LineKind, Series};
use anyhow::{bail, Context, Result};
use clap::Args;
use demud_datasets::features::read_features;
use demud_datasets::images::{ImageCollection, ImageItem};
use demud_datasets::{CsvLayout, FeatureMatrix};
use demud_neural::upconv::training::{TrainParams, Trainer};
use demud_neural::upconv::{targets, DecoderArch, ARCH_FILE};
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

/// The default items CSV of a features file (as `extract` writes it).
pub fn default_items(features: &Path) -> Option<PathBuf> {
    let is_npy = features.extension().is_some_and(|e| e == "npy");
    is_npy.then(|| crate::extract::items_path(features))
}

/// Features as f32 rows with their ids.
pub fn load_features(features: &Path, items: Option<&Path>) -> Result<(Vec<String>, Array2<f32>)> {
    let default = default_items(features);
    let items = items.or(default.as_deref());
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
    if let Some(t) = args.threads {
        tch::set_num_threads(t);
    }
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
        let rms = (features
            .iter()
            .map(|&v| f64::from(v) * f64::from(v))
            .sum::<f64>()
            / features.len().max(1) as f64)
            .sqrt();
        let arch = DecoderArch {
            input_scale: if rms > 0.0 { (1.0 / rms) as f32 } else { 1.0 },
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
    let bar = progress_bar(args.quiet, "epoch");
    bar.set_length((args.epochs.saturating_sub(done) * ids.len()) as u64);
    for epoch in done..args.epochs {
        let start = (epoch - done) * ids.len();
        let mean = trainer.epoch(features.view(), images.view(), |pairs, loss| {
            bar.set_position((start + pairs) as u64);
            bar.set_message(format!(
                "epoch {}/{} loss {loss:.4}",
                epoch + 1,
                args.epochs
            ));
        })?;
        let last = epoch + 1 == args.epochs;
        if last || (args.checkpoint_every > 0 && (epoch + 1) % args.checkpoint_every == 0) {
            trainer.save(&args.out)?;
            write_loss(&args.out, &trainer.record().losses)?;
        }
        if !bar.is_hidden() {
            bar.println(format!("epoch {:>3}: loss {mean:.5}", epoch + 1));
        }
    }
    bar.finish_and_clear();
    let record = trainer.record();
    if !args.quiet {
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

/// `loss.csv` and the loss curve `loss.png` / `loss.svg`.
fn write_loss(out: &Path, losses: &[f64]) -> Result<()> {
    let rows = losses
        .iter()
        .enumerate()
        .map(|(e, l)| vec![(e + 1).to_string(), l.to_string()]);
    write_csv(
        &out.join("loss.csv"),
        std::iter::once(vec!["epoch".to_string(), "loss".to_string()]).chain(rows),
    )?;
    line_chart(
        &out.join("loss"),
        "Decoder training loss",
        Axes {
            x: "epoch",
            y: "pixel MSE",
            y_decimals: 3,
        },
        &[Series {
            name: "mean loss of the epoch",
            curve: losses,
            style: LineKind::Run(0),
        }],
    )?;
    Ok(())
}
