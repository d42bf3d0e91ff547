//! The archive's compression pass as the services run it: in the background
//! of `storescp` and `sansfilm serve` at an interval, and at once from
//! `sansfilm compress`; each compressed study recorded in the audit trail
//! (DICOM Instances Accessed, action Update).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sansfilm_archive::{Archive, CompressReport, CompressionPolicy};
use sansfilm_audit::event::{Action, EventKind, Outcome};
use sansfilm_audit::{AuditEvent, AuditLog};
use serde::{Deserialize, Serialize};
use tokio_util::sync::CancellationToken;

/// `[compression]`: the policy, and when the background pass runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CompressionConfig {
    /// Run the pass in the background of the servers.
    pub enabled: bool,
    /// Minutes between background passes.
    pub interval_minutes: u64,
    /// Target: `jpegls` (default: best ratio and fastest, see the README),
    /// `jpeg2000` or `rle`.
    pub target: String,
    /// Modalities left as received.
    pub skip_modalities: Vec<String>,
    /// SOP Class UIDs left as received.
    pub skip_sop_classes: Vec<String>,
    /// Instances younger than this stay as received (minutes).
    pub min_age_minutes: u64,
    /// Worker threads; 0 = one per core.
    pub threads: usize,
}

impl Default for CompressionConfig {
    fn default() -> Self {
        let p = CompressionPolicy::default();
        CompressionConfig {
            enabled: true,
            interval_minutes: 60,
            target: p.target,
            skip_modalities: p.skip_modalities,
            skip_sop_classes: p.skip_sop_classes,
            min_age_minutes: p.min_age_minutes,
            threads: p.threads,
        }
    }
}

impl CompressionConfig {
    /// The archive's policy.
    pub fn policy(&self) -> CompressionPolicy {
        CompressionPolicy {
            target: self.target.clone(),
            skip_modalities: self.skip_modalities.clone(),
            skip_sop_classes: self.skip_sop_classes.clone(),
            min_age_minutes: self.min_age_minutes,
            threads: self.threads,
        }
    }
}

/// Runs one pass (blocking) and audits it: one Instances Accessed event per
/// study whose instances were replaced by compressed versions.
pub fn run_pass(
    archive: &Archive,
    policy: &CompressionPolicy,
    audit: Option<&AuditLog>,
    stop: &AtomicBool,
    progress: impl Fn(u64, u64) + Sync,
) -> sansfilm_archive::Result<CompressReport> {
    let report = archive.compress(policy, stop, progress)?;
    if let Some(log) = audit {
        let mut studies: BTreeMap<(&str, &str), u32> = BTreeMap::new();
        for d in &report.done {
            *studies
                .entry((d.study_uid.as_str(), d.patient_id.as_str()))
                .or_default() += 1;
        }
        for ((study, patient), n) in studies {
            let event = AuditEvent::new(
                EventKind::InstancesAccessed,
                "compression",
                Action::Update,
                Outcome::Success,
            )
            .participant("sansfilm", crate::audit::host(), true)
            .patient(patient)
            .study(study)
            .instances(n)
            .detail(format!(
                "lossless compression to {}, verified bit for bit",
                policy.target
            ));
            if let Err(e) = log.append(event) {
                tracing::error!("cannot audit a compression: {e}");
            }
        }
    }
    Ok(report)
}

/// Runs the pass every `interval_minutes` until `stop` is cancelled; a pass
/// in progress ends after the instances in hand.
pub async fn run_background(
    archive: Archive,
    config: Arc<CompressionConfig>,
    audit: Option<AuditLog>,
    stop: CancellationToken,
) {
    if !config.enabled {
        return;
    }
    let policy = config.policy();
    if let Err(e) = policy.target() {
        tracing::error!("background compression disabled: {e}");
        return;
    }
    loop {
        let flag = Arc::new(AtomicBool::new(false));
        let (a, p, l, f) = (archive.clone(), policy.clone(), audit.clone(), flag.clone());
        let mut pass =
            tokio::task::spawn_blocking(move || run_pass(&a, &p, l.as_ref(), &f, |_, _| {}));
        let result = tokio::select! {
            r = &mut pass => r,
            _ = stop.cancelled() => {
                flag.store(true, Ordering::Relaxed);
                pass.await
            }
        };
        match result {
            Ok(Ok(r)) if r.candidates > 0 => tracing::info!(
                compressed = r.compressed,
                declined = r.declined,
                failed = r.failed,
                ratio = format!("{:.2}", r.ratio()),
                "compression pass done"
            ),
            Ok(Ok(_)) => {}
            Ok(Err(e @ sansfilm_archive::Error::Busy(_))) => {
                tracing::info!("compression pass skipped: {e}")
            }
            Ok(Err(e)) => tracing::error!("compression pass failed: {e}"),
            Err(e) => tracing::error!("compression pass crashed: {e}"),
        }
        if stop.is_cancelled() {
            return;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_secs(config.interval_minutes.max(1) * 60)) => {}
            _ = stop.cancelled() => return,
        }
    }
}
