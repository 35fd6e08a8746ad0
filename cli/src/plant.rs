//! `demud plant`: write a collection with planted novelties and their masks.
//!
//! The folder it writes: `images/` (PNG), `masks/` (one PNG per planted image, white where
//! the novelty is), `manifest.csv` (`path,label`, for `extract --manifest`) and `planted.csv`
//! (`id,mask`, for `localise`).

use crate::args::{PlantArgs, RecipeArg};
use anyhow::{bail, Result};
use demud_datasets::atomic::ensure_outside;
use demud_datasets::images::ImageCollection;
use demud_datasets::planted::{FlowerRecipe, PatchRecipe, PlantedCollection, PlantedItem};
use std::path::Path;

/// `demud plant`.
pub fn run(args: &PlantArgs) -> Result<()> {
    let collection = match &args.recipe {
        RecipeArg::Flowers { size, classes } => FlowerRecipe {
            seed: args.seed,
            size: *size,
            class_sizes: classes.clone(),
            planted: args.planted.unwrap_or(FlowerRecipe::default().planted),
        }
        .generate(),
        RecipeArg::Patch {
            images,
            manifest,
            patch_share,
        } => {
            if !(*patch_share > 0.0 && *patch_share <= 1.0) {
                bail!("--patch-share {patch_share} must be in (0, 1]");
            }
            ensure_outside(&args.out, &[images.as_path()])?;
            let source = match manifest {
                Some(m) => ImageCollection::from_manifest(images, m)?,
                None => ImageCollection::from_folder(images)?,
            };
            let mut items = Vec::with_capacity(source.items.len());
            for item in &source.items {
                let stem = Path::new(&item.id).with_extension("png");
                items.push(PlantedItem {
                    id: format!("images/{}", stem.to_string_lossy()),
                    label: item.label.clone().unwrap_or_default(),
                    image: source.load(item)?,
                    mask: None,
                    original: None,
                });
            }
            PatchRecipe {
                seed: args.seed,
                planted: args.planted.unwrap_or(PatchRecipe::default().planted),
                patch_share: *patch_share,
                ..PatchRecipe::default()
            }
            .apply(&mut items);
            PlantedCollection { items }
        }
    };
    collection.write(&args.out)?;
    let planted = collection.items.iter().filter(|i| i.mask.is_some()).count();
    eprintln!(
        "{} images ({planted} planted) -> {}: images/, masks/, manifest.csv, planted.csv",
        collection.items.len(),
        args.out.display()
    );
    Ok(())
}
