//! A backup repository on a [`Store`]: content-addressed blobs and snapshot
//! manifests.
//!
//! ```text
//! TARGET/
//!   sansfilm-repository.json   marks the repository (format, creation time)
//!   blobs/ab/ab12…             each file once, named by its SHA-256
//!   snapshots/ID.json          one manifest per backup run
//!   tmp/                       files being written (removed at next open)
//! ```
//!
//! Stored instances never change once written (a compressed replacement is a
//! new object), so an incremental run sends only blobs that no earlier
//! snapshot holds, and a snapshot's blobs are never rewritten.

use std::io::Read;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::manifest::{FORMAT, Snapshot};
use crate::store::Store;
use crate::{Error, Result};

/// The file that marks a repository.
pub const MARKER: &str = "sansfilm-repository.json";
/// Directory of the snapshot manifests.
pub const SNAPSHOTS_DIR: &str = "snapshots";
/// Directory of the blobs.
pub const BLOBS_DIR: &str = "blobs";

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    format: u32,
    created: String,
}

/// A backup repository.
pub struct Repository {
    store: Box<dyn Store>,
}

impl std::fmt::Debug for Repository {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Repository")
            .field("store", &self.store.describe())
            .finish()
    }
}

impl Repository {
    /// Opens the repository in `store`, creating it when the store is empty
    /// of one (the first backup to a new target).
    pub fn open_or_create(store: Box<dyn Store>) -> Result<Repository> {
        let repo = Repository { store };
        if repo.exists()? {
            repo.check_marker()?;
        } else {
            let marker = Marker {
                format: FORMAT,
                created: chrono::Utc::now().to_rfc3339(),
            };
            let bytes = serde_json::to_vec_pretty(&marker).expect("marker serialises");
            repo.put_bytes(MARKER, &bytes)?;
            repo.commit()?;
        }
        Ok(repo)
    }

    /// Opens an existing repository; an error when `store` holds none.
    pub fn open(store: Box<dyn Store>) -> Result<Repository> {
        let repo = Repository { store };
        if !repo.exists()? {
            return Err(Error::NotARepository(repo.store.describe()));
        }
        repo.check_marker()?;
        Ok(repo)
    }

    fn exists(&self) -> Result<bool> {
        Ok(self
            .store
            .size_of(MARKER)
            .map_err(|e| Error::io(format!("backup target {}", self.describe()), e))?
            .is_some())
    }

    fn check_marker(&self) -> Result<()> {
        let bytes = self.read_all(MARKER)?;
        let marker: Marker = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Refused(format!("{}: unreadable {MARKER}: {e}", self.describe()))
        })?;
        if marker.format > FORMAT {
            return Err(Error::Refused(format!(
                "{} holds a repository of format {}; this sansfilm reads format {FORMAT} (upgrade it)",
                self.describe(),
                marker.format
            )));
        }
        Ok(())
    }

    /// The store underneath.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Where the repository is, for messages.
    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// Name of the blob holding content with this SHA-256.
    pub fn blob_name(sha256: &str) -> String {
        format!("{BLOBS_DIR}/{}/{sha256}", &sha256[..2.min(sha256.len())])
    }

    /// Every blob in the repository, by name (its SHA-256): one listing per
    /// blob directory rather than a lookup per object.
    pub fn blob_names(&self) -> Result<std::collections::HashSet<String>> {
        let mut names = std::collections::HashSet::new();
        for dir in self
            .store
            .list_dirs(BLOBS_DIR)
            .map_err(|e| Error::io(format!("blobs in {}", self.describe()), e))?
        {
            let found = self
                .store
                .list(&format!("{BLOBS_DIR}/{dir}"))
                .map_err(|e| Error::io(format!("blobs in {}", self.describe()), e))?;
            names.extend(found);
        }
        Ok(names)
    }

    /// Opens a blob for reading.
    pub fn open_blob(&self, sha256: &str) -> std::io::Result<Box<dyn Read + Send>> {
        self.store.open(&Self::blob_name(sha256))
    }

    /// Identifiers of every snapshot, oldest first.
    pub fn snapshot_ids(&self) -> Result<Vec<String>> {
        let names = self
            .store
            .list(SNAPSHOTS_DIR)
            .map_err(|e| Error::io(format!("snapshots in {}", self.describe()), e))?;
        Ok(names
            .into_iter()
            .filter_map(|n| n.strip_suffix(".json").map(str::to_string))
            .collect())
    }

    /// Reads one snapshot's manifest.
    pub fn load(&self, id: &str) -> Result<Snapshot> {
        if !self.snapshot_ids()?.iter().any(|s| s == id) {
            return Err(Error::NoSnapshot(format!("{id} in {}", self.describe())));
        }
        let bytes = self.read_all(&format!("{SNAPSHOTS_DIR}/{id}.json"))?;
        serde_json::from_slice(&bytes).map_err(|e| Error::Manifest {
            id: id.to_string(),
            message: e.to_string(),
        })
    }

    /// The newest snapshot, if any.
    pub fn latest(&self) -> Result<Option<Snapshot>> {
        match self.snapshot_ids()?.last() {
            Some(id) => self.load(id).map(Some),
            None => Ok(None),
        }
    }

    /// Writes a snapshot's manifest, durably. Its blobs must have been
    /// committed before: the manifest is what makes the snapshot exist.
    pub fn save(&self, snapshot: &Snapshot) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(snapshot).expect("manifest serialises");
        self.put_bytes(&format!("{SNAPSHOTS_DIR}/{}.json", snapshot.id), &bytes)?;
        self.commit()
    }

    /// Makes every blob put so far durable.
    pub fn commit(&self) -> Result<()> {
        self.store
            .commit()
            .map_err(|e| Error::io(format!("writing to backup target {}", self.describe()), e))
    }

    fn put_bytes(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let sha = hex::encode(Sha256::digest(bytes));
        self.store
            .put(name, &mut &bytes[..], &sha)
            .map_err(|e| Error::io(format!("writing {name} to {}", self.describe()), e))?;
        Ok(())
    }

    fn read_all(&self, name: &str) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.store
            .open(name)
            .and_then(|mut r| r.read_to_end(&mut bytes))
            .map_err(|e| Error::io(format!("reading {name} in {}", self.describe()), e))?;
        Ok(bytes)
    }
}
