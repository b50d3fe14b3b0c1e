//! Machine images: Debian root file systems made once with debootstrap and shared, read
//! only, by every machine (as the lower layer of its overlay) and every state home.

use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};

/// Packages every image has beyond debootstrap's minimal base: what OrbStack's images
/// give a user (sudo, ps, ip, ping, curl) and what the network tests use (busybox httpd
/// and wget, nc).
pub const PACKAGES: &str =
    "sudo,procps,iproute2,iputils-ping,busybox,ca-certificates,curl,netcat-openbsd,less";

/// Debian versions orbsim can build, by codename.
pub const BUILDABLE: &[&str] = &["bookworm", "trixie"];

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
    let out = Command::new("debootstrap")
        .args([
            "--variant=minbase",
            &format!("--include={PACKAGES}"),
            &format!("--arch={arch}"),
            version,
        ])
        .arg(&tmp)
        .arg(mirror())
        .output()
        .context("running debootstrap")?;
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

/// Find a program on PATH.
pub fn which(program: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/sbin"].iter().map(PathBuf::from))
        .map(|d| d.join(program))
        .find(|p| p.is_file())
}
