//! Machine settings (OrbStack 2.1/2.2, docs/orbctl.md §11.2): CPU, memory, disk, isolation,
//! mounts, the ssh agent and cloud-init, merged from defaults to groups (in the order a
//! machine lists them) to the machine, each value with the layer it came from
//! ([`super::layers`]), and checked when the inventory is loaded: units, ranges, files and
//! directories that must exist.

use std::path::{Path, PathBuf};

use super::layers::{self, set, Sourced};
use crate::error::ConfigError;
use crate::load::inventory::RawSettings;
use crate::yaml::Spanned;

/// A setting's value and the layer it came from (`defaults`, `group web`, `machine web-1`).
pub type Setting<T> = Sourced<T>;

/// A bind mount: a directory (or file) of this computer, seen inside the machine.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Mount {
    /// The absolute local path.
    pub src: PathBuf,
    /// Where the machine sees it (`None`: orbctl's default, the same path).
    pub dest: Option<String>,
}

impl Mount {
    /// `SRC[:DEST]` as `create --mount` and `machine.NAME.mounts` take it.
    pub fn arg(&self) -> String {
        match &self.dest {
            Some(d) => format!("{}:{d}", self.src.display()),
            None => self.src.display().to_string(),
        }
    }
}

/// The settings the inventory declares for one machine; `None` = not declared (orbctl's
/// default at creation, left alone afterwards).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Settings {
    /// CPU cores.
    pub cpus: Option<Setting<u64>>,
    /// Memory in MiB.
    pub memory_mib: Option<Setting<u64>>,
    /// Disk size in bytes.
    pub disk_bytes: Option<Setting<u64>>,
    /// No access to the Mac's files.
    pub isolated: Option<Setting<bool>>,
    /// Bind mounts.
    pub mounts: Option<Setting<Vec<Mount>>>,
    /// No route to the Mac or other machines.
    pub isolate_network: Option<Setting<bool>>,
    /// The Mac's ssh agent inside the machine.
    pub forward_ssh_agent: Option<Setting<bool>>,
    /// cloud-init user data for `create -c`.
    pub cloud_init: Option<Setting<PathBuf>>,
    /// Restart the machine when a changed setting needs it.
    pub restart_for_settings: bool,
}

impl Settings {
    /// True when the inventory declares any setting orbdeploy reconciles after creation.
    pub fn any(&self) -> bool {
        self.cpus.is_some()
            || self.memory_mib.is_some()
            || self.disk_bytes.is_some()
            || self.isolated.is_some()
            || self.mounts.is_some()
            || self.isolate_network.is_some()
            || self.forward_ssh_agent.is_some()
    }
}

/// Limits of our own, to catch typos (`cpus: 40000`); OrbStack's own limits depend on the
/// Mac, and orbctl has the last word.
const MAX_CPUS: u64 = 1024;
const MIN_MEMORY_MIB: u64 = 128;
const MIN_DISK_BYTES: u64 = 1 << 30;

/// The settings one layer writes, and where (file and directory for relative paths).
pub struct Block<'a> {
    /// The inventory file, for positions.
    pub file: &'a Path,
    /// Relative mount sources and cloud-init files are relative to this directory.
    pub dir: &'a Path,
    /// The settings as written.
    pub raw: RawSettings,
}

/// One layer of a machine's settings (`defaults`, `group NAME` or `machine NAME`).
pub type Layer<'a> = layers::Layer<Block<'a>>;

/// Merge `layers` (lowest precedence first), checking every value written.
pub fn resolve(layers: &[Layer<'_>]) -> Result<Settings, ConfigError> {
    layers::merge(layers, apply_layer)
}

fn apply_layer(out: &mut Settings, layer: &Layer<'_>) -> Result<(), ConfigError> {
    let r = &layer.body.raw;
    let src = &layer.source;
    if let Some(c) = &r.cpus {
        if c.value == 0 || c.value > MAX_CPUS {
            return Err(layer.at(
                c,
                format!("cpus must be from 1 to {MAX_CPUS}, not {}", c.value),
            ));
        }
        set(&mut out.cpus, c.value, src);
    }
    if let Some(m) = &r.memory {
        let bytes = size(m, "memory").map_err(|e| layer.at(m, e))?;
        if bytes < MIN_MEMORY_MIB << 20 {
            return Err(layer.at(
                m,
                format!("memory `{}` is below {MIN_MEMORY_MIB}M", m.value),
            ));
        }
        set(&mut out.memory_mib, bytes >> 20, src);
    }
    if let Some(d) = &r.disk {
        let bytes = size(d, "disk").map_err(|e| layer.at(d, e))?;
        if bytes < MIN_DISK_BYTES {
            return Err(layer.at(d, format!("disk `{}` is below 1G", d.value)));
        }
        set(&mut out.disk_bytes, bytes, src);
    }
    let flag = |b: &Option<Spanned<bool>>, slot: &mut Option<Setting<bool>>| {
        if let Some(b) = b {
            set(slot, b.value, src);
        }
    };
    flag(&r.isolated, &mut out.isolated);
    flag(&r.isolate_network, &mut out.isolate_network);
    flag(&r.forward_ssh_agent, &mut out.forward_ssh_agent);
    if let Some(b) = &r.restart_for_settings {
        out.restart_for_settings = b.value;
    }
    if let Some(list) = &r.mounts {
        let mounts = list
            .value
            .iter()
            .map(|m| mount(layer, m))
            .collect::<Result<Vec<_>, _>>()?;
        set(&mut out.mounts, mounts, src);
    }
    if let Some(c) = &r.cloud_init {
        let path = local_path(layer.body.dir, &c.value);
        if !path.is_file() {
            return Err(layer.at(c, format!("cloud_init: {} is not a file", path.display())));
        }
        set(&mut out.cloud_init, path, src);
    }
    Ok(())
}

impl Layer<'_> {
    /// An error at the position of `s` in this layer's file.
    fn at<T>(&self, s: &Spanned<T>, msg: String) -> ConfigError {
        ConfigError::at(
            self.body.file,
            s.referenced.line(),
            s.referenced.column(),
            msg,
        )
    }
}

/// `SRC[:DEST]`: SRC exists on this computer (relative to the inventory), DEST is absolute.
fn mount(layer: &Layer<'_>, m: &Spanned<String>) -> Result<Mount, ConfigError> {
    let at = |msg: String| layer.at(m, msg);
    let (src, dest) = match m.value.split_once(':') {
        Some((s, d)) => (s, Some(d)),
        None => (m.value.as_str(), None),
    };
    if src.is_empty() {
        return Err(at(format!(
            "mount `{}` has no source: expected SRC[:DEST]",
            m.value
        )));
    }
    if let Some(d) = dest {
        if !d.starts_with('/') || d.contains(':') || d.contains(',') {
            return Err(at(format!(
                "mount `{}`: DEST must be an absolute path without `:` or `,`",
                m.value
            )));
        }
    }
    let path = local_path(layer.body.dir, src);
    if !path.exists() {
        return Err(at(format!(
            "mount `{}`: {} does not exist",
            m.value,
            path.display()
        )));
    }
    if path.to_string_lossy().contains(',') {
        return Err(at(format!(
            "mount `{}`: a source path cannot contain `,`",
            m.value
        )));
    }
    // orbctl resolves relative paths against its own working directory; ours is the
    // inventory's, so pass an absolute path.
    let src = std::fs::canonicalize(&path).unwrap_or(path);
    Ok(Mount {
        src,
        dest: dest.map(str::to_string),
    })
}

fn local_path(dir: &Path, p: &str) -> PathBuf {
    let p = Path::new(p);
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        dir.join(p)
    }
}

/// A size such as `4G`, `512M` or `1T` in bytes; the units are binary (1G = 1024M), which is
/// how OrbStack's `memory_mib` and the Mac's disk sizes count (\[GUESS\], docs/orbctl.md §11.2).
pub fn parse_size(text: &str) -> Option<u64> {
    let t = text.trim();
    let split = t.find(|c: char| !c.is_ascii_digit())?;
    let (num, unit) = t.split_at(split);
    let n: u64 = num.parse().ok()?;
    let shift = match unit {
        "M" | "MiB" => 20,
        "G" | "GiB" => 30,
        "T" | "TiB" => 40,
        _ => return None,
    };
    n.checked_mul(1u64 << shift)
}

fn size(s: &Spanned<String>, what: &str) -> Result<u64, String> {
    parse_size(&s.value).ok_or_else(|| {
        format!(
            "invalid {what} `{}`: expected a whole number with a unit M, G or T, such as \"512M\" or \"4G\"",
            s.value
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_are_binary_with_a_unit() {
        assert_eq!(parse_size("4G"), Some(4 << 30));
        assert_eq!(parse_size("512M"), Some(512 << 20));
        assert_eq!(parse_size("1TiB"), Some(1 << 40));
        for bad in ["4", "4g", "4 G", "G", "-1G", "1.5G", "99999999999999999T"] {
            assert_eq!(parse_size(bad), None, "{bad}");
        }
    }
}
