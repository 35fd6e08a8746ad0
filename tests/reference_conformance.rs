//! Golden test: `update(Brand).compat(Reference)` reproduces the reference DEMUD (wkiri/DEMUD)
//! item for item on UCI glass and ecoli. The reference selection orders and the data they were
//! computed on are fixtures in `tests/fixtures/uci` (provenance in its `LICENSE.md`); the test
//! fails, never skips, when they are missing.
//!
//! One step of one run is an exact tie (see [`KNOWN_TIES`]): there the reference's pick was
//! decided by its BLAS's rounding, which ours matches only with the same OpenBLAS kernel. At
//! that step alone, and only if the tie is verified under the engine's own model, a different
//! pick is accepted and the rest of that run is not compared.

use demud::scoring::exact_scores;
use demud::{Compatibility, DemudParams, Init, Scoring, UpdateMethod};
use std::path::{Path, PathBuf};

/// The eight reference runs: data set, k, init.
const RUNS: [(&str, usize, &str); 8] = [
    ("ecoli", 3, "0"),
    ("ecoli", 3, "svd"),
    ("ecoli", 6, "0"),
    ("ecoli", 6, "svd"),
    ("glass", 3, "0"),
    ("glass", 3, "svd"),
    ("glass", 5, "0"),
    ("glass", 5, "svd"),
];

/// Largest relative difference allowed between our score and the reference's.
const SCORE_TOLERANCE: f64 = 1e-6;

/// (run, rank) where the reference chose among items whose scores are equal in exact
/// arithmetic. `sel_ecoli_k6_init0`, rank 7: after six selections the model spans every
/// direction but the near-constant `lip` and `chg` features, so every remaining item with
/// `lip = 1.0, chg = 0.5` (182, 223, 251, 274, 279, 280, ...) has the same residual. The
/// reference took 251; this engine takes 251 with OpenBLAS's SkylakeX/Cooperlake kernels,
/// 279 with Prescott..Sandybridge, 223 with Haswell/Zen (`OPENBLAS_CORETYPE`).
const KNOWN_TIES: [(&str, usize); 1] = [("sel_ecoli_k6_init0_increm-brand", 7)];

/// Relative score difference below which two items count as tied (a few ulps apart in
/// practice; the next-best distinct score is orders of magnitude further).
const TIE_TOLERANCE: f64 = 1e-12;

/// How a run compared.
enum Outcome {
    /// Every selection and score agrees.
    Identical,
    /// Agrees up to a known, verified exact tie at this rank (not compared after it).
    TieAt(usize),
}

fn fixtures() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/uci");
    assert!(
        dir.join("reference").is_dir(),
        "the reference fixtures are missing: {} should hold glass.csv, ecoli.csv and \
         reference/sel_*.csv (see tests/fixtures/uci/LICENSE.md); they are part of the \
         repository, so restore them (git checkout -- tests/fixtures) rather than skip this test",
        dir.display()
    );
    dir
}

/// One row of a reference file.
struct Reference {
    rank: usize,
    index: usize,
    id: String,
    label: String,
    score: f64,
}

fn parse<T: std::str::FromStr>(field: &str, what: &str, at: &str) -> T {
    field
        .parse()
        .unwrap_or_else(|_| panic!("{at}: {what} {field:?} is not a number"))
}

fn read_reference(path: &Path) -> Vec<Reference> {
    let text = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("cannot read reference {}: {e}", path.display()));
    let mut lines = text.lines();
    let header = lines.next().unwrap_or_default();
    assert_eq!(
        header,
        "rank,item_index,item_id,label,score",
        "{}: unexpected header",
        path.display()
    );
    lines
        .enumerate()
        .map(|(i, line)| {
            let fields: Vec<&str> = line.split(',').collect();
            assert_eq!(fields.len(), 5, "{}, line {}", path.display(), i + 2);
            let at = format!("{}, line {}", path.display(), i + 2);
            Reference {
                rank: parse(fields[0], "rank", &at),
                index: parse(fields[1], "item_index", &at),
                id: fields[2].to_string(),
                label: fields[3].to_string(),
                score: parse(fields[4], "score", &at),
            }
        })
        .collect()
}

fn relative_difference(ours: f64, theirs: f64) -> f64 {
    if theirs == 0.0 {
        ours.abs()
    } else {
        (ours - theirs).abs() / theirs.abs()
    }
}

/// Runs one reference configuration; returns the first disagreement, if any.
fn check_run(uci: &Path, data: &str, k: usize, init: &str) -> Result<Outcome, String> {
    let name = format!("sel_{data}_k{k}_init{init}_increm-brand");
    let reference_path = uci.join("reference").join(format!("{name}.csv"));
    assert!(
        reference_path.is_file(),
        "reference fixture missing: {}",
        reference_path.display()
    );
    let reference = read_reference(&reference_path);

    let data_path = uci.join(format!("{data}.csv"));
    assert!(
        data_path.is_file(),
        "data fixture missing: {}",
        data_path.display()
    );
    let table = read_fixture(&data_path);
    let labels = &table.labels;
    let matrix = &table.matrix;
    assert_eq!(
        reference.len(),
        matrix.nrows(),
        "{name}: the reference selects every item of {data}.csv"
    );
    // The reference was computed on these very rows.
    for r in &reference {
        assert_eq!(
            (table.ids[r.index].as_str(), labels[r.index].as_str()),
            (r.id.as_str(), r.label.as_str()),
            "{name}: row {} of {data}.csv is not the reference's item",
            r.index
        );
    }

    let init = match init {
        "svd" => Init::Svd,
        index => Init::Index(index.parse().expect("init is svd or an index")),
    };
    let params = DemudParams::new(k)
        .init(init)
        .update(UpdateMethod::Brand)
        .compat(Compatibility::Reference);
    let mut discovery = params
        .discover(matrix.view())
        .unwrap_or_else(|e| panic!("{name}: {e}"));
    let mut active = vec![true; matrix.nrows()];
    for theirs in &reference {
        // The model that makes this selection (for the tie check).
        let model = discovery.model();
        let Some(ours) = discovery.next() else {
            return Err(format!(
                "{name}: the run stops before rank {}, the reference has {}",
                theirs.rank,
                reference.len()
            ));
        };
        let ours = ours.unwrap_or_else(|e| panic!("{name}, rank {}: {e}", theirs.rank));
        let rel = relative_difference(ours.score, theirs.score);
        if ours.rank != theirs.rank || rel.is_nan() || rel > SCORE_TOLERANCE {
            return Err(format!(
                "{name}: rank {} (our item {}, the reference's {}) scores {}, the reference {} \
                 (relative difference {rel:e})",
                theirs.rank, ours.index, theirs.index, ours.score, theirs.score
            ));
        }
        if ours.index != theirs.index {
            let known = KNOWN_TIES.contains(&(name.as_str(), theirs.rank));
            let scores =
                model.map(|m| exact_scores(matrix.view(), &active, &m, &Scoring::default()));
            let tied = scores.as_ref().is_some_and(|s| {
                relative_difference(s[theirs.index], s[ours.index]) <= TIE_TOLERANCE
            });
            if known && tied {
                return Ok(Outcome::TieAt(theirs.rank));
            }
            return Err(format!(
                "{name}: rank {} selects item {} (id {}), the reference item {} (id {}){}",
                theirs.rank,
                ours.index,
                table.ids[ours.index],
                theirs.index,
                theirs.id,
                match (&scores, known) {
                    (Some(s), true) => format!(
                        "; a known tie, but not one now: our scores {} and {}",
                        s[ours.index], s[theirs.index]
                    ),
                    _ => String::new(),
                }
            ));
        }
        active[ours.index] = false;
    }
    if let Some(extra) = discovery.next() {
        return Err(format!(
            "{name}: a selection beyond the reference's {}: {:?}",
            reference.len(),
            extra.map(|s| s.index)
        ));
    }
    Ok(Outcome::Identical)
}

#[test]
fn brand_with_reference_compatibility_reproduces_every_reference_run() {
    let uci = fixtures();

    // Every reference file is one of the runs checked below, and none is left out.
    let mut on_disk: Vec<String> = std::fs::read_dir(uci.join("reference"))
        .expect("readable reference folder")
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.ends_with(".csv"))
        .collect();
    on_disk.sort();
    let mut expected: Vec<String> = RUNS
        .iter()
        .map(|(data, k, init)| format!("sel_{data}_k{k}_init{init}_increm-brand.csv"))
        .collect();
    expected.sort();
    assert_eq!(
        on_disk, expected,
        "the reference fixtures are the eight runs"
    );

    let mut checked = 0;
    let mut failures = Vec::new();
    for (data, k, init) in RUNS {
        match check_run(&uci, data, k, init) {
            Ok(Outcome::Identical) => checked += 1,
            Ok(Outcome::TieAt(rank)) => {
                eprintln!(
                    "sel_{data}_k{k}_init{init}: identical up to the known exact tie at rank \
                     {rank}, which this BLAS breaks differently; not compared after it"
                );
                checked += 1;
            }
            Err(message) => failures.push(message),
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} reference runs differ:\n{}",
        failures.len(),
        RUNS.len(),
        failures.join("\n")
    );
    assert_eq!(checked, 8, "the eight reference runs");
}

/// A fixture data file: header `id,label,f0,...`, then one item per row.
struct Fixture {
    ids: Vec<String>,
    labels: Vec<String>,
    matrix: ndarray::Array2<f64>,
}

/// Reads a fixture with the csv crate alone: the engine's tests do not depend on the crates
/// built on the engine (the feature-file reader lives in demud-datasets, which depends on this
/// crate).
fn read_fixture(path: &Path) -> Fixture {
    let mut reader = csv::Reader::from_path(path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    let (mut ids, mut labels, mut values) = (Vec::new(), Vec::new(), Vec::new());
    let mut d = 0;
    for record in reader.records() {
        let record = record.unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        ids.push(record[0].to_string());
        labels.push(record[1].to_string());
        d = record.len() - 2;
        values.extend(record.iter().skip(2).map(|v| {
            v.parse::<f64>()
                .unwrap_or_else(|e| panic!("{}: {v:?}: {e}", path.display()))
        }));
    }
    let matrix = ndarray::Array2::from_shape_vec((ids.len(), d), values).expect("n x d values");
    Fixture {
        ids,
        labels,
        matrix,
    }
}
