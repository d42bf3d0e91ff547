//! The SQLite index: one writer thread that group-commits, and a read connection.
//!
//! rusqlite is blocking, so the writer owns its connection on a dedicated
//! thread and receives insert requests over a channel. When several stores
//! finish at once, their rows go into one transaction and one fsync of the WAL
//! (group commit), which keeps many associations fast without giving up
//! durability. Callers block on the reply; async callers call from
//! `spawn_blocking`, never from a tokio worker thread.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, mpsc};
use std::thread;

use rusqlite::{Connection, OptionalExtension, params};
use sansfilm_dicom::InstanceSummary;

use crate::{Error, Result, schema};

/// Most rows committed in one transaction.
const MAX_BATCH: usize = 128;

/// One instance row, with the keys of its patient, study and series.
#[derive(Debug, Clone)]
pub struct InstanceRecord {
    /// Keys read from the data set.
    pub summary: InstanceSummary,
    /// Path relative to the data directory.
    pub path: PathBuf,
    /// File size in bytes.
    pub size: u64,
    /// SHA-256 of the whole file, hex.
    pub sha256: String,
    /// SHA-256 of the data set bytes as received, hex (duplicates detection).
    pub content_sha256: String,
    /// Calling AE title of the peer that sent it.
    pub calling_ae: String,
    /// Whether another instance with the same SOP Instance UID and other content
    /// is already stored.
    pub conflict: bool,
}

/// A stored instance, as the index knows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredInstance {
    /// Row id.
    pub id: i64,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// Transfer syntax of the stored file.
    pub transfer_syntax: String,
    /// Path relative to the data directory.
    pub path: PathBuf,
    /// File size in bytes.
    pub size: u64,
    /// SHA-256 of the file, hex.
    pub sha256: String,
    /// SHA-256 of the data set bytes as received, hex.
    pub content_sha256: String,
    /// Calling AE title of the sender.
    pub calling_ae: String,
    /// Whether this is a conflicting version of an instance.
    pub conflict: bool,
    /// When it was received (UTC, RFC 3339).
    pub received_at: String,
}

impl StoredInstance {
    /// The key of its object in the archive's object store.
    pub fn key(&self) -> Result<crate::ObjectKey> {
        crate::ObjectKey::from_relative_path(&self.path)
    }
}

/// Counts of the index, by level.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct IndexCounts {
    /// Patients.
    pub patients: u64,
    /// Studies.
    pub studies: u64,
    /// Series.
    pub series: u64,
    /// Instances (every stored file).
    pub instances: u64,
    /// Instances flagged as conflicting versions.
    pub conflicts: u64,
    /// Total bytes of stored files.
    pub bytes: u64,
}

type Reply = mpsc::SyncSender<Result<i64>>;

/// Handle to the index: cheap to clone, usable from any thread.
#[derive(Clone)]
pub struct Index {
    writer: mpsc::Sender<(InstanceRecord, Reply)>,
    reader: Arc<Mutex<Connection>>,
    _writer_thread: Arc<WriterGuard>,
}

impl std::fmt::Debug for Index {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Index").finish_non_exhaustive()
    }
}

/// Joins the writer thread when the last [`Index`] clone is dropped.
///
/// Every clone's sender is a field declared before its guard, so it is
/// dropped first: when the last guard goes, the channel is closed and the
/// thread ends after committing what it holds and closing its connection.
/// Joining makes that closing happen before the drop returns, so that a
/// caller may reopen (or remove) the database files at once.
struct WriterGuard(Option<thread::JoinHandle<()>>);

impl Drop for WriterGuard {
    fn drop(&mut self) {
        if let Some(handle) = self.0.take()
            && handle.thread().id() != thread::current().id()
            && handle.join().is_err()
        {
            tracing::error!("index writer thread panicked");
        }
    }
}

impl Index {
    /// Opens (creating if needed) the index at `path` and runs migrations.
    pub fn open(path: &Path) -> Result<Index> {
        let mut conn = Connection::open(path)?;
        schema::configure(&conn)?;
        schema::migrate(&mut conn)?;
        let reader = Connection::open(path)?;
        schema::configure(&reader)?;
        let (tx, rx) = mpsc::channel();
        let handle = thread::Builder::new()
            .name("sansfilm-index".into())
            .spawn(move || writer_loop(conn, rx))
            .map_err(|e| Error::io(path, e))?;
        Ok(Index {
            writer: tx,
            reader: Arc::new(Mutex::new(reader)),
            _writer_thread: Arc::new(WriterGuard(Some(handle))),
        })
    }

    /// Inserts an instance (and its patient, study and series when new) and
    /// returns its row id once the transaction holding it is committed.
    pub fn insert(&self, record: InstanceRecord) -> Result<i64> {
        let (reply_tx, reply_rx) = mpsc::sync_channel(1);
        self.writer
            .send((record, reply_tx))
            .map_err(|_| Error::IndexUnavailable("index writer stopped".into()))?;
        reply_rx
            .recv()
            .map_err(|_| Error::IndexUnavailable("index writer stopped".into()))?
    }

    /// Runs `f` with the read connection.
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> rusqlite::Result<T>) -> Result<T> {
        let conn = self
            .reader
            .lock()
            .map_err(|_| Error::IndexUnavailable("index reader poisoned".into()))?;
        Ok(f(&conn)?)
    }

    /// Every stored version of a SOP instance.
    pub fn instances_by_uid(&self, sop_instance_uid: &str) -> Result<Vec<StoredInstance>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "{SELECT_INSTANCE} WHERE sop_instance_uid = ?1 ORDER BY id"
            ))?;
            let rows = stmt.query_map([sop_instance_uid], row_to_instance)?;
            rows.collect()
        })
    }

    /// The stored instances of a series (every version), in instance
    /// number order: one query, for readers that want a whole series
    /// (DICOMweb series metadata and retrieval).
    pub fn series_instances(&self, series_uid: &str) -> Result<Vec<StoredInstance>> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "{SELECT_INSTANCE} WHERE series_ref = (SELECT id FROM series WHERE series_uid = ?1) \
                 ORDER BY instance_number, id"
            ))?;
            let rows = stmt.query_map([series_uid], row_to_instance)?;
            rows.collect()
        })
    }

    /// Every stored instance, in insertion order.
    pub fn all_instances(&self) -> Result<Vec<StoredInstance>> {
        self.read(|c| {
            let mut stmt = c.prepare(&format!("{SELECT_INSTANCE} ORDER BY id"))?;
            let rows = stmt.query_map([], row_to_instance)?;
            rows.collect()
        })
    }

    /// The instance stored at a path (relative to the data directory).
    pub fn instances_by_path(&self, path: &Path) -> Result<Option<StoredInstance>> {
        let p = path.to_string_lossy().into_owned();
        self.read(|c| {
            c.prepare_cached(&format!("{SELECT_INSTANCE} WHERE path = ?1"))?
                .query_row([p], row_to_instance)
                .optional()
        })
    }

    /// Whether a path (relative to the data directory) is indexed.
    pub fn has_path(&self, path: &Path) -> Result<bool> {
        let p = path.to_string_lossy().into_owned();
        self.read(|c| {
            c.prepare_cached("SELECT 1 FROM instances WHERE path = ?1")?
                .query_row([p], |_| Ok(()))
                .optional()
                .map(|o| o.is_some())
        })
    }

    /// Counts by level.
    pub fn counts(&self) -> Result<IndexCounts> {
        self.read(|c| {
            let n = |sql: &str| c.query_row(sql, [], |r| r.get::<_, i64>(0).map(|v| v as u64));
            Ok(IndexCounts {
                patients: n("SELECT count(*) FROM patients")?,
                studies: n("SELECT count(*) FROM studies")?,
                series: n("SELECT count(*) FROM series")?,
                instances: n("SELECT count(*) FROM instances")?,
                conflicts: n("SELECT count(*) FROM instances WHERE conflict")?,
                bytes: n("SELECT coalesce(sum(size), 0) FROM instances")?,
            })
        })
    }
}

const SELECT_INSTANCE: &str = "SELECT id, sop_instance_uid, sop_class_uid, transfer_syntax, path, size, \
     sha256, content_sha256, calling_ae, conflict, received_at FROM instances";

fn row_to_instance(r: &rusqlite::Row<'_>) -> rusqlite::Result<StoredInstance> {
    Ok(StoredInstance {
        id: r.get(0)?,
        sop_instance_uid: r.get(1)?,
        sop_class_uid: r.get(2)?,
        transfer_syntax: r.get(3)?,
        path: PathBuf::from(r.get::<_, String>(4)?),
        size: r.get::<_, i64>(5)? as u64,
        sha256: r.get(6)?,
        content_sha256: r.get(7)?,
        calling_ae: r.get(8)?,
        conflict: r.get(9)?,
        received_at: r.get(10)?,
    })
}

fn writer_loop(mut conn: Connection, rx: mpsc::Receiver<(InstanceRecord, Reply)>) {
    while let Ok(first) = rx.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match rx.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        commit_batch(&mut conn, batch);
    }
}

/// Commits a batch; each row in its own savepoint so that one bad row fails
/// alone. Replies are sent only after the commit.
fn commit_batch(conn: &mut Connection, batch: Vec<(InstanceRecord, Reply)>) {
    let tx = match conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate) {
        Ok(tx) => tx,
        Err(e) => {
            let msg = e.to_string();
            for (_, reply) in batch {
                let _ = reply.send(Err(Error::IndexUnavailable(msg.clone())));
            }
            return;
        }
    };
    let mut results = Vec::with_capacity(batch.len());
    let mut tx = tx;
    for (record, _) in &batch {
        let result = (|| -> rusqlite::Result<i64> {
            let sp = tx.savepoint()?;
            let id = insert_record(&sp, record)?;
            sp.commit()?;
            Ok(id)
        })();
        results.push(result);
    }
    match tx.commit() {
        Ok(()) => {
            for ((_, reply), result) in batch.into_iter().zip(results) {
                let _ = reply.send(result.map_err(Error::from));
            }
        }
        Err(e) => {
            tracing::error!(error = %e, "index commit failed");
            let msg = e.to_string();
            for (_, reply) in batch {
                let _ = reply.send(Err(Error::IndexUnavailable(msg.clone())));
            }
        }
    }
}

fn insert_record(c: &Connection, r: &InstanceRecord) -> rusqlite::Result<i64> {
    let s = &r.summary;
    let p = &s.patient;
    c.prepare_cached(
        "INSERT INTO patients (patient_id, issuer, name, birth_date, sex, name_key)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (patient_id, issuer) DO NOTHING",
    )?
    .execute(params![
        p.patient_id,
        p.issuer,
        p.name,
        p.birth_date,
        p.sex,
        sansfilm_dicom::matching::name_key(&p.name)
    ])?;
    let patient_ref: i64 = c
        .prepare_cached("SELECT id FROM patients WHERE patient_id = ?1 AND issuer = ?2")?
        .query_row(params![p.patient_id, p.issuer], |row| row.get(0))?;

    let st = &s.study;
    c.prepare_cached(
        "INSERT INTO studies (patient_ref, study_uid, study_date, study_time, accession_number,
             description, referring_physician, study_id, institution_name, study_comments)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10) ON CONFLICT (study_uid) DO NOTHING",
    )?
    .execute(params![
        patient_ref,
        st.study_uid,
        st.study_date,
        st.study_time,
        st.accession_number,
        st.description,
        st.referring_physician,
        st.study_id,
        st.institution_name,
        st.study_comments
    ])?;
    let study_ref: i64 = c
        .prepare_cached("SELECT id FROM studies WHERE study_uid = ?1")?
        .query_row([&st.study_uid], |row| row.get(0))?;

    let se = &s.series;
    c.prepare_cached(
        "INSERT INTO series (study_ref, series_uid, modality, series_number, description,
             series_date, series_time, body_part, performing_physician)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (series_uid) DO NOTHING",
    )?
    .execute(params![
        study_ref,
        se.series_uid,
        se.modality,
        se.series_number,
        se.description,
        se.series_date,
        se.series_time,
        se.body_part,
        se.performing_physician
    ])?;
    let series_ref: i64 = c
        .prepare_cached("SELECT id FROM series WHERE series_uid = ?1")?
        .query_row([&se.series_uid], |row| row.get(0))?;

    c.prepare_cached(
        "INSERT INTO instances (series_ref, sop_instance_uid, sop_class_uid, instance_number,
             transfer_syntax, path, size, sha256, content_sha256, received_at, calling_ae, conflict)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9,
             strftime('%Y-%m-%dT%H:%M:%fZ', 'now'), ?10, ?11)",
    )?
    .execute(params![
        series_ref,
        s.sop_instance_uid,
        s.sop_class_uid,
        s.instance_number,
        s.transfer_syntax,
        r.path.to_string_lossy(),
        r.size as i64,
        r.sha256,
        r.content_sha256,
        r.calling_ae,
        r.conflict
    ])?;
    Ok(c.last_insert_rowid())
}
