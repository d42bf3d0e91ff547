//! A native (uncompressed) image as the codecs see it: its layout, how its
//! samples are to be read (bits stored, sign) and its pixel bytes.

use std::borrow::Cow;

use dicom_core::Tag;
use dicom_core::value::Value;
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;

use crate::{Error, Result};

/// Native pixel data has a 32-bit length (PS3.5 7.1): an image that would
/// not fit is refused before anything is allocated for it.
pub(crate) const MAX_NATIVE_BYTES: usize = 0xFFFF_FFFE;

/// The image attributes that shape the pixel data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ImageLayout {
    /// Rows.
    pub rows: usize,
    /// Columns.
    pub columns: usize,
    /// Samples per pixel.
    pub samples: usize,
    /// Bits allocated.
    pub bits_allocated: usize,
    /// Bits stored.
    pub bits_stored: usize,
    /// Pixel representation 1: two's complement samples.
    pub signed: bool,
    /// Planar configuration 1.
    pub planar: bool,
    /// Number of frames.
    pub frames: usize,
}

impl ImageLayout {
    /// Reads the layout of an object.
    pub fn of(obj: &DefaultDicomObject) -> Result<Self> {
        let num = |tag: Tag, name: &'static str| -> Result<usize> {
            obj.get(tag)
                .and_then(|e| e.to_str().ok())
                .and_then(|s| s.trim().parse::<usize>().ok())
                .ok_or(Error::Missing(name))
        };
        let bits_allocated = num(tags::BITS_ALLOCATED, "BitsAllocated")?;
        Ok(ImageLayout {
            rows: num(tags::ROWS, "Rows")?,
            columns: num(tags::COLUMNS, "Columns")?,
            samples: num(tags::SAMPLES_PER_PIXEL, "SamplesPerPixel").unwrap_or(1),
            bits_allocated,
            bits_stored: num(tags::BITS_STORED, "BitsStored").unwrap_or(bits_allocated),
            signed: num(tags::PIXEL_REPRESENTATION, "PixelRepresentation").unwrap_or(0) == 1,
            planar: num(tags::PLANAR_CONFIGURATION, "PlanarConfiguration").unwrap_or(0) == 1,
            frames: match num(tags::NUMBER_OF_FRAMES, "NumberOfFrames") {
                Ok(0) => return Err(Error::Corrupt("Number of Frames is 0".into())),
                Ok(n) => n,
                Err(_) => 1,
            },
        })
    }

    /// Bytes per sample (1, 2 or 4); an error for bit depths that are not
    /// whole bytes.
    pub fn bytes_per_sample(&self) -> Result<usize> {
        match self.bits_allocated {
            8 | 16 | 32 => Ok(self.bits_allocated / 8),
            n => Err(Error::Unsupported(format!("{n} bits allocated"))),
        }
    }

    /// Size of one native frame in bytes.
    pub fn frame_len(&self) -> Result<usize> {
        Ok(self.rows * self.columns * self.samples * self.bytes_per_sample()?)
    }
}

/// What the bits above Bits Stored hold, over the whole image.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HighBits {
    /// All zero (or there are none).
    Clear,
    /// The sign of each (signed) sample, repeated: derived from the sample,
    /// so a codec that keeps Bits Stored bits loses nothing.
    SignExtended,
}

/// A native image: its layout and its pixel bytes (little-endian samples).
#[derive(Debug, Clone)]
pub struct NativeImage {
    /// Layout and sample format.
    pub layout: ImageLayout,
    /// Photometric Interpretation.
    pub photometric: String,
    /// All frames, as stored.
    pub pixels: Vec<u8>,
}

impl NativeImage {
    /// The native image of an uncompressed object.
    pub fn of(obj: &DefaultDicomObject) -> Result<Self> {
        let layout = ImageLayout::of(obj)?;
        let photometric = obj
            .get(tags::PHOTOMETRIC_INTERPRETATION)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        if photometric.starts_with("YBR_FULL_422") || photometric.starts_with("YBR_PARTIAL") {
            return Err(Error::Unsupported(format!(
                "subsampled colour ({photometric}) is kept as it is"
            )));
        }
        let element = obj
            .get(tags::PIXEL_DATA)
            .ok_or(Error::Missing("PixelData"))?;
        let pixels = match element.value() {
            Value::Primitive(p) => p.to_bytes().into_owned(),
            _ => {
                return Err(Error::Unsupported(
                    "pixel data is already encapsulated".into(),
                ));
            }
        };
        let needed = layout.frame_len()? * layout.frames;
        if pixels.len() < needed {
            return Err(Error::Corrupt(format!(
                "pixel data has {} bytes, {} frames of {} expected",
                pixels.len(),
                layout.frames,
                layout.frame_len()?
            )));
        }
        Ok(NativeImage {
            layout,
            photometric,
            pixels,
        })
    }

    /// The bytes of frame `i` as stored.
    pub fn frame(&self, i: usize) -> &[u8] {
        let len = self.layout.frame_len().unwrap_or(0);
        &self.pixels[i * len..(i + 1) * len]
    }

    /// All frames' bytes (without any trailing padding).
    pub fn all_frames(&self) -> &[u8] {
        let len = self.layout.frame_len().unwrap_or(0);
        &self.pixels[..len * self.layout.frames]
    }

    /// Frame `i` with its samples interleaved (R G B R G B…), the layout the
    /// JPEG family's encoders and decoders use.
    pub fn interleaved_frame(&self, i: usize) -> Cow<'_, [u8]> {
        let frame = self.frame(i);
        if !self.layout.planar || self.layout.samples == 1 {
            return Cow::Borrowed(frame);
        }
        let bps = self.layout.bytes_per_sample().unwrap_or(1);
        Cow::Owned(interleave_planes(frame, self.layout.samples, bps))
    }

    /// All frames, interleaved: what a JPEG-family result must decode to.
    pub fn interleaved(&self) -> Cow<'_, [u8]> {
        if !self.layout.planar || self.layout.samples == 1 {
            return Cow::Borrowed(self.all_frames());
        }
        let mut out = Vec::with_capacity(self.all_frames().len());
        for i in 0..self.layout.frames {
            out.extend_from_slice(&self.interleaved_frame(i));
        }
        Cow::Owned(out)
    }

    /// Checks what the bits above Bits Stored hold. Data there (old overlays
    /// in the high bits) makes the image unsuitable for a codec that keeps
    /// only Bits Stored bits: an [`Error::Unsuitable`].
    pub fn high_bits(&self) -> Result<HighBits> {
        let l = &self.layout;
        let bps = l.bytes_per_sample()?;
        if l.bits_stored == 0 || l.bits_stored > l.bits_allocated {
            return Err(Error::Unsupported(format!(
                "{} bits stored in {} allocated",
                l.bits_stored, l.bits_allocated
            )));
        }
        if l.bits_stored == l.bits_allocated {
            return Ok(HighBits::Clear);
        }
        let all_ones = (1u32 << (l.bits_allocated - l.bits_stored)) - 1;
        let mut sign_extended = false;
        for chunk in self.all_frames().chunks_exact(bps) {
            let v = sample(chunk);
            let high = v >> l.bits_stored;
            let negative = l.signed && (v >> (l.bits_stored - 1)) & 1 == 1;
            // Decoders sign-extend signed samples: the high bits must be
            // exactly the sign, or zero for unsigned samples.
            let expected = if negative { all_ones } else { 0 };
            if high == expected {
                sign_extended |= negative;
                continue;
            }
            return Err(Error::Unsuitable(format!(
                "bits above Bits Stored ({}) {} (sample {v:#x})",
                l.bits_stored,
                if l.signed && high == 0 {
                    "do not repeat the sign of a negative sample"
                } else {
                    "carry data (an overlay in the high bits?)"
                }
            )));
        }
        Ok(if sign_extended {
            HighBits::SignExtended
        } else {
            HighBits::Clear
        })
    }
}

/// A little-endian sample of 1, 2 or 4 bytes.
pub(crate) fn sample(bytes: &[u8]) -> u32 {
    match bytes.len() {
        1 => u32::from(bytes[0]),
        2 => u32::from(u16::from_le_bytes([bytes[0], bytes[1]])),
        _ => u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]),
    }
}

/// Sign-extends every sample of `data` from `bits_stored` bits, in place: how
/// a decoder's output is compared with a signed original whose high bits
/// repeat the sign.
pub(crate) fn sign_extend(data: &mut [u8], bytes_per_sample: usize, bits_stored: usize) {
    let bits = bytes_per_sample * 8;
    if bits_stored >= bits {
        return;
    }
    for chunk in data.chunks_exact_mut(bytes_per_sample) {
        let v = sample(chunk);
        let shift = 32 - bits_stored;
        let extended = (((v << shift) as i32) >> shift) as u32;
        chunk.copy_from_slice(&extended.to_le_bytes()[..bytes_per_sample]);
    }
}

/// Interleaves a frame stored colour-by-plane (all of the first sample, then
/// all of the second...) into colour-by-pixel order, `bytes_per_sample`
/// bytes per value. A frame whose length is not a whole number of pixels
/// keeps its trailing bytes in place.
pub fn interleave_planes(frame: &[u8], samples: usize, bytes_per_sample: usize) -> Vec<u8> {
    let mut out = frame.to_vec();
    let value = bytes_per_sample.max(1);
    let pixels = frame.len() / (samples.max(1) * value);
    for s in 0..samples {
        for p in 0..pixels {
            let from = (s * pixels + p) * value;
            let to = (p * samples + s) * value;
            out[to..to + value].copy_from_slice(&frame[from..from + value]);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(bits_stored: usize, signed: bool, samples: &[u16]) -> NativeImage {
        NativeImage {
            layout: ImageLayout {
                rows: 1,
                columns: samples.len(),
                samples: 1,
                bits_allocated: 16,
                bits_stored,
                signed,
                planar: false,
                frames: 1,
            },
            photometric: "MONOCHROME2".into(),
            pixels: samples.iter().flat_map(|s| s.to_le_bytes()).collect(),
        }
    }

    #[test]
    fn overlay_bits_make_an_image_unsuitable() {
        assert_eq!(
            image(12, false, &[0, 4095]).high_bits().unwrap(),
            HighBits::Clear
        );
        assert!(matches!(
            image(12, false, &[0, 0x1000]).high_bits(),
            Err(Error::Unsuitable(_))
        ));
        // -1 and -2048 sign-extended from 12 bits.
        assert_eq!(
            image(12, true, &[0xFFFF, 0xF800, 5]).high_bits().unwrap(),
            HighBits::SignExtended
        );
        // A negative sample whose high bits are not all ones: an overlay.
        assert!(matches!(
            image(12, true, &[0x7800]).high_bits(),
            Err(Error::Unsuitable(_))
        ));
        assert!(matches!(
            image(12, true, &[0x1000]).high_bits(),
            Err(Error::Unsuitable(_))
        ));
    }

    #[test]
    fn sign_extension_restores_the_high_bits() {
        let mut data: Vec<u8> = [0x0FFFu16, 0x0800, 0x07FF]
            .iter()
            .flat_map(|s| s.to_le_bytes())
            .collect();
        sign_extend(&mut data, 2, 12);
        let back: Vec<u16> = data
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .collect();
        assert_eq!(back, [0xFFFF, 0xF800, 0x07FF]);
    }

    #[test]
    fn planar_frames_are_interleaved() {
        let img = NativeImage {
            layout: ImageLayout {
                rows: 1,
                columns: 2,
                samples: 3,
                bits_allocated: 8,
                bits_stored: 8,
                signed: false,
                planar: true,
                frames: 1,
            },
            photometric: "RGB".into(),
            pixels: vec![1, 2, 10, 20, 100, 200],
        };
        assert_eq!(&*img.interleaved_frame(0), &[1, 10, 100, 2, 20, 200]);
    }
}
