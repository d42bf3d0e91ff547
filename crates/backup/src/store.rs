//! Where a repository's files are kept: the [`Store`] trait and its
//! directory implementation, [`DirStore`] (a second disk, a removable disk, a
//! network mount).
//!
//! A store only ever adds files: it has no delete, so the archive server
//! never needs the right to remove anything from a backup target (pruning is
//! meant to run elsewhere, with other rights).

use std::collections::HashSet;
use std::fs::{self, File, OpenOptions};
use std::io::{self, Read, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

use sha2::{Digest, Sha256};

/// A place that keeps named files, added once and never changed.
///
/// Names are relative, `/`-separated (`blobs/ab/ab12…`). [`Store::put`]
/// writes a file whose SHA-256 the caller already knows and refuses content
/// that does not match it; what was put becomes durable and visible at the
/// next [`Store::commit`], all at once, so that a crash in between leaves
/// nothing half written under a final name. (On S3 an upload is visible,
/// whole, when `put` returns; `commit` has nothing left to do.)
pub trait Store: Send + Sync {
    /// Size of the file `name`, or `None` when there is none.
    fn size_of(&self, name: &str) -> io::Result<Option<u64>>;
    /// Writes `name` from `reader`. Fails with [`io::ErrorKind::InvalidData`]
    /// when the content's SHA-256 is not `sha256` (lowercase hex); the file
    /// is then not kept. Returns the number of bytes read.
    fn put(&self, name: &str, reader: &mut dyn Read, sha256: &str) -> io::Result<u64> {
        self.put_from(name, &mut |out| copy_checked(reader, out, sha256).map(drop))
    }
    /// Writes `name` with what `fill` writes (an encrypted blob, whose
    /// bytes are only known as they are produced). When `fill` fails the
    /// file is not kept and its error is returned. Returns the number of
    /// bytes written; 0 when `name` is already on its way in this batch.
    fn put_from(
        &self,
        name: &str,
        fill: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<u64>;
    /// Makes everything put since the last commit durable and visible.
    fn commit(&self) -> io::Result<()>;
    /// Drops everything put since the last commit.
    fn abandon(&self);
    /// Opens `name` for reading.
    fn open(&self, name: &str) -> io::Result<Box<dyn Read + Send>>;
    /// Names of the files directly in directory `dir` (not recursive).
    fn list(&self, dir: &str) -> io::Result<Vec<String>>;
    /// Names of the directories directly in `dir`.
    fn list_dirs(&self, dir: &str) -> io::Result<Vec<String>>;
    /// Where the store is, for messages.
    fn describe(&self) -> String;
    /// Names of the files at any depth below `dir` (their last component
    /// only). The default walks one directory at a time; a store that can
    /// list a whole prefix at once (S3) does so.
    fn list_below(&self, dir: &str) -> io::Result<Vec<String>> {
        let mut names = self.list(dir)?;
        for sub in self.list_dirs(dir)? {
            names.extend(self.list_below(&format!("{dir}/{sub}"))?);
        }
        Ok(names)
    }
    /// How many files to move at once: a local disk gains little beyond
    /// two; a server far away hides its latency behind more.
    fn concurrency(&self) -> usize {
        2
    }
}

/// A store in a local directory.
#[derive(Debug)]
pub struct DirStore {
    root: PathBuf,
    pending: Mutex<Vec<(PathBuf, PathBuf)>>,
    pending_names: Mutex<HashSet<String>>,
    counter: AtomicU64,
}

/// Files being written, before [`Store::commit`] renames them into place.
const STAGING_DIR: &str = "tmp";

impl DirStore {
    /// Opens (creating it when needed) a store rooted at `root`. Files left
    /// in its staging directory by an interrupted run are removed.
    pub fn open(root: impl Into<PathBuf>) -> io::Result<DirStore> {
        let root = root.into();
        let staging = root.join(STAGING_DIR);
        fs::create_dir_all(&staging).map_err(|e| with_path(e, &staging))?;
        for entry in fs::read_dir(&staging).map_err(|e| with_path(e, &staging))? {
            let entry = entry?;
            // Only what this code stages, and only a run's that is over (a
            // prune opening the store must not break a backup running).
            let name = entry.file_name().to_string_lossy().into_owned();
            if name.ends_with(".part") && !staged_by_a_live_process(&name) {
                let _ = fs::remove_file(entry.path());
            }
        }
        Ok(DirStore {
            root,
            pending: Mutex::new(Vec::new()),
            pending_names: Mutex::new(HashSet::new()),
            counter: AtomicU64::new(0),
        })
    }

    /// The directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    fn path(&self, name: &str) -> io::Result<PathBuf> {
        Ok(self.root.join(checked_name(name)?))
    }

    /// Names of the files (or the directories) directly in `dir`, sorted;
    /// none when `dir` does not exist.
    fn entries(&self, dir: &str, dirs: bool) -> io::Result<Vec<String>> {
        let path = self.path(dir)?;
        let entries = match fs::read_dir(&path) {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(with_path(e, &path)),
        };
        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|e| with_path(e, &path))?;
            let kind = entry.file_type()?;
            if (dirs && kind.is_dir()) || (!dirs && kind.is_file()) {
                names.push(entry.file_name().to_string_lossy().into_owned());
            }
        }
        names.sort();
        Ok(names)
    }

    /// Removes `name` (gone already is fine). Not part of [`Store`]: only
    /// pruning deletes, and it runs elsewhere than the archive server.
    pub fn remove(&self, name: &str) -> io::Result<()> {
        let path = self.path(name)?;
        match fs::remove_file(&path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(with_path(e, &path)),
            _ => Ok(()),
        }
    }

    /// Size and modification time of `name`.
    pub fn size_and_mtime(&self, name: &str) -> io::Result<(u64, std::time::SystemTime)> {
        let path = self.path(name)?;
        let meta = fs::metadata(&path).map_err(|e| with_path(e, &path))?;
        Ok((meta.len(), meta.modified()?))
    }

    /// Makes every change to the directory durable (after removals).
    pub fn sync(&self) -> io::Result<()> {
        self.sync_filesystem()
    }

    fn sync_filesystem(&self) -> io::Result<()> {
        let dir = File::open(&self.root).map_err(|e| with_path(e, &self.root))?;
        // One syncfs for a whole batch instead of an fsync per file: the
        // target may be a USB disk where each fsync costs milliseconds.
        if unsafe { libc::syncfs(dir.as_raw_fd()) } != 0 {
            return Err(with_path(io::Error::last_os_error(), &self.root));
        }
        Ok(())
    }
}

impl Store for DirStore {
    fn size_of(&self, name: &str) -> io::Result<Option<u64>> {
        let path = self.path(name)?;
        match fs::metadata(&path) {
            Ok(m) => Ok(Some(m.len())),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(with_path(e, &path)),
        }
    }

    fn put_from(
        &self,
        name: &str,
        fill: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<u64> {
        let dest = self.path(name)?;
        if !self.pending_names.lock().unwrap().insert(name.to_string()) {
            return Ok(0); // the same content is already on its way
        }
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let tmp = self
            .root
            .join(STAGING_DIR)
            .join(format!("{}-{n}.part", std::process::id()));
        let result = (|| {
            let file = OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&tmp)
                .map_err(|e| with_path(e, &tmp))?;
            let mut out = Counting {
                inner: io::BufWriter::with_capacity(1 << 20, file),
                written: 0,
                path: &tmp,
            };
            fill(&mut out)?;
            out.flush()?;
            Ok(out.written)
        })();
        match result {
            Ok(size) => {
                self.pending.lock().unwrap().push((tmp, dest));
                Ok(size)
            }
            Err(e) => {
                let _ = fs::remove_file(&tmp);
                self.pending_names.lock().unwrap().remove(name);
                Err(e)
            }
        }
    }

    fn commit(&self) -> io::Result<()> {
        let pending = std::mem::take(&mut *self.pending.lock().unwrap());
        self.pending_names.lock().unwrap().clear();
        if pending.is_empty() {
            return Ok(());
        }
        // Contents first, then names: a file under its final name is whole.
        let result = (|| {
            self.sync_filesystem()?;
            for (tmp, dest) in &pending {
                if let Some(dir) = dest.parent() {
                    fs::create_dir_all(dir).map_err(|e| with_path(e, dir))?;
                }
                fs::rename(tmp, dest).map_err(|e| with_path(e, dest))?;
            }
            self.sync_filesystem()
        })();
        if result.is_err() {
            for (tmp, _) in &pending {
                let _ = fs::remove_file(tmp);
            }
        }
        result
    }

    fn abandon(&self) {
        for (tmp, _) in std::mem::take(&mut *self.pending.lock().unwrap()) {
            let _ = fs::remove_file(tmp);
        }
        self.pending_names.lock().unwrap().clear();
    }

    fn open(&self, name: &str) -> io::Result<Box<dyn Read + Send>> {
        let path = self.path(name)?;
        let file = File::open(&path).map_err(|e| with_path(e, &path))?;
        Ok(Box::new(io::BufReader::with_capacity(1 << 20, file)))
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        self.entries(dir, false)
    }

    fn list_dirs(&self, dir: &str) -> io::Result<Vec<String>> {
        self.entries(dir, true)
    }

    fn describe(&self) -> String {
        self.root.display().to_string()
    }
}

/// `name` when it is a relative, `/`-separated name that stays inside the
/// store (no empty, `.` or `..` component); an error otherwise. Every store
/// checks its names with it.
pub(crate) fn checked_name(name: &str) -> io::Result<&str> {
    let ok = !name.is_empty()
        && name
            .split('/')
            .all(|c| !c.is_empty() && c != "." && c != "..");
    if !ok {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("not a file name in a backup repository: {name:?}"),
        ));
    }
    Ok(name)
}

/// Whether a staged file (`PID-N.part`) belongs to a process still running
/// here (not this one, whose earlier opens staged nothing still wanted).
fn staged_by_a_live_process(name: &str) -> bool {
    let Some(pid) = name.split('-').next().and_then(|p| p.parse::<i32>().ok()) else {
        return false;
    };
    if pid == std::process::id() as i32 || pid <= 0 {
        return false;
    }
    // Signal 0 only asks whether the process exists.
    let alive = unsafe { libc::kill(pid, 0) } == 0;
    alive || io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// Copies `reader` into `out`, hashing what passes; an
/// [`io::ErrorKind::InvalidData`] error at the end when its SHA-256 is not
/// `sha256`. Returns the number of bytes copied.
pub fn copy_checked(reader: &mut dyn Read, out: &mut dyn Write, sha256: &str) -> io::Result<u64> {
    let mut hasher = Sha256::new();
    let mut buf = vec![0u8; 1 << 20];
    let mut size = 0u64;
    loop {
        let got = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(got) => got,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        };
        hasher.update(&buf[..got]);
        out.write_all(&buf[..got])?;
        size += got as u64;
    }
    let got = hex::encode(hasher.finalize());
    if got != sha256 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("content has SHA-256 {got}, expected {sha256}"),
        ));
    }
    Ok(size)
}

/// A writer that counts the bytes written through it and names its file in
/// its errors (a full disk says which target).
struct Counting<'a, W> {
    inner: W,
    written: u64,
    path: &'a Path,
}

impl<W: Write> Write for Counting<'_, W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf).map_err(|e| with_path(e, self.path))?;
        self.written += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush().map_err(|e| with_path(e, self.path))
    }
}

/// The same error, with the path in its message.
pub(crate) fn with_path(e: io::Error, path: &Path) -> io::Error {
    io::Error::new(e.kind(), format!("{}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sha(data: &[u8]) -> String {
        hex::encode(Sha256::digest(data))
    }

    #[test]
    fn what_is_put_appears_only_at_commit() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        store
            .put("blobs/aa/x", &mut &b"hello"[..], &sha(b"hello"))
            .unwrap();
        assert_eq!(store.size_of("blobs/aa/x").unwrap(), None);
        store.commit().unwrap();
        assert_eq!(store.size_of("blobs/aa/x").unwrap(), Some(5));
        let mut back = String::new();
        store
            .open("blobs/aa/x")
            .unwrap()
            .read_to_string(&mut back)
            .unwrap();
        assert_eq!(back, "hello");
    }

    #[test]
    fn content_with_another_hash_is_refused_and_not_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        let err = store
            .put("blobs/aa/x", &mut &b"hello"[..], &sha(b"other"))
            .unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidData);
        store.commit().unwrap();
        assert_eq!(store.size_of("blobs/aa/x").unwrap(), None);
        assert!(store.list("tmp").unwrap().is_empty());
    }

    #[test]
    fn files_staged_by_a_running_process_are_kept_at_open() {
        let dir = tempfile::tempdir().unwrap();
        DirStore::open(dir.path()).unwrap();
        let mut live = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let mut done = std::process::Command::new("true").spawn().unwrap();
        done.wait().unwrap();
        let staged = |pid: u32| dir.path().join(format!("tmp/{pid}-0.part"));
        fs::write(staged(live.id()), b"x").unwrap();
        fs::write(staged(done.id()), b"x").unwrap();
        DirStore::open(dir.path()).unwrap();
        assert!(
            staged(live.id()).exists(),
            "a running backup's file was removed"
        );
        assert!(
            !staged(done.id()).exists(),
            "a finished run's file was kept"
        );
        live.kill().unwrap();
        live.wait().unwrap();
    }

    #[test]
    fn names_that_leave_the_store_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let store = DirStore::open(dir.path()).unwrap();
        for name in ["../x", "/etc/passwd", "a//b", "", "a/./b"] {
            assert!(store.size_of(name).is_err(), "{name}");
        }
    }

    #[test]
    fn an_interrupted_run_leaves_nothing_under_a_final_name() {
        let dir = tempfile::tempdir().unwrap();
        {
            let store = DirStore::open(dir.path()).unwrap();
            store
                .put("blobs/aa/x", &mut &b"hello"[..], &sha(b"hello"))
                .unwrap();
            // dropped without commit, as by kill -9
        }
        let store = DirStore::open(dir.path()).unwrap();
        assert_eq!(store.size_of("blobs/aa/x").unwrap(), None);
        assert!(store.list("tmp").unwrap().is_empty());
    }
}
