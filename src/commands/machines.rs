//! `orbdeploy machines list|info|create|start|stop|restart|delete|clone`: orbctl's machine
//! commands with tables, `--json` and `create --if-missing`. `stop`, `restart` and `delete`
//! take names only (orbdeploy never stops all of OrbStack).

use std::io::Write;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::cli::MachinesCommand;
use crate::inventory;
use crate::orb::{Lifecycle, Machine, Orb};

/// `orbdeploy machines list|info`.
pub fn machines(orb: &Orb, cmd: &MachinesCommand) -> Result<()> {
    let mut out = std::io::stdout().lock();
    match cmd {
        MachinesCommand::List { json } => {
            let mut list = orb.list()?;
            // `list` has no addresses; `info` of each running machine does.
            for m in list.iter_mut().filter(|m| m.is_running()) {
                if let Ok(info) = orb.info(&m.name) {
                    m.ip4 = info.ip4;
                }
            }
            if *json {
                writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
            } else {
                write_table(&mut out, &list)?;
            }
        }
        MachinesCommand::Create {
            name,
            image,
            arch,
            user,
            cloud_init,
            if_missing,
            inventory,
        } => {
            refuse_ssh(inventory, std::slice::from_ref(name), "create")?;
            if !inventory::valid_machine_name(name) {
                return Err(crate::orb::OrbError::InvalidName { name: name.clone() }.into());
            }
            if *if_missing && orb.list()?.iter().any(|m| &m.name == name) {
                writeln!(out, "{name}: exists")?;
                return Ok(());
            }
            let spec = crate::orb::CreateSpec {
                name: name.clone(),
                image: image.clone(),
                arch: arch.clone(),
                user: user.clone(),
                cloud_init: cloud_init.clone(),
                ..crate::orb::CreateSpec::default()
            };
            orb.create(&spec)
                .with_context(|| format!("creating machine `{name}`"))?;
            writeln!(out, "{name}: created")?;
        }
        MachinesCommand::Start { names, inventory } => {
            refuse_ssh(inventory, names, "start")?;
            lifecycle(orb, Lifecycle::Start, names, "started")?
        }
        MachinesCommand::Stop {
            names,
            force,
            inventory,
        } => {
            refuse_ssh(inventory, names, "stop")?;
            let verb = if *force {
                Lifecycle::ForceStop
            } else {
                Lifecycle::Stop
            };
            lifecycle(orb, verb, names, "stopped")?
        }
        MachinesCommand::Restart { names, inventory } => {
            refuse_ssh(inventory, names, "restart")?;
            lifecycle(orb, Lifecycle::Restart, names, "restarted")?
        }
        MachinesCommand::Delete { names, inventory } => {
            refuse_ssh(inventory, names, "delete")?;
            lifecycle(orb, Lifecycle::Delete, names, "deleted")?
        }
        MachinesCommand::Clone { from, to } => {
            if !inventory::valid_machine_name(to) {
                return Err(crate::orb::OrbError::InvalidName { name: to.clone() }.into());
            }
            orb.clone_machine(from, to)
                .with_context(|| format!("cloning `{from}` to `{to}`"))?;
            writeln!(out, "{to}: cloned from {from} (stopped)")?;
        }
        MachinesCommand::Info { name, json } => {
            let m = orb
                .info(name)
                .with_context(|| format!("reading machine `{name}`"))?;
            if *json {
                writeln!(out, "{}", serde_json::to_string_pretty(&m)?)?;
            } else {
                write_table(&mut out, std::slice::from_ref(&m))?;
            }
        }
    }
    Ok(())
}

/// With `--inventory`, a name that is an ssh machine there is refused before orbctl is
/// called (exit 2): orbctl knows nothing of it, and orbdeploy manages no ssh machine's
/// lifecycle. The inventory is only read (no orbctl call).
fn refuse_ssh(inventory: &Option<PathBuf>, names: &[String], verb: &str) -> Result<()> {
    let Some(path) = inventory else {
        return Ok(());
    };
    let inv = inventory::load(path, &[])?;
    if let Some(h) = names
        .iter()
        .find_map(|n| inv.hosts.iter().find(|h| &h.name == n && h.ssh.is_some()))
    {
        let host = h.ssh.as_ref().map_or("", |t| t.host.as_str());
        return Err(crate::error::ConfigError::plain(format!(
            "cannot {verb} `{}`: it is an ssh machine of {} (host {host}); orbdeploy does not create, start, stop, restart or delete ssh machines, only OrbStack machines",
            h.name,
            path.display()
        ))
        .into());
    }
    Ok(())
}

/// One call per name, in order; stops at the first failure (the error names the machine).
fn lifecycle(orb: &Orb, verb: Lifecycle, names: &[String], done: &str) -> Result<()> {
    let mut out = std::io::stdout().lock();
    for name in names {
        match orb.lifecycle_call(verb, name) {
            // The orbctl error's advice (create it) is the wrong fix for these verbs.
            Err(crate::orb::OrbError::MachineNotFound { .. }) => {
                let what = match verb {
                    Lifecycle::Delete => "nothing to delete",
                    Lifecycle::Start | Lifecycle::Restart => {
                        "create it first with `orbdeploy machines create`"
                    }
                    Lifecycle::Stop | Lifecycle::ForceStop => "nothing to stop",
                };
                return Err(crate::error::Outcome::Unavailable(format!(
                    "{} `{name}`: machine `{name}` does not exist, {what} (`orbdeploy machines list` shows the machines there are)",
                    verb_gerund(verb)
                ))
                .into());
            }
            other => other.with_context(|| format!("{} `{name}`", verb_gerund(verb)))?,
        }
        writeln!(out, "{name}: {done}")?;
    }
    Ok(())
}

fn verb_gerund(verb: Lifecycle) -> &'static str {
    match verb {
        Lifecycle::Start => "starting",
        Lifecycle::Stop | Lifecycle::ForceStop => "stopping",
        Lifecycle::Restart => "restarting",
        Lifecycle::Delete => "deleting",
    }
}

fn write_table(out: &mut impl Write, machines: &[Machine]) -> std::io::Result<()> {
    let rows: Vec<[String; 6]> = machines
        .iter()
        .map(|m| {
            [
                m.name.clone(),
                m.state.clone(),
                m.image.distro.clone(),
                m.image.version.clone(),
                m.image.arch.clone(),
                m.ip4.clone().unwrap_or_default(),
            ]
        })
        .collect();
    let header = ["NAME", "STATE", "DISTRO", "VERSION", "ARCH", "IP"].map(String::from);
    let mut widths = header.clone().map(|h| h.len());
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.len());
        }
    }
    for r in std::iter::once(&header).chain(&rows) {
        let line: Vec<String> = r
            .iter()
            .zip(widths)
            .map(|(c, w)| format!("{c:w$}"))
            .collect();
        writeln!(out, "{}", line.join("  ").trim_end())?;
    }
    Ok(())
}
