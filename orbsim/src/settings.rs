//! Settings: the global keys of `orbctl config` and the per-machine ones (docs/orbctl.md §2
//! `config`, §11.2), with orbctl's value checks and the words of its errors.
//!
//! Global keys are recorded only: orbsim has no VM whose CPUs, memory or subnet they could
//! change. Per-machine keys take effect (see [`Effect`]).

use crate::cli::parse_bool;
use crate::state::{Machine, Mount};

/// Where a per-machine change takes effect. \[GUESS\] the reference does not confirm which
/// keys need a restart (§11.2, third-party notes conflict). orbsim's rule: the keys that
/// are cgroup limits or a session's default user apply at once to a running machine;
/// those that shape the machine's mounts, network or agent socket are recorded and apply at
/// its next start (orbsim never restarts a machine by itself).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Effect {
    /// Applied now (`username`, `cpu`, `memory_mib`).
    Now,
    /// Recorded; applied when the machine next starts.
    NextStart,
}

/// A global key: its kind and whether orbctl says OrbStack must restart
/// (`Restart OrbStack with "orbctl stop" to apply changes.`, from `config_set.go`).
#[derive(Debug, Clone, Copy)]
enum Ty {
    Bool,
    Uint,
    Cpu,
    Text,
    Subnet,
}

/// Global keys: the reference's (§2), `config_set.go`'s, and three that pyinfra-orbstack's
/// end-to-end tests read from a real OrbStack (`docker.expose_ports_to_lan`,
/// `machines.forward_ports`, `network.https`; \[3P\], defaults \[GUESS\]).
const GLOBAL: &[(&str, Ty, bool)] = &[
    ("app.start_at_login", Ty::Bool, false),
    ("cpu", Ty::Cpu, true),
    ("data_dir", Ty::Text, true),
    ("docker.expose_ports_to_lan", Ty::Bool, false),
    ("docker.node_name", Ty::Text, true),
    ("docker.set_context", Ty::Bool, false),
    ("k8s.enable", Ty::Bool, true),
    ("k8s.expose_services", Ty::Bool, true),
    ("machines.forward_ports", Ty::Bool, false),
    ("memory_mib", Ty::Uint, true),
    ("network.https", Ty::Bool, false),
    // [GUESS] that a new subnet needs a restart; the /23 rule is the reference's.
    ("network.subnet4", Ty::Subnet, true),
    ("network_bridge", Ty::Bool, false),
    ("network_proxy", Ty::Text, false),
    ("power.pause_on_sleep", Ty::Bool, false),
    ("rosetta", Ty::Bool, true),
    ("setup.use_admin", Ty::Bool, true),
    ("ssh.expose_port", Ty::Bool, true),
];

/// Host CPU count (OrbStack's default `cpu`, and the most a limit may ask for).
pub fn host_cpus() -> u32 {
    std::thread::available_parallelism().map_or(1, |n| n.get() as u32)
}

fn host_memory_mib() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
        .map_or(4096, |kib| kib / 1024)
}

/// orbsim's defaults. \[GUESS\] values: OrbStack's own defaults are not in the reference
/// beyond `setup.use_admin: true`; `rosetta` is false because orbsim runs no other
/// architecture, `network.subnet4` is the /23 holding orbsim's 198.19.249.0/24 machines,
/// `memory_mib` is half the host's memory.
fn default(key: &str) -> String {
    match key {
        "cpu" => host_cpus().to_string(),
        "memory_mib" => (host_memory_mib() / 2).to_string(),
        "data_dir" => String::new(),
        "docker.node_name" => "orbstack".into(),
        "network.subnet4" => "198.19.248.0/23".into(),
        "network_proxy" => "auto".into(),
        "docker.set_context"
        | "network_bridge"
        | "setup.use_admin"
        | "power.pause_on_sleep"
        | "docker.expose_ports_to_lan"
        | "machines.forward_ports"
        | "network.https" => "true".into(),
        _ => "false".into(),
    }
}

/// Go's `strconv.ParseUint` with its error text.
pub fn parse_uint(v: &str) -> Result<u64, String> {
    if v.is_empty() || !v.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!(
            "strconv.ParseUint: parsing \"{v}\": invalid syntax"
        ));
    }
    v.parse()
        .map_err(|_| format!("strconv.ParseUint: parsing \"{v}\": value out of range"))
}

fn parse_bool_go(v: &str) -> Result<bool, String> {
    parse_bool(v).ok_or_else(|| format!("strconv.ParseBool: parsing \"{v}\": invalid syntax"))
}

/// A CPU count with orbctl's checks (`config_set.go`; per machine \[GUESS\] the same words).
pub fn check_cpu(v: u64) -> Result<u32, String> {
    if v < 1 {
        return Err("CPU limit must be at least 1".into());
    }
    if v > u64::from(host_cpus()) {
        return Err("CPU limit cannot exceed number of cores".into());
    }
    Ok(v as u32)
}

/// \[GUESS\] the smallest memory limit (below it the login shell cannot start).
pub const MIN_MEMORY_MIB: u64 = 64;

/// A memory limit in MiB with orbsim's check (\[GUESS\] words).
pub fn check_memory(mib: u64) -> Result<u64, String> {
    if mib < MIN_MEMORY_MIB {
        return Err(format!(
            "memory limit must be at least {MIN_MEMORY_MIB} MiB"
        ));
    }
    Ok(mib)
}

/// A global value, normalised as `config show` prints it; `Ok(true)` when orbctl then
/// says OrbStack must restart.
pub fn set_global(key: &str, value: &str) -> Option<Result<(String, bool), String>> {
    let &(_, ty, reboot) = GLOBAL.iter().find(|(k, _, _)| *k == key)?;
    let normalised = match ty {
        Ty::Bool => parse_bool_go(value).map(|b| b.to_string()),
        Ty::Uint => parse_uint(value).map(|n| n.to_string()),
        Ty::Cpu => parse_uint(value).and_then(check_cpu).map(|n| n.to_string()),
        Ty::Text => Ok(value.to_string()),
        Ty::Subnet => check_subnet(value).map(|()| value.to_string()),
    };
    Some(normalised.map(|v| (v, reboot)))
}

/// An IPv4 /23 (the reference: "`network.subnet4` must be a /23"; the words are \[GUESS\]).
fn check_subnet(v: &str) -> Result<(), String> {
    let ok = v
        .split_once('/')
        .is_some_and(|(ip, len)| len == "23" && ip.parse::<std::net::Ipv4Addr>().is_ok());
    if ok {
        Ok(())
    } else {
        Err(format!("invalid subnet: {v} (must be an IPv4 /23)"))
    }
}

/// Every global `key: value` with a non-empty value (recorded values over defaults).
pub fn global_lines(recorded: &std::collections::BTreeMap<String, String>) -> Vec<String> {
    GLOBAL
        .iter()
        .map(|(k, _, _)| (k, recorded.get(*k).cloned().unwrap_or_else(|| default(k))))
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}: {v}"))
        .collect()
}

/// How `config show` writes a machine name: in quotes when it holds a dot.
pub fn shown_name(name: &str) -> String {
    if name.contains('.') {
        format!("\"{name}\"")
    } else {
        name.to_string()
    }
}

/// The per-machine `key: value` lines (unset limits and empty mounts left out).
pub fn machine_lines(m: &Machine) -> Vec<String> {
    let n = shown_name(&m.name);
    let c = &m.config;
    let mut kv = vec![
        ("username", c.default_username.clone()),
        ("isolated", c.isolated.to_string()),
        ("isolate_network", c.isolate_network.to_string()),
        ("forward_ssh_agent", c.forward_ssh_agent.to_string()),
        ("mounts", mounts_text(&c.mounts)),
    ];
    let l = &m.limits;
    kv.extend(l.cpu.map(|v| ("cpu", v.to_string())));
    kv.extend(l.memory_mib.map(|v| ("memory_mib", v.to_string())));
    kv.extend(l.disk_bytes.map(|v| ("disk_bytes", v.to_string())));
    kv.into_iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("machine.{n}.{k}: {v}"))
        .collect()
}

/// `SRC:DEST,SRC:DEST` (a mount whose destination is its source is written `SRC`).
pub fn mounts_text(mounts: &[Mount]) -> String {
    let parts: Vec<String> = mounts
        .iter()
        .map(|x| {
            if x.source == x.destination {
                x.source.clone()
            } else {
                format!("{}:{}", x.source, x.destination)
            }
        })
        .collect();
    parts.join(",")
}

/// One `SRC[:DEST]`: SRC made absolute against the caller's directory (as orbctl sends mac
/// paths), DEST defaulting to SRC. \[GUESS\] both rules and the error words; SRC must exist.
pub fn parse_mount(spec: &str) -> Result<Mount, String> {
    let (src, dest) = spec.split_once(':').unwrap_or((spec, ""));
    if src.is_empty() {
        return Err(format!("invalid mount: '{spec}'"));
    }
    let source = crate::paths::absolute(src).to_string_lossy().into_owned();
    if !std::path::Path::new(&source).exists() {
        return Err(format!("mount source does not exist: '{source}'"));
    }
    let destination = if dest.is_empty() {
        source.clone()
    } else {
        dest.to_string()
    };
    if !destination.starts_with('/') {
        return Err(format!(
            "mount destination must be an absolute path: '{destination}'"
        ));
    }
    Ok(Mount {
        source,
        destination,
    })
}

/// A linux user name (\[GUESS\] that OrbStack checks it; these are useradd's rules).
fn valid_username(u: &str) -> bool {
    let mut chars = u.chars();
    u.len() <= 32
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_lowercase() || c == '_')
        && chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-')
}

/// Set one per-machine key. `None`: not a per-machine key. The error is orbctl's line.
pub fn set_machine(m: &mut Machine, key: &str, value: &str) -> Option<Result<Effect, String>> {
    let result = match key {
        "username" => {
            if valid_username(value) {
                m.config.default_username = value.to_string();
                Ok(Effect::Now)
            } else {
                Err(format!("invalid username: '{value}'"))
            }
        }
        "cpu" => parse_uint(value).and_then(check_cpu).map(|c| {
            m.limits.cpu = Some(c);
            Effect::Now
        }),
        "memory_mib" => parse_uint(value).and_then(check_memory).map(|v| {
            m.limits.memory_mib = Some(v);
            Effect::Now
        }),
        "disk_bytes" => parse_uint(value).and_then(|v| set_disk(m, v)),
        "isolated" | "isolate_network" | "forward_ssh_agent" => parse_bool_go(value).map(|b| {
            match key {
                "isolated" => m.config.isolated = b,
                "isolate_network" => m.config.isolate_network = b,
                _ => m.config.forward_ssh_agent = b,
            }
            Effect::NextStart
        }),
        "mounts" => value
            .split(',')
            .filter(|s| !s.is_empty())
            .map(parse_mount)
            .collect::<Result<Vec<_>, _>>()
            .map(|mounts| {
                m.config.mounts = mounts;
                Effect::NextStart
            }),
        _ => return None,
    };
    Some(result)
}

/// The per-machine keys `set_machine` knows that hold one value, not a list.
const SCALAR_KEYS: &[&str] = &[
    "username",
    "cpu",
    "memory_mib",
    "disk_bytes",
    "isolated",
    "isolate_network",
    "forward_ssh_agent",
];

/// `config add`: append to a list-valued per-machine key (`mounts`, the only one). `None`:
/// not a per-machine key. A mount already in the list is not added twice; another source
/// at a destination in use is refused (\[GUESS\] both, and the words).
pub fn add_machine(m: &mut Machine, key: &str, value: &str) -> Option<Result<Effect, String>> {
    if SCALAR_KEYS.contains(&key) {
        return Some(Err(format!(
            "Configuration key is not a list: machine.{}.{key}",
            shown_name(&m.name)
        )));
    }
    if key != "mounts" {
        return None;
    }
    let added = value
        .split(',')
        .filter(|s| !s.is_empty())
        .map(parse_mount)
        .collect::<Result<Vec<_>, _>>();
    let result = added.and_then(|added| {
        if added.is_empty() {
            return Err(format!("invalid mount: '{value}'"));
        }
        let mut list = m.config.mounts.clone();
        for new in added {
            match list.iter().find(|x| x.destination == new.destination) {
                Some(old) if old.source == new.source => {}
                Some(_) => {
                    return Err(format!(
                        "mount destination already in use: '{}'",
                        new.destination
                    ))
                }
                None => list.push(new),
            }
        }
        m.config.mounts = list;
        Ok(Effect::NextStart)
    });
    Some(result)
}

/// `disk_bytes`: recorded (orbsim does not enforce it; the `disk-quota` fault refuses the
/// delete of a machine at its quota). 0 lifts the quota (§12.5, \[3P\]: a client "raises
/// the quota to 0" before deleting). \[GUESS\] a disk cannot shrink otherwise
/// (docs/orbctl.md §11.2), with these words.
pub fn set_disk(m: &mut Machine, bytes: u64) -> Result<Effect, String> {
    if bytes == 0 {
        m.limits.disk_bytes = None;
        return Ok(Effect::NextStart);
    }
    if m.limits.disk_bytes.is_some_and(|old| bytes < old) {
        return Err("disk size cannot be decreased".into());
    }
    m.limits.disk_bytes = Some(bytes);
    Ok(Effect::NextStart)
}

/// A size flag (`--memory 4G`, `--disk 64G`): a number with an optional binary unit
/// `K`, `M`, `G`, `T` (also `KB`, `KiB`, …, any case). \[GUESS\] a bare number is MiB and
/// units are powers of 1024; the reference does not know (§11.2). Returns bytes.
pub fn parse_size(v: &str) -> Option<u64> {
    let digits = v.bytes().take_while(u8::is_ascii_digit).count();
    let (number, unit) = v.split_at(digits);
    let number: u64 = number.parse().ok()?;
    let shift = match unit.to_ascii_lowercase().as_str() {
        "b" => 0,
        "k" | "kb" | "kib" => 10,
        "" | "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return None,
    };
    number.checked_mul(1u64 << shift)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_and_go_number_errors() {
        assert_eq!(parse_size("4G"), Some(4 << 30));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("64gib"), Some(64 << 30));
        assert_eq!(parse_size("1024"), Some(1024 << 20));
        assert_eq!(parse_size("4X"), None);
        assert_eq!(parse_size("G"), None);
        assert_eq!(
            parse_uint("x1").unwrap_err(),
            "strconv.ParseUint: parsing \"x1\": invalid syntax"
        );
        assert!(parse_uint("99999999999999999999999")
            .unwrap_err()
            .ends_with("value out of range"));
        assert_eq!(check_cpu(0).unwrap_err(), "CPU limit must be at least 1");
    }

    #[test]
    fn globals_normalise_and_say_when_orbstack_must_restart() {
        assert_eq!(set_global("rosetta", "1"), Some(Ok(("true".into(), true))));
        assert_eq!(
            set_global("app.start_at_login", "True"),
            Some(Ok(("true".into(), false)))
        );
        assert!(set_global("network.subnet4", "10.0.0.0/24").is_some_and(|r| r.is_err()));
        assert!(set_global("nope", "1").is_none());
        let lines = global_lines(&Default::default());
        assert!(lines.contains(&"setup.use_admin: true".to_string()));
        assert!(!lines.iter().any(|l| l.starts_with("data_dir")));
        let mut sorted = lines.clone();
        sorted.sort();
        assert_eq!(lines, sorted);
    }
}
