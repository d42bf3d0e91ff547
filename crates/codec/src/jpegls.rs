//! JPEG-LS lossless (ISO 14495-1, transfer syntax 1.2.840.10008.1.2.4.80)
//! through CharLS: one codestream per frame, samples interleaved.

use charls::{CharLS, FrameInfo, InterleaveMode};

use crate::image::MAX_NATIVE_BYTES;
use crate::{Error, Result};

/// What the encoder needs to know of a frame.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameSpec {
    /// Columns.
    pub columns: usize,
    /// Rows.
    pub rows: usize,
    /// Samples per pixel.
    pub samples: usize,
    /// Bytes per sample (1 or 2).
    pub bytes_per_sample: usize,
    /// Bits of each sample that carry the value.
    pub bits_stored: usize,
}

impl FrameSpec {
    /// The sample precision written in the codestream. CharLS reads 2-byte
    /// samples only for precisions above 8, so 16-bit images with 8 bits or
    /// fewer stored are coded at 9 bits (the values are the same).
    pub fn precision(&self) -> usize {
        if self.bytes_per_sample == 2 {
            self.bits_stored.max(9)
        } else {
            self.bits_stored.max(2)
        }
    }

    fn check(&self, frame: &[u8]) -> Result<()> {
        if !matches!(self.bytes_per_sample, 1 | 2) {
            return Err(Error::Unsupported(format!(
                "JPEG-LS codes 8 or 16 bits allocated, not {}",
                self.bytes_per_sample * 8
            )));
        }
        if !matches!(self.samples, 1 | 3) {
            return Err(Error::Unsupported(format!(
                "{} samples per pixel",
                self.samples
            )));
        }
        let len = self.columns * self.rows * self.samples * self.bytes_per_sample;
        if frame.len() != len {
            return Err(Error::Corrupt(format!(
                "frame of {} bytes, {len} expected",
                frame.len()
            )));
        }
        Ok(())
    }
}

/// Encodes one frame (samples interleaved, little-endian, every value below
/// 2^bits_stored) losslessly.
pub fn encode_frame(frame: &[u8], spec: &FrameSpec) -> Result<Vec<u8>> {
    spec.check(frame)?;
    let mut codec = CharLS::default();
    if spec.samples > 1 {
        codec
            .set_interleave_mode(InterleaveMode::Sample)
            .map_err(|e| Error::Encode(format!("JPEG-LS: {e}")))?;
    }
    let info = FrameInfo {
        width: spec.columns as u32,
        height: spec.rows as u32,
        bits_per_sample: spec.precision() as i32,
        component_count: spec.samples as i32,
    };
    codec
        .encode(info, 0, frame)
        .map_err(|e| Error::Encode(format!("JPEG-LS: {e}")))
}

/// Decodes one codestream to interleaved little-endian samples, whatever its
/// interleave mode. Damaged input gives an error, never a panic.
pub fn decode_frame(codestream: &[u8]) -> Result<Vec<u8>> {
    let header = Header::read_whole(codestream)?;
    if header.decoded_len() >= MAX_NATIVE_BYTES {
        return Err(Error::Corrupt(format!(
            "JPEG-LS: a frame of {} x {} x {} is more than native pixel data can hold",
            header.columns, header.rows, header.components
        )));
    }
    let decoded = match CharLS::default().decode(codestream) {
        Ok(decoded) => decoded,
        Err(e) => {
            let corrupt = Error::Corrupt(format!("JPEG-LS: {e}"));
            // Some encoders (the NEMA WG04 set's MR1_JLSL, for one) leave a
            // zero byte between the last entropy-coded byte and EOI, which
            // CharLS 2.3 and later refuse (team-charls/charls#437) while
            // older CharLS and DCMTK read the file. Retried without it; the
            // result is verified like any other decode.
            let end = content_end(codestream);
            if end < 3 || codestream[end - 3..end] != [0x00, 0xFF, 0xD9] {
                return Err(corrupt);
            }
            let mut mended = codestream[..end - 3].to_vec();
            mended.extend_from_slice(&[0xFF, 0xD9]);
            CharLS::default().decode(&mended).map_err(|_| corrupt)?
        }
    };
    Ok(if header.decodes_to_planes() {
        crate::image::interleave_planes(&decoded, header.components, header.bytes_per_sample())
    } else {
        decoded
    })
}

/// Where a codestream ends without the bytes that pad a DICOM fragment to
/// an even length after EOI: 0x00, or 0xFF as in the NEMA WG04 files.
fn content_end(codestream: &[u8]) -> usize {
    let padding = codestream
        .iter()
        .rev()
        .take(8)
        .take_while(|&&b| b == 0x00 || b == 0xFF)
        .count();
    codestream.len() - padding
}

/// What the frame and first scan headers of a JPEG-LS codestream say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Header {
    /// Columns (X of the SOF55 segment).
    pub columns: usize,
    /// Rows (Y; 0 when a DNL segment gives them later).
    pub rows: usize,
    /// Sample precision (P).
    pub precision: usize,
    /// Components of the frame (Nf).
    pub components: usize,
    /// Interleave mode of the first scan (ILV): 0 none (one component per
    /// scan), 1 line, 2 sample.
    pub interleave: u8,
}

impl Header {
    /// Reads the SOF55 and first SOS segments (ISO 14495-1 C.2).
    pub fn read(codestream: &[u8]) -> Result<Header> {
        let corrupt = |what: &str| Error::Corrupt(format!("JPEG-LS codestream: {what}"));
        if codestream.get(..2) != Some(&[0xFF, 0xD8]) {
            return Err(corrupt("no start of image"));
        }
        let mut pos = 2;
        let mut frame: Option<Header> = None;
        loop {
            // Markers may be preceded by fill bytes 0xFF.
            while codestream.get(pos) == Some(&0xFF) && codestream.get(pos + 1) == Some(&0xFF) {
                pos += 1;
            }
            let (Some(&0xFF), Some(&marker)) = (codestream.get(pos), codestream.get(pos + 1))
            else {
                return Err(corrupt("no scan header"));
            };
            pos += 2;
            if marker == 0x01 || (0xD0..=0xD7).contains(&marker) {
                continue; // segments without a length
            }
            let segment = codestream
                .get(pos..pos + 2)
                .map(|b| u16::from_be_bytes([b[0], b[1]]) as usize)
                .and_then(|len| codestream.get(pos..pos + len.max(2)))
                .ok_or_else(|| corrupt("a segment runs past the end"))?;
            match marker {
                0xF7 => {
                    let b = segment.get(..8).ok_or_else(|| corrupt("short SOF55"))?;
                    frame = Some(Header {
                        precision: b[2] as usize,
                        rows: u16::from_be_bytes([b[3], b[4]]) as usize,
                        columns: u16::from_be_bytes([b[5], b[6]]) as usize,
                        components: b[7] as usize,
                        interleave: 0,
                    });
                }
                0xDA => {
                    let frame = frame.ok_or_else(|| corrupt("scan before frame header"))?;
                    let ns = *segment.get(2).ok_or_else(|| corrupt("short SOS"))? as usize;
                    let interleave = *segment
                        .get(3 + 2 * ns + 1)
                        .ok_or_else(|| corrupt("short SOS"))?;
                    return Ok(Header {
                        interleave,
                        ..frame
                    });
                }
                _ => {}
            }
            pos += segment.len();
        }
    }

    /// Reads the header of a codestream that must also be whole: ending
    /// with the end-of-image marker, but for the bytes that pad a DICOM
    /// fragment. CharLS 2.4 spends seconds on a truncated codestream
    /// (9 s for a 64 × 64 frame cut in half) before it fails: a cut is
    /// refused here first.
    pub fn read_whole(codestream: &[u8]) -> Result<Header> {
        let header = Header::read(codestream)?;
        if !codestream[..content_end(codestream)].ends_with(&[0xFF, 0xD9]) {
            return Err(Error::Corrupt(
                "JPEG-LS codestream: truncated (no end-of-image marker)".into(),
            ));
        }
        Ok(header)
    }

    /// Bytes per sample CharLS decodes to: 2 above 8 bits of precision.
    pub fn bytes_per_sample(&self) -> usize {
        if self.precision > 8 { 2 } else { 1 }
    }

    /// Bytes CharLS allocates and decodes to, as the header announces them
    /// (one row when a DNL segment gives the rows later).
    pub fn decoded_len(&self) -> usize {
        self.columns * self.rows.max(1) * self.components * self.bytes_per_sample()
    }

    /// Whether CharLS decodes this codestream colour-by-plane: interleave
    /// mode none with more than one component. DICOM wants colour-by-pixel
    /// whatever the mode (PS3.5 A.4.3), which [`decode_frame`] restores.
    pub fn decodes_to_planes(&self) -> bool {
        self.interleave == 0 && self.components > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn noise(n: usize, seed: u32, mask: u16) -> Vec<u16> {
        let mut x = seed;
        (0..n)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                (x as u16) & mask
            })
            .collect()
    }

    #[test]
    fn sixteen_and_eight_bit_frames_round_trip() {
        for (bits, columns, rows) in [(12, 7, 5), (16, 64, 3), (10, 1, 1)] {
            let values = noise(columns * rows, 7, ((1u32 << bits) - 1) as u16);
            let frame: Vec<u8> = values.iter().flat_map(|v| v.to_le_bytes()).collect();
            let spec = FrameSpec {
                columns,
                rows,
                samples: 1,
                bytes_per_sample: 2,
                bits_stored: bits,
            };
            let coded = encode_frame(&frame, &spec).unwrap();
            assert_eq!(decode_frame(&coded).unwrap(), frame, "{bits} bits");
        }
        let rgb: Vec<u8> = noise(3 * 9 * 4, 3, 0xFF).iter().map(|&v| v as u8).collect();
        let spec = FrameSpec {
            columns: 9,
            rows: 4,
            samples: 3,
            bytes_per_sample: 1,
            bits_stored: 8,
        };
        let coded = encode_frame(&rgb, &spec).unwrap();
        assert_eq!(decode_frame(&coded).unwrap(), rgb);
    }

    #[test]
    fn colour_coded_plane_by_plane_decodes_interleaved() {
        // Interleave mode none (GDCM writes it): one scan per component;
        // CharLS takes and gives planes, DICOM wants pixels interleaved.
        let (columns, rows) = (5, 3);
        let planes: Vec<u8> = noise(3 * columns * rows, 5, 0xFF)
            .iter()
            .map(|&v| v as u8)
            .collect();
        let mut codec = CharLS::default();
        codec.set_interleave_mode(InterleaveMode::None).unwrap();
        let info = FrameInfo {
            width: columns as u32,
            height: rows as u32,
            bits_per_sample: 8,
            component_count: 3,
        };
        let coded = codec.encode(info, 0, &planes).unwrap();
        let header = Header::read(&coded).unwrap();
        assert_eq!(
            header,
            Header {
                columns,
                rows,
                precision: 8,
                components: 3,
                interleave: 0
            }
        );
        assert!(header.decodes_to_planes());
        assert_eq!(
            decode_frame(&coded).unwrap(),
            crate::image::interleave_planes(&planes, 3, 1)
        );
        // Cut anywhere, the header reader gives an error or a header, never
        // a panic.
        for cut in 0..coded.len().min(64) {
            let _ = Header::read(&coded[..cut]);
        }
    }

    #[test]
    fn damaged_codestreams_are_errors() {
        let frame: Vec<u8> = noise(32 * 32, 9, 0xFFF)
            .iter()
            .flat_map(|v| v.to_le_bytes())
            .collect();
        let spec = FrameSpec {
            columns: 32,
            rows: 32,
            samples: 1,
            bytes_per_sample: 2,
            bits_stored: 12,
        };
        let coded = encode_frame(&frame, &spec).unwrap();
        for cut in [0, 1, 10, coded.len() / 2, coded.len() - 2] {
            assert!(decode_frame(&coded[..cut]).is_err(), "cut at {cut}");
        }
        assert!(decode_frame(b"not a codestream at all").is_err());
    }
}
