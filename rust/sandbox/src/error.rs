//! The engine's error type: one variant per failing call, translated to Python at one place.
use std::io;

/// Why the sandbox machinery (not the sandboxed code) failed.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error("socketpair for a zygote control channel failed: {0}")]
    SocketPair(io::Error),
    #[error("posix_spawn of the zygote interpreter {path} failed: {source}")]
    Spawn { path: String, source: io::Error },
    #[error("the zygote did not start: {0}")]
    ZygoteStart(String),
    #[error("talking to the zygote failed: {0}")]
    Channel(io::Error),
    #[error("malformed message on the zygote channel: {0}")]
    Wire(&'static str),
    #[error("{call} failed: {source}")]
    Sys {
        call: &'static str,
        source: io::Error,
    },
    #[error("compiling the seccomp filter failed: {0}")]
    Seccomp(String),
    #[error("the sandbox is closed")]
    Closed,
    #[error("a message of {0} bytes is over the 1 GiB limit of the zygote channel")]
    TooLong(usize),
    #[error("argument {0} contains a NUL byte")]
    Nul(String),
}

impl Error {
    /// The last OS error, attributed to `call`.
    pub fn last(call: &'static str) -> Self {
        Self::Sys {
            call,
            source: io::Error::last_os_error(),
        }
    }
}

pub type Result<T> = std::result::Result<T, Error>;
