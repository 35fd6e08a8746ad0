//! `demud-mpi`: DEMUD over MPI, one process per rank (issue 15).
//!
//! ```text
//! mpirun -n 4 demud-mpi run --features x.npy --k 10 --n 100 --out picks.csv
//! ```
//!
//! Every rank memory-maps the same `.npy` (a shared file system, or the same path on every node)
//! and keeps only its contiguous range of rows (rank r of P holds rows `n r / P .. n (r+1) / P`);
//! the engine's [`demud::discovery::Collective`] is implemented here over MPI's world
//! communicator. Rank 0 writes the selections (`rank,index,score`) as CSV. `single` runs the
//! one-process engine on the whole file and writes the same CSV, for comparison; `generate`
//! writes a seeded test collection.

use anyhow::{bail, Context, Result};
use clap::{Parser, Subcommand, ValueEnum};
use demud::discovery::Collective;
use demud::{DemudParams, Element, Init, Selection, SvdMethod, UpdateMethod};
use demud_datasets::features::{MappedMatrix, MappedView};
use mpi::collective::SystemOperation;
use mpi::topology::SimpleCommunicator;
use mpi::traits::*;
use ndarray::{s, Array2, ArrayView2};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::cell::Cell;
use std::io::Write;
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
    /// The same run in one process, without MPI: the reference the distributed run must match.
    Single(RunArgs),
    /// Writes a seeded collection (low-rank structure, noise, a few outliers) as f32 .npy.
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
struct RunArgs {
    /// The collection: an n x d little-endian f32 or f16 .npy, mapped by every rank.
    #[arg(long)]
    features: PathBuf,
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
    #[arg(long)]
    out: PathBuf,
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
        Command::Single(args) => single(&args),
        Command::Run(args) => {
            let universe = mpi::initialize().context("MPI could not be initialised")?;
            let world = Mpi::new(universe.world());
            let result = distributed(&args, &world);
            if let Err(e) = &result {
                eprintln!("demud-mpi: rank {}: {e:#}", world.rank());
            }
            result
        }
    }
}

fn params(args: &RunArgs) -> Result<DemudParams> {
    let init =
        match args.init.as_str() {
            "svd" => Init::Svd,
            "mean" => Init::Mean,
            "random" => Init::Random,
            i => Init::Index(i.parse().with_context(|| {
                format!("--init {i}: expected svd, mean, random or an item index")
            })?),
        };
    Ok(DemudParams::new(args.k)
        .n_select(args.n)
        .init(init)
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

fn map(path: &Path) -> Result<MappedMatrix> {
    MappedMatrix::open(path)?.with_context(|| {
        format!(
            "{}: demud-mpi maps little-endian f32 or f16 .npy files only",
            path.display()
        )
    })
}

fn single(args: &RunArgs) -> Result<()> {
    let matrix = map(&args.features)?;
    let params = params(args)?;
    let picks = match matrix.view() {
        MappedView::F32(x) => run_single(&params, x)?,
        MappedView::F16(x) => run_single(&params, x)?,
    };
    write_csv(&args.out, &picks)
}

fn run_single<T: Element>(params: &DemudParams, x: ArrayView2<T>) -> Result<Vec<Selection>> {
    Ok(params.discover(x)?.collect::<demud::Result<Vec<_>>>()?)
}

fn distributed(args: &RunArgs, world: &Mpi) -> Result<()> {
    let matrix = map(&args.features)?;
    let params = params(args)?;
    let (n, _) = matrix.dim();
    let (rank, size) = (world.rank(), world.size());
    let rows = n * rank / size..n * (rank + 1) / size;
    let picks = match matrix.view() {
        MappedView::F32(x) => run_ranks(&params, x.slice(s![rows, ..]), world, args.timing)?,
        MappedView::F16(x) => run_ranks(&params, x.slice(s![rows, ..]), world, args.timing)?,
    };
    if rank == 0 {
        write_csv(&args.out, &picks)?;
    }
    Ok(())
}

fn run_ranks<T: Element>(
    params: &DemudParams,
    rows: ArrayView2<T>,
    world: &Mpi,
    timing: Timing,
) -> Result<Vec<Selection>> {
    let start = Instant::now();
    let mut run = params.discover_distributed(rows, world)?;
    let mut picks = Vec::new();
    let mut first = Duration::ZERO;
    let mut comm_after_first = Duration::ZERO;
    let mut later = Instant::now();
    for pick in run.by_ref() {
        picks.push(pick?);
        if picks.len() == 1 {
            first = start.elapsed();
            comm_after_first = world.spent.get();
            later = Instant::now();
        }
    }
    let later = later.elapsed();
    if timing == Timing::On {
        let rest = picks.len().saturating_sub(1).max(1) as f64;
        let per = later.as_secs_f64() / rest;
        let comm = (world.spent.get() - comm_after_first).as_secs_f64() / rest;
        let latency = world.latency(rows.ncols(), 200);
        if world.rank() == 0 {
            println!(
                "ranks {} rows/rank {} d {} precision {}: init+first {:.3} s; per selection {:.2} ms, of which collectives {:.3} ms ({:.1}%, waiting included); collectives alone {:.3} ms",
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
    Ok(picks)
}

fn write_csv(out: &Path, picks: &[Selection]) -> Result<()> {
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
    demud_datasets::features::write_npy_features(out, &ids, None, &x)?;
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
