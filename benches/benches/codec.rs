//! Criterion benches of the codecs on the NEMA WG04 images: encode (with its
//! verification), in MB/s of native pixels, and the compression ratio.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sansfilm_benches::fixtures_dir;
use sansfilm_codec::transcode::{Target, transcode};

fn benches(c: &mut Criterion) {
    let mut group = c.benchmark_group("rle");
    group.sample_size(10);
    for name in ["CT1", "MR1", "MR2", "NM1", "RG3", "US1"] {
        let path = fixtures_dir().join(format!("nema-wg04/{name}_UNC.dcm"));
        let original = dicom_object::open_file(&path).unwrap();
        let native = original
            .element(dicom_dictionary_std::tags::PIXEL_DATA)
            .unwrap()
            .to_bytes()
            .unwrap()
            .len();
        let encoded = transcode(&original, Target::Rle).unwrap();
        let rle_len: usize = match encoded
            .element(dicom_dictionary_std::tags::PIXEL_DATA)
            .unwrap()
            .value()
        {
            dicom_core::value::Value::PixelSequence(s) => {
                s.fragments().iter().map(|f| f.len()).sum()
            }
            _ => unreachable!("RLE is encapsulated"),
        };
        println!(
            "{name}: RLE ratio {:.2} ({native} -> {rle_len} bytes)",
            native as f64 / rle_len as f64
        );
        group.throughput(Throughput::Bytes(native as u64));
        group.bench_function(format!("encode+verify/{name}"), |b| {
            b.iter(|| transcode(&original, Target::Rle).unwrap())
        });
    }
    group.finish();
}

criterion_group!(codec, benches);
criterion_main!(codec);
