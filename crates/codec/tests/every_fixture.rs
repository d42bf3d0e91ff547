//! Every image of `fixtures/dicom` with a known pixel checksum, through every
//! lossless target: the result decodes (dicom-pixeldata) to pixels whose MD5
//! is the one in the fixtures MANIFEST (computed by pydicom, an independent
//! decoder), or the codec declines the image for a stated reason. A
//! verification failure is a test failure.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use dicom_dictionary_std::tags;
use dicom_pixeldata::PixelDecoder;
use md5::{Digest, Md5};
use sansfilm_codec::Error;
use sansfilm_codec::transcode::{Target, is_native, transcode};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fixtures")
}

/// File (relative to fixtures/) → pixel MD5, from the MANIFEST's tables.
fn manifest_md5s() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(root().join("MANIFEST.md")).unwrap();
    let mut dir = String::new();
    let mut out = BTreeMap::new();
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("## ") {
            dir = rest.split_whitespace().next().unwrap_or("").to_string();
            continue;
        }
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 9 || !cells[1].starts_with('`') {
            continue;
        }
        let file = cells[1].trim_matches('`');
        let md5 = cells[7].trim_matches('`');
        if md5.len() == 32 && md5.chars().all(|c| c.is_ascii_hexdigit()) {
            out.insert(format!("{dir}{file}"), md5.to_string());
        }
    }
    out
}

/// Decoded pixels, interleaved, little-endian: the layout the MANIFEST's
/// checksums are computed over.
fn decoded_md5(obj: &dicom_object::DefaultDicomObject) -> String {
    let decoded = obj.decode_pixel_data().unwrap();
    let mut data = decoded.data().to_vec();
    let samples = decoded.samples_per_pixel() as usize;
    if samples > 1
        && decoded.planar_configuration() == dicom_pixeldata::PlanarConfiguration::PixelFirst
    {
        let bps = decoded.bits_allocated() as usize / 8;
        let pixels = decoded.rows() as usize * decoded.columns() as usize;
        let frame = pixels * samples * bps;
        let mut out = vec![0u8; data.len()];
        for (f, chunk) in data.chunks(frame).enumerate() {
            for s in 0..samples {
                for p in 0..pixels {
                    let from = (s * pixels + p) * bps;
                    let to = f * frame + (p * samples + s) * bps;
                    out[to..to + bps].copy_from_slice(&chunk[from..from + bps]);
                }
            }
        }
        data = out;
    }
    let l = sansfilm_codec::image::ImageLayout::of(obj).unwrap();
    if l.signed && l.bits_stored < l.bits_allocated {
        // pydicom returns signed samples sign-extended.
        let bps = l.bits_allocated / 8;
        for chunk in data.chunks_exact_mut(bps) {
            let mut v = 0u32;
            for (i, b) in chunk.iter().enumerate() {
                v |= u32::from(*b) << (8 * i);
            }
            let shift = 32 - l.bits_stored;
            let e = (((v << shift) as i32) >> shift) as u32;
            chunk.copy_from_slice(&e.to_le_bytes()[..bps]);
        }
    }
    format!("{:x}", Md5::digest(&data))
}

fn photometric(obj: &dicom_object::DefaultDicomObject) -> String {
    obj.get(tags::PHOTOMETRIC_INTERPRETATION)
        .and_then(|e| e.to_str().ok())
        .map(|s| s.trim().to_string())
        .unwrap_or_default()
}

fn md5_of_native(obj: &dicom_object::DefaultDicomObject) -> String {
    let image = sansfilm_codec::image::NativeImage::of(obj).unwrap();
    format!("{:x}", Md5::digest(&*image.interleaved()))
}

const SKIP: [&str; 1] = [
    // dicom-rs reads its UN sequence as a 3.7 GB value (see tests/common of the binary).
    "dicom/pydicom/UN_sequence.dcm",
];

/// Lossless inputs dicom-pixeldata 0.10 cannot decode.
const UNDECODABLE: [&str; 2] = [
    // RLE with 32 bits allocated: the adapter handles 8 and 16 only.
    "dicom/pydicom/SC_rgb_rle_32bit_2frame.dcm",
    // JPEG lossless of three components as DCMTK and GDCM write it (each
    // component names its own quantization table, unused in lossless coding):
    // jpeg-decoder 0.3 refuses "invalid quantization table index 1".
    "dicom/derived/SC_ybr_full_jpll.dcm",
];

#[test]
fn every_lossless_target_gives_the_reference_pixels() {
    let md5s = manifest_md5s();
    assert!(md5s.len() > 50, "MANIFEST read: {} checksums", md5s.len());
    let mut encoded = BTreeMap::<&str, usize>::new();
    let mut declined = Vec::new();
    let mut failures = Vec::new();
    for (rel, want) in &md5s {
        if SKIP.contains(&rel.as_str()) {
            continue;
        }
        let path: &Path = &root().join(rel);
        let Ok(obj) = dicom_object::open_file(path) else {
            continue;
        };
        if obj.get(tags::PIXEL_DATA).is_none() {
            continue;
        }
        let ts = obj.meta().transfer_syntax().to_string();
        let native = if is_native(&ts) {
            obj
        } else if [
            "1.2.840.10008.1.2.4.90",
            "1.2.840.10008.1.2.4.80",
            "1.2.840.10008.1.2.4.70",
            "1.2.840.10008.1.2.4.57",
            "1.2.840.10008.1.2.5",
        ]
        .contains(&ts.as_str())
        {
            // Lossless input, written by other toolkits: decoded first (the
            // archive would not touch it), to the MANIFEST's pixels.
            match transcode(&obj, Target::Explicit) {
                Ok(o) => {
                    let got = decoded_md5(&o);
                    if &got != want && photometric(&o) != "YBR_FULL" {
                        failures.push(format!("{rel} decoded: MD5 {got}, MANIFEST {want}"));
                    }
                    o
                }
                Err(e) if UNDECODABLE.contains(&rel.as_str()) => {
                    declined.push(format!("{rel}: cannot decode the input: {e}"));
                    continue;
                }
                Err(e) => {
                    failures.push(format!("{rel}: cannot decode the input: {e}"));
                    continue;
                }
            }
        } else {
            continue; // lossy: never re-encoded
        };
        // pydicom gives native YBR_FULL converted to RGB: the reference is
        // then the original's own bytes.
        let want = if photometric(&native) == "YBR_FULL" {
            &md5_of_native(&native)
        } else {
            want
        };
        for target in [Target::JpegLs, Target::Jpeg2000, Target::Rle] {
            match transcode(&native, target) {
                Ok(out) => {
                    let got = decoded_md5(&out);
                    if &got != want {
                        failures.push(format!(
                            "{rel} → {}: MD5 {got}, MANIFEST {want}",
                            target.name()
                        ));
                    }
                    *encoded.entry(target.name()).or_default() += 1;
                }
                Err(e @ (Error::Unsuitable(_) | Error::Unsupported(_))) => {
                    declined.push(format!("{rel} → {}: {e}", target.name()));
                }
                Err(e) => failures.push(format!("{rel} → {}: {e}", target.name())),
            }
        }
    }
    println!("encoded: {encoded:?}");
    for d in &declined {
        println!("declined: {d}");
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    for target in ["jpegls", "jpeg2000", "rle"] {
        assert!(
            encoded.get(target).copied().unwrap_or(0) >= 90,
            "{encoded:?}"
        );
    }
}
