//! The Modality Worklist C-FIND service over the worklist store.

use std::sync::Arc;

use dicom_dictionary_std::uids::MODALITY_WORKLIST_INFORMATION_MODEL_FIND;
use dicom_object::InMemDicomObject;
use sansfilm_audit::AuditLog;
use sansfilm_dimse::{Failure, FindContext, FindService, status};
use sansfilm_worklist::store::SearchScope;
use sansfilm_worklist::{WorklistConfig, WorklistStore, query, respond};

/// Answers MWL C-FIND from a [`WorklistStore`], shaped by the calling AE's
/// profile.
#[derive(Debug, Clone)]
pub struct WorklistFind {
    store: Arc<WorklistStore>,
    config: Arc<WorklistConfig>,
    audit: Option<AuditLog>,
}

impl WorklistFind {
    /// A find service over `store` with the `[worklist]` configuration; with
    /// `audit`, every query is recorded before its answers are sent.
    pub fn new(
        store: Arc<WorklistStore>,
        config: Arc<WorklistConfig>,
        audit: Option<AuditLog>,
    ) -> Self {
        WorklistFind {
            store,
            config,
            audit,
        }
    }

    /// What a device calling as `calling_ae` receives for `identifier`: what
    /// `sansfilm worklist preview` prints.
    pub fn answers(
        &self,
        calling_ae: &str,
        identifier: &InMemDicomObject,
    ) -> Result<Vec<InMemDicomObject>, Failure> {
        let conditions =
            query::conditions(identifier).map_err(|e| Failure::new(e.status, e.comment))?;
        let profile = self.config.profile_for(calling_ae);
        let scope = SearchScope {
            limit: self.config.max_answers,
            hide_statuses: profile.hide_statuses.clone(),
            station_ae: profile
                .filter_by_station_ae
                .then(|| calling_ae.trim().to_string()),
        };
        let items = self.store.search(&conditions, &scope).map_err(|e| {
            Failure::new(
                status::OUT_OF_RESOURCES,
                format!("worklist unavailable: {e}"),
            )
        })?;
        if self.config.max_answers > 0 && items.len() >= self.config.max_answers {
            tracing::warn!(
                calling_ae,
                limit = self.config.max_answers,
                "worklist query hit the answer limit"
            );
        }
        Ok(items
            .iter()
            .map(|item| respond::answer(&item.to_dataset(), identifier, profile))
            .collect())
    }
}

impl FindService for WorklistFind {
    fn sop_classes(&self) -> Vec<String> {
        vec![MODALITY_WORKLIST_INFORMATION_MODEL_FIND.to_string()]
    }

    fn find(
        &self,
        ctx: &FindContext,
        identifier: &InMemDicomObject,
    ) -> Result<Vec<InMemDicomObject>, Failure> {
        let answers = self.answers(&ctx.calling_ae, identifier);
        if let Some(log) = &self.audit {
            crate::audit::record_query(log, "Modality Worklist", ctx, identifier, &answers)?;
        }
        answers
    }
}

/// The non-empty keys of an identifier (and of its step item), as
/// `Keyword=value` pairs separated by `; `.
pub(crate) fn query_keys(identifier: &InMemDicomObject) -> String {
    use dicom_core::dictionary::{DataDictionary, DataDictionaryEntry};
    use dicom_core::header::Header;
    fn walk(obj: &InMemDicomObject, out: &mut Vec<String>) {
        for e in obj.iter() {
            if let Some(items) = e.items() {
                for item in items {
                    walk(item, out);
                }
            } else if let Ok(v) = e.to_str()
                && !v.trim().is_empty()
                && e.tag() != dicom_dictionary_std::tags::SPECIFIC_CHARACTER_SET
            {
                let name = dicom_dictionary_std::StandardDataDictionary
                    .by_tag(e.tag())
                    .map(|d| d.alias().to_string())
                    .unwrap_or_else(|| e.tag().to_string());
                out.push(format!("{name}={}", v.trim()));
            }
        }
    }
    let mut out = vec![];
    walk(identifier, &mut out);
    out.join("; ")
}
