//! Criterion benches of the audit trail: durable appends, one caller and
//! eight concurrent callers (as eight associations storing at once).

use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use sansfilm_audit::event::{Action, EventKind, Outcome};
use sansfilm_audit::{AuditEvent, AuditLog};

fn event(n: u64) -> AuditEvent {
    AuditEvent::new(
        EventKind::InstancesTransferred,
        "received",
        Action::Create,
        Outcome::Success,
    )
    .participant("CT01", "192.168.10.21", true)
    .participant("SANSFILM", "", false)
    .patient(format!("P{}", n % 1000))
    .study(format!("1.2.826.0.1.3680043.10.{}", n % 5000))
    .instances(1)
}

fn benches(c: &mut Criterion) {
    let dir = tempfile::tempdir().unwrap();
    let log = AuditLog::open(dir.path(), None).unwrap();
    let mut group = c.benchmark_group("audit");
    group.throughput(Throughput::Elements(1));
    group.sample_size(10);
    group.bench_function("append/1 caller", |b| {
        let mut n = 0;
        b.iter(|| {
            n += 1;
            log.append(event(n)).unwrap()
        })
    });
    for callers in [8u64, 64] {
        group.bench_function(format!("append/{callers} callers"), |b| {
            b.iter_custom(|iters| {
                let per = iters.div_ceil(callers);
                let start = Instant::now();
                let handles: Vec<_> = (0..callers)
                    .map(|t| {
                        let log = log.clone();
                        std::thread::spawn(move || {
                            for i in 0..per {
                                log.append(event(t * 1_000_000 + i)).unwrap();
                            }
                        })
                    })
                    .collect();
                for h in handles {
                    h.join().unwrap();
                }
                let elapsed = start.elapsed();
                Duration::from_secs_f64(
                    elapsed.as_secs_f64() * iters as f64 / (per * callers) as f64,
                )
            })
        });
    }
    group.bench_function("append_all/100 per call", |b| {
        let mut n = 0;
        b.iter_custom(|iters| {
            let calls = iters.div_ceil(100);
            let start = Instant::now();
            for _ in 0..calls {
                let batch: Vec<_> = (0..100)
                    .map(|_| {
                        n += 1;
                        event(n)
                    })
                    .collect();
                log.append_all(batch).unwrap();
            }
            Duration::from_secs_f64(
                start.elapsed().as_secs_f64() * iters as f64 / (calls * 100) as f64,
            )
        })
    });
    group.finish();
}

criterion_group!(audit, benches);
criterion_main!(audit);
