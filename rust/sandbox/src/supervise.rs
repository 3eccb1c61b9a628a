//! Supervision of one child from outside: deadlines, output caps, per-call CPU, cancel, wait4.
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::time::{Duration, Instant};

use crate::channel::{FrameScan, Token};
use crate::fds::drain;
use crate::memory::JobBuf;
use crate::wire::RawResult;

/// Most bytes the harness channel may carry for one job: room for every call's value at the
/// literal codec's limit (1M characters, a few bytes each), bounded so a job cannot make its
/// zygote buffer more than 256 MiB. Past it the job ends as an output limit.
pub fn channel_cap(calls: usize) -> usize {
    (2usize << 20)
        .saturating_add(calls.saturating_mul(4 << 20))
        .min(256 << 20)
}

/// The read ends and budgets the supervisor works with.
pub struct Watch<'a> {
    pub pid: libc::pid_t,
    pub stdout: OwnedFd,
    pub stderr: OwnedFd,
    pub channel: OwnedFd,
    pub wall: Duration,
    pub call_cpu: Duration,
    pub output_cap: usize,
    pub channel_cap: usize,
    /// The job's token, in job memory (`memory.rs`): never copied onto the zygote's stack.
    pub token: &'a Token,
    /// The zygote is pid 1 of a PID namespace: it may end every other process in it.
    pub pid_one: bool,
}

/// What may interrupt a job from the zygote's control socket.
pub trait Control {
    /// Called when the control fd is readable; true means "kill this job now".
    fn should_cancel(&mut self) -> bool;
    fn fd(&self) -> RawFd;
}

fn pidfd_open(pid: libc::pid_t) -> Option<OwnedFd> {
    // SAFETY: pidfd_open takes plain integers.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0u32) };
    // SAFETY: the kernel just gave us this fd.
    (fd >= 0).then(|| unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

fn kill_tree(pid: libc::pid_t) {
    // SAFETY: signalling our own child and its process group.
    unsafe {
        libc::kill(-pid, libc::SIGKILL);
        libc::kill(pid, libc::SIGKILL);
    }
}

/// Ends processes the job left behind (possible only with seccomp off: a `setsid` grandchild
/// escapes the process group). As pid 1 of the namespace, `kill(-1)` reaches all of them.
fn kill_strays(w: &Watch) {
    // SAFETY: signalling the job's group, and (as namespace init) every other process in it.
    unsafe {
        libc::kill(-w.pid, libc::SIGKILL);
        // kill(-1) outside a PID namespace would signal every process the zygote's uid may
        // reach on the host, so it is sent only when the kernel confirms we are its init.
        if w.pid_one && libc::getpid() == 1 {
            libc::kill(-1, libc::SIGKILL);
        }
    }
}

/// Reaps every exited child without blocking (strays reparented to the zygote).
fn reap_strays() {
    let mut status = 0;
    // SAFETY: non-blocking wait for any child of the zygote.
    while unsafe { libc::waitpid(-1, &raw mut status, libc::WNOHANG) } > 0 {}
}

/// CPU time of a running child (user + system), via its CPU-time clock.
fn child_cpu(clock: Option<libc::clockid_t>) -> Duration {
    let Some(clock) = clock else {
        return Duration::ZERO;
    };
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid out-struct.
    if unsafe { libc::clock_gettime(clock, &raw mut ts) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
}

/// Tracks authentic `S`/`V`/`N`/`E` frames of the harness channel: is a call running?
#[derive(Default)]
struct Frames {
    scan: FrameScan,
    in_call: bool,
}

impl Frames {
    /// Parses new complete frames; true when a call started among them. Bytes without the
    /// job's token (written by the program itself) are skipped wherever they are.
    fn scan(&mut self, buf: &[u8], token: &Token) -> bool {
        let mut started = false;
        while let Some((tag, _)) = self.scan.next(buf, token) {
            match tag {
                b'S' => {
                    self.in_call = true;
                    started = true;
                }
                b'V' | b'N' | b'E' => self.in_call = false,
                _ => {}
            }
        }
        started
    }
}

/// Where the supervisor puts a job's output: job memory, which no later child inherits.
pub struct Outputs {
    pub stdout: JobBuf,
    pub stderr: JobBuf,
    pub channel: JobBuf,
}

impl Outputs {
    pub fn new() -> crate::error::Result<Self> {
        Ok(Self {
            stdout: JobBuf::new()?,
            stderr: JobBuf::new()?,
            channel: JobBuf::new()?,
        })
    }

    /// Empties every buffer for the next job (and gives large ones' memory back).
    pub fn reset(&mut self) {
        self.stdout.reset();
        self.stderr.reset();
        self.channel.reset();
    }
}

/// Supervises the child until it is gone; returns the facts, its output in `out` (emptied
/// first). Never leaves a zombie.
pub fn supervise(
    w: &Watch<'_>,
    control: &mut dyn Control,
    started: Instant,
    out: &mut Outputs,
) -> RawResult {
    out.reset();
    let mut res = RawResult::default();
    let deadline = started + w.wall;
    let pidfd = pidfd_open(w.pid);
    let mut clock: libc::clockid_t = 0;
    // SAFETY: clock is a valid out-param.
    let clock = (unsafe { libc::clock_getcpuclockid(w.pid, &raw mut clock) } == 0).then_some(clock);
    let mut frames = Frames::default();
    let mut call_started_cpu = Duration::ZERO;
    let (mut out_open, mut err_open, mut chan_open) = (true, true, true);
    let mut killed = false;
    let mut exited = false;
    while !exited || out_open || err_open || chan_open {
        let now = Instant::now();
        if !killed && now >= deadline {
            res.timed_out = true;
            kill_tree(w.pid);
            killed = true;
        }
        let mut timeout = deadline.saturating_duration_since(now);
        if frames.in_call && !killed {
            let used = child_cpu(clock).saturating_sub(call_started_cpu);
            if used >= w.call_cpu {
                res.call_timed_out = true;
                kill_tree(w.pid);
                killed = true;
            } else {
                timeout = timeout.min(w.call_cpu.saturating_sub(used) + Duration::from_millis(1));
            }
        }
        if killed {
            timeout = Duration::from_millis(100);
        }
        let fd_or_off = |open: bool, fd: RawFd| if open { fd } else { -1 };
        let mut fds = [
            libc::pollfd {
                fd: pidfd
                    .as_ref()
                    .map_or(-1, |p| if exited { -1 } else { p.as_raw_fd() }),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: fd_or_off(out_open, w.stdout.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: fd_or_off(err_open, w.stderr.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: fd_or_off(chan_open, w.channel.as_raw_fd()),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: if killed { -1 } else { control.fd() },
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        let ms = i32::try_from(timeout.as_millis().max(1)).unwrap_or(i32::MAX);
        // SAFETY: fds is a valid array of pollfd.
        let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, ms) };
        if n < 0 {
            if crate::limits::errno() != libc::EINTR && !killed {
                // poll itself failed (ENOMEM): the job cannot be watched, so it ends now.
                kill_tree(w.pid);
                killed = true;
            }
            continue;
        }
        if fds[1].revents != 0 {
            let (eof, over) = drain(w.stdout.as_raw_fd(), &mut out.stdout, w.output_cap);
            out_open = !eof;
            if over {
                res.stdout_truncated = true;
            }
        }
        if fds[2].revents != 0 {
            let (eof, over) = drain(w.stderr.as_raw_fd(), &mut out.stderr, w.output_cap);
            err_open = !eof;
            if over {
                res.stderr_truncated = true;
            }
        }
        if fds[3].revents != 0 {
            let (eof, over) = drain(w.channel.as_raw_fd(), &mut out.channel, w.channel_cap);
            chan_open = !eof;
            if frames.scan(out.channel.as_slice(), w.token) {
                call_started_cpu = child_cpu(clock);
            }
            if over {
                res.output_exceeded = true;
            }
        }
        if (res.stdout_truncated || res.stderr_truncated || res.output_exceeded) && !killed {
            res.output_exceeded = true;
            kill_tree(w.pid);
            killed = true;
        }
        if fds[4].revents != 0 && control.should_cancel() && !killed {
            res.cancelled = true;
            kill_tree(w.pid);
            killed = true;
        }
        if !exited && (fds[0].revents != 0 || pidfd.is_none()) {
            exited = reaped_or_exited(w.pid, pidfd.is_some());
            if exited {
                // Leftover descendants would keep the pipes open (and run on): end them now.
                kill_strays(w);
            }
        }
        if killed && exited {
            // Output after the kill is not wanted; pipes of a dead child are at EOF anyway.
            out_open = out_open && !drain(w.stdout.as_raw_fd(), &mut out.stdout, w.output_cap).0;
            err_open = err_open && !drain(w.stderr.as_raw_fd(), &mut out.stderr, w.output_cap).0;
            chan_open =
                chan_open && !drain(w.channel.as_raw_fd(), &mut out.channel, w.channel_cap).0;
            if out_open || err_open || chan_open {
                break; // a writer survives (impossible without fork): stop waiting for EOF
            }
        }
    }
    let mut status = 0;
    // SAFETY: rusage is a valid out-struct; pid is our child.
    let mut ru: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: waiting for our own child (blocking: it has exited or was SIGKILLed).
    let rc = unsafe { libc::wait4(w.pid, &raw mut status, 0, &raw mut ru) };
    res.wall_time_us = started.elapsed().as_micros() as u64;
    reap_strays();
    if rc == w.pid {
        if libc::WIFEXITED(status) {
            res.exit_code = Some(libc::WEXITSTATUS(status));
        } else if libc::WIFSIGNALED(status) {
            res.signal = Some(libc::WTERMSIG(status));
        }
        let tv = |t: libc::timeval| t.tv_sec as u64 * 1_000_000 + t.tv_usec as u64;
        res.cpu_time_us = tv(ru.ru_utime) + tv(ru.ru_stime);
        res.max_rss_kib = ru.ru_maxrss as u64;
    }
    res
}

/// True when the child has exited (it stays a zombie until wait4 below).
fn reaped_or_exited(pid: libc::pid_t, have_pidfd: bool) -> bool {
    if have_pidfd {
        return true; // the pidfd became readable: the process exited
    }
    // SAFETY: an all-zero siginfo is a valid value to be overwritten by waitid.
    let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
    // SAFETY: peek at the child's state without reaping it.
    let rc = unsafe {
        libc::waitid(
            libc::P_PID,
            pid as libc::id_t,
            &raw mut info,
            libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
        )
    };
    // SAFETY: si_pid is valid for SIGCHLD-type siginfo.
    rc == 0 && unsafe { info.si_pid() } == pid
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::channel::{self, TOKEN_LEN};
    use crate::fds::Pipe;

    struct NoControl;
    impl Control for NoControl {
        fn should_cancel(&mut self) -> bool {
            false
        }
        fn fd(&self) -> RawFd {
            -1
        }
    }

    /// Forks a child running `body` with stdout/stderr/channel pipes, and supervises it.
    fn supervised(
        wall_ms: u64,
        call_cpu_ms: u64,
        cap: usize,
        body: fn(RawFd, &Token),
    ) -> RawResult {
        let _serial = crate::seccomp::tests::fork_lock();
        let (out, err, chan) = (
            Pipe::new().unwrap(),
            Pipe::new().unwrap(),
            Pipe::new().unwrap(),
        );
        let token = channel::new_token().unwrap();
        let started = Instant::now();
        // SAFETY: the child only runs `body` with raw calls and exits.
        let pid = unsafe { libc::fork() };
        if pid == 0 {
            // SAFETY: raw calls in the forked test child.
            unsafe {
                libc::dup2(out.write.as_raw_fd(), 1);
                libc::dup2(err.write.as_raw_fd(), 2);
            }
            body(chan.write.as_raw_fd(), &token);
            // SAFETY: leaving the child.
            unsafe { libc::_exit(3) };
        }
        drop((out.write, err.write, chan.write));
        let w = Watch {
            pid,
            stdout: out.read,
            stderr: err.read,
            channel: chan.read,
            wall: Duration::from_millis(wall_ms),
            call_cpu: Duration::from_millis(call_cpu_ms),
            output_cap: cap,
            channel_cap: channel_cap(1),
            token: &token,
            pid_one: false,
        };
        let mut out = Outputs::new().unwrap();
        let mut r = supervise(&w, &mut NoControl, started, &mut out);
        r.stdout = out.stdout.as_slice().to_vec();
        r.stderr = out.stderr.as_slice().to_vec();
        r.channel = out.channel.as_slice().to_vec();
        r
    }

    #[test]
    fn exit_code_cpu_and_output_are_collected() {
        let r = supervised(5000, 5000, 100, |_, _| {
            // SAFETY: writing a static buffer to stdout.
            unsafe { libc::write(1, b"hi\n".as_ptr().cast(), 3) };
        });
        assert_eq!((r.exit_code, r.signal, r.timed_out), (Some(3), None, false));
        assert_eq!(r.stdout, b"hi\n");
        assert!(r.wall_time_us > 0);
    }

    #[test]
    fn wall_deadline_kills_a_sleeper() {
        let r = supervised(200, 5000, 100, |_, _| {
            std::thread::sleep(Duration::from_secs(20));
        });
        assert!(r.timed_out);
        assert_eq!(r.signal, Some(libc::SIGKILL));
        assert!(r.wall_time_us < 5_000_000);
    }

    #[test]
    fn output_over_the_cap_is_cut_and_the_child_killed() {
        let r = supervised(5000, 5000, 1000, |_, _| loop {
            // SAFETY: writing a stack buffer to stdout.
            unsafe { libc::write(1, [b'x'; 512].as_ptr().cast(), 512) };
        });
        assert!(r.output_exceeded && r.stdout_truncated && !r.stderr_truncated);
        assert_eq!(r.stdout.len(), 1000);
        assert_eq!(r.signal, Some(libc::SIGKILL));
    }

    #[test]
    fn per_call_cpu_budget_counts_only_authentic_call_starts() {
        let r = supervised(10_000, 100, 100, |chan, token| {
            channel::write_all(chan, &channel::frame(token, b'S', &["0"]));
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {}
        });
        assert!(r.call_timed_out && !r.timed_out);
        // A forged start (wrong token) never starts the budget: only the wall clock stops it.
        let r = supervised(600, 100, 100, |chan, _| {
            channel::write_all(chan, &channel::frame(&[0; TOKEN_LEN], b'S', &["0"]));
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {}
        });
        assert!(r.timed_out && !r.call_timed_out);
    }

    #[test]
    fn garbage_on_the_channel_does_not_switch_off_the_per_call_budget() {
        // Five bytes of garbage (a length too short for a frame), then a genuine call start
        // and a spinning call: the budget must still end it, long before the wall clock.
        let r = supervised(10_000, 100, 100, |chan, token| {
            channel::write_all(chan, &[1, 0, 0, 0, b'X']);
            channel::write_all(chan, &channel::frame(token, b'S', &["0"]));
            let start = Instant::now();
            while start.elapsed() < Duration::from_secs(5) {}
        });
        assert!(r.call_timed_out && !r.timed_out, "{r:?}");
    }
}
