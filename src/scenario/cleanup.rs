//! `orbdeploy test --cleanup`: the throwaway machines of runs that are gone (killed before
//! they could delete them) and the templates that no scenario found names any more, or
//! that a killed run left half-made (running).

use anyhow::Result;

use crate::orb::{Lifecycle, Orb};

use super::machines::{run_pid, PREFIX, TEMPLATE_PREFIX};
use super::Config;

/// Delete the leftovers and say what was deleted.
pub fn cleanup(orb: &Orb, cfg: &Config) -> Result<()> {
    // The templates the scenarios name now are kept; without scenarios here, none is. A
    // scenario that does not load is an error: its templates would be taken for old ones.
    let found = super::find(&cfg.paths);
    let current: Vec<String> = match found {
        Err(_) if cfg.paths.is_empty() => Vec::new(),
        _ => super::load_all(cfg)?
            .into_iter()
            .flat_map(|c| c.templates)
            .collect(),
    };
    let mut deleted = 0;
    for m in orb.list()? {
        let why = if m.name.starts_with(TEMPLATE_PREFIX) {
            if m.state != "stopped" {
                Some("a template left half-made")
            } else if !current.contains(&m.name) {
                Some("a template no scenario names")
            } else {
                None
            }
        } else if m.name.starts_with(PREFIX) {
            run_pid(&m.name)
                .filter(|pid| !alive(*pid))
                .map(|_| "left by a run that ended")
        } else {
            None
        };
        if let Some(why) = why {
            orb.lifecycle_call(Lifecycle::Delete, &m.name)?;
            println!("deleted {} ({why})", m.name);
            deleted += 1;
        }
    }
    remove_kept_inventories();
    println!("orbdeploy test --cleanup: {deleted} deleted");
    Ok(())
}

/// The inventories of kept machines (`orbdeploy-test-<run>.yaml` in the temporary
/// directory) whose run is gone: their machines are deleted now.
fn remove_kept_inventories() {
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for e in entries.flatten() {
        let name = e.file_name().to_string_lossy().into_owned();
        let Some(run) = name
            .strip_prefix("orbdeploy-test-")
            .and_then(|r| r.strip_suffix(".yaml"))
        else {
            continue;
        };
        let pid = run_pid(&format!("{PREFIX}{run}-"));
        if pid.is_some_and(|p| !alive(p)) {
            let _ = std::fs::remove_file(e.path());
        }
    }
}

/// Whether a process of this pid runs (a run of another user's counts as running).
fn alive(pid: u32) -> bool {
    let Ok(pid) = i32::try_from(pid) else {
        return false;
    };
    match nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), None) {
        Ok(()) => true,
        Err(e) => e != nix::errno::Errno::ESRCH,
    }
}
