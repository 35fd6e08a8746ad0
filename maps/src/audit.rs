//! Where in an image a suspect of the mislabel audit departs from its class: the item's
//! residual under its own class's model, and under the model of the class it resembles, each
//! split over the layer's feature map (the novelty map of [`maps_of`], with the audit's class
//! model in place of DEMUD's). The own-class map sums to the squared residual the audit judged
//! the item by; where it is hot and the resembled class's map is cold is what the item shares
//! with the other class and not with its own.

use crate::error::{MapsError, Result};
use crate::maps::{available_kinds, colour_scale, maps_of, Explained};
use crate::network::{Network, Parts};
use demud::audit::Audit;
use demud::scoring::{ScoreMethod, Scoring};
use demud_datasets::features::FeatureMatrix;
use demud_datasets::images::{ImageCollection, ImageItem};
use demud_datasets::run::MapKind;
use image::RgbImage;
use ndarray::Array2;
use std::path::Path;

/// One suspect's two maps, at the network's input size.
#[derive(Clone, Debug)]
pub struct SuspectMaps {
    /// The item (0-based index).
    pub index: usize,
    /// Its id (its path in the image folder).
    pub id: String,
    /// The image as the network saw it.
    pub prepared: RgbImage,
    /// Its residual under its own class's model, over the image.
    pub own: Array2<f32>,
    /// Its residual under the resembled class's model, over the image.
    pub resembled: Array2<f32>,
    /// The own map's total (the own class's squared residual, for the novelty map).
    pub own_total: f64,
    /// The resembled map's total.
    pub resembled_total: f64,
}

/// The maps of an audit's explained suspects ([`Audit::explanations`]).
#[derive(Clone, Debug)]
pub struct AuditMaps {
    /// The kind drawn: the exact novelty split where the layer is a sum over a feature map,
    /// gradient x input otherwise.
    pub kind: MapKind,
    /// One colour scale for every map, so that the two classes' maps and the items compare.
    pub scale: f32,
    /// Most suspect first.
    pub suspects: Vec<SuspectMaps>,
}

/// Maps each explained suspect of `audit`. `features` are the audited items' features as the
/// network makes them (before the audit's conditioning; checked against the network's, as for
/// a run), `ids` their paths in `images`; `saved` replaces the network's forward pass with the
/// parts extraction saved (`parts(i)` gives item `i`'s).
pub fn map_suspects(
    network: &Network,
    images: &Path,
    ids: &[String],
    features: &FeatureMatrix,
    audit: &Audit,
    saved: Option<&dyn Fn(usize) -> Result<Parts>>,
) -> Result<AuditMaps> {
    let scoring = Scoring::new(ScoreMethod::LowHigh);
    let collection = ImageCollection {
        root: images.to_path_buf(),
        items: Vec::new(),
    };
    let mut kind = None;
    let mut suspects = Vec::with_capacity(audit.explanations.len());
    for explanation in &audit.explanations {
        let i = explanation.index;
        let image = network.load(
            &collection,
            &ImageItem {
                id: ids[i].clone(),
                label: None,
            },
        )?;
        // The parts once per item: both maps split the same feature map.
        let parts = match saved {
            Some(part_of) => Some(part_of(i)?),
            None => network.parts(&network.prepare(&image))?,
        };
        let kind = *kind.get_or_insert_with(|| available_kinds(parts.is_some(), false)[0]);
        let one = |fit: &demud::audit::ClassFit| {
            maps_of(
                network,
                &image,
                features.row_f64(i).view(),
                Explained {
                    conditioner: &audit.conditioner,
                    scoring: &scoring,
                    expected: fit.expected.view(),
                    residual: fit.residual.view(),
                },
                &[kind],
                parts.clone(),
            )
            .map_err(|e| match e {
                MapsError::Mismatch(why) => MapsError::Mismatch(format!(
                    "{} (item {:?}): {why}",
                    images.join(&ids[i]).display(),
                    ids[i]
                )),
                other => other,
            })
        };
        let own = one(&explanation.own)?;
        let resembled = one(&explanation.resembled)?;
        let total = |m: &crate::maps::SelectionMaps| match &m.cells {
            Some(cells) => cells.sum(),
            None => m.maps[0].iter().map(|&v| f64::from(v)).sum(),
        };
        suspects.push(SuspectMaps {
            index: i,
            id: ids[i].clone(),
            own_total: total(&own),
            resembled_total: total(&resembled),
            prepared: own.prepared,
            own: own.maps.into_iter().next().expect("one kind asked for"),
            resembled: resembled
                .maps
                .into_iter()
                .next()
                .expect("one kind asked for"),
        });
    }
    let scale = colour_scale(
        suspects
            .iter()
            .flat_map(|s| s.own.iter().chain(s.resembled.iter()).copied()),
    );
    Ok(AuditMaps {
        kind: kind.unwrap_or(MapKind::Novelty),
        scale,
        suspects,
    })
}
