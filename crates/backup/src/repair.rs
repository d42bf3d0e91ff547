//! Repairing damaged or missing objects of the archive from a backup.
//!
//! Blobs are named by the SHA-256 that the archive's index records (in an
//! encrypted repository, by a keyed hash of it), so the good version of an
//! object is found without reading any manifest: the blob of the hash the
//! index expects.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

use crate::repository::Repository;

/// Puts back the object at `relative` (in `data_dir`) from `repo`, if the
/// repository holds content with `sha256`. The good copy is written beside,
/// checked, made durable, then renamed over the damaged file.
pub fn repair_object(
    repo: &Repository,
    data_dir: &Path,
    relative: &Path,
    sha256: &str,
) -> Result<(), String> {
    let dest = data_dir.join(relative);
    let mut blob = repo.open_blob(sha256).map_err(|e| match e.kind() {
        io::ErrorKind::NotFound => format!("no copy in {}", repo.describe()),
        _ => format!("reading the copy in {}: {e}", repo.describe()),
    })?;
    let dir = dest
        .parent()
        .ok_or_else(|| format!("{} has no parent directory", dest.display()))?
        .to_path_buf();
    fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let tmp: PathBuf = dir.join(format!(".repair-{}.part", std::process::id()));
    let result = (|| {
        let mut out = File::create(&tmp).map_err(|e| format!("{}: {e}", tmp.display()))?;
        let mut hasher = Sha256::new();
        let mut buf = vec![0u8; 1 << 20];
        loop {
            let n = blob
                .read(&mut buf)
                .map_err(|e| format!("reading the copy: {e}"))?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            out.write_all(&buf[..n])
                .map_err(|e| format!("{}: {e}", tmp.display()))?;
        }
        let got = hex::encode(hasher.finalize());
        if got != sha256 {
            return Err(format!(
                "the copy in {} is damaged too (SHA-256 {got})",
                repo.describe()
            ));
        }
        out.sync_all()
            .map_err(|e| format!("{}: {e}", tmp.display()))?;
        fs::rename(&tmp, &dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        File::open(&dir)
            .and_then(|d| d.sync_all())
            .map_err(|e| format!("{}: {e}", dir.display()))
    })();
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
