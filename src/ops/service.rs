//! `service`: started, stopped or restarted, and enabled at boot or not — through
//! systemctl where systemd runs, else the `service` command (or `/etc/init.d/NAME`) and
//! update-rc.d.
//!
//! `daemon_reload: true` (systemd only; ignored elsewhere) runs `systemctl daemon-reload`
//! before the action when systemd says the unit's files changed since it read them
//! (`systemctl show -p NeedDaemonReload UNIT` is `yes`): a change of its own, so a second
//! apply, with nothing left to reload, changes nothing.

use serde::Deserialize;

use crate::quote::quote;

use super::{
    Applied, CheckError, Ctx, Decision, Facts, Failure, Operation, RenderCtx, RenderError,
};

/// What `service:` makes true.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum ServiceState {
    /// Running.
    Started,
    /// Not running.
    Stopped,
    /// Restarted on every apply (always a change).
    Restarted,
}

/// `service:`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "service")]
pub struct Spec {
    /// Service name.
    pub name: String,
    /// started, stopped or restarted.
    pub state: Option<ServiceState>,
    /// Started at boot.
    pub enabled: Option<bool>,
    /// Reload systemd's unit files first when the unit's changed (default false).
    #[serde(default)]
    pub daemon_reload: bool,
}

/// A rendered service step.
#[derive(Debug, Clone)]
pub struct Service {
    /// Service name.
    pub name: String,
    /// started, stopped, restarted.
    pub state: Option<ServiceState>,
    /// Enabled at boot.
    pub enabled: Option<bool>,
    /// Reload systemd's unit files first when needed.
    pub daemon_reload: bool,
}

impl Service {
    /// systemd's unit files must be read again before the action.
    fn needs_reload(&self, facts: &Facts) -> bool {
        self.daemon_reload
            && facts.get("init") == Some("systemd")
            && facts.get("reload") == Some("yes")
    }

    fn running(&self, facts: &Facts) -> bool {
        match facts.get("init") {
            Some("systemd") => facts.get("active") == Some("active"),
            _ => facts.get("status") == Some("0"),
        }
    }
}

impl Operation for Service {
    const KEY: &'static str = "service";
    const NEEDS_ROOT: bool = true;
    type Spec = Spec;

    fn check(spec: &Spec) -> Result<(), CheckError> {
        if spec.state.is_none() && spec.enabled.is_none() && !spec.daemon_reload {
            return Err(CheckError::of::<Service>("give `state` and/or `enabled`"));
        }
        Ok(())
    }

    fn summary(spec: &Spec) -> String {
        spec.name.clone()
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Service, RenderError> {
        let name = ctx.text("name", &spec.name)?;
        if name.is_empty() || name.contains(['/', '\n']) || name.starts_with('-') {
            return Err(RenderError::Invalid {
                field: "name",
                value: name,
                problem: "is not a service name",
            });
        }
        Ok(Service {
            name,
            state: spec.state,
            enabled: spec.enabled,
            daemon_reload: spec.daemon_reload,
        })
    }

    fn probe(&self) -> Option<String> {
        let n = quote(&self.name);
        let reload = if self.daemon_reload {
            format!("printf '.reload %s\\n' \"$(systemctl show -p NeedDaemonReload --value {n} 2>/dev/null)\"\n")
        } else {
            String::new()
        };
        Some(format!(
            "if [ -d /run/systemd/system ]; then echo .init systemd\n{reload}\
               printf '.active %s\\n' \"$(systemctl is-active {n} 2>/dev/null)\"\n\
               printf '.enabled %s\\n' \"$(systemctl is-enabled {n} 2>/dev/null)\"\n\
               systemctl cat {n} >/dev/null 2>&1 && echo .known 1\n\
             else echo .init sysv\n\
               if [ -x /etc/init.d/{n} ]; then echo .known 1; fi\n\
               if command -v service >/dev/null 2>&1; then service {n} status >/dev/null 2>&1; else /etc/init.d/{n} status >/dev/null 2>&1; fi\n\
               printf '.status %s\\n' $?\n\
               if ls /etc/rc[2345].d/S*{n} >/dev/null 2>&1; then echo .enabled enabled; else echo .enabled disabled; fi\n\
             fi\n"
        ))
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
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
        if self.needs_reload(facts) {
            what.push("reload systemd's unit files (daemon-reload)".to_string());
        }
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

    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
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
        if self.needs_reload(facts) {
            script.push_str("systemctl daemon-reload || exit 1\n");
        }
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
            return Ok(Applied::default());
        }
        ctx.run(&format!("service {}", self.name), script)
            .map(|_| Applied::default())
    }
}
