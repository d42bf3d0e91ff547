//! `[web]` of the configuration file.

use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// The web server's settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebOptions {
    /// TCP port (0: no web server).
    pub port: u16,
    /// Address it listens on (default: loopback only; plain HTTP is refused
    /// elsewhere unless `allow_plain_http` says otherwise).
    pub bind: IpAddr,
    /// PEM certificate chain for HTTPS.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key for HTTPS.
    pub tls_key: Option<PathBuf>,
    /// Serve plain HTTP on an address other than loopback (behind a TLS
    /// proxy of the practice's own, for instance).
    pub allow_plain_http: bool,
    /// The viewer's files (OHIF's `dist/`, fetched by
    /// `scripts/fetch-viewer.sh`); none: no viewer.
    pub viewer_dir: Option<PathBuf>,
    /// How long a login lasts, in hours.
    pub session_hours: u32,
    /// How long a share lasts by default, in days.
    pub share_days: u32,
    /// Largest STOW-RS request body, in bytes.
    pub max_upload_bytes: u64,
    /// Memory given to series metadata documents (gzip), in MiB.
    pub metadata_cache_mib: u64,
    /// Address of this server as browsers reach it (for share links), e.g.
    /// `https://pacs.cabinet.fr`; by default the request's own host.
    pub public_url: Option<String>,
}

impl Default for WebOptions {
    fn default() -> Self {
        WebOptions {
            port: 8080,
            bind: IpAddr::from([127, 0, 0, 1]),
            tls_cert: None,
            tls_key: None,
            allow_plain_http: false,
            viewer_dir: None,
            session_hours: 12,
            share_days: 30,
            max_upload_bytes: 4 << 30,
            metadata_cache_mib: 256,
            public_url: None,
        }
    }
}

impl WebOptions {
    /// Whether HTTPS is configured.
    pub fn tls(&self) -> bool {
        self.tls_cert.is_some() && self.tls_key.is_some()
    }

    /// Checks what the types alone do not.
    pub fn validate(&self) -> Result<(), String> {
        if self.tls_cert.is_some() != self.tls_key.is_some() {
            return Err("web.tls_cert and web.tls_key go together".into());
        }
        if self.port != 0 && !self.tls() && !self.bind.is_loopback() && !self.allow_plain_http {
            return Err(format!(
                "web.bind = {} serves plain HTTP beyond this machine: give web.tls_cert and \
                 web.tls_key, or set web.allow_plain_http = true behind a TLS proxy",
                self.bind
            ));
        }
        if self.session_hours == 0 || self.share_days == 0 {
            return Err("web.session_hours and web.share_days must be at least 1".into());
        }
        Ok(())
    }
}
