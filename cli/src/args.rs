//! Every command's flags (clap only): the command modules turn them into library calls.

use clap::{Args, Subcommand, ValueEnum};
use demud::{Compatibility, Init, MissingPolicy, ScoreMethod, UpdateMethod};
use demud_datasets::images::{Colour, CropMode};
use demud_datasets::parts::PartsPrecision;
use demud_datasets::planted::{FlowerRecipe, PatchRecipe};
use demud_datasets::run::{MapKind, RunFolder};
use demud_datasets::synthetic::Recipe;
use demud_datasets::Detect;
use demud_decoder::TrainParams;
use demud_encoders::kinds::{MAX_INPUT_SIDE, MAX_PIXELS_SIDE};
use demud_encoders::{ExtractorSpec, Model, Preprocessing};
use std::path::PathBuf;
use std::str::FromStr;

/// Options of `demud discover`.
#[derive(Args, Debug, Clone)]
pub struct DiscoverArgs {
    /// Features: a CSV (id first, optional label column, optional header) or an n x d `.npy`.
    #[arg(long, value_name = "FILE")]
    pub features: PathBuf,
    /// Ids and labels for `.npy` features: a CSV `id[,label]`, one row per item, in order
    /// (default: `<stem>.items.csv` beside the .npy, as `extract` writes it, when it exists).
    #[arg(long, value_name = "FILE")]
    pub items: Option<PathBuf>,
    /// Labels matched by id: a CSV `id,label` (overrides labels in the features file).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Number of principal components of the model (default: the --model-in state's).
    #[arg(long, short, allow_negative_numbers = true, value_parser = at_least_one)]
    pub k: Option<usize>,
    /// Number of selections to make (default: every item).
    #[arg(long, short, allow_negative_numbers = true, value_parser = at_least_one)]
    pub n: Option<usize>,
    /// First selection: `svd` (largest error under the top-k SVD of all items), `mean`
    /// (farthest from the mean), `random` (with --seed) or a 0-based item index.
    /// (Not with --prior or --model-in, which give the starting model.)
    #[arg(long, default_value = "svd", value_name = "svd|mean|random|INDEX", conflicts_with_all = ["prior", "model_in"])]
    pub init: InitArg,
    /// Seed of the random init and of the randomized SVD.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How the top-k SVD of all items (`--init svd`, `--update static`) or of --prior is
    /// computed: `exact` (LAPACK, in f64: copies of the items in memory), `randomized`
    /// (a seeded randomized SVD streaming the items: no copy, scores within a few percent of
    /// the exact model's when the spectrum falls slowly past k), `auto`: randomized from
    /// 4 million values (n x d) when min(n, d) > 2 (k + 10), exact below.
    #[arg(long, value_enum, default_value_t = SvdArg::Auto)]
    pub svd: SvdArg,
    /// Feature conditioning before ranking, fitted on --prior when given, else on the
    /// collection (a --model-in state brings its own): `none`, or steps joined by `+` from
    /// `centre`, `l2` (unit length), `power` (signed square root), `whiten:D` (PCA-whitening to
    /// D dimensions). `auto`: the recommended `power+centre+l2` for `.npy` (image) features,
    /// `none` for CSV tables, for data with missing values and with --compat reference.
    #[arg(long, default_value = "auto", value_name = "auto|none|STEPS")]
    pub conditioning: ConditioningArg,
    /// Which item each selection takes: `residual` (DEMUD: the one the model explains worst),
    /// or `isolated[:WARMUP[:K]]`: after WARMUP selections (default 50) every other one takes
    /// the remaining item farthest from its K-th nearest neighbour (default 5), for rare
    /// classes of single items; every pick is still explained by the model.
    #[arg(
        long,
        default_value = "residual",
        value_name = "residual|isolated[:W[:K]]"
    )]
    pub selection: SelectionArg,
    /// Model update after each selection.
    #[arg(long, value_enum, default_value_t = UpdateArg::Brand)]
    pub update: UpdateArg,
    /// Which residuals count: both signs, only below expected (low), only above (high).
    #[arg(long, value_enum, default_value_t = ScoreArg::Lowhigh)]
    pub score: ScoreArg,
    /// Per-feature weights: a file with one non-negative number per line, one line per feature.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Missing values (empty, nan, NA, ?): refuse them, replace by 0, or score observed
    /// features only.
    #[arg(long, value_enum, default_value_t = MissingArg::Error)]
    pub missing: MissingArg,
    /// `reference` reproduces wkiri/DEMUD's rank-0 quirk (U = e_0) for item-for-item comparison.
    #[arg(long, value_enum, default_value_t = CompatArg::Clean)]
    pub compat: CompatArg,
    /// Prior items (same format and features): the model starts from them; never selected.
    #[arg(long, value_name = "FILE")]
    pub prior: Option<PathBuf>,
    /// Continue from a saved model state (written by --model-out).
    #[arg(long, value_name = "FILE", conflicts_with = "prior")]
    pub model_in: Option<PathBuf>,
    /// Save the final model state (JSON) for a later run.
    #[arg(long, value_name = "FILE")]
    pub model_out: Option<PathBuf>,
    #[command(flatten)]
    pub review: ReviewArgs,
    /// Output folder (replaced whole once the run is complete).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Re-project every item at every selection instead of the fast update.
    #[arg(long)]
    pub exact: bool,
    /// Recompute the fast path's state exactly every N selections (0: never).
    #[arg(long, default_value_t = 256, value_name = "N")]
    pub refresh_every: usize,
    /// Does the features CSV have a header row?
    #[arg(long, value_enum, default_value_t = DetectArg::Auto)]
    pub csv_header: DetectArg,
    /// Does the features CSV have a label column (second)?
    #[arg(long, value_enum, default_value_t = DetectArg::Auto)]
    pub csv_labels: DetectArg,
    /// Features listed per selection in top_features.csv (largest |residual| first).
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub top_features: usize,
    /// Do not write expected.npy / residual.npy (smaller run folders; render needs them).
    #[arg(long)]
    pub no_explanations: bool,
    /// No progress bar or summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// A reviewer's feedback: `discover` and `archive rank`.
#[derive(Args, Debug, Clone)]
pub struct ReviewArgs {
    /// Items already reviewed and not interesting: a file of ids (one per line, or an
    /// `id[,label]` CSV). They are added to the model first, in order, as if selected, and
    /// are never selected. Needs --prior or --model-in.
    #[arg(long, value_name = "FILE")]
    pub seen: Option<PathBuf>,
    /// Items kept as interesting (a class of interest): a file of ids. Never selected, not
    /// added to the model; their look-alikes are ranked up or down (--interest).
    #[arg(long, value_name = "FILE")]
    pub interesting: Option<PathBuf>,
    /// With --interesting: rank the class's look-alikes first (up) or last (down).
    #[arg(long, value_enum, default_value_t = InterestArg::Up, requires = "interesting")]
    pub interest: InterestArg,
}

impl ReviewArgs {
    /// The feedback the files give.
    pub fn read(&self) -> anyhow::Result<demud_datasets::run::Review> {
        use demud_datasets::run::Review;
        let ids = |path: &Option<PathBuf>| -> anyhow::Result<Vec<String>> {
            Ok(match path {
                Some(p) => Review::read_ids(p)?,
                None => Vec::new(),
            })
        };
        Ok(Review {
            seen: ids(&self.seen)?,
            interesting: ids(&self.interesting)?,
            interest: self.interest.into(),
        })
    }

    /// The feedback files given.
    pub fn files(&self) -> impl Iterator<Item = &PathBuf> {
        self.seen.iter().chain(&self.interesting)
    }
}

/// `--init` value.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum InitArg {
    /// Top-k SVD of all items.
    Svd,
    /// Farthest from the mean.
    Mean,
    /// Seeded random item.
    Random,
    /// This item.
    Index(usize),
}

/// `--selection`: the engine's selection rule.
#[derive(Clone, Copy, Debug)]
pub struct SelectionArg(pub demud::SelectionRule);

impl FromStr for SelectionArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let mut parts = s.split(':');
        let number = |part: Option<&str>, default: usize, what: &str| match part {
            None => Ok(default),
            Some(p) => p
                .parse::<usize>()
                .map_err(|_| format!("{s:?}: {what} must be a whole number, not {p:?}")),
        };
        match parts.next() {
            Some("residual") if parts.next().is_none() => {
                Ok(SelectionArg(demud::SelectionRule::Residual))
            }
            Some("isolated") => {
                let warmup = number(parts.next(), 50, "the warm-up")?;
                let neighbours = number(parts.next(), 5, "the neighbour")?;
                if parts.next().is_some() {
                    return Err(format!("{s:?} is not isolated[:WARMUP[:K]]"));
                }
                Ok(SelectionArg(demud::SelectionRule::Isolated {
                    warmup,
                    neighbours,
                }))
            }
            _ => Err(format!("{s:?} is not residual or isolated[:WARMUP[:K]]")),
        }
    }
}

/// `--conditioning`: `auto` (the run picks) or the steps.
#[derive(Clone, Debug)]
pub struct ConditioningArg(pub Option<demud::Conditioning>);

impl FromStr for ConditioningArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        if s.trim() == "auto" {
            return Ok(ConditioningArg(None));
        }
        s.parse()
            .map(|c| ConditioningArg(Some(c)))
            .map_err(|e: demud::DemudError| e.to_string())
    }
}

impl FromStr for InitArg {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "svd" => Ok(InitArg::Svd),
            "mean" => Ok(InitArg::Mean),
            "random" => Ok(InitArg::Random),
            other => other
                .parse()
                .map(InitArg::Index)
                .map_err(|_| format!("{s:?} is not svd, mean, random or a 0-based item index")),
        }
    }
}

impl From<InitArg> for Init {
    fn from(init: InitArg) -> Init {
        match init {
            InitArg::Svd => Init::Svd,
            InitArg::Mean => Init::Mean,
            InitArg::Random => Init::Random,
            InitArg::Index(i) => Init::Index(i),
        }
    }
}

macro_rules! value_enum {
    ($name:ident => $target:ty { $($variant:ident => $value:expr),* $(,)? }) => {
        #[doc = concat!("Command-line spelling of [`", stringify!($target), "`].")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
        pub enum $name { $(#[allow(missing_docs)] $variant),* }
        impl From<$name> for $target {
            fn from(v: $name) -> $target { match v { $($name::$variant => $value),* } }
        }
    };
}

value_enum!(SvdArg => demud::model::SvdMethod { Auto => demud::model::SvdMethod::Auto, Exact => demud::model::SvdMethod::Exact, Randomized => demud::model::SvdMethod::Randomized });
value_enum!(UpdateArg => UpdateMethod { Brand => UpdateMethod::Brand, Full => UpdateMethod::Full, Ross => UpdateMethod::Ross, Static => UpdateMethod::Static });
value_enum!(ScoreArg => ScoreMethod { Lowhigh => ScoreMethod::LowHigh, Low => ScoreMethod::Low, High => ScoreMethod::High });
value_enum!(MissingArg => MissingPolicy { Error => MissingPolicy::Error, Zero => MissingPolicy::Zero, Ignore => MissingPolicy::Ignore });
value_enum!(CompatArg => Compatibility { Clean => Compatibility::Clean, Reference => Compatibility::Reference });
value_enum!(InterestArg => demud::InterestMode { Up => demud::InterestMode::Up, Down => demud::InterestMode::Down });
value_enum!(DetectArg => Detect { Auto => Detect::Auto, Yes => Detect::Yes, No => Detect::No });

/// How images are brought to a network's input: `extract`, `benchmark` and `maps`.
#[derive(Args, Debug, Clone, Default)]
pub struct PreprocessArgs {
    /// How an image is fitted to the square input: `center` (the shorter side resized to
    /// --resize, the centre kept: ImageNet's evaluation transform, which cuts 1/16 off each
    /// edge at 224), `none` (the whole image resized to the input, aspect ratio not kept: for
    /// icons, tiles, scans and frames whose content fills the canvas), `pad` (the longer side
    /// resized to the input, bands of --fill around). Default: center for networks and pixels,
    /// none for the bag of words.
    #[arg(long, value_name = "center|none|pad")]
    pub crop: Option<CropMode>,
    /// With --crop center: the shorter side before cropping (default 256 for a 224 input,
    /// i.e. the input x 8/7).
    #[arg(long, value_name = "PIXELS", value_parser = clap::value_parser!(u32).range(1..=MAX_INPUT_SIDE as i64))]
    pub resize: Option<u32>,
    /// The colour behind transparent pixels: white (default), black, grey, #rrggbb or r,g,b.
    #[arg(long, value_name = "COLOUR")]
    pub background: Option<Colour>,
    /// With --crop pad: the colour of the bands (default: the background).
    #[arg(long, value_name = "COLOUR")]
    pub fill: Option<Colour>,
}

impl PreprocessArgs {
    /// The choices these options make.
    pub fn choice(&self) -> Preprocessing {
        Preprocessing {
            crop: self.crop,
            resize: self.resize,
            background: self.background,
            fill: self.fill,
        }
    }

    /// Whether any option was given.
    pub fn is_given(&self) -> bool {
        self.choice() != Preprocessing::default()
    }
}

/// The network that makes (or made) the features: `extract` and `maps`.
#[derive(Args, Debug, Clone)]
pub struct NetworkArgs {
    /// The encoder (default: efficientnet-lite0; for `maps`, the one the run's features
    /// were extracted with).
    #[arg(long, value_enum)]
    pub model: Option<ModelArg>,
    /// Layer: efficientnet-lite0 `block`, `pool` (default), `logits`; alexnet `pool5`, `fc6`,
    /// `fc7` (default), `fc8`; torchscript `output` (default) or its tuple/dict names.
    /// `extract` takes several, comma-separated, from one forward pass.
    #[arg(long, value_delimiter = ',', value_name = "LAYER[,LAYER...]")]
    pub layer: Vec<String>,
    /// Weights (.safetensors). Default for efficientnet-lite0: efficientnet-lite0.safetensors in
    /// the models folder ($DEMUD_MODELS, else the checkout's models/, filled by scripts/setup);
    /// required for alexnet; the module file for torchscript.
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// Input side of a TorchScript module (default 224).
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=MAX_INPUT_SIDE as i64))]
    pub input_size: Option<u32>,
    /// How images are brought to the network's input.
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
}

impl NetworkArgs {
    /// The extractor these options name (the baselines' own options at their defaults).
    pub fn spec(&self) -> ExtractorSpec {
        let model = match self.model.unwrap_or(ModelArg::EfficientnetLite0) {
            ModelArg::EfficientnetLite0 => Model::EfficientNetLite0,
            ModelArg::Alexnet => Model::AlexNet,
            ModelArg::Torchscript => Model::TorchScript,
            ModelArg::Pixels => Model::Pixels,
            ModelArg::Bow => Model::BagOfWords,
        };
        let defaults = ExtractorSpec::new(model);
        ExtractorSpec {
            layers: self.layer.clone(),
            weights: self.weights.clone(),
            input_size: self.input_size.unwrap_or(defaults.input_size),
            preprocessing: self.preprocess.choice(),
            ..defaults
        }
    }

    /// The network of a run's features (its extraction record), with what these options name
    /// instead: another model or layer replaces the record's network, moved weights its
    /// weights file, preprocessing options its preprocessing (and the maps refuse what
    /// differs from the record). Without a record (features from elsewhere), the options
    /// alone.
    pub fn spec_for_run(&self, run: &RunFolder) -> anyhow::Result<ExtractorSpec> {
        let Some(record) = run.record().extraction.as_ref() else {
            return Ok(self.spec());
        };
        let recorded = ExtractorSpec::from_record(record, self.weights.clone())?;
        let mut spec = if self.model.is_some() || !self.layer.is_empty() {
            ExtractorSpec {
                preprocessing: recorded.preprocessing,
                ..self.spec()
            }
        } else {
            recorded
        };
        if self.preprocess.is_given() {
            spec.preprocessing = self.preprocess.choice();
        }
        if let Some(side) = self.input_size {
            spec.input_size = side;
        }
        Ok(spec)
    }
}

/// Options of `demud extract`.
#[derive(Args, Debug, Clone)]
pub struct ExtractArgs {
    /// Image folder: one subfolder per class (ImageFolder), or flat with --manifest.
    #[arg(long, value_name = "DIR")]
    pub images: PathBuf,
    /// CSV `path,label` listing the images (paths relative to --images).
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// The network (or baseline) and its layer.
    #[command(flatten)]
    pub network: NetworkArgs,
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
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    pub threads: Option<i32>,
    /// Threads that decode and resize the next images while the network runs (default: 1 on
    /// a machine with more than one core, else 0: all on the main thread).
    #[arg(long, value_name = "N")]
    pub decode_workers: Option<usize>,
    /// The largest width or height decoded; a larger image is skipped with a warning (or
    /// stops the extraction with --strict) before its pixels are decoded.
    #[arg(long, value_name = "PIXELS", default_value_t = demud_datasets::images::MAX_IMAGE_SIDE,
          value_parser = clap::value_parser!(u32).range(1..=1 << 20))]
    pub max_image_side: u32,
    /// The most memory one image's decoding may take, in MiB; a larger image is skipped like
    /// one over --max-image-side.
    #[arg(long, value_name = "MIB", default_value_t = demud_datasets::images::MAX_IMAGE_ALLOC >> 20,
          value_parser = clap::value_parser!(u64).range(1..=1 << 20))]
    pub max_image_mb: u64,
    /// Stop at the first unreadable image instead of skipping it with a warning.
    #[arg(long)]
    pub strict: bool,
    /// Also save this layer's parts (its value split over the feature map's positions, from
    /// the same pass) beside its features as <stem>.parts.npy, for `maps` to read instead of
    /// running the network for the novelty map.
    #[arg(long, value_name = "LAYER")]
    pub parts: Option<String>,
    /// Precision of the parts file: f16 (half the size) or f32.
    #[arg(long, default_value = "f16", value_name = "f16|f32")]
    pub parts_precision: PartsPrecision,
    /// For a logits layer: write each image's top-5 ImageNet classes to this CSV.
    #[arg(long, value_name = "FILE")]
    pub top5: Option<PathBuf>,
    /// ImageNet class names (JSON list), for --top5 (default: imagenet-classes.json in the
    /// models folder).
    #[arg(long, value_name = "FILE")]
    pub classes: Option<PathBuf>,
    /// Side of the pixel baseline's image (at most 512: 786,432 features an image).
    #[arg(long, default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=MAX_PIXELS_SIDE as i64))]
    pub pixels_side: u32,
    /// Words of the bag-of-visual-words vocabulary (the paper tried 3 to 20).
    #[arg(long, default_value_t = 10, value_parser = at_least_one)]
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

/// Options of `demud curve`.
#[derive(Args, Debug, Clone)]
pub struct CurveArgs {
    /// Runs: `selections.csv` files, or the output folders that hold them.
    #[arg(required = true, value_name = "SELECTIONS")]
    pub runs: Vec<PathBuf>,
    /// Labels of the whole collection, `id,label` (defines the classes and the random
    /// baseline; without it the first run's own labels are the collection).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Numbers of selections t at which to report nAUC_t.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10,50,300",
        value_name = "T,..."
    )]
    pub at: Vec<usize>,
    /// Random selection orders averaged for the random baseline.
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = at_least_one)]
    pub random: usize,
    /// Seed of the random baseline.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Chart path: `<stem>.png` and `<stem>.svg` are written.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Names of the runs in the table and legend, comma-separated (default: folder names).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub names: Vec<String>,
    /// Also write the nAUC table as CSV here.
    #[arg(long, value_name = "FILE")]
    pub table: Option<PathBuf>,
}

/// Options of `demud benchmark`.
#[derive(Args, Debug, Clone)]
pub struct BenchmarkArgs {
    /// A feature file to rank, `NAME=FILE` (CSV, or `.npy` with its items file); repeat for
    /// each feature kind. All must list the same items.
    #[arg(long = "features", value_name = "NAME=FILE")]
    pub features: Vec<Named>,
    /// A labelled image folder (class subfolders, or any layout with --manifest): every
    /// --kinds is extracted into OUT/features/ first (kept, and reused by the next run).
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// With --images: a CSV of `path[,label]` rows relative to the folder.
    #[arg(long, value_name = "FILE", requires = "images")]
    pub manifest: Option<PathBuf>,
    /// With --images: the feature kinds, `pixels[:SIDE]`, `bow[:WORDS]`,
    /// `efficientnet-lite0:LAYER` (or `effnet:LAYER`), `alexnet:LAYER`, `torchscript:OUTPUT`.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "pixels,bow:20,effnet:block,effnet:pool,effnet:logits",
        value_name = "KIND,..."
    )]
    pub kinds: Vec<String>,
    /// Weights of an alexnet or torchscript kind (EfficientNet uses the models folder's).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    /// With --images: how images are brought to each kind's input (every kind alike).
    #[command(flatten)]
    pub preprocess: PreprocessArgs,
    /// A label set, `NAME=FILE` or FILE (a CSV `id,label`); repeat for several label levels.
    /// Default: the labels of the feature files' items (or of the manifest).
    #[arg(long = "labels", value_name = "NAME=FILE")]
    pub labels: Vec<Named>,
    /// Methods: `demud`, `demud-isolated` (`discover --selection isolated`), `static` (the
    /// papers' SVD baseline) and the peers `rx`, `iforest`, `knn`, `lof`, `farthest`,
    /// `typiclust`, `probcover`.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "demud,demud-isolated,static,rx,iforest,knn,lof,farthest,typiclust,probcover",
        value_name = "METHOD,..."
    )]
    pub methods: Vec<String>,
    /// Conditionings each method is run under (see `discover --conditioning`).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "none,power+centre+l2",
        value_name = "STEPS,..."
    )]
    pub conditioning: Vec<String>,
    /// Principal components of demud and static (capped at half the features).
    #[arg(long, short, default_value_t = 20)]
    pub k: usize,
    /// The k of the sweep table (demud under the recommended conditioning); `--k-sweep` with
    /// no value for none.
    #[arg(
        long,
        value_delimiter = ',',
        num_args = 0..,
        default_value = "10,20,50,100",
        value_name = "K,..."
    )]
    pub k_sweep: Vec<usize>,
    /// Numbers of selections t of the columns; the largest is the number of selections.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10,50,300",
        value_name = "T,..."
    )]
    pub at: Vec<usize>,
    /// Variants: `full` (every item) and `unbalanced` (half of the classes cut to one item).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "full,unbalanced",
        value_name = "VARIANT,..."
    )]
    pub variants: Vec<String>,
    /// Random orders of the random baseline.
    #[arg(long, default_value_t = 1000, value_name = "N", value_parser = at_least_one)]
    pub random: usize,
    /// Seed of the unbalanced cut, the seeded methods and the random baseline.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads of libtorch during extraction (default: all cores).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    pub threads: Option<i32>,
    /// Output folder: cells/, features/, table.md, table.csv, k_sweep.md, figures/.
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// No progress bars or summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// A whole number of at least 1 (counts that cannot be zero: random orders, words).
fn at_least_one(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(0) => Err("must be at least 1".into()),
        Ok(n) => Ok(n),
        Err(_) => Err(format!("{text:?} is not a whole number >= 1")),
    }
}

/// `NAME=FILE`, or `FILE` (named after its stem).
#[derive(Clone, Debug)]
pub struct Named {
    /// The name.
    pub name: String,
    /// The file.
    pub path: PathBuf,
}

impl FromStr for Named {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let (name, path) = match s.split_once('=') {
            Some((name, path)) => (name.trim().to_string(), PathBuf::from(path)),
            None => {
                let path = PathBuf::from(s);
                let stem = path
                    .file_stem()
                    .map(|n| n.to_string_lossy().into_owned())
                    .unwrap_or_default();
                (stem, path)
            }
        };
        if name.is_empty() || path.as_os_str().is_empty() {
            return Err(format!("{s:?} is not NAME=FILE"));
        }
        Ok(Named { name, path })
    }
}

/// Options of `demud demo`.
#[derive(Args, Debug, Clone)]
pub struct DemoArgs {
    /// Output folder.
    #[arg(long, default_value = "results/demo", value_name = "DIR")]
    pub out: PathBuf,
    /// Seed of the generated collection.
    #[arg(long, default_value_t = Recipe::default().seed)]
    pub seed: u64,
    /// Principal components of the model.
    #[arg(long, short, default_value_t = 10)]
    pub k: usize,
    /// Selections per run.
    #[arg(long, short, default_value_t = 300)]
    pub n: usize,
    /// Random orders of the baseline.
    #[arg(long, default_value_t = 1000, value_parser = at_least_one)]
    pub random: usize,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `demud plant`.
#[derive(Args, Debug, Clone)]
pub struct PlantArgs {
    /// Which collection.
    #[command(subcommand)]
    pub recipe: RecipeArg,
    /// Output folder.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "results/planted"
    )]
    pub out: PathBuf,
    /// Seed of every random draw.
    #[arg(long, global = true, default_value_t = 2018)]
    pub seed: u64,
    /// How many items get a novelty.
    #[arg(long, global = true)]
    pub planted: Option<usize>,
}

/// The recipes.
#[derive(Subcommand, Debug, Clone)]
pub enum RecipeArg {
    /// Yellow flowers, discs and stars; a few flowers have a dark centre (the novelty).
    Flowers {
        /// Image side in pixels.
        #[arg(long, default_value_t = FlowerRecipe::default().size, value_parser = clap::value_parser!(u32).range(16..))]
        size: u32,
        /// Items of the common classes (flowers, discs, stars), comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "200,150,100")]
        classes: Vec<usize>,
    },
    /// Real images with a foreign chequerboard patch pasted into a few of them.
    Patch {
        /// The images: one subfolder per class, or flat with --manifest.
        #[arg(long, value_name = "DIR")]
        images: PathBuf,
        /// CSV `path,label` listing the images (paths relative to --images).
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// Patch side as a share of the image's shorter side.
        #[arg(long, default_value_t = PatchRecipe::default().patch_share)]
        patch_share: f64,
    },
}

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
    #[arg(long, default_value_t = TrainParams::default().epochs, value_parser = at_least_one)]
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
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    pub threads: Option<i32>,
    /// No progress bar.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `demud render`.
#[derive(Args, Debug, Clone)]
pub struct RenderArgs {
    /// The discovery run's folder (selections.csv, expected.npy, residual.npy).
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// The decoder checkpoint folder (from `train-decoder`).
    #[arg(long, value_name = "DIR")]
    pub decoder: PathBuf,
    /// The image folder the run's item ids are paths in.
    #[arg(long, value_name = "DIR")]
    pub images: PathBuf,
    /// Output folder (default: <run>/render; replaced whole).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Render only the first N selections.
    #[arg(long, value_name = "N")]
    pub limit: Option<usize>,
    /// Side of the saved original images.
    #[arg(long, default_value_t = 128, value_parser = clap::value_parser!(u32).range(1..))]
    pub original_size: u32,
    /// Threads libtorch may use (default: its own choice, the number of cores).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    pub threads: Option<i32>,
}

/// Options of `demud maps`.
#[derive(Args, Debug, Clone)]
pub struct MapsArgs {
    /// The discovery run's folder.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// The image folder the run's item ids are paths in.
    #[arg(long, value_name = "DIR")]
    pub images: PathBuf,
    /// The network and layer that made the run's features (checked item by item).
    #[command(flatten)]
    pub network: NetworkArgs,
    /// The maps, comma-separated, the report's default first: novelty (the score split
    /// exactly over the layer's feature map), gradient-input, gradient (default: every one
    /// the layer allows).
    #[arg(long, value_delimiter = ',', value_name = "KINDS")]
    pub maps: Vec<MapKind>,
    /// Map only the first N selections.
    #[arg(long, value_name = "N", value_parser = at_least_one)]
    pub limit: Option<usize>,
    /// Output folder (default: <run>/maps; replaced whole).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Threads libtorch may use (default: its own choice, the number of cores).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    pub threads: Option<i32>,
}

/// Options of `demud report`.
#[derive(Args, Debug, Clone)]
pub struct ReportArgs {
    /// The discovery run's folder.
    #[arg(long, value_name = "DIR")]
    pub run: PathBuf,
    /// The render folder (default: <run>/render when it exists).
    #[arg(long, value_name = "DIR")]
    pub render: Option<PathBuf>,
    /// Labels of the whole collection, `id,label` (default: those of the run's features).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Output folder (default: <run>/report).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Title of the page.
    #[arg(long, default_value = "DEMUD discovery report")]
    pub title: String,
    /// Random orders averaged for the random baseline.
    #[arg(long, default_value_t = 1000, value_parser = at_least_one)]
    pub random: usize,
}

/// Options of `demud localise`.
#[derive(Args, Debug, Clone)]
pub struct LocaliseArgs {
    /// The discovery run's folder (default: the run of --render).
    #[arg(long, value_name = "DIR", required_unless_present = "render")]
    pub run: Option<PathBuf>,
    /// The planted collection's folder (from `plant`: planted.csv and masks/; the run's
    /// images).
    #[arg(long, value_name = "DIR")]
    pub planted: PathBuf,
    /// The maps folder (default: <run>/maps when it exists).
    #[arg(long, value_name = "DIR")]
    pub maps: Option<PathBuf>,
    /// The render folder (default: <run>/render when it exists).
    #[arg(long, value_name = "DIR")]
    pub render: Option<PathBuf>,
    /// The network that made the run's features, to re-score images (the planted part's
    /// share of the score, deletion curves); the layer defaults to the maps folder's.
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Do not re-score images: only energy in mask and pointing (no network needed).
    #[arg(long)]
    pub no_rescoring: bool,
    /// Points of each deletion curve, spread evenly over 1% to 50% of the pixels (0: no
    /// deletion curves).
    #[arg(long, default_value_t = 25, value_parser = clap::value_parser!(u32).range(0..=50))]
    pub deletion_steps: u32,
    /// Random pixel orders averaged for the deletion baseline.
    #[arg(long, default_value_t = 2, value_parser = at_least_one)]
    pub random_orders: usize,
    /// Seed of the random pixel orders.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Threads libtorch may use (default: its own choice, the number of cores).
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    pub threads: Option<i32>,
}

/// Options of `demud pipeline`.
#[derive(Args, Debug, Clone)]
pub struct PipelineArgs {
    /// Output folder.
    #[arg(long, default_value = "results/pipeline", value_name = "DIR")]
    pub out: PathBuf,
    /// Seed of the batch and of the decoder (the archive uses the next one).
    #[arg(long, default_value_t = 2018)]
    pub seed: u64,
    /// Principal components of DEMUD's model.
    #[arg(long, short, default_value_t = 10, value_parser = at_least_one)]
    pub k: usize,
    /// Selections.
    #[arg(long, short, default_value_t = 40, value_parser = at_least_one)]
    pub n: usize,
    /// Decoder training epochs (456 images: about 4 s each on 2 cores).
    #[arg(long, default_value_t = 60, value_parser = at_least_one)]
    pub epochs: usize,
    /// Decoder output side in pixels.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `demud archive`.
#[derive(Args, Debug, Clone)]
pub struct ArchiveArgs {
    #[command(subcommand)]
    pub command: ArchiveCommand,
}

/// The steps of the downlink loop.
#[derive(Subcommand, Debug, Clone)]
pub enum ArchiveCommand {
    /// Create an archive from what the team has already seen (a first batch).
    #[command(after_help = "Examples:
  demud archive init --archive mars/ --images sol-0001/ --k 20
  demud archive init --archive glass/ --features archive.csv --k 3")]
    Init(ArchiveInitArgs),
    /// Rank a new batch against the archive: run folder, maps, report, top items.
    #[command(after_help = "Examples:
  demud archive rank --archive mars/ --images sol-0002/
  demud archive rank --archive mars/ --images sol-0002/ --seen seen.txt --interesting keep.txt")]
    Rank(ArchiveRankArgs),
    /// Fold a reviewed batch into the archive (once; all or nothing).
    #[command(after_help = "Example:
  demud archive fold --archive mars/ --name sol-0002")]
    Fold(ArchiveFoldArgs),
    /// What the archive holds: folded batches, pending batches, the model.
    Status(ArchiveStatusArgs),
}

/// A batch: features, or images the archive's network extracts.
#[derive(Args, Debug, Clone)]
pub struct BatchArgs {
    /// Features of the batch: CSV, or `.npy` with its items file (from `demud extract`).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "images",
        required_unless_present = "images"
    )]
    pub features: Option<PathBuf>,
    /// The items file of `.npy` features (default: the one beside them).
    #[arg(long, value_name = "FILE", requires = "features")]
    pub items: Option<PathBuf>,
    /// Labels matched by id (`id,label`), when known.
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Image folder of the batch: one subfolder per class, or flat with --manifest / --list.
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// CSV `path,label` listing the images (paths relative to --images).
    #[arg(
        long,
        value_name = "FILE",
        requires = "images",
        conflicts_with = "list"
    )]
    pub manifest: Option<PathBuf>,
    /// A `path label` list (the MSL surface data set's train/val/test lists), paths relative
    /// to --images.
    #[arg(long, value_name = "FILE", requires = "images")]
    pub list: Option<PathBuf>,
    /// With --list: `number,name` lines naming its class numbers (the MSL `class_map.csv`).
    #[arg(long, value_name = "FILE", requires = "list")]
    pub class_map: Option<PathBuf>,
    /// The batch's name in the archive (default: the --list's or --manifest's file name, else
    /// the image folder's or the features file's).
    #[arg(long)]
    pub name: Option<String>,
}

/// Options of `demud archive init`.
#[derive(Args, Debug, Clone)]
pub struct ArchiveInitArgs {
    /// The archive folder to create (new, or empty).
    #[arg(long, value_name = "DIR")]
    pub archive: PathBuf,
    #[command(flatten)]
    pub batch: BatchArgs,
    /// The network that extracts the archive's images (and every later batch's).
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Principal components of the model.
    #[arg(long, short, value_parser = at_least_one)]
    pub k: usize,
    /// The update a ranking continues the model with.
    #[arg(long, value_enum, default_value_t = UpdateArg::Brand)]
    pub update: UpdateArg,
    /// Feature conditioning, fitted on every folded item at each fold (`auto`: as
    /// `discover` chooses for these features).
    #[arg(long, default_value = "auto", value_name = "STEPS")]
    pub conditioning: ConditioningArg,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `demud archive rank`.
#[derive(Args, Debug, Clone)]
pub struct ArchiveRankArgs {
    /// The archive folder.
    #[arg(long, value_name = "DIR")]
    pub archive: PathBuf,
    #[command(flatten)]
    pub batch: BatchArgs,
    /// Where the archive's network weights are now, when they moved since the archive was
    /// made (they must be the same weights).
    #[arg(long, value_name = "FILE")]
    pub weights: Option<PathBuf>,
    #[command(flatten)]
    pub review: ReviewArgs,
    /// Selections to make (default: every item of the batch).
    #[arg(long, value_parser = at_least_one)]
    pub n: Option<usize>,
    /// Items printed, and mapped for the report.
    #[arg(long, default_value_t = 10, value_parser = at_least_one)]
    pub top: usize,
    /// The run folder (default: runs/<name> in the archive).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// No explanation maps (the report then has no overlays).
    #[arg(long)]
    pub no_maps: bool,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `demud archive fold`.
#[derive(Args, Debug, Clone)]
pub struct ArchiveFoldArgs {
    /// The archive folder.
    #[arg(long, value_name = "DIR")]
    pub archive: PathBuf,
    /// The ranked (pending) batch to fold in.
    #[arg(long)]
    pub name: String,
}

/// Options of `demud archive status`.
#[derive(Args, Debug, Clone)]
pub struct ArchiveStatusArgs {
    /// The archive folder.
    #[arg(long, value_name = "DIR")]
    pub archive: PathBuf,
}

/// Options of `demud audit`.
#[derive(Args, Debug, Clone)]
pub struct AuditArgs {
    /// Features of the labelled collection: a CSV (id first, optional label column, optional
    /// header) or an n x d `.npy` (ids from --items or the items file beside it).
    #[arg(long, value_name = "FILE")]
    pub features: PathBuf,
    /// Ids (and labels) for `.npy` features: a CSV `id[,label]`, one row per item, in order
    /// (default: `<stem>.items.csv` beside the .npy when it exists).
    #[arg(long, value_name = "FILE")]
    pub items: Option<PathBuf>,
    /// Labels matched by id: a CSV `id,label`, one row per item (default: the labels of the
    /// features file or of --items).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Output folder (replaced whole once the audit is complete).
    #[arg(long, value_name = "DIR", required_unless_present = "benchmark_noise")]
    pub out: Option<PathBuf>,
    /// Principal components of each class's subspace model.
    #[arg(long, short, default_value_t = 10, value_parser = at_least_one)]
    pub k: usize,
    /// Nearest neighbours whose labels vote.
    #[arg(long, default_value_t = 15, value_parser = at_least_one)]
    pub neighbours: usize,
    /// Folds of the cross-fitting (an item is judged by class models fitted without its fold).
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// Seed of the fold assignment (and, with --benchmark-noise, of the flips: seed s flips
    /// with s and folds with s).
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Feature conditioning before anything is measured: `none` or steps joined by `+` (see
    /// `discover`). `auto`: `power+centre+l2` for `.npy` (image) features, `none` for CSV.
    #[arg(long, default_value = "auto", value_name = "auto|none|STEPS")]
    pub conditioning: ConditioningArg,
    /// One round only: skip the second round, which refits the class models and recounts the
    /// votes without the items that both pieces of evidence place in another class.
    #[arg(long)]
    pub one_round: bool,
    /// Items printed, most suspect first.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub show: usize,
    /// Residual features listed per item in features.csv.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub top_features: usize,
    /// Nearest items listed per item and class in neighbours.csv.
    #[arg(long, default_value_t = 5, value_name = "N")]
    pub shown_neighbours: usize,
    /// The image folder the ids are paths in (as `extract` names items): the audit page
    /// (report/index.html) then shows each suspect item and its nearest items as thumbnails.
    #[arg(long, value_name = "DIR", conflicts_with = "benchmark_noise")]
    pub images: Option<PathBuf>,
    /// Suspect items on the audit page.
    #[arg(long, default_value_t = 50, value_name = "N", value_parser = at_least_one)]
    pub page_items: usize,
    /// No maps on the audit page. With --images and features that `demud extract` made with
    /// a network, each suspect on the page gets two overlays: where its own class's model
    /// does not explain the image, and where the class it resembles does not.
    #[arg(long, requires = "images")]
    pub no_maps: bool,
    /// The network's weights, when they moved since extraction (the features' record names
    /// them otherwise).
    #[arg(long, value_name = "FILE", requires = "images")]
    pub weights: Option<PathBuf>,
    /// Measure instead of audit: take the labels as true, flip each fraction of them to a
    /// random other class (seeded), audit, and print precision among the top m (m = flips)
    /// and AUROC per seed. Writes nothing.
    #[arg(
        long,
        value_delimiter = ',',
        value_name = "FRACTION,...",
        conflicts_with = "out"
    )]
    pub benchmark_noise: Vec<f64>,
    /// Seeds of --benchmark-noise: `A..B` (B excluded) or a comma list.
    #[arg(long, default_value = "0..5", value_name = "A..B|S,...")]
    pub seeds: SeedList,
    /// Does the features CSV have a header row?
    #[arg(long, value_enum, default_value_t = DetectArg::Auto)]
    pub csv_header: DetectArg,
    /// Does the features CSV have a label column (second)?
    #[arg(long, value_enum, default_value_t = DetectArg::Auto)]
    pub csv_labels: DetectArg,
}

/// `--seeds`: `A..B` (B excluded) or `S,S,...`.
#[derive(Clone, Debug, PartialEq)]
pub struct SeedList(pub Vec<u64>);

impl FromStr for SeedList {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        let number = |t: &str| {
            t.trim()
                .parse::<u64>()
                .map_err(|_| format!("{t:?} is not a seed (a whole number)"))
        };
        let seeds = match s.split_once("..") {
            Some((a, b)) => (number(a)?..number(b)?).collect(),
            None => s.split(',').map(number).collect::<Result<Vec<_>, _>>()?,
        };
        if seeds.is_empty() {
            return Err(format!("{s:?} holds no seed (A..B excludes B)"));
        }
        Ok(SeedList(seeds))
    }
}

/// Options of `demud ood`.
#[derive(Args, Debug, Clone)]
pub struct OodArgs {
    /// In-distribution training features (CSV or `.npy` with its items file), with labels.
    #[arg(long, value_name = "FILE")]
    pub train: PathBuf,
    /// Labels of the training items matched by id (`id,label`; default: the file's own).
    #[arg(long, value_name = "FILE")]
    pub train_labels: Option<PathBuf>,
    /// In-distribution test features, with labels (the ID-correct / ID-incorrect split).
    #[arg(long, value_name = "FILE")]
    pub test: PathBuf,
    /// Labels of the test items matched by id (default: the file's own).
    #[arg(long, value_name = "FILE")]
    pub test_labels: Option<PathBuf>,
    /// An out-of-distribution set, `NAME=PATH` or `PATH` (repeatable; labels not needed): a
    /// features file, or a folder of images, put through the network, layer and preprocessing
    /// that made the training features (their extraction record).
    #[arg(long = "ood", value_name = "[NAME=]PATH", required = true)]
    pub ood: Vec<String>,
    /// Linear head weights, a `classes x features` `.npy` (rows: the training classes in
    /// sorted order); default: a multinomial logistic regression trained here.
    #[arg(long, value_name = "FILE", requires = "head_bias")]
    pub head: Option<PathBuf>,
    /// Linear head biases, a `1 x classes` or `classes x 1` `.npy`.
    #[arg(long, value_name = "FILE", requires = "head")]
    pub head_bias: Option<PathBuf>,
    /// L2 penalty of the trained head (on the summed log-loss).
    #[arg(long, default_value_t = 1.0)]
    pub head_alpha: f64,
    /// Class hierarchy CSV (header, then `class,parent,grandparent,...`): adds `taxon-distance`.
    #[arg(long, value_name = "FILE")]
    pub hierarchy: Option<PathBuf>,
    /// The measures' neighbours, principal components and DEMUD model.
    #[command(flatten)]
    pub measures: MeasureArgs,
    /// Softmax temperature of `msp-t2`.
    #[arg(long, default_value_t = 2.0)]
    pub temperature: f64,
    /// Conditioning of DEMUD's model (`auto`: `power+centre+l2` for `.npy`, `none` for CSV).
    #[arg(long, default_value = "auto")]
    pub conditioning: String,
    /// Trees of the forest.
    #[arg(long, default_value_t = 100)]
    pub trees: usize,
    /// The forest is cross-fitted over N folds: each fold of the ID test and OOD items is
    /// scored by a forest trained on the others, so every item is scored (out of fold) and
    /// the forest learns from (N - 1) / N of them.
    #[arg(long, value_name = "N", default_value_t = 5)]
    pub forest_folds: usize,
    /// Train one forest on this share of the ID test and OOD items instead, and score the
    /// measures and the forest on the rest (COOD's held-out split).
    #[arg(long, value_name = "F", conflicts_with = "forest_folds")]
    pub forest_fraction: Option<f64>,
    /// Seed of the split and the forest.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Output folder (replaced whole once everything is computed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// No table printed.
    #[arg(long)]
    pub quiet: bool,
}

/// The settings of the OOD measures that `ood` and `noise-check` share.
#[derive(Args, Debug, Clone)]
pub struct MeasureArgs {
    /// Nearest neighbours of the kNN measures (at most the training items).
    #[arg(long, default_value_t = 30)]
    pub k: usize,
    /// Principal dimensions of the kNN space.
    #[arg(long, default_value_t = 256)]
    pub knn_dims: usize,
    /// `exact` (BLAS matrix products), `hnsw` (an approximate HNSW graph: the neighbours it
    /// finds get exact similarities) or `auto` (exact below --hnsw-from training items).
    #[arg(long, value_enum, default_value_t = NeighbourChoice::Auto)]
    pub neighbours: NeighbourChoice,
    /// Training items from which `--neighbours auto` uses the HNSW graph.
    #[arg(long, value_name = "N", default_value_t = 1_000_000)]
    pub hnsw_from: usize,
    /// `parallel` (all cores; two builds may link a few items differently) or `reproducible`
    /// (one core: the same graph and answers on every run).
    #[arg(long, value_enum, default_value_t = GraphBuildChoice::Parallel)]
    pub hnsw_build: GraphBuildChoice,
    /// Principal components of the PCA reconstruction errors.
    #[arg(long, default_value_t = 32)]
    pub pca_components: usize,
    /// Principal components of DEMUD's model of the training items.
    #[arg(long, default_value_t = 20)]
    pub demud_k: usize,
}

/// The values of `--hnsw-build`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum GraphBuildChoice {
    /// On all cores.
    Parallel,
    /// On one core, the same graph every run.
    Reproducible,
}

/// The values of `--neighbours`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum NeighbourChoice {
    /// Exact below --hnsw-from training items, the graph from there on.
    Auto,
    /// Always exact.
    Exact,
    /// Always the HNSW graph.
    Hnsw,
}

impl MeasureArgs {
    /// The engine's parameters with these settings (the rest at their defaults).
    pub fn params(&self) -> demud::ood::OodParams {
        demud::ood::OodParams::new()
            .k(self.k)
            .knn_dims(self.knn_dims)
            .neighbour_search(self.search())
            .pca_components(self.pca_components)
            .demud_k(self.demud_k)
    }

    /// The engine's neighbour search.
    fn search(&self) -> demud::ood::NeighbourSearch {
        use demud::ood::{GraphBuild, NeighbourSearch};
        let build = match self.hnsw_build {
            GraphBuildChoice::Parallel => GraphBuild::Parallel,
            GraphBuildChoice::Reproducible => GraphBuild::Reproducible,
        };
        let auto = NeighbourSearch::Auto {
            threshold: self.hnsw_from,
            build,
        };
        match self.neighbours {
            NeighbourChoice::Auto => auto,
            NeighbourChoice::Exact => NeighbourSearch::Exact,
            // The graph `auto` would use, whatever the number of items.
            NeighbourChoice::Hnsw => auto.resolve(usize::MAX),
        }
    }
}

/// Options of `demud noise-check`.
#[derive(Args, Debug, Clone)]
pub struct NoiseCheckArgs {
    /// The labelled image folder (class subfolders, or the paths of --manifest).
    #[arg(long, value_name = "DIR")]
    pub images: PathBuf,
    /// A manifest CSV (`path[,label]`) of the images, relative to --images.
    #[arg(long, value_name = "FILE")]
    pub manifest: Option<PathBuf>,
    /// Labels matched by image id (`id,label`; default: the folder's or manifest's).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// The network and the layer whose features the head, the measures and the centroids
    /// read (default: efficientnet-lite0 `pool`).
    #[command(flatten)]
    pub network: NetworkArgs,
    /// Noise images of each kind (Gaussian with the collection's per-channel moments, and
    /// uniform).
    #[arg(long, default_value_t = 200, value_parser = at_least_one)]
    pub noise: usize,
    /// Share of each class's real images that trains the head and the measures' models (the
    /// rest is compared with the noise).
    #[arg(long, default_value_t = 0.5)]
    pub train_fraction: f64,
    /// Linear head weights, a `classes x features` `.npy` (rows: the classes in sorted
    /// order); default: a multinomial logistic regression trained on the training share.
    #[arg(long, value_name = "FILE", requires = "head_bias")]
    pub head: Option<PathBuf>,
    /// Linear head biases, a `1 x classes` or `classes x 1` `.npy`.
    #[arg(long, value_name = "FILE", requires = "head")]
    pub head_bias: Option<PathBuf>,
    /// L2 penalty of the trained head (on the summed log-loss).
    #[arg(long, default_value_t = 1.0)]
    pub head_alpha: f64,
    /// The measures' neighbours, principal components and DEMUD model (fitted on the
    /// training share).
    #[command(flatten)]
    pub measures: MeasureArgs,
    /// Seed of the noise and of the split.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Torch threads.
    #[arg(long, value_parser = clap::value_parser!(i32).range(1..))]
    pub threads: Option<i32>,
    /// Output folder (replaced whole once everything is computed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// No summary printed, no progress.
    #[arg(long, short)]
    pub quiet: bool,
}

/// Options of `demud labels`.
#[derive(Args, Debug, Clone)]
// The network options are `extract`'s; only the layer means something else here: the one
// the labels are read from, which must be the classifier's output.
#[command(mut_arg("layer", |a| a.help(
    "With --images: the classifier's output layer (default: efficientnet-lite0 `logits`, \
     alexnet `fc8`, torchscript `output`); a layer that is not a classifier's output is refused"
)))]
pub struct LabelsArgs {
    /// ImageNet logits of the collection: a `.npy` from `demud extract --layer logits` (with
    /// its items file) or a CSV.
    #[arg(
        long,
        value_name = "FILE",
        required_unless_present = "images",
        conflicts_with = "images",
        // The network options make the logits from --images; with logits given they would
        // be ignored, so they are refused.
        conflicts_with_all = NETWORK_OPTIONS,
    )]
    pub features: Option<PathBuf>,
    /// Ids and labels of `.npy` logits (default: `<stem>.items.csv` beside it).
    #[arg(long, value_name = "FILE")]
    pub items: Option<PathBuf>,
    /// Or the image folder, run here through the classifier the network options name
    /// (default: efficientnet-lite0 `logits`).
    #[arg(long, value_name = "DIR")]
    pub images: Option<PathBuf>,
    /// A manifest CSV (`path[,label]`) of the images, relative to --images.
    #[arg(long, value_name = "FILE", requires = "images")]
    pub manifest: Option<PathBuf>,
    /// With --images: the classifier and how images are brought to its input, as for
    /// `demud extract`.
    #[command(flatten)]
    pub network: NetworkArgs,
    /// The collection's classes matched by id (`id,label`; default: the file's own).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// A group of every class: a CSV with a header, then `class,group` lines.
    #[arg(long, value_name = "FILE")]
    pub groups: Option<PathBuf>,
    /// The classifier's class names, a JSON list (default: imagenet-classes.json in the
    /// models folder).
    #[arg(long, value_name = "FILE")]
    pub classes: Option<PathBuf>,
    /// The largest n of the top-n label frequency.
    #[arg(long, default_value_t = 10, value_parser = at_least_one)]
    pub top_n: usize,
    /// Labels shown per class figure (the most frequent).
    #[arg(long, default_value_t = 25, value_parser = at_least_one)]
    pub shown: usize,
    /// Output folder (replaced whole once everything is computed).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// No table printed.
    #[arg(long, short)]
    pub quiet: bool,
}

/// The ids of [`NetworkArgs`]' options (its preprocessing's included), for the commands that
/// take them only beside an image folder.
const NETWORK_OPTIONS: [&str; 8] = [
    "model",
    "layer",
    "weights",
    "input_size",
    "crop",
    "resize",
    "background",
    "fill",
];

/// Options of `demud convert`.
#[derive(Args, Debug, Clone)]
pub struct ConvertArgs {
    /// Features to convert: a CSV or an n x d `.npy` (f32, f64 or f16).
    #[arg(value_name = "FEATURES")]
    pub features: PathBuf,
    /// The items file of `.npy` features (default: the one beside them).
    #[arg(long, value_name = "FILE")]
    pub items: Option<PathBuf>,
    /// The precision to store: `f16` (half the size of f32; a value beyond ±65504 is an error
    /// naming its item and feature; non-zero values below 3e-8 become 0, with a warning) or
    /// `f32`.
    #[arg(long, value_enum, default_value_t = StoreArg::F16)]
    pub store: StoreArg,
    /// The `.npy` to write (its items file is written beside it).
    #[arg(long, value_name = "FILE")]
    pub out: PathBuf,
    /// Print nothing on success.
    #[arg(long)]
    pub quiet: bool,
}

/// `--store`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum StoreArg {
    /// Half precision (`<f2`).
    F16,
    /// Single precision (`<f4`).
    F32,
}
