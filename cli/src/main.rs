//! `demud`: novelty discovery with explanations, from the command line. Each command turns
//! its arguments into calls of the library crates and prints; no command uses another.

mod archive;
mod args;
mod audit;
mod benchmark;
mod convert;
mod curve;
mod demo;
mod discover;
mod extract;
mod labels;
mod localise;
mod maps;
mod noise_check;
mod ood;
mod pipeline;
mod plant;
mod render;
mod report;
mod train_decoder;
mod ui;

use clap::{Parser, Subcommand};

/// DEMUD: find what is new in a collection, and why.
///
/// `discover` ranks the items of a feature file by how poorly a model of the items already
/// selected explains them, and writes each selection's expected and novel content;
/// `curve` measures, against labels, how fast runs find every class (discovery curve, nAUC),
/// and `benchmark` does so for many feature kinds and methods at once;
/// `extract` turns images into CNN features; `train-decoder` learns to draw feature vectors
/// as images and `render` draws each selection's expected and novel content with it;
/// `report` writes an HTML report; `plant` and `localise` measure whether the renders point
/// at planted novelties; `pipeline` (the main job) runs all of it on built-in collections.
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
    Discover(args::DiscoverArgs),
    /// Turn a folder of images into features (CNN layers) for `discover`.
    #[command(after_help = "Examples:
  demud extract --images photos/ --out runs/photos.npy
  demud extract --images photos/ --layer logits --top5 runs/top5.csv --out runs/logits.npy
  demud extract --images photos/ --model alexnet --weights models/alexnet.safetensors --layer fc7 --out runs/fc7.npy")]
    Extract(args::ExtractArgs),
    /// Rewrite a features file as a `.npy` of another precision (`--store f16`: half the
    /// size; `discover` maps it and ranks it in place), block by block.
    Convert(args::ConvertArgs),
    /// Discovery curves and nAUC of runs against labels, with random and oracle baselines.
    #[command(after_help = "Example:
  demud curve runs/brand runs/static --labels labels.csv --at 10,50,300 --plot runs/curve.png")]
    Curve(args::CurveArgs),
    /// The papers' Table 1 on labelled features or images: feature kinds x methods x
    /// conditionings x variants, nAUC, random and oracle, a k sweep and figures (resumable).
    #[command(after_help = "Examples:
  demud benchmark --features pool=pool.npy --features logits=logits.npy --labels classes.csv --out runs/bench
  demud benchmark --images emoji/ --manifest manifest.csv --labels coarse=coarse.csv --labels fine=fine.csv --out runs/emoji-bench")]
    Benchmark(args::BenchmarkArgs),
    /// The engine alone on a built-in generated feature collection: discover, curve, chart.
    Demo(args::DemoArgs),
    /// Write a collection with planted novelties and their masks.
    #[command(after_help = "Examples:
  demud plant flowers --out runs/flowers
  demud plant patch --images emoji/ --manifest emoji/manifest.csv --planted 10 --out runs/emoji-patched")]
    Plant(args::PlantArgs),
    /// Train the up-convolutional decoder on (image, feature vector) pairs.
    #[command(after_help = "Examples:
  demud train-decoder --images photos/ --features runs/photos.npy --out runs/decoder
  demud train-decoder --images photos/ --features runs/photos.npy --out runs/decoder --epochs 60 --resume")]
    TrainDecoder(args::TrainDecoderArgs),
    /// Draw each selection's item, expected and novel content with a trained decoder.
    #[command(after_help = "Example:
  demud render --run runs/photos --decoder runs/decoder --images photos/")]
    Render(args::RenderArgs),
    /// Where in each selection's image its novelty is: the score split exactly over the
    /// network's feature map, and pixel-gradient maps, drawn as overlays.
    #[command(after_help = "Examples:
  demud maps --run runs/photos --images photos/
  demud maps --run runs/fc6 --images photos/ --model alexnet --weights models/alexnet.safetensors --layer fc6")]
    Maps(args::MapsArgs),
    /// Score rendered explanations against planted novelties' masks (energy share, pointing).
    #[command(after_help = "Example:
  demud localise --render runs/flowers/render --planted runs/flowers/planted")]
    Localise(args::LocaliseArgs),
    /// Write a self-contained HTML report of a run (selections, renders, curve, nAUC).
    #[command(after_help = "Example:
  demud report --run runs/photos --out runs/photos/report")]
    Report(args::ReportArgs),
    /// The main job: planted collection, features, discovery, decoder, renders, localisation
    /// and the HTML report.
    Pipeline(args::PipelineArgs),
    /// The downlink loop: an archive of what was seen, each new batch ranked against it
    /// (with a reviewer's feedback), then folded in.
    Archive(args::ArchiveArgs),
    /// Rank the items of a labelled collection by how likely their label is wrong, each with
    /// its explanation.
    #[command(after_help = "Example:
  demud audit --features digits.csv --labels labels.csv --out runs/audit")]
    Audit(args::AuditArgs),
    /// Out-of-distribution measures (COOD's and DEMUD's) of an ID test set and OOD sets
    /// against an ID training set, their random-forest combination, metrics and a ROC plot.
    #[command(after_help = "Example:
  demud ood --train train.npy --test test.npy --ood held-out=novel.npy --ood noise=noise.npy --hierarchy classes.csv --out runs/ood")]
    Ood(args::OodArgs),
    /// Noise images (Gaussian with the collection's moments, and uniform) through the network
    /// and a head beside the real images: how sure the head is of them, where they land, the
    /// class centroids' minimum spanning tree with the noise as a node, and how well each OOD
    /// measure separates noise from real images.
    #[command(after_help = "Example:
  demud noise-check --images emoji/ --manifest emoji/manifest.csv --labels category.csv --out runs/noise")]
    NoiseCheck(args::NoiseCheckArgs),
    /// What an ImageNet classifier calls each class of a labelled collection: the top-1
    /// labels per class with their mean confidence, and the top-n label frequency by group.
    #[command(after_help = "Examples:
  demud labels --features logits.npy --labels category.csv --groups groups.csv --out runs/labels
  demud labels --images emoji/ --manifest emoji/manifest.csv --labels category.csv --out runs/labels")]
    Labels(args::LabelsArgs),
}

/// Runs the command; an error is printed as a message with its causes (never a stack trace,
/// whatever `RUST_BACKTRACE` says: an error for a user is a message) and exits with 1.
fn main() -> std::process::ExitCode {
    ui::keep_freed_memory();
    match run(&Cli::parse().command) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(err) => {
            // The causes, each once: library errors already include their source's text.
            let mut message = err.to_string();
            for cause in err.chain().skip(1) {
                let text = cause.to_string();
                if !message.contains(&text) {
                    message = format!("{message}: {text}");
                }
            }
            eprintln!("Error: {message}");
            std::process::ExitCode::FAILURE
        }
    }
}

fn run(command: &Command) -> anyhow::Result<()> {
    match command {
        Command::Discover(args) => discover::run(args),
        Command::Curve(args) => curve::run(args),
        Command::Extract(args) => extract::run(args),
        Command::Convert(args) => convert::run(args),
        Command::Benchmark(args) => benchmark::run(args),
        Command::Demo(args) => demo::run(args),
        Command::Plant(args) => plant::run(args),
        Command::TrainDecoder(args) => train_decoder::run(args),
        Command::Render(args) => render::run(args),
        Command::Maps(args) => maps::run(args),
        Command::Localise(args) => localise::run(args),
        Command::Report(args) => report::run(args),
        Command::Pipeline(args) => pipeline::run(args),
        Command::Archive(args) => archive::run(args),
        Command::Audit(args) => audit::run(args),
        Command::Ood(args) => ood::run(args),
        Command::NoiseCheck(args) => noise_check::run(args),
        Command::Labels(args) => labels::run(args),
    }
}
