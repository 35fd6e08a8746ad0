//! # demud-fuzz
//!
//! Fuzzes the readers of demud's files on stable Rust: the CSV feature reader, the `.npy`
//! reader, the items reader, the saved-model reader and the image manifest reader. Each
//! target starts from valid files made by the crate's own writers (checked to read back as
//! written), mutates them at the byte level and structurally (cells and lines, `.npy` header
//! fields, JSON nodes, paths), writes each input to a file and reads it under
//! `catch_unwind`, for a time budget or a number of inputs, from a seed.
//!
//! An input is a *finding* when a reader panics, when it asks for more than a limit in one
//! allocation (which would abort on a real file; see [`guard`]), when an accepted input's
//! content is inconsistent (shapes, duplicate ids, infinite values, a model that is not
//! orthonormal or does not write and read back as itself), or when an error does not name
//! its file. The input is saved and the run stops with the target, seed and iteration.
//!
//! ```
//! use demud_fuzz::harness::{run, Budget, Settings};
//! use demud_fuzz::targets::target;
//! let work = tempfile::tempdir().unwrap();
//! let settings = Settings {
//!     seed: 1,
//!     budget: Budget::Iterations(200),
//!     crashes: work.path().join("crashes"),
//!     corpus_out: None,
//!     work: work.path().to_path_buf(),
//!     progress_every: 0.0,
//! };
//! let stats = run(target("csv").unwrap().as_ref(), &settings).unwrap();
//! assert_eq!(stats.iterations, 200);
//! assert!(stats.accepted > 0 && stats.refused > 0);
//! ```

#![warn(missing_docs)]

pub mod guard;
pub mod harness;
pub mod mutate;
pub mod targets;
