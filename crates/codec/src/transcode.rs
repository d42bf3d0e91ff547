//! Whole-instance transcoding with mandatory verification: the result is
//! decoded again and compared bit for bit with the original pixels before it
//! is returned; on any difference it is refused.

use std::str::FromStr;

use dicom_core::value::Value;
use dicom_core::value::fragments::Fragments;
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::TransferSyntax;
use dicom_object::{DefaultDicomObject, InMemDicomObject};
use dicom_transfer_syntax_registry::entries;

use crate::decode::decode;
use crate::image::{HighBits, ImageLayout, NativeImage, sign_extend};
use crate::rle::{self, FrameLayout};
use crate::{Error, Result, jpeg2k, jpegls};

/// Target transfer syntaxes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Target {
    /// JPEG-LS Lossless (1.2.840.10008.1.2.4.80).
    JpegLs,
    /// JPEG 2000 Lossless Only (1.2.840.10008.1.2.4.90).
    Jpeg2000,
    /// RLE Lossless (1.2.840.10008.1.2.5).
    Rle,
    /// Explicit VR Little Endian: decoded, uncompressed pixels.
    Explicit,
}

impl Target {
    /// The transfer syntax written in the file meta.
    pub fn transfer_syntax(self) -> TransferSyntax {
        match self {
            Target::JpegLs => entries::JPEG_LS_LOSSLESS_IMAGE_COMPRESSION.erased(),
            Target::Jpeg2000 => entries::JPEG_2000_IMAGE_COMPRESSION_LOSSLESS_ONLY.erased(),
            Target::Rle => entries::RLE_LOSSLESS.erased(),
            Target::Explicit => entries::EXPLICIT_VR_LITTLE_ENDIAN.erased(),
        }
    }

    /// The transfer syntax UID.
    pub fn uid(self) -> &'static str {
        self.transfer_syntax().uid()
    }

    /// The name used on the command line and in the configuration.
    pub fn name(self) -> &'static str {
        match self {
            Target::JpegLs => "jpegls",
            Target::Jpeg2000 => "jpeg2000",
            Target::Rle => "rle",
            Target::Explicit => "explicit",
        }
    }
}

impl FromStr for Target {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "jpegls" | "jpeg-ls" => Ok(Target::JpegLs),
            "jpeg2000" | "j2k" => Ok(Target::Jpeg2000),
            "rle" => Ok(Target::Rle),
            "explicit" => Ok(Target::Explicit),
            other => Err(format!(
                "unknown target {other:?}: expected jpegls, jpeg2000, rle or explicit"
            )),
        }
    }
}

/// The transfer syntaxes of native (uncompressed) pixel data: what the
/// encoders take, and what the archive's compression pass looks for.
pub const NATIVE_SYNTAXES: [&str; 4] = [
    uids::IMPLICIT_VR_LITTLE_ENDIAN,
    uids::EXPLICIT_VR_LITTLE_ENDIAN,
    uids::DEFLATED_EXPLICIT_VR_LITTLE_ENDIAN,
    "1.2.840.10008.1.2.2", // Explicit VR Big Endian (retired, still received)
];

/// Whether a transfer syntax UID is native (uncompressed) pixel data.
pub fn is_native(ts: &str) -> bool {
    NATIVE_SYNTAXES.contains(&ts.trim_end_matches(['\0', ' ']))
}

/// Transcodes an instance to `target`, verified. Only the pixel data (and,
/// for the compressed targets, Planar Configuration, which becomes 0) and the
/// file meta's transfer syntax change; every other element is kept as it is.
pub fn transcode(obj: &DefaultDicomObject, target: Target) -> Result<DefaultDicomObject> {
    if target == Target::Explicit {
        return decode_to_explicit(obj);
    }
    let (out, image) = encode(obj, target)?;
    verify_against(&out, &image, target)?;
    Ok(out)
}

/// The data set of an instance in the native transfer syntax `ts` (Explicit
/// or Implicit VR Little Endian), its pixels decoded (checked) when they are
/// compressed, text in the object's own character set: what a peer that
/// takes no compressed syntax receives. Objects without pixel data, or
/// already native, are only re-encoded.
pub fn native_dataset(obj: &DefaultDicomObject, ts: &str) -> Result<Vec<u8>> {
    use dicom_encoding::TransferSyntaxIndex;
    use dicom_encoding::text::SpecificCharacterSet;
    let syntax = dicom_transfer_syntax_registry::TransferSyntaxRegistry
        .get(ts)
        .filter(|_| is_native(ts))
        .ok_or_else(|| Error::Unsupported(format!("{ts} is not a native transfer syntax")))?;
    let stored = obj.meta().transfer_syntax().to_string();
    let decoded;
    let source: &InMemDicomObject = if !is_native(&stored) && obj.get(tags::PIXEL_DATA).is_some() {
        decoded = decode_to_explicit(obj)?;
        &decoded
    } else {
        obj
    };
    let charset = source
        .get(tags::SPECIFIC_CHARACTER_SET)
        .and_then(|e| e.to_str().ok())
        .and_then(|t| SpecificCharacterSet::from_code(t.split('\\').next().unwrap_or("").trim()))
        .unwrap_or_default();
    let mut out = Vec::new();
    source
        .write_dataset_with_ts_cs(&mut out, syntax, charset)
        .map_err(|e| Error::Encode(format!("cannot encode the data set in {ts}: {e}")))?;
    Ok(out)
}

/// Transcodes an instance to `target` and returns the Part 10 file bytes
/// (preamble, meta, data set). The bytes themselves are proven: they are
/// parsed back and their pixels decoded and compared bit for bit with the
/// original's, so what is written to disk is exactly what was checked (one
/// decode, of the bytes, rather than of the object before serialisation).
pub fn transcode_to_file_bytes(obj: &DefaultDicomObject, target: Target) -> Result<Vec<u8>> {
    let (out, image) = if target == Target::Explicit {
        (decode_to_explicit(obj)?, None)
    } else {
        let (out, image) = encode(obj, target)?;
        (out, Some(image))
    };
    let mut bytes = Vec::new();
    out.write_all(&mut bytes)
        .map_err(|e| Error::Encode(format!("cannot serialise the result: {e}")))?;
    drop(out);
    if let Some(image) = image {
        let parsed = dicom_object::OpenFileOptions::new()
            .from_reader(&bytes[128..])
            .map_err(|e| {
                Error::VerificationFailed(format!("the written file does not parse: {e}"))
            })?;
        verify_against(&parsed, &image, target)?;
    }
    Ok(bytes)
}

/// Encodes the pixels of a native instance, unverified: the callers above
/// verify the result, in memory or as written.
fn encode(obj: &DefaultDicomObject, target: Target) -> Result<(DefaultDicomObject, NativeImage)> {
    let ts = obj.meta().transfer_syntax().to_string();
    if !is_native(&ts) {
        return Err(Error::Unsupported(format!(
            "{ts} is already compressed; decode it first (--to explicit)"
        )));
    }
    let image = NativeImage::of(obj)?;
    let frames = match target {
        Target::Rle => encode_rle(&image)?,
        Target::JpegLs | Target::Jpeg2000 => encode_jpeg_family(&image, target)?,
        Target::Explicit => unreachable!("decoding is not encoding"),
    };
    let mut out = without_pixels(obj);
    // One fragment per frame, with a basic offset table; odd lengths padded
    // (dicom-core's `Fragments`, as dicom-pixeldata's `encapsulate` uses it,
    // whose `Value` type does not fit an `InMemDicomObject`).
    let fragments: Vec<Fragments> = frames.into_iter().map(|f| Fragments::new(f, 0)).collect();
    out.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        Value::PixelSequence(fragments.into()),
    ));
    // Every target's decoders give interleaved samples: the result says so.
    if image.layout.samples > 1 && image.layout.planar {
        out.put(DataElement::new(
            tags::PLANAR_CONFIGURATION,
            VR::US,
            PrimitiveValue::from(0u16),
        ));
    }
    let ts = target.transfer_syntax();
    out.update_meta(|m| m.set_transfer_syntax(&ts));
    Ok((out, image))
}

/// Compares the decoded pixels of `encoded` with the original image's. RLE
/// keeps every bit; the JPEG family keeps Bits Stored bits, which decoders
/// sign-extend.
fn verify_against(encoded: &DefaultDicomObject, image: &NativeImage, target: Target) -> Result<()> {
    let sign = (target != Target::Rle).then_some(&image.layout);
    verify(encoded, &image.interleaved(), sign)
}

fn encode_rle(image: &NativeImage) -> Result<Vec<Vec<u8>>> {
    let l = &image.layout;
    let layout = FrameLayout {
        pixels: l.rows * l.columns,
        samples: l.samples,
        bytes_per_sample: l.bytes_per_sample()?,
        planar: false,
    };
    (0..l.frames)
        .map(|i| rle::encode_frame(&image.interleaved_frame(i), &layout))
        .collect()
}

/// Photometric interpretations whose native layout is one value per sample
/// per pixel, which the JPEG family codes as is.
const JPEG_PHOTOMETRICS: [&str; 5] = [
    "MONOCHROME1",
    "MONOCHROME2",
    "PALETTE COLOR",
    "RGB",
    "YBR_FULL",
];

fn encode_jpeg_family(image: &NativeImage, target: Target) -> Result<Vec<Vec<u8>>> {
    let l = &image.layout;
    if !JPEG_PHOTOMETRICS.contains(&image.photometric.as_str()) {
        return Err(Error::Unsupported(format!(
            "photometric interpretation {:?}",
            image.photometric
        )));
    }
    let bytes_per_sample = l.bytes_per_sample()?;
    let high_bits = image.high_bits()?;
    let spec = jpegls::FrameSpec {
        columns: l.columns,
        rows: l.rows,
        samples: l.samples,
        bytes_per_sample,
        bits_stored: l.bits_stored,
    };
    (0..l.frames)
        .map(|i| {
            let mut frame = image.interleaved_frame(i);
            if high_bits == HighBits::SignExtended {
                // The codestream holds Bits Stored bits; the sign repeated
                // above them is restored by the decoder (PS3.5 8.2).
                let mask = (1u32 << l.bits_stored) - 1;
                let masked = frame.to_mut();
                for chunk in masked.chunks_exact_mut(bytes_per_sample) {
                    let v = crate::image::sample(chunk) & mask;
                    chunk.copy_from_slice(&v.to_le_bytes()[..bytes_per_sample]);
                }
            }
            match target {
                Target::JpegLs => jpegls::encode_frame(&frame, &spec),
                _ => jpeg2k::encode_frame(&frame, &spec, l.signed),
            }
        })
        .collect()
}

/// A copy of `obj` but for its pixel data, which the caller puts anew:
/// cloning megabytes of pixels only to drop them would cost every instance
/// a copy.
fn without_pixels(obj: &DefaultDicomObject) -> DefaultDicomObject {
    let elements = obj
        .iter()
        .filter(|e| e.header().tag != tags::PIXEL_DATA)
        .cloned();
    InMemDicomObject::from_element_iter(elements).with_exact_meta(obj.meta().clone())
}

fn decode_to_explicit(obj: &DefaultDicomObject) -> Result<DefaultDicomObject> {
    let decoded = decode(obj).map_err(Error::Decode)?;
    let data = decoded.data;
    let mut out = without_pixels(obj);
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
    // The decoder may have undone a colour transform (YBR_RCT, YBR_ICT) or
    // interleaved the planes: describe the pixels as they now are.
    out.put(DataElement::new(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from(decoded.photometric.as_str()),
    ));
    if decoded.samples > 1 {
        out.put(DataElement::new(
            tags::PLANAR_CONFIGURATION,
            VR::US,
            PrimitiveValue::from(decoded.planar),
        ));
    }
    out.update_meta(|m| m.set_transfer_syntax(&entries::EXPLICIT_VR_LITTLE_ENDIAN));
    Ok(out)
}

/// Decodes `encoded` again (with the checks of decoding) and compares every
/// frame with `original`, which must be all of the image. For signed samples with fewer bits stored than allocated
/// (`layout` given), the decoded samples are sign-extended first, as the
/// original's are.
pub fn verify(
    encoded: &DefaultDicomObject,
    original: &[u8],
    layout: Option<&ImageLayout>,
) -> Result<()> {
    let mut data = decode(encoded)
        .map_err(|e| Error::VerificationFailed(format!("cannot decode the result: {e}")))?
        .data;
    if data.len() != original.len() {
        return Err(Error::VerificationFailed(format!(
            "{} bytes decoded, {} expected",
            data.len(),
            original.len()
        )));
    }
    if let Some(l) = layout.filter(|l| l.signed && l.bits_stored < l.bits_allocated) {
        sign_extend(&mut data, l.bytes_per_sample()?, l.bits_stored);
    }
    if let Some(i) = data.iter().zip(original).position(|(a, b)| a != b) {
        return Err(Error::VerificationFailed(format!(
            "decoded pixels differ from the original at byte {i}"
        )));
    }
    Ok(())
}
