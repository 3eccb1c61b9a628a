//! The parent side: starts zygotes without forking the caller (`posix_spawn`), hands them jobs,
//! replaces dead ones, and runs batches over all of them in parallel threads.
use std::ffi::CString;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use crate::error::{Error, Result};
use crate::wire::{self, JobSpec, LayerReport, RawResult, ZygoteConfig};

/// How long a zygote may take to start and report its layers.
const START_TIMEOUT: Duration = Duration::from_secs(60);
/// Slack over a job's wall-clock limit before the parent gives up on a silent zygote.
const REPLY_SLACK: Duration = Duration::from_secs(30);

/// How to start a zygote.
pub struct Spawner {
    pub python: String,
    pub argv: Vec<String>,
    pub disabled: Vec<String>,
    pub readable: Vec<String>,
    pub scratch_root: PathBuf,
    seed_base: u64,
    counter: AtomicU64,
}

/// A running zygote as the parent sees it.
pub struct Zygote {
    spawned: libc::pid_t,
    pub host_pid: i32,
    stream: UnixStream,
    scratch: PathBuf,
}

impl Zygote {
    /// Closes the control socket, waits for the zygote to leave, removes its scratch dir.
    fn stop(self, force: bool) {
        if force && self.host_pid > 0 {
            // SAFETY: signalling the zygote we started (still alive: its waiter is unreaped).
            unsafe { libc::kill(self.host_pid, libc::SIGKILL) };
        }
        let _ = self.stream.shutdown(std::net::Shutdown::Both);
        drop(self.stream);
        let mut status = 0;
        // SAFETY: reaping the process we spawned.
        while unsafe { libc::waitpid(self.spawned, &raw mut status, 0) } < 0 {
            if crate::limits::errno() != libc::EINTR {
                break;
            }
        }
        let _ = std::fs::remove_dir_all(&self.scratch);
    }
}

fn cstrings(items: &[String]) -> Result<Vec<CString>> {
    items
        .iter()
        .map(|s| CString::new(s.as_str()).map_err(|_| Error::Nul(s.clone())))
        .collect()
}

fn random_u64() -> u64 {
    let mut b = [0u8; 8];
    // SAFETY: filling a valid buffer.
    unsafe { libc::getrandom(b.as_mut_ptr().cast(), 8, 0) };
    u64::from_le_bytes(b)
}

impl Spawner {
    pub fn new(
        python: String,
        argv: Vec<String>,
        disabled: Vec<String>,
        readable: Vec<String>,
        scratch_root: PathBuf,
    ) -> Self {
        Self {
            python,
            argv,
            disabled,
            readable,
            scratch_root,
            seed_base: random_u64(),
            counter: AtomicU64::new(0),
        }
    }

    /// Starts one zygote; returns it and its layer report.
    pub fn spawn(&self) -> Result<(Zygote, Vec<LayerReport>)> {
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        // Distinct hash seeds for every zygote (PYTHONHASHSEED=0 would disable randomisation).
        let seed = 1 + (self.seed_base.wrapping_add(n.wrapping_mul(2_654_435_761))) % 4_294_967_294;
        let scratch = self.scratch_root.join(format!("z{n}"));
        std::fs::create_dir(&scratch).map_err(|source| Error::Sys {
            call: "mkdir(zygote scratch)",
            source,
        })?;
        let (parent_end, child_end) = UnixStream::pair().map_err(Error::SocketPair)?;
        // A child end at fd 3 would keep CLOEXEC through dup2(3, 3): move it higher.
        let child_fd = crate::fds::move_high(&OwnedFd::from(child_end))?;
        let mut argv = vec![self.python.clone()];
        argv.extend(self.argv.iter().cloned());
        let env = vec![
            "PATH=/usr/local/bin:/usr/bin:/bin".to_string(),
            "LANG=C.UTF-8".to_string(),
            format!("PYTHONHASHSEED={seed}"),
            "HOME=/tmp".to_string(),
            "TMPDIR=/tmp".to_string(),
        ];
        let pid = posix_spawn(&self.python, &argv, &env, child_fd.as_raw_fd())?;
        drop(child_fd);
        let mut z = Zygote {
            spawned: pid,
            host_pid: -1,
            stream: parent_end,
            scratch: scratch.clone(),
        };
        match self.handshake(&mut z, &scratch) {
            Ok(report) => Ok((z, report)),
            Err(e) => {
                z.stop(true);
                Err(e)
            }
        }
    }

    fn handshake(&self, z: &mut Zygote, scratch: &std::path::Path) -> Result<Vec<LayerReport>> {
        let cfg = ZygoteConfig {
            disabled: self.disabled.clone(),
            scratch_dir: scratch.to_string_lossy().into_owned(),
            readable: self.readable.clone(),
            caller_pid: u64::from(std::process::id()),
        };
        z.stream
            .set_read_timeout(Some(START_TIMEOUT))
            .map_err(Error::Channel)?;
        wire::write_message(&mut z.stream, &cfg.encode()?).map_err(Error::Channel)?;
        loop {
            let msg = wire::read_message(&mut z.stream)
                .map_err(|e| Error::ZygoteStart(format!("no answer from the zygote: {e}")))?
                .ok_or_else(|| {
                    Error::ZygoteStart("the zygote exited during startup".to_string())
                })?;
            match msg.kind {
                wire::PID => z.host_pid = msg.job_id as i32,
                wire::HELLO => {
                    z.stream.set_read_timeout(None).map_err(Error::Channel)?;
                    return wire::decode_hello(&msg.body);
                }
                wire::FATAL => {
                    let text = wire::Reader::new(&msg.body).string()?;
                    return Err(Error::ZygoteStart(text));
                }
                _ => return Err(Error::Wire("unexpected message during startup")),
            }
        }
    }
}

fn posix_spawn(python: &str, argv: &[String], env: &[String], ctrl: i32) -> Result<libc::pid_t> {
    let path = CString::new(python).map_err(|_| Error::Nul(python.to_string()))?;
    let argv_c = cstrings(argv)?;
    let env_c = cstrings(env)?;
    let mut argv_p: Vec<*mut libc::c_char> = argv_c.iter().map(|s| s.as_ptr().cast_mut()).collect();
    argv_p.push(std::ptr::null_mut());
    let mut env_p: Vec<*mut libc::c_char> = env_c.iter().map(|s| s.as_ptr().cast_mut()).collect();
    env_p.push(std::ptr::null_mut());
    let mut pid: libc::pid_t = 0;
    // SAFETY: every struct is initialised by its init function before use and destroyed after;
    // all strings outlive the call. posix_spawn uses vfork semantics: the caller's memory is
    // never copied.
    unsafe {
        let mut fa: libc::posix_spawn_file_actions_t = std::mem::zeroed();
        let mut attr: libc::posix_spawnattr_t = std::mem::zeroed();
        libc::posix_spawn_file_actions_init(&raw mut fa);
        libc::posix_spawnattr_init(&raw mut attr);
        libc::posix_spawn_file_actions_addopen(
            &raw mut fa,
            0,
            c"/dev/null".as_ptr(),
            libc::O_RDONLY,
            0,
        );
        libc::posix_spawn_file_actions_addopen(
            &raw mut fa,
            1,
            c"/dev/null".as_ptr(),
            libc::O_WRONLY,
            0,
        );
        libc::posix_spawn_file_actions_addopen(
            &raw mut fa,
            2,
            c"/dev/null".as_ptr(),
            libc::O_WRONLY,
            0,
        );
        libc::posix_spawn_file_actions_adddup2(&raw mut fa, ctrl, 3);
        let mut mask: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&raw mut mask);
        libc::posix_spawnattr_setsigmask(&raw mut attr, &raw const mask);
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&raw mut all);
        libc::posix_spawnattr_setsigdefault(&raw mut attr, &raw const all);
        // A new session: terminal signals (Ctrl-C) go to the caller, not to the zygotes.
        let flags = i32::from(libc::POSIX_SPAWN_SETSID)
            | libc::POSIX_SPAWN_SETSIGMASK
            | libc::POSIX_SPAWN_SETSIGDEF;
        libc::posix_spawnattr_setflags(&raw mut attr, flags as libc::c_short);
        let rc = libc::posix_spawn(
            &raw mut pid,
            path.as_ptr(),
            &raw const fa,
            &raw const attr,
            argv_p.as_ptr(),
            env_p.as_ptr(),
        );
        libc::posix_spawn_file_actions_destroy(&raw mut fa);
        libc::posix_spawnattr_destroy(&raw mut attr);
        if rc != 0 {
            return Err(Error::Spawn {
                path: python.to_string(),
                source: std::io::Error::from_raw_os_error(rc),
            });
        }
    }
    Ok(pid)
}

/// One zygote place in the pool. The writer clone lets `cancel` reach a busy zygote.
pub struct Slot {
    zygote: Mutex<Option<Zygote>>,
    writer: Mutex<Option<UnixStream>>,
}

impl Slot {
    fn new(z: Option<Zygote>) -> Self {
        let writer = z.as_ref().and_then(|z| z.stream.try_clone().ok());
        Self {
            zygote: Mutex::new(z),
            writer: Mutex::new(writer),
        }
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub struct Pool {
    spawner: Spawner,
    slots: Vec<Slot>,
    twin: Slot,
    layers: Vec<LayerReport>,
    closed: AtomicBool,
    batch_ids: AtomicU64,
    /// The process that started the zygotes; a forked copy of it must not stop them.
    owner: u32,
}

impl Pool {
    pub fn start(spawner: Spawner, workers: usize) -> Result<Self> {
        let mut slots = Vec::with_capacity(workers);
        let mut layers = Vec::new();
        for _ in 0..workers.max(1) {
            match spawner.spawn() {
                Ok((z, report)) => {
                    layers = report;
                    slots.push(Slot::new(Some(z)));
                }
                Err(e) => {
                    for s in slots {
                        if let Some(z) = lock(&s.zygote).take() {
                            z.stop(false);
                        }
                    }
                    return Err(e);
                }
            }
        }
        Ok(Self {
            spawner,
            slots,
            twin: Slot::new(None),
            layers,
            closed: AtomicBool::new(false),
            batch_ids: AtomicU64::new(1 << 62),
            owner: std::process::id(),
        })
    }

    pub fn layers(&self) -> &[LayerReport] {
        &self.layers
    }

    pub fn workers(&self) -> usize {
        self.slots.len()
    }

    pub fn zygote_pids(&self) -> Vec<i32> {
        self.slots
            .iter()
            .map(|s| lock(&s.zygote).as_ref().map_or(-1, |z| z.host_pid))
            .collect()
    }

    fn respawn(&self, slot: &Slot, guard: &mut Option<Zygote>) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let (z, report) = self.spawner.spawn()?;
        // Fail closed for replacements too: a zygote weaker than the ones the caller accepted
        // is not used.
        let active = |r: &[LayerReport]| -> Vec<String> {
            r.iter().filter(|l| l.1).map(|l| l.0.clone()).collect()
        };
        let lost: Vec<String> = active(&self.layers)
            .into_iter()
            .filter(|l| !active(&report).contains(l))
            .collect();
        if !lost.is_empty() {
            z.stop(true);
            return Err(Error::ZygoteStart(format!(
                "a replacement zygote lacks isolation layers: {}",
                lost.join(", ")
            )));
        }
        *lock(&slot.writer) = z.stream.try_clone().ok();
        *guard = Some(z);
        Ok(())
    }

    /// Runs one job on `slot`'s zygote; a dead zygote is replaced and the job gets a
    /// sandbox-failure result, never a hang.
    fn run_on(&self, slot: &Slot, job_id: u64, job: &JobSpec) -> RawResult {
        let mut guard = lock(&slot.zygote);
        if guard.is_none() {
            if let Err(e) = self.respawn(slot, &mut guard) {
                return RawResult::failed(format!("no zygote available: {e}"));
            }
        }
        let msg = match job.encode(job_id) {
            Ok(msg) => msg,
            Err(e) => return RawResult::failed(format!("the job cannot be sent: {e}")),
        };
        // A zygote that died while idle fails the send: the job never started, so replace the
        // zygote and send it again (once).
        let mut sent = Self::send(slot, &msg);
        if sent.is_err() {
            if let Some(dead) = guard.take() {
                dead.stop(false);
            }
            if let Err(e) = self.respawn(slot, &mut guard) {
                return RawResult::failed(format!("no zygote available: {e}"));
            }
            sent = Self::send(slot, &msg);
        }
        let Some(z) = guard.as_mut() else {
            return RawResult::failed("no zygote available");
        };
        let wait = Duration::from_micros(job.wall_time_us) + REPLY_SLACK;
        let _ = z.stream.set_read_timeout(Some(wait));
        let outcome = sent.and_then(|()| loop {
            match wire::read_message(&mut z.stream)? {
                Some(m) if m.kind == wire::RESULT && m.job_id == job_id => {
                    break RawResult::decode(&m.body).map_err(|e| {
                        std::io::Error::new(std::io::ErrorKind::InvalidData, e.to_string())
                    });
                }
                Some(_) => {}
                None => break Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof)),
            }
        });
        match outcome {
            Ok(res) => res,
            Err(e) => {
                let pid = z.host_pid;
                let died = e.kind() == std::io::ErrorKind::UnexpectedEof;
                if let Some(dead) = guard.take() {
                    dead.stop(!died);
                }
                *lock(&slot.writer) = None;
                let why = match e.kind() {
                    std::io::ErrorKind::UnexpectedEof => "died".to_string(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut => {
                        "stopped answering and was killed".to_string()
                    }
                    _ => format!("failed ({e})"),
                };
                // Replace it now so the next job finds a zygote (a failure here is retried then).
                let _ = self.respawn(slot, &mut guard);
                RawResult::failed(format!(
                    "the sandbox zygote (pid {pid}) {why} while running this job; it was replaced"
                ))
            }
        }
    }

    fn send(slot: &Slot, msg: &[u8]) -> std::io::Result<()> {
        match lock(&slot.writer).as_mut() {
            Some(w) => wire::write_message(w, msg),
            None => Err(std::io::Error::other("no control socket")),
        }
    }

    pub fn run_one(&self, slot: usize, job_id: u64, job: &JobSpec) -> Result<RawResult> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let slot = self.slots.get(slot).ok_or(Error::Wire("no such slot"))?;
        Ok(self.run_on(slot, job_id, job))
    }

    /// Kills the child of `job_id` if it is still running on `slot` (best effort).
    pub fn cancel(&self, slot: usize, job_id: u64) {
        if let Some(slot) = self.slots.get(slot) {
            if let Some(w) = lock(&slot.writer).as_mut() {
                if let Ok(msg) = wire::Writer::new(wire::CANCEL, job_id).finish() {
                    let _ = wire::write_message(w, &msg);
                }
            }
        }
    }

    /// Runs every job, in parallel over all zygotes; results in job order.
    ///
    /// The calling thread drives the first zygote itself and one scoped thread drives each
    /// other one. A thread the OS refuses is no error: its zygote just sits this batch out and
    /// the others take its jobs (they all pull from one counter).
    pub fn run_batch(&self, jobs: &[JobSpec]) -> Result<Vec<RawResult>> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let next = AtomicUsize::new(0);
        let results: Vec<Mutex<Option<RawResult>>> =
            jobs.iter().map(|_| Mutex::new(None)).collect();
        let threads = self.slots.len().min(jobs.len());
        let drive = |slot: &Slot| loop {
            let i = next.fetch_add(1, Ordering::Relaxed);
            let Some(job) = jobs.get(i) else { break };
            let id = self.batch_ids.fetch_add(1, Ordering::Relaxed);
            *lock(&results[i]) = Some(self.run_on(slot, id, job));
        };
        std::thread::scope(|scope| {
            for (n, slot) in self.slots[..threads].iter().enumerate().skip(1) {
                let spawned = std::thread::Builder::new()
                    .name(format!("stepstones-batch-{n}"))
                    .spawn_scoped(scope, move || drive(slot));
                if spawned.is_err() {
                    break; // the threads started so far, and this one, share the jobs
                }
            }
            if let Some(first) = self.slots.first() {
                drive(first);
            }
        });
        Ok(results
            .into_iter()
            .map(|m| {
                m.into_inner()
                    .unwrap_or_else(std::sync::PoisonError::into_inner)
                    .unwrap_or_else(|| RawResult::failed("the job was not run"))
            })
            .collect())
    }

    /// Runs `job` on two different zygotes (different hash seeds) at the same time (one
    /// after the other if the OS refuses the second thread).
    pub fn run_twins(&self, job: &JobSpec) -> Result<[RawResult; 2]> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        let first = self.slots.first().ok_or(Error::Closed)?;
        let second = if self.slots.len() >= 2 {
            &self.slots[1]
        } else {
            &self.twin
        };
        let ids = (
            self.batch_ids.fetch_add(1, Ordering::Relaxed),
            self.batch_ids.fetch_add(1, Ordering::Relaxed),
        );
        let (a, b) = std::thread::scope(|scope| {
            let twin = std::thread::Builder::new()
                .name("stepstones-twin".into())
                .spawn_scoped(scope, || self.run_on(second, ids.1, job));
            let a = self.run_on(first, ids.0, job);
            let b = match twin {
                Ok(h) => h
                    .join()
                    .unwrap_or_else(|_| RawResult::failed("twin thread panicked")),
                Err(_) => self.run_on(second, ids.1, job),
            };
            (a, b)
        });
        Ok([a, b])
    }

    /// True once [`Pool::close`] ran.
    pub fn is_closed(&self) -> bool {
        self.closed.load(Ordering::Acquire)
    }

    /// Stops every zygote (waits for running jobs' zygotes to exit). Idempotent.
    pub fn close(&self) {
        if self.closed.swap(true, Ordering::AcqRel) {
            return;
        }
        if std::process::id() != self.owner {
            // A forked copy of the caller shares the control sockets: shutting them down or
            // reaping here would stop the parent's zygotes. Only the parent stops them.
            return;
        }
        for slot in self.slots.iter().chain(std::iter::once(&self.twin)) {
            if let Some(w) = lock(&slot.writer).take() {
                let _ = w.shutdown(std::net::Shutdown::Both);
            }
            if let Some(z) = lock(&slot.zygote).take() {
                z.stop(false);
            }
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.close();
    }
}
