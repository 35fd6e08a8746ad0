//! The items reader: `read_items`, the same file as the items of a `.npy`
//! (`read_npy_with_items`, with its fingerprint check), and as a labels file
//! (`FeatureTable::attach_labels`).

use super::{Checks, Target};
use crate::mutate::{mutate_csv, Mutator};
use demud_datasets::features::{items_path, read_items, read_npy_with_items, write_npy_features};
use demud_datasets::{FeatureMatrix, FeatureTable};
use ndarray::Array2;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::path::{Path, PathBuf};

/// `read_items`, `read_npy_with_items` and `attach_labels` on an items CSV.
pub struct ItemsTarget;

/// The `.npy` the input is the items file of (three rows).
const FEATURES: &str = "features.npy";

const HAND_WRITTEN: &[&str] = &[
    "id,label\na,x\nb,y\nc,z\n",
    "a\nb\nc\n",
    "id\nc\nb\na\n",
    "ID,Label\n\"a,1\",\"x \"\"y\"\"\"\nb,\nc,z\n",
    "c,z\na,x\nb,y\na,w\n",
];

fn features(input: &Path) -> PathBuf {
    input.with_file_name(FEATURES)
}

impl Target for ItemsTarget {
    fn name(&self) -> &'static str {
        "items"
    }

    fn file_name(&self) -> &'static str {
        "input.csv"
    }

    fn prepare(&self, dir: &Path, rng: &mut ChaCha8Rng) -> Result<Vec<Vec<u8>>, String> {
        let write = |path: &Path, n: usize, labelled: bool, rng: &mut ChaCha8Rng| {
            let ids: Vec<String> = ["a", "b", "c", "d", "e"][..n]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let labels: Vec<String> = ["x", "y", "z", "w", "v"][..n]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let matrix = Array2::from_shape_fn((n, 2), |_| rng.random::<f32>());
            write_npy_features(path, &ids, labelled.then_some(&labels[..]), &matrix)
                .map_err(|e| e.to_string())?;
            let table =
                read_npy_with_items(path, Some(&items_path(path))).map_err(|e| e.to_string())?;
            if table.ids != ids || table.labels != labelled.then_some(labels) {
                return Err(format!(
                    "{}: the items did not read back as written",
                    path.display()
                ));
            }
            std::fs::read(items_path(path)).map_err(|e| e.to_string())
        };
        // The first seed is the items file of the `.npy` the checks read with it, so that its
        // fingerprint matches; the others were written for other arrays.
        let mut seeds = vec![write(&dir.join(FEATURES), 3, true, rng)?];
        let seeds_dir = dir.join("seeds");
        std::fs::create_dir_all(&seeds_dir).map_err(|e| e.to_string())?;
        for (i, (n, labelled)) in [(3, false), (2, true), (5, false)].into_iter().enumerate() {
            seeds.push(write(
                &seeds_dir.join(format!("seed-{i}.npy")),
                n,
                labelled,
                rng,
            )?);
        }
        seeds.extend(HAND_WRITTEN.iter().map(|t| t.as_bytes().to_vec()));
        Ok(seeds)
    }

    fn tokens(&self) -> &'static [&'static str] {
        &[
            "# demud-features",
            "size=",
            "xxh3=",
            " ",
            "id",
            "ID",
            "label",
            ",",
            "\"",
            "#",
            "\r",
            "a",
            "b",
            "c",
        ]
    }

    fn mutate(&self, m: &mut Mutator, input: &[u8]) -> Vec<u8> {
        mutate_csv(m, input, self.tokens())
    }

    fn check(&self, input: &Path) -> Checks {
        let mut checks = Checks::default();
        if let Some(rows) = checks.read(read_items(input), &[input]) {
            checks.require(rows.iter().all(|r| r.line >= 1), || {
                "a row on line 0".into()
            });
            checks.require(rows.windows(2).all(|p| p[0].line <= p[1].line), || {
                "rows out of line order".into()
            });
        }
        let npy = features(input);
        if let Some(table) = checks.read(read_npy_with_items(&npy, Some(input)), &[input, &npy]) {
            checks.table(&table, false, "read_npy_with_items");
            checks.require(table.ids.len() == 3, || {
                format!("{} ids for a 3-row array", table.ids.len())
            });
        }
        let mut table = FeatureTable {
            ids: vec!["a".into(), "b".into(), "c".into()],
            labels: None,
            feature_names: vec!["f0".into()],
            matrix: FeatureMatrix::F64(Array2::zeros((3, 1))),
        };
        if checks.read(table.attach_labels(input), &[input]).is_some() {
            checks.require(table.labels.as_ref().is_some_and(|l| l.len() == 3), || {
                "attach_labels did not label every item".into()
            });
        }
        checks
    }
}
