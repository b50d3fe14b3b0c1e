//! The state home: machines, the default machine and counters, in one JSON file guarded by
//! an flock'ed lock file and written by temp file + rename, so that many orbsim processes
//! at once never corrupt it and a crash never leaves half a file.

use std::fs::File;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

/// The image a machine was made from (`list -f json` shape).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Image {
    /// Image name (`debian`).
    pub distro: String,
    /// Codename (`bookworm`).
    pub version: String,
    /// `amd64`, `arm64`.
    pub arch: String,
    /// `default` or `cloud`.
    pub variant: String,
}

/// Per-machine configuration (`list -f json` shape of v2.1+, docs/orbctl.md §3.2: `http_port`
/// and `https_port` are left out, their values being unknown).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Config {
    /// No host file system under `/mnt/mac`, no route to the host (`--isolated`).
    pub isolated: bool,
    /// The user `run` uses without `-u`.
    pub default_username: String,
    /// `SSH_AUTH_SOCK` reaches the caller's agent (`--forward-ssh-agent`).
    #[serde(default)]
    pub forward_ssh_agent: bool,
    /// No route to the host or other machines (`--isolate-network`).
    #[serde(default)]
    pub isolate_network: bool,
    /// Host directories bound into the machine (`--mount SRC[:DEST]`); omitted when empty,
    /// as OrbStack's optional `mounts`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub mounts: Vec<Mount>,
}

/// One `--mount SRC[:DEST]`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Mount {
    /// Host path.
    pub source: String,
    /// Path in the machine.
    pub destination: String,
}

/// Resource limits (docs/orbctl.md §11.2). Kept in the state only: whether `list`/`info` carry
/// them is not known, so they are read with `config get machine.NAME.KEY`.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct Limits {
    /// CPU cores (`cpu.max` / `cpu.cfs_quota_us`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu: Option<u32>,
    /// Memory in MiB (`memory.max` / `memory.limit_in_bytes`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_mib: Option<u64>,
    /// Disk size in bytes (recorded, not enforced).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub disk_bytes: Option<u64>,
}

/// A machine as stored.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Machine {
    /// ULID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Image.
    pub image: Image,
    /// Configuration.
    pub config: Config,
    /// Host pid of the machine's init while it runs.
    #[serde(default)]
    pub init_pid: Option<i32>,
    /// Start time of that pid (clock ticks since boot), so a recycled pid is not mistaken
    /// for the machine.
    #[serde(default)]
    pub init_start: Option<u64>,
    /// IPv4 address while running.
    #[serde(default)]
    pub ip4: Option<String>,
    /// Uid of the default user.
    #[serde(default)]
    pub uid: u32,
    /// The Debian suite of the root file system under the overlay (empty: the image's
    /// version, as for machines made before stand-ins existed).
    #[serde(default)]
    pub root: String,
    /// Extra Debian packages of its image flavour (`ORBSIM_PACKAGES` at create), sorted;
    /// empty for the base image.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub packages: Vec<String>,
    /// Resource limits.
    #[serde(default)]
    pub limits: Limits,
    /// The machine's cgroups while it runs (host paths), joined by every session.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub cgroups: Vec<String>,
    /// The default user was changed while stopped: create it at the next start.
    #[serde(default)]
    pub user_pending: bool,
}

impl Machine {
    /// True while the init process lives.
    pub fn is_running(&self) -> bool {
        match (self.init_pid, self.init_start) {
            (Some(pid), Some(start)) => process_start_time(pid) == Some(start),
            _ => false,
        }
    }

    /// `running` or `stopped` (a crashed init is `stopped`).
    pub fn state(&self) -> &'static str {
        if self.is_running() {
            "running"
        } else {
            "stopped"
        }
    }

    /// The Debian suite under the machine's overlay.
    pub fn root_suite(&self) -> &str {
        if self.root.is_empty() {
            &self.image.version
        } else {
            &self.root
        }
    }

    /// The machine's directory under the state home.
    pub fn dir(&self, home: &Path) -> PathBuf {
        home.join("machines").join(&self.id)
    }

    /// The record as `list -f json` prints it.
    pub fn to_json(&self) -> serde_json::Value {
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "image": self.image,
            "config": self.config,
            "builtin": false,
            "state": self.state(),
        })
    }
}

/// Start time (field 22 of /proc/PID/stat) of a live, non-zombie process.
pub fn process_start_time(pid: i32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let rest = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    if fields.first() == Some(&"Z") {
        return None;
    }
    fields.get(19)?.parse().ok()
}

/// Everything in the state file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct State {
    /// Machines, sorted by name.
    pub machines: Vec<Machine>,
    /// The default machine's id.
    pub default_id: Option<String>,
    /// How many `run`s this home has seen (for `run-fail-after`).
    #[serde(default)]
    pub run_calls: u64,
    /// How many creates the `create-error` fault has failed (for `create-error-times`).
    #[serde(default)]
    pub create_errors: u64,
    /// Global `config set` values (key → value as `config show` prints it).
    #[serde(default)]
    pub config: std::collections::BTreeMap<String, String>,
}

impl State {
    /// Find a machine by id first, then by name (as OrbStack's server does).
    pub fn find(&self, key: &str) -> Option<&Machine> {
        self.machines
            .iter()
            .find(|m| m.id == key)
            .or_else(|| self.machines.iter().find(|m| m.name == key))
    }

    /// Mutable [`State::find`].
    pub fn find_mut(&mut self, key: &str) -> Option<&mut Machine> {
        let idx = self
            .machines
            .iter()
            .position(|m| m.id == key)
            .or_else(|| self.machines.iter().position(|m| m.name == key))?;
        self.machines.get_mut(idx)
    }

    /// The default machine, if any.
    pub fn default_machine(&self) -> Option<&Machine> {
        let id = self.default_id.as_ref()?;
        self.machines.iter().find(|m| &m.id == id)
    }
}

/// An exclusive hold on a state home; the state is saved explicitly.
pub struct Locked {
    _lock: nix::fcntl::Flock<File>,
    home: PathBuf,
    /// The state as read under the lock.
    pub state: State,
    /// The running machines when the lock was taken, to see whether `NAME.orb.local`
    /// entries must be rewritten when the state is saved.
    running_before: Vec<(String, String, i32)>,
}

impl Locked {
    /// Write the state (temp file + rename).
    pub fn save(&mut self) -> Result<()> {
        self.state.machines.sort_by(|a, b| a.name.cmp(&b.name));
        let path = self.home.join("state.json");
        let tmp = self
            .home
            .join(format!(".state.json.{}", std::process::id()));
        let text = serde_json::to_vec_pretty(&self.state)?;
        std::fs::write(&tmp, text).with_context(|| format!("writing {}", tmp.display()))?;
        std::fs::rename(&tmp, &path).with_context(|| format!("replacing {}", path.display()))?;
        let running = crate::hosts::running(&self.state);
        if running != self.running_before {
            crate::hosts::refresh(&running);
            self.running_before = running;
        }
        Ok(())
    }

    /// The state home.
    pub fn home(&self) -> &Path {
        &self.home
    }
}

/// Lock the state home (waiting for other orbsim processes) and read the state.
pub fn lock(home: &Path) -> Result<Locked> {
    std::fs::create_dir_all(home).with_context(|| format!("creating {}", home.display()))?;
    let lock = flock_file(&home.join("lock"))?;
    let path = home.join("state.json");
    let state = match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .with_context(|| format!("{} is damaged", path.display()))?,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => State::default(),
        Err(e) => return Err(e).with_context(|| format!("reading {}", path.display())),
    };
    Ok(Locked {
        _lock: lock,
        home: home.to_path_buf(),
        running_before: crate::hosts::running(&state),
        state,
    })
}

/// Open (creating) and exclusively lock a file; the lock ends when the value is dropped.
pub fn flock_file(path: &Path) -> Result<nix::fcntl::Flock<File>> {
    let f = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(path)
        .with_context(|| format!("opening lock {}", path.display()))?;
    nix::fcntl::Flock::lock(f, nix::fcntl::FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("locking {}: {e}", path.display()))
}
