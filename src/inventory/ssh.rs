//! `ssh:` blocks (docs/ssh.md): each value checked where it is written, then
//! merged from defaults to the groups (in the order a machine lists them) to the machine,
//! the same precedence as machine settings and variables, each value with the layer it came
//! from ([`super::layers`]). The result is the [`SshTarget`] the ssh transport turns into `ssh` argv.
//!
//! Every check here is about what reaches `ssh`'s argv: a host, user or jump that starts
//! with `-` would be read as an option, a `-o` key ssh does not need from us could undo
//! what the transport relies on (one master per host, no prompts, host key checking).

use std::path::{Path, PathBuf};
use std::time::Duration;

use super::layers::{self, set, Keyed, Sourced};
use crate::error::ConfigError;
use crate::load::inventory::SshSpec;
use crate::printable::{printable, Controls};
use crate::ssh_target::{HostKeyPolicy, SshTarget};
use crate::yaml::Spanned;

/// One resolved ssh setting as `inventory --explain` shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct SshSetting {
    /// `host`, `port`, ..., or `options.KEY`.
    pub key: String,
    /// The value as ssh gets it (paths expanded, durations in seconds).
    pub value: String,
    /// `defaults`, `group NAME`, `machine NAME`, `machine name` (host only) or `default`.
    pub source: String,
}

/// One `ssh:` block and where it is written.
pub struct Block<'a> {
    /// The inventory file, for positions.
    pub file: &'a Path,
    /// Relative `identity` and `config` paths are relative to this directory.
    pub dir: &'a Path,
    /// The block as written.
    pub spec: &'a SshSpec,
}

/// One layer of a machine's ssh settings (`defaults`, `group NAME` or `machine NAME`).
pub type Layer<'a> = layers::Layer<Block<'a>>;

/// An `-o` value and the position of its key (for the message when it clashes with
/// `jump`).
#[derive(Debug, Clone)]
struct OptionValue {
    value: String,
    line: u64,
    column: u64,
}

/// The settings merged so far.
#[derive(Debug)]
struct Merged {
    host: Option<Sourced<String>>,
    port: Option<Sourced<u16>>,
    user: Option<Sourced<String>>,
    identity: Option<Sourced<PathBuf>>,
    jump: Option<Sourced<String>>,
    config: Option<Sourced<PathBuf>>,
    host_key: Option<Sourced<HostKeyPolicy>>,
    connect_timeout: Option<Sourced<Duration>>,
    persist: Option<Sourced<Duration>>,
    /// `-o` pairs; ssh option names ignore case.
    options: Keyed<OptionValue>,
}

impl Default for Merged {
    fn default() -> Self {
        Merged {
            host: None,
            port: None,
            user: None,
            identity: None,
            jump: None,
            config: None,
            host_key: None,
            connect_timeout: None,
            persist: None,
            options: Keyed::ignoring_case(),
        }
    }
}

/// Check one block on its own (every value it writes), whether or not a machine uses it,
/// so a mistake in a group no machine lists is still found.
pub fn check(layer: &Layer<'_>) -> Result<(), ConfigError> {
    apply(&mut Merged::default(), layer)
}

/// Merge `layers` (lowest precedence first) for machine `name`: its target and, for
/// `--explain`, every setting with its source.
pub fn resolve(
    name: &str,
    layers: &[Layer<'_>],
) -> Result<(SshTarget, Vec<SshSetting>), ConfigError> {
    let m: Merged = layers::merge(layers, apply)?;
    if let (Some(jump), Some(file)) = (&m.jump, layers.first().map(|l| l.body.file)) {
        let proxy = m
            .options
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case("ProxyCommand"));
        if let (Some((key, p)), false) = (proxy, jump.value.eq_ignore_ascii_case("none")) {
            return Err(ConfigError::at(
                file,
                p.value.line,
                p.value.column,
                format!(
                    "ssh option `{key}` ({}) cannot be used with `jump` ({}): both say how to reach the host and ssh would use only one; write the whole route in one of them",
                    p.source, jump.source
                ),
            ));
        }
    }
    let host = m
        .host
        .clone()
        .unwrap_or_else(|| Sourced::new(name.to_string(), "machine name"));
    let target = SshTarget {
        host: host.value.clone(),
        port: m.port.as_ref().map(|w| w.value),
        user: m.user.as_ref().map(|w| w.value.clone()),
        identity: m.identity.as_ref().map(|w| w.value.clone()),
        jump: m.jump.as_ref().map(|w| w.value.clone()),
        config: m.config.as_ref().map(|w| w.value.clone()),
        host_key: m.host_key.as_ref().map(|w| w.value).unwrap_or_default(),
        connect_timeout: m.connect_timeout.as_ref().map(|w| w.value),
        options: m
            .options
            .iter()
            .map(|(k, o)| (k.to_string(), o.value.value.clone()))
            .collect(),
        persist: m.persist.as_ref().map(|w| w.value),
    };
    Ok((target, settings(&m, &host)))
}

/// The merged settings as `--explain` lists them: `host` and `host_key` always (with
/// where their value comes from when nobody wrote one), the others when written.
fn settings(m: &Merged, host: &Sourced<String>) -> Vec<SshSetting> {
    fn one<T>(
        out: &mut Vec<SshSetting>,
        key: &str,
        w: &Option<Sourced<T>>,
        show: fn(&T) -> String,
    ) {
        if let Some(w) = w {
            out.push(SshSetting {
                key: key.to_string(),
                value: show(&w.value),
                source: w.source.clone(),
            });
        }
    }
    let mut out = vec![SshSetting {
        key: "host".into(),
        value: host.value.clone(),
        source: host.source.clone(),
    }];
    one(&mut out, "port", &m.port, u16::to_string);
    one(&mut out, "user", &m.user, String::clone);
    one(&mut out, "identity", &m.identity, |p| {
        p.display().to_string()
    });
    one(&mut out, "jump", &m.jump, String::clone);
    one(&mut out, "config", &m.config, |p| p.display().to_string());
    match &m.host_key {
        Some(_) => one(&mut out, "host_key", &m.host_key, |p| {
            policy_word(*p).into()
        }),
        None => out.push(SshSetting {
            key: "host_key".into(),
            value: policy_word(HostKeyPolicy::Strict).into(),
            source: "default".into(),
        }),
    }
    one(&mut out, "connect_timeout", &m.connect_timeout, |d| {
        format!("{}s", d.as_secs())
    });
    one(&mut out, "persist", &m.persist, |d| {
        format!("{}s", d.as_secs())
    });
    for (k, o) in m.options.iter() {
        out.push(SshSetting {
            key: format!("options.{k}"),
            value: o.value.value.clone(),
            source: o.source.clone(),
        });
    }
    out
}

/// How a policy is written in the inventory.
pub fn policy_word(p: HostKeyPolicy) -> &'static str {
    match p {
        HostKeyPolicy::Strict => "strict",
        HostKeyPolicy::AcceptNew => "accept-new",
    }
}

impl Layer<'_> {
    fn at<T>(&self, s: &Spanned<T>, msg: String) -> ConfigError {
        ConfigError::at(
            self.body.file,
            s.referenced.line(),
            s.referenced.column(),
            msg,
        )
    }
}

/// `host`, `port`, `user` and `jump`: where ssh connects, as words it cannot mistake for
/// options.
fn apply_destination(m: &mut Merged, layer: &Layer<'_>) -> Result<(), ConfigError> {
    let r = layer.body.spec;
    let src = layer.source.as_str();
    let word =
        |s: &Spanned<String>, key: &str| check_word(key, &s.value).map_err(|e| layer.at(s, e));
    if let Some(h) = &r.host {
        if src == "defaults" {
            return Err(layer.at(
                h,
                "ssh: `host` cannot be a default: each ssh machine is its own host (it defaults to the machine name)".into(),
            ));
        }
        word(h, "host")?;
        if h.value.contains('/') {
            return Err(layer.at(
                h,
                format!(
                    "ssh: host `{}`: expected an address or a name, without `/`",
                    h.value
                ),
            ));
        }
        if h.value.contains('@') {
            return Err(layer.at(
                h,
                format!(
                    "ssh: host `{}` has a user in it: write the user in `user`",
                    h.value
                ),
            ));
        }
        set(&mut m.host, h.value.clone(), src);
    }
    if let Some(p) = &r.port {
        let port = u16::try_from(p.value)
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| {
                layer.at(
                    p,
                    format!("ssh: port must be from 1 to 65535, not {}", p.value),
                )
            })?;
        set(&mut m.port, port, src);
    }
    if let Some(u) = &r.user {
        word(u, "user")?;
        if u.value.contains(['@', ':']) {
            return Err(layer.at(
                u,
                format!("ssh: user `{}` cannot contain `@` or `:`", u.value),
            ));
        }
        set(&mut m.user, u.value.clone(), src);
    }
    if let Some(j) = &r.jump {
        word(j, "jump")?;
        if j.value
            .split(',')
            .any(|hop| hop.is_empty() || hop.starts_with('-'))
        {
            return Err(layer.at(
                j,
                format!(
                    "ssh: jump `{}`: expected [user@]host[:port], several separated by `,`, or `none`",
                    j.value
                ),
            ));
        }
        set(&mut m.jump, j.value.clone(), src);
    }
    Ok(())
}

/// Check every value `layer` writes and lay it over `m`.
fn apply(m: &mut Merged, layer: &Layer<'_>) -> Result<(), ConfigError> {
    apply_destination(m, layer)?;
    let r = layer.body.spec;
    let src = layer.source.as_str();
    if let Some(i) = &r.identity {
        set(&mut m.identity, local_file(layer, i, "identity")?, src);
    }
    if let Some(c) = &r.config {
        set(&mut m.config, local_file(layer, c, "config")?, src);
    }
    if let Some(k) = &r.host_key {
        let policy = host_key(&k.value).map_err(|e| layer.at(k, e))?;
        set(&mut m.host_key, policy, src);
    }
    if let Some(t) = &r.connect_timeout {
        if t.value.0 == 0 {
            return Err(layer.at(t, "ssh: connect_timeout must be at least 1 second".into()));
        }
        set(&mut m.connect_timeout, Duration::from_secs(t.value.0), src);
    }
    if let Some(p) = &r.persist {
        if p.value.0 == 0 {
            return Err(layer.at(
                p,
                "ssh: persist must be at least 1 second (leave it out for a connection that ends with the run)".into(),
            ));
        }
        set(&mut m.persist, Duration::from_secs(p.value.0), src);
    }
    apply_options(m, layer)
}

fn apply_options(m: &mut Merged, layer: &Layer<'_>) -> Result<(), ConfigError> {
    let src = layer.source.as_str();
    let mut seen: Vec<&Spanned<String>> = Vec::new();
    for (key, value) in layer.body.spec.options.iter() {
        if let Some(first) = seen
            .iter()
            .find(|k| k.value.eq_ignore_ascii_case(&key.value))
        {
            return Err(layer.at(
                key,
                format!(
                    "ssh option `{}` is written twice (first as `{}` at line {}; ssh option names ignore case)",
                    key.value,
                    first.value,
                    first.referenced.line()
                ),
            ));
        }
        seen.push(key);
        check_option(&key.value, &value.value.0).map_err(|e| layer.at(key, e))?;
        let value = OptionValue {
            value: value.value.0.clone(),
            line: key.referenced.line(),
            column: key.referenced.column(),
        };
        m.options.set(&key.value, value, src);
    }
    Ok(())
}

/// A host, user or jump: one word ssh cannot mistake for an option.
fn check_word(key: &str, v: &str) -> Result<(), String> {
    if v.is_empty() {
        return Err(format!("ssh: `{key}` is empty"));
    }
    if v.starts_with('-') {
        return Err(format!(
            "ssh: {key} `{v}` starts with `-`, which ssh would read as an option"
        ));
    }
    if v.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(format!(
            "ssh: {key} `{}` contains a space or a control character",
            printable(v, Controls::Escape)
        ));
    }
    Ok(())
}

fn host_key(v: &str) -> Result<HostKeyPolicy, String> {
    match v {
        "strict" => Ok(HostKeyPolicy::Strict),
        "accept-new" => Ok(HostKeyPolicy::AcceptNew),
        v if ["off", "no", "false", "none", "ignore", "disabled"]
            .contains(&v.to_ascii_lowercase().as_str()) =>
        {
            Err(format!(
                "ssh: host_key `{v}` is not allowed: orbdeploy never turns host key checking off; expected `strict` (the default) or `accept-new`"
            ))
        }
        v => Err(format!(
            "ssh: unknown host_key `{v}`: expected `strict` (the default) or `accept-new`"
        )),
    }
}

/// `identity` and `config`: a file of this computer, `~/` expanded against `$HOME`,
/// relative paths against the inventory's directory (as mounts and cloud-init files).
fn local_file(layer: &Layer<'_>, s: &Spanned<String>, key: &str) -> Result<PathBuf, ConfigError> {
    let home = std::env::var_os("HOME");
    let path =
        expand(&s.value, layer.body.dir, home.as_deref(), key).map_err(|e| layer.at(s, e))?;
    if !path.is_file() {
        return Err(layer.at(s, format!("ssh: {key}: {} is not a file", path.display())));
    }
    Ok(path)
}

/// `~` and `~/...` against `home`, relative paths against `dir`; `~user` is refused.
fn expand(
    v: &str,
    dir: &Path,
    home: Option<&std::ffi::OsStr>,
    key: &str,
) -> Result<PathBuf, String> {
    if v.is_empty() {
        return Err(format!("ssh: `{key}` is empty"));
    }
    if v == "~" || v.starts_with("~/") {
        let home = home
            .filter(|h| !h.is_empty())
            .ok_or_else(|| format!("ssh: {key} `{v}` starts with `~` but HOME is not set"))?;
        return Ok(Path::new(home).join(v[1..].trim_start_matches('/')));
    }
    if v.starts_with('~') {
        return Err(format!(
            "ssh: {key} `{v}`: only `~/` (your home directory) is expanded, not `~user`"
        ));
    }
    Ok(match Path::new(v).is_absolute() {
        true => PathBuf::from(v),
        false => dir.join(v),
    })
}

/// `-o` keys orbdeploy refuses, and why (docs/ssh.md lists the same).
/// ssh takes the first value it gets for a key and `-o` comes before any config file, so
/// an option here would not add to the transport's settings but replace them.
const DENIED: &[(&str, &str)] = &[
    // Host keys: `host_key` is the only switch, and it has no "off".
    ("StrictHostKeyChecking", "is set by `host_key` (`strict` or `accept-new`); orbdeploy never turns host key checking off"),
    ("KnownHostsCommand", "runs a local command that could vouch for any host key; list the keys in a known_hosts file (UserKnownHostsFile) instead"),
    // Local commands: an inventory must not run programs on this computer.
    ("PermitLocalCommand", "would let ssh run commands on this computer"),
    ("LocalCommand", "runs a command on this computer after each connection"),
    // What the transport owns: one master per host in a private directory, ended with
    // the run; no prompts; a dead link seen; requests on stdin without a terminal; ssh's
    // messages readable to tell a refused key from a refused connection.
    ("ControlMaster", "belongs to the transport: it runs one master per host and ends it with the run"),
    ("ControlPath", "belongs to the transport: the master's socket lives in a private directory it removes"),
    ("ControlPersist", "is `persist` in the ssh block (docs/fleet.md)"),
    ("BatchMode", "belongs to the transport: ssh never prompts (BatchMode=yes), so a run cannot hang on a question"),
    ("ServerAliveInterval", "belongs to the transport: it is how a dead link is seen"),
    ("ServerAliveCountMax", "belongs to the transport: it is how a dead link is seen"),
    ("RemoteCommand", "belongs to the transport: the command on the host is orbdeploy's agent"),
    ("RequestTTY", "belongs to the transport: requests travel on stdin, without a terminal (-T)"),
    ("SessionType", "belongs to the transport: it runs its agent as the session's command"),
    ("StdinNull", "belongs to the transport: requests travel on stdin"),
    ("ForkAfterAuthentication", "belongs to the transport: it waits for its session"),
    ("LogLevel", "belongs to the transport: it reads ssh's messages to tell one failure from another"),
    // Keys with a key of their own in the `ssh:` block.
    ("HostName", "is `host` in the ssh block"),
    ("Port", "is `port` in the ssh block"),
    ("User", "is `user` in the ssh block"),
    ("IdentityFile", "is `identity` in the ssh block"),
    ("ProxyJump", "is `jump` in the ssh block"),
    ("ConnectTimeout", "is `connect_timeout` in the ssh block"),
    // Config-file structure, not options.
    ("Host", "is a config file keyword; put it in a file named by `config`"),
    ("Match", "is a config file keyword; put it in a file named by `config`"),
    ("Include", "is a config file keyword; put it in a file named by `config`"),
];

/// The names of the refused `-o` keys, for the docs and their test.
pub fn denied_options() -> impl Iterator<Item = &'static str> {
    DENIED.iter().map(|(k, _)| *k)
}

fn check_option(key: &str, value: &str) -> Result<(), String> {
    let mut chars = key.chars();
    if !(chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric()))
    {
        return Err(format!(
            "ssh option `{}`: expected an ssh option name (letters and digits, as in `ServerAliveInterval`)",
            printable(key, Controls::Escape)
        ));
    }
    if let Some((_, why)) = DENIED.iter().find(|(k, _)| k.eq_ignore_ascii_case(key)) {
        return Err(format!("ssh option `{key}` is not allowed: it {why}"));
    }
    if value.is_empty() || value.chars().any(char::is_control) {
        return Err(format!(
            "ssh option `{key}`: expected a value on one line, found `{}`",
            printable(value, Controls::Escape)
        ));
    }
    let forgets = ["/dev/null", "none"].contains(&value.to_ascii_lowercase().as_str());
    if key.eq_ignore_ascii_case("UserKnownHostsFile") && forgets {
        return Err(format!(
            "ssh option `{key}={value}` is not allowed: a known_hosts file that keeps nothing turns host key checking off"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_key_has_no_off() {
        assert_eq!(host_key("strict"), Ok(HostKeyPolicy::Strict));
        assert_eq!(host_key("accept-new"), Ok(HostKeyPolicy::AcceptNew));
        for bad in ["off", "OFF", "no", "false", "none"] {
            assert!(host_key(bad).unwrap_err().contains("never turns"), "{bad}");
        }
        assert!(host_key("yes").unwrap_err().contains("unknown host_key"));
    }

    #[test]
    fn denied_options_ignore_case() {
        for key in [
            "StrictHostKeyChecking",
            "stricthostkeychecking",
            "PERMITLOCALCOMMAND",
        ] {
            assert!(
                check_option(key, "no").unwrap_err().contains("not allowed"),
                "{key}"
            );
        }
        for key in denied_options() {
            assert!(check_option(key, "x").is_err(), "{key}");
        }
        assert!(check_option("UserKnownHostsFile", "/dev/null").is_err());
        assert!(check_option("UserKnownHostsFile", "/tmp/kh").is_ok());
        assert!(check_option("ServerAliveInterval", "5").is_err());
        assert!(check_option("Compression", "yes").is_ok());
        assert!(check_option("Ciphers=x", "y").is_err());
        assert!(check_option("Compression", "yes\n-oProxyCommand=x").is_err());
    }

    #[test]
    fn tilde_is_home_and_relative_is_the_inventorys() {
        let home = Some(std::ffi::OsStr::new("/home/u"));
        let dir = Path::new("/inv");
        let e = |v: &str, home| expand(v, dir, home, "identity");
        assert_eq!(e("~/.ssh/k", home), Ok(PathBuf::from("/home/u/.ssh/k")));
        assert_eq!(e("~", home), Ok(PathBuf::from("/home/u")));
        assert_eq!(e("keys/k", home), Ok(PathBuf::from("/inv/keys/k")));
        assert_eq!(e("/k", home), Ok(PathBuf::from("/k")));
        assert!(e("~bob/k", home).unwrap_err().contains("not `~user`"));
        assert!(e("~/k", None).unwrap_err().contains("HOME is not set"));
        assert!(e("~/k", Some(std::ffi::OsStr::new(""))).is_err());
        assert!(e("", home).unwrap_err().contains("is empty"));
    }

    #[test]
    fn words_that_ssh_would_read_as_options_are_refused() {
        assert!(check_word("host", "-oProxyCommand=x").is_err());
        assert!(check_word("host", "a b").is_err());
        assert!(check_word("host", "").is_err());
        assert!(check_word("host", "203.0.113.10").is_ok());
        assert!(check_word("host", "::1").is_ok());
    }
}

#[cfg(test)]
mod load_tests;
