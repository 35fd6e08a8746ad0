//! `demud curve`: discovery curves and nAUC of one or more runs against labels, with the
//! random baseline and the oracle.

use crate::args::CurveArgs;
use anyhow::{bail, Result};
use demud_datasets::atomic::ensure_outside;
use demud_datasets::features::{match_labels, read_items};
use demud_report::curves::{
    default_name, evaluate, format_table, plot_rows, read_run_labels, selections_path, write_table,
};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// `demud curve`.
pub fn run(args: &CurveArgs) -> Result<()> {
    if !args.names.is_empty() && args.names.len() != args.runs.len() {
        bail!(
            "--names gives {} names for {} runs",
            args.names.len(),
            args.runs.len()
        );
    }
    if args.at.contains(&0) {
        bail!("--at: t must be at least 1");
    }
    let names: Vec<String> = match args.names.is_empty() {
        true => args.runs.iter().map(|p| default_name(p)).collect(),
        false => args.names.clone(),
    };
    let (population, map) = match &args.labels {
        Some(path) => {
            let rows = read_items(path)?;
            let ids: Vec<String> = rows.iter().map(|r| r.id.clone()).collect();
            let labels = match_labels(&ids, &rows, path)?;
            let map: HashMap<String, String> =
                ids.into_iter().zip(labels.iter().cloned()).collect();
            (labels, Some(map))
        }
        None => (Vec::new(), None),
    };
    let runs = args
        .runs
        .iter()
        .zip(names)
        .map(|(path, name)| Ok(read_run_labels(path, name, map.as_ref())?))
        .collect::<Result<Vec<_>>>()?;
    let population = if map.is_some() {
        population
    } else {
        eprintln!(
            "note: no --labels: the {} items of the first run stand for the whole collection (classes and random baseline)",
            runs[0].labels.len()
        );
        runs[0].labels.clone()
    };
    // Neither the table nor the chart may overwrite a file this command reads.
    let mut read: Vec<PathBuf> = args.runs.iter().map(|r| selections_path(r)).collect();
    read.extend(args.labels.iter().cloned());
    let read: Vec<&Path> = read.iter().map(PathBuf::as_path).collect();
    let charts = args
        .plot
        .iter()
        .flat_map(|p| [p.with_extension("png"), p.with_extension("svg")]);
    for output in args.table.iter().cloned().chain(charts) {
        ensure_outside(&output, &read)?;
    }
    let rows = evaluate(&runs, &population, &args.at, args.random, args.seed)?;
    print!("{}", format_table(&rows, &args.at));
    if let Some(path) = &args.table {
        write_table(path, &rows, &args.at)?;
    }
    if let Some(path) = &args.plot {
        let (png, svg) = plot_rows(path, &rows, "Discovery curve")?;
        eprintln!("chart: {} and {}", png.display(), svg.display());
    }
    Ok(())
}
