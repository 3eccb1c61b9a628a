//! The seccomp policy: reviewed data, compiled once per zygote with `seccompiler`, applied last.
//!
//! Two filters are stacked (the kernel applies the strictest verdict of all filters):
//! * the **allowlist**: every syscall below is allowed, each for a written reason; anything else
//!   fails with `EPERM`, which Python raises as `PermissionError` — the program sees a clear
//!   error it can report (`os.fork()`, `socket.socket()`, `subprocess.run`, `signal.alarm`...);
//! * the **kill list**: syscalls that only an escape attempt would make (ptrace, mount, bpf,
//!   kernel keyrings, namespaces...). The process dies with `SIGSYS` at once, and the outcome is
//!   `denied_syscall`: there is nothing useful a program could do after such a refusal.
use std::collections::BTreeMap;

use seccompiler::{
    BpfProgram, SeccompAction, SeccompCmpArgLen, SeccompCmpOp, SeccompCondition, SeccompFilter,
    SeccompRule, TargetArch,
};

use crate::error::{Error, Result};

/// An allowed syscall: number, name, and why a sandboxed Python program needs it.
struct Allowed {
    nr: i64,
    name: &'static str,
    why: &'static str,
    /// When set: only allowed with argument `arg` equal to `value`.
    only: Option<(u8, u64)>,
}

const fn a(nr: i64, name: &'static str, why: &'static str) -> Allowed {
    Allowed {
        nr,
        name,
        why,
        only: None,
    }
}

const fn when(nr: i64, name: &'static str, arg: u8, value: u64, why: &'static str) -> Allowed {
    Allowed {
        nr,
        name,
        why,
        only: Some((arg, value)),
    }
}

#[cfg(target_arch = "x86_64")]
const ARCH_ONLY: &[Allowed] = &[
    a(
        libc::SYS_open,
        "open",
        "old-style open; paths are still checked by Landlock",
    ),
    a(
        libc::SYS_stat,
        "stat",
        "import system and os.path probe files",
    ),
    a(libc::SYS_lstat, "lstat", "os.path.islink, pathlib"),
    a(libc::SYS_access, "access", "os.access"),
    a(
        libc::SYS_readlink,
        "readlink",
        "os.readlink, path resolution",
    ),
    a(
        libc::SYS_mkdir,
        "mkdir",
        "os.mkdir in the scratch dir (Landlock confines it)",
    ),
    a(libc::SYS_rmdir, "rmdir", "os.rmdir in the scratch dir"),
    a(libc::SYS_unlink, "unlink", "os.remove in the scratch dir"),
    a(libc::SYS_rename, "rename", "os.rename in the scratch dir"),
    a(libc::SYS_chmod, "chmod", "os.chmod of scratch files"),
    a(
        libc::SYS_symlink,
        "symlink",
        "os.symlink in the scratch dir (targets stay Landlock-checked)",
    ),
    a(libc::SYS_pipe, "pipe", "os.pipe: a pipe inside the process"),
    a(
        libc::SYS_dup2,
        "dup2",
        "os.dup2 between the process's own fds",
    ),
    a(libc::SYS_poll, "poll", "select.poll on own fds"),
    a(libc::SYS_select, "select", "select.select on own fds"),
    a(libc::SYS_time, "time", "time.time fallback"),
    a(libc::SYS_getrlimit, "getrlimit", "resource.getrlimit"),
    a(
        libc::SYS_epoll_wait,
        "epoll_wait",
        "asyncio event loop (selectors.EpollSelector)",
    ),
    a(libc::SYS_getpgrp, "getpgrp", "os.getpgrp: identity query"),
];
#[cfg(not(target_arch = "x86_64"))]
const ARCH_ONLY: &[Allowed] = &[];

// ioctl requests a program may make: isatty() and socket.setblocking() on its own fds.
const TCGETS: u64 = 0x5401;
const FIONBIO: u64 = 0x5421;

const ALLOWED: &[Allowed] = &[
    // Input/output on fds the process already holds (stdio pipes, channel, scratch files).
    a(libc::SYS_read, "read", "read own fds"),
    a(
        libc::SYS_write,
        "write",
        "write own fds (stdout/stderr pipes are capped outside)",
    ),
    a(libc::SYS_readv, "readv", "buffered io"),
    a(libc::SYS_writev, "writev", "buffered io"),
    a(
        libc::SYS_pread64,
        "pread64",
        "zipimport and file reads at an offset",
    ),
    a(libc::SYS_pwrite64, "pwrite64", "file writes at an offset"),
    a(libc::SYS_lseek, "lseek", "file positions"),
    a(libc::SYS_close, "close", "closing own fds"),
    a(libc::SYS_dup, "dup", "os.dup"),
    a(libc::SYS_dup3, "dup3", "os.dup2 on newer libcs"),
    a(
        libc::SYS_fcntl,
        "fcntl",
        "fd flags (O_NONBLOCK, CLOEXEC), locks on own files",
    ),
    a(libc::SYS_flock, "flock", "fcntl.flock on scratch files"),
    a(libc::SYS_fsync, "fsync", "os.fsync of scratch files"),
    a(
        libc::SYS_fdatasync,
        "fdatasync",
        "os.fdatasync of scratch files",
    ),
    a(
        libc::SYS_ftruncate,
        "ftruncate",
        "file.truncate of scratch files",
    ),
    a(
        libc::SYS_fallocate,
        "fallocate",
        "os.posix_fallocate (RLIMIT_FSIZE bounds it)",
    ),
    a(
        libc::SYS_sendfile,
        "sendfile",
        "shutil.copyfile between own fds",
    ),
    a(
        libc::SYS_copy_file_range,
        "copy_file_range",
        "shutil.copyfile between own fds",
    ),
    a(
        libc::SYS_pipe2,
        "pipe2",
        "os.pipe: a pipe inside the process",
    ),
    // Paths: allowed as syscalls, confined by Landlock (read-only stdlib, writable scratch).
    a(
        libc::SYS_openat,
        "openat",
        "open files; Landlock decides which paths",
    ),
    a(libc::SYS_fstat, "fstat", "io and import stat open files"),
    a(
        libc::SYS_newfstatat,
        "newfstatat",
        "os.stat and the import system",
    ),
    a(libc::SYS_statx, "statx", "os.stat on newer libcs"),
    a(libc::SYS_statfs, "statfs", "shutil.disk_usage"),
    a(libc::SYS_fstatfs, "fstatfs", "libc probes of open files"),
    a(libc::SYS_faccessat, "faccessat", "os.access"),
    a(
        libc::SYS_faccessat2,
        "faccessat2",
        "os.access on newer libcs",
    ),
    a(
        libc::SYS_readlinkat,
        "readlinkat",
        "os.readlink, path resolution",
    ),
    a(
        libc::SYS_getdents64,
        "getdents64",
        "os.listdir, os.scandir, glob",
    ),
    a(libc::SYS_getcwd, "getcwd", "os.getcwd"),
    a(
        libc::SYS_chdir,
        "chdir",
        "os.chdir (Landlock still confines access)",
    ),
    a(libc::SYS_fchdir, "fchdir", "os.chdir to an open directory"),
    a(libc::SYS_mkdirat, "mkdirat", "os.mkdir in the scratch dir"),
    a(
        libc::SYS_unlinkat,
        "unlinkat",
        "os.remove, shutil.rmtree in the scratch dir",
    ),
    a(
        libc::SYS_renameat,
        "renameat",
        "os.rename in the scratch dir",
    ),
    a(
        libc::SYS_renameat2,
        "renameat2",
        "os.replace in the scratch dir",
    ),
    a(
        libc::SYS_symlinkat,
        "symlinkat",
        "os.symlink in the scratch dir",
    ),
    a(libc::SYS_fchmod, "fchmod", "os.chmod of scratch files"),
    a(libc::SYS_fchmodat, "fchmodat", "os.chmod of scratch files"),
    a(
        libc::SYS_utimensat,
        "utimensat",
        "os.utime, shutil.copystat",
    ),
    a(libc::SYS_umask, "umask", "os.umask, tempfile"),
    a(
        libc::SYS_getxattr,
        "getxattr",
        "shutil.copystat reads extended attributes",
    ),
    a(
        libc::SYS_lgetxattr,
        "lgetxattr",
        "shutil.copystat reads extended attributes",
    ),
    a(
        libc::SYS_fgetxattr,
        "fgetxattr",
        "shutil.copystat reads extended attributes",
    ),
    a(
        libc::SYS_listxattr,
        "listxattr",
        "shutil.copystat lists extended attributes",
    ),
    a(
        libc::SYS_llistxattr,
        "llistxattr",
        "shutil.copystat lists extended attributes",
    ),
    a(
        libc::SYS_flistxattr,
        "flistxattr",
        "shutil.copystat lists extended attributes",
    ),
    // Memory: the allocator; RLIMIT_AS bounds the total.
    a(
        libc::SYS_mmap,
        "mmap",
        "allocator, mmap module, loading C extensions",
    ),
    a(libc::SYS_munmap, "munmap", "allocator"),
    a(
        libc::SYS_mprotect,
        "mprotect",
        "loading C extensions, guard pages",
    ),
    a(libc::SYS_mremap, "mremap", "realloc of large blocks"),
    a(libc::SYS_brk, "brk", "malloc's heap"),
    a(libc::SYS_madvise, "madvise", "allocator hints"),
    a(libc::SYS_msync, "msync", "mmap.flush on scratch files"),
    a(libc::SYS_mincore, "mincore", "libc allocator probes"),
    // The process's own signals and identity.
    a(
        libc::SYS_rt_sigaction,
        "rt_sigaction",
        "signal.signal handlers of the process itself",
    ),
    a(
        libc::SYS_rt_sigprocmask,
        "rt_sigprocmask",
        "signal masks of the process itself",
    ),
    a(
        libc::SYS_rt_sigreturn,
        "rt_sigreturn",
        "returning from a signal handler",
    ),
    a(libc::SYS_sigaltstack, "sigaltstack", "faulthandler's stack"),
    a(libc::SYS_getpid, "getpid", "os.getpid"),
    a(libc::SYS_gettid, "gettid", "threading.get_native_id"),
    a(libc::SYS_getppid, "getppid", "os.getppid"),
    a(libc::SYS_getuid, "getuid", "os.getuid, getpass, tempfile"),
    a(libc::SYS_geteuid, "geteuid", "os.geteuid"),
    a(libc::SYS_getgid, "getgid", "os.getgid"),
    a(libc::SYS_getegid, "getegid", "os.getegid"),
    a(libc::SYS_getgroups, "getgroups", "os.getgroups"),
    a(libc::SYS_getresuid, "getresuid", "os.getresuid"),
    a(libc::SYS_getresgid, "getresgid", "os.getresgid"),
    a(libc::SYS_getpgid, "getpgid", "os.getpgid"),
    a(libc::SYS_getsid, "getsid", "os.getsid"),
    a(
        libc::SYS_capget,
        "capget",
        "libc probes of its own capabilities (none)",
    ),
    a(libc::SYS_uname, "uname", "platform, os.uname"),
    a(libc::SYS_sysinfo, "sysinfo", "libc's memory queries"),
    a(
        libc::SYS_getrusage,
        "getrusage",
        "resource.getrusage of itself",
    ),
    a(libc::SYS_times, "times", "os.times"),
    when(
        libc::SYS_prlimit64,
        "prlimit64",
        0,
        0,
        "resource.getrlimit/setrlimit of itself (pid 0); hard limits cannot rise",
    ),
    a(
        libc::SYS_sched_getaffinity,
        "sched_getaffinity",
        "os.sched_getaffinity, os.cpu_count",
    ),
    a(libc::SYS_sched_yield, "sched_yield", "lock back-off"),
    a(libc::SYS_getcpu, "getcpu", "libc's per-CPU caches"),
    a(
        libc::SYS_getrandom,
        "getrandom",
        "os.urandom, random seeding, hash secrets",
    ),
    // Time: sleeping is bounded by the supervisor's wall-clock deadline.
    a(
        libc::SYS_clock_gettime,
        "clock_gettime",
        "time.time, time.monotonic, time.process_time",
    ),
    a(
        libc::SYS_clock_getres,
        "clock_getres",
        "time.get_clock_info",
    ),
    a(libc::SYS_gettimeofday, "gettimeofday", "time fallback"),
    a(libc::SYS_nanosleep, "nanosleep", "time.sleep"),
    a(libc::SYS_clock_nanosleep, "clock_nanosleep", "time.sleep"),
    // Waiting on the process's own fds (no socket can reach outside: socket() is denied).
    a(libc::SYS_futex, "futex", "the GIL and locks"),
    a(libc::SYS_ppoll, "ppoll", "select.poll"),
    a(libc::SYS_pselect6, "pselect6", "select.select"),
    a(
        libc::SYS_epoll_create1,
        "epoll_create1",
        "asyncio event loop",
    ),
    a(libc::SYS_epoll_ctl, "epoll_ctl", "asyncio event loop"),
    a(libc::SYS_epoll_pwait, "epoll_pwait", "asyncio event loop"),
    a(libc::SYS_eventfd2, "eventfd2", "in-process wake-ups"),
    when(
        libc::SYS_socketpair,
        "socketpair",
        0,
        libc::AF_UNIX as u64,
        "asyncio's self-pipe: a connected pair inside the process, never a network socket",
    ),
    a(
        libc::SYS_sendto,
        "sendto",
        "writing to an in-process socketpair",
    ),
    a(
        libc::SYS_recvfrom,
        "recvfrom",
        "reading an in-process socketpair",
    ),
    a(
        libc::SYS_sendmsg,
        "sendmsg",
        "writing to an in-process socketpair",
    ),
    a(
        libc::SYS_recvmsg,
        "recvmsg",
        "reading an in-process socketpair",
    ),
    a(
        libc::SYS_shutdown,
        "shutdown",
        "closing an in-process socketpair",
    ),
    a(
        libc::SYS_getsockopt,
        "getsockopt",
        "socket options of an in-process socketpair",
    ),
    a(
        libc::SYS_setsockopt,
        "setsockopt",
        "socket options of an in-process socketpair",
    ),
    a(
        libc::SYS_getsockname,
        "getsockname",
        "asyncio inspects its socketpair",
    ),
    a(
        libc::SYS_getpeername,
        "getpeername",
        "asyncio inspects its socketpair",
    ),
    when(libc::SYS_ioctl, "ioctl", 1, TCGETS, "isatty() on own fds"),
    when(
        libc::SYS_ioctl,
        "ioctl",
        1,
        FIONBIO,
        "socket.setblocking on an in-process socketpair",
    ),
    // Ending.
    a(libc::SYS_exit, "exit", "thread exit"),
    a(libc::SYS_exit_group, "exit_group", "process exit"),
    a(
        libc::SYS_restart_syscall,
        "restart_syscall",
        "kernel restart of an interrupted sleep",
    ),
];

/// Syscalls that end the process with SIGSYS: no legitimate program makes them, and each is a
/// step of a known escape (debugging others, kernel attack surface, namespaces, mounts, keys).
const KILLED: &[(i64, &str)] = &[
    (libc::SYS_ptrace, "ptrace"),
    (libc::SYS_process_vm_readv, "process_vm_readv"),
    (libc::SYS_process_vm_writev, "process_vm_writev"),
    (libc::SYS_kexec_load, "kexec_load"),
    (libc::SYS_kexec_file_load, "kexec_file_load"),
    (libc::SYS_bpf, "bpf"),
    (libc::SYS_perf_event_open, "perf_event_open"),
    (libc::SYS_init_module, "init_module"),
    (libc::SYS_finit_module, "finit_module"),
    (libc::SYS_delete_module, "delete_module"),
    (libc::SYS_mount, "mount"),
    (libc::SYS_umount2, "umount2"),
    (libc::SYS_pivot_root, "pivot_root"),
    (libc::SYS_chroot, "chroot"),
    (libc::SYS_setns, "setns"),
    (libc::SYS_unshare, "unshare"),
    (libc::SYS_keyctl, "keyctl"),
    (libc::SYS_add_key, "add_key"),
    (libc::SYS_request_key, "request_key"),
    (libc::SYS_userfaultfd, "userfaultfd"),
    (libc::SYS_open_by_handle_at, "open_by_handle_at"),
    (libc::SYS_name_to_handle_at, "name_to_handle_at"),
    (libc::SYS_reboot, "reboot"),
    (libc::SYS_swapon, "swapon"),
    (libc::SYS_swapoff, "swapoff"),
    (libc::SYS_syslog, "syslog"),
    (libc::SYS_acct, "acct"),
    (libc::SYS_quotactl, "quotactl"),
    (libc::SYS_io_uring_setup, "io_uring_setup"),
    (libc::SYS_fsopen, "fsopen"),
    (libc::SYS_fsmount, "fsmount"),
    (libc::SYS_move_mount, "move_mount"),
    (libc::SYS_open_tree, "open_tree"),
];

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
