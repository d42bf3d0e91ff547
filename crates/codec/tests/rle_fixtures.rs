//! RLE Lossless on real images: verified against dicom-rs's decoder, equal to
//! the NEMA reference RLE files' pixels, and readable by DCMTK's dcmdrle.

use std::path::PathBuf;

use dicom_pixeldata::PixelDecoder;
use sansfilm_codec::Error;
use sansfilm_codec::transcode::{Target, transcode};

fn fixture(rel: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/dicom")
        .join(rel)
}

fn pixels(path: &std::path::Path) -> Vec<u8> {
    dicom_object::open_file(path)
        .unwrap()
        .decode_pixel_data()
        .unwrap()
        .data()
        .to_vec()
}

#[test]
fn nema_images_encode_to_the_reference_pixels() {
    for name in ["CT1", "MR1", "MR2", "NM1", "RG3", "US1"] {
        let original =
            dicom_object::open_file(fixture(&format!("nema-wg04/{name}_UNC.dcm"))).unwrap();
        let rle = transcode(&original, Target::Rle).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(rle.meta().transfer_syntax(), "1.2.840.10008.1.2.5");
        let ours = rle.decode_pixel_data().unwrap().data().to_vec();
        let reference = pixels(&fixture(&format!("nema-wg04/{name}_RLE.dcm")));
        assert_eq!(ours.len(), reference.len(), "{name}");
        assert!(
            ours == reference,
            "{name}: pixels differ from the NEMA RLE reference"
        );
        // Every other element is untouched.
        for e in original
            .iter()
            .filter(|e| e.header().tag != dicom_dictionary_std::tags::PIXEL_DATA)
        {
            assert_eq!(
                rle.get(e.header().tag).map(|x| x.value()),
                Some(e.value()),
                "{name} {}",
                e.header().tag
            );
        }
    }
}

#[test]
fn small_signed_odd_and_colour_images_round_trip() {
    for f in [
        "pydicom/MR_small.dcm",
        "pydicom/SC_rgb_small_odd.dcm",
        "pydicom/CT_small.dcm",
        "pydicom-data/SC_rgb.dcm",
    ] {
        let original = dicom_object::open_file(fixture(f)).unwrap();
        let rle = transcode(&original, Target::Rle).unwrap_or_else(|e| panic!("{f}: {e}"));
        let back = transcode(&rle, Target::Explicit).unwrap();
        // Odd-length pixel data carries one padding byte in the original.
        let l = sansfilm_codec::image::ImageLayout::of(&original).unwrap();
        let len = l.rows * l.columns * l.samples * l.bits_allocated / 8 * l.frames;
        assert_eq!(pixels_of(&back)[..len], pixels_of(&original)[..len], "{f}");
    }
}

fn pixels_of(obj: &dicom_object::DefaultDicomObject) -> Vec<u8> {
    obj.decode_pixel_data().unwrap().data().to_vec()
}

#[test]
fn compressed_input_is_refused_not_recompressed() {
    let jpeg = dicom_object::open_file(fixture("nema-wg04/CT1_JPLL.dcm")).unwrap();
    assert!(matches!(
        transcode(&jpeg, Target::Rle),
        Err(Error::Unsupported(_))
    ));
}

#[test]
fn dcmtk_decodes_what_we_encode() {
    let found = std::process::Command::new("sh")
        .args(["-c", "command -v dcmdrle"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        found,
        "dcmdrle (DCMTK) must be installed: run the README's test command"
    );
    let dir = tempfile::tempdir().unwrap();
    for name in ["CT1", "US1"] {
        let original =
            dicom_object::open_file(fixture(&format!("nema-wg04/{name}_UNC.dcm"))).unwrap();
        let rle = transcode(&original, Target::Rle).unwrap();
        let ours = dir.path().join(format!("{name}_ours_rle.dcm"));
        rle.write_to_file(&ours).unwrap();
        let decoded = dir.path().join(format!("{name}_dcmtk.dcm"));
        let out = std::process::Command::new("dcmdrle")
            .arg(&ours)
            .arg(&decoded)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{name}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            pixels(&decoded) == pixels_of(&original),
            "{name}: DCMTK decodes other pixels"
        );
    }
}
