//! The audit folder that `demud audit` writes: `audit.csv` (every item, most suspect first),
//! `features.csv` (each item's top residual features), `neighbours.csv` (its nearest items of
//! its own class and of the class it resembles) and `audit.json` (what was audited, how).

use super::{write_json, write_rows};
use crate::atomic::commit_folder;
use crate::error::Result;
use demud::audit::Audit;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// One row of `audit.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRow {
    /// 1-based rank, most suspect first.
    pub rank: usize,
    /// The item's id.
    pub id: String,
    /// Its given label.
    pub label: String,
    /// The other class it resembles most.
    pub resembles: String,
    /// Suspicion in (0, 1]: the mean percentile of the two pieces of evidence.
    pub score: f64,
    /// Squared residual under its own class's cross-fitted model.
    pub own_residual: f64,
    /// Squared residual under the best-fitting other class's model.
    pub other_residual: f64,
    /// `own_residual / other_residual`.
    pub ratio: f64,
    /// Distance-weighted share of its neighbours labelled as it is.
    pub agreement: f64,
    /// Which evidence places it elsewhere: both, neighbours, subspace, neither.
    pub evidence: String,
}

/// One row of `features.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditFeatureRow {
    /// The item's rank.
    pub rank: usize,
    /// The item's id.
    pub id: String,
    /// 0-based feature index.
    pub feature: usize,
    /// The feature's name.
    pub name: String,
    /// `actual - expected` (conditioned values).
    pub residual: f64,
    /// The own class model's reconstruction.
    pub expected: f64,
    /// The item's value.
    pub actual: f64,
}

/// One row of `neighbours.csv`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditNeighbourRow {
    /// The item's rank.
    pub rank: usize,
    /// The item's id.
    pub id: String,
    /// `own` (its labelled class) or `resembles` (the class it resembles).
    pub side: String,
    /// The class of that side.
    pub class: String,
    /// 1-based order among that side's nearest items.
    pub order: usize,
    /// The neighbour's id.
    pub neighbour: String,
    /// Euclidean distance in conditioned space.
    pub distance: f64,
}

/// `audit.json`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct AuditRecord {
    /// `demud-audit`.
    pub format: String,
    /// 1.
    pub version: u32,
    /// The features file (absolute).
    pub features: PathBuf,
    /// The labels file (absolute), when labels came from one.
    pub labels: Option<PathBuf>,
    /// Number of items.
    pub items: usize,
    /// Number of features.
    pub dims: usize,
    /// The class names, by code.
    pub classes: Vec<String>,
    /// The engine's parameters.
    pub params: demud::AuditParams,
    /// Items set aside in the second round.
    pub set_aside: usize,
    /// Items by evidence: both, neighbours, subspace, neither.
    pub evidence: Vec<(String, usize)>,
}

/// Names to put on the engine's indices.
pub struct AuditNames<'a> {
    /// Item ids, by index.
    pub ids: &'a [String],
    /// Class names, by code.
    pub classes: &'a [String],
    /// Feature names, by index.
    pub features: &'a [String],
}

/// Writes the audit folder `out` whole (atomically; an earlier folder stays until it is done).
pub fn write_audit(
    out: &Path,
    audit: &Audit,
    names: &AuditNames<'_>,
    record: &AuditRecord,
) -> Result<()> {
    let (rows, features, neighbours) = audit_rows(audit, names);
    commit_folder(out, |staging| {
        write_rows(&staging.join("audit.csv"), &rows)?;
        write_rows(&staging.join("features.csv"), &features)?;
        write_rows(&staging.join("neighbours.csv"), &neighbours)?;
        write_json(&staging.join("audit.json"), record)
    })
}

/// The rows of the three CSV files.
pub fn audit_rows(
    audit: &Audit,
    names: &AuditNames<'_>,
) -> (Vec<AuditRow>, Vec<AuditFeatureRow>, Vec<AuditNeighbourRow>) {
    let mut rows = Vec::with_capacity(audit.items.len());
    let mut features = Vec::new();
    let mut neighbours = Vec::new();
    for (r, s) in audit.items.iter().enumerate() {
        let rank = r + 1;
        let id = &names.ids[s.index];
        rows.push(AuditRow {
            rank,
            id: id.clone(),
            label: names.classes[s.label].clone(),
            resembles: names.classes[s.resembles].clone(),
            score: s.score,
            own_residual: s.own_residual,
            other_residual: s.other_residual,
            ratio: s.residual_ratio(),
            agreement: s.agreement,
            evidence: s.evidence.name().to_string(),
        });
        features.extend(s.top_features.iter().map(|f| AuditFeatureRow {
            rank,
            id: id.clone(),
            feature: f.feature,
            name: names.features[f.feature].clone(),
            residual: f.residual,
            expected: f.expected,
            actual: f.actual,
        }));
        for (side, class, list) in [
            ("own", s.label, &s.own_neighbours),
            ("resembles", s.resembles, &s.resembled_neighbours),
        ] {
            neighbours.extend(list.iter().enumerate().map(|(o, nb)| AuditNeighbourRow {
                rank,
                id: id.clone(),
                side: side.to_string(),
                class: names.classes[class].clone(),
                order: o + 1,
                neighbour: names.ids[nb.index].clone(),
                distance: nb.distance,
            }));
        }
    }
    (rows, features, neighbours)
}
