//! Keeping every zygote busy for async callers.
//!
//! An async caller's event loop may be slow to hand a zygote its next job (it is busy with a
//! thousand connections, or a worker thread waits for the GIL to return a result). So jobs go
//! into one queue that a thread per zygote drains without the GIL, and results go into one
//! done list that the caller collects in batches. A zygote starts its next job the moment its
//! last one ends, however late the caller picks up the result.
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::pool::Pool;
use crate::wire::{JobSpec, RawResult};

#[derive(Default)]
struct State {
    queue: VecDeque<(u64, JobSpec)>,
    /// Job id -> the slot running it.
    running: HashMap<u64, usize>,
    done: Vec<(u64, RawResult)>,
    started: bool,
    closed: bool,
}

pub struct Dispatch {
    pool: Arc<Pool>,
    state: Mutex<State>,
    /// Signalled when a job is queued or the dispatch closes.
    work: Condvar,
    /// Signalled when a result is done or the dispatch closes.
    finished: Condvar,
}

fn lock(m: &Mutex<State>) -> MutexGuard<'_, State> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn cancelled() -> RawResult {
    RawResult {
        cancelled: true,
        ..RawResult::failed("cancelled by the caller")
    }
}

impl Dispatch {
    pub fn new(pool: Arc<Pool>) -> Arc<Self> {
        Arc::new(Self {
            pool,
            state: Mutex::new(State::default()),
            work: Condvar::new(),
            finished: Condvar::new(),
        })
    }

    /// Queues `job`; its result appears in [`Dispatch::collect`] under `id`. After close, the
    /// job is answered at once with a failure.
    pub fn submit(self: &Arc<Self>, id: u64, job: JobSpec) {
        let mut st = lock(&self.state);
        if st.closed {
            st.done
                .push((id, RawResult::failed("the sandbox was closed")));
            self.finished.notify_all();
            return;
        }
        if !st.started {
            st.started = true;
            for slot in 0..self.pool.workers() {
                let me = Arc::clone(self);
                let spawned = std::thread::Builder::new()
                    .name(format!("stepstones-slot-{slot}"))
                    .spawn(move || me.drain(slot));
                if spawned.is_err() && slot == 0 {
                    st.started = false; // no thread at all: try again on the next submit
                    st.done
                        .push((id, RawResult::failed("could not start a dispatch thread")));
                    self.finished.notify_all();
                    return;
                }
            }
        }
        st.queue.push_back((id, job));
        self.work.notify_one();
    }

    /// One zygote's loop: take the next job, run it, file the result.
    fn drain(&self, slot: usize) {
        loop {
            let (id, job) = {
                let mut st = lock(&self.state);
                loop {
                    if st.closed {
                        return;
                    }
                    if let Some(next) = st.queue.pop_front() {
                        st.running.insert(next.0, slot);
                        break next;
                    }
                    st = self
                        .work
                        .wait(st)
                        .unwrap_or_else(std::sync::PoisonError::into_inner);
                }
            };
            // A panic must not strand the job's caller: it becomes the job's failure.
            let run = std::panic::AssertUnwindSafe(|| self.pool.run_one(slot, id, &job));
            let raw = match std::panic::catch_unwind(run) {
                Ok(Ok(raw)) => raw,
                Ok(Err(e)) => RawResult::failed(e.to_string()),
                Err(_) => RawResult::failed("the sandbox engine panicked while running the job"),
            };
            let mut st = lock(&self.state);
            st.running.remove(&id);
            st.done.push((id, raw));
            self.finished.notify_all();
        }
    }

    /// Cancels job `id`: a queued job is answered as cancelled at once, a running one has its
    /// child killed (its result follows as usual). Unknown ids are ignored.
    pub fn cancel(&self, id: u64) {
        let mut st = lock(&self.state);
        if let Some(pos) = st.queue.iter().position(|(j, _)| *j == id) {
            st.queue.remove(pos);
            st.done.push((id, cancelled()));
            self.finished.notify_all();
        } else if let Some(&slot) = st.running.get(&id) {
            drop(st);
            self.pool.cancel(slot, id);
        }
    }

    /// Every result done so far, waiting up to `timeout` for the first. `None` once the
    /// dispatch is closed and nothing is left to collect.
    pub fn collect(&self, timeout: Duration) -> Option<Vec<(u64, RawResult)>> {
        let deadline = Instant::now() + timeout;
        let mut st = lock(&self.state);
        loop {
            if !st.done.is_empty() {
                return Some(std::mem::take(&mut st.done));
            }
            if st.closed && st.running.is_empty() {
                return None;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Some(Vec::new());
            }
            st = self
                .finished
                .wait_timeout(st, left)
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .0;
        }
    }

    /// Stops taking jobs: queued ones are answered with a failure, the threads leave after
    /// their current job (which the pool's close ends). Idempotent.
    pub fn close(&self) {
        let mut st = lock(&self.state);
        if st.closed {
            return;
        }
        st.closed = true;
        let queued: Vec<_> = st.queue.drain(..).collect();
        for (id, _) in queued {
            st.done
                .push((id, RawResult::failed("the sandbox was closed")));
        }
        self.work.notify_all();
        self.finished.notify_all();
    }
}
