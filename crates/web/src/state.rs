//! What every request handler shares: the archive, the accounts, the audit
//! trail, the settings and the caches.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sansfilm_archive::Archive;
use sansfilm_audit::AuditLog;

use crate::accounts::Accounts;
use crate::metadata::MetadataCache;
use crate::options::WebOptions;

/// The web server's state: a cheap handle, cloned into every handler.
#[derive(Clone)]
pub struct WebState {
    inner: Arc<Inner>,
}

struct Inner {
    archive: Archive,
    accounts: Accounts,
    audit: Option<AuditLog>,
    options: WebOptions,
    metadata: MetadataCache,
    /// HTTP Basic credentials already checked (SHA-256 of the header value
    /// → the password hash they matched, when): argon2 is slow on purpose,
    /// and DICOMweb clients send the header with every request. A hit
    /// counts only while the user's stored hash is still that one.
    basic: Mutex<HashMap<String, (String, Instant)>>,
    /// Failed share codes and logins per client address, for rate limiting.
    failures: Mutex<HashMap<IpAddr, (u32, Instant)>>,
}

/// How long checked Basic credentials are remembered.
const BASIC_TTL: Duration = Duration::from_secs(300);

/// Failed attempts (logins, codes) allowed per client address per window.
pub const MAX_FAILURES_PER_CLIENT: u32 = 20;

/// The rate-limiting window.
pub const FAILURE_WINDOW: Duration = Duration::from_secs(15 * 60);

impl WebState {
    /// The state of a web server over `archive`, with `accounts`, recording
    /// to `audit` when given.
    pub fn new(
        archive: Archive,
        accounts: Accounts,
        audit: Option<AuditLog>,
        options: WebOptions,
    ) -> WebState {
        let metadata = MetadataCache::new(options.metadata_cache_mib << 20);
        WebState {
            inner: Arc::new(Inner {
                archive,
                accounts,
                audit,
                options,
                metadata,
                basic: Mutex::new(HashMap::new()),
                failures: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// The archive.
    pub fn archive(&self) -> &Archive {
        &self.inner.archive
    }

    /// Users, sessions and shares.
    pub fn accounts(&self) -> &Accounts {
        &self.inner.accounts
    }

    /// The audit trail, when recording.
    pub fn audit(&self) -> Option<&AuditLog> {
        self.inner.audit.as_ref()
    }

    /// The settings.
    pub fn options(&self) -> &WebOptions {
        &self.inner.options
    }

    /// Series metadata documents.
    pub(crate) fn metadata(&self) -> &MetadataCache {
        &self.inner.metadata
    }

    /// The password hash that Basic credentials (by the SHA-256 of the
    /// header) matched lately.
    pub(crate) fn basic_cached(&self, key: &str) -> Option<String> {
        let mut map = self.inner.basic.lock().unwrap_or_else(|p| p.into_inner());
        map.retain(|_, (_, at)| at.elapsed() < BASIC_TTL);
        map.get(key).map(|(h, _)| h.clone())
    }

    pub(crate) fn remember_basic(&self, key: String, hash: String) {
        let mut map = self.inner.basic.lock().unwrap_or_else(|p| p.into_inner());
        map.insert(key, (hash, Instant::now()));
    }

    /// Whether `client` has failed too often lately.
    pub(crate) fn client_blocked(&self, client: IpAddr) -> bool {
        let map = self
            .inner
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        map.get(&client).is_some_and(|(n, since)| {
            *n >= MAX_FAILURES_PER_CLIENT && since.elapsed() < FAILURE_WINDOW
        })
    }

    /// Counts a failed attempt from `client`.
    pub(crate) fn client_failed(&self, client: IpAddr) {
        let mut map = self
            .inner
            .failures
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let entry = map.entry(client).or_insert((0, Instant::now()));
        if entry.1.elapsed() >= FAILURE_WINDOW {
            *entry = (0, Instant::now());
        }
        entry.0 += 1;
    }
}
