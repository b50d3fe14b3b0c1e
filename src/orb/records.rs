//! Typed records of `orbctl list -f json` and `orbctl info -f json`.
//!
//! Parsing is lenient where orbctl versions differ (docs/orbctl.md §3.2–§3.3): unknown keys are
//! ignored, missing keys take defaults, and `info` is accepted both with the `record`
//! wrapper (v1.10+) and as a bare record (older builds).

use serde::{Deserialize, Serialize};

/// The image a machine was made from.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Image {
    /// Image name, e.g. `debian`, `ubuntu`, `archlinux`.
    pub distro: String,
    /// Stored version, usually a codename (`bookworm`).
    pub version: String,
    /// `arm64`, `amd64`, ...
    pub arch: String,
    /// `default`, `cloud` or `openrc`.
    pub variant: String,
}

/// Per-machine configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct MachineConfig {
    /// Isolated machines (v2.1+) have no /mnt/mac.
    pub isolated: bool,
    /// The user `orbctl run` uses when `-u` is not given.
    pub default_username: String,
}

/// One machine as orbctl reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
pub struct Machine {
    /// 26-character ULID.
    pub id: String,
    /// Machine name.
    pub name: String,
    /// The image it was made from.
    pub image: Image,
    /// Its configuration.
    pub config: MachineConfig,
    /// Builtin machines (docker) are never listed.
    pub builtin: bool,
    /// `running`, `stopped`, `starting`, `stopping`, `creating`, `deleting` (or `provisioning`).
    pub state: String,
    /// IPv4 address, only known from `info` of a running machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ip4: Option<String>,
}

impl Machine {
    /// True when the machine is running.
    pub fn is_running(&self) -> bool {
        self.state == "running"
    }
}

/// Parse `orbctl list -f json`: a JSON array of records (`[]` when empty).
pub fn parse_list(json: &[u8]) -> Result<Vec<Machine>, serde_json::Error> {
    let mut machines: Vec<Machine> = serde_json::from_slice(json)?;
    machines.retain(|m| !m.builtin);
    Ok(machines)
}

#[derive(Deserialize)]
struct InfoWrapped {
    record: Machine,
    #[serde(default)]
    ip4: Option<String>,
}

/// Parse `orbctl info NAME -f json`, with or without the `record` wrapper.
pub fn parse_info(json: &[u8]) -> Result<Machine, serde_json::Error> {
    let value: serde_json::Value = serde_json::from_slice(json)?;
    if value.get("record").is_some() {
        let wrapped: InfoWrapped = serde_json::from_value(value)?;
        let mut machine = wrapped.record;
        machine.ip4 = wrapped.ip4.filter(|ip| !ip.is_empty());
        Ok(machine)
    } else {
        serde_json::from_value(value)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RECORD: &str = r#"{
      "id": "01K2G8TY5GM9C3CN95KCB4ZG8B",
      "name": "ubuntu",
      "image": { "distro": "ubuntu", "version": "noble", "arch": "arm64", "variant": "default" },
      "config": { "isolated": false, "default_username": "alice", "future_key": 1 },
      "builtin": false,
      "state": "running",
      "unknown": true
    }"#;

    #[test]
    fn list_parses_records_and_ignores_unknown_keys() {
        let list = parse_list(format!("[{RECORD}]").as_bytes()).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].name, "ubuntu");
        assert_eq!(list[0].image.version, "noble");
        assert_eq!(list[0].config.default_username, "alice");
        assert!(list[0].is_running());
        assert_eq!(list[0].ip4, None);
    }

    #[test]
    fn empty_list_is_empty() {
        assert!(parse_list(b"[]\n").unwrap().is_empty());
    }

    #[test]
    fn info_accepts_the_record_wrapper_with_ip() {
        let json = format!(
            r#"{{"record": {RECORD}, "disk_size": null, "ip4": "198.19.249.76", "ip6": "fd07::1"}}"#
        );
        let m = parse_info(json.as_bytes()).unwrap();
        assert_eq!(m.name, "ubuntu");
        assert_eq!(m.ip4.as_deref(), Some("198.19.249.76"));
    }

    #[test]
    fn info_accepts_a_bare_record() {
        let m = parse_info(RECORD.as_bytes()).unwrap();
        assert_eq!(m.id, "01K2G8TY5GM9C3CN95KCB4ZG8B");
        assert_eq!(m.ip4, None);
    }

    #[test]
    fn missing_keys_default() {
        let m = parse_info(br#"{"name":"x","state":"stopped"}"#).unwrap();
        assert_eq!(m.image, Image::default());
        assert!(!m.is_running());
    }
}
