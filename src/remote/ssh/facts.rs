//! The host's facts, read by the first request on an ssh connection: distro, version and
//! architecture (`/etc/os-release`, `uname -m`), the address the host was reached at (the
//! server side of `$SSH_CONNECTION`) and the login user. They are named as OrbStack names
//! them, so `when: distro == 'debian'` reads the same on both kinds of machine.

use std::time::Duration;

use crate::remote::{Exec, HostReport};
use crate::ssh_target::{HostFacts, SshTarget};

/// The script: `key=value` lines. It runs in a subshell of the agent (`isolate`), so the
/// variables os-release defines (`NAME`, `VERSION`…) never reach a later request.
pub fn facts_script() -> &'static str {
    concat!(
        "if [ -r /etc/os-release ]; then . /etc/os-release; elif [ -r /usr/lib/os-release ]; then . /usr/lib/os-release; fi\n",
        "printf 'id=%s\\nversion_id=%s\\ncodename=%s\\n' \"${ID:-}\" \"${VERSION_ID:-}\" \"${VERSION_CODENAME:-}\"\n",
        // A kernel with /proc/sys/kernel/arch (recent Linux) says the machine there, read
        // without a process (`uname -m` prints the same field); else `uname -m`.
        "read -r __od_m < /proc/sys/kernel/arch 2>/dev/null || __od_m=$(uname -m)\n",
        "printf 'machine=%s\\nuser=%s\\n' \"$__od_m\" \"$(id -un)\"\n",
        "set -- ${SSH_CONNECTION:-}\n",
        "printf 'addr=%s\\n' \"${3:-}\"\n",
    )
}

/// The request that reads them.
pub fn request() -> Exec {
    Exec {
        probe: true,
        isolate: true,
        timeout: Some(Duration::from_secs(60)),
        ..Exec::script(facts_script())
    }
}

/// The facts from the script's output. `distro` is os-release's `ID` (`opensuse-leap`
/// and `opensuse-tumbleweed` are `opensuse`, as OrbStack calls them), `version` its
/// `VERSION_CODENAME` when it has one (`bookworm`, `noble`, as OrbStack's versions are)
/// else `VERSION_ID`, `arch` `amd64`/`arm64` for `x86_64`/`aarch64` (else `uname -m` as
/// it is), `ip4` the address reached when it is an IPv4 one (else the inventory's host
/// when that is an IPv4 address).
pub fn parse_facts(text: &str, target: &SshTarget) -> HostReport {
    let get = |key: &str| {
        text.lines()
            .find_map(|l| l.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
            .unwrap_or_default()
            .trim()
            .to_string()
    };
    let id = get("id");
    let distro = if id.starts_with("opensuse") {
        "opensuse".to_string()
    } else {
        id
    };
    let codename = get("codename");
    let version = if codename.is_empty() {
        get("version_id")
    } else {
        codename
    };
    let arch = match get("machine").as_str() {
        "x86_64" => "amd64".to_string(),
        "aarch64" | "arm64" => "arm64".to_string(),
        other => other.to_string(),
    };
    let is_ip4 = |s: &str| s.parse::<std::net::Ipv4Addr>().is_ok();
    let addr = get("addr");
    let ip4 = if is_ip4(&addr) {
        Some(addr)
    } else if is_ip4(&target.host) {
        Some(target.host.clone())
    } else {
        None
    };
    HostReport {
        facts: HostFacts {
            distro,
            version,
            arch,
            ip4,
        },
        user: get("user"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh_target::HostKeyPolicy;

    fn target(host: &str) -> SshTarget {
        SshTarget {
            host: host.into(),
            port: None,
            user: None,
            identity: None,
            jump: None,
            config: None,
            host_key: HostKeyPolicy::Strict,
            connect_timeout: None,
            options: Vec::new(),
            persist: None,
        }
    }

    #[test]
    fn facts_are_named_as_orbstack_names_them() {
        let f = parse_facts(
            "id=debian\nversion_id=12\ncodename=bookworm\nmachine=x86_64\nuser=deploy\naddr=10.1.2.3\n",
            &target("box"),
        );
        assert_eq!(
            f,
            HostReport {
                facts: HostFacts {
                    distro: "debian".into(),
                    version: "bookworm".into(),
                    arch: "amd64".into(),
                    ip4: Some("10.1.2.3".into()),
                },
                user: "deploy".into(),
            }
        );
        let alpine = parse_facts(
            "id=alpine\nversion_id=3.20.3\ncodename=\nmachine=aarch64\nuser=root\naddr=\n",
            &target("192.0.2.7"),
        );
        assert_eq!(
            (
                alpine.facts.version.as_str(),
                alpine.facts.arch.as_str(),
                alpine.facts.ip4.as_deref()
            ),
            ("3.20.3", "arm64", Some("192.0.2.7"))
        );
    }

    /// The script itself, run by this computer's sh: every key is there.
    #[test]
    fn the_script_prints_every_key() {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(facts_script())
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        for key in [
            "id=",
            "version_id=",
            "codename=",
            "machine=",
            "user=",
            "addr=",
        ] {
            assert!(text.lines().any(|l| l.starts_with(key)), "{key} in {text}");
        }
        let f = parse_facts(&text, &target("box"));
        assert!(
            !f.facts.distro.is_empty() && !f.facts.arch.is_empty() && !f.user.is_empty(),
            "{f:?}"
        );
    }
}
