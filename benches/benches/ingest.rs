//! Criterion benches of the storage path without the network: parsing an
//! instance summary, and a full durable ingest (write, fsync, rename, index).

use std::path::Path;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use sansfilm_archive::{Archive, IncomingMeta};
use sansfilm_benches::{fixtures_dir, synth};
use sansfilm_dicom::{InstanceSummary, part10};

fn dataset(path: &Path) -> (IncomingMeta, Vec<u8>) {
    let bytes = std::fs::read(path).unwrap();
    let (meta, offset) = part10::read_meta(&bytes[..]).unwrap();
    let incoming = IncomingMeta {
        sop_class_uid: meta.media_storage_sop_class_uid().to_string(),
        sop_instance_uid: meta.media_storage_sop_instance_uid().to_string(),
        transfer_syntax: meta.transfer_syntax().to_string(),
        calling_ae: "BENCH".into(),
        called_ae: "SANSFILM".into(),
        max_bytes: None,
    };
    (incoming, bytes[offset as usize..].to_vec())
}

fn benches(c: &mut Criterion) {
    let ct = fixtures_dir().join("nema-wg04/CT1_UNC.dcm");
    let mut group = c.benchmark_group("summary");
    group.bench_function("CT1_UNC", |b| {
        b.iter(|| InstanceSummary::from_file(&ct).unwrap())
    });
    group.finish();

    let work = tempfile::tempdir().unwrap();
    let archive = Archive::open(work.path().join("data")).unwrap();
    let copies = work.path().join("in");
    let size = std::fs::metadata(&ct).unwrap().len();
    let mut group = c.benchmark_group("ingest");
    group.throughput(Throughput::Bytes(size));
    group.sample_size(20);
    group.bench_function("CT 512x512 durable", |b| {
        b.iter_batched(
            // A distinct instance each time (new UIDs), made outside the timing.
            || {
                let path = synth::write_distinct_copies(&ct, &copies, 1).remove(0);
                dataset(&path)
            },
            |(meta, data)| {
                let mut incoming = archive.begin(meta).unwrap();
                incoming.write(&data).unwrap();
                incoming.commit().unwrap()
            },
            BatchSize::SmallInput,
        )
    });
    group.finish();
}

criterion_group!(ingest, benches);
criterion_main!(ingest);
