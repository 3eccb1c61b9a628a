//! Length-framed binary messages between the parent (pool) and a zygote.
//!
//! Every message is `u32 length (LE) | u8 kind | u64 job id | body`. Integers are little-endian;
//! byte strings are `u32 length | bytes`. Parent to zygote: `G` config (first), `J` job, `C`
//! cancel. Zygote to parent: `P` zygote host pid, `H` hello (layer report), `R` result, `E` a
//! fatal startup error as text.
use std::io::{self, Read, Write};

use crate::error::{Error, Result};
use crate::memory::{self, JobBuf, Sink};

pub const CONFIG: u8 = b'G';
pub const JOB: u8 = b'J';
pub const CANCEL: u8 = b'C';
pub const PID: u8 = b'P';
pub const HELLO: u8 = b'H';
pub const RESULT: u8 = b'R';
pub const FATAL: u8 = b'E';

/// Upper bound of one message (a job's source and arguments, or a result with its output).
pub const MAX_MESSAGE: usize = 1 << 30;

/// A length as the wire's `u32`; `None` past 4 GiB (no message may be that long anyway).
fn len32(n: usize) -> Option<u32> {
    u32::try_from(n).ok()
}

/// Builds one message body.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
    /// A byte string longer than a `u32` length can say was given: `finish` refuses.
    overflow: bool,
}

impl Writer {
    pub fn new(kind: u8, job_id: u64) -> Self {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&[0; 4]);
        buf.push(kind);
        buf.extend_from_slice(&job_id.to_le_bytes());
        Self {
            buf,
            overflow: false,
        }
    }
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }
    pub fn bool(&mut self, v: bool) -> &mut Self {
        self.u8(u8::from(v))
    }
    pub fn u64(&mut self, v: u64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }
    pub fn bytes(&mut self, v: &[u8]) -> &mut Self {
        let Some(n) = len32(v.len()) else {
            self.overflow = true;
            return self;
        };
        self.buf.extend_from_slice(&n.to_le_bytes());
        self.buf.extend_from_slice(v);
        self
    }
    pub fn str(&mut self, v: &str) -> &mut Self {
        self.bytes(v.as_bytes())
    }
    pub fn strs(&mut self, v: &[String]) -> &mut Self {
        self.u64(v.len() as u64);
        for s in v {
            self.str(s);
        }
        self
    }
    /// The framed message, ready to write; an error when it would exceed [`MAX_MESSAGE`].
    pub fn finish(mut self) -> Result<Vec<u8>> {
        let len = self.buf.len() - 4;
        if self.overflow || len > MAX_MESSAGE {
            return Err(Error::TooLong(len));
        }
        let len = len32(len).ok_or(Error::TooLong(len))?;
        self.buf[..4].copy_from_slice(&len.to_le_bytes());
        Ok(self.buf)
    }
}

/// Reads fields from one received message body.
pub struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    pub fn new(buf: &'a [u8]) -> Self {
        Self { buf }
    }
    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if self.buf.len() < n {
            return Err(Error::Wire("message ends early"));
        }
        let (head, tail) = self.buf.split_at(n);
        self.buf = tail;
        Ok(head)
    }
    pub fn u8(&mut self) -> Result<u8> {
        Ok(self.take(1)?[0])
    }
    pub fn bool(&mut self) -> Result<bool> {
        Ok(self.u8()? != 0)
    }
    pub fn u64(&mut self) -> Result<u64> {
        let b = self.take(8)?;
        Ok(u64::from_le_bytes(
            b.try_into().map_err(|_| Error::Wire("u64"))?,
        ))
    }
    pub fn i64(&mut self) -> Result<i64> {
        let b = self.take(8)?;
        Ok(i64::from_le_bytes(
            b.try_into().map_err(|_| Error::Wire("i64"))?,
        ))
    }
    pub fn bytes(&mut self) -> Result<&'a [u8]> {
        let b = self.take(4)?;
        let n = u32::from_le_bytes(b.try_into().map_err(|_| Error::Wire("len"))?) as usize;
        self.take(n)
    }
    pub fn string(&mut self) -> Result<String> {
        String::from_utf8(self.bytes()?.to_vec()).map_err(|_| Error::Wire("text is not UTF-8"))
    }
    pub fn strings(&mut self) -> Result<Vec<String>> {
        let n = self.u64()?;
        if n > (self.buf.len() as u64) / 4 {
            return Err(Error::Wire("string count larger than the message"));
        }
        (0..n).map(|_| self.string()).collect()
    }
}

/// One received message: its kind, job id and body.
pub struct Message {
    pub kind: u8,
    pub job_id: u64,
    pub body: Vec<u8>,
}

/// Reads one whole message; `Ok(None)` on a clean end of stream before its first byte.
pub fn read_message(r: &mut impl Read) -> io::Result<Option<Message>> {
    let mut head = [0u8; 4];
    match r.read_exact(&mut head) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => return Ok(None),
        Err(e) => return Err(e),
    }
    let len = u32::from_le_bytes(head) as usize;
    if !(9..=MAX_MESSAGE).contains(&len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad message length",
        ));
    }
    let mut buf = vec![0u8; len];
    r.read_exact(&mut buf)?;
    let kind = buf[0];
    let mut id = [0u8; 8];
    id.copy_from_slice(&buf[1..9]);
    buf.drain(..9);
    Ok(Some(Message {
        kind,
        job_id: u64::from_le_bytes(id),
        body: buf,
    }))
}

/// Reads one whole message from `fd` into `buf` (emptied first): the zygote's way, so a job's
/// bytes land only in job memory. Returns its kind and job id; the body is `buf[9..]`.
/// `Ok(None)` on a clean end of stream before its first byte.
pub fn read_message_into(fd: i32, buf: &mut JobBuf) -> io::Result<Option<(u8, u64)>> {
    buf.clear();
    if !memory::read_exact_into(fd, buf, 4)? {
        return Ok(None);
    }
    let head: [u8; 4] = buf.as_slice()[..4].try_into().map_err(io::Error::other)?;
    let len = u32::from_le_bytes(head) as usize;
    if !(9..=MAX_MESSAGE).contains(&len) {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            "bad message length",
        ));
    }
    buf.clear();
    if !memory::read_exact_into(fd, buf, len)? {
        return Err(io::ErrorKind::UnexpectedEof.into());
    }
    let body = buf.as_slice();
    let id: [u8; 8] = body[1..9].try_into().map_err(io::Error::other)?;
    Ok(Some((body[0], u64::from_le_bytes(id))))
}

pub fn write_message(w: &mut impl Write, msg: &[u8]) -> io::Result<()> {
    w.write_all(msg)?;
    w.flush()
}

/// A job as the zygote receives it.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobSpec {
    pub kind: u8, // 0 script, 1 call
    pub source: String,
    pub stdin: String,
    pub function: String,
    pub args: Vec<String>,
    pub wall_time_us: u64,
    pub cpu_time_s: u64,
    pub call_cpu_time_us: u64,
    pub memory_bytes: u64,
    pub output_bytes: u64,
    pub file_size_bytes: u64,
    pub open_files: u64,
}

impl JobSpec {
    pub fn encode(&self, job_id: u64) -> Result<Vec<u8>> {
        let mut w = Writer::new(JOB, job_id);
        w.u8(self.kind)
            .str(&self.source)
            .str(&self.stdin)
            .str(&self.function)
            .strs(&self.args)
            .u64(self.wall_time_us)
            .u64(self.cpu_time_s)
            .u64(self.call_cpu_time_us)
            .u64(self.memory_bytes)
            .u64(self.output_bytes)
            .u64(self.file_size_bytes)
            .u64(self.open_files);
        w.finish()
    }
    /// Decodes a job body (in the child, from its own copy): the strings here, the numbers
    /// as [`JobHead::peek`] reads them.
    pub fn decode(body: &[u8]) -> Result<Self> {
        let JobHead {
            wall_time_us,
            cpu_time_s,
            call_cpu_time_us,
            memory_bytes,
            output_bytes,
            file_size_bytes,
            open_files,
            ..
        } = JobHead::peek(body)?;
        let mut r = Reader::new(body);
        Ok(Self {
            kind: r.u8()?,
            source: r.string()?,
            stdin: r.string()?,
            function: r.string()?,
            args: r.strings()?,
            wall_time_us,
            cpu_time_s,
            call_cpu_time_us,
            memory_bytes,
            output_bytes,
            file_size_bytes,
            open_files,
        })
    }
}

/// What the zygote reads of a job message: its numbers, and where stdin lies in the body.
/// The zygote never copies the source, function, arguments or stdin out of the
/// [`JobBuf`] the message was read into (see `memory.rs`); the child decodes the whole
/// [`JobSpec`] from its own copy.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct JobHead {
    pub kind: u8,
    pub n_args: usize,
    /// Byte range of stdin within the message body.
    pub stdin: std::ops::Range<usize>,
    pub wall_time_us: u64,
    pub cpu_time_s: u64,
    pub call_cpu_time_us: u64,
    pub memory_bytes: u64,
    pub output_bytes: u64,
    pub file_size_bytes: u64,
    pub open_files: u64,
}

impl JobHead {
    /// Parses the numbers of a job body, skipping its byte strings without copying them.
    pub fn peek(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let kind = r.u8()?;
        r.bytes()?; // source
        let stdin = r.bytes()?;
        let start = stdin.as_ptr() as usize - body.as_ptr() as usize;
        r.bytes()?; // function
        let n = r.u64()?;
        if n > (r.buf.len() as u64) / 4 {
            return Err(Error::Wire("string count larger than the message"));
        }
        for _ in 0..n {
            r.bytes()?;
        }
        Ok(Self {
            kind,
            n_args: usize::try_from(n).map_err(|_| Error::Wire("argument count"))?,
            stdin: start..start + stdin.len(),
            wall_time_us: r.u64()?,
            cpu_time_s: r.u64()?,
            call_cpu_time_us: r.u64()?,
            memory_bytes: r.u64()?,
            output_bytes: r.u64()?,
            file_size_bytes: r.u64()?,
            open_files: r.u64()?,
        })
    }
}

/// Appends length-prefixed fields to a [`Sink`] (the zygote's result, into job memory).
struct Put<'a, S: Sink> {
    sink: &'a mut S,
}

impl<S: Sink> Put<'_, S> {
    fn raw(&mut self, v: &[u8]) -> Result<&mut Self> {
        self.sink.put(v)?;
        Ok(self)
    }
    fn bool(&mut self, v: bool) -> Result<&mut Self> {
        self.raw(&[u8::from(v)])
    }
    fn u64(&mut self, v: u64) -> Result<&mut Self> {
        self.raw(&v.to_le_bytes())
    }
    fn i64(&mut self, v: i64) -> Result<&mut Self> {
        self.raw(&v.to_le_bytes())
    }
    fn bytes(&mut self, v: &[u8]) -> Result<&mut Self> {
        let n = len32(v.len()).ok_or(Error::TooLong(v.len()))?;
        self.raw(&n.to_le_bytes())?.raw(v)
    }
}

/// What happened to one job, as facts; the Python side decides the status from them.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct RawResult {
    /// Set when the machinery failed (setup step, zygote death): a sentence for humans.
    pub failure: Option<String>,
    pub exit_code: Option<i32>,
    pub signal: Option<i32>,
    pub timed_out: bool,
    pub call_timed_out: bool,
    pub output_exceeded: bool,
    pub cancelled: bool,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    pub cpu_time_us: u64,
    pub wall_time_us: u64,
    pub max_rss_kib: u64,
    pub channel: Vec<u8>,
}

impl RawResult {
    pub fn failed(detail: impl Into<String>) -> Self {
        Self {
            failure: Some(detail.into()),
            ..Self::default()
        }
    }
    /// The result message with this result's own outputs (parent-side tests).
    pub fn encode(&self, job_id: u64) -> Result<Vec<u8>> {
        let mut out = Vec::new();
        self.encode_into(job_id, &self.stdout, &self.stderr, &self.channel, &mut out)?;
        Ok(out)
    }

    /// Appends the result message to `sink`, with outputs given apart from the facts: the
    /// zygote keeps them in job memory, never in `self`.
    pub fn encode_into(
        &self,
        job_id: u64,
        stdout: &[u8],
        stderr: &[u8],
        channel: &[u8],
        sink: &mut impl Sink,
    ) -> Result<()> {
        let start = sink.written().len();
        let mut w = Put { sink };
        w.raw(&[0; 4])?.raw(&[RESULT])?.u64(job_id)?;
        w.bytes(self.failure.as_deref().unwrap_or("").as_bytes())?
            .bool(self.failure.is_some())?
            .i64(self.exit_code.map_or(-1, i64::from))?
            .i64(self.signal.map_or(-1, i64::from))?
            .bool(self.timed_out)?
            .bool(self.call_timed_out)?
            .bool(self.output_exceeded)?
            .bool(self.cancelled)?
            .bytes(stdout)?
            .bytes(stderr)?
            .bool(self.stdout_truncated)?
            .bool(self.stderr_truncated)?
            .u64(self.cpu_time_us)?
            .u64(self.wall_time_us)?
            .u64(self.max_rss_kib)?
            .bytes(channel)?;
        let all = w.sink.written();
        let len = all.len() - start - 4;
        if len > MAX_MESSAGE {
            return Err(Error::TooLong(len));
        }
        let len = len32(len).ok_or(Error::TooLong(len))?;
        all[start..start + 4].copy_from_slice(&len.to_le_bytes());
        Ok(())
    }
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        let failure_text = r.string()?;
        let has_failure = r.bool()?;
        let opt = |v: i64| if v < 0 { None } else { Some(v as i32) };
        Ok(Self {
            failure: has_failure.then_some(failure_text),
            exit_code: opt(r.i64()?),
            signal: opt(r.i64()?),
            timed_out: r.bool()?,
            call_timed_out: r.bool()?,
            output_exceeded: r.bool()?,
            cancelled: r.bool()?,
            stdout: r.bytes()?.to_vec(),
            stderr: r.bytes()?.to_vec(),
            stdout_truncated: r.bool()?,
            stderr_truncated: r.bool()?,
            cpu_time_us: r.u64()?,
            wall_time_us: r.u64()?,
            max_rss_kib: r.u64()?,
            channel: r.bytes()?.to_vec(),
        })
    }
}

/// What a zygote is told before its first job.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZygoteConfig {
    /// Layers to leave off (by the names of `stepstones.sandbox.LAYERS`).
    pub disabled: Vec<String>,
    /// The zygote's scratch directory: every job's cwd and its only writable place.
    pub scratch_dir: String,
    /// Files and directories jobs may read (the interpreter's stdlib, shared libraries).
    pub readable: Vec<String>,
    /// The pid of the process that started the zygote: the zygote exits when it does, even
    /// while a fork of the caller still holds the control socket open.
    pub caller_pid: u64,
}

impl ZygoteConfig {
    pub fn encode(&self) -> Result<Vec<u8>> {
        let mut w = Writer::new(CONFIG, 0);
        w.strs(&self.disabled)
            .str(&self.scratch_dir)
            .strs(&self.readable)
            .u64(self.caller_pid);
        w.finish()
    }
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        Ok(Self {
            disabled: r.strings()?,
            scratch_dir: r.string()?,
            readable: r.strings()?,
            caller_pid: r.u64()?,
        })
    }
}

/// One line of the capability report: layer name, active, note.
pub type LayerReport = (String, bool, String);

pub fn encode_hello(layers: &[LayerReport]) -> Result<Vec<u8>> {
    let mut w = Writer::new(HELLO, 0);
    w.u64(layers.len() as u64);
    for (name, ok, note) in layers {
        w.str(name).bool(*ok).str(note);
    }
    w.finish()
}

pub fn decode_hello(body: &[u8]) -> Result<Vec<LayerReport>> {
    let mut r = Reader::new(body);
    let n = r.u64()?;
    (0..n)
        .map(|_| Ok((r.string()?, r.bool()?, r.string()?)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(msg: &[u8]) -> Message {
        read_message(&mut &msg[..]).unwrap().unwrap()
    }

    #[test]
    fn job_roundtrip() {
        let job = JobSpec {
            kind: 1,
            source: "def f(x):\n    return x".into(),
            stdin: "é\n".into(),
            function: "f".into(),
            args: vec!["1".into(), "'a', b=2".into()],
            wall_time_us: 1_000_000,
            cpu_time_s: 2,
            call_cpu_time_us: 500_000,
            memory_bytes: 1 << 29,
            output_bytes: 65536,
            file_size_bytes: 1 << 20,
            open_files: 64,
        };
        let msg = roundtrip(&job.encode(7).unwrap());
        assert_eq!((msg.kind, msg.job_id), (JOB, 7));
        assert_eq!(JobSpec::decode(&msg.body).unwrap(), job);
        // The zygote's view: the numbers, and stdin in place, nothing copied.
        let head = JobHead::peek(&msg.body).unwrap();
        assert_eq!((head.kind, head.n_args, head.open_files), (1, 2, 64));
        assert_eq!(
            (head.wall_time_us, head.call_cpu_time_us),
            (1_000_000, 500_000)
        );
        assert_eq!(&msg.body[head.stdin.clone()], "é\n".as_bytes());
        assert!(JobHead::peek(&msg.body[..msg.body.len() - 1]).is_err());
    }

    #[test]
    fn a_string_longer_than_a_u32_length_is_refused_not_truncated() {
        let mut w = Writer::new(JOB, 1);
        w.u64(1);
        assert!(w.finish().is_ok());
        let mut w = Writer::new(JOB, 1);
        w.overflow = true; // what bytes() records for a slice over 4 GiB
        assert!(matches!(w.finish(), Err(Error::TooLong(_))));
    }

    #[test]
    fn result_roundtrip_keeps_absent_values() {
        let res = RawResult {
            exit_code: Some(0),
            signal: None,
            stdout: b"hi".to_vec(),
            channel: vec![1, 2, 3],
            cpu_time_us: 12,
            ..RawResult::default()
        };
        let msg = roundtrip(&res.encode(3).unwrap());
        assert_eq!(RawResult::decode(&msg.body).unwrap(), res);
        let failed = RawResult::failed("boom");
        let msg = roundtrip(&failed.encode(4).unwrap());
        assert_eq!(RawResult::decode(&msg.body).unwrap(), failed);
    }

    #[test]
    fn truncated_body_is_an_error_not_a_panic() {
        let msg = roundtrip(&ZygoteConfig::default().encode().unwrap());
        assert!(JobSpec::decode(&msg.body).is_err());
        assert!(read_message(&mut &[5u8, 0, 0, 0, 1][..]).is_err());
        assert!(read_message(&mut &[][..]).unwrap().is_none());
    }

    #[test]
    fn hello_roundtrip() {
        let layers = vec![("seccomp".to_string(), true, String::new())];
        let msg = roundtrip(&encode_hello(&layers).unwrap());
        assert_eq!(decode_hello(&msg.body).unwrap(), layers);
    }
}
