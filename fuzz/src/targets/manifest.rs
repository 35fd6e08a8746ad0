//! The image manifest reader: `ImageCollection::from_manifest`.

use super::{Checks, Target};
use crate::mutate::{mutate_csv, Mutator};
use demud_datasets::images::ImageCollection;
use rand::Rng;
use rand_chacha::ChaCha8Rng;
use std::path::{Component, Path, PathBuf};

/// `ImageCollection::from_manifest` on a manifest of an image folder.
pub struct ManifestTarget;

/// The files of the image folder (the reader checks that listed files exist; their content
/// is not read).
const FILES: &[&str] = &[
    "a.png",
    "b.jpg",
    "sub/c.png",
    "é/d e.png",
    "x,y.png",
    "q\"uote.png",
    "deep/er/f.jpeg",
];

/// A file beside the image folder, which `../outside.png` names: refused for leaving the
/// folder, not for not existing.
const OUTSIDE: &str = "outside.png";

fn root(input: &Path) -> PathBuf {
    input.with_file_name("images")
}

impl Target for ManifestTarget {
    fn name(&self) -> &'static str {
        "manifest"
    }

    fn file_name(&self) -> &'static str {
        "manifest.csv"
    }

    fn prepare(&self, dir: &Path, rng: &mut ChaCha8Rng) -> Result<Vec<Vec<u8>>, String> {
        let images = root(&dir.join(self.file_name()));
        for file in FILES {
            let path = images.join(file);
            std::fs::create_dir_all(path.parent().expect("inside images"))
                .map_err(|e| e.to_string())?;
            std::fs::write(&path, b"").map_err(|e| e.to_string())?;
        }
        std::fs::write(dir.join(OUTSIDE), b"").map_err(|e| e.to_string())?;
        let mut seeds = Vec::new();
        for (i, header) in [true, true, false, true].into_iter().enumerate() {
            // A shuffled subset of the files, each with a label.
            let mut rows: Vec<(String, String)> = Vec::new();
            for file in FILES {
                if rng.random_bool(0.7) {
                    let label = ["cat", "1", "a b", ""][rng.random_range(0..4)];
                    rows.push((file.to_string(), label.to_string()));
                }
            }
            if rows.is_empty() {
                rows.push((FILES[0].to_string(), "x".into()));
            }
            for j in (1..rows.len()).rev() {
                rows.swap(j, rng.random_range(0..=j));
            }
            let path = dir.join(format!("seed-{i}.csv"));
            let mut writer = csv::Writer::from_path(&path).map_err(|e| e.to_string())?;
            if header {
                let names: &[&str] = if i == 3 {
                    &["path"]
                } else {
                    &["path", "label"]
                };
                writer.write_record(names).map_err(|e| e.to_string())?;
            }
            for (file, label) in &rows {
                if i == 3 {
                    writer.write_record([file]).map_err(|e| e.to_string())?;
                } else {
                    writer
                        .write_record([file, label])
                        .map_err(|e| e.to_string())?;
                }
            }
            writer.flush().map_err(|e| e.to_string())?;
            let collection =
                ImageCollection::from_manifest(&images, &path).map_err(|e| e.to_string())?;
            let back: Vec<(String, Option<String>)> = collection
                .items
                .into_iter()
                .map(|item| (item.id, item.label))
                .collect();
            let written: Vec<(String, Option<String>)> = rows
                .into_iter()
                .map(|(f, l)| (f, (i != 3).then_some(l)))
                .collect();
            if back != written {
                return Err(format!("{}: did not read back as written", path.display()));
            }
            seeds.push(std::fs::read(&path).map_err(|e| e.to_string())?);
        }
        seeds.push(b"path,label\n./a.png,x\nsub/c.png,y\n".to_vec());
        Ok(seeds)
    }

    fn tokens(&self) -> &'static [&'static str] {
        &[
            "../outside.png",
            "/etc/hostname",
            "./",
            "..",
            "sub/../a.png",
            "a.png",
            "sub/c.png",
            "sub",
            "path",
            "label",
            "//",
            "\u{0}",
            "~",
            "\\",
            "C:\\a.png",
            "a.png/",
            ".",
            "images/../images/a.png",
        ]
    }

    fn mutate(&self, m: &mut Mutator, input: &[u8]) -> Vec<u8> {
        if m.rng().random_bool(0.05) {
            // A path longer than the OS allows.
            let mut out = input.to_vec();
            out.extend_from_slice("deep/".repeat(1000).as_bytes());
            out.extend_from_slice(b"x.png,z\n");
            return out;
        }
        mutate_csv(m, input, self.tokens())
    }

    fn check(&self, input: &Path) -> Checks {
        let mut checks = Checks::default();
        let images = root(input);
        if let Some(collection) = checks.read(
            ImageCollection::from_manifest(&images, input),
            &[input, &images],
        ) {
            checks.require(!collection.items.is_empty(), || "no images".into());
            let mut seen = std::collections::HashSet::new();
            for item in &collection.items {
                checks.require(seen.insert(item.id.clone()), || {
                    format!("{:?} listed twice", item.id)
                });
                checks.require(
                    Path::new(&item.id)
                        .components()
                        .all(|c| matches!(c, Component::Normal(_) | Component::CurDir)),
                    || format!("{:?} leaves the image folder", item.id),
                );
                checks.require(collection.path(item).is_file(), || {
                    format!("{:?} is not a file", item.id)
                });
            }
        }
        checks
    }
}
