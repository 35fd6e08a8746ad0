//! `demud discover`: run DEMUD on a feature file and write the run folder.

use crate::ui::{progress_bar, Verbosity};
use anyhow::{Context, Result};
use clap::{Args, ValueEnum};
use demud::{
    Compatibility, DemudParams, Init, MissingPolicy, ScoreMethod, ScorePath, UpdateMethod,
};
use demud_datasets::atomic::ensure_outside;
use demud_datasets::run::{
    run_discovery, write_model_state, write_run, DiscoveryInputs, DiscoveryOutputs,
    ExplanationFiles,
};
use demud_datasets::{CsvLayout, Detect};
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
    #[arg(long, short)]
    pub k: Option<usize>,
    /// Number of selections to make (default: every item).
    #[arg(long, short)]
    pub n: Option<usize>,
    /// First selection: `svd` (largest error under the top-k SVD of all items), `mean`
    /// (farthest from the mean), `random` (with --seed) or a 0-based item index.
    /// (Not with --prior or --model-in, which give the starting model.)
    #[arg(long, default_value = "svd", value_name = "svd|mean|random|INDEX", conflicts_with_all = ["prior", "model_in"])]
    pub init: InitArg,
    /// Seed of the random init.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
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

value_enum!(UpdateArg => UpdateMethod { Brand => UpdateMethod::Brand, Full => UpdateMethod::Full, Ross => UpdateMethod::Ross, Static => UpdateMethod::Static });
value_enum!(ScoreArg => ScoreMethod { Lowhigh => ScoreMethod::LowHigh, Low => ScoreMethod::Low, High => ScoreMethod::High });
value_enum!(MissingArg => MissingPolicy { Error => MissingPolicy::Error, Zero => MissingPolicy::Zero, Ignore => MissingPolicy::Ignore });
value_enum!(CompatArg => Compatibility { Clean => Compatibility::Clean, Reference => Compatibility::Reference });
value_enum!(DetectArg => Detect { Auto => Detect::Auto, Yes => Detect::Yes, No => Detect::No });

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
    };
    let mut given: Vec<&std::path::Path> = vec![&args.features];
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
    let mut params = DemudParams::new(args.k.unwrap_or(1))
        .init(args.init.into())
        .update(args.update.into())
        .score(args.score.into())
        .missing(args.missing.into())
        .compat(args.compat.into())
        .seed(args.seed)
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
    let finished = run_discovery(&inputs, params, args.k, outputs, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .map_err(|e| match e {
        demud_datasets::LoadError::Engine { ref source, .. }
            if matches!(source, demud::DemudError::MissingValue { .. }) =>
        {
            anyhow::Error::new(e)
                .context("choose --missing zero or --missing ignore to allow missing values")
        }
        e => e.into(),
    })?;
    bar.finish_and_clear();
    write_run(&args.out, &finished.run)?;
    if let Some(path) = &args.model_out {
        let model = finished.model.context("the run produced no model")?;
        write_model_state(path, &model)?;
    }
    if verbosity == Verbosity::Normal {
        eprintln!(
            "selected {} of {} items in {:.2} s; results in {}",
            finished.run.selections.len(),
            finished.run.record.n_items,
            finished.run.record.seconds,
            args.out.display()
        );
    }
    Ok(())
}
