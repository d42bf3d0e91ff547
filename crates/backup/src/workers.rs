//! A few threads sharing a list of files to send or restore: the I/O of one
//! overlaps the hashing of another.

use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use crate::{Error, Result};

/// Runs `work` on every item with `threads` threads and returns each item
/// with its result (in no particular order), or the first error: the other
/// threads then take no more items. `done` is called after each item.
pub(crate) fn for_each<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(&T) -> Result<R> + Sync,
    done: impl Fn(&T) + Sync,
) -> Result<Vec<(&T, R)>> {
    let next = AtomicUsize::new(0);
    let results = Mutex::new(Vec::with_capacity(items.len()));
    let failure: Mutex<Option<Error>> = Mutex::new(None);
    std::thread::scope(|scope| {
        for _ in 0..threads.max(1) {
            scope.spawn(|| {
                while failure.lock().unwrap().is_none() {
                    let Some(item) = items.get(next.fetch_add(1, Ordering::Relaxed)) else {
                        return;
                    };
                    match work(item) {
                        Ok(r) => results.lock().unwrap().push((item, r)),
                        Err(e) => {
                            failure.lock().unwrap().get_or_insert(e);
                            return;
                        }
                    }
                    done(item);
                }
            });
        }
    });
    match failure.into_inner().unwrap() {
        Some(e) => Err(e),
        None => Ok(results.into_inner().unwrap()),
    }
}
