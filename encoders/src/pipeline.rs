//! Preparing images (decode, resize, crop) on worker threads while the caller runs the network.
//!
//! Reading an image and bringing it to a network's input size is work for the CPU that does
//! not need the network; the forward pass does not need the next images until it is done with
//! the current ones. [`prepare_in_batches`] overlaps the two: worker threads prepare the next
//! batches while the caller's thread runs `consume` (normalise and forward) on the current
//! one. How far the workers may run ahead is bounded, so a collection of any size never holds
//! more than a few batches of prepared images in memory, and a `consume` that fails stops the
//! workers within one image each.

use crate::error::Result;
use demud_datasets::images::ImageItem;
use demud_datasets::DataError;
use image::RgbImage;
use std::collections::BTreeMap;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

/// One image of a batch, prepared or with the reason it could not be.
#[derive(Debug)]
pub struct PreparedImage {
    /// Its position in the `items` given to [`prepare_in_batches`].
    pub index: usize,
    /// The prepared image, or why `prepare` could not make it (an unreadable file, say).
    pub image: std::result::Result<RgbImage, DataError>,
}

/// Runs `prepare` (decode and resize or crop, whatever the caller passes) over `items` on
/// `workers` threads and hands `consume` the results in batches of `batch` consecutive items,
/// in collection order: batch k holds items `k * batch ..` in order, every item once, the last
/// batch possibly short (a `batch` of 0 counts as 1). `consume` runs on the caller's thread,
/// so it may hold things that are not `Send` (a libtorch model).
///
/// Why: decoding and resizing on other threads overlaps them with the forward pass in
/// `consume`, which otherwise waits for them batch by batch. `workers == 0` prepares
/// everything on the caller's thread, between the calls to `consume`, and starts no thread
/// (the sequential loop, for one core or for comparison).
///
/// Memory is bounded: workers take items in order and never one at or beyond
/// `workers * batch` items after the batch `consume` was last handed, so at most
/// `workers * batch` images are prepared (or being prepared) ahead of `consume`, and at most
/// `(workers + 1) * batch` prepared images exist at once counting the batch `consume` holds
/// (plus, transiently, what one call to `prepare` holds per worker: a decoded full-size image).
/// That window also lets the workers prepare a whole batch each while `consume` works.
///
/// Errors: an `Err` from `prepare` is delivered in its item's [`PreparedImage::image`], and
/// the rest goes on (the caller decides whether to skip or stop). An `Err` from `consume`
/// stops the workers (each finishes at most the image it is preparing) and is returned. A
/// panic in `prepare` or `consume` stops the other threads and is resumed on the caller's
/// thread with its original payload.
pub fn prepare_in_batches<P, C>(
    items: &[ImageItem],
    batch: usize,
    workers: usize,
    prepare: P,
    mut consume: C,
) -> Result<()>
where
    P: Fn(&ImageItem) -> demud_datasets::Result<RgbImage> + Sync,
    C: FnMut(Vec<PreparedImage>) -> Result<()>,
{
    let batch = batch.max(1);
    let workers = workers.min(items.len());
    if workers == 0 {
        for (k, chunk) in items.chunks(batch).enumerate() {
            let prepared = chunk
                .iter()
                .enumerate()
                .map(|(j, item)| PreparedImage {
                    index: k * batch + j,
                    image: prepare(item),
                })
                .collect();
            consume(prepared)?;
        }
        return Ok(());
    }

    let shared = Shared {
        state: Mutex::new(State {
            next: 0,
            released: 0,
            ready: BTreeMap::new(),
            stop: false,
            panicked: false,
        }),
        space: Condvar::new(),
        ready: Condvar::new(),
        window: workers * batch,
    };
    std::thread::scope(|scope| {
        let handles: Vec<_> = (0..workers)
            .map(|w| {
                let (shared, prepare) = (&shared, &prepare);
                std::thread::Builder::new()
                    .name(format!("demud-prepare-{w}"))
                    .spawn_scoped(scope, move || work(shared, items, prepare))
                    .expect("starting an image-preparing thread")
            })
            .collect();
        let outcome = {
            // Stops the workers however this block ends: done, `consume`'s error, a panic.
            let _stop = StopOnDrop(&shared);
            hand_out(&shared, items.len(), batch, &mut consume)
        };
        for handle in handles {
            if let Err(payload) = handle.join() {
                std::panic::resume_unwind(payload);
            }
        }
        outcome
    })
}

/// What the workers and the caller share.
struct Shared {
    state: Mutex<State>,
    /// Signalled when the window moves or the work stops (workers wait on it).
    space: Condvar,
    /// Signalled when an image is ready or a worker panicked (the caller waits on it).
    ready: Condvar,
    /// How many items past the last batch handed to `consume` workers may take.
    window: usize,
}

struct State {
    /// The next item to prepare.
    next: usize,
    /// Items before this one have been handed to `consume`.
    released: usize,
    /// Prepared items not handed out yet, by index.
    ready: BTreeMap<usize, demud_datasets::Result<RgbImage>>,
    /// No more items are to be taken.
    stop: bool,
    /// A worker panicked: its item will never be ready.
    panicked: bool,
}

impl Shared {
    /// The state; a panic never happens while it is locked, but if one did, the state is
    /// still consistent (every change under the lock is a single step).
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// Stops the workers when dropped.
struct StopOnDrop<'a>(&'a Shared);

impl Drop for StopOnDrop<'_> {
    fn drop(&mut self) {
        self.0.lock().stop = true;
        self.0.space.notify_all();
    }
}

/// Tells the caller, if a worker unwinds, that its item will never come.
struct PanicAlarm<'a>(&'a Shared);

impl Drop for PanicAlarm<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() {
            let mut state = self.0.lock();
            state.panicked = true;
            state.stop = true;
            drop(state);
            self.0.ready.notify_all();
            self.0.space.notify_all();
        }
    }
}

/// A worker: takes the next item while it is inside the window, prepares it, stores it.
fn work<P>(shared: &Shared, items: &[ImageItem], prepare: &P)
where
    P: Fn(&ImageItem) -> demud_datasets::Result<RgbImage>,
{
    let _alarm = PanicAlarm(shared);
    loop {
        let index = {
            let mut state = shared.lock();
            loop {
                if state.stop || state.next >= items.len() {
                    return;
                }
                if state.next < state.released + shared.window {
                    break;
                }
                state = shared
                    .space
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            state.next += 1;
            state.next - 1
        };
        let image = prepare(&items[index]);
        shared.lock().ready.insert(index, image);
        shared.ready.notify_one();
    }
}

/// The caller's side: waits for each batch in turn and hands it to `consume`.
fn hand_out<C>(shared: &Shared, total: usize, batch: usize, consume: &mut C) -> Result<()>
where
    C: FnMut(Vec<PreparedImage>) -> Result<()>,
{
    for start in (0..total).step_by(batch) {
        let end = (start + batch).min(total);
        let taken = {
            let mut state = shared.lock();
            // Every item of the batch is inside the workers' window (it reaches `window >=
            // batch` items past `start`), so each is taken and stored in time.
            while state.ready.range(start..end).count() < end - start {
                if state.panicked {
                    return Ok(()); // the worker's panic is resumed when it is joined
                }
                state = shared
                    .ready
                    .wait(state)
                    .unwrap_or_else(PoisonError::into_inner);
            }
            let later = state.ready.split_off(&end);
            let taken = std::mem::replace(&mut state.ready, later);
            state.released = end;
            taken
        };
        shared.space.notify_all();
        consume(
            taken
                .into_iter()
                .map(|(index, image)| PreparedImage { index, image })
                .collect(),
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::EncoderError;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    fn items(n: usize) -> Vec<ImageItem> {
        (0..n)
            .map(|i| ImageItem {
                id: i.to_string(),
                label: None,
            })
            .collect()
    }

    /// A 1 x 1 image whose pixel names the item, so a test can tell images apart.
    fn tagged(item: &ImageItem) -> RgbImage {
        let i: u32 = item.id.parse().unwrap();
        RgbImage::from_pixel(1, 1, image::Rgb([(i % 256) as u8, (i / 256) as u8, 7]))
    }

    fn tag_of(image: &RgbImage) -> usize {
        let p = image.get_pixel(0, 0).0;
        usize::from(p[0]) + 256 * usize::from(p[1])
    }

    fn bad(item: &ImageItem) -> DataError {
        DataError::File {
            path: item.id.clone().into(),
            message: "cannot decode".into(),
        }
    }

    /// Runs `f` on another thread and fails the test if it takes more than 20 s (a hang),
    /// passing its panic on otherwise.
    fn within_time<T: Send + 'static>(f: impl FnOnce() -> T + Send + 'static) -> T {
        let (tx, rx) = std::sync::mpsc::channel();
        let handle = std::thread::spawn(move || {
            let out = f();
            let _ = tx.send(());
            out
        });
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(()) | Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => handle
                .join()
                .unwrap_or_else(|p| std::panic::resume_unwind(p)),
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => panic!("hung for 20 s"),
        }
    }

    fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
        payload
            .downcast_ref::<&str>()
            .map(|s| s.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_default()
    }

    #[test]
    fn batches_come_in_order_with_every_item_once() {
        for workers in 0..=3 {
            for batch in [1, 3, 5, 32] {
                for n in [0, 1, 7, 10, 64] {
                    let items = items(n);
                    let mut seen = Vec::new();
                    let mut sizes = Vec::new();
                    prepare_in_batches(
                        &items,
                        batch,
                        workers,
                        |item| {
                            // Uneven costs, so images finish out of order on the workers.
                            if item.id.parse::<usize>().unwrap() % 3 == 0 {
                                std::thread::sleep(Duration::from_micros(300));
                            }
                            Ok(tagged(item))
                        },
                        |prepared| {
                            sizes.push(prepared.len());
                            for p in prepared {
                                assert_eq!(tag_of(&p.image.unwrap()), p.index);
                                seen.push(p.index);
                            }
                            Ok(())
                        },
                    )
                    .unwrap();
                    let case = format!("{workers} workers, batch {batch}, {n} items");
                    assert_eq!(seen, (0..n).collect::<Vec<_>>(), "{case}");
                    let full = n / batch;
                    assert_eq!(sizes.len(), n.div_ceil(batch), "{case}");
                    assert!(sizes[..full].iter().all(|&s| s == batch), "{case}");
                    if n % batch != 0 {
                        assert_eq!(sizes[full], n % batch, "{case}");
                    }
                }
            }
        }
    }

    #[test]
    fn no_workers_prepare_on_the_callers_thread_and_workers_on_others() {
        let items = items(20);
        let caller = std::thread::current().id();
        for workers in [0, 2] {
            let threads = Mutex::new(Vec::new());
            prepare_in_batches(
                &items,
                4,
                workers,
                |item| {
                    threads.lock().unwrap().push(std::thread::current().id());
                    Ok(tagged(item))
                },
                |_| {
                    assert_eq!(std::thread::current().id(), caller, "consume");
                    Ok(())
                },
            )
            .unwrap();
            let threads = threads.into_inner().unwrap();
            assert_eq!(threads.len(), 20);
            if workers == 0 {
                assert!(threads.iter().all(|&t| t == caller));
            } else {
                assert!(threads.iter().all(|&t| t != caller));
            }
        }
    }

    #[test]
    fn at_most_workers_plus_one_batches_are_prepared_ahead_of_consume() {
        let items = items(200);
        let batch = 4;
        for workers in [1, 2, 3] {
            // Images prepared and not yet consumed, and the most there ever were.
            let alive = AtomicUsize::new(0);
            let most = AtomicUsize::new(0);
            prepare_in_batches(
                &items,
                batch,
                workers,
                |item| {
                    let now = alive.fetch_add(1, Ordering::SeqCst) + 1;
                    most.fetch_max(now, Ordering::SeqCst);
                    Ok(tagged(item))
                },
                |prepared| {
                    std::thread::sleep(Duration::from_millis(3));
                    alive.fetch_sub(prepared.len(), Ordering::SeqCst);
                    Ok(())
                },
            )
            .unwrap();
            let most = most.into_inner();
            let bound = (workers + 1) * batch;
            assert!(
                most <= bound,
                "{workers} workers: {most} alive, bound {bound}"
            );
            // And they do run ahead while consume sleeps: more than the batch in hand.
            assert!(most > batch, "{workers} workers: only {most} alive");
        }
    }

    #[test]
    fn a_prepare_error_is_delivered_for_its_item_and_the_rest_go_on() {
        let items = items(23);
        for workers in [0, 1, 2] {
            let mut outcomes = Vec::new();
            prepare_in_batches(
                &items,
                5,
                workers,
                |item| {
                    if item.id.parse::<usize>().unwrap() % 4 == 1 {
                        Err(bad(item))
                    } else {
                        Ok(tagged(item))
                    }
                },
                |prepared| {
                    outcomes.extend(prepared.into_iter().map(|p| (p.index, p.image)));
                    Ok(())
                },
            )
            .unwrap();
            assert_eq!(outcomes.len(), 23);
            for (i, (index, image)) in outcomes.into_iter().enumerate() {
                assert_eq!(index, i);
                match image {
                    Ok(image) => assert!(i % 4 != 1 && tag_of(&image) == i),
                    Err(e) => {
                        assert_eq!(i % 4, 1, "{workers} workers");
                        assert!(e.to_string().starts_with(&format!("{i}: cannot decode")));
                    }
                }
            }
        }
    }

    #[test]
    fn a_consume_error_is_returned_and_stops_the_workers() {
        let n = 100_000;
        let batch = 8;
        for workers in [0, 1, 2, 4] {
            let (prepared, batches, result) = within_time(move || {
                let items = items(n);
                let prepared = AtomicUsize::new(0);
                let mut batches = 0;
                let result = prepare_in_batches(
                    &items,
                    batch,
                    workers,
                    |item| {
                        prepared.fetch_add(1, Ordering::SeqCst);
                        Ok(tagged(item))
                    },
                    |_| {
                        batches += 1;
                        if batches == 2 {
                            return Err(EncoderError::Spec {
                                reason: "the network refused".into(),
                            });
                        }
                        std::thread::sleep(Duration::from_millis(2));
                        Ok(())
                    },
                );
                (prepared.into_inner(), batches, result)
            });
            assert!(
                matches!(result, Err(EncoderError::Spec { ref reason }) if reason == "the network refused"),
                "{result:?}"
            );
            assert_eq!(batches, 2, "no batch after the error");
            // Two batches handed out, and at most the window beyond them.
            let most = 2 * batch + workers * batch;
            assert!(
                prepared <= most,
                "{workers} workers prepared {prepared} of {n}"
            );
        }
    }

    #[test]
    fn a_panic_in_prepare_reaches_the_caller() {
        for workers in [0, 1, 2, 3] {
            let payload = within_time(move || {
                let items = items(50);
                std::panic::catch_unwind(|| {
                    prepare_in_batches(
                        &items,
                        4,
                        workers,
                        |item| {
                            if item.id == "13" {
                                panic!("no decoder for item 13");
                            }
                            Ok(tagged(item))
                        },
                        |_| Ok(()),
                    )
                })
                .expect_err("the panic comes through")
            });
            assert_eq!(panic_message(payload.as_ref()), "no decoder for item 13");
        }
    }

    #[test]
    fn a_panic_in_consume_stops_the_workers() {
        for workers in [1, 2] {
            let payload = within_time(move || {
                let items = items(10_000);
                std::panic::catch_unwind(|| {
                    prepare_in_batches(
                        &items,
                        4,
                        workers,
                        |item| Ok(tagged(item)),
                        |_| panic!("consume failed"),
                    )
                })
                .expect_err("the panic comes through")
            });
            assert_eq!(panic_message(payload.as_ref()), "consume failed");
        }
    }
}
