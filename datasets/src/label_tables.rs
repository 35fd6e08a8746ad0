//! The tables of `demud labels`: one typed row, one writer and one reader per file, so that
//! the command, its tests and anyone reading the output agree on the columns.
//!
//! `demud labels` writes [`LABELS_FILE`] ([`LabelRow`]: per class, each of its images' top-1
//! classifier labels with its count, share and mean confidence, most frequent first) and
//! [`TOP_N_FILE`] ([`TopNRow`]: per group, the mean top-n label frequency for n = 1, 2, ...;
//! then the same over all classes, as group `all`).
//!
//! As in [`crate::ood_tables`]: numbers are written as Rust prints an `f64` (shortest
//! round-trip form, `1` rather than `1.0`) and read back exactly; a reader refuses a header
//! other than the one its writer writes (the columns are fixed, in order), and a malformed
//! line is an error naming the file and the line.
//!
//! ```
//! use demud_datasets::label_tables::{read_top_n, write_top_n, TopNRow};
//! let dir = tempfile::tempdir().unwrap();
//! let path = dir.path().join("top-n.csv");
//! let rows = vec![TopNRow { group: "in".into(), classes: 4, n: 1, mean_top_n_frequency: 0.5 }];
//! write_top_n(&path, &rows).unwrap();
//! assert_eq!(
//!     std::fs::read_to_string(&path).unwrap(),
//!     "group,classes,n,mean_top_n_frequency\nin,4,1,0.5\n"
//! );
//! assert_eq!(read_top_n(&path).unwrap(), rows);
//! ```

use crate::error::Result;
use crate::ood_tables::{display, read_rows, write_rows};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// `demud labels`'s top-1 labels of each class.
pub const LABELS_FILE: &str = "labels.csv";
/// `demud labels`'s mean top-n label frequency of each group.
pub const TOP_N_FILE: &str = "top-n.csv";

/// One row of `labels.csv` (`demud labels`): one top-1 label of the images of a class.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct LabelRow {
    /// The collection's class.
    pub class: String,
    /// The class's group (`all` without `--groups`).
    pub group: String,
    /// The label's rank within the class, 1 for its most frequent label.
    pub rank: usize,
    /// The label: the classifier's class index.
    pub label: usize,
    /// The label's name (from the class names, `--classes`).
    pub name: String,
    /// The class's images whose top-1 label this is.
    pub count: usize,
    /// `count` over the class's images.
    #[serde(serialize_with = "display")]
    pub frequency: f64,
    /// The mean top-1 confidence (softmax probability) of those images.
    #[serde(serialize_with = "display")]
    pub mean_confidence: f64,
}

const LABEL_COLUMNS: &[&str] = &[
    "class",
    "group",
    "rank",
    "label",
    "name",
    "count",
    "frequency",
    "mean_confidence",
];

/// Writes `labels.csv` atomically.
pub fn write_labels(path: &Path, rows: &[LabelRow]) -> Result<()> {
    write_rows(path, LABEL_COLUMNS, rows)
}

/// Reads `labels.csv`.
pub fn read_labels(path: &Path) -> Result<Vec<LabelRow>> {
    read_rows(path, LABEL_COLUMNS)
}

/// One row of `top-n.csv` (`demud labels`): a group's mean top-n label frequency at one n.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TopNRow {
    /// The group, or `all` for every class.
    pub group: String,
    /// The group's classes.
    pub classes: usize,
    /// n, from 1.
    pub n: usize,
    /// The share of a class's images whose top-1 label is one of the class's n most frequent
    /// labels, averaged over the group's classes.
    #[serde(serialize_with = "display")]
    pub mean_top_n_frequency: f64,
}

const TOP_N_COLUMNS: &[&str] = &["group", "classes", "n", "mean_top_n_frequency"];

/// Writes `top-n.csv` atomically.
pub fn write_top_n(path: &Path, rows: &[TopNRow]) -> Result<()> {
    write_rows(path, TOP_N_COLUMNS, rows)
}

/// Reads `top-n.csv`.
pub fn read_top_n(path: &Path) -> Result<Vec<TopNRow>> {
    read_rows(path, TOP_N_COLUMNS)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn label_rows() -> Vec<LabelRow> {
        vec![
            LabelRow {
                class: "x".into(),
                group: "in".into(),
                rank: 1,
                label: 2,
                name: "fish".into(),
                count: 3,
                frequency: 3.0 / 5.0,
                mean_confidence: 0.1 + 0.2,
            },
            LabelRow {
                class: "Smileys & Emotion".into(),
                group: "not in, \"quoted\"".into(),
                rank: 2,
                label: 0,
                name: "tench, Tinca tinca".into(),
                count: 1,
                frequency: 1.0,
                mean_confidence: 0.125,
            },
        ]
    }

    #[test]
    fn labels_round_trip_and_keep_their_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LABELS_FILE);
        let rows = label_rows();
        write_labels(&path, &rows).unwrap();
        assert_eq!(read_labels(&path).unwrap(), rows);
        let text = std::fs::read_to_string(&path).unwrap();
        let mut lines = text.lines();
        assert_eq!(
            lines.next(),
            Some("class,group,rank,label,name,count,frequency,mean_confidence")
        );
        // Numbers as Rust prints them: `1`, not `1.0`; names with commas quoted.
        assert_eq!(
            lines.next(),
            Some("x,in,1,2,fish,3,0.6,0.30000000000000004")
        );
        assert_eq!(
            lines.next(),
            Some(
                "Smileys & Emotion,\"not in, \"\"quoted\"\"\",2,0,\"tench, Tinca tinca\",1,1,0.125"
            )
        );
    }

    #[test]
    fn top_n_round_trips_and_keeps_its_columns() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(TOP_N_FILE);
        let rows: Vec<TopNRow> = [0.6, 0.8, 1.0]
            .iter()
            .enumerate()
            .map(|(n, &v)| TopNRow {
                group: "in".into(),
                classes: 1,
                n: n + 1,
                mean_top_n_frequency: v,
            })
            .chain([TopNRow {
                group: "all".into(),
                classes: 2,
                n: 1,
                mean_top_n_frequency: f64::from(0.8_f32),
            }])
            .collect();
        write_top_n(&path, &rows).unwrap();
        assert_eq!(read_top_n(&path).unwrap(), rows);
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "group,classes,n,mean_top_n_frequency\nin,1,1,0.6\nin,1,2,0.8\nin,1,3,1\nall,2,1,0.800000011920929\n"
        );
    }

    #[test]
    fn empty_tables_keep_their_headers() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join(LABELS_FILE);
        write_labels(&path, &[]).unwrap();
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            "class,group,rank,label,name,count,frequency,mean_confidence\n"
        );
        assert!(read_labels(&path).unwrap().is_empty());
        let path = dir.path().join(TOP_N_FILE);
        write_top_n(&path, &[]).unwrap();
        assert!(read_top_n(&path).unwrap().is_empty());
    }

    #[test]
    fn malformed_label_tables_are_named_by_file_and_line() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        let err = |result: Result<()>| result.unwrap_err().to_string();
        let header = "class,group,rank,label,name,count,frequency,mean_confidence\n";
        let good = "x,in,1,2,fish,3,0.6,0.9\n";
        let labels = d.join(LABELS_FILE);
        for (body, piece) in [
            // A count that is not a number.
            ("x,in,2,0,cat,many,0.2,0.5\n", "labels.csv, line 3"),
            // A negative label index.
            ("x,in,2,-1,cat,1,0.2,0.5\n", "labels.csv, line 3"),
            // A column short.
            ("x,in,2,0,cat,1,0.2\n", "labels.csv, line 3"),
        ] {
            std::fs::write(&labels, format!("{header}{good}{body}")).unwrap();
            let e = err(read_labels(&labels).map(drop));
            assert!(e.contains(piece), "{piece:?} not in {e}");
        }
        // Columns in another order are another format.
        std::fs::write(
            &labels,
            "class,group,rank,name,label,count,frequency,mean_confidence\n",
        )
        .unwrap();
        let e = err(read_labels(&labels).map(drop));
        assert!(
            e.contains("labels.csv, line 1: header `class,group,rank,name"),
            "{e}"
        );

        let top_n = d.join(TOP_N_FILE);
        std::fs::write(
            &top_n,
            "group,classes,n,mean_top_n_frequency\nin,1,1,0.6\nin,1,2,high\n",
        )
        .unwrap();
        let e = err(read_top_n(&top_n).map(drop));
        assert!(e.contains("top-n.csv, line 3"), "{e}");
        std::fs::write(&top_n, "group,n,mean_top_n_frequency\nin,1,0.6\n").unwrap();
        let e = err(read_top_n(&top_n).map(drop));
        assert!(e.contains("top-n.csv, line 1: header"), "{e}");
    }
}
