//! The run folder of a distributed run (`demud-mpi`, issue 15): the records of [`NewRun`] built
//! from what the run keeps of its selections ([`KeptSelections`]: each one's place, score and
//! top features) and the ids of the selected items, so that the run folder is the one `demud
//! discover` writes and `demud curve` / `demud report` read it the same way. Each selection's
//! explanation goes to an [`ExplanationSink`] as the run yields it (rank 0's [`super::RunWriter`])
//! and is dropped: a run holds O(d) per selection in flight, not every selection's vectors.
//!
//! A distributed run ranks its features as they are (no conditioning) and takes no weights,
//! labels file or review (the distributed engine refuses them), so the record says so.

use super::{
    ConditioningRecord, ExplanationFiles, ExplanationRow, ExplanationSink, FittedOn, NewRun,
    Precision, RunRecord, SelectionRow, Start, TopFeatureRow, RUN_FORMAT, RUN_VERSION,
};
use crate::error::{DataError, Result};
use demud::{Conditioner, Conditioning, DemudParams, Selection};
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
    /// Features listed per selection in `top_features.csv` (0: none kept).
    pub top_features: usize,
    /// Whether `expected.npy` / `residual.npy` are written.
    pub explanations: ExplanationFiles,
    /// Seconds the run took (set when it has finished, before [`DistributedRun::records`]).
    pub seconds: f64,
}

/// A selection as a distributed run keeps it, its explanation vectors gone.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct KeptPick {
    /// 1-based selection rank.
    pub rank: usize,
    /// Global item index.
    pub index: usize,
    /// Its score.
    pub score: f64,
}

/// One of a selection's top features: the selection (its place among the picks), the feature,
/// and its residual and expected value.
#[derive(Clone, Copy, Debug)]
struct KeptFeature {
    pick: usize,
    feature: usize,
    residual: f64,
    expected: f64,
}

/// What a distributed run keeps of its selections as they are made
/// ([`DistributedRun::take`]): their places and scores, and their top features.
#[derive(Clone, Debug, Default)]
pub struct KeptSelections {
    picks: Vec<KeptPick>,
    top: Vec<KeptFeature>,
}

impl KeptSelections {
    /// The selections kept, in selection order.
    pub fn picks(&self) -> &[KeptPick] {
        &self.picks
    }
}

impl DistributedRun<'_> {
    /// Begins `sink` for at most `rows` selections of the run's features, ranked as they are
    /// (the identity conditioner); nothing when the run writes no explanations.
    pub fn begin(&self, sink: &mut dyn ExplanationSink, rows: usize) -> Result<()> {
        match self.explanations {
            ExplanationFiles::Written => {
                let d = self.n_features;
                sink.begin(rows, d, &Conditioner::identity(d))
            }
            ExplanationFiles::Skipped => Ok(()),
        }
    }

    /// Keeps the next selection's place, score and top features in `kept`, then hands its
    /// explanation to `sink` (begun with [`DistributedRun::begin`]) when the run writes them.
    /// The selection is kept even when the sink fails.
    pub fn take(
        &self,
        kept: &mut KeptSelections,
        s: &Selection,
        sink: Option<&mut dyn ExplanationSink>,
    ) -> Result<()> {
        let d = self.n_features;
        if s.expected.len() != d || s.residual.len() != d {
            return Err(DataError::file(
                &self.features,
                format!(
                    "selection {} explains {} features, the run has {d}",
                    s.rank,
                    s.expected.len()
                ),
            ));
        }
        let pick = kept.picks.len();
        kept.picks.push(KeptPick {
            rank: s.rank,
            index: s.index,
            score: s.score,
        });
        if self.top_features > 0 {
            // The largest |residual| first, as `demud discover` lists them; unobserved
            // features (NaN) are not listed.
            let mut order: Vec<usize> = (0..d).filter(|&j| !s.residual[j].is_nan()).collect();
            order.sort_by(|&a, &b| s.residual[b].abs().total_cmp(&s.residual[a].abs()));
            kept.top
                .extend(order.iter().take(self.top_features).map(|&j| KeptFeature {
                    pick,
                    feature: j,
                    residual: s.residual[j],
                    expected: s.expected[j],
                }));
        }
        match (sink, self.explanations) {
            (Some(sink), ExplanationFiles::Written) => sink.push(ExplanationRow {
                expected: s.expected.view(),
                residual: s.residual.view(),
                ranked_expected: s.expected.view(),
                ranked_residual: s.residual.view(),
            }),
            _ => Ok(()),
        }
    }

    /// The records of the run folder (for [`super::RunWriter::finish`]): its explanations
    /// were streamed. `names` gives each selection's id and label (empty when unknown), in
    /// selection order; the features are named `f0, f1, ...` as `.npy` features are by
    /// [`crate::features::read_features`].
    pub fn records(&self, kept: &KeptSelections, names: &[(String, String)]) -> Result<NewRun> {
        let selections = &kept.picks;
        if names.len() != selections.len() {
            return Err(DataError::file(
                &self.features,
                format!("{} ids for {} selections", names.len(), selections.len()),
            ));
        }
        let d = self.n_features;
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
        let top = kept
            .top
            .iter()
            .map(|t| {
                let s = &selections[t.pick];
                TopFeatureRow {
                    rank: s.rank,
                    index: s.index,
                    id: names[t.pick].0.clone(),
                    feature: format!("f{}", t.feature),
                    residual: t.residual,
                    expected: t.expected,
                    value: t.expected + t.residual,
                }
            })
            .collect();
        Ok(NewRun {
            record,
            selections: rows,
            top_features: top,
            explanations: None,
            ranked: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::run::{RunFolder, RunWriter};
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

    fn run(params: &DemudParams, explanations: ExplanationFiles) -> DistributedRun<'_> {
        DistributedRun {
            features: PathBuf::from("archive-{rank}.npy"),
            n_items: 10,
            n_features: 3,
            precision: Precision::F16,
            params,
            k: 2,
            start: Start::Svd,
            top_features: 2,
            explanations,
            seconds: 0.5,
        }
    }

    /// Streams `selections` through a [`RunWriter`] into `out`, as rank 0 does.
    fn stream(run: &DistributedRun<'_>, selections: &[Selection], out: &std::path::Path) {
        let mut writer = RunWriter::begin(out).unwrap();
        // More rows reserved than come: a run that stopped early.
        run.begin(&mut writer, selections.len() + 3).unwrap();
        let mut kept = KeptSelections::default();
        for s in selections {
            run.take(&mut kept, s, Some(&mut writer)).unwrap();
        }
        let names: Vec<(String, String)> = kept
            .picks()
            .iter()
            .map(|p| {
                (
                    format!("item{}", p.index),
                    ["cat", ""][p.rank - 1].to_string(),
                )
            })
            .collect();
        writer.finish(&run.records(&kept, &names).unwrap()).unwrap();
    }

    #[test]
    fn a_streamed_distributed_run_writes_a_folder_the_readers_open() {
        let dir = tempfile::tempdir().unwrap();
        let params = DemudParams::new(2).n_select(2);
        let run = run(&params, ExplanationFiles::Written);
        let selections = [
            selection(1, 7, array![0.5, -2.0, 0.1]),
            selection(2, 0, array![f64::NAN, 0.3, -0.4]),
        ];
        let out = dir.path().join("run");
        stream(&run, &selections, &out);
        let folder = RunFolder::open(&out).unwrap();
        let read: Vec<(usize, &str, &str)> = folder
            .selections()
            .iter()
            .map(|s| (s.index, s.id.as_str(), s.label.as_str()))
            .collect();
        assert_eq!(read, [(7, "item7", "cat"), (0, "item0", "")]);
        let text = std::fs::read_to_string(out.join("top_features.csv")).unwrap();
        let top: Vec<String> = text
            .lines()
            .skip(1)
            .map(|l| l.split(',').take(4).collect::<Vec<_>>().join(","))
            .collect();
        assert_eq!(
            top,
            [
                "1,7,item7,f1",
                "1,7,item7,f0",
                "2,0,item0,f2",
                "2,0,item0,f1"
            ],
            "largest |residual| first, NaN left out"
        );
        assert_eq!(folder.record().n_items, 10);
        assert_eq!(folder.record().n_selected, 2);
        assert_eq!(folder.record().precision, Precision::F16);
        assert!(!folder.is_conditioned());
        let e = folder.explanations().unwrap();
        assert_eq!(
            e.residual.dim(),
            (2, 3),
            "the header holds the rows that came"
        );
        for (r, s) in selections.iter().enumerate() {
            for j in 0..3 {
                assert_eq!(e.expected[(r, j)].to_bits(), s.expected[j].to_bits());
                assert_eq!(e.residual[(r, j)].to_bits(), s.residual[j].to_bits());
            }
        }
    }

    #[test]
    fn without_explanations_nothing_is_streamed() {
        let dir = tempfile::tempdir().unwrap();
        let params = DemudParams::new(2).n_select(1);
        let run = run(&params, ExplanationFiles::Skipped);
        let out = dir.path().join("run");
        stream(&run, &[selection(1, 4, array![1.0, 0.0, 2.0])], &out);
        assert!(!out.join("expected.npy").exists());
        let folder = RunFolder::open(&out).unwrap();
        assert_eq!(folder.selections()[0].id, "item4");
    }

    #[test]
    fn names_must_match_the_selections() {
        let params = DemudParams::new(1);
        let mut run = run(&params, ExplanationFiles::Skipped);
        run.n_features = 2;
        let mut kept = KeptSelections::default();
        run.take(&mut kept, &selection(1, 3, array![1.0, 0.0]), None)
            .unwrap();
        let err = run.records(&kept, &[]).unwrap_err().to_string();
        assert!(err.contains("0 ids for 1 selections"), "{err}");
        let err = run
            .take(&mut kept, &selection(2, 1, array![1.0]), None)
            .unwrap_err()
            .to_string();
        assert!(err.contains("explains 1 features, the run has 2"), "{err}");
        assert_eq!(kept.picks().len(), 1, "a selection refused is not kept");
    }
}
