//! Integrity check of the archive: every indexed file re-hashed, every file on
//! disk accounted for.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::Read;
use std::path::{Path, PathBuf};

use sansfilm_dicom::{InstanceSummary, part10};
use sha2::{Digest, Sha256};

use crate::index::InstanceRecord;
use crate::{Archive, Error, Result};

/// What [`Archive::verify`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct VerifyReport {
    /// Indexed instances checked.
    pub checked: u64,
    /// Bytes read and hashed.
    pub bytes: u64,
    /// Indexed files whose content no longer matches the recorded SHA-256.
    pub corrupt: Vec<PathBuf>,
    /// Indexed files that are gone.
    pub missing: Vec<PathBuf>,
    /// Files in the object store that the index does not know.
    pub orphans: Vec<PathBuf>,
}

impl VerifyReport {
    /// Whether nothing is wrong.
    pub fn is_clean(&self) -> bool {
        self.corrupt.is_empty() && self.missing.is_empty() && self.orphans.is_empty()
    }
}

impl Archive {
    /// Re-hashes every indexed file and lists files the index does not know.
    /// `progress` is called after each file with (done, total).
    pub fn verify(&self, mut progress: impl FnMut(u64, u64)) -> Result<VerifyReport> {
        let instances = self.index().all_instances()?;
        let total = instances.len() as u64;
        let mut report = VerifyReport::default();
        let mut indexed = HashSet::with_capacity(instances.len());
        for (i, inst) in instances.iter().enumerate() {
            let abs = self.layout().absolute(&inst.path);
            indexed.insert(inst.path.clone());
            match sha256_file(&abs) {
                Ok((hash, size)) => {
                    report.bytes += size;
                    if hash != inst.sha256 || size != inst.size {
                        tracing::error!(path = %inst.path.display(), "stored file does not match its recorded hash");
                        report.corrupt.push(inst.path.clone());
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    tracing::error!(path = %inst.path.display(), "indexed file is missing");
                    report.missing.push(inst.path.clone());
                }
                Err(e) => return Err(Error::io(abs, e)),
            }
            report.checked += 1;
            progress(i as u64 + 1, total);
        }
        for rel in self.orphans(&indexed)? {
            tracing::warn!(path = %rel.display(), "file in the object store is not indexed");
            report.orphans.push(rel);
        }
        Ok(report)
    }

    /// A quick consistency check for start-up: every indexed file exists
    /// (no hashing), and every file of the object store is indexed (an
    /// orphan is what a lost WAL tail leaves). `corrupt` stays empty: that
    /// takes [`Archive::verify`].
    ///
    /// It may run while the archive works: the files are listed before the
    /// index is read (a file placed meanwhile has its row by then), and each
    /// finding is looked up again before it is reported (a compression swap
    /// may have moved a row to another file).
    pub fn quick_check(&self) -> Result<VerifyReport> {
        let files = object_files(&self.layout().objects())?;
        let instances = self.index().all_instances()?;
        let mut report = VerifyReport::default();
        let mut indexed = HashSet::with_capacity(instances.len());
        for inst in &instances {
            let abs = self.layout().absolute(&inst.path);
            match fs::metadata(&abs) {
                Ok(_) => report.checked += 1,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                    if self.index().has_path(&inst.path)? {
                        report.missing.push(inst.path.clone())
                    }
                }
                Err(e) => return Err(Error::io(abs, e)),
            }
            indexed.insert(inst.path.clone());
        }
        for file in files {
            let rel = file
                .strip_prefix(self.layout().root())
                .unwrap_or(&file)
                .to_path_buf();
            if !indexed.contains(&rel) && file.exists() && !self.index().has_path(&rel)? {
                report.orphans.push(rel);
            }
        }
        Ok(report)
    }

    /// Files of the object store that are not in `indexed`.
    fn orphans(&self, indexed: &HashSet<PathBuf>) -> Result<Vec<PathBuf>> {
        let mut out = vec![];
        for file in object_files(&self.layout().objects())? {
            let rel = file
                .strip_prefix(self.layout().root())
                .unwrap_or(&file)
                .to_path_buf();
            if !indexed.contains(&rel) {
                out.push(rel);
            }
        }
        Ok(out)
    }

    /// Indexes a Part 10 file that is already in the object store (an orphan
    /// left by a crash between rename and index commit, or a rebuilt index).
    pub fn index_existing(&self, relative: &Path) -> Result<i64> {
        let record = record_of_file(self.layout(), relative, self.index())?;
        self.index().insert(record)
    }
}

/// The index record of a Part 10 file of the object store, read from the
/// file alone; `conflict` when `index` already has its SOP Instance UID.
pub(crate) fn record_of_file(
    layout: &crate::layout::Layout,
    relative: &Path,
    index: &crate::Index,
) -> Result<InstanceRecord> {
    let abs = layout.absolute(relative);
    let summary = InstanceSummary::from_file(&abs)?;
    let (sha256, size) = sha256_file(&abs).map_err(|e| Error::io(&abs, e))?;
    let mut file = File::open(&abs).map_err(|e| Error::io(&abs, e))?;
    let (meta, _dataset_offset) = part10::read_meta(&mut file)?;
    let mut content = Sha256::new();
    std::io::copy(&mut file, &mut content).map_err(|e| Error::io(&abs, e))?;
    let content_sha256 = hex::encode(content.finalize());
    let existing = index.instances_by_uid(&summary.sop_instance_uid)?;
    Ok(InstanceRecord {
        summary,
        path: relative.to_path_buf(),
        size,
        sha256,
        content_sha256,
        calling_ae: meta
            .source_application_entity_title()
            .unwrap_or_default()
            .to_string(),
        conflict: !existing.is_empty(),
    })
}

/// SHA-256 (hex) and size of a file.
pub fn sha256_file(path: &Path) -> std::io::Result<(String, u64)> {
    let mut file = File::open(path)?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = file.read(&mut buf)?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
        size += n as u64;
    }
    Ok((hex::encode(hasher.finalize()), size))
}

/// Every `.dcm` file under `dir`, recursively.
pub(crate) fn object_files(dir: &Path) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let entries = match fs::read_dir(&d) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io(&d, e)),
        };
        for entry in entries {
            let entry = entry.map_err(|e| Error::io(&d, e))?;
            let path = entry.path();
            let ft = entry.file_type().map_err(|e| Error::io(&path, e))?;
            if ft.is_dir() {
                stack.push(path);
            } else if path.extension().is_some_and(|e| e == "dcm") {
                out.push(path);
            }
        }
    }
    out.sort();
    Ok(out)
}

/// File in the data directory that says when the archive was last verified.
pub const LAST_VERIFY_FILE: &str = "last-verify.txt";

/// What the last full verification found (for the practice page and
/// `sansfilm status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LastVerify {
    /// When it ended, seconds since the epoch.
    pub at: i64,
    /// Instances checked.
    pub checked: u64,
    /// Problems found (corrupt, missing, orphan files).
    pub problems: u64,
}

impl Archive {
    /// Records that a verification ended with `report` (a small text file,
    /// written whole or not at all).
    pub fn record_verify(&self, report: &VerifyReport) -> Result<()> {
        let at = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_secs())
            .unwrap_or(0);
        let problems = report.corrupt.len() + report.missing.len() + report.orphans.len();
        let text = format!("at={at}\nchecked={}\nproblems={problems}\n", report.checked);
        let path = self.layout().root().join(LAST_VERIFY_FILE);
        let tmp = self.layout().tmp().join(LAST_VERIFY_FILE);
        std::fs::write(&tmp, text).map_err(|e| Error::io(&tmp, e))?;
        std::fs::rename(&tmp, &path).map_err(|e| Error::io(&path, e))?;
        Ok(())
    }

    /// What the last verification found, if one ran.
    pub fn last_verify(&self) -> Option<LastVerify> {
        let text = std::fs::read_to_string(self.layout().root().join(LAST_VERIFY_FILE)).ok()?;
        let field = |name: &str| -> Option<i64> {
            text.lines()
                .find_map(|l| l.strip_prefix(name)?.strip_prefix('='))
                .and_then(|v| v.trim().parse().ok())
        };
        Some(LastVerify {
            at: field("at")?,
            checked: field("checked")? as u64,
            problems: field("problems")? as u64,
        })
    }
}
