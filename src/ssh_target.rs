//! How an ssh machine is reached: the settings of its `ssh:` block, merged from defaults to
//! groups to the machine (the loader does the merge and the checks; the ssh transport in
//! `remote/` turns this into `ssh` argv). A leaf: it names no other module of the crate, so
//! the loader, the inventory and the transport can all read it without an import circle.

use std::path::PathBuf;
use std::time::Duration;

/// What `ssh` does with a host key it does not know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum HostKeyPolicy {
    /// `StrictHostKeyChecking=yes`: only keys already in known_hosts (the default).
    #[default]
    Strict,
    /// `StrictHostKeyChecking=accept-new`: a new host's key is recorded, a changed one is
    /// refused. There is deliberately no "off".
    AcceptNew,
}

/// A machine reached with the system OpenSSH client, every key resolved.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SshTarget {
    /// Address or name (a `Host` of `~/.ssh/config` works too).
    pub host: String,
    /// Port; `None` leaves it to ssh (and its config).
    pub port: Option<u16>,
    /// Login user; `None` leaves it to ssh (and its config).
    pub user: Option<String>,
    /// Private key file (`-i`, with `IdentitiesOnly=yes`), `~` already expanded.
    pub identity: Option<PathBuf>,
    /// `ProxyJump` host(s), as ssh spells them.
    pub jump: Option<String>,
    /// An ssh config file (`-F`), `~` already expanded.
    pub config: Option<PathBuf>,
    /// Known-hosts policy.
    pub host_key: HostKeyPolicy,
    /// `ConnectTimeout`; `None` is the transport's default.
    pub connect_timeout: Option<Duration>,
    /// Extra `-o KEY=VALUE` pairs, in order, already checked against the deny-list.
    pub options: Vec<(String, String)>,
    /// Keep the master this long after the run (`persist:`, `--persist`), in the user's
    /// control directory, for later runs to reuse; `None`: the master ends with the run.
    pub persist: Option<Duration>,
}

/// What an ssh machine reports about itself on its first request (`/etc/os-release`,
/// `uname -m`, the address it was reached at); OrbStack machines get theirs from orbctl.
/// The transport makes it, `Inventory::attach_facts` (inventory.rs) takes it, and the
/// built-in variables and `inventory --explain` show it from then on.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct HostFacts {
    /// `ID` of `/etc/os-release`, e.g. `debian`.
    pub distro: String,
    /// `VERSION_CODENAME` (or `VERSION_ID`) of `/etc/os-release`, as orbctl reports versions.
    pub version: String,
    /// `uname -m` in orbctl's words (`amd64`, `arm64`).
    pub arch: String,
    /// The address the host was reached at, when known.
    pub ip4: Option<String>,
}
