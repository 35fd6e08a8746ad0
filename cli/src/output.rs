//! Writing run outputs: every file goes to a temporary name beside its target and is renamed
//! into place once complete, so a failed run never leaves a half-written file.

use anyhow::{Context, Result};
use image::ImageEncoder;
use ndarray::ArrayBase;
use ndarray_npy::WriteNpyExt;
use std::io::{BufWriter, Write};
use std::path::Path;

/// Writes `path` atomically: `write` fills a temporary file in the same folder, which is
/// synced and renamed over `path` only if everything succeeded.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut BufWriter<&std::fs::File>) -> Result<()>,
) -> Result<()> {
    let dir = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    };
    std::fs::create_dir_all(dir)
        .with_context(|| format!("cannot create folder {}", dir.display()))?;
    let name = path
        .file_name()
        .with_context(|| format!("{} is not a file path", path.display()))?;
    let tmp = dir.join(format!(
        ".{}.tmp-{}",
        name.to_string_lossy(),
        std::process::id()
    ));
    let result = (|| {
        let file = std::fs::File::create(&tmp)
            .with_context(|| format!("cannot create {}", tmp.display()))?;
        let mut writer = BufWriter::new(&file);
        write(&mut writer)?;
        writer.flush()?;
        drop(writer);
        file.sync_all()?;
        std::fs::rename(&tmp, path)
            .with_context(|| format!("cannot move {} into place", path.display()))
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result.with_context(|| format!("writing {}", path.display()))
}

/// Writes a serializable value as pretty JSON.
pub fn write_json(path: &Path, value: &impl serde::Serialize) -> Result<()> {
    write_atomic(path, |w| {
        serde_json::to_writer_pretty(&mut *w, value)?;
        writeln!(w)?;
        Ok(())
    })
}

/// Writes an array (any number of axes) as `.npy`.
pub fn write_npy<A, S, D>(path: &Path, array: &ArrayBase<S, D>) -> Result<()>
where
    A: ndarray_npy::WritableElement,
    S: ndarray::Data<Elem = A>,
    D: ndarray::Dimension,
{
    write_atomic(path, |w| {
        array.write_npy(w)?;
        Ok(())
    })
}

/// Writes an image as PNG.
pub fn write_png<P>(path: &Path, image: &image::ImageBuffer<P, Vec<u8>>) -> Result<()>
where
    P: image::PixelWithColorType<Subpixel = u8>,
{
    write_atomic(path, |w| {
        image::codecs::png::PngEncoder::new(w).write_image(
            image.as_raw(),
            image.width(),
            image.height(),
            P::COLOR_TYPE,
        )?;
        Ok(())
    })
}

/// Writes CSV rows (the first is the header).
pub fn write_csv<I, R>(path: &Path, rows: I) -> Result<()>
where
    I: IntoIterator<Item = R>,
    R: IntoIterator,
    R::Item: AsRef<[u8]>,
{
    write_atomic(path, |w| {
        let mut csv = csv::Writer::from_writer(w);
        for row in rows {
            csv.write_record(row)?;
        }
        csv.flush()?;
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_failed_write_leaves_the_old_file_and_no_temporary() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("out.csv");
        std::fs::write(&path, "old").unwrap();
        let err = write_atomic(&path, |w| {
            w.write_all(b"partial")?;
            anyhow::bail!("disk full")
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomic(&path, |w| Ok(w.write_all(b"new")?)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
    }
}
