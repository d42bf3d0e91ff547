//! The Part 10 header written in front of a data set received over the network.
//!
//! A C-STORE data set arrives as bytes in the negotiated transfer syntax. The
//! archive keeps those bytes untouched and puts the PS3.10 header in front of
//! them: 128-byte preamble, `DICM`, and the file meta group (always Explicit VR
//! Little Endian) naming the transfer syntax the bytes are in and the AE title
//! that sent them.

use dicom_object::meta::FileMetaTableBuilder;

use crate::Result;

/// Implementation Class UID of sansfilm, written in every file meta group.
/// A UUID-derived UID (2.25 root), so it needs no registered organisation root.
pub const IMPLEMENTATION_CLASS_UID: &str = "2.25.286419624416453290196102693431207434853";

/// Implementation Version Name written in every file meta group (16 chars max).
pub const IMPLEMENTATION_VERSION_NAME: &str = concat!("SANSFILM_", env!("CARGO_PKG_VERSION"));

/// What the file meta group of a received instance says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part10Header {
    /// Media Storage SOP Class UID (the command's Affected SOP Class UID).
    pub sop_class_uid: String,
    /// Media Storage SOP Instance UID (the command's Affected SOP Instance UID).
    pub sop_instance_uid: String,
    /// Transfer syntax of the data set bytes that follow.
    pub transfer_syntax: String,
    /// AE title of the peer that sent the instance.
    pub source_ae_title: Option<String>,
    /// AE title of this archive as it was called.
    pub receiving_ae_title: Option<String>,
}

impl Part10Header {
    /// Encodes preamble, magic code and file meta group.
    ///
    /// ```
    /// use sansfilm_dicom::Part10Header;
    /// let header = Part10Header {
    ///     sop_class_uid: "1.2.840.10008.5.1.4.1.1.2".into(),
    ///     sop_instance_uid: "1.2.3.4".into(),
    ///     transfer_syntax: "1.2.840.10008.1.2.1".into(),
    ///     source_ae_title: Some("CT01".into()),
    ///     receiving_ae_title: None,
    /// };
    /// let bytes = header.encode().unwrap();
    /// assert_eq!(&bytes[128..132], b"DICM");
    /// ```
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut builder = FileMetaTableBuilder::new()
            .media_storage_sop_class_uid(self.sop_class_uid.as_str())
            .media_storage_sop_instance_uid(self.sop_instance_uid.as_str())
            .transfer_syntax(self.transfer_syntax.as_str())
            .implementation_class_uid(IMPLEMENTATION_CLASS_UID)
            .implementation_version_name(IMPLEMENTATION_VERSION_NAME);
        if let Some(ae) = self.source_ae_title.as_deref().filter(|s| !s.is_empty()) {
            builder = builder.source_application_entity_title(ae);
        }
        if let Some(ae) = self.receiving_ae_title.as_deref().filter(|s| !s.is_empty()) {
            builder = builder.receiving_application_entity_title(ae);
        }
        let meta = builder.build()?;
        let mut out = Vec::with_capacity(512);
        out.extend_from_slice(&[0u8; 128]);
        out.extend_from_slice(b"DICM");
        meta.write(&mut out)?;
        Ok(out)
    }
}

/// Reads the file meta group of a Part 10 stream and returns it with the byte
/// offset at which the data set starts. The 128-byte preamble is expected, but
/// a stream that starts directly with `DICM` (some writers omit the preamble)
/// is read too.
///
/// Used to send a stored file's data set as it is, without parsing it.
pub fn read_meta<R: std::io::Read>(
    mut reader: R,
) -> Result<(dicom_object::meta::FileMetaTable, u64)> {
    let mut head = [0u8; 132];
    reader.read_exact(&mut head[..4])?;
    let (skipped, prefix): (u64, &[u8]) = if &head[..4] == b"DICM" {
        (0, b"DICM")
    } else {
        reader.read_exact(&mut head[4..])?;
        (128, &head[128..132])
    };
    let mut counting = CountingReader {
        inner: std::io::Read::chain(prefix, reader),
        count: 0,
    };
    let meta = dicom_object::meta::FileMetaTable::from_reader(&mut counting)?;
    Ok((meta, skipped + counting.count))
}

struct CountingReader<R> {
    inner: R,
    count: u64,
}

impl<R: std::io::Read> std::io::Read for CountingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_readable_by_dicom_rs() {
        let header = Part10Header {
            sop_class_uid: "1.2.840.10008.5.1.4.1.1.4".into(),
            sop_instance_uid: "1.2.3.4.5".into(),
            transfer_syntax: "1.2.840.10008.1.2".into(),
            source_ae_title: Some("MR01".into()),
            receiving_ae_title: Some("SANSFILM".into()),
        };
        let bytes = header.encode().unwrap();
        let meta = dicom_object::meta::FileMetaTable::from_reader(&bytes[128..]).unwrap();
        assert_eq!(meta.transfer_syntax(), "1.2.840.10008.1.2");
        assert_eq!(meta.media_storage_sop_instance_uid(), "1.2.3.4.5");
        assert_eq!(meta.source_application_entity_title(), Some("MR01"));
        assert!(IMPLEMENTATION_VERSION_NAME.len() <= 16);
    }
}
