//! The discovery benchmark's tables and figures, built from its cell records: one table per
//! label set and variant (the papers' Table 1 layout: feature kind x method, nAUC at each t,
//! classes found), the random baseline as mean ± sd over seeded orders, and one figure of
//! discovery curves per feature kind in the paper's style.

use crate::charts::{discovery_chart, LineKind, Series};
use crate::error::{ReportError, Result};
use demud::evaluation::{class_codes, oracle_curve, random_baseline, random_nauc, Spread};
use demud::Conditioning;
use demud_datasets::atomic::write_atomic;
use demud_datasets::benchmark::{
    compute_cell, file_name_part, finished_cell, scores_at, write_cell, AtT, CellKey, CellRecord,
    Inputs, Method, Variant,
};
use demud_datasets::features::{match_labels, ItemRow};
use demud_datasets::FeatureTable;
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// A feature kind to rank: its name, its table and the identity of its file.
pub struct FeatureSet {
    /// The name in tables and file names.
    pub name: String,
    /// The features (ids, values).
    pub table: FeatureTable,
    /// The identity of the file (a fingerprint), recorded in cell records.
    pub fingerprint: String,
}

/// A label set: `id,label` rows matched to each feature set's ids.
pub struct LabelSet {
    /// The name in tables and file names.
    pub name: String,
    /// The file the rows come from (named in errors).
    pub path: PathBuf,
    /// The rows.
    pub rows: Vec<ItemRow>,
}

/// What a benchmark computes.
#[derive(Clone, Debug)]
pub struct Plan {
    /// Which items (every variant is ranked on every label set).
    pub variants: Vec<Variant>,
    /// Methods by name (`demud`, `static`, peers), each under every conditioning.
    pub methods: Vec<String>,
    /// Conditionings of the main tables.
    pub conditionings: Vec<Conditioning>,
    /// Principal components of the SVD methods (capped at half the features).
    pub k: usize,
    /// The k of the sweep table (DEMUD under `sweep_conditioning`); empty: no sweep.
    pub k_sweep: Vec<usize>,
    /// The conditioning of the k sweep.
    pub sweep_conditioning: Conditioning,
    /// The t of every column; the largest is the number of selections.
    pub at: Vec<usize>,
    /// Random orders of the baseline.
    pub orders: usize,
    /// Seed of the variants' cut, the seeded methods and the random baseline.
    pub seed: u64,
}

/// The tables of a finished benchmark and how many cells were computed or reused.
pub struct Outcome {
    /// The main tables, one per label set and variant.
    pub tables: Vec<BenchmarkTable>,
    /// The k sweep, one table per label set and variant (empty without a sweep).
    pub sweep: Vec<BenchmarkTable>,
    /// Cells computed now.
    pub computed: usize,
    /// Cells whose records were reused.
    pub reused: usize,
}

/// The SVD methods' k for features of `d` dimensions: at most half of them, so that the model
/// never spans (nearly) everything.
fn capped_k(k: usize, d: usize) -> usize {
    k.min(d / 2).max(1)
}

/// Runs every cell of the plan that has no finished record under `cells`, writes each record
/// as it finishes, and builds the tables. `progress(done, total)` is called after each cell.
pub fn run_benchmark(
    cells: &Path,
    plan: &Plan,
    feature_sets: &[FeatureSet],
    label_sets: &[LabelSet],
    mut progress: impl FnMut(usize, usize),
) -> Result<Outcome> {
    if let Some(name) = plan
        .methods
        .iter()
        .find(|m| Method::from_name(m, 1).is_err())
    {
        return Err(ReportError::Benchmark {
            reason: Method::from_name(name, 1).unwrap_err(),
        });
    }
    let first = feature_sets.first().ok_or_else(|| ReportError::Benchmark {
        reason: "no feature set to rank".into(),
    })?;
    if let Some(other) = feature_sets.iter().find(|f| f.table.ids != first.table.ids) {
        return Err(ReportError::Benchmark {
            reason: format!(
                "feature sets {} and {} do not list the same items in the same order; a benchmark compares methods on one collection",
                first.name, other.name
            ),
        });
    }
    let per_table = plan.methods.len() * plan.conditionings.len() + plan.k_sweep.len();
    let total = label_sets.len() * plan.variants.len() * feature_sets.len() * per_table;
    let (mut done, mut computed, mut reused) = (0, 0, 0);
    let n_select = plan.at.iter().copied().max().unwrap_or(1);
    let ids_hash = xxhash(&first.table.ids.join("\n"));
    let mut outcome_tables = Vec::new();
    let mut sweep_tables = Vec::new();
    for label_set in label_sets {
        let labels = match_labels(&first.table.ids, &label_set.rows, &label_set.path)?;
        let labels_hash = xxhash(&labels.join("\n"));
        let (codes, _) = class_codes(&labels);
        for variant in &plan.variants {
            let items = variant.items(&codes);
            let item_codes: Vec<usize> = items.iter().map(|&i| codes[i]).collect();
            let n_classes = class_codes(&item_codes).1;
            let random = random_nauc(&item_codes, &plan.at, plan.orders, plan.seed)?;
            let random_curve = random_baseline(&item_codes, n_select, plan.orders, plan.seed);
            let label_of: HashMap<&str, &str> = first
                .table
                .ids
                .iter()
                .map(String::as_str)
                .zip(labels.iter().map(String::as_str))
                .collect();
            let mut table = BenchmarkTable {
                labels: label_set.name.clone(),
                variant: variant.name().into(),
                n_items: items.len(),
                n_classes,
                at: plan.at.clone(),
                random,
                orders: plan.orders,
                random_curve,
                rows: Vec::new(),
            };
            let mut sweep = BenchmarkTable {
                rows: Vec::new(),
                ..table.clone()
            };
            for set in feature_sets {
                let inputs = Inputs {
                    ids: &set.table.ids,
                    labels: &labels,
                    matrix: &set.table.matrix,
                    fingerprint: format!(
                        "{} ids-xxh3={ids_hash} labels-xxh3={labels_hash}",
                        set.fingerprint
                    ),
                };
                let d = set.table.matrix.dim().1;
                let key_of = |conditioning: &Conditioning, method: Method| CellKey {
                    labels: label_set.name.clone(),
                    variant: *variant,
                    features: set.name.clone(),
                    conditioning: conditioning.clone(),
                    method,
                    n_select,
                    seed: plan.seed,
                };
                // (cell, whether it belongs to the k sweep rather than the main table)
                let mut cells_of_set: Vec<(CellKey, bool)> = Vec::new();
                for conditioning in &plan.conditionings {
                    for name in &plan.methods {
                        let method =
                            Method::from_name(name, capped_k(plan.k, d)).expect("checked above");
                        cells_of_set.push((key_of(conditioning, method), false));
                    }
                }
                let mut swept = Vec::new();
                for &k in &plan.k_sweep {
                    // Capping can make two k of the sweep one: rank it once.
                    let k = capped_k(k, d);
                    if !swept.contains(&k) {
                        swept.push(k);
                        let method = Method::Demud { k };
                        cells_of_set.push((key_of(&plan.sweep_conditioning, method), true));
                    }
                }
                for (key, in_sweep) in cells_of_set {
                    let record = match finished_cell(cells, &key, &inputs)? {
                        Some(record) => {
                            reused += 1;
                            record
                        }
                        None => {
                            let record = compute_cell(&key, &inputs, &plan.at)?;
                            write_cell(cells, &record)?;
                            computed += 1;
                            record
                        }
                    };
                    let row = BenchmarkRow::from_cell(
                        &record,
                        record.curve(|id| label_of.get(id).copied().unwrap_or("")),
                        &plan.at,
                    )?;
                    if in_sweep {
                        sweep.rows.push(row);
                    } else {
                        table.rows.push(row);
                    }
                    done += 1;
                    progress(done, total);
                }
            }
            outcome_tables.push(table);
            if !plan.k_sweep.is_empty() {
                sweep_tables.push(sweep);
            }
        }
    }
    Ok(Outcome {
        tables: outcome_tables,
        sweep: sweep_tables,
        computed,
        reused,
    })
}

fn xxhash(text: &str) -> String {
    format!("{:016x}", xxhash_rust::xxh3::xxh3_64(text.as_bytes()))
}

/// One method on one feature kind.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchmarkRow {
    /// The feature kind.
    pub features: String,
    /// The method's name with its conditioning (`demud-k50`, `rx centre+l2`).
    pub method: String,
    /// The conditioning alone (`none`, `power+centre+l2`).
    pub conditioning: String,
    /// nAUC and classes found at each t.
    pub at: Vec<AtT>,
    /// The discovery curve.
    pub curve: Vec<f64>,
}

/// One label set and variant.
#[derive(Clone, Debug, PartialEq)]
pub struct BenchmarkTable {
    /// The label set's name.
    pub labels: String,
    /// `full` or `unbalanced`.
    pub variant: String,
    /// Items ranked.
    pub n_items: usize,
    /// Classes among them.
    pub n_classes: usize,
    /// The t of every column.
    pub at: Vec<usize>,
    /// nAUC of random orders at each t.
    pub random: Vec<Spread>,
    /// Number of random orders.
    pub orders: usize,
    /// The mean curve of the random orders.
    pub random_curve: Vec<f64>,
    /// The methods, grouped by feature kind in the order given.
    pub rows: Vec<BenchmarkRow>,
}

impl BenchmarkRow {
    /// A row from a cell record and the curve of its picks, scored at each t of `at` (the
    /// table's columns, whatever t the record was first computed for).
    pub fn from_cell(record: &CellRecord, curve: Vec<f64>, at: &[usize]) -> Result<Self> {
        let method = if record.key.conditioning.is_none() {
            record.key.method.name()
        } else {
            format!("{} {}", record.key.method.name(), record.key.conditioning)
        };
        Ok(BenchmarkRow {
            features: record.key.features.clone(),
            method,
            conditioning: record.key.conditioning.to_string(),
            at: scores_at(&curve, record.n_classes, at)?,
            curve,
        })
    }
}

impl BenchmarkTable {
    /// How many random standard deviations `value` lies above the random mean at column `i`
    /// (`None` when random orders do not vary there).
    pub fn z(&self, i: usize, value: f64) -> Option<f64> {
        let r = self.random[i];
        (r.sd > 0.0).then(|| (value - r.mean) / r.sd)
    }
}

/// The tables as markdown: per table a heading, then one row per method with nAUC at each t
/// (the best of each feature kind in bold, a `*` where it beats random by 2 sd or more),
/// classes found at the last t, and the random and oracle rows.
pub fn format_markdown(tables: &[BenchmarkTable]) -> String {
    let mut out = String::new();
    for table in tables {
        let last = *table.at.last().unwrap_or(&0);
        let _ = writeln!(
            out,
            "### {} labels, {} ({} items, {} classes)\n",
            table.labels, table.variant, table.n_items, table.n_classes
        );
        let mut header = "| features | method |".to_string();
        let mut rule = "|---|---|".to_string();
        for t in &table.at {
            let _ = write!(header, " nAUC@{t} |");
            rule += "---:|";
        }
        let _ = write!(header, " found@{last} |");
        rule += "---:|";
        let _ = writeln!(out, "{header}\n{rule}");
        for row in &table.rows {
            let same_kind: Vec<&BenchmarkRow> = table
                .rows
                .iter()
                .filter(|r| r.features == row.features)
                .collect();
            let mut line = format!("| {} | {} |", row.features, row.method);
            for (i, at) in row.at.iter().enumerate() {
                let best = same_kind
                    .iter()
                    .all(|r| r.at.get(i).is_none_or(|o| o.nauc <= at.nauc));
                let star = if table.z(i, at.nauc).is_some_and(|z| z >= 2.0) {
                    "*"
                } else {
                    ""
                };
                let value = format!("{:.2}{star}", at.nauc);
                let _ = if best {
                    write!(line, " **{value}** |")
                } else {
                    write!(line, " {value} |")
                };
            }
            let found = row.at.last().map_or(0, |a| a.found);
            let _ = writeln!(line, " {found} |");
            out += &line;
        }
        let mut random = format!("| random ({} orders) | mean ± sd |", table.orders);
        for r in &table.random {
            let _ = write!(random, " {:.2} ± {:.2} |", r.mean, r.sd);
        }
        let expected_found = table
            .random_curve
            .get(last.min(table.random_curve.len()).saturating_sub(1))
            .copied()
            .unwrap_or(0.0);
        let _ = writeln!(random, " {expected_found:.1} |");
        out += &random;
        let mut oracle = "| oracle | |".to_string();
        for _ in &table.at {
            oracle += " 100.00 |";
        }
        let _ = writeln!(oracle, " {} |\n", table.n_classes.min(last));
        out += &oracle;
    }
    out
}

/// The tables as one CSV, a row per method and t:
/// `labels,variant,features,method,t,nauc,found,random_mean,random_sd,z`.
pub fn write_csv(path: &Path, tables: &[BenchmarkTable]) -> Result<()> {
    Ok(write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record([
            "labels",
            "variant",
            "features",
            "method",
            "t",
            "nauc",
            "found",
            "random_mean",
            "random_sd",
            "z",
        ])?;
        for table in tables {
            for row in &table.rows {
                for (i, at) in row.at.iter().enumerate() {
                    let r = table.random[i];
                    csv.write_record([
                        table.labels.clone(),
                        table.variant.clone(),
                        row.features.clone(),
                        row.method.clone(),
                        at.t.to_string(),
                        format!("{:.4}", at.nauc),
                        at.found.to_string(),
                        format!("{:.4}", r.mean),
                        format!("{:.4}", r.sd),
                        table
                            .z(i, at.nauc)
                            .map_or(String::new(), |z| format!("{z:.3}")),
                    ])?;
                }
            }
        }
        csv.flush()?;
        Ok(())
    })?)
}

/// One discovery-curve figure per feature kind and conditioning of a table
/// (`<dir>/<labels>-<variant>-<features>-<conditioning>.png` and `.svg`, `+` written `_`),
/// every method with the random baseline and the oracle, as in the paper's figures. Returns
/// the PNG paths.
pub fn plot_tables(dir: &Path, tables: &[BenchmarkTable]) -> Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for table in tables {
        let horizon = table.rows.iter().map(|r| r.curve.len()).max().unwrap_or(0);
        let oracle = oracle_curve(table.n_classes, horizon);
        let random: Vec<f64> = table.random_curve.iter().take(horizon).copied().collect();
        // One figure per feature kind and conditioning, so that each holds one line per
        // method (the paper's figures compare methods on one feature kind).
        let mut groups: Vec<(&str, &str)> = Vec::new();
        for row in &table.rows {
            let group = (row.features.as_str(), row.conditioning.as_str());
            if !groups.contains(&group) {
                groups.push(group);
            }
        }
        for (kind, conditioning) in groups {
            let mut series: Vec<Series> = table
                .rows
                .iter()
                .filter(|r| r.features == kind && r.conditioning == conditioning)
                .enumerate()
                .map(|(i, r)| Series {
                    name: &r.method,
                    curve: &r.curve,
                    style: LineKind::Run(i),
                })
                .collect();
            series.push(Series {
                name: "random",
                curve: &random,
                style: LineKind::Random,
            });
            series.push(Series {
                name: "oracle",
                curve: &oracle,
                style: LineKind::Oracle,
            });
            let stem = dir.join(file_name_part(&format!(
                "{}-{}-{kind}-{conditioning}",
                table.labels, table.variant
            )));
            let title = format!(
                "{kind}, features {conditioning}: {} labels, {} ({} classes)",
                table.labels, table.variant, table.n_classes
            );
            let (png, _) = discovery_chart(&stem, &title, &series)?;
            written.push(png);
        }
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> BenchmarkTable {
        let at = |t, nauc, found| AtT { t, nauc, found };
        BenchmarkTable {
            labels: "coarse".into(),
            variant: "full".into(),
            n_items: 40,
            n_classes: 4,
            at: vec![2, 10],
            random: vec![
                Spread {
                    mean: 80.0,
                    sd: 5.0,
                },
                Spread {
                    mean: 90.0,
                    sd: 0.0,
                },
            ],
            orders: 1000,
            random_curve: vec![1.0; 10],
            rows: vec![
                BenchmarkRow {
                    features: "pixels".into(),
                    method: "demud-k5".into(),
                    conditioning: "none".into(),
                    at: vec![at(2, 100.0, 2), at(10, 95.0, 4)],
                    curve: vec![1.0, 2.0],
                },
                BenchmarkRow {
                    features: "pixels".into(),
                    method: "rx".into(),
                    conditioning: "none".into(),
                    at: vec![at(2, 66.67, 1), at(10, 97.5, 4)],
                    curve: vec![1.0, 1.0],
                },
            ],
        }
    }

    #[test]
    fn the_markdown_marks_the_best_per_kind_and_wins_over_random() {
        let text = format_markdown(&[table()]);
        // demud: best at t = 2 and 4 sd above random (starred); rx: best at t = 10, but random
        // does not vary there, so no star.
        assert!(
            text.contains("| pixels | demud-k5 | **100.00*** | 95.00 | 4 |"),
            "{text}"
        );
        assert!(
            text.contains("| pixels | rx | 66.67 | **97.50** | 4 |"),
            "{text}"
        );
        assert!(
            text.contains("| random (1000 orders) | mean ± sd | 80.00 ± 5.00 | 90.00 ± 0.00 |"),
            "{text}"
        );
        assert!(
            text.starts_with("### coarse labels, full (40 items, 4 classes)"),
            "{text}"
        );
    }

    #[test]
    fn the_csv_has_a_row_per_method_and_t_with_z() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("table.csv");
        write_csv(&path, &[table()]).unwrap();
        let text = std::fs::read_to_string(&path).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 1 + 4);
        assert_eq!(
            lines[1],
            "coarse,full,pixels,demud-k5,2,100.0000,2,80.0000,5.0000,4.000"
        );
        assert!(lines[2].ends_with(",90.0000,0.0000,"), "{}", lines[2]);
    }
}
