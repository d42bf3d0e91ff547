//! Where files live in the data directory, and the durable file operations.
//!
//! ```text
//! DATA_DIR/
//!   index.sqlite                 SQLite index (WAL mode)
//!   objects/STUDY/SERIES/SOP.dcm one Part 10 file per instance
//!   tmp/PID-N.part               instances being received
//! ```
//!
//! Object paths are made of the UIDs themselves, so a copy of `objects/` can be
//! read by any DICOM tool and the index rebuilt from it. A UID that is not safe
//! as a file name (only digits and dots are) is replaced by a hash of it.

use std::fs::{self, File};
use std::path::{Path, PathBuf};

use sansfilm_dicom::uid::is_path_safe_uid;
use sha2::{Digest, Sha256};

use crate::{Error, Result};

/// Directory of the object store, relative to the data directory.
pub const OBJECTS_DIR: &str = "objects";
/// Directory of instances being received, relative to the data directory.
pub const TMP_DIR: &str = "tmp";
/// File name of the SQLite index.
pub const INDEX_FILE: &str = "index.sqlite";

/// Paths of one data directory.
#[derive(Debug, Clone)]
pub struct Layout {
    root: PathBuf,
}

impl Layout {
    /// Layout rooted at `root`.
    pub fn new(root: impl Into<PathBuf>) -> Self {
        Layout { root: root.into() }
    }

    /// The data directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// The object store.
    pub fn objects(&self) -> PathBuf {
        self.root.join(OBJECTS_DIR)
    }

    /// The temporary directory.
    pub fn tmp(&self) -> PathBuf {
        self.root.join(TMP_DIR)
    }

    /// The index database file.
    pub fn index_file(&self) -> PathBuf {
        self.root.join(INDEX_FILE)
    }

    /// Path of an instance, relative to the data directory. `variant` is set for
    /// a second version of an instance with the same SOP Instance UID but other
    /// content, and makes its name unique.
    pub fn relative_object_path(
        &self,
        study_uid: &str,
        series_uid: &str,
        sop_instance_uid: &str,
        variant: Option<&str>,
    ) -> PathBuf {
        let file = match variant {
            None => format!("{}.dcm", path_component(sop_instance_uid)),
            Some(v) => format!("{}.{v}.dcm", path_component(sop_instance_uid)),
        };
        PathBuf::from(OBJECTS_DIR)
            .join(path_component(study_uid))
            .join(path_component(series_uid))
            .join(file)
    }

    /// Absolute path from a path relative to the data directory.
    pub fn absolute(&self, relative: &Path) -> PathBuf {
        self.root.join(relative)
    }
}

/// A UID as a file name: itself when safe, else `x` and 32 hex digits of its hash.
pub fn path_component(uid: &str) -> String {
    if is_path_safe_uid(uid) {
        uid.to_string()
    } else {
        let digest = Sha256::digest(uid.as_bytes());
        format!("x{}", &hex::encode(digest)[..32])
    }
}

/// fsyncs a directory so that entries created or renamed in it are durable.
pub fn sync_dir(dir: &Path) -> Result<()> {
    File::open(dir)
        .and_then(|d| d.sync_all())
        .map_err(|e| Error::io(dir, e))
}

/// Creates `dir` and its missing parents, fsyncing the parent of each directory
/// created, so that the new entries survive a crash.
pub fn create_dir_all_durable(dir: &Path) -> Result<()> {
    if dir.is_dir() {
        return Ok(());
    }
    // A relative path's last parent is "" (`Path::new("data").parent()`):
    // that is the current directory.
    let parent = match dir.parent() {
        Some(p) if p.as_os_str().is_empty() => Path::new("."),
        Some(p) => p,
        None => Path::new("/"),
    };
    create_dir_all_durable(parent)?;
    match fs::create_dir(dir) {
        Ok(()) => sync_dir(parent),
        // Another thread created it meanwhile: it syncs the parent itself.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(Error::io(dir, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_from_uids() {
        let l = Layout::new("/data");
        assert_eq!(
            l.relative_object_path("1.2", "1.2.3", "1.2.3.4", None),
            PathBuf::from("objects/1.2/1.2.3/1.2.3.4.dcm")
        );
        assert_eq!(
            l.relative_object_path("1.2", "1.2.3", "1.2.3.4", Some("ab12")),
            PathBuf::from("objects/1.2/1.2.3/1.2.3.4.ab12.dcm")
        );
        let evil = l.relative_object_path("../..", "a/b", "1.2", None);
        assert!(!evil.to_string_lossy().contains(".."));
        assert!(evil.to_string_lossy().starts_with("objects/x"));
    }
}
