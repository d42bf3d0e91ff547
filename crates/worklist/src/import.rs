//! Import of DCMTK-style worklist files (`*.wl`, as wlmscpfs and Orthanc read
//! them): one DICOM file per scheduled procedure step.

use std::path::{Path, PathBuf};

use crate::model::WorklistItem;
use crate::{Error, Result};

/// Reads one `.wl` file.
pub fn read_wl_file(path: &Path) -> Result<WorklistItem> {
    let obj = dicom_object::open_file(path).map_err(|e| Error::File {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    Ok(WorklistItem::from_dataset(&obj))
}

/// The `*.wl` files of a directory, sorted.
pub fn wl_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let entries = std::fs::read_dir(dir).map_err(|e| Error::File {
        path: dir.to_path_buf(),
        reason: e.to_string(),
    })?;
    let mut files: Vec<PathBuf> = entries
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x.eq_ignore_ascii_case("wl")))
        .collect();
    files.sort();
    Ok(files)
}
