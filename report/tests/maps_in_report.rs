//! The report with a run's explanation maps (`demud maps`): the overlays in the selections
//! table with the page-wide map switch, and the "Explanation maps" section; and without maps,
//! the report as before.

use demud_datasets::run::{
    colour_bar_file, map_image_file, overlay_file, write_maps, write_render, write_run,
    DecodedViews, DecoderSummary, MapKind, MapRow, MapScale, MapsFolder, MapsRecord, NewMaps,
    NewRender, NewRun, RenderFolder, RenderRecord, RenderRow, RunFolder, RunRecord, SelectionRow,
    MAPS_FORMAT, MAPS_VERSION, RENDER_FORMAT, RENDER_VERSION,
};
use demud_report::html::{write_report, ReportInput};
use ndarray::{Array3, Array4};
use std::path::Path;

/// The kinds the test's maps folder holds, in its order; the default is not the first.
const KINDS: [MapKind; 3] = [MapKind::Novelty, MapKind::GradientInput, MapKind::Gradient];
const DEFAULT: MapKind = MapKind::GradientInput;
/// Selections in the run; the first `MAPPED` have maps, the first `RENDERED` a render.
const SELECTIONS: usize = 3;
const MAPPED: usize = 2;
const RENDERED: usize = 2;

fn selections() -> Vec<SelectionRow> {
    (1..=SELECTIONS)
        .map(|rank| SelectionRow {
            rank,
            index: 5 - rank,
            id: format!("images/item{rank}.png"),
            label: format!("class{rank}"),
            score: 4.0 / rank as f64,
        })
        .collect()
}

/// A run folder as `discover` writes it, in `dir/run`.
fn run_in(dir: &Path) -> RunFolder {
    let run_dir = dir.join("run");
    let record: RunRecord = serde_json::from_value(serde_json::json!({
        "format": "demud-run", "version": 1, "tool_version": "test",
        "features": dir.join("f.csv"), "items": null, "labels": null, "weights": null,
        "start": {"kind": "svd"}, "n_items": 6, "n_features": 2, "precision": "f64", "k": 1,
        "n_selected": SELECTIONS, "update": "brand", "score": "lowhigh", "missing": "error",
        "compat": "clean", "score_path": "auto", "refresh_every": 256, "seed": 0,
        "explanations": "skipped", "seconds": 0.0
    }))
    .unwrap();
    write_run(
        &run_dir,
        &NewRun {
            record,
            selections: selections(),
            top_features: vec![],
            explanations: None,
            ranked: None,
        },
    )
    .unwrap();
    RunFolder::open(&run_dir).unwrap()
}

/// The top share of a selection and kind: distinct per row, so the page shows which is which.
fn top_share(rank: usize, k: usize) -> f64 {
    0.4 + 0.01 * (10 * rank + k) as f64
}

/// A maps folder as `demud maps` writes it, in `<run>/maps`, of the first `MAPPED` selections.
fn maps_of(run: &RunFolder) -> MapsFolder {
    let side = 8;
    let picture = image::RgbImage::from_pixel(side as u32, side as u32, image::Rgb([9, 99, 199]));
    let mut rows = Vec::new();
    let mut images = Vec::new();
    for s in &run.selections()[..MAPPED] {
        images.push((map_image_file(s.rank), picture.clone()));
        for (k, &kind) in KINDS.iter().enumerate() {
            rows.push(MapRow {
                rank: s.rank,
                index: s.index,
                id: s.id.clone(),
                map: kind,
                score: s.score,
                total: s.score,
                top_share: top_share(s.rank, k),
                peak_x: 1,
                peak_y: 2,
            });
            images.push((overlay_file(s.rank, kind), picture.clone()));
        }
    }
    for kind in KINDS {
        images.push((colour_bar_file(kind), image::RgbImage::new(16, 2)));
    }
    let dir = run.maps_dir();
    let maps = NewMaps {
        record: MapsRecord {
            format: MAPS_FORMAT.into(),
            version: MAPS_VERSION,
            tool_version: "test".into(),
            run: run.dir().to_path_buf(),
            images: run.dir().join("images"),
            network: "efficientnet-lite0".into(),
            layer: "pool".into(),
            side,
            grid: Some([7, 7]),
            maps: KINDS
                .iter()
                .enumerate()
                .map(|(k, &map)| MapScale {
                    map,
                    scale: 0.25 * (k + 1) as f32,
                })
                .collect(),
            default_map: DEFAULT,
            selections: MAPPED,
            top_fraction: 0.1,
        },
        rows,
        arrays: KINDS
            .iter()
            .map(|_| Array3::zeros((MAPPED, side, side)))
            .collect(),
        images,
    };
    write_maps(&dir, &maps).unwrap();
    MapsFolder::open(&dir, run).unwrap()
}

/// A render folder as `demud render` writes it, in `<run>/render`, of the first `RENDERED`
/// selections.
fn render_of(run: &RunFolder) -> RenderFolder {
    let dir = run.render_dir();
    let view = |s: &SelectionRow, name: &str| format!("{:04}-{name}.png", s.rank);
    let rows: Vec<RenderRow> = run.selections()[..RENDERED]
        .iter()
        .map(|s| RenderRow {
            rank: s.rank,
            index: s.index,
            id: s.id.clone(),
            label: s.label.clone(),
            score: s.score,
            original: view(s, "original"),
            features: view(s, "features"),
            expected: view(s, "expected"),
            novel: view(s, "novel"),
            difference: view(s, "difference"),
        })
        .collect();
    let images = rows
        .iter()
        .flat_map(|r| r.view_files().map(str::to_string))
        .map(|name| (name, image::RgbImage::new(4, 4)))
        .collect();
    let decoded = Array4::<f32>::zeros((RENDERED, 3, 4, 4));
    let render = NewRender {
        record: RenderRecord {
            format: RENDER_FORMAT.into(),
            version: RENDER_VERSION,
            run: run.dir().to_path_buf(),
            decoder: run.dir().join("decoder"),
            images: run.dir().join("images"),
            selections: RENDERED,
            decoder_summary: DecoderSummary {
                image_size: 4,
                hidden: vec![8],
                pairs: 6,
                epochs: 1,
                final_loss: None,
            },
        },
        rows,
        images,
        contact_sheet: image::RgbImage::new(1, 1),
        decoded: DecodedViews {
            features: decoded.clone(),
            expected: decoded.clone(),
            novel: decoded,
        },
    };
    write_render(&dir, &render).unwrap();
    RenderFolder::open(&dir, run).unwrap()
}

fn report(
    out: &Path,
    run: &RunFolder,
    render: Option<&RenderFolder>,
    maps: Option<&MapsFolder>,
) -> String {
    let page = write_report(
        out,
        &ReportInput {
            title: "maps test",
            run,
            render,
            localisation: None,
            maps,
            labels: None,
            random_orders: 1,
        },
    )
    .unwrap();
    assert_eq!(page, out.join("index.html"));
    std::fs::read_to_string(page).unwrap()
}

/// The text of the overlay cell of one selection: from its `<td class="map">` to the cell's end.
fn map_cell(html: &str, rank: usize) -> &str {
    let row = &html[html
        .find(&format!("data-rank=\"{rank}\""))
        .unwrap_or_else(|| panic!("no row of rank {rank}"))..];
    let cell = &row[row.find("<td class=\"map\">").expect("a map cell")..];
    &cell[..cell.find("</td>").unwrap()]
}

#[test]
fn the_report_shows_the_default_overlay_of_every_mapped_selection_with_a_switch() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_in(dir.path());
    let maps = maps_of(&run);
    let render = render_of(&run);
    let out = dir.path().join("report");
    let html = report(&out, &run, Some(&render), Some(&maps));

    assert!(html.contains("where the novelty is"), "the maps column");
    for s in &run.selections()[..MAPPED] {
        let cell = map_cell(&html, s.rank);
        // Without JavaScript the default map shows, with its top share.
        let shown = format!("src=\"images/{}\"", overlay_file(s.rank, DEFAULT));
        assert!(cell.contains(&shown), "rank {}: {cell}", s.rank);
        let k = KINDS.iter().position(|&k| k == DEFAULT).unwrap();
        let text = format!(
            ">top 10%: {:.0}% of the map</p>",
            top_share(s.rank, k) * 100.0
        );
        assert!(cell.contains(&text), "rank {}: {text} in {cell}", s.rank);
        // Every kind is reachable through the switch, its text with it.
        for (k, &kind) in KINDS.iter().enumerate() {
            let file = format!(
                "data-map-{}=\"images/{}\"",
                kind.name(),
                overlay_file(s.rank, kind)
            );
            assert!(cell.contains(&file), "rank {}: {file} in {cell}", s.rank);
            let of = if kind == MapKind::Novelty {
                "score"
            } else {
                "map"
            };
            let share = format!(
                "data-map-{}=\"top 10%: {:.0}% of the {of}\"",
                kind.name(),
                top_share(s.rank, k) * 100.0
            );
            assert!(cell.contains(&share), "rank {}: {share} in {cell}", s.rank);
            assert!(
                out.join("images")
                    .join(overlay_file(s.rank, kind))
                    .is_file(),
                "overlay of rank {} copied",
                s.rank
            );
        }
        // And the decoder's difference view of a rendered selection.
        let difference = format!(
            "data-map-decoder-difference=\"images/{:04}-difference.png\"",
            s.rank
        );
        assert!(cell.contains(&difference), "rank {}: {cell}", s.rank);
    }
    // The unmapped (and unrendered) selection has empty cells, the columns kept in line.
    assert!(html.contains("<td colspan=\"5\" class=\"note\">not rendered</td><td class=\"map\">"));
    let unmapped = map_cell(&html, SELECTIONS);
    assert!(!unmapped.contains("<img"), "{unmapped}");
    assert!(!out
        .join("images")
        .join(overlay_file(SELECTIONS, DEFAULT))
        .exists());

    // The switch lists every kind by title, the default selected, then the decoder's view.
    let switch = &html[html.find("<select id=\"map-kind\"").expect("a switch")..];
    let switch = &switch[..switch.find("</select>").unwrap()];
    for kind in KINDS {
        let selected = if kind == DEFAULT { " selected" } else { "" };
        let option = format!(
            "<option value=\"{}\"{selected}>{}</option>",
            kind.name(),
            html_escaped(kind.title())
        );
        assert!(switch.contains(&option), "{option} in {switch}");
    }
    assert!(
        switch.contains("<option value=\"decoder-difference\">"),
        "{switch}"
    );
    assert!(html.contains("<script>"), "the switch's script");

    // The section: network, layer, grid, each kind's colour bar (copied) and scale.
    let section = &html[html.find("<h2 id=\"maps\">").expect("the maps section")..];
    assert!(
        section.contains("efficientnet-lite0, layer pool"),
        "{section}"
    );
    assert!(section.contains("7 × 7 feature-map grid"), "{section}");
    assert!(section.contains("sums to the score"), "{section}");
    for (k, kind) in KINDS.iter().enumerate() {
        let bar = colour_bar_file(*kind);
        assert!(section.contains(&format!("src=\"images/{bar}\"")), "{bar}");
        assert!(out.join("images").join(&bar).is_file(), "{bar} copied");
        let scale = format!("<span>0</span><img src=\"images/{bar}\"");
        assert!(section.contains(&scale), "{scale}");
        let top = format!("{:.3}</span>", 0.25 * (k + 1) as f64);
        assert!(section.contains(&top), "{top} in {section}");
    }
}

#[test]
fn the_novelty_map_text_is_a_share_of_the_score_and_there_is_no_decoder_view_without_a_render() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_in(dir.path());
    let maps = maps_of(&run);
    let out = dir.path().join("report");
    let html = report(&out, &run, None, Some(&maps));
    let cell = map_cell(&html, 1);
    assert!(
        cell.contains(&format!(
            "data-map-novelty=\"top 10%: {:.0}% of the score\"",
            top_share(1, 0) * 100.0
        )),
        "{cell}"
    );
    assert!(
        !html.contains("decoder-difference"),
        "no render, no decoder view"
    );
}

#[test]
fn a_report_without_maps_has_no_maps_column_or_section() {
    let dir = tempfile::tempdir().unwrap();
    let run = run_in(dir.path());
    let render = render_of(&run);
    let out = dir.path().join("report");
    let html = report(&out, &run, Some(&render), None);
    assert!(!html.contains("where the novelty is"));
    assert!(!html.contains("map-kind"));
    assert!(!html.contains("id=\"maps\""));
    assert!(!html.contains("<script>"));
    for s in run.selections() {
        assert!(html.contains(&format!("data-rank=\"{}\"", s.rank)));
    }
    assert!(html.contains("src=\"images/0001-difference.png\""));
    assert!(!out.join("images").join(colour_bar_file(DEFAULT)).exists());
}

/// Text as the template's HTML escaping writes it.
fn html_escaped(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
        .replace('/', "&#x2f;")
}
