//! Job memory: where the zygote keeps a job's bytes, in mappings no child inherits.
//!
//! Design (docs/design.md §6, "no job sees another job"). Every job is a fork of its zygote,
//! and a child can read every byte of its address space (ctypes needs no syscall for that), so
//! anything the zygote ever held for an earlier job — its source, arguments, stdin, stdout,
//! stderr, result frames, its channel token — would be readable by every later job if it
//! rested in memory the fork copies. Freed heap memory and dead stack frames keep their bytes.
//! So the zygote holds job bytes only here:
//!
//! * a [`JobBuf`] is an anonymous mapping marked `MADV_DONTFORK`: a forked child has no
//!   mapping at that address at all (reading it faults), whatever the buffer held. Growth goes
//!   through `mremap`, which moves the pages and keeps the flag; nothing is ever copied into
//!   the heap on the way (no `Vec` reallocation leaves a copy behind);
//! * the job message is read from the control socket straight into a `JobBuf`; the zygote
//!   parses only its numbers ([`crate::wire::JobHead`]) and hands the payload (token, source,
//!   function, arguments) to the child in a memfd that the child alone reads after the fork
//!   ([`crate::zygote`]); stdin likewise;
//! * the child's stdout, stderr and channel are read from their pipes straight into
//!   `JobBuf`s, the result message is encoded into one and written to the caller from there;
//! * the zygote's stack is zeroed below the fork's frame before every fork
//!   ([`scrub_stack`]), for whatever small values (lengths, parse state) passed through it.
//!
//! The zygote's Python objects never see a job: the zygote loop is Rust, and the harness runs
//! only in the child, on the child's own copy of the job.
use std::ptr::NonNull;

use crate::error::{Error, Result};

/// Size of a fresh buffer; buffers grown past [`KEEP`] are given back after the job.
const INITIAL: usize = 64 << 10;
const KEEP: usize = 4 << 20;

/// Something bytes are appended to: a `Vec` (the parent side, tests) or a [`JobBuf`].
pub trait Sink {
    fn put(&mut self, data: &[u8]) -> Result<()>;
    /// Everything written so far, writable (to fill in a length written before the body).
    fn written(&mut self) -> &mut [u8];
}

impl Sink for Vec<u8> {
    fn put(&mut self, data: &[u8]) -> Result<()> {
        self.extend_from_slice(data);
        Ok(())
    }
    fn written(&mut self) -> &mut [u8] {
        self
    }
}

/// A growable byte buffer in an anonymous `MADV_DONTFORK` mapping (see the module doc).
pub struct JobBuf {
    ptr: NonNull<u8>,
    len: usize,
    cap: usize,
}

fn page_round(n: usize) -> usize {
    n.div_ceil(4096).saturating_mul(4096)
}

fn map(cap: usize) -> Result<NonNull<u8>> {
    // SAFETY: a fresh private anonymous mapping; no existing memory is touched.
    let p = unsafe {
        libc::mmap(
            std::ptr::null_mut(),
            cap,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(Error::last("mmap(job memory)"));
    }
    // SAFETY: advising the mapping we just created.
    if unsafe { libc::madvise(p, cap, libc::MADV_DONTFORK) } != 0 {
        let e = Error::last("madvise(MADV_DONTFORK)");
        // SAFETY: unmapping what we mapped above.
        unsafe { libc::munmap(p, cap) };
        return Err(e);
    }
    NonNull::new(p.cast()).ok_or(Error::Wire("mmap returned NULL"))
}

impl JobBuf {
    pub fn new() -> Result<Self> {
        Ok(Self {
            ptr: map(INITIAL)?,
            len: 0,
            cap: INITIAL,
        })
    }

    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: the first `len` bytes of the mapping are initialised (written by us or read(2)).
        unsafe { std::slice::from_raw_parts(self.ptr.as_ptr(), self.len) }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Forgets the contents (they stay in the mapping, which no child inherits).
    pub fn clear(&mut self) {
        self.len = 0;
    }

    /// Shortens to `n` bytes (no-op when already shorter).
    pub fn truncate(&mut self, n: usize) {
        self.len = self.len.min(n);
    }

    /// Room for `extra` more bytes. The mapping moves with `mremap` (pages, not copies).
    pub fn reserve(&mut self, extra: usize) -> Result<()> {
        let need = self
            .len
            .checked_add(extra)
            .ok_or(Error::Wire("job buffer overflow"))?;
        if need <= self.cap {
            return Ok(());
        }
        let cap = page_round(need.max(self.cap.saturating_mul(2)));
        // SAFETY: resizing our own mapping; MREMAP_MAYMOVE keeps its contents and flags.
        let p = unsafe {
            libc::mremap(
                self.ptr.as_ptr().cast(),
                self.cap,
                cap,
                libc::MREMAP_MAYMOVE,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(Error::last("mremap(job memory)"));
        }
        self.ptr = NonNull::new(p.cast()).ok_or(Error::Wire("mremap returned NULL"))?;
        self.cap = cap;
        Ok(())
    }

    /// `n` writable bytes after the contents (for `read(2)`); [`JobBuf::commit`] keeps them.
    pub fn spare(&mut self, n: usize) -> Result<&mut [u8]> {
        self.reserve(n)?;
        // SAFETY: reserve made [len, len + n) part of our mapping; anonymous pages read as 0.
        Ok(unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr().add(self.len), n) })
    }

    /// Keeps `n` more bytes written into [`JobBuf::spare`].
    pub fn commit(&mut self, n: usize) {
        self.len = (self.len + n).min(self.cap);
    }

    /// After a job: empties the buffer and gives a large mapping's memory back to the system.
    pub fn reset(&mut self) {
        self.len = 0;
        if self.cap > KEEP {
            // SAFETY: shrinking our own mapping in place keeps its flags.
            let p = unsafe { libc::mremap(self.ptr.as_ptr().cast(), self.cap, INITIAL, 0) };
            if p != libc::MAP_FAILED {
                self.cap = INITIAL;
            }
        }
    }
}

impl Sink for JobBuf {
    fn put(&mut self, data: &[u8]) -> Result<()> {
        self.spare(data.len())?.copy_from_slice(data);
        self.commit(data.len());
        Ok(())
    }
    fn written(&mut self) -> &mut [u8] {
        // SAFETY: as in as_slice, mutably; we hold &mut self.
        unsafe { std::slice::from_raw_parts_mut(self.ptr.as_ptr(), self.len) }
    }
}

impl Drop for JobBuf {
    fn drop(&mut self) {
        // SAFETY: unmapping our own mapping, which nothing references after drop.
        unsafe { libc::munmap(self.ptr.as_ptr().cast(), self.cap) };
    }
}

// SAFETY: JobBuf owns its mapping exclusively, like a Vec owns its heap block.
unsafe impl Send for JobBuf {}

/// Zeroes 8 KiB of stack below the caller's frame: dead frames of the last job's
/// supervision (lengths, parse state) must not reach the next child, which copies the stack.
#[inline(never)]
#[allow(clippy::large_stack_arrays)] // the point: zeroing that much of the stack
pub fn scrub_stack() {
    const STACK_SCRUB: usize = 8 << 10; // several times what supervising a job uses
    let mut zeros = [0u8; STACK_SCRUB];
    // The compiler may not drop the writes: the buffer escapes to an opaque use.
    std::hint::black_box(&mut zeros);
}

/// Turns off malloc's fast bins in the zygote (and so in every child, which inherits the
/// setting). The zygote allocates next to nothing per job, so the small blocks it and Python's
/// fork hooks free would sit in the fast bins, and every child's first large `malloc` would
/// consolidate them: writes to — so copies of — dozens of inherited heap pages per job (a
/// tenth of a trivial job's CPU). Python's small objects use its own allocator, not these bins.
pub fn no_fast_bins() {
    #[cfg(target_env = "gnu")]
    // SAFETY: mallopt only changes the calling process's allocator tuning.
    unsafe {
        libc::mallopt(libc::M_MXFAST, 0);
    }
}

/// Reads exactly `n` bytes from `fd` into `buf` (blocking fd). `Ok(false)`: EOF before any byte.
pub fn read_exact_into(fd: i32, buf: &mut JobBuf, n: usize) -> std::io::Result<bool> {
    let start = buf.len();
    let mut got = 0;
    let spare = buf.spare(n).map_err(std::io::Error::other)?;
    while got < n {
        // SAFETY: reading into the reserved, writable part of our mapping.
        let r = unsafe { libc::read(fd, spare[got..].as_mut_ptr().cast(), n - got) };
        if r < 0 {
            let e = std::io::Error::last_os_error();
            if e.kind() == std::io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            if got == 0 {
                return Ok(false);
            }
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        got += r as usize;
    }
    buf.truncate(start);
    buf.commit(n);
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::tests::in_child;

    #[test]
    fn a_forked_child_has_no_job_memory_even_after_growth() {
        let mut buf = JobBuf::new().unwrap();
        buf.put(b"secret of an earlier job").unwrap();
        buf.put(&vec![7u8; 3 * INITIAL]).unwrap(); // moves the mapping
        assert_eq!(&buf.as_slice()[..6], b"secret");
        let addr = buf.as_slice().as_ptr() as usize;
        let status = in_child(|| {
            let mut vec = [0u8; 1];
            // SAFETY: mincore only reports on the address; it never touches the memory.
            let rc = unsafe { libc::mincore(addr as *mut libc::c_void, 4096, vec.as_mut_ptr()) };
            i32::from(!(rc == -1 && crate::limits::errno() == libc::ENOMEM))
        });
        assert!(libc::WIFEXITED(status));
        assert_eq!(
            libc::WEXITSTATUS(status),
            0,
            "the child inherited the buffer"
        );
        buf.reset();
        assert!(buf.is_empty());
    }
}
