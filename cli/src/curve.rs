//! `demud curve`: discovery curves and nAUC of one or more runs against labels, with the
//! random baseline and the oracle.

use crate::output::write_csv;
use crate::plot::{discovery_chart, LineKind, Series};
use anyhow::{bail, Context, Result};
use clap::Args;
use demud::evaluation::{class_codes, discovery_curve, nauc, oracle_curve, random_baseline};
use demud_datasets::features::{match_labels, read_items};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// Options of `demud curve`.
#[derive(Args, Debug, Clone)]
pub struct CurveArgs {
    /// Runs: `selections.csv` files, or the output folders that hold them.
    #[arg(required = true, value_name = "SELECTIONS")]
    pub runs: Vec<PathBuf>,
    /// Labels of the whole collection, `id,label` (defines the classes and the random
    /// baseline; without it the first run's own labels are the collection).
    #[arg(long, value_name = "FILE")]
    pub labels: Option<PathBuf>,
    /// Numbers of selections t at which to report nAUC_t.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "10,50,300",
        value_name = "T,..."
    )]
    pub at: Vec<usize>,
    /// Random selection orders averaged for the random baseline.
    #[arg(long, default_value_t = 1000, value_name = "N")]
    pub random: usize,
    /// Seed of the random baseline.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// Chart path: `<stem>.png` and `<stem>.svg` are written.
    #[arg(long, value_name = "FILE")]
    pub plot: Option<PathBuf>,
    /// Names of the runs in the table and legend, comma-separated (default: folder names).
    #[arg(long, value_delimiter = ',', value_name = "NAME,...")]
    pub names: Vec<String>,
    /// Also write the nAUC table as CSV here.
    #[arg(long, value_name = "FILE")]
    pub table: Option<PathBuf>,
}

/// A run's selections as read back: ids and labels in selection order.
pub struct RunLabels {
    /// Name in the table.
    pub name: String,
    /// Labels in selection order.
    pub labels: Vec<String>,
}

/// One row of the nAUC table: `None` where the run is shorter than t.
pub struct TableRow {
    /// Run, `random` or `oracle`.
    pub name: String,
    /// nAUC_t per requested t.
    pub values: Vec<Option<f64>>,
    /// The discovery curve.
    pub curve: Vec<f64>,
}

fn selections_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join("selections.csv")
    } else {
        path.to_path_buf()
    }
}

/// A run's name: its folder's name for `DIR` or `DIR/selections.csv`, else the file's stem.
fn default_name(path: &Path) -> String {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let stem = |p: &Path| p.file_stem().map(|n| n.to_string_lossy().into_owned());
    if path.is_dir() {
        name(path)
    } else if path.file_name().is_some_and(|n| n == "selections.csv") {
        path.parent().and_then(name).or_else(|| stem(path))
    } else {
        stem(path)
    }
    .unwrap_or_else(|| path.display().to_string())
}

/// Reads a `selections.csv` (header `rank,index,id,label,score`), taking labels from
/// `population` (id -> label) when given, from the file's label column otherwise.
pub fn read_run(
    path: &Path,
    name: String,
    population: Option<&HashMap<String, String>>,
) -> Result<RunLabels> {
    let file = selections_path(path);
    let mut reader =
        csv::Reader::from_path(&file).with_context(|| format!("cannot read {}", file.display()))?;
    let headers = reader
        .headers()
        .with_context(|| format!("{}: no header", file.display()))?
        .clone();
    let column = |name: &str| {
        headers.iter().position(|h| h == name).with_context(|| {
            format!(
                "{}: no `{name}` column (a selections.csv has rank,index,id,label,score)",
                file.display()
            )
        })
    };
    let (id_col, label_col) = (column("id")?, column("label")?);
    let mut labels = Vec::new();
    for record in reader.records() {
        let record = record.with_context(|| format!("reading {}", file.display()))?;
        let line = record.position().map_or(0, |p| p.line());
        let id = &record[id_col];
        let label = match population {
            Some(map) => map
                .get(id)
                .with_context(|| {
                    format!(
                        "{}, line {line}: id {id:?} is not in the labels file",
                        file.display()
                    )
                })?
                .clone(),
            None => record[label_col].to_string(),
        };
        if label.is_empty() {
            bail!(
                "{}, line {line}: item {id:?} has no label; pass --labels",
                file.display()
            );
        }
        labels.push(label);
    }
    if labels.is_empty() {
        bail!("{}: no selections", file.display());
    }
    Ok(RunLabels { name, labels })
}

/// nAUC table rows for the runs, then `random` (mean of `orders` seeded orders) and `oracle`.
pub fn evaluate(
    runs: &[RunLabels],
    population: &[String],
    at: &[usize],
    orders: usize,
    seed: u64,
) -> Result<Vec<TableRow>> {
    let (codes, n_classes) = class_codes(population);
    let horizon = runs
        .iter()
        .map(|r| r.labels.len())
        .chain(at.iter().copied())
        .max()
        .unwrap_or(1)
        .min(population.len());
    let row = |name: String, curve: Vec<f64>| -> Result<TableRow> {
        let values = at
            .iter()
            .map(|&t| {
                (t <= curve.len())
                    .then(|| nauc(&curve, n_classes, t))
                    .transpose()
            })
            .collect::<demud::Result<Vec<_>>>()?;
        Ok(TableRow {
            name,
            values,
            curve,
        })
    };
    let mut rows = Vec::new();
    for run in runs {
        rows.push(row(run.name.clone(), discovery_curve(run.labels.iter()))?);
    }
    rows.push(row(
        "random".into(),
        random_baseline(&codes, horizon, orders, seed),
    )?);
    rows.push(row("oracle".into(), oracle_curve(n_classes, horizon))?);
    Ok(rows)
}

/// The table as aligned text.
pub fn format_table(rows: &[TableRow], at: &[usize]) -> String {
    let width = rows.iter().map(|r| r.name.len()).max().unwrap_or(4).max(4);
    let mut out = format!("{:<width$}", "run");
    for t in at {
        out += &format!("  {:>9}", format!("nAUC@{t}"));
    }
    out.push('\n');
    for row in rows {
        out += &format!("{:<width$}", row.name);
        for v in &row.values {
            out += &match v {
                Some(v) => format!("  {v:>9.2}"),
                None => format!("  {:>9}", "-"),
            };
        }
        out.push('\n');
    }
    out
}

/// Writes the table as CSV (`run,nauc_<t>...`; empty where the run is shorter than t).
pub fn write_table(path: &Path, rows: &[TableRow], at: &[usize]) -> Result<()> {
    let header: Vec<String> = std::iter::once("run".to_string())
        .chain(at.iter().map(|t| format!("nauc_{t}")))
        .collect();
    let body = rows.iter().map(|r| {
        std::iter::once(r.name.clone())
            .chain(
                r.values
                    .iter()
                    .map(|v| v.map_or(String::new(), |v| format!("{v:.4}"))),
            )
            .collect::<Vec<_>>()
    });
    write_csv(path, std::iter::once(header).chain(body))
}

/// Draws every row's curve on one chart.
pub fn plot_rows(path: &Path, rows: &[TableRow], title: &str) -> Result<(PathBuf, PathBuf)> {
    let n_runs = rows.len().saturating_sub(2);
    let series: Vec<Series> = rows
        .iter()
        .enumerate()
        .map(|(i, r)| Series {
            name: &r.name,
            curve: &r.curve,
            style: match i.checked_sub(n_runs) {
                None => LineKind::Run(i),
                Some(0) => LineKind::Random,
                Some(_) => LineKind::Oracle,
            },
        })
        .collect();
    discovery_chart(path, title, &series)
}

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
        .map(|(path, name)| read_run(path, name, map.as_ref()))
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
