//! `orbdeploy exec INVENTORY -- CMD...`: one command on every selected machine, in
//! parallel, each machine's output printed as one block so outputs never interleave. The
//! command goes through [`crate::remote`] like every step of `apply`: over the channel by
//! default, one `orbctl run` (or one `ssh`, for a machine with an `ssh:` block) per
//! machine with `--no-channel`, its `--timeout` enforced by the transport (which ends
//! everything the command started).

use std::io::Write;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Result;

use crate::cli::ExecArgs;
use crate::error::{ConfigError, Outcome, RunEnd};
use crate::inventory::Host;
use crate::mask::Masker;
use crate::orb::{Orb, OrbError};
use crate::quote;
use crate::remote::Tracer;
use crate::remote::{self, Exec, Reach, Transport};
use crate::run::pool;

/// What `exec` runs, and where (from its flags, [`ExecArgs`]).
#[derive(Debug, Clone)]
pub struct ExecConfig {
    /// The inventory file.
    pub inventory: PathBuf,
    /// `--limit` patterns (empty: every machine).
    pub limit: Vec<String>,
    /// `--persist`: every ssh machine's connection outlives the run by this long.
    pub persist: Option<Duration>,
    /// `--shard K/N`: only the selected machines of this share.
    pub shard: Option<crate::inventory::shard::Shard>,
    /// No machine selected is a run that does nothing, not an error (`--allow-empty`).
    pub allow_empty: bool,
    /// Run as this user (`None`: the machine's default user).
    pub user: Option<String>,
    /// The working directory on the machine (empty: the user's home, as `orbctl run -w ''`).
    pub workdir: String,
    /// Kill the command (and everything it started) after this long.
    pub timeout: Option<Duration>,
    /// How many machines at once (at least 1).
    pub parallel: usize,
    /// How machines are reached.
    pub transport: Transport,
    /// The command and its arguments.
    pub command: Vec<String>,
}

impl From<&ExecArgs> for ExecConfig {
    fn from(args: &ExecArgs) -> ExecConfig {
        ExecConfig {
            inventory: args.inventory.clone(),
            limit: args.limit.clone(),
            shard: args.shard,
            persist: args.persist,
            allow_empty: args.allow_empty,
            user: args.user.clone(),
            workdir: args.workdir.clone(),
            timeout: args.timeout.map(Duration::from_secs),
            parallel: usize::from(args.parallel),
            transport: crate::cli::transport(args.no_channel),
            command: args.command.clone(),
        }
    }
}

/// Run the command; Ok when it succeeded everywhere.
pub fn exec(orb: &Orb, config: &ExecConfig) -> Result<()> {
    let first = config
        .command
        .first()
        .map(String::as_str)
        .unwrap_or_default();
    if first.starts_with('-') {
        // orbctl run reads a leading dash as one of its own flags and has no `--`; the
        // channel would not, but both paths take the same commands.
        return Err(ConfigError::plain(format!(
            "the command cannot start with `-` (`{first}`): orbctl would read it as its own flag"
        ))
        .into());
    }
    let mut inv = crate::commands::inventory::load_attached(orb, &config.inventory, &[])?;
    if let Some(keep) = config.persist {
        inv.persist_ssh(keep);
    }
    // Only another user goes through sudo (and only then may a `pipe()` in one run).
    if config.user.is_some() {
        inv.render_become_passwords(&crate::template::Renderer::new())?;
    }
    let mut hosts = inv.limit(&config.limit)?;
    if let Some(shard) = config.shard {
        hosts.retain(|h| shard.keeps(&h.name));
    }
    if hosts.is_empty() && !config.allow_empty {
        return Err(inv.empty_selection(&config.limit, config.shard).into());
    }
    if let Some(missing) = hosts.iter().find(|h| h.actual.is_none() && h.ssh.is_none()) {
        return Err(OrbError::MachineNotFound {
            name: missing.name.clone(),
        }
        .into());
    }
    if let Some(warning) = crate::process::limits::raise_open_files(hosts.len()) {
        eprintln!("{warning}");
    }
    let req = request(config);
    // The copies of the command in the trace hide the inventory's secrets.
    let secrets = hosts.iter().flat_map(|h| inv.secret_values(h)).collect();
    let trace = Tracer::from_env(Masker::new(secrets));
    let ended = pool::map(hosts.clone(), config.parallel, |host| {
        let password = inv.become_password(&host.name);
        let (block, ended) = run_on(orb, (host, password), (config.transport, &trace), &req);
        // One block at a time, as each machine finishes: the lock is held for the block.
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(&block);
        if !block.ends_with(b"\n") {
            let _ = out.write_all(b"\n");
        }
        let _ = out.flush();
        ended
    });
    let failed = ended.iter().filter(|e| **e != Ended::Ok).count();
    let unreachable = ended.iter().filter(|e| **e == Ended::Unreachable).count();
    if failed > 0 && failed == unreachable {
        // As for apply: a machine that cannot be reached, and nothing else failed, is exit 3
        // (each machine's block said why).
        return Err(Outcome::Reported(RunEnd::Unavailable).into());
    }
    if failed > 0 {
        return Err(Outcome::Failed(format!(
            "the command failed on {failed} of {} machines",
            hosts.len()
        ))
        .into());
    }
    Ok(())
}

/// The request that runs the command: its words quoted, so they reach the program byte
/// for byte as `orbctl run CMD ARGS...` passes them.
fn request(config: &ExecConfig) -> Exec {
    let mut script = quote::join(&config.command);
    // `/` is where every request starts; an empty directory is the user's home.
    match config.workdir.as_str() {
        "/" => {}
        "" => script = format!("cd || exit 1\n{script}"),
        // Changed to here rather than by the transport, whose shell would answer a
        // missing directory in its own words (`orbdeploy-agent: 1: cd: can't cd to …`).
        dir => script = format!("{}{script}", enter_workdir(dir)),
    }
    Exec {
        script,
        user: config.user.clone(),
        workdir: None,
        timeout: config.timeout,
        ..Exec::default()
    }
}

/// The lines that change to `--workdir` or end the request with a message that names it.
fn enter_workdir(dir: &str) -> String {
    let q = quote::quote(dir);
    format!(
        "if [ ! -d {q} ]; then printf '%s\\n' \"orbdeploy: the working directory \"{q}\" does not exist on this machine\" >&2; exit 1; fi\n\
         cd {q} 2>/dev/null || {{ printf '%s\\n' \"orbdeploy: cannot enter the working directory \"{q}\" (permission denied)\" >&2; exit 1; }}\n"
    )
}

/// How the command ended on one machine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ended {
    /// Exit code 0.
    Ok,
    /// It ran and failed, or the transport failed while it ran.
    Failed,
    /// The machine could not be reached (orbctl or ssh said why): nothing ran.
    Unreachable,
}

/// Run the request on one machine: its output block, and how it ended.
fn run_on(
    orb: &Orb,
    (host, password): (&Host, Option<&str>),
    (transport, trace): (Transport, &Tracer),
    req: &Exec,
) -> (Vec<u8>, Ended) {
    let name = host.name.as_str();
    let reach = match &host.ssh {
        Some(target) => Reach::Ssh(target),
        None => Reach::Orb(orb),
    };
    let mut remote = remote::connect(reach, name, transport, trace);
    if let Some(password) = password {
        remote.set_become_password(password);
    }
    let result = remote.exec(req);
    remote.close();
    match result {
        Ok(out) => {
            let mut b = format!(
                "== {name} (exit code {}, {:.2}s) ==\n",
                out.status,
                out.duration.as_secs_f64()
            )
            .into_bytes();
            b.extend_from_slice(&out.stdout);
            b.extend_from_slice(&out.stderr);
            let ended = if out.status == 0 {
                Ended::Ok
            } else {
                Ended::Failed
            };
            (b, ended)
        }
        Err(e) => {
            let ended = match &e {
                remote::RemoteError::Ssh(e) if e.is_unreachable() => Ended::Unreachable,
                remote::RemoteError::Orb(_) => Ended::Unreachable,
                _ => Ended::Failed,
            };
            (format!("== {name} (failed) ==\n{e}\n").into_bytes(), ended)
        }
    }
}
