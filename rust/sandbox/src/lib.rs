//! `stepstones._sandbox`: the fork-server sandbox engine.
//!
//! One module per mechanism; `zygote` strings them together, `pool` is the parent side,
//! `dispatch` keeps its zygotes busy for async callers, and `python` is the only place that
//! knows about Python.
pub mod channel;
pub mod dispatch;
pub mod error;
pub mod fds;
pub mod landlock;
pub mod limits;
pub mod memory;
pub mod namespaces;
pub mod pool;
pub mod recipe;
pub mod scratch;
pub mod seccomp;
pub mod seccomp_policy;
pub mod supervise;
pub mod wire;
pub mod zygote;

#[cfg(feature = "python")]
mod python;
