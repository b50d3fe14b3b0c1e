//! `become_password:` (docs/secrets.md, "become with a password"): the password sudo asks
//! for on an ssh machine whose sudo is not `NOPASSWD`. A machine takes its own, else that
//! of the last of its groups (in the order it lists them) that has one, else the defaults'.
//! It is a template, rendered once the run's renderer exists and before any machine is
//! reached (so it may use variables, `env()`, `pipe()` and encrypted vars files, but not
//! the facts an ssh host reports once reached). The rendered value is a secret.
//!
//! On an OrbStack machine it means nothing (orbctl runs as any user directly, with no
//! sudo): written for one, in its entry or in a group it lists, it is a load error. The
//! defaults' applies to ssh machines only, as `defaults.ssh` does.

use std::collections::BTreeMap;
use std::path::Path;

use minijinja::Value;

use super::{Host, Inventory};
use crate::error::ConfigError;
use crate::load::inventory::{InventoryFile, MachineSpec};
use crate::template::Renderer;
use crate::yaml::Spanned;

/// A machine's `become_password:` as written, and once rendered, its value.
#[derive(Clone)]
pub struct BecomePassword {
    /// The template, with its position in the inventory.
    template: Spanned<String>,
    /// Where it was written (`defaults`, `group db`, `machine db-1`), for messages.
    layer: String,
    /// The password, once [`Inventory::render_become_passwords`] ran.
    rendered: Option<String>,
}

impl BecomePassword {
    /// Where it comes from, when that is not the machine's own entry: ` (from defaults)`.
    fn from(&self) -> String {
        if self.layer.starts_with("machine ") {
            String::new()
        } else {
            format!(" (from {})", self.layer)
        }
    }
}

impl std::fmt::Debug for BecomePassword {
    // Never the password, nor the template (it may hold one written in clear).
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "BecomePassword({})", self.layer)
    }
}

/// The `become_password:` of every declared machine that takes one, by name.
pub fn of_machines(
    path: &Path,
    file: &InventoryFile,
    hosts: &[Host],
) -> Result<BTreeMap<String, BecomePassword>, ConfigError> {
    let mut out = BTreeMap::new();
    for (name, spec) in file.machines.iter() {
        let ssh = hosts
            .iter()
            .any(|h| h.name == name.value && h.ssh.is_some());
        if let Some(p) = of_machine(path, file, &name.value, spec, ssh)? {
            out.insert(name.value.clone(), p);
        }
    }
    Ok(out)
}

/// The `become_password:` machine `name` takes (`ssh`: it is an ssh machine), or the
/// error for one written for an OrbStack machine.
pub fn of_machine(
    path: &Path,
    file: &InventoryFile,
    name: &str,
    spec: &MachineSpec,
    ssh: bool,
) -> Result<Option<BecomePassword>, ConfigError> {
    let mut taken = file
        .defaults
        .become_password
        .as_ref()
        .map(|t| (t, "defaults".to_string()));
    for g in &spec.groups {
        let group = file.groups.iter().find(|(n, _)| n.value == g.value);
        if let Some(t) = group.and_then(|(_, group)| group.become_password.as_ref()) {
            if !ssh {
                let whose = format!("group `{}` gives it to", g.value);
                return Err(meaningless(path, t, &whose, name));
            }
            taken = Some((t, format!("group {}", g.value)));
        }
    }
    if let Some(t) = &spec.become_password {
        if !ssh {
            return Err(meaningless(path, t, "it is given to", name));
        }
        taken = Some((t, format!("machine {name}")));
    }
    Ok(taken.filter(|_| ssh).map(|(t, layer)| BecomePassword {
        template: t.clone(),
        layer,
        rendered: None,
    }))
}

fn meaningless(path: &Path, t: &Spanned<String>, whose: &str, machine: &str) -> ConfigError {
    ConfigError::at(
        path,
        t.referenced.line(),
        t.referenced.column(),
        format!(
            "`become_password` means nothing on an OrbStack machine, and {whose} machine \
             `{machine}`: orbctl runs steps as any user directly, without sudo; it is for \
             ssh machines whose sudo asks for a password"
        ),
    )
}

impl Inventory {
    /// Render every ssh machine's `become_password:` with its variables (exit 2 on an
    /// error, at the key). Its value joins the secrets ([`Inventory::secret_values`]).
    pub fn render_become_passwords(&mut self, renderer: &Renderer) -> Result<(), ConfigError> {
        let names: Vec<String> = self.become_passwords.keys().cloned().collect();
        for name in names {
            let Some(host) = self.hosts.iter().find(|h| h.name == name) else {
                continue;
            };
            let value = self.render_one(host, renderer)?;
            if let Some(p) = self.become_passwords.get_mut(&name) {
                p.rendered = Some(value);
            }
        }
        Ok(())
    }

    fn render_one(&self, host: &Host, renderer: &Renderer) -> Result<String, ConfigError> {
        let Some(p) = self.become_passwords.get(&host.name) else {
            return Ok(String::new());
        };
        let at = |msg: String| {
            ConfigError::at(
                &self.file,
                p.template.referenced.line(),
                p.template.referenced.column(),
                format!(
                    "become_password{} of machine `{}`: {msg}",
                    p.from(),
                    host.name
                ),
            )
        };
        let vars: serde_json::Map<String, serde_json::Value> = self
            .vars(host)
            .into_iter()
            .map(|(k, v)| (k, v.value))
            .collect();
        let ctx = Value::from_serialize(&vars);
        let value = renderer
            .render_in("become_password", &p.template.value, &ctx, &self.dir)
            .map_err(at)?;
        if value.is_empty() {
            return Err(at("it is empty; sudo would be given no password".into()));
        }
        if value.contains(['\n', '\r', '\0']) {
            // sudo reads one line: the rest would reach the session as a request.
            return Err(at(
                "it holds a line break or a NUL byte, which sudo cannot be given".into(),
            ));
        }
        Ok(value)
    }

    /// The rendered `become_password:` of machine `name` (`None`: it has none, or it was
    /// not rendered yet).
    pub fn become_password(&self, name: &str) -> Option<&str> {
        self.become_passwords.get(name)?.rendered.as_deref()
    }

    /// Where machine `name`'s `become_password:` is written (`defaults`, `group db`,
    /// `machine db-1`), for `inventory --explain`: never the template, which may hold a
    /// password written in clear.
    pub fn become_password_layer(&self, name: &str) -> Option<&str> {
        Some(self.become_passwords.get(name)?.layer.as_str())
    }
}
