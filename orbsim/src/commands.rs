//! The subcommands. Texts and exit codes follow orbctl-reference.md (§2, §3, §7).

use std::collections::HashMap;
use std::io::Write;

use anyhow::Result;

use crate::faults::Faults;
use crate::output::{server_error, usage_error};
use crate::state::{self, Config, Image, Machine};
use crate::{copy, enter, image, machine, net, paths, quote, runflags, ulid};

type Flags = HashMap<&'static str, String>;

/// The CLI distro words and the image names orbctl reports (reference §6).
const DISTROS: &[(&str, &str)] = &[
    ("alma", "almalinux"),
    ("alpine", "alpine"),
    ("arch", "archlinux"),
    ("centos", "centos"),
    ("debian", "debian"),
    ("devuan", "devuan"),
    ("fedora", "fedora"),
    ("gentoo", "gentoo"),
    ("kali", "kali"),
    ("nixos", "nixos"),
    ("openeuler", "openeuler"),
    ("opensuse", "opensuse"),
    ("oracle", "oracle"),
    ("rocky", "rockylinux"),
    ("ubuntu", "ubuntu"),
    ("void", "voidlinux"),
];

const RESERVED: &[&str] = &[
    "default", "vm", "host", "services", "gateway", "k8s", "docker",
];

/// Version shown by `orbctl version` (orbsim answers like this OrbStack release).
const VERSION: &str =
    "Version: 2.2.1 (2020100)\nCommit: 5e2b6c0e3b0f4a1f0d9c8e7a6b5c4d3e2f1a0b9c (v2.2.1)\n";

fn home() -> std::path::PathBuf {
    paths::home()
}

fn fail(e: anyhow::Error) -> i32 {
    eprintln!("orbsim: {e:#}");
    1
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

fn need_root() -> Option<i32> {
    if is_root() {
        None
    } else {
        eprintln!(
            "orbsim: machines need root (namespaces, overlay mounts, veth): run orbsim as root"
        );
        Some(1)
    }
}

fn arg_count(cmd: &str, pos: &[String], min: usize, max: usize) -> Option<i32> {
    if pos.len() >= min && pos.len() <= max {
        return None;
    }
    let msg = if min == max {
        format!("accepts {min} arg(s), received {}", pos.len())
    } else if max == usize::MAX {
        format!(
            "requires at least {min} arg(s), only received {}",
            pos.len()
        )
    } else {
        format!(
            "accepts between {min} and {max} arg(s), received {}",
            pos.len()
        )
    };
    Some(usage_error(cmd, &msg))
}

/// When OrbStack is "down" (`ORBSIM_FAULTS=not-running`).
pub fn not_running(cmd: &str) -> i32 {
    match cmd {
        "status" => {
            println!("Stopped");
            1
        }
        "stop" | "restart" => {
            eprintln!("OrbStack is not running");
            0
        }
        _ => {
            // [GUESS] the vmgr start error of a real failed start; one red line, exit 1.
            eprintln!("failed to start OrbStack: connect: connection refused");
            1
        }
    }
}

/// Run a parsed subcommand.
pub fn call(cmd: &str, flags: &Flags, pos: &[String], faults: &Faults) -> i32 {
    let result = match cmd {
        "list" => list(flags, pos),
        "info" => info(flags, pos),
        "create" => create(flags, pos, faults),
        "start" => start(flags, pos),
        "stop" => stop(flags, pos),
        "restart" => restart(flags, pos),
        "delete" => delete(flags, pos),
        "push" | "pull" => copy_cmd(cmd, flags, pos),
        "clone" => clone(pos),
        "rename" => rename(pos),
        "default" => default(pos),
        "status" => arg_count(cmd, pos, 0, 0).map_or_else(
            || {
                println!("Running");
                Ok(0)
            },
            Ok,
        ),
        "version" => {
            print!("{VERSION}");
            Ok(0)
        }
        "logs" => logs(flags, pos),
        _ => Ok(usage_error(cmd, "unknown command")),
    };
    result.unwrap_or_else(fail)
}

fn list(flags: &Flags, pos: &[String]) -> Result<i32> {
    if let Some(code) = arg_count("list", pos, 0, 0) {
        return Ok(code);
    }
    let format = flags.get("format").map_or("text", String::as_str);
    if format != "text" && format != "json" {
        return Ok(usage_error("list", &format!("invalid format: {format}")));
    }
    let locked = state::lock(&home())?;
    let running_only = flags.contains_key("running");
    let machines: Vec<&Machine> = locked
        .state
        .machines
        .iter()
        .filter(|m| !running_only || m.is_running())
        .collect();
    let mut out = std::io::stdout().lock();
    if flags.contains_key("quiet") {
        for m in &machines {
            writeln!(out, "{}", m.name)?;
        }
        return Ok(0);
    }
    if format == "json" {
        let list: Vec<serde_json::Value> = machines.iter().map(|m| m.to_json()).collect();
        writeln!(out, "{}", serde_json::to_string_pretty(&list)?)?;
        return Ok(0);
    }
    // tabwriter, padding 2; no header in a pipe (reference §3.1). orbsim never runs on a TTY
    // in tests; print the header only when stdout is a terminal, as orbctl does.
    let mut rows: Vec<Vec<String>> = Vec::new();
    if std::io::IsTerminal::is_terminal(&std::io::stdout()) {
        rows.push(
            ["NAME", "STATE", "DISTRO", "VERSION", "ARCH", "SIZE", "IP"]
                .map(String::from)
                .to_vec(),
        );
        rows.push(
            ["----", "-----", "------", "-------", "----", "----", "--"]
                .map(String::from)
                .to_vec(),
        );
    }
    for m in &machines {
        let ip = if m.is_running() {
            m.ip4.clone().unwrap_or_default()
        } else {
            String::new()
        };
        rows.push(vec![
            m.name.clone(),
            m.state().to_string(),
            m.image.distro.clone(),
            m.image.version.clone(),
            m.image.arch.clone(),
            String::new(),
            ip,
        ]);
    }
    let widths: Vec<usize> = (0..7)
        .map(|c| rows.iter().map(|r| r[c].len()).max().unwrap_or(0))
        .collect();
    for r in rows {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(c, v)| {
                if c < 6 {
                    format!("{v:w$}  ", w = widths[c])
                } else {
                    v.clone()
                }
            })
            .collect();
        writeln!(out, "{}", cells.concat())?;
    }
    Ok(0)
}

fn info(flags: &Flags, pos: &[String]) -> Result<i32> {
    if let Some(code) = arg_count("info", pos, 1, 1) {
        return Ok(code);
    }
    let format = flags.get("format").map_or("text", String::as_str);
    if format != "text" && format != "json" {
        return Ok(usage_error("info", &format!("invalid format: {format}")));
    }
    let locked = state::lock(&home())?;
    let Some(m) = locked.state.find(&pos[0]) else {
        return Ok(server_error(&format!("machine not found: '{}'", pos[0])));
    };
    let running = m.is_running();
    if format == "json" {
        let mut doc = serde_json::json!({ "record": m.to_json(), "disk_size": null });
        if let (true, Some(ip)) = (running, &m.ip4) {
            doc["ip4"] = serde_json::json!(ip);
        }
        println!("{}", serde_json::to_string_pretty(&doc)?);
        return Ok(0);
    }
    let mut text = format!(
        "ID: {}\nName: {}\nState: {}\n\nDistro: {}\nVersion: {}\nArchitecture: {}\n",
        m.id,
        m.name,
        m.state(),
        m.image.distro,
        m.image.version,
        m.image.arch
    );
    if let (true, Some(ip)) = (running, &m.ip4) {
        text.push_str(&format!("\nIPv4: {ip}\n"));
    }
    println!("{text}");
    Ok(0)
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !RESERVED.contains(&name)
}

fn debian_version(v: &str) -> &str {
    match v {
        "" => "bookworm",
        "10" => "buster",
        "11" => "bullseye",
        "12" => "bookworm",
        "13" => "trixie",
        "14" => "forky",
        other => other,
    }
}

fn default_user() -> (String, u32) {
    let uid = nix::unistd::geteuid().as_raw();
    let name = std::env::var("ORBSIM_DEFAULT_USER")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| {
            nix::unistd::User::from_uid(nix::unistd::geteuid())
                .ok()
                .flatten()
                .map_or_else(|| "root".to_string(), |u| u.name)
        });
    // OrbStack's default user is the Mac user, never root: CI runs as root, so map it.
    let name = if name == "root" {
        "dev".to_string()
    } else {
        name
    };
    (name, if uid == 0 { 1000 } else { uid })
}

fn create(flags: &Flags, pos: &[String], faults: &Faults) -> Result<i32> {
    if let Some(code) = arg_count("create", pos, 1, 2) {
        return Ok(code);
    }
    let (word, version) = pos[0].split_once(':').unwrap_or((&pos[0], ""));
    let Some(&(_, distro)) = DISTROS.iter().find(|(w, _)| *w == word) else {
        return Ok(usage_error("create", &format!("invalid distro: {word}")));
    };
    let arch = flags
        .get("arch")
        .cloned()
        .unwrap_or_else(|| image::host_arch().to_string());
    if !["arm64", "amd64", "i386"].contains(&arch.as_str()) {
        return Ok(usage_error(
            "create",
            &format!("invalid architecture: {arch}"),
        ));
    }
    let name = pos.get(1).cloned().unwrap_or_else(|| word.to_string());
    if !valid_name(&name) {
        return Ok(server_error(&format!(
            "create '{name}': invalid machine name '{name}'"
        )));
    }
    if let Some(code) = need_root() {
        return Ok(code);
    }
    if distro != "debian" {
        return Ok(server_error(&format!(
            "create '{name}': image not available in orbsim: {distro} (orbsim provides debian bookworm and trixie)"
        )));
    }
    let version = debian_version(version).to_string();
    if !image::BUILDABLE.contains(&version.as_str()) {
        return Ok(server_error(&format!(
            "create '{name}': image not available in orbsim: debian {version} (orbsim provides bookworm and trixie)"
        )));
    }
    if arch != image::host_arch() {
        return Ok(server_error(&format!(
            "create '{name}': image not available in orbsim: {arch} on this {} host (no emulation)",
            image::host_arch()
        )));
    }
    {
        let locked = state::lock(&home())?;
        if locked.state.find(&name).is_some() {
            return Ok(server_error(&format!(
                "create '{name}': machine already exists: '{name}'"
            )));
        }
    }
    // The image is built (once) without holding the state lock.
    if let Err(e) = image::ensure(&paths::images(), &version, &arch) {
        return Ok(server_error(&format!(
            "create '{name}': make rootfs: {e:#}"
        )));
    }
    let (default_name, uid) = default_user();
    let user = flags.get("user").cloned().unwrap_or(default_name);
    let cloud_init = flags.get("user-data").cloned();
    let mut locked = state::lock(&home())?;
    if locked.state.find(&name).is_some() {
        return Ok(server_error(&format!(
            "create '{name}': machine already exists: '{name}'"
        )));
    }
    let mut m = Machine {
        id: ulid::new(),
        name: name.clone(),
        image: Image {
            distro: "debian".into(),
            version,
            arch,
            variant: if cloud_init.is_some() {
                "cloud".into()
            } else {
                "default".into()
            },
        },
        config: Config {
            isolated: false,
            default_username: user,
        },
        uid,
        ..Machine::default()
    };
    let home_dir = locked.home().to_path_buf();
    if let Err(e) = machine::boot(&home_dir, &mut m) {
        let _ = std::fs::remove_dir_all(m.dir(&home_dir));
        return Ok(server_error(&format!("create '{name}': start: {e:#}")));
    }
    if let Err(e) = machine::setup_user(&m) {
        machine::halt(&home_dir, &mut m);
        let _ = std::fs::remove_dir_all(m.dir(&home_dir));
        return Ok(server_error(&format!("create '{name}': setup: {e:#}")));
    }
    if let Some(file) = &cloud_init {
        run_user_data(&m, file)?;
    }
    if locked.state.machines.is_empty() {
        locked.state.default_id = Some(m.id.clone());
    }
    locked.state.machines.push(m);
    locked.save()?;
    drop(locked);
    if let Some(slow) = faults.create_slow {
        std::thread::sleep(slow);
    }
    if faults.create_timeout {
        // The machine exists and runs; the client is told otherwise (reference §7, #2213).
        return Ok(server_error(&format!(
            "create '{name}': setup: machine didn't start in 30s (missing IP address)"
        )));
    }
    Ok(0)
}

/// cloud-init user data: a script (`#!`) is run as root at creation; `#cloud-config`
/// documents are not interpreted by orbsim (a note goes to the console log).
fn run_user_data(m: &Machine, file: &str) -> Result<()> {
    let text = std::fs::read_to_string(paths::absolute(file))
        .map_err(|e| anyhow::anyhow!("reading user data {file}: {e}"))?;
    if text.starts_with("#!") {
        let status = machine::in_machine(m, "root", "/", &text)?;
        anyhow::ensure!(status == 0, "user data script exited with {status}");
    }
    Ok(())
}

fn names_or_all(locked: &state::Locked, flags: &Flags, pos: &[String]) -> Result<Vec<String>, i32> {
    if flags.contains_key("all") {
        return Ok(locked.state.machines.iter().map(|m| m.id.clone()).collect());
    }
    for key in pos {
        if locked.state.find(key).is_none() {
            return Err(server_error(&format!("machine not found: '{key}'")));
        }
    }
    Ok(pos
        .iter()
        .filter_map(|k| locked.state.find(k).map(|m| m.id.clone()))
        .collect())
}

fn start(flags: &Flags, pos: &[String]) -> Result<i32> {
    if pos.is_empty() && !flags.contains_key("all") {
        eprintln!("OrbStack is already running. Docker engine is ready to use.\nUse --all to start all machines.");
        return Ok(0);
    }
    boot_each("start", flags, pos, false)
}

fn restart(flags: &Flags, pos: &[String]) -> Result<i32> {
    if pos.is_empty() && !flags.contains_key("all") {
        return Ok(usage_error("restart", "no machines specified"));
    }
    boot_each("restart", flags, pos, true)
}

/// `start` and `restart`: every name is looked up first, then each machine is (stopped
/// and) booted; the first failure is reported as the server would.
fn boot_each(verb: &str, flags: &Flags, pos: &[String], stop_first: bool) -> Result<i32> {
    if let Some(code) = need_root() {
        return Ok(code);
    }
    let mut locked = state::lock(&home())?;
    let ids = match names_or_all(&locked, flags, pos) {
        Ok(ids) => ids,
        Err(code) => return Ok(code),
    };
    let home_dir = locked.home().to_path_buf();
    for id in ids {
        if let Some(m) = locked.state.find_mut(&id) {
            if stop_first {
                machine::halt(&home_dir, m);
            }
            if let Err(e) = machine::boot(&home_dir, m) {
                let name = m.name.clone();
                locked.save()?;
                return Ok(server_error(&format!("{verb} '{name}': {e:#}")));
            }
        }
    }
    locked.save()?;
    Ok(0)
}

fn stop(flags: &Flags, pos: &[String]) -> Result<i32> {
    let mut locked = state::lock(&home())?;
    // No names stops all of OrbStack: every machine (reference §2).
    let all = pos.is_empty() || flags.contains_key("all");
    let ids = if all {
        locked.state.machines.iter().map(|m| m.id.clone()).collect()
    } else {
        match names_or_all(&locked, flags, pos) {
            Ok(ids) => ids,
            Err(code) => return Ok(code),
        }
    };
    let home_dir = locked.home().to_path_buf();
    for id in ids {
        if let Some(m) = locked.state.find_mut(&id) {
            machine::halt(&home_dir, m);
        }
    }
    locked.save()?;
    Ok(0)
}

fn delete(flags: &Flags, pos: &[String]) -> Result<i32> {
    if pos.is_empty() && !flags.contains_key("all") {
        return Ok(usage_error("delete", "no machines specified"));
    }
    let mut locked = state::lock(&home())?;
    // Every name is looked up before anything is deleted (reference §2).
    let ids = match names_or_all(&locked, flags, pos) {
        Ok(ids) => ids,
        Err(code) => return Ok(code),
    };
    let home_dir = locked.home().to_path_buf();
    for id in &ids {
        if let Some(m) = locked.state.find_mut(id) {
            machine::halt(&home_dir, m);
            let dir = m.dir(&home_dir);
            let _ = std::fs::remove_dir_all(&dir);
        }
        locked.state.machines.retain(|m| &m.id != id);
    }
    let default_gone = locked
        .state
        .default_id
        .as_ref()
        .is_some_and(|d| !locked.state.machines.iter().any(|m| &m.id == d));
    if default_gone {
        // The alphabetically first machine becomes the default (reference §8).
        let mut names: Vec<&Machine> = locked.state.machines.iter().collect();
        names.sort_by(|a, b| a.name.cmp(&b.name));
        locked.state.default_id = names.first().map(|m| m.id.clone());
    }
    locked.save()?;
    Ok(0)
}

fn clone(pos: &[String]) -> Result<i32> {
    if let Some(code) = arg_count("clone", pos, 2, 2) {
        return Ok(code);
    }
    let mut locked = state::lock(&home())?;
    let Some(src) = locked.state.find(&pos[0]).cloned() else {
        return Ok(server_error(&format!("machine not found: '{}'", pos[0])));
    };
    let new = &pos[1];
    if !valid_name(new) {
        return Ok(server_error(&format!(
            "clone '{new}': invalid machine name '{new}'"
        )));
    }
    if locked.state.find(new).is_some() {
        return Ok(server_error(&format!(
            "clone '{new}': machine already exists: '{new}'"
        )));
    }
    let home_dir = locked.home().to_path_buf();
    let mut copy = Machine {
        id: ulid::new(),
        name: new.clone(),
        init_pid: None,
        init_start: None,
        ip4: None,
        ..src.clone()
    };
    let to = copy.dir(&home_dir);
    std::fs::create_dir_all(&to)?;
    let status = std::process::Command::new("cp")
        .arg("-a")
        .arg("--reflink=auto")
        .arg(src.dir(&home_dir).join("upper"))
        .arg(to.join("upper"))
        .status()?;
    if !status.success() {
        let _ = std::fs::remove_dir_all(&to);
        return Ok(server_error(&format!(
            "clone '{new}': copying the disk failed"
        )));
    }
    copy.ip4 = None;
    locked.state.machines.push(copy);
    locked.save()?;
    Ok(0)
}

fn rename(pos: &[String]) -> Result<i32> {
    if let Some(code) = arg_count("rename", pos, 2, 2) {
        return Ok(code);
    }
    let mut locked = state::lock(&home())?;
    if locked.state.find(&pos[0]).is_none() {
        return Ok(server_error(&format!("machine not found: '{}'", pos[0])));
    }
    let new = &pos[1];
    if locked.state.find(new).is_some() {
        // The odd quoting is OrbStack's ('%q' inside quotes, reference §2).
        return Ok(server_error(&format!("machine '\"{new}\"' already exists")));
    }
    if !valid_name(new) {
        return Ok(server_error(&format!("invalid machine name '{new}'")));
    }
    if let Some(m) = locked.state.find_mut(&pos[0]) {
        m.name = new.clone();
        if m.is_running() {
            // [GUESS] OrbStack renames the hostname of a running machine too.
            let script = format!(
                "hostname {0} && echo {0} > /etc/hostname",
                quote::quote(new)
            );
            let _ = machine::in_machine(m, "root", "/", &script);
        }
    }
    locked.save()?;
    Ok(0)
}

fn default(pos: &[String]) -> Result<i32> {
    if let Some(code) = arg_count("default", pos, 0, 1) {
        return Ok(code);
    }
    let mut locked = state::lock(&home())?;
    match pos.first() {
        None => match locked.state.default_machine() {
            Some(m) => {
                println!("{}", m.name);
                Ok(0)
            }
            None => Ok(server_error("no machines found")),
        },
        Some(key) => {
            let Some(id) = locked.state.find(key).map(|m| m.id.clone()) else {
                return Ok(server_error(&format!("machine not found: '{key}'")));
            };
            locked.state.default_id = Some(id);
            locked.save()?;
            Ok(0)
        }
    }
}

fn logs(_flags: &Flags, pos: &[String]) -> Result<i32> {
    if let Some(code) = arg_count("logs", pos, 1, 1) {
        return Ok(code);
    }
    let locked = state::lock(&home())?;
    let Some(m) = locked.state.find(&pos[0]) else {
        // orbctl prints this error on stdout and exits 0 (reference §7).
        println!("[-32098] machine not found: '{}'", pos[0]);
        return Ok(0);
    };
    let log = std::fs::read(m.dir(locked.home()).join("console.log")).unwrap_or_default();
    std::io::stdout().write_all(&log)?;
    Ok(0)
}

/// Resolve the machine for run/push/pull and make sure it runs (auto-start, reference
/// §4.3). `Err(code)` is the exit code to return.
fn running_machine(key: Option<&str>, silent_not_found: bool) -> Result<Result<Machine, i32>> {
    let mut locked = state::lock(&home())?;
    let found = match key {
        Some(k) => locked.state.find(k).map(|m| m.id.clone()),
        None => locked.state.default_machine().map(|m| m.id.clone()),
    };
    let Some(id) = found else {
        if key.is_none() && locked.state.machines.is_empty() {
            eprintln!("To use Docker:\n  docker run ...\n\nTo create a Linux machine:\n  orb create ubuntu\n");
            return Ok(Err(1));
        }
        if silent_not_found {
            // In a pipe the server's "machine not found" never reaches the client (§4.3).
            return Ok(Err(1));
        }
        return Ok(Err(server_error(&format!(
            "machine not found: '{}'",
            key.unwrap_or_default()
        ))));
    };
    let home_dir = locked.home().to_path_buf();
    let Some(m) = locked.state.find_mut(&id) else {
        return Ok(Err(1));
    };
    if !m.is_running() {
        if let Some(code) = need_root() {
            return Ok(Err(code));
        }
        machine::boot(&home_dir, m)?;
        let m = m.clone();
        locked.save()?;
        return Ok(Ok(m));
    }
    Ok(Ok(m.clone()))
}

/// `run` and `orb ...`.
pub fn run(args: &[String], faults: &Faults) -> i32 {
    if faults.not_running {
        return not_running("run");
    }
    let flags = match runflags::parse(args) {
        Ok(f) => f,
        Err(msg) => return usage_error("run", &msg),
    };
    if flags.help {
        print!("{}", crate::output::usage("run"));
        return 0;
    }
    if let Some(code) = need_root() {
        return code;
    }
    if let Some(n) = faults.run_fail_after {
        match count_run() {
            // The N+1-th session dies as a killed one would: no output, status 255 [GUESS].
            Ok(count) if count == n + 1 => return 255,
            Ok(_) => {}
            Err(e) => return fail(e),
        }
    }
    let m = match running_machine(flags.machine.as_deref(), true) {
        Ok(Ok(m)) => m,
        Ok(Err(code)) => return code,
        Err(e) => return fail(e),
    };
    let command = if flags.command.is_empty() {
        None
    } else if flags.shell {
        Some(flags.command.join(" "))
    } else {
        Some(quote::join(&flags.command))
    };
    let workdir = flags.workdir.clone().unwrap_or_else(paths::cwd_in_machine);
    let user = flags
        .user
        .clone()
        .unwrap_or_else(|| m.config.default_username.clone());
    let session = enter::Session {
        init_pid: m.init_pid.unwrap_or(0),
        own_network: net::mode() == net::Mode::Namespace,
        user: &user,
        workdir: Some(&workdir),
        command,
        env: forwarded_env(),
    };
    // `-w ""` means home (handled by enter); a missing dir falls back to `/` silently.
    enter::run(&session).unwrap_or_else(fail)
}

fn count_run() -> Result<u64> {
    let mut locked = state::lock(&home())?;
    locked.state.run_calls += 1;
    let n = locked.state.run_calls;
    locked.save()?;
    Ok(n)
}

/// Variables the client passes into a machine (reference §4.4): TERM and friends, LC_*,
/// and whatever `ORBENV=A:B` names.
fn forwarded_env() -> Vec<(String, String)> {
    let fixed = ["TERM", "TERM_PROGRAM", "COLORTERM", "ORBENV"];
    let listed: Vec<String> = std::env::var("ORBENV")
        .map(|v| {
            v.split(':')
                .filter(|s| !s.is_empty())
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    std::env::vars()
        .filter(|(k, _)| fixed.contains(&k.as_str()) || k.starts_with("LC_") || listed.contains(k))
        .collect()
}

fn copy_cmd(cmd: &str, flags: &Flags, pos: &[String]) -> Result<i32> {
    if let Some(code) = arg_count(cmd, pos, 1, usize::MAX) {
        return Ok(code);
    }
    if let Some(code) = need_root() {
        return Ok(code);
    }
    let m = match running_machine(flags.get("machine").map(String::as_str), false)? {
        Ok(m) => m,
        Err(code) => return Ok(code),
    };
    let (sources, dest) = if pos.len() == 1 {
        (&pos[..], ".")
    } else {
        (&pos[..pos.len() - 1], pos[pos.len() - 1].as_str())
    };
    if cmd == "push" {
        copy::push(&m, sources, dest)
    } else {
        copy::pull(&m, sources, dest)
    }
}
