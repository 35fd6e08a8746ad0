//! Discovery curves and nAUC tables of runs against a collection's labels, with the random
//! baseline and the oracle (definitions in the engine's `evaluation` module).

use crate::charts::{discovery_chart, LineKind, Series};
use crate::error::{ReportError, Result};
use demud::evaluation::{class_codes, discovery_curve, nauc, oracle_curve, random_baseline};
use demud_datasets::atomic::write_atomic;
use demud_datasets::run::{read_selections, SELECTIONS_FILE};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// A run's selections as read back: labels in selection order.
#[derive(Clone, Debug, PartialEq)]
pub struct RunLabels {
    /// Name in the table.
    pub name: String,
    /// Labels in selection order.
    pub labels: Vec<String>,
}

/// One row of the nAUC table: `None` where the run is shorter than t.
#[derive(Clone, Debug, PartialEq)]
pub struct TableRow {
    /// Run, `random` or `oracle`.
    pub name: String,
    /// nAUC_t per requested t.
    pub values: Vec<Option<f64>>,
    /// The discovery curve.
    pub curve: Vec<f64>,
}

/// `DIR/selections.csv` for a run folder, the path itself for a file.
pub fn selections_path(path: &Path) -> PathBuf {
    if path.is_dir() {
        path.join(SELECTIONS_FILE)
    } else {
        path.to_path_buf()
    }
}

/// A run's name: its folder's name for `DIR` or `DIR/selections.csv`, else the file's stem.
pub fn default_name(path: &Path) -> String {
    let name = |p: &Path| p.file_name().map(|n| n.to_string_lossy().into_owned());
    let stem = |p: &Path| p.file_stem().map(|n| n.to_string_lossy().into_owned());
    if path.is_dir() {
        name(path)
    } else if path.file_name().is_some_and(|n| n == SELECTIONS_FILE) {
        path.parent().and_then(name).or_else(|| stem(path))
    } else {
        stem(path)
    }
    .unwrap_or_else(|| path.display().to_string())
}

/// Reads a run's selections (a folder or a `selections.csv`), taking labels from
/// `population` (id -> label) when given, from the file's label column otherwise.
pub fn read_run_labels(
    path: &Path,
    name: String,
    population: Option<&HashMap<String, String>>,
) -> Result<RunLabels> {
    let file = selections_path(path);
    let rows = read_selections(&file)?;
    let mut labels = Vec::with_capacity(rows.len());
    let mut seen = HashMap::new();
    for (i, row) in rows.into_iter().enumerate() {
        let line = i as u64 + 2;
        if let Some(first) = seen.insert(row.id.clone(), line) {
            return Err(ReportError::Selections {
                path: file,
                reason: format!(
                    "line {line}: item {:?} is selected again (first on line {first})",
                    row.id
                ),
            });
        }
        let label = match population {
            Some(map) => map
                .get(&row.id)
                .ok_or_else(|| ReportError::NotInLabels {
                    path: file.clone(),
                    line,
                    id: row.id.clone(),
                })?
                .clone(),
            None => row.label,
        };
        if label.is_empty() {
            return Err(ReportError::Unlabelled {
                path: file,
                line,
                id: row.id,
            });
        }
        labels.push(label);
    }
    if labels.is_empty() {
        return Err(ReportError::NoSelections { path: file });
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
    // A run's classes must be the collection's: a run of another collection would find
    // "classes" the population does not have (and nAUC above 100).
    let classes: std::collections::HashSet<&String> = population.iter().collect();
    for run in runs {
        if let Some(label) = run.labels.iter().find(|l| !classes.contains(l)) {
            return Err(ReportError::Selections {
                path: run.name.clone().into(),
                reason: format!(
                    "selects an item of class {label:?}, which the collection's {} items do not have: the runs rank different collections (give --labels for the whole collection)",
                    population.len()
                ),
            });
        }
    }
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
    Ok(write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        let header: Vec<String> = std::iter::once("run".to_string())
            .chain(at.iter().map(|t| format!("nauc_{t}")))
            .collect();
        csv.write_record(&header)?;
        for r in rows {
            let record: Vec<String> = std::iter::once(r.name.clone())
                .chain(
                    r.values
                        .iter()
                        .map(|v| v.map_or(String::new(), |v| format!("{v:.4}"))),
                )
                .collect();
            csv.write_record(&record)?;
        }
        csv.flush()?;
        Ok(())
    })?)
}

/// Draws every row's curve on one chart (`<stem>.png` and `<stem>.svg`); the last two rows
/// are the random baseline and the oracle.
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
