//! Criterion benches of the codecs on the NEMA WG04 images and a mammogram:
//! encode to file bytes (with the verification of those bytes, as the archive
//! always does) and decode, in
//! MB/s of native pixels, and the compression ratio of each target.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dicom_core::value::Value;
use dicom_dictionary_std::tags;
use sansfilm_benches::fixtures_dir;
use sansfilm_codec::transcode::{Target, transcode, transcode_to_file_bytes};

/// The images: NEMA WG04 references, and a GE digital mammogram
/// (2394×3062, 12 bits; stored as JPEG Lossless, decoded once here).
const IMAGES: [&str; 7] = ["CT1", "MR1", "MR2", "NM1", "RG3", "US1", "MG"];

fn load(name: &str) -> dicom_object::DefaultDicomObject {
    if name == "MG" {
        let jpeg = dicom_object::open_file(fixtures_dir().join("fo-dicom/GH133.dcm")).unwrap();
        return transcode(&jpeg, Target::Explicit).unwrap();
    }
    dicom_object::open_file(fixtures_dir().join(format!("nema-wg04/{name}_UNC.dcm"))).unwrap()
}

fn encoded_len(obj: &dicom_object::DefaultDicomObject) -> usize {
    match obj.element(tags::PIXEL_DATA).unwrap().value() {
        Value::PixelSequence(s) => s.fragments().iter().map(|f| f.len()).sum(),
        v => v.to_bytes().unwrap().len(),
    }
}

fn benches(c: &mut Criterion) {
    for target in [Target::JpegLs, Target::Jpeg2000, Target::Rle] {
        let mut group = c.benchmark_group(target.name());
        group.sample_size(10);
        let (mut native_total, mut encoded_total) = (0usize, 0usize);
        for name in IMAGES {
            let original = load(name);
            let native = encoded_len(&original);
            let encoded = transcode(&original, target).unwrap();
            let len = encoded_len(&encoded);
            native_total += native;
            encoded_total += len;
            println!(
                "{name}: {} ratio {:.2} ({native} -> {len} bytes)",
                target.name(),
                native as f64 / len as f64
            );
            group.throughput(Throughput::Bytes(native as u64));
            // What the archive's compression pass does per instance: encode,
            // serialise, parse back, decode, compare.
            group.bench_function(format!("encode+verify/{name}"), |b| {
                b.iter(|| transcode_to_file_bytes(&original, target).unwrap())
            });
            // What handing the pixels out costs: decoding with the checks
            // against the data set (and RLE's second decoder).
            group.bench_function(format!("decode/{name}"), |b| {
                b.iter(|| transcode(&encoded, Target::Explicit).unwrap())
            });
        }
        println!(
            "{}: overall ratio {:.2} over {} images",
            target.name(),
            native_total as f64 / encoded_total as f64,
            IMAGES.len()
        );
        group.finish();
    }
}

criterion_group!(codec, benches);
criterion_main!(codec);
