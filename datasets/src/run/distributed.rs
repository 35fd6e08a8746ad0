//! The run folder of a distributed run (`demud-mpi`, issue 15): the records of [`NewRun`] built
//! from the selections (which every rank holds, explanations included) and the ids of the
//! selected items, so that [`super::write_run`] writes the folder `demud discover` writes and
//! `demud curve` / `demud report` read it the same way.
//!
//! A distributed run ranks its features as they are (no conditioning) and takes no weights,
//! labels file or review (the distributed engine refuses them), so the record says so.

use super::{
    ConditioningRecord, ExplanationFiles, Explanations, FittedOn, NewRun, Precision, RunRecord,
    SelectionRow, Start, TopFeatureRow, RUN_FORMAT, RUN_VERSION,
};
use crate::error::{DataError, Result};
use demud::{Conditioning, DemudParams, Selection};
use ndarray::Array2;
use std::path::PathBuf;

/// What a distributed run knows beside its selections: the record's inputs and shape.
#[derive(Clone, Debug)]
pub struct DistributedRun<'a> {
    /// The collection as the run named it: the shared `.npy` every rank mapped, or the shard
    /// pattern (`archive-{rank}.npy`).
    pub features: PathBuf,
    /// Items in all ranks together.
    pub n_items: usize,
    /// Features per item.
    pub n_features: usize,
    /// Storage precision of the mapped features.
    pub precision: Precision,
    /// The engine's parameters the run was made with.
    pub params: &'a DemudParams,
    /// Principal components (the parameters keep no getter for it).
    pub k: usize,
    /// How the first model came about.
    pub start: Start,
    /// Features listed per selection in `top_features.csv`.
    pub top_features: usize,
    /// Whether `expected.npy` / `residual.npy` are written.
    pub explanations: ExplanationFiles,
    /// Seconds the run took.
    pub seconds: f64,
}

impl DistributedRun<'_> {
    /// The records of the run folder. `names` gives each selection's id and label (empty when
    /// unknown), in selection order; the features are named `f0, f1, ...` as `.npy` features
    /// are by [`crate::features::read_features`].
    pub fn records(&self, selections: &[Selection], names: &[(String, String)]) -> Result<NewRun> {
        if names.len() != selections.len() {
            return Err(DataError::file(
                &self.features,
                format!("{} ids for {} selections", names.len(), selections.len()),
            ));
        }
        let d = self.n_features;
        if let Some(s) = selections
            .iter()
            .find(|s| s.expected.len() != d || s.residual.len() != d)
        {
            return Err(DataError::file(
                &self.features,
                format!(
                    "selection {} explains {} features, the run has {d}",
                    s.rank,
                    s.expected.len()
                ),
            ));
        }
        let params = self.params;
        let record = RunRecord {
            format: RUN_FORMAT.into(),
            version: RUN_VERSION,
            tool_version: env!("CARGO_PKG_VERSION").into(),
            features: self.features.clone(),
            items: None,
            labels: None,
            weights: None,
            start: self.start.clone(),
            n_items: self.n_items,
            n_features: d,
            precision: self.precision,
            k: self.k,
            n_selected: selections.len(),
            update: params.update_method(),
            score: params.scoring().method(),
            missing: params.missing_policy(),
            compat: params.compatibility(),
            score_path: params.score_path(),
            refresh_every: params.refresh_interval(),
            selection: params.selection_rule(),
            // What `demud discover --conditioning none` records: the features ranked as given.
            conditioning: Some(ConditioningRecord {
                steps: Conditioning::none(),
                fitted_on: FittedOn::Collection,
                dims: d,
            }),
            seed: params.seed_value(),
            svd: params.svd_method(),
            explanations: self.explanations,
            review: None,
            extraction: None,
            seconds: self.seconds,
            files: Default::default(),
        };
        let rows = selections
            .iter()
            .zip(names)
            .map(|(s, (id, label))| SelectionRow {
                rank: s.rank,
                index: s.index,
                id: id.clone(),
                label: label.clone(),
                score: s.score,
            })
            .collect();
        let mut top = Vec::new();
        for (s, (id, _)) in selections.iter().zip(names) {
            // The largest |residual| first, as `demud discover` lists them; unobserved
            // features (NaN) are not listed.
            let mut order: Vec<usize> = (0..d).filter(|&j| !s.residual[j].is_nan()).collect();
            order.sort_by(|&a, &b| s.residual[b].abs().total_cmp(&s.residual[a].abs()));
            for &j in order.iter().take(self.top_features) {
                top.push(TopFeatureRow {
                    rank: s.rank,
                    index: s.index,
                    id: id.clone(),
                    feature: format!("f{j}"),
                    residual: s.residual[j],
                    expected: s.expected[j],
                    value: s.expected[j] + s.residual[j],
                });
            }
        }
        let explanations = (self.explanations == ExplanationFiles::Written).then(|| {
            let mut expected = Array2::zeros((selections.len(), d));
            let mut residual = Array2::zeros((selections.len(), d));
            for (i, s) in selections.iter().enumerate() {
                expected.row_mut(i).assign(&s.expected);
                residual.row_mut(i).assign(&s.residual);
            }
            Explanations { expected, residual }
        });
        Ok(NewRun {
            record,
            selections: rows,
            top_features: top,
            explanations,
            ranked: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{write_run, RunFolder};
    use ndarray::array;

    fn selection(rank: usize, index: usize, residual: ndarray::Array1<f64>) -> Selection {
        Selection {
            rank,
            index,
            score: residual.dot(&residual),
            expected: residual.mapv(|v| 1.0 - v),
            residual,
        }
    }

    #[test]
    fn a_distributed_run_writes_a_folder_the_readers_open() {
        let dir = tempfile::tempdir().unwrap();
        let params = DemudParams::new(2).n_select(2);
        let run = DistributedRun {
            features: dir.path().join("archive-{rank}.npy"),
            n_items: 10,
            n_features: 3,
            precision: Precision::F16,
            params: &params,
            k: 2,
            start: Start::Svd,
            top_features: 2,
            explanations: ExplanationFiles::Written,
            seconds: 0.5,
        };
        let selections = [
            selection(1, 7, array![0.5, -2.0, 0.1]),
            selection(2, 0, array![f64::NAN, 0.3, -0.4]),
        ];
        let names = [
            ("item7".to_string(), "cat".to_string()),
            ("item0".to_string(), String::new()),
        ];
        let new = run.records(&selections, &names).unwrap();
        let top: Vec<(&str, &str)> = new
            .top_features
            .iter()
            .map(|t| (t.id.as_str(), t.feature.as_str()))
            .collect();
        assert_eq!(
            top,
            [
                ("item7", "f1"),
                ("item7", "f0"),
                ("item0", "f2"),
                ("item0", "f1")
            ],
            "largest |residual| first, NaN left out"
        );
        let out = dir.path().join("run");
        write_run(&out, &new).unwrap();
        let folder = RunFolder::open(&out).unwrap();
        let read: Vec<(usize, &str, &str)> = folder
            .selections()
            .iter()
            .map(|s| (s.index, s.id.as_str(), s.label.as_str()))
            .collect();
        assert_eq!(read, [(7, "item7", "cat"), (0, "item0", "")]);
        assert_eq!(folder.record().n_items, 10);
        assert_eq!(folder.record().precision, Precision::F16);
        assert!(!folder.is_conditioned());
        let e = folder.explanations().unwrap();
        assert_eq!(e.residual[(0, 1)], -2.0);
        assert!(e.residual[(1, 0)].is_nan());
    }

    #[test]
    fn names_must_match_the_selections() {
        let params = DemudParams::new(1);
        let run = DistributedRun {
            features: PathBuf::from("x.npy"),
            n_items: 4,
            n_features: 2,
            precision: Precision::F32,
            params: &params,
            k: 1,
            start: Start::Mean,
            top_features: 1,
            explanations: ExplanationFiles::Skipped,
            seconds: 0.0,
        };
        let s = [selection(1, 3, array![1.0, 0.0])];
        let err = run.records(&s, &[]).unwrap_err().to_string();
        assert!(err.contains("0 ids for 1 selections"), "{err}");
        let short = [selection(1, 3, array![1.0])];
        let names = [("a".to_string(), String::new())];
        let err = run.records(&short, &names).unwrap_err().to_string();
        assert!(err.contains("explains 1 features, the run has 2"), "{err}");
    }
}
