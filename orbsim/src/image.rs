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
    })
}

/// The text of a machine's `/etc/orbsim-image`: the one place that says what its root
/// really is. `key=value` lines, so a test or a user can `grep stand_in= /etc/orbsim-image`.
pub fn marker(distro: &str, version: &str, arch: &str, suite: &str) -> String {
    let stand_in = distro != "debian" || version != suite;
    format!(
        "# Written by orbsim at every start: what this machine's root file system is.\n\
         distro={distro}\nversion={version}\narch={arch}\n\
         root=debian-{suite}-{arch}\nstand_in={}\n",
        if stand_in { "yes" } else { "no" }
    )
}

/// Find a program on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].iter().map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
