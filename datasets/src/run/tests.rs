use super::*;
use ndarray::{Array2, Array4};

fn record(features: &Path, n_items: usize, n_features: usize) -> RunRecord {
    RunRecord {
        format: RUN_FORMAT.into(),
        version: RUN_VERSION,
        tool_version: "test".into(),
        features: features.to_path_buf(),
        items: None,
        labels: None,
        weights: None,
        start: Start::Svd,
        n_items,
        n_features,
        precision: Precision::F64,
        k: 1,
        n_selected: 0,
        update: UpdateMethod::Brand,
        score: ScoreMethod::LowHigh,
        missing: MissingPolicy::Error,
        compat: Compatibility::Clean,
        score_path: ScorePath::Auto,
        refresh_every: 256,
        conditioning: None,
        selection: Default::default(),
        seed: 0,
        svd: SvdMethod::Randomized,
        explanations: ExplanationFiles::Written,
        review: None,
        extraction: None,
        seconds: 0.0,
        files: Default::default(),
    }
}

fn selection(rank: usize, index: usize) -> SelectionRow {
    SelectionRow {
        rank,
        index,
        id: format!("item{index}"),
        label: "a,b \"quoted\"".into(),
        score: 0.1 + rank as f64 / 3.0,
    }
}

fn new_run(features: &Path) -> NewRun {
    NewRun {
        record: record(features, 5, 2),
        selections: vec![selection(1, 3), selection(2, 0)],
        top_features: vec![TopFeatureRow {
            rank: 1,
            index: 3,
            id: "item3".into(),
            feature: "f1".into(),
            residual: -0.5,
            expected: 1.5,
            value: 1.0,
        }],
        explanations: Some(Explanations {
            expected: Array2::from_elem((2, 2), 1.0 / 3.0),
            residual: Array2::from_elem((2, 2), f64::NAN),
        }),
        ranked: None,
    }
}

#[test]
fn a_run_reads_back_exactly_and_from_a_moved_folder() {
    let root = tempfile::tempdir().unwrap();
    let data = root.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    let features = data.join("f.csv");
    std::fs::write(&features, "x").unwrap();
    let dir = root.path().join("runs/one");
    let run = new_run(&features);
    write_run(&dir, &run).unwrap();

    let back = RunFolder::open(&dir).unwrap();
    assert_eq!(back.selections(), &run.selections[..]);
    assert_eq!(back.record().features, Path::new("../../data/f.csv"));
    assert_eq!(back.record().n_selected, 2);
    assert!(back.features_path().is_file());
    let e = back.explanations().unwrap();
    assert_eq!(e.expected, run.explanations.as_ref().unwrap().expected);
    assert!(e.residual.iter().all(|v| v.is_nan()));
    let top: Vec<TopFeatureRow> = read_rows(&dir.join(TOP_FEATURES_FILE)).unwrap();
    assert_eq!(top, run.top_features);

    // Move the whole tree: the stored relative paths still find the features.
    let moved = tempfile::tempdir().unwrap();
    let new_root = moved.path().join("tree");
    std::fs::rename(root.path(), &new_root).unwrap_or_else(|_| {
        // Across file systems: copy instead.
        copy_tree(root.path(), &new_root);
    });
    let again = RunFolder::open(&new_root.join("runs/one")).unwrap();
    assert!(again.features_path().is_file());
}

fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap() {
        let entry = entry.unwrap();
        let target = to.join(entry.file_name());
        if entry.file_type().unwrap().is_dir() {
            copy_tree(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), target).unwrap();
        }
    }
}

#[test]
fn readers_name_the_file_that_belongs_to_another_run() {
    let root = tempfile::tempdir().unwrap();
    let features = root.path().join("f.csv");
    let dir = root.path().join("run");
    write_run(&dir, &new_run(&features)).unwrap();

    // selections.csv from a run with more selections.
    let mut other = new_run(&features);
    other.selections.push(selection(3, 4));
    other.explanations = None;
    let other_dir = root.path().join("other");
    write_run(&other_dir, &other).unwrap();
    std::fs::copy(other_dir.join(SELECTIONS_FILE), dir.join(SELECTIONS_FILE)).unwrap();
    let err = RunFolder::open(&dir).unwrap_err().to_string();
    assert!(
        err.contains("selections.csv") && err.contains("different runs"),
        "{err}"
    );

    // An expected.npy of the wrong shape.
    write_run(&dir, &new_run(&features)).unwrap();
    write_array(&dir.join(EXPECTED_FILE), &Array2::<f64>::zeros((3, 2))).unwrap();
    let err = RunFolder::open(&dir)
        .unwrap()
        .explanations()
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected.npy"), "{err}");

    // A run without explanations says so.
    let err = RunFolder::open(&other_dir)
        .unwrap()
        .explanations()
        .unwrap_err()
        .to_string();
    assert!(err.contains("--no-explanations"), "{err}");

    // A run.json that is not JSON: named, with serde's error kept as the source.
    let broken = root.path().join("broken");
    std::fs::create_dir(&broken).unwrap();
    std::fs::write(broken.join(RUN_FILE), "{ not json").unwrap();
    let err = RunFolder::open(&broken).unwrap_err();
    assert!(err.to_string().contains("run.json"), "{err}");
    let source = std::error::Error::source(&err).expect("the parser's error is kept");
    assert!(source.is::<serde_json::Error>(), "{source:?}");

    // A renamed column is an error naming the file and line, not a silent misread.
    let text = std::fs::read_to_string(dir.join(SELECTIONS_FILE)).unwrap();
    std::fs::write(dir.join(SELECTIONS_FILE), text.replace("index", "row")).unwrap();
    let err = RunFolder::open(&dir).unwrap_err().to_string();
    assert!(err.contains("selections.csv"), "{err}");
}

#[test]
fn the_svd_method_is_recorded_and_a_record_without_it_reads_as_exact() {
    let dir = tempfile::tempdir().unwrap();
    let ours = record(&dir.path().join("f.csv"), 3, 2);
    let mut json = serde_json::to_value(&ours).unwrap();
    assert_eq!(json["svd"], "randomized");
    let back: RunRecord = serde_json::from_value(json.clone()).unwrap();
    assert_eq!(back.svd, SvdMethod::Randomized);
    // Runs made before the randomized SVD existed took the exact one.
    json.as_object_mut().unwrap().remove("svd");
    let old: RunRecord = serde_json::from_value(json).unwrap();
    assert_eq!(old.svd, SvdMethod::Exact);
}

#[test]
fn a_new_run_replaces_the_old_files_whole() {
    let root = tempfile::tempdir().unwrap();
    let features = root.path().join("f.csv");
    let dir = root.path().join("run");
    write_run(&dir, &new_run(&features)).unwrap();
    std::fs::create_dir(dir.join(RENDER_DIR)).unwrap();
    let mut second = new_run(&features);
    second.explanations = None;
    write_run(&dir, &second).unwrap();
    assert!(!dir.join(EXPECTED_FILE).exists(), "no stale explanations");
    assert!(
        !dir.join(RENDER_DIR).exists(),
        "no stale render of the old run"
    );
    assert_eq!(
        RunFolder::open(&dir).unwrap().record().explanations,
        ExplanationFiles::Skipped
    );
}

#[test]
fn a_render_of_another_run_is_refused() {
    let root = tempfile::tempdir().unwrap();
    let features = root.path().join("f.csv");
    let dir = root.path().join("run");
    write_run(&dir, &new_run(&features)).unwrap();
    let run = RunFolder::open(&dir).unwrap();
    let s = 4;
    let row = |sel: &SelectionRow| RenderRow {
        rank: sel.rank,
        index: sel.index,
        id: sel.id.clone(),
        label: sel.label.clone(),
        score: sel.score,
        original: "o.png".into(),
        features: "f.png".into(),
        expected: "e.png".into(),
        novel: "n.png".into(),
        difference: "d.png".into(),
    };
    let views = DecodedViews {
        features: Array4::zeros((2, 3, s, s)),
        expected: Array4::zeros((2, 3, s, s)),
        novel: Array4::zeros((2, 3, s, s)),
    };
    let mut render = NewRender {
        record: RenderRecord {
            format: render::RENDER_FORMAT.into(),
            version: render::RENDER_VERSION,
            run: dir.clone(),
            decoder: root.path().join("decoder"),
            images: root.path().join("images"),
            selections: 2,
            decoder_summary: DecoderSummary {
                image_size: s,
                hidden: vec![8],
                pairs: 5,
                epochs: 1,
                final_loss: Some(0.5),
            },
        },
        rows: run.selections().iter().map(row).collect(),
        images: vec![],
        contact_sheet: image::RgbImage::new(1, 1),
        decoded: views,
    };
    write_render(&run.render_dir(), &render).unwrap();
    let folder = RenderFolder::open(&run.render_dir(), &run).unwrap();
    assert_eq!(folder.decoded().unwrap().novel.dim(), (2, 3, s, s));
    assert_eq!(folder.decoder_dir(), run.render_dir().join("../../decoder"));

    // Swap the order: the rows no longer follow the run's selections.
    render.rows.reverse();
    write_render(&run.render_dir(), &render).unwrap();
    let err = RenderFolder::open(&run.render_dir(), &run)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("renders.csv") && err.contains("another run"),
        "{err}"
    );

    // The same items in the same order, scored by a run made with other settings: refused.
    render.rows.reverse();
    render.rows[1].score += 1e-9;
    write_render(&run.render_dir(), &render).unwrap();
    let err = RenderFolder::open(&run.render_dir(), &run)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("renders.csv, line 3") && err.contains("another run"),
        "{err}"
    );
}

#[test]
fn explanation_arrays_of_another_run_of_the_same_shape_are_refused() {
    let root = tempfile::tempdir().unwrap();
    let features = root.path().join("f.csv");
    let (dir, other_dir) = (root.path().join("run"), root.path().join("other"));
    write_run(&dir, &new_run(&features)).unwrap();
    let mut other = new_run(&features);
    other.explanations.as_mut().unwrap().expected *= 2.0;
    write_run(&other_dir, &other).unwrap();
    let run = RunFolder::open(&dir).unwrap();
    assert_eq!(
        run.record().files.keys().collect::<Vec<_>>(),
        [EXPECTED_FILE, RESIDUAL_FILE, SELECTIONS_FILE]
    );
    assert!(run.explanations().is_ok());
    // Same shape, other values: only the recorded hash tells them apart.
    std::fs::copy(other_dir.join(EXPECTED_FILE), dir.join(EXPECTED_FILE)).unwrap();
    let err = run.explanations().unwrap_err().to_string();
    assert!(
        err.contains("expected.npy: is not the file this run wrote")
            && err.contains("different runs"),
        "{err}"
    );
    // A deleted selections.csv is named as missing.
    std::fs::remove_file(dir.join(SELECTIONS_FILE)).unwrap();
    let err = RunFolder::open(&dir).unwrap_err().to_string();
    assert!(err.contains("selections.csv: missing"), "{err}");
}

#[test]
fn selections_scored_zero_are_copies_or_underflowed_scores() {
    let root = tempfile::tempdir().unwrap();
    let mut run = new_run(&root.path().join("f.csv"));
    for s in &mut run.selections {
        s.score = 0.0;
    }
    // Copies: residual 0 (or rounding) next to the item; missing features (NaN) aside.
    let e = run.explanations.as_mut().unwrap();
    e.residual = ndarray::array![[0.0, f64::NAN], [1e-17, 0.0]];
    let zeros = |run: &NewRun| run.zero_scores();
    assert_eq!(
        zeros(&run),
        ZeroScores {
            copies: 2,
            underflowed: 0
        }
    );
    run.record.start = Start::Index { item: 3 };
    assert_eq!(
        zeros(&run),
        ZeroScores {
            copies: 1,
            underflowed: 0
        }
    );
    // A tiny item the model does not explain: its score underflowed.
    let e = run.explanations.as_mut().unwrap();
    e.expected = ndarray::array![[1e-170, 0.0], [1e-170, 2e-170]];
    e.residual = ndarray::array![[0.0, 0.0], [3e-171, 0.0]];
    assert_eq!(
        zeros(&run),
        ZeroScores {
            copies: 0,
            underflowed: 1
        }
    );
    run.selections[1].score = 0.5;
    assert_eq!(zeros(&run), ZeroScores::default());
    // Without explanations every 0 is taken for a copy.
    run.explanations = None;
    run.selections[1].score = 0.0;
    assert_eq!(
        zeros(&run),
        ZeroScores {
            copies: 1,
            underflowed: 0
        }
    );
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Any ids and labels (commas, quotes, newlines, unicode) and any finite scores read back
    /// exactly: CSV quoting and the shortest round-trip number text lose nothing.
    #[test]
    fn selections_of_any_text_and_score_read_back_exactly(
        rows in proptest::collection::vec(
            (".{0,12}", ".{0,12}", proptest::num::f64::NORMAL | proptest::num::f64::ZERO),
            1..8,
        )
    ) {
        let root = tempfile::tempdir().unwrap();
        let dir = root.path().join("run");
        let selections: Vec<SelectionRow> = rows
            .iter()
            .enumerate()
            .map(|(i, (id, label, score))| SelectionRow {
                rank: i + 1,
                index: i,
                id: id.clone(),
                label: label.clone(),
                score: *score,
            })
            .collect();
        let run = NewRun {
            record: record(&root.path().join("f.csv"), selections.len(), 2),
            selections: selections.clone(),
            top_features: vec![],
            explanations: None,
            ranked: None,
        };
        write_run(&dir, &run).unwrap();
        let back = RunFolder::open(&dir).unwrap();
        proptest::prop_assert_eq!(back.selections(), &selections[..]);
    }
}

mod conditioned_runs {
    use super::super::{
        read_model_state, run_discovery, write_saved_model, DiscoveryInputs, DiscoveryOutputs,
        DiscoverySettings, ExplanationFiles, FittedOn,
    };
    use crate::features::write_npy_features;
    use demud::{Conditioning, DemudParams};
    use ndarray::Array2;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::path::{Path, PathBuf};

    /// 60 items of 8 features with unequal scales, written as `.npy` features.
    fn features(dir: &Path, name: &str, seed: u64) -> (PathBuf, Array2<f32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(seed);
        let matrix = Array2::from_shape_fn((60, 8), |(_, j)| {
            (j as f32 + 1.0) * rng.random_range(-1.0..1.0) + 3.0
        });
        let ids: Vec<String> = (0..60).map(|i| format!("{name}{i}")).collect();
        let path = dir.join(format!("{name}.npy"));
        write_npy_features(&path, &ids, None, &matrix).unwrap();
        (path, matrix)
    }

    fn settings(k: Option<usize>, conditioning: Option<&str>) -> DiscoverySettings {
        DiscoverySettings {
            params: DemudParams::new(3).n_select(10),
            k,
            conditioning: conditioning.map(|c| c.parse().unwrap()),
        }
    }

    const OUTPUTS: DiscoveryOutputs = DiscoveryOutputs {
        top_features: 2,
        explanations: ExplanationFiles::Written,
    };

    #[test]
    fn a_conditioned_run_ranks_the_conditioned_features_and_explains_in_the_original_ones() {
        let dir = tempfile::tempdir().unwrap();
        let (path, matrix) = features(dir.path(), "day", 1);
        let inputs = DiscoveryInputs {
            features: path,
            ..Default::default()
        };
        let finished = run_discovery(
            &inputs,
            settings(Some(3), Some("centre+l2")),
            OUTPUTS,
            |_, _| {},
        )
        .unwrap();
        let record = finished.run.record.conditioning.clone().unwrap();
        assert_eq!(record.steps.to_string(), "centre+l2");
        assert_eq!(record.fitted_on, FittedOn::Collection);
        // The same picks as DEMUD on features conditioned by hand.
        let conditioner = "centre+l2"
            .parse::<Conditioning>()
            .unwrap()
            .fit(matrix.view())
            .unwrap();
        let by_hand: Vec<usize> = DemudParams::new(3)
            .n_select(10)
            .discover(conditioner.transform(matrix.view()).unwrap().view())
            .unwrap()
            .map(|s| s.unwrap().index)
            .collect();
        let picks: Vec<usize> = finished.run.selections.iter().map(|s| s.index).collect();
        assert_eq!(picks, by_hand);
        // Expected plus novel content is the item itself, in its own 8 features.
        let explanations = finished.run.explanations.as_ref().unwrap();
        assert_eq!(explanations.expected.ncols(), 8);
        for (r, s) in finished.run.selections.iter().enumerate() {
            let sum = &explanations.expected.row(r) + &explanations.residual.row(r);
            let item = matrix.row(s.index).mapv(f64::from);
            assert!(sum.iter().zip(&item).all(|(a, b)| (a - b).abs() < 1e-9));
        }
        // The run folder keeps the conditioner and the explanations in the ranked space, where
        // each selection's score is its residual's squared length.
        let run_dir = dir.path().join("run");
        super::super::write_run(&run_dir, &finished.run).unwrap();
        let ranked = super::super::RunFolder::open(&run_dir)
            .unwrap()
            .ranked_explanations()
            .unwrap();
        assert_eq!(ranked.conditioner, conditioner);
        for (r, s) in finished.run.selections.iter().enumerate() {
            let e = ranked.residual.row(r);
            assert!(
                (e.dot(&e) - s.score).abs() <= 1e-9 * s.score,
                "rank {}",
                s.rank
            );
        }
        std::fs::remove_file(run_dir.join(super::super::CONDITIONER_FILE)).unwrap();
        let err = super::super::RunFolder::open(&run_dir)
            .unwrap()
            .ranked_explanations()
            .unwrap_err()
            .to_string();
        assert!(err.contains("run discover again"), "{err}");
        // A saved model carries its conditioner; a run continuing it conditions the next
        // batch with it, and refuses another conditioning.
        let model_path = dir.path().join("model.json");
        write_saved_model(&model_path, finished.model.as_ref().unwrap()).unwrap();
        let saved = read_model_state(&model_path).unwrap();
        assert_eq!(saved.conditioner.as_ref(), Some(&conditioner));
        let (next, _) = features(dir.path(), "next", 2);
        let continued = DiscoveryInputs {
            features: next.clone(),
            model_in: Some(model_path.clone()),
            ..Default::default()
        };
        let run = run_discovery(&continued, settings(None, None), OUTPUTS, |_, _| {}).unwrap();
        let record = run.run.record.conditioning.unwrap();
        assert_eq!(
            (record.steps.to_string().as_str(), record.fitted_on),
            ("centre+l2", FittedOn::Model)
        );
        let err = run_discovery(&continued, settings(None, Some("none")), OUTPUTS, |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("conditioned by centre+l2") && err.contains("model.json"),
            "{err}"
        );
    }

    #[test]
    fn the_conditioning_is_fitted_on_the_prior_when_one_is_given() {
        let dir = tempfile::tempdir().unwrap();
        let (archive, archive_matrix) = features(dir.path(), "archive", 3);
        let (batch, batch_matrix) = features(dir.path(), "batch", 4);
        let inputs = DiscoveryInputs {
            features: batch,
            prior: Some(archive),
            ..Default::default()
        };
        let finished = run_discovery(
            &inputs,
            settings(Some(3), Some("centre+power")),
            OUTPUTS,
            |_, _| {},
        )
        .unwrap();
        assert_eq!(
            finished.run.record.conditioning.unwrap().fitted_on,
            FittedOn::Prior
        );
        let conditioner = "centre+power"
            .parse::<Conditioning>()
            .unwrap()
            .fit(archive_matrix.view())
            .unwrap();
        let prior = conditioner
            .transform(archive_matrix.mapv(f64::from).view())
            .unwrap();
        let by_hand: Vec<usize> = DemudParams::new(3)
            .n_select(10)
            .init(demud::Init::Prior(prior))
            .discover(conditioner.transform(batch_matrix.view()).unwrap().view())
            .unwrap()
            .map(|s| s.unwrap().index)
            .collect();
        let picks: Vec<usize> = finished.run.selections.iter().map(|s| s.index).collect();
        assert_eq!(picks, by_hand);
    }

    #[test]
    fn auto_conditions_npy_features_and_leaves_csv_tables_alone() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = features(dir.path(), "img", 5);
        let npy = DiscoveryInputs {
            features: path,
            ..Default::default()
        };
        let run = run_discovery(&npy, settings(Some(3), None), OUTPUTS, |_, _| {}).unwrap();
        assert_eq!(
            run.run.record.conditioning.unwrap().steps,
            Conditioning::recommended()
        );
        let csv = dir.path().join("table.csv");
        std::fs::write(&csv, "a,1,2\nb,3,1\nc,0,5\nd,2,2\n").unwrap();
        let table = DiscoveryInputs {
            features: csv,
            ..Default::default()
        };
        let run = run_discovery(&table, settings(Some(1), None), OUTPUTS, |_, _| {}).unwrap();
        assert!(run.run.record.conditioning.unwrap().steps.is_none());
    }

    #[test]
    fn conditioning_refuses_missing_values_and_auto_leaves_them_raw() {
        let dir = tempfile::tempdir().unwrap();
        let csv = dir.path().join("gaps.csv");
        std::fs::write(&csv, "a,1,2\nb,NA,1\nc,0,5\nd,2,2\n").unwrap();
        let inputs = DiscoveryInputs {
            features: csv,
            ..Default::default()
        };
        let params = |conditioning: Option<&str>| DiscoverySettings {
            params: DemudParams::new(1).missing(demud::MissingPolicy::Zero),
            k: Some(1),
            conditioning: conditioning.map(|c| c.parse().unwrap()),
        };
        let err = run_discovery(&inputs, params(Some("centre+l2")), OUTPUTS, |_, _| {})
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("gaps.csv") && err.contains("--conditioning none"),
            "{err}"
        );
        let run = run_discovery(&inputs, params(None), OUTPUTS, |_, _| {}).unwrap();
        assert!(run.run.record.conditioning.unwrap().steps.is_none());
    }

    #[test]
    fn weights_are_refused_with_whitening_even_at_full_width() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = features(dir.path(), "w", 6);
        let weights = dir.path().join("weights.txt");
        std::fs::write(&weights, "1\n".repeat(8)).unwrap();
        let inputs = DiscoveryInputs {
            features: path,
            weights: Some(weights),
            ..Default::default()
        };
        let err = run_discovery(
            &inputs,
            settings(Some(3), Some("whiten:8")),
            OUTPUTS,
            |_, _| {},
        )
        .unwrap_err()
        .to_string();
        assert!(err.contains("give weights without whitening"), "{err}");
    }

    #[test]
    fn a_replayed_run_rescores_its_selections_to_their_scores_and_notices_changed_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let (archive, _) = features(dir.path(), "archive", 5);
        let (batch, batch_matrix) = features(dir.path(), "batch", 6);
        for prior in [None, Some(archive.clone())] {
            let inputs = DiscoveryInputs {
                features: batch.clone(),
                prior: prior.clone(),
                ..Default::default()
            };
            let finished = run_discovery(
                &inputs,
                settings(Some(3), Some("power+centre+l2")),
                OUTPUTS,
                |_, _| {},
            )
            .unwrap();
            let run_dir = dir.path().join("run");
            super::super::write_run(&run_dir, &finished.run).unwrap();
            let run = super::super::RunFolder::open(&run_dir).unwrap();
            let replayed = super::super::replay(&run, 6).unwrap();
            assert_eq!(replayed.models.len(), 6);
            for s in &run.selections()[..6] {
                let item = batch_matrix.row(s.index).mapv(f64::from);
                let score = replayed.score(s.rank, item.view()).unwrap();
                assert!(
                    (score - s.score).abs() <= 1e-6 * s.score,
                    "prior {:?} rank {}: {score} vs {}",
                    prior.is_some(),
                    s.rank,
                    s.score
                );
            }
        }
        // Other features under the same name: the replay's picks differ, and it says so.
        let (other, _) = features(dir.path(), "other", 9);
        std::fs::copy(&other, &batch).unwrap();
        let run = super::super::RunFolder::open(&dir.path().join("run")).unwrap();
        let err = super::super::replay(&run, 6).unwrap_err().to_string();
        assert!(err.contains("run extract again"), "{err}");
        let items = |p: &Path| crate::features::items_path(p);
        std::fs::copy(items(&other), items(&batch)).unwrap();
        let err = super::super::replay(&run, 6).unwrap_err().to_string();
        assert!(err.contains("changed since"), "{err}");
    }
}

/// The explanations streamed as a run makes them (issue 15): `demud discover`'s path.
mod streamed_runs {
    use super::super::{
        run_discovery, run_discovery_into, write_array, write_run, DiscoveryInputs,
        DiscoveryOutputs, DiscoverySettings, ExplanationFiles, ExplanationRow, ExplanationSink,
        RunRecord, RunWriter, RUN_FILE,
    };
    use crate::features::write_npy_features;
    use crate::DataError;
    use demud::{Conditioner, Conditioning, DemudParams};
    use ndarray::{Array1, Array2};
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use std::collections::BTreeMap;
    use std::path::{Path, PathBuf};

    /// 50 items of 6 features with unequal scales, two of them copies of the first.
    fn features(dir: &Path) -> (PathBuf, Array2<f32>) {
        let mut rng = ChaCha8Rng::seed_from_u64(11);
        let mut matrix = Array2::from_shape_fn((50, 6), |(_, j)| {
            (j as f32 + 1.0) * rng.random_range(-1.0..1.0) + 2.0
        });
        let first = matrix.row(0).to_owned();
        matrix.row_mut(49).assign(&first);
        matrix.row_mut(48).assign(&first);
        let ids: Vec<String> = (0..50).map(|i| format!("item{i}")).collect();
        let path = dir.join("collection.npy");
        write_npy_features(&path, &ids, None, &matrix).unwrap();
        (path, matrix)
    }

    fn settings(conditioning: &str) -> DiscoverySettings {
        DiscoverySettings {
            params: DemudParams::new(2).n_select(50),
            k: Some(2),
            conditioning: Some(conditioning.parse().unwrap()),
        }
    }

    fn outputs(explanations: ExplanationFiles) -> DiscoveryOutputs {
        DiscoveryOutputs {
            top_features: 3,
            explanations,
        }
    }

    /// Every file of a folder by name.
    fn files(dir: &Path) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(dir)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (
                    e.file_name().to_string_lossy().into_owned(),
                    std::fs::read(e.path()).unwrap(),
                )
            })
            .collect()
    }

    fn npy(array: &Array2<f64>) -> Vec<u8> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("a.npy");
        write_array(&path, array).unwrap();
        std::fs::read(path).unwrap()
    }

    /// The explanation arrays as `demud discover` made them before they were streamed: the
    /// engine's selections collected, mapped to the features and stacked.
    fn collected_then_stacked(matrix: &Array2<f32>, conditioning: &str) -> Vec<Array2<f64>> {
        let x = matrix.mapv(f64::from);
        let conditioner: Conditioner = conditioning
            .parse::<Conditioning>()
            .unwrap()
            .fit(x.view())
            .unwrap();
        let ranked = conditioner.transform_as::<f32, f32>(matrix.view()).unwrap();
        let selections: Vec<demud::Selection> = DemudParams::new(2)
            .n_select(50)
            .discover(ranked.view())
            .unwrap()
            .map(|s| s.unwrap())
            .collect();
        let stack = |rows: Vec<Array1<f64>>| {
            let d = rows[0].len();
            Array2::from_shape_fn((rows.len(), d), |(i, j)| rows[i][j])
        };
        let mut arrays = Vec::new();
        let in_features: Vec<(Array1<f64>, Array1<f64>)> = selections
            .iter()
            .map(|s| match conditioner.is_identity() {
                true => (s.expected.clone(), s.residual.clone()),
                false => conditioner.explain_in_input_space(x.row(s.index), s.expected.view()),
            })
            .collect();
        arrays.push(stack(in_features.iter().map(|p| p.0.clone()).collect()));
        arrays.push(stack(in_features.iter().map(|p| p.1.clone()).collect()));
        if !conditioner.is_identity() {
            arrays.push(stack(
                selections.iter().map(|s| s.expected.clone()).collect(),
            ));
            arrays.push(stack(
                selections.iter().map(|s| s.residual.clone()).collect(),
            ));
        }
        arrays
    }

    #[test]
    fn a_streamed_run_folder_is_the_in_memory_one_bit_for_bit() {
        let dir = tempfile::tempdir().unwrap();
        let (path, matrix) = features(dir.path());
        let inputs = DiscoveryInputs {
            features: path,
            ..Default::default()
        };
        for conditioning in ["centre+l2", "none"] {
            for explanations in [ExplanationFiles::Written, ExplanationFiles::Skipped] {
                let what = format!("{conditioning} {explanations:?}");
                let memory = run_discovery(
                    &inputs,
                    settings(conditioning),
                    outputs(explanations),
                    |_, _| {},
                )
                .unwrap();
                let memory_dir = dir.path().join("memory");
                write_run(&memory_dir, &memory.run).unwrap();

                let streamed_dir = dir.path().join("streamed");
                let mut writer = RunWriter::begin(&streamed_dir).unwrap();
                let streamed = run_discovery_into(
                    &inputs,
                    settings(conditioning),
                    outputs(explanations),
                    &mut writer,
                    |_, _| {},
                )
                .unwrap();
                // The records keep no explanation vectors: they went to the files.
                assert!(streamed.run.explanations.is_none() && streamed.run.ranked.is_none());
                assert_eq!(streamed.zero_scores, memory.run.zero_scores(), "{what}");
                assert_eq!(streamed.zero_scores, memory.zero_scores, "{what}");
                writer.finish(&streamed.run).unwrap();

                let (mut a, mut b) = (files(&memory_dir), files(&streamed_dir));
                let record = |bytes: Vec<u8>| {
                    let mut r: RunRecord = serde_json::from_slice(&bytes).unwrap();
                    r.seconds = 0.0;
                    r
                };
                let (ra, rb) = (
                    record(a.remove(RUN_FILE).unwrap()),
                    record(b.remove(RUN_FILE).unwrap()),
                );
                assert_eq!(ra, rb, "{what}");
                assert_eq!(
                    a.keys().collect::<Vec<_>>(),
                    b.keys().collect::<Vec<_>>(),
                    "{what}"
                );
                for (name, bytes) in &a {
                    assert!(b[name] == *bytes, "{what}: {name} differs");
                }
                let names: Vec<&str> = match (conditioning, explanations) {
                    (_, ExplanationFiles::Skipped) => vec![],
                    ("none", _) => vec!["expected.npy", "residual.npy"],
                    _ => vec![
                        "expected.npy",
                        "residual.npy",
                        "ranked_expected.npy",
                        "ranked_residual.npy",
                    ],
                };
                if explanations == ExplanationFiles::Written {
                    // And they are what the run wrote before explanations were streamed.
                    let before = collected_then_stacked(&matrix, conditioning);
                    assert_eq!(before.len(), names.len());
                    for (name, array) in names.iter().zip(&before) {
                        assert!(b[*name] == npy(array), "{what}: {name} differs from before");
                    }
                } else {
                    assert!(!b.contains_key("expected.npy"), "{what}");
                }
            }
        }
    }

    /// Counts the rows it is handed, and fails at a given one.
    struct Counting<'a> {
        inner: &'a mut dyn ExplanationSink,
        rows: std::rc::Rc<std::cell::Cell<usize>>,
        fail_at: usize,
    }

    impl ExplanationSink for Counting<'_> {
        fn begin(&mut self, rows: usize, d: usize, conditioner: &Conditioner) -> crate::Result<()> {
            self.inner.begin(rows, d, conditioner)
        }
        fn push(&mut self, row: ExplanationRow<'_>) -> crate::Result<()> {
            if self.rows.get() + 1 == self.fail_at {
                return Err(DataError::write(Path::new("expected.npy"), "disk full"));
            }
            self.rows.set(self.rows.get() + 1);
            self.inner.push(row)
        }
    }

    #[test]
    fn each_row_leaves_as_its_selection_is_made_and_a_failed_run_leaves_the_old_folder() {
        let dir = tempfile::tempdir().unwrap();
        let (path, _) = features(dir.path());
        let inputs = DiscoveryInputs {
            features: path,
            ..Default::default()
        };
        let out = dir.path().join("run");
        let old = run_discovery(
            &inputs,
            settings("none"),
            outputs(ExplanationFiles::Written),
            |_, _| {},
        )
        .unwrap();
        write_run(&out, &old.run).unwrap();
        let before = files(&out);
        let siblings = || {
            let mut names: Vec<String> = std::fs::read_dir(dir.path())
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
                .collect();
            names.sort();
            names
        };
        let untouched = siblings();
        for fail_at in [20, usize::MAX] {
            let rows = std::rc::Rc::new(std::cell::Cell::new(0));
            let mut writer = RunWriter::begin(&out).unwrap();
            let mut sink = Counting {
                inner: &mut writer,
                rows: rows.clone(),
                fail_at,
            };
            let result = run_discovery_into(
                &inputs,
                settings("centre+l2"),
                outputs(ExplanationFiles::Written),
                &mut sink,
                |done, _| {
                    // Each selection's row is handed on before the next selection is made.
                    assert_eq!(rows.get(), done);
                    if done == 10 {
                        // Mid-run: the old folder is whole, and the staging folder beside it
                        // holds no complete-looking array.
                        assert_eq!(files(&out), before);
                        let staging = std::fs::read_dir(dir.path())
                            .unwrap()
                            .map(|e| e.unwrap().path())
                            .find(|p| p.to_string_lossy().contains(".run.staging-"))
                            .expect("a staging folder beside the run");
                        let names: Vec<String> = files(&staging).into_keys().collect();
                        assert!(
                            names
                                .iter()
                                .all(|n| n.starts_with('.') && n.ends_with(".partial")),
                            "{names:?}"
                        );
                    }
                },
            );
            // A failed write stops the run; a finished run dropped unfinished (as when
            // --model-out cannot be written) is no run either.
            assert_eq!(result.is_err(), fail_at == 20);
            drop(writer);
            assert_eq!(files(&out), before, "the old run is whole");
            assert_eq!(siblings(), untouched, "no staging folder is left");
        }
    }
}

#[test]
fn a_run_array_whose_header_claims_terabytes_is_an_error_not_an_abort() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("expected.npy");
    // A valid .npy header claiming 10^12 x 4 f64 values over 16 bytes of data: ndarray_npy
    // alone would try to allocate 32 TB and abort the process.
    let mut header =
        "{'descr': '<f8', 'fortran_order': False, 'shape': (1000000000000, 4), }".to_string();
    while (10 + header.len() + 1) % 64 != 0 {
        header.push(' ');
    }
    header.push('\n');
    let mut bytes = b"\x93NUMPY\x01\x00".to_vec();
    bytes.extend((header.len() as u16).to_le_bytes());
    bytes.extend(header.as_bytes());
    bytes.extend([0u8; 16]);
    std::fs::write(&path, bytes).unwrap();
    let err = super::read_array::<f64, ndarray::Ix2>(&path)
        .unwrap_err()
        .to_string();
    assert!(err.contains("expected.npy"), "{err}");
}
