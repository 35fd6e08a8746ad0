//! `demud render`: draw every selection of a discovery run with a trained decoder.
//!
//! Per selection (`NNNN` its rank): the image as the encoder saw it, dec(x), dec(x̂) (the
//! paper's "expected content"), dec(e) ("novel content") and |dec(x) − dec(x̂)| as a heat map,
//! plus a contact sheet (with each selection's map overlay as a sixth column when the run has
//! maps), `renders.csv`, the decoded arrays and `render.json`: a render folder
//! (`demud_datasets::run::RenderFolder`), written whole.

use crate::args::RenderArgs;
use crate::ui::set_torch_threads;
use anyhow::Result;
use demud_datasets::atomic::ensure_outside;
use demud_datasets::run::{write_render, MapsFolder, RunFolder};
use demud_decoder::explain::{render_run, RenderOptions};

/// `demud render`.
pub fn run(args: &RenderArgs) -> Result<()> {
    set_torch_threads(args.threads);
    let run = RunFolder::open(&args.run)?;
    let out = args.out.clone().unwrap_or_else(|| run.render_dir());
    ensure_outside(&out, &[args.run.as_path(), &args.decoder, &args.images])?;
    // The run's maps, when made, add each selection's overlay to the contact sheet.
    let maps = MapsFolder::open_or_default(None, &run)?;
    let options = RenderOptions {
        limit: args.limit,
        original_size: args.original_size,
        maps: maps.as_ref(),
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
