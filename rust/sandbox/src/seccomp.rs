//! The seccomp policy: reviewed data, compiled once per zygote with `seccompiler`, in two stages.
//!
//! Filters stack: the kernel applies the strictest verdict of every filter a process holds, and
//! a forked child inherits its parent's filters for free. So the expensive part is attached once:
//! * **zygote stage**, installed by the zygote once after its own set-up, inherited by every job:
//!   - the **kill list**: syscalls that only an escape attempt would make (ptrace, mount, bpf,
//!     kernel keyrings, namespaces...). The process dies with `SIGSYS` at once, and the outcome
//!     is `denied_syscall`: there is nothing useful a program could do after such a refusal;
//!   - the **allowlist** (`seccomp_policy.rs`): each allowed syscall with a reason, plus the few
//!     the zygote itself needs (`ZYGOTE_ONLY`: fork, wait, kill, the recipe's uid and Landlock
//!     steps); anything else fails with `EPERM`, which Python raises as `PermissionError` — the
//!     program sees a clear error it can report (`os.fork()`, `socket.socket()`, `signal.alarm`);
//! * **job stage**, installed by each child as the last step of its recipe: revokes `ZYGOTE_ONLY`
//!   (`EPERM`). A job is left with exactly the reviewed allowlist.
//!
//! Cost: attaching a filter costs kernel time in proportion to its length (JIT, plus the
//! per-syscall action cache, which emulates the program for every syscall number). Attaching the
//! 650-instruction allowlist in every child took about 0.4 ms, the largest part of the price of
//! isolation per job; the job stage is about 50 instructions.
use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::error::{Error, Result};
use crate::seccomp_policy::{Allowed, Only, ALLOWED, ARCH_ONLY, KILLED, ZYGOTE_ONLY};

fn target() -> Result<TargetArch> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| Error::Seccomp(e.to_string()))
}

fn rule(only: Only) -> Result<SeccompRule> {
    let (arg, op, value) = match only {
        Only::Eq(arg, value) => (arg, SeccompCmpOp::Eq, value),
        Only::NoBits(arg, bits) => (arg, SeccompCmpOp::MaskedEq(bits), 0),
    };
    let cond = SeccompCondition::new(arg, SeccompCmpArgLen::Qword, op, value)
        .map_err(|e| Error::Seccomp(e.to_string()))?;
    SeccompRule::new(vec![cond]).map_err(|e| Error::Seccomp(e.to_string()))
}

fn compile(
    rules: BTreeMap<i64, Vec<SeccompRule>>,
    mismatch: SeccompAction,
    matched: SeccompAction,
) -> Result<BpfProgram> {
    let filter = SeccompFilter::new(rules, mismatch, matched, target()?)
        .map_err(|e| Error::Seccomp(e.to_string()))?;
    BpfProgram::try_from(filter).map_err(|e| Error::Seccomp(e.to_string()))
}

/// The allowlist filter for `lists`: listed syscalls pass, everything else fails with EPERM.
fn allowlist(lists: &[&[Allowed]]) -> Result<BpfProgram> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for s in lists.iter().flat_map(|l| l.iter()) {
        debug_assert!(!s.why.is_empty() && !s.name.is_empty());
        let entry = rules.entry(s.nr).or_default();
        if let Some(only) = s.only {
            entry.push(rule(only)?);
        }
    }
    compile(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
    )
}

/// The kill-list filter: listed syscalls kill the process (SIGSYS), the rest pass on.
fn kill_list() -> Result<BpfProgram> {
    let rules = KILLED.iter().map(|(nr, _)| (*nr, Vec::new())).collect();
    compile(rules, SeccompAction::Allow, SeccompAction::KillProcess)
}

/// A rule matching when the fd argument `arg` is the harness channel (fd 3). Compared on the
/// low 32 bits, as the kernel reads an fd (a high bit set above them must not slip past).
fn on_channel(arg: u8) -> Result<SeccompRule> {
    let fd = u64::try_from(crate::fds::CHILD_CHANNEL_FD).unwrap_or(3);
    let cond = SeccompCondition::new(arg, SeccompCmpArgLen::Dword, SeccompCmpOp::Eq, fd)
        .map_err(|e| Error::Seccomp(e.to_string()))?;
    SeccompRule::new(vec![cond]).map_err(|e| Error::Seccomp(e.to_string()))
}

/// The job stage: `ZYGOTE_ONLY` fails with EPERM, and so does anything that would put another
/// file at the channel's fd (`close(3)`, `dup2(x, 3)`, `dup3(x, 3, ...)`); everything else
/// passes to the zygote stage.
fn revoke_list() -> Result<BpfProgram> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> =
        ZYGOTE_ONLY.iter().map(|s| (s.nr, Vec::new())).collect();
    rules.insert(libc::SYS_close, vec![on_channel(0)?]);
    rules.insert(libc::SYS_dup3, vec![on_channel(1)?]);
    #[cfg(target_arch = "x86_64")]
    rules.insert(libc::SYS_dup2, vec![on_channel(1)?]);
    compile(
        rules,
        SeccompAction::Allow,
        SeccompAction::Errno(libc::EPERM as u32),
    )
}

/// The three programs, compiled once per zygote.
pub struct Filters {
    /// Zygote stage, first: the kill list.
    pub kill: BpfProgram,
    /// Zygote stage, second: the job allowlist plus `ZYGOTE_ONLY`.
    pub zygote: BpfProgram,
    /// Job stage: revokes `ZYGOTE_ONLY`; the last step of every child's recipe.
    pub job: BpfProgram,
}

impl Filters {
    pub fn compile() -> Result<Self> {
        Ok(Self {
            kill: kill_list()?,
            zygote: allowlist(&[ALLOWED, ARCH_ONLY, ZYGOTE_ONLY])?,
            job: revoke_list()?,
        })
    }

    /// Installs the zygote stage on the calling (zygote) process: `no_new_privs`, the kill
    /// list, the allowlist. Every child forked afterwards inherits them.
    ///
    /// # Safety
    /// Call once, in the single-threaded zygote, after everything the zygote does only at
    /// start-up (namespaces, mounts, the Landlock ruleset): those calls are denied afterwards.
    pub unsafe fn install_zygote_stage(&self) -> Result<()> {
        // SAFETY: prctl on the calling process; install on live programs.
        unsafe {
            // Required for an unprivileged filter; harmless to the zygote, which never execs.
            if libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 {
                return Err(Error::last("prctl(no_new_privs) in the zygote"));
            }
            if install(&self.kill) != 0 {
                return Err(Error::last("seccomp(kill list)"));
            }
            if install(&self.zygote) != 0 {
                return Err(Error::last("seccomp(allowlist)"));
            }
        }
        Ok(())
    }
}

/// Installs one prepared program on the calling thread (raw syscall, no allocation).
///
/// # Safety
/// Must be called with `no_new_privs` set (or `CAP_SYS_ADMIN`); the program must outlive the
/// call (the kernel copies it).
pub unsafe fn install(prog: &BpfProgram) -> libc::c_int {
    let fprog = libc::sock_fprog {
        len: prog.len() as u16,
        filter: prog.as_ptr().cast::<libc::sock_filter>().cast_mut(),
    };
    // SAFETY: fprog points at a valid, live BPF program; the kernel copies it.
    unsafe {
        libc::syscall(
            libc::SYS_seccomp,
            libc::SECCOMP_SET_MODE_FILTER,
            0,
            &raw const fprog,
        ) as libc::c_int
    }
}

/// Whether this kernel supports seccomp filters (`PR_GET_SECCOMP` answers).
pub fn available() -> bool {
    // SAFETY: PR_GET_SECCOMP reads the calling thread's mode; no memory is passed.
    unsafe { libc::prctl(libc::PR_GET_SECCOMP, 0, 0, 0, 0) >= 0 }
}

/// The name of a syscall number when it is in one of the lists (for reports).
pub fn name_of(nr: i64) -> Option<&'static str> {
    ALLOWED
        .iter()
        .chain(ARCH_ONLY)
        .chain(ZYGOTE_ONLY)
        .find(|s| s.nr == nr)
        .map(|s| s.name)
        .or_else(|| KILLED.iter().find(|(n, _)| *n == nr).map(|(_, s)| *s))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// Tests run on threads; a child forked by one test would inherit another test's pipe ends
    /// (there is no exec to apply CLOEXEC), so forking tests take turns.
    pub(crate) fn fork_lock() -> std::sync::MutexGuard<'static, ()> {
        static LOCK: std::sync::Mutex<()> = std::sync::Mutex::new(());
        LOCK.lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Runs `f` in a forked child (tests must not lock down the test runner) and returns its
    /// wait status.
    pub(crate) fn in_child(f: impl FnOnce() -> i32) -> i32 {
        let _serial = fork_lock();
        // SAFETY: the child only runs `f` and exits; the parent waits for it.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0);
        if pid == 0 {
            let code = f();
            // SAFETY: leaving the forked child without running the parent's destructors.
            unsafe { libc::_exit(code) };
        }
        let mut status = 0;
        // SAFETY: waiting for our own child.
        unsafe { libc::waitpid(pid, &raw mut status, 0) };
        status
    }

    #[test]
    fn every_allowed_syscall_has_a_reason_and_no_duplicates_with_the_kill_list() {
        for s in ALLOWED.iter().chain(ARCH_ONLY).chain(ZYGOTE_ONLY) {
            assert!(!s.why.is_empty(), "{}", s.name);
            assert!(KILLED.iter().all(|(nr, _)| *nr != s.nr), "{}", s.name);
        }
        // What the job stage revokes is never also on the job's own allowlist.
        for z in ZYGOTE_ONLY {
            assert!(
                ALLOWED.iter().chain(ARCH_ONLY).all(|s| s.nr != z.nr),
                "{}",
                z.name
            );
        }
        assert!(Filters::compile().is_ok());
        assert_eq!(name_of(libc::SYS_ptrace), Some("ptrace"));
    }

    #[test]
    fn denied_syscalls_fail_with_eperm_and_allowed_ones_work() {
        let filters = Filters::compile().unwrap();
        let status = in_child(|| {
            // SAFETY: raw syscalls in a throwaway child.
            unsafe {
                if filters.install_zygote_stage().is_err() || install(&filters.job) != 0 {
                    return 10;
                }
                if libc::getpid() <= 0 {
                    return 11;
                }
                if libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0) != -1
                    || *libc::__errno_location() != libc::EPERM
                {
                    return 12;
                }
                if libc::syscall(libc::SYS_fork) != -1 || *libc::__errno_location() != libc::EPERM {
                    return 13;
                }
                if libc::kill(1, libc::SIGTERM) != -1 {
                    return 14;
                }
                if libc::setpgid(0, 0) != -1 || *libc::__errno_location() != libc::EPERM {
                    return 15;
                }
            }
            0
        });
        assert!(libc::WIFEXITED(status), "status {status}");
        assert_eq!(libc::WEXITSTATUS(status), 0);
    }

    #[test]
    fn a_job_cannot_close_or_replace_the_channel_fd() {
        let filters = Filters::compile().unwrap();
        let status = in_child(|| {
            // SAFETY: raw syscalls in a throwaway child.
            unsafe {
                let spare = libc::fcntl(0, libc::F_DUPFD, 10);
                if libc::dup2(spare, 3) != 3 || filters.install_zygote_stage().is_err() {
                    return 30;
                }
                if install(&filters.job) != 0 {
                    return 31;
                }
                let eperm = |rc: libc::c_long| rc == -1 && *libc::__errno_location() == libc::EPERM;
                if !eperm(libc::syscall(libc::SYS_close, 3)) {
                    return 32;
                }
                // The kernel reads fds as 32 bits: a high bit set above them must not help.
                if !eperm(libc::syscall(libc::SYS_close, 0x1_0000_0003_i64)) {
                    return 33;
                }
                if !eperm(libc::syscall(libc::SYS_dup3, spare, 3, 0)) {
                    return 34;
                }
                #[cfg(target_arch = "x86_64")]
                if !eperm(libc::syscall(libc::SYS_dup2, spare, 3)) {
                    return 35;
                }
                // Other fds stay the program's own.
                if libc::dup2(3, spare) != spare || libc::close(spare) != 0 {
                    return 36;
                }
            }
            0
        });
        assert!(libc::WIFEXITED(status), "status {status}");
        assert_eq!(libc::WEXITSTATUS(status), 0);
    }

    #[test]
    fn kill_listed_syscalls_end_the_process_with_sigsys() {
        let filters = Filters::compile().unwrap();
        let status = in_child(|| {
            // SAFETY: raw syscalls in a throwaway child.
            unsafe {
                let _ = filters.install_zygote_stage();
                install(&filters.job);
                libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            }
            0
        });
        assert!(libc::WIFSIGNALED(status));
        assert_eq!(libc::WTERMSIG(status), libc::SIGSYS);
    }

    #[test]
    fn the_zygote_stage_lets_the_zygote_fork_but_not_start_threads_and_jobs_cannot_fork() {
        let filters = Filters::compile().unwrap();
        let status = in_child(|| {
            // SAFETY: raw syscalls in a throwaway child (the "zygote") and its own child.
            unsafe {
                if filters.install_zygote_stage().is_err() {
                    return 20;
                }
                if std::thread::Builder::new().spawn(|| {}).is_ok() {
                    return 21;
                }
                let pid = libc::fork();
                if pid < 0 {
                    return 22;
                }
                if pid == 0 {
                    // The "job": the last step of its recipe, then try to fork.
                    if libc::setpgid(0, 0) != 0 || install(&filters.job) != 0 {
                        libc::_exit(23);
                    }
                    let forked = libc::fork();
                    let code = if forked == -1 && *libc::__errno_location() == libc::EPERM {
                        0
                    } else {
                        24
                    };
                    libc::_exit(code);
                }
                let mut status = 0;
                if libc::waitpid(pid, &raw mut status, 0) != pid {
                    return 25;
                }
                libc::WEXITSTATUS(status)
            }
        });
        assert!(libc::WIFEXITED(status), "status {status}");
        assert_eq!(libc::WEXITSTATUS(status), 0);
    }
}
