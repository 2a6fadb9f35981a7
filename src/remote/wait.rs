//! Waiting for the remote without a runtime: a remote operation runs on a
//! connection thread and its caller waits for the [`Reply`], either blocking
//! (plain calls) or as a future (`async` functions, whose executor thread is
//! never blocked). One timer thread wakes futures whose deadline passed, and
//! [`sleep`] waits between polls of a locked key.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Condvar, Mutex};
use std::task::{Context, Poll, Waker};
use std::time::{Duration, Instant};

use once_cell::sync::Lazy;

/// What a connection thread hands back to its caller.
struct Slot<T> {
    out: Option<T>,
    waker: Option<Waker>,
}

/// The caller's end of one remote operation.
pub(crate) struct Reply<T> {
    shared: Arc<(Mutex<Slot<T>>, Condvar)>,
    deadline: Instant,
}

/// The connection thread's end: [`Answer::send`] wakes the caller.
pub(crate) struct Answer<T> {
    shared: Arc<(Mutex<Slot<T>>, Condvar)>,
}

/// A reply due within `timeout`, and the answer that fills it.
pub(crate) fn reply<T>(timeout: Duration) -> (Reply<T>, Answer<T>) {
    let shared = Arc::new((
        Mutex::new(Slot {
            out: None,
            waker: None,
        }),
        Condvar::new(),
    ));
    (
        Reply {
            shared: shared.clone(),
            deadline: Instant::now() + timeout,
        },
        Answer { shared },
    )
}

impl<T> Answer<T> {
    pub(crate) fn send(self, out: T) {
        let (slot, ready) = &*self.shared;
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        slot.out = Some(out);
        if let Some(waker) = slot.waker.take() {
            waker.wake();
        }
        ready.notify_all();
    }
}

impl<T> Reply<T> {
    /// Blocks until the answer, or `None` at the deadline. (No spinning:
    /// on two cores a spinning caller takes the core the connection thread
    /// or the server needs.)
    #[cfg_attr(not(feature = "redis"), allow(dead_code))]
    pub(crate) fn wait(self) -> Option<T> {
        let (slot, ready) = &*self.shared;
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        loop {
            if let Some(out) = slot.out.take() {
                return Some(out);
            }
            let now = Instant::now();
            if now >= self.deadline {
                return None;
            }
            slot = ready
                .wait_timeout(slot, self.deadline - now)
                .unwrap_or_else(|p| p.into_inner())
                .0;
        }
    }
}

/// As a future: the answer, or `None` at the deadline.
impl<T> Future for Reply<T> {
    type Output = Option<T>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<T>> {
        let (slot, _) = &*self.shared;
        let mut slot = slot.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(out) = slot.out.take() {
            return Poll::Ready(Some(out));
        }
        if Instant::now() >= self.deadline {
            return Poll::Ready(None);
        }
        slot.waker = Some(cx.waker().clone());
        drop(slot);
        wake_at(self.deadline, cx.waker().clone());
        Poll::Pending
    }
}

/// Futures waiting for a time, woken by one thread.
struct Timer {
    due: Mutex<Vec<(Instant, Waker)>>,
    changed: Condvar,
}

static TIMER: Lazy<&'static Timer> = Lazy::new(|| {
    let timer: &'static Timer = Box::leak(Box::new(Timer {
        due: Mutex::new(Vec::new()),
        changed: Condvar::new(),
    }));
    let spawned = std::thread::Builder::new()
        .name("permacache-timer".into())
        .spawn(move || {
            let mut due = timer.due.lock().unwrap_or_else(|p| p.into_inner());
            loop {
                let now = Instant::now();
                let (ready, later): (Vec<_>, Vec<_>) = std::mem::take(&mut *due)
                    .into_iter()
                    .partition(|(at, _)| *at <= now);
                *due = later;
                for (_, waker) in ready {
                    waker.wake();
                }
                let next = due.iter().map(|(at, _)| *at).min();
                due = match next {
                    Some(at) => {
                        timer
                            .changed
                            .wait_timeout(due, at.saturating_duration_since(now))
                            .unwrap_or_else(|p| p.into_inner())
                            .0
                    }
                    None => timer.changed.wait(due).unwrap_or_else(|p| p.into_inner()),
                };
            }
        });
    if let Err(e) = spawned {
        warning!("permacache: cannot start the timer thread: {e}");
    }
    timer
});

/// Wakes `waker` at `at`.
fn wake_at(at: Instant, waker: Waker) {
    let timer = *TIMER;
    let mut due = timer.due.lock().unwrap_or_else(|p| p.into_inner());
    // One entry per waker is enough: the earliest time wins.
    if let Some(entry) = due.iter_mut().find(|(_, w)| w.will_wake(&waker)) {
        entry.0 = entry.0.min(at);
    } else {
        due.push((at, waker));
    }
    timer.changed.notify_one();
}

/// A future that is ready at `at`.
pub(crate) struct Sleep {
    until: Instant,
}

/// Waits `duration` without blocking the thread.
pub(crate) fn sleep(duration: Duration) -> Sleep {
    Sleep {
        until: Instant::now() + duration,
    }
}

impl Future for Sleep {
    type Output = ();

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if Instant::now() >= self.until {
            return Poll::Ready(());
        }
        wake_at(self.until, cx.waker().clone());
        Poll::Pending
    }
}

/// Runs a future on this thread to its end (how a plain call waits for
/// what `async` callers await).
pub(crate) fn block_on<F: Future>(fut: F) -> F::Output {
    struct Unpark(std::thread::Thread);
    impl std::task::Wake for Unpark {
        fn wake(self: Arc<Self>) {
            self.0.unpark();
        }
    }
    let waker = Waker::from(Arc::new(Unpark(std::thread::current())));
    let mut cx = Context::from_waker(&waker);
    let mut fut = std::pin::pin!(fut);
    loop {
        if let Poll::Ready(out) = fut.as_mut().poll(&mut cx) {
            return out;
        }
        std::thread::park();
    }
}

/// Runs blocking `work` (an object-store request, which keeps its own
/// deadlines) on a thread of its own, and waits for it as a future; `None`
/// when no thread can be started.
pub(crate) async fn off_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    // The work bounds itself; this deadline only keeps `Reply` whole.
    let (reply, answer) = reply(Duration::from_secs(365 * 86_400));
    let spawned = std::thread::Builder::new()
        .name("permacache-objects".into())
        .spawn(move || answer.send(work()));
    match spawned {
        Ok(_) => reply.await,
        Err(e) => {
            log::debug!("permacache: cannot start a thread for the object store: {e}");
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reply_arrives_or_times_out_blocking_and_as_a_future() {
        let (late, answer) = reply::<u32>(Duration::from_secs(5));
        std::thread::spawn(move || answer.send(7));
        assert_eq!(block_on(late), Some(7));
        let (never, answer) = reply::<u32>(Duration::from_millis(20));
        assert_eq!(block_on(never), None);
        drop(answer);
        let (now, answer) = reply::<u32>(Duration::from_secs(5));
        answer.send(8);
        assert_eq!(now.wait(), Some(8));
        let (never, _answer) = reply::<u32>(Duration::from_millis(10));
        assert_eq!(never.wait(), None);
        block_on(sleep(Duration::from_millis(5)));
    }
}
