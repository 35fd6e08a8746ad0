//! `demud render`: draw every selection of a discovery run with a trained decoder.
//!
//! Per selection (`NNNN` its rank): the image as the encoder saw it, dec(x), dec(x̂) (the
//! paper's "expected content"), dec(e) ("novel content") and |dec(x) − dec(x̂)| as a heat map,
//! plus a contact sheet, `renders.csv`, the decoded arrays and `render.json`: a render folder
//! (`demud_datasets::run::RenderFolder`), written whole.

use crate::ui::set_torch_threads;
use anyhow::Result;
use clap::Args;
use demud_datasets::atomic::ensure_outside;
use demud_datasets::run::{write_render, RunFolder};
use demud_decoder::explain::{render_run, RenderOptions};
use std::path::PathBuf;

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
    #[arg(long, default_value_t = 128)]
    pub original_size: u32,
    /// Threads libtorch may use (default: its own choice, the number of cores).
    #[arg(long)]
    pub threads: Option<i32>,
}

/// `demud render`.
pub fn run(args: &RenderArgs) -> Result<()> {
    set_torch_threads(args.threads);
    let run = RunFolder::open(&args.run)?;
    let out = args.out.clone().unwrap_or_else(|| run.render_dir());
    ensure_outside(&out, &[args.run.as_path(), &args.decoder, &args.images])?;
    let options = RenderOptions {
        limit: args.limit,
        original_size: args.original_size,
    };
    let render = render_run(&run, &args.decoder, &args.images, options)?;
    write_render(&out, &render)?;
    eprintln!(
        "rendered {} selections at {} px -> {} (contact_sheet.png, renders.csv)",
        render.rows.len(),
        render.record.decoder_summary.image_size,
        out.display()
    );
    Ok(())
}
