//! File descriptors of a job: capped output pipes, the harness channel, stdin and the job itself
//! as memfds.
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};

use crate::error::{Error, Result};
use crate::memory::JobBuf;

/// Fixed fd numbers inside the child (the harness knows them).
pub const CHILD_CHANNEL_FD: RawFd = 3;
/// The job (token, then the job message body), which the child reads after the recipe.
pub const CHILD_JOB_FD: RawFd = 4;
pub const CHILD_RULESET_FD: RawFd = 5;

/// A pipe: read end (ours, non-blocking) and write end (the child's).
pub struct Pipe {
    pub read: OwnedFd,
    pub write: OwnedFd,
}

impl Pipe {
    pub fn new() -> Result<Self> {
        let mut fds = [0; 2];
        // SAFETY: fds is a valid 2-element out-array.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(Error::last("pipe2"));
        }
        // SAFETY: the kernel just created both fds and nobody else owns them.
        let (read, write) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
        set_nonblocking(read.as_raw_fd())?;
        Ok(Self { read, write })
    }
}

pub fn set_nonblocking(fd: RawFd) -> Result<()> {
    // SAFETY: fcntl on an fd we own.
    let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
    // SAFETY: as above.
    if flags < 0 || unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_NONBLOCK) } < 0 {
        return Err(Error::last("fcntl(O_NONBLOCK)"));
    }
    Ok(())
}

/// Moves a long-lived fd to a number >= 100 so the child's fixed numbers (0-4) never collide.
pub fn move_high(fd: &OwnedFd) -> Result<OwnedFd> {
    // SAFETY: duplicating an fd we own.
    let high = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_DUPFD_CLOEXEC, 100) };
    if high < 0 {
        return Err(Error::last("fcntl(F_DUPFD_CLOEXEC)"));
    }
    // SAFETY: the kernel just gave us this fd.
    Ok(unsafe { OwnedFd::from_raw_fd(high) })
}

/// A memfd holding `parts`, one after another, read from offset 0 (moved to fd >= 100).
pub fn memfd_of(name: &std::ffi::CStr, parts: &[&[u8]]) -> Result<OwnedFd> {
    // SAFETY: the name is a valid C string.
    let fd = unsafe { libc::memfd_create(name.as_ptr(), libc::MFD_CLOEXEC) };
    if fd < 0 {
        return Err(Error::last("memfd_create"));
    }
    // SAFETY: the kernel just gave us this fd.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    for data in parts {
        write_fully(&fd, data)?;
    }
    // SAFETY: plain lseek on our fd.
    if unsafe { libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_SET) } != 0 {
        return Err(Error::last("lseek(job memfd)"));
    }
    move_high(&fd)
}

fn write_fully(fd: &OwnedFd, data: &[u8]) -> Result<()> {
    let mut off = 0;
    while off < data.len() {
        // SAFETY: writing from a valid slice.
        let n = unsafe {
            libc::write(
                fd.as_raw_fd(),
                data[off..].as_ptr().cast(),
                data.len() - off,
            )
        };
        if n < 0 {
            if crate::limits::errno() == libc::EINTR {
                continue;
            }
            return Err(Error::last("write(memfd)"));
        }
        off += n as usize;
    }
    Ok(())
}

/// The job's stdin: a sealed memfd holding `data` (the child can read it, never change it).
pub fn stdin_memfd(data: &[u8]) -> Result<OwnedFd> {
    // SAFETY: the name is a valid C string.
    let fd = unsafe {
        libc::memfd_create(
            c"stdin".as_ptr(),
            libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING,
        )
    };
    if fd < 0 {
        return Err(Error::last("memfd_create"));
    }
    // SAFETY: the kernel just gave us this fd.
    let fd = unsafe { OwnedFd::from_raw_fd(fd) };
    write_fully(&fd, data)?;
    let seals = libc::F_SEAL_WRITE | libc::F_SEAL_GROW | libc::F_SEAL_SHRINK | libc::F_SEAL_SEAL;
    // SAFETY: plain fcntl/lseek on our fd.
    unsafe {
        if libc::fcntl(fd.as_raw_fd(), libc::F_ADD_SEALS, seals) != 0 {
            return Err(Error::last("fcntl(F_ADD_SEALS)"));
        }
        if libc::lseek(fd.as_raw_fd(), 0, libc::SEEK_SET) != 0 {
            return Err(Error::last("lseek(stdin memfd)"));
        }
    }
    Ok(fd)
}

/// Reads what is available from a non-blocking fd straight into `buf` (job memory: no stack
/// or heap copy), keeping at most `cap` bytes. Returns `(eof, over_cap)`; a buffer that cannot
/// grow counts as over the cap (the job is then ended as an output limit).
pub fn drain(fd: RawFd, buf: &mut JobBuf, cap: usize) -> (bool, bool) {
    loop {
        let room = cap.saturating_sub(buf.len());
        let want = 1 << 16;
        let Ok(spare) = buf.spare(want) else {
            return (false, true);
        };
        // SAFETY: reading into the reserved, writable part of the job buffer.
        let n = unsafe { libc::read(fd, spare.as_mut_ptr().cast(), want) };
        if n == 0 {
            return (true, false);
        }
        if n < 0 {
            let e = std::io::Error::last_os_error().raw_os_error();
            if e == Some(libc::EINTR) {
                continue;
            }
            // EAGAIN: nothing more for now; any other error ends the stream.
            return (e != Some(libc::EAGAIN), false);
        }
        let n = n as usize;
        buf.commit(n.min(room));
        if n > room {
            return (false, true);
        }
    }
}

/// Closes every fd from `first` up (raw syscall; child side).
///
/// # Safety
/// The caller must not use any fd >= `first` afterwards.
pub unsafe fn close_from(first: RawFd) -> libc::c_long {
    // SAFETY: close_range takes plain integers.
    unsafe { libc::syscall(libc::SYS_close_range, first as u32, u32::MAX, 0u32) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stdin_memfd_is_readable_and_sealed() {
        let fd = stdin_memfd(b"hello\n").unwrap();
        let mut buf = JobBuf::new().unwrap();
        let (eof, over) = drain(fd.as_raw_fd(), &mut buf, 100);
        assert!(eof && !over);
        assert_eq!(buf.as_slice(), b"hello\n");
        // SAFETY: writing to our own fd; the seal must refuse it.
        let n = unsafe { libc::pwrite(fd.as_raw_fd(), b"x".as_ptr().cast(), 1, 0) };
        assert_eq!(n, -1);
    }

    #[test]
    fn drain_stops_at_the_cap_and_reports_it() {
        let p = Pipe::new().unwrap();
        // SAFETY: writing to our own pipe.
        unsafe { libc::write(p.write.as_raw_fd(), [b'a'; 100].as_ptr().cast(), 100) };
        let mut buf = JobBuf::new().unwrap();
        let (eof, over) = drain(p.read.as_raw_fd(), &mut buf, 10);
        assert!(!eof && over);
        assert_eq!(buf.len(), 10);
        // What came past the cap in the same read is dropped, not kept for later.
        drop(p.write);
        let mut rest = JobBuf::new().unwrap();
        assert!(drain(p.read.as_raw_fd(), &mut rest, 1000).0);
        assert!(rest.is_empty());
    }
}
