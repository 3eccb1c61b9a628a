//! Length-framed binary messages between the parent (pool) and a zygote.
//!
//! Every message is `u32 length (LE) | u8 kind | u64 job id | body`. Integers are little-endian;
//! byte strings are `u32 length | bytes`. Parent to zygote: `G` config (first), `J` job, `C`
//! cancel. Zygote to parent: `P` zygote host pid, `H` hello (layer report), `R` result, `E` a
//! fatal startup error as text.
use std::io::{self, Read, Write};

use crate::error::{Error, Result};

pub const CONFIG: u8 = b'G';
pub const JOB: u8 = b'J';
pub const CANCEL: u8 = b'C';
pub const PID: u8 = b'P';
pub const HELLO: u8 = b'H';
pub const RESULT: u8 = b'R';
pub const FATAL: u8 = b'E';

/// Upper bound of one message (a job's source and arguments, or a result with its output).
pub const MAX_MESSAGE: usize = 1 << 30;

/// Builds one message body.
#[derive(Default)]
pub struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    pub fn new(kind: u8, job_id: u64) -> Self {
        let mut buf = Vec::with_capacity(256);
        buf.extend_from_slice(&[0; 4]);
        buf.push(kind);
        buf.extend_from_slice(&job_id.to_le_bytes());
        Self { buf }
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
        self.buf.extend_from_slice(&(v.len() as u32).to_le_bytes());
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
    /// The framed message, ready to write.
    pub fn finish(mut self) -> Vec<u8> {
        let len = (self.buf.len() - 4) as u32;
        self.buf[..4].copy_from_slice(&len.to_le_bytes());
        self.buf
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
    pub fn encode(&self, job_id: u64) -> Vec<u8> {
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
    pub fn decode(body: &[u8]) -> Result<Self> {
        let mut r = Reader::new(body);
        Ok(Self {
            kind: r.u8()?,
            source: r.string()?,
            stdin: r.string()?,
            function: r.string()?,
            args: r.strings()?,
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
    pub fn encode(&self, job_id: u64) -> Vec<u8> {
        let mut w = Writer::new(RESULT, job_id);
        w.str(self.failure.as_deref().unwrap_or(""))
            .bool(self.failure.is_some())
            .i64(self.exit_code.map_or(-1, i64::from))
            .i64(self.signal.map_or(-1, i64::from))
            .bool(self.timed_out)
            .bool(self.call_timed_out)
            .bool(self.output_exceeded)
            .bool(self.cancelled)
            .bytes(&self.stdout)
            .bytes(&self.stderr)
            .bool(self.stdout_truncated)
            .bool(self.stderr_truncated)
            .u64(self.cpu_time_us)
            .u64(self.wall_time_us)
            .u64(self.max_rss_kib)
            .bytes(&self.channel);
        w.finish()
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
    pub fn encode(&self) -> Vec<u8> {
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

pub fn encode_hello(layers: &[LayerReport]) -> Vec<u8> {
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
        let msg = roundtrip(&job.encode(7));
        assert_eq!((msg.kind, msg.job_id), (JOB, 7));
        assert_eq!(JobSpec::decode(&msg.body).unwrap(), job);
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
        let msg = roundtrip(&res.encode(3));
        assert_eq!(RawResult::decode(&msg.body).unwrap(), res);
        let failed = RawResult::failed("boom");
        let msg = roundtrip(&failed.encode(4));
        assert_eq!(RawResult::decode(&msg.body).unwrap(), failed);
    }

    #[test]
    fn truncated_body_is_an_error_not_a_panic() {
        let msg = roundtrip(&ZygoteConfig::default().encode());
        assert!(JobSpec::decode(&msg.body).is_err());
        assert!(read_message(&mut &[5u8, 0, 0, 0, 1][..]).is_err());
        assert!(read_message(&mut &[][..]).unwrap().is_none());
    }

    #[test]
    fn hello_roundtrip() {
        let layers = vec![("seccomp".to_string(), true, String::new())];
        let msg = roundtrip(&encode_hello(&layers));
        assert_eq!(decode_hello(&msg.body).unwrap(), layers);
    }
}
