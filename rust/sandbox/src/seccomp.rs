//! The seccomp policy: reviewed data, compiled once per zygote with `seccompiler`, applied last.
//!
//! Two filters are stacked (the kernel applies the strictest verdict of all filters):
//! * the **allowlist** (`seccomp_policy.rs`): each allowed syscall with a reason; anything else
//!   fails with `EPERM`, which Python raises as `PermissionError` — the program sees a clear
//!   error it can report (`os.fork()`, `socket.socket()`, `subprocess.run`, `signal.alarm`...);
//! * the **kill list**: syscalls that only an escape attempt would make (ptrace, mount, bpf,
//!   kernel keyrings, namespaces...). The process dies with `SIGSYS` at once, and the outcome is
//!   `denied_syscall`: there is nothing useful a program could do after such a refusal.
//!
//! Cost: attaching the allowlist (about 650 linear BPF instructions from `seccompiler`) takes
//! roughly 0.4 ms of kernel time per child (JIT plus the kernel's per-syscall action cache,
//! which emulates the program for every syscall number); it is the largest part of the price
//! of isolation per job. A shorter program would cut it.
use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::error::{Error, Result};
use crate::seccomp_policy::{ALLOWED, ARCH_ONLY, KILLED};

fn target() -> Result<TargetArch> {
    TargetArch::try_from(std::env::consts::ARCH).map_err(|e| Error::Seccomp(e.to_string()))
}

fn rule(arg: u8, value: u64) -> Result<SeccompRule> {
    let cond = SeccompCondition::new(arg, SeccompCmpArgLen::Qword, SeccompCmpOp::Eq, value)
        .map_err(|e| Error::Seccomp(e.to_string()))?;
    SeccompRule::new(vec![cond]).map_err(|e| Error::Seccomp(e.to_string()))
}

/// The allowlist filter: allowed syscalls pass, everything else fails with EPERM.
pub fn allowlist() -> Result<BpfProgram> {
    let mut rules: BTreeMap<i64, Vec<SeccompRule>> = BTreeMap::new();
    for s in ALLOWED.iter().chain(ARCH_ONLY) {
        debug_assert!(!s.why.is_empty() && !s.name.is_empty());
        let entry = rules.entry(s.nr).or_default();
        if let Some((arg, value)) = s.only {
            entry.push(rule(arg, value)?);
        }
    }
    // A syscall listed both with and without a condition would be ambiguous: keep it strict.
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Errno(libc::EPERM as u32),
        SeccompAction::Allow,
        target()?,
    )
    .map_err(|e| Error::Seccomp(e.to_string()))?;
    BpfProgram::try_from(filter).map_err(|e| Error::Seccomp(e.to_string()))
}

/// The kill-list filter: listed syscalls kill the process (SIGSYS), the rest pass to the
/// allowlist.
pub fn kill_list() -> Result<BpfProgram> {
    let rules: BTreeMap<i64, Vec<SeccompRule>> =
        KILLED.iter().map(|(nr, _)| (*nr, Vec::new())).collect();
    let filter = SeccompFilter::new(
        rules,
        SeccompAction::Allow,
        SeccompAction::KillProcess,
        target()?,
    )
    .map_err(|e| Error::Seccomp(e.to_string()))?;
    BpfProgram::try_from(filter).map_err(|e| Error::Seccomp(e.to_string()))
}

/// Both programs, compiled once per zygote, in the order the child installs them.
pub struct Filters {
    pub kill: BpfProgram,
    pub allow: BpfProgram,
}

impl Filters {
    pub fn compile() -> Result<Self> {
        Ok(Self {
            kill: kill_list()?,
            allow: allowlist()?,
        })
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
        for s in ALLOWED.iter().chain(ARCH_ONLY) {
            assert!(!s.why.is_empty(), "{}", s.name);
            assert!(KILLED.iter().all(|(nr, _)| *nr != s.nr), "{}", s.name);
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
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if install(&filters.kill) != 0 || install(&filters.allow) != 0 {
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
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                install(&filters.kill);
                install(&filters.allow);
                libc::ptrace(libc::PTRACE_TRACEME, 0, 0, 0);
            }
            0
        });
        assert!(libc::WIFSIGNALED(status));
        assert_eq!(libc::WTERMSIG(status), libc::SIGSYS);
    }
}
