//! Files sent with C-STORE over several associations at once ("lanes")
//! that take their next file from one shared queue: a lane that cannot get
//! an association (a destination that serves one association at a time,
//! or refuses a second) leaves the work to the others instead of failing
//! its share, and lanes that can run together do.
//!
//! The files are cut into batches in order, each batch needing at most the
//! presentation contexts one association can propose; a lane proposes the
//! contexts of the batch at the head of the queue and takes files while
//! they belong to it. A file fails alone (no context for it, unreadable);
//! a lane whose association breaks puts the file it had prepared back and
//! stops; once no lane is left, what remains is reported not sent with the
//! last error.

use std::collections::{BTreeSet, VecDeque};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use crate::client::{
    ClientAssoc, ClientOptions, FileToSend, NATIVE_FALLBACK, SendOutcome, Transcoder, connect,
    is_native, not_sent, store_ready,
};
use crate::outgoing::{self, NotReady};
use crate::{Error, Result};

/// Most presentation contexts proposed in one association (the standard's
/// limit is 128, odd IDs 1 to 255).
const MAX_CONTEXTS: usize = 127;

type Contexts = Vec<(String, Vec<String>)>;

/// What the lanes share.
struct Work {
    /// Files not yet taken, with their batch.
    queue: Mutex<VecDeque<(usize, FileToSend)>>,
    /// The presentation contexts of each batch.
    contexts: Vec<Contexts>,
    /// Lanes still working.
    alive: AtomicUsize,
    /// Why the last lane stopped, when it did not end normally.
    last_error: Mutex<Option<String>>,
    on_done: Arc<dyn Fn(&SendOutcome) + Send + Sync>,
    transcoder: Option<Arc<dyn Transcoder>>,
}

impl Work {
    fn take(&self, batch: Option<usize>) -> Option<(usize, FileToSend)> {
        let mut q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        match (batch, q.front()) {
            (Some(b), Some((fb, _))) if *fb != b => None,
            _ => q.pop_front(),
        }
    }

    fn head_batch(&self) -> Option<usize> {
        let q = self.queue.lock().unwrap_or_else(|p| p.into_inner());
        q.front().map(|(b, _)| *b)
    }

    fn give_back(&self, item: (usize, FileToSend)) {
        self.queue
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .push_front(item);
    }

    /// A lane stops; the last one reports what nobody could send.
    fn lane_stopped(&self, why: Option<String>, outcomes: &mut Vec<SendOutcome>) {
        if let Some(w) = why {
            *self.last_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(w);
        }
        if self.alive.fetch_sub(1, Ordering::AcqRel) == 1 {
            let why = self
                .last_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone()
                .unwrap_or_else(|| "not sent".into());
            while let Some((_, f)) = self.take(None) {
                let o = not_sent(&f, &why);
                (self.on_done)(&o);
                outcomes.push(o);
            }
        }
    }
}

/// The batches of `files` (in order) and each batch's contexts.
fn batches(
    files: Vec<FileToSend>,
    with_native: bool,
) -> (VecDeque<(usize, FileToSend)>, Vec<Contexts>) {
    // With a transcoder, a compressed pair takes a second context (native).
    let max_pairs = if with_native {
        MAX_CONTEXTS / 2
    } else {
        MAX_CONTEXTS
    };
    let mut queue = VecDeque::with_capacity(files.len());
    let mut all: Vec<BTreeSet<(String, String)>> = vec![BTreeSet::new()];
    for f in files {
        let pair = (f.sop_class_uid.clone(), f.transfer_syntax.clone());
        let current = all.last_mut().expect("one batch at least");
        if !current.contains(&pair) && current.len() == max_pairs {
            all.push(BTreeSet::new());
        }
        all.last_mut().expect("just pushed").insert(pair);
        queue.push_back((all.len() - 1, f));
    }
    let contexts = all
        .into_iter()
        .map(|pairs| {
            let mut contexts: Contexts = vec![];
            for (class, ts) in pairs {
                if with_native && !is_native(&ts) {
                    let native = (class.clone(), NATIVE_FALLBACK.map(String::from).to_vec());
                    if !contexts.contains(&native) {
                        contexts.push(native);
                    }
                }
                contexts.push((class, vec![ts]));
            }
            contexts
        })
        .collect();
    (queue, contexts)
}

/// Sends `files` over up to `lanes` associations; one outcome per file.
pub(crate) async fn send(
    address: &str,
    options: &ClientOptions,
    files: Vec<FileToSend>,
    lanes: usize,
    on_done: Arc<dyn Fn(&SendOutcome) + Send + Sync>,
    transcoder: Option<Arc<dyn Transcoder>>,
) -> Result<Vec<SendOutcome>> {
    if files.is_empty() {
        return Ok(vec![]);
    }
    let n = lanes.max(1).min(files.len());
    let (queue, contexts) = batches(files, transcoder.is_some());
    let work = Arc::new(Work {
        queue: Mutex::new(queue),
        contexts,
        alive: AtomicUsize::new(n),
        last_error: Mutex::new(None),
        on_done,
        transcoder,
    });
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..n {
        let (address, options, work) = (address.to_string(), options.clone(), work.clone());
        tasks.spawn(async move { lane(&address, &options, &work).await });
    }
    let mut outcomes = vec![];
    while let Some(done) = tasks.join_next().await {
        outcomes.extend(done.map_err(|e| Error::Io(std::io::Error::other(e)))?);
    }
    Ok(outcomes)
}

/// One lane: associations one after the other, each for the batch at the
/// head of the queue, until the queue is empty or an association fails.
async fn lane(address: &str, options: &ClientOptions, work: &Work) -> Vec<SendOutcome> {
    let mut outcomes = vec![];
    while let Some(batch) = work.head_batch() {
        let mut assoc = match connect(address, options, &work.contexts[batch]).await {
            Ok(a) => a,
            Err(e) => {
                work.lane_stopped(Some(e.to_string()), &mut outcomes);
                return outcomes;
            }
        };
        match association(&mut assoc, options, work, batch, &mut outcomes).await {
            Ok(()) => {
                let _ = assoc.release().await;
            }
            Err(why) => {
                let _ = assoc.abort().await;
                work.lane_stopped(Some(why), &mut outcomes);
                return outcomes;
            }
        }
    }
    work.lane_stopped(None, &mut outcomes);
    outcomes
}

/// Sends the files of `batch` on one association, the next one prepared
/// while the current one is on the wire. `Err`: the association broke.
async fn association(
    assoc: &mut ClientAssoc,
    options: &ClientOptions,
    work: &Work,
    batch: usize,
    outcomes: &mut Vec<SendOutcome>,
) -> std::result::Result<(), String> {
    let accepted = Arc::new(outgoing::accepted_contexts(assoc.presentation_contexts()));
    let prepare = |item: (usize, FileToSend)| {
        let task = outgoing::prepare_in_background(&item.1, &accepted, &work.transcoder);
        (item, task)
    };
    let mut next = work.take(Some(batch)).map(prepare);
    let mut message_id: u16 = 0;
    while let Some(((_, f), task)) = next.take() {
        let ready = task
            .await
            .unwrap_or_else(|e| Err(NotReady::Unreadable(e.to_string())));
        next = work.take(Some(batch)).map(prepare);
        message_id = message_id.wrapping_add(1).max(1);
        let outcome = match ready {
            Err(NotReady::NoContext) => not_sent(
                &f,
                &Error::NoPresentationContext {
                    sop_class: f.sop_class_uid.clone(),
                    transfer_syntax: f.transfer_syntax.clone(),
                }
                .to_string(),
            ),
            Err(NotReady::Unreadable(why)) => not_sent(&f, &format!("{}: {why}", f.path.display())),
            Ok(ready) => match store_ready(assoc, options, &f, ready, message_id).await {
                Ok(o) => o,
                Err(e) => {
                    // The file being sent is lost with the association; the
                    // one prepared goes back for another lane.
                    let why = format!("association failed: {e}");
                    let o = not_sent(&f, &why);
                    (work.on_done)(&o);
                    outcomes.push(o);
                    if let Some((item, _)) = next.take() {
                        work.give_back(item);
                    }
                    return Err(why);
                }
            },
        };
        (work.on_done)(&outcome);
        outcomes.push(outcome);
    }
    Ok(())
}
