//! Emptying a zygote's scratch directory between jobs, without the names passing through memory
//! a child inherits.
//!
//! The names of the files a job left are its bytes too (docs/design.md §6). `std::fs::read_dir`
//! would read them into heap buffers the next child copies, so directory entries are read with
//! raw `getdents64` into job memory (`memory.rs`) and removed with `unlinkat`. A directory that
//! is not empty has its entries moved up into the scratch directory under fresh names
//! (`renameat2` with `RENAME_NOREPLACE`) and is removed on a later pass: no recursion, no fd per
//! level, so any depth of nesting is emptied (one pass per level, a few syscalls each).
use std::ffi::CStr;
use std::os::fd::RawFd;

use crate::memory::JobBuf;

const DIRENT_BUF: usize = 32 << 10;

/// The entries of `dir` after the last read: `(offset of the NUL-terminated name in buf,
/// d_type)`, without `.` and `..`. Reads the whole directory into `buf`.
fn entries(dir: RawFd, buf: &mut JobBuf) -> Vec<(usize, u8)> {
    buf.clear();
    // SAFETY: rewinding a directory fd we own.
    unsafe { libc::lseek(dir, 0, libc::SEEK_SET) };
    let mut out = Vec::new();
    loop {
        let start = buf.len();
        let Ok(spare) = buf.spare(DIRENT_BUF) else {
            break;
        };
        // SAFETY: getdents64 fills the reserved part of our buffer.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, dir, spare.as_mut_ptr(), DIRENT_BUF) };
        if n <= 0 {
            break;
        }
        buf.commit(n as usize);
        let all = buf.as_slice();
        let mut off = start;
        while off + 19 < all.len() {
            let reclen = u16::from_le_bytes([all[off + 16], all[off + 17]]) as usize;
            if reclen == 0 {
                break;
            }
            let name = &all[off + 19..(off + reclen).min(all.len())];
            if !(name.starts_with(b".\0") || name.starts_with(b"..\0")) {
                out.push((off + 19, all[off + 18]));
            }
            off += reclen;
        }
    }
    out
}

fn name_at(buf: &JobBuf, off: usize) -> Option<&CStr> {
    CStr::from_bytes_until_nul(buf.as_slice().get(off..)?).ok()
}

/// Moves every entry of the directory `sub` up into `root` under a fresh name; true when it
/// moved anything.
fn lift(root: RawFd, sub: RawFd, buf: &mut JobBuf, counter: &mut u64) -> bool {
    let mut moved = false;
    for (off, _) in entries(sub, buf) {
        let Some(name) = name_at(buf, off) else {
            continue;
        };
        for _ in 0..64 {
            *counter += 1;
            let mut fresh = [0u8; 24];
            let text = format_name(*counter, &mut fresh);
            // SAFETY: both names are NUL-terminated and outlive the call.
            let rc = unsafe {
                libc::syscall(
                    libc::SYS_renameat2,
                    sub,
                    name.as_ptr(),
                    root,
                    text.as_ptr(),
                    libc::RENAME_NOREPLACE,
                )
            };
            if rc == 0 || crate::limits::errno() != libc::EEXIST {
                moved |= rc == 0;
                break;
            }
        }
    }
    moved
}

/// `.z<counter>` as a C string in `out` (no allocation: these names are ours, not the job's).
fn format_name(mut n: u64, out: &mut [u8; 24]) -> &CStr {
    let mut digits = [0u8; 20];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    out[0] = b'.';
    out[1] = b'z';
    let len = digits.len() - i;
    out[2..2 + len].copy_from_slice(&digits[i..]);
    out[2 + len] = 0;
    CStr::from_bytes_until_nul(&out[..]).unwrap_or(c".z")
}

/// Removes everything inside the directory open at `root`; true when it is empty afterwards.
/// `names` and `nested` are job memory for the directory entries. Each pass removes what it
/// can and lifts nested entries one level; it stops when the directory is empty or a pass
/// changed nothing (an entry it cannot remove).
pub fn empty(root: RawFd, names: &mut JobBuf, nested: &mut JobBuf) -> bool {
    let mut counter = 0u64;
    loop {
        let list = entries(root, names);
        if list.is_empty() {
            return true;
        }
        let mut progress = false;
        for (off, kind) in list {
            let Some(name) = name_at(names, off) else {
                continue;
            };
            // SAFETY: unlinkat/openat/fchmodat with a NUL-terminated name under our fd.
            unsafe {
                if kind != libc::DT_DIR && libc::unlinkat(root, name.as_ptr(), 0) == 0 {
                    progress = true;
                    continue;
                }
                if libc::unlinkat(root, name.as_ptr(), libc::AT_REMOVEDIR) == 0 {
                    progress = true;
                    continue;
                }
                // A directory with something in it (maybe chmod'ed shut): lift its entries.
                libc::fchmodat(root, name.as_ptr(), 0o700, 0);
                let sub = libc::openat(
                    root,
                    name.as_ptr(),
                    libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW | libc::O_CLOEXEC,
                );
                if sub >= 0 {
                    progress |= lift(root, sub, nested, &mut counter);
                    libc::close(sub);
                }
            }
        }
        if !progress {
            return false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::fd::AsRawFd;

    #[test]
    fn nested_shut_and_deep_trees_are_emptied() {
        let dir = std::env::temp_dir().join(format!("stepstones-scratch-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let mut deep = dir.join("a");
        for i in 0..600 {
            deep = deep.join(format!("d{i}"));
        }
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(deep.join("f"), b"x").unwrap();
        std::fs::write(dir.join(".z1"), b"taken").unwrap(); // a name lift would pick
        std::fs::create_dir(dir.join("shut")).unwrap();
        std::fs::write(dir.join("shut/g"), b"y").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.join("link")).unwrap();
        let shut = dir.join("shut");
        std::fs::set_permissions(&shut, std::os::unix::fs::PermissionsExt::from_mode(0o000))
            .unwrap();
        let fd = std::fs::File::open(&dir).unwrap();
        let (mut a, mut b) = (JobBuf::new().unwrap(), JobBuf::new().unwrap());
        assert!(empty(fd.as_raw_fd(), &mut a, &mut b));
        assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0);
        assert!(std::path::Path::new("/etc/passwd").exists());
        std::fs::remove_dir(&dir).unwrap();
    }
}
