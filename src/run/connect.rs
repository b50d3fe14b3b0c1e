//! The ssh machines' first phase: connect to each (in parallel), and read its facts
//! (distro, version, arch, the address reached, the login user), which become its
//! template variables before its steps are checked and run. An OrbStack machine has
//! these from `orbctl list`; an ssh host only says them once reached. Reading them
//! changes nothing on the host. A host that cannot be reached is unavailable (exit 3):
//! its steps are reported as not run, and nothing runs there.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use crate::inventory::Inventory;
use crate::plan::Plan;
use crate::remote::{self, HostReport, Reach, Remote, Tracer, Transport};
use crate::ssh_target::SshTarget;

use super::host::likely_users;
use super::pool;

/// The ssh machines of a run, after connecting.
#[derive(Default)]
pub struct SshMachines {
    /// Open connections, by machine: phase 2 runs the steps over them (one master and one
    /// login session each, kept from the facts to the last step).
    pub remotes: BTreeMap<String, Box<dyn Remote>>,
    /// What each reachable host reported.
    pub facts: BTreeMap<String, HostReport>,
    /// Why each other host could not be reached.
    pub failed: BTreeMap<String, String>,
    /// How each selected ssh machine is reached (for a connection made later: a saved
    /// plan's dry pass).
    pub targets: BTreeMap<String, SshTarget>,
    /// The rendered `become_password:` of each that has one (for a connection made later).
    pub passwords: BTreeMap<String, String>,
    /// The wall time of connecting to them all (zero without ssh machines).
    pub took: Duration,
}

impl SshMachines {
    /// The names of the machines connected.
    pub fn connected(&self) -> Vec<String> {
        self.remotes.keys().cloned().collect()
    }

    /// Give the inventory what every connected machine reported, once: its built-in
    /// variables (`distro`, `version`, `arch`, `ip4`, and `user` when the inventory
    /// leaves it to ssh) show it from now on.
    pub fn attach_facts(&self, inv: &mut Inventory) {
        for (name, f) in &self.facts {
            inv.attach_facts(name, f.facts.clone(), &f.user);
        }
    }
}

/// Connect to every selected ssh machine, `parallel` at a time, and read its facts.
pub fn connect_all(
    inv: &Inventory,
    plan: &Plan<'_>,
    (transport, trace): (Transport, &Tracer),
    parallel: usize,
) -> SshMachines {
    let started = Instant::now();
    let targets: Vec<(String, SshTarget, Vec<Option<String>>)> = plan
        .machines
        .iter()
        .filter_map(|m| {
            let target = inv.ssh_target(&m.name)?.clone();
            Some((m.name.clone(), target, likely_users(&m.steps)))
        })
        .collect();
    let passwords: BTreeMap<String, String> = targets
        .iter()
        .filter_map(|(name, _, _)| Some((name.clone(), inv.become_password(name)?.to_string())))
        .collect();
    let mut out = SshMachines {
        targets: targets
            .iter()
            .map(|(name, target, _)| (name.clone(), target.clone()))
            .collect(),
        ..SshMachines::default()
    };
    out.passwords = passwords.clone();
    if targets.is_empty() {
        return out;
    }
    let results = pool::map(targets, parallel.max(1), |(name, target, mut users)| {
        let mut remote = remote::connect(Reach::Ssh(&target), &name, transport, trace);
        if let Some(password) = passwords.get(&name) {
            remote.set_become_password(password);
        }
        // The sessions of every user the steps run as open side by side once the master
        // is up (a `become` step's sudo session would otherwise cost its own round trip
        // at the first such step); the facts then go over the login session.
        if !users.contains(&None) {
            users.push(None);
        }
        remote.expect_users(&users);
        let facts = remote.facts();
        (name, remote, facts)
    });
    out.took = started.elapsed();
    for (name, mut remote, facts) in results {
        match facts {
            Ok(Some(f)) => {
                out.facts.insert(name.clone(), f);
                out.remotes.insert(name, remote);
            }
            Ok(None) => {
                out.remotes.insert(name, remote);
            }
            Err(e) => {
                remote.close();
                out.failed.insert(name, e.to_string());
            }
        }
    }
    out
}
