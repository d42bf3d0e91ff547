//! Decoding of a whole instance's pixel data (dicom-pixeldata; CharLS for
//! JPEG-LS), checked against what the data set and the codestreams say, so
//! that damaged or inconsistent input is an error and never a wrong image or
//! a panic.

use dicom_core::value::Value;
use dicom_dictionary_std::{tags, uids};
use dicom_encoding::adapters::PixelDataObject;
use dicom_object::DefaultDicomObject;
use dicom_pixeldata::PixelDecoder;

use crate::image::{ImageLayout, MAX_NATIVE_BYTES, interleave_planes};
use crate::rle::{self, FrameLayout};
use crate::transcode::is_native;
use crate::{jpeg2k, jpegls};

/// Pixels as decoded, and how they are laid out.
pub(crate) struct Decoded {
    /// Every frame, samples interleaved unless `planar` is 1.
    pub data: Vec<u8>,
    /// Photometric interpretation of `data` (a colour transform undone by
    /// the decoder shows here).
    pub photometric: String,
    /// Samples per pixel.
    pub samples: u16,
    /// Planar configuration of `data`.
    pub planar: u16,
}

/// Decodes every frame, then checks the result:
///
/// - dicom-pixeldata 0.10's adapters index slices by what the data set says
///   and some panic when a codestream disagrees: a panic is caught and
///   becomes an error;
/// - the decoded length must be what Rows, Columns, Samples per Pixel, Bits
///   Allocated and Number of Frames describe (fragments missing or extra);
/// - each JPEG-LS and JPEG 2000 frame header must agree with the data set
///   (the JPEG 2000 adapter pads or cuts to the data set's size otherwise);
/// - each RLE frame is decoded again by this crate's strict decoder, which
///   must agree (dicom-pixeldata's stops where the data set says, so Rows
///   that lie go unnoticed);
/// - JPEG-LS is decoded here, through CharLS as dicom-pixeldata would,
///   mending what its adapter leaves (see [`decode_jpegls`]).
pub(crate) fn decode(obj: &DefaultDicomObject) -> Result<Decoded, String> {
    let ts = obj.meta().transfer_syntax().trim_end_matches('\0');
    let Some(codec) = Codec::of(ts) else {
        return decode_unchecked(obj);
    };
    let layout = ImageLayout::of(obj).map_err(|e| e.to_string())?;
    let Ok(frame_len) = layout.frame_len() else {
        return decode_unchecked(obj); // 1-bit data: no lossless codec of ours codes it
    };
    if frame_len == 0 {
        return Err("Rows, Columns or Samples per Pixel is 0: no image to decode".into());
    }
    let bytes_per_sample = frame_len / (layout.rows * layout.columns * layout.samples);
    let expected = frame_len
        .checked_mul(layout.frames)
        .filter(|&n| n < MAX_NATIVE_BYTES)
        .ok_or_else(|| {
            format!(
                "{} frames of {} x {}, {} samples of {} bits: more than native pixel data \
                 can hold (4 GiB)",
                layout.frames, layout.columns, layout.rows, layout.samples, layout.bits_allocated
            )
        })?;
    if codec == Codec::Rle {
        // PS3.5 A.4.2: one fragment per frame; dicom-pixeldata's RLE adapter
        // reads each frame's header from one fragment and would index past
        // a split one.
        let fragments = match obj.element(tags::PIXEL_DATA).map(|e| e.value()) {
            Ok(Value::PixelSequence(seq)) => seq.fragments().len(),
            _ => 0,
        };
        if fragments != layout.frames {
            return Err(format!(
                "RLE Lossless wants one fragment per frame: {fragments} fragments for {} frames",
                layout.frames
            ));
        }
    }
    // JPEG 2000 and RLE frames are checked before dicom-pixeldata's
    // decoders see them: a disagreement is then named, and those decoders,
    // which index by what the data set says, do not trip over it. JPEG-LS is
    // checked frame by frame as it is decoded here.
    let mut ours = Vec::new();
    let checked_first = matches!(codec, Codec::Jpeg2000 | Codec::Rle);
    for i in (0..layout.frames).filter(|_| checked_first) {
        let codestream = frame_codestream(obj, i, &layout)?;
        let at = |e: crate::Error| format!("frame {}: {e}", i + 1);
        match codec {
            Codec::Jpeg2000 => {
                let h = jpeg2k::Header::read(&codestream).map_err(at)?;
                agree(i, (h.columns, h.rows, h.components, h.precision), &layout)?;
            }
            Codec::Rle => {
                let frame_layout = FrameLayout {
                    pixels: layout.rows * layout.columns,
                    samples: layout.samples,
                    bytes_per_sample,
                    planar: false,
                };
                ours.push(rle::decode_frame(&codestream, &frame_layout).map_err(at)?);
            }
            Codec::JpegLs | Codec::Other => unreachable!("not checked first"),
        }
    }
    let mut out = if codec == Codec::JpegLs {
        decode_jpegls(obj, &layout, frame_len)?
    } else {
        decode_unchecked(obj)?
    };
    if layout.samples == 3 {
        out.photometric = decoded_colour(obj, codec, &layout)?;
    }
    if out.data.len() != expected {
        return Err(format!(
            "the codestreams decode to {} bytes, the data set describes {expected} \
             ({} frames of {} x {}, {} samples of {} bits)",
            out.data.len(),
            layout.frames,
            layout.columns,
            layout.rows,
            layout.samples,
            layout.bits_allocated
        ));
    }
    if codec == Codec::Rle {
        for (i, frame) in out.data.chunks_exact(frame_len).enumerate() {
            let theirs = if out.planar == 1 && layout.samples > 1 {
                std::borrow::Cow::Owned(interleave_planes(frame, layout.samples, bytes_per_sample))
            } else {
                std::borrow::Cow::Borrowed(frame)
            };
            if ours[i] != *theirs {
                return Err(format!(
                    "frame {}: two RLE decoders disagree on the pixels",
                    i + 1
                ));
            }
        }
    }
    Ok(out)
}

/// JPEG-LS frames through CharLS, as dicom-pixeldata's adapter does, with
/// what that adapter leaves out: colour coded plane by plane (interleave
/// mode none) comes out of CharLS colour-by-plane while the data set rightly
/// says colour-by-pixel (PS3.5 A.4.3), and is interleaved; samples coded
/// with 8 bits or fewer are widened when 16 are allocated; the stray zero
/// byte before EOI of some encoders is tolerated (see
/// [`jpegls::decode_frame`]).
fn decode_jpegls(
    obj: &DefaultDicomObject,
    layout: &ImageLayout,
    frame_len: usize,
) -> Result<Decoded, String> {
    let mut data = Vec::with_capacity(frame_len * layout.frames);
    for i in 0..layout.frames {
        let codestream = frame_codestream(obj, i, layout)?;
        let at = |e: crate::Error| format!("frame {}: {e}", i + 1);
        let h = jpegls::Header::read_whole(&codestream).map_err(at)?;
        let rows = if h.rows == 0 { layout.rows } else { h.rows };
        agree(i, (h.columns, rows, h.components, h.precision), layout)?;
        let frame = jpegls::decode_frame(&codestream).map_err(at)?;
        if layout.bits_allocated == 16 && frame.len() * 2 == frame_len {
            data.extend(frame.iter().flat_map(|&b| [b, 0]));
        } else {
            data.extend_from_slice(&frame);
        }
    }
    let photometric = obj
        .get(tags::PHOTOMETRIC_INTERPRETATION)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    Ok(Decoded {
        data,
        photometric,
        samples: layout.samples as u16,
        planar: 0,
    })
}

/// What colour decoded samples are in. dicom-pixeldata 0.10 calls every
/// decoded three-sample image RGB, which is true only where the decoder
/// undid a colour transform:
///
/// - RLE and JPEG-LS code the samples as they are (PS3.5 A.4.2, A.4.3):
///   YBR_FULL stays YBR_FULL;
/// - JPEG 2000 hands back RGB when its codestream applies the multiple
///   component transform (YBR_RCT, YBR_ICT), the samples as they are
///   otherwise (PS3.5 A.4.4);
/// - lossy JPEG decoders (baseline, extended) convert YCbCr to RGB, and RGB
///   stays RGB; JPEG lossless (process 14, SV1) and the other encapsulated
///   syntaxes hand back the samples as they are.
fn decoded_colour(
    obj: &DefaultDicomObject,
    codec: Codec,
    layout: &ImageLayout,
) -> Result<String, String> {
    let stored = obj
        .get(tags::PHOTOMETRIC_INTERPRETATION)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default();
    let ts = obj.meta().transfer_syntax().trim_end_matches('\0');
    Ok(match codec {
        Codec::Rle | Codec::JpegLs => stored,
        Codec::Jpeg2000 => {
            let first = frame_codestream(obj, 0, layout)?;
            let header = jpeg2k::Header::read(&first).map_err(|e| e.to_string())?;
            if header.mct { "RGB".into() } else { stored }
        }
        Codec::Other if LOSSY_JPEG.contains(&ts) => "RGB".into(),
        Codec::Other => stored,
    })
}

/// JPEG processes whose decoders convert YCbCr to RGB.
const LOSSY_JPEG: [&str; 2] = [uids::JPEG_BASELINE8_BIT, uids::JPEG_EXTENDED12_BIT];

/// An error with its chain of sources: dicom-pixeldata's own message
/// ("Could not decode pixel data") names no cause.
fn with_sources(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        let more = s.to_string();
        if !text.ends_with(&more) {
            text = format!("{text}: {more}");
        }
        source = s.source();
    }
    text
}

/// dicom-pixeldata's decoding, a panic in it caught as an error.
fn decode_unchecked(obj: &DefaultDicomObject) -> Result<Decoded, String> {
    let decoded =
        std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| obj.decode_pixel_data()))
            .map_err(|_| "the decoder failed on inconsistent pixel data".to_string())?
            .map_err(|e| with_sources(&e))?;
    let photometric = decoded.photometric_interpretation().as_str().to_string();
    let samples = decoded.samples_per_pixel();
    let planar = decoded.planar_configuration() as u16;
    Ok(Decoded {
        data: decoded.into_data(), // owned already for encapsulated data: no copy
        photometric,
        samples,
        planar,
    })
}

fn frame_codestream<'a>(
    obj: &'a DefaultDicomObject,
    i: usize,
    layout: &ImageLayout,
) -> Result<std::borrow::Cow<'a, [u8]>, String> {
    obj.frame_pixel_data(i as u32).ok_or_else(|| {
        format!(
            "frame {} of {} has no data: fragments are missing",
            i + 1,
            layout.frames
        )
    })
}

/// The encapsulated syntaxes whose codestreams are checked; others (JPEG)
/// get the size checks only.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Codec {
    JpegLs,
    Jpeg2000,
    Rle,
    Other,
}

impl Codec {
    /// None for native syntaxes.
    fn of(ts: &str) -> Option<Codec> {
        if is_native(ts) {
            return None;
        }
        Some(match ts {
            uids::JPEGLS_LOSSLESS | uids::JPEGLS_NEAR_LOSSLESS => Codec::JpegLs,
            uids::JPEG2000_LOSSLESS | uids::JPEG2000 => Codec::Jpeg2000,
            uids::RLE_LOSSLESS => Codec::Rle,
            _ => Codec::Other,
        })
    }
}

/// Checks a frame header's (columns, rows, components, precision) against
/// the data set.
fn agree(
    i: usize,
    (columns, rows, components, precision): (usize, usize, usize, usize),
    layout: &ImageLayout,
) -> Result<(), String> {
    if (columns, rows, components) != (layout.columns, layout.rows, layout.samples)
        || precision > layout.bits_allocated
        || layout.bits_stored > layout.bits_allocated
    {
        return Err(format!(
            "frame {}: the codestream holds {columns} x {rows}, {components} components of \
             {precision} bits; the data set says {} x {}, {} samples, {} bits stored of {} \
             allocated",
            i + 1,
            layout.columns,
            layout.rows,
            layout.samples,
            layout.bits_stored,
            layout.bits_allocated
        ));
    }
    Ok(())
}
