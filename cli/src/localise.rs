//! `demud localise`: do the explanation maps point at the planted novelties, and do those
//! novelties cause the selections?
//!
//! Scores every map of the run's planted selections (the maps folder's and the render's)
//! against the masks in the planted collection's `planted.csv`, and with the network, re-scores
//! each planted image with its part in-painted and runs deletion curves (see
//! `demud_report::localisation`); writes `localisation.csv` and `localisation.json` in the run
//! folder and prints the table.

use crate::args::LocaliseArgs;
use crate::ui::set_torch_threads;
use anyhow::{bail, Result};
use demud_datasets::run::{write_localisation, MapsFolder, RenderFolder, RunFolder};
use demud_maps::faithfulness::deletion_fractions;
use demud_maps::Network;
use demud_report::localisation::{format_localisation, localise_run, LocaliseInputs, Rescoring};

/// `demud localise`.
pub fn run(args: &LocaliseArgs) -> Result<()> {
    set_torch_threads(args.threads);
    let run = match (&args.run, &args.render) {
        (Some(dir), _) => RunFolder::open(dir)?,
        (None, Some(render)) => RenderFolder::open_with_run(render)?.0,
        (None, None) => bail!("give --run (or --render)"),
    };
    let maps = MapsFolder::open_or_default(args.maps.as_deref(), &run)?;
    let render = RenderFolder::open_or_default(args.render.as_deref(), &run)?;
    if maps.is_none() && render.is_none() {
        bail!(
            "{} has neither maps (demud maps) nor a render (demud render): nothing to score",
            run.dir().display()
        );
    }
    let network = if args.no_rescoring {
        None
    } else {
        let mut spec = args.network.spec_for_run(&run)?;
        if let Some(maps) = maps.as_ref().filter(|_| run.record().extraction.is_none()) {
            let record = maps.record();
            if spec.model.name() != record.network {
                bail!(
                    "--model {}: the maps were made with {}; re-scoring needs the network that made the features",
                    spec.model.name(),
                    record.network
                );
            }
            if spec.layers.is_empty() {
                spec.layers = vec![record.layer.clone()];
            }
        }
        Some(Network::from_spec(&spec)?)
    };
    let inputs = LocaliseInputs {
        run: &run,
        planted: &args.planted,
        maps: maps.as_ref(),
        render: render.as_ref(),
        rescoring: network.as_ref().map(|network| Rescoring {
            network,
            fractions: deletion_fractions(args.deletion_steps),
            random_orders: args.random_orders,
            seed: args.seed,
        }),
    };
    let (rows, report) = localise_run(&inputs)?;
    write_localisation(run.dir(), &rows, &report)?;
    print!("{}", format_localisation(&report));
    if report.selected == 0 {
        eprintln!("note: no planted item is among the explained selections");
    }
    Ok(())
}
