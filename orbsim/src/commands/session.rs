//! Entering machines: `run` (and `orb ...`), `push`, `pull`.

use anyhow::Result;

use super::{arg_count, fail, home, need_root, not_running, Flags};
use crate::faults::Faults;
use crate::output::{server_error, usage_error};
use crate::state::{self, Machine};
use crate::{copy, enter, machine, net, paths, quote, runflags};

/// Resolve the machine for run/push/pull and make sure it runs (auto-start, reference
/// §4.3). `Err(code)` is the exit code to return.
fn running_machine(key: Option<&str>, silent_not_found: bool) -> Result<Result<Machine, i32>> {
    let mut locked = state::lock(&home())?;
    let found = match key {
        Some(k) => locked.state.find(k).map(|m| m.id.clone()),
        None => locked.state.default_machine().map(|m| m.id.clone()),
    };
    let Some(id) = found else {
        if key.is_none() && locked.state.machines.is_empty() {
            eprintln!("To use Docker:\n  docker run ...\n\nTo create a Linux machine:\n  orb create ubuntu\n");
            return Ok(Err(1));
        }
        if silent_not_found {
            // In a pipe the server's "machine not found" never reaches the client (§4.3).
            return Ok(Err(1));
        }
        return Ok(Err(server_error(&format!(
            "machine not found: '{}'",
            key.unwrap_or_default()
        ))));
    };
    let home_dir = locked.home().to_path_buf();
    let Some(m) = locked.state.find_mut(&id) else {
        return Ok(Err(1));
    };
    if !m.is_running() {
        if let Some(code) = need_root() {
            return Ok(Err(code));
        }
        machine::boot(&home_dir, m)?;
        let m = m.clone();
        locked.save()?;
        return Ok(Ok(m));
    }
    Ok(Ok(m.clone()))
}

/// `run` and `orb ...`.
pub fn run(args: &[String], faults: &Faults) -> i32 {
    if faults.not_running {
        return not_running("run");
    }
    if faults.stopped_hang {
        return super::stopped_hang("run");
    }
    let flags = match runflags::parse(args) {
        Ok(f) => f,
        Err(msg) => return usage_error("run", &msg),
    };
    if flags.help {
        crate::output::print(&crate::output::usage("run"));
        return 0;
    }
    if let Some(code) = need_root() {
        return code;
    }
    if let Some(n) = faults.run_fail_after {
        match count_run() {
            // The N+1-th session dies as a killed one would: no output, status 255 [GUESS].
            Ok(count) if count == n + 1 => return 255,
            Ok(_) => {}
            Err(e) => return fail(e),
        }
    }
    let m = match running_machine(flags.machine.as_deref(), true) {
        Ok(Ok(m)) => m,
        Ok(Err(code)) => return code,
        Err(e) => return fail(e),
    };
    let command = if flags.command.is_empty() {
        None
    } else if flags.shell {
        Some(flags.command.join(" "))
    } else {
        Some(quote::join(&flags.command))
    };
    let workdir = flags.workdir.clone().unwrap_or_else(paths::cwd_in_machine);
    let user = flags
        .user
        .clone()
        .unwrap_or_else(|| m.config.default_username.clone());
    let mut env = forwarded_env();
    if let Some(sock) = agent_in(&m) {
        env.push(("SSH_AUTH_SOCK".to_string(), sock));
    }
    let session = enter::Session {
        init_pid: m.init_pid.unwrap_or(0),
        cgroups: &m.cgroups,
        own_network: net::mode() == net::Mode::Namespace,
        user: &user,
        workdir: Some(&workdir),
        command,
        env,
        private_tmp: false,
    };
    // `-w ""` means home (handled by enter); a missing dir falls back to `/` silently.
    enter::run(&session).unwrap_or_else(fail)
}

/// `SSH_AUTH_SOCK` for a session, when the machine forwards an agent and one was bound at
/// its start (docs/orbctl.md §4.4: the server sets it when an agent is forwarded).
fn agent_in(m: &Machine) -> Option<String> {
    use std::os::unix::fs::FileTypeExt;
    let pid = m.init_pid?;
    let path = format!("/proc/{pid}/root{}", crate::init::AGENT_SOCKET);
    let bound = std::fs::metadata(path).is_ok_and(|md| md.file_type().is_socket());
    (m.config.forward_ssh_agent && bound).then(|| crate::init::AGENT_SOCKET.to_string())
}

fn count_run() -> Result<u64> {
    let mut locked = state::lock(&home())?;
    locked.state.run_calls += 1;
    let n = locked.state.run_calls;
    locked.save()?;
    Ok(n)
}

/// Variables the client passes into a machine (docs/orbctl.md §4.4): TERM and friends, LC_*,
/// and whatever `ORBENV=A:B` names.
fn forwarded_env() -> Vec<(String, String)> {
    let fixed = ["TERM", "TERM_PROGRAM", "COLORTERM", "ORBENV"];
    let listed: Vec<String> = std::env::var("ORBENV")
        .map(|v| {
            v.split(':')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    std::env::vars()
        .filter(|(k, _)| fixed.contains(&k.as_str()) || k.starts_with("LC_") || listed.contains(k))
        .collect()
}

pub(super) fn copy_cmd(cmd: &str, flags: &Flags, pos: &[String], faults: &Faults) -> Result<i32> {
    if let Some(code) = arg_count(cmd, pos, 1, usize::MAX) {
        return Ok(code);
    }
    if let Some(code) = need_root() {
        return Ok(code);
    }
    let m = match running_machine(flags.get("machine").map(String::as_str), false)? {
        Ok(m) => m,
        Err(code) => return Ok(code),
    };
    let (sources, dest) = if pos.len() == 1 {
        (pos, ".")
    } else {
        (&pos[..pos.len() - 1], pos[pos.len() - 1].as_str())
    };
    if cmd == "push" {
        copy::push(&m, sources, dest, faults.push_tmp_view)
    } else {
        copy::pull(&m, sources, dest)
    }
}
