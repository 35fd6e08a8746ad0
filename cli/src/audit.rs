//! `demud audit`: the items of a labelled collection most likely mislabelled, explained; or,
//! with `--benchmark-noise`, how well the audit finds labels flipped on purpose.

use crate::args::AuditArgs;
use anyhow::{bail, Context, Result};
use demud::audit::{audit, auroc, flip_labels, precision_at, Audit, AuditParams};
use demud::Conditioning;
use demud_datasets::atomic::ensure_outside;
use demud_datasets::extraction::read_extraction_record;
use demud_datasets::features::read_features;
use demud_datasets::parts::PartsFile;
use demud_datasets::run::{audit_rows, write_audit, AuditNames, AuditRecord};
use demud_datasets::{CsvLayout, FeatureTable};
use demud_encoders::ExtractorSpec;
use demud_maps::audit::map_suspects;
use demud_maps::Network;
use demud_report::audit::{write_audit_page, AuditPage};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};

/// `demud audit`.
pub fn run(args: &AuditArgs) -> Result<()> {
    let mut inputs: Vec<&Path> = vec![&args.features];
    inputs.extend(
        args.items
            .iter()
            .chain(&args.labels)
            .chain(&args.images)
            .map(PathBuf::as_path),
    );
    if let Some(out) = &args.out {
        ensure_outside(out, &inputs)?;
    }
    for &f in &args.benchmark_noise {
        if !(f > 0.0 && f < 1.0) {
            bail!("--benchmark-noise: {f} is not a fraction between 0 and 1");
        }
    }
    let layout = CsvLayout {
        header: args.csv_header.into(),
        label_column: args.csv_labels.into(),
    };
    let mut table = read_features(&args.features, layout, args.items.as_deref())?;
    if let Some(labels) = &args.labels {
        table.attach_labels(labels)?;
    }
    let source = args.labels.as_deref().unwrap_or(&args.features);
    let Some(given) = table.labels.clone() else {
        bail!(
            "{}: the items have no labels; give --labels FILE (`id,label`, one row per item) or features with a label column",
            args.features.display()
        );
    };
    check_values(&table, &args.features)?;
    let (codes, classes) = class_codes(&given, &table.ids, source)?;
    let conditioning = match &args.conditioning.0 {
        Some(c) => c.clone(),
        None if is_npy(&args.features) => Conditioning::recommended(),
        None => Conditioning::none(),
    };
    let params = AuditParams::new(args.k)
        .neighbours(args.neighbours)
        .folds(args.folds)
        .seed(args.seed)
        .conditioning(conditioning)
        .refine(!args.one_round)
        .top_features(args.top_features)
        .shown_neighbours(args.shown_neighbours);
    if !args.benchmark_noise.is_empty() {
        return benchmark(&table, &codes, classes.len(), &params, args);
    }
    // The page shows the items as images: every id must name one, checked before any work.
    if let Some(root) = &args.images {
        if let Some(id) = table.ids.iter().find(|id| !root.join(id).is_file()) {
            bail!(
                "--images {}: item {id:?} is not a file there (the ids must be the images' paths in that folder, as extract names them)",
                root.display()
            );
        }
    }
    let network = match (&args.images, args.no_maps) {
        (Some(_), false) => audit_network(args)?,
        _ => None,
    };
    let params = match &network {
        Some(_) => params.explained(args.page_items),
        None => params,
    };
    let result = table.with_f64(|x| audit(x, &codes, &params))?;
    let maps = match (&network, &args.images) {
        (Some((network, parts)), Some(images)) => {
            eprintln!(
                "mapping the {} most suspect items with {} {}",
                result.explanations.len(),
                network.name(),
                network.layer()
            );
            let saved = parts.as_ref().map(|(file, grid)| {
                move |i: usize| -> demud_maps::Result<demud_maps::network::Parts> {
                    Ok((file.item(i)?, *grid))
                }
            });
            Some(map_suspects(
                network,
                images,
                &table.ids,
                &table.matrix,
                &result,
                saved
                    .as_ref()
                    .map(|f| f as &dyn Fn(usize) -> demud_maps::Result<_>),
            )?)
        }
        _ => None,
    };
    print_top(&result, &table.ids, &classes, args.show);
    let out = args
        .out
        .as_deref()
        .expect("clap requires --out without --benchmark-noise");
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let mut evidence: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &result.items {
        *evidence.entry(s.evidence.name()).or_default() += 1;
    }
    let record = AuditRecord {
        format: "demud-audit".into(),
        version: 1,
        features: absolute(&args.features),
        labels: args.labels.as_deref().map(absolute),
        items: table.len(),
        dims: table.matrix.dim().1,
        classes: classes.clone(),
        params,
        set_aside: result.set_aside.len(),
        evidence: evidence
            .into_iter()
            .map(|(k, v)| (k.to_string(), v))
            .collect(),
    };
    let names = AuditNames {
        ids: &table.ids,
        classes: &classes,
        features: &table.feature_names,
    };
    write_audit(out, &result, &names, &record)?;
    let (rows, features, neighbours) = audit_rows(&result, &names);
    let summary = format!(
        "{} items of {} in {} classes; the {} most suspect are shown.",
        table.len(),
        args.features.display(),
        classes.len(),
        args.page_items.min(rows.len())
    );
    let page = write_audit_page(
        &out.join("report"),
        &AuditPage {
            title: "Label audit",
            summary: &summary,
            rows: &rows,
            features: &features,
            neighbours: &neighbours,
            images: args.images.as_deref(),
            top: args.page_items,
            maps: maps.as_ref(),
        },
    )?;
    eprintln!("audit page: {}", page.display());
    eprintln!(
        "audit of {} items in {} classes: {} placed elsewhere by both pieces of evidence; written to {}",
        table.len(),
        classes.len(),
        record.evidence.iter().find(|(k, _)| k == "both").map_or(0, |e| e.1),
        out.display()
    );
    Ok(())
}

/// Parts saved at extraction and their grid.
type SavedParts = (PartsFile, (usize, usize));

/// The network that made the features, from their extraction record, and the parts saved
/// beside them; `None` (with a note) when the features have no record or were not made by a
/// network (pixels, bag of words), since only a network's features split over the image.
fn audit_network(args: &AuditArgs) -> Result<Option<(Network, Option<SavedParts>)>> {
    let Some(record) = read_extraction_record(&args.features)? else {
        eprintln!(
            "note: {} has no extraction record (demud extract writes one): the page shows no maps",
            args.features.display()
        );
        return Ok(None);
    };
    let spec = ExtractorSpec::from_record(&record, args.weights.clone())?;
    if spec.model.default_layer().is_none() {
        eprintln!(
            "note: {} features are not a network's: the page shows no maps",
            record.kind
        );
        return Ok(None);
    }
    let network = Network::from_spec(&spec)?;
    let parts = match &record.parts {
        Some(saved) => {
            let path = args.features.with_file_name(&saved.file);
            Some((PartsFile::open(&path)?, saved.grid))
        }
        None => None,
    };
    Ok(Some((network, parts)))
}

fn is_npy(path: &Path) -> bool {
    path.extension()
        .is_some_and(|e| e.eq_ignore_ascii_case("npy"))
}

/// Refuses missing or infinite values, naming the item and the feature.
fn check_values(table: &FeatureTable, path: &Path) -> Result<()> {
    let bad = table.with_f64(|x| {
        x.indexed_iter()
            .find(|(_, v)| !v.is_finite())
            .map(|((i, j), v)| (i, j, *v))
    });
    if let Some((i, j, v)) = bad {
        bail!(
            "{}: item {:?}, feature {:?} is {}; the audit needs every value (fill or drop it first)",
            path.display(),
            table.ids[i],
            table.feature_names[j],
            if v.is_nan() { "missing (NaN)" } else { "infinite" }
        );
    }
    Ok(())
}

/// Class codes in sorted order of the names; refuses a class of one item or a single class.
fn class_codes(
    labels: &[String],
    ids: &[String],
    source: &Path,
) -> Result<(Vec<usize>, Vec<String>)> {
    let mut members: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, l) in labels.iter().enumerate() {
        members.entry(l.as_str()).or_default().push(i);
    }
    if let Some((name, m)) = members.iter().find(|(_, m)| m.len() < 2) {
        bail!(
            "{}: class {name:?} has one item ({:?}); every class needs at least 2, since an item is judged by a model of its class fitted without it (merge or drop it)",
            source.display(),
            ids[m[0]]
        );
    }
    if members.len() < 2 {
        bail!(
            "{}: every item has the label {:?}; an audit needs at least 2 classes",
            source.display(),
            labels.first().map_or("", String::as_str)
        );
    }
    let classes: Vec<String> = members.keys().map(|k| k.to_string()).collect();
    let code: HashMap<&str, usize> = classes
        .iter()
        .enumerate()
        .map(|(c, k)| (k.as_str(), c))
        .collect();
    Ok((labels.iter().map(|l| code[l.as_str()]).collect(), classes))
}

fn print_top(result: &Audit, ids: &[String], classes: &[String], show: usize) {
    println!(
        "{:>5}  {:<24} {:<12} {:<12} {:>6} {:>8} {:>6}  evidence",
        "rank", "id", "label", "resembles", "score", "ratio", "agree"
    );
    for (r, s) in result.items.iter().take(show).enumerate() {
        println!(
            "{:>5}  {:<24} {:<12} {:<12} {:>6.4} {:>8.3} {:>6.2}  {}",
            r + 1,
            ids[s.index],
            classes[s.label],
            classes[s.resembles],
            s.score,
            s.residual_ratio(),
            s.agreement,
            s.evidence.name()
        );
    }
}

/// Flips labels (seeded), audits, and prints precision@m and AUROC per noise level and seed,
/// for the combined score and for each piece of evidence alone.
fn benchmark(
    table: &FeatureTable,
    truth: &[usize],
    n_classes: usize,
    params: &AuditParams,
    args: &AuditArgs,
) -> Result<()> {
    println!(
        "{} items, {} classes; precision among the top m flagged (m = flips) and AUROC",
        table.len(),
        n_classes
    );
    println!(
        "{:>6} {:>5} {:>6}  {:>9} {:>7}  {:>11} {:>7}  {:>10} {:>7}",
        "noise", "seed", "m", "audit p@m", "AUROC", "neighbours", "AUROC", "subspace", "AUROC"
    );
    for &fraction in &args.benchmark_noise {
        let mut sums = [0.0; 6];
        for &seed in &args.seeds.0 {
            let (noisy, flipped) = flip_labels(truth, n_classes, fraction, seed)?;
            let mut planted = vec![false; truth.len()];
            flipped.iter().for_each(|&i| planted[i] = true);
            let result = table
                .with_f64(|x| audit(x, &noisy, &params.clone().seed(seed)))
                .with_context(|| format!("noise {fraction}, seed {seed}"))?;
            let mut neighbours = vec![0.0; truth.len()];
            let mut subspace = vec![0.0; truth.len()];
            for s in &result.items {
                neighbours[s.index] = 1.0 - s.agreement;
                subspace[s.index] = s.residual_ratio().ln();
            }
            let m = flipped.len();
            let row = [
                precision_at(&result.scores(), &planted, m),
                auroc(&result.scores(), &planted).unwrap_or(f64::NAN),
                precision_at(&neighbours, &planted, m),
                auroc(&neighbours, &planted).unwrap_or(f64::NAN),
                precision_at(&subspace, &planted, m),
                auroc(&subspace, &planted).unwrap_or(f64::NAN),
            ];
            sums.iter_mut().zip(&row).for_each(|(s, v)| *s += v);
            println!(
                "{fraction:>6.2} {seed:>5} {m:>6}  {:>9.3} {:>7.4}  {:>11.3} {:>7.4}  {:>10.3} {:>7.4}",
                row[0], row[1], row[2], row[3], row[4], row[5]
            );
        }
        let k = args.seeds.0.len() as f64;
        let mean: Vec<f64> = sums.iter().map(|s| s / k).collect();
        println!(
            "{fraction:>6.2} {:>5} {:>6}  {:>9.3} {:>7.4}  {:>11.3} {:>7.4}  {:>10.3} {:>7.4}",
            "mean", "", mean[0], mean[1], mean[2], mean[3], mean[4], mean[5]
        );
    }
    Ok(())
}
