//! `demud pipeline`: the whole product on built-in planted collections, in the rover's use
//! case (rank today's batch against the archive), each step being the same command a user
//! would run (with that command's defaults):
//!
//! 1. `plant flowers` twice: an archive of yellow flowers, discs and stars, and a new batch
//!    of the same in which six flowers have a dark centre;
//! 2. `extract`: EfficientNet-Lite0 `pool` features of both;
//! 3. `discover --prior`: DEMUD's selections from the batch, starting from a model of the
//!    archive, with their expected and novel content;
//! 4. `train-decoder`: the up-convolutional decoder on the collection's (image, feature) pairs;
//! 5. `render`: every selection's five views and the contact sheet;
//! 6. `localise`: do the novel-content and difference maps point at the dark centres?
//! 7. `report`: the HTML report.

use anyhow::Result;
use clap::Args;
use std::ffi::OsString;
use std::path::PathBuf;
use std::time::Instant;

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
    #[arg(long, short, default_value_t = 10)]
    pub k: usize,
    /// Selections.
    #[arg(long, short, default_value_t = 40)]
    pub n: usize,
    /// Decoder training epochs (456 images: about 4 s each on 2 cores).
    #[arg(long, default_value_t = 60)]
    pub epochs: usize,
    /// Decoder output side in pixels.
    #[arg(long, default_value_t = 64)]
    pub size: usize,
    /// No progress bars.
    #[arg(long, short)]
    pub quiet: bool,
}

/// `demud <arguments...>` as an argument vector (strings and paths alike).
macro_rules! argv {
    ($($arg:expr),* $(,)?) => {
        vec![OsString::from("demud"), $(OsString::from($arg)),*]
    };
}

/// `demud pipeline`.
pub fn run(args: &PipelineArgs) -> Result<()> {
    let out = &args.out;
    let archive = out.join("archive");
    let archive_features = out.join("archive.npy");
    let planted = out.join("planted");
    let features = out.join("features.npy");
    let archive_seed = args.seed.wrapping_add(1).to_string();
    let run = out.join("run");
    let decoder = out.join("decoder");
    let (seed, k, n) = (
        args.seed.to_string(),
        args.k.to_string(),
        args.n.to_string(),
    );
    let (epochs, size) = (args.epochs.to_string(), args.size.to_string());
    let render = run.join("render");
    #[rustfmt::skip]
    let mut steps: Vec<(&str, Vec<OsString>)> = vec![
        ("plant (archive)", argv!["plant", "flowers", "--seed", &archive_seed, "--planted", "0",
            "--out", &archive]),
        ("plant (batch)", argv!["plant", "flowers", "--seed", &seed, "--out", &planted]),
        ("extract (archive)", argv!["extract", "--layer", "pool", "--images", &archive,
            "--manifest", archive.join("manifest.csv"), "--out", &archive_features]),
        ("extract (batch)", argv!["extract", "--layer", "pool", "--images", &planted,
            "--manifest", planted.join("manifest.csv"), "--out", &features]),
        ("discover", argv!["discover", "--k", &k, "--n", &n, "--features", &features,
            "--prior", &archive_features, "--out", &run]),
        ("train-decoder", argv!["train-decoder", "--epochs", &epochs, "--size", &size,
            "--seed", &seed, "--images", &planted, "--features", &features, "--out", &decoder]),
        ("render", argv!["render", "--run", &run, "--decoder", &decoder, "--images", &planted]),
        ("localise", argv!["localise", "--render", &render, "--planted", &planted]),
        ("report", argv!["report", "--title",
            "DEMUD: a new batch of yellow objects against the archive", "--run", &run,
            "--out", out.join("report")]),
    ];
    if args.quiet {
        for (name, argv) in &mut steps {
            if name.starts_with("extract") || matches!(*name, "discover" | "train-decoder") {
                argv.push("--quiet".into());
            }
        }
    }
    let started = Instant::now();
    for (name, argv) in steps {
        let step = Instant::now();
        eprintln!("== {name}");
        crate::run_argv(argv)?;
        eprintln!("   ({:.0} s)", step.elapsed().as_secs_f64());
    }
    println!(
        "pipeline done in {:.0} s; open {}",
        started.elapsed().as_secs_f64(),
        out.join("report/index.html").display()
    );
    Ok(())
}
