//! A DICOM client (SCU): C-ECHO, and C-STORE of files over one or more
//! associations.
//!
//! Files are sent as they are stored: the file meta group is read for the SOP
//! class, instance and transfer syntax, and the data set bytes are streamed from
//! the file in PDUs no larger than the peer accepts. Nothing is transcoded, so a
//! presentation context is proposed for each (SOP class, transfer syntax) pair
//! met in the files.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use dicom_ul::ClientAssociationOptions;
use dicom_ul::association::client::AsyncClientAssociation;
use dicom_ul::pdu::{PDataValue, PDataValueType, Pdu, PresentationContextResultReason};
use tokio::net::TcpStream;

use crate::command::{Command, field};
use crate::outgoing::{self};
use crate::{Error, Result, status};

/// Options of the client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientOptions {
    /// Our AE title.
    pub calling_ae: String,
    /// The peer's AE title.
    pub called_ae: String,
    /// Largest PDU we receive.
    pub max_pdu_length: u32,
    /// Timeout for connecting and for each response.
    pub timeout: Duration,
}

impl Default for ClientOptions {
    fn default() -> Self {
        ClientOptions {
            calling_ae: "SANSFILM-SCU".into(),
            called_ae: "ANY-SCP".into(),
            max_pdu_length: 1024 * 1024,
            timeout: Duration::from_secs(60),
        }
    }
}

/// A file ready to send: what its file meta group says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileToSend {
    /// Path of the Part 10 file.
    pub path: PathBuf,
    /// SOP Class UID.
    pub sop_class_uid: String,
    /// SOP Instance UID.
    pub sop_instance_uid: String,
    /// Transfer syntax of the data set.
    pub transfer_syntax: String,
    /// Where the data set starts in the file.
    pub dataset_offset: u64,
    /// Data set length in bytes.
    pub dataset_len: u64,
}

impl FileToSend {
    /// Reads the file meta group of `path`, and the SOP Class and Instance UIDs
    /// of its data set (up to the pixel data). The data set's UIDs go in the
    /// C-STORE command, as DCMTK and pynetdicom do, so a file whose meta group
    /// disagrees with its data set is still sent as what it is.
    pub fn inspect(path: &Path) -> Result<Self> {
        let err = |source| Error::File {
            path: path.to_path_buf(),
            source,
        };
        let file = std::fs::File::open(path)?;
        let total = file.metadata()?.len();
        let (meta, offset) =
            sansfilm_dicom::part10::read_meta(std::io::BufReader::new(file)).map_err(err)?;
        let (class, instance) = sansfilm_dicom::summary::sop_uids(path)
            .unwrap_or_else(|_| (String::new(), String::new()));
        let or_meta = |s: String, m: &str| if s.is_empty() { m.to_string() } else { s };
        Ok(FileToSend {
            path: path.to_path_buf(),
            sop_class_uid: or_meta(class, meta.media_storage_sop_class_uid()),
            sop_instance_uid: or_meta(instance, meta.media_storage_sop_instance_uid()),
            transfer_syntax: meta.transfer_syntax().to_string(),
            dataset_offset: offset,
            dataset_len: total.saturating_sub(offset),
        })
    }
}

/// What happened to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SendOutcome {
    /// The file.
    pub path: PathBuf,
    /// The response status, when a response came.
    pub status: Option<u16>,
    /// The response's Error Comment, or the local error.
    pub comment: Option<String>,
    /// Data set bytes sent.
    pub bytes: u64,
}

impl SendOutcome {
    /// Whether the peer answered success or warning.
    pub fn is_ok(&self) -> bool {
        self.status.is_some_and(status::is_success_or_warning)
    }
}

/// The outcome of [`send_files`].
#[derive(Debug, Clone, Default)]
pub struct SendReport {
    /// One outcome per file, in no particular order.
    pub outcomes: Vec<SendOutcome>,
    /// Wall time.
    pub elapsed: Duration,
}

impl SendReport {
    /// Files the peer accepted.
    pub fn succeeded(&self) -> usize {
        self.outcomes.iter().filter(|o| o.is_ok()).count()
    }

    /// Files not accepted.
    pub fn failed(&self) -> usize {
        self.outcomes.len() - self.succeeded()
    }

    /// Data set bytes of accepted files.
    pub fn bytes(&self) -> u64 {
        self.outcomes
            .iter()
            .filter(|o| o.is_ok())
            .map(|o| o.bytes)
            .sum()
    }
}

/// Sends a C-ECHO and returns the status of the response.
pub async fn echo(address: &str, options: &ClientOptions) -> Result<u16> {
    let mut assoc = connect(
        address,
        options,
        &[(
            dicom_dictionary_std::uids::VERIFICATION.to_string(),
            vec![
                dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN.to_string(),
                dicom_dictionary_std::uids::IMPLICIT_VR_LITTLE_ENDIAN.to_string(),
            ],
        )],
    )
    .await?;
    let pc_id = accepted_context(&assoc, dicom_dictionary_std::uids::VERIFICATION, None)
        .ok_or_else(|| Error::Rejected("Verification SOP class refused".into()))?;
    send_command(&mut assoc, pc_id, &Command::echo_rq(1)).await?;
    let rsp =
        crate::outgoing::receive_command(&mut assoc, options.timeout, "no response from the peer")
            .await?;
    if rsp.field != field::C_ECHO_RSP {
        return Err(Error::Protocol(format!(
            "expected C-ECHO-RSP, got {:04X}",
            rsp.field
        )));
    }
    let _ = assoc.release().await;
    Ok(rsp.status)
}

/// Gives a stored instance in a native transfer syntax, for a peer that
/// does not accept the syntax it is stored in (a JPEG-LS instance for a
/// workstation that takes only uncompressed data). Called from a blocking
/// thread.
pub trait Transcoder: Send + Sync {
    /// The data set of the Part 10 file `path`, decoded and encoded in the
    /// native transfer syntax `ts` (Explicit or Implicit VR Little Endian).
    fn native(&self, path: &Path, ts: &str) -> std::result::Result<Vec<u8>, String>;
}

/// The native syntaxes offered beside a stored compressed one, in order of
/// preference.
pub(crate) const NATIVE_FALLBACK: [&str; 2] = [
    dicom_dictionary_std::uids::EXPLICIT_VR_LITTLE_ENDIAN,
    dicom_dictionary_std::uids::IMPLICIT_VR_LITTLE_ENDIAN,
];

pub(crate) fn is_native(ts: &str) -> bool {
    #[allow(deprecated)]
    let big = dicom_dictionary_std::uids::EXPLICIT_VR_BIG_ENDIAN;
    NATIVE_FALLBACK.contains(&ts) || ts == big
}

/// Sends files with C-STORE over `associations` parallel associations.
/// `on_done` is called after each file. Files that cannot be read or sent
/// appear in the report with a comment; an association that fails ends with
/// its remaining files marked as not sent.
pub async fn send_files(
    address: &str,
    options: &ClientOptions,
    files: Vec<PathBuf>,
    associations: usize,
    on_done: Arc<dyn Fn(&SendOutcome) + Send + Sync>,
) -> Result<SendReport> {
    send_files_with(address, options, files, associations, on_done, None).await
}

/// [`send_files`], and with a `transcoder`, compressed files are also
/// offered in native syntaxes: a peer that accepts the stored syntax gets
/// the stored bytes unchanged, one that does not gets them decoded.
pub async fn send_files_with(
    address: &str,
    options: &ClientOptions,
    files: Vec<PathBuf>,
    associations: usize,
    on_done: Arc<dyn Fn(&SendOutcome) + Send + Sync>,
    transcoder: Option<Arc<dyn Transcoder>>,
) -> Result<SendReport> {
    let started = Instant::now();
    let inspected = tokio::task::spawn_blocking(move || {
        files
            .into_iter()
            .map(|p| FileToSend::inspect(&p).map_err(|e| (p, e.to_string())))
            .collect::<Vec<_>>()
    })
    .await
    .map_err(|e| Error::Io(std::io::Error::other(e)))?;
    let mut report = send_inspected(
        address,
        options,
        inspected,
        associations,
        on_done,
        transcoder,
    )
    .await?;
    report.elapsed = started.elapsed();
    Ok(report)
}

/// [`send_files_with`] of files already inspected (an archive knows what
/// its files hold); those that could not be are reported with their error.
pub async fn send_inspected(
    address: &str,
    options: &ClientOptions,
    files: Vec<std::result::Result<FileToSend, (PathBuf, String)>>,
    associations: usize,
    on_done: Arc<dyn Fn(&SendOutcome) + Send + Sync>,
    transcoder: Option<Arc<dyn Transcoder>>,
) -> Result<SendReport> {
    let started = Instant::now();
    let mut report = SendReport::default();
    let mut ready = vec![];
    for item in files {
        match item {
            Ok(f) => ready.push(f),
            Err((path, e)) => {
                let outcome = SendOutcome {
                    path,
                    status: None,
                    comment: Some(e),
                    bytes: 0,
                };
                on_done(&outcome);
                report.outcomes.push(outcome);
            }
        }
    }
    report.outcomes.extend(
        crate::lanes::send(address, options, ready, associations, on_done, transcoder).await?,
    );
    report.elapsed = started.elapsed();
    Ok(report)
}

pub(crate) fn not_sent(f: &FileToSend, why: &str) -> SendOutcome {
    SendOutcome {
        path: f.path.clone(),
        status: None,
        comment: Some(why.to_string()),
        bytes: 0,
    }
}

pub(crate) type ClientAssoc = AsyncClientAssociation<TcpStream>;

pub(crate) async fn connect(
    address: &str,
    options: &ClientOptions,
    contexts: &[(String, Vec<String>)],
) -> Result<ClientAssoc> {
    connect_with_roles(address, options, contexts, &[]).await
}

/// [`connect`], asking for the SCP role for `scp_classes` (role selection:
/// the server may then send us C-STORE requests of those classes, as a
/// C-GET does).
pub(crate) async fn connect_with_roles(
    address: &str,
    options: &ClientOptions,
    contexts: &[(String, Vec<String>)],
    scp_classes: &[String],
) -> Result<ClientAssoc> {
    let mut opts = ClientAssociationOptions::new()
        .calling_ae_title(options.calling_ae.clone())
        .called_ae_title(options.called_ae.clone())
        .max_pdu_length(options.max_pdu_length)
        .connection_timeout(options.timeout)
        .read_timeout(options.timeout);
    for (abstract_syntax, syntaxes) in contexts {
        opts = opts.with_presentation_context(abstract_syntax.clone(), syntaxes.clone());
    }
    for class in scp_classes {
        opts = opts.with_role_selection(class.clone(), false, true);
    }
    let mut assoc = opts.establish_async(address).await.map_err(|e| match e {
        dicom_ul::association::Error::Rejected { association_rj, .. } => {
            Error::Rejected(format!("{:?}", association_rj.source))
        }
        other => other.into(),
    })?;
    crate::socket::tune(assoc.inner_stream());
    Ok(assoc)
}

pub(crate) fn accepted_context(
    assoc: &ClientAssoc,
    abstract_syntax: &str,
    ts: Option<&str>,
) -> Option<u8> {
    assoc
        .presentation_contexts()
        .iter()
        .find(|pc| {
            pc.reason == PresentationContextResultReason::Acceptance
                && pc.abstract_syntax.trim_end_matches('\0') == abstract_syntax
                && ts.is_none_or(|t| pc.transfer_syntax.trim_end_matches('\0') == t)
        })
        .map(|pc| pc.id)
}

/// One C-STORE of a file made ready: command, data set, response.
pub(crate) async fn store_ready(
    assoc: &mut ClientAssoc,
    options: &ClientOptions,
    f: &FileToSend,
    ready: outgoing::Ready,
    message_id: u16,
) -> Result<SendOutcome> {
    send_command(
        assoc,
        ready.pc_id,
        &Command::store_rq(message_id, &f.sop_class_uid, &f.sop_instance_uid),
    )
    .await?;
    let max = assoc.acceptor_max_pdu_length();
    let sent = outgoing::send_body(assoc.inner_stream(), ready.pc_id, ready.body, max).await?;
    let rsp = crate::outgoing::receive_command(assoc, options.timeout, "no response from the peer")
        .await?;
    if rsp.field != field::C_STORE_RSP {
        return Err(Error::Protocol(format!(
            "expected C-STORE-RSP, got {:04X}",
            rsp.field
        )));
    }
    Ok(SendOutcome {
        path: f.path.clone(),
        status: Some(rsp.status),
        comment: rsp.error_comment,
        bytes: sent,
    })
}

async fn send_command(assoc: &mut ClientAssoc, pc_id: u8, command: &Command) -> Result<()> {
    assoc
        .send(&Pdu::PData {
            data: vec![PDataValue {
                presentation_context_id: pc_id,
                value_type: PDataValueType::Command,
                is_last: true,
                data: command.encode()?,
            }],
        })
        .await?;
    Ok(())
}
