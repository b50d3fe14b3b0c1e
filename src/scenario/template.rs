//! Templates: the prepared state of a platform (its image, settings and the scenario's
//! `prepare` steps) kept as a stopped machine named by a hash of those inputs, so that a
//! test run clones it instead of creating and preparing a machine again. A changed input
//! is a new name, hence a new template; `--rebuild` makes it again; `--cleanup` removes
//! the templates no scenario names any more.

use sha2::{Digest, Sha256};

use crate::error::ConfigError;
use crate::load::scenario::{Platform, Scenario};
use crate::read_log::ReadLog;
use crate::steps::{self, LoadOptions};
use crate::template::Renderer;

use super::machines::{self, Steps, TEMPLATE_PREFIX};

/// How many hex digits of the key a template's name carries.
const KEY_DIGITS: usize = 16;

/// The inputs of a template, each by value (not by position: moving a line changes nothing).
fn inputs(s: &Scenario, p: &Platform) -> serde_json::Value {
    let vars = |v: &crate::load::inventory::Vars| -> Vec<(String, serde_json::Value)> {
        v.iter()
            .map(|(k, v)| (k.value.clone(), v.clone()))
            .collect()
    };
    let val = |v: Option<String>| v.unwrap_or_default();
    serde_json::json!({
        "image": p.image.value,
        "arch": val(p.arch.as_ref().map(|a| a.value.clone())),
        "user": val(p.user.as_ref().map(|a| a.value.clone())),
        "cpus": p.cpus.as_ref().map(|c| c.value),
        "memory": p.memory.as_ref().map(|c| c.value.clone()),
        "disk": p.disk.as_ref().map(|c| c.value.clone()),
        "isolated": p.isolated.as_ref().map(|c| c.value),
        "mounts": p.mounts.as_ref().map(|m| m.value.iter().map(|x| x.value.clone()).collect::<Vec<_>>()),
        "isolate_network": p.isolate_network.as_ref().map(|c| c.value),
        "forward_ssh_agent": p.forward_ssh_agent.as_ref().map(|c| c.value),
        "cloud_init": p.cloud_init.as_ref().map(|c| c.value.clone()),
        "groups": p.groups.iter().map(|g| g.value.clone()).collect::<Vec<_>>(),
        "vars": vars(&p.vars),
        "scenario_vars": vars(&s.file.vars),
        "prepare": s.prepare_value,
    })
}

/// Check every phase's steps of `s` on `p` (exit 2 before any machine is made) and return
/// the name of the platform's template: the key of its inputs and of every file its
/// `prepare` steps read (includes, roles, templates, sources).
pub fn check(
    s: &Scenario,
    p: &Platform,
    cli_vars: &[(String, String)],
    roles_path: &[std::path::PathBuf],
) -> Result<String, ConfigError> {
    let options = LoadOptions {
        roles_path: roles_path.to_vec(),
    };
    let reads = ReadLog::default();
    let inv = machines::template(s, p, "odt-check", (cli_vars, &reads))?;
    let renderer = Renderer::with_read_log(reads.clone());
    let book = steps::load_with(&inv, &renderer, &options)?;
    let mut h = Sha256::new();
    h.update(inputs(s, p).to_string());
    for (path, sha) in reads.snapshot() {
        h.update(format!("\n{}={sha}", path.display()));
    }
    for src in &book.sources {
        let bytes = std::fs::read(src).unwrap_or_default();
        h.update(format!("\n{}={:x}", src.display(), Sha256::digest(bytes)));
    }
    for steps in [Steps::Converge, Steps::Verify] {
        let reads = ReadLog::default();
        let machine = ("odt-check".to_string(), p);
        let inv = machines::phase(s, &[machine], steps, (cli_vars, &reads))?;
        steps::load_with(&inv, &Renderer::with_read_log(reads), &options)?;
    }
    let key = format!("{:x}", h.finalize());
    Ok(format!("{TEMPLATE_PREFIX}{}", &key[..KEY_DIGITS]))
}
