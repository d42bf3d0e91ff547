//! The archive's query API: what every retrieval path asks the index (C-FIND
//! now; DICOMweb QIDO-RS and the sharing pages next).
//!
//! A [`Query`] names a level (patient, study, series, image) and the
//! matching [`Condition`]s of an identifier (the rules of
//! [`sansfilm_dicom::matching`], shared with the worklist). The index answers
//! from its columns alone, never opening a file: each match comes back as a
//! data set holding every attribute the index keeps for that level and the
//! levels above, and the computed ones:
//!
//! | level | attributes |
//! |---|---|
//! | patient | PatientID, IssuerOfPatientID, PatientName, PatientBirthDate, PatientSex, NumberOfPatientRelatedStudies/Series/Instances |
//! | study | the patient's, and StudyInstanceUID, StudyDate, StudyTime, AccessionNumber, StudyDescription, ReferringPhysicianName, StudyID, InstitutionName, StudyComments, ModalitiesInStudy, SOPClassesInStudy, NumberOfStudyRelatedSeries/Instances |
//! | series | the study's, and SeriesInstanceUID, Modality, SeriesNumber, SeriesDescription, SeriesDate, SeriesTime, BodyPartExamined, PerformingPhysicianName, NumberOfSeriesRelatedInstances |
//! | image | the series', and SOPInstanceUID, SOPClassUID, InstanceNumber, and the stored file's transfer syntax (AvailableTransferSyntaxUID) |
//!
//! Conditions on indexed columns narrow the candidates in SQL; every
//! candidate is then matched in full by the shared rules (person names
//! without regard to case and accents, wildcards, ranges, UID lists), so
//! the SQL is only a filter and never decides alone. Paging (`offset`,
//! `limit`) applies to the matches.

use dicom_core::{DataElement, PrimitiveValue, Tag, VR};
use dicom_dictionary_std::tags;
use dicom_object::InMemDicomObject;
use rusqlite::types::Value as SqlValue;
use sansfilm_dicom::matching::{Condition, Matcher, like_pattern, matches, name_key};

use crate::{Index, Result};

/// A level of the DICOM information model.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    /// Patients.
    Patient,
    /// Studies.
    Study,
    /// Series.
    Series,
    /// Instances (IMAGE in Query/Retrieve Level).
    Image,
}

impl Level {
    /// The level named by a Query/Retrieve Level (0008,0052) value.
    pub fn from_code(code: &str) -> Option<Level> {
        match code.trim().to_ascii_uppercase().as_str() {
            "PATIENT" => Some(Level::Patient),
            "STUDY" => Some(Level::Study),
            "SERIES" => Some(Level::Series),
            "IMAGE" => Some(Level::Image),
            _ => None,
        }
    }

    /// The Query/Retrieve Level value.
    pub fn code(self) -> &'static str {
        match self {
            Level::Patient => "PATIENT",
            Level::Study => "STUDY",
            Level::Series => "SERIES",
            Level::Image => "IMAGE",
        }
    }

    /// The unique key of the level.
    pub fn unique_key(self) -> Tag {
        match self {
            Level::Patient => tags::PATIENT_ID,
            Level::Study => tags::STUDY_INSTANCE_UID,
            Level::Series => tags::SERIES_INSTANCE_UID,
            Level::Image => tags::SOP_INSTANCE_UID,
        }
    }
}

/// A query of the index.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Query {
    /// What is looked for.
    pub level: Level,
    /// Every condition must hold (keys of this level and the levels above).
    pub conditions: Vec<Condition>,
    /// Matches skipped before the first returned.
    pub offset: usize,
    /// Most matches returned (0: all).
    pub limit: usize,
}

impl Query {
    /// Every entity of `level`.
    pub fn all(level: Level) -> Query {
        Query {
            level,
            conditions: vec![],
            offset: 0,
            limit: 0,
        }
    }
}

/// One column a key lives in, and how it is read.
struct Column {
    tag: Tag,
    vr: VR,
    sql: &'static str,
}

const fn col(tag: Tag, vr: VR, sql: &'static str) -> Column {
    Column { tag, vr, sql }
}

const PATIENT: &[Column] = &[
    col(tags::PATIENT_ID, VR::LO, "p.patient_id"),
    col(tags::ISSUER_OF_PATIENT_ID, VR::LO, "p.issuer"),
    col(tags::PATIENT_NAME, VR::PN, "p.name"),
    col(tags::PATIENT_BIRTH_DATE, VR::DA, "p.birth_date"),
    col(tags::PATIENT_SEX, VR::CS, "p.sex"),
];

#[allow(deprecated)] // Study Comments: retired, asked by OsiriX and Horos
const STUDY: &[Column] = &[
    col(tags::STUDY_INSTANCE_UID, VR::UI, "st.study_uid"),
    col(tags::STUDY_DATE, VR::DA, "st.study_date"),
    col(tags::STUDY_TIME, VR::TM, "st.study_time"),
    col(tags::ACCESSION_NUMBER, VR::SH, "st.accession_number"),
    col(tags::STUDY_DESCRIPTION, VR::LO, "st.description"),
    col(
        tags::REFERRING_PHYSICIAN_NAME,
        VR::PN,
        "st.referring_physician",
    ),
    col(tags::STUDY_ID, VR::SH, "st.study_id"),
    col(tags::INSTITUTION_NAME, VR::LO, "st.institution_name"),
    col(tags::STUDY_COMMENTS, VR::LT, "st.study_comments"),
];

const SERIES: &[Column] = &[
    col(tags::SERIES_INSTANCE_UID, VR::UI, "se.series_uid"),
    col(tags::MODALITY, VR::CS, "se.modality"),
    col(tags::SERIES_NUMBER, VR::IS, "se.series_number"),
    col(tags::SERIES_DESCRIPTION, VR::LO, "se.description"),
    col(tags::SERIES_DATE, VR::DA, "se.series_date"),
    col(tags::SERIES_TIME, VR::TM, "se.series_time"),
    col(tags::BODY_PART_EXAMINED, VR::CS, "se.body_part"),
    col(
        tags::PERFORMING_PHYSICIAN_NAME,
        VR::PN,
        "se.performing_physician",
    ),
];

const IMAGE: &[Column] = &[
    col(tags::SOP_INSTANCE_UID, VR::UI, "i.sop_instance_uid"),
    col(tags::SOP_CLASS_UID, VR::UI, "i.sop_class_uid"),
    col(tags::INSTANCE_NUMBER, VR::IS, "i.instance_number"),
    col(
        tags::AVAILABLE_TRANSFER_SYNTAX_UID,
        VR::UI,
        "i.transfer_syntax",
    ),
];

/// Computed attributes, with the SQL that counts them for a row of the level.
fn computed(level: Level) -> Vec<Column> {
    let mut out = vec![];
    if level == Level::Patient {
        out.extend([
            col(
                tags::NUMBER_OF_PATIENT_RELATED_STUDIES,
                VR::IS,
                "(SELECT count(*) FROM studies x WHERE x.patient_ref = p.id)",
            ),
            col(
                tags::NUMBER_OF_PATIENT_RELATED_SERIES,
                VR::IS,
                "(SELECT count(*) FROM series x JOIN studies y ON y.id = x.study_ref \
                 WHERE y.patient_ref = p.id)",
            ),
            col(
                tags::NUMBER_OF_PATIENT_RELATED_INSTANCES,
                VR::IS,
                "(SELECT count(*) FROM instances x JOIN series y ON y.id = x.series_ref \
                 JOIN studies z ON z.id = y.study_ref WHERE z.patient_ref = p.id)",
            ),
        ]);
    }
    if level == Level::Study {
        out.extend([
            col(
                tags::MODALITIES_IN_STUDY,
                VR::CS,
                "(SELECT group_concat(DISTINCT x.modality) FROM series x WHERE x.study_ref = st.id)",
            ),
            col(
                tags::SOP_CLASSES_IN_STUDY,
                VR::UI,
                "(SELECT group_concat(DISTINCT x.sop_class_uid) FROM instances x \
                 JOIN series y ON y.id = x.series_ref WHERE y.study_ref = st.id)",
            ),
            col(
                tags::NUMBER_OF_STUDY_RELATED_SERIES,
                VR::IS,
                "(SELECT count(*) FROM series x WHERE x.study_ref = st.id)",
            ),
            col(
                tags::NUMBER_OF_STUDY_RELATED_INSTANCES,
                VR::IS,
                "(SELECT count(*) FROM instances x JOIN series y ON y.id = x.series_ref \
                 WHERE y.study_ref = st.id)",
            ),
        ]);
    }
    if level == Level::Series {
        out.push(col(
            tags::NUMBER_OF_SERIES_RELATED_INSTANCES,
            VR::IS,
            "(SELECT count(*) FROM instances x WHERE x.series_ref = se.id)",
        ));
    }
    out
}

/// The columns of a level: its own and those of the levels above.
fn columns(level: Level) -> Vec<Column> {
    let mut out = vec![];
    for (l, cols) in [
        (Level::Patient, PATIENT),
        (Level::Study, STUDY),
        (Level::Series, SERIES),
        (Level::Image, IMAGE),
    ] {
        if l <= level {
            out.extend(cols.iter().map(|c| col(c.tag, c.vr, c.sql)));
        }
    }
    out.extend(computed(level));
    out
}

fn from_clause(level: Level) -> &'static str {
    match level {
        Level::Patient => "FROM patients p",
        Level::Study => "FROM studies st JOIN patients p ON p.id = st.patient_ref",
        Level::Series => {
            "FROM series se JOIN studies st ON st.id = se.study_ref \
             JOIN patients p ON p.id = st.patient_ref"
        }
        Level::Image => {
            "FROM instances i JOIN series se ON se.id = i.series_ref \
             JOIN studies st ON st.id = se.study_ref JOIN patients p ON p.id = st.patient_ref"
        }
    }
}

fn order_clause(level: Level) -> &'static str {
    match level {
        Level::Patient => "ORDER BY p.id",
        Level::Study => "ORDER BY st.study_date, st.study_time, st.id",
        Level::Series => "ORDER BY se.series_number, se.id",
        Level::Image => "ORDER BY i.instance_number, i.id",
    }
}

/// SQL that narrows the candidates (never wider than the conditions: the
/// full match is made afterwards). Computed columns are not filtered here.
fn prefilter(conditions: &[Condition], cols: &[Column]) -> (String, Vec<SqlValue>) {
    let mut clauses: Vec<String> = vec![];
    let mut args: Vec<SqlValue> = vec![];
    for c in conditions {
        let Some(column) = cols
            .iter()
            .find(|k| k.tag == c.tag && !k.sql.starts_with('('))
        else {
            continue;
        };
        let pn = column.vr == VR::PN;
        // Person names of patients are filtered on their accent-free key.
        let (expr, key): (&str, fn(&str) -> String) = if pn && column.sql == "p.name" {
            ("p.name_key", name_key)
        } else {
            (column.sql, |s: &str| s.to_string())
        };
        match &c.matcher {
            Matcher::Single(_) if pn && expr != "p.name_key" => {}
            Matcher::Single(v) if column.vr != VR::IS => {
                clauses.push(format!("{expr} = ?"));
                args.push(SqlValue::Text(key(v)));
            }
            Matcher::Uids(list) => {
                let marks = vec!["?"; list.len()].join(", ");
                clauses.push(format!("{expr} IN ({marks})"));
                args.extend(list.iter().map(|u| SqlValue::Text(u.clone())));
            }
            Matcher::Wildcard(p) if !pn || expr == "p.name_key" => {
                clauses.push(format!("{expr} LIKE ? ESCAPE '\\'"));
                args.push(SqlValue::Text(like_pattern(&key(p))));
            }
            Matcher::Range(lo, hi) if column.vr == VR::DA => {
                if let Some(lo) = lo {
                    clauses.push(format!("{expr} >= ?"));
                    args.push(SqlValue::Text(lo.clone()));
                }
                if let Some(hi) = hi {
                    clauses.push(format!("{expr} <= ?"));
                    args.push(SqlValue::Text(hi.clone()));
                }
            }
            _ => {}
        }
    }
    let sql = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    (sql, args)
}

impl Index {
    /// The matches of `query`, each a data set of the attributes the index
    /// keeps for its level (see the module documentation).
    ///
    /// Conditions on attributes the index does not keep for that level are
    /// not applied (PS3.4 C.2.2.1: an SCP matches the keys it supports);
    /// [`Index::supports`] tells which.
    pub fn query(&self, query: &Query) -> Result<Vec<InMemDicomObject>> {
        self.query_ordered(query, false)
    }

    /// [`Index::query`], newest first (study date and time, then arrival):
    /// the practice's list of recent studies.
    pub fn query_newest_first(&self, query: &Query) -> Result<Vec<InMemDicomObject>> {
        self.query_ordered(query, true)
    }

    fn query_ordered(&self, query: &Query, newest_first: bool) -> Result<Vec<InMemDicomObject>> {
        let cols = columns(query.level);
        let conditions: Vec<Condition> = query
            .conditions
            .iter()
            .filter(|c| cols.iter().any(|k| k.tag == c.tag))
            .cloned()
            .collect();
        let select: Vec<&str> = cols.iter().map(|c| c.sql).collect();
        let (filter, args) = prefilter(&conditions, &cols);
        let order = if newest_first {
            order_clause(query.level).replace(", ", " DESC, ") + " DESC"
        } else {
            order_clause(query.level).to_string()
        };
        let sql = format!(
            "SELECT {} {} {} {}",
            select.join(", "),
            from_clause(query.level),
            filter,
            order
        );
        self.read(|c| {
            let mut stmt = c.prepare_cached(&sql)?;
            let mut rows = stmt.query(rusqlite::params_from_iter(args))?;
            let mut out = vec![];
            let mut skipped = 0;
            while let Some(row) = rows.next()? {
                let obj = data_set(row, &cols)?;
                if !matches(&obj, &conditions) {
                    continue;
                }
                if skipped < query.offset {
                    skipped += 1;
                    continue;
                }
                out.push(obj);
                if query.limit > 0 && out.len() >= query.limit {
                    break;
                }
            }
            Ok(out)
        })
    }
}

impl Index {
    /// The stored instances that conditions name, at any level (a C-MOVE or
    /// C-GET identifier): matched at image level, in the query's order. An
    /// instance kept in several versions (same UID, other content) is given
    /// once, in its first version.
    pub fn locate(&self, conditions: &[Condition]) -> Result<Vec<crate::StoredInstance>> {
        let images = self.query(&Query {
            level: Level::Image,
            conditions: conditions.to_vec(),
            offset: 0,
            limit: 0,
        })?;
        let mut out = Vec::with_capacity(images.len());
        let mut seen = std::collections::HashSet::new();
        for image in images {
            let uid = image
                .get(tags::SOP_INSTANCE_UID)
                .and_then(|e| e.to_str().ok())
                .map(|s| s.to_string())
                .unwrap_or_default();
            if !seen.insert(uid.clone()) {
                continue;
            }
            if let Some(first) = self.instances_by_uid(&uid)?.into_iter().next() {
                out.push(first);
            }
        }
        Ok(out)
    }

    /// Whether queries at `level` match on `tag` (an attribute of that level
    /// or above that the index keeps, or a computed one).
    pub fn supports(level: Level, tag: Tag) -> bool {
        columns(level).iter().any(|c| c.tag == tag)
    }
}

/// A row as a data set.
fn data_set(row: &rusqlite::Row<'_>, cols: &[Column]) -> rusqlite::Result<InMemDicomObject> {
    let mut obj = InMemDicomObject::new_empty();
    for (i, c) in cols.iter().enumerate() {
        let value: Option<SqlValue> = row.get(i)?;
        let text = match value {
            Some(SqlValue::Text(t)) => t,
            Some(SqlValue::Integer(n)) => n.to_string(),
            Some(SqlValue::Real(f)) => f.to_string(),
            _ => String::new(),
        };
        // group_concat separates with commas; DICOM multiple values with `\`.
        let text = if matches!(
            c.tag,
            tags::MODALITIES_IN_STUDY | tags::SOP_CLASSES_IN_STUDY
        ) {
            text.replace(',', "\\")
        } else {
            text
        };
        obj.put(DataElement::new(c.tag, c.vr, PrimitiveValue::from(text)));
    }
    Ok(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn levels_from_codes() {
        assert_eq!(Level::from_code("STUDY "), Some(Level::Study));
        assert_eq!(Level::from_code("image"), Some(Level::Image));
        assert_eq!(Level::from_code("FRAME"), None);
        assert!(Level::Patient < Level::Image);
    }

    #[test]
    fn prefilter_uses_indexed_columns_only() {
        let cols = columns(Level::Study);
        let c = vec![
            Condition {
                tag: tags::PATIENT_NAME,
                vr: VR::PN,
                matcher: Matcher::Wildcard("müller*".into()),
            },
            Condition {
                tag: tags::MODALITIES_IN_STUDY,
                vr: VR::CS,
                matcher: Matcher::Single("CT".into()),
            },
            Condition {
                tag: tags::STUDY_DATE,
                vr: VR::DA,
                matcher: Matcher::Range(Some("20260101".into()), None),
            },
        ];
        let (sql, args) = prefilter(&c, &cols);
        assert_eq!(
            sql,
            "WHERE p.name_key LIKE ? ESCAPE '\\' AND st.study_date >= ?"
        );
        assert_eq!(
            args,
            vec![
                SqlValue::Text("MULLER%".into()),
                SqlValue::Text("20260101".into())
            ]
        );
    }
}
