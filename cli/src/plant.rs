//! `demud plant`: write a collection with planted novelties and their masks.
//!
//! The folder it writes: `images/` (PNG), `masks/` (one PNG per planted image, white where
//! the novelty is), `manifest.csv` (`path,label`, for `extract --manifest`) and `planted.csv`
//! (`id,mask`, for `localise`).

use anyhow::{bail, Result};
use clap::{Args, Subcommand};
use demud_datasets::atomic::ensure_outside;
use demud_datasets::images::ImageCollection;
use demud_datasets::planted::{FlowerRecipe, PatchRecipe, PlantedCollection, PlantedItem};
use std::path::{Path, PathBuf};

/// Options of `demud plant`.
#[derive(Args, Debug, Clone)]
pub struct PlantArgs {
    /// Which collection.
    #[command(subcommand)]
    pub recipe: RecipeArg,
    /// Output folder.
    #[arg(
        long,
        global = true,
        value_name = "DIR",
        default_value = "results/planted"
    )]
    pub out: PathBuf,
    /// Seed of every random draw.
    #[arg(long, global = true, default_value_t = 2018)]
    pub seed: u64,
    /// How many items get a novelty.
    #[arg(long, global = true)]
    pub planted: Option<usize>,
}

/// The recipes.
#[derive(Subcommand, Debug, Clone)]
pub enum RecipeArg {
    /// Yellow flowers, discs and stars; a few flowers have a dark centre (the novelty).
    Flowers {
        /// Image side in pixels.
        #[arg(long, default_value_t = FlowerRecipe::default().size)]
        size: u32,
        /// Items of the common classes (flowers, discs, stars), comma-separated.
        #[arg(long, value_delimiter = ',', default_value = "200,150,100")]
        classes: Vec<usize>,
    },
    /// Real images with a foreign chequerboard patch pasted into a few of them.
    Patch {
        /// The images: one subfolder per class, or flat with --manifest.
        #[arg(long, value_name = "DIR")]
        images: PathBuf,
        /// CSV `path,label` listing the images (paths relative to --images).
        #[arg(long, value_name = "FILE")]
        manifest: Option<PathBuf>,
        /// Patch side as a share of the image's shorter side.
        #[arg(long, default_value_t = PatchRecipe::default().patch_share)]
        patch_share: f64,
    },
}

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
