//! `demud ood`: every COOD out-of-distribution measure and DEMUD's reconstruction error for an
//! ID test set and OOD sets, their random-forest combination, and the detection metrics as a
//! table and a ROC plot.

use crate::args::OodArgs;
use crate::ui::{extract_spec, Verbosity};
use anyhow::{bail, Context, Result};
use demud::ood::{Category, ForestParams, ForestSplit, LinearHead, LogisticParams, Task, Taxonomy};
use demud::Conditioning;
use demud_datasets::atomic::{commit_folder, ensure_outside, write_atomic};
use demud_datasets::extraction::{read_extraction_record, ExtractionRecord};
use demud_datasets::features::{read_features, read_npy, FeatureMatrix, FeatureTable};
use demud_datasets::hierarchy::read_hierarchy;
use demud_datasets::images::ImageCollection;
use demud_datasets::ood_tables::{
    write_metrics, write_scores, Direction, MetricsRow, ScoreRow, ScoreTable, Split, METRICS_FILE,
    SCORES_FILE,
};
use demud_datasets::CsvLayout;
use demud_encoders::ExtractorSpec;
use demud_report::charts::{roc_chart, RocSeries};
use ndarray::{Array1, Array2};
use std::path::{Path, PathBuf};
use std::time::Instant;

/// A set of query items: its name, ids, features and (for ID test items) class labels.
struct QuerySet {
    name: String,
    ids: Vec<String>,
    values: Array2<f64>,
}

/// Features with labels (the file's own, or `labels` matched by id).
fn labelled(path: &Path, labels: Option<&Path>) -> Result<FeatureTable> {
    let mut table = read_features(path, CsvLayout::default(), None)?;
    if let Some(labels) = labels {
        table.attach_labels(labels)?;
    }
    if table.labels.is_none() {
        bail!(
            "{}: no labels (give a label column, an items file with labels, or --train-labels / --test-labels)",
            path.display()
        );
    }
    Ok(table)
}

/// `NAME=FILE` or `FILE` (named by its stem).
fn ood_spec(spec: &str) -> (String, PathBuf) {
    match spec.split_once('=') {
        Some((name, file)) if !name.is_empty() && !name.contains('/') => {
            (name.to_string(), PathBuf::from(file))
        }
        _ => {
            let path = PathBuf::from(spec);
            let name = path
                .file_stem()
                .map(|s| s.to_string_lossy().trim_end_matches(".npy").to_string())
                .unwrap_or_else(|| spec.to_string());
            (name, path)
        }
    }
}

/// An OOD set given as a folder of images: its features, made as the training features were
/// (the network, layer and preprocessing of their extraction record).
fn extract_folder(
    folder: &Path,
    train: &Path,
    made_by: Option<&ExtractionRecord>,
    quiet: bool,
) -> Result<FeatureTable> {
    let Some(record) = made_by else {
        bail!(
            "--ood {}: a folder of images needs training features that `demud extract` made (their record names the network); {} has none",
            folder.display(),
            train.display()
        );
    };
    let spec = ExtractorSpec::from_record(record, None)?;
    let collection = ImageCollection::from_folder(folder)?;
    let (extraction, _) = extract_spec(&spec, &collection, Verbosity::from_quiet(quiet))?;
    let Some(features) = extraction.features.first() else {
        bail!(
            "--ood {}: {} makes no features",
            folder.display(),
            record.kind
        );
    };
    if extraction.kept.is_empty() {
        bail!("--ood {}: no image there could be read", folder.display());
    }
    Ok(FeatureTable {
        ids: extraction.ids(),
        labels: None,
        feature_names: (0..features.ncols()).map(|j| format!("f{j}")).collect(),
        matrix: FeatureMatrix::F32(features.clone()),
    })
}

/// A `.npy` as f64.
fn npy_f64(path: &Path) -> Result<Array2<f64>> {
    let m = read_npy(path)?;
    Ok(m.to_f64())
}

/// `demud ood`.
pub fn run(args: &OodArgs) -> Result<()> {
    let started = Instant::now();
    let train = labelled(&args.train, args.train_labels.as_deref())?;
    let test = labelled(&args.test, args.test_labels.as_deref())?;
    let mut inputs: Vec<PathBuf> = vec![args.train.clone(), args.test.clone()];
    let oods: Vec<(String, PathBuf)> = args.ood.iter().map(|s| ood_spec(s)).collect();
    inputs.extend(oods.iter().map(|(_, p)| p.clone()));
    let input_refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    ensure_outside(&args.out, &input_refs)?;

    // Classes: the training labels, sorted.
    let train_labels = train.labels.as_ref().expect("checked");
    let mut classes: Vec<String> = train_labels.clone();
    classes.sort();
    classes.dedup();
    if classes.len() < 2 {
        bail!(
            "{}: the training set has {} class; the measures need at least two",
            args.train.display(),
            classes.len()
        );
    }
    let class_of = |label: &str| classes.binary_search_by(|c| c.as_str().cmp(label)).ok();
    let y_train: Vec<usize> = train_labels
        .iter()
        .map(|l| class_of(l).expect("a training class"))
        .collect();
    let test_labels = test.labels.as_ref().expect("checked");
    let d = train.matrix.dim().1;
    let x_train = train.matrix.to_f64();

    let mut sets = vec![QuerySet {
        name: "id-test".to_string(),
        ids: test.ids.clone(),
        values: test.matrix.to_f64(),
    }];
    // Features made another way (another network, layer or view) than the training features
    // would be told apart for the wrong reason.
    let made_by = read_extraction_record(&args.train)?;
    let same_view = |path: &Path, option: &str| -> Result<()> {
        if let (Some(ours), Some(theirs)) = (&made_by, read_extraction_record(path)?) {
            ours.check_same_view(
                &theirs,
                &args.train.display().to_string(),
                &path.display().to_string(),
            )
            .map_err(|why| {
                anyhow::anyhow!(
                    "{option} {}: made another way than the training features: {why}",
                    path.display()
                )
            })?;
        }
        Ok(())
    };
    same_view(&args.test, "--test")?;
    for (name, path) in &oods {
        let table = if path.is_dir() {
            extract_folder(path, &args.train, made_by.as_ref(), args.quiet)?
        } else {
            same_view(path, "--ood")?;
            read_features(path, CsvLayout::default(), None)?
        };
        sets.push(QuerySet {
            name: name.clone(),
            ids: table.ids.clone(),
            values: table.matrix.to_f64(),
        });
    }
    for (set, path) in sets
        .iter()
        .zip(std::iter::once(&args.test).chain(oods.iter().map(|(_, p)| p)))
    {
        if set.values.ncols() != d {
            bail!(
                "{}: {} features, but the training set ({}) has {d}",
                path.display(),
                set.values.ncols(),
                args.train.display()
            );
        }
    }

    let head = head_for(
        args.head.as_deref().zip(args.head_bias.as_deref()),
        args.head_alpha,
        x_train.view(),
        &y_train,
        classes.len(),
    )?;
    let taxonomy = match &args.hierarchy {
        Some(path) => {
            let table = read_hierarchy(path)?;
            Some(
                Taxonomy::for_classes(&classes, &table)
                    .with_context(|| path.display().to_string())?,
            )
        }
        None => None,
    };
    let conditioning = match args.conditioning.as_str() {
        "auto" if is_npy(&args.train) => Conditioning::recommended(),
        "auto" => Conditioning::none(),
        other => other
            .parse::<Conditioning>()
            .map_err(|e| anyhow::anyhow!("--conditioning {other}: {e}"))?,
    };
    let params = args
        .measures
        .params()
        .temperature(args.temperature)
        .conditioning(conditioning)
        .forest(ForestParams::default().trees(args.trees).seed(args.seed))
        .forest_split(match args.forest_fraction {
            Some(fraction) => ForestSplit::Holdout { fraction },
            None => ForestSplit::CrossFit {
                folds: args.forest_folds,
            },
        })
        .seed(args.seed);
    let model = params
        .fit(x_train.view(), &y_train, head, taxonomy)
        .map_err(|e| anyhow::anyhow!("{e}").context(option_hint("demud ood", &e.to_string())))?;

    // Measures of every query set, one table; categories from the head's predictions.
    let mut table: Option<demud::ood::MeasureTable> = None;
    let mut categories = Vec::new();
    let mut rows_of = Vec::new();
    for (s, set) in sets.iter().enumerate() {
        let t = model.measures(set.values.view())?;
        for (i, &pred) in t.predicted.iter().enumerate() {
            categories.push(if s > 0 {
                Category::Ood
            } else if class_of(&test_labels[i]) == Some(pred) {
                Category::IdCorrect
            } else {
                Category::IdIncorrect
            });
            rows_of.push((s, i));
        }
        table = Some(match table {
            None => t,
            Some(all) => all.concat(&t)?,
        });
    }
    let table = table.expect("at least the ID test set");
    let evaluation = params
        .evaluate(&table, &categories)
        .map_err(|e| anyhow::anyhow!("{e}").context(option_hint("demud ood", &e.to_string())))?;
    let seconds = started.elapsed().as_secs_f64();

    let markdown = markdown_table(&evaluation, &table, &categories, seconds);
    commit_folder(&args.out, |dir| -> Result<()> {
        write_scores(
            &dir.join(SCORES_FILE),
            &ScoreTable {
                measures: table
                    .measures
                    .iter()
                    .map(|m| m.name().to_string())
                    .collect(),
                rows: rows_of
                    .iter()
                    .enumerate()
                    .map(|(r, &(s, i))| ScoreRow {
                        set: sets[s].name.clone(),
                        id: sets[s].ids[i].clone(),
                        label: if s == 0 {
                            test_labels[i].clone()
                        } else {
                            String::new()
                        },
                        category: categories[r].name().to_string(),
                        predicted: classes[table.predicted[r]].clone(),
                        split: match (args.forest_fraction, evaluation.scored[r]) {
                            (None, _) => Split::OutOfFold,
                            (Some(_), true) => Split::Evaluation,
                            (Some(_), false) => Split::Forest,
                        },
                        values: table.values.row(r).to_vec(),
                        forest: evaluation.forest_scores[r],
                    })
                    .collect(),
            },
        )?;
        let metrics: Vec<MetricsRow> = evaluation
            .rows
            .iter()
            .map(|row| MetricsRow {
                task: row.task.name().to_string(),
                measure: row.name().to_string(),
                // The forest's score is a vote share for OOD: higher is more out.
                direction: Direction::of(row.measure.is_none_or(|m| m.higher_is_ood())),
                auroc: row.metrics.auroc,
                aupr: row.metrics.aupr,
                tpr_at_1_fpr: row.metrics.tpr_at_fpr,
                fpr_at_95_tpr: row.metrics.fpr_at_tpr,
            })
            .collect();
        write_metrics(&dir.join(METRICS_FILE), &metrics)?;
        write_atomic(&dir.join("table.md"), |w| {
            Ok(w.write_all(markdown.as_bytes())?)
        })?;
        let best = evaluation.best_single(Task::OodVsId).expect("measures");
        let forest = evaluation.forest(Task::OodVsId).expect("forest");
        let names = [
            format!("COOD forest (AUROC {:.3})", forest.metrics.auroc),
            format!(
                "best single: {} (AUROC {:.3})",
                best.name(),
                best.metrics.auroc
            ),
        ];
        roc_chart(
            &dir.join("roc"),
            "OOD vs ID on the evaluation half",
            &[
                RocSeries {
                    name: &names[0],
                    fpr: &forest.roc.fpr,
                    tpr: &forest.roc.tpr,
                },
                RocSeries {
                    name: &names[1],
                    fpr: &best.roc.fpr,
                    tpr: &best.roc.tpr,
                },
            ],
        )?;
        Ok(())
    })?;
    if !args.quiet {
        print!("{markdown}");
        println!("written to {}", args.out.display());
    }
    Ok(())
}

/// The linear head: `(W.npy, b.npy)` read and checked against `n_classes` (rows, the
/// training classes in sorted order) and the features' width, or a multinomial logistic
/// regression trained on `x_train` with penalty `alpha` (`--head-alpha`).
pub(crate) fn head_for(
    files: Option<(&Path, &Path)>,
    alpha: f64,
    x_train: ndarray::ArrayView2<f64>,
    y_train: &[usize],
    n_classes: usize,
) -> Result<LinearHead> {
    let d = x_train.ncols();
    Ok(match files {
        Some((w, b)) => {
            let weights = npy_f64(w)?;
            let bias = npy_f64(b)?;
            if bias.len() != weights.nrows() || (bias.nrows() != 1 && bias.ncols() != 1) {
                bail!(
                    "{}: {} x {} biases for a head of {} classes; give 1 x {} or {} x 1",
                    b.display(),
                    bias.nrows(),
                    bias.ncols(),
                    weights.nrows(),
                    weights.nrows(),
                    weights.nrows()
                );
            }
            if weights.nrows() != n_classes || weights.ncols() != d {
                bail!(
                    "{}: a {} x {} head, but the training set has {n_classes} classes (rows, in sorted order) and {d} features",
                    w.display(),
                    weights.nrows(),
                    weights.ncols(),
                );
            }
            let bias: Array1<f64> = bias.iter().copied().collect();
            LinearHead::new(weights, bias).with_context(|| format!("{}", w.display()))?
        }
        None => LogisticParams::default()
            .alpha(alpha)
            .fit(x_train, y_train, n_classes)
            .context("--head-alpha")?,
    })
}

fn is_npy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// The option behind an engine parameter named in an error message (else `command`).
pub(crate) fn option_hint(command: &str, message: &str) -> String {
    let options = [
        ("`knn_dims`", "--knn-dims"),
        ("`neighbour_search`", "--hnsw-from"),
        ("`pca_components`", "--pca-components"),
        ("`demud_k`", "--demud-k"),
        ("`temperature`", "--temperature"),
        ("`forest_fraction`", "--forest-fraction"),
        ("`forest_folds`", "--forest-folds"),
        ("`trees`", "--trees"),
        ("`k`", "--k"),
    ];
    options
        .iter()
        .find(|(name, _)| message.contains(name))
        .map_or_else(|| command.to_string(), |(_, option)| option.to_string())
}

/// The printed table: counts per category, then per task every measure and the forest, with
/// the forest's margin over the best single measure on TPR@1%FPR.
fn markdown_table(
    evaluation: &demud::ood::Evaluation,
    table: &demud::ood::MeasureTable,
    categories: &[Category],
    seconds: f64,
) -> String {
    let mut out = String::new();
    let count = |c: Category, scored: bool| {
        categories
            .iter()
            .zip(&evaluation.scored)
            .filter(|(&x, &s)| x == c && s == scored)
            .count()
    };
    out.push_str("| category | trained the forest only | scored | mean forest score (scored) |\n|---|---:|---:|---:|\n");
    for c in [Category::IdCorrect, Category::IdIncorrect, Category::Ood] {
        let scores: Vec<f64> = (0..categories.len())
            .filter(|&i| categories[i] == c && evaluation.scored[i])
            .map(|i| evaluation.forest_scores[i])
            .collect();
        let mean = if scores.is_empty() {
            f64::NAN
        } else {
            scores.iter().sum::<f64>() / scores.len() as f64
        };
        out.push_str(&format!(
            "| {} | {} | {} | {:.3} |\n",
            c.name(),
            count(c, false),
            count(c, true),
            mean
        ));
    }
    for (m, why) in &table.skipped {
        out.push_str(&format!("\nskipped: {} ({why})\n", m.name()));
    }
    for task in Task::ALL {
        out.push_str(&format!(
            "\n{}\n\n| measure | AUROC | AUPR | TPR@{}%FPR | FPR@{}%TPR |\n|---|---:|---:|---:|---:|\n",
            match task {
                Task::OodVsId => "OOD vs ID (positives: OOD)",
                Task::UntrustedVsCorrect => "OOD + ID-incorrect vs ID-correct",
            },
            AT_FPR_PERCENT,
            AT_TPR_PERCENT
        ));
        for row in evaluation.task(task) {
            let m = &row.metrics;
            let name = if row.measure.is_none() {
                "**forest (COOD)**".to_string()
            } else {
                row.name().to_string()
            };
            out.push_str(&format!(
                "| {name} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
                m.auroc, m.aupr, m.tpr_at_fpr, m.fpr_at_tpr
            ));
        }
        if let (Some(best), Some(forest)) = (evaluation.best_single(task), evaluation.forest(task))
        {
            out.push_str(&format!(
                "\nforest - best single ({}) on TPR@1%FPR: {:+.3}\n",
                best.name(),
                forest.metrics.tpr_at_fpr - best.metrics.tpr_at_fpr
            ));
        }
    }
    out.push_str(&format!("\n{:.1} s\n", seconds));
    out
}

/// The metrics' operating points in percent, for the table's header.
const AT_FPR_PERCENT: f64 = demud::ood::metrics::AT_FPR * 100.0;
const AT_TPR_PERCENT: f64 = demud::ood::metrics::AT_TPR * 100.0;
