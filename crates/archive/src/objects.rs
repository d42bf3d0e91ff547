//! The object store: stored instances are read by key, not by path, so that
//! where they live (files under the data directory today, an S3-compatible
//! bucket on a regional platform) is the store's business.
//!
//! An [`ObjectKey`] is what the index keeps for an instance (its `path`
//! column: `objects/STUDY/SERIES/SOP.dcm`). Readers ask the archive's
//! [`ObjectStore`] for the bytes, a range of them (DICOMweb frames and bulk
//! data), a stream, or a local file for the consumers that need one (the
//! DICOM sender streams files; the codecs decode a file).
//! [`FileObjects`] is the implementation over the data directory; writing
//! stays with ingest and the compression pass, which need the
//! temporary-file, fsync and rename dance of [`crate::layout`].

use std::fmt;
use std::io::{Read, Seek, SeekFrom};
use std::ops::Range;
use std::path::{Path, PathBuf};

use crate::{Error, Result};

/// The key of a stored object: its name in the store, relative to the data
/// directory (`objects/STUDY/SERIES/SOP.dcm`), with `/` separators.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObjectKey(String);

impl ObjectKey {
    /// A key from its text. Refuses what could leave the store: absolute
    /// keys, `..` components, empty components.
    pub fn new(key: impl Into<String>) -> Result<ObjectKey> {
        let key = key.into();
        let safe = !key.is_empty()
            && !key.starts_with('/')
            && key
                .split('/')
                .all(|c| !c.is_empty() && c != "." && c != ".." && !c.contains('\\'));
        if safe {
            Ok(ObjectKey(key))
        } else {
            Err(Error::BadKey(key))
        }
    }

    /// The key of an index row's relative path.
    pub fn from_relative_path(path: &Path) -> Result<ObjectKey> {
        let parts: Vec<String> = path
            .components()
            .map(|c| c.as_os_str().to_string_lossy().into_owned())
            .collect();
        ObjectKey::new(parts.join("/"))
    }

    /// The key's text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for ObjectKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// A local file holding an object, valid while this value lives (a store
/// that keeps objects elsewhere gives a scratch copy, removed on drop).
#[derive(Debug)]
pub struct LocalObject {
    path: PathBuf,
    /// Removed on drop when the file is a copy.
    copy: bool,
}

impl LocalObject {
    /// The store's own file.
    pub fn in_place(path: PathBuf) -> LocalObject {
        LocalObject { path, copy: false }
    }

    /// A scratch copy, removed when this value is dropped.
    pub fn copy(path: PathBuf) -> LocalObject {
        LocalObject { path, copy: true }
    }

    /// Where the file is.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for LocalObject {
    fn drop(&mut self) {
        if self.copy {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

/// Reading stored objects by key. Blocking: async callers use
/// `spawn_blocking`.
pub trait ObjectStore: Send + Sync + fmt::Debug {
    /// The whole object.
    fn get(&self, key: &ObjectKey) -> Result<Vec<u8>>;
    /// Bytes `range` of the object (cut at its end).
    fn get_range(&self, key: &ObjectKey, range: Range<u64>) -> Result<Vec<u8>>;
    /// The object as a stream.
    fn open(&self, key: &ObjectKey) -> Result<Box<dyn Read + Send>>;
    /// Its size in bytes.
    fn size(&self, key: &ObjectKey) -> Result<u64>;
    /// A local file holding it.
    fn local(&self, key: &ObjectKey) -> Result<LocalObject>;
    /// Where the store keeps the object on local disk, when it does (the
    /// file store always, present or not; a remote store while it holds a
    /// local copy). Senders that stream files use it directly, so that a
    /// missing object fails at its own turn, counted with the others.
    fn local_path(&self, key: &ObjectKey) -> Option<PathBuf>;
}

/// Objects as files under a data directory.
#[derive(Debug, Clone)]
pub struct FileObjects {
    root: PathBuf,
}

impl FileObjects {
    /// The objects of the data directory `root`.
    pub fn new(root: impl Into<PathBuf>) -> FileObjects {
        FileObjects { root: root.into() }
    }

    /// The file of a key.
    pub fn path_of(&self, key: &ObjectKey) -> PathBuf {
        self.root.join(key.as_str())
    }

    fn file(&self, key: &ObjectKey) -> Result<(std::fs::File, PathBuf)> {
        let path = self.path_of(key);
        match std::fs::File::open(&path) {
            Ok(f) => Ok((f, path)),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                Err(Error::MissingObject(key.to_string()))
            }
            Err(e) => Err(Error::io(&path, e)),
        }
    }
}

impl ObjectStore for FileObjects {
    fn get(&self, key: &ObjectKey) -> Result<Vec<u8>> {
        let (mut f, path) = self.file(key)?;
        let mut out = vec![];
        f.read_to_end(&mut out).map_err(|e| Error::io(&path, e))?;
        Ok(out)
    }

    fn get_range(&self, key: &ObjectKey, range: Range<u64>) -> Result<Vec<u8>> {
        let (mut f, path) = self.file(key)?;
        let len = f.metadata().map_err(|e| Error::io(&path, e))?.len();
        let (start, end) = (range.start.min(len), range.end.min(len));
        f.seek(SeekFrom::Start(start))
            .map_err(|e| Error::io(&path, e))?;
        let mut out = vec![0; end.saturating_sub(start) as usize];
        f.read_exact(&mut out).map_err(|e| Error::io(&path, e))?;
        Ok(out)
    }

    fn open(&self, key: &ObjectKey) -> Result<Box<dyn Read + Send>> {
        Ok(Box::new(std::io::BufReader::new(self.file(key)?.0)))
    }

    fn size(&self, key: &ObjectKey) -> Result<u64> {
        let (f, path) = self.file(key)?;
        Ok(f.metadata().map_err(|e| Error::io(&path, e))?.len())
    }

    fn local(&self, key: &ObjectKey) -> Result<LocalObject> {
        let path = self.path_of(key);
        if path.is_file() {
            Ok(LocalObject::in_place(path))
        } else {
            Err(Error::MissingObject(key.to_string()))
        }
    }

    fn local_path(&self, key: &ObjectKey) -> Option<PathBuf> {
        Some(self.path_of(key))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_cannot_leave_the_store() {
        assert!(ObjectKey::new("objects/1.2/3.4/5.6.dcm").is_ok());
        for bad in [
            "",
            "/etc/passwd",
            "objects/../index.sqlite",
            "a//b",
            "a/./b",
            "a\\b",
        ] {
            assert!(ObjectKey::new(bad).is_err(), "{bad}");
        }
        let k = ObjectKey::from_relative_path(Path::new("objects/1/2/3.dcm")).unwrap();
        assert_eq!(k.as_str(), "objects/1/2/3.dcm");
    }

    #[test]
    fn files_read_whole_in_ranges_and_streamed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("objects/a")).unwrap();
        std::fs::write(dir.path().join("objects/a/b.dcm"), b"0123456789").unwrap();
        let store = FileObjects::new(dir.path());
        let key = ObjectKey::new("objects/a/b.dcm").unwrap();
        assert_eq!(store.get(&key).unwrap(), b"0123456789");
        assert_eq!(store.get_range(&key, 2..5).unwrap(), b"234");
        assert_eq!(store.get_range(&key, 8..50).unwrap(), b"89");
        assert_eq!(store.size(&key).unwrap(), 10);
        let mut s = String::new();
        store.open(&key).unwrap().read_to_string(&mut s).unwrap();
        assert_eq!(s, "0123456789");
        assert_eq!(
            store.local(&key).unwrap().path(),
            dir.path().join("objects/a/b.dcm")
        );
        let missing = ObjectKey::new("objects/a/c.dcm").unwrap();
        assert!(matches!(store.get(&missing), Err(Error::MissingObject(_))));
        assert!(matches!(
            store.local(&missing),
            Err(Error::MissingObject(_))
        ));
    }
}
