//! `demud report`: a self-contained HTML report of a discovery run (see `demud_report::html`).

use crate::args::ReportArgs;
use anyhow::Result;
use demud_datasets::atomic::ensure_outside;
use demud_datasets::run::{
    read_localisation, MapsFolder, RenderFolder, RunFolder, MAPS_FILE, RENDERS_FILE,
};
use demud_report::html::{collection_labels, write_report, ReportInput};

/// `demud report`.
pub fn run(args: &ReportArgs) -> Result<()> {
    let run = RunFolder::open(&args.run)?;
    let out = args.out.clone().unwrap_or_else(|| args.run.join("report"));
    ensure_outside(&out, &[args.run.as_path()])?;
    let render_dir = args
        .render
        .clone()
        .or_else(|| Some(run.render_dir()).filter(|d| d.join(RENDERS_FILE).is_file()));
    let render = render_dir
        .map(|dir| RenderFolder::open(&dir, &run))
        .transpose()?;
    // The localisation scores live in the run folder (`demud localise`).
    let localisation = read_localisation(&run)?;
    // The run's maps (`demud maps`), when made in their default folder.
    let maps_dir = run.maps_dir();
    let maps = maps_dir
        .join(MAPS_FILE)
        .is_file()
        .then(|| MapsFolder::open(&maps_dir, &run))
        .transpose()?;
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
