//! Machine settings of an existing machine: what differs from the inventory, read from one
//! `orbctl config show`, and what it takes to change it (docs/orbctl.md §11.2).
//!
//! Which keys take effect without a restart is not confirmed by the reference. The rule
//! here is \[GUESS\], from third-party notes: CPU and memory are cgroup limits and change at
//! once; disk growth, mounts, network isolation and the ssh agent need a restart; isolation
//! from the Mac's files and a smaller disk cannot be changed on an existing machine at all.
//! A restart is made only when the inventory says `restart_for_settings: true`; otherwise
//! the change is reported as drift with the commands to run, never made silently.

use crate::inventory::Host;

pub use crate::orb::ConfigValues;

/// The config key of one machine's setting: a name with dots is quoted (`machine."a.b".cpu`).
pub fn key(machine: &str, setting: &str) -> String {
    if machine.contains('.') {
        format!("machine.\"{machine}\".{setting}")
    } else {
        format!("machine.{machine}.{setting}")
    }
}

/// One setting to change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettingChange {
    /// The full config key (`machine.web-1.cpu`).
    pub key: String,
    /// What `config show` says now (`None`: not set, OrbStack's default).
    pub from: Option<String>,
    /// The declared value, as `config set` takes it.
    pub to: String,
    /// Whether it takes effect only after a restart.
    pub needs_restart: bool,
}

impl SettingChange {
    /// `machine.web-1.cpu 2 → 4`.
    pub fn describe(&self) -> String {
        format!(
            "{} {} → {}",
            self.key,
            self.from.as_deref().unwrap_or("(default)"),
            self.to
        )
    }
}

/// What a machine's settings need.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct SettingsPlan {
    /// The changes, in a fixed order.
    pub changes: Vec<SettingChange>,
    /// Restart the machine after setting them (running, a change needs it, and allowed).
    pub restart: bool,
    /// Why the declared settings cannot be reached without a person (`None`: they can).
    pub drift: Option<String>,
}

/// Compare what the inventory declares for `host` with `current`; `running` says whether a
/// restart would be needed for restart-bound keys (a stopped machine takes them when it
/// starts).
pub fn plan(host: &Host, current: &ConfigValues, running: bool) -> SettingsPlan {
    let s = &host.desired.settings;
    let name = &host.name;
    let now = |k: &str| current.get(&key(name, k)).cloned();
    let mut out = SettingsPlan::default();
    let mut cannot = Vec::new();
    let mut want = |setting: &str, to: String, restart: bool| {
        let from = now(setting);
        if from.as_deref() != Some(to.as_str()) {
            out.changes.push(SettingChange {
                key: key(name, setting),
                from,
                to,
                needs_restart: restart,
            });
        }
    };
    if let Some(c) = &s.cpus {
        want("cpu", c.value.to_string(), false);
    }
    if let Some(m) = &s.memory_mib {
        want("memory_mib", m.value.to_string(), false);
    }
    if let Some(d) = &s.disk_bytes {
        let smaller = now("disk_bytes")
            .and_then(|v| v.parse::<u64>().ok())
            .is_some_and(|cur| d.value < cur);
        if smaller {
            cannot.push(format!(
                "its disk cannot shrink ({} → {} bytes; docs/orbctl.md §11.2 [GUESS])",
                now("disk_bytes").unwrap_or_default(),
                d.value
            ));
        } else {
            want("disk_bytes", d.value.to_string(), true);
        }
    }
    if let Some(m) = &s.mounts {
        let list: Vec<String> = m.value.iter().map(|m| m.arg()).collect();
        want("mounts", list.join(","), true);
    }
    if let Some(b) = &s.isolate_network {
        want("isolate_network", b.value.to_string(), true);
    }
    if let Some(b) = &s.forward_ssh_agent {
        want("forward_ssh_agent", b.value.to_string(), true);
    }
    if let Some(b) = &s.isolated {
        let is = now("isolated").is_some_and(|v| v == "true");
        if is != b.value {
            cannot.push(format!(
                "is {}isolated, and isolation is chosen when a machine is created; delete and re-create it to change it",
                if is { "" } else { "not " }
            ));
        }
    }
    let restart_bound = out.changes.iter().any(|c| c.needs_restart) && running;
    if !cannot.is_empty() {
        out.drift = Some(cannot.join("; "));
    } else if restart_bound && !s.restart_for_settings {
        out.drift = Some(format!(
            "needs a restart for {}: run {} && orbctl restart {name}, or set `restart_for_settings: true`",
            out.changes
                .iter()
                .filter(|c| c.needs_restart)
                .map(|c| c.describe())
                .collect::<Vec<_>>()
                .join(", "),
            out.changes
                .iter()
                .map(|c| format!(
                    "`orbctl config set {} {}`",
                    crate::quote::quote(&c.key),
                    crate::quote::quote(&c.to)
                ))
                .collect::<Vec<_>>()
                .join(" && ")
        ));
    }
    out.restart = restart_bound && out.drift.is_none();
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inventory::{Desired, Origin, Setting, Settings};
    use crate::load::inventory::DesiredState;

    fn host(settings: Settings) -> Host {
        Host {
            name: "w1".into(),
            origin: Origin::Declared,
            groups: vec![],
            desired: Desired {
                image: None,
                arch: None,
                user: None,
                create: true,
                state: DesiredState::Running,
                settings,
            },
            vars: vec![],
            actual: None,
            ssh: None,
        }
    }

    fn set<T>(value: T) -> Option<Setting<T>> {
        Some(Setting {
            value,
            source: "machine w1".into(),
        })
    }

    #[test]
    fn live_settings_change_without_a_restart_and_equal_ones_not_at_all() {
        let h = host(Settings {
            cpus: set(4),
            memory_mib: set(2048),
            ..Settings::default()
        });
        let cur =
            crate::orb::parse_config("cpu: 8\nmachine.w1.cpu: 2\nmachine.w1.memory_mib: 2048\n");
        let p = plan(&h, &cur, true);
        assert_eq!(p.changes.len(), 1);
        assert_eq!(p.changes[0].describe(), "machine.w1.cpu 2 → 4");
        assert!(!p.restart && p.drift.is_none());
    }

    #[test]
    fn restart_bound_settings_are_drift_unless_allowed() {
        let mut s = Settings {
            isolate_network: set(true),
            ..Settings::default()
        };
        let cur = ConfigValues::new();
        let p = plan(&host(s.clone()), &cur, true);
        let d = p.drift.unwrap();
        assert!(d.starts_with("needs a restart for machine.w1.isolate_network (default) → true: run `orbctl config set machine.w1.isolate_network true` && orbctl restart w1"), "{d}");
        // A stopped machine takes it when it starts: no restart, no drift.
        assert_eq!(plan(&host(s.clone()), &cur, false).drift, None);
        s.restart_for_settings = true;
        let p = plan(&host(s), &cur, true);
        assert!(p.restart && p.drift.is_none());
    }

    #[test]
    fn a_smaller_disk_and_isolation_cannot_change_in_place() {
        let h = host(Settings {
            disk_bytes: set(8 << 30),
            isolated: set(true),
            restart_for_settings: true,
            ..Settings::default()
        });
        let cur = crate::orb::parse_config(
            "machine.w1.disk_bytes: 68719476736\nmachine.w1.isolated: false\n",
        );
        let d = plan(&h, &cur, true).drift.unwrap();
        assert!(
            d.contains("its disk cannot shrink (68719476736 → 8589934592 bytes"),
            "{d}"
        );
        assert!(
            d.contains("is not isolated, and isolation is chosen when a machine is created"),
            "{d}"
        );
        assert_eq!(key("a.b", "cpu"), "machine.\"a.b\".cpu");
    }
}
