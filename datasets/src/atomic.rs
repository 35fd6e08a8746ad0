//! Writes that are all or nothing: one file, or a whole folder.
//!
//! A file is written to a temporary file in its own folder (the `tempfile` crate), flushed,
//! synced and renamed over its name, then the folder is synced, so a reader (or a crash) sees
//! the old file or the new one, never a part. A folder (a run, a render, a report, a planted
//! collection) is filled in a temporary sibling and swapped with the old one in a single
//! `renameat2(RENAME_EXCHANGE)` where the file system supports it (Linux), or by two renames
//! otherwise; the old folder is deleted only once the new one is in place. A failure or Ctrl-C
//! part-way leaves the previous complete folder and, at worst, a hidden `.NAME.staging-*`
//! folder beside it.
//!
//! ```
//! use demud_datasets::atomic::{commit_folder, write_atomic};
//! use std::io::Write;
//! let dir = tempfile::tempdir().unwrap();
//! let run = dir.path().join("run");
//! commit_folder(&run, |staging| write_atomic(&staging.join("a.txt"), |w| Ok(w.write_all(b"one")?))).unwrap();
//! // A failing second run leaves the first whole.
//! let failed: Result<(), demud_datasets::DataError> = commit_folder(&run, |staging| {
//!     write_atomic(&staging.join("a.txt"), |w| Ok(w.write_all(b"two")?))?;
//!     write_atomic(&staging.join("b.txt"), |_| Err("disk full".into()))
//! });
//! assert!(failed.is_err());
//! assert_eq!(std::fs::read_to_string(run.join("a.txt")).unwrap(), "one");
//! assert!(!run.join("b.txt").exists());
//! ```

use crate::error::{BoxError, DataError, Result};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};

/// The folder a path's file lives in (`.` for a bare name).
fn parent_of(path: &Path) -> &Path {
    match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => Path::new("."),
    }
}

/// Syncs a folder, so that a rename inside it survives a crash.
fn sync_folder(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Writes `path` atomically: `write` fills a temporary file in the same folder, which is
/// synced and renamed over `path` only if everything succeeded.
pub fn write_atomic(
    path: &Path,
    write: impl FnOnce(&mut dyn Write) -> std::result::Result<(), BoxError>,
) -> Result<()> {
    write_atomic_path(path, |temporary| {
        let file = std::fs::File::create(temporary)?;
        let mut writer = BufWriter::new(&file);
        write(&mut writer)?;
        writer.flush()?;
        drop(writer);
        file.sync_all()?;
        Ok(())
    })
}

/// [`write_atomic`] for writers that take a path (libtorch's safetensors writer): `write`
/// writes the file at the temporary path it is given.
pub fn write_atomic_path(
    path: &Path,
    write: impl FnOnce(&Path) -> std::result::Result<(), BoxError>,
) -> Result<()> {
    let dir = parent_of(path);
    std::fs::create_dir_all(dir).map_err(|e| DataError::write(path, e))?;
    let name = path
        .file_name()
        .ok_or_else(|| DataError::write(path, "not a file path"))?;
    let temporary = tempfile::Builder::new()
        .prefix(&format!(".{}.", name.to_string_lossy()))
        .suffix(".partial")
        .tempfile_in(dir)
        .map_err(|e| DataError::write(path, e))?;
    write(temporary.path()).map_err(|e| DataError::write(path, e))?;
    // The file is closed by `persist`'s rename; a synced rename needs the folder synced too.
    temporary
        .persist(path)
        .map_err(|e| DataError::write(path, e.error))?;
    sync_folder(dir).map_err(|e| DataError::write(path, e))
}

/// Builds the folder `target` whole: `fill` writes everything into an empty staging folder
/// beside it, which then replaces `target` (see the module documentation). On error nothing
/// at `target` changes and the staging folder is removed.
pub fn commit_folder<E: From<DataError>>(
    target: &Path,
    fill: impl FnOnce(&Path) -> std::result::Result<(), E>,
) -> std::result::Result<(), E> {
    let staging = StagingFolder::begin(target)?;
    fill(staging.path())?;
    staging.commit()?;
    Ok(())
}

/// A folder being built whole, for writers that fill it over a long time (a discovery run
/// streaming its explanation arrays as it makes selections): an empty hidden folder beside
/// `target` until [`StagingFolder::commit`] puts it in place as [`commit_folder`] does.
/// Dropped without a commit (an error, a panic), it is removed and `target` is untouched; a
/// killed process leaves it as a hidden `.NAME.staging-*` folder, never a folder at `target`.
#[derive(Debug)]
pub struct StagingFolder {
    target: PathBuf,
    staging: tempfile::TempDir,
}

impl StagingFolder {
    /// Creates the staging folder beside `target` (refusing a `target` that is a file).
    pub fn begin(target: &Path) -> Result<Self> {
        if target.exists() && !target.is_dir() {
            return Err(DataError::write(target, "exists and is not a folder"));
        }
        let parent = parent_of(target);
        std::fs::create_dir_all(parent).map_err(|e| DataError::write(target, e))?;
        let name = target
            .file_name()
            .ok_or_else(|| DataError::write(target, "not a folder path"))?;
        let staging = tempfile::Builder::new()
            .prefix(&format!(".{}.staging-", name.to_string_lossy()))
            .tempdir_in(parent)
            .map_err(|e| DataError::write(target, e))?;
        Ok(StagingFolder {
            target: target.to_path_buf(),
            staging,
        })
    }

    /// The staging folder, to write into.
    pub fn path(&self) -> &Path {
        self.staging.path()
    }

    /// The folder it will replace.
    pub fn target(&self) -> &Path {
        &self.target
    }

    /// Puts the staging folder at the target, replacing what was there in one step.
    pub fn commit(self) -> Result<()> {
        let target = self.target;
        let staged = self.staging.keep();
        swap_into_place(&staged, &target).map_err(|e| {
            let _ = std::fs::remove_dir_all(&staged);
            DataError::write(&target, e)
        })?;
        sync_folder(parent_of(&target)).map_err(|e| DataError::write(&target, e))
    }
}

/// Puts the folder `staged` at `target`; whatever was at `target` is deleted afterwards.
fn swap_into_place(staged: &Path, target: &Path) -> std::io::Result<()> {
    if !target.exists() {
        return std::fs::rename(staged, target);
    }
    if exchange(staged, target).is_ok() {
        // `staged` now names the old folder.
        return std::fs::remove_dir_all(staged);
    }
    // No atomic exchange here: move the old folder aside, the new one in, then delete the old.
    let aside = aside_name(target);
    std::fs::rename(target, &aside)?;
    if let Err(e) = std::fs::rename(staged, target) {
        let _ = std::fs::rename(&aside, target);
        return Err(e);
    }
    std::fs::remove_dir_all(&aside)
}

/// Swaps two paths in one atomic step (Linux `renameat2` with `RENAME_EXCHANGE`).
fn exchange(a: &Path, b: &Path) -> std::io::Result<()> {
    use rustix::fs::{renameat_with, RenameFlags, CWD};
    renameat_with(CWD, a, CWD, b, RenameFlags::EXCHANGE).map_err(std::io::Error::from)
}

fn aside_name(target: &Path) -> PathBuf {
    let name = target.file_name().unwrap_or_default().to_string_lossy();
    target.with_file_name(format!(".{name}.old-{}", std::process::id()))
}

/// Refuses an output folder that contains (or is) one of the inputs, or an output file that is
/// one: replacing it would delete that input.
pub fn ensure_outside(out: &Path, inputs: &[&Path]) -> Result<()> {
    let absolute = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let out_abs = absolute(out);
    for input in inputs {
        if absolute(input).starts_with(&out_abs) {
            return Err(DataError::OutputHoldsInput {
                out: out.to_path_buf(),
                input: input.to_path_buf(),
            });
        }
    }
    Ok(())
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
            Err("disk full".into())
        });
        assert!(err.is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "old");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
        write_atomic(&path, |w| Ok(w.write_all(b"new")?)).unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "new");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_committed_folder_replaces_the_old_one_whole_and_leaves_no_staging() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        let fill = |files: &'static [&'static str]| {
            move |staging: &Path| -> Result<()> {
                for f in files {
                    write_atomic(&staging.join(f), |w| Ok(w.write_all(f.as_bytes())?))?;
                }
                Ok(())
            }
        };
        commit_folder(&run, fill(&["a", "b"])).unwrap();
        commit_folder(&run, fill(&["c"])).unwrap();
        let mut names: Vec<String> = std::fs::read_dir(&run)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        assert_eq!(names, ["c"], "the old run's files are gone, not mixed in");
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn a_failed_commit_keeps_the_previous_folder_and_removes_the_staging() {
        let dir = tempfile::tempdir().unwrap();
        let run = dir.path().join("run");
        std::fs::create_dir(&run).unwrap();
        std::fs::write(run.join("selections.csv"), "old").unwrap();
        let result: Result<()> = commit_folder(&run, |staging| {
            std::fs::write(staging.join("selections.csv"), "new").unwrap();
            Err(DataError::write(staging, "interrupted"))
        });
        assert!(result.is_err());
        assert_eq!(
            std::fs::read_to_string(run.join("selections.csv")).unwrap(),
            "old"
        );
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    #[test]
    fn an_output_folder_may_not_hold_an_input() {
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("runs/x");
        assert!(ensure_outside(&out, &[&out.join("features.npy")]).is_err());
        assert!(ensure_outside(&out, &[&out]).is_err());
        assert!(ensure_outside(&out, &[&dir.path().join("runs/x.npy")]).is_ok());
    }
}
