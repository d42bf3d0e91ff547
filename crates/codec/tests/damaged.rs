//! Damaged encapsulated pixel data — wrong fragment counts, truncated or
//! garbled codestreams, lying item lengths, attributes that disagree with
//! the codestream — decoded through `transcode(.., Target::Explicit)`, the
//! path the archive hands pixels out by. Each case must give an error, or
//! (for damage that loses nothing) exactly the original pixels: never a
//! panic, never a wrong image.

use std::path::PathBuf;

use dicom_core::value::{PixelFragmentSequence, Value};
use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::DefaultDicomObject;
use sansfilm_codec::transcode::{Target, transcode};

fn fixture(rel: &str) -> DefaultDicomObject {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fixtures/dicom")
        .join(rel);
    dicom_object::open_file(path).unwrap()
}

fn fragments(obj: &DefaultDicomObject) -> (Vec<u32>, Vec<Vec<u8>>) {
    match obj.element(tags::PIXEL_DATA).unwrap().value() {
        Value::PixelSequence(seq) => (seq.offset_table().to_vec(), seq.fragments().to_vec()),
        _ => panic!("not encapsulated"),
    }
}

fn with_fragments(
    obj: &DefaultDicomObject,
    table: Vec<u32>,
    frags: Vec<Vec<u8>>,
) -> DefaultDicomObject {
    let mut out = obj.clone();
    out.put(DataElement::new(
        tags::PIXEL_DATA,
        VR::OB,
        Value::PixelSequence(PixelFragmentSequence::new(table, frags)),
    ));
    out
}

fn with_attr(
    obj: &DefaultDicomObject,
    tag: Tag,
    vr: VR,
    value: PrimitiveValue,
) -> DefaultDicomObject {
    let mut out = obj.clone();
    out.put(DataElement::new(tag, vr, value));
    out
}

/// Every damaged variant of an encapsulated object, named.
fn damaged_variants(obj: &DefaultDicomObject) -> Vec<(String, DefaultDicomObject)> {
    let (table, frags) = fragments(obj);
    let n = frags.len();
    let mut out = vec![];
    let mut fewer = frags.clone();
    fewer.pop();
    let fewer_table = table.iter().take(n.saturating_sub(1)).copied().collect();
    out.push((
        "one fragment missing".into(),
        with_fragments(obj, fewer_table, fewer),
    ));
    out.push((
        "no fragment at all".into(),
        with_fragments(obj, vec![], vec![]),
    ));
    let mut extra = frags.clone();
    extra.push(frags[0].clone());
    out.push((
        "one fragment too many".into(),
        with_fragments(obj, vec![], extra),
    ));
    out.push((
        "offset table pointing past the end".into(),
        with_fragments(
            obj,
            table.iter().map(|o| o + 1_000_000).collect(),
            frags.clone(),
        ),
    ));
    if table.len() > 1 {
        let mut reversed = table.clone();
        reversed.reverse();
        out.push((
            "offset table in the wrong order".into(),
            with_fragments(obj, reversed, frags.clone()),
        ));
    }
    for (what, cut) in [
        ("empty", 0),
        ("cut to 2 bytes", 2),
        ("cut in half", frags[0].len() / 2),
        ("last 2 bytes cut", frags[0].len() - 2),
    ] {
        let mut f = frags.clone();
        f[0].truncate(cut);
        out.push((
            format!("first codestream {what}"),
            with_fragments(obj, table.clone(), f),
        ));
    }
    let mut garbled = frags.clone();
    let len = garbled[0].len();
    for b in &mut garbled[0][len / 3..len / 3 + 16] {
        *b ^= 0x5A;
    }
    out.push((
        "first codestream garbled in the middle".into(),
        with_fragments(obj, table.clone(), garbled),
    ));
    let mut header = frags.clone();
    for b in &mut header[0][2..40.min(len)] {
        *b = 0xFF;
    }
    out.push((
        "first codestream header overwritten".into(),
        with_fragments(obj, table.clone(), header),
    ));
    let frames = obj
        .element(tags::NUMBER_OF_FRAMES)
        .ok()
        .and_then(|e| e.to_int::<u32>().ok())
        .unwrap_or(1);
    for (what, value) in [
        ("one more", frames + 1),
        ("a billion", 1_000_000_000),
        ("zero", 0),
    ] {
        out.push((
            format!("Number of Frames: {what}"),
            with_attr(
                obj,
                tags::NUMBER_OF_FRAMES,
                VR::IS,
                PrimitiveValue::from(value.to_string()),
            ),
        ));
    }
    let rows: u16 = obj.element(tags::ROWS).unwrap().to_int().unwrap();
    let columns: u16 = obj.element(tags::COLUMNS).unwrap().to_int().unwrap();
    for (what, r, c) in [
        ("Rows one more", rows + 1, columns),
        ("Rows one less", rows - 1, columns),
        ("Columns doubled", rows, columns * 2),
        ("Rows and Columns 65535", 65535, 65535),
        ("Rows 0", 0, columns),
    ] {
        let o = with_attr(obj, tags::ROWS, VR::US, PrimitiveValue::from(r));
        out.push((
            what.to_string(),
            with_attr(&o, tags::COLUMNS, VR::US, PrimitiveValue::from(c)),
        ));
    }
    // Fewer bits allocated than the codestream's precision (16-bit sources),
    // or more bits stored than allocated (8-bit ones).
    let bits: u16 = obj.element(tags::BITS_ALLOCATED).unwrap().to_int().unwrap();
    let (tag, value) = if bits == 16 {
        (tags::BITS_ALLOCATED, 8u16)
    } else {
        (tags::BITS_STORED, 12u16)
    };
    out.push((
        "fewer bits allocated than stored".into(),
        with_attr(obj, tag, VR::US, PrimitiveValue::from(value)),
    ));
    let samples: u16 = obj
        .element(tags::SAMPLES_PER_PIXEL)
        .unwrap()
        .to_int()
        .unwrap();
    out.push((
        "Samples per Pixel changed".into(),
        with_attr(
            obj,
            tags::SAMPLES_PER_PIXEL,
            VR::US,
            PrimitiveValue::from(if samples == 1 { 3u16 } else { 1 }),
        ),
    ));
    out
}

fn pixel_bytes(obj: &DefaultDicomObject) -> Vec<u8> {
    obj.element(tags::PIXEL_DATA)
        .unwrap()
        .to_bytes()
        .unwrap()
        .to_vec()
}

fn check(source: &str) {
    let original = fixture(source);
    let mut report = vec![];
    for target in [Target::JpegLs, Target::Jpeg2000, Target::Rle] {
        let encoded = transcode(&original, target).unwrap();
        // The undamaged file's pixels (verified equal to the original's).
        let reference = pixel_bytes(&transcode(&encoded, Target::Explicit).unwrap());
        for (what, obj) in damaged_variants(&encoded) {
            let outcome = match transcode(&obj, Target::Explicit) {
                Err(e) => format!("error: {e}"),
                // Entropy-coded data carries no checksum: garbled bytes
                // may decode to another image of the right size. That is
                // the archive's SHA-256 to catch (`sansfilm verify`); here
                // it must only not crash.
                Ok(_) if what.contains("garbled") => "decoded, unchecked".to_string(),
                Ok(out) => {
                    let got = pixel_bytes(&out);
                    if got == reference {
                        "ok: the original pixels".to_string()
                    } else {
                        format!("WRONG IMAGE: {} bytes", got.len())
                    }
                }
            };
            report.push(format!("{source} {} / {what}: {outcome}", target.name()));
        }
    }
    println!("{}", report.join("\n"));
    let wrong: Vec<&String> = report.iter().filter(|l| l.contains("WRONG")).collect();
    assert!(wrong.is_empty(), "{wrong:#?}");
}

#[test]
fn damaged_multi_frame_monochrome() {
    check("pydicom-data/emri_small.dcm");
}

#[test]
fn damaged_colour() {
    check("pydicom/SC_rgb_small_odd.dcm");
}

/// Not damage: a JPEG-LS codestream of 8 bits or fewer in an image with 16
/// bits allocated (as an encoder taking Bits Stored for its precision
/// writes it) decodes to 16-bit samples with the same values.
#[test]
fn narrow_jpeg_ls_samples_are_widened_to_the_bits_allocated() {
    let eight = fixture("pydicom-data/JLSL_08_07_0_1F.dcm");
    let values = pixel_bytes(&transcode(&eight, Target::Explicit).unwrap());
    let sixteen = with_attr(
        &eight,
        tags::BITS_ALLOCATED,
        VR::US,
        PrimitiveValue::from(16u16),
    );
    let widened = pixel_bytes(&transcode(&sixteen, Target::Explicit).unwrap());
    let expected: Vec<u8> = values.iter().flat_map(|&v| [v, 0]).collect();
    assert_eq!(widened, expected);
}
