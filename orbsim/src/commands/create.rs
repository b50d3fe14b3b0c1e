//! `create`: name and image checks, the image, the machine, its default user.

use anyhow::Result;

use super::{arg_count, fail, home, need_root, Flags, RESERVED};
use crate::distro::{self, Distro};
use crate::faults::Faults;
use crate::output::{server_error, usage_error};
use crate::state::{self, Config, Image, Limits, Machine};
use crate::{cgroup, image, machine, paths, settings, ulid};

pub(super) fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && name.len() >= 2
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !RESERVED.contains(&name)
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

/// A create request as orbctl's client hands it to the server.
struct Request {
    name: String,
    distro: &'static Distro,
    /// After the server's defaults and aliases.
    version: String,
    arch: String,
    variant: &'static str,
    user: Option<String>,
    user_data: Option<String>,
    /// The v2.1–v2.2 flags (docs/orbctl.md §11.2).
    cpus: Option<u64>,
    memory: Option<u64>,
    disk: Option<u64>,
    config: Config,
    /// `--mount` values, checked by the server after the name (into `config.mounts`).
    mount_specs: Vec<String>,
}

impl Request {
    /// Go's `%v` of the image spec, as in `image not found: {ubuntu focal arm64 default}`.
    fn image_text(&self) -> String {
        format!(
            "{{{} {} {} {}}}",
            self.distro.image, self.version, self.arch, self.variant
        )
    }

    fn fail(&self, msg: &str) -> i32 {
        server_error(&format!("create '{}': {msg}", self.name))
    }
}

/// The value of a flag as pflag reports a bad one (\[GUESS\] the tail of the size message).
fn flag_error(flag: &str, value: &str, why: &str) -> String {
    format!("invalid argument \"{value}\" for \"--{flag}\" flag: {why}")
}

/// Go's `strconv.ParseInt` (base 10, 64 bits) with its error words; negatives become 0.
fn parse_int(v: &str) -> Result<u64, String> {
    let digits = v.strip_prefix(['-', '+']).unwrap_or(v);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(format!("strconv.ParseInt: parsing \"{v}\": invalid syntax"));
    }
    v.parse::<i64>()
        .map(|n| u64::try_from(n).unwrap_or(0))
        .map_err(|_| format!("strconv.ParseInt: parsing \"{v}\": value out of range"))
}

/// The client side of create: flag values, arch, distro word, user data file. `Err` is the
/// exit code (the error is printed).
fn parse_request(flags: &Flags, pos: &[String]) -> Result<Request, i32> {
    if let Some(code) = arg_count("create", pos, 1, 2) {
        return Err(code);
    }
    let size = |flag: &str| -> Result<Option<u64>, i32> {
        let Some(v) = flags.get(flag) else {
            return Ok(None);
        };
        settings::parse_size(v).map(Some).ok_or_else(|| {
            usage_error(
                "create",
                &flag_error(flag, v, &format!("invalid size: {v}")),
            )
        })
    };
    // [GUESS] --cpus is an int flag, so a bad value is pflag's ParseInt error; a negative
    // one parses, and fails the server's range check.
    let cpus = match flags.get("cpus") {
        Some(v) => {
            Some(parse_int(v).map_err(|why| usage_error("create", &flag_error("cpus", v, &why)))?)
        }
        None => None,
    };
    let (memory, disk) = (size("memory")?, size("disk")?);
    let arch = flags
        .get("arch")
        .cloned()
        .unwrap_or_else(|| image::host_arch().to_string());
    if !["arm64", "amd64", "i386"].contains(&arch.as_str()) {
        return Err(usage_error(
            "create",
            &format!("invalid architecture: {arch}"),
        ));
    }
    let (word, version) = pos[0].split_once(':').unwrap_or((&pos[0], ""));
    let Some(distro) = distro::by_word(word) else {
        return Err(usage_error("create", &format!("invalid distro: {word}")));
    };
    let name = pos.get(1).cloned().unwrap_or_else(|| word.to_string());
    let user_data = match flags.get("user-data") {
        Some(file) => Some(read_user_data(file)?),
        None => None,
    };
    Ok(Request {
        variant: if user_data.is_some() {
            "cloud"
        } else {
            distro.variant
        },
        version: distro.resolve(version),
        name,
        distro,
        arch,
        user: flags.get("user").cloned(),
        user_data,
        cpus,
        memory,
        disk,
        config: Config {
            isolated: flags.on("isolated"),
            isolate_network: flags.on("isolate-network"),
            forward_ssh_agent: flags.on("forward-ssh-agent"),
            mounts: Vec::new(),
            default_username: String::new(),
        },
        mount_specs: flags.all("mount"),
    })
}

/// orbctl reads the user-data file before it calls the server; Go's error words.
fn read_user_data(file: &str) -> Result<String, i32> {
    std::fs::read_to_string(paths::absolute(file)).map_err(|e| {
        let why = match e.kind() {
            std::io::ErrorKind::NotFound => "no such file or directory".to_string(),
            std::io::ErrorKind::PermissionDenied => "permission denied".to_string(),
            _ => e.to_string(),
        };
        eprintln!("open {file}: {why}");
        1
    })
}

/// The server's checks, in its order: name, existing machine, cloud-init support, then
/// (\[GUESS\] where and in which order) limits and mounts.
fn check_request(r: &mut Request) -> Result<(), i32> {
    if !valid_name(&r.name) {
        return Err(r.fail(&format!("invalid machine name '{}'", r.name)));
    }
    if let Some(code) = need_root() {
        return Err(code);
    }
    let exists = state::lock(&home())
        .map(|l| l.state.find(&r.name).is_some())
        .map_err(fail)?;
    if exists {
        return Err(r.fail(&format!("machine already exists: '{}'", r.name)));
    }
    if r.user_data.is_some() && !r.distro.cloud {
        return Err(r.fail(&format!(
            "cloud-init not supported for '{}'",
            r.distro.image
        )));
    }
    // [GUESS] the server checks the limits with these words.
    let limits = [
        r.cpus.map(settings::check_cpu).and_then(Result::err),
        r.memory
            .map(|b| settings::check_memory(b >> 20))
            .and_then(Result::err),
        r.disk
            .filter(|b| *b == 0)
            .map(|_| "disk size must be greater than 0".to_string()),
    ];
    if let Some(why) = limits.into_iter().flatten().next() {
        return Err(r.fail(&why));
    }
    for spec in &r.mount_specs {
        let mount = settings::parse_mount(spec).map_err(|why| r.fail(&why))?;
        r.config.mounts.push(mount);
    }
    Ok(())
}

/// make rootfs: the faults of §11.5, the image lookup, orbsim's own refusals, the root.
fn make_rootfs(r: &Request, faults: &Faults) -> Result<image::Root, i32> {
    use crate::faults::CreateError;
    let fault = match faults.create_error {
        Some(kind) if take_fault(faults.create_error_times).map_err(fail)? => Some(kind),
        _ => None,
    };
    let injected = |kind: CreateError| {
        std::thread::sleep(faults.create_error_after.unwrap_or(kind.default_delay()));
        r.fail(&kind.message(&r.image_text()))
    };
    if let Some(kind @ CreateError::IndexTimeout) = fault {
        return Err(injected(kind));
    }
    if !r.distro.has(&r.version) {
        return Err(r.fail(&CreateError::ImageNotFound.message(&r.image_text())));
    }
    if let Some(kind) = fault {
        return Err(injected(kind));
    }
    if image::strict() && r.distro.image != "debian" {
        return Err(r.fail(&format!(
            "image not available in orbsim: {} (ORBSIM_IMAGES_STRICT=1: orbsim provides debian only)",
            r.distro.image
        )));
    }
    if r.arch != image::host_arch() {
        return Err(r.fail(&format!(
            "image not available in orbsim: {} on this {} host (no emulation)",
            r.arch,
            image::host_arch()
        )));
    }
    let packages =
        image::packages_from_env().map_err(|e| r.fail(&format!("make rootfs: {e:#}")))?;
    // The image is built (once) without holding the state lock.
    let mut root = image::root_for(&paths::images(), r.distro.image, &r.version, &r.arch)
        .map_err(|e| r.fail(&format!("make rootfs: {e:#}")))?;
    image::ensure_flavour(&paths::images(), &root.suite, &r.arch, &packages)
        .map_err(|e| r.fail(&format!("make rootfs: {e:#}")))?;
    root.packages = packages;
    Ok(root)
}

/// Whether this create is one the `create-error` fault fails (counted per state home
/// when `create-error-times` limits it).
fn take_fault(times: Option<u64>) -> Result<bool> {
    let Some(times) = times else {
        return Ok(true);
    };
    let mut locked = state::lock(&home())?;
    if locked.state.create_errors >= times {
        return Ok(false);
    }
    locked.state.create_errors += 1;
    locked.save()?;
    Ok(true)
}

pub(super) fn create(flags: &Flags, pos: &[String], faults: &Faults) -> Result<i32> {
    let mut r = match parse_request(flags, pos) {
        Ok(r) => r,
        Err(code) => return Ok(code),
    };
    if let Err(code) = check_request(&mut r) {
        return Ok(code);
    }
    let root = match make_rootfs(&r, faults) {
        Ok(root) => root,
        Err(code) => return Ok(code),
    };
    let name = r.name.clone();
    let code = make_machine(r, root)?;
    if code != 0 {
        return Ok(code);
    }
    if let Some(slow) = faults.create_slow {
        std::thread::sleep(slow);
    }
    if faults.create_timeout {
        // The machine exists and runs; the client is told otherwise (docs/orbctl.md §7, #2213).
        return Ok(server_error(&format!(
            "create '{name}': setup: machine didn't start in 30s (missing IP address)"
        )));
    }
    Ok(0)
}

/// Make, boot and set up the machine, then record it.
fn make_machine(r: Request, root: image::Root) -> Result<i32> {
    let (default_name, uid) = default_user();
    let mut locked = state::lock(&home())?;
    if locked.state.find(&r.name).is_some() {
        return Ok(r.fail(&format!("machine already exists: '{}'", r.name)));
    }
    let mut m = Machine {
        id: ulid::new(),
        name: r.name.clone(),
        image: Image {
            distro: r.distro.image.into(),
            version: r.version.clone(),
            arch: r.arch.clone(),
            variant: r.variant.into(),
        },
        config: Config {
            default_username: r.user.clone().unwrap_or(default_name),
            ..r.config.clone()
        },
        uid,
        root: root.suite,
        packages: root.packages,
        limits: Limits {
            cpu: r.cpus.map(|c| c as u32),
            memory_mib: r.memory.map(|b| b >> 20),
            disk_bytes: r.disk,
        },
        ..Machine::default()
    };
    if m.limits.cpu.is_some() || m.limits.memory_mib.is_some() {
        if let Some(w) = cgroup::Backend::warning(cgroup::Backend::detect().as_ref()) {
            eprintln!("{w}");
        }
    }
    let home_dir = locked.home().to_path_buf();
    if let Err(e) = machine::boot(&home_dir, &mut m) {
        let _ = std::fs::remove_dir_all(m.dir(&home_dir));
        return Ok(r.fail(&format!("start: {e:#}")));
    }
    if let Err(e) = machine::setup_user(&mut m) {
        machine::halt(&home_dir, &mut m);
        let _ = std::fs::remove_dir_all(m.dir(&home_dir));
        return Ok(r.fail(&format!("setup: {e:#}")));
    }
    if let Some(text) = &r.user_data {
        run_user_data(&m, text)?;
    }
    if locked.state.machines.is_empty() {
        locked.state.default_id = Some(m.id.clone());
    }
    locked.state.machines.push(m);
    locked.save()?;
    Ok(0)
}

/// cloud-init user data: a script (`#!`) is run as root at creation; `#cloud-config`
/// documents are not interpreted by orbsim.
fn run_user_data(m: &Machine, text: &str) -> Result<()> {
    if text.starts_with("#!") {
        let status = machine::in_machine(m, "root", "/", text)?;
        anyhow::ensure!(status == 0, "user data script exited with {status}");
    }
    Ok(())
}

pub(super) fn names_or_all(
    locked: &state::Locked,
    flags: &Flags,
    pos: &[String],
) -> Result<Vec<String>, i32> {
    if flags.on("all") {
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
