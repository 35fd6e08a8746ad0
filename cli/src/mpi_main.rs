//! `demud-mpi`: DEMUD over MPI, one process per rank (issue 15).
//!
//! ```text
//! mpirun -n 4 demud-mpi run --features x.npy --k 10 --n 100 --out-dir runs/x
//! demud-mpi shard --features x.npy --ranks 4 --out '/local/x-{rank}.npy'
//! mpirun -n 4 demud-mpi run --shards '/local/x-{rank}.npy' --k 10 --n 100 --out-dir runs/x
//! ```
//!
//! With `--features` every rank memory-maps the same `.npy` (a shared file system, or the same
//! path on every node) and keeps only its contiguous range of rows (rank r of P holds rows
//! `n r / P .. n (r+1) / P`); with `--shards` every rank maps only its own file, and the items
//! are the shards' rows concatenated in rank order. The engine's [`demud::discovery::Collective`]
//! is implemented here over MPI's world communicator. Rank 0 writes the run folder `demud
//! discover` writes (`--out-dir`), streaming each selection's explanation into it as the run
//! makes the selection (staged beside the folder, which is replaced only when the run has
//! finished), and/or the selections as CSV (`--out`: `rank,index,score`).
//! `single` runs the one-process engine on the whole file and writes the same outputs, for
//! comparison; `shard` splits a `.npy` into per-rank files; `generate` writes a seeded test
//! collection.

#[path = "mpi/shards.rs"]
mod shards;

use anyhow::{bail, Context, Result};
use clap::{ArgGroup, Parser, Subcommand, ValueEnum};
use demud::discovery::Collective;
use demud::{
    Conditioner, DemudParams, Element, Init, ModelState, Selection, SubspaceModel, SvdMethod,
    UpdateMethod,
};
use demud_datasets::atomic::ensure_outside;
use demud_datasets::features::{
    items_path, open_features, MappedMatrix, MappedPrecision, MappedView,
};
use demud_datasets::run::{
    write_saved_model, DistributedRun, ExplanationFiles, ExplanationSink, KeptPick, KeptSelections,
    Precision, RunWriter, SavedModel, Start,
};
use demud_datasets::CsvLayout;
use mpi::collective::SystemOperation;
use mpi::datatype::PartitionMut;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use ndarray::{s, Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use shards::{map, rows_of, shard_path, write_shards};
use std::cell::Cell;
use std::io::Write;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Parser)]
#[command(
    name = "demud-mpi",
    about = "DEMUD over MPI: every rank ranks its share of the rows"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The distributed run (start it with mpirun/srun, one process per rank).
    Run(RunArgs),
    /// The same run in one process, without MPI: the reference the distributed run must match
    /// (--features only).
    Single(RunArgs),
    /// Splits a .npy into per-rank shard files, the rows `run --features` would give each rank
    /// (and their ids, when the .npy has an items file beside it).
    Shard {
        /// The collection: an n x d little-endian f32 or f16 .npy.
        #[arg(long)]
        features: PathBuf,
        /// Number of ranks (shards) of the runs that will read them.
        #[arg(long)]
        ranks: usize,
        /// The shards' pattern: `{rank}` is replaced by 0, 1, ... (the files must not exist).
        #[arg(long, value_name = "PATTERN")]
        out: PathBuf,
    },
    /// Writes a seeded collection (low-rank structure, noise, a few outliers labelled `planted`,
    /// the rest `background`) as f32 .npy with its items file.
    Generate {
        /// Output .npy (must not exist).
        out: PathBuf,
        /// Number of items.
        #[arg(long)]
        n: usize,
        /// Number of features.
        #[arg(long)]
        d: usize,
        /// Seed.
        #[arg(long, default_value_t = 0)]
        seed: u64,
    },
}

#[derive(Parser, Clone)]
#[command(group(ArgGroup::new("input").required(true).args(["features", "shards"])))]
#[command(group(ArgGroup::new("output").required(true).multiple(true).args(["out", "out_dir"])))]
struct RunArgs {
    /// The collection: an n x d little-endian f32 or f16 .npy, mapped by every rank.
    #[arg(long)]
    features: Option<PathBuf>,
    /// Per-rank shard files instead: `{rank}` in the pattern is replaced by the rank number
    /// (`/local/archive-{rank}.npy`); each rank maps only its own. The items are the shards'
    /// rows in rank order; all shards have the same features and precision.
    #[arg(long, value_name = "PATTERN")]
    shards: Option<PathBuf>,
    /// With --shards: the whole collection the shards were split from (one .npy, e.g. on
    /// shared storage), recorded as the run folder's features for `demud report`, which reads
    /// every item's id and label from it. Rank 0 checks that it holds the shards' items.
    #[arg(long, value_name = "FILE", requires = "shards")]
    collection: Option<PathBuf>,
    /// Principal components.
    #[arg(long, default_value_t = 10)]
    k: usize,
    /// Selections to make.
    #[arg(long, default_value_t = 100)]
    n: usize,
    /// First selection: svd, mean, random or an item index.
    #[arg(long, default_value = "svd")]
    init: String,
    /// Model update.
    #[arg(long, value_enum, default_value_t = Update::Brand)]
    update: Update,
    /// How the svd init's SVD is computed.
    #[arg(long, value_enum, default_value_t = Svd::Auto)]
    svd: Svd,
    /// Seed of the random init and the randomized SVD.
    #[arg(long, default_value_t = 0)]
    seed: u64,
    /// Selections as CSV (rank,index,score), written by rank 0; must not exist.
    #[arg(long, value_name = "FILE")]
    out: Option<PathBuf>,
    /// The run folder `demud discover --out` writes (selections.csv, run.json,
    /// top_features.csv, expected.npy, residual.npy), written by rank 0 as the run selects
    /// (staged beside it) and put in place whole when the run has finished.
    #[arg(long, value_name = "DIR")]
    out_dir: Option<PathBuf>,
    /// Features listed per selection in the run folder's top_features.csv.
    #[arg(long, default_value_t = 5, value_name = "N")]
    top_features: usize,
    /// Do not write expected.npy / residual.npy in the run folder.
    #[arg(long)]
    no_explanations: bool,
    /// Save the final model state (JSON, as `demud discover --model-out`), written by rank 0.
    #[arg(long, value_name = "FILE")]
    model_out: Option<PathBuf>,
    /// Also print per-selection timing (rank 0): pass and communication time, and the
    /// latency of the per-selection collectives alone.
    #[arg(long, value_enum, default_value_t = Timing::Off)]
    timing: Timing,
}

#[derive(Clone, Copy, ValueEnum)]
enum Update {
    Brand,
    Ross,
}

#[derive(Clone, Copy, ValueEnum)]
enum Svd {
    Auto,
    Exact,
    Randomized,
}

#[derive(Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Timing {
    Off,
    On,
}

fn main() -> Result<()> {
    match Cli::parse().command {
        Command::Generate { out, n, d, seed } => generate(&out, n, d, seed),
        Command::Shard {
            features,
            ranks,
            out,
        } => {
            for shard in write_shards(&features, ranks, &out)? {
                eprintln!(
                    "{}: rows {}..{} of {}",
                    shard.path.display(),
                    shard.rows.start,
                    shard.rows.end,
                    features.display()
                );
            }
            Ok(())
        }
        Command::Single(args) => single(&args),
        Command::Run(args) => {
            let universe = mpi::initialize().context("MPI could not be initialised")?;
            let world = Mpi::new(universe.world());
            let rank = world.rank();
            let result = distributed(&args, &world);
            let Err(e) = result else { return Ok(()) };
            // An error every rank agreed on is told once, by rank 0; a rank's own error (the
            // file it could not open) by that rank.
            if rank == 0 || e.downcast_ref::<Agreed>().is_none() {
                eprintln!("demud-mpi: rank {rank}: {}", message(&e));
            }
            // MPI is finalised (every rank gets here) before the exit status says it failed.
            drop(world);
            drop(universe);
            std::process::exit(1)
        }
    }
}

/// The error and its causes, each told once (a file error's text already ends with its OS
/// error, which is also its cause).
fn message(e: &anyhow::Error) -> String {
    let mut text = String::new();
    for cause in e.chain().map(ToString::to_string) {
        if !text.ends_with(&cause) {
            if !text.is_empty() {
                text += ": ";
            }
            text += &cause;
        }
    }
    text
}

/// An error every rank reached together (from gathered facts), so every rank stops with it
/// and only rank 0 prints it.
#[derive(Debug)]
struct Agreed(String);

impl std::fmt::Display for Agreed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Agreed {}

fn agreed(message: String) -> anyhow::Error {
    anyhow::Error::new(Agreed(message))
}

fn params(args: &RunArgs) -> Result<DemudParams> {
    Ok(DemudParams::new(args.k)
        .n_select(args.n)
        .init(init(args)?)
        .update(match args.update {
            Update::Brand => UpdateMethod::Brand,
            Update::Ross => UpdateMethod::Ross,
        })
        .svd(match args.svd {
            Svd::Auto => SvdMethod::Auto,
            Svd::Exact => SvdMethod::Exact,
            Svd::Randomized => SvdMethod::Randomized,
        })
        .seed(args.seed))
}

fn init(args: &RunArgs) -> Result<Init> {
    Ok(match args.init.as_str() {
        "svd" => Init::Svd,
        "mean" => Init::Mean,
        "random" => Init::Random,
        i => {
            Init::Index(i.parse().with_context(|| {
                format!("--init {i}: expected svd, mean, random or an item index")
            })?)
        }
    })
}

/// The run record's start of an init given on the command line.
fn start(init: &Init) -> Start {
    match init {
        Init::Svd => Start::Svd,
        Init::Mean => Start::Mean,
        Init::Random => Start::Random,
        Init::Index(item) => Start::Index { item: *item },
        Init::Prior(_) | Init::Model(_) => unreachable!("not an option of demud-mpi"),
    }
}

/// The run record of the collection at `path` (the shared file, or the shard pattern) of `n`
/// items; `writes`: this process writes the run folder (the others keep no top features).
fn record_of<'a>(
    args: &RunArgs,
    params: &'a DemudParams,
    path: PathBuf,
    (n, d): (usize, usize),
    precision: MappedPrecision,
    writes: bool,
) -> DistributedRun<'a> {
    DistributedRun {
        features: path,
        n_items: n,
        n_features: d,
        precision: match precision {
            MappedPrecision::F32 => Precision::F32,
            MappedPrecision::F16 => Precision::F16,
        },
        params,
        k: args.k,
        start: start(params.initial()),
        top_features: if writes { args.top_features } else { 0 },
        explanations: match args.no_explanations {
            true => ExplanationFiles::Skipped,
            false => ExplanationFiles::Written,
        },
        seconds: 0.0,
    }
}

/// What a run keeps of its selections as the engine yields them and, in the process that
/// writes the run folder, the writer each selection's explanation streams into (then dropped).
struct Keeper<'a> {
    run: DistributedRun<'a>,
    kept: KeptSelections,
    writer: Option<RunWriter>,
    /// The first write that failed: the writer is dropped then (its staging folder removed,
    /// the old run folder untouched) and the run goes on, so that no rank is left waiting in
    /// a collective; the error is told at the end.
    failed: Option<anyhow::Error>,
}

impl<'a> Keeper<'a> {
    fn new(run: DistributedRun<'a>, writer: Option<RunWriter>) -> Self {
        Keeper {
            run,
            kept: KeptSelections::default(),
            writer,
            failed: None,
        }
    }

    /// Before the first selection: at most `rows` will come.
    fn begin(&mut self, rows: usize) {
        if let Some(writer) = &mut self.writer {
            if let Err(e) = self.run.begin(writer, rows) {
                self.fail(e.into());
            }
        }
    }

    fn take(&mut self, s: &Selection) {
        let sink = self.writer.as_mut().map(|w| w as &mut dyn ExplanationSink);
        if let Err(e) = self.run.take(&mut self.kept, s, sink) {
            self.fail(e.into());
        }
    }

    fn fail(&mut self, e: anyhow::Error) {
        self.writer = None;
        self.failed.get_or_insert(e);
    }
}

/// Ids and labels of the items `offset..offset + ids.len()`, from an items file.
struct Names {
    offset: usize,
    ids: Vec<String>,
    labels: Option<Vec<String>>,
}

impl Names {
    /// The items file beside the `.npy` at `path` (checked against it), when there is one.
    fn beside(path: &Path) -> Result<Option<Names>> {
        if !items_path(path).is_file() {
            return Ok(None);
        }
        let table = open_features(path, CsvLayout::default(), None)?;
        Ok(Some(Names {
            offset: 0,
            ids: table.ids,
            labels: table.labels,
        }))
    }

    /// Id and label of global item `index`, when these names cover it.
    fn get(&self, index: usize) -> Option<(String, String)> {
        let i = index.checked_sub(self.offset)?;
        let id = self.ids.get(i)?.clone();
        let label = self.labels.as_ref().map_or(String::new(), |l| l[i].clone());
        Some((id, label))
    }
}

/// Id and label of each pick: from `names` where they cover it, else its index (the ids
/// `demud discover` gives a `.npy` without an items file).
fn name_picks(picks: &[KeptPick], names: &[&Names]) -> Vec<(String, String)> {
    picks
        .iter()
        .map(|p| {
            names
                .iter()
                .find_map(|n| n.get(p.index))
                .unwrap_or_else(|| (p.index.to_string(), String::new()))
        })
        .collect()
}

/// Refuses outputs that exist (the CSV) or would replace an input (the run folder, the model).
fn check_outputs(args: &RunArgs, inputs: &[PathBuf]) -> Result<()> {
    let inputs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    if let Some(out) = &args.out {
        if out.exists() {
            bail!(
                "{} exists: demud-mpi does not overwrite files",
                out.display()
            );
        }
        ensure_outside(out, &inputs)?;
    }
    for out in args.out_dir.iter().chain(&args.model_out) {
        ensure_outside(out, &inputs)?;
    }
    Ok(())
}

fn single(args: &RunArgs) -> Result<()> {
    let Some(features) = &args.features else {
        bail!("single runs one process on one file: give --features, not --shards");
    };
    check_outputs(args, std::slice::from_ref(features))?;
    let started = Instant::now();
    let writer = args.out_dir.as_deref().map(RunWriter::begin).transpose()?;
    let matrix = map(features)?;
    let names = match args.out_dir {
        Some(_) => Names::beside(features)?,
        None => None,
    };
    let params = params(args)?;
    let run = record_of(
        args,
        &params,
        features.clone(),
        matrix.dim(),
        matrix.precision(),
        args.out_dir.is_some(),
    );
    let mut keeper = Keeper::new(run, writer);
    let model = match matrix.view() {
        MappedView::F32(x) => run_single(&params, x, &mut keeper)?,
        MappedView::F16(x) => run_single(&params, x, &mut keeper)?,
    };
    let names = name_picks(keeper.kept.picks(), &names.iter().collect::<Vec<_>>());
    write_outputs(args, keeper, &names, model, started)
}

fn run_single<T: Element>(
    params: &DemudParams,
    x: ArrayView2<T>,
    keeper: &mut Keeper<'_>,
) -> Result<Option<SubspaceModel>> {
    let mut run = params.discover(x)?;
    keeper.begin(run.len_total());
    for pick in run.by_ref() {
        keeper.take(&pick?);
    }
    Ok(run.model())
}

/// What this rank ranks: the rows `rows` of the file it mapped, and the ids it knows.
struct Local {
    matrix: MappedMatrix,
    rows: Range<usize>,
    names: Option<Names>,
}

/// The file rank `rank` maps.
fn file_of(args: &RunArgs, rank: usize) -> Result<PathBuf> {
    match (&args.features, &args.shards) {
        (Some(features), _) => Ok(features.clone()),
        (None, Some(pattern)) => shard_path(pattern, rank),
        (None, None) => unreachable!("clap requires one"),
    }
}

/// Maps this rank's file (and reads its ids when the run folder needs them).
fn open_local(args: &RunArgs, rank: usize, size: usize) -> Result<Local> {
    let file = file_of(args, rank)?;
    let matrix = map(&file)?;
    let shared = args.shards.is_none();
    // Of a shared file rank 0 reads every id; of shards each rank its own.
    let names = match args.out_dir.is_some() && (!shared || rank == 0) {
        true => Names::beside(&file)?,
        false => None,
    };
    let rows = match shared {
        true => rows_of(matrix.dim().0, rank, size),
        false => 0..matrix.dim().0,
    };
    Ok(Local {
        matrix,
        rows,
        names,
    })
}

fn precision_code(p: MappedPrecision) -> f64 {
    match p {
        MappedPrecision::F32 => 0.0,
        MappedPrecision::F16 => 1.0,
    }
}

fn precision_name(code: f64) -> &'static str {
    if code == 0.0 {
        "f32"
    } else {
        "f16"
    }
}

fn distributed(args: &RunArgs, world: &Mpi) -> Result<()> {
    let started = Instant::now();
    let (rank, size) = (world.rank(), world.size());
    // The same on every rank: refused by all alike before any communication.
    let params = params(args).map_err(|e| agreed(format!("{e:#}")))?;
    let files = (0..size)
        .map(|r| file_of(args, r))
        .collect::<Result<Vec<_>>>()
        .map_err(|e| agreed(format!("{e:#}")))?;
    // Each rank's own failure (a missing or bad file, or rank 0's outputs) is gathered before
    // anything else: a rank that stopped alone would leave the others waiting forever.
    let opened = open_local(args, rank, size);
    let outputs = match rank {
        0 => {
            check_outputs(args, &[&files[..], args.collection.as_slice()].concat()).and_then(|()| {
                // Only its header is read here (the map is dropped): rank 0 compares its shape.
                let whole = args
                    .collection
                    .as_deref()
                    .map(|c| map(c).map(|m| m.dim()))
                    .transpose()?;
                // The run folder's staging folder, beside it: the explanations stream into it.
                let writer = args.out_dir.as_deref().map(RunWriter::begin).transpose()?;
                Ok((whole, writer))
            })
        }
        _ => Ok((None, None)),
    };
    let (whole_n, whole_d) = outputs
        .as_ref()
        .ok()
        .and_then(|(whole, _)| *whole)
        .unwrap_or_default();
    let (n, d, precision) = opened.as_ref().map_or((0, 0, 0.0), |l| {
        let (n, d) = l.matrix.dim();
        (n, d, precision_code(l.matrix.precision()))
    });
    let has_names = opened.as_ref().is_ok_and(|l| l.names.is_some());
    let failed = match (&opened, &outputs) {
        (Err(_), _) => 1.0,
        (_, Err(_)) => 2.0,
        _ => 0.0,
    };
    let all = world.all_gather(&[
        failed,
        n as f64,
        d as f64,
        precision,
        f64::from(u8::from(has_names)),
        whole_n as f64,
        whole_d as f64,
    ]);
    let all: Vec<&[f64]> = all.chunks(7).collect();
    let local = opened?;
    let (_, writer) = outputs?;
    if let Some(r) = all.iter().position(|c| c[0] != 0.0) {
        return Err(agreed(match all[r][0] == 1.0 {
            true => format!(
                "rank {r} could not use {} (its error says why); no rank ran",
                files[r].display()
            ),
            false => "rank 0 refused the outputs or --collection (its error says why); no rank ran"
                .into(),
        }));
    }
    let first = all[0];
    let shared = args.shards.is_none();
    for (r, c) in all.iter().enumerate() {
        let what = |c: &[f64]| format!("{} x {} {}", c[1], c[2], precision_name(c[3]));
        if shared && c[1..4] != first[1..4] {
            return Err(agreed(format!(
                "rank {r} sees {} as {}, rank 0 as {}: the path must name the same file on every node",
                files[r].display(),
                what(c),
                what(first)
            )));
        }
        if !shared && c[2..4] != first[2..4] {
            return Err(agreed(format!(
                "{} holds {} values, {} holds {}: every shard must have the same features and precision",
                files[r].display(),
                what(c),
                files[0].display(),
                what(first)
            )));
        }
        if !shared && args.out_dir.is_some() && c[4] != first[4] {
            let (with, without) = match first[4] != 0.0 {
                true => (0, r),
                false => (r, 0),
            };
            return Err(agreed(format!(
                "{} has an items file beside it and {} has none: give every shard its ids, or none",
                files[with].display(),
                files[without].display()
            )));
        }
    }
    let total: usize = all.iter().map(|c| c[1] as usize).sum();
    if let Some(whole) = &args.collection {
        if (first[5], first[6]) != (total as f64, first[2]) {
            return Err(agreed(format!(
                "--collection {} holds {} x {} values, the shards {total} x {}: it must be the file they were split from",
                whole.display(),
                first[5],
                first[6],
                first[2]
            )));
        }
    }
    let mut names = local.names;
    if let Some(names) = &mut names {
        // A shard's ids are its rows'; its rows come after the earlier ranks' shards.
        names.offset = all[..rank].iter().map(|c| c[1] as usize).sum();
    }
    let rows = local.rows.clone();
    let path = [&args.collection, &args.features, &args.shards]
        .into_iter()
        .find_map(Option::clone)
        .expect("one input");
    let n_items = match shared {
        true => n,
        false => total,
    };
    let writes = rank == 0 && args.out_dir.is_some();
    let run = record_of(
        args,
        &params,
        path,
        (n_items, d),
        local.matrix.precision(),
        writes,
    );
    let mut keeper = Keeper::new(run, writer);
    let model = match local.matrix.view() {
        MappedView::F32(x) => run_ranks(
            &params,
            x.slice(s![rows, ..]),
            world,
            args.timing,
            &mut keeper,
        )?,
        MappedView::F16(x) => run_ranks(
            &params,
            x.slice(s![rows, ..]),
            world,
            args.timing,
            &mut keeper,
        )?,
    };
    let names = match args.out_dir {
        Some(_) => world.gather_names(keeper.kept.picks(), names.as_ref()),
        None => Vec::new(),
    };
    if rank == 0 {
        write_outputs(args, keeper, &names, model, started)?;
    }
    Ok(())
}

/// The distributed loop: every rank takes each selection as the run yields it (rank 0 streams
/// its explanation into the run folder), none holds the selections' vectors.
fn run_ranks<T: Element>(
    params: &DemudParams,
    rows: ArrayView2<T>,
    world: &Mpi,
    timing: Timing,
    keeper: &mut Keeper<'_>,
) -> Result<Option<SubspaceModel>> {
    let start = Instant::now();
    let mut run = params.discover_distributed(rows, world)?;
    keeper.begin(run.len_total());
    let mut made = 0usize;
    let mut first = Duration::ZERO;
    let mut comm_after_first = Duration::ZERO;
    let mut later = Instant::now();
    for pick in run.by_ref() {
        keeper.take(&pick?);
        made += 1;
        if made == 1 {
            first = start.elapsed();
            comm_after_first = world.spent.get();
            later = Instant::now();
        }
    }
    let later = later.elapsed();
    if timing == Timing::On {
        let rest = made.saturating_sub(1).max(1) as f64;
        let per = later.as_secs_f64() / rest;
        let comm = (world.spent.get() - comm_after_first).as_secs_f64() / rest;
        let latency = world.latency(rows.ncols(), 200);
        if world.rank() == 0 {
            println!(
                "ranks {} rows on rank 0 {} d {} precision {}: init+first {:.3} s; per selection {:.2} ms, of which collectives {:.3} ms ({:.1}%, waiting included); collectives alone {:.3} ms",
                world.size(),
                rows.nrows(),
                rows.ncols(),
                T::NAME,
                first.as_secs_f64(),
                per * 1e3,
                comm * 1e3,
                100.0 * comm / per,
                latency * 1e3,
            );
        }
    }
    Ok(run.model())
}

/// Rank 0's outputs: the CSV, the model, then the run folder put in place (each when asked
/// for); nothing when a streamed write failed.
fn write_outputs(
    args: &RunArgs,
    keeper: Keeper<'_>,
    names: &[(String, String)],
    model: Option<SubspaceModel>,
    started: Instant,
) -> Result<()> {
    let Keeper {
        mut run,
        kept,
        writer,
        failed,
    } = keeper;
    if let Some(e) = failed {
        return Err(e.context("the run folder could not be written; it was left as it was"));
    }
    if let Some(out) = &args.out {
        write_csv(out, kept.picks())?;
    }
    if let Some(path) = &args.model_out {
        let model = model.context("the run produced no model")?;
        // As `demud discover --conditioning none` saves it: the identity conditioner recorded.
        let state = ModelState::new(model, run.params)
            .with_conditioner(Conditioner::identity(run.n_features));
        write_saved_model(
            path,
            &SavedModel {
                state,
                extraction: None,
            },
        )?;
    }
    if let Some(writer) = writer {
        run.seconds = started.elapsed().as_secs_f64();
        writer.finish(&run.records(&kept, names)?)?;
    }
    Ok(())
}

fn write_csv(out: &Path, picks: &[KeptPick]) -> Result<()> {
    if out.exists() {
        bail!(
            "{} exists: demud-mpi does not overwrite files",
            out.display()
        );
    }
    let mut text = String::from("rank,index,score\n");
    for p in picks {
        text += &format!("{},{},{:e}\n", p.rank, p.index, p.score);
    }
    let mut file = std::fs::File::create_new(out)
        .with_context(|| format!("cannot create {}", out.display()))?;
    file.write_all(text.as_bytes())
        .with_context(|| format!("cannot write {}", out.display()))
}

fn generate(out: &Path, n: usize, d: usize, seed: u64) -> Result<()> {
    if out.exists() {
        bail!(
            "{} exists: demud-mpi does not overwrite files",
            out.display()
        );
    }
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let rank = 8.min(d);
    let factors = Array2::from_shape_simple_fn((n, rank), || rng.random::<f32>() - 0.5);
    let loadings = Array2::from_shape_simple_fn((rank, d), || rng.random::<f32>());
    let mut x = factors.dot(&loadings);
    x.mapv_inplace(|v| v + 0.05 * rng.random::<f32>());
    for i in (3..n).step_by(97) {
        x[(i, i % d)] += 2.0;
    }
    let ids: Vec<String> = (0..n).map(|i| format!("item{i}")).collect();
    // Labelled, so that `demud curve` and `demud report` can score a run on it.
    let labels: Vec<String> = (0..n)
        .map(|i| match i >= 3 && (i - 3) % 97 == 0 {
            true => "planted".into(),
            false => "background".into(),
        })
        .collect();
    demud_datasets::features::write_npy_features(out, &ids, Some(&labels), &x)?;
    Ok(())
}

/// The engine's [`Collective`] over MPI's world communicator, timing every call (`spent`).
struct Mpi {
    world: SimpleCommunicator,
    spent: Cell<Duration>,
}

impl Mpi {
    fn new(world: SimpleCommunicator) -> Self {
        Mpi {
            world,
            spent: Cell::new(Duration::ZERO),
        }
    }

    fn timed<R>(&self, f: impl FnOnce() -> R) -> R {
        let start = Instant::now();
        let r = f();
        self.spent.set(self.spent.get() + start.elapsed());
        r
    }

    /// Id and label of each pick, on rank 0 (empty elsewhere): every rank sends those its
    /// `names` cover (only the picks', never a whole items file), rank 0 fills in the rest
    /// with the picks' indices ([`name_picks`]).
    fn gather_names(&self, picks: &[KeptPick], names: Option<&Names>) -> Vec<(String, String)> {
        let known: Vec<(usize, String, String)> = names.map_or(Vec::new(), |names| {
            picks
                .iter()
                .enumerate()
                .filter_map(|(i, p)| names.get(p.index).map(|(id, label)| (i, id, label)))
                .collect()
        });
        let bytes = serde_json::to_vec(&known).expect("strings serialise");
        let lengths = self.all_gather(&[bytes.len() as f64]);
        let root = self.world.process_at_rank(0);
        if self.rank() != 0 {
            root.gather_varcount_into(&bytes[..]);
            return Vec::new();
        }
        let counts: Vec<i32> = lengths.iter().map(|&l| l as i32).collect();
        let displs: Vec<i32> = counts
            .iter()
            .scan(0, |at, &c| {
                let this = *at;
                *at += c;
                Some(this)
            })
            .collect();
        let mut all = vec![0u8; counts.iter().map(|&c| c as usize).sum()];
        {
            let mut partition = PartitionMut::new(&mut all[..], &counts[..], &displs[..]);
            root.gather_varcount_into_root(&bytes[..], &mut partition);
        }
        let mut named = name_picks(picks, &[]);
        for (&at, &count) in displs.iter().zip(&counts) {
            let part = &all[at as usize..(at + count) as usize];
            let known: Vec<(usize, String, String)> =
                serde_json::from_slice(part).expect("written above by a rank");
            for (i, id, label) in known {
                named[i] = (id, label);
            }
        }
        named
    }

    /// Seconds per selection's collectives alone (an all-gather of 3 numbers and a broadcast
    /// of d + 1), over `repeats`, after a barrier: the latency term of the cost model.
    fn latency(&self, d: usize, repeats: usize) -> f64 {
        self.world.barrier();
        let start = Instant::now();
        let mut row = vec![0.0; d + 1];
        for i in 0..repeats {
            self.all_gather(&[1.0, 2.0, 3.0]);
            self.broadcast(&mut row, i % self.size());
        }
        start.elapsed().as_secs_f64() / repeats as f64
    }
}

impl Collective for Mpi {
    fn rank(&self) -> usize {
        self.world.rank() as usize
    }
    fn size(&self) -> usize {
        self.world.size() as usize
    }
    fn all_gather(&self, local: &[f64]) -> Vec<f64> {
        self.timed(|| {
            let mut all = vec![0.0; local.len() * self.size()];
            self.world.all_gather_into(local, &mut all[..]);
            all
        })
    }
    fn all_reduce_sum(&self, values: &mut [f64]) {
        // Reduced on rank 0 and broadcast, not MPI_Allreduce: MPI does not promise that an
        // all-reduce gives every rank the same bits, and every rank's model is built from the
        // sum, so the ranks' models could drift apart.
        self.timed(|| {
            let root = self.world.process_at_rank(0);
            if self.rank() == 0 {
                let mut sum = vec![0.0; values.len()];
                root.reduce_into_root(&*values, &mut sum[..], SystemOperation::sum());
                values.copy_from_slice(&sum);
            } else {
                root.reduce_into(&*values, SystemOperation::sum());
            }
            root.broadcast_into(values);
        })
    }
    fn broadcast(&self, values: &mut [f64], root: usize) {
        self.timed(|| {
            self.world
                .process_at_rank(root as i32)
                .broadcast_into(values)
        })
    }
}
