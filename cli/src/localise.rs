//! `demud localise`: do the rendered explanations point at the planted novelties?
//!
//! For every rendered selection that is a planted item (listed in the collection's
//! `planted.csv`), scores the novel-content map of dec(e) and the difference map
//! |dec(x) - dec(x̂)|² against its mask (see `demud_report::localisation`), writes
//! `localisation.csv` and `localisation.json` in the render folder, and prints the table.

use anyhow::Result;
use clap::Args;
use demud_datasets::run::{write_localisation, RenderFolder};
use demud_report::localisation::{format_localisation, score_render};
use std::path::PathBuf;

/// Options of `demud localise`.
#[derive(Args, Debug, Clone)]
pub struct LocaliseArgs {
    /// The render folder (from `render`).
    #[arg(long, value_name = "DIR")]
    pub render: PathBuf,
    /// The planted collection's folder (from `plant`: planted.csv and masks/).
    #[arg(long, value_name = "DIR")]
    pub planted: PathBuf,
}

/// `demud localise`.
pub fn run(args: &LocaliseArgs) -> Result<()> {
    let (_, render) = RenderFolder::open_with_run(&args.render)?;
    let (rows, report) = score_render(&render, &args.planted)?;
    write_localisation(render.dir(), &rows, &report)?;
    print!("{}", format_localisation(&report));
    if report.selected == 0 {
        eprintln!("note: no planted item is among the rendered selections");
    }
    Ok(())
}
