//! `service`: started, stopped or restarted, and enabled at boot or not — through
//! systemctl where systemd runs, else the `service` command (or `/etc/init.d/NAME`) and
//! update-rc.d.

use crate::load::operations::ServiceState;
use crate::quote::quote;

use super::{Ctx, Decision, Facts, Failure};

/// A rendered service step.
#[derive(Debug, Clone)]
pub struct Service {
    /// Service name.
    pub name: String,
    /// started, stopped, restarted.
    pub state: Option<ServiceState>,
    /// Enabled at boot.
    pub enabled: Option<bool>,
}

impl Service {
    pub(super) fn probe(&self) -> String {
        let n = quote(&self.name);
        format!(
            "if [ -d /run/systemd/system ]; then echo .init systemd\n\
               printf '.active %s\\n' \"$(systemctl is-active {n} 2>/dev/null)\"\n\
               printf '.enabled %s\\n' \"$(systemctl is-enabled {n} 2>/dev/null)\"\n\
               systemctl cat {n} >/dev/null 2>&1 && echo .known 1\n\
             else echo .init sysv\n\
               if [ -x /etc/init.d/{n} ]; then echo .known 1; fi\n\
               if command -v service >/dev/null 2>&1; then service {n} status >/dev/null 2>&1; else /etc/init.d/{n} status >/dev/null 2>&1; fi\n\
               printf '.status %s\\n' $?\n\
               if ls /etc/rc[2345].d/S*{n} >/dev/null 2>&1; then echo .enabled enabled; else echo .enabled disabled; fi\n\
             fi\n"
        )
    }

    fn running(&self, facts: &Facts) -> bool {
        match facts.get("init") {
            Some("systemd") => facts.get("active") == Some("active"),
            _ => facts.get("status") == Some("0"),
        }
    }

    pub(super) fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        if facts.get("known") != Some("1") {
            return Err(Failure::msg(format!(
                "no service named {} on the machine ({})",
                self.name,
                if facts.get("init") == Some("systemd") {
                    "no systemd unit"
                } else {
                    "no systemd and no /etc/init.d script"
                }
            )));
        }
        let mut what = Vec::new();
        let running = self.running(facts);
        match self.state {
            Some(ServiceState::Started) if !running => what.push(format!("start {}", self.name)),
            Some(ServiceState::Stopped) if running => what.push(format!("stop {}", self.name)),
            Some(ServiceState::Restarted) => what.push(format!("restart {}", self.name)),
            _ => {}
        }
        let enabled = facts.get("enabled") == Some("enabled");
        match self.enabled {
            Some(true) if !enabled => what.push(format!("enable {} at boot", self.name)),
            Some(false) if enabled => what.push(format!("disable {} at boot", self.name)),
            _ => {}
        }
        Ok(if what.is_empty() {
            Decision::Unchanged
        } else {
            Decision::Change(what)
        })
    }

    pub(super) fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<(), Failure> {
        let n = quote(&self.name);
        let systemd = facts.get("init") == Some("systemd");
        let running = self.running(facts);
        let verb = match self.state {
            Some(ServiceState::Started) if !running => Some("start"),
            Some(ServiceState::Stopped) if running => Some("stop"),
            Some(ServiceState::Restarted) => Some("restart"),
            _ => None,
        };
        let mut script = String::new();
        if let Some(verb) = verb {
            script.push_str(&if systemd {
                format!("systemctl {verb} {n} || exit 1\n")
            } else {
                format!(
                    "if command -v service >/dev/null 2>&1; then service {n} {verb}; else /etc/init.d/{n} {verb}; fi || exit 1\n"
                )
            });
        }
        let enabled = facts.get("enabled") == Some("enabled");
        let toggle = match self.enabled {
            Some(true) if !enabled => Some(true),
            Some(false) if enabled => Some(false),
            _ => None,
        };
        if let Some(on) = toggle {
            script.push_str(&match (systemd, on) {
                (true, true) => format!("systemctl enable {n} || exit 1\n"),
                (true, false) => format!("systemctl disable {n} || exit 1\n"),
                (false, true) => format!("command -v update-rc.d >/dev/null || {{ echo 'enabling a service needs systemd or update-rc.d' >&2; exit 1; }}\nupdate-rc.d {n} defaults || exit 1\n"),
                (false, false) => format!("command -v update-rc.d >/dev/null || {{ echo 'disabling a service needs systemd or update-rc.d' >&2; exit 1; }}\nupdate-rc.d -f {n} remove || exit 1\n"),
            });
        }
        if script.is_empty() {
            return Ok(());
        }
        ctx.run(&format!("service {}", self.name), script)
            .map(|_| ())
    }
}
