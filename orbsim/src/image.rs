//! Machine images: Debian root file systems made once with debootstrap and shared, read
//! only, by every machine (as the lower layer of its overlay) and every state home.
//!
//! Only Debian packages are reachable where orbsim runs, so every other distro (and a
//! Debian suite that cannot be debootstrapped, such as the archived buster) is a
//! *stand-in*: the machine runs on the Debian root of [`STAND_IN_SUITE`] while `list` and
//! `info` report the distro and version asked for. `/etc/orbsim-image` in every machine
//! says which it is; `/etc/os-release` stays Debian's, because tools read it to choose a
//! package manager and apt is what works.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Packages every image has beyond debootstrap's minimal base: what OrbStack's images
/// give a user (sudo, ps, ip, ping, curl) and what the network tests use (busybox httpd
/// and wget, nc).
pub const PACKAGES: &str =
    "sudo,procps,iproute2,iputils-ping,busybox,ca-certificates,curl,netcat-openbsd,less";

/// The Debian suite stand-ins run on (the one orbdeploy's tests and most CI caches have).
pub const STAND_IN_SUITE: &str = "bookworm";

/// Where debootstrap keeps its suite scripts; a suite newer than the host's debootstrap
/// (forky on a bookworm host) is built with the `sid` script, which every later suite shares.
const SCRIPTS: &str = "/usr/share/debootstrap/scripts";

/// `ORBSIM_IMAGES_STRICT=1`: only real Debian roots, as before stand-ins existed.
pub fn strict() -> bool {
    std::env::var("ORBSIM_IMAGES_STRICT").is_ok_and(|v| !v.is_empty() && v != "0")
}

/// The Debian mirror debootstrap uses (`ORBSIM_MIRROR` overrides).
fn mirror() -> String {
    std::env::var("ORBSIM_MIRROR").unwrap_or_else(|_| "http://deb.debian.org/debian".to_string())
}

/// The host's architecture in Debian's words.
pub fn host_arch() -> &'static str {
    match std::env::consts::ARCH {
        "x86_64" => "amd64",
        "aarch64" => "arm64",
        "x86" => "i386",
        other => other,
    }
}

/// The image directory for a version and arch, building it first if needed. Concurrent
/// callers wait on a lock and build it once; a half-built image is never used (it is
/// built under a temporary name and renamed when complete).
pub fn ensure(images: &Path, version: &str, arch: &str) -> Result<PathBuf> {
    let name = format!("debian-{version}-{arch}");
    let dir = images.join(&name);
    if dir.join("etc/debian_version").exists() {
        return Ok(dir);
    }
    std::fs::create_dir_all(images).with_context(|| format!("creating {}", images.display()))?;
    let _lock = crate::state::flock_file(&images.join(format!(".lock-{name}")))?;
    if dir.join("etc/debian_version").exists() {
        return Ok(dir);
    }
    if which("debootstrap").is_none() {
        bail!("orbsim needs debootstrap to build its Debian image: install it with `apt-get install debootstrap`");
    }
    let tmp = images.join(format!(".tmp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!("orbsim: building the {name} image with debootstrap (once; a few minutes)");
    let mut cmd = Command::new("debootstrap");
    cmd.args([
        "--variant=minbase",
        &format!("--include={PACKAGES}"),
        &format!("--arch={arch}"),
        version,
    ])
    .arg(&tmp)
    .arg(mirror());
    if !Path::new(SCRIPTS).join(version).exists() && Path::new(SCRIPTS).join("sid").exists() {
        cmd.arg(Path::new(SCRIPTS).join("sid"));
    }
    let out = cmd.output().context("running debootstrap")?;
    if !out.status.success() {
        let _ = std::fs::remove_dir_all(&tmp);
        let log = String::from_utf8_lossy(&out.stdout);
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        bail!(
            "debootstrap of {name} failed ({}): {}",
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    }
    finish(&tmp)?;
    std::fs::rename(&tmp, &dir).with_context(|| format!("installing image {}", dir.display()))?;
    Ok(dir)
}

/// Settle an image after debootstrap: no apt caches, an empty hostname (each machine sets
/// its own), and a marker saying what made it.
fn finish(root: &Path) -> Result<()> {
    let _ = std::fs::remove_dir_all(root.join("var/cache/apt/archives"));
    std::fs::create_dir_all(root.join("var/cache/apt/archives/partial"))?;
    std::fs::write(root.join("etc/hostname"), "")?;
    std::fs::create_dir_all(root.join("mnt/mac"))?;
    std::fs::write(
        root.join("etc/orbsim-image"),
        "made by orbsim with debootstrap\n",
    )?;
    Ok(())
}

/// The root a new machine runs on: its Debian suite, and whether it is a stand-in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Root {
    /// Debian suite of the lower layer.
    pub suite: String,
    /// True when the machine is not the distro and version it reports.
    pub stand_in: bool,
    /// The flavour's extra packages (`ORBSIM_PACKAGES`); filled in by create.
    pub packages: Vec<String>,
}

/// Build (or find) the root for `distro` (an image name) at `version`. A Debian suite is
/// debootstrapped; when that fails, or for any other distro, the machine is served from
/// [`STAND_IN_SUITE`] — unless [`strict`], where the caller refuses other distros and a
/// failed debootstrap is an error.
pub fn root_for(images: &Path, distro: &str, version: &str, arch: &str) -> Result<Root> {
    if distro == "debian" {
        match ensure(images, version, arch) {
            Ok(_) => {
                return Ok(Root {
                    suite: version.to_string(),
                    stand_in: false,
                    packages: Vec::new(),
                })
            }
            Err(e) if strict() => return Err(e),
            Err(e) => eprintln!(
                "orbsim: debian {version} cannot be debootstrapped here ({e:#}); the machine \
                 runs on the debian {STAND_IN_SUITE} root instead (see /etc/orbsim-image)"
            ),
        }
    }
    ensure(images, STAND_IN_SUITE, arch)?;
    Ok(Root {
        suite: STAND_IN_SUITE.to_string(),
        stand_in: true,
        packages: Vec::new(),
    })
}

/// The text of a machine's `/etc/orbsim-image`: the one place that says what its root
/// really is. `key=value` lines, so a test or a user can `grep stand_in= /etc/orbsim-image`.
/// `packages=` is there only for a flavour (`ORBSIM_PACKAGES` at create).
pub fn marker(distro: &str, version: &str, arch: &str, suite: &str, packages: &[String]) -> String {
    let stand_in = distro != "debian" || version != suite;
    let mut text = format!(
        "# Written by orbsim at every start: what this machine's root file system is.\n\
         distro={distro}\nversion={version}\narch={arch}\n\
         root=debian-{suite}-{arch}\nstand_in={}\n",
        if stand_in { "yes" } else { "no" }
    );
    if !packages.is_empty() {
        text.push_str(&format!("packages={}\n", packages.join(",")));
    }
    text
}

/// The extra packages asked for with `ORBSIM_PACKAGES` (comma-separated Debian package
/// names), sorted and without duplicates: the key of an image flavour. Empty when unset.
pub fn packages_from_env() -> Result<Vec<String>> {
    let raw = std::env::var("ORBSIM_PACKAGES").unwrap_or_default();
    let mut names: Vec<String> = raw
        .split(',')
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(str::to_string)
        .collect();
    for n in &names {
        // Debian policy §5.6.1: lower case letters, digits, `+ - .`, starting alphanumeric.
        let ok = n.len() >= 2
            && n.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && n.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "+-.".contains(c));
        if !ok {
            bail!("ORBSIM_PACKAGES: `{n}` is not a Debian package name");
        }
    }
    names.sort();
    names.dedup();
    Ok(names)
}

/// The image directory of a flavour: the Debian root of `version` plus `packages`
/// (sorted, as [`packages_from_env`] gives them), built once from a copy of the base
/// image with apt-get and cached next to it. No packages: the base image itself.
///
/// The flavour ships no sshd host keys (openssh-server's install makes some; they are
/// removed): every machine makes its own at boot (`ssh_host_keys_script`), so two machines
/// never share a host key.
pub fn ensure_flavour(
    images: &Path,
    version: &str,
    arch: &str,
    packages: &[String],
) -> Result<PathBuf> {
    let base = ensure(images, version, arch)?;
    if packages.is_empty() {
        return Ok(base);
    }
    let name = flavour_name(version, arch, packages);
    let dir = images.join(&name);
    if dir.join(FLAVOUR_MARK).exists() {
        return Ok(dir);
    }
    let _lock = crate::state::flock_file(&images.join(format!(".lock-{name}")))?;
    if dir.join(FLAVOUR_MARK).exists() {
        return Ok(dir);
    }
    let tmp = images.join(format!(".tmp-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    eprintln!("orbsim: building the {name} image (once; apt-get on a copy of the base image)");
    let built = build_flavour(&base, &tmp, packages);
    if let Err(e) = built {
        let _ = std::fs::remove_dir_all(&tmp);
        return Err(e);
    }
    std::fs::rename(&tmp, &dir).with_context(|| format!("installing image {}", dir.display()))?;
    Ok(dir)
}

/// The file a complete flavour image holds: its package list, one a line.
const FLAVOUR_MARK: &str = "etc/orbsim-packages";

/// `debian-bookworm-amd64+openssh-server_python3` (`_` is in no package name; a comma
/// would split the overlay's `lowerdir=` option); a long package set is shortened to a hash
/// of it so the name stays a valid file name.
fn flavour_name(version: &str, arch: &str, packages: &[String]) -> String {
    let joined = packages.join("_");
    let key = if joined.len() <= 120 {
        joined
    } else {
        format!("set-{}", crate::net::short_hash(&joined))
    };
    format!("debian-{version}-{arch}+{key}")
}

/// Copy `base` to `tmp` and install `packages` there with apt-get, in a chroot with its
/// own `/proc` (a private mount namespace, so nothing stays mounted on the host) and a
/// `policy-rc.d` that keeps packages from starting services. Then settle it: no host keys,
/// no apt caches, the package list as the marker.
fn build_flavour(base: &Path, tmp: &Path, packages: &[String]) -> Result<()> {
    let status = Command::new("cp")
        .args(["-a", "--reflink=auto"])
        .arg(base)
        .arg(tmp)
        .status()
        .context("copying the base image")?;
    if !status.success() {
        bail!("copying {} failed ({status})", base.display());
    }
    let policy = tmp.join("usr/sbin/policy-rc.d");
    std::fs::write(&policy, "#!/bin/sh\nexit 101\n")?;
    std::fs::set_permissions(&policy, std::os::unix::fs::PermissionsExt::from_mode(0o755))?;
    let install = format!(
        "apt-get update -qq && apt-get install -y -qq --no-install-recommends {}",
        packages.join(" ")
    );
    let root = tmp.to_str().context("image path is not UTF-8")?;
    let script = format!(
        "mount -t proc proc {r}/proc && chroot {r} /usr/bin/env -i \
         PATH=/usr/sbin:/usr/bin:/sbin:/bin DEBIAN_FRONTEND=noninteractive sh -c {i}",
        r = crate::quote::quote(root),
        i = crate::quote::quote(&install),
    );
    let out = Command::new("unshare")
        .args(["--mount", "--propagation", "private", "--fork", "sh", "-c"])
        .arg(&script)
        .output()
        .context("running apt-get in the image (needs unshare from util-linux)")?;
    if !out.status.success() {
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let tail: Vec<&str> = log.lines().rev().take(5).collect();
        bail!(
            "installing {} failed ({}): {}",
            packages.join(" "),
            out.status,
            tail.into_iter().rev().collect::<Vec<_>>().join(" | ")
        );
    }
    std::fs::remove_file(&policy)?;
    if let Ok(entries) = std::fs::read_dir(tmp.join("etc/ssh")) {
        for e in entries.flatten() {
            if e.file_name().to_string_lossy().starts_with("ssh_host_") {
                std::fs::remove_file(e.path())?;
            }
        }
    }
    finish(tmp)?;
    std::fs::write(tmp.join(FLAVOUR_MARK), packages.join("\n") + "\n")?;
    Ok(())
}

/// The root script that gives a machine its own sshd host keys when its image has
/// openssh-server and the machine has none yet (`ssh-keygen -A` makes only the missing
/// ones). None when there is nothing to do, read through the running init's root.
/// sshd's privilege separation directory `/run/sshd` is made too (`/run` is a fresh tmpfs
/// at every start), from the host side through the init's root.
pub fn ssh_host_keys_script(init_pid: i32) -> Option<&'static str> {
    let root = PathBuf::from(format!("/proc/{init_pid}/root"));
    let has_sshd = root.join("usr/sbin/sshd").exists() && root.join("usr/bin/ssh-keygen").exists();
    if has_sshd {
        // Mode 0755 from the umask; sshd refuses a group- or world-writable one.
        let _ = std::fs::create_dir_all(root.join("run/sshd"));
    }
    let has_keys = root.join("etc/ssh/ssh_host_ed25519_key").exists();
    (has_sshd && !has_keys)
        .then_some("exec >>/var/log/orbsim-setup.log 2>&1\nset -e\nssh-keygen -A\n")
}

/// Find a program on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].iter().map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
