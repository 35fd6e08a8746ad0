//! `demud localise`: do the rendered explanations point at the planted novelties?
//!
//! For every rendered selection that is a planted item (listed in the collection's
//! `planted.csv`), scores the novel-content map of dec(e) and the difference map
//! |dec(x) - dec(x̂)|² against its mask (see `demud_report::localisation`), writes
//! `localisation.csv` and `localisation.json` in the render folder, and prints the table.

use crate::args::LocaliseArgs;
use anyhow::Result;
use demud_datasets::run::{write_localisation, RenderFolder};
use demud_report::localisation::{format_localisation, score_render};

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
