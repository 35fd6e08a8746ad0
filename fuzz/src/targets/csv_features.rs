//! The CSV feature reader: `read_csv` under every layout, and `read_features`.

use super::{ids, interesting_value, same, Checks, Target};
use crate::mutate::{mutate_csv, Mutator};
use demud_datasets::features::{read_csv, read_features, write_csv_features};
use demud_datasets::{CsvLayout, Detect, FeatureMatrix};
use ndarray::Array2;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::path::Path;

/// `read_csv` (nine layouts: header and label column each auto, yes, no) and `read_features`.
pub struct CsvTarget;

const LAYOUTS: [Detect; 3] = [Detect::Auto, Detect::Yes, Detect::No];

/// Files in the reference DEMUD's layouts and the shapes the layout detection doubts, beside
/// the writer's own.
const HAND_WRITTEN: &[&str] = &[
    "#400,500,600\nimg1.jpg,1,2,3\n# a note\nimg2.jpg,4,5,6\n",
    "a,1,0.5,2.25\nb,2,0.1,3.5\nc,1,0.7,1.0\nd,2,0.2,0.5\n",
    "id,class,x\na,1,0.5\nb,2,0.25\n",
    "x,cat,1,nan\ny,dog,?,2\nz,cat,NA,\n",
];

impl Target for CsvTarget {
    fn name(&self) -> &'static str {
        "csv"
    }

    fn file_name(&self) -> &'static str {
        "input.csv"
    }

    fn prepare(&self, dir: &Path, rng: &mut ChaCha8Rng) -> Result<Vec<Vec<u8>>, String> {
        let mut seeds = Vec::new();
        for (i, (n, d)) in [(1, 1), (3, 2), (5, 4), (2, 8), (4, 3)]
            .into_iter()
            .enumerate()
        {
            let ids = ids(rng, n, "item");
            let labels: Option<Vec<String>> = (i % 2 == 1).then(|| {
                (0..n)
                    .map(|j| ["cat", "1", "a b", "\"q\""][j % 4].to_string())
                    .collect()
            });
            let names: Vec<String> = (0..d)
                .map(|j| {
                    ["x", "wave length", "b,c", "é", "f_2"][j % 5].to_string() + &"'".repeat(j / 5)
                })
                .collect();
            let values = Array2::from_shape_fn((n, d), |_| interesting_value(rng));
            let path = dir.join(format!("seed-{i}.csv"));
            write_csv_features(&path, &ids, labels.as_deref(), &names, values.view())
                .map_err(|e| e.to_string())?;
            let back = read_csv(&path, CsvLayout::default()).map_err(|e| e.to_string())?;
            let FeatureMatrix::F64(read) = &back.matrix else {
                return Err(format!("{}: a CSV was not read in f64", path.display()));
            };
            let exact = back.ids == ids
                && back.labels == labels
                && back.feature_names == names
                && read.dim() == values.dim()
                && read.iter().zip(&values).all(|(a, b)| same(*a, *b));
            if !exact {
                return Err(format!(
                    "{}: the writer's CSV did not read back as written",
                    path.display()
                ));
            }
            seeds.push(std::fs::read(&path).map_err(|e| e.to_string())?);
        }
        seeds.extend(HAND_WRITTEN.iter().map(|t| t.as_bytes().to_vec()));
        // One seed of many rows, so that mutations meet longer files too.
        let n = 40 + rng.random_range(0..20);
        let big = Array2::from_shape_fn((n, 3), |_| interesting_value(rng));
        let path = dir.join("seed-big.csv");
        let names = ["a".to_string(), "b".into(), "c".into()];
        write_csv_features(&path, &ids(rng, n, "row"), None, &names, big.view())
            .map_err(|e| e.to_string())?;
        seeds.push(std::fs::read(&path).map_err(|e| e.to_string())?);
        Ok(seeds)
    }

    fn tokens(&self) -> &'static [&'static str] {
        &[
            "id", "label", "class", "Label", "#", "# ", "nan", "NA", "N/A", "?", "\"", "\"\"",
            ",,", "\r\n", "\n\n", "inf", "1e309",
        ]
    }

    fn mutate(&self, m: &mut Mutator, input: &[u8]) -> Vec<u8> {
        mutate_csv(m, input, self.tokens())
    }

    fn check(&self, input: &Path) -> Checks {
        let mut checks = Checks::default();
        let default = checks.read(read_csv(input, CsvLayout::default()), &[input]);
        if let Some(table) = default {
            checks.table(&table, true, "read_csv");
        }
        for header in LAYOUTS {
            for label_column in LAYOUTS {
                let layout = CsvLayout {
                    header,
                    label_column,
                };
                if let Some(table) = checks.read(read_csv(input, layout), &[input]) {
                    checks.table(&table, true, &format!("read_csv with {layout:?}"));
                    let labelled = table.labels.is_some();
                    match label_column {
                        Detect::Yes => checks.require(labelled, || {
                            format!("{layout:?}: no labels although asked for")
                        }),
                        Detect::No => checks.require(!labelled, || {
                            format!("{layout:?}: labels although told there are none")
                        }),
                        Detect::Auto => {}
                    }
                }
            }
        }
        if let Some(table) = checks.read(read_features(input, CsvLayout::default(), None), &[input])
        {
            checks.table(&table, true, "read_features");
            checks.unique_ids(&table, "read_features");
        }
        checks
    }
}
