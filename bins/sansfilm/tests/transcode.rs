//! `sansfilm transcode` as a codec engineer runs it.

mod common;

use common::*;

#[test]
fn rle_output_is_verified_and_compressed_input_refused() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("ct_rle.dcm");
    let input = fixtures().join("nema-wg04/CT1_UNC.dcm");
    let (code, text, err) = sansfilm(&[
        "transcode",
        "--to",
        "rle",
        input.to_str().unwrap(),
        out.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{text}{err}");
    assert!(text.contains("verified"), "{text}");
    let obj = dicom_object::open_file(&out).unwrap();
    assert_eq!(obj.meta().transfer_syntax(), "1.2.840.10008.1.2.5");
    let back = dir.path().join("ct_back.dcm");
    let (code, _, err) = sansfilm(&[
        "transcode",
        "--to",
        "explicit",
        out.to_str().unwrap(),
        back.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{err}");
    let jpeg = fixtures().join("nema-wg04/CT1_JPLL.dcm");
    let (code, _, err) = sansfilm(&[
        "transcode",
        "--to",
        "rle",
        jpeg.to_str().unwrap(),
        dir.path().join("x.dcm").to_str().unwrap(),
    ]);
    assert_eq!(code, 1);
    assert!(err.contains("already compressed"), "{err}");
    assert!(!dir.path().join("x.dcm").exists());
}
