//! Machine networking: one host-global bridge `orbsim0` (198.19.249.1/24), a veth pair per
//! running machine, and an nftables table that masquerades the machines' traffic so that
//! package installs work. Addresses are allocated host-wide (under `/run/orbsim`), because
//! many state homes (one per test) run machines at the same time. When the last machine
//! stops, the bridge and the table are removed so nothing is left behind.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

const BRIDGE: &str = "orbsim0";
const GATEWAY: &str = "198.19.249.1";
const PREFIX: &str = "198.19.249.";
const NFT_TABLE: &str = "orbsim";
/// The bridge's own MAC address (locally administered; the last four bytes are the
/// gateway's address). Set explicitly because a Linux bridge without one takes the lowest
/// MAC of its ports, so it changed whenever a machine started or stopped: every other
/// machine's neighbour entry for the gateway then pointed at a MAC nobody answered, and
/// its traffic to the host (a reply, a SYN-ACK) was lost for seconds until the entry was
/// probed again — the intermittent "hung" channel and ssh connect timeouts of the tests.
const BRIDGE_MAC: &str = "02:00:c6:13:f9:01";

/// How machines are networked (`ORBSIM_NETWORK`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Own network namespace, veth on the bridge (the default).
    Namespace,
    /// Share the host's network (`ORBSIM_NETWORK=host`): no address of its own.
    Host,
}

/// The mode in force.
pub fn mode() -> Mode {
    match std::env::var("ORBSIM_NETWORK").as_deref() {
        Ok("host") => Mode::Host,
        _ => Mode::Namespace,
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct Registry {
    /// key (`home/id`) → (host octet, init pid, init start time).
    leases: BTreeMap<String, (u8, i32, u64)>,
}

fn run_dir() -> PathBuf {
    PathBuf::from(std::env::var("ORBSIM_RUN_DIR").unwrap_or_else(|_| "/run/orbsim".to_string()))
}

fn key(home: &Path, id: &str) -> String {
    format!("{}/{id}", home.display())
}

fn with_registry<T>(f: impl FnOnce(&mut Registry) -> Result<T>) -> Result<T> {
    let dir = run_dir();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let _lock = crate::state::flock_file(&dir.join("net.lock"))?;
    let path = dir.join("net.json");
    let mut reg: Registry = std::fs::read(&path)
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default();
    // Leases of machines whose init is gone (crashed, or a test home that vanished) are freed.
    reg.leases
        .retain(|_, (_, pid, start)| crate::state::process_start_time(*pid) == Some(*start));
    let out = f(&mut reg)?;
    let tmp = dir.join(format!(".net.json.{}", std::process::id()));
    std::fs::write(&tmp, serde_json::to_vec(&reg)?)?;
    std::fs::rename(&tmp, &path)?;
    if reg.leases.is_empty() {
        teardown();
    }
    Ok(out)
}

fn ip(args: &[&str]) -> Result<()> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .context("running `ip` (install iproute2)")?;
    if !out.status.success() {
        bail!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

fn in_netns(pid: i32, args: &[&str]) -> Result<()> {
    let out = Command::new("nsenter")
        .arg("-t")
        .arg(pid.to_string())
        .arg("-n")
        .arg("ip")
        .args(args)
        .output()
        .context("running nsenter (install util-linux)")?;
    if !out.status.success() {
        bail!(
            "ip {} in the machine: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    Ok(())
}

/// Who a machine must not reach (docs/orbctl.md §5.3, §11.2).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Isolation {
    /// No route to the host (every address of the host, the bridge included): isolated
    /// machines "can't reach the Mac host" \[DOC\], and neither can network-isolated ones.
    pub host: bool,
    /// No route to other machines either (`isolate_network`).
    pub machines: bool,
}

/// Give a started machine (init `pid`) its address; returns it.
pub fn attach(home: &Path, id: &str, pid: i32, start: u64, iso: Isolation) -> Result<String> {
    let k = key(home, id);
    let octet = with_registry(|reg| {
        let used: Vec<u8> = reg.leases.values().map(|(o, _, _)| *o).collect();
        let Some(octet) = (2..=254u8).find(|o| !used.contains(o)) else {
            bail!("no free address in 198.19.249.0/24: too many running machines");
        };
        reg.leases.insert(k.clone(), (octet, pid, start));
        ensure_bridge()?;
        Ok(octet)
    })?;
    let tag = short_hash(&k);
    let (host_if, peer_if) = (format!("vo{tag}"), format!("vp{tag}"));
    let _ = ip(&["link", "del", &host_if]);
    ip(&[
        "link", "add", &host_if, "type", "veth", "peer", "name", &peer_if,
    ])?;
    ip(&["link", "set", &host_if, "master", BRIDGE, "up"])?;
    ip(&["link", "set", &peer_if, "netns", &pid.to_string()])?;
    let addr = format!("{PREFIX}{octet}");
    // The address may have been a stopped machine's a moment ago: the host's neighbour
    // entry would still send to that machine's MAC (a connect from the host then times out
    // until the entry goes stale, ~30 s), so forget it.
    let _ = ip(&["neigh", "flush", "to", &addr]);
    in_netns(pid, &["link", "set", &peer_if, "name", "eth0"])?;
    // A network-isolated machine has no on-link route to its neighbours.
    let len = if iso.machines { "32" } else { "24" };
    in_netns(
        pid,
        &["addr", "add", &format!("{addr}/{len}"), "dev", "eth0"],
    )?;
    in_netns(pid, &["link", "set", "eth0", "up"])?;
    in_netns(pid, &["link", "set", "lo", "up"])?;
    if iso == Isolation::default() {
        in_netns(pid, &["route", "add", "default", "via", GATEWAY])?;
        return Ok(addr);
    }
    // The gateway stays the next hop to the internet (`onlink`: it needs no route of its
    // own), while `unreachable` routes answer "No route to host" for the host itself and,
    // with isolate_network, for the machines' subnet. Routes in the machine's own network
    // namespace: cheap, and gone with it.
    in_netns(
        pid,
        &[
            "route", "add", "default", "via", GATEWAY, "dev", "eth0", "onlink",
        ],
    )?;
    if iso.machines {
        in_netns(
            pid,
            &["route", "add", "unreachable", &format!("{PREFIX}0/24")],
        )?;
    }
    for host in host_addresses() {
        if iso.machines && host.starts_with(PREFIX) {
            continue; // covered by the subnet's route
        }
        in_netns(pid, &["route", "add", "unreachable", &format!("{host}/32")])?;
    }
    Ok(addr)
}

/// The host's own IPv4 addresses (loopback excepted: the machine has its own), and the
/// bridge's.
fn host_addresses() -> Vec<String> {
    let out = Command::new("ip")
        .args(["-4", "-o", "addr", "show"])
        .output();
    let text = out.map(|o| String::from_utf8_lossy(&o.stdout).into_owned());
    let mut addrs: Vec<String> = text
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let mut f = l.split_whitespace();
            let cidr = f.nth(3)?;
            cidr.split('/').next().map(String::from)
        })
        .filter(|a| !a.starts_with("127."))
        .collect();
    if !addrs.iter().any(|a| a == GATEWAY) {
        addrs.push(GATEWAY.to_string());
    }
    addrs.sort();
    addrs.dedup();
    addrs
}

/// Give the address of a stopped machine back (its veth went with its namespace).
pub fn detach(home: &Path, id: &str) {
    let k = key(home, id);
    let _ = with_registry(|reg| {
        reg.leases.remove(&k);
        Ok(())
    });
}

/// Create the bridge and the NAT table when they are missing.
fn ensure_bridge() -> Result<()> {
    let dev = Path::new("/sys/class/net").join(BRIDGE);
    if !dev.exists() {
        ip(&[
            "link", "add", BRIDGE, "address", BRIDGE_MAC, "type", "bridge",
        ])?;
        ip(&["addr", "add", &format!("{GATEWAY}/24"), "dev", BRIDGE])?;
        ip(&["link", "set", BRIDGE, "up"])?;
    } else if std::fs::read_to_string(dev.join("address"))
        .ok()
        .as_deref()
        .map(str::trim)
        != Some(BRIDGE_MAC)
    {
        // A bridge made by an earlier orbsim still follows its ports' addresses.
        ip(&["link", "set", BRIDGE, "address", BRIDGE_MAC])?;
    }
    std::fs::write("/proc/sys/net/ipv4/ip_forward", "1").context("enabling IPv4 forwarding")?;
    let listed = Command::new("nft")
        .args(["list", "table", "ip", NFT_TABLE])
        .output();
    if !matches!(listed, Ok(ref o) if o.status.success()) {
        let rules = format!(
            "table ip {NFT_TABLE} {{\n\
             \tchain postrouting {{ type nat hook postrouting priority 100; ip saddr {PREFIX}0/24 oifname != \"{BRIDGE}\" masquerade; }}\n\
             \tchain forward {{ type filter hook forward priority 0; iifname \"{BRIDGE}\" accept; oifname \"{BRIDGE}\" accept; }}\n\
             }}\n"
        );
        let mut child = Command::new("nft")
            .args(["-f", "-"])
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .context("running nft (install nftables)")?;
        if let Some(mut stdin) = child.stdin.take() {
            use std::io::Write;
            stdin.write_all(rules.as_bytes())?;
        }
        let out = child.wait_with_output()?;
        if !out.status.success() {
            bail!("nft: {}", String::from_utf8_lossy(&out.stderr).trim());
        }
    }
    Ok(())
}

fn teardown() {
    let _ = Command::new("ip").args(["link", "del", BRIDGE]).output();
    let _ = Command::new("nft")
        .args(["delete", "table", "ip", NFT_TABLE])
        .output();
}

/// 8 hex characters from a string (FNV-1a), for interface and cgroup names (interface
/// names have at most 15 characters).
pub fn short_hash(s: &str) -> String {
    let mut h: u64 = 0xcbf29ce484222325;
    for b in s.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x100000001b3);
    }
    format!("{:08x}", h as u32)
}
