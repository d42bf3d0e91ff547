//! `sansfilm transcode` as a codec engineer runs it.

mod common;

use common::*;

#[test]
fn rle_output_is_verified_and_compressed_input_decoded_first() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ct_rle.dcm");
    let input = fixtures().join("nema-wg04/CT1_UNC.dcm");
    let (code, text, err) = transcode("rle", &input, &out);
    assert_eq!(code, 0, "{text}{err}");
    assert!(text.contains("verified"), "{text}");
    let obj = dicom_object::open_file(&out).unwrap();
    assert_eq!(obj.meta().transfer_syntax(), "1.2.840.10008.1.2.5");
    let back = dir.path().join("ct_back.dcm");
    let (code, _, err) = transcode("explicit", &out, &back);
    assert_eq!(code, 0, "{err}");
    // Compressed input is decoded first: JPEG Lossless to RLE gives the
    // reference pixels.
    let jpeg = fixtures().join("nema-wg04/CT1_JPLL.dcm");
    let x = dir.path().join("x.dcm");
    let (code, _, err) = transcode("rle", &jpeg, &x);
    assert_eq!(code, 0, "{err}");
    use dicom_pixeldata::PixelDecoder;
    let pixels = |p: &std::path::Path| {
        dicom_object::open_file(p)
            .unwrap()
            .decode_pixel_data()
            .unwrap()
            .data()
            .to_vec()
    };
    assert_eq!(
        pixels(&x),
        pixels(&fixtures().join("nema-wg04/CT1_UNC.dcm"))
    );
    // A truncated file: exit 1, nothing written.
    let bytes = std::fs::read(fixtures().join("nema-wg04/CT1_UNC.dcm")).unwrap();
    let cut = dir.path().join("cut.dcm");
    std::fs::write(&cut, &bytes[..bytes.len() / 2]).unwrap();
    let y = dir.path().join("y.dcm");
    let (code, _, err) = transcode("jpegls", &cut, &y);
    assert_eq!(code, 1, "{err}");
    assert!(!y.exists());
}

#[test]
fn a_full_disk_leaves_no_half_written_output() {
    let dir = tempfile::tempdir().unwrap();
    let small = SmallDisk::mount(&dir.path().join("small"), "64k");
    let out = small.0.join("ct.dcm");
    // 512 KiB of decoded pixels cannot fit in 64 KiB.
    let (code, _, err) = transcode("explicit", &fixtures().join("nema-wg04/CT1_JPLL.dcm"), &out);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("ct.dcm"), "the error names the output: {err}");
    let left: Vec<_> = std::fs::read_dir(&small.0).unwrap().collect();
    assert!(left.is_empty(), "nothing left behind: {left:?}");
}
