//! Structural check of a data set before dicom-rs parses it: every length the
//! sender declared must fit in the bytes that are really there.
//!
//! dicom-rs 0.10 reserves and zero-fills a value's declared length before it
//! reads the value (`try_reserve_exact` then `resize`), so a 330-byte message
//! declaring a 4 GB element makes it touch 4 GB of memory before it finds the
//! data missing. This module walks the same element and item headers that
//! dicom-rs will read — with dicom-rs's own header decoders, so both see the
//! same structure — without reading any value, and refuses the data set when
//! a defined length runs past the end of its sequence, item or data set, or
//! when sequences nest deeper than [`MAX_DEPTH`], or when a binary value's
//! length is not a whole number of values (dicom-rs would then read fewer
//! bytes than declared and take the rest for headers). After the check, no
//! value dicom-rs reads can be larger than the input.
//!
//! The walk mirrors `dicom_parser::DataSetReader`: an SQ element, or any
//! other element of undefined length, is a sequence of items; Pixel Data of
//! undefined length is a sequence of fragments; item delimiters outside a
//! sequence are ignored; the end of input at an element boundary of the top
//! level ends the data set.
//!
//! ```
//! use sansfilm_dicom::bounds;
//! // (0009,1001) OB, declared length 0xFFFFFFF0, followed by 10 bytes.
//! let mut hostile = vec![0x09, 0x00, 0x01, 0x10, b'O', b'B', 0, 0, 0xF0, 0xFF, 0xFF, 0xFF];
//! hostile.extend_from_slice(&[0u8; 10]);
//! let ts = dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN;
//! assert!(bounds::check_dataset_bytes(&hostile, ts).is_err());
//! ```

use std::io::{BufReader, Read, Seek, SeekFrom};
use std::path::Path;

use dicom_core::header::{Length, SequenceItemHeader};
use dicom_core::{Tag, VR};
use dicom_encoding::TransferSyntaxIndex;
use dicom_encoding::transfer_syntax::TransferSyntax;
use dicom_parser::stateful::decode::{DynStatefulDecoder, StatefulDecode};
use dicom_transfer_syntax_registry::TransferSyntaxRegistry;

use crate::{Error, Result};

/// Deepest nesting of sequences accepted (real data sets stay under ten).
pub const MAX_DEPTH: usize = 64;

/// Largest data set accepted once inflated, for Deflated syntaxes whose size
/// cannot be known before inflating them.
pub const MAX_INFLATED_BYTES: u64 = 4 << 30;

/// Checks a data set held in memory (a C-FIND identifier, a DIMSE command
/// set) in the transfer syntax `ts_uid`.
pub fn check_dataset_bytes(bytes: &[u8], ts_uid: &str) -> Result<()> {
    let ts = registered(ts_uid)?;
    if is_deflated(ts) {
        return check_deflated(std::io::Cursor::new(bytes));
    }
    walk(std::io::Cursor::new(bytes), ts, 0, bytes.len() as u64)
}

/// Checks the data set of a Part 10 file (its file meta group is read by
/// dicom-rs, which checks the group's own lengths against what it reads).
pub fn check_file(path: impl AsRef<Path>) -> Result<()> {
    let path = path.as_ref();
    let file = std::fs::File::open(path)?;
    let len = file.metadata()?.len();
    let mut reader = BufReader::new(file);
    let (meta, offset) = crate::part10::read_meta(&mut reader)?;
    let ts = registered(meta.transfer_syntax())?;
    reader.seek(SeekFrom::Start(offset))?;
    if is_deflated(ts) {
        return check_deflated(reader);
    }
    walk(reader, ts, offset, len)
}

fn registered(ts_uid: &str) -> Result<&'static TransferSyntax> {
    let uid = ts_uid.trim_end_matches(['\0', ' ']);
    TransferSyntaxRegistry
        .get(uid)
        .ok_or_else(|| Error::Malformed {
            offset: 0,
            reason: format!("unknown transfer syntax {uid}"),
        })
}

/// Deflated data sets: inflated once to learn their size (refused past
/// [`MAX_INFLATED_BYTES`]), then inflated again to walk them. Both passes
/// stream; nothing is held in memory.
fn check_deflated<R: Read + Seek>(mut source: R) -> Result<()> {
    let start = source.stream_position()?;
    let mut inflater = flate2::read::DeflateDecoder::new(&mut source);
    let inflated = std::io::copy(
        &mut (&mut inflater).take(MAX_INFLATED_BYTES + 1),
        &mut std::io::sink(),
    )
    .map_err(|e| Error::Malformed {
        offset: 0,
        reason: format!("deflated data set cannot be inflated: {e}"),
    })?;
    if inflated > MAX_INFLATED_BYTES {
        return Err(Error::Malformed {
            offset: 0,
            reason: format!("deflated data set inflates past {MAX_INFLATED_BYTES} bytes"),
        });
    }
    source.seek(SeekFrom::Start(start))?;
    let native = explicit_le()?;
    walk(
        ForwardOnly::new(flate2::read::DeflateDecoder::new(source)),
        native,
        0,
        inflated,
    )
}

/// Whether the whole data set is compressed (Deflated syntaxes): dicom-rs
/// marks these with a data set codec.
fn is_deflated(ts: &TransferSyntax) -> bool {
    matches!(ts.codec(), dicom_encoding::Codec::Dataset(_))
}

fn explicit_le() -> Result<&'static TransferSyntax> {
    registered(dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN)
}

fn malformed(offset: u64, reason: impl Into<String>) -> Error {
    Error::Malformed {
        offset,
        reason: reason.into(),
    }
}

/// Walks a whole data set that starts at `start` and ends at `end` (absolute
/// positions in `source`).
fn walk<S: Read + Seek>(source: S, ts: &TransferSyntax, start: u64, end: u64) -> Result<()> {
    // The decoder dicom-rs would use for this transfer syntax; the deflate
    // adapter is not involved, the callers inflate themselves.
    let native = if is_deflated(ts) { explicit_le()? } else { ts };
    let mut dec = DynStatefulDecoder::new_with_ts(source, native, start)
        .map_err(|e| malformed(start, e.to_string()))?;
    let mut walker = Walker {
        dec: &mut dec,
        skipped: 0,
    };
    walker.dataset(Container::TopLevel, end, 0)
}

/// How the data set being walked ends.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Container {
    /// The whole data set: ends with the input.
    TopLevel,
    /// An item of defined length: ends at the position given with it.
    DefinedItem,
    /// An item of undefined length: ends with an item delimiter.
    UndefinedItem,
}

struct Walker<'a, S: Read + Seek> {
    dec: &'a mut DynStatefulDecoder<S>,
    /// Bytes passed by seeking: dicom-rs's `seek` moves the reader but not
    /// the decoder's position, which counts only what it decoded.
    skipped: u64,
}

impl<S: Read + Seek> Walker<'_, S> {
    fn pos(&self) -> u64 {
        self.dec.position() + self.skipped
    }

    /// Moves past `len` bytes of value, which must end by `limit`.
    fn skip(&mut self, what: &str, len: Length, limit: u64) -> Result<()> {
        let at = self.pos();
        let Some(len) = len.get() else {
            return Err(malformed(at, format!("{what} of undefined length")));
        };
        let target = at + u64::from(len);
        if target > limit {
            return Err(malformed(
                at,
                format!(
                    "{what} declares {len} bytes but only {} remain",
                    limit.saturating_sub(at)
                ),
            ));
        }
        self.dec
            .seek(target)
            .map_err(|e| malformed(at, e.to_string()))?;
        self.skipped += u64::from(len);
        Ok(())
    }

    /// The end of a value of defined length starting here, checked to fit
    /// before `limit`.
    fn defined_end(&self, what: &str, len: u32, limit: u64) -> Result<u64> {
        let at = self.pos();
        let end = at + u64::from(len);
        if end > limit {
            return Err(malformed(
                at,
                format!(
                    "{what} declares {len} bytes but only {} remain",
                    limit.saturating_sub(at)
                ),
            ));
        }
        Ok(end)
    }

    /// Element after element until the container ends. `limit` is where the
    /// innermost container of defined length (or the input) ends.
    fn dataset(&mut self, container: Container, limit: u64, depth: usize) -> Result<()> {
        loop {
            if container != Container::UndefinedItem && self.pos() >= limit {
                return Ok(());
            }
            let at = self.pos();
            let header = match self.dec.decode_header() {
                Ok(h) => h,
                // dicom-rs ends a data set at the end of input between elements.
                Err(_) if container == Container::TopLevel && at + 4 > limit => return Ok(()),
                Err(e) => return Err(malformed(at, format!("unreadable element header: {e}"))),
            };
            if self.pos() > limit {
                return Err(malformed(at, "element header runs past the end"));
            }
            let tag = header.tag;
            if tag == Tag(0xFFFE, 0xE00D) {
                match container {
                    Container::UndefinedItem => return Ok(()),
                    // dicom-rs ignores a stray item delimiter.
                    _ => continue,
                }
            }
            if header.vr == VR::SQ {
                self.sequence(header.len, limit, depth + 1)?;
            } else if header.len.is_undefined() {
                if tag == Tag(0x7FE0, 0x0010) {
                    self.fragments(limit)?;
                } else {
                    // Undefined length: dicom-rs reads items, whatever the VR.
                    self.sequence(header.len, limit, depth + 1)?;
                }
            } else {
                let unit = value_unit(header.vr);
                if header.len.get().is_some_and(|len| len % unit != 0) {
                    // dicom-rs reads such a value in whole units and stops
                    // short of its end, then reads the rest as headers: the
                    // walk and the parse would part ways (found by fuzzing).
                    return Err(malformed(
                        at,
                        format!(
                            "element {tag} of VR {} has a length of {} bytes, not a multiple of {unit}",
                            header.vr, header.len.0
                        ),
                    ));
                }
                self.skip(&format!("element {tag}"), header.len, limit)?;
            }
        }
    }

    fn sequence(&mut self, len: Length, limit: u64, depth: usize) -> Result<()> {
        let at = self.pos();
        if depth > MAX_DEPTH {
            return Err(malformed(
                at,
                format!("sequences nested deeper than {MAX_DEPTH}"),
            ));
        }
        let end = match len.get() {
            Some(len) => Some(self.defined_end("sequence", len, limit)?),
            None => None,
        };
        let seq_limit = end.unwrap_or(limit);
        loop {
            if end.is_some_and(|end| self.pos() >= end) {
                return Ok(());
            }
            let at = self.pos();
            let item = self
                .dec
                .decode_item_header()
                .map_err(|e| malformed(at, format!("unreadable item header: {e}")))?;
            if self.pos() > seq_limit {
                return Err(malformed(at, "item header runs past the end"));
            }
            match item {
                SequenceItemHeader::Item { len } => match len.get() {
                    Some(len) => {
                        let item_end = self.defined_end("item", len, seq_limit)?;
                        self.dataset(Container::DefinedItem, item_end, depth)?;
                        if self.pos() != item_end {
                            return Err(malformed(
                                self.pos(),
                                "item contents run past the item's length",
                            ));
                        }
                    }
                    None => self.dataset(Container::UndefinedItem, seq_limit, depth)?,
                },
                SequenceItemHeader::SequenceDelimiter => return Ok(()),
                SequenceItemHeader::ItemDelimiter => {
                    return Err(malformed(at, "item delimiter outside an item"));
                }
            }
        }
    }

    /// Encapsulated pixel data: items of defined length up to a sequence
    /// delimiter.
    fn fragments(&mut self, limit: u64) -> Result<()> {
        loop {
            let at = self.pos();
            if at == limit {
                // dicom-rs accepts pixel data that ends with the input, its
                // sequence delimiter missing: nothing is cut short.
                return Ok(());
            }
            let item = self
                .dec
                .decode_item_header()
                .map_err(|e| malformed(at, format!("unreadable fragment header: {e}")))?;
            if self.pos() > limit {
                return Err(malformed(at, "fragment header runs past the end"));
            }
            match item {
                SequenceItemHeader::Item { len } => self.skip("fragment", len, limit)?,
                SequenceItemHeader::SequenceDelimiter => return Ok(()),
                SequenceItemHeader::ItemDelimiter => {
                    return Err(malformed(at, "item delimiter among pixel data fragments"));
                }
            }
        }
    }
}

/// Size of one value of a binary VR (1 for text and bytes): PS3.5 wants
/// such a length to be a multiple of it.
fn value_unit(vr: VR) -> u32 {
    match vr {
        VR::US | VR::OW | VR::SS => 2,
        VR::AT | VR::UL | VR::OL | VR::SL | VR::FL | VR::OF => 4,
        VR::FD | VR::OD | VR::SV | VR::UV | VR::OV => 8,
        _ => 1,
    }
}

/// A reader that "seeks" forward by reading and discarding, for inflated
/// streams that cannot seek.
struct ForwardOnly<R> {
    inner: R,
    pos: u64,
}

impl<R: Read> ForwardOnly<R> {
    fn new(inner: R) -> Self {
        ForwardOnly { inner, pos: 0 }
    }
}

impl<R: Read> Read for ForwardOnly<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.pos += n as u64;
        Ok(n)
    }
}

impl<R: Read> Seek for ForwardOnly<R> {
    fn seek(&mut self, to: SeekFrom) -> std::io::Result<u64> {
        let target = match to {
            SeekFrom::Start(p) => p,
            SeekFrom::Current(d) => self.pos.checked_add_signed(d).unwrap_or(0),
            SeekFrom::End(_) => {
                return Err(std::io::Error::other("cannot seek from the end"));
            }
        };
        if target < self.pos {
            return Err(std::io::Error::other("cannot seek backwards"));
        }
        let want = target - self.pos;
        let got = std::io::copy(&mut (&mut self.inner).take(want), &mut std::io::sink())?;
        self.pos += got;
        if got < want {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        Ok(self.pos)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use dicom_dictionary_std::uids::{EXPLICIT_VR_LITTLE_ENDIAN, IMPLICIT_VR_LITTLE_ENDIAN};

    fn explicit(tag: (u16, u16), vr: &[u8; 2], len: u32) -> Vec<u8> {
        let mut v = vec![];
        v.extend_from_slice(&tag.0.to_le_bytes());
        v.extend_from_slice(&tag.1.to_le_bytes());
        v.extend_from_slice(vr);
        v.extend_from_slice(&[0, 0]);
        v.extend_from_slice(&len.to_le_bytes());
        v
    }

    fn item(len: u32) -> Vec<u8> {
        let mut v = vec![0xFE, 0xFF, 0x00, 0xE0];
        v.extend_from_slice(&len.to_le_bytes());
        v
    }

    const SEQ_DELIM: [u8; 8] = [0xFE, 0xFF, 0xDD, 0xE0, 0, 0, 0, 0];
    const ITEM_DELIM: [u8; 8] = [0xFE, 0xFF, 0x0D, 0xE0, 0, 0, 0, 0];

    fn short_element() -> Vec<u8> {
        // (0010,0020) LO "ID01"
        let mut v = vec![0x10, 0x00, 0x20, 0x00, b'L', b'O', 4, 0];
        v.extend_from_slice(b"ID01");
        v
    }

    #[test]
    fn well_formed_data_sets_pass() {
        let mut ds = short_element();
        // SQ of undefined length with one undefined-length item, then one of
        // defined length.
        ds.extend(explicit((0x0008, 0x1140), b"SQ", u32::MAX));
        ds.extend(item(u32::MAX));
        ds.extend(short_element());
        ds.extend(ITEM_DELIM);
        ds.extend(item(12));
        ds.extend(short_element());
        ds.extend(SEQ_DELIM);
        // Encapsulated pixel data.
        ds.extend(explicit((0x7FE0, 0x0010), b"OB", u32::MAX));
        ds.extend(item(0));
        ds.extend(item(4));
        ds.extend([1, 2, 3, 4]);
        ds.extend(SEQ_DELIM);
        check_dataset_bytes(&ds, EXPLICIT_VR_LITTLE_ENDIAN).unwrap();
    }

    #[test]
    fn a_length_past_the_end_is_refused() {
        let mut ds = short_element();
        ds.extend(explicit((0x0009, 0x1001), b"OB", 0xFFFF_FFF0));
        ds.extend([0u8; 10]);
        let err = check_dataset_bytes(&ds, EXPLICIT_VR_LITTLE_ENDIAN).unwrap_err();
        assert!(err.to_string().contains("only 10 remain"), "{err}");
    }

    #[test]
    fn an_item_longer_than_its_sequence_is_refused() {
        let mut ds = explicit((0x0008, 0x1140), b"SQ", 20);
        ds.extend(item(1000));
        ds.extend([0u8; 1000]);
        assert!(check_dataset_bytes(&ds, EXPLICIT_VR_LITTLE_ENDIAN).is_err());
    }

    #[test]
    fn implicit_vr_lengths_are_checked_too() {
        // (0009,1001) implicit, 0x7FFFFFF0 bytes declared, 8 present.
        let mut ds = vec![0x09, 0x00, 0x01, 0x10, 0xF0, 0xFF, 0xFF, 0x7F];
        ds.extend([0u8; 8]);
        assert!(check_dataset_bytes(&ds, IMPLICIT_VR_LITTLE_ENDIAN).is_err());
    }

    #[test]
    fn undefined_length_un_is_walked_as_dicom_rs_reads_it() {
        // A UN of undefined length holding an implicit VR item: dicom-rs 0.10
        // reads it in explicit VR, where the item's first element has a
        // garbage VR and length; the walk sees the same garbage and refuses.
        let mut ds = explicit((0x0009, 0x1010), b"UN", u32::MAX);
        ds.extend(item(u32::MAX));
        ds.extend([0x09, 0x00, 0x20, 0x10, 0xF0, 0xFF, 0xFF, 0x3F]);
        ds.extend([0u8; 16]);
        assert!(check_dataset_bytes(&ds, EXPLICIT_VR_LITTLE_ENDIAN).is_err());
    }

    #[test]
    fn a_binary_length_that_is_no_whole_number_of_values_is_refused() {
        // (0000,0000) UL of 91 bytes, implicit VR: dicom-rs reads 88 and
        // takes the last 3 for the next header (fuzzer's find: 838 MB).
        let mut ds = vec![0, 0, 0, 0, 91, 0, 0, 0];
        ds.extend([0u8; 91]);
        let err = check_dataset_bytes(&ds, IMPLICIT_VR_LITTLE_ENDIAN).unwrap_err();
        assert!(err.to_string().contains("not a multiple of 4"), "{err}");
    }

    #[test]
    fn deep_nesting_is_refused() {
        let mut ds = vec![];
        for _ in 0..=MAX_DEPTH + 1 {
            ds.extend(explicit((0x0008, 0x1140), b"SQ", u32::MAX));
            ds.extend(item(u32::MAX));
        }
        let err = check_dataset_bytes(&ds, EXPLICIT_VR_LITTLE_ENDIAN).unwrap_err();
        assert!(err.to_string().contains("nested deeper"), "{err}");
    }

    #[test]
    fn truncated_inside_a_sequence_is_refused() {
        let mut ds = explicit((0x0008, 0x1140), b"SQ", u32::MAX);
        ds.extend(item(u32::MAX));
        ds.extend(short_element());
        assert!(check_dataset_bytes(&ds, EXPLICIT_VR_LITTLE_ENDIAN).is_err());
    }

    #[test]
    fn deflated_bytes_are_checked_once_inflated() {
        use std::io::Write;
        let mut ds = short_element();
        ds.extend(explicit((0x0009, 0x1001), b"OB", 0x7FFF_FFF0));
        let mut enc = flate2::write::DeflateEncoder::new(vec![], flate2::Compression::fast());
        enc.write_all(&ds).unwrap();
        let deflated = enc.finish().unwrap();
        let ts = dicom_dictionary_std::uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN;
        assert!(check_dataset_bytes(&deflated, ts).is_err());
        let mut enc = flate2::write::DeflateEncoder::new(vec![], flate2::Compression::fast());
        enc.write_all(&short_element()).unwrap();
        check_dataset_bytes(&enc.finish().unwrap(), ts).unwrap();
    }
}
