//! Durable ingest: an instance streamed to a temporary file, then made durable
//! and indexed before anyone is told it is stored.
//!
//! The order of operations is what makes a success status true:
//!
//! 1. the Part 10 header and the data set bytes are written to `tmp/` as they
//!    arrive, hashed on the way (whole file, and data set alone);
//! 2. the file is fsynced, then parsed up to its pixel data for its keys, which
//!    must agree with the command that carried it;
//! 3. it is renamed to its final path, and that directory is fsynced;
//! 4. its index row is committed (SQLite, synchronous=FULL).
//!
//! Only then does [`Incoming::commit`] return. A failure at any step removes
//! what was written, so a failed store leaves no file and no row. An identical
//! resend is recognised by the hash of its data set and stored once; the same
//! SOP Instance UID with other content is kept beside the first, and flagged.

use std::collections::HashSet;
use std::fs::{self, File};
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, SystemTime};

use sansfilm_dicom::{InstanceSummary, Part10Header};
use sha2::{Digest, Sha256};

use crate::index::{Index, InstanceRecord};
use crate::layout::{self, Layout};
use crate::objects::{FileObjects, ObjectStore};
use crate::{Error, Result};

/// What the network layer knows about an instance before its data set arrives.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct IncomingMeta {
    /// Affected SOP Class UID of the C-STORE request.
    pub sop_class_uid: String,
    /// Affected SOP Instance UID of the C-STORE request.
    pub sop_instance_uid: String,
    /// Transfer syntax negotiated for the presentation context.
    pub transfer_syntax: String,
    /// Calling AE title (the sender).
    pub calling_ae: String,
    /// Called AE title (this archive as the sender named it).
    pub called_ae: String,
    /// Largest instance accepted, in bytes once inflated (`None`: no limit).
    /// Beyond it the store fails with [`Error::TooLarge`] (DIMSE A700).
    pub max_bytes: Option<u64>,
}

/// How a store ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StoreOutcome {
    /// A new instance was stored.
    Stored {
        /// Path relative to the data directory.
        path: PathBuf,
        /// Keys of the instance.
        summary: Box<InstanceSummary>,
    },
    /// The same instance with the same content was already stored: nothing new
    /// was written.
    Duplicate {
        /// Path of the copy already stored.
        path: PathBuf,
    },
    /// An instance with this SOP Instance UID but other content was already
    /// stored; this one is kept too, under another name, and flagged.
    Conflict {
        /// Path of this new version.
        path: PathBuf,
        /// Keys of the instance.
        summary: Box<InstanceSummary>,
    },
}

/// The archive: a data directory with its object store and index.
///
/// Cheap to clone; every clone shares the same index writer.
#[derive(Clone, Debug)]
pub struct Archive {
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    layout: Layout,
    index: Index,
    objects: Arc<dyn ObjectStore>,
    tmp_counter: AtomicU64,
    /// SOP Instance UIDs being placed right now: two stores of the same UID
    /// take turns, so that duplicate detection and file naming stay exact.
    placing: Mutex<HashSet<String>>,
    placed: Condvar,
}

impl Archive {
    /// Opens the archive in `data_dir`, creating it if needed, running index
    /// migrations, and removing temporary files left by processes that died.
    pub fn open(data_dir: impl Into<PathBuf>) -> Result<Archive> {
        let layout = Layout::new(data_dir);
        layout::create_dir_all_durable(layout.root())?;
        layout::create_dir_all_durable(&layout.objects())?;
        layout::create_dir_all_durable(&layout.tmp())?;
        let index = Index::open(&layout.index_file())?;
        let archive = Archive {
            shared: Arc::new(Shared {
                objects: Arc::new(FileObjects::new(layout.root())),
                layout,
                index,
                tmp_counter: AtomicU64::new(0),
                placing: Mutex::new(HashSet::new()),
                placed: Condvar::new(),
            }),
        };
        archive.recover()?;
        Ok(archive)
    }

    /// Paths of the data directory.
    pub fn layout(&self) -> &Layout {
        &self.shared.layout
    }

    /// The index.
    pub fn index(&self) -> &Index {
        &self.shared.index
    }

    /// The object store: stored instances read by key
    /// ([`StoredInstance::key`](crate::StoredInstance::key)).
    pub fn objects(&self) -> &Arc<dyn ObjectStore> {
        &self.shared.objects
    }

    /// A number for a temporary file name, unique in this process.
    pub(crate) fn next_tmp_number(&self) -> u64 {
        self.shared.tmp_counter.fetch_add(1, Ordering::Relaxed)
    }

    /// Stores a DICOM Part 10 file from disk through the same durable path as
    /// a received instance (an import, a test's fixture), as sent by
    /// `calling_ae`.
    pub fn import_file(&self, path: &Path, calling_ae: &str) -> Result<StoreOutcome> {
        let bytes = fs::read(path).map_err(|e| Error::io(path, e))?;
        let (meta, offset) = sansfilm_dicom::part10::read_meta(&bytes[..])?;
        let mut incoming = self.begin(IncomingMeta {
            sop_class_uid: meta.media_storage_sop_class_uid().to_string(),
            sop_instance_uid: meta.media_storage_sop_instance_uid().to_string(),
            transfer_syntax: meta.transfer_syntax().to_string(),
            calling_ae: calling_ae.to_string(),
            called_ae: String::new(),
            max_bytes: None,
        })?;
        incoming.write(&bytes[offset as usize..])?;
        incoming.commit()
    }

    /// Starts receiving an instance: creates its temporary file and writes the
    /// Part 10 header. Blocking I/O: call from a blocking thread.
    pub fn begin(&self, meta: IncomingMeta) -> Result<Incoming> {
        let n = self.shared.tmp_counter.fetch_add(1, Ordering::Relaxed);
        let tmp_path = self
            .layout()
            .tmp()
            .join(format!("{}-{n}.part", std::process::id()));
        let file = File::create(&tmp_path).map_err(|e| Error::io(&tmp_path, e))?;
        // A deflated data set is inflated as it arrives and kept in Explicit
        // VR Little Endian: the same data set, whose size is known and checked
        // as it is written, and which every reader can walk without inflating
        // it whole (a 1 MB deflate bomb can expand to gigabytes).
        let inflater = (meta.transfer_syntax == DEFLATED).then(|| Inflater {
            state: flate2::Decompress::new(false),
            out: vec![0; 256 * 1024],
            ended: false,
        });
        let stored_syntax = if inflater.is_some() {
            EXPLICIT_VR_LE.to_string()
        } else {
            meta.transfer_syntax.clone()
        };
        let header = Part10Header {
            sop_class_uid: meta.sop_class_uid.clone(),
            sop_instance_uid: meta.sop_instance_uid.clone(),
            transfer_syntax: stored_syntax.clone(),
            source_ae_title: Some(meta.calling_ae.clone()),
            receiving_ae_title: (!meta.called_ae.is_empty()).then(|| meta.called_ae.clone()),
        };
        let mut incoming = Incoming {
            archive: self.clone(),
            meta,
            tmp_path,
            file: Some(BufWriter::with_capacity(256 * 1024, file)),
            file_hash: Sha256::new(),
            content_hash: Sha256::new(),
            size: 0,
            parsed: None,
            inflater,
            stored_syntax,
        };
        let bytes = header.encode()?;
        incoming.write_raw(&bytes)?;
        Ok(incoming)
    }

    /// Cleans up after processes that died: indexes files they had placed but
    /// not indexed (complete and fsynced, so nothing is lost), and removes
    /// temporary files of transfers that were never acknowledged.
    fn recover(&self) -> Result<()> {
        let tmp = self.layout().tmp();
        let entries = fs::read_dir(&tmp).map_err(|e| Error::io(&tmp, e))?;
        let mut markers = vec![];
        let mut partial = vec![];
        for entry in entries.flatten() {
            let path = entry.path();
            let name = entry.file_name().to_string_lossy().into_owned();
            if owner_is_alive(&name) && !is_older_than_a_day(&entry) {
                continue;
            }
            if name.ends_with(".compressing") {
                self.recover_compression(&path)?;
            } else if name.ends_with(".placing") {
                markers.push(path);
            } else {
                partial.push(path);
            }
        }
        for marker in markers {
            if let Ok(relative) = fs::read_to_string(&marker) {
                let relative = PathBuf::from(relative);
                if self.layout().absolute(&relative).is_file()
                    && !self.index().has_path(&relative)?
                {
                    match self.index_existing(&relative) {
                        Ok(_) => tracing::warn!(path = %relative.display(),
                            "indexed an instance placed just before a crash"),
                        Err(e) => tracing::error!(path = %relative.display(),
                            "cannot index an instance placed before a crash: {e}"),
                    }
                }
            }
            let _ = fs::remove_file(&marker);
        }
        let removed = partial
            .iter()
            .filter(|p| fs::remove_file(p).is_ok())
            .count();
        if removed > 0 {
            tracing::warn!(
                removed,
                "removed temporary files of interrupted transfers (never acknowledged)"
            );
        }
        Ok(())
    }

    fn lock_uid(&self, uid: &str) -> UidGuard<'_> {
        let mut placing = self
            .shared
            .placing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        while placing.contains(uid) {
            placing = self
                .shared
                .placed
                .wait(placing)
                .unwrap_or_else(|e| e.into_inner());
        }
        placing.insert(uid.to_string());
        UidGuard {
            shared: &self.shared,
            uid: uid.to_string(),
        }
    }
}

struct UidGuard<'a> {
    shared: &'a Shared,
    uid: String,
}

impl Drop for UidGuard<'_> {
    fn drop(&mut self) {
        let mut placing = self
            .shared
            .placing
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        placing.remove(&self.uid);
        self.shared.placed.notify_all();
    }
}

/// An instance being received. Dropping it without [`commit`](Self::commit)
/// removes its temporary file.
#[derive(Debug)]
pub struct Incoming {
    archive: Archive,
    meta: IncomingMeta,
    tmp_path: PathBuf,
    file: Option<BufWriter<File>>,
    file_hash: Sha256,
    content_hash: Sha256,
    size: u64,
    /// Keys parsed by [`Incoming::summary`], reused by `commit` unless more
    /// bytes were written since.
    parsed: Option<InstanceSummary>,
    /// Inflates a Deflated data set on its way to the file.
    inflater: Option<Inflater>,
    /// Transfer syntax of the stored file (Explicit VR LE for a deflated one).
    stored_syntax: String,
}

/// Streaming inflation of a Deflated Explicit VR Little Endian data set.
struct Inflater {
    state: flate2::Decompress,
    out: Vec<u8>,
    ended: bool,
}

impl std::fmt::Debug for Inflater {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Inflater")
            .field("ended", &self.ended)
            .finish()
    }
}

const DEFLATED: &str = "1.2.840.10008.1.2.1.99";
const EXPLICIT_VR_LE: &str = "1.2.840.10008.1.2.1";

impl Incoming {
    /// Appends data set bytes, as received in the negotiated transfer syntax.
    pub fn write(&mut self, data: &[u8]) -> Result<()> {
        self.parsed = None;
        self.content_hash.update(data);
        match self.inflater.take() {
            None => self.write_raw(data),
            Some(mut inflater) => {
                let r = self.inflate(&mut inflater, data);
                self.inflater = Some(inflater);
                r
            }
        }
    }

    /// Inflates `data` into the file, a buffer at a time.
    fn inflate(&mut self, inflater: &mut Inflater, mut data: &[u8]) -> Result<()> {
        while !data.is_empty() && !inflater.ended {
            let (in_before, out_before) = (inflater.state.total_in(), inflater.state.total_out());
            let status = inflater
                .state
                .decompress(data, &mut inflater.out, flate2::FlushDecompress::None)
                .map_err(|e| self.invalid(format!("deflated data set cannot be inflated: {e}")))?;
            let consumed = (inflater.state.total_in() - in_before) as usize;
            let produced = (inflater.state.total_out() - out_before) as usize;
            data = &data[consumed..];
            let out = std::mem::take(&mut inflater.out);
            let written = self.write_raw(&out[..produced]);
            inflater.out = out;
            written?;
            inflater.ended = status == flate2::Status::StreamEnd;
            if consumed == 0 && produced == 0 {
                break;
            }
        }
        Ok(())
    }

    fn invalid(&self, reason: String) -> Error {
        Error::Invalid(sansfilm_dicom::Error::Malformed { offset: 0, reason })
    }

    /// Bytes written so far, header included.
    pub fn size(&self) -> u64 {
        self.size
    }

    fn write_raw(&mut self, data: &[u8]) -> Result<()> {
        self.file_hash.update(data);
        self.size += data.len() as u64;
        if let Some(max) = self.meta.max_bytes
            && self.size > max
        {
            return Err(Error::TooLarge { max });
        }
        let file = self.file.as_mut().expect("file is open until commit");
        file.write_all(data)
            .map_err(|e| Error::io(&self.tmp_path, e))
    }

    /// The keys of the data set received so far (flushed, not yet made
    /// durable): lets a caller start its own durable bookkeeping (an audit
    /// record) while [`commit`](Self::commit) does the archive's.
    pub fn summary(&mut self) -> Result<InstanceSummary> {
        self.finish_inflating()?;
        let file = self.file.as_mut().expect("file is open until commit");
        file.flush().map_err(|e| Error::io(&self.tmp_path, e))?;
        let summary = InstanceSummary::from_file(&self.tmp_path)?;
        self.parsed = Some(summary.clone());
        Ok(summary)
    }

    /// Makes the instance durable and indexed, or fails and leaves nothing.
    /// Blocking I/O: call from a blocking thread.
    pub fn commit(mut self) -> Result<StoreOutcome> {
        self.finish_inflating()?;
        let file = self.file.take().expect("commit runs once");
        let file = file
            .into_inner()
            .map_err(|e| Error::io(&self.tmp_path, e.into_error()))?;
        file.sync_all().map_err(|e| Error::io(&self.tmp_path, e))?;
        drop(file);

        // Parsed once: `summary()` may already have done it.
        let mut summary = match self.parsed.take() {
            Some(s) => s,
            None => InstanceSummary::from_file(&self.tmp_path)?,
        };
        summary.transfer_syntax = self.stored_syntax.clone();
        check_agrees(
            "SOPClassUID",
            &summary.sop_class_uid,
            &self.meta.sop_class_uid,
        )?;
        check_agrees(
            "SOPInstanceUID",
            &summary.sop_instance_uid,
            &self.meta.sop_instance_uid,
        )?;

        let content_sha256 = hex::encode(std::mem::take(&mut self.content_hash).finalize());
        let sha256 = hex::encode(std::mem::take(&mut self.file_hash).finalize());
        let archive = self.archive.clone();
        let _guard = archive.lock_uid(&summary.sop_instance_uid);
        let index = archive.index();

        let existing = index.instances_by_uid(&summary.sop_instance_uid)?;
        if let Some(same) = existing.iter().find(|i| i.content_sha256 == content_sha256) {
            self.remove_tmp();
            return Ok(StoreOutcome::Duplicate {
                path: same.path.clone(),
            });
        }
        let conflict = !existing.is_empty();
        let variant = conflict.then(|| &content_sha256[..16]);
        let layout = archive.layout();
        let relative = layout.relative_object_path(
            &summary.study.study_uid,
            &summary.series.series_uid,
            &summary.sop_instance_uid,
            variant,
        );
        let absolute = layout.absolute(&relative);
        let dir = absolute.parent().expect("object paths have a directory");
        layout::create_dir_all_durable(dir)?;
        // The marker tells a restart which file to index if the process dies
        // between the rename and the index commit.
        let marker = Marker::write(&self.tmp_path, &relative)?;
        fs::rename(&self.tmp_path, &absolute).map_err(|e| Error::io(&absolute, e))?;
        // From here the temporary file is gone; undo means removing `absolute`.
        self.tmp_path = PathBuf::new();
        if let Err(e) = layout::sync_dir(dir) {
            remove_placed(&absolute, dir);
            return Err(e);
        }
        let record = InstanceRecord {
            summary: summary.clone(),
            path: relative.clone(),
            size: self.size,
            sha256,
            content_sha256,
            calling_ae: self.meta.calling_ae.clone(),
            conflict,
        };
        if let Err(e) = index.insert(record) {
            remove_placed(&absolute, dir);
            return Err(e);
        }
        drop(marker);
        let summary = Box::new(summary);
        Ok(if conflict {
            StoreOutcome::Conflict {
                path: relative,
                summary,
            }
        } else {
            StoreOutcome::Stored {
                path: relative,
                summary,
            }
        })
    }

    /// Flushes what the inflater still holds; a deflate stream that does
    /// not end is a truncated data set.
    fn finish_inflating(&mut self) -> Result<()> {
        let Some(mut inflater) = self.inflater.take() else {
            return Ok(());
        };
        let mut result = Ok(());
        while !inflater.ended {
            let before = inflater.state.total_out();
            let status = inflater
                .state
                .decompress(&[], &mut inflater.out, flate2::FlushDecompress::Finish)
                .map_err(|e| self.invalid(format!("deflated data set cannot be inflated: {e}")));
            let status = match status {
                Ok(s) => s,
                Err(e) => {
                    result = Err(e);
                    break;
                }
            };
            let produced = (inflater.state.total_out() - before) as usize;
            let out = std::mem::take(&mut inflater.out);
            let written = self.write_raw(&out[..produced]);
            inflater.out = out;
            if let Err(e) = written {
                result = Err(e);
                break;
            }
            inflater.ended = status == flate2::Status::StreamEnd;
            if produced == 0 && !inflater.ended {
                result = Err(self.invalid("deflated data set ends before its stream does".into()));
                break;
            }
        }
        // Finished (or failed): later calls have nothing more to inflate.
        inflater.ended = true;
        self.inflater = Some(inflater);
        result
    }

    fn remove_tmp(&mut self) {
        self.file.take();
        if !self.tmp_path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.tmp_path);
            self.tmp_path = PathBuf::new();
        }
    }
}

impl Drop for Incoming {
    fn drop(&mut self) {
        self.remove_tmp();
    }
}

fn check_agrees(attribute: &'static str, dataset: &str, command: &str) -> Result<()> {
    if command.is_empty() || dataset == command {
        Ok(())
    } else {
        Err(Error::Mismatch {
            attribute,
            dataset: dataset.to_string(),
            command: command.to_string(),
        })
    }
}

/// Undoes a rename whose index row could not be committed.
fn remove_placed(absolute: &Path, dir: &Path) {
    if let Err(e) = fs::remove_file(absolute) {
        tracing::error!(path = %absolute.display(), error = %e, "cannot remove unindexed file");
    }
    let _ = layout::sync_dir(dir);
}

/// A `PID-N.placing` file naming the final path of an instance being placed.
/// Removed on drop (after the index commit, or after the undo of a failure).
struct Marker(PathBuf);

impl Marker {
    fn write(tmp_path: &Path, relative: &Path) -> Result<Marker> {
        let path = tmp_path.with_extension("placing");
        fs::write(&path, relative.to_string_lossy().as_bytes()).map_err(|e| Error::io(&path, e))?;
        Ok(Marker(path))
    }
}

impl Drop for Marker {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

/// Whether the process that created a `PID-N.*` file in `tmp/` still runs.
/// Files of this process count as alive.
fn owner_is_alive(name: &str) -> bool {
    let pid: Option<u32> = name.split('-').next().and_then(|p| p.parse().ok());
    pid.is_some_and(|p| p == std::process::id() || Path::new("/proc").join(p.to_string()).exists())
}

fn is_older_than_a_day(entry: &fs::DirEntry) -> bool {
    let day_ago = SystemTime::now() - Duration::from_secs(24 * 3600);
    entry
        .metadata()
        .and_then(|m| m.modified())
        .map(|t| t < day_ago)
        .unwrap_or(false)
}
