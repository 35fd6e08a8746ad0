//! The HTML page of a mislabel audit: the most suspect items, each with the class it resembles,
//! the evidence, its largest residual features and its nearest items of both classes (as
//! thumbnails when the items are images), and where in each image it departs from its own
//! class and from the class it resembles (overlays, when maps are given).

use crate::error::{ReportError, Result};
use demud_datasets::atomic::{commit_folder, write_atomic};
use demud_datasets::run::{AuditFeatureRow, AuditNeighbourRow, AuditRow};
use demud_maps::audit::{AuditMaps, SuspectMaps};
use demud_maps::maps::top_share;
use demud_maps::overlay::{colour_bar, overlay};
use image::RgbImage;
use serde::Serialize;
use std::collections::HashMap;
use std::path::{Path, PathBuf};

const TEMPLATE: &str = include_str!("../templates/audit.html");

/// Side of the thumbnails, in pixels.
const THUMBNAIL: u32 = 96;

/// What the audit page shows.
pub struct AuditPage<'a> {
    /// The page's title.
    pub title: &'a str,
    /// A line under the title.
    pub summary: &'a str,
    /// Every audited item, most suspect first (`audit.csv`).
    pub rows: &'a [AuditRow],
    /// Their largest residual features (`features.csv`).
    pub features: &'a [AuditFeatureRow],
    /// Their nearest items of both classes (`neighbours.csv`).
    pub neighbours: &'a [AuditNeighbourRow],
    /// The image folder the ids are paths in, for thumbnails.
    pub images: Option<&'a Path>,
    /// Items shown.
    pub top: usize,
    /// Where in each image the suspects depart from their own class and from the class they
    /// resemble (drawn over the images for the items that have them).
    pub maps: Option<&'a AuditMaps>,
}

/// Two overlays of a suspect: its own class's residual and the resembled class's.
#[derive(Serialize)]
struct Overlays {
    own: String,
    resembled: String,
    own_total: String,
    resembled_total: String,
    own_share: String,
}

#[derive(Serialize)]
struct Neighbour {
    id: String,
    distance: String,
    image: Option<String>,
}

#[derive(Serialize)]
struct Side {
    class: String,
    neighbours: Vec<Neighbour>,
}

#[derive(Serialize)]
struct Feature {
    name: String,
    residual: String,
    expected: String,
    actual: String,
}

#[derive(Serialize)]
struct Item {
    rank: usize,
    id: String,
    label: String,
    resembles: String,
    score: String,
    ratio: String,
    agreement: String,
    evidence: String,
    own_residual: String,
    other_residual: String,
    image: Option<String>,
    overlays: Option<Overlays>,
    sides: Vec<Side>,
    features: Vec<Feature>,
}

/// Writes a PNG into the staging folder.
fn write_png(staging: &Path, name: &str, image: &RgbImage) -> Result<()> {
    write_atomic(&staging.join(name), |w| {
        let mut bytes = Vec::new();
        image.write_to(
            &mut std::io::Cursor::new(&mut bytes),
            image::ImageFormat::Png,
        )?;
        Ok(w.write_all(&bytes)?)
    })?;
    Ok(())
}

/// The share of the map's total in its top 10% of pixels, as the run report prints it.
const TOP_FRACTION: f64 = 0.1;

/// Draws `suspect`'s two maps over its image into `staging/maps/`.
fn overlays(staging: &Path, rank: usize, suspect: &SuspectMaps, scale: f32) -> Result<Overlays> {
    let own = format!("maps/{rank:05}-own.png");
    let resembled = format!("maps/{rank:05}-resembled.png");
    write_png(
        staging,
        &own,
        &overlay(&suspect.prepared, suspect.own.view(), scale),
    )?;
    write_png(
        staging,
        &resembled,
        &overlay(&suspect.prepared, suspect.resembled.view(), scale),
    )?;
    let share = top_share(suspect.own.view(), TOP_FRACTION, suspect.own_total);
    Ok(Overlays {
        own,
        resembled,
        own_total: format!("{:.4}", suspect.own_total),
        resembled_total: format!("{:.4}", suspect.resembled_total),
        own_share: if share.is_finite() {
            format!("{:.0}%", 100.0 * share)
        } else {
            "-".into()
        },
    })
}

/// Writes `id`'s thumbnail into `staging/thumbs/` once, returning its path in the page.
fn thumbnail(
    images: &Path,
    id: &str,
    staging: &Path,
    made: &mut HashMap<String, String>,
) -> Result<String> {
    if let Some(done) = made.get(id) {
        return Ok(done.clone());
    }
    let path = images.join(id);
    let image = image::open(&path).map_err(|e| ReportError::Image {
        path: path.clone(),
        reason: format!("item {id:?} is not a readable image of the image folder: {e}"),
    })?;
    let small = image.thumbnail(THUMBNAIL, THUMBNAIL).to_rgb8();
    let name = format!("thumbs/{:05}.png", made.len());
    write_png(staging, &name, &small)?;
    made.insert(id.to_string(), name.clone());
    Ok(name)
}

/// Writes the page folder `out` whole (`index.html`, `thumbs/`); returns the page's path.
pub fn write_audit_page(out: &Path, page: &AuditPage) -> Result<PathBuf> {
    commit_folder(out, |staging| -> Result<()> {
        let mut made = HashMap::new();
        let mut thumb = |id: &str| -> Result<Option<String>> {
            page.images
                .map(|root| thumbnail(root, id, staging, &mut made))
                .transpose()
        };
        let mut items = Vec::new();
        if page.maps.is_some() {
            write_png(staging, "maps/colour-bar.png", &colour_bar(256, 12))?;
        }
        for row in page.rows.iter().take(page.top) {
            let overlays = match page
                .maps
                .and_then(|m| m.suspects.iter().find(|s| s.id == row.id).map(|s| (m, s)))
            {
                Some((maps, suspect)) => Some(overlays(staging, row.rank, suspect, maps.scale)?),
                None => None,
            };
            let mut sides: Vec<Side> = Vec::new();
            for n in page.neighbours.iter().filter(|n| n.rank == row.rank) {
                let neighbour = Neighbour {
                    id: n.neighbour.clone(),
                    distance: format!("{:.3}", n.distance),
                    image: thumb(&n.neighbour)?,
                };
                match sides.iter_mut().find(|s| s.class == n.class) {
                    Some(side) => side.neighbours.push(neighbour),
                    None => sides.push(Side {
                        class: n.class.clone(),
                        neighbours: vec![neighbour],
                    }),
                }
            }
            let features = page
                .features
                .iter()
                .filter(|f| f.rank == row.rank)
                .map(|f| Feature {
                    name: f.name.clone(),
                    residual: format!("{:+.4}", f.residual),
                    expected: format!("{:.4}", f.expected),
                    actual: format!("{:.4}", f.actual),
                })
                .collect();
            items.push(Item {
                rank: row.rank,
                id: row.id.clone(),
                label: row.label.clone(),
                resembles: row.resembles.clone(),
                score: format!("{:.4}", row.score),
                ratio: format!("{:.3}", row.ratio),
                agreement: format!("{:.2}", row.agreement),
                evidence: row.evidence.clone(),
                own_residual: format!("{:.4}", row.own_residual),
                other_residual: format!("{:.4}", row.other_residual),
                image: thumb(&row.id)?,
                overlays,
                sides,
                features,
            });
        }
        let mut env = minijinja::Environment::new();
        env.set_auto_escape_callback(|_| minijinja::AutoEscape::Html);
        env.add_template("audit.html", TEMPLATE)?;
        let html = env
            .get_template("audit.html")?
            .render(minijinja::context! {
                title => page.title,
                summary => page.summary,
                items => items,
                map_kind => page.maps.map(|m| m.kind.name()),
                scale => page.maps.map(|m| format!("{:.4}", m.scale)),
            })?;
        write_atomic(&staging.join("index.html"), |w| {
            Ok(w.write_all(html.as_bytes())?)
        })?;
        Ok(())
    })?;
    Ok(out.join("index.html"))
}
