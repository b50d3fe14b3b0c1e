//! The subcommands. Texts and exit codes follow docs/orbctl.md (§2, §3, §7).

use crate::faults::Faults;
use crate::output::usage_error;

mod config;
mod create;
mod lifecycle;
mod query;
mod session;

use crate::paths;
pub use config::config;
use create::create;
use lifecycle::{clone, delete, rename, restart, start, stop};
use query::{default, info, list, logs};
use session::copy_cmd;
pub use session::run;

pub(crate) use crate::cli::Flags;

pub(crate) const RESERVED: &[&str] = &[
    "default", "vm", "host", "services", "gateway", "k8s", "docker",
];

/// Version shown by `orbctl version` (orbsim answers like this OrbStack release). The first
/// line is 2.2.3's as a client parses it (docs/orbctl.md §12.7, \[3P\]); the commit hash is
/// orbsim's own stand-in \[GUESS\].
pub(crate) const VERSION: &str =
    "Version: 2.2.3 (2020300)\nCommit: 5e2b6c0e3b0f4a1f0d9c8e7a6b5c4d3e2f1a0b9c (v2.2.3)\n";

pub(crate) fn home() -> std::path::PathBuf {
    paths::home()
}

pub(crate) fn fail(e: anyhow::Error) -> i32 {
    // A reader that went away (`orbctl list -q | grep -q`): orbctl, a Go program, dies of
    // SIGPIPE there without a word, and so does orbsim.
    let broken_pipe = e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    });
    if broken_pipe {
        crate::output::die_of_sigpipe();
    }
    eprintln!("orbsim: {e:#}");
    1
}

pub(crate) fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

pub(crate) fn need_root() -> Option<i32> {
    if is_root() {
        None
    } else {
        eprintln!(
            "orbsim: machines need root (namespaces, overlay mounts, veth): run orbsim as root"
        );
        Some(1)
    }
}

pub(crate) fn arg_count(cmd: &str, pos: &[String], min: usize, max: usize) -> Option<i32> {
    if pos.len() >= min && pos.len() <= max {
        return None;
    }
    let msg = if min == max {
        format!("accepts {min} arg(s), received {}", pos.len())
    } else if max == usize::MAX {
        format!(
            "requires at least {min} arg(s), only received {}",
            pos.len()
        )
    } else {
        format!(
            "accepts between {min} and {max} arg(s), received {}",
            pos.len()
        )
    };
    Some(usage_error(cmd, &msg))
}

/// When OrbStack is "down" (`ORBSIM_FAULTS=not-running`).
pub fn not_running(cmd: &str) -> i32 {
    match cmd {
        "status" => {
            crate::output::print("Stopped\n");
            1
        }
        "stop" | "restart" => {
            eprintln!("OrbStack is not running");
            0
        }
        _ => {
            // [GUESS] the vmgr start error of a real failed start; one red line, exit 1.
            eprintln!("failed to start OrbStack: connect: connection refused");
            1
        }
    }
}

/// When the OrbStack service is stopped and cannot come up (`ORBSIM_FAULTS=stopped-hang`,
/// docs/orbctl.md §11.3): `status` answers at once, `stop`/`restart` say it is not running,
/// `version` needs no service; everything else waits for the service — forever — until the
/// caller kills it. \[3P\] for `list`, `info` and `start`; \[GUESS\] that every other command
/// that starts OrbStack (create, run, push, config, ...) blocks the same way.
pub fn stopped_hang(cmd: &str) -> i32 {
    match cmd {
        "status" | "stop" | "restart" => not_running(cmd),
        "version" => {
            crate::output::print(VERSION);
            0
        }
        _ => loop {
            std::thread::sleep(std::time::Duration::from_secs(3600));
        },
    }
}

/// Run a parsed subcommand.
pub fn call(cmd: &str, flags: &Flags, pos: &[String], faults: &Faults) -> i32 {
    let result = match cmd {
        "list" => list(flags, pos),
        "info" => info(flags, pos),
        "create" => create(flags, pos, faults),
        "start" => start(flags, pos),
        "stop" => stop(flags, pos),
        "restart" => restart(flags, pos),
        "delete" => delete(flags, pos, faults),
        "push" | "pull" => copy_cmd(cmd, flags, pos, faults),
        "clone" => clone(pos, faults),
        "rename" => rename(pos),
        "default" => default(pos),
        "status" => arg_count(cmd, pos, 0, 0).map_or_else(
            || {
                crate::output::print("Running\n");
                Ok(0)
            },
            Ok,
        ),
        "version" => {
            crate::output::print(VERSION);
            Ok(0)
        }
        "logs" => logs(flags, pos),
        _ => Ok(usage_error(cmd, "unknown command")),
    };
    result.unwrap_or_else(fail)
}
