//! `orbdeploy exec INVENTORY -- CMD...`: one command on every selected machine, in
//! parallel, each machine's output printed as one block so outputs never interleave.

use std::io::Write;
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Result;

use crate::cli::ExecArgs;
use crate::error::{ConfigError, Outcome};
use crate::orb::{Orb, OrbError};
use crate::process::{self, Spec};

/// Run the command; Ok when it succeeded everywhere.
pub fn exec(orb: &Orb, args: &ExecArgs) -> Result<()> {
    let first = args.command.first().map(String::as_str).unwrap_or_default();
    if first.starts_with('-') {
        // orbctl run reads a leading dash as one of its own flags and has no `--`.
        return Err(ConfigError::plain(format!(
            "the command cannot start with `-` (`{first}`): orbctl would read it as its own flag"
        ))
        .into());
    }
    let inv = crate::commands::inventory::load_attached(orb, &args.inventory, &[])?;
    let hosts = inv.limit(&args.limit)?;
    if let Some(missing) = hosts.iter().find(|h| h.actual.is_none()) {
        return Err(OrbError::MachineNotFound {
            name: missing.name.clone(),
        }
        .into());
    }
    let argv: Vec<&str> = args.command.iter().map(String::as_str).collect();
    let timeout = args.timeout.map(Duration::from_secs);
    let queue = Mutex::new(
        hosts
            .iter()
            .map(|h| h.name.clone())
            .collect::<Vec<_>>()
            .into_iter(),
    );
    let failures = Mutex::new(0usize);
    let stdout = Mutex::new(());
    std::thread::scope(|scope| {
        for _ in 0..usize::from(args.parallel).min(hosts.len().max(1)) {
            scope.spawn(|| loop {
                let next = queue.lock().map(|mut q| q.next()).unwrap_or(None);
                let Some(name) = next else { break };
                let spec =
                    Spec::new(orb.run_argv(&name, args.user.as_deref(), &args.workdir, &argv))
                        .timeout(timeout);
                let block = match process::run(&spec) {
                    Ok(out) => {
                        if !out.status.success() {
                            *failures.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                        }
                        let mut b = format!(
                            "== {name} ({}, {:.2}s) ==\n",
                            out.status,
                            out.duration.as_secs_f64()
                        )
                        .into_bytes();
                        b.extend_from_slice(&out.stdout);
                        b.extend_from_slice(&out.stderr);
                        b
                    }
                    Err(e) => {
                        *failures.lock().unwrap_or_else(|e| e.into_inner()) += 1;
                        format!("== {name} (failed) ==\n{e}\n").into_bytes()
                    }
                };
                let _guard = stdout.lock();
                let mut out = std::io::stdout().lock();
                let _ = out.write_all(&block);
                if !block.ends_with(b"\n") {
                    let _ = out.write_all(b"\n");
                }
                let _ = out.flush();
            });
        }
    });
    let failed = failures.into_inner().unwrap_or(0);
    if failed > 0 {
        return Err(Outcome::Failed(format!(
            "the command failed on {failed} of {} machines",
            hosts.len()
        ))
        .into());
    }
    Ok(())
}
