//! HL7 v2 for the sansfilm archive: patients and orders from the RIS become
//! Modality Worklist entries.
//!
//! - [`mllp`]: MLLP framing as a tokio-util codec.
//! - [`message`]: parsing (hl7-parser) into an owned tree, with the separators
//!   of MSH-1/MSH-2, the character set of MSH-18 and escape sequences decoded.
//! - [`segments`]: typed views of PID and MRG, names and dates in DICOM form.
//! - [`mapping`]: the HL7 → DICOM mapping table (adjustable per sending
//!   application) and ADT A01/A04/A05/A08/A28/A31/A11/A40/A47, ORM^O01 and
//!   OMI^O23 (NW, XO, CA, DC, SC) turned into worklist commands.
//! - [`ack`]: ACK with MSA and ERR (HL7 table 0357), in the sender's
//!   separators and character set.
//! - [`process`](mod@process): one message from bytes to ACK; its raw bytes and the change
//!   it causes are committed in one transaction before the ACK exists, and a
//!   resent message (same sender and MSH-10) is acknowledged but not applied
//!   twice.
//! - [`server`]: the MLLP listener (`hl7bridge`, and inside `sansfilm serve`).
//!
//! # Example
//!
//! ```
//! use sansfilm_hl7::{mapping::Hl7Config, process::process, ack::AckCode};
//! use sansfilm_worklist::WorklistStore;
//!
//! let store = WorklistStore::open_file(std::path::Path::new(":memory:"))?;
//! let adt = "MSH|^~\\&|RIS|CAB|SANSFILM|CAB|20261123090000||ADT^A08|MSG0001|P|2.5|||||FRA|UNICODE UTF-8\r\
//!            PID|||4711^^^CAB||Müller^Hélène||19800214|F\r";
//! let done = process(adt.as_bytes(), &store, &Hl7Config::default());
//! assert_eq!(done.code, AckCode::AA);
//! assert_eq!(store.patient("4711", "CAB")?.unwrap().name, "Müller^Hélène");
//! # Ok::<(), sansfilm_worklist::Error>(())
//! ```

pub mod ack;
pub mod charset;
pub mod escape;
#[doc(hidden)]
pub mod fuzz;
pub mod mapping;
pub mod message;
pub mod mllp;
pub mod process;
pub mod segments;
pub mod server;

pub use ack::AckCode;
pub use mapping::Hl7Config;
pub use message::{Hl7Message, Limits};
pub use process::{Processed, process};
