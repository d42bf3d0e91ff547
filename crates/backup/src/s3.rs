//! A [`Store`] in an S3-compatible bucket, for the off-site copy.
//!
//! - Every upload carries its SHA-256 (`x-amz-checksum-sha256`), so the
//!   server refuses a body damaged on the way. What is uploaded is checked
//!   against its expected hash *before* the upload completes: a blob of up
//!   to [`PART_BYTES`] goes in one PUT once read and checked; a larger one in
//!   parts, the upload completed only after the check, aborted otherwise. A
//!   PUT is atomic on S3: an object under its final name is always whole.
//! - It never deletes. The credentials it is given need only PutObject,
//!   GetObject and ListBucket; with object lock on the bucket, not even the
//!   provider's account can remove a blob before its retention ends.
//!
//! The calls block: the store runs its own small runtime, so that the
//! backup's worker threads use it like a directory.

use std::io::{self, Read, Write};
use std::sync::Arc;
use std::time::Duration;

use futures::StreamExt;
use futures::stream::BoxStream;
use object_store::aws::{AmazonS3, AmazonS3Builder, Checksum};
use object_store::path::Path as ObjectPath;
use object_store::{ClientOptions, ObjectStore, ObjectStoreExt, PutPayload};

use crate::store::Store;

/// Size of an upload part; a blob up to this size goes in one PUT.
pub const PART_BYTES: usize = 16 << 20;

/// Names the checksum algorithm on every request, as the AWS SDKs do: a
/// bucket with object lock refuses an upload whose integrity header is not
/// announced so, and some servers keep the checksum only then.
fn checksum_headers() -> reqwest::header::HeaderMap {
    let mut headers = reqwest::header::HeaderMap::new();
    headers.insert(
        "x-amz-sdk-checksum-algorithm",
        reqwest::header::HeaderValue::from_static("SHA256"),
    );
    headers
}

/// Where and how to reach a bucket.
#[derive(Clone, PartialEq, Eq)]
pub struct S3Location {
    /// Bucket name.
    pub bucket: String,
    /// Key prefix inside the bucket (no leading or trailing `/`); may be empty.
    pub prefix: String,
    /// `https://…` (or `http://` for a server on the machine or the LAN);
    /// none: Amazon's for the region.
    pub endpoint: Option<String>,
    /// Region (`us-east-1` when none is given).
    pub region: String,
    /// Access key.
    pub access_key_id: String,
    /// Secret key.
    pub secret_access_key: String,
}

impl std::fmt::Debug for S3Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        f.debug_struct("S3Location")
            .field("bucket", &self.bucket)
            .field("prefix", &self.prefix)
            .field("endpoint", &self.endpoint)
            .field("region", &self.region)
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

/// A bucket (and prefix) used as a backup target.
pub struct S3Store {
    s3: Arc<AmazonS3>,
    prefix: String,
    part_bytes: usize,
    runtime: Arc<tokio::runtime::Runtime>,
    describe: String,
}

impl std::fmt::Debug for S3Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("S3Store")
            .field("at", &self.describe)
            .finish()
    }
}

impl S3Store {
    /// Connects to the bucket (lazily: the first call reaches the server).
    pub fn open(location: &S3Location) -> io::Result<S3Store> {
        // One TLS provider for the process: ring, as the rest of sansfilm.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let mut builder = AmazonS3Builder::new()
            .with_bucket_name(&location.bucket)
            .with_region(&location.region)
            .with_access_key_id(&location.access_key_id)
            .with_secret_access_key(&location.secret_access_key)
            .with_checksum_algorithm(Checksum::SHA256)
            .with_client_options(
                // The timeout covers a whole request, body included: generous
                // enough for a 16 MiB part over a slow uplink (ADSL) and a
                // large blob coming back over a modest line.
                ClientOptions::new()
                    .with_connect_timeout(Duration::from_secs(10))
                    .with_timeout(Duration::from_secs(3600))
                    .with_default_headers(checksum_headers()),
            );
        if let Some(endpoint) = &location.endpoint {
            builder = builder
                .with_endpoint(endpoint)
                .with_allow_http(endpoint.starts_with("http://"));
        }
        let s3 = builder.build().map_err(io::Error::other)?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sansfilm-s3")
            .enable_all()
            .build()?;
        let describe = format!(
            "s3://{}/{}{}",
            location.bucket,
            location.prefix,
            location
                .endpoint
                .as_ref()
                .map(|e| format!(" at {e}"))
                .unwrap_or_default()
        );
        Ok(S3Store {
            s3: Arc::new(s3),
            prefix: location.prefix.trim_matches('/').to_string(),
            part_bytes: PART_BYTES,
            runtime: Arc::new(runtime),
            describe,
        })
    }

    /// Uploads larger than `bytes` go in parts of that size (at least
    /// 5 MiB, S3's smallest part).
    pub fn with_part_bytes(mut self, bytes: usize) -> S3Store {
        self.part_bytes = bytes.max(5 << 20);
        self
    }

    fn key(&self, name: &str) -> io::Result<ObjectPath> {
        let name = crate::store::checked_name(name)?;
        Ok(if self.prefix.is_empty() {
            ObjectPath::from(name)
        } else {
            ObjectPath::from(format!("{}/{name}", self.prefix))
        })
    }

    fn listing(&self, dir: &str) -> io::Result<object_store::ListResult> {
        let prefix = if dir.is_empty() {
            None
        } else {
            Some(self.key(dir)?)
        };
        let prefix = match (prefix, self.prefix.is_empty()) {
            (Some(p), _) => Some(p),
            (None, false) => Some(ObjectPath::from(self.prefix.as_str())),
            (None, true) => None,
        };
        self.runtime
            .block_on(self.s3.list_with_delimiter(prefix.as_ref()))
            .map_err(|e| self.error(e))
    }

    fn error(&self, e: object_store::Error) -> io::Error {
        let kind = match &e {
            object_store::Error::NotFound { .. } => io::ErrorKind::NotFound,
            object_store::Error::PermissionDenied { .. }
            | object_store::Error::Unauthenticated { .. } => io::ErrorKind::PermissionDenied,
            _ => io::ErrorKind::Other,
        };
        io::Error::new(kind, format!("{}: {e}", self.describe))
    }
}

impl Store for S3Store {
    fn size_of(&self, name: &str) -> io::Result<Option<u64>> {
        match self.runtime.block_on(self.s3.head(&self.key(name)?)) {
            Ok(meta) => Ok(Some(meta.size)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(e) => Err(self.error(e)),
        }
    }

    fn put_from(
        &self,
        name: &str,
        fill: &mut dyn FnMut(&mut dyn Write) -> io::Result<()>,
    ) -> io::Result<u64> {
        let mut upload = Upload {
            store: self,
            key: self.key(name)?,
            buffer: Vec::new(),
            multipart: None,
            written: 0,
        };
        let filled = fill(&mut upload);
        match filled {
            Ok(()) => upload.finish(),
            Err(e) => {
                upload.abort();
                Err(e)
            }
        }
    }

    fn commit(&self) -> io::Result<()> {
        // Each upload was durable on the server when it returned.
        Ok(())
    }

    fn abandon(&self) {
        // Nothing to remove, and no right to: what was uploaded is whole and
        // named by its content; the next run finds it and does not send it
        // again.
    }

    fn open(&self, name: &str) -> io::Result<Box<dyn Read + Send>> {
        let key = self.key(name)?;
        let result = self
            .runtime
            .block_on(self.s3.get(&key))
            .map_err(|e| self.error(e))?;
        Ok(Box::new(Download {
            runtime: Arc::clone(&self.runtime),
            stream: result.into_stream(),
            chunk: bytes::Bytes::new(),
            describe: self.describe.clone(),
        }))
    }

    fn list(&self, dir: &str) -> io::Result<Vec<String>> {
        let mut names: Vec<String> = self
            .listing(dir)?
            .objects
            .into_iter()
            .filter_map(|o| o.location.filename().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    fn list_dirs(&self, dir: &str) -> io::Result<Vec<String>> {
        let mut names: Vec<String> = self
            .listing(dir)?
            .common_prefixes
            .into_iter()
            .filter_map(|p| p.filename().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    fn describe(&self) -> String {
        self.describe.clone()
    }

    fn list_below(&self, dir: &str) -> io::Result<Vec<String>> {
        // One listing of the whole prefix (a thousand names a request)
        // rather than one request per blob directory.
        let prefix = self.key(dir)?;
        self.runtime.block_on(async {
            let mut names = Vec::new();
            let mut listing = self.s3.list(Some(&prefix));
            while let Some(meta) = listing.next().await {
                let meta = meta.map_err(|e| self.error(e))?;
                if let Some(name) = meta.location.filename() {
                    names.push(name.to_string());
                }
            }
            Ok(names)
        })
    }

    fn concurrency(&self) -> usize {
        8
    }
}

/// One object being uploaded: buffered up to the part size, then in parts.
struct Upload<'a> {
    store: &'a S3Store,
    key: ObjectPath,
    buffer: Vec<u8>,
    multipart: Option<Box<dyn object_store::MultipartUpload>>,
    written: u64,
}

impl Upload<'_> {
    fn send_part(&mut self) -> io::Result<()> {
        let store = self.store;
        if self.multipart.is_none() {
            let started = store
                .runtime
                .block_on(store.s3.put_multipart(&self.key))
                .map_err(|e| store.error(e))?;
            self.multipart = Some(started);
        }
        // Parts of one size (some servers refuse uneven ones); the rest
        // waits for the next part or the end.
        let rest = if self.buffer.len() > store.part_bytes {
            self.buffer.split_off(store.part_bytes)
        } else {
            Vec::new()
        };
        let part = PutPayload::from(std::mem::replace(&mut self.buffer, rest));
        let upload = self.multipart.as_mut().expect("started above");
        store
            .runtime
            .block_on(upload.put_part(part))
            .map_err(|e| store.error(e))
    }

    fn finish(mut self) -> io::Result<u64> {
        let store = self.store;
        if self.multipart.is_none() {
            let payload = PutPayload::from(std::mem::take(&mut self.buffer));
            store
                .runtime
                .block_on(store.s3.put(&self.key, payload))
                .map_err(|e| store.error(e))?;
            return Ok(self.written);
        }
        if !self.buffer.is_empty()
            && let Err(e) = self.send_part()
        {
            self.abort();
            return Err(e);
        }
        let mut upload = self.multipart.take().expect("multipart");
        match store.runtime.block_on(upload.complete()) {
            Ok(_) => Ok(self.written),
            Err(e) => {
                self.multipart = Some(upload);
                self.abort();
                Err(store.error(e))
            }
        }
    }

    fn abort(&mut self) {
        if let Some(mut upload) = self.multipart.take()
            && let Err(e) = self.store.runtime.block_on(upload.abort())
        {
            // Its parts stay on the server (and are billed) until a lifecycle
            // rule for incomplete uploads removes them.
            tracing::warn!(
                key = %self.key,
                "could not abort an incomplete upload to {}: {e}",
                self.store.describe
            );
        }
    }
}

impl Write for Upload<'_> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.buffer.extend_from_slice(buf);
        self.written += buf.len() as u64;
        while self.buffer.len() >= self.store.part_bytes {
            self.send_part()?;
        }
        Ok(buf.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// An object read as it arrives.
struct Download {
    // Held, not only a handle: the reader may outlive its store.
    runtime: Arc<tokio::runtime::Runtime>,
    stream: BoxStream<'static, object_store::Result<bytes::Bytes>>,
    chunk: bytes::Bytes,
    describe: String,
}

impl Read for Download {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            match self.runtime.block_on(self.stream.next()) {
                None => return Ok(0),
                Some(Ok(chunk)) => self.chunk = chunk,
                Some(Err(e)) => {
                    return Err(io::Error::other(format!("{}: {e}", self.describe)));
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk[..n]);
        self.chunk = self.chunk.slice(n..);
        Ok(n)
    }
}
