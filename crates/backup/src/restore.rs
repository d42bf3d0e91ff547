//! Restoring a snapshot into a new data directory, every file checked against
//! its SHA-256 as it is written.

use std::fs::{self, File};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::OptionalExtension;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::backup::Progress;
use crate::manifest::{Entry, EntryKind, Snapshot};
use crate::repository::Repository;
use crate::{Error, Result};

/// What a restore did.
#[derive(Debug, Clone, Default, Serialize)]
pub struct RestoreReport {
    /// The snapshot restored.
    pub snapshot: String,
    /// Files restored whole and checked.
    pub restored: u64,
    /// Their bytes.
    pub bytes: u64,
    /// Files of the manifest whose blob is not in the repository.
    pub missing: Vec<String>,
    /// Files whose blob is there but holds other content (with why).
    pub damaged: Vec<String>,
    /// Instances the snapshot left out while they waited for compression,
    /// taken out of the restored index (a later snapshot holds them).
    pub deferred: Vec<DeferredInstance>,
    /// Time taken.
    #[serde(serialize_with = "seconds")]
    pub elapsed: Duration,
}

/// An instance a snapshot did not hold because it waited for compression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DeferredInstance {
    /// Its path in the snapshot's index.
    pub path: String,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// SHA-256 of its pixel content (the same once compressed).
    pub content_sha256: String,
}

fn seconds<S: serde::Serializer>(d: &Duration, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_f64(d.as_secs_f64())
}

impl RestoreReport {
    /// Whether every file of the snapshot came back whole.
    pub fn is_complete(&self) -> bool {
        self.missing.is_empty() && self.damaged.is_empty()
    }

    /// Megabytes restored per second.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-6)
    }
}

/// Restores `snapshot` from `repo` into `to`, which must not exist or be
/// empty. Files that cannot be restored whole are listed in the report (and
/// not left behind); the run fails only when `to` cannot be written.
pub fn restore(
    repo: &Repository,
    snapshot: &Snapshot,
    to: &Path,
    threads: usize,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<RestoreReport> {
    let start = Instant::now();
    if to.exists() {
        let empty = fs::read_dir(to)
            .map_err(|e| Error::io(to.display().to_string(), e))?
            .next()
            .is_none();
        if !empty {
            return Err(Error::Refused(format!(
                "{} is not empty; restore into a new directory (nothing there was touched)",
                to.display()
            )));
        }
    }
    fs::create_dir_all(to).map_err(|e| Error::io(to.display().to_string(), e))?;
    let total = snapshot.bytes();
    let done = AtomicU64::new(0);
    let results = crate::workers::for_each(
        &snapshot.entries,
        threads,
        |entry| restore_one(repo, entry, to),
        |entry| {
            let d = done.fetch_add(entry.size, Ordering::Relaxed) + entry.size;
            progress(Progress {
                bytes_done: d,
                bytes_total: total,
            });
        },
    )?;
    let mut report = RestoreReport {
        snapshot: snapshot.id.clone(),
        ..RestoreReport::default()
    };
    for (entry, result) in results {
        match result {
            Restored::Whole => {
                report.restored += 1;
                report.bytes += entry.size;
            }
            Restored::Missing => report.missing.push(entry.path.clone()),
            Restored::Damaged(why) => report.damaged.push(format!("{}: {why}", entry.path)),
        }
    }
    let index = sansfilm_archive::layout::INDEX_FILE;
    if !snapshot.deferred.is_empty()
        && !report
            .missing
            .iter()
            .chain(&report.damaged)
            .any(|p| p.starts_with(index))
    {
        report.deferred = leave_out_deferred(&to.join(index), &snapshot.deferred)?;
    }
    // One sync of the whole filesystem rather than one per file.
    let dir = File::open(to).map_err(|e| Error::io(to.display().to_string(), e))?;
    if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
        return Err(Error::io(
            format!("syncing {}", to.display()),
            io::Error::last_os_error(),
        ));
    }
    report.missing.sort();
    report.damaged.sort();
    report.elapsed = start.elapsed();
    Ok(report)
}

/// Takes the instances at `paths` out of the restored index (and the series,
/// studies and patients left with nothing), so that the restored archive
/// holds what its index says.
fn leave_out_deferred(index: &Path, paths: &[String]) -> Result<Vec<DeferredInstance>> {
    let db = |source| Error::Database {
        path: index.to_path_buf(),
        source,
    };
    let mut conn = rusqlite::Connection::open(index).map_err(db)?;
    let tx = conn.transaction().map_err(db)?;
    let mut out = Vec::new();
    {
        let mut find = tx
            .prepare("SELECT sop_instance_uid, content_sha256 FROM instances WHERE path = ?1")
            .map_err(db)?;
        let mut remove = tx
            .prepare("DELETE FROM instances WHERE path = ?1")
            .map_err(db)?;
        for path in paths {
            let found: Option<(String, String)> = find
                .query_row([path], |r| Ok((r.get(0)?, r.get(1)?)))
                .optional()
                .map_err(db)?;
            if let Some((sop_instance_uid, content_sha256)) = found {
                remove.execute([path]).map_err(db)?;
                out.push(DeferredInstance {
                    path: path.clone(),
                    sop_instance_uid,
                    content_sha256,
                });
            }
        }
    }
    tx.execute_batch(
        "DELETE FROM series WHERE NOT EXISTS (SELECT 1 FROM instances WHERE series_ref = series.id);
         DELETE FROM studies WHERE NOT EXISTS (SELECT 1 FROM series WHERE study_ref = studies.id);
         DELETE FROM patients WHERE NOT EXISTS (SELECT 1 FROM studies WHERE patient_ref = patients.id);",
    )
    .map_err(db)?;
    tx.commit().map_err(db)?;
    Ok(out)
}

enum Restored {
    Whole,
    Missing,
    Damaged(String),
}

fn restore_one(repo: &Repository, entry: &Entry, to: &Path) -> Result<Restored> {
    let dest = to.join(safe_relative(&entry.path)?);
    if let Some(dir) = dest.parent() {
        fs::create_dir_all(dir).map_err(|e| Error::io(dir.display().to_string(), e))?;
    }
    let mut blob: Box<dyn Read + Send> = if entry.chunks.is_empty() {
        match repo.open_blob(&entry.sha256) {
            Ok(b) => b,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Restored::Missing),
            // Not an age file of this key any more (an encrypted blob altered).
            Err(e) if e.kind() == io::ErrorKind::InvalidData => {
                return Ok(Restored::Damaged(format!("unreadable in the backup: {e}")));
            }
            Err(e) => {
                return Err(Error::io(
                    format!("reading {} from {}", entry.path, repo.describe()),
                    e,
                ));
            }
        }
    } else {
        for chunk in &entry.chunks {
            let found = repo.has_blob(chunk).map_err(|e| {
                Error::io(
                    format!("reading {} from {}", entry.path, repo.describe()),
                    e,
                )
            })?;
            if !found {
                return Ok(Restored::Missing);
            }
        }
        if crate::backup::chunk_list_hash(&entry.chunks) != entry.sha256 {
            return Ok(Restored::Damaged(
                "the snapshot's list of chunks does not match its hash".into(),
            ));
        }
        Box::new(Chunks {
            repo,
            names: entry.chunks.iter(),
            current: None,
        })
    };
    // Databases and keys hold health data and secrets: the owner's alone.
    let mode = if entry.kind == EntryKind::Object {
        0o644
    } else {
        0o600
    };
    let mut out = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&dest)
        .map_err(|e| Error::io(dest.display().to_string(), e))?;
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let n = match blob.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                drop(out);
                let _ = fs::remove_file(&dest);
                // Content that is not what it should be is damage; a
                // connection lost or a disk unreadable is not: the run
                // fails and says so rather than calling the backup bad.
                return match e.kind() {
                    io::ErrorKind::InvalidData | io::ErrorKind::UnexpectedEof => {
                        Ok(Restored::Damaged(format!("unreadable in the backup: {e}")))
                    }
                    _ => Err(Error::io(
                        format!("reading {} from {}", entry.path, repo.describe()),
                        e,
                    )),
                };
            }
        };
        if entry.chunks.is_empty() {
            hasher.update(&buf[..n]);
        }
        out.write_all(&buf[..n])
            .map_err(|e| Error::io(dest.display().to_string(), e))?;
        size += n as u64;
    }
    // A chunked file was checked chunk by chunk as it was read.
    let got = if entry.chunks.is_empty() {
        hex::encode(hasher.finalize())
    } else {
        entry.sha256.clone()
    };
    if got != entry.sha256 || size != entry.size {
        drop(out);
        let _ = fs::remove_file(&dest);
        return Ok(Restored::Damaged(format!(
            "the backup holds {size} bytes with SHA-256 {got}, the snapshot says {} bytes with {}",
            entry.size, entry.sha256
        )));
    }
    Ok(Restored::Whole)
}

/// The chunks of a file read one after the other, each checked against its
/// hash when it ends (a mismatch is an [`io::ErrorKind::InvalidData`] error).
struct Chunks<'a> {
    repo: &'a Repository,
    names: std::slice::Iter<'a, String>,
    current: Option<(Box<dyn Read + Send>, Sha256, &'a str)>,
}

impl Read for Chunks<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        loop {
            if let Some((r, hasher, expected)) = &mut self.current {
                let n = r.read(buf)?;
                if n > 0 {
                    hasher.update(&buf[..n]);
                    return Ok(n);
                }
                let got = hex::encode(std::mem::take(hasher).finalize());
                if got != *expected {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        format!("chunk {expected} holds content with SHA-256 {got}"),
                    ));
                }
            }
            match self.names.next() {
                Some(sha) => {
                    self.current = Some((self.repo.open_blob(sha)?, Sha256::new(), sha.as_str()))
                }
                None => return Ok(0),
            }
        }
    }
}

/// A manifest path, refused when it would leave the restore directory.
fn safe_relative(path: &str) -> Result<&Path> {
    let p = Path::new(path);
    let ok = !path.is_empty()
        && p.components()
            .all(|c| matches!(c, std::path::Component::Normal(_)));
    if ok {
        Ok(p)
    } else {
        Err(Error::Refused(format!(
            "the snapshot names a file outside the data directory: {path:?}"
        )))
    }
}
