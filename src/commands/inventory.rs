//! `orbdeploy inventory FILE [--explain|--json]`: the machines, groups and variables an
//! inventory resolves to, with what `orbctl list` reports attached. Reads only. ssh
//! machines show their ssh settings with their sources; what they are (distro, version,
//! arch, ip4) is known only once connected: whoever connects (`--probe`) hands it to
//! [`Inventory::attach_facts`] before the output is written, and it shows from then on.

use std::io::Write;

use anyhow::Result;
use serde_json::json;

use crate::cli::{parse_vars, InventoryArgs};
use crate::inventory::{self, Inventory};
use crate::mask::Masker;
use crate::orb::Orb;
use crate::remote::{self, HostReport, Reach, Tracer, Transport};

/// Load an inventory and attach what orbctl reports (one `list`, one `info` per running
/// selected machine for its address).
pub fn load_attached(
    orb: &Orb,
    path: &std::path::Path,
    vars: &[(String, String)],
) -> Result<Inventory> {
    let mut inv = inventory::load(path, vars)?;
    inv.print_warnings();
    if !inv.needs_orbctl() {
        return Ok(inv);
    }
    let mut list = orb.list()?;
    for m in list.iter_mut().filter(|m| m.is_running()) {
        let wanted = inv.hosts.iter().any(|h| h.name == m.name)
            || inv.discover.as_ref().is_some_and(|g| g.is_match(&m.name));
        if wanted {
            if let Ok(info) = orb.info(&m.name) {
                m.ip4 = info.ip4;
            }
        }
    }
    inv.attach(&list);
    Ok(inv)
}

/// `orbdeploy inventory FILE [--explain|--json]`.
pub fn inventory(orb: &Orb, args: &InventoryArgs) -> Result<()> {
    let mut inv = load_attached(orb, &args.inventory, &parse_vars(&args.vars)?)?;
    let probed = match args.probe {
        true => {
            let hosts = inv.limit(&args.limit)?;
            let secrets = hosts.iter().flat_map(|h| inv.secret_values(h)).collect();
            probe(&hosts, &Tracer::from_env(Masker::new(secrets)))
        }
        false => Default::default(),
    };
    for (name, facts) in &probed {
        if let Ok(f) = facts {
            inv.attach_facts(name, f.facts.clone(), &f.user);
        }
    }
    let hosts = inv.limit(&args.limit)?;
    let mut out = std::io::stdout().lock();
    if args.json {
        let machines: Vec<_> = hosts
            .iter()
            .map(|h| {
                let vars = masked_vars(&inv, h);
                json!({
                    "name": h.name,
                    "origin": h.origin,
                    "transport": transport(h),
                    "state": state(h),
                    "ssh": h.ssh.as_ref().map(ssh_json),
                    "ssh_sources": inv.ssh_settings(h).iter().map(|s| (s.key.clone(), json!(s.source))).collect::<serde_json::Map<_, _>>(),
                    "desired": h.desired,
                    "groups": inv.host_groups(h),
                    "vars": vars.iter().map(|(k, v)| (k.clone(), v.value.clone())).collect::<serde_json::Map<_, _>>(),
                    "sources": vars.iter().map(|(k, v)| (k.clone(), json!(v.source))).collect::<serde_json::Map<_, _>>(),
                    "probe": probe_json(probed.get(&h.name)),
                    "become_password_from": inv.become_password_layer(&h.name),
                })
            })
            .collect();
        let doc = json!({
            "inventory": inv.file,
            "serial": inv.serial.as_ref().map(ToString::to_string),
            "max_fail_percentage": inv.max_fail_percentage,
            "machines": machines,
        });
        writeln!(out, "{}", serde_json::to_string_pretty(&doc)?)?;
        return Ok(());
    }
    for h in hosts {
        let state = match &h.ssh {
            Some(t) => format!("ssh {}", ssh_summary(t)),
            None => state(h).unwrap_or("missing").to_string(),
        };
        writeln!(out, "{}  ({state})", h.name)?;
        writeln!(out, "  groups: {}", inv.host_groups(h).join(", "))?;
        if let Some(p) = probed.get(&h.name) {
            writeln!(out, "  probe: {}", probe_text(p))?;
        }
        if args.explain {
            let vars = masked_vars(&inv, h);
            let width = vars.keys().map(String::len).max().unwrap_or(0);
            for (k, v) in &vars {
                let value = shown_value(&inv, h, k, &v.value);
                writeln!(out, "  {k:width$} = {value}  ({})", v.source)?;
            }
            explain_ssh(inv.ssh_settings(h), &mut out)?;
            if let Some(layer) = inv.become_password_layer(&h.name) {
                writeln!(
                    out,
                    "  become_password: set, given to sudo when it asks  ({layer})"
                )?;
            }
            let settings = settings_lines(&h.desired.settings);
            if !settings.is_empty() {
                writeln!(out, "  settings:")?;
                let width = settings.iter().map(|(k, _, _)| k.len()).max().unwrap_or(0);
                for (k, v, source) in settings {
                    writeln!(out, "    {k:width$} = {v}  ({source})")?;
                }
            }
        }
    }
    if args.explain {
        explain_run(&inv, &mut out)?;
        explain_calls(&inv, args, &mut out)?;
    }
    Ok(())
}

/// What `--probe` learnt of one ssh machine: its facts, or why it cannot be reached.
type Probed = std::result::Result<HostReport, String>;

/// Connect to every ssh machine among `hosts` (in parallel) and read its facts.
fn probe(hosts: &[&inventory::Host], trace: &Tracer) -> std::collections::BTreeMap<String, Probed> {
    let ssh: Vec<(&str, &crate::ssh_target::SshTarget)> = hosts
        .iter()
        .filter_map(|h| Some((h.name.as_str(), h.ssh.as_ref()?)))
        .collect();
    let workers = ssh.len().clamp(1, 16);
    crate::run::pool::map(ssh, workers, |(name, target)| {
        let mut r = remote::connect(Reach::Ssh(target), name, Transport::Channel, trace);
        let facts = match r.facts() {
            Ok(Some(f)) => Ok(f),
            Ok(None) => Err("the transport reports no facts".to_string()),
            Err(e) => Err(e.to_string()),
        };
        r.close();
        (name.to_string(), facts)
    })
    .into_iter()
    .collect()
}

fn probe_text(p: &Probed) -> String {
    match p {
        Ok(f) => format!(
            "distro={} version={} arch={} ip4={} user={}",
            f.facts.distro,
            f.facts.version,
            f.facts.arch,
            f.facts.ip4.as_deref().unwrap_or("none"),
            f.user
        ),
        Err(e) => format!("unreachable: {e}"),
    }
}

fn probe_json(p: Option<&Probed>) -> serde_json::Value {
    match p {
        None => serde_json::Value::Null,
        Some(Ok(f)) => json!(f),
        Some(Err(e)) => json!({ "error": e }),
    }
}

/// `ssh` or `orbctl`: how a machine is reached.
fn transport(h: &inventory::Host) -> &'static str {
    match h.ssh {
        Some(_) => "ssh",
        None => "orbctl",
    }
}

/// What orbctl says the machine is doing: `None` for an ssh machine (orbctl does not know
/// it), `missing` for an OrbStack machine that does not exist.
fn state(h: &inventory::Host) -> Option<&str> {
    match (&h.ssh, &h.actual) {
        (Some(_), _) => None,
        (None, Some(m)) => Some(m.state.as_str()),
        (None, None) => Some("missing"),
    }
}

/// `deploy@203.0.113.10:22 via bastion.example.org`, as an ssh user reads a destination.
fn ssh_summary(t: &crate::ssh_target::SshTarget) -> String {
    let mut s = String::new();
    if let Some(u) = &t.user {
        s.push_str(&format!("{u}@"));
    }
    s.push_str(&t.host);
    if let Some(p) = t.port {
        s.push_str(&format!(":{p}"));
    }
    if let Some(j) = t.jump.as_ref().filter(|j| !j.eq_ignore_ascii_case("none")) {
        s.push_str(&format!(" via {j}"));
    }
    s
}

/// An ssh target as `--json` shows it: the timeout in seconds, the options as a mapping,
/// the host key policy as the inventory writes it.
fn ssh_json(t: &crate::ssh_target::SshTarget) -> serde_json::Value {
    let options: serde_json::Map<_, _> = t
        .options
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    json!({
        "host": t.host,
        "port": t.port,
        "user": t.user,
        "identity": t.identity,
        "jump": t.jump,
        "config": t.config,
        "host_key": inventory::ssh::policy_word(t.host_key),
        "connect_timeout_s": t.connect_timeout.map(|d| d.as_secs()),
        "options": options,
    })
}

/// The built-ins an ssh machine reports about itself, which nothing knows before it is
/// connected to (and `user`, when the inventory leaves it to ssh).
const AFTER_CONNECT: &[&str] = &["distro", "version", "arch", "ip4"];

/// A variable's value as `--explain` shows it: "known after connect" for what an ssh
/// machine that has not been connected to has yet to report.
fn shown_value(
    inv: &Inventory,
    h: &inventory::Host,
    key: &str,
    value: &serde_json::Value,
) -> String {
    let ssh_user = h.ssh.as_ref().and_then(|t| t.user.as_ref());
    let after = AFTER_CONNECT.contains(&key) || (key == "user" && ssh_user.is_none());
    let unknown = h.ssh.is_some() && inv.facts(h).is_none() && after;
    match unknown {
        true => "(known after connect)".to_string(),
        false => value.to_string(),
    }
}

/// The settings of the whole run that the inventory gives (rolling batches).
fn explain_run(inv: &Inventory, out: &mut dyn Write) -> Result<()> {
    if let Some(serial) = &inv.serial {
        writeln!(out, "serial: {serial}  (inventory; --serial overrides it)")?;
    }
    if let Some(p) = inv.max_fail_percentage {
        writeln!(
            out,
            "max_fail_percentage: {p}  (inventory; --max-fail-percentage overrides it)"
        )?;
    }
    Ok(())
}

/// An ssh machine's settings, each with the layer it came from.
fn explain_ssh(settings: &[inventory::SshSetting], out: &mut dyn Write) -> Result<()> {
    if settings.is_empty() {
        return Ok(());
    }
    writeln!(out, "  ssh:")?;
    let width = settings.iter().map(|s| s.key.len()).max().unwrap_or(0);
    for s in settings {
        writeln!(out, "    {:width$} = {}  ({})", s.key, s.value, s.source)?;
    }
    Ok(())
}

/// The layers includes and roles add: per step, not per machine, so they are listed by
/// call after the machines (`vars:` above machine variables and below `--var`, role
/// defaults below every inventory variable). Secret names are masked here too.
fn explain_calls(inv: &Inventory, args: &InventoryArgs, out: &mut dyn Write) -> Result<()> {
    if inv.operations.is_none() {
        return Ok(());
    }
    let options = crate::steps::LoadOptions {
        roles_path: args.roles_path.clone(),
    };
    let book = crate::steps::load_with(inv, &crate::template::Renderer::new(), &options)?;
    if book.calls.is_empty() {
        return Ok(());
    }
    writeln!(
        out,
        "includes and roles (for their steps only, on every machine they run on):"
    )?;
    for call in &book.calls {
        writeln!(out, "  {} at {}", call.what, call.at)?;
        let layers = [
            (&call.vars, "vars: above machine vars, below --var"),
            (
                &call.defaults,
                "role defaults: below every inventory variable",
            ),
        ];
        for (vars, layer) in layers {
            for (k, v) in vars {
                let shown = if inv.secret_vars.contains(k) {
                    "***".to_string()
                } else {
                    v.to_string()
                };
                writeln!(out, "    {k} = {shown}  ({layer})")?;
            }
        }
    }
    Ok(())
}

/// A machine's declared settings as `(key, value, source)`, in the units `config set`
/// takes (`memory_mib`, `disk_bytes`), for `--explain`.
fn settings_lines(s: &inventory::Settings) -> Vec<(&'static str, String, String)> {
    fn one<T: ToString>(
        out: &mut Vec<(&'static str, String, String)>,
        key: &'static str,
        v: &Option<inventory::Setting<T>>,
    ) {
        if let Some(v) = v {
            out.push((key, v.value.to_string(), v.source.clone()));
        }
    }
    let mut out = Vec::new();
    one(&mut out, "cpu", &s.cpus);
    one(&mut out, "memory_mib", &s.memory_mib);
    one(&mut out, "disk_bytes", &s.disk_bytes);
    one(&mut out, "isolated", &s.isolated);
    one(&mut out, "isolate_network", &s.isolate_network);
    one(&mut out, "forward_ssh_agent", &s.forward_ssh_agent);
    if let Some(m) = &s.mounts {
        let list: Vec<String> = m.value.iter().map(|m| m.arg()).collect();
        out.push(("mounts", list.join(","), m.source.clone()));
    }
    if let Some(c) = &s.cloud_init {
        out.push((
            "cloud_init",
            c.value.display().to_string(),
            c.source.clone(),
        ));
    }
    out
}

fn masked_vars(
    inv: &Inventory,
    h: &inventory::Host,
) -> std::collections::BTreeMap<String, inventory::VarValue> {
    let mut vars = inv.vars(h);
    for name in &inv.secret_vars {
        if let Some(v) = vars.get_mut(name) {
            v.value = json!("***");
        }
    }
    vars
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn facts_an_ssh_machine_reported_show_instead_of_known_after_connect() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("inv.yaml");
        std::fs::write(
            &path,
            "machines:\n  s1: { ssh: { host: h, user: u } }\n  s2: { ssh: {} }\n",
        )
        .unwrap();
        let mut inv = inventory::load(&path, &[]).unwrap();
        let shown = |inv: &Inventory, i: usize, key: &str| {
            let h = &inv.hosts[i];
            shown_value(inv, h, key, &inv.vars(h)[key].value)
        };
        assert_eq!(shown(&inv, 0, "distro"), "(known after connect)");
        assert_eq!(shown(&inv, 0, "ip4"), "(known after connect)");
        assert_eq!(shown(&inv, 0, "user"), "\"u\"");
        assert_eq!(shown(&inv, 1, "user"), "(known after connect)");
        assert_eq!(shown(&inv, 0, "machine"), "\"s1\"");
        inv.attach_facts(
            "s1",
            inventory::HostFacts {
                distro: "debian".into(),
                version: "bookworm".into(),
                arch: "amd64".into(),
                ip4: Some("192.0.2.4".into()),
            },
            "login",
        );
        inv.attach_facts("s2", inventory::HostFacts::default(), "deploy");
        assert_eq!(shown(&inv, 0, "distro"), "\"debian\"");
        assert_eq!(shown(&inv, 0, "version"), "\"bookworm\"");
        assert_eq!(shown(&inv, 0, "arch"), "\"amd64\"");
        assert_eq!(shown(&inv, 0, "ip4"), "\"192.0.2.4\"");
        // The inventory's user wins; without one, the user ssh logged in as.
        assert_eq!(shown(&inv, 0, "user"), "\"u\"");
        assert_eq!(shown(&inv, 1, "user"), "\"deploy\"");
    }
}
