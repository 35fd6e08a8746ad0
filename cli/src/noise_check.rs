//! `demud noise-check`: what a classifier says about noise. Noise images (Gaussian with the
//! collection's per-channel moments, and uniform) go through the same network and head as
//! the real images of a labelled folder; the command reports how sure the head is of them
//! (max softmax against the real images'), which class each kind of noise lands in, where
//! the noise sits among the class centroids (cosine distances, minimum spanning tree) and how
//! well each OOD measure separates noise from real images.

use crate::args::NoiseCheckArgs;
use crate::ood::{head_for, option_hint};
use crate::ui::{extract_with_progress, set_torch_threads, Verbosity};
use anyhow::{bail, Context, Result};
use demud::ood::geometry::{centroids, classical_mds, cosine_distances, minimum_spanning_tree};
use demud::ood::{Measure, MeasureTable};
use demud_datasets::atomic::{commit_folder, ensure_outside, write_atomic};
use demud_datasets::features::{match_labels, read_items};
use demud_datasets::images::{ImageCollection, Preprocess};
use demud_datasets::noise::{noise_images, ChannelStats, Noise};
use demud_datasets::ood_tables::{
    write_detection, write_distances, write_landing, write_msp, write_tree, DetectionRow,
    Direction, DistanceTable, LandingRow, MspRow, TreeEdgeRow, DETECTION_FILE, DISTANCES_FILE,
    LANDING_FILE, MSP_FILE, TREE_FILE,
};
use demud_encoders::extract::FeatureExtractor;
use demud_encoders::{ExtractOptions, Model};
use demud_report::ood_charts::{histogram_chart, tree_chart, HistogramSeries, TreeFigure};
use image::RgbImage;
use ndarray::{concatenate, Array2, Axis};
use rand::seq::SliceRandom;
use rand::SeedableRng;
use std::collections::HashMap;
use std::path::Path;

/// An extractor that passes everything to `inner` and keeps the per-channel statistics of
/// the prepared images it sees: the collection's moments as the network sees them, in the
/// same pass as its features.
struct WithChannelStats<'a> {
    inner: &'a mut dyn FeatureExtractor,
    stats: ChannelStats,
}

impl FeatureExtractor for WithChannelStats<'_> {
    fn describe(&self) -> String {
        self.inner.describe()
    }
    fn outputs(&self) -> Vec<String> {
        self.inner.outputs()
    }
    fn preprocess(&self) -> Preprocess {
        self.inner.preprocess()
    }
    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }
    fn extract_batch(&mut self, prepared: &[RgbImage]) -> demud_encoders::Result<Vec<Array2<f32>>> {
        prepared.iter().for_each(|i| self.stats.add(i));
        self.inner.extract_batch(prepared)
    }
    fn finish(&mut self, outputs: Vec<Array2<f32>>) -> demud_encoders::Result<Vec<Array2<f32>>> {
        self.inner.finish(outputs)
    }
    fn output_widths(&mut self) -> demud_encoders::Result<Option<Vec<usize>>> {
        self.inner.output_widths()
    }
}

/// The labels of `collection`'s items: `labels` (`id,label`) matched by id, else the
/// folder's or manifest's own; every item needs one.
fn collection_labels(
    collection: &ImageCollection,
    labels: Option<&Path>,
    images: &Path,
) -> Result<Vec<String>> {
    let ids: Vec<String> = collection.items.iter().map(|i| i.id.clone()).collect();
    if let Some(path) = labels {
        return Ok(match_labels(&ids, &read_items(path)?, path)?);
    }
    let unlabelled: Vec<&str> = collection
        .items
        .iter()
        .filter(|i| i.label.is_none())
        .map(|i| i.id.as_str())
        .collect();
    if let Some(first) = unlabelled.first() {
        bail!(
            "{}: {} image(s) have no class (first: {first}); put the images in class subfolders, give a manifest with labels, or --labels",
            images.display(),
            unlabelled.len()
        );
    }
    Ok(collection
        .items
        .iter()
        .map(|i| i.label.clone().expect("checked"))
        .collect())
}

/// A seeded split of each class's items: `fraction` of them (at least one; all of a class
/// of one item) train, the rest are tested.
fn split(labels: &[usize], n_classes: usize, fraction: f64, seed: u64) -> (Vec<usize>, Vec<usize>) {
    let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
    let (mut train, mut test) = (Vec::new(), Vec::new());
    for c in 0..n_classes {
        let mut rows: Vec<usize> = (0..labels.len()).filter(|&i| labels[i] == c).collect();
        rows.shuffle(&mut rng);
        let take = ((fraction * rows.len() as f64).round() as usize).clamp(1, rows.len());
        train.extend_from_slice(&rows[..take]);
        test.extend_from_slice(&rows[take..]);
    }
    train.sort_unstable();
    test.sort_unstable();
    (train, test)
}

/// Quantiles (linear interpolation between order statistics, as numpy's default).
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let x = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (x.floor() as usize, x.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (x - lo as f64)
}

/// One query set: real test images or a kind of noise.
struct Set {
    name: String,
    measures: MeasureTable,
}

/// `demud noise-check`.
pub fn run(args: &NoiseCheckArgs) -> Result<()> {
    set_torch_threads(args.threads);
    let mut inputs: Vec<&Path> = vec![&args.images];
    inputs.extend(args.manifest.as_deref());
    inputs.extend(args.labels.as_deref());
    ensure_outside(&args.out, &inputs)?;
    if !(args.train_fraction > 0.0 && args.train_fraction < 1.0) {
        bail!(
            "--train-fraction {}: must be in (0, 1)",
            args.train_fraction
        );
    }
    let collection = match &args.manifest {
        Some(manifest) => ImageCollection::from_manifest(&args.images, manifest)?,
        None => ImageCollection::from_folder(&args.images)?,
    };
    let labels = collection_labels(&collection, args.labels.as_deref(), &args.images)?;
    let label_of: HashMap<&str, &str> = collection
        .items
        .iter()
        .zip(&labels)
        .map(|(i, l)| (i.id.as_str(), l.as_str()))
        .collect();
    let spec = args.network.spec();
    if spec.model == Model::BagOfWords {
        bail!("--model bow: the bag of words fits its vocabulary on the whole collection, so noise images cannot be put through the same features; use a network or pixels");
    }
    if spec.layers.len() > 1 {
        bail!("--layer: give one layer (the head, the measures and the centroids read it)");
    }
    let verbosity = Verbosity::from_quiet(args.quiet);
    let mut inner = spec.build()?;
    let mut extractor = WithChannelStats {
        inner: inner.as_mut(),
        stats: ChannelStats::default(),
    };
    let extraction = extract_with_progress(
        &mut extractor,
        &collection,
        ExtractOptions::default(),
        verbosity,
    )?;
    let real = extraction.features[0].mapv(f64::from);
    let ids = extraction.ids();
    let kept_labels: Vec<&str> = ids.iter().map(|id| label_of[id.as_str()]).collect();
    let mut classes: Vec<String> = kept_labels.iter().map(|l| l.to_string()).collect();
    classes.sort();
    classes.dedup();
    if classes.len() < 2 {
        bail!(
            "{}: {} class; a classifier needs at least two",
            args.images.display(),
            classes.len()
        );
    }
    let y: Vec<usize> = kept_labels
        .iter()
        .map(|l| {
            classes
                .binary_search_by(|c| c.as_str().cmp(l))
                .expect("a class")
        })
        .collect();

    // Noise at the network's input size, with the moments of the prepared real images.
    let side = extractor.preprocess().side;
    let stats = extractor.stats;
    let kinds = [Noise::gaussian_like(&stats), Noise::Uniform];
    let mut noise_features = Vec::new();
    for (k, kind) in kinds.iter().enumerate() {
        let images = noise_images(
            *kind,
            args.noise,
            side,
            side,
            args.seed.wrapping_add(k as u64),
        );
        let mut rows = Vec::new();
        for batch in images.chunks(extractor.batch_size().max(1)) {
            rows.push(extractor.extract_batch(batch)?.swap_remove(0));
        }
        let views: Vec<_> = rows.iter().map(|r| r.view()).collect();
        noise_features.push(concatenate(Axis(0), &views)?.mapv(f64::from));
    }

    // Head and measures fitted on the training share of the real images.
    let (train, test) = split(&y, classes.len(), args.train_fraction, args.seed);
    if test.is_empty() {
        bail!(
            "--train-fraction {}: no real image is left to compare with the noise",
            args.train_fraction
        );
    }
    let x_train = real.select(Axis(0), &train);
    let y_train: Vec<usize> = train.iter().map(|&i| y[i]).collect();
    let head = head_for(
        args.head.as_deref().zip(args.head_bias.as_deref()),
        args.head_alpha,
        x_train.view(),
        &y_train,
        classes.len(),
    )?;
    let hint = |e: demud::DemudError| {
        let message = e.to_string();
        anyhow::anyhow!("{message}").context(option_hint("demud noise-check", &message))
    };
    let params = args.measures.params();
    let model = params
        .fit(x_train.view(), &y_train, head, None)
        .map_err(hint)?;
    let x_test = real.select(Axis(0), &test);
    let mut sets = vec![Set {
        name: "real".into(),
        measures: model.measures(x_test.view()).map_err(hint)?,
    }];
    for (kind, features) in kinds.iter().zip(&noise_features) {
        sets.push(Set {
            name: kind.name().into(),
            measures: model.measures(features.view()).map_err(hint)?,
        });
    }
    let accuracy = sets[0]
        .measures
        .predicted
        .iter()
        .zip(&test)
        .filter(|(&p, &i)| p == y[i])
        .count() as f64
        / test.len() as f64;

    // Max softmax of each set, sorted.
    let msp: Vec<Vec<f64>> = sets
        .iter()
        .map(|s| {
            let mut v = s.measures.column(Measure::Msp).expect("msp").to_vec();
            v.sort_by(f64::total_cmp);
            v
        })
        .collect();
    // Where each noise kind lands.
    let landing: Vec<Vec<usize>> = sets[1..]
        .iter()
        .map(|s| {
            let mut counts = vec![0; classes.len()];
            s.measures.predicted.iter().for_each(|&p| counts[p] += 1);
            counts
        })
        .collect();
    // Each measure: real test images against each noise kind.
    let mut detection = Vec::new();
    for (j, &m) in sets[0].measures.measures.iter().enumerate() {
        for s in &sets[1..] {
            let scores: Vec<f64> = sets[0]
                .measures
                .values
                .column(j)
                .iter()
                .chain(s.measures.values.column(j))
                .map(|&v| m.oriented(v))
                .collect();
            let positive: Vec<bool> = (0..scores.len())
                .map(|i| i >= sets[0].measures.values.nrows())
                .collect();
            let metrics = demud::ood::roc_curve(&scores, &positive)?.metrics();
            detection.push((m, s.name.clone(), metrics));
        }
    }
    // Centroids of every class (all its real images) and of each noise kind; their cosine
    // distances, tree and layout.
    let mut nodes = centroids(real.view(), &y, classes.len())?;
    let mut node_names = classes.clone();
    for (kind, features) in kinds.iter().zip(&noise_features) {
        let c = features.mean_axis(Axis(0)).expect("noise images");
        nodes.push_row(c.view())?;
        node_names.push(format!("{} noise", kind.name()));
    }
    let distances = cosine_distances(nodes.view()).context("the centroids")?;
    let tree = minimum_spanning_tree(distances.view())?;
    let layout = classical_mds(distances.view(), 2)?;

    let summary = summary(
        args,
        &classes,
        &stats,
        accuracy,
        (train.len(), test.len()),
        &sets,
        &msp,
        &landing,
        &detection,
        &node_names,
        &distances,
        &tree,
    );
    commit_folder(&args.out, |dir| -> Result<()> {
        write_atomic(&dir.join("summary.md"), |w| {
            Ok(w.write_all(summary.as_bytes())?)
        })?;
        let mut msp_rows = Vec::new();
        for (s, set) in sets.iter().enumerate() {
            let col = set.measures.column(Measure::Msp).expect("msp");
            for (r, &p) in set.measures.predicted.iter().enumerate() {
                let (id, label) = if s == 0 {
                    (ids[test[r]].clone(), classes[y[test[r]]].clone())
                } else {
                    (format!("{}-{r}", set.name), String::new())
                };
                msp_rows.push(MspRow {
                    set: set.name.clone(),
                    id,
                    label,
                    predicted: classes[p].clone(),
                    msp: col[r],
                });
            }
        }
        write_msp(&dir.join(MSP_FILE), &msp_rows)?;
        let landing_rows: Vec<LandingRow> = sets[1..]
            .iter()
            .zip(&landing)
            .flat_map(|(s, counts)| {
                counts.iter().enumerate().map(|(c, &count)| LandingRow {
                    noise: s.name.clone(),
                    class: classes[c].clone(),
                    count,
                })
            })
            .collect();
        write_landing(&dir.join(LANDING_FILE), &landing_rows)?;
        let detection_rows: Vec<DetectionRow> = detection
            .iter()
            .map(|(m, noise, metrics)| DetectionRow {
                measure: m.name().to_string(),
                direction: Direction::of(m.higher_is_ood()),
                noise: noise.clone(),
                auroc: metrics.auroc,
                aupr: metrics.aupr,
                tpr_at_1_fpr: metrics.tpr_at_fpr,
                fpr_at_95_tpr: metrics.fpr_at_tpr,
            })
            .collect();
        write_detection(&dir.join(DETECTION_FILE), &detection_rows)?;
        write_distances(
            &dir.join(DISTANCES_FILE),
            &DistanceTable {
                nodes: node_names.clone(),
                values: distances.clone(),
            },
        )?;
        let edges: Vec<TreeEdgeRow> = tree
            .iter()
            .map(|e| TreeEdgeRow {
                a: node_names[e.a].clone(),
                b: node_names[e.b].clone(),
                distance: e.weight,
                x_a: layout[(e.a, 0)],
                y_a: layout[(e.a, 1)],
                x_b: layout[(e.b, 0)],
                y_b: layout[(e.b, 1)],
            })
            .collect();
        write_tree(&dir.join(TREE_FILE), &edges)?;
        let series: Vec<HistogramSeries> = sets
            .iter()
            .zip(&msp)
            .map(|(s, v)| HistogramSeries {
                name: &s.name,
                values: v,
            })
            .collect();
        histogram_chart(
            &dir.join("msp"),
            "Max softmax of the head: real test images and noise",
            "max softmax probability",
            (0.0, 1.0),
            40,
            &series,
        )?;
        let points: Vec<(f64, f64)> = layout.rows().into_iter().map(|r| (r[0], r[1])).collect();
        let edges: Vec<(usize, usize, f64)> = tree.iter().map(|e| (e.a, e.b, e.weight)).collect();
        let noise_nodes: Vec<usize> = (classes.len()..node_names.len()).collect();
        tree_chart(
            &dir.join("tree"),
            "Minimum spanning tree of the centroids' cosine distances (1 - cos)/2",
            &TreeFigure {
                points: &points,
                labels: &node_names,
                edges: &edges,
                highlighted: &noise_nodes,
            },
        )?;
        Ok(())
    })?;
    if !args.quiet {
        print!("{summary}");
        println!("written to {}", args.out.display());
    }
    Ok(())
}

/// The printed and written summary (markdown).
#[allow(clippy::too_many_arguments)]
fn summary(
    args: &NoiseCheckArgs,
    classes: &[String],
    stats: &ChannelStats,
    accuracy: f64,
    (n_train, n_test): (usize, usize),
    sets: &[Set],
    msp: &[Vec<f64>],
    landing: &[Vec<usize>],
    detection: &[(Measure, String, demud::ood::Metrics)],
    node_names: &[String],
    distances: &Array2<f64>,
    tree: &[demud::ood::geometry::Edge],
) -> String {
    let mut out = String::new();
    let (m, s) = (stats.mean(), stats.std());
    out.push_str(&format!(
        "{} classes; head and measures fitted on {n_train} real images, compared on {n_test} (head accuracy {:.3}) and {} noise images of each kind (seed {}).\nGaussian noise: per-channel mean ({:.3}, {:.3}, {:.3}), sd ({:.3}, {:.3}, {:.3}) of the prepared real images; uniform: every value 0..255.\n",
        classes.len(),
        accuracy,
        args.noise,
        args.seed,
        m[0], m[1], m[2], s[0], s[1], s[2]
    ));
    out.push_str("\nMax softmax of the head\n\n| set | mean | 5% | 25% | median | 75% | 95% | max | share >= 0.9 |\n|---|---:|---:|---:|---:|---:|---:|---:|---:|\n");
    for (set, v) in sets.iter().zip(msp) {
        let mean = v.iter().sum::<f64>() / v.len() as f64;
        let high = v.iter().filter(|&&p| p >= 0.9).count() as f64 / v.len() as f64;
        out.push_str(&format!(
            "| {} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} | {:.3} |\n",
            set.name,
            mean,
            quantile(v, 0.05),
            quantile(v, 0.25),
            quantile(v, 0.5),
            quantile(v, 0.75),
            quantile(v, 0.95),
            v[v.len() - 1],
            high
        ));
    }
    out.push_str("\nWhere the noise lands (the head's class; the most frequent 5)\n\n| noise | class: images |\n|---|---|\n");
    for (set, counts) in sets[1..].iter().zip(landing) {
        let mut order: Vec<usize> = (0..counts.len()).filter(|&c| counts[c] > 0).collect();
        order.sort_by(|&a, &b| counts[b].cmp(&counts[a]).then(a.cmp(&b)));
        let shown: Vec<String> = order
            .iter()
            .take(5)
            .map(|&c| format!("{}: {}", classes[c], counts[c]))
            .collect();
        out.push_str(&format!("| {} | {} |\n", set.name, shown.join(", ")));
    }
    out.push_str("\nCentroids (cosine distance (1 - cos)/2): each noise centroid's nearest classes, and the tree's edges at the noise\n\n| node | nearest 3 classes | tree edges |\n|---|---|---|\n");
    for node in classes.len()..node_names.len() {
        let mut order: Vec<usize> = (0..classes.len()).collect();
        order.sort_by(|&a, &b| distances[(node, a)].total_cmp(&distances[(node, b)]));
        let nearest: Vec<String> = order
            .iter()
            .take(3)
            .map(|&c| format!("{} {:.3}", classes[c], distances[(node, c)]))
            .collect();
        let edges: Vec<String> = tree
            .iter()
            .filter(|e| e.a == node || e.b == node)
            .map(|e| {
                let other = if e.a == node { e.b } else { e.a };
                format!("{} {:.3}", node_names[other], e.weight)
            })
            .collect();
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            node_names[node],
            nearest.join(", "),
            edges.join(", ")
        ));
    }
    let names: Vec<&str> = sets[1..].iter().map(|s| s.name.as_str()).collect();
    out.push_str("\nNoise against the real test images, each measure (\"(lower)\": lower means noise)\n\n| measure |");
    for n in &names {
        out.push_str(&format!(" {n} AUROC | {n} TPR@1%FPR |"));
    }
    out.push_str("\n|---|");
    out.push_str(&"---:|---:|".repeat(names.len()));
    out.push('\n');
    for chunk in detection.chunks(names.len()) {
        let m = chunk[0].0;
        out.push_str(&format!(
            "| `{}`{} |",
            m.name(),
            if m.higher_is_ood() { "" } else { " (lower)" }
        ));
        for (_, _, metrics) in chunk {
            out.push_str(&format!(
                " {:.3} | {:.3} |",
                metrics.auroc, metrics.tpr_at_fpr
            ));
        }
        out.push('\n');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantiles_interpolate() {
        let v = [1.0, 2.0, 3.0, 4.0, 5.0];
        assert_eq!(quantile(&v, 0.5), 3.0);
        assert_eq!(quantile(&v, 0.25), 2.0);
        assert_eq!(quantile(&v, 0.1), 1.4);
        assert_eq!(quantile(&v, 1.0), 5.0);
    }

    #[test]
    fn the_split_keeps_every_class_in_training() {
        let y = [0, 0, 0, 0, 1, 1, 2];
        let (train, test) = split(&y, 3, 0.5, 3);
        assert_eq!(train.len() + test.len(), 7);
        for c in 0..3 {
            assert!(train.iter().any(|&i| y[i] == c));
        }
        assert_eq!(split(&y, 3, 0.5, 3), (train, test));
    }
}
