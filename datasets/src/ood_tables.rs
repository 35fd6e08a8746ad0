//! The tables of `demud ood` and `demud noise-check`: one typed row, one writer and one
//! reader per file, so that the commands, their tests and anyone reading the output agree on
//! the columns.
//!
//! `demud ood` writes [`METRICS_FILE`] ([`MetricsRow`]: per task and measure, the detection
//! metrics) and [`SCORES_FILE`] ([`ScoreTable`]: every query item with each measure's value
//! and the forest's score; one column per measure, so its header names the measures).
//! `demud noise-check` writes [`MSP_FILE`] ([`MspRow`]), [`LANDING_FILE`] ([`LandingRow`]),
//! [`DETECTION_FILE`] ([`DetectionRow`]), [`DISTANCES_FILE`] ([`DistanceTable`], a square
//! matrix with named rows and columns) and [`TREE_FILE`] ([`TreeEdgeRow`]).
//!
//! Numbers are written as Rust prints an `f64` (shortest round-trip form, `1` rather than
//! `1.0`, `NaN` for an undefined metric) and read back exactly. A reader refuses a header
//! other than the one its writer writes (the columns are fixed, in order), and a malformed
//! line is an error naming the file and the line.
//!
//! ```
//! use demud_datasets::ood_tables::{read_landing, write_landing, LandingRow};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("landing.csv");
//! let rows = vec![LandingRow { noise: "uniform".into(), class: "bird".into(), count: 200 }];
//! write_landing(&path, &rows).unwrap();
//! assert_eq!(std::fs::read_to_string(&path).unwrap(), "noise,class,count\nuniform,bird,200\n");
//! assert_eq!(read_landing(&path).unwrap(), rows);
//! ```

use crate::atomic::write_atomic;
use crate::error::{DataError, Result};
use crate::features::csv_error;
use ndarray::Array2;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize, Serializer};
use std::path::Path;

/// `demud ood`'s metrics per task and measure.
pub const METRICS_FILE: &str = "table.csv";
/// `demud ood`'s scores of every query item.
pub const SCORES_FILE: &str = "measures.csv";
/// `demud noise-check`'s max softmax of every real test and noise image.
pub const MSP_FILE: &str = "msp.csv";
/// `demud noise-check`'s count of noise images per class the head gives them.
pub const LANDING_FILE: &str = "landing.csv";
/// `demud noise-check`'s metrics of each measure against each kind of noise.
pub const DETECTION_FILE: &str = "detection.csv";
/// `demud noise-check`'s cosine distances between the centroids.
pub const DISTANCES_FILE: &str = "distances.csv";
/// `demud noise-check`'s minimum spanning tree of the centroids.
pub const TREE_FILE: &str = "tree.csv";

/// Which way a measure points: whether a higher value means out of distribution.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Direction {
    /// Higher values are more out of distribution (distances, errors; the forest's score).
    Higher,
    /// Lower values are more out of distribution (confidences such as the max softmax).
    Lower,
}

impl Direction {
    /// The direction of a measure for which `higher_is_ood` says whether higher means OOD.
    pub fn of(higher_is_ood: bool) -> Self {
        if higher_is_ood {
            Direction::Higher
        } else {
            Direction::Lower
        }
    }
}

/// Which model scored a query item's forest score in `measures.csv`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Split {
    /// Cross-fitted: a forest trained on the other folds (every item is scored this way).
    OutOfFold,
    /// Held-out split: the item trained the forest (its score is in-sample, not evaluated).
    Forest,
    /// Held-out split: the item was scored by the forest and enters the metrics.
    Evaluation,
}

impl Split {
    /// The name written in the `split` column.
    pub fn name(self) -> &'static str {
        match self {
            Split::OutOfFold => "out-of-fold",
            Split::Forest => "forest",
            Split::Evaluation => "evaluation",
        }
    }
}

/// Writes an `f64` as Rust prints it (`1`, `0.25`, `NaN`), as the tables always have been,
/// rather than the csv crate's own float form (`1.0`): scripts and the README quote them.
pub(crate) fn display<S: Serializer>(
    value: &f64,
    serializer: S,
) -> std::result::Result<S::Ok, S::Error> {
    serializer.collect_str(value)
}

/// One row of `table.csv` (`demud ood`): a measure's (or the forest's) detection metrics on
/// one task.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MetricsRow {
    /// The task: `ood-vs-id` or `untrusted-vs-correct`.
    pub task: String,
    /// The measure's name, or `forest` for the COOD combination.
    pub measure: String,
    /// Which way the measure points.
    pub direction: Direction,
    /// Area under the ROC curve.
    #[serde(serialize_with = "display")]
    pub auroc: f64,
    /// Area under the precision-recall curve (positives: the OOD side).
    #[serde(serialize_with = "display")]
    pub aupr: f64,
    /// True-positive rate at 1% false positives.
    #[serde(serialize_with = "display")]
    pub tpr_at_1_fpr: f64,
    /// False-positive rate at 95% true positives.
    #[serde(serialize_with = "display")]
    pub fpr_at_95_tpr: f64,
}

const METRICS_COLUMNS: &[&str] = &[
    "task",
    "measure",
    "direction",
    "auroc",
    "aupr",
    "tpr_at_1_fpr",
    "fpr_at_95_tpr",
];

/// Writes `table.csv` atomically.
pub fn write_metrics(path: &Path, rows: &[MetricsRow]) -> Result<()> {
    write_rows(path, METRICS_COLUMNS, rows)
}

/// Reads `table.csv`.
pub fn read_metrics(path: &Path) -> Result<Vec<MetricsRow>> {
    read_rows(path, METRICS_COLUMNS)
}

/// One query item of `measures.csv` (`demud ood`).
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreRow {
    /// The query set: `id-test` or an OOD set's name.
    pub set: String,
    /// The item's id.
    pub id: String,
    /// Its class (ID test items; empty for OOD items).
    pub label: String,
    /// `id-correct`, `id-incorrect` or `ood`.
    pub category: String,
    /// The class the head predicts.
    pub predicted: String,
    /// Which forest scored it.
    pub split: Split,
    /// Each measure's value, in the order of [`ScoreTable::measures`].
    pub values: Vec<f64>,
    /// The forest's score (the share of its trees voting OOD).
    pub forest: f64,
}

/// `measures.csv` (`demud ood`): the columns `set,id,label,category,predicted,split`, one
/// column per measure (named by it), then `forest`.
#[derive(Clone, Debug, PartialEq)]
pub struct ScoreTable {
    /// The measures' names, in column order.
    pub measures: Vec<String>,
    /// One row per query item.
    pub rows: Vec<ScoreRow>,
}

const SCORE_COLUMNS: &[&str] = &["set", "id", "label", "category", "predicted", "split"];
const FOREST_COLUMN: &str = "forest";

/// Writes `measures.csv` atomically. A row with another number of values than there are
/// measures is an error, and nothing is written.
pub fn write_scores(path: &Path, table: &ScoreTable) -> Result<()> {
    let reserved = |m: &String| SCORE_COLUMNS.contains(&m.as_str()) || m == FOREST_COLUMN;
    if let Some(m) = table.measures.iter().find(|m| reserved(m)) {
        return Err(DataError::write(
            path,
            format!("a measure named {m:?} would be read back as a fixed column"),
        ));
    }
    if let Some((r, row)) = table
        .rows
        .iter()
        .enumerate()
        .find(|(_, row)| row.values.len() != table.measures.len())
    {
        return Err(DataError::write(
            path,
            format!(
                "row {} (item {:?}) has {} values for {} measures",
                r + 1,
                row.id,
                row.values.len(),
                table.measures.len()
            ),
        ));
    }
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(
            SCORE_COLUMNS
                .iter()
                .copied()
                .chain(table.measures.iter().map(String::as_str))
                .chain([FOREST_COLUMN]),
        )?;
        for row in &table.rows {
            csv.write_record(
                [
                    row.set.as_str(),
                    row.id.as_str(),
                    row.label.as_str(),
                    row.category.as_str(),
                    row.predicted.as_str(),
                    row.split.name(),
                ]
                .map(str::to_string)
                .into_iter()
                .chain(row.values.iter().map(f64::to_string))
                .chain([row.forest.to_string()]),
            )?;
        }
        csv.flush()?;
        Ok(())
    })
}

/// Reads `measures.csv`.
pub fn read_scores(path: &Path) -> Result<ScoreTable> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| csv_error(path, e))?;
    let header: Vec<String> = reader
        .headers()
        .map_err(|e| csv_error(path, e))?
        .iter()
        .map(str::to_string)
        .collect();
    let fixed = SCORE_COLUMNS.len();
    if header.len() < fixed + 1
        || header[..fixed] != *SCORE_COLUMNS
        || header.last().map(String::as_str) != Some(FOREST_COLUMN)
    {
        return Err(DataError::line(
            path,
            1,
            format!(
                "header `{}`, expected `{},<measures...>,{FOREST_COLUMN}`",
                header.join(","),
                SCORE_COLUMNS.join(",")
            ),
        ));
    }
    let measures = header[fixed..header.len() - 1].to_vec();
    let mut rows = Vec::new();
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record.position().map_or(0, |p| p.line());
        let split = match &record[5] {
            "out-of-fold" => Split::OutOfFold,
            "forest" => Split::Forest,
            "evaluation" => Split::Evaluation,
            other => {
                return Err(DataError::line(
                    path,
                    line,
                    format!("split {other:?}: expected out-of-fold, forest or evaluation"),
                ))
            }
        };
        let number = |column: usize| -> Result<f64> {
            record[column].parse().map_err(|_| {
                DataError::line(
                    path,
                    line,
                    format!(
                        "column `{}`: {:?} is not a number",
                        header[column], &record[column]
                    ),
                )
            })
        };
        rows.push(ScoreRow {
            set: record[0].to_string(),
            id: record[1].to_string(),
            label: record[2].to_string(),
            category: record[3].to_string(),
            predicted: record[4].to_string(),
            split,
            values: (fixed..header.len() - 1)
                .map(number)
                .collect::<Result<_>>()?,
            forest: number(header.len() - 1)?,
        });
    }
    Ok(ScoreTable { measures, rows })
}

/// One image of `msp.csv` (`demud noise-check`): a real test image or a noise image.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct MspRow {
    /// `real`, or the kind of noise (`gaussian`, `uniform`).
    pub set: String,
    /// The image's id (`<kind>-<n>` for noise).
    pub id: String,
    /// Its class (real images; empty for noise).
    pub label: String,
    /// The class the head gives it.
    pub predicted: String,
    /// The head's max softmax probability.
    #[serde(serialize_with = "display")]
    pub msp: f64,
}

const MSP_COLUMNS: &[&str] = &["set", "id", "label", "predicted", "msp"];

/// Writes `msp.csv` atomically.
pub fn write_msp(path: &Path, rows: &[MspRow]) -> Result<()> {
    write_rows(path, MSP_COLUMNS, rows)
}

/// Reads `msp.csv`.
pub fn read_msp(path: &Path) -> Result<Vec<MspRow>> {
    read_rows(path, MSP_COLUMNS)
}

/// One row of `landing.csv` (`demud noise-check`): how many images of a kind of noise the
/// head puts in a class (every class is listed, 0 included).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct LandingRow {
    /// The kind of noise.
    pub noise: String,
    /// The class.
    pub class: String,
    /// Noise images the head gives that class.
    pub count: usize,
}

const LANDING_COLUMNS: &[&str] = &["noise", "class", "count"];

/// Writes `landing.csv` atomically.
pub fn write_landing(path: &Path, rows: &[LandingRow]) -> Result<()> {
    write_rows(path, LANDING_COLUMNS, rows)
}

/// Reads `landing.csv`.
pub fn read_landing(path: &Path) -> Result<Vec<LandingRow>> {
    read_rows(path, LANDING_COLUMNS)
}

/// One row of `detection.csv` (`demud noise-check`): how well a measure tells a kind of
/// noise (positives) from the real test images.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct DetectionRow {
    /// The measure's name.
    pub measure: String,
    /// Which way the measure points.
    pub direction: Direction,
    /// The kind of noise.
    pub noise: String,
    /// Area under the ROC curve.
    #[serde(serialize_with = "display")]
    pub auroc: f64,
    /// Area under the precision-recall curve (positives: the noise).
    #[serde(serialize_with = "display")]
    pub aupr: f64,
    /// True-positive rate at 1% false positives.
    #[serde(serialize_with = "display")]
    pub tpr_at_1_fpr: f64,
    /// False-positive rate at 95% true positives.
    #[serde(serialize_with = "display")]
    pub fpr_at_95_tpr: f64,
}

const DETECTION_COLUMNS: &[&str] = &[
    "measure",
    "direction",
    "noise",
    "auroc",
    "aupr",
    "tpr_at_1_fpr",
    "fpr_at_95_tpr",
];

/// Writes `detection.csv` atomically.
pub fn write_detection(path: &Path, rows: &[DetectionRow]) -> Result<()> {
    write_rows(path, DETECTION_COLUMNS, rows)
}

/// Reads `detection.csv`.
pub fn read_detection(path: &Path) -> Result<Vec<DetectionRow>> {
    read_rows(path, DETECTION_COLUMNS)
}

/// `distances.csv` (`demud noise-check`): the cosine distances (1 - cos)/2 between the
/// centroids (the classes', then each kind of noise's). Written with a header `node,<names>`
/// and one line per node, its name first.
#[derive(Clone, Debug, PartialEq)]
pub struct DistanceTable {
    /// The nodes' names, in row (and column) order.
    pub nodes: Vec<String>,
    /// The distances, nodes x nodes.
    pub values: Array2<f64>,
}

const NODE_COLUMN: &str = "node";

/// Writes `distances.csv` atomically. A matrix that is not nodes x nodes is an error, and
/// nothing is written.
pub fn write_distances(path: &Path, table: &DistanceTable) -> Result<()> {
    let n = table.nodes.len();
    if table.values.dim() != (n, n) {
        return Err(DataError::write(
            path,
            format!(
                "a {} x {} matrix for {n} nodes",
                table.values.nrows(),
                table.values.ncols()
            ),
        ));
    }
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        csv.write_record(
            std::iter::once(NODE_COLUMN).chain(table.nodes.iter().map(String::as_str)),
        )?;
        for (name, row) in table.nodes.iter().zip(table.values.rows()) {
            csv.write_record(std::iter::once(name.clone()).chain(row.iter().map(f64::to_string)))?;
        }
        csv.flush()?;
        Ok(())
    })
}

/// Reads `distances.csv`: every line names the node of its row, in the header's order.
pub fn read_distances(path: &Path) -> Result<DistanceTable> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| csv_error(path, e))?;
    let header = reader.headers().map_err(|e| csv_error(path, e))?.clone();
    if header.get(0) != Some(NODE_COLUMN) {
        return Err(DataError::line(
            path,
            1,
            format!(
                "header `{}`, expected `{NODE_COLUMN},<node names...>`",
                header.iter().collect::<Vec<_>>().join(",")
            ),
        ));
    }
    let nodes: Vec<String> = header.iter().skip(1).map(str::to_string).collect();
    let n = nodes.len();
    let mut values = Array2::zeros((n, n));
    let mut r = 0;
    for record in reader.records() {
        let record = record.map_err(|e| csv_error(path, e))?;
        let line = record.position().map_or(0, |p| p.line());
        if r == n {
            return Err(DataError::line(
                path,
                line,
                format!("a row beyond the {n} nodes of the header"),
            ));
        }
        if record[0] != nodes[r] {
            return Err(DataError::line(
                path,
                line,
                format!(
                    "row of node {:?}, expected {:?} (the header's order)",
                    &record[0], nodes[r]
                ),
            ));
        }
        for c in 0..n {
            values[(r, c)] = record[c + 1].parse().map_err(|_| {
                DataError::line(
                    path,
                    line,
                    format!(
                        "column {:?}: {:?} is not a number",
                        nodes[c],
                        &record[c + 1]
                    ),
                )
            })?;
        }
        r += 1;
    }
    if r < n {
        return Err(DataError::file(
            path,
            format!("{r} rows for the {n} nodes of the header"),
        ));
    }
    Ok(DistanceTable { nodes, values })
}

/// One edge of `tree.csv` (`demud noise-check`): two nodes of the minimum spanning tree of
/// the centroids' distances, and their places on the figure's classical-MDS layout.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TreeEdgeRow {
    /// One end's node.
    pub a: String,
    /// The other end's node.
    pub b: String,
    /// Their cosine distance.
    #[serde(serialize_with = "display")]
    pub distance: f64,
    /// `a`'s place on the layout.
    #[serde(serialize_with = "display")]
    pub x_a: f64,
    /// `a`'s place on the layout.
    #[serde(serialize_with = "display")]
    pub y_a: f64,
    /// `b`'s place on the layout.
    #[serde(serialize_with = "display")]
    pub x_b: f64,
    /// `b`'s place on the layout.
    #[serde(serialize_with = "display")]
    pub y_b: f64,
}

const TREE_COLUMNS: &[&str] = &["a", "b", "distance", "x_a", "y_a", "x_b", "y_b"];

/// Writes `tree.csv` atomically.
pub fn write_tree(path: &Path, rows: &[TreeEdgeRow]) -> Result<()> {
    write_rows(path, TREE_COLUMNS, rows)
}

/// Reads `tree.csv`.
pub fn read_tree(path: &Path) -> Result<Vec<TreeEdgeRow>> {
    read_rows(path, TREE_COLUMNS)
}

/// Writes `columns`, then each row: the header is written here rather than by serde, so that
/// a table of no rows still has one.
pub(crate) fn write_rows<R: Serialize>(path: &Path, columns: &[&str], rows: &[R]) -> Result<()> {
    write_atomic(path, |w| {
        let mut csv = csv::WriterBuilder::new().has_headers(false).from_writer(w);
        csv.write_record(columns)?;
        for row in rows {
            csv.serialize(row)?;
        }
        csv.flush()?;
        Ok(())
    })
}

/// Reads rows under a header that must be `columns`, in order.
pub(crate) fn read_rows<R: DeserializeOwned>(path: &Path, columns: &[&str]) -> Result<Vec<R>> {
    let mut reader = csv::Reader::from_path(path).map_err(|e| csv_error(path, e))?;
    let header = reader.headers().map_err(|e| csv_error(path, e))?;
    if header.iter().ne(columns.iter().copied()) {
        return Err(DataError::line(
            path,
            1,
            format!(
                "header `{}`, expected `{}`",
                header.iter().collect::<Vec<_>>().join(","),
                columns.join(",")
            ),
        ));
    }
    reader
        .deserialize()
        .map(|row| row.map_err(|e| csv_error(path, e)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn metrics_rows() -> Vec<MetricsRow> {
        vec![
            MetricsRow {
                task: "ood-vs-id".into(),
                measure: "msp".into(),
                direction: Direction::Lower,
                auroc: 0.875,
                aupr: 0.1 + 0.2,
                tpr_at_1_fpr: 0.0,
                fpr_at_95_tpr: 1.0,
            },
            MetricsRow {
                task: "untrusted-vs-correct".into(),
                measure: "forest".into(),
                direction: Direction::Higher,
                auroc: 1.0 / 3.0,
                aupr: 1e-300,
                tpr_at_1_fpr: 0.25,
                fpr_at_95_tpr: 0.5,
            },
        ]
    }

    #[test]
    fn metrics_round_trip_and_keep_their_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(METRICS_FILE);
        let rows = metrics_rows();
        write_metrics(&path, &rows).unwrap();
        assert_eq!(read_metrics(&path).unwrap(), rows);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("task,measure,direction,auroc,aupr,tpr_at_1_fpr,fpr_at_95_tpr")
        );
        // Numbers as Rust prints them: `1`, not `1.0` (the README and tests quote them).
        assert_eq!(
            lines.next(),
            Some("ood-vs-id,msp,lower,0.875,0.30000000000000004,0,1")
        );
    }

    #[test]
    fn an_undefined_metric_is_written_as_nan_and_read_back() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(METRICS_FILE);
        let mut rows = metrics_rows();
        rows[0].aupr = f64::NAN;
        write_metrics(&path, &rows).unwrap();
        assert!(std::fs::read_to_string(&path).unwrap().contains(",NaN,"));
        assert!(read_metrics(&path).unwrap()[0].aupr.is_nan());
    }

    #[test]
    fn an_empty_table_keeps_its_header() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LANDING_FILE);
        write_landing(&path, &[]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "noise,class,count\n"
        );
        assert!(read_landing(&path).unwrap().is_empty());
    }

    fn score_table() -> ScoreTable {
        ScoreTable {
            measures: vec!["msp".into(), "knn-kth".into()],
            rows: vec![
                ScoreRow {
                    set: "id-test".into(),
                    id: "te0".into(),
                    label: "c0".into(),
                    category: "id-correct".into(),
                    predicted: "c0".into(),
                    split: Split::OutOfFold,
                    values: vec![0.9, 1.5],
                    forest: 0.05,
                },
                ScoreRow {
                    set: "far".into(),
                    id: "a, \"quoted\" id".into(),
                    label: String::new(),
                    category: "ood".into(),
                    predicted: "c1".into(),
                    split: Split::Evaluation,
                    values: vec![0.4, 7.25],
                    forest: 1.0,
                },
                ScoreRow {
                    set: "far".into(),
                    id: "far1".into(),
                    label: String::new(),
                    category: "ood".into(),
                    predicted: "c2".into(),
                    split: Split::Forest,
                    values: vec![-0.0, 1e-20],
                    forest: 0.95,
                },
            ],
        }
    }

    #[test]
    fn scores_round_trip_with_a_column_per_measure() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SCORES_FILE);
        let table = score_table();
        write_scores(&path, &table).unwrap();
        assert_eq!(read_scores(&path).unwrap(), table);
        let text = std::fs::read_to_string(&path).unwrap();
        assert!(text.starts_with(
            "set,id,label,category,predicted,split,msp,knn-kth,forest\nid-test,te0,c0,id-correct,c0,out-of-fold,0.9,1.5,0.05\n"
        ));
    }

    #[test]
    fn scores_of_the_wrong_width_are_not_written() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SCORES_FILE);
        let mut table = score_table();
        table.rows[1].values.pop();
        let err = write_scores(&path, &table).unwrap_err().to_string();
        assert!(
            err.contains("row 2") && err.contains("1 values for 2 measures"),
            "{err}"
        );
        assert!(!path.exists());
        table.measures[0] = "split".into();
        assert!(write_scores(&path, &table).is_err());
    }

    #[test]
    fn malformed_scores_are_named_by_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(SCORES_FILE);
        let header = "set,id,label,category,predicted,split,msp,forest\n";
        let good = "id-test,a,c0,id-correct,c0,out-of-fold,0.5,0.1\n";
        let check = |body: &str, pieces: &[&str]| {
            std::fs::write(&path, format!("{header}{good}{body}")).unwrap();
            let err = read_scores(&path).unwrap_err().to_string();
            for piece in pieces {
                assert!(err.contains(piece), "{piece:?} not in {err}");
            }
        };
        check(
            "far,b,,ood,c1,out-of-fold,high,0.9\n",
            &["measures.csv, line 3", "`msp`", "\"high\""],
        );
        check(
            "far,b,,ood,c1,sideways,0.5,0.9\n",
            &["measures.csv, line 3", "split \"sideways\""],
        );
        check("far,b,,ood,c1,out-of-fold,0.5\n", &["measures.csv, line 3"]);
        std::fs::write(&path, "set,id,msp,forest\n").unwrap();
        let err = read_scores(&path).unwrap_err().to_string();
        assert!(err.contains("measures.csv, line 1: header"), "{err}");
    }

    #[test]
    fn noise_check_tables_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let msp = vec![
            MspRow {
                set: "real".into(),
                id: "red/0.png".into(),
                label: "red".into(),
                predicted: "red".into(),
                msp: 0.9986,
            },
            MspRow {
                set: "uniform".into(),
                id: "uniform-0".into(),
                label: String::new(),
                predicted: "blue".into(),
                msp: 1.0,
            },
        ];
        write_msp(&d.join(MSP_FILE), &msp).unwrap();
        assert_eq!(read_msp(&d.join(MSP_FILE)).unwrap(), msp);

        let landing = vec![
            LandingRow {
                noise: "gaussian".into(),
                class: "red".into(),
                count: 0,
            },
            LandingRow {
                noise: "gaussian".into(),
                class: "Smileys & Emotion".into(),
                count: 200,
            },
        ];
        write_landing(&d.join(LANDING_FILE), &landing).unwrap();
        assert_eq!(read_landing(&d.join(LANDING_FILE)).unwrap(), landing);

        let detection = vec![DetectionRow {
            measure: "msp".into(),
            direction: Direction::of(false),
            noise: "uniform".into(),
            auroc: 0.999,
            aupr: 0.75,
            tpr_at_1_fpr: 0.5,
            fpr_at_95_tpr: 0.0,
        }];
        write_detection(&d.join(DETECTION_FILE), &detection).unwrap();
        assert_eq!(read_detection(&d.join(DETECTION_FILE)).unwrap(), detection);

        let distances = DistanceTable {
            nodes: vec!["red".into(), "blue".into(), "uniform noise".into()],
            values: ndarray::array![[0.0, 0.25, 0.5], [0.25, 0.0, 0.125], [0.5, 0.125, 0.0]],
        };
        write_distances(&d.join(DISTANCES_FILE), &distances).unwrap();
        assert_eq!(read_distances(&d.join(DISTANCES_FILE)).unwrap(), distances);
        assert!(std::fs::read_to_string(d.join(DISTANCES_FILE))
            .unwrap()
            .starts_with("node,red,blue,uniform noise\nred,0,0.25,0.5\n"));

        let tree = vec![TreeEdgeRow {
            a: "red".into(),
            b: "uniform noise".into(),
            distance: 0.5,
            x_a: -0.1,
            y_a: 0.2,
            x_b: 0.3,
            y_b: -0.4,
        }];
        write_tree(&d.join(TREE_FILE), &tree).unwrap();
        assert_eq!(read_tree(&d.join(TREE_FILE)).unwrap(), tree);
    }

    #[test]
    fn malformed_noise_check_tables_are_named_by_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let err = |result: Result<()>| result.unwrap_err().to_string();
        std::fs::write(
            d.join(LANDING_FILE),
            "noise,class,count\nuniform,red,3\nuniform,blue,many\n",
        )
        .unwrap();
        let e = err(read_landing(&d.join(LANDING_FILE)).map(drop));
        assert!(e.contains("landing.csv, line 3"), "{e}");
        std::fs::write(
            d.join(DETECTION_FILE),
            "measure,direction,noise,auroc,aupr,tpr_at_1_fpr,fpr_at_95_tpr\nmsp,sideways,uniform,1,1,1,0\n",
        )
        .unwrap();
        let e = err(read_detection(&d.join(DETECTION_FILE)).map(drop));
        assert!(e.contains("detection.csv, line 2"), "{e}");
        // Columns in another order are another format.
        std::fs::write(d.join(MSP_FILE), "id,set,label,predicted,msp\n").unwrap();
        let e = err(read_msp(&d.join(MSP_FILE)).map(drop));
        assert!(e.contains("msp.csv, line 1: header `id,set"), "{e}");
        std::fs::write(d.join(DISTANCES_FILE), "node,a,b\na,0,0.5\nc,0.5,0\n").unwrap();
        let e = err(read_distances(&d.join(DISTANCES_FILE)).map(drop));
        assert!(
            e.contains("distances.csv, line 3") && e.contains("\"c\""),
            "{e}"
        );
        std::fs::write(d.join(DISTANCES_FILE), "node,a,b\na,0,x\nb,0.5,0\n").unwrap();
        let e = err(read_distances(&d.join(DISTANCES_FILE)).map(drop));
        assert!(
            e.contains("distances.csv, line 2") && e.contains("\"x\""),
            "{e}"
        );
        std::fs::write(d.join(DISTANCES_FILE), "node,a,b\na,0,0.5\n").unwrap();
        let e = err(read_distances(&d.join(DISTANCES_FILE)).map(drop));
        assert!(e.contains("1 rows for the 2 nodes"), "{e}");
        std::fs::write(
            d.join(TREE_FILE),
            "a,b,distance,x_a,y_a,x_b,y_b\nr,g,0.1,0,0,1\n",
        )
        .unwrap();
        let e = err(read_tree(&d.join(TREE_FILE)).map(drop));
        assert!(e.contains("tree.csv, line 2"), "{e}");
    }
}
