//! Rebuilding the index from the object files alone, for an index lost or
//! damaged beyond `verify --repair`.
//!
//! What the files carry comes back as it was: patients, studies, series and
//! instances with every key, path, size and hash. What only the index knew
//! does not: when an instance was received (the file's modification time is
//! used instead), its size before compression, and for a compressed
//! instance the hash of the data set as first received (the duplicate check
//! then goes by the compressed data set).

use std::path::{Path, PathBuf};

use crate::index::Index;
use crate::layout::Layout;
use crate::verify::{object_files, record_of_file};
use crate::{Error, Result};

/// What a rebuild did.
#[derive(Debug, Clone, Default)]
pub struct ReindexReport {
    /// Instances indexed.
    pub indexed: u64,
    /// Files of the object store that could not be indexed (path: why).
    pub unreadable: Vec<String>,
}

/// Builds a new index at `dest` (which must not exist) from the object files
/// of `data_dir`. Files are taken in the order they were written, so that
/// of two versions of one instance the first received is the one not marked
/// as a conflict, as in the live index.
pub fn rebuild_index(data_dir: &Path, dest: &Path) -> Result<ReindexReport> {
    if dest.exists() {
        return Err(Error::io(
            dest,
            std::io::Error::new(std::io::ErrorKind::AlreadyExists, "already exists"),
        ));
    }
    let layout = Layout::new(data_dir);
    let mut files: Vec<(std::time::SystemTime, PathBuf)> = object_files(&layout.objects())?
        .into_iter()
        .map(|f| {
            let mtime = std::fs::metadata(&f)
                .and_then(|m| m.modified())
                .unwrap_or(std::time::UNIX_EPOCH);
            (mtime, f)
        })
        .collect();
    files.sort();
    let index = Index::open(dest)?;
    let mut report = ReindexReport::default();
    let mut received = Vec::new();
    for (mtime, file) in files {
        let relative = file.strip_prefix(data_dir).unwrap_or(&file).to_path_buf();
        let record = match record_of_file(&layout, &relative, &index) {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(path = %relative.display(), "cannot index: {e}");
                report
                    .unreadable
                    .push(format!("{}: {e}", relative.display()));
                continue;
            }
        };
        let id = index.insert(record)?;
        let at: chrono::DateTime<chrono::Utc> = mtime.into();
        received.push((id, at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string()));
        report.indexed += 1;
    }
    drop(index); // joins the writer: the file is closed
    let mut conn = rusqlite::Connection::open(dest)?;
    let tx = conn.transaction()?;
    {
        let mut set = tx.prepare("UPDATE instances SET received_at = ?2 WHERE id = ?1")?;
        for (id, at) in received {
            set.execute(rusqlite::params![id, at])?;
        }
    }
    tx.commit()?;
    Ok(report)
}

/// File that running servers hold a shared lock on, so that a command
/// that needs the data directory to itself (reindex) can tell.
pub const SERVER_LOCK_FILE: &str = "serve.lock";

/// A lock on [`SERVER_LOCK_FILE`], released when dropped.
#[derive(Debug)]
pub struct ServerLock(#[allow(dead_code)] std::fs::File);

/// Takes the shared lock a running server holds (several servers may share
/// a data directory).
pub fn server_lock(data_dir: &Path) -> Result<ServerLock> {
    lock(data_dir, libc::LOCK_SH).map(|l| l.expect("a shared lock waits"))
}

/// Takes the data directory for oneself: `None` when a server runs on it.
pub fn exclusive_lock(data_dir: &Path) -> Result<Option<ServerLock>> {
    lock(data_dir, libc::LOCK_EX | libc::LOCK_NB)
}

fn lock(data_dir: &Path, how: libc::c_int) -> Result<Option<ServerLock>> {
    use std::os::fd::AsRawFd;
    let path = data_dir.join(SERVER_LOCK_FILE);
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| Error::io(&path, e))?;
    // SAFETY: flock(2) on a descriptor this function owns.
    if unsafe { libc::flock(file.as_raw_fd(), how) } != 0 {
        let e = std::io::Error::last_os_error();
        if e.kind() == std::io::ErrorKind::WouldBlock {
            return Ok(None);
        }
        return Err(Error::io(&path, e));
    }
    Ok(Some(ServerLock(file)))
}
