//! The harness channel: result frames that only the engine can write.
//!
//! The child writes frames `u32 length | tag | 16-byte token | payload` to fd 3. The token is
//! drawn fresh for every job by the zygote and lives only in Rust memory of the child; the
//! program can write to fd 3 too, but not with the token, and the supervisor keeps only frames
//! that carry it. What reaches the parent is re-framed without the token: `u32 length | tag |
//! payload`.
use std::os::fd::RawFd;

pub const TOKEN_LEN: usize = 16;
pub type Token = [u8; TOKEN_LEN];

/// A fresh random token (getrandom; an all-zero token only if the kernel refuses, which the
/// caller checks).
pub fn new_token() -> Option<Token> {
    let mut t = [0u8; TOKEN_LEN];
    // SAFETY: filling a valid buffer.
    let n = unsafe { libc::getrandom(t.as_mut_ptr().cast(), TOKEN_LEN, 0) };
    (n == TOKEN_LEN as isize).then_some(t)
}

/// Builds one authenticated frame; NUL bytes inside fields are escaped as `\0`.
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
    let len = (1 + TOKEN_LEN + payload.len()) as u32;
    let mut out = Vec::with_capacity(4 + len as usize);
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

/// Iterates the complete frames of `buf` as `(tag, token, payload)`; stops at the first frame
/// that is cut short or malformed (what follows cannot be trusted to be aligned).
pub fn frames(buf: &[u8]) -> impl Iterator<Item = (u8, &[u8], &[u8])> + '_ {
    let mut pos = 0usize;
    std::iter::from_fn(move || {
        let head: [u8; 4] = buf.get(pos..pos + 4)?.try_into().ok()?;
        let len = u32::from_le_bytes(head) as usize;
        if len < 1 + TOKEN_LEN {
            return None;
        }
        let body = buf.get(pos + 4..pos + 4 + len)?;
        pos += 4 + len;
        Some((body[0], &body[1..=TOKEN_LEN], &body[1 + TOKEN_LEN..]))
    })
}

/// Keeps the frames carrying `token`, re-framed without it, for the parent.
pub fn authentic(buf: &[u8], token: &Token) -> Vec<u8> {
    let mut out = Vec::with_capacity(buf.len());
    for (tag, t, payload) in frames(buf) {
        if t == token {
            out.extend_from_slice(&((1 + payload.len()) as u32).to_le_bytes());
            out.push(tag);
            out.extend_from_slice(payload);
        }
    }
    out
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
        let out = authentic(&buf, &token);
        let mut expected = Vec::new();
        for (tag, payload) in [(b'S', &b"0"[..]), (b'V', &b"0\0'a\\0b'\x000.5"[..])] {
            expected.extend_from_slice(&((1 + payload.len()) as u32).to_le_bytes());
            expected.push(tag);
            expected.extend_from_slice(payload);
        }
        assert_eq!(out, expected);
    }

    #[test]
    fn garbage_and_cut_frames_are_dropped() {
        let token = new_token().unwrap();
        let mut buf = vec![2, 0, 0, 0, b'D', b'0']; // a frame without a token
        buf.extend(frame(&token, b'D', &["0"]));
        assert!(authentic(&buf, &token).is_empty());
        let good = frame(&token, b'D', &["0"]);
        assert_eq!(authentic(&good[..good.len() - 1], &token), Vec::<u8>::new());
        assert_eq!(authentic(&good, &token).len(), 4 + 2);
    }
}
