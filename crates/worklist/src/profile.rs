//! Per-device answers: what each modality, chosen by its calling AE title,
//! receives.
//!
//! Modalities differ by vendor and age: a recent device takes UTF-8, an older
//! one ISO 8859-1, the oldest only ASCII in upper case with short names. Some
//! want only their own entries; some need keys they do not ask for.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Character set of the answers.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum Charset {
    /// ISO_IR 192, UTF-8: every character.
    #[serde(rename = "ISO_IR 192")]
    Utf8,
    /// ISO_IR 100, ISO 8859-1: French, German, Spanish… (others transliterated).
    #[default]
    #[serde(rename = "ISO_IR 100")]
    Latin1,
    /// The default repertoire: ASCII, accents transliterated (`é` → `e`).
    #[serde(rename = "ASCII")]
    Ascii,
}

impl Charset {
    /// The Specific Character Set (0008,0005) term, `None` for the default
    /// repertoire.
    pub fn term(self) -> Option<&'static str> {
        match self {
            Charset::Utf8 => Some("ISO_IR 192"),
            Charset::Latin1 => Some("ISO_IR 100"),
            Charset::Ascii => None,
        }
    }
}

/// How one device is answered.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AeProfile {
    /// Character set of the answers.
    pub charset: Charset,
    /// Upper-case every text value (names, descriptions).
    pub uppercase: bool,
    /// Maximum length in characters per VR, e.g. `{ PN = 32, LO = 40 }`.
    /// Values are cut on a character boundary.
    pub max_length: BTreeMap<String, usize>,
    /// When the query leaves Scheduled Station AE Title empty, answer only
    /// the entries scheduled on the calling AE title.
    pub filter_by_station_ae: bool,
    /// Entries whose step status is one of these are not returned.
    pub hide_statuses: Vec<String>,
    /// Keys returned even when the query does not ask for them (keywords of
    /// the DICOM dictionary, e.g. `StudyInstanceUID`).
    pub always_return: Vec<String>,
}

impl Default for AeProfile {
    fn default() -> Self {
        AeProfile {
            charset: Charset::Latin1,
            uppercase: false,
            max_length: BTreeMap::new(),
            filter_by_station_ae: false,
            hide_statuses: vec!["COMPLETED".into(), "DISCONTINUED".into()],
            always_return: vec![],
        }
    }
}

/// The `[worklist]` section of the configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WorklistConfig {
    /// Most answers to one query; a query matching more gets the first ones,
    /// then a warning in the log.
    pub max_answers: usize,
    /// Profile of devices without their own.
    pub default_profile: AeProfile,
    /// Profiles by calling AE title.
    pub profiles: BTreeMap<String, AeProfile>,
}

impl Default for WorklistConfig {
    fn default() -> Self {
        WorklistConfig {
            max_answers: 1000,
            default_profile: AeProfile::default(),
            profiles: BTreeMap::new(),
        }
    }
}

impl WorklistConfig {
    /// The profile of a calling AE title.
    pub fn profile_for(&self, calling_ae: &str) -> &AeProfile {
        self.profiles
            .get(calling_ae.trim())
            .unwrap_or(&self.default_profile)
    }
}
