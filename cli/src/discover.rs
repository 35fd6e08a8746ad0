//! `demud discover`: run DEMUD on a feature file and write the selections and explanations.

use crate::output::{write_csv, write_json, write_npy};
use anyhow::{bail, Context, Result};
use clap::{Args, ValueEnum};
use demud::{
    Compatibility, DemudError, DemudParams, Element, Init, MissingPolicy, ModelState, ScoreMethod,
    ScorePath, Selection, SubspaceModel, UpdateMethod,
};
use demud_datasets::features::read_features;
use demud_datasets::{CsvLayout, Detect, FeatureMatrix, FeatureTable};
use indicatif::{ProgressBar, ProgressStyle};
use ndarray::{Array1, Array2, ArrayView2};
use serde::Serialize;
use std::path::{Path, PathBuf};
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
    #[arg(long, value_name = "FILE")]
    pub model_in: Option<PathBuf>,
    /// Save the final model state (JSON) for a later run.
    #[arg(long, value_name = "FILE")]
    pub model_out: Option<PathBuf>,
    /// Output folder.
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
    /// Do not write expected.npy / residual.npy (saves memory on huge runs).
    #[arg(long)]
    pub no_explanations: bool,
    /// No progress bar or summary.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `--init` value.
#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "lowercase")]
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

macro_rules! value_enum {
    ($name:ident => $target:ty { $($variant:ident => $value:expr),* $(,)? }) => {
        #[doc = concat!("Command-line spelling of [`", stringify!($target), "`].")]
        #[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize)]
        #[serde(rename_all = "lowercase")]
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

/// The run's parameters and shape, written as `run.json`.
#[derive(Serialize)]
struct RunRecord<'a> {
    tool: &'static str,
    version: &'static str,
    features: &'a Path,
    items: Option<&'a Path>,
    labels: Option<&'a Path>,
    prior: Option<&'a Path>,
    model_in: Option<&'a Path>,
    n_items: usize,
    n_features: usize,
    precision: &'static str,
    k: usize,
    n_selected: usize,
    init: &'a InitArg,
    seed: u64,
    update: UpdateArg,
    score: ScoreArg,
    weights: Option<&'a Path>,
    missing: MissingArg,
    compat: CompatArg,
    score_path: &'static str,
    refresh_every: usize,
    seconds: f64,
}

/// A finished run: selections and final model.
pub struct RunResult {
    /// The selections in order.
    pub selections: Vec<Selection>,
    /// The model after the last selection.
    pub model: Option<SubspaceModel>,
}

fn load(path: &Path, args: &DiscoverArgs, items: Option<&Path>) -> Result<FeatureTable> {
    let layout = CsvLayout {
        header: args.csv_header.into(),
        label_column: args.csv_labels.into(),
    };
    // A .npy from `extract` has its ids and labels in <stem>.items.csv beside it.
    let beside = crate::train_decoder::default_items(path).filter(|p| p.is_file());
    Ok(read_features(path, layout, items.or(beside.as_deref()))?)
}

fn read_weights(path: &Path, d: usize) -> Result<Array1<f64>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut weights = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let w: f64 = line
            .parse()
            .ok()
            .filter(|w: &f64| w.is_finite() && *w >= 0.0)
            .with_context(|| {
                format!(
                    "{}, line {}: {line:?} is not a non-negative number",
                    path.display(),
                    i + 1
                )
            })?;
        weights.push(w);
    }
    if weights.len() != d {
        bail!(
            "{}: {} weights, the features have {d}",
            path.display(),
            weights.len()
        );
    }
    Ok(Array1::from(weights))
}

/// Runs the engine over a matrix in its storage precision, with a progress bar.
pub fn run_engine<T: Element>(
    params: &DemudParams,
    data: ArrayView2<T>,
    progress: &ProgressBar,
) -> Result<RunResult> {
    let mut discovery = params.discover(data)?;
    progress.set_length(discovery.len_total() as u64);
    let mut selections = Vec::with_capacity(discovery.len_total());
    for selection in discovery.by_ref() {
        selections.push(selection?);
        progress.inc(1);
    }
    progress.finish_and_clear();
    Ok(RunResult {
        model: discovery.model().cloned(),
        selections,
    })
}

/// A progress bar on stderr, hidden when `quiet` (and by indicatif when not a terminal).
pub fn progress_bar(quiet: bool, what: &str) -> ProgressBar {
    if quiet {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::new(0);
    bar.set_style(
        ProgressStyle::with_template("{msg} [{bar:40}] {pos}/{len} ({per_sec}, eta {eta})")
            .expect("valid template")
            .progress_chars("=> "),
    );
    bar.set_message(what.to_string());
    bar
}

/// `demud discover`.
pub fn run(args: &DiscoverArgs) -> Result<()> {
    let started = std::time::Instant::now();
    let mut table = load(&args.features, args, args.items.as_deref())?;
    if let Some(labels) = &args.labels {
        table.attach_labels(labels)?;
    }
    let (n, d) = table.matrix.dim();
    let model_state = match &args.model_in {
        Some(path) => {
            let text = std::fs::read_to_string(path)
                .with_context(|| format!("cannot read {}", path.display()))?;
            let state: ModelState = serde_json::from_str(&text)
                .with_context(|| format!("{}: not a demud model state", path.display()))?;
            Some(
                state
                    .checked()
                    .with_context(|| format!("{}", path.display()))?,
            )
        }
        None => None,
    };
    let k = match (args.k, &model_state) {
        (Some(k), _) => k,
        (None, Some(state)) => state.k,
        (None, None) => bail!(
            "--k is required (the number of principal components), unless --model-in gives it"
        ),
    };
    let init = match (&args.prior, model_state) {
        (Some(_), Some(_)) => bail!("give either --prior or --model-in, not both"),
        (Some(prior), None) => {
            let prior_table = load(prior, args, None)?;
            if prior_table.matrix.dim().1 != d {
                bail!(
                    "{}: the prior data has {} features, {} has {d}",
                    prior.display(),
                    prior_table.matrix.dim().1,
                    args.features.display()
                );
            }
            Init::Prior(prior_table.matrix.to_f64())
        }
        (None, Some(state)) => Init::Model(state.model),
        (None, None) => match args.init {
            InitArg::Svd => Init::Svd,
            InitArg::Mean => Init::Mean,
            InitArg::Random => Init::Random,
            InitArg::Index(i) => Init::Index(i),
        },
    };
    let mut params = DemudParams::new(k)
        .init(init)
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
    if let Some(n_select) = args.n {
        params = params.n_select(n_select);
    }
    if let Some(w) = &args.weights {
        params = params.weights(read_weights(w, d)?);
    }
    let bar = progress_bar(args.quiet, "selecting");
    let result = match &table.matrix {
        FeatureMatrix::F32(a) => run_engine(&params, a.view(), &bar),
        FeatureMatrix::F64(a) => run_engine(&params, a.view(), &bar),
    }
    .map_err(|e| describe_engine_error(e, &table, &args.features))?;

    let record = RunRecord {
        tool: "demud discover",
        version: env!("CARGO_PKG_VERSION"),
        features: &args.features,
        items: args.items.as_deref(),
        labels: args.labels.as_deref(),
        prior: args.prior.as_deref(),
        model_in: args.model_in.as_deref(),
        n_items: n,
        n_features: d,
        precision: table.matrix.precision(),
        k,
        n_selected: result.selections.len(),
        init: &args.init,
        seed: args.seed,
        update: args.update,
        score: args.score,
        weights: args.weights.as_deref(),
        missing: args.missing,
        compat: args.compat,
        score_path: if args.exact { "exact" } else { "auto" },
        refresh_every: args.refresh_every,
        seconds: started.elapsed().as_secs_f64(),
    };
    write_outputs(
        &args.out,
        &table,
        &result.selections,
        args.top_features,
        !args.no_explanations,
    )?;
    write_json(&args.out.join("run.json"), &record)?;
    if let Some(path) = &args.model_out {
        let model = result.model.context("the run produced no model")?;
        write_json(path, &ModelState::new(model, &params))?;
    }
    if !args.quiet {
        eprintln!(
            "selected {} of {n} items in {:.2} s; results in {}",
            result.selections.len(),
            started.elapsed().as_secs_f64(),
            args.out.display()
        );
    }
    Ok(())
}

/// Names the item and feature of a data error by id and feature name.
fn describe_engine_error(err: anyhow::Error, table: &FeatureTable, path: &Path) -> anyhow::Error {
    let at = |item: usize, feature: usize| {
        format!(
            "{}: item {:?} (row {} of the data), feature {:?}",
            path.display(),
            table.ids[item],
            item + 1,
            table.feature_names[feature]
        )
    };
    match err.downcast_ref::<DemudError>() {
        Some(DemudError::MissingValue { item, feature }) => anyhow::anyhow!(
            "{}: value is missing; choose --missing zero or --missing ignore to allow missing values",
            at(*item, *feature)
        ),
        Some(DemudError::InfiniteValue { item, feature }) => {
            anyhow::anyhow!("{}: value is infinite", at(*item, *feature))
        }
        _ => err.context(format!("discovery on {}", path.display())),
    }
}

/// Writes `selections.csv`, `top_features.csv` and (optionally) `expected.npy` /
/// `residual.npy` into `out`.
pub fn write_outputs(
    out: &Path,
    table: &FeatureTable,
    selections: &[Selection],
    top_features: usize,
    explanations: bool,
) -> Result<()> {
    let label = |i: usize| {
        table
            .labels
            .as_ref()
            .map_or("", |l| l[i].as_str())
            .to_string()
    };
    let header = ["rank", "index", "id", "label", "score"]
        .map(String::from)
        .to_vec();
    let rows = selections.iter().map(|s| {
        vec![
            s.rank.to_string(),
            s.index.to_string(),
            table.ids[s.index].clone(),
            label(s.index),
            s.score.to_string(),
        ]
    });
    write_csv(
        &out.join("selections.csv"),
        std::iter::once(header).chain(rows),
    )?;

    let header = [
        "rank", "index", "id", "feature", "residual", "expected", "value",
    ]
    .map(String::from)
    .to_vec();
    let mut rows = vec![header];
    for s in selections {
        let mut order: Vec<usize> = (0..s.residual.len())
            .filter(|&j| !s.residual[j].is_nan())
            .collect();
        order.sort_by(|&a, &b| s.residual[b].abs().total_cmp(&s.residual[a].abs()));
        for &j in order.iter().take(top_features) {
            rows.push(vec![
                s.rank.to_string(),
                s.index.to_string(),
                table.ids[s.index].clone(),
                table.feature_names[j].clone(),
                s.residual[j].to_string(),
                s.expected[j].to_string(),
                (s.expected[j] + s.residual[j]).to_string(),
            ]);
        }
    }
    write_csv(&out.join("top_features.csv"), rows)?;

    if explanations {
        let d = table.matrix.dim().1;
        let stack = |f: &dyn Fn(&Selection) -> &Array1<f64>| {
            let mut m = Array2::<f64>::zeros((selections.len(), d));
            for (mut row, s) in m.rows_mut().into_iter().zip(selections) {
                row.assign(f(s));
            }
            m
        };
        write_npy(&out.join("expected.npy"), &stack(&|s| &s.expected))?;
        write_npy(&out.join("residual.npy"), &stack(&|s| &s.residual))?;
    }
    Ok(())
}
