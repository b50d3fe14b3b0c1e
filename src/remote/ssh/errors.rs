//! What went wrong when ssh could not reach a host, told from ssh's exit status 255 and
//! the words OpenSSH prints on stderr (they have been stable for years; a text this file
//! does not know is shown as ssh printed it). Each kind has its own message saying what to
//! do about it.

use crate::ssh_target::SshTarget;

/// Why ssh could not reach a host (or a session on it could not start).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SshError {
    /// The host's key is not in known_hosts and `host_key` is strict.
    #[error("ssh: the host key of {host} is not known{}; nothing ran there. Check the fingerprint, then trust it with `ssh-keyscan{} {} >> ~/.ssh/known_hosts`, or set `host_key: accept-new` in the machine's `ssh:` block", fingerprint_list(.fingerprints), port_flag(.port), .name)]
    UnknownHostKey {
        /// The host as the user wrote it, with its port.
        host: String,
        /// The name ssh-keyscan is given.
        name: String,
        /// The port, when not 22.
        port: Option<u16>,
        /// `TYPE SHA256:...` of every key the host offers (empty: they could not be read).
        fingerprints: Vec<String>,
    },
    /// The host offered a key other than the one known_hosts holds for it.
    #[error("ssh: the host key of {host} has CHANGED{}; this can be an attack, so nothing ran there. If the change is expected (a reinstalled host), remove the old key with `ssh-keygen -R {}` and trust the new one (ssh-keyscan)", fingerprint_list(.fingerprints), .known_as)]
    ChangedHostKey {
        /// The host, with its port.
        host: String,
        /// The name it has in known_hosts (`[host]:port` for another port).
        known_as: String,
        /// The fingerprint the host sent now.
        fingerprints: Vec<String>,
    },
    /// The host refused every key (or method) offered.
    #[error("ssh: {host} refused to authenticate {user} ({methods}); check `identity:` and that its public key is in the user's ~/.ssh/authorized_keys on the host")]
    AuthRefused {
        /// The host, with its port.
        host: String,
        /// The login user as ssh named it.
        user: String,
        /// The methods the host allows, as ssh listed them.
        methods: String,
    },
    /// Nothing listens on the port.
    #[error("ssh: {host} refused the connection; is sshd running and listening on that port?")]
    ConnectionRefused {
        /// The host, with its port.
        host: String,
    },
    /// No answer within `connect_timeout`.
    #[error("ssh: connecting to {host} timed out; is the address right and the host up? (`connect_timeout:` sets the limit)")]
    TimedOut {
        /// The host, with its port.
        host: String,
    },
    /// The host name does not resolve.
    #[error("ssh: cannot resolve the host name `{name}`: {detail}")]
    Dns {
        /// The name.
        name: String,
        /// What the resolver said.
        detail: String,
    },
    /// No route to the host, or the network is down.
    #[error("ssh: {host} cannot be reached: {detail}")]
    Unreachable {
        /// The host, with its port.
        host: String,
        /// What ssh said.
        detail: String,
    },
    /// The ssh client is not installed (or `ORBDEPLOY_SSH` names nothing).
    #[error("the ssh client `{program}` was not found; install OpenSSH's client (e.g. `apt-get install openssh-client`) or point ORBDEPLOY_SSH at it")]
    Missing {
        /// What was run.
        program: String,
    },
    /// `sudo -n` wants a password.
    #[error("sudo on {host} needs a password for {user}; allow NOPASSWD or run as that user")]
    SudoPassword {
        /// The machine.
        host: String,
        /// The user asked for.
        user: String,
    },
    /// sudo asked for the password again after it was given `become_password:`: wrong.
    #[error("sudo on machine `{machine}` ({host}) refused the become_password to run as {user}; check the password")]
    SudoRefused {
        /// The machine's name in the inventory.
        machine: String,
        /// The host, with its port.
        host: String,
        /// The user asked for.
        user: String,
    },
    /// `sudo -n` wants a password on the one-shot path (`--no-channel`), which does not
    /// give `become_password:` (only a channel session answers sudo's prompt).
    #[error("sudo on {host} needs a password, and become_password is given over the channel only: run without --no-channel, or allow NOPASSWD")]
    SudoPasswordNoChannel {
        /// The host, with its port.
        host: String,
    },
    /// Another user was asked for, and the host has no sudo.
    #[error("sudo is not installed on {host}, so nothing can run as {user} there; install sudo or run as the login user")]
    NoSudo {
        /// The machine.
        host: String,
        /// The user asked for.
        user: String,
    },
    /// Anything else ssh reported.
    #[error("ssh to {host} failed{}: {detail}", status.map(|s| format!(" (exit code {s})")).unwrap_or_default())]
    Other {
        /// The host, with its port.
        host: String,
        /// ssh's exit status.
        status: Option<i32>,
        /// ssh's last lines.
        detail: String,
    },
}

impl SshError {
    /// The host could not be reached at all (exit 3); the sudo errors come from a host
    /// that was reached.
    pub fn is_unreachable(&self) -> bool {
        !matches!(
            self,
            SshError::SudoPassword { .. }
                | SshError::SudoRefused { .. }
                | SshError::SudoPasswordNoChannel { .. }
                | SshError::NoSudo { .. }
        )
    }
}

fn fingerprint_list(f: &[String]) -> String {
    if f.is_empty() {
        String::new()
    } else {
        format!(" (it offers {})", f.join(", "))
    }
}

fn port_flag(port: &Option<u16>) -> String {
    match port {
        Some(p) if *p != 22 => format!(" -p {p}"),
        _ => String::new(),
    }
}

/// The host as messages show it: `host` or `host:port`.
pub fn host_label(t: &SshTarget) -> String {
    match t.port {
        Some(p) => format!("{}:{p}", t.host),
        None => t.host.clone(),
    }
}

/// How known_hosts names the host (`[host]:port` on another port than 22).
fn known_as(t: &SshTarget) -> String {
    match t.port {
        Some(p) if p != 22 => format!("'[{}]:{p}'", t.host),
        _ => crate::quote::quote(&t.host),
    }
}

/// Tell what ssh's stderr says went wrong. `fingerprint` is asked for the host's keys
/// only when the key is unknown (ssh does not print them then).
pub fn classify(
    target: &SshTarget,
    status: Option<i32>,
    stderr: &str,
    fingerprint: &dyn Fn() -> Vec<String>,
) -> SshError {
    let host = host_label(target);
    let lines: Vec<&str> = stderr.lines().map(|l| l.trim_end_matches('\r')).collect();
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    if let Some(e) = host_key_error(target, &lines, fingerprint) {
        return e;
    }
    if let Some(l) = lines.iter().find(|l| l.contains("Permission denied (")) {
        let (user, rest) = l.split_once(": Permission denied (").unwrap_or(("", l));
        let user = user.rsplit_once('@').map_or(user, |(u, _)| u);
        let methods = rest.trim_end_matches(").").trim_end_matches(')');
        return SshError::AuthRefused {
            host,
            user: if user.is_empty() {
                "the login user".into()
            } else {
                format!("`{user}`")
            },
            methods: methods.to_string(),
        };
    }
    if has("Connection refused") {
        return SshError::ConnectionRefused { host };
    }
    // `connect to host H port P: Connection timed out`, `Connection to H port P timed out`
    // (ConnectTimeout), `Connection timed out during banner exchange`.
    if lines
        .iter()
        .any(|l| l.ends_with("timed out") || l.contains("timed out during"))
    {
        return SshError::TimedOut { host };
    }
    if let Some(l) = lines
        .iter()
        .find(|l| l.contains("Could not resolve hostname"))
    {
        let after = l
            .split_once("Could not resolve hostname ")
            .map_or("", |(_, r)| r);
        let (name, detail) = after.split_once(": ").unwrap_or((after, "unknown name"));
        return SshError::Dns {
            name: name.to_string(),
            detail: detail.trim_end_matches('.').to_string(),
        };
    }
    for what in ["No route to host", "Network is unreachable"] {
        if has(what) {
            return SshError::Unreachable {
                host,
                detail: what.to_string(),
            };
        }
    }
    if has("sudo:") && (has("a password is required") || has("a terminal is required")) {
        return SshError::SudoPassword {
            host,
            user: String::new(),
        };
    }
    let detail = crate::process::tail_lines(stderr.as_bytes(), 3);
    SshError::Other {
        host,
        status,
        detail: if detail.is_empty() {
            "ssh said nothing".into()
        } else {
            detail
        },
    }
}

/// An unknown or changed host key, from ssh's words.
fn host_key_error(
    target: &SshTarget,
    lines: &[&str],
    fingerprint: &dyn Fn() -> Vec<String>,
) -> Option<SshError> {
    let host = host_label(target);
    let has = |needle: &str| lines.iter().any(|l| l.contains(needle));
    if has("REMOTE HOST IDENTIFICATION HAS CHANGED")
        || has("has changed and you have requested strict checking")
    {
        // The line after "The fingerprint for the ED25519 key sent by the remote host is".
        let mut fingerprints = Vec::new();
        for (i, l) in lines.iter().enumerate() {
            if let Some(rest) = l.strip_prefix("The fingerprint for the ") {
                let kind = rest.split(' ').next().unwrap_or_default();
                if let Some(fp) = lines.get(i + 1) {
                    fingerprints.push(format!("{kind} {}", fp.trim().trim_end_matches('.')));
                }
            }
        }
        return Some(SshError::ChangedHostKey {
            host,
            known_as: known_as(target),
            fingerprints,
        });
    }
    if has("Host key verification failed") || has("you have requested strict checking") {
        return Some(SshError::UnknownHostKey {
            host,
            name: crate::quote::quote(&target.host),
            port: target.port,
            fingerprints: fingerprint(),
        });
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ssh_target::HostKeyPolicy;

    fn target(port: Option<u16>) -> SshTarget {
        SshTarget {
            host: "10.0.0.5".into(),
            port,
            user: Some("deploy".into()),
            identity: None,
            jump: None,
            config: None,
            host_key: HostKeyPolicy::Strict,
            connect_timeout: None,
            options: Vec::new(),
            persist: None,
        }
    }

    fn kind(stderr: &str) -> SshError {
        classify(&target(Some(2222)), Some(255), stderr, &|| {
            vec!["ED25519 SHA256:abc".into()]
        })
    }

    // The texts below are what OpenSSH 9.2p1 (Debian 12) prints, copied from real runs
    // against a loopback sshd.

    #[test]
    fn an_unknown_host_key_names_the_host_and_fingerprint_and_the_way_to_trust_it() {
        let e = kind("No ED25519 host key is known for [10.0.0.5]:2222 and you have requested strict checking.\r\nHost key verification failed.\r\n");
        assert!(matches!(e, SshError::UnknownHostKey { .. }), "{e:?}");
        let msg = e.to_string();
        assert!(msg.contains("10.0.0.5:2222"), "{msg}");
        assert!(msg.contains("ED25519 SHA256:abc"), "{msg}");
        assert!(
            msg.contains("ssh-keyscan -p 2222 10.0.0.5 >> ~/.ssh/known_hosts"),
            "{msg}"
        );
        assert!(msg.contains("host_key: accept-new"), "{msg}");
    }

    /// Without `StrictHostKeyChecking=yes` on the command line (a config that asks), ssh in
    /// batch mode says only this.
    #[test]
    fn a_bare_verification_failure_is_an_unknown_key() {
        assert!(matches!(
            kind("Host key verification failed.\r\n"),
            SshError::UnknownHostKey { .. }
        ));
    }

    #[test]
    fn a_changed_host_key_shows_the_new_fingerprint() {
        let e = kind("@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\n@    WARNING: REMOTE HOST IDENTIFICATION HAS CHANGED!     @\n@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@@\nIT IS POSSIBLE THAT SOMEONE IS DOING SOMETHING NASTY!\nSomeone could be eavesdropping on you right now (man-in-the-middle attack)!\nIt is also possible that a host key has just been changed.\nThe fingerprint for the ED25519 key sent by the remote host is\nSHA256:NgoWGHkabBJBwZGKhwCf34fylW6OZH/I02utrV8AQpY.\nPlease contact your system administrator.\nAdd correct host key in /root/.ssh/known_hosts to get rid of this message.\nOffending ED25519 key in /root/.ssh/known_hosts:1\n  remove with:\n  ssh-keygen -f \"/root/.ssh/known_hosts\" -R \"[10.0.0.5]:2222\"\nHost key for [10.0.0.5]:2222 has changed and you have requested strict checking.\nHost key verification failed.\n");
        let msg = e.to_string();
        assert!(matches!(e, SshError::ChangedHostKey { .. }), "{e:?}");
        assert!(
            msg.contains("ED25519 SHA256:NgoWGHkabBJBwZGKhwCf34fylW6OZH/I02utrV8AQpY"),
            "{msg}"
        );
        assert!(msg.contains("ssh-keygen -R '[10.0.0.5]:2222'"), "{msg}");
    }

    #[test]
    fn refused_authentication_names_the_user_and_methods() {
        let e = kind("deploy@10.0.0.5: Permission denied (publickey,password).\r\n");
        assert_eq!(
            e,
            SshError::AuthRefused {
                host: "10.0.0.5:2222".into(),
                user: "`deploy`".into(),
                methods: "publickey,password".into()
            }
        );
    }

    #[test]
    fn network_failures_each_have_their_kind() {
        assert!(matches!(
            kind("ssh: connect to host 10.0.0.5 port 2222: Connection refused\r\n"),
            SshError::ConnectionRefused { .. }
        ));
        for timed_out in [
            "ssh: connect to host 10.0.0.5 port 2222: Connection timed out\r\n",
            "Connection to 10.255.255.1 port 22 timed out\r\n",
            "Connection timed out during banner exchange\r\nConnection to 10.255.255.1 port 22 timed out\r\n",
        ] {
            assert!(
                matches!(kind(timed_out), SshError::TimedOut { .. }),
                "{timed_out}"
            );
        }
        assert_eq!(
            kind("ssh: Could not resolve hostname nope.invalid: Name or service not known\r\n"),
            SshError::Dns {
                name: "nope.invalid".into(),
                detail: "Name or service not known".into()
            }
        );
        assert!(matches!(
            kind("ssh: connect to host 10.0.0.5 port 2222: No route to host\r\n"),
            SshError::Unreachable { .. }
        ));
        // Through a jump host the refusal comes from the jump's forwarding, or from the
        // jump itself.
        for refused in [
            "channel 0: open failed: connect failed: Connection refused\r\nstdio forwarding failed\r\nkex_exchange_identification: Connection closed by remote host\r\n",
            "ssh: connect to host 127.0.0.1 port 2: Connection refused\r\nkex_exchange_identification: Connection closed by remote host\r\nConnection closed by UNKNOWN port 65535\r\n",
        ] {
            assert!(
                matches!(kind(refused), SshError::ConnectionRefused { .. }),
                "{refused}"
            );
        }
    }

    #[test]
    fn sudo_wanting_a_password_is_told_apart() {
        assert!(matches!(
            kind("sudo: a password is required\n"),
            SshError::SudoPassword { .. }
        ));
    }

    #[test]
    fn anything_else_is_shown_as_ssh_said_it() {
        let e = kind("kex_exchange_identification: read: Connection reset by peer\r\n");
        assert_eq!(
            e.to_string(),
            "ssh to 10.0.0.5:2222 failed (exit code 255): kex_exchange_identification: read: Connection reset by peer"
        );
    }
}
