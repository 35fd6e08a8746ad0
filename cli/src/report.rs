//! `demud report`: a self-contained HTML report of a discovery run (see `demud_report::html`).

use crate::args::ReportArgs;
use anyhow::Result;
use demud_datasets::atomic::ensure_outside;
use demud_datasets::run::{read_localisation, MapsFolder, RenderFolder, RunFolder};
use demud_report::html::{collection_labels, write_report, ReportInput};

/// `demud report`.
pub fn run(args: &ReportArgs) -> Result<()> {
    let run = RunFolder::open(&args.run)?;
    let out = args.out.clone().unwrap_or_else(|| args.run.join("report"));
    ensure_outside(&out, &[args.run.as_path()])?;
    let render = RenderFolder::open_or_default(args.render.as_deref(), &run)?;
    // The localisation scores live in the run folder (`demud localise`).
    let localisation = read_localisation(&run)?;
    // The run's maps (`demud maps`), when made in their default folder.
    let maps = MapsFolder::open_or_default(None, &run)?;
    let labels = collection_labels(&run, args.labels.as_deref())?;
    let page = write_report(
        &out,
        &ReportInput {
            title: &args.title,
            run: &run,
            render: render.as_ref(),
            localisation: localisation.as_ref(),
            maps: maps.as_ref(),
            labels: labels.as_deref(),
            random_orders: args.random,
        },
    )?;
    println!("report: {}", page.display());
    Ok(())
}
