//! `create`: name and image checks, the image, the machine, its default user.

use anyhow::Result;

use super::{arg_count, home, need_root, Flags, DISTROS, RESERVED};
use crate::faults::Faults;
use crate::output::{server_error, usage_error};
use crate::state::{self, Config, Image, Machine};
use crate::{image, machine, paths, ulid};

pub(super) fn valid_name(name: &str) -> bool {
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

pub(super) fn create(flags: &Flags, pos: &[String], faults: &Faults) -> Result<i32> {
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

pub(super) fn names_or_all(
    locked: &state::Locked,
    flags: &Flags,
    pos: &[String],
) -> Result<Vec<String>, i32> {
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
