//! `push` and `pull` (docs/orbctl.md §5.1–§5.2): the machine side is `cp -rf` run inside the
//! machine as its default user with cwd = home, so cp's own messages and exit codes pass
//! through. The host side is read and written by this process, with the invoking user's
//! rights, and what lands on the host is owned by the invoking user — as OrbStack's file
//! sharing does for the Mac user. Files cross through a private staging directory in the
//! machine's /var/tmp (not /tmp: the `push-tmp-view` fault gives push's copy a /tmp of its
//! own), reached from the host through `/proc/PID/root`.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{Context, Result};

use crate::machine;
use crate::paths;
use crate::quote;
use crate::state::Machine;

/// A destination under the caller's `$HOME` is rewritten relative to the Linux home.
fn linux_dest(dest: &str) -> String {
    if let Some(home) = std::env::var_os("HOME") {
        let home = home.to_string_lossy().trim_end_matches('/').to_string();
        if !home.is_empty() && home != "/" {
            if dest == home {
                return ".".to_string();
            }
            if let Some(rest) = dest.strip_prefix(&format!("{home}/")) {
                return format!("./{rest}");
            }
        }
    }
    dest.to_string()
}

fn staging(m: &Machine, kind: &str) -> Result<(PathBuf, String)> {
    let pid = m.init_pid.context("the machine is not running")?;
    let inside = format!("/var/tmp/.orbsim-{kind}-{}", crate::ulid::new());
    let host = PathBuf::from(format!("/proc/{pid}/root{inside}"));
    std::fs::create_dir_all(&host).with_context(|| format!("creating {}", host.display()))?;
    chown_tree(&host, m.uid)?;
    Ok((host, inside))
}

fn chown_tree(path: &Path, uid: u32) -> Result<()> {
    let status = Command::new("chown")
        .arg("-R")
        .arg(format!("{uid}:{uid}"))
        .arg(path)
        .status()
        .context("chown")?;
    anyhow::ensure!(status.success(), "chown of {} failed", path.display());
    Ok(())
}

/// `push SRC... DEST`: returns the exit code. `other_tmp` (the `push-tmp-view` fault,
/// docs/orbctl.md §12.8, \[3P\]): the copy sees a `/tmp` of its own, so a push into the
/// machine's `/tmp` succeeds and leaves nothing there.
pub fn push(m: &Machine, sources: &[String], dest: &str, other_tmp: bool) -> Result<i32> {
    let (host_stage, inside_stage) = staging(m, "push")?;
    let mut code = 0;
    let mut staged = Vec::new();
    for (i, src) in sources.iter().enumerate() {
        let abs = paths::absolute(src);
        let shown = paths::host_to_machine(&abs);
        if std::fs::symlink_metadata(&abs).is_err() {
            eprintln!("cp: cannot stat '{shown}': No such file or directory");
            code = 1;
            continue;
        }
        let name = abs
            .file_name()
            .map_or_else(|| "root".into(), |n| n.to_string_lossy().into_owned());
        let slot = host_stage.join(i.to_string());
        std::fs::create_dir_all(&slot)?;
        // Read as the invoking user; a file it cannot read fails here, like on a Mac.
        let out = Command::new("cp")
            .arg("-r")
            .arg("--preserve=mode")
            .arg(&abs)
            .arg(slot.join(&name))
            .output()?;
        if !out.status.success() {
            eprint!(
                "{}",
                String::from_utf8_lossy(&out.stderr).replace(&*abs.to_string_lossy(), &shown)
            );
            code = 1;
            continue;
        }
        staged.push(format!("{inside_stage}/{i}/{name}"));
    }
    chown_tree(&host_stage, m.uid)?;
    if !staged.is_empty() {
        let mut argv = vec!["cp".to_string(), "-rf".to_string()];
        argv.extend(staged);
        argv.push(linux_dest(dest));
        let user = &m.config.default_username;
        let status = machine::in_machine_view(m, user, "", &quote::join(&argv), other_tmp)?;
        if status != 0 {
            code = status;
        }
    }
    let _ = std::fs::remove_dir_all(&host_stage);
    Ok(code)
}

/// `pull SRC... DEST`: returns the exit code.
pub fn pull(m: &Machine, sources: &[String], dest: &str) -> Result<i32> {
    let (host_stage, inside_stage) = staging(m, "pull")?;
    let mut argv = vec!["cp".to_string(), "-rf".to_string()];
    argv.extend(sources.iter().map(|s| linux_dest(s)));
    argv.push(format!("{inside_stage}/"));
    let mut code = machine::in_machine(m, &m.config.default_username, "", &quote::join(&argv))?;
    let mut entries: Vec<PathBuf> = std::fs::read_dir(&host_stage)
        .map(|rd| rd.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    entries.sort();
    if !entries.is_empty() {
        // Written by this process: owned by the invoking user, with its rights.
        let out = Command::new("cp")
            .arg("-rf")
            .args(&entries)
            .arg(paths::absolute(dest))
            .output()?;
        if !out.status.success() {
            eprint!("{}", String::from_utf8_lossy(&out.stderr));
            code = 1;
        }
    }
    let _ = std::fs::remove_dir_all(&host_stage);
    Ok(code)
}
