//! The `ssh` command lines: the options every call shares, the master's, a session's and
//! the remote command string (which the login shell on the host parses once).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::quote;
use crate::ssh_target::{HostKeyPolicy, SshTarget};

/// `ConnectTimeout` when the inventory sets none.
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
/// `ServerAliveInterval`: a keep-alive every 5 s ...
pub const ALIVE_INTERVAL: u32 = 5;
/// ... and `ServerAliveCountMax`: three unanswered ones (15 s) end the connection, so a
/// dead link fails the machine instead of hanging it.
pub const ALIVE_COUNT: u32 = 3;

/// The ssh client to run: `ORBDEPLOY_SSH` when set (tests, a client outside `PATH`), else
/// `ssh` from `PATH`.
pub fn ssh_program() -> PathBuf {
    std::env::var_os("ORBDEPLOY_SSH")
        .filter(|p| !p.is_empty())
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("ssh"))
}

/// Everything needed to build the command lines of one host.
#[derive(Debug, Clone)]
pub struct Argv {
    /// The ssh client.
    pub program: PathBuf,
    /// Where and how the host is reached.
    pub target: SshTarget,
    /// The master's control socket.
    pub control_path: PathBuf,
}

impl Argv {
    /// The options every call to this host starts with, in precedence order (ssh keeps the
    /// first value it sees of an option, and the command line comes before every config
    /// file): what orbdeploy must decide (no tty, no prompt, the control socket, the
    /// host-key policy), then the inventory's own `options`, then defaults the inventory
    /// may override (keep-alives, the connect timeout).
    fn common(&self, master: bool) -> Vec<OsString> {
        let t = &self.target;
        let mut out: Vec<OsString> = vec![self.program.clone().into(), "-T".into()];
        if let Some(config) = &t.config {
            out.push("-F".into());
            out.push(config.clone().into());
        }
        let strict = match t.host_key {
            HostKeyPolicy::Strict => "yes",
            HostKeyPolicy::AcceptNew => "accept-new",
        };
        let opt = |out: &mut Vec<OsString>, kv: String| {
            out.push("-o".into());
            out.push(kv.into());
        };
        opt(&mut out, "BatchMode=yes".into());
        opt(
            &mut out,
            format!("ControlMaster={}", if master { "yes" } else { "no" }),
        );
        opt(
            &mut out,
            format!("ControlPath={}", self.control_path.display()),
        );
        opt(&mut out, format!("StrictHostKeyChecking={strict}"));
        for (k, v) in &t.options {
            opt(&mut out, format!("{k}={v}"));
        }
        opt(&mut out, format!("ServerAliveInterval={ALIVE_INTERVAL}"));
        opt(&mut out, format!("ServerAliveCountMax={ALIVE_COUNT}"));
        let timeout = t.connect_timeout.unwrap_or(DEFAULT_CONNECT_TIMEOUT);
        opt(
            &mut out,
            format!("ConnectTimeout={}", timeout.as_secs().max(1)),
        );
        if let Some(identity) = &t.identity {
            out.push("-i".into());
            out.push(identity.clone().into());
            opt(&mut out, "IdentitiesOnly=yes".into());
        }
        if let Some(jump) = &t.jump {
            out.push("-J".into());
            out.push(jump.into());
        }
        if let Some(port) = t.port {
            out.push("-p".into());
            out.push(port.to_string().into());
        }
        if let Some(user) = &t.user {
            out.push("-l".into());
            out.push(user.into());
        }
        out
    }

    /// The master: authenticates once, holds the connection and serves every later call
    /// over its socket; no command, no stdin (`-N`). It stays a child of orbdeploy, in a
    /// process group of its own, so Ctrl-C and the end of the run end it.
    pub fn master(&self) -> Vec<OsString> {
        let mut out = self.common(true);
        // `-v` for one line of its log (master_log.rs); the rest is dropped.
        out.push("-v".into());
        out.push("-N".into());
        out.push("--".into());
        out.push(self.target.host.clone().into());
        out
    }

    /// A master that outlives the run by `persist` (persist.rs): ssh puts it in the
    /// background once it authenticated (`-N` with `ControlPersist`), its streams on
    /// /dev/null, and returns; no `-v`, since nobody reads the master's log then.
    pub fn persisted_master(&self, persist: Duration) -> Vec<OsString> {
        let mut out = self.common(true);
        out.push("-o".into());
        out.push(format!("ControlPersist={}s", persist.as_secs().max(1)).into());
        out.push("-N".into());
        out.push("--".into());
        out.push(self.target.host.clone().into());
        out
    }

    /// A call over the master that runs `command` (a shell command string, see
    /// [`remote_command`]) on the host.
    pub fn call(&self, command: &str) -> Vec<OsString> {
        let mut out = self.common(false);
        out.push("--".into());
        out.push(self.target.host.clone().into());
        out.push(command.into());
        out
    }
}

/// The command string ssh hands to the login shell on the host: `words` (a program and its
/// arguments) run in `/` (as `orbctl run -w /` does), as `user` through `sudo -n` when
/// `user` is given (the login user itself is `None`). Every word is quoted exactly once;
/// the login shell removes that quoting, so the program sees the words byte for byte.
pub fn remote_command(user: Option<&str>, words: &[&str]) -> String {
    sudo_command(user, words, None)
}

/// [`remote_command`], where sudo may ask for a password: it prints `prompt` on stderr and
/// reads the password from stdin (`-S`), once, before the program starts
/// (src/remote/channel/sudo.rs answers it). `None`: sudo may not ask (`-n`).
pub fn sudo_command(user: Option<&str>, words: &[&str], prompt: Option<&str>) -> String {
    let mut all: Vec<&str> = Vec::new();
    if let Some(user) = user {
        // -n: never prompt (a password prompt is an error, see errors.rs), unless there is
        // a password to answer it with (-S); -H: the user's own HOME, as a login as that
        // user would have.
        match prompt {
            Some(prompt) => all.extend(["sudo", "-S", "-p", prompt]),
            None => all.extend(["sudo", "-n"]),
        }
        all.extend(["-H", "-u", user, "--"]);
    }
    all.extend_from_slice(words);
    format!("cd / && exec {}", quote::join(&all))
}

/// A control socket path that fits `sun_path` (108 bytes with its NUL): under `dir` when
/// short enough, else under `/tmp`.
pub fn fits_socket_limit(path: &Path) -> bool {
    path.as_os_str().len() < 100
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(argv: &[OsString]) -> Vec<String> {
        argv.iter()
            .map(|a| a.to_string_lossy().into_owned())
            .collect()
    }

    fn target() -> SshTarget {
        SshTarget {
            host: "203.0.113.10".into(),
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

    fn argv(target: SshTarget) -> Argv {
        Argv {
            program: "ssh".into(),
            target,
            control_path: "/tmp/odssh-abc/m".into(),
        }
    }

    #[test]
    fn a_bare_host_gets_the_fixed_options_only() {
        let a = argv(target());
        assert_eq!(
            words(&a.call("cd / && exec true")),
            [
                "ssh",
                "-T",
                "-o",
                "BatchMode=yes",
                "-o",
                "ControlMaster=no",
                "-o",
                "ControlPath=/tmp/odssh-abc/m",
                "-o",
                "StrictHostKeyChecking=yes",
                "-o",
                "ServerAliveInterval=5",
                "-o",
                "ServerAliveCountMax=3",
                "-o",
                "ConnectTimeout=10",
                "--",
                "203.0.113.10",
                "cd / && exec true",
            ]
        );
    }

    #[test]
    fn every_key_of_the_inventory_reaches_the_argv() {
        let a = argv(SshTarget {
            host: "box".into(),
            port: Some(32222),
            user: Some("deploy".into()),
            identity: Some("/home/me/.ssh/id_ed25519".into()),
            jump: Some("bastion.example.org".into()),
            config: Some("/home/me/ssh_config".into()),
            host_key: HostKeyPolicy::AcceptNew,
            connect_timeout: Some(Duration::from_secs(3)),
            options: vec![("Compression".into(), "yes".into())],
            persist: None,
        });
        assert_eq!(
            words(&a.master()),
            [
                "ssh",
                "-T",
                "-F",
                "/home/me/ssh_config",
                "-o",
                "BatchMode=yes",
                "-o",
                "ControlMaster=yes",
                "-o",
                "ControlPath=/tmp/odssh-abc/m",
                "-o",
                "StrictHostKeyChecking=accept-new",
                "-o",
                "Compression=yes",
                "-o",
                "ServerAliveInterval=5",
                "-o",
                "ServerAliveCountMax=3",
                "-o",
                "ConnectTimeout=3",
                "-i",
                "/home/me/.ssh/id_ed25519",
                "-o",
                "IdentitiesOnly=yes",
                "-J",
                "bastion.example.org",
                "-p",
                "32222",
                "-l",
                "deploy",
                "-v",
                "-N",
                "--",
                "box",
            ]
        );
    }

    #[test]
    fn the_remote_command_is_quoted_once_and_runs_in_root() {
        assert_eq!(
            remote_command(None, &["sh", "-c", "echo 'hi' $x", "agent", "n1"]),
            r#"cd / && exec sh -c 'echo '\''hi'\'' $x' agent n1"#
        );
        assert_eq!(
            remote_command(Some("app user"), &["sh", "-c", "id"]),
            "cd / && exec sudo -n -H -u 'app user' -- sh -c id"
        );
        assert_eq!(
            sudo_command(Some("root"), &["id"], Some("[orbdeploy-sudo n1]")),
            "cd / && exec sudo -S -p '[orbdeploy-sudo n1]' -H -u root -- id"
        );
        assert_eq!(
            sudo_command(None, &["id"], Some("[orbdeploy-sudo n1]")),
            "cd / && exec id"
        );
    }

    /// The login shell gives the program exactly the words, whatever bytes they hold.
    #[test]
    fn the_login_shell_hands_the_words_over_unchanged() {
        let tricky = "a 'b' \"c\" $d `e` \\f\n;g|h&";
        let cmd = remote_command(None, &["printf", "%s|", tricky, "x y"]);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(&cmd)
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            format!("{tricky}|x y|")
        );
    }
}
