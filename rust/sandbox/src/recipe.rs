//! The child recipe: the ordered steps a forked child takes before it runs any job code.
//!
//! Everything is prepared by the zygote before `fork` (fds, rlimit structs, the BPF programs,
//! the Landlock ruleset, C strings); the child makes raw syscalls only and allocates nothing.
//! A failing step is reported to the zygote as (step, errno) on the harness channel, and the
//! child exits; the job's outcome is then `sandbox_failure` with the step's name.
use std::ffi::CStr;
use std::os::fd::RawFd;

use crate::channel::{Token, TOKEN_LEN};
use crate::fds::{close_from, CHILD_CHANNEL_FD, CHILD_JOB_FD, CHILD_RULESET_FD};
use crate::landlock;
use crate::limits::{self, errno, Rlimit};
use crate::seccomp::{self, Filters};

/// The steps, in order. The numbers travel on the wire; the names are for humans.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u32)]
pub enum Step {
    ProcessGroup = 1,
    ParentDeathSignal,
    Stdin,
    StdoutStderr,
    Channel,
    CloseFds,
    Rlimits,
    ScratchCwd,
    DropUid,
    DropCapabilities,
    NoNewPrivs,
    Landlock,
    Seccomp,
}

impl Step {
    pub fn name(code: u32) -> &'static str {
        match code {
            1 => "own process group",
            2 => "parent-death signal",
            3 => "stdin",
            4 => "stdout/stderr pipes",
            5 => "harness channel",
            6 => "close other fds",
            7 => "rlimits",
            8 => "scratch directory as cwd",
            9 => "drop to an unprivileged uid",
            10 => "drop capabilities",
            11 => "no_new_privs",
            12 => "landlock",
            13 => "seccomp",
            _ => "unknown step",
        }
    }
}

/// Everything the child needs, prepared before fork.
pub struct Plan<'a> {
    pub stdin: RawFd,
    pub stdout: RawFd,
    pub stderr: RawFd,
    pub channel: RawFd,
    /// The job memfd (token and job message), read by the child after the recipe.
    pub job: RawFd,
    pub ruleset: Option<RawFd>,
    pub rlimits: &'a [Rlimit],
    pub scratch: &'a CStr,
    pub uid_gid: Option<(libc::uid_t, libc::gid_t)>,
    pub drop_caps: bool,
    pub no_new_privs: bool,
    pub filters: Option<&'a Filters>,
}

fn check(step: Step, ok: bool) -> Result<(), (Step, i32)> {
    if ok {
        Ok(())
    } else {
        Err((step, errno()))
    }
}

/// Runs the recipe in the freshly forked child.
///
/// # Safety
/// Must be called only in a single-threaded child right after `fork`; fds in `plan` must be
/// valid. Afterwards the process is locked down for good.
pub unsafe fn apply(plan: &Plan<'_>) -> Result<(), (Step, i32)> {
    // SAFETY: raw syscalls on prepared, valid arguments, in the single-threaded child.
    unsafe {
        // 1. Own process group, so the supervisor can kill the whole tree with one signal.
        check(Step::ProcessGroup, libc::setpgid(0, 0) == 0)?;
        // 2. Die with the zygote: no job outlives its supervisor (PID namespace aside).
        check(
            Step::ParentDeathSignal,
            libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL, 0, 0, 0) == 0,
        )?;
        // 3. stdin: the job's own input (a sealed memfd) or /dev/null; never the caller's.
        check(Step::Stdin, libc::dup2(plan.stdin, 0) == 0)?;
        // 4. stdout/stderr: pipes the supervisor reads and caps while the job runs.
        check(Step::StdoutStderr, libc::dup2(plan.stdout, 1) == 1)?;
        check(Step::StdoutStderr, libc::dup2(plan.stderr, 2) == 2)?;
        // 5. The harness channel at a fixed number: the only place results may come from.
        check(
            Step::Channel,
            libc::dup2(plan.channel, CHILD_CHANNEL_FD) == CHILD_CHANNEL_FD,
        )?;
        // The job itself, at a fixed number: the child alone reads it, after the fork.
        check(
            Step::Channel,
            libc::dup2(plan.job, CHILD_JOB_FD) == CHILD_JOB_FD,
        )?;
        let mut first_free = CHILD_JOB_FD + 1;
        if let Some(rs) = plan.ruleset {
            check(
                Step::CloseFds,
                libc::dup2(rs, CHILD_RULESET_FD) == CHILD_RULESET_FD,
            )?;
            first_free = CHILD_RULESET_FD + 1;
        }
        // 6. Every other fd closed: nothing of the zygote (control socket) or caller leaks in.
        check(Step::CloseFds, close_from(first_free) == 0)?;
        // 7. Resource limits: CPU seconds, address space, file size, open files, no cores.
        limits::apply(plan.rlimits).map_err(|e| (Step::Rlimits, e))?;
        // 8. cwd = the scratch dir, the only writable place.
        check(Step::ScratchCwd, libc::chdir(plan.scratch.as_ptr()) == 0)?;
        // 9. A non-root uid/gid with no supplementary groups (when started as root).
        if let Some((uid, gid)) = plan.uid_gid {
            check(Step::DropUid, libc::setgroups(0, std::ptr::null()) == 0)?;
            check(Step::DropUid, libc::setresgid(gid, gid, gid) == 0)?;
            check(Step::DropUid, libc::setresuid(uid, uid, uid) == 0)?;
        }
        // 10. No capabilities (matters inside a user namespace, where we are "root").
        if plan.drop_caps {
            let mut header = CapHeader {
                version: 0x2008_0522, // _LINUX_CAPABILITY_VERSION_3
                pid: 0,
            };
            let data = [CapData::default(); 2];
            check(
                Step::DropCapabilities,
                libc::syscall(libc::SYS_capset, &raw mut header, data.as_ptr()) == 0,
            )?;
        }
        // 11. no_new_privs: no privilege gain ever again; required for unprivileged Landlock
        // and seccomp, so it comes before both.
        if plan.no_new_privs {
            check(
                Step::NoNewPrivs,
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0,
            )?;
        }
        // 12. Landlock: read-only interpreter files, writable scratch, no TCP, no signals out.
        if plan.ruleset.is_some() {
            check(
                Step::Landlock,
                landlock::restrict_self(CHILD_RULESET_FD) == 0,
            )?;
            libc::close(CHILD_RULESET_FD);
        }
        // 13. seccomp, last (it forbids the calls above): the zygote already holds the kill
        // list and the allowlist, inherited over fork; the job stage revokes what only the
        // zygote and the steps above needed (fork, wait, kill, setpgid, prctl, uid changes...).
        if let Some(f) = plan.filters {
            check(Step::Seccomp, seccomp::install(&f.job) == 0)?;
        }
    }
    Ok(())
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Default, Clone, Copy)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

/// Reads the job's token from the start of the job memfd (raw `pread` into the child's own
/// stack; child side). `None` if it cannot be read.
pub fn read_token(job: RawFd) -> Option<Token> {
    let mut token = [0u8; TOKEN_LEN];
    // SAFETY: reading into a valid stack buffer from an fd the recipe owns.
    let n = unsafe { libc::pread(job, token.as_mut_ptr().cast(), TOKEN_LEN, 0) };
    (usize::try_from(n) == Ok(TOKEN_LEN)).then_some(token)
}

/// Reports a failed step on the channel as an authenticated binary `F` frame: `step u32 |
/// errno i32` after the token (raw write from a stack buffer; child side).
pub fn report_failure(channel: RawFd, token: &Token, step: Step, err: i32) {
    let mut frame = [0u8; 4 + 1 + TOKEN_LEN + 8];
    frame[..4].copy_from_slice(&((1 + TOKEN_LEN + 8) as u32).to_le_bytes());
    frame[4] = b'F';
    frame[5..5 + TOKEN_LEN].copy_from_slice(token);
    frame[5 + TOKEN_LEN..9 + TOKEN_LEN].copy_from_slice(&(step as u32).to_le_bytes());
    frame[9 + TOKEN_LEN..].copy_from_slice(&err.to_le_bytes());
    crate::channel::write_all(channel, &frame);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fds::Pipe;
    use crate::seccomp::tests::in_child;
    use std::os::fd::AsRawFd;

    #[test]
    fn recipe_runs_in_order_and_reports_a_failing_step() {
        let filters = Filters::compile().unwrap();
        let out = Pipe::new().unwrap();
        let chan = Pipe::new().unwrap();
        let limits = limits::plan(&crate::wire::JobHead {
            cpu_time_s: 5,
            memory_bytes: 1 << 30,
            file_size_bytes: 1 << 20,
            open_files: 32,
            ..Default::default()
        });
        let plan = Plan {
            stdin: out.read.as_raw_fd(),
            stdout: out.write.as_raw_fd(),
            stderr: out.write.as_raw_fd(),
            channel: chan.write.as_raw_fd(),
            job: chan.write.as_raw_fd(),
            ruleset: None,
            rlimits: &limits,
            scratch: c"/nonexistent-scratch",
            uid_gid: None,
            drop_caps: false,
            no_new_privs: true,
            filters: Some(&filters),
        };
        // SAFETY: apply runs in the forked, single-threaded test child.
        let status = in_child(|| match unsafe { apply(&plan) } {
            Ok(()) => 0,
            Err((step, e)) => {
                report_failure(CHILD_CHANNEL_FD, &[7; TOKEN_LEN], step, e);
                1
            }
        });
        assert_eq!(libc::WEXITSTATUS(status), 1);
        let mut buf = crate::memory::JobBuf::new().unwrap();
        crate::fds::drain(chan.read.as_raw_fd(), &mut buf, 100);
        let buf = buf.as_slice();
        let detail = crate::zygote::setup_failure(buf, &[7; TOKEN_LEN]).unwrap();
        assert!(detail.contains("scratch directory as cwd"), "{detail}");
        assert!(
            detail.contains(&format!("errno {}", libc::ENOENT)),
            "{detail}"
        );
        assert!(crate::zygote::setup_failure(buf, &[8; TOKEN_LEN]).is_none());
    }
}
