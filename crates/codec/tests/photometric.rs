//! Decoded output says exactly what it holds. Every photometric
//! interpretation (MONOCHROME1/2, PALETTE COLOR, RGB, YBR_FULL,
//! YBR_FULL_422, YBR_RCT, YBR_ICT) through every target and back to native:
//! the Photometric Interpretation written must be the colour space of the
//! samples, which are compared with a reference.
//!
//! dicom-pixeldata 0.10 calls every decoded three-sample image RGB; an 8-bit
//! YBR_FULL ultrasound compressed to RLE or JPEG 2000 came back labelled RGB
//! while holding YCbCr, and a viewer showed it in false colours.

use std::path::PathBuf;

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use sansfilm_codec::Error;
use sansfilm_codec::image::interleave_planes;
use sansfilm_codec::transcode::{Target, transcode};

fn fixture(rel: &str) -> DefaultDicomObject {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/dicom")
        .join(rel);
    dicom_object::open_file(&path).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

fn photometric(obj: &DefaultDicomObject) -> String {
    obj.get(tags::PHOTOMETRIC_INTERPRETATION)
        .unwrap()
        .to_str()
        .unwrap()
        .trim()
        .to_string()
}

fn int(obj: &DefaultDicomObject, tag: dicom_core::Tag) -> usize {
    obj.get(tag)
        .and_then(|e| e.to_int::<u32>().ok())
        .unwrap_or(0) as usize
}

/// Native pixel bytes, samples interleaved.
fn native_pixels(obj: &DefaultDicomObject) -> Vec<u8> {
    let bytes = obj
        .get(tags::PIXEL_DATA)
        .unwrap()
        .to_bytes()
        .unwrap()
        .into_owned();
    let samples = int(obj, tags::SAMPLES_PER_PIXEL).max(1);
    if samples > 1 && int(obj, tags::PLANAR_CONFIGURATION) == 1 {
        let per_sample = int(obj, tags::BITS_ALLOCATED) / 8;
        let frame = int(obj, tags::ROWS) * int(obj, tags::COLUMNS) * samples * per_sample;
        bytes
            .chunks(frame)
            .flat_map(|f| interleave_planes(f, samples, per_sample))
            .collect()
    } else {
        bytes
    }
}

/// Decoded to Explicit VR Little Endian: (photometric, interleaved pixels).
fn decoded(obj: &DefaultDicomObject) -> (String, Vec<u8>) {
    let out = transcode(obj, Target::Explicit).unwrap();
    (photometric(&out), native_pixels(&out))
}

const LOSSLESS: [Target; 3] = [Target::JpegLs, Target::Jpeg2000, Target::Rle];

/// A native original through each lossless target and back: same label, same
/// samples; or refused as unsupported (subsampled colour).
fn round_trips(name: &str, original: &DefaultDicomObject) {
    let label = photometric(original);
    let pixels = native_pixels(original);
    let (l, p) = decoded(original);
    assert_eq!(
        (l.as_str(), p == pixels),
        (label.as_str(), true),
        "{name} → explicit"
    );
    for target in LOSSLESS {
        let compressed = match transcode(original, target) {
            Ok(c) => c,
            Err(Error::Unsupported(why)) if label == "YBR_FULL_422" => {
                assert!(why.contains("subsampled"), "{why}");
                continue;
            }
            Err(e) => panic!("{name} → {}: {e}", target.name()),
        };
        assert_eq!(
            photometric(&compressed),
            label,
            "{name} as {}",
            target.name()
        );
        let (l, p) = decoded(&compressed);
        assert_eq!(l, label, "{name} → {} → explicit: label", target.name());
        assert!(
            p == pixels,
            "{name} → {} → explicit: samples differ",
            target.name()
        );
    }
}

#[test]
fn native_originals_keep_their_label_through_every_target() {
    for (name, label) in [
        ("nema-wg04/CT1_UNC.dcm", "MONOCHROME2"),
        ("nema-wg04/RG3_UNC.dcm", "MONOCHROME1"),
        ("derived/OT-PAL-8-face.dcm", "PALETTE COLOR"),
        ("pydicom-data/SC_rgb.dcm", "RGB"),
        ("pydicom-data/color-pl.dcm", "RGB"),
        ("pydicom-data/SC_ybr_full_uncompressed.dcm", "YBR_FULL"),
        ("pydicom/SC_ybr_full_422_uncompressed.dcm", "YBR_FULL_422"),
    ] {
        let obj = fixture(name);
        assert_eq!(photometric(&obj), label, "{name}");
        round_trips(name, &obj);
    }
}

/// RGB to YCbCr as PS3.3 C.7.6.3.1.2 defines YBR_FULL (8 bits).
fn rgb_to_ybr_full(rgb: &[u8]) -> Vec<u8> {
    rgb.chunks_exact(3)
        .flat_map(|p| {
            let (r, g, b) = (f64::from(p[0]), f64::from(p[1]), f64::from(p[2]));
            let y = 0.2990 * r + 0.5870 * g + 0.1140 * b;
            let cb = -0.1687 * r - 0.3313 * g + 0.5000 * b + 128.0;
            let cr = 0.5000 * r - 0.4187 * g - 0.0813 * b + 128.0;
            [y, cb, cr].map(|v| v.round().clamp(0.0, 255.0) as u8)
        })
        .collect()
}

#[test]
fn an_ultrasound_in_ybr_full_comes_back_as_ybr_full() {
    // The case: 8 bits, 3 samples, planar 0, 640 x 480. The NEMA
    // ultrasound (RGB) turned into YBR_FULL as a scanner would send it.
    let mut us = fixture("nema-wg04/US1_UNC.dcm");
    assert_eq!((int(&us, tags::COLUMNS), int(&us, tags::ROWS)), (640, 480));
    let ybr = rgb_to_ybr_full(&native_pixels(&us));
    us.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        PrimitiveValue::from(ybr),
    ));
    us.put(DataElement::new(
        tags::PHOTOMETRIC_INTERPRETATION,
        VR::CS,
        PrimitiveValue::from("YBR_FULL"),
    ));
    us.put(DataElement::new(
        tags::PLANAR_CONFIGURATION,
        VR::US,
        PrimitiveValue::from(0u16),
    ));
    round_trips("US1 as YBR_FULL", &us);
}

/// Mean absolute difference of two images of the same size.
fn mean_abs_diff(a: &[u8], b: &[u8]) -> f64 {
    assert_eq!(a.len(), b.len());
    let sum: u64 = a
        .iter()
        .zip(b)
        .map(|(x, y)| u64::from(x.abs_diff(*y)))
        .sum();
    sum as f64 / a.len() as f64
}

#[test]
fn colour_transforms_undone_by_the_decoder_say_rgb() {
    let us_rgb = native_pixels(&fixture("nema-wg04/US1_UNC.dcm"));
    // JPEG 2000 reversible colour transform (lossless): exactly the RGB image.
    let (label, pixels) = decoded(&fixture("nema-wg04/US1_J2KR.dcm"));
    assert_eq!(label, "RGB");
    assert!(pixels == us_rgb, "US1_J2KR decodes to US1_UNC");
    // Irreversible transform (lossy): RGB, close to the original.
    let (label, pixels) = decoded(&fixture("nema-wg04/US1_J2KI.dcm"));
    assert_eq!(label, "RGB");
    let diff = mean_abs_diff(&pixels, &us_rgb);
    assert!(diff < 3.0, "US1_J2KI differs by {diff} on average");
    // GDCM's YBR_RCT.
    let (label, _) = decoded(&fixture("pydicom/GDCMJ2K_TextGBR.dcm"));
    assert_eq!(label, "RGB");
    // Lossy JPEG in YBR_FULL: the decoder converts to RGB.
    let sc_rgb = native_pixels(&fixture("pydicom-data/SC_rgb.dcm"));
    let (label, pixels) = decoded(&fixture("pydicom/SC_rgb_dcmtk_+eb+cy+n1.dcm"));
    assert_eq!(label, "RGB");
    let diff = mean_abs_diff(&pixels, &sc_rgb);
    assert!(
        diff < 3.0,
        "SC_rgb JPEG baseline differs by {diff} on average"
    );
    // Lossy JPEG in YBR_FULL_422 (an ultrasound clip): RGB, whole resolution.
    let clip = fixture("pydicom/examples_ybr_color.dcm");
    let (label, pixels) = decoded(&clip);
    assert_eq!(label, "RGB");
    let frames = int(&clip, tags::NUMBER_OF_FRAMES);
    assert_eq!(
        pixels.len(),
        frames * int(&clip, tags::ROWS) * int(&clip, tags::COLUMNS) * 3
    );
}

#[test]
fn colour_coded_as_it_is_keeps_its_label() {
    // JPEG lossless of YBR_FULL samples (DCMTK dcmcjpeg) codes them as they
    // are, and would keep its label; jpeg-decoder 0.3 refuses the file (each
    // component names a quantization table, which lossless coding does not
    // use): a clear error, never a wrong image.
    let jpll = fixture("derived/SC_ybr_full_jpll.dcm");
    match transcode(&jpll, Target::Explicit) {
        Err(e) => assert!(e.to_string().contains("quantization table"), "{e}"),
        Ok(out) => {
            // A decoder that reads it must give the samples as they are.
            assert_eq!(photometric(&out), "YBR_FULL");
            let reference = native_pixels(&fixture("pydicom-data/SC_ybr_full_uncompressed.dcm"));
            assert!(native_pixels(&out) == reference);
        }
    }
    // RLE of RGB (NEMA).
    let (label, pixels) = decoded(&fixture("nema-wg04/US1_RLE.dcm"));
    assert_eq!(label, "RGB");
    assert!(pixels == native_pixels(&fixture("nema-wg04/US1_UNC.dcm")));
    // Palette colour from RLE: indices, with the palette kept.
    let (label, _) = decoded(&fixture("pydicom-data/OBXXXX1A_rle.dcm"));
    assert_eq!(label, "PALETTE COLOR");
}
