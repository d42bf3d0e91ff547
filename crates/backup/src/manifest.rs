//! A snapshot's manifest: every file it holds, with size and SHA-256, so that
//! a restore can be proven complete.

use serde::{Deserialize, Serialize};

/// Version of the manifest format this code writes and the newest it reads
/// (2: `deferred`).
pub const FORMAT: u32 = 2;

/// One backup run: what it holds and what it could not take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Snapshot {
    /// Manifest format ([`FORMAT`]).
    pub format: u32,
    /// Identifier: UTC start time and a random suffix, sorting in time order.
    pub id: String,
    /// When the run started (RFC 3339, UTC).
    pub started: String,
    /// When it ended.
    pub finished: String,
    /// Host name of the archive server.
    pub host: String,
    /// The data directory it was taken from.
    pub source: String,
    /// Every file of the snapshot.
    pub entries: Vec<Entry>,
    /// Objects of the archive that this snapshot does not hold, and why
    /// (damaged in the archive when read, for instance).
    #[serde(default)]
    pub problems: Vec<Problem>,
    /// Instances of the index copy left out on purpose: they were waiting
    /// for compression, and a later snapshot takes their compressed form. A
    /// restore leaves them out of the restored index.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub deferred: Vec<String>,
}

/// One file of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// Path relative to the data directory (`objects/…/x.dcm`, `index.sqlite`).
    pub path: String,
    /// What it is.
    pub kind: EntryKind,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the content (lowercase hex), also its blob's name; for a
    /// file kept in chunks, the SHA-256 of its chunks' hashes
    /// ([`crate::backup::chunk_list_hash`]).
    pub sha256: String,
    /// A large database is kept as consecutive chunks (their SHA-256s, in
    /// order), so that a run sends only the chunks that changed: the audit
    /// trail grows at its end. Empty: one blob, named by `sha256`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chunks: Vec<String>,
}

/// What a snapshot entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A consistent copy of one of the data directory's SQLite databases.
    Database,
    /// A stored instance.
    Object,
    /// Another small file of the data directory (`last-verify.txt`).
    File,
}

/// An object of the archive left out of a snapshot.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Problem {
    /// Path relative to the data directory.
    pub path: String,
    /// Why it is not in the snapshot.
    pub reason: String,
}

impl Snapshot {
    /// Entries of one kind.
    pub fn of_kind(&self, kind: EntryKind) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.kind == kind)
    }

    /// Total size of the entries.
    pub fn bytes(&self) -> u64 {
        self.entries.iter().map(|e| e.size).sum()
    }
}
