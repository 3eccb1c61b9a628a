//! Landlock, by raw syscalls: a ruleset built once per zygote, restricted onto each child.
//!
//! Jobs may read (and map executable) only the interpreter's files and shared libraries, read
//! and write only their scratch directory, use no TCP at all, and (ABI 6+) send no signals
//! and reach no abstract UNIX sockets outside their own domain.
use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};

const CREATE_RULESET_VERSION: u32 = 1;
const RULE_PATH_BENEATH: libc::c_int = 1;

const EXECUTE: u64 = 1 << 0;
const WRITE_FILE: u64 = 1 << 1;
const READ_FILE: u64 = 1 << 2;
const READ_DIR: u64 = 1 << 3;
const REMOVE_DIR: u64 = 1 << 4;
const REMOVE_FILE: u64 = 1 << 5;
const MAKE_CHAR: u64 = 1 << 6;
const MAKE_DIR: u64 = 1 << 7;
const MAKE_REG: u64 = 1 << 8;
const MAKE_SOCK: u64 = 1 << 9;
const MAKE_FIFO: u64 = 1 << 10;
const MAKE_BLOCK: u64 = 1 << 11;
const MAKE_SYM: u64 = 1 << 12;
const REFER: u64 = 1 << 13; // ABI 2
const TRUNCATE: u64 = 1 << 14; // ABI 3
const IOCTL_DEV: u64 = 1 << 15; // ABI 5
const NET_BIND_TCP: u64 = 1 << 0; // ABI 4
const NET_CONNECT_TCP: u64 = 1 << 1; // ABI 4
const SCOPE_ABSTRACT_UNIX_SOCKET: u64 = 1 << 0; // ABI 6
const SCOPE_SIGNAL: u64 = 1 << 1; // ABI 6

#[repr(C)]
struct RulesetAttr {
    handled_access_fs: u64,
    handled_access_net: u64,
    scoped: u64,
}

#[repr(C, packed)]
struct PathBeneathAttr {
    allowed_access: u64,
    parent_fd: i32,
}

/// The Landlock ABI version of this kernel, 0 when unavailable (or disabled at boot).
pub fn abi() -> u32 {
    // SAFETY: the VERSION query takes no attribute pointer.
    let v = unsafe {
        libc::syscall(
            libc::SYS_landlock_create_ruleset,
            std::ptr::null::<RulesetAttr>(),
            0usize,
            CREATE_RULESET_VERSION,
        )
    };
    u32::try_from(v).unwrap_or(0)
}

fn fs_rights(abi: u32) -> u64 {
    let mut all = EXECUTE
        | WRITE_FILE
        | READ_FILE
        | READ_DIR
        | REMOVE_DIR
        | REMOVE_FILE
        | MAKE_CHAR
        | MAKE_DIR
        | MAKE_REG
        | MAKE_SOCK
        | MAKE_FIFO
        | MAKE_BLOCK
        | MAKE_SYM;
    if abi >= 2 {
        all |= REFER;
    }
    if abi >= 3 {
        all |= TRUNCATE;
    }
    if abi >= 5 {
        all |= IOCTL_DEV;
    }
    all
}

const FILE_RIGHTS: u64 = EXECUTE | WRITE_FILE | READ_FILE | TRUNCATE | IOCTL_DEV;

/// A created ruleset (an fd), ready to be restricted onto children.
pub struct Ruleset {
    fd: OwnedFd,
}

impl Ruleset {
    /// Builds the ruleset: `readable` paths read+execute, `writable` paths read+write.
    /// Paths that do not exist are skipped (a distribution may lack /lib64).
    pub fn build(abi: u32, readable: &[String], writable: &[String]) -> Result<Self> {
        let handled = fs_rights(abi);
        let attr = RulesetAttr {
            handled_access_fs: handled,
            handled_access_net: if abi >= 4 {
                NET_BIND_TCP | NET_CONNECT_TCP
            } else {
                0
            },
            scoped: if abi >= 6 {
                SCOPE_ABSTRACT_UNIX_SOCKET | SCOPE_SIGNAL
            } else {
                0
            },
        };
        let size = match abi {
            1..=3 => 8,
            4 | 5 => 16,
            _ => std::mem::size_of::<RulesetAttr>(),
        };
        // SAFETY: attr is a valid ruleset attribute of at least `size` bytes.
        let fd = unsafe {
            libc::syscall(
                libc::SYS_landlock_create_ruleset,
                &raw const attr,
                size,
                0u32,
            )
        };
        if fd < 0 {
            return Err(Error::last("landlock_create_ruleset"));
        }
        // SAFETY: the kernel just gave us this fd.
        let fd = unsafe { OwnedFd::from_raw_fd(fd as i32) };
        let ruleset = Self { fd };
        let read = READ_FILE | READ_DIR | EXECUTE;
        for p in readable {
            ruleset.add(p, read & handled)?;
        }
        let write = handled & !(MAKE_CHAR | MAKE_BLOCK | EXECUTE | IOCTL_DEV);
        for p in writable {
            ruleset.add(p, write)?;
        }
        Ok(ruleset)
    }

    fn add(&self, path: &str, mut access: u64) -> Result<()> {
        let c = CString::new(Path::new(path).as_os_str().as_bytes())
            .map_err(|_| Error::Nul(path.to_string()))?;
        // SAFETY: c is a valid NUL-terminated path.
        let dir = unsafe { libc::open(c.as_ptr(), libc::O_PATH | libc::O_CLOEXEC) };
        if dir < 0 {
            return Ok(()); // absent on this system: nothing to allow
        }
        // SAFETY: we own the fd just opened.
        let dir = unsafe { OwnedFd::from_raw_fd(dir) };
        // SAFETY: an all-zero stat is a valid value to be overwritten by fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: st is a valid out-buffer for fstat.
        if unsafe { libc::fstat(dir.as_raw_fd(), &raw mut st) } != 0 {
            return Err(Error::last("fstat"));
        }
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            access &= FILE_RIGHTS; // rights on a file must be file rights
            if path.starts_with("/dev/") {
                access |= WRITE_FILE; // writing /dev/null is how programs discard output
            }
        }
        let attr = PathBeneathAttr {
            allowed_access: access,
            parent_fd: dir.as_raw_fd(),
        };
        // SAFETY: attr is a valid path-beneath rule; the ruleset fd is ours.
        let rc = unsafe {
            libc::syscall(
                libc::SYS_landlock_add_rule,
                self.fd.as_raw_fd(),
                RULE_PATH_BENEATH,
                &raw const attr,
                0u32,
            )
        };
        if rc != 0 {
            return Err(Error::last("landlock_add_rule"));
        }
        Ok(())
    }

    /// Moves the ruleset fd above the child's fixed fd numbers.
    pub fn into_high(self) -> Result<Self> {
        Ok(Self {
            fd: crate::fds::move_high(&self.fd)?,
        })
    }

    pub fn raw_fd(&self) -> i32 {
        self.fd.as_raw_fd()
    }
}

/// Restricts the calling thread by the ruleset at `fd` (raw syscall; child side).
///
/// # Safety
/// `fd` must be a Landlock ruleset fd; `no_new_privs` must be set.
pub unsafe fn restrict_self(fd: i32) -> libc::c_long {
    // SAFETY: plain syscall with integer arguments.
    unsafe { libc::syscall(libc::SYS_landlock_restrict_self, fd, 0u32) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::tests::in_child;

    #[test]
    fn restricted_child_reads_only_what_is_allowed() {
        let abi = abi();
        if abi == 0 {
            eprintln!("Landlock unavailable: skipping");
            return;
        }
        let dir = std::env::temp_dir().join(format!("ll-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let allowed = dir.join("ok.txt");
        std::fs::write(&allowed, b"x").unwrap();
        let ruleset = Ruleset::build(abi, &[], &[dir.to_string_lossy().into_owned()]).unwrap();
        let fd = ruleset.raw_fd();
        let ok = CString::new(allowed.as_os_str().as_bytes()).unwrap();
        let status = in_child(|| {
            // SAFETY: raw syscalls in a throwaway child.
            unsafe {
                libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
                if restrict_self(fd) != 0 {
                    return 10;
                }
                if libc::open(ok.as_ptr(), libc::O_RDONLY) < 0 {
                    return 11;
                }
                if libc::open(c"/etc/passwd".as_ptr(), libc::O_RDONLY) >= 0 {
                    return 12;
                }
                if *libc::__errno_location() != libc::EACCES {
                    return 13;
                }
            }
            0
        });
        std::fs::remove_dir_all(&dir).unwrap();
        assert!(libc::WIFEXITED(status));
        assert_eq!(libc::WEXITSTATUS(status), 0);
    }
}
