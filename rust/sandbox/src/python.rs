//! The Python face of the engine (`stepstones._sandbox`): the `Pool` class and the zygote
//! entry point. Inputs are extracted and owned while attached; every wait runs detached.
use pyo3::exceptions::PyOSError;
use pyo3::prelude::*;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyTuple, PyType};

use std::sync::Arc;
use std::time::Duration;

use crate::channel::{self, Identity, Token};
use crate::dispatch::Dispatch;
use crate::error::Error;
use crate::fds::CHILD_CHANNEL_FD;
use crate::pool;
use crate::wire::{JobSpec, RawResult};
use crate::zygote::{self, Forked, Hooks, Zygote};

/// An exception of `stepstones.errors` by class name. The zygote, which loads this module
/// without the `stepstones` package, gets `OSError` instead (it only reports it and exits).
fn raise_as(class: &str, message: String) -> PyErr {
    Python::attach(|py| {
        let found = py
            .import("stepstones.errors")
            .and_then(|m| m.getattr(class))
            .and_then(|c| c.cast_into::<PyType>().map_err(PyErr::from));
        match found {
            Ok(class) => PyErr::from_type(class, message),
            Err(_) => PyOSError::new_err(message),
        }
    })
}

/// The one translator at the FFI edge: every engine error becomes a `stepstones.errors`
/// exception (`SandboxClosedError` after close, `ConfigError` for an argument the engine
/// cannot carry, `SandboxError` for the machinery), whichever method raised it.
fn to_py(e: &Error) -> PyErr {
    let class = match e {
        Error::Closed => "SandboxClosedError",
        Error::Nul(_) | Error::TooLong(_) => "ConfigError",
        _ => "SandboxError",
    };
    raise_as(class, e.to_string())
}

fn config_error(message: String) -> PyErr {
    raise_as("ConfigError", message)
}

/// `(kind, source, stdin, function, args, wall_time_s, cpu_time_s, call_cpu_time_s,
/// memory_mib, output_kib, file_size_kib, open_files)`
type JobTuple = (
    u8,
    String,
    String,
    String,
    Vec<String>,
    f64,
    u64,
    f64,
    u64,
    u64,
    u64,
    u64,
);

fn micros(seconds: f64) -> PyResult<u64> {
    if !seconds.is_finite() || seconds < 0.0 {
        return Err(config_error(format!(
            "a time limit must be a finite number of seconds >= 0, got {seconds}"
        )));
    }
    Ok((seconds * 1e6).min(1e15) as u64)
}

fn spec(t: JobTuple) -> PyResult<JobSpec> {
    let (kind, source, stdin, function, args, wall, cpu, call_cpu, mem, out, fsize, nofile) = t;
    if kind > 1 {
        return Err(config_error(format!("job kind must be 0 or 1, got {kind}")));
    }
    Ok(JobSpec {
        kind,
        source,
        stdin,
        function,
        args,
        wall_time_us: micros(wall)?,
        cpu_time_s: cpu,
        call_cpu_time_us: micros(call_cpu)?,
        memory_bytes: mem.saturating_mul(1 << 20),
        output_bytes: out.saturating_mul(1 << 10),
        file_size_bytes: fsize.saturating_mul(1 << 10),
        open_files: nofile,
    })
}

fn raw_tuple<'py>(py: Python<'py>, r: &RawResult) -> PyResult<Bound<'py, PyTuple>> {
    let failure = if r.cancelled && r.failure.is_none() {
        Some("cancelled by the caller".to_string())
    } else {
        r.failure.clone()
    };
    let items: Vec<Bound<'py, PyAny>> = vec![
        failure.into_pyobject(py)?.into_any(),
        r.exit_code.into_pyobject(py)?.into_any(),
        r.signal.into_pyobject(py)?.into_any(),
        PyBool::new(py, r.timed_out).to_owned().into_any(),
        PyBool::new(py, r.call_timed_out).to_owned().into_any(),
        PyBool::new(py, r.output_exceeded).to_owned().into_any(),
        PyBytes::new(py, &r.stdout).into_any(),
        PyBytes::new(py, &r.stderr).into_any(),
        PyBool::new(py, r.stdout_truncated).to_owned().into_any(),
        PyBool::new(py, r.stderr_truncated).to_owned().into_any(),
        PyFloat::new(py, r.cpu_time_us as f64 / 1e6).into_any(),
        PyFloat::new(py, r.wall_time_us as f64 / 1e6).into_any(),
        r.max_rss_kib.into_pyobject(py)?.into_any(),
        PyBytes::new(py, &r.channel).into_any(),
    ];
    PyTuple::new(py, items)
}

/// A collected result: the job id and its raw tuple.
type Done<'py> = (u64, Bound<'py, PyTuple>);

/// A pool of zygote processes.
#[pyclass(frozen, module = "stepstones._sandbox")]
pub struct Pool {
    inner: Arc<pool::Pool>,
    dispatch: Arc<Dispatch>,
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.dispatch.close();
    }
}

#[pymethods]
impl Pool {
    #[new]
    #[pyo3(signature = (*, python, argv, workers, disabled, scratch_root, readable))]
    fn new(
        py: Python<'_>,
        python: String,
        argv: Vec<String>,
        workers: usize,
        disabled: Vec<String>,
        scratch_root: String,
        readable: Vec<String>,
    ) -> PyResult<Self> {
        if workers == 0 {
            return Err(config_error("workers must be >= 1, got 0".into()));
        }
        let spawner = pool::Spawner::new(python, argv, disabled, readable, scratch_root.into());
        let inner = py
            .detach(|| pool::Pool::start(spawner, workers))
            .map_err(|e| to_py(&e))?;
        let inner = Arc::new(inner);
        let dispatch = Dispatch::new(Arc::clone(&inner));
        Ok(Self { inner, dispatch })
    }

    /// The layer report of the zygotes: (name, active, note) triples.
    fn capabilities(&self) -> Vec<(String, bool, String)> {
        self.inner.layers().to_vec()
    }

    #[getter]
    fn workers(&self) -> usize {
        self.inner.workers()
    }

    fn zygote_pids(&self) -> Vec<i32> {
        self.inner.zygote_pids()
    }

    fn run_batch<'py>(
        &self,
        py: Python<'py>,
        jobs: Vec<JobTuple>,
    ) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let specs = jobs.into_iter().map(spec).collect::<PyResult<Vec<_>>>()?;
        let raws = py
            .detach(|| self.inner.run_batch(&specs))
            .map_err(|e| to_py(&e))?;
        raws.iter().map(|r| raw_tuple(py, r)).collect()
    }

    fn run_twins<'py>(&self, py: Python<'py>, job: JobTuple) -> PyResult<Vec<Bound<'py, PyTuple>>> {
        let spec = spec(job)?;
        let raws = py
            .detach(|| self.inner.run_twins(&spec))
            .map_err(|e| to_py(&e))?;
        raws.iter().map(|r| raw_tuple(py, r)).collect()
    }

    /// Queues a job for the next free zygote; its result comes back from `collect`.
    /// Raises `SandboxClosedError` once the pool is closed.
    fn submit(&self, job_id: u64, job: JobTuple) -> PyResult<()> {
        let job = spec(job)?;
        if self.inner.is_closed() {
            return Err(to_py(&Error::Closed));
        }
        self.dispatch.submit(job_id, job);
        Ok(())
    }

    /// Cancels a submitted job (queued: answered as cancelled; running: its child killed).
    /// Writing the cancel to the zygote's socket waits for its lock: done without the GIL.
    fn cancel_job(&self, py: Python<'_>, job_id: u64) {
        py.detach(|| self.dispatch.cancel(job_id));
    }

    /// Results of submitted jobs done so far, waiting up to `timeout_s` (without the GIL) for
    /// the first; `None` once closed and drained.
    fn collect<'py>(&self, py: Python<'py>, timeout_s: f64) -> PyResult<Option<Vec<Done<'py>>>> {
        let timeout = Duration::from_micros(micros(timeout_s)?);
        let Some(done) = py.detach(|| self.dispatch.collect(timeout)) else {
            return Ok(None);
        };
        done.iter()
            .map(|(id, raw)| Ok((*id, raw_tuple(py, raw)?)))
            .collect::<PyResult<Vec<_>>>()
            .map(Some)
    }

    fn close(&self, py: Python<'_>) {
        self.dispatch.close();
        py.detach(|| self.inner.close());
    }
}

fn before_fork() {
    // SAFETY: called with the GIL held, in the zygote's only thread.
    unsafe { pyo3::ffi::PyOS_BeforeFork() };
}
fn after_fork_parent() {
    // SAFETY: as above, right after fork in the parent.
    unsafe { pyo3::ffi::PyOS_AfterFork_Parent() };
}
fn after_fork_child() {
    // SAFETY: as above, right after fork in the child.
    unsafe { pyo3::ffi::PyOS_AfterFork_Child() };
}

const PY_HOOKS: Hooks = Hooks {
    before: before_fork,
    parent: after_fork_parent,
    child: after_fork_child,
};

/// The zygote loop on control fd `ctrl_fd`. Never returns normally: the zygote exits when
/// the parent closes the socket, and each job's child runs the harness and exits.
///
/// `harness` is the stdlib-only harness module (`prepare`, `run_script`, `load`, `call`,
/// `flush`); `literal` is `stepstones._literal`. The child drives them from Rust and writes
/// every result frame itself, signed with the job's token.
#[pyfunction]
fn zygote_main(
    ctrl_fd: i32,
    harness: &Bound<'_, PyAny>,
    literal: &Bound<'_, PyAny>,
) -> PyResult<()> {
    let mut z = match Zygote::start(ctrl_fd, &PY_HOOKS) {
        Ok(z) => z,
        Err(e) => {
            Zygote::send_fatal(ctrl_fd, &e.to_string());
            return Err(to_py(&e));
        }
    };
    loop {
        let Some((job_id, head)) = z.next_job().map_err(|e| to_py(&e))? else {
            // SAFETY: the parent is gone; leave at once without Python finalisation.
            unsafe { libc::_exit(0) };
        };
        match z.run(job_id, &head, &PY_HOOKS) {
            Ok(Forked::Child(token)) => {
                // The zygote's fds (control socket at 3, ruleset) are closed or reused in the
                // child: forget them instead of closing numbers that now mean something else.
                std::mem::forget(z);
                // The channel as the recipe left it: the harness writes only while fd 3 is it.
                let identity = Identity::of(CHILD_CHANNEL_FD);
                let code = match (zygote::read_job(), identity) {
                    (Ok(job), Some(identity)) => {
                        run_child(harness, literal, &job, &token, identity).unwrap_or(70)
                    }
                    _ => 70,
                };
                // SAFETY: the job is over; leave without finalisation (no atexit, no flushing
                // of the zygote's own objects).
                unsafe { libc::_exit(code) };
            }
            Ok(Forked::Parent(res)) => {
                let sent = z.send_result(job_id, &res);
                if sent.is_err() || z.orphaned {
                    // SAFETY: the parent is gone; leave without finalisation.
                    unsafe { libc::_exit(0) };
                }
            }
            Err(e) => {
                let res = RawResult::failed(format!("the zygote could not start the job: {e}"));
                if z.send_result(job_id, &res).is_err() {
                    // SAFETY: as above.
                    unsafe { libc::_exit(0) };
                }
            }
        }
    }
}

/// Runs one job in the locked-down child; returns the exit code. An `Err` means the harness
/// itself was broken (e.g. by the program): no `D` frame is written, so the job is not "ok".
fn run_child(
    harness: &Bound<'_, PyAny>,
    literal: &Bound<'_, PyAny>,
    job: &JobSpec,
    token: &Token,
    identity: Identity,
) -> PyResult<i32> {
    // A frame goes out only while fd 3 is still the channel pipe: a program that managed to
    // put another file there (seccomp refuses close/dup2/dup3 onto it) gets no frame in it.
    let emit = |tag: u8, fields: &[&str]| {
        if Identity::of(CHILD_CHANNEL_FD) == Some(identity) {
            channel::write_all(CHILD_CHANNEL_FD, &channel::frame(token, tag, fields));
        }
    };
    harness.call_method0("prepare")?;
    if job.kind == 0 {
        let (code, uncaught): (i32, Option<(String, String, String)>) = harness
            .call_method1("run_script", (job.source.as_str(),))?
            .extract()?;
        harness.call_method0("flush")?;
        if let Some((kind, message, errno)) = uncaught {
            emit(b'X', &[&kind, &message, &errno]);
        }
        emit(b'D', &[&code.to_string()]);
        return Ok(code);
    }
    let (function, kind, message): (Bound<'_, PyAny>, String, String) = harness
        .call_method1("load", (job.source.as_str(), job.function.as_str()))?
        .extract()?;
    if function.is_none() {
        harness.call_method0("flush")?;
        emit(b'L', &[&kind, &message]);
        emit(b'D', &["1"]);
        return Ok(1);
    }
    for (index, text) in job.args.iter().enumerate() {
        let index = index.to_string();
        emit(b'S', &[&index]);
        let (tag, fields): (String, Vec<String>) = harness
            .call_method1("call", (&function, text.as_str(), literal))?
            .extract()?;
        let tag = match tag.as_str() {
            "V" => b'V',
            "N" => b'N',
            _ => b'E',
        };
        let mut all: Vec<&str> = vec![&index];
        all.extend(fields.iter().map(String::as_str));
        emit(tag, &all);
    }
    harness.call_method0("flush")?;
    emit(b'D', &["0"]);
    Ok(0)
}

#[pymodule]
fn _sandbox(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<Pool>()?;
    m.add_function(wrap_pyfunction!(zygote_main, m)?)?;
    Ok(())
}
