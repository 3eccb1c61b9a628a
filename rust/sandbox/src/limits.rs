//! Resource limits of a child, prepared in the zygote as plain structs and applied raw.
use crate::wire::JobHead;

/// One prepared `setrlimit` call.
#[derive(Clone, Copy)]
pub struct Rlimit {
    pub resource: libc::__rlimit_resource_t,
    pub limit: libc::rlimit,
}

const fn rl(resource: libc::__rlimit_resource_t, soft: u64, hard: u64) -> Rlimit {
    Rlimit {
        resource,
        limit: libc::rlimit {
            rlim_cur: soft,
            rlim_max: hard,
        },
    }
}

/// The limits of one job, in the order they are applied.
pub fn plan(job: &JobHead) -> [Rlimit; 5] {
    let cpu = job.cpu_time_s.max(1);
    [
        // CPU seconds: SIGXCPU at the soft limit, SIGKILL one second later.
        rl(libc::RLIMIT_CPU, cpu, cpu + 1),
        // Address space: allocation fails (MemoryError) instead of the host swapping.
        rl(libc::RLIMIT_AS, job.memory_bytes, job.memory_bytes),
        // File size in the scratch dir: writes past it fail with EFBIG (SIGXFSZ is ignored).
        rl(libc::RLIMIT_FSIZE, job.file_size_bytes, job.file_size_bytes),
        // Open files: bounds fd tables and what a program can hold.
        rl(libc::RLIMIT_NOFILE, job.open_files, job.open_files),
        // No core dumps: a crash must not write the process image anywhere.
        rl(libc::RLIMIT_CORE, 0, 0),
    ]
}

/// Applies prepared limits (raw syscalls; child side). Returns the failing errno.
pub fn apply(limits: &[Rlimit]) -> Result<(), i32> {
    for l in limits {
        // SAFETY: l.limit is a valid rlimit struct.
        if unsafe { libc::setrlimit(l.resource, &raw const l.limit) } != 0 {
            return Err(errno());
        }
    }
    Ok(())
}

pub fn errno() -> i32 {
    // SAFETY: reading the thread's errno.
    unsafe { *libc::__errno_location() }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::tests::in_child;

    #[test]
    fn limits_apply_and_bound_allocation() {
        let job = JobHead {
            cpu_time_s: 0,
            memory_bytes: 256 << 20,
            file_size_bytes: 1024,
            open_files: 16,
            ..JobHead::default()
        };
        let plan = plan(&job);
        assert_eq!(plan[0].limit.rlim_cur, 1); // CPU seconds never 0 (that would kill at once)
        let status = in_child(|| {
            if apply(&plan).is_err() {
                return 10;
            }
            // SAFETY: a large mmap must fail under RLIMIT_AS.
            let p = unsafe {
                libc::mmap(
                    std::ptr::null_mut(),
                    1 << 30,
                    libc::PROT_READ | libc::PROT_WRITE,
                    libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                    -1,
                    0,
                )
            };
            i32::from(p != libc::MAP_FAILED) * 11
        });
        assert!(libc::WIFEXITED(status));
        assert_eq!(libc::WEXITSTATUS(status), 0);
    }
}
