//! A cgroup per running machine, so `cpu` and `memory_mib` are real limits on every process
//! of the machine (its init, what runs under it, and every `run` session, which joins the
//! machine's cgroups before it enters the namespaces).
//!
//! cgroup v2 is used when the host's unified hierarchy has the `cpu` and `memory`
//! controllers: the machine's cgroup is `<cgroup2 mount>/orbsim/<tag>` (at the top, because
//! v2 lets a parent hand controllers down only when it has no processes of its own), with
//! `cpu.max` and `memory.max`. A host without them (cgroup v1, or a hybrid layout whose
//! `cpu` and `memory` are bound to v1 hierarchies) gets the v1 equivalents,
//! `cpu.cfs_quota_us` and `memory.limit_in_bytes`, in `orbsim-<tag>` under the cgroup the
//! starting process is in, and a warning says so when limits are set. Without either, limits
//! are recorded only, with a warning.
//!
//! The machine gets its own cgroup namespace, and sees its cgroup at `/sys/fs/cgroup`
//! (read-only, as Docker mounts it): `cpu.max` and `memory.max` there on v2,
//! `cpu/cpu.cfs_quota_us` and `memory/memory.limit_in_bytes` on v1.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// CFS period orbsim uses: a quota of N cores is N × this.
const PERIOD_US: u64 = 100_000;

/// How the machine mounts its cgroups (passed to its init).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum InMachine {
    /// A cgroup2 file system at `/sys/fs/cgroup`.
    V2,
    /// A tmpfs at `/sys/fs/cgroup` with one v1 hierarchy per `(directory, options)`.
    V1(Vec<(String, String)>),
}

/// The controllers orbsim can use on this host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Backend {
    /// The unified hierarchy mounted here has cpu and memory.
    V2(PathBuf),
    /// v1 hierarchies: (controller, mount point, mount options, the caller's cgroup in it).
    V1(Vec<(String, PathBuf, String, String)>),
}

impl Backend {
    /// Find what the host offers (from /proc/self/mountinfo and /proc/self/cgroup).
    pub fn detect() -> Option<Backend> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let own = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
        let mut v1 = Vec::new();
        for line in mountinfo.lines() {
            let Some((left, right)) = line.split_once(" - ") else {
                continue;
            };
            let mount_point = left.split(' ').nth(4).map(unescape);
            let mut right = right.split(' ');
            let (fstype, options) = (right.next(), right.nth(1));
            match (fstype, mount_point, options) {
                (Some("cgroup2"), Some(mp), _) => {
                    let controllers =
                        std::fs::read_to_string(Path::new(&mp).join("cgroup.controllers"))
                            .unwrap_or_default();
                    let has = |c: &str| controllers.split_whitespace().any(|x| x == c);
                    if has("cpu") && has("memory") {
                        return Some(Backend::V2(PathBuf::from(mp)));
                    }
                }
                (Some("cgroup"), Some(mp), Some(opts)) => {
                    let kept: Vec<&str> = opts.split(',').filter(|o| *o != "rw").collect();
                    // The freezer pauses a machine while it is cloned (commands/lifecycle.rs).
                    for c in ["cpu", "memory", "freezer"] {
                        if kept.contains(&c) {
                            let path = own_path(&own, c).unwrap_or_else(|| "/".into());
                            v1.push((c.to_string(), mp.clone().into(), kept.join(","), path));
                        }
                    }
                }
                _ => {}
            }
        }
        let found = |c: &str| v1.iter().any(|(x, ..)| x == c);
        (found("cpu") && found("memory")).then_some(Backend::V1(v1))
    }

    /// Make the machine's cgroups (keeping ones left by a crash); returns their paths.
    pub fn create(&self, tag: &str) -> Result<Vec<String>> {
        match self {
            Backend::V2(root) => {
                let parent = root.join("orbsim");
                std::fs::create_dir_all(&parent)
                    .with_context(|| format!("creating {}", parent.display()))?;
                for dir in [root.as_path(), parent.as_path()] {
                    write(&dir.join("cgroup.subtree_control"), "+cpu +memory")?;
                }
                let dir = parent.join(tag);
                std::fs::create_dir_all(&dir)
                    .with_context(|| format!("creating {}", dir.display()))?;
                Ok(vec![dir.to_string_lossy().into_owned()])
            }
            Backend::V1(hierarchies) => {
                let mut dirs = Vec::new();
                for (_, mount, _, own) in hierarchies {
                    let dir = mount
                        .join(own.trim_start_matches('/'))
                        .join(format!("orbsim-{tag}"));
                    std::fs::create_dir_all(&dir)
                        .with_context(|| format!("creating {}", dir.display()))?;
                    dirs.push(dir.to_string_lossy().into_owned());
                }
                dirs.dedup();
                Ok(dirs)
            }
        }
    }

    /// How the machine mounts them.
    pub fn in_machine(&self) -> InMachine {
        match self {
            Backend::V2(_) => InMachine::V2,
            Backend::V1(h) => {
                let mut list: Vec<(String, String)> = h
                    .iter()
                    .map(|(_, _, opts, _)| (opts.clone(), opts.clone()))
                    .collect();
                list.dedup();
                InMachine::V1(list)
            }
        }
    }

    /// What a user is told when limits are set on this host (`None`: cgroup v2, nothing to say).
    pub fn warning(backend: Option<&Backend>) -> Option<&'static str> {
        match backend {
            Some(Backend::V2(_)) => None,
            Some(Backend::V1(_)) => Some(
                "orbsim: warning: this host has no cgroup v2 cpu and memory controllers; \
                 the machine's limits are applied with cgroup v1 (cpu.cfs_quota_us, \
                 memory.limit_in_bytes)",
            ),
            None => Some(
                "orbsim: warning: this host has no usable cgroup cpu and memory controllers; \
                 the machine's cpu and memory limits are recorded but not enforced",
            ),
        }
    }
}

/// The caller's cgroup in the v1 hierarchy holding `controller` (from /proc/self/cgroup).
fn own_path(own: &str, controller: &str) -> Option<String> {
    own.lines().find_map(|l| {
        let mut f = l.splitn(3, ':');
        let (_, list, path) = (f.next()?, f.next()?, f.next()?);
        list.split(',')
            .any(|c| c == controller)
            .then(|| path.to_string())
    })
}

/// mountinfo escapes spaces and the like as octal (`\040`).
fn unescape(s: &str) -> String {
    let mut out = String::new();
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\\' {
            let code: String = chars.by_ref().take(3).collect();
            if let Ok(b) = u8::from_str_radix(&code, 8) {
                out.push(char::from(b));
                continue;
            }
            out.push(c);
            out.push_str(&code);
        } else {
            out.push(c);
        }
    }
    out
}

fn write(path: &Path, value: &str) -> Result<()> {
    std::fs::write(path, value).with_context(|| format!("writing {value:?} to {}", path.display()))
}

/// Set (or lift, with `None`) the limits in a machine's cgroups. Each directory is v2 or
/// v1 by the files it has.
pub fn apply(dirs: &[String], cpu: Option<u32>, memory_mib: Option<u64>) -> Result<()> {
    for dir in dirs.iter().map(Path::new) {
        let memory = memory_mib.map(|m| m.saturating_mul(1024 * 1024));
        if dir.join("cpu.max").exists() {
            let quota = cpu.map_or("max".to_string(), |c| {
                (u64::from(c) * PERIOD_US).to_string()
            });
            write(&dir.join("cpu.max"), &format!("{quota} {PERIOD_US}"))?;
        }
        if dir.join("memory.max").exists() {
            write(
                &dir.join("memory.max"),
                &memory.map_or("max".to_string(), |m| m.to_string()),
            )?;
        }
        if dir.join("cpu.cfs_quota_us").exists() {
            write(&dir.join("cpu.cfs_period_us"), &PERIOD_US.to_string())?;
            let quota = cpu.map_or("-1".to_string(), |c| (u64::from(c) * PERIOD_US).to_string());
            write(&dir.join("cpu.cfs_quota_us"), &quota)?;
        }
        if dir.join("memory.limit_in_bytes").exists() {
            let value = memory.map_or("-1".to_string(), |m| m.to_string());
            write(&dir.join("memory.limit_in_bytes"), &value)?;
        }
    }
    Ok(())
}

/// Freeze (`true`) or thaw a machine's processes with the cgroup freezer: `cgroup.freeze`
/// on v2, `freezer.state` on v1. Waits, at most a second, until the kernel reports the new
/// state (a process in a system call stops at its end). Returns false when none of the
/// machine's cgroups has a freezer.
pub fn freeze(dirs: &[String], frozen: bool) -> Result<bool> {
    let mut any = false;
    for dir in dirs.iter().map(Path::new) {
        // (file to write, value, file to read back, the line that says it is done)
        let (file, value, report, settled) = if dir.join("cgroup.freeze").exists() {
            let (v, done) = if frozen {
                ("1", "frozen 1")
            } else {
                ("0", "frozen 0")
            };
            ("cgroup.freeze", v, "cgroup.events", done)
        } else if dir.join("freezer.state").exists() {
            let v = if frozen { "FROZEN" } else { "THAWED" };
            ("freezer.state", v, "freezer.state", v)
        } else {
            continue;
        };
        any = true;
        write(&dir.join(file), value)?;
        for _ in 0..100 {
            let now = std::fs::read_to_string(dir.join(report)).unwrap_or_default();
            if now.lines().any(|l| l.trim() == settled) {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
    Ok(any)
}

/// Move this process into a machine's cgroups (before it enters the machine).
///
/// A pid written to `cgroup.procs` makes the kernel take its global threadgroup lock for
/// writing, which waits for an RCU grace period: 7–15 ms of wall time and no CPU on the
/// 2-core VM of BENCHMARKS.md, paid by every `run` before its command starts. On a v1
/// hierarchy a single-threaded process moves its one thread instead (`0` in `tasks`: the
/// calling thread), which recent kernels do without that lock (about 20 µs). Both callers
/// are single-threaded here (they `setns` or `unshare` next, which needs that); a process
/// with more threads, or a v2 cgroup (no `tasks`), is moved whole as before.
pub fn join(dirs: &[String]) -> Result<()> {
    let pid = std::process::id().to_string();
    let one_thread = single_threaded();
    for dir in dirs.iter().map(Path::new) {
        let tasks = dir.join("tasks");
        if one_thread && tasks.exists() && std::fs::write(&tasks, "0").is_ok() {
            continue;
        }
        write(&dir.join("cgroup.procs"), &pid)?;
    }
    Ok(())
}

/// This process has one thread (`/proc/self/task` has one entry).
fn single_threaded() -> bool {
    std::fs::read_dir("/proc/self/task").is_ok_and(|d| d.take(2).count() == 1)
}

/// Remove a stopped machine's cgroups. The last `run` processes may still be leaving them,
/// so an empty-but-busy cgroup is retried for a moment; one that stays busy is left behind
/// and reused at the next start.
pub fn remove(dirs: &[String]) {
    for dir in dirs {
        for _ in 0..50 {
            match std::fs::remove_dir(dir) {
                Err(e) if e.raw_os_error() == Some(libc::EBUSY) => {
                    std::thread::sleep(Duration::from_millis(20));
                }
                _ => break,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_v1_paths_and_mountinfo_escapes() {
        let own = "9:name=systemd:/\n4:memory:/a/b\n1:cpu,cpuacct:/\n0::/\n";
        assert_eq!(own_path(own, "memory").as_deref(), Some("/a/b"));
        assert_eq!(own_path(own, "cpu").as_deref(), Some("/"));
        assert_eq!(own_path(own, "pids"), None);
        assert_eq!(unescape("/a\\040b"), "/a b");
    }
}
