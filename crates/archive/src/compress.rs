//! Background compression of stored instances, off the ingest path.
//!
//! For each candidate (native pixel data, old enough, not skipped by the
//! policy, not declined before), on as many threads as configured:
//!
//! 1. transcode, with the bytes to be written decoded again and compared bit
//!    for bit with the original pixels (`sansfilm-codec`);
//! 2. write them to `tmp/`, fsync, and leave a `.compressing` marker naming
//!    the old and new paths;
//! 3. rename to `SOP.<syntax>.dcm` beside the original, fsync the directory;
//! 4. update the index row (path, syntax, size, hash) in one transaction;
//! 5. remove the original, fsync the directory, remove the marker.
//!
//! A crash anywhere leaves either the original indexed (the new file, if
//! placed, is removed at the next start) or the new one indexed (the original
//! is removed): nothing is lost and nothing is left orphaned. Images a codec
//! must not touch (data above Bits Stored, subsampled colour, 32-bit…) are
//! noted in the index and left as they are. Already-compressed instances,
//! lossless or lossy, are never candidates.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};

use rusqlite::{Connection, params};
use sansfilm_codec::Error as CodecError;
use sansfilm_codec::transcode::{NATIVE_SYNTAXES, Target, transcode_to_file_bytes};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::{Archive, Error, Result, layout, schema};

/// Which instances to compress, and how.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompressionPolicy {
    /// Target syntax: `jpegls` (default), `jpeg2000` or `rle`.
    pub target: String,
    /// Modalities left uncompressed (e.g. `["MG"]` if a reading station
    /// cannot decode JPEG-LS).
    pub skip_modalities: Vec<String>,
    /// SOP Class UIDs left uncompressed.
    pub skip_sop_classes: Vec<String>,
    /// Instances younger than this stay as received (minutes).
    pub min_age_minutes: u64,
    /// Worker threads; 0 = one per core.
    pub threads: usize,
}

impl Default for CompressionPolicy {
    fn default() -> Self {
        CompressionPolicy {
            target: "jpegls".into(),
            skip_modalities: vec![],
            skip_sop_classes: vec![],
            min_age_minutes: 60,
            threads: 0,
        }
    }
}

impl CompressionPolicy {
    /// The target as the codec knows it; an error names the allowed values.
    pub fn target(&self) -> Result<Target> {
        match self.target.parse::<Target>() {
            Ok(Target::Explicit) | Err(_) => Err(Error::Config(format!(
                "compression target {:?}: expected jpegls, jpeg2000 or rle",
                self.target
            ))),
            Ok(t) => Ok(t),
        }
    }

    fn thread_count(&self) -> usize {
        if self.threads > 0 {
            self.threads
        } else {
            std::thread::available_parallelism().map_or(1, |n| n.get())
        }
    }
}

/// One instance to compress.
#[derive(Debug, Clone)]
struct Candidate {
    id: i64,
    path: PathBuf,
    size: u64,
    study_uid: String,
    patient_id: String,
}

/// Instances of the index `conn` that a compression pass under `policy`
/// takes (or will take once `min_age_minutes` old, when given).
fn candidates_in(
    conn: &Connection,
    policy: &CompressionPolicy,
    min_age_minutes: Option<u64>,
) -> rusqlite::Result<Vec<Candidate>> {
    let age = format!("-{} seconds", min_age_minutes.unwrap_or(0) * 60);
    let native = NATIVE_SYNTAXES
        .iter()
        .map(|uid| format!("'{uid}'"))
        .collect::<Vec<_>>()
        .join(", ");
    let age_clause = if min_age_minutes.is_some() {
        "AND i.received_at <= strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)"
    } else {
        "AND ?1 IS NOT NULL"
    };
    let sql = format!(
        "SELECT i.id, i.path, i.size, st.study_uid, p.patient_id, se.modality, i.sop_class_uid
         FROM instances i
         JOIN series se ON se.id = i.series_ref
         JOIN studies st ON st.id = se.study_ref
         JOIN patients p ON p.id = st.patient_ref
         WHERE i.transfer_syntax IN ({native})
           AND i.compression_note = ''
           {age_clause}
         ORDER BY i.id"
    );
    let mut stmt = conn.prepare(&sql)?;
    let rows = stmt
        .query_map([&age], |r| {
            Ok((
                Candidate {
                    id: r.get(0)?,
                    path: PathBuf::from(r.get::<_, String>(1)?),
                    size: r.get::<_, i64>(2)? as u64,
                    study_uid: r.get(3)?,
                    patient_id: r.get(4)?,
                },
                r.get::<_, String>(5)?,
                r.get::<_, String>(6)?,
            ))
        })?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    let skipped = |modality: &str, class: &str| {
        policy
            .skip_modalities
            .iter()
            .any(|m| m.eq_ignore_ascii_case(modality))
            || policy.skip_sop_classes.iter().any(|s| s == class)
    };
    Ok(rows
        .into_iter()
        .filter(|(_, m, s)| !skipped(m, s))
        .map(|(c, _, _)| c)
        .collect())
}

/// Paths (relative to the data directory) of the instances in the index
/// file `index` that compression under `policy` has yet to replace and that
/// were received less than `within_minutes` ago: what an off-site backup
/// waits for, so as to send each instance once, compressed. (Older ones
/// have waited long enough: compression is off, or keeps failing on them.)
pub fn awaiting_compression(
    index: &Path,
    policy: &CompressionPolicy,
    within_minutes: u64,
) -> Result<Vec<PathBuf>> {
    let conn = Connection::open_with_flags(index, rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    let since = format!("-{} seconds", within_minutes.saturating_mul(60));
    let recent: std::collections::HashSet<PathBuf> = conn
        .prepare(
            "SELECT path FROM instances
             WHERE received_at > strftime('%Y-%m-%dT%H:%M:%fZ', 'now', ?1)",
        )?
        .query_map([&since], |r| r.get::<_, String>(0).map(PathBuf::from))?
        .collect::<rusqlite::Result<_>>()?;
    Ok(candidates_in(&conn, policy, None)?
        .into_iter()
        .map(|c| c.path)
        .filter(|p| recent.contains(p))
        .collect())
}

/// What happened to one instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InstanceOutcome {
    /// Replaced by its compressed version.
    Compressed {
        /// Size before.
        before: u64,
        /// Size after.
        after: u64,
    },
    /// Left as it is, with the reason (noted in the index).
    Declined(String),
    /// Failed: an I/O or index error (tried again on the next pass), or a
    /// result that did not verify (noted in the index, not tried again; the
    /// original stays).
    Failed(String),
}

/// One compressed instance, for the caller's audit trail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Compressed {
    /// Study Instance UID.
    pub study_uid: String,
    /// Patient ID.
    pub patient_id: String,
}

/// Totals of a compression pass.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CompressReport {
    /// Instances considered.
    pub candidates: u64,
    /// Instances replaced by a compressed version.
    pub compressed: u64,
    /// Instances left as they are (codec declined), noted in the index.
    pub declined: u64,
    /// Instances that failed and stay candidates.
    pub failed: u64,
    /// Bytes of the compressed instances before.
    pub bytes_before: u64,
    /// Bytes of the compressed instances after.
    pub bytes_after: u64,
    /// Each compressed instance's study and patient.
    pub done: Vec<Compressed>,
}

impl CompressReport {
    /// bytes_before / bytes_after.
    pub fn ratio(&self) -> f64 {
        self.bytes_before as f64 / self.bytes_after.max(1) as f64
    }
}

impl Archive {
    /// Runs one compression pass under `policy`. `progress(done, total)` is
    /// called after each instance; setting `stop` ends the pass after the
    /// instances in hand (each one either fully swapped or untouched).
    pub fn compress(
        &self,
        policy: &CompressionPolicy,
        stop: &AtomicBool,
        progress: impl Fn(u64, u64) + Sync,
    ) -> Result<CompressReport> {
        let target = policy.target()?;
        // One pass at a time per archive: `sansfilm compress` run while the
        // server's background pass works would otherwise swap the same
        // instances twice.
        let _lock = self.compression_lock()?;
        let candidates = self.compression_candidates(policy)?;
        let total = candidates.len() as u64;
        let queue = Mutex::new(candidates.into_iter());
        let report = Mutex::new(CompressReport {
            candidates: total,
            ..Default::default()
        });
        let threads = policy.thread_count().max(1);
        std::thread::scope(|scope| -> Result<()> {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| -> Result<()> {
                        let mut conn = Connection::open(self.layout().index_file())?;
                        schema::configure(&conn)?;
                        loop {
                            if stop.load(Ordering::Relaxed) {
                                return Ok(());
                            }
                            let Some(c) = queue.lock().unwrap_or_else(|e| e.into_inner()).next()
                            else {
                                return Ok(());
                            };
                            let outcome = self.compress_one(&mut conn, &c, target);
                            let mut r = report.lock().unwrap_or_else(|e| e.into_inner());
                            match outcome {
                                InstanceOutcome::Compressed { before, after } => {
                                    r.compressed += 1;
                                    r.bytes_before += before;
                                    r.bytes_after += after;
                                    r.done.push(Compressed {
                                        study_uid: c.study_uid.clone(),
                                        patient_id: c.patient_id.clone(),
                                    });
                                }
                                InstanceOutcome::Declined(why) => {
                                    tracing::info!(path = %c.path.display(), "left uncompressed: {why}");
                                    r.declined += 1;
                                }
                                InstanceOutcome::Failed(why) => {
                                    tracing::error!(path = %c.path.display(), "compression failed: {why}");
                                    r.failed += 1;
                                }
                            }
                            let done = r.compressed + r.declined + r.failed;
                            drop(r);
                            progress(done, total);
                        }
                    })
                })
                .collect();
            for w in workers {
                w.join()
                    .map_err(|_| Error::Config("a compression worker panicked".into()))??;
            }
            Ok(())
        })?;
        Ok(report.into_inner().unwrap_or_else(|e| e.into_inner()))
    }

    /// Takes the archive's compression lock (an advisory lock on
    /// `compress.lock` in the data directory, released when the returned
    /// file is dropped or the process ends, crash included).
    fn compression_lock(&self) -> Result<fs::File> {
        let path = self.layout().root().join("compress.lock");
        let file = fs::OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Error::io(&path, e))?;
        match file.try_lock() {
            Ok(()) => Ok(file),
            Err(fs::TryLockError::WouldBlock) => Err(Error::Busy(
                "another compression pass is running on this archive".into(),
            )),
            Err(fs::TryLockError::Error(e)) => Err(Error::io(&path, e)),
        }
    }

    fn compression_candidates(&self, policy: &CompressionPolicy) -> Result<Vec<Candidate>> {
        self.index()
            .read(|c| candidates_in(c, policy, Some(policy.min_age_minutes)))
    }

    fn compress_one(
        &self,
        conn: &mut Connection,
        c: &Candidate,
        target: Target,
    ) -> InstanceOutcome {
        let old_abs = self.layout().absolute(&c.path);
        let original = match dicom_object::open_file(&old_abs) {
            Ok(o) => o,
            Err(e) => return InstanceOutcome::Failed(format!("cannot read: {e}")),
        };
        let bytes = match transcode_to_file_bytes(&original, target) {
            Ok(b) => b,
            Err(e) => {
                // Declined or failed (a verification failure among them), the
                // original stays and the reason is recorded, so the same
                // image is not tried again and again.
                let note = e.to_string();
                let _ = conn.execute(
                    "UPDATE instances SET compression_note = ?1 WHERE id = ?2",
                    params![note, c.id],
                );
                return match e {
                    CodecError::Unsuitable(_)
                    | CodecError::Unsupported(_)
                    | CodecError::Missing(_) => InstanceOutcome::Declined(note),
                    _ => InstanceOutcome::Failed(note),
                };
            }
        };
        match self.swap_in(conn, c, target, &bytes) {
            Ok(()) => InstanceOutcome::Compressed {
                before: c.size,
                after: bytes.len() as u64,
            },
            Err(e) => InstanceOutcome::Failed(e.to_string()),
        }
    }

    /// Steps 2 to 5 of the module documentation.
    fn swap_in(
        &self,
        conn: &mut Connection,
        c: &Candidate,
        target: Target,
        bytes: &[u8],
    ) -> Result<()> {
        let new_rel = compressed_path(&c.path, target);
        let old_abs = self.layout().absolute(&c.path);
        let new_abs = self.layout().absolute(&new_rel);
        let dir = new_abs
            .parent()
            .unwrap_or(self.layout().root())
            .to_path_buf();
        let n = self.next_tmp_number();
        let tmp = self
            .layout()
            .tmp()
            .join(format!("{}-{n}.part", std::process::id()));
        let marker = tmp.with_extension("compressing");
        let write = || -> std::io::Result<()> {
            let mut f = fs::File::create(&tmp)?;
            f.write_all(bytes)?;
            f.sync_all()
        };
        write().map_err(|e| Error::io(&tmp, e))?;
        let marker_text = format!("{}\n{}", c.path.display(), new_rel.display());
        fs::write(&marker, marker_text).map_err(|e| Error::io(&marker, e))?;
        layout::sync_dir(&self.layout().tmp())?;
        let undo = |e: Error| {
            let _ = fs::remove_file(&tmp);
            // Never a file the index names (whoever put it there).
            if !self.index().has_path(&new_rel).unwrap_or(true) {
                let _ = fs::remove_file(&new_abs);
            }
            let _ = layout::sync_dir(&dir);
            let _ = fs::remove_file(&marker);
            e
        };
        fs::rename(&tmp, &new_abs).map_err(|e| undo(Error::io(&new_abs, e)))?;
        layout::sync_dir(&dir).map_err(undo)?;
        let sha256 = hex::encode(Sha256::digest(bytes));
        let updated = conn
            .execute(
                "UPDATE instances SET path = ?1, transfer_syntax = ?2, size = ?3, sha256 = ?4,
                     original_size = COALESCE(original_size, size)
                 WHERE id = ?5 AND path = ?6",
                params![
                    new_rel.to_string_lossy(),
                    target.uid(),
                    bytes.len() as i64,
                    sha256,
                    c.id,
                    c.path.to_string_lossy()
                ],
            )
            .map_err(|e| undo(Error::from(e)))?;
        if updated != 1 {
            return Err(undo(Error::ChangedMeanwhile(c.path.clone())));
        }
        // The new version is indexed: from here the original is surplus.
        if let Err(e) = fs::remove_file(&old_abs) {
            tracing::warn!(path = %old_abs.display(), "cannot remove the original after compression: {e}");
        }
        let _ = layout::sync_dir(&dir);
        let _ = fs::remove_file(&marker);
        Ok(())
    }

    /// Finishes or undoes compressions interrupted by a crash (see the
    /// module documentation). Called when the archive opens.
    pub(crate) fn recover_compression(&self, marker: &Path) -> Result<()> {
        let text = fs::read_to_string(marker).map_err(|e| Error::io(marker, e))?;
        let mut lines = text.lines();
        let (Some(old), Some(new)) = (lines.next(), lines.next()) else {
            let _ = fs::remove_file(marker);
            return Ok(());
        };
        let (old, new) = (PathBuf::from(old), PathBuf::from(new));
        let surplus = if self.index().has_path(&new)? {
            old
        } else {
            new
        };
        let abs = self.layout().absolute(&surplus);
        if abs.exists() && !self.index().has_path(&surplus)? {
            fs::remove_file(&abs).map_err(|e| Error::io(&abs, e))?;
            tracing::warn!(path = %surplus.display(), "removed the surplus copy of a compression interrupted by a crash");
            if let Some(dir) = abs.parent() {
                let _ = layout::sync_dir(dir);
            }
        }
        let _ = fs::remove_file(marker);
        Ok(())
    }
}

/// `objects/ST/SE/SOP.dcm` → `objects/ST/SE/SOP.jls.dcm` (or `.j2k`, `.rle`).
fn compressed_path(path: &Path, target: Target) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tag = match target {
        Target::JpegLs => "jls",
        Target::Jpeg2000 => "j2k",
        Target::Rle => "rle",
        Target::Explicit => "unc",
    };
    path.with_file_name(format!("{stem}.{tag}.dcm"))
}
