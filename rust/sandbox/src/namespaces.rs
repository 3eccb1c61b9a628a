//! Namespaces of a zygote, entered once at its start (never per job: that is the point).
//!
//! As root: network, mount, IPC, UTS and PID namespaces are unshared directly. Otherwise a
//! user namespace comes first (the caller's uid/gid mapped to themselves); its capabilities
//! grant the rights to unshare the rest, and jobs drop them again. Each layer is tried on its
//! own, so the report says exactly which ones this kernel allows; nothing here is fatal.
use std::ffi::CString;

use crate::limits::errno;
use crate::wire::LayerReport;

/// What was entered.
#[derive(Debug, Default, Clone, Copy)]
pub struct Entered {
    pub user: bool,
    pub net: bool,
    pub mount: bool,
    pub ipc: bool,
    pub uts: bool,
    pub pid: bool,
}

fn strerror(e: i32) -> String {
    std::io::Error::from_raw_os_error(e).to_string()
}

fn unshare(flag: libc::c_int) -> Result<(), i32> {
    // SAFETY: unshare takes only flags.
    if unsafe { libc::unshare(flag) } == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

fn write_file(path: &str, text: &str) -> Result<(), i32> {
    std::fs::write(path, text).map_err(|e| e.raw_os_error().unwrap_or(libc::EIO))
}

/// Whether this process holds the capabilities the root path needs (`CAP_SYS_ADMIN` for
/// namespaces and mounts, `CAP_SETUID`/`CAP_SETGID` to drop jobs to an unprivileged uid,
/// `CAP_CHOWN` for their scratch dir). Root in a default container lacks some of them.
pub fn has_root_capabilities() -> bool {
    // CAP_CHOWN, CAP_SETGID, CAP_SETUID, CAP_SYS_ADMIN
    [0, 6, 7, 21].iter().all(|&cap| has_capability(cap))
}

/// Whether `cap` is in this process's effective set.
fn has_capability(cap: u32) -> bool {
    let mut header = [0x2008_0522u32, 0]; // _LINUX_CAPABILITY_VERSION_3, this process
    let mut data = [0u32; 6]; // two {effective, permitted, inheritable} words
                              // SAFETY: header and data have the layout capget expects for version 3.
    if unsafe { libc::syscall(libc::SYS_capget, header.as_mut_ptr(), data.as_mut_ptr()) } != 0 {
        return false;
    }
    data[(cap / 32) as usize * 3] & (1 << (cap % 32)) != 0
}

/// Enters the namespaces not listed in `disabled`; returns what was entered and a report.
pub fn enter(disabled: &[String], privileged: bool) -> (Entered, Vec<LayerReport>) {
    let off = |name: &str| disabled.iter().any(|d| d == name);
    let mut report: Vec<LayerReport> = Vec::new();
    let mut entered = Entered::default();
    let record = |report: &mut Vec<LayerReport>, name: &str, result: Result<(), i32>| -> bool {
        let (ok, note) = match result {
            Ok(()) => (true, String::new()),
            Err(0) => (false, "disabled".to_string()),
            Err(e) => (false, strerror(e)),
        };
        report.push((name.to_string(), ok, note));
        ok
    };
    if privileged {
        report.push((
            "user_namespace".into(),
            false,
            "not needed: started as root".into(),
        ));
    } else {
        // SAFETY: plain getter.
        let euid = unsafe { libc::geteuid() };
        let result = if off("user_namespace") {
            Err(0)
        } else if euid == 0 && !has_capability(31) {
            // Mapping uid 0 needs CAP_SETFCAP; without it the namespace would be entered with
            // no mapping at all (and could not be left again), so do not enter it.
            Err(libc::EPERM)
        } else {
            // SAFETY: plain getters.
            let (uid, gid) = unsafe { (libc::getuid(), libc::getgid()) };
            unshare(libc::CLONE_NEWUSER).and_then(|()| {
                write_file("/proc/self/setgroups", "deny")?;
                write_file("/proc/self/uid_map", &format!("{uid} {uid} 1"))?;
                write_file("/proc/self/gid_map", &format!("{gid} {gid} 1"))
            })
        };
        entered.user = record(&mut report, "user_namespace", result);
    }
    let mut try_ns = |name: &str, flag| {
        let result = if off(name) { Err(0) } else { unshare(flag) };
        record(&mut report, name, result)
    };
    entered.net = try_ns("network_namespace", libc::CLONE_NEWNET);
    entered.mount = try_ns("mount_namespace", libc::CLONE_NEWNS);
    entered.ipc = try_ns("ipc_namespace", libc::CLONE_NEWIPC);
    entered.uts = try_ns("uts_namespace", libc::CLONE_NEWUTS);
    entered.pid = try_ns("pid_namespace", libc::CLONE_NEWPID);
    if entered.uts {
        // SAFETY: a valid buffer and length.
        unsafe { libc::sethostname(c"sandbox".as_ptr(), 7) };
    }
    (entered, report)
}

fn c(path: &str) -> Result<CString, i32> {
    CString::new(path).map_err(|_| libc::EINVAL)
}

fn mount(
    src: Option<&str>,
    target: &str,
    fstype: Option<&str>,
    flags: libc::c_ulong,
    data: Option<&str>,
) -> Result<(), i32> {
    let src = src.map(c).transpose()?;
    let target = c(target)?;
    let fstype = fstype.map(c).transpose()?;
    let data = data.map(c).transpose()?;
    let ptr = |s: &Option<CString>| s.as_ref().map_or(std::ptr::null(), |s| s.as_ptr());
    // SAFETY: every pointer is a valid C string or null.
    let rc = unsafe {
        libc::mount(
            ptr(&src),
            target.as_ptr(),
            ptr(&fstype),
            flags,
            ptr(&data).cast(),
        )
    };
    if rc == 0 {
        Ok(())
    } else {
        Err(errno())
    }
}

/// Builds a minimal root filesystem at `new_root` and pivots into it: a small read-only
/// tmpfs holding read-only bind mounts of `readable` at their own paths, the three harmless
/// devices, and a writable tmpfs at `/tmp` (the scratch dir, owned by `owner`). Everything
/// else of the host — /etc, /proc, /home, /root, other users' files — simply does not exist.
pub fn pivot_into_minimal_root(
    new_root: &str,
    readable: &[String],
    owner: Option<(u32, u32)>,
) -> Result<(), (&'static str, i32)> {
    let step = |name: &'static str| move |e: i32| (name, e);
    mount(None, "/", None, libc::MS_REC | libc::MS_PRIVATE, None)
        .map_err(step("make / private"))?;
    mount(
        Some("tmpfs"),
        new_root,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV,
        Some("size=1m,mode=0755"),
    )
    .map_err(step("mount root tmpfs"))?;
    let mut bound: Vec<&str> = Vec::new();
    let mut paths: Vec<&String> = readable.iter().collect();
    paths.sort();
    for path in paths {
        if bound.iter().any(|b| path.starts_with(&format!("{b}/"))) {
            continue; // already visible through a parent mount
        }
        let Ok(meta) = std::fs::metadata(path) else {
            continue; // absent on this system
        };
        let target = format!("{new_root}{path}");
        let made = if meta.is_dir() {
            std::fs::create_dir_all(&target)
        } else {
            std::path::Path::new(&target)
                .parent()
                .map_or(Ok(()), std::fs::create_dir_all)
                .and_then(|()| std::fs::write(&target, b""))
        };
        made.map_err(|e| ("mkdir in new root", e.raw_os_error().unwrap_or(libc::EIO)))?;
        mount(
            Some(path),
            &target,
            None,
            libc::MS_BIND | libc::MS_REC,
            None,
        )
        .map_err(step("bind mount"))?;
        let dev = if path.starts_with("/dev/") {
            0
        } else {
            libc::MS_NODEV
        };
        // Read-only; a failure here (locked flags in a user namespace) leaves Landlock in charge.
        let _ = mount(
            None,
            &target,
            None,
            libc::MS_REMOUNT | libc::MS_BIND | libc::MS_RDONLY | libc::MS_NOSUID | dev,
            None,
        );
        bound.push(path);
    }
    let tmp = format!("{new_root}/tmp");
    std::fs::create_dir_all(&tmp).map_err(|e| ("mkdir /tmp", e.raw_os_error().unwrap_or(5)))?;
    mount(
        Some("tmpfs"),
        &tmp,
        Some("tmpfs"),
        libc::MS_NOSUID | libc::MS_NODEV | libc::MS_NOEXEC,
        Some("size=64m,nr_inodes=4096,mode=0700"),
    )
    .map_err(step("mount scratch tmpfs"))?;
    if let Some((uid, gid)) = owner {
        let t = c(&tmp).map_err(step("chown scratch"))?;
        // SAFETY: a valid path.
        if unsafe { libc::chown(t.as_ptr(), uid, gid) } != 0 {
            return Err(("chown scratch", errno()));
        }
    }
    let old = format!("{new_root}/.old");
    std::fs::create_dir_all(&old).map_err(|e| ("mkdir .old", e.raw_os_error().unwrap_or(5)))?;
    let (nr, or) = (
        c(new_root).map_err(step("pivot"))?,
        c(&old).map_err(step("pivot"))?,
    );
    // SAFETY: valid paths; pivot_root has no libc wrapper.
    if unsafe { libc::syscall(libc::SYS_pivot_root, nr.as_ptr(), or.as_ptr()) } != 0 {
        return Err(("pivot_root", errno()));
    }
    // SAFETY: valid C strings.
    unsafe {
        if libc::chdir(c"/".as_ptr()) != 0 {
            return Err(("chdir /", errno()));
        }
        if libc::umount2(c"/.old".as_ptr(), libc::MNT_DETACH) != 0 {
            return Err(("umount old root", errno()));
        }
        libc::rmdir(c"/.old".as_ptr());
    }
    // The root itself becomes read-only: only /tmp is writable.
    let _ = mount(
        None,
        "/",
        None,
        libc::MS_REMOUNT | libc::MS_RDONLY | libc::MS_NOSUID | libc::MS_NODEV,
        None,
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::seccomp::tests::in_child;

    #[test]
    fn a_fresh_network_namespace_has_no_way_out() {
        let status = in_child(|| {
            // SAFETY: plain getter.
            let root = unsafe { libc::geteuid() } == 0;
            let (entered, report) =
                enter(&["pid_namespace".into(), "mount_namespace".into()], root);
            if !entered.net {
                return 0; // this kernel/user cannot: nothing to check (reported, not fatal)
            }
            if report.iter().any(|(n, ok, _)| n == "pid_namespace" && *ok) {
                return 10; // a disabled layer must stay off
            }
            // SAFETY: plain socket calls in the throwaway child.
            unsafe {
                let s = libc::socket(libc::AF_INET, libc::SOCK_STREAM, 0);
                let addr = libc::sockaddr_in {
                    sin_family: libc::AF_INET as libc::sa_family_t,
                    sin_port: 53u16.to_be(),
                    sin_addr: libc::in_addr {
                        s_addr: u32::from_be_bytes([1, 1, 1, 1]).to_be(),
                    },
                    sin_zero: [0; 8],
                };
                let rc = libc::connect(
                    s,
                    (&raw const addr).cast(),
                    std::mem::size_of::<libc::sockaddr_in>() as u32,
                );
                i32::from(rc == 0) * 11 // ENETUNREACH expected
            }
        });
        assert!(libc::WIFEXITED(status));
        assert_eq!(libc::WEXITSTATUS(status), 0);
    }
}
