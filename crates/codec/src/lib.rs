//! Lossless pixel codecs for the sansfilm archive, with mandatory bit-exact
//! verification: every encoded instance is decoded again and compared with
//! the original pixels before it is returned.
//!
//! - [`jpegls`]: JPEG-LS lossless through CharLS.
//! - [`jpeg2k`]: JPEG 2000 lossless through OpenJPEG (the crate's one
//!   `unsafe` module: jpeg2k's safe API only decodes).
//! - [`rle`]: RLE Lossless (PS3.5 Annex G) frame encoder and decoder; dicom-rs
//!   0.10 only decodes RLE.
//! - [`image`]: a native image's layout, the high-bits check (data above Bits
//!   Stored makes an image unsuitable for the JPEG family) and interleaving.
//! - [`transcode`]: a whole instance to a lossless syntax, or decoded to
//!   Explicit VR Little Endian, changing only the pixel data (and Planar
//!   Configuration for the JPEG family) and the file meta's transfer syntax.
//!
//! Decoding (to Explicit VR Little Endian, and inside every verification)
//! goes through dicom-pixeldata (OpenJPEG, its RLE and JPEG decoders) or,
//! for JPEG-LS, through CharLS directly, and is checked: the decoded size
//! against the data set, each JPEG-LS and JPEG 2000 frame header against
//! Rows, Columns, Samples per Pixel and Bits Allocated, each RLE frame
//! against a second, strict decoder. The decoders of other toolkits (DCMTK,
//! GDCM, pydicom) read what the encoders write: the interoperability tests. Damaged input — fragments missing or
//! extra, truncated codestreams, attributes that lie — is an error, never a
//! panic or a wrong image (`tests/damaged.rs`; fuzz targets in `fuzz/`).
//!
//! # Example
//!
//! ```no_run
//! use sansfilm_codec::transcode::{Target, transcode};
//!
//! let original = dicom_object::open_file("CT1_UNC.dcm").unwrap();
//! // Refused (Err) if the result does not decode to the very same pixels.
//! let jls = transcode(&original, Target::JpegLs)?;
//! jls.write_to_file("CT1_JLS.dcm").unwrap();
//! # Ok::<(), sansfilm_codec::Error>(())
//! ```

mod decode;
mod error;
#[doc(hidden)]
pub mod fuzz;
pub mod image;
pub mod jpeg2k;
pub mod jpegls;
pub mod rle;
pub mod transcode;

pub use error::{Error, Result};
