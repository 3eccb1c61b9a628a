//! The harness channel: result frames that only the engine can write.
//!
//! The child writes frames `u32 length | tag | 16-byte token | payload` to fd 3. The token is
//! drawn fresh for every job by the zygote (into job memory, see `memory.rs`) and reaches the
//! child in its job memfd; the supervisor keeps only frames that carry it. What reaches the
//! parent is re-framed without the token: `u32 length | tag | payload`.
//!
//! What this does and does not prove (docs/design.md §6). The harness and the program share one
//! process, so a program that reads its own memory can find its own job's token and forge its
//! own frames: its status and its values, which it controls anyway by returning them. It cannot
//! forge anything of another job (each job has its own token and its own pipe, and no job can
//! read another's bytes), nor a grade: graders compare values on the host. A HumanEval-style
//! `check()` that runs inside the child is the job's own word. Defence in depth makes forging
//! take that much: seccomp refuses `close`, `dup2` and `dup3` onto fd 3 (the program cannot
//! put another file there), the harness checks fd 3 is still the pipe it started with before
//! every write ([`Identity`]), and the supervisor finds genuine frames by their token wherever
//! they are, so garbage the program writes to fd 3 never hides the frames after it
//! ([`FrameScan`]).
use std::os::fd::RawFd;

use crate::memory::Sink;

pub const TOKEN_LEN: usize = 16;
pub type Token = [u8; TOKEN_LEN];

/// Fills `token` with fresh random bytes (getrandom); false if the kernel refuses.
pub fn fill_token(token: &mut [u8]) -> bool {
    // SAFETY: filling a valid buffer of its own length.
    let n = unsafe { libc::getrandom(token.as_mut_ptr().cast(), token.len(), 0) };
    usize::try_from(n) == Ok(token.len())
}

/// A fresh random token (`None` only if the kernel refuses).
pub fn new_token() -> Option<Token> {
    let mut t = [0u8; TOKEN_LEN];
    fill_token(&mut t).then_some(t)
}

/// Builds one authenticated frame; NUL bytes inside fields are escaped as `\0`. Empty when
/// the frame would not fit a `u32` length (the call's result is then missing, never cut).
pub fn frame(token: &Token, tag: u8, fields: &[&str]) -> Vec<u8> {
    let mut payload: Vec<u8> = Vec::with_capacity(64);
    for (i, f) in fields.iter().enumerate() {
        if i > 0 {
            payload.push(0);
        }
        if f.contains('\0') {
            payload.extend_from_slice(f.replace('\0', "\\0").as_bytes());
        } else {
            payload.extend_from_slice(f.as_bytes());
        }
    }
    let Ok(len) = u32::try_from(1 + TOKEN_LEN + payload.len()) else {
        return Vec::new();
    };
    let mut out = Vec::with_capacity(4 + 1 + TOKEN_LEN + payload.len());
    out.extend_from_slice(&len.to_le_bytes());
    out.push(tag);
    out.extend_from_slice(token);
    out.extend_from_slice(&payload);
    out
}

/// Writes a whole buffer to `fd` (raw; child side). False when the channel is gone.
pub fn write_all(fd: RawFd, mut buf: &[u8]) -> bool {
    while !buf.is_empty() {
        // SAFETY: writing from a valid slice.
        let n = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        if n < 0 {
            if crate::limits::errno() == libc::EINTR {
                continue;
            }
            return false;
        }
        buf = &buf[n as usize..];
    }
    true
}

/// Which open file an fd is (`st_dev`, `st_ino`): the harness takes fd 3's before the program
/// runs and writes a frame only while fd 3 is still that pipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity(u64, u64);

impl Identity {
    pub fn of(fd: RawFd) -> Option<Self> {
        // SAFETY: an all-zero stat is a valid out-struct for fstat.
        let mut st: libc::stat = unsafe { std::mem::zeroed() };
        // SAFETY: fstat fills the struct we own.
        (unsafe { libc::fstat(fd, &raw mut st) } == 0).then_some(Self(st.st_dev, st.st_ino))
    }
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    if hay.len() < needle.len() {
        return None;
    }
    // SAFETY: both pointers and lengths describe live slices; memmem only reads them.
    let p = unsafe {
        libc::memmem(
            hay.as_ptr().cast(),
            hay.len(),
            needle.as_ptr().cast(),
            needle.len(),
        )
    };
    (!p.is_null()).then(|| p as usize - hay.as_ptr() as usize)
}

/// Finds the genuine frames of a channel stream, incrementally, as it grows.
///
/// Every frame the harness writes carries the job's token right after its 5-byte head, so
/// the scan searches for the token and reads the frame from 5 bytes before it. Whatever the
/// program wrote (garbage, a forged frame without the token, a cut frame, a bogus length) is
/// skipped however it is aligned: a malformed frame never stops the scan, so the frames after
/// it — and the per-call CPU budget they drive — keep working.
#[derive(Default)]
pub struct FrameScan {
    /// Earliest offset where a genuine frame not yet returned may start.
    pos: usize,
}

impl FrameScan {
    /// The next complete genuine frame in `buf` as `(tag, payload)`; `None` until one is whole.
    pub fn next<'a>(&mut self, buf: &'a [u8], token: &Token) -> Option<(u8, &'a [u8])> {
        loop {
            let from = self.pos + 5;
            let Some(at) = buf.get(from..).and_then(|rest| find(rest, token)) else {
                // A token may begin in the last TOKEN_LEN - 1 bytes: look there again later.
                self.pos = self.pos.max(buf.len().saturating_sub(5 + TOKEN_LEN - 1));
                return None;
            };
            let start = from + at - 5;
            let head: [u8; 4] = buf[start..start + 4].try_into().ok()?;
            let len = u32::from_le_bytes(head) as usize;
            if len < 1 + TOKEN_LEN {
                self.pos = start + 1; // the token's bytes, not a frame: search on
                continue;
            }
            let Some(body) = buf.get(start + 4..start + 4 + len) else {
                self.pos = start;
                return None; // not whole yet
            };
            self.pos = start + 4 + len;
            return Some((body[0], &body[1 + TOKEN_LEN..]));
        }
    }
}

/// Appends the genuine frames of `buf`, re-framed without the token, to `out` (for the parent).
pub fn authentic(buf: &[u8], token: &Token, out: &mut impl Sink) -> crate::error::Result<()> {
    let mut scan = FrameScan::default();
    while let Some((tag, payload)) = scan.next(buf, token) {
        let len = u32::try_from(1 + payload.len())
            .map_err(|_| crate::error::Error::TooLong(payload.len()))?;
        out.put(&len.to_le_bytes())?;
        out.put(&[tag])?;
        out.put(payload)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_frames_with_the_token_survive() {
        let token = new_token().unwrap();
        let mut other = token;
        other[0] ^= 1;
        let mut buf = frame(&token, b'S', &["0"]);
        buf.extend(frame(&other, b'V', &["0", "'forged'", "0.0"]));
        buf.extend(frame(&token, b'V', &["0", "'a\0b'", "0.5"]));
        let mut out = Vec::new();
        authentic(&buf, &token, &mut out).unwrap();
        let mut expected = Vec::new();
        for (tag, payload) in [(b'S', &b"0"[..]), (b'V', &b"0\0'a\\0b'\x000.5"[..])] {
            expected.extend_from_slice(&((1 + payload.len()) as u32).to_le_bytes());
            expected.push(tag);
            expected.extend_from_slice(payload);
        }
        assert_eq!(out, expected);
    }

    fn kept(buf: &[u8], token: &Token) -> Vec<u8> {
        let mut out = Vec::new();
        authentic(buf, token, &mut out).unwrap();
        out
    }

    #[test]
    fn garbage_never_hides_the_genuine_frames_after_it() {
        let token = new_token().unwrap();
        let good = frame(&token, b'D', &["0"]);
        // A frame without a token, five bytes of garbage (a length too short to be a frame),
        // a length that claims the rest of the stream, the token with a bogus length: each
        // before a genuine frame, which must still be found.
        for junk in [
            vec![2, 0, 0, 0, b'D', b'0'],
            vec![1, 0, 0, 0, b'X'],
            vec![0xff, 0xff, 0, 0, b'S'],
            [&[3u8, 0, 0, 0, b'V'][..], &token[..]].concat(),
        ] {
            let mut buf = junk.clone();
            buf.extend_from_slice(&good);
            assert_eq!(kept(&buf, &token), [2, 0, 0, 0, b'D', b'0'], "{junk:?}");
        }
        assert!(kept(&good[..good.len() - 1], &token).is_empty());
    }

    #[test]
    fn the_scan_is_incremental_and_waits_for_a_cut_frame() {
        let token = new_token().unwrap();
        let mut buf = vec![1, 0, 0, 0, b'X'];
        buf.extend(frame(&token, b'S', &["0"]));
        buf.extend(frame(&token, b'V', &["0", "1", "0.1"]));
        let mut scan = FrameScan::default();
        let mut tags = Vec::new();
        for end in 0..=buf.len() {
            while let Some((tag, _)) = scan.next(&buf[..end], &token) {
                tags.push(tag);
            }
        }
        assert_eq!(tags, [b'S', b'V']);
    }
}
