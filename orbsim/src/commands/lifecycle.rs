//! start, stop, restart, delete, clone, rename.

use anyhow::Result;

use super::create::{names_or_all, valid_name};
use super::{arg_count, home, need_root, Flags};
use crate::faults::Faults;
use crate::output::{server_error, usage_error};
use crate::state::{self, Machine};
use crate::{cgroup, machine, quote, ulid};

pub(super) fn start(flags: &Flags, pos: &[String]) -> Result<i32> {
    if pos.is_empty() && !flags.on("all") {
        eprintln!("OrbStack is already running. Docker engine is ready to use.\nUse --all to start all machines.");
        return Ok(0);
    }
    boot_each("start", flags, pos, false)
}

pub(super) fn restart(flags: &Flags, pos: &[String]) -> Result<i32> {
    if pos.is_empty() && !flags.on("all") {
        return Ok(usage_error("restart", "no machines specified"));
    }
    boot_each("restart", flags, pos, true)
}

/// `start` and `restart`: every name is looked up first, then each machine is (stopped
/// and) booted; the first failure is reported as the server would.
fn boot_each(verb: &str, flags: &Flags, pos: &[String], stop_first: bool) -> Result<i32> {
    if let Some(code) = need_root() {
        return Ok(code);
    }
    let mut locked = state::lock(&home())?;
    let ids = match names_or_all(&locked, flags, pos) {
        Ok(ids) => ids,
        Err(code) => return Ok(code),
    };
    let home_dir = locked.home().to_path_buf();
    for id in ids {
        if let Some(m) = locked.state.find_mut(&id) {
            if stop_first {
                machine::halt(&home_dir, m);
            }
            if let Err(e) = machine::boot(&home_dir, m) {
                let name = m.name.clone();
                locked.save()?;
                return Ok(server_error(&format!("{verb} '{name}': {e:#}")));
            }
        }
    }
    locked.save()?;
    Ok(0)
}

pub(super) fn stop(flags: &Flags, pos: &[String]) -> Result<i32> {
    let mut locked = state::lock(&home())?;
    // No names stops all of OrbStack: every machine (docs/orbctl.md §2).
    let all = pos.is_empty() || flags.on("all");
    let ids = if all {
        locked.state.machines.iter().map(|m| m.id.clone()).collect()
    } else {
        match names_or_all(&locked, flags, pos) {
            Ok(ids) => ids,
            Err(code) => return Ok(code),
        }
    };
    let home_dir = locked.home().to_path_buf();
    for id in ids {
        if let Some(m) = locked.state.find_mut(&id) {
            machine::halt(&home_dir, m);
        }
    }
    locked.save()?;
    Ok(0)
}

pub(super) fn delete(flags: &Flags, pos: &[String], faults: &Faults) -> Result<i32> {
    if pos.is_empty() && !flags.on("all") {
        return Ok(usage_error("delete", "no machines specified"));
    }
    let mut locked = state::lock(&home())?;
    // Every name is looked up before anything is deleted (docs/orbctl.md §2).
    let ids = match names_or_all(&locked, flags, pos) {
        Ok(ids) => ids,
        Err(code) => return Ok(code),
    };
    let home_dir = locked.home().to_path_buf();
    if faults.disk_quota {
        if let Some(m) = ids
            .iter()
            .filter_map(|id| locked.state.find(id))
            .find(|m| at_quota(m, &home_dir))
        {
            return Ok(server_error(&format!(
                "delete '{}': remove subvolume: no space left on device",
                m.name
            )));
        }
    }
    for id in &ids {
        if let Some(m) = locked.state.find_mut(id) {
            machine::halt(&home_dir, m);
            let dir = m.dir(&home_dir);
            let _ = std::fs::remove_dir_all(&dir);
        }
        locked.state.machines.retain(|m| &m.id != id);
    }
    let default_gone = locked
        .state
        .default_id
        .as_ref()
        .is_some_and(|d| !locked.state.machines.iter().any(|m| &m.id == d));
    if default_gone {
        // The alphabetically first machine becomes the default (docs/orbctl.md §8).
        let mut names: Vec<&Machine> = locked.state.machines.iter().collect();
        names.sort_by(|a, b| a.name.cmp(&b.name));
        locked.state.default_id = names.first().map(|m| m.id.clone());
    }
    locked.save()?;
    Ok(0)
}

/// Whether a machine's own layer has reached its `disk_bytes` quota. The `disk-quota`
/// fault then refuses its delete, as §12.5 reports (\[3P\]: btrfs runs out of space
/// removing the subvolume of a machine at its quota; lift the quota with
/// `config set machine.NAME.disk_bytes 0` first). \[GUESS\] the error's words after the
/// reference's "ENOSPC removing the subvolume"; orbsim measures the layer with `du`.
fn at_quota(m: &Machine, home: &std::path::Path) -> bool {
    let Some(quota) = m.limits.disk_bytes else {
        return false;
    };
    let out = std::process::Command::new("du")
        .arg("-sb")
        .arg(m.dir(home).join("upper"))
        .output();
    let used = out.ok().and_then(|o| {
        String::from_utf8_lossy(&o.stdout)
            .split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()
    });
    used.is_some_and(|u| u >= quota)
}

pub(super) fn clone(pos: &[String], faults: &Faults) -> Result<i32> {
    if let Some(code) = arg_count("clone", pos, 2, 2) {
        return Ok(code);
    }
    let mut locked = state::lock(&home())?;
    let Some(src) = locked.state.find(&pos[0]).cloned() else {
        return Ok(server_error(&format!("machine not found: '{}'", pos[0])));
    };
    let new = &pos[1];
    if !valid_name(new) {
        return Ok(server_error(&format!(
            "clone '{new}': invalid machine name '{new}'"
        )));
    }
    if locked.state.find(new).is_some() {
        return Ok(server_error(&format!(
            "clone '{new}': machine already exists: '{new}'"
        )));
    }
    let home_dir = locked.home().to_path_buf();
    let mut copy = Machine {
        id: ulid::new(),
        name: new.clone(),
        init_pid: None,
        init_start: None,
        ip4: None,
        // The source's cgroups are its own; the clone gets its at its first start.
        cgroups: Vec::new(),
        ..src.clone()
    };
    let to = copy.dir(&home_dir);
    std::fs::create_dir_all(&to)?;
    let copied = paused(&src, || {
        if let Some(extra) = faults.clone_slow {
            std::thread::sleep(extra);
        }
        Ok(std::process::Command::new("cp")
            .arg("-a")
            .arg("--reflink=auto")
            .arg(src.dir(&home_dir).join("upper"))
            .arg(to.join("upper"))
            .status()?
            .success())
    });
    if !copied? {
        let _ = std::fs::remove_dir_all(&to);
        return Ok(server_error(&format!(
            "clone '{new}': copying the disk failed"
        )));
    }
    copy.ip4 = None;
    // The clone makes its own sshd host keys at its first start, as a new machine does.
    if let Ok(entries) = std::fs::read_dir(to.join("upper/etc/ssh")) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("ssh_host_") {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
    locked.state.machines.push(copy);
    locked.save()?;
    Ok(0)
}

/// Run `copy` with a running source paused (docs/orbctl.md §12.3, \[3P\]: OrbStack pauses
/// the source while it clones it, so the copy is consistent): its processes are frozen
/// with the cgroup freezer and thawed after, also when the copy fails. Concurrent clones
/// of one source serialize, as reported: each holds the state lock throughout (which
/// also holds every other command of the state home meanwhile, a simplification).
/// `ORBSIM_COMPAT=clone-no-pause` copies without pausing; a host without a freezer
/// cannot pause, and says so.
fn paused(src: &Machine, copy: impl FnOnce() -> Result<bool>) -> Result<bool> {
    let pause = src.is_running() && !crate::compat::Compat::from_env().clone_no_pause;
    let frozen = pause && cgroup::freeze(&src.cgroups, true)?;
    if pause && !frozen {
        eprintln!(
            "orbsim: warning: no cgroup freezer for '{}': cloned without pausing it",
            src.name
        );
    }
    let result = copy();
    if frozen {
        cgroup::freeze(&src.cgroups, false)?;
    }
    result
}

pub(super) fn rename(pos: &[String]) -> Result<i32> {
    if let Some(code) = arg_count("rename", pos, 2, 2) {
        return Ok(code);
    }
    let mut locked = state::lock(&home())?;
    if locked.state.find(&pos[0]).is_none() {
        return Ok(server_error(&format!("machine not found: '{}'", pos[0])));
    }
    let new = &pos[1];
    if locked.state.find(new).is_some() {
        // The odd quoting is OrbStack's ('%q' inside quotes, docs/orbctl.md §2).
        return Ok(server_error(&format!("machine '\"{new}\"' already exists")));
    }
    if !valid_name(new) {
        return Ok(server_error(&format!("invalid machine name '{new}'")));
    }
    if let Some(m) = locked.state.find_mut(&pos[0]) {
        m.name = new.clone();
        if m.is_running() {
            // [GUESS] OrbStack renames the hostname of a running machine too.
            let script = format!(
                "hostname {0} && echo {0} > /etc/hostname",
                quote::quote(new)
            );
            let _ = machine::in_machine(m, "root", "/", &script);
        }
    }
    locked.save()?;
    Ok(0)
}
