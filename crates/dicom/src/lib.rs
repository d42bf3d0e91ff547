//! DICOM files, instance summaries and character sets for the sansfilm archive.
//!
//! This crate is the only place where sansfilm looks inside a DICOM data set. It
//! sits on dicom-rs and imports no other sansfilm crate.
//!
//! - [`summary`]: [`InstanceSummary`], the patient / study / series / instance keys
//!   an archive indexes, read from a Part 10 file without loading its pixel data.
//!   Text is decoded to UTF-8 from the instance's Specific Character Set.
//! - [`bounds`]: checks that every length declared in a data set fits in the
//!   bytes present, before dicom-rs parses it (which reserves declared
//!   lengths up front).
//! - [`matching`]: C-FIND matching (PS3.4 C.2.2.2), shared by the worklist
//!   and Query/Retrieve.
//! - [`part10`]: writes the Part 10 header (preamble, `DICM`, file meta group) in
//!   front of a data set that is streamed as received from the network.
//! - [`syntax`]: the transfer syntaxes the archive accepts and the Storage SOP
//!   classes of the standard, taken from the DICOM dictionary.
//! - [`uid`]: UID validation, so that UIDs can safely become file names.
//!
//! # Example
//!
//! ```no_run
//! use sansfilm_dicom::InstanceSummary;
//!
//! let summary = InstanceSummary::from_file("CT1_UNC.dcm")?;
//! println!("{} {} {}", summary.patient.name, summary.study.study_uid, summary.sop_instance_uid);
//! # Ok::<(), sansfilm_dicom::Error>(())
//! ```

pub mod bounds;
mod error;
pub mod matching;
pub mod part10;
pub mod summary;
pub mod syntax;
pub mod uid;

pub use error::{Error, Result};
pub use part10::Part10Header;
pub use summary::{InstanceSummary, PatientKeys, SeriesKeys, StudyKeys};
