//! Lossless pixel codecs for the sansfilm archive, with mandatory bit-exact
//! verification: every encoded instance is decoded again (by dicom-pixeldata,
//! an independent implementation) and compared with the original pixels
//! before it is returned.
//!
//! - [`rle`]: RLE Lossless (PS3.5 Annex G) frame encoder and decoder; dicom-rs
//!   0.10 only decodes RLE.
//! - [`transcode`]: a whole instance to RLE Lossless, or decoded to Explicit VR
//!   Little Endian, changing only the pixel data and the file meta's transfer
//!   syntax.
//!
//! JPEG 2000 and JPEG-LS encoding, and the archive's background compression,
//! are the next steps of this crate.
//!
//! # Example
//!
//! ```no_run
//! use sansfilm_codec::transcode::{Target, transcode};
//!
//! let original = dicom_object::open_file("CT1_UNC.dcm").unwrap();
//! // Refused (Err) if the result does not decode to the very same pixels.
//! let rle = transcode(&original, Target::Rle)?;
//! rle.write_to_file("CT1_RLE.dcm").unwrap();
//! # Ok::<(), sansfilm_codec::Error>(())
//! ```

mod error;
pub mod rle;
pub mod transcode;

pub use error::{Error, Result};
