//! `demud`: novelty discovery with explanations, from the command line.

mod curve;
mod demo;
mod discover;
mod extract;
mod output;
mod plot;

use clap::{Parser, Subcommand};

/// DEMUD: find what is new in a collection, and why.
///
/// `discover` ranks the items of a feature file by how poorly a model of the items already
/// selected explains them, and writes each selection's expected and novel content;
/// `curve` measures, against labels, how fast runs find every class (discovery curve, nAUC);
/// `demo` runs both on a built-in generated collection.
#[derive(Parser, Debug)]
#[command(name = "demud", version, about, long_about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Select items in order of novelty and explain each selection.
    #[command(after_help = "Examples:
  demud discover --features glass.csv --k 3 --out runs/glass
  demud discover --features fc7.npy --items items.csv --k 50 --n 300 --out runs/fc7
  demud discover --features today.csv --prior archive.csv --k 10 --n 20 --out runs/today
  demud discover --features glass.csv --k 3 --init 0 --compat reference --out runs/ref")]
    Discover(discover::DiscoverArgs),
    /// Turn a folder of images into features (CNN layers) for `discover`.
    #[command(after_help = "Examples:
  demud extract --images photos/ --out runs/photos.npy
  demud extract --images photos/ --layer logits --top5 runs/top5.csv --out runs/logits.npy
  demud extract --images photos/ --model alexnet --weights models/alexnet.safetensors --layer fc7 --out runs/fc7.npy")]
    Extract(extract::ExtractArgs),
    /// Discovery curves and nAUC of runs against labels, with random and oracle baselines.
    #[command(after_help = "Example:
  demud curve runs/brand runs/static --labels labels.csv --at 10,50,300 --plot runs/curve.png")]
    Curve(curve::CurveArgs),
    /// The main job on the built-in generated collection: discover, curve, chart.
    Demo(demo::DemoArgs),
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match &cli.command {
        Command::Discover(args) => discover::run(args),
        Command::Curve(args) => curve::run(args),
        Command::Extract(args) => extract::run(args),
        Command::Demo(args) => demo::run(args),
    }
}
