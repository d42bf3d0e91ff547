//! The DICOM Modality Worklist of the sansfilm archive: the list of scheduled
//! exams that modalities read their patients from, so that names and IDs
//! entered once at the RIS reach every device without being typed again.
//!
//! - [`model`]: [`WorklistItem`], one scheduled procedure step with its
//!   requested procedure and patient (PS3.4 K.6).
//! - [`store`]: [`WorklistStore`], SQLite in the data directory (WAL, shared by
//!   several processes), with the API the HL7 bridge and integrators call:
//!   insert, update, status changes, patient updates and merges, search.
//! - [`query`]: C-FIND identifiers turned into matching conditions (PS3.4
//!   C.2.2.2: single value, wildcards, ranges, UID lists, sequence matching,
//!   combined date-time) and checked for what the model forbids.
//! - [`respond`]: answers cut to the requested keys, in the device's shape.
//! - [`profile`]: per-device profiles by calling AE title (character set,
//!   upper case, lengths, station filter, hidden statuses, extra keys).
//! - [`normalize`]: accent-insensitive name keys and transliteration.
//! - [`command`]: [`Command`], the changes the HL7 bridge asks for, applied
//!   with their inbound message in one transaction by [`WorklistStore::apply`].
//! - [`import`]: DCMTK-style `.wl` files.
//!
//! # Example
//!
//! ```
//! use sansfilm_worklist::{WorklistItem, WorklistStore, query, respond, profile::AeProfile};
//! use sansfilm_worklist::store::SearchScope;
//!
//! let store = WorklistStore::open_file(std::path::Path::new(":memory:"))?;
//! store.insert(&WorklistItem {
//!     patient_id: "P1".into(),
//!     patient_name: "Müller^Hélène".into(),
//!     accession_number: "A1".into(),
//!     modality: "MR".into(),
//!     station_aes: vec!["MR_SALLE1".into()],
//!     start_date: "20261123".into(),
//!     ..Default::default()
//! })?;
//! // A query for "MULLER*" from an ASCII-only device finds "Müller".
//! let mut identifier = dicom_object::InMemDicomObject::new_empty();
//! identifier.put(dicom_core::DataElement::new(
//!     dicom_dictionary_std::tags::PATIENT_NAME,
//!     dicom_core::VR::PN,
//!     dicom_core::PrimitiveValue::from("MULLER*"),
//! ));
//! let conditions = query::conditions(&identifier).expect("a valid identifier");
//! let found = store.search(&conditions, &SearchScope { limit: 10, ..Default::default() })?;
//! assert_eq!(found.len(), 1);
//! let answer = respond::answer(&found[0].to_dataset(), &identifier, &AeProfile::default());
//! assert_eq!(answer.get(dicom_dictionary_std::tags::PATIENT_NAME).unwrap().to_str().unwrap(), "Müller^Hélène");
//! # Ok::<(), sansfilm_worklist::Error>(())
//! ```

pub mod command;
mod error;
pub mod import;
pub mod model;
pub mod normalize;
pub mod profile;
pub mod query;
pub mod respond;
pub mod store;

pub use command::{Applied, Command, JournalEntry, Patient};
pub use error::{Error, Result};
pub use model::{Code, WorklistItem};
pub use profile::{AeProfile, Charset, WorklistConfig};
pub use store::WorklistStore;
