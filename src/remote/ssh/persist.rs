//! Masters that outlive the run (`persist:` in an `ssh:` block, `--persist`): each lives
//! in the user's control directory under a name made from everything that decides the
//! connection, so a later run of the same user to the same target finds it, checks that it
//! answers and is this user's, and logs in zero times. The check is `ssh -O check`'s
//! question asked over the socket from this process (mux.rs, `alive`): at
//! 100 hosts the ssh client per host it saves was 100 processes of every reusing run. Such a master is
//! started by ssh itself in the background (`ControlPersist`: it leaves orbdeploy's
//! process group and session, and ends on its own once idle that long); `orbdeploy ssh
//! close` ends them all at once.
//!
//! The directory is `$ORBDEPLOY_SSH_CONTROL_DIR`, else `$XDG_RUNTIME_DIR/orbdeploy-ssh`,
//! else `/tmp/orbdeploy-ssh-UID`: made 0700, and refused when it is not a directory of
//! this user's that only this user can enter (a socket there is as good as a login).

use std::ffi::OsString;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use sha2::{Digest, Sha256};

use super::argv::{self, Argv};
use super::mux;
use crate::process::{self, Spec};
use crate::ssh_target::SshTarget;

/// The environment variable that names the control directory (tests, several users of one
/// account that want their masters apart).
pub const DIR_ENV: &str = "ORBDEPLOY_SSH_CONTROL_DIR";

/// The user's control directory, made when missing; an error when it exists but is not
/// private to this user.
pub fn control_dir() -> std::io::Result<PathBuf> {
    let dir = dir_path();
    ensure_private_dir(&dir)?;
    Ok(dir)
}

/// Make `dir` (0700) when missing, then check it is private to this user.
fn ensure_private_dir(dir: &Path) -> std::io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            match std::fs::DirBuilder::new().mode(0o700).create(dir) {
                // Every host of a run connects at once: another one (or another run) may
                // have made it since the look above. check_private decides either way.
                Err(e) if e.kind() != std::io::ErrorKind::AlreadyExists => return Err(e),
                _ => {}
            }
        }
        Err(e) => return Err(e),
        Ok(_) => {}
    }
    check_private(dir)
}

/// Where the directory is (it may not exist).
pub fn dir_path() -> PathBuf {
    if let Some(dir) = std::env::var_os(DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    match runtime {
        Some(r)
            if r.is_dir() && argv::fits_socket_limit(&r.join("orbdeploy-ssh/0123456789abcdef")) =>
        {
            r.join("orbdeploy-ssh")
        }
        _ => PathBuf::from(format!("/tmp/orbdeploy-ssh-{}", nix::unistd::geteuid())),
    }
}

/// A directory (not a link) of this user's, closed to everyone else.
fn check_private(dir: &Path) -> std::io::Result<()> {
    let meta = std::fs::symlink_metadata(dir)?;
    let uid = nix::unistd::geteuid().as_raw();
    if !meta.is_dir() || meta.uid() != uid || meta.mode() & 0o077 != 0 {
        return Err(std::io::Error::other(format!(
            "{} is not a private directory of this user's (it must be a directory owned by uid {uid} with mode 0700); remove it or set {DIR_ENV}",
            dir.display()
        )));
    }
    Ok(())
}

/// The socket of `target`'s master in `dir`: named by the SHA-256 of everything that
/// decides the connection (the ssh client and the target, `persist` left out), so two
/// targets never share a master and a changed target gets a new one.
pub fn socket_for(dir: &Path, program: &Path, target: &SshTarget) -> PathBuf {
    let mut key = target.clone();
    key.persist = None;
    let text = serde_json::to_string(&(program, &key)).unwrap_or_default();
    let sum = format!("{:x}", Sha256::digest(text.as_bytes()));
    dir.join(&sum[..16])
}

/// How long a persisted master may take to answer its check (as `ssh -O check` was given):
/// a wedged one is then replaced rather than waited for.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// Whether the master at `argv`'s socket is there, this user's, and answers.
pub fn answers(argv: &Argv) -> bool {
    let owned = std::fs::symlink_metadata(&argv.control_path)
        .is_ok_and(|m| m.file_type().is_socket() && m.uid() == nix::unistd::geteuid().as_raw());
    if !owned {
        return false;
    }
    match mux::alive(&argv.control_path, CHECK_TIMEOUT) {
        Ok(_) => true,
        // A master of another protocol version: its own client knows how to ask it.
        Err(mux::MuxError::Version(_)) => {
            control(&argv.program, &argv.control_path, "check", "persisted")
        }
        Err(_) => false,
    }
}

/// `ssh -O COMMAND` to the master at `socket` (`check`, `exit`); whether ssh said yes. For a
/// master of another mux protocol version only (its own client speaks it).
fn control(program: &Path, socket: &Path, command: &str, host: &str) -> bool {
    let argv: Vec<OsString> = vec![
        program.into(),
        "-o".into(),
        format!("ControlPath={}", socket.display()).into(),
        "-O".into(),
        command.into(),
        "--".into(),
        host.into(),
    ];
    let spec = Spec::new(argv).timeout(Some(Duration::from_secs(10)));
    process::run(&spec).is_ok_and(|o| o.status.success())
}

/// End every persisted master of this user (`orbdeploy ssh close`): `ssh -O exit`'s request
/// to each socket in the directory, sent from this process, and the socket removed. How many answered, and the sockets
/// that did not (removed too: nothing answers there).
pub fn close_all() -> std::io::Result<(usize, usize)> {
    let dir = dir_path();
    if !dir.exists() {
        return Ok((0, 0));
    }
    check_private(&dir)?;
    let program = argv::ssh_program();
    let (mut closed, mut stale) = (0, 0);
    for entry in std::fs::read_dir(&dir)?.flatten() {
        let path = entry.path();
        let is_socket = entry.file_type().is_ok_and(|t| t.is_socket());
        if !is_socket {
            continue;
        }
        let ended = match mux::terminate(&path, CHECK_TIMEOUT) {
            Ok(()) => true,
            Err(mux::MuxError::Version(_)) => control(&program, &path, "exit", "persisted"),
            Err(_) => false,
        };
        if ended {
            closed += 1;
        } else {
            stale += 1;
        }
        let _ = std::fs::remove_file(&path);
    }
    Ok((closed, stale))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn many_connections_making_the_directory_at_once_all_get_it() {
        // A 100-host first `--persist` run: one host failed with "File exists" when
        // another made the directory between its look and its mkdir.
        let base =
            std::env::temp_dir().join(format!("orbdeploy-persist-race-{}", std::process::id()));
        std::fs::create_dir_all(&base).expect("base");
        for round in 0..20 {
            let dir = base.join(round.to_string());
            let results: Vec<std::io::Result<()>> = std::thread::scope(|s| {
                let handles: Vec<_> = (0..16)
                    .map(|_| s.spawn(|| ensure_private_dir(&dir)))
                    .collect();
                handles
                    .into_iter()
                    .map(|h| h.join().expect("thread"))
                    .collect()
            });
            for r in results {
                assert!(r.is_ok(), "round {round}: {r:?}");
            }
            let mode = std::fs::metadata(&dir).expect("made").mode() & 0o777;
            assert_eq!(mode, 0o700);
        }
        let _ = std::fs::remove_dir_all(&base);
    }

    #[test]
    fn a_target_names_its_socket_and_persist_does_not() {
        let t = SshTarget {
            host: "h".into(),
            port: Some(22),
            user: Some("u".into()),
            identity: None,
            jump: None,
            config: None,
            host_key: Default::default(),
            connect_timeout: None,
            options: Vec::new(),
            persist: Some(Duration::from_secs(60)),
        };
        let dir = Path::new("/d");
        let ssh = Path::new("ssh");
        let a = socket_for(dir, ssh, &t);
        let mut longer = t.clone();
        longer.persist = Some(Duration::from_secs(600));
        assert_eq!(a, socket_for(dir, ssh, &longer));
        let mut other = t.clone();
        other.user = Some("v".into());
        assert_ne!(a, socket_for(dir, ssh, &other));
        assert_ne!(a, socket_for(dir, Path::new("/opt/ssh"), &t));
        assert_eq!(a.parent(), Some(dir));
        assert_eq!(a.file_name().map(|n| n.len()), Some(16));
    }

    #[test]
    fn the_directory_must_be_private() {
        let base = tempfile::tempdir().unwrap();
        let open = base.path().join("open");
        std::fs::DirBuilder::new()
            .mode(0o755)
            .create(&open)
            .unwrap();
        let err = check_private(&open).unwrap_err().to_string();
        assert!(err.contains("is not a private directory"), "{err}");
        let private = base.path().join("private");
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&private)
            .unwrap();
        check_private(&private).unwrap();
        let link = base.path().join("link");
        std::os::unix::fs::symlink(&private, &link).unwrap();
        assert!(check_private(&link).is_err(), "a link is refused");
    }
}
