//! Entry points for the fuzz targets of `fuzz/` (cargo-fuzz), one per
//! decoder entry point, and for the test that replays their corpus in every
//! test run (`tests/fuzz_corpus.rs`). Each takes arbitrary bytes and must
//! return: an error is fine, a panic, a hang or a wrong-size image is a bug.
//! Not part of the stable API.

use dicom_core::value::{PixelFragmentSequence, Value};
use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::meta::FileMetaTableBuilder;
use dicom_object::{DefaultDicomObject, InMemDicomObject};

use crate::rle::{self, FrameLayout};
use crate::transcode::{Target, transcode};
use crate::{jpeg2k, jpegls};

/// RLE frame decoder: the first two bytes choose the layout (pixels up to
/// 4096, 1 or 3 samples, 1, 2 or 4 bytes each), the rest is the frame.
pub fn rle_decode(data: &[u8]) {
    let [a, b, rest @ ..] = data else { return };
    let layout = FrameLayout {
        pixels: ((*a as usize) << 4 | (*b as usize) >> 4) + 1,
        samples: if b & 1 == 0 { 1 } else { 3 },
        bytes_per_sample: [1, 2, 4, 2][(b >> 1 & 3) as usize],
        planar: b & 8 != 0,
    };
    if let Ok(frame) = rle::decode_frame(rest, &layout) {
        assert_eq!(frame.len(), layout.frame_len());
    }
}

/// JPEG-LS: the header reader and the frame decoder (CharLS). Codestreams
/// whose header announces more than 64 MiB of pixels are only read, not
/// decoded: CharLS allocates what the header says, which a fuzzer's memory
/// limit would report (the archive bounds it by the data set, checked
/// against the header first).
pub fn jpegls_decode(data: &[u8]) {
    let header = jpegls::Header::read(data);
    if header.as_ref().is_ok_and(|h| h.decoded_len() > 64 << 20) {
        return;
    }
    if let (Ok(frame), Ok(h)) = (jpegls::decode_frame(data), header)
        && h.rows > 0
    {
        assert_eq!(frame.len(), h.decoded_len());
    }
}

/// JPEG 2000: the SIZ reader.
pub fn jpeg2k_header(data: &[u8]) {
    let _ = jpeg2k::Header::read(data);
}

/// A whole instance decoded as the archive hands pixels out
/// (`transcode(.., Target::Explicit)`): the first 8 bytes choose the
/// transfer syntax (JPEG-LS, JPEG 2000, RLE, JPEG lossless), rows and
/// columns (0 to 255), samples, bits, frames (1 to 4) and how the rest is
/// cut into fragments; the result, when there is one, has the size the
/// data set describes.
pub fn decode_instance(data: &[u8]) {
    let Some(obj) = instance(data) else { return };
    if let Ok(out) = transcode(&obj, Target::Explicit) {
        let n = |tag| {
            out.element(tag)
                .ok()
                .and_then(|e| e.to_int::<usize>().ok())
                .unwrap_or(1)
        };
        let expected = n(tags::ROWS)
            * n(tags::COLUMNS)
            * n(tags::SAMPLES_PER_PIXEL)
            * n(tags::NUMBER_OF_FRAMES)
            * (n(tags::BITS_ALLOCATED) / 8);
        let got = out.element(tags::PIXEL_DATA).unwrap().to_bytes().unwrap();
        assert_eq!(
            got.len(),
            expected,
            "decoded size differs from the data set"
        );
    }
}

/// Builds the instance [`decode_instance`] decodes.
pub fn instance(data: &[u8]) -> Option<DefaultDicomObject> {
    let [ts, rows, columns, shape, frames, cut_a, cut_b, _, rest @ ..] = data else {
        return None;
    };
    let ts = [
        uids::JPEGLS_LOSSLESS,
        uids::JPEG2000_LOSSLESS,
        uids::RLE_LOSSLESS,
        uids::JPEG_LOSSLESS_SV1,
    ][(*ts & 3) as usize];
    let samples: u16 = if shape & 1 == 0 { 1 } else { 3 };
    let bits: u16 = if shape & 2 == 0 { 8 } else { 16 };
    let stored = (shape >> 2 & 15) as u16 + 1;
    let frames = (frames & 3) as usize + 1;
    // Up to frames + 1 fragments, cut at the two chosen places.
    let (a, b) = (
        *cut_a as usize * rest.len() / 256,
        *cut_b as usize * rest.len() / 256,
    );
    let (a, b) = (a.min(b), a.max(b));
    let mut fragments: Vec<Vec<u8>> = [&rest[..a], &rest[a..b], &rest[b..]]
        .into_iter()
        .filter(|f| !f.is_empty())
        .map(|f| {
            let mut f = f.to_vec();
            f.resize(f.len() + f.len() % 2, 0);
            f
        })
        .collect();
    fragments.truncate(frames + 1);
    let mut obj = InMemDicomObject::new_empty();
    let us = |v: u16| PrimitiveValue::from(v);
    obj.put(DataElement::new(tags::ROWS, VR::US, us(*rows as u16)));
    obj.put(DataElement::new(tags::COLUMNS, VR::US, us(*columns as u16)));
    obj.put(DataElement::new(
        tags::SAMPLES_PER_PIXEL,
        VR::US,
        us(samples),
    ));
    obj.put(DataElement::new(tags::BITS_ALLOCATED, VR::US, us(bits)));
    obj.put(DataElement::new(
        tags::BITS_STORED,
        VR::US,
        us(stored.min(bits)),
    ));
    obj.put(DataElement::new(
        tags::HIGH_BIT,
        VR::US,
        us(stored.min(bits) - 1),
    ));
    obj.put(DataElement::new(tags::PIXEL_REPRESENTATION, VR::US, us(0)));
    let photometric = if samples == 1 { "MONOCHROME2" } else { "RGB" };
    obj.put(DataElement::new(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from(photometric),
    ));
    obj.put(DataElement::new(
        tags::NUMBER_OF_FRAMES,
        VR::IS,
        PrimitiveValue::from(frames.to_string()),
    ));
    obj.put(DataElement::new(
        tags::SOP_INSTANCE_UID,
        VR::UI,
        PrimitiveValue::from("1.2.3.4"),
    ));
    obj.put(DataElement::new(
        tags::SOP_CLASS_UID,
        VR::UI,
        PrimitiveValue::from(uids::SECONDARY_CAPTURE_IMAGE_STORAGE),
    ));
    obj.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        Value::PixelSequence(PixelFragmentSequence::new(vec![], fragments)),
    ));
    let meta = FileMetaTableBuilder::new()
        .transfer_syntax(ts)
        .media_storage_sop_class_uid(uids::SECONDARY_CAPTURE_IMAGE_STORAGE)
        .media_storage_sop_instance_uid("1.2.3.4");
    obj.with_meta(meta).ok()
}
