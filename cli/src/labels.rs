//! `demud labels`: what an ImageNet classifier calls the images of a labelled collection
//! (Eshed 2020): per class, the distribution of its top-1 ImageNet labels with their mean
//! confidence (a figure per class), and the top-n label frequency averaged over the classes
//! of each group (a class -> group CSV), as a figure and a table.

use crate::args::{LabelsArgs, NetworkArgs};
use crate::ui::{extract_with_progress, Verbosity};
use anyhow::{bail, Result};
use demud::ood::labels::{label_distributions, mean_top_n_by_group, top1, ClassLabels};
use demud_datasets::atomic::{commit_folder, ensure_outside, write_atomic};
use demud_datasets::features::{match_labels, read_features, read_items};
use demud_datasets::hierarchy::read_groups;
use demud_datasets::images::ImageCollection;
use demud_datasets::label_tables::{
    write_labels, write_top_n, LabelRow, TopNRow, LABELS_FILE, TOP_N_FILE,
};
use demud_datasets::CsvLayout;
use demud_encoders::imagenet::class_names;
use demud_encoders::weights::models_dir;
use demud_encoders::{ExtractOptions, ExtractorSpec, Model};
use demud_report::charts::{line_chart, Axes, LineKind, Series};
use demud_report::ood_charts::{label_chart, LabelFigure};
use ndarray::Array2;
use std::path::{Path, PathBuf};

/// A file name made of `name`: letters and digits kept, anything else `-`.
fn file_stem_of(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '-'
            }
        })
        .collect();
    let s = s
        .split('-')
        .filter(|p| !p.is_empty())
        .collect::<Vec<_>>()
        .join("-");
    if s.is_empty() {
        "class".into()
    } else {
        s
    }
}

/// The classifier that makes the logits of `--images`: the network options, read at the
/// classifier's output layer unless `--layer` names it. What cannot give a classifier's top-1
/// labels is refused naming the option: a baseline (no classifier), another layer of a
/// network whose output layer is known, or several layers. A TorchScript module's outputs are
/// its own: its width is checked against the class names instead.
fn classifier_spec(network: &NetworkArgs) -> Result<ExtractorSpec> {
    let mut spec = network.spec();
    let output = match spec.model {
        Model::EfficientNetLite0 => Some("logits"),
        Model::AlexNet => Some("fc8"),
        Model::TorchScript => None,
        Model::Pixels | Model::BagOfWords => bail!(
            "--model {}: a baseline has no classifier, so no ImageNet labels; give efficientnet-lite0, alexnet or a torchscript classifier",
            spec.model.name()
        ),
    };
    match (spec.layers.as_slice(), output) {
        ([], Some(output)) => spec.layers = vec![output.to_string()],
        ([], None) => {}
        ([layer], Some(output)) if layer != output => bail!(
            "--layer {layer}: not the classifier's output of {}, so no labels; the labels are read from `{output}` (the default here)",
            spec.model.name()
        ),
        ([_], _) => {}
        (layers, _) => bail!(
            "--layer {}: give one layer, the classifier's output",
            layers.join(",")
        ),
    }
    Ok(spec)
}

/// `demud labels`.
pub fn run(args: &LabelsArgs) -> Result<()> {
    let classes_path = args
        .classes
        .clone()
        .unwrap_or_else(|| models_dir().join("imagenet-classes.json"));
    let mut inputs: Vec<PathBuf> = vec![classes_path.clone()];
    inputs.extend(args.features.clone());
    inputs.extend(args.items.clone());
    inputs.extend(args.images.clone());
    inputs.extend(args.manifest.clone());
    inputs.extend(args.labels.clone());
    inputs.extend(args.groups.clone());
    inputs.extend(args.network.weights.clone());
    let refs: Vec<&Path> = inputs.iter().map(PathBuf::as_path).collect();
    ensure_outside(&args.out, &refs)?;
    let names = class_names(&classes_path)?;

    // The logits and the collection's classes, by id.
    let (source, ids, own_labels, logits): (
        PathBuf,
        Vec<String>,
        Option<Vec<String>>,
        Array2<f64>,
    ) = match (&args.features, &args.images) {
        (Some(path), _) => {
            let table = read_features(path, CsvLayout::default(), args.items.as_deref())?;
            (
                path.clone(),
                table.ids.clone(),
                table.labels.clone(),
                table.matrix.to_f64(),
            )
        }
        (None, Some(images)) => {
            let spec = classifier_spec(&args.network)?;
            let collection = match &args.manifest {
                Some(m) => ImageCollection::from_manifest(images, m)?,
                None => ImageCollection::from_folder(images)?,
            };
            let mut extractor = spec.build()?;
            // A classifier of other classes than the names is refused before any image is
            // read (the network runs once on a blank image to tell its width).
            if let Some(widths) = extractor.output_widths()? {
                if widths[0] != names.len() {
                    bail!(
                        "{}: {} makes {} values per image, but {} names {} classes: give a classifier of these classes (--model, --weights, --layer) or its class names (--classes)",
                        images.display(),
                        extractor.describe(),
                        widths[0],
                        classes_path.display(),
                        names.len()
                    );
                }
            }
            let extraction = extract_with_progress(
                extractor.as_mut(),
                &collection,
                ExtractOptions::default(),
                Verbosity::from_quiet(args.quiet),
            )?;
            (
                images.clone(),
                extraction.ids(),
                extraction.labels(),
                extraction.features[0].mapv(f64::from),
            )
        }
        (None, None) => bail!("give --features (ImageNet logits) or --images"),
    };
    if logits.ncols() != names.len() {
        bail!(
            "{}: {} values per item, but {} names {} classes: give the logits layer (`demud extract --layer logits`) of a classifier of these classes",
            source.display(),
            logits.ncols(),
            classes_path.display(),
            names.len()
        );
    }
    let labels = match &args.labels {
        Some(path) => match_labels(&ids, &read_items(path)?, path)?,
        None => match own_labels {
            Some(l) if l.iter().all(|l| !l.is_empty()) => l,
            _ => bail!(
                "{}: the items have no classes; give --labels (`id,label`)",
                source.display()
            ),
        },
    };
    let mut classes = labels.clone();
    classes.sort();
    classes.dedup();
    let y: Vec<usize> = labels
        .iter()
        .map(|l| classes.binary_search(l).expect("a class"))
        .collect();
    let (group_names, group_of) = match &args.groups {
        Some(path) => {
            let groups = read_groups(path, &classes)?;
            let mut names = groups.clone();
            names.sort();
            names.dedup();
            let of: Vec<usize> = groups
                .iter()
                .map(|g| names.binary_search(g).expect("a group"))
                .collect();
            (names, of)
        }
        None => (vec!["all".to_string()], vec![0; classes.len()]),
    };

    let top = top1(logits.view());
    let distributions = label_distributions(&top, &y, classes.len())?;
    let curves = mean_top_n_by_group(&distributions, &group_of, group_names.len(), args.top_n)?;
    let overall = mean_top_n_by_group(&distributions, &vec![0; classes.len()], 1, args.top_n)?;
    let table = markdown(
        &classes,
        &names,
        &distributions,
        &group_names,
        &group_of,
        &curves,
        &overall,
    );

    commit_folder(&args.out, |dir| -> Result<()> {
        write_atomic(
            &dir.join("table.md"),
            |w| Ok(w.write_all(table.as_bytes())?),
        )?;
        write_top_n(
            &dir.join(TOP_N_FILE),
            &top_n_rows(&group_names, &group_of, &curves, &overall),
        )?;
        write_labels(
            &dir.join(LABELS_FILE),
            &label_rows(&classes, &names, &distributions, &group_names, &group_of),
        )?;
        let series_names: Vec<String> = group_names
            .iter()
            .enumerate()
            .map(|(g, name)| {
                format!(
                    "{name} ({} classes)",
                    group_of.iter().filter(|&&x| x == g).count()
                )
            })
            .collect();
        let rows: Vec<Vec<f64>> = curves.rows().into_iter().map(|r| r.to_vec()).collect();
        let series: Vec<Series> = series_names
            .iter()
            .zip(&rows)
            .enumerate()
            .map(|(g, (name, curve))| Series {
                name,
                curve,
                style: LineKind::Run(g),
            })
            .collect();
        line_chart(
            &dir.join("top-n"),
            "Top-n label frequency, mean over the classes of each group",
            Axes {
                x: "n (the class's n most frequent top-1 labels)",
                y: "share of the class's images",
                y_decimals: 2,
            },
            &series,
        )?;
        let classes_dir = dir.join("classes");
        std::fs::create_dir_all(&classes_dir)?;
        let mut used = std::collections::HashSet::new();
        for (c, d) in distributions.iter().enumerate() {
            let shown = &d.labels[..d.labels.len().min(args.shown)];
            let label_names: Vec<String> = shown.iter().map(|l| names[l.label].clone()).collect();
            let frequency: Vec<f64> = shown
                .iter()
                .map(|l| l.count as f64 / d.items as f64)
                .collect();
            let confidence: Vec<f64> = shown.iter().map(|l| l.mean_confidence).collect();
            // Distinct file names even when two class names clean to the same stem.
            let mut stem = file_stem_of(&classes[c]);
            if !used.insert(stem.clone()) {
                stem = format!("{stem}-{c}");
                used.insert(stem.clone());
            }
            label_chart(
                &classes_dir.join(stem),
                &format!(
                    "{} ({} images, {} labels{})",
                    classes[c],
                    d.items,
                    d.labels.len(),
                    if shown.len() < d.labels.len() {
                        format!("; top {}", shown.len())
                    } else {
                        String::new()
                    }
                ),
                &LabelFigure {
                    labels: &label_names,
                    frequency: &frequency,
                    confidence: &confidence,
                },
            )?;
        }
        Ok(())
    })?;
    if !args.quiet {
        print!("{table}");
        println!("written to {}", args.out.display());
    }
    Ok(())
}

/// The rows of `labels.csv`: per class, each of its top-1 labels, most frequent first.
fn label_rows(
    classes: &[String],
    names: &[String],
    distributions: &[ClassLabels],
    group_names: &[String],
    group_of: &[usize],
) -> Vec<LabelRow> {
    distributions
        .iter()
        .enumerate()
        .flat_map(|(c, d)| {
            d.labels.iter().enumerate().map(move |(r, l)| LabelRow {
                class: classes[c].clone(),
                group: group_names[group_of[c]].clone(),
                rank: r + 1,
                label: l.label,
                name: names[l.label].clone(),
                count: l.count,
                frequency: l.count as f64 / d.items as f64,
                mean_confidence: l.mean_confidence,
            })
        })
        .collect()
}

/// The rows of `top-n.csv`: each group's curve, then the curve over all classes (group
/// `all`), each with its number of classes.
fn top_n_rows(
    group_names: &[String],
    group_of: &[usize],
    curves: &Array2<f64>,
    overall: &Array2<f64>,
) -> Vec<TopNRow> {
    group_names
        .iter()
        .enumerate()
        .map(|(g, name)| {
            (
                name.as_str(),
                group_of.iter().filter(|&&x| x == g).count(),
                curves.row(g),
            )
        })
        .chain(std::iter::once(("all", group_of.len(), overall.row(0))))
        .flat_map(|(name, classes, row)| {
            row.into_iter()
                .enumerate()
                .map(move |(n, &v)| TopNRow {
                    group: name.to_string(),
                    classes,
                    n: n + 1,
                    mean_top_n_frequency: v,
                })
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The printed table: per class its top 3 labels; per group the mean top-n frequency.
fn markdown(
    classes: &[String],
    names: &[String],
    distributions: &[ClassLabels],
    group_names: &[String],
    group_of: &[usize],
    curves: &Array2<f64>,
    overall: &Array2<f64>,
) -> String {
    let mut out = String::from(
        "| class | group | images | labels | top-1 labels (share, mean confidence) |\n|---|---|---:|---:|---|\n",
    );
    for (c, d) in distributions.iter().enumerate() {
        let top: Vec<String> = d
            .labels
            .iter()
            .take(3)
            .map(|l| {
                format!(
                    "{} ({:.2}, {:.2})",
                    names[l.label],
                    l.count as f64 / d.items as f64,
                    l.mean_confidence
                )
            })
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} | {} | {} |\n",
            classes[c],
            group_names[group_of[c]],
            d.items,
            d.labels.len(),
            top.join("; ")
        ));
    }
    let n = curves.ncols();
    out.push_str("\nMean top-n label frequency\n\n| group | classes |");
    for k in 1..=n {
        out.push_str(&format!(" n={k} |"));
    }
    out.push_str("\n|---|---:|");
    out.push_str(&"---:|".repeat(n));
    out.push('\n');
    let mut row = |name: &str, count: usize, values: ndarray::ArrayView1<f64>| {
        out.push_str(&format!("| {name} | {count} |"));
        for v in values {
            out.push_str(&format!(" {v:.3} |"));
        }
        out.push('\n');
    };
    for (g, name) in group_names.iter().enumerate() {
        row(
            name,
            group_of.iter().filter(|&&x| x == g).count(),
            curves.row(g),
        );
    }
    if group_names.len() > 1 {
        row("all", classes.len(), overall.row(0));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_stems_are_plain() {
        assert_eq!(file_stem_of("Smileys & Emotion"), "smileys-emotion");
        assert_eq!(file_stem_of("&&"), "class");
    }
}
