//! One backup run: a snapshot of a data directory taken while the servers
//! keep running.
//!
//! 1. Each SQLite database is copied with SQLite's online backup in one
//!    step: a consistent copy taken inside one read transaction, whatever the
//!    servers write meanwhile.
//! 2. The objects are those the index *copy* names, so the snapshot's index
//!    and its objects agree. Only blobs that the repository lacks are sent,
//!    each checked against the index's SHA-256 as it is read: a file damaged
//!    in the archive is reported, never backed up as if it were good.
//! 3. An object removed while the run goes on (its compressed version
//!    replaced it) makes the run copy the databases again and send what is
//!    new, a few times at most, so that the snapshot stays exact.
//! 4. Blobs are made durable (in batches) before the manifest is written:
//!    the manifest is what makes a snapshot exist, so an interrupted run
//!    leaves no snapshot, and the next run sends only what is still missing.

use std::collections::{HashMap, HashSet};
use std::fs::{self, File};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rusqlite::{Connection, OpenFlags};

use crate::manifest::{Entry, EntryKind, FORMAT, Problem, Snapshot};
use crate::repository::Repository;
use crate::{Error, Result};

/// The SQLite databases of a data directory, in the order they are copied.
pub const DATABASES: &[&str] = &[
    sansfilm_archive::layout::INDEX_FILE,
    "worklist.sqlite",
    "audit.sqlite",
    "web.sqlite",
];

/// Other files of a data directory that a snapshot keeps. The audit key
/// (`audit.key`) goes with it when it is kept in the data directory (the
/// default): it is then on the same disk as the log it seals, and without it
/// a restored audit trail could not be verified nor continued. A key kept
/// elsewhere (`[audit] key_file`) stays apart, as its owner chose.
pub const SMALL_FILES: &[&str] = &[sansfilm_archive::verify::LAST_VERIFY_FILE, "audit.key"];

/// How many times databases are copied again when objects vanish under the
/// run (a compression pass replacing originals).
const MAX_ROUNDS: usize = 5;

/// Bytes sent between two commits of the target.
const BATCH_BYTES: u64 = 256 << 20;
/// Files sent between two commits of the target.
const BATCH_FILES: usize = 4096;

/// How a backup runs.
#[derive(Debug, Clone, Default)]
pub struct BackupOptions {
    /// Files read and sent at once; 0: as many as the store prefers
    /// ([`crate::Store::concurrency`]).
    pub threads: usize,
    /// Leave out the instances that compression under this policy has yet
    /// to replace (named in the snapshot's `deferred`): an off-site copy
    /// then receives each instance once, compressed, not twice.
    pub wait_for_compression: Option<sansfilm_archive::CompressionPolicy>,
}

/// Where a run stands, for a progress bar.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Bytes sent so far.
    pub bytes_done: u64,
    /// Bytes to send in this round.
    pub bytes_total: u64,
}

/// What a backup run did.
#[derive(Debug, Clone)]
pub struct BackupSummary {
    /// The snapshot written.
    pub snapshot: Snapshot,
    /// Objects in the snapshot.
    pub objects: u64,
    /// Objects sent to the target by this run (the others were there).
    pub objects_sent: u64,
    /// Bytes sent to the target by this run, databases included.
    pub bytes_sent: u64,
    /// Time taken.
    pub elapsed: Duration,
}

impl BackupSummary {
    /// Megabytes sent per second.
    pub fn mb_per_s(&self) -> f64 {
        self.bytes_sent as f64 / 1e6 / self.elapsed.as_secs_f64().max(1e-6)
    }
}

/// Takes a snapshot of `data_dir` into `repo`.
///
/// Fails, leaving no snapshot, when the target cannot be written (full,
/// gone, read-only) or a database cannot be copied. Objects that are damaged
/// in the archive do not fail the run: they are left out and listed in the
/// snapshot's `problems`.
pub fn backup(
    data_dir: &Path,
    repo: &Repository,
    options: &BackupOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<BackupSummary> {
    let start = Instant::now();
    let started = chrono::Utc::now();
    let index = data_dir.join(sansfilm_archive::layout::INDEX_FILE);
    if !index.is_file() {
        return Err(Error::Refused(format!(
            "no archive in {} (no {}); give --data-dir",
            data_dir.display(),
            sansfilm_archive::layout::INDEX_FILE
        )));
    }
    let tmp_root = data_dir.join(sansfilm_archive::layout::TMP_DIR);
    fs::create_dir_all(&tmp_root).map_err(|e| Error::io(tmp_root.display().to_string(), e))?;
    let staging = tempfile::Builder::new()
        .prefix("backup-")
        .tempdir_in(&tmp_root)
        .map_err(|e| Error::io(format!("scratch directory in {}", tmp_root.display()), e))?;

    // Blobs known to be in the repository: those listed there at the start
    // (not trusted from the last manifest, so that a blob lost from the
    // backup is sent again), then every one this run sends.
    let mut known: HashSet<String> = repo.blob_names()?;
    let mut sent = Sent::default();
    let mut damaged: HashMap<String, String> = HashMap::new();
    let mut deferred: HashSet<String>;
    let mut round = 0;
    let (databases, objects, vanished) = loop {
        round += 1;
        let databases = copy_databases(data_dir, staging.path())?;
        let index_copy = staging.path().join(sansfilm_archive::layout::INDEX_FILE);
        let objects = objects_in(&index_copy)?;
        let sha_by_path: HashMap<&str, &str> = match options.wait_for_compression {
            Some(_) => objects
                .iter()
                .map(|o| (o.path.as_str(), o.sha256.as_str()))
                .collect(),
            None => HashMap::new(),
        };
        deferred = match &options.wait_for_compression {
            Some(policy) => sansfilm_archive::awaiting_compression(
                &index_copy,
                policy,
                policy.min_age_minutes + MAX_WAIT_MINUTES,
            )
            .map_err(|e| Error::Refused(format!("reading the index copy: {e}")))?
            .into_iter()
            .map(|p| p.to_string_lossy().into_owned())
            // Already in the repository (sent before compression was on):
            // it stays in the snapshot.
            .filter(|p| {
                sha_by_path
                    .get(p.as_str())
                    .is_none_or(|sha| !known.contains(&repo.blob_id(sha)))
            })
            .collect(),
            None => HashSet::new(),
        };
        let mut to_send = Vec::new();
        for object in &objects {
            if !known.contains(&repo.blob_id(&object.sha256))
                && !damaged.contains_key(&object.path)
                && !deferred.contains(&object.path)
            {
                to_send.push(object.clone());
            }
        }
        let outcome = send_objects(data_dir, repo, &to_send, options, progress);
        let outcome = match outcome {
            Ok(o) => o,
            Err(e) => {
                repo.store().abandon();
                return Err(e);
            }
        };
        for entry in &outcome.sent {
            known.insert(repo.blob_id(&entry.sha256));
            sent.objects += 1;
            sent.bytes += entry.size;
        }
        damaged.extend(outcome.damaged);
        if outcome.vanished.is_empty() || round == MAX_ROUNDS {
            break (databases, objects, outcome.vanished);
        }
        tracing::info!(
            vanished = outcome.vanished.len(),
            "objects replaced during the backup (compression); copying the index again"
        );
    };

    // The databases and small files, then the manifest.
    let mut entries = Vec::new();
    for (name, path) in &databases {
        entries.push(put_chunked(repo, path, name, &mut known, &mut sent)?);
    }
    for name in SMALL_FILES {
        let path = data_dir.join(name);
        if path.is_file() {
            entries.push(put_small_file(repo, &path, name, &mut known, &mut sent)?);
        }
    }
    repo.commit()?;

    let vanished: HashSet<String> = vanished.into_iter().collect();
    let mut problems = Vec::new();
    let mut object_entries = 0u64;
    let mut waiting = Vec::new();
    for object in objects {
        if deferred.contains(&object.path) {
            waiting.push(object.path);
        } else if let Some(reason) = damaged.get(&object.path) {
            problems.push(Problem {
                path: object.path,
                reason: reason.clone(),
            });
        } else if vanished.contains(&object.path) {
            problems.push(Problem {
                path: object.path,
                reason: "removed from the archive while the backup ran".into(),
            });
        } else {
            object_entries += 1;
            entries.push(object);
        }
    }
    let snapshot = Snapshot {
        format: FORMAT,
        id: snapshot_id(started),
        started: started.to_rfc3339(),
        finished: chrono::Utc::now().to_rfc3339(),
        host: hostname(),
        source: data_dir.display().to_string(),
        entries,
        problems,
        deferred: waiting,
    };
    still_there(repo, &snapshot)?;
    repo.save(&snapshot)?;
    Ok(BackupSummary {
        snapshot,
        objects: object_entries,
        objects_sent: sent.objects,
        bytes_sent: sent.bytes,
        elapsed: start.elapsed(),
    })
}

/// Checks, just before the manifest makes the snapshot exist, that every
/// blob it names is on the target: a prune run elsewhere meanwhile may have
/// removed one this run counted on (it listed the blobs at its start).
fn still_there(repo: &Repository, snapshot: &Snapshot) -> Result<()> {
    let present = repo.blob_names()?;
    let gone = snapshot
        .entries
        .iter()
        .flat_map(|e| {
            if e.chunks.is_empty() {
                vec![&e.sha256]
            } else {
                e.chunks.iter().collect()
            }
        })
        .filter(|sha| !present.contains(&repo.blob_id(sha)))
        .count();
    if gone > 0 {
        return Err(Error::Refused(format!(
            "{gone} blobs this run counted on were removed from {} while it ran (a prune?); \
             no snapshot was written: run the backup again, it sends them",
            repo.describe()
        )));
    }
    Ok(())
}

#[derive(Default)]
struct Sent {
    objects: u64,
    bytes: u64,
}

/// Consistent copies of the data directory's databases, in `staging`.
fn copy_databases(data_dir: &Path, staging: &Path) -> Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for name in DATABASES {
        let source = data_dir.join(name);
        if !source.is_file() {
            continue;
        }
        let copy = staging.join(name);
        let _ = fs::remove_file(&copy);
        let db_err = |e| Error::Database {
            path: source.clone(),
            source: e,
        };
        let conn = Connection::open_with_flags(
            &source,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(db_err)?;
        conn.busy_timeout(Duration::from_secs(30)).map_err(db_err)?;
        // SQLite's online backup, in one step: every page copied inside one
        // read transaction, so the copy is consistent whatever the servers
        // write meanwhile. Pages keep their places, so only the chunks
        // holding changed pages differ from the last run's.
        let mut dest = Connection::open(&copy).map_err(db_err)?;
        rusqlite::backup::Backup::new(&conn, &mut dest)
            .and_then(|b| b.step(-1).map(|_| ()))
            .map_err(db_err)?;
        dest.pragma_update(None, "journal_mode", "DELETE")
            .map_err(db_err)?;
        drop(dest);
        out.push((name.to_string(), copy));
    }
    Ok(out)
}

/// The objects an index names.
fn objects_in(index: &Path) -> Result<Vec<Entry>> {
    let db_err = |e| Error::Database {
        path: index.to_path_buf(),
        source: e,
    };
    let conn =
        Connection::open_with_flags(index, OpenFlags::SQLITE_OPEN_READ_ONLY).map_err(db_err)?;
    let mut stmt = conn
        .prepare("SELECT path, size, sha256 FROM instances ORDER BY path")
        .map_err(db_err)?;
    let rows = stmt
        .query_map([], |r| {
            Ok(Entry {
                path: r.get(0)?,
                kind: EntryKind::Object,
                size: r.get::<_, i64>(1)? as u64,
                sha256: r.get(2)?,
                chunks: Vec::new(),
            })
        })
        .map_err(db_err)?;
    rows.collect::<rusqlite::Result<Vec<_>>>().map_err(db_err)
}

struct SendOutcome {
    sent: Vec<Entry>,
    /// Path → why it was not sent.
    damaged: HashMap<String, String>,
    vanished: Vec<String>,
}

/// Sends objects in batches, each batch committed before the next starts.
fn send_objects(
    data_dir: &Path,
    repo: &Repository,
    objects: &[Entry],
    options: &BackupOptions,
    progress: &(dyn Fn(Progress) + Sync),
) -> Result<SendOutcome> {
    let total: u64 = objects.iter().map(|o| o.size).sum();
    let done = AtomicU64::new(0);
    let mut outcome = SendOutcome {
        sent: Vec::new(),
        damaged: HashMap::new(),
        vanished: Vec::new(),
    };
    progress(Progress {
        bytes_done: 0,
        bytes_total: total,
    });
    for batch in batches(objects) {
        let results = crate::workers::for_each(
            batch,
            match options.threads {
                0 => repo.store().concurrency(),
                n => n,
            },
            |object| send_one(data_dir, repo, object),
            |object| {
                let d = done.fetch_add(object.size, Ordering::Relaxed) + object.size;
                progress(Progress {
                    bytes_done: d,
                    bytes_total: total,
                });
            },
        )?;
        repo.commit()?;
        for (object, result) in results {
            match result {
                Sent1::Sent => outcome.sent.push(object.clone()),
                Sent1::Damaged(why) => {
                    outcome.damaged.insert(object.path.clone(), why);
                }
                Sent1::Vanished => outcome.vanished.push(object.path.clone()),
            }
        }
    }
    Ok(outcome)
}

enum Sent1 {
    Sent,
    Damaged(String),
    Vanished,
}

fn send_one(data_dir: &Path, repo: &Repository, object: &Entry) -> Result<Sent1> {
    let path = data_dir.join(&object.path);
    let mut file = match File::open(&path) {
        Ok(f) => f,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Sent1::Vanished),
        Err(e) => return Err(Error::io(format!("reading {}", path.display()), e)),
    };
    match repo.put_blob(&object.sha256, &mut file) {
        Ok(_) => Ok(Sent1::Sent),
        Err(e) if e.kind() == io::ErrorKind::InvalidData => {
            tracing::error!(path = %object.path, "damaged in the archive, not backed up: {e}");
            Ok(Sent1::Damaged(format!(
                "damaged in the archive (run sansfilm verify): {e}"
            )))
        }
        Err(e) => Err(Error::io(
            format!("sending {} to {}", object.path, repo.describe()),
            e,
        )),
    }
}

/// Objects cut into batches of at most [`BATCH_BYTES`] and [`BATCH_FILES`].
fn batches(objects: &[Entry]) -> Vec<&[Entry]> {
    let mut out = Vec::new();
    let (mut start, mut bytes) = (0, 0u64);
    for (i, o) in objects.iter().enumerate() {
        if i > start && (bytes + o.size > BATCH_BYTES || i - start >= BATCH_FILES) {
            out.push(&objects[start..i]);
            start = i;
            bytes = 0;
        }
        bytes += o.size;
    }
    if start < objects.len() {
        out.push(&objects[start..]);
    }
    out
}

fn put_small_file(
    repo: &Repository,
    path: &Path,
    name: &str,
    known: &mut HashSet<String>,
    sent: &mut Sent,
) -> Result<Entry> {
    // Read whole first: a small file of the data directory (last-verify.txt)
    // may be rewritten meanwhile, and its hash must be of what is sent.
    let bytes = fs::read(path).map_err(|e| Error::io(format!("reading {}", path.display()), e))?;
    let sha256 = hex::encode(<sha2::Sha256 as sha2::Digest>::digest(&bytes));
    let size = bytes.len() as u64;
    if known.insert(repo.blob_id(&sha256)) {
        repo.put_blob(&sha256, &mut &bytes[..])
            .map_err(|e| Error::io(format!("sending {name} to {}", repo.describe()), e))?;
        sent.bytes += size;
    }
    Ok(Entry {
        path: name.to_string(),
        kind: EntryKind::File,
        size,
        sha256,
        chunks: Vec::new(),
    })
}

/// How long, past the compression policy's minimum age, an off-site backup
/// waits for an instance to be compressed before sending it as it is: the
/// background pass may be off or keep failing on it, and an instance must
/// not stay out of the off-site copy for good.
pub const MAX_WAIT_MINUTES: u64 = 48 * 60;

/// Size of the chunks a database copy is kept in. The online backup keeps
/// every page where it is, so rows appended (the audit trail, new
/// instances) change the chunks of the pages written, not the others.
pub const CHUNK_BYTES: usize = 1 << 20;

/// A database copy sent as chunks, each only when the repository lacks it.
fn put_chunked(
    repo: &Repository,
    path: &Path,
    name: &str,
    known: &mut HashSet<String>,
    sent: &mut Sent,
) -> Result<Entry> {
    use sha2::Digest;
    use std::io::Read;
    let reading = |e| Error::io(format!("reading {}", path.display()), e);
    let mut file = File::open(path).map_err(reading)?;
    let mut chunks = Vec::new();
    let mut size = 0u64;
    let mut buf = vec![0u8; CHUNK_BYTES];
    loop {
        let mut filled = 0;
        while filled < buf.len() {
            match file.read(&mut buf[filled..]).map_err(reading)? {
                0 => break,
                n => filled += n,
            }
        }
        if filled == 0 {
            break;
        }
        let chunk = &buf[..filled];
        size += filled as u64;
        let sha = hex::encode(sha2::Sha256::digest(chunk));
        if known.insert(repo.blob_id(&sha)) {
            repo.put_blob(&sha, &mut &chunk[..])
                .map_err(|e| Error::io(format!("sending {name} to {}", repo.describe()), e))?;
            sent.bytes += filled as u64;
        }
        chunks.push(sha);
        if filled < buf.len() {
            break;
        }
    }
    Ok(Entry {
        path: name.to_string(),
        kind: EntryKind::Database,
        size,
        sha256: chunk_list_hash(&chunks),
        chunks,
    })
}

/// The `sha256` of a file kept in chunks: the SHA-256 of its chunks'
/// hashes (hex, one after the other). Each chunk is checked by its own hash
/// on restore, so the file need not be hashed whole a second time.
pub fn chunk_list_hash(chunks: &[String]) -> String {
    use sha2::Digest;
    let mut h = sha2::Sha256::new();
    for c in chunks {
        h.update(c.as_bytes());
    }
    hex::encode(h.finalize())
}

/// `20261207T220000.123Z-1a2b3c4d`: sorts in time order (to the
/// millisecond: two runs may start in the same second), unique per run.
fn snapshot_id(at: chrono::DateTime<chrono::Utc>) -> String {
    use sha2::Digest;
    let seed = format!(
        "{}-{}-{:?}",
        at.timestamp_nanos_opt().unwrap_or_default(),
        std::process::id(),
        std::thread::current().id()
    );
    let suffix = hex::encode(&sha2::Sha256::digest(seed.as_bytes())[..4]);
    format!("{}-{suffix}", at.format("%Y%m%dT%H%M%S%.3fZ"))
}

fn hostname() -> String {
    fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(size: u64) -> Entry {
        Entry {
            path: String::new(),
            kind: EntryKind::Object,
            size,
            sha256: String::new(),
            chunks: Vec::new(),
        }
    }

    #[test]
    fn batches_hold_every_object_once_within_their_bounds() {
        let objects: Vec<Entry> = (0..10_000).map(|i| entry(i * 10_000)).collect();
        let batches = batches(&objects);
        assert_eq!(
            batches.iter().map(|b| b.len()).sum::<usize>(),
            objects.len()
        );
        for b in &batches {
            assert!(b.len() <= BATCH_FILES);
            assert!(b.len() == 1 || b.iter().map(|o| o.size).sum::<u64>() <= BATCH_BYTES);
        }
        assert!(super::batches(&[]).is_empty());
    }

    #[test]
    fn snapshot_ids_sort_in_time_order() {
        let a = snapshot_id(chrono::DateTime::from_timestamp(1_700_000_000, 0).unwrap());
        let b = snapshot_id(chrono::DateTime::from_timestamp(1_700_000_000, 1_000_000).unwrap());
        let c = snapshot_id(chrono::DateTime::from_timestamp(1_700_000_001, 0).unwrap());
        assert!(a < b && b < c, "{a} {b} {c}");
        assert_eq!(a.len(), "20231114T221320.000Z-".len() + 8);
    }
}
