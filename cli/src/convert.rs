//! `demud convert`: a features file rewritten as a `.npy` of another storage precision
//! (`--store f16` halves a large collection, which `discover` then maps and ranks in place).

use crate::args::{ConvertArgs, StoreArg};
use anyhow::Result;
use demud_datasets::atomic::ensure_outside;
use demud_datasets::features::{convert_features, items_path, Store};
use std::path::Path;

/// `demud convert`.
pub fn run(args: &ConvertArgs) -> Result<()> {
    // Neither the features nor an items file may be replaced: the output's items file is
    // written beside it.
    let beside = items_path(&args.features);
    let mut inputs: Vec<&Path> = vec![&args.features, &beside];
    inputs.extend(args.items.as_deref());
    for out in [args.out.clone(), items_path(&args.out)] {
        ensure_outside(&out, &inputs)?;
    }
    let store = match args.store {
        StoreArg::F16 => Store::F16,
        StoreArg::F32 => Store::F32,
    };
    let converted = convert_features(&args.features, args.items.as_deref(), &args.out, store)?;
    if let Some((id, feature, value)) = &converted.first_flushed {
        eprintln!(
            "warning: {} non-zero value(s) below the precision's smallest were written as 0 (absolute error below 3e-8 in f16), the first item {id:?}, feature {feature:?}: {value:e}",
            converted.flushed
        );
    }
    if !args.quiet {
        eprintln!(
            "wrote {} items x {} features as {} ({:.2} GB) to {}",
            converted.items,
            converted.features,
            match store {
                Store::F16 => "f16",
                Store::F32 => "f32",
            },
            converted.bytes as f64 / 1e9,
            args.out.display()
        );
    }
    Ok(())
}
