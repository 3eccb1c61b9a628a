//! The seccomp policy as reviewed data: every allowed syscall with the reason a sandboxed Python
//! program needs it, the few more the zygote needs (revoked in every job), and the syscalls that
//! kill the process. `seccomp.rs` compiles it.

/// A condition on one argument of an allowed syscall.
#[derive(Clone, Copy)]
pub enum Only {
    /// Argument `.0` must equal `.1`.
    Eq(u8, u64),
    /// Argument `.0` must have none of the bits of `.1` set.
    NoBits(u8, u64),
}

/// An allowed syscall: number, name, and why a sandboxed Python program needs it.
pub struct Allowed {
    pub nr: i64,
    pub name: &'static str,
    pub why: &'static str,
    /// When set: only allowed when the argument condition holds.
    pub only: Option<Only>,
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
        only: Some(Only::Eq(arg, value)),
    }
}

const fn without(nr: i64, name: &'static str, arg: u8, bits: u64, why: &'static str) -> Allowed {
    Allowed {
        nr,
        name,
        why,
        only: Some(Only::NoBits(arg, bits)),
    }
}

/// `clone` flags the zygote never uses: threads and new namespaces. Its `fork` passes
/// `CLONE_CHILD_SETTID | CLONE_CHILD_CLEARTID | SIGCHLD`.
const CLONE_FORBIDDEN: u64 = (libc::CLONE_THREAD
    | libc::CLONE_VM
    | libc::CLONE_NEWNS
    | libc::CLONE_NEWUSER
    | libc::CLONE_NEWPID
    | libc::CLONE_NEWNET
    | libc::CLONE_NEWIPC
    | libc::CLONE_NEWUTS
    | libc::CLONE_NEWCGROUP) as u64;

/// What the zygote does between jobs, and what a child's recipe does before its last step:
/// allowed by the zygote's filter (installed once, inherited by every child), then revoked
/// (`EPERM`) by the small filter each child installs as its last step. A job never has them.
pub const ZYGOTE_ONLY: &[Allowed] = &[
    without(
        libc::SYS_clone,
        "clone",
        0,
        CLONE_FORBIDDEN,
        "the zygote forks one child per job (no threads, no namespaces)",
    ),
    a(
        libc::SYS_wait4,
        "wait4",
        "the zygote reaps a job and reads its rusage",
    ),
    a(
        libc::SYS_waitid,
        "waitid",
        "the zygote checks a job without reaping it",
    ),
    a(
        libc::SYS_pidfd_open,
        "pidfd_open",
        "the zygote waits on a job's pidfd for the wall-clock deadline",
    ),
    a(
        libc::SYS_kill,
        "kill",
        "the zygote kills a job's process group",
    ),
    a(
        libc::SYS_memfd_create,
        "memfd_create",
        "the zygote passes a job's stdin as a sealed memfd",
    ),
    a(
        libc::SYS_close_range,
        "close_range",
        "the child recipe closes every fd it does not keep",
    ),
    a(
        libc::SYS_setpgid,
        "setpgid",
        "the child recipe's own process group",
    ),
    a(
        libc::SYS_prctl,
        "prctl",
        "the child recipe: parent-death signal and no_new_privs",
    ),
    a(
        libc::SYS_setgroups,
        "setgroups",
        "the child recipe drops supplementary groups",
    ),
    a(
        libc::SYS_setresgid,
        "setresgid",
        "the child recipe drops to an unprivileged gid",
    ),
    a(
        libc::SYS_setresuid,
        "setresuid",
        "the child recipe drops to an unprivileged uid",
    ),
    a(
        libc::SYS_capset,
        "capset",
        "the child recipe drops every capability",
    ),
    a(
        libc::SYS_landlock_restrict_self,
        "landlock_restrict_self",
        "the child recipe enters the Landlock domain",
    ),
    a(
        libc::SYS_seccomp,
        "seccomp",
        "the child recipe installs the filter that revokes this list",
    ),
];

#[cfg(target_arch = "x86_64")]
pub const ARCH_ONLY: &[Allowed] = &[
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
pub const ARCH_ONLY: &[Allowed] = &[];

// ioctl requests a program may make: isatty() and socket.setblocking() on its own fds.
const TCGETS: u64 = 0x5401;
const FIONBIO: u64 = 0x5421;

pub const ALLOWED: &[Allowed] = &[
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
pub const KILLED: &[(i64, &str)] = &[
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
