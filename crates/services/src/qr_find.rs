//! Query/Retrieve C-FIND: Patient Root and Study Root, every level, answered
//! from the archive's query API.
//!
//! The identifier's Query/Retrieve Level (0008,0052) chooses the level
//! (PATIENT only in Patient Root); every other key with a value is matched
//! by the rules shared with the worklist, keys the index does not keep are
//! returned empty. Matching is hierarchical in what it requires (the level
//! and its unique keys above) and tolerant in what it accepts: keys of other
//! levels are matched too, as viewers send them whatever was negotiated.
//! Answers are shaped by the calling AE's profile (`[worklist.profiles]`:
//! character set, case, lengths), so an old workstation gets ASCII as the
//! modalities do. Every query is recorded in the audit trail (DICOM Query)
//! before its answers are sent.

use dicom_core::{DataElement, PrimitiveValue, VR};
use dicom_dictionary_std::{tags, uids};
use dicom_object::InMemDicomObject;
use sansfilm_archive::{Archive, Level, Query};
use sansfilm_audit::AuditLog;
use sansfilm_dimse::{Failure, FindContext, FindService, status};
use sansfilm_worklist::{WorklistConfig, respond};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `[query]`: Query/Retrieve answers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct QueryConfig {
    /// Most answers to one C-FIND (0: no limit); a query matching more gets
    /// the first ones and a warning in the log.
    pub max_answers: usize,
}

impl Default for QueryConfig {
    fn default() -> Self {
        QueryConfig { max_answers: 1000 }
    }
}

/// The Query/Retrieve C-FIND service over an [`Archive`].
#[derive(Debug, Clone)]
pub struct QrFind {
    archive: Archive,
    config: QueryConfig,
    profiles: Arc<WorklistConfig>,
    ae_title: String,
    audit: Option<AuditLog>,
}

impl QrFind {
    /// A find service over `archive`; answers are shaped by the calling AE's
    /// profile from `profiles`, and name `ae_title` as where to retrieve.
    pub fn new(
        archive: Archive,
        config: QueryConfig,
        profiles: Arc<WorklistConfig>,
        ae_title: String,
        audit: Option<AuditLog>,
    ) -> Self {
        QrFind {
            archive,
            config,
            profiles,
            ae_title,
            audit,
        }
    }

    /// The answers to `identifier` under the query model `sop_class_uid`,
    /// for a peer calling as `calling_ae`.
    pub fn answers(
        &self,
        sop_class_uid: &str,
        calling_ae: &str,
        identifier: &InMemDicomObject,
    ) -> Result<Vec<InMemDicomObject>, Failure> {
        let refuse =
            |comment: String| Failure::new(status::DATASET_DOES_NOT_MATCH_SOP_CLASS, comment);
        let code = identifier
            .get(tags::QUERY_RETRIEVE_LEVEL)
            .and_then(|e| e.to_str().ok())
            .map(|s| s.trim().to_string())
            .unwrap_or_default();
        let level = Level::from_code(&code).ok_or_else(|| {
            refuse(format!(
                "Query/Retrieve Level (0008,0052) {code:?} is not PATIENT, STUDY, SERIES or IMAGE"
            ))
        })?;
        if level == Level::Patient
            && sop_class_uid == uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND
        {
            return Err(refuse(
                "PATIENT level is not part of the Study Root model".into(),
            ));
        }
        let mut keys = identifier.clone();
        keys.remove_element(tags::QUERY_RETRIEVE_LEVEL);
        keys.remove_element(tags::RETRIEVE_AE_TITLE);
        let conditions = sansfilm_dicom::matching::conditions(&keys)
            .map_err(|e| Failure::new(e.status, e.comment))?;
        let query = Query {
            level,
            conditions,
            offset: 0,
            limit: self.config.max_answers,
        };
        let matches = self.archive.index().query(&query).map_err(|e| {
            Failure::new(status::OUT_OF_RESOURCES, format!("index unavailable: {e}"))
        })?;
        if self.config.max_answers > 0 && matches.len() >= self.config.max_answers {
            tracing::warn!(
                calling_ae,
                limit = self.config.max_answers,
                level = level.code(),
                "query hit the answer limit ([query] max_answers)"
            );
        }
        let profile = self.profiles.profile_for(calling_ae);
        Ok(matches
            .into_iter()
            .map(|mut entry| {
                entry.put(DataElement::new(
                    tags::QUERY_RETRIEVE_LEVEL,
                    VR::CS,
                    PrimitiveValue::from(level.code()),
                ));
                entry.put(DataElement::new(
                    tags::RETRIEVE_AE_TITLE,
                    VR::AE,
                    PrimitiveValue::from(self.ae_title.as_str()),
                ));
                let mut answer = respond::answer(&entry, identifier, profile);
                // The level is always answered, even when not asked.
                answer.put(DataElement::new(
                    tags::QUERY_RETRIEVE_LEVEL,
                    VR::CS,
                    PrimitiveValue::from(level.code()),
                ));
                answer
            })
            .collect())
    }
}

impl FindService for QrFind {
    fn sop_classes(&self) -> Vec<String> {
        vec![
            uids::PATIENT_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND.to_string(),
            uids::STUDY_ROOT_QUERY_RETRIEVE_INFORMATION_MODEL_FIND.to_string(),
        ]
    }

    fn find(
        &self,
        ctx: &FindContext,
        identifier: &InMemDicomObject,
    ) -> Result<Vec<InMemDicomObject>, Failure> {
        let answers = self.answers(&ctx.sop_class_uid, &ctx.calling_ae, identifier);
        if let Some(log) = &self.audit {
            crate::audit::record_query(log, "Query/Retrieve", ctx, identifier, &answers)?;
        }
        answers
    }
}
