//! Mapped `.npy` features and half-precision storage: a run on a mapped `f32` file or on its
//! `f16` conversion selects what the in-memory `f32` run selects; bad files and values are
//! refused by name.

use demud::{Conditioning, DemudParams, Init};
use demud_datasets::features::{
    convert_features, open_features, read_features, write_npy_features, FeatureMatrix,
    MappedPrecision, Store,
};
use demud_datasets::run::{
    run_discovery, DiscoveryInputs, DiscoveryOutputs, DiscoverySettings, ExplanationFiles,
    Finished, RankedFrom,
};
use demud_datasets::CsvLayout;
use ndarray::Array2;
use rand::{Rng, SeedableRng};
use std::path::{Path, PathBuf};

/// CNN-like non-negative features, multiples of 1/128 below 8: exact in f16.
fn features(n: usize, d: usize, seed: u64) -> Array2<f32> {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let base: Vec<f32> = (0..d).map(|_| rng.random::<f32>() * 2.0).collect();
    Array2::from_shape_fn((n, d), |(i, j)| {
        let planted = if i % 50 == 49 && j % 13 == i % 13 {
            3.0
        } else {
            0.0
        };
        let v = base[j] * rng.random::<f32>() + planted;
        (v * 128.0).round() / 128.0
    })
}

fn write_f32(dir: &Path, x: &Array2<f32>) -> PathBuf {
    let path = dir.join("f32.npy");
    let ids: Vec<String> = (0..x.nrows()).map(|i| format!("item-{i}")).collect();
    write_npy_features(&path, &ids, None, x).unwrap();
    path
}

fn discover(features: &Path, conditioning: Conditioning, init: Init) -> Finished {
    run_discovery(
        &DiscoveryInputs {
            features: features.to_path_buf(),
            ..Default::default()
        },
        DiscoverySettings {
            params: DemudParams::new(6).init(init).n_select(60),
            k: Some(6),
            conditioning: Some(conditioning),
        },
        DiscoveryOutputs {
            top_features: 2,
            explanations: ExplanationFiles::Written,
        },
        |_, _| {},
    )
    .unwrap()
}

fn picks(finished: &Finished) -> Vec<(usize, f64)> {
    let rows = &finished.run.selections;
    rows.iter().map(|s| (s.index, s.score)).collect()
}

#[test]
fn mapped_f32_and_f16_files_select_what_the_in_memory_f32_run_selects() {
    let dir = tempfile::tempdir().unwrap();
    let x = features(400, 48, 3);
    let f32_path = write_f32(dir.path(), &x);
    let f16_path = dir.path().join("f16.npy");
    let converted = convert_features(&f32_path, None, &f16_path, Store::F16).unwrap();
    assert_eq!((converted.items, converted.features), (400, 48));
    // Half the bytes of values (plus the 128-byte header).
    assert_eq!(converted.bytes, 128 + 400 * 48 * 2);
    // The ids came along in the items file.
    let table = open_features(&f16_path, CsvLayout::default(), None).unwrap();
    assert_eq!(table.ids[7], "item-7");
    match &table.matrix {
        FeatureMatrix::Mapped(m) => assert_eq!(m.precision(), MappedPrecision::F16),
        other => panic!("not mapped: {}", other.precision()),
    }
    assert_eq!(table.matrix.to_f64(), x.mapv(f64::from));
    // The in-memory reference: the f32 file read, not mapped.
    let in_memory = read_features(&f32_path, CsvLayout::default(), None).unwrap();
    assert!(matches!(in_memory.matrix, FeatureMatrix::F32(_)));

    for init in [Init::Svd, Init::Mean, Init::Index(3)] {
        for conditioning in [Conditioning::none(), Conditioning::recommended()] {
            let copy = !conditioning.is_none();
            let mapped32 = discover(&f32_path, conditioning.clone(), init.clone());
            let mapped16 = discover(&f16_path, conditioning.clone(), init.clone());
            // The in-memory run: the same values as a CSV-free owned f32 matrix, through the
            // engine directly with the same conditioning.
            let owned = match &in_memory.matrix {
                FeatureMatrix::F32(a) => a.clone(),
                _ => unreachable!(),
            };
            let conditioner = conditioning.fit(owned.view()).unwrap();
            let data = conditioner.transform(owned.view()).unwrap();
            let reference: Vec<(usize, f64)> = DemudParams::new(6)
                .init(init.clone())
                .n_select(60)
                .discover(data.view())
                .unwrap()
                .map(|s| s.unwrap())
                .map(|s| (s.index, s.score))
                .collect();
            for (name, run) in [("mapped f32", &mapped32), ("mapped f16", &mapped16)] {
                let got = picks(run);
                let order: Vec<usize> = got.iter().map(|p| p.0).collect();
                let want: Vec<usize> = reference.iter().map(|p| p.0).collect();
                assert_eq!(order, want, "{name}, {init:?}, copy {copy}");
                for ((_, a), (_, b)) in got.iter().zip(&reference) {
                    assert!(
                        (a - b).abs() <= 1e-9 * b.abs().max(1e-12),
                        "{name}: {a} vs {b}"
                    );
                }
                let expected = match (copy, name) {
                    (false, _) => RankedFrom::MappedFile,
                    (true, _) => RankedFrom::ConditionedCopy {
                        bytes: 400 * 48 * 4,
                        of_mapped: true,
                    },
                };
                assert_eq!(run.ranked_from, expected, "{name}");
            }
            let e32 = mapped32.run.explanations.as_ref().unwrap();
            let e16 = mapped16.run.explanations.as_ref().unwrap();
            assert_eq!(e32.residual, e16.residual);
            assert_eq!(e32.expected, e16.expected);
        }
    }
}

#[test]
fn a_bad_f16_file_is_refused_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let x = features(20, 8, 1);
    let f32_path = write_f32(dir.path(), &x);
    let good = dir.path().join("good.npy");
    convert_features(&f32_path, None, &good, Store::F16).unwrap();
    let bytes = std::fs::read(&good).unwrap();
    let check = |name: &str, content: &[u8], piece: &str| {
        let path = dir.path().join(name);
        std::fs::write(&path, content).unwrap();
        for err in [
            open_features(&path, CsvLayout::default(), None).unwrap_err(),
            read_features(&path, CsvLayout::default(), None).unwrap_err(),
        ] {
            let message = err.to_string();
            assert!(
                message.contains(name) && message.contains(piece),
                "{name}: {message}"
            );
        }
    };
    // Truncated: the header claims 20 x 8 halves.
    check(
        "truncated.npy",
        &bytes[..bytes.len() - 6],
        "20 x 8 f16 values (320 bytes), but the file holds 314 bytes",
    );
    // Another descriptor: big-endian halves, and 2-byte integers.
    let at = bytes.windows(4).position(|w| w == b"'<f2").unwrap();
    let with = |descr: &[u8; 3]| {
        let mut changed = bytes.clone();
        changed[at + 1..at + 4].copy_from_slice(descr);
        changed
    };
    check("big-endian.npy", &with(b">f2"), "\">f2\"");
    check("ints.npy", &with(b"<i2"), "\"<i2\"");
}

#[test]
fn values_beyond_f16_are_refused_by_item_and_feature_and_tiny_ones_flushed_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    for value in [70000.0_f32, -1e30] {
        let piece = "overflows f16, whose largest value is 65504";
        let mut x = features(30, 5, 2);
        x[(17, 3)] = value;
        let f32_path = write_f32(dir.path(), &x);
        let out = dir.path().join("out.npy");
        let message = convert_features(&f32_path, None, &out, Store::F16)
            .unwrap_err()
            .to_string();
        assert!(
            message.contains("f32.npy")
                && message.contains("item \"item-17\" (row 18), feature \"f3\"")
                && message.contains(piece),
            "{message}"
        );
        assert!(!out.exists());
        let leftovers: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.ends_with(".partial"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }
    // The largest f16 and a value just inside the subnormal range are kept; values below
    // 2^-25 are written as 0, counted, the first named.
    let mut x = features(30, 5, 2);
    x[(0, 0)] = 65504.0;
    x[(1, 1)] = 1e-7;
    x[(4, 2)] = 1e-9;
    x[(9, 0)] = -2e-8;
    let f32_path = write_f32(dir.path(), &x);
    let out = dir.path().join("out.npy");
    let converted = convert_features(&f32_path, None, &out, Store::F16).unwrap();
    assert_eq!(converted.flushed, 2);
    assert_eq!(
        converted.first_flushed,
        Some(("item-4".into(), "f2".into(), f64::from(1e-9_f32)))
    );
    let back = open_features(&out, CsvLayout::default(), None)
        .unwrap()
        .matrix
        .to_f64();
    assert_eq!(back[(0, 0)], 65504.0);
    assert!((back[(1, 1)] - 1e-7).abs() < 3e-8);
}
