//! Whole-instance transcoding with mandatory verification: the result is
//! decoded again and compared bit for bit with the original pixels before it
//! is returned; on any difference it is refused.

use dicom_core::value::Value;
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::PixelDecoder;
use dicom_transfer_syntax_registry::entries;

use crate::rle::{FrameLayout, encode_frame};
use crate::{Error, Result};

/// Target transfer syntaxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// RLE Lossless (1.2.840.10008.1.2.5).
    Rle,
    /// Explicit VR Little Endian: decoded, uncompressed pixels.
    Explicit,
}

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
        Ok(ImageLayout {
            rows: num(tags::ROWS, "Rows")?,
            columns: num(tags::COLUMNS, "Columns")?,
            samples: num(tags::SAMPLES_PER_PIXEL, "SamplesPerPixel").unwrap_or(1),
            bits_allocated: num(tags::BITS_ALLOCATED, "BitsAllocated")?,
            planar: num(tags::PLANAR_CONFIGURATION, "PlanarConfiguration").unwrap_or(0) == 1,
            frames: num(tags::NUMBER_OF_FRAMES, "NumberOfFrames")
                .unwrap_or(1)
                .max(1),
        })
    }

    fn frame_layout(&self) -> Result<FrameLayout> {
        if self.bits_allocated % 8 != 0 || self.bits_allocated == 0 {
            return Err(Error::Unsupported(format!(
                "{} bits allocated",
                self.bits_allocated
            )));
        }
        Ok(FrameLayout {
            pixels: self.rows * self.columns,
            samples: self.samples,
            bytes_per_sample: self.bits_allocated / 8,
            planar: self.planar,
        })
    }
}

fn is_native(ts: &str) -> bool {
    let ts = ts.trim_end_matches(['\0', ' ']);
    ts == uids::EXPLICIT_VR_LITTLE_ENDIAN
        || ts == uids::IMPLICIT_VR_LITTLE_ENDIAN
        || ts == uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN
        || ts == "1.2.840.10008.1.2.2"
}

/// The native pixel bytes of an uncompressed object (little-endian samples).
fn native_pixels(obj: &DefaultDicomObject) -> Result<Vec<u8>> {
    let e = obj
        .get(tags::PIXEL_DATA)
        .ok_or(Error::Missing("PixelData"))?;
    match e.value() {
        Value::Primitive(p) => Ok(p.to_bytes().into_owned()),
        _ => Err(Error::Unsupported(
            "pixel data is already encapsulated".into(),
        )),
    }
}

/// Transcodes an instance to `target`, verified. Only the pixel data and the
/// file meta's transfer syntax change; every other element is kept as it is.
pub fn transcode(obj: &DefaultDicomObject, target: Target) -> Result<DefaultDicomObject> {
    let ts = obj.meta().transfer_syntax().to_string();
    match target {
        Target::Rle => {
            if !is_native(&ts) {
                return Err(Error::Unsupported(format!(
                    "{ts} is already compressed; decode it first (--to explicit)"
                )));
            }
            let layout = ImageLayout::of(obj)?;
            let frame = layout.frame_layout()?;
            let pixels = native_pixels(obj)?;
            let len = frame.frame_len();
            if pixels.len() < len * layout.frames {
                return Err(Error::Corrupt(format!(
                    "pixel data has {} bytes, {} frames of {len} expected",
                    pixels.len(),
                    layout.frames
                )));
            }
            let frames = (0..layout.frames)
                .map(|i| encode_frame(&pixels[i * len..(i + 1) * len], &frame))
                .collect::<Result<Vec<_>>>()?;
            let mut out = obj.clone();
            out.put(DataElement::new(
                tags::PIXEL_DATA,
                VR::OB,
                encapsulate(frames),
            ));
            out.update_meta(|m| m.set_transfer_syntax(&entries::RLE_LOSSLESS));
            verify(&out, &pixels[..len * layout.frames])?;
            Ok(out)
        }
        Target::Explicit => {
            let decoded = obj
                .decode_pixel_data()
                .map_err(|e| Error::Decode(e.to_string()))?;
            let data = decoded.data().to_vec();
            let mut out = obj.clone();
            let vr = if ImageLayout::of(obj)?.bits_allocated > 8 {
                VR::OW
            } else {
                VR::OB
            };
            out.put(DataElement::new(
                tags::PIXEL_DATA,
                vr,
                PrimitiveValue::from(data),
            ));
            out.update_meta(|m| m.set_transfer_syntax(&entries::EXPLICIT_VR_LITTLE_ENDIAN));
            Ok(out)
        }
    }
}

/// One fragment per frame, with a basic offset table (offsets of each
/// frame's item from the first item).
fn encapsulate(frames: Vec<Vec<u8>>) -> Value<dicom_object::InMemDicomObject> {
    let mut offsets = Vec::with_capacity(frames.len());
    let mut at = 0u32;
    for f in &frames {
        offsets.push(at);
        at += 8 + f.len() as u32;
    }
    Value::from(dicom_core::value::PixelFragmentSequence::new(
        offsets, frames,
    ))
}

/// Decodes `encoded` again and compares every frame with `original`.
pub fn verify(encoded: &DefaultDicomObject, original: &[u8]) -> Result<()> {
    let decoded = encoded
        .decode_pixel_data()
        .map_err(|e| Error::VerificationFailed(format!("cannot decode the result: {e}")))?;
    let data = decoded.data();
    if data.len() < original.len() {
        return Err(Error::VerificationFailed(format!(
            "{} bytes decoded, {} expected",
            data.len(),
            original.len()
        )));
    }
    if let Some(i) = data.iter().zip(original).position(|(a, b)| a != b) {
        return Err(Error::VerificationFailed(format!(
            "decoded pixels differ from the original at byte {i}"
        )));
    }
    Ok(())
}
