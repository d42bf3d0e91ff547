//! RLE Lossless (PS3.5 Annex G): the encoder dicom-rs lacks, and a strict
//! decoder. Every RLE decoding of an instance is done twice, by
//! dicom-pixeldata (an independent implementation) and by this decoder,
//! which must agree: dicom-pixeldata's stops where the data set says and
//! would not notice Rows that lie.
//!
//! A frame becomes one segment per byte plane: for each sample, its most
//! significant byte first. Each segment is PackBits: a header byte `n` in
//! 0..=127 announces `n + 1` literal bytes, `-n` in -1..=-127 a run of `n + 1`
//! copies of the next byte; segments are padded to an even length. A 64-byte
//! header gives the number of segments (at most 15) and their offsets.

use crate::{Error, Result};

/// How the samples of a native frame are laid out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameLayout {
    /// Pixels in the frame (rows × columns).
    pub pixels: usize,
    /// Samples per pixel (1 or 3).
    pub samples: usize,
    /// Bytes per sample (1, 2 or 4).
    pub bytes_per_sample: usize,
    /// Planar configuration 1 (all of sample 0, then sample 1…) instead of 0
    /// (interleaved).
    pub planar: bool,
}

impl FrameLayout {
    /// Size of a native frame in bytes.
    pub fn frame_len(&self) -> usize {
        self.pixels * self.samples * self.bytes_per_sample
    }

    /// Offset of byte `b` (little-endian order) of sample `s` of pixel `p`.
    fn offset(&self, p: usize, s: usize, b: usize) -> usize {
        let sample_index = if self.planar {
            s * self.pixels + p
        } else {
            p * self.samples + s
        };
        sample_index * self.bytes_per_sample + b
    }
}

/// Encodes one native frame (little-endian samples).
pub fn encode_frame(frame: &[u8], layout: &FrameLayout) -> Result<Vec<u8>> {
    let segments = layout.samples * layout.bytes_per_sample;
    if segments == 0 || segments > 15 {
        return Err(Error::Unsupported(format!(
            "{segments} RLE segments (1 to 15 allowed)"
        )));
    }
    if frame.len() < layout.frame_len() {
        return Err(Error::Corrupt(format!(
            "frame of {} bytes, {} expected",
            frame.len(),
            layout.frame_len()
        )));
    }
    let mut out = vec![0u8; 64];
    out[0..4].copy_from_slice(&(segments as u32).to_le_bytes());
    let mut plane = Vec::with_capacity(layout.pixels);
    let mut n = 0;
    for s in 0..layout.samples {
        for b in (0..layout.bytes_per_sample).rev() {
            let offset = out.len() as u32;
            out[4 + 4 * n..8 + 4 * n].copy_from_slice(&offset.to_le_bytes());
            plane.clear();
            plane.extend((0..layout.pixels).map(|p| frame[layout.offset(p, s, b)]));
            pack_bits(&plane, &mut out);
            if out.len() % 2 == 1 {
                out.push(0);
            }
            n += 1;
        }
    }
    Ok(out)
}

/// PackBits over one byte plane.
fn pack_bits(data: &[u8], out: &mut Vec<u8>) {
    let mut i = 0;
    while i < data.len() {
        // A run of identical bytes (2 to 128) is replicated.
        let mut run = 1;
        while i + run < data.len() && run < 128 && data[i + run] == data[i] {
            run += 1;
        }
        if run >= 2 {
            out.push((257 - run) as u8);
            out.push(data[i]);
            i += run;
            continue;
        }
        // Literals up to the next run of 3 or more (a run of 2 inside
        // literals costs the same either way), at most 128.
        let start = i;
        while i < data.len() && i - start < 128 {
            if i + 2 < data.len() && data[i] == data[i + 1] && data[i] == data[i + 2] {
                break;
            }
            i += 1;
        }
        out.push((i - start - 1) as u8);
        out.extend_from_slice(&data[start..i]);
    }
}

/// Decodes one RLE frame into native little-endian samples.
pub fn decode_frame(encoded: &[u8], layout: &FrameLayout) -> Result<Vec<u8>> {
    let bad = |why: &str| Error::Corrupt(format!("RLE frame: {why}"));
    if encoded.len() < 64 {
        return Err(bad("shorter than its 64-byte header"));
    }
    let word = |i: usize| {
        u32::from_le_bytes([encoded[i], encoded[i + 1], encoded[i + 2], encoded[i + 3]]) as usize
    };
    let segments = word(0);
    if segments != layout.samples * layout.bytes_per_sample {
        return Err(bad(&format!(
            "{segments} segments, {} expected",
            layout.samples * layout.bytes_per_sample
        )));
    }
    let mut out = vec![0u8; layout.frame_len()];
    let mut n = 0;
    for s in 0..layout.samples {
        for b in (0..layout.bytes_per_sample).rev() {
            let start = word(4 + 4 * n);
            let end = if n + 1 < segments {
                word(8 + 4 * n)
            } else {
                encoded.len()
            };
            if start < 64 || start > end || end > encoded.len() {
                return Err(bad("segment offsets out of range"));
            }
            let plane = unpack_bits(&encoded[start..end], layout.pixels).ok_or_else(|| {
                bad(&format!(
                    "a segment does not decode to the {} bytes Rows x Columns make",
                    layout.pixels
                ))
            })?;
            for (p, v) in plane.into_iter().enumerate() {
                out[layout.offset(p, s, b)] = v;
            }
            n += 1;
        }
    }
    Ok(out)
}

/// Unpacks a whole segment, which must decode to exactly `want` bytes: a
/// segment that holds more (Rows or Columns that lie, a wrong segment
/// order) or less is damaged. One trailing byte is the segment's padding to
/// an even length (PS3.5 G.3.1).
fn unpack_bits(data: &[u8], want: usize) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(want);
    let mut i = 0;
    while i < data.len() && out.len() <= want {
        if out.len() == want && i + 1 == data.len() {
            break; // padding
        }
        let h = data[i] as i8;
        i += 1;
        if h >= 0 {
            let n = h as usize + 1;
            out.extend_from_slice(data.get(i..i + n)?);
            i += n;
        } else if h != -128 {
            let n = (-(h as i16)) as usize + 1;
            let v = *data.get(i)?;
            out.extend(std::iter::repeat_n(v, n));
            i += 1;
        }
    }
    (out.len() == want).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn round_trip(frame: &[u8], layout: FrameLayout) {
        let enc = encode_frame(frame, &layout).unwrap();
        assert_eq!(enc.len() % 2, 0);
        assert_eq!(decode_frame(&enc, &layout).unwrap(), frame);
    }

    #[test]
    fn random_and_edge_frames_round_trip() {
        // A small xorshift: repeatable pseudo-random data without a crate.
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut rnd = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for (pixels, samples, bytes, planar) in [
            (1, 1, 1, false),
            (7, 1, 2, false),
            (513, 3, 1, false),
            (99, 3, 1, true),
            (1000, 1, 4, false),
        ] {
            let layout = FrameLayout {
                pixels,
                samples,
                bytes_per_sample: bytes,
                planar,
            };
            let random: Vec<u8> = (0..layout.frame_len())
                .map(|_| (rnd() % 256) as u8)
                .collect();
            round_trip(&random, layout);
            let runs: Vec<u8> = (0..layout.frame_len())
                .map(|i| ((i / 300) % 3) as u8)
                .collect();
            round_trip(&runs, layout);
            let mixed: Vec<u8> = (0..layout.frame_len())
                .map(|i| {
                    if rnd() % 4 == 0 {
                        (rnd() % 4) as u8
                    } else {
                        (i % 2) as u8
                    }
                })
                .collect();
            round_trip(&mixed, layout);
        }
    }

    #[test]
    fn corrupt_input_is_an_error_not_a_panic() {
        let layout = FrameLayout {
            pixels: 100,
            samples: 1,
            bytes_per_sample: 2,
            planar: false,
        };
        let frame: Vec<u8> = (0..200).map(|i| i as u8).collect();
        let enc = encode_frame(&frame, &layout).unwrap();
        for cut in [0, 10, 63, 64, 70, enc.len() - 5] {
            assert!(decode_frame(&enc[..cut], &layout).is_err(), "cut at {cut}");
        }
        let mut lying = enc.clone();
        lying[4..8].copy_from_slice(&9999u32.to_le_bytes());
        assert!(decode_frame(&lying, &layout).is_err());
    }
}
