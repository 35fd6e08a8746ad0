//! `demud maps`: where in each selection's image its novelty is, made with the network that
//! made the run's features (see `demud_maps`): the maps folder `<run>/maps`, written whole.

use crate::args::MapsArgs;
use crate::ui::set_torch_threads;
use anyhow::Result;
use demud_datasets::atomic::ensure_outside;
use demud_datasets::run::{write_maps, RunFolder};
use demud_maps::{map_run, MapSettings, Network};

/// `demud maps`.
pub fn run(args: &MapsArgs) -> Result<()> {
    set_torch_threads(args.threads);
    let run = RunFolder::open(&args.run)?;
    let out = args.out.clone().unwrap_or_else(|| run.maps_dir());
    let mut inputs = vec![args.run.as_path(), args.images.as_path()];
    inputs.extend(args.network.weights.as_deref());
    ensure_outside(&out, &inputs)?;
    let network = Network::from_spec(&args.network.spec_for_run(&run)?)?;
    let settings = MapSettings {
        limit: args.limit,
        kinds: args.maps.clone(),
        ..MapSettings::default()
    };
    let maps = map_run(&run, &args.images, &network, &settings)?;
    write_maps(&out, &maps)?;
    let kinds: Vec<&str> = maps.record.maps.iter().map(|m| m.map.name()).collect();
    eprintln!(
        "mapped {} selections ({}) with {} layer {} -> {}",
        maps.record.selections,
        kinds.join(", "),
        maps.record.network,
        maps.record.layer,
        out.display()
    );
    Ok(())
}
