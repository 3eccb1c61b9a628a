//! The zygote: a small Python process that enters its namespaces once, prepares every
//! isolation layer once, and then forks one locked-down child per job and supervises it.
//!
//! Every byte of a job the zygote touches lives in job memory that no child inherits, and the
//! child gets its own job from a memfd it reads after the fork (`memory.rs` says why and how;
//! docs/design.md §6).
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixStream;
use std::time::{Duration, Instant};

use crate::channel::{self, Token, TOKEN_LEN};
use crate::error::{Error, Result};
use crate::fds::{self, Pipe, CHILD_CHANNEL_FD, CHILD_JOB_FD};
use crate::landlock::{self, Ruleset};
use crate::limits;
use crate::memory::{self, JobBuf};
use crate::namespaces;
use crate::recipe::{self, Plan, Step};
use crate::seccomp::{self, Filters};
use crate::supervise::{self, Control, Outputs, Watch};
use crate::wire::{self, JobHead, JobSpec, RawResult, ZygoteConfig};

/// The uid/gid jobs run as when the zygote is root ("nobody" on most systems).
pub const JOB_UID: libc::uid_t = 65534;

/// Python's fork hooks (`PyOS_BeforeFork` & co.), or no-ops in Rust tests.
pub struct Hooks {
    pub before: fn(),
    pub parent: fn(),
    pub child: fn(),
}

impl Hooks {
    pub const NONE: Hooks = Hooks {
        before: || {},
        parent: || {},
        child: || {},
    };
}

/// The result of forking for a job.
pub enum Forked {
    /// We are the locked-down child: run the harness (signing frames with the token), exit.
    Child(Token),
    /// We are the zygote: the job is over.
    Parent(RawResult),
}

pub struct Zygote {
    ctrl: UnixStream,
    scratch: CString,
    devnull: OwnedFd,
    ruleset: Option<Ruleset>,
    filters: Option<Filters>,
    uid_gid: Option<(libc::uid_t, libc::gid_t)>,
    drop_caps: bool,
    no_new_privs: bool,
    /// The control socket closed during a job: the parent is gone, exit after it.
    pub orphaned: bool,
    /// This zygote is pid 1 of its own PID namespace.
    pid_one: bool,
    /// A pidfd of the caller (readable once it has exited), when the kernel has pidfds.
    caller: Option<OwnedFd>,
    /// Job memory (see `memory.rs`): the job message as read from the control socket...
    msg: JobBuf,
    /// ...control messages read while a job runs (cancels)...
    ctrl_in: JobBuf,
    /// ...the job's token...
    token: JobBuf,
    /// ...the child's stdout, stderr and channel...
    outputs: Outputs,
    /// ...the channel's genuine frames without the token, and the result message.
    authentic: JobBuf,
    reply: JobBuf,
    /// ...and the names of the files a job left in the scratch dir (`scratch.rs`).
    dirents: JobBuf,
    nested: JobBuf,
}

fn send(ctrl: &mut UnixStream, msg: &[u8]) -> Result<()> {
    wire::write_message(ctrl, msg).map_err(Error::Channel)
}

fn off(cfg: &ZygoteConfig, name: &str) -> bool {
    cfg.disabled.iter().any(|d| d == name)
}

impl Zygote {
    /// Starts the zygote on control fd `ctrl_fd`; sends `P` (host pid) and `H` (layer report).
    ///
    /// With a PID namespace this forks once: the process the parent spawned stays behind as a
    /// waiter (so the parent can reap it), and the zygote proper becomes pid 1 of the
    /// namespace — when it dies, the kernel kills every job in it.
    pub fn start(ctrl_fd: RawFd, hooks: &Hooks) -> Result<Self> {
        // SAFETY: the parent handed us this fd at a fixed number; we own it from now on.
        let mut ctrl = unsafe { UnixStream::from_raw_fd(ctrl_fd) };
        // SAFETY: plain fcntl / close_range on our own fds.
        unsafe {
            libc::fcntl(ctrl_fd, libc::F_SETFD, libc::FD_CLOEXEC);
            // Nothing the caller leaked into us (fds without CLOEXEC) stays open here.
            fds::close_from(ctrl_fd + 1);
        }
        let cfg = match wire::read_message(&mut ctrl).map_err(Error::Channel)? {
            Some(m) if m.kind == wire::CONFIG => ZygoteConfig::decode(&m.body)?,
            _ => return Err(Error::Wire("expected the config message first")),
        };
        // Opened before any namespace: the caller's pid means the caller only out here.
        let caller = watch_caller(cfg.caller_pid)?;
        // SAFETY: plain getter.
        let root = unsafe { libc::geteuid() } == 0;
        // SAFETY: opening /dev/null before any namespace or pivot changes what it names.
        let devnull = unsafe { libc::open(c"/dev/null".as_ptr(), libc::O_RDWR | libc::O_CLOEXEC) };
        if devnull < 0 {
            return Err(Error::last("open(/dev/null)"));
        }
        // SAFETY: the kernel just gave us this fd.
        let devnull = fds::move_high(&unsafe { OwnedFd::from_raw_fd(devnull) })?;
        // Root without the capabilities to use it (a default container, a dropped bounding set)
        // takes the unprivileged path: a user namespace, and no uid switch.
        let privileged = root && namespaces::has_root_capabilities();
        let (entered, mut report) = namespaces::enter(&cfg.disabled, privileged);
        if entered.pid {
            Self::become_pid_one(&mut ctrl, hooks)?;
        } else {
            // SAFETY: plain getter.
            let pid = unsafe { libc::getpid() };
            send(
                &mut ctrl,
                &wire::Writer::new(wire::PID, pid as u64).finish()?,
            )?;
        }
        let mut uid_gid = (privileged && !off(&cfg, "non_root_uid")).then_some((JOB_UID, JOB_UID));
        let mut scratch_path = cfg.scratch_dir.clone();
        if entered.mount {
            match namespaces::pivot_into_minimal_root(&cfg.scratch_dir, &cfg.readable, uid_gid) {
                Ok(()) => scratch_path = "/tmp".into(),
                Err((step, e)) => {
                    if let Some(r) = report.iter_mut().find(|r| r.0 == "mount_namespace") {
                        *r = (
                            r.0.clone(),
                            false,
                            format!("{step}: {}", std::io::Error::from_raw_os_error(e)),
                        );
                    }
                }
            }
        }
        let mut uid_note = String::new();
        if scratch_path != "/tmp" {
            if let Some((uid, gid)) = uid_gid {
                if let Err(e) = std::os::unix::fs::chown(&scratch_path, Some(uid), Some(gid)) {
                    uid_note = format!("chown of the scratch dir failed: {e}");
                    uid_gid = None;
                }
            }
        }
        report.push(match (root, privileged, uid_gid.is_some()) {
            (true, true, true) => ("non_root_uid".into(), true, format!("uid/gid {JOB_UID}")),
            (true, true, false) if !uid_note.is_empty() => ("non_root_uid".into(), false, uid_note),
            (true, true, false) => ("non_root_uid".into(), false, "disabled".into()),
            (true, false, _) => (
                "non_root_uid".into(),
                false,
                "root without CAP_SYS_ADMIN/CAP_SETUID (e.g. a default container): jobs would \
                 keep uid 0"
                    .into(),
            ),
            (false, _, _) => (
                "non_root_uid".into(),
                false,
                "not started as root: jobs keep the caller's uid".into(),
            ),
        });
        let abi = landlock::abi();
        let ruleset = if off(&cfg, "landlock") {
            report.push(("landlock".into(), false, "disabled".into()));
            None
        } else if abi == 0 {
            report.push((
                "landlock".into(),
                false,
                "not supported by this kernel".into(),
            ));
            None
        } else {
            match Ruleset::build(abi, &cfg.readable, std::slice::from_ref(&scratch_path))
                .and_then(Ruleset::into_high)
            {
                Ok(r) => {
                    report.push(("landlock".into(), true, format!("ABI {abi}")));
                    Some(r)
                }
                Err(e) => {
                    report.push(("landlock".into(), false, e.to_string()));
                    None
                }
            }
        };
        let filters = if off(&cfg, "seccomp") {
            report.push(("seccomp".into(), false, "disabled".into()));
            None
        } else if !seccomp::available() {
            report.push((
                "seccomp".into(),
                false,
                "not supported by this kernel".into(),
            ));
            None
        } else {
            // The zygote stage goes on here, once: after the namespaces, mounts and the
            // Landlock ruleset (which it would deny), before the first job.
            // SAFETY: the zygote is single-threaded and done with its start-up calls.
            match Filters::compile().and_then(|f| unsafe { f.install_zygote_stage() }.map(|()| f)) {
                Ok(f) => {
                    report.push((
                        "seccomp".into(),
                        true,
                        "kill list + allowlist in the zygote; each job revokes fork, wait, \
                         kill and the recipe's calls"
                            .into(),
                    ));
                    Some(f)
                }
                Err(e) => {
                    report.push(("seccomp".into(), false, e.to_string()));
                    None
                }
            }
        };
        // Landlock and seccomp need no_new_privs once the job is unprivileged, so they imply it.
        let no_new_privs = !off(&cfg, "no_new_privs") || ruleset.is_some() || filters.is_some();
        report.push((
            "no_new_privs".into(),
            no_new_privs,
            if no_new_privs {
                String::new()
            } else {
                "disabled".into()
            },
        ));
        report.push(("running_as_root".into(), root, String::new()));
        report.push(("landlock_abi".into(), abi > 0, abi.to_string()));
        memory::no_fast_bins();
        send(&mut ctrl, &wire::encode_hello(&report)?)?;
        Ok(Self {
            ctrl,
            scratch: CString::new(scratch_path.clone()).map_err(|_| Error::Nul(scratch_path))?,
            devnull,
            ruleset,
            filters,
            uid_gid,
            drop_caps: entered.user || uid_gid.is_some(),
            no_new_privs,
            orphaned: false,
            pid_one: entered.pid,
            caller,
            msg: JobBuf::new()?,
            ctrl_in: JobBuf::new()?,
            token: JobBuf::new()?,
            outputs: Outputs::new()?,
            authentic: JobBuf::new()?,
            reply: JobBuf::new()?,
            dirents: JobBuf::new()?,
            nested: JobBuf::new()?,
        })
    }

    fn become_pid_one(ctrl: &mut UnixStream, hooks: &Hooks) -> Result<()> {
        let sync = Pipe::new()?;
        (hooks.before)();
        // SAFETY: the zygote is single-threaded; the child continues as the zygote proper.
        let pid = unsafe { libc::fork() };
        if pid < 0 {
            (hooks.parent)();
            return Err(Error::last("fork(pid 1)"));
        }
        if pid > 0 {
            // The waiter: tell the parent the zygote's host pid, let go of the control
            // socket (so the parent sees EOF when the zygote dies), then wait and mirror its
            // exit. No Python runs here again.
            if let Ok(msg) = wire::Writer::new(wire::PID, pid as u64).finish() {
                let _ = send(ctrl, &msg);
            }
            // SAFETY: raw calls in the waiter, which never returns to Python.
            unsafe {
                libc::close(ctrl.as_raw_fd());
                libc::write(sync.write.as_raw_fd(), b"g".as_ptr().cast(), 1);
                let mut status = 0;
                while libc::waitpid(pid, &raw mut status, 0) < 0 {
                    if limits::errno() != libc::EINTR {
                        libc::_exit(1);
                    }
                }
                let code = if libc::WIFEXITED(status) {
                    libc::WEXITSTATUS(status)
                } else {
                    128 + libc::WTERMSIG(status)
                };
                libc::_exit(code);
            }
        }
        (hooks.child)();
        drop(sync.write);
        // Wait until the waiter wrote the P message, so it precedes our hello on the socket.
        let mut pfd = libc::pollfd {
            fd: sync.read.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        // SAFETY: polling one valid pollfd; the waiter writes one byte (or dies: POLLHUP).
        while unsafe { libc::poll(&raw mut pfd, 1, -1) } < 0 {
            if limits::errno() != libc::EINTR {
                return Err(Error::last("poll(waiter's start signal)"));
            }
        }
        Ok(())
    }

    /// Waits until the control socket has a message (`true`) or the caller has exited
    /// (`false`). A fork of the caller may keep the socket open after the caller died; the
    /// pidfd still tells.
    fn wait_for_caller(&self) -> bool {
        let Some(caller) = &self.caller else {
            return true; // no pidfd: the socket's EOF is the only sign
        };
        let mut fds = [
            libc::pollfd {
                fd: self.ctrl.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: caller.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        loop {
            // SAFETY: polling two valid pollfds we own.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
            if n > 0 {
                return fds[1].revents == 0;
            }
            if limits::errno() != libc::EINTR {
                return true;
            }
        }
    }

    /// The next job's id and numbers (its bytes stay in job memory); `None` when the parent
    /// closed the control socket or exited.
    pub fn next_job(&mut self) -> Result<Option<(u64, JobHead)>> {
        loop {
            if !self.wait_for_caller() {
                return Ok(None);
            }
            match wire::read_message_into(self.ctrl.as_raw_fd(), &mut self.msg)
                .map_err(Error::Channel)?
            {
                None => return Ok(None),
                Some((wire::JOB, id)) => {
                    return Ok(Some((id, JobHead::peek(&self.msg.as_slice()[9..])?)));
                }
                Some((wire::CANCEL, _)) => {} // for a job already finished
                Some(_) => return Err(Error::Wire("unexpected message kind")),
            }
        }
    }

    /// Sends a job's result: its facts, and its outputs and genuine frames straight from job
    /// memory (encoded into job memory too).
    pub fn send_result(&mut self, job_id: u64, res: &RawResult) -> Result<()> {
        self.authentic.clear();
        if let Ok(token) = <&Token>::try_from(self.token.as_slice()) {
            channel::authentic(self.outputs.channel.as_slice(), token, &mut self.authentic)?;
        }
        self.reply.clear();
        res.encode_into(
            job_id,
            self.outputs.stdout.as_slice(),
            self.outputs.stderr.as_slice(),
            self.authentic.as_slice(),
            &mut self.reply,
        )?;
        let sent =
            wire::write_message(&mut self.ctrl, self.reply.as_slice()).map_err(Error::Channel);
        for buf in [
            &mut self.msg,
            &mut self.ctrl_in,
            &mut self.authentic,
            &mut self.reply,
        ] {
            buf.reset();
        }
        self.outputs.reset();
        sent
    }

    pub fn send_fatal(ctrl_fd: RawFd, text: &str) {
        let mut w = wire::Writer::new(wire::FATAL, 0);
        w.str(text);
        let Ok(msg) = w.finish() else {
            return;
        };
        // SAFETY: best-effort write of a stack of bytes to the control fd.
        unsafe { libc::write(ctrl_fd, msg.as_ptr().cast(), msg.len()) };
    }

    /// Empties the scratch dir and resets its mode (a job may have chmod'ed it). The names of
    /// what the last job left pass only through job memory (`scratch.rs`).
    fn clean_scratch(&mut self) {
        // SAFETY: a valid C path; opening our own scratch directory.
        let fd = unsafe {
            libc::chmod(self.scratch.as_ptr(), 0o700);
            libc::open(
                self.scratch.as_ptr(),
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC,
            )
        };
        if fd < 0 {
            return;
        }
        crate::scratch::empty(fd, &mut self.dirents, &mut self.nested);
        self.dirents.reset();
        self.nested.reset();
        // SAFETY: closing the fd opened above.
        unsafe { libc::close(fd) };
    }

    /// Forks one child for `job` (the message last read by [`Zygote::next_job`]). In the child,
    /// returns `Forked::Child` after the recipe; in the zygote, supervises the child and returns
    /// its facts (its outputs stay in job memory until [`Zygote::send_result`]).
    pub fn run(&mut self, job_id: u64, job: &JobHead, hooks: &Hooks) -> Result<Forked> {
        self.outputs.reset();
        self.clean_scratch();
        self.token.clear();
        if !channel::fill_token(self.token.spare(TOKEN_LEN)?) {
            return Err(Error::last("getrandom(job token)"));
        }
        self.token.commit(TOKEN_LEN);
        let out = Pipe::new()?;
        let err = Pipe::new()?;
        let chan = Pipe::new()?;
        let body = self.msg.as_slice().get(9..).unwrap_or_default();
        let stdin = match body.get(job.stdin.clone()) {
            Some(data) if !data.is_empty() => Some(fds::stdin_memfd(data)?),
            _ => None,
        };
        // The job travels to the child in a memfd it alone reads after the fork: the token,
        // then the message body (source, function, arguments, limits).
        let payload = fds::memfd_of(c"job", &[self.token.as_slice(), body])?;
        let rlimits = limits::plan(job);
        let plan = Plan {
            stdin: stdin
                .as_ref()
                .map_or(self.devnull.as_raw_fd(), AsRawFd::as_raw_fd),
            stdout: out.write.as_raw_fd(),
            stderr: err.write.as_raw_fd(),
            channel: chan.write.as_raw_fd(),
            job: payload.as_raw_fd(),
            ruleset: self.ruleset.as_ref().map(Ruleset::raw_fd),
            rlimits: &rlimits,
            scratch: &self.scratch,
            uid_gid: self.uid_gid,
            drop_caps: self.drop_caps,
            no_new_privs: self.no_new_privs,
            filters: self.filters.as_ref(),
        };
        memory::scrub_stack();
        (hooks.before)();
        let started = Instant::now();
        // SAFETY: the zygote is single-threaded; the child only runs the raw recipe before
        // returning into the harness.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            (hooks.child)();
            let Some(token) = recipe::read_token(plan.job) else {
                // SAFETY: leave without running any destructor of the zygote's state.
                unsafe { libc::_exit(127) }
            };
            // SAFETY: we are the freshly forked, single-threaded child.
            return match unsafe { recipe::apply(&plan) } {
                Ok(()) => {
                    // The recipe already closed or moved these fds; dropping them here would
                    // close whatever now has their numbers (the channel at fd 3).
                    std::mem::forget((out, err, chan, stdin, payload));
                    Ok(Forked::Child(token))
                }
                Err((step, e)) => {
                    let fd = if (step as u32) > (Step::Channel as u32) {
                        CHILD_CHANNEL_FD
                    } else {
                        plan.channel
                    };
                    recipe::report_failure(fd, &token, step, e);
                    // SAFETY: leave without running any destructor of the zygote's state.
                    unsafe { libc::_exit(127) }
                }
            };
        }
        (hooks.parent)();
        if pid < 0 {
            return Err(Error::last("fork(job)"));
        }
        drop((out.write, err.write, chan.write, stdin, payload));
        let token = <&Token>::try_from(self.token.as_slice())
            .map_err(|_| Error::Wire("job token missing"))?;
        let watch = Watch {
            pid,
            stdout: out.read,
            stderr: err.read,
            channel: chan.read,
            wall: Duration::from_micros(job.wall_time_us),
            call_cpu: Duration::from_micros(job.call_cpu_time_us),
            output_cap: usize::try_from(job.output_bytes).unwrap_or(usize::MAX),
            channel_cap: supervise::channel_cap(job.n_args),
            token,
            pid_one: self.pid_one,
        };
        let mut control = CancelWatch {
            ctrl: &self.ctrl,
            buf: &mut self.ctrl_in,
            job_id,
            orphaned: false,
        };
        let mut res = supervise::supervise(&watch, &mut control, started, &mut self.outputs);
        self.orphaned = control.orphaned;
        res.failure = setup_failure(self.outputs.channel.as_slice(), token);
        Ok(Forked::Parent(res))
    }
}

/// In the child, after the recipe: its job, read from the job memfd into its own memory (the
/// token first, then the message body), and the fd closed.
pub fn read_job() -> Result<JobSpec> {
    // SAFETY: lseek on the fd the recipe put there: its size, then back to the start.
    let size = unsafe { libc::lseek(CHILD_JOB_FD, 0, libc::SEEK_END) };
    let size = usize::try_from(size).map_err(|_| Error::last("lseek(job memfd)"))?;
    let mut all = vec![0u8; size];
    let mut got = 0;
    while got < size {
        // SAFETY: reading into the unfilled part of a buffer of `size` bytes.
        let n = unsafe {
            libc::pread(
                CHILD_JOB_FD,
                all[got..].as_mut_ptr().cast(),
                size - got,
                got as libc::off_t,
            )
        };
        if n < 0 {
            if limits::errno() == libc::EINTR {
                continue;
            }
            return Err(Error::last("read(job memfd)"));
        }
        if n == 0 {
            break;
        }
        got += n as usize;
    }
    // SAFETY: the job fd is ours and no longer needed.
    unsafe { libc::close(CHILD_JOB_FD) };
    JobSpec::decode(
        all.get(TOKEN_LEN..got)
            .ok_or(Error::Wire("job memfd too short"))?,
    )
}

/// A pidfd of the caller, moved high; `None` where the kernel has no pidfds (before 5.3).
fn watch_caller(pid: u64) -> Result<Option<OwnedFd>> {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return Ok(None);
    };
    // SAFETY: pidfd_open takes a pid and flags; the kernel returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return match limits::errno() {
            libc::ESRCH => Err(Error::Wire("the caller exited before the zygote started")),
            _ => Ok(None),
        };
    }
    // SAFETY: the kernel just gave us this fd (it fits in an i32).
    let fd = unsafe { OwnedFd::from_raw_fd(fd as RawFd) };
    fds::move_high(&fd).map(Some)
}

/// Reads cancel requests for the running job from the control socket.
struct CancelWatch<'a> {
    ctrl: &'a UnixStream,
    buf: &'a mut JobBuf,
    job_id: u64,
    orphaned: bool,
}

impl Control for CancelWatch<'_> {
    fn should_cancel(&mut self) -> bool {
        if let Ok(Some((kind, id))) = wire::read_message_into(self.ctrl.as_raw_fd(), self.buf) {
            kind == wire::CANCEL && id == self.job_id
        } else {
            self.orphaned = true; // the parent is gone: stop the job
            true
        }
    }
    fn fd(&self) -> RawFd {
        self.ctrl.as_raw_fd()
    }
}

/// A child setup failure reported on the channel as an authentic `F` frame, as a sentence.
pub fn setup_failure(buf: &[u8], token: &Token) -> Option<String> {
    let mut scan = channel::FrameScan::default();
    let payload = std::iter::from_fn(|| scan.next(buf, token))
        .find(|(tag, _)| *tag == b'F')
        .map(|(_, payload)| payload)?;
    let step = u32::from_le_bytes(payload.get(..4)?.try_into().ok()?);
    let err = i32::from_le_bytes(payload.get(4..8)?.try_into().ok()?);
    Some(format!(
        "child setup step '{}' failed: {} (errno {err})",
        Step::name(step),
        std::io::Error::from_raw_os_error(err)
    ))
}
