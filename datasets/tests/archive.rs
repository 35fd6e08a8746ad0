//! The archive of a downlink loop: ranking day t + 1 against days 1..t folded in one by one
//! makes exactly the selections of DEMUD with all earlier days as the prior; folds that would
//! count a batch twice, or batches seen another way, are refused and change nothing.

use demud::{Compatibility, DemudParams, UpdateMethod};
use demud_datasets::archive::{Archive, ArchiveSettings};
use demud_datasets::features::{read_features, write_npy_features};
use demud_datasets::run::{
    default_conditioning_of, run_discovery, DiscoveryInputs, DiscoveryOutputs, DiscoverySettings,
    ExplanationFiles, Finished, Review,
};
use demud_datasets::CsvLayout;
use ndarray::{concatenate, Array2, Axis};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

const D: usize = 24;

/// A day's downlink: items around a few shared directions, plus day-specific novelties.
fn day(seed: u64, n: usize) -> Array2<f32> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    Array2::from_shape_fn((n, D), |(i, j)| {
        let base = ((j % 4) as f32 + 1.0) * rng.random::<f32>();
        let novel = if i % 9 == (seed as usize) % 9 && j == (seed as usize * 5) % D {
            4.0
        } else {
            0.0
        };
        base + novel + 0.1
    })
}

fn write_day(dir: &Path, name: &str, values: &Array2<f32>) -> PathBuf {
    let path = dir.join(format!("{name}.npy"));
    let ids: Vec<String> = (0..values.nrows()).map(|i| format!("{name}-{i}")).collect();
    write_npy_features(&path, &ids, None, values).unwrap();
    path
}

fn create(dir: &Path, name: &str, features: &Path) -> demud_datasets::Result<Archive> {
    let table = read_features(features, CsvLayout::default(), None).unwrap();
    Archive::create(dir, settings(features), name, &table, None)
}

fn settings(features: &Path) -> ArchiveSettings {
    ArchiveSettings {
        k: 5,
        update: UpdateMethod::Brand,
        conditioning: default_conditioning_of(features, Compatibility::Clean, false, None),
    }
}

fn discover(inputs: DiscoveryInputs, k: Option<usize>) -> Finished {
    run_discovery(
        &inputs,
        DiscoverySettings {
            params: DemudParams::new(5).n_select(15),
            k,
            conditioning: None,
        },
        DiscoveryOutputs {
            top_features: 3,
            explanations: ExplanationFiles::Written,
        },
        |_, _| {},
    )
    .unwrap()
}

fn picks(finished: &Finished) -> Vec<(usize, f64)> {
    finished
        .run
        .selections
        .iter()
        .map(|s| (s.index, s.score))
        .collect()
}

#[test]
fn ranking_against_the_archive_equals_discover_with_every_earlier_day_as_prior() {
    let tmp = tempfile::tempdir().unwrap();
    let days: Vec<Array2<f32>> = (1..=4).map(|s| day(s, 40 + 7 * s as usize)).collect();
    let files: Vec<PathBuf> = days
        .iter()
        .enumerate()
        .map(|(t, v)| write_day(tmp.path(), &format!("day{}", t + 1), v))
        .collect();
    let dir = tmp.path().join("archive");
    let mut archive = create(&dir, "day1", &files[0]).unwrap();
    for t in 1..days.len() {
        // Day t + 1 ranked against days 1..t.
        let table = read_features(&files[t], CsvLayout::default(), None).unwrap();
        let name = format!("day{}", t + 1);
        let batch = archive.stage(&name, &table, None).unwrap();
        let against_archive = discover(
            DiscoveryInputs {
                features: batch,
                model_in: Some(archive.model_path()),
                ..Default::default()
            },
            None,
        );
        let earlier: Vec<_> = days[..t].iter().map(|d| d.view()).collect();
        let prior = write_day(
            tmp.path(),
            &format!("prior{t}"),
            &concatenate(Axis(0), &earlier).unwrap(),
        );
        let with_prior = discover(
            DiscoveryInputs {
                features: files[t].clone(),
                prior: Some(prior),
                ..Default::default()
            },
            Some(5),
        );
        // The same items in the same order; the scores agree to rounding (the saved model's
        // basis is read back in another memory order, so BLAS sums in another order).
        let (ours, theirs) = (picks(&against_archive), picks(&with_prior));
        assert_eq!(ours.len(), 15);
        for (a, b) in ours.iter().zip(&theirs) {
            assert_eq!(a.0, b.0, "day {}: {ours:?} vs {theirs:?}", t + 1);
            assert!((a.1 - b.1).abs() <= 1e-12 * b.1, "day {}", t + 1);
        }
        let folded = archive.fold(&name).unwrap();
        assert_eq!(
            folded.total,
            days[..=t].iter().map(|d| d.nrows()).sum::<usize>()
        );
    }
    let reopened = Archive::open(&dir).unwrap();
    assert_eq!(reopened.record().batches.len(), 4);
    assert_eq!(
        reopened.folded_items().unwrap().ids.len(),
        reopened.record().n_items()
    );
}

#[test]
fn seen_items_continue_the_ranking_with_them_in_the_model() {
    let tmp = tempfile::tempdir().unwrap();
    let first = write_day(tmp.path(), "day1", &day(1, 50));
    let second = write_day(tmp.path(), "day2", &day(2, 45));
    let archive = create(&tmp.path().join("a"), "day1", &first).unwrap();
    let ranked = |review: Review| {
        discover(
            DiscoveryInputs {
                features: second.clone(),
                model_in: Some(archive.model_path()),
                review,
                ..Default::default()
            },
            None,
        )
    };
    let before = ranked(Review::default());
    let top: Vec<String> = before.run.selections[..3]
        .iter()
        .map(|s| s.id.clone())
        .collect();
    let after = ranked(Review {
        seen: top.clone(),
        ..Default::default()
    });
    // The reviewed items are not shown again, and the rest are ranked by a model that has
    // seen them: the scores of the others can only fall.
    assert!(after.run.selections.iter().all(|s| !top.contains(&s.id)));
    assert_eq!(after.run.record.review.as_ref().unwrap().seen, top);
    let first_after = &after.run.selections[0];
    let same_before = before
        .run
        .selections
        .iter()
        .find(|s| s.id == first_after.id)
        .unwrap();
    assert!(first_after.score <= same_before.score * (1.0 + 1e-9));
}

#[test]
fn a_batch_is_folded_once_and_an_interrupted_fold_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let first = write_day(tmp.path(), "day1", &day(1, 30));
    let second = write_day(tmp.path(), "day2", &day(2, 30));
    let dir = tmp.path().join("archive");
    let mut archive = create(&dir, "day1", &first).unwrap();
    let table = read_features(&second, CsvLayout::default(), None).unwrap();

    // An interrupted fold: the new model cannot be written.
    archive.stage("day2", &table, None).unwrap();
    // The same batch ranked twice under two names before either was folded.
    archive.stage("day2-copy", &table, None).unwrap();
    let record_before = std::fs::read(dir.join("archive.json")).unwrap();
    std::fs::create_dir(dir.join("model-0002.json")).unwrap();
    assert!(archive.fold("day2").is_err());
    assert_eq!(
        std::fs::read(dir.join("archive.json")).unwrap(),
        record_before
    );
    assert_eq!(Archive::open(&dir).unwrap().record().batches.len(), 1);
    std::fs::remove_dir(dir.join("model-0002.json")).unwrap();

    archive.fold("day2").unwrap();
    let twice = archive.fold("day2").unwrap_err().to_string();
    assert!(twice.contains("folded into the archive already"), "{twice}");
    // The same content under another name.
    let err = archive
        .stage("day2-again", &table, None)
        .unwrap_err()
        .to_string();
    assert!(
        err.contains("features of batch \"day2\", folded already"),
        "{err}"
    );
    assert!(!archive.batch_features("day2-again").exists());
    let err = archive.fold("day2-copy").unwrap_err().to_string();
    assert!(err.contains("same features as batch \"day2\""), "{err}");
    // Another number of features.
    let narrow = write_day(tmp.path(), "narrow", &Array2::ones((5, D - 1)));
    let narrow = read_features(&narrow, CsvLayout::default(), None).unwrap();
    let err = archive
        .stage("narrow", &narrow, None)
        .unwrap_err()
        .to_string();
    assert!(err.contains("23 features per item"), "{err}");
    // Not an archive; an existing archive is not created over.
    let err = Archive::open(tmp.path()).unwrap_err().to_string();
    assert!(err.contains("not an archive folder"), "{err}");
    let err = create(&dir, "x", &first).unwrap_err().to_string();
    assert!(err.contains("not empty"), "{err}");
    assert_eq!(Archive::open(&dir).unwrap().record().batches.len(), 2);
}
