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
//! An encrypted repository ([`crate::crypt`]) has the same layout; its
//! blobs and manifests are age files and its blob names are keyed hashes.
//!
//! Stored instances never change once written (a compressed replacement is a
//! new object), so an incremental run sends only blobs that no earlier
//! snapshot holds, and a snapshot's blobs are never rewritten.

use std::io::Read;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::crypt::{Key, SCHEME};
use crate::manifest::Snapshot;
use crate::store::{Store, copy_checked};
use crate::{Error, Result};

/// The file that marks a repository.
pub const MARKER: &str = "sansfilm-repository.json";
/// Directory of the snapshot manifests.
pub const SNAPSHOTS_DIR: &str = "snapshots";
/// Directory of the blobs.
pub const BLOBS_DIR: &str = "blobs";

/// Format of a repository in the clear; older versions read it.
const PLAIN_FORMAT: u32 = 1;
/// Format of an encrypted repository: older versions, which would take its
/// age files for JSON, refuse it by its number.
const ENCRYPTED_FORMAT: u32 = 2;

#[derive(Debug, Serialize, Deserialize)]
struct Marker {
    format: u32,
    created: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    encryption: Option<MarkerEncryption>,
}

#[derive(Debug, Serialize, Deserialize)]
struct MarkerEncryption {
    scheme: String,
    /// The public key the repository is encrypted to.
    recipient: String,
}

/// A backup repository.
pub struct Repository {
    store: Box<dyn Store>,
    key: Option<Key>,
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
        Repository::open_or_create_with(store, None)
    }

    /// Opens an existing repository; an error when `store` holds none.
    pub fn open(store: Box<dyn Store>) -> Result<Repository> {
        Repository::open_with(store, None)
    }

    /// [`Repository::open_or_create`], encrypted with `key` when one is
    /// given. A repository is encrypted or not from its creation: the key
    /// must match how it was made.
    pub fn open_or_create_with(store: Box<dyn Store>, key: Option<Key>) -> Result<Repository> {
        let repo = Repository { store, key };
        if repo.exists()? {
            repo.check_marker()?;
        } else {
            let marker = Marker {
                format: if repo.key.is_some() {
                    ENCRYPTED_FORMAT
                } else {
                    PLAIN_FORMAT
                },
                created: chrono::Utc::now().to_rfc3339(),
                encryption: repo.key.as_ref().map(|k| MarkerEncryption {
                    scheme: SCHEME.into(),
                    recipient: k.recipient(),
                }),
            };
            let bytes = serde_json::to_vec_pretty(&marker).expect("marker serialises");
            repo.put_bytes(MARKER, &bytes)?;
            repo.commit()?;
        }
        Ok(repo)
    }

    /// [`Repository::open`] with the key of an encrypted repository.
    pub fn open_with(store: Box<dyn Store>, key: Option<Key>) -> Result<Repository> {
        let repo = Repository { store, key };
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
        let bytes = self.read_all(MARKER, false)?;
        let marker: Marker = serde_json::from_slice(&bytes).map_err(|e| {
            Error::Refused(format!("{}: unreadable {MARKER}: {e}", self.describe()))
        })?;
        if marker.format > ENCRYPTED_FORMAT {
            return Err(Error::Refused(format!(
                "{} holds a repository of format {}; this sansfilm reads formats up to \
                 {ENCRYPTED_FORMAT} (upgrade it)",
                self.describe(),
                marker.format
            )));
        }
        match (&marker.encryption, &self.key) {
            (None, None) => Ok(()),
            (Some(e), Some(key)) if e.scheme == SCHEME && e.recipient == key.recipient() => Ok(()),
            (Some(e), _) if e.scheme != SCHEME => Err(Error::Refused(format!(
                "{} is encrypted with {:?}, which this sansfilm does not know",
                self.describe(),
                e.scheme
            ))),
            (Some(e), Some(key)) => Err(Error::Refused(format!(
                "{} was encrypted for the key {}; the key file given is {}, another key",
                self.describe(),
                e.recipient,
                key.recipient()
            ))),
            (Some(e), None) => Err(Error::Refused(format!(
                "{} is encrypted (for the key {}): its target needs encrypt = true and \
                 key_file",
                self.describe(),
                e.recipient
            ))),
            (None, Some(_)) => Err(Error::Refused(format!(
                "{} holds an unencrypted repository; an encrypted target needs a directory \
                 or disk of its own (a repository is never half encrypted)",
                self.describe()
            ))),
        }
    }

    /// Whether the repository is encrypted.
    pub fn is_encrypted(&self) -> bool {
        self.key.is_some()
    }

    /// The store underneath.
    pub fn store(&self) -> &dyn Store {
        &*self.store
    }

    /// Where the repository is, for messages.
    pub fn describe(&self) -> String {
        self.store.describe()
    }

    /// The identifier under which content with this SHA-256 is kept: the
    /// hash itself, or a keyed hash of it in an encrypted repository.
    pub fn blob_id(&self, sha256: &str) -> String {
        match &self.key {
            Some(key) => key.blob_id(sha256),
            None => sha256.to_string(),
        }
    }

    /// Name of the blob holding content with this SHA-256.
    pub fn blob_name(&self, sha256: &str) -> String {
        Repository::name_of_blob_id(&self.blob_id(sha256))
    }

    /// Name of the blob with this identifier ([`Repository::blob_id`]).
    pub fn name_of_blob_id(id: &str) -> String {
        format!("{BLOBS_DIR}/{}/{id}", &id[..2.min(id.len())])
    }

    /// Every blob in the repository, by identifier ([`Repository::blob_id`]):
    /// listed at once rather than looked up object by object.
    pub fn blob_names(&self) -> Result<std::collections::HashSet<String>> {
        Ok(self
            .store
            .list_below(BLOBS_DIR)
            .map_err(|e| Error::io(format!("blobs in {}", self.describe()), e))?
            .into_iter()
            .collect())
    }

    /// Opens the blob of content with this SHA-256, decrypted. What it
    /// reads is not checked here: the caller hashes it.
    pub fn open_blob(&self, sha256: &str) -> std::io::Result<Box<dyn Read + Send>> {
        let raw = self.store.open(&self.blob_name(sha256))?;
        match &self.key {
            Some(key) => key.decrypt(raw),
            None => Ok(raw),
        }
    }

    /// Whether the blob of content with this SHA-256 is there.
    pub fn has_blob(&self, sha256: &str) -> std::io::Result<bool> {
        Ok(self.store.size_of(&self.blob_name(sha256))?.is_some())
    }

    /// Sends content whose SHA-256 is `sha256` as a blob (encrypted when
    /// the repository is), visible at the next commit. Content with another
    /// hash fails with [`std::io::ErrorKind::InvalidData`] and is not kept.
    /// Returns the number of bytes read.
    pub fn put_blob(&self, sha256: &str, reader: &mut dyn Read) -> std::io::Result<u64> {
        self.put_named(&self.blob_name(sha256), sha256, reader)
    }

    fn put_named(&self, name: &str, sha256: &str, reader: &mut dyn Read) -> std::io::Result<u64> {
        match &self.key {
            None => self.store.put(name, reader, sha256),
            Some(key) => {
                let mut size = 0;
                self.store.put_from(name, &mut |out| {
                    key.encrypt(out, &mut |w| {
                        size = copy_checked(reader, w, sha256)?;
                        Ok(())
                    })
                })?;
                Ok(size)
            }
        }
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
        let bytes = self.read_all(&format!("{SNAPSHOTS_DIR}/{id}.json"), true)?;
        let snapshot: Snapshot = serde_json::from_slice(&bytes).map_err(|e| Error::Manifest {
            id: id.to_string(),
            message: e.to_string(),
        })?;
        // A newer format may name its blobs otherwise: reading it as this one
        // would restore too little, and prune would remove what it needs.
        if snapshot.format > crate::manifest::FORMAT {
            return Err(Error::Manifest {
                id: id.to_string(),
                message: format!(
                    "format {}, newer than this sansfilm reads ({}): upgrade it",
                    snapshot.format,
                    crate::manifest::FORMAT
                ),
            });
        }
        Ok(snapshot)
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
        let name = format!("{SNAPSHOTS_DIR}/{}.json", snapshot.id);
        let sha = hex::encode(Sha256::digest(&bytes));
        self.put_named(&name, &sha, &mut &bytes[..])
            .map_err(|e| Error::io(format!("writing {name} to {}", self.describe()), e))?;
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

    /// Reads a whole file, decrypting it when `sealed` and the repository is
    /// encrypted (the marker never is).
    fn read_all(&self, name: &str, sealed: bool) -> Result<Vec<u8>> {
        let mut bytes = Vec::new();
        self.store
            .open(name)
            .and_then(|r| match (&self.key, sealed) {
                (Some(key), true) => key.decrypt(r),
                _ => Ok(r),
            })
            .and_then(|mut r| r.read_to_end(&mut bytes))
            .map_err(|e| Error::io(format!("reading {name} in {}", self.describe()), e))?;
        Ok(bytes)
    }
}
