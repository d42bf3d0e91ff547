//! The configuration file shared by every binary.
//!
//! Every field has a default, so an empty file (or none) is a working
//! configuration. Unknown keys are errors, so that a typo is caught at start
//! rather than silently ignored.
//!
//! ```toml
//! data_dir = "/srv/sansfilm"
//!
//! [dicom]                     # every DICOM service: association policy
//! ae_title = "SANSFILM"
//! max_associations = 32
//! idle_timeout_secs = 300
//!
//! [dicom.access]              # who may connect (empty allow-list: anyone)
//! allow = [
//!   { ae_title = "CT_SALLE1", host = "192.168.10.21" },
//!   { ae_title = "ECHO_2" },
//! ]
//!
//! [storescp]
//! port = 11112
//!
//! [wlmserver]
//! port = 11113
//!
//! [worklist]
//! max_answers = 1000
//!
//! [worklist.profiles.OLD_ECHO]  # an old ultrasound: ASCII, upper case
//! charset = "ASCII"
//! uppercase = true
//! max_length = { PN = 32 }
//! filter_by_station_ae = true
//!
//! [serve]
//! port = 11112
//! hl7_port = 2575
//!
//! [backup]                    # see sansfilm_backup::target
//! at = "02:00"
//! [[backup.targets]]
//! name = "disque2"
//! url = "file:///mnt/backup"
//! ```

use std::net::IpAddr;
use std::path::{Path, PathBuf};

use sansfilm_dimse::ServerOptions;
use sansfilm_hl7::Hl7Config;
use sansfilm_worklist::WorklistConfig;
use serde::{Deserialize, Serialize};

/// The whole configuration file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// The data directory: SQLite index and object store.
    pub data_dir: PathBuf,
    /// Address the servers listen on.
    pub bind: IpAddr,
    /// Association policy of every DICOM service.
    pub dicom: ServerOptions,
    /// The standalone storage server.
    pub storescp: PortConfig,
    /// The standalone worklist server.
    pub wlmserver: PortConfig,
    /// Worklist answers: limit and per-device profiles.
    pub worklist: WorklistConfig,
    /// The standalone HL7 bridge.
    pub hl7bridge: PortConfig,
    /// HL7: limits and the HL7 → worklist mapping per sending application.
    pub hl7: Hl7Config,
    /// The audit trail.
    pub audit: crate::audit::AuditConfig,
    /// `sansfilm serve`: every service in one process.
    pub serve: ServeConfig,
    /// Background lossless compression of the archive.
    pub compression: crate::compression::CompressionConfig,
    /// Query/Retrieve answers.
    pub query: crate::qr_find::QueryConfig,
    /// Priors sent to a workstation when an exam is ordered.
    pub prefetch: crate::prefetch::PrefetchConfig,
    /// The web server: DICOMweb, the viewer, the practice page, shares.
    pub web: sansfilm_web::WebOptions,
    /// Backups: targets and the nightly schedule.
    pub backup: sansfilm_backup::BackupConfig,
    /// The scrub: the nightly quality-control pass.
    pub scrub: crate::scrub::ScrubConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            data_dir: PathBuf::from("sansfilm-data"),
            bind: IpAddr::from([0, 0, 0, 0]),
            dicom: ServerOptions::default(),
            storescp: PortConfig { port: 11112 },
            wlmserver: PortConfig { port: 11113 },
            worklist: WorklistConfig::default(),
            hl7bridge: PortConfig { port: 2575 },
            hl7: Hl7Config::default(),
            audit: crate::audit::AuditConfig::default(),
            serve: ServeConfig::default(),
            compression: crate::compression::CompressionConfig::default(),
            query: crate::qr_find::QueryConfig::default(),
            prefetch: crate::prefetch::PrefetchConfig::default(),
            web: sansfilm_web::WebOptions::default(),
            backup: sansfilm_backup::BackupConfig::default(),
            scrub: crate::scrub::ScrubConfig::default(),
        }
    }
}

/// A service with one port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PortConfig {
    /// TCP port.
    pub port: u16,
}

/// `sansfilm serve`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServeConfig {
    /// The one DICOM port of every DICOM service.
    pub port: u16,
    /// The HL7 (MLLP) port, used once the HL7 bridge is part of `serve`.
    pub hl7_port: u16,
}

impl Default for ServeConfig {
    fn default() -> Self {
        ServeConfig {
            port: 11112,
            hl7_port: 2575,
        }
    }
}

/// A configuration file that cannot be used.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file cannot be read.
    #[error("cannot read {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The file is not valid TOML or has unknown or mistyped keys.
    #[error("invalid configuration in {path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parser's message, with line and column.
        message: String,
    },
    /// A value is out of range.
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

impl Config {
    /// The configuration a binary runs with: the file given with `--config`
    /// (or the embedded defaults), then `--data-dir` if given. Call
    /// [`validate`](Self::validate) after applying the other options.
    pub fn load(path: Option<&Path>, data_dir: Option<&Path>) -> Result<Config, ConfigError> {
        let mut config = match path {
            Some(path) => Config::from_file(path)?,
            None => Config::default(),
        };
        if let Some(dir) = data_dir {
            config.data_dir = dir.to_path_buf();
        }
        Ok(config)
    }

    /// Reads and checks a configuration file.
    pub fn from_file(path: &Path) -> Result<Config, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Self::from_toml(&text).map_err(|e| match e {
            ConfigError::Parse { message, .. } => ConfigError::Parse {
                path: path.to_path_buf(),
                message,
            },
            other => other,
        })
    }

    /// Parses and checks a configuration from TOML text.
    pub fn from_toml(text: &str) -> Result<Config, ConfigError> {
        let config: Config = toml::from_str(text).map_err(|e| ConfigError::Parse {
            path: PathBuf::new(),
            message: e.to_string(),
        })?;
        config.validate()?;
        Ok(config)
    }

    /// Checks values that the types alone do not.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let ae = self.dicom.ae_title.trim();
        if ae.is_empty() || ae.len() > 16 || ae.contains('\\') || !ae.is_ascii() {
            return Err(ConfigError::Invalid(format!(
                "dicom.ae_title {:?} must be 1 to 16 ASCII characters without backslash",
                self.dicom.ae_title
            )));
        }
        if self.dicom.max_pdu_length < 1024 {
            return Err(ConfigError::Invalid(
                "dicom.max_pdu_length must be at least 1024".into(),
            ));
        }
        if self.hl7.max_message_bytes < 1024 {
            return Err(ConfigError::Invalid(
                "hl7.max_message_bytes must be at least 1024".into(),
            ));
        }
        if let Err(e) = self.backup.validate() {
            return Err(ConfigError::Invalid(e.to_string()));
        }
        if let Err(e) = self.scrub.validate(&self.backup) {
            return Err(ConfigError::Invalid(e));
        }
        if let Err(e) = self.compression.policy().target() {
            return Err(ConfigError::Invalid(e.to_string()));
        }
        if self.prefetch.enabled
            && !self
                .dicom
                .destinations
                .contains_key(&self.prefetch.destination)
        {
            return Err(ConfigError::Invalid(format!(
                "prefetch.destination {:?} is not in [dicom.destinations]",
                self.prefetch.destination
            )));
        }
        self.web.validate().map_err(ConfigError::Invalid)?;
        if self.dicom.max_associations == 0 {
            return Err(ConfigError::Invalid(
                "dicom.max_associations must be at least 1".into(),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefetch_to_an_unknown_destination_is_a_configuration_error() {
        let e = Config::from_toml("[prefetch]\nenabled = true\ndestination = \"WS9\"")
            .unwrap_err()
            .to_string();
        assert!(e.contains("not in [dicom.destinations]"), "{e}");
        let c = Config::from_toml(
            "[prefetch]\nenabled = true\ndestination = \"WS9\"\n\
             [dicom.destinations.WS9]\nhost = \"10.0.0.9\"\nport = 104",
        )
        .unwrap();
        c.validate().unwrap();
    }

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(Config::from_toml("").unwrap(), Config::default());
    }

    #[test]
    fn documented_example_parses() {
        let text = r#"
            data_dir = "/srv/sansfilm"
            [dicom]
            ae_title = "SANSFILM"
            max_associations = 8
            [dicom.access]
            allow = [ { ae_title = "CT_SALLE1", host = "192.168.10.21" }, { ae_title = "ECHO_2" } ]
            [storescp]
            port = 104
        "#;
        let c = Config::from_toml(text).unwrap();
        assert_eq!(c.dicom.max_associations, 8);
        assert_eq!(c.dicom.access.allow.len(), 2);
        assert_eq!(c.storescp.port, 104);
    }

    #[test]
    fn typos_are_errors() {
        let e = Config::from_toml("[dicom]\nae_tittle = \"X\"").unwrap_err();
        assert!(e.to_string().contains("ae_tittle"), "{e}");
        assert!(Config::from_toml("[dicom]\nae_title = \"WAY_TOO_LONG_AE_TITLE\"").is_err());
    }

    #[test]
    fn an_unknown_compression_target_is_an_error_that_names_the_choices() {
        let e = Config::from_toml("[compression]\ntarget = \"jpeg\"").unwrap_err();
        assert!(e.to_string().contains("jpegls, jpeg2000 or rle"), "{e}");
        // Decoding is not a compression target.
        assert!(Config::from_toml("[compression]\ntarget = \"explicit\"").is_err());
        let c = Config::from_toml("[compression]\ntarget = \"jpeg2000\"\nthreads = 2").unwrap();
        assert_eq!(c.compression.policy().threads, 2);
    }
}

#[cfg(test)]
mod readme {
    /// The configuration shown in the README parses, so the documentation
    /// cannot drift from the code.
    #[test]
    fn readme_configuration_parses() {
        let readme = include_str!("../../../README.md");
        let start = readme.find("```toml\n").expect("a toml block") + 8;
        let end = start + readme[start..].find("```").unwrap();
        let config = super::Config::from_toml(&readme[start..end]).unwrap();
        assert!(config.worklist.profiles.contains_key("ECHO_VOLUSON"));
        assert_eq!(config.dicom.access.allow.len(), 3);
        assert!(!config.dicom.access.allow[2].store && config.dicom.access.allow[2].move_);
        assert_eq!(config.dicom.destinations["WS_LECTURE"].port, 104);
        assert_eq!(config.compression.target, "jpegls");
    }

    /// So does the README's backup and scrub example, and it validates.
    #[test]
    fn readme_backup_configuration_parses() {
        let readme = include_str!("../../../README.md");
        let block = readme
            .split("```toml\n")
            .skip(1)
            .map(|b| &b[..b.find("```").unwrap()])
            .find(|b| b.contains("[[backup.targets]]"))
            .expect("a backup example");
        let config = super::Config::from_toml(block).unwrap();
        config.validate().unwrap();
        assert_eq!(config.backup.targets.len(), 3);
        assert!(config.backup.targets[1].is_removable());
        assert!(matches!(
            config.backup.targets[2].location().unwrap(),
            sansfilm_backup::target::Location::S3 { .. }
        ));
        assert_eq!(config.scrub.period_days, 30);
    }
}
