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

/// Every step of `book` rendered for the machine of `inv` before it exists, as `apply`
/// checks its steps before phase 1: an undefined variable, a bad `when:` or a missing local
/// file is exit 2 before any machine is made.
fn rendered(
    mut inv: crate::inventory::Inventory,
    renderer: &Renderer,
    book: &crate::steps::Playbook,
    tags: &[String],
) -> Result<(), ConfigError> {
    inv.attach(&[]);
    steps::check_hosts(book, &inv)?;
    let plan = crate::plan::select(&inv, book, (&[], None), tags)?;
    crate::plan::validate::validate_where(&plan, book, renderer, &|_| true)
}

/// Check every phase's steps of `s` on `p` (exit 2 before any machine is made) and return
/// the name of the platform's template: the key of its inputs and of every file its
/// `prepare` steps read (includes, roles, templates, sources).
pub fn check(
    s: &Scenario,
    p: &Platform,
    (cli_vars, ran): (&[(String, String)], &crate::lookups::Learned),
    roles_path: &[std::path::PathBuf],
) -> Result<String, ConfigError> {
    let options = LoadOptions {
        roles_path: roles_path.to_vec(),
    };
    let reads = ReadLog::default();
    // Messages name the platform's machine as `odt-debian` (its run's name is not known yet).
    let check_name = format!("{}{}", machines::PREFIX, p.name.value);
    let inv = machines::template(s, p, &check_name, (cli_vars, &reads))?;
    let renderer = Renderer::with_inputs(reads.clone(), ran);
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
    rendered(inv, &renderer, &book, &[])?;
    for steps in [Steps::Converge, Steps::Verify] {
        let reads = ReadLog::default();
        let machine = (check_name.clone(), p);
        let inv = machines::phase(s, &[machine], steps, (cli_vars, &reads))?;
        let renderer = Renderer::with_inputs(reads, ran);
        let book = steps::load_with(&inv, &renderer, &options)?;
        let tags: Vec<String> = match steps {
            Steps::Converge => s.file.tags.iter().map(|t| t.value.clone()).collect(),
            Steps::Verify => Vec::new(),
        };
        rendered(inv, &renderer, &book, &tags)?;
    }
    let key = format!("{:x}", h.finalize());
    Ok(format!("{TEMPLATE_PREFIX}{}", &key[..KEY_DIGITS]))
}
