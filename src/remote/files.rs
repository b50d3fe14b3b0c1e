//! The scripts that write and read files on a machine, shared by every transport that has
//! no faster way: a write is `mktemp` in the destination directory plus `mv` (a reader sees
//! the old file or the new one), a read is `cat` streamed into the sink.

use std::io::{Read, Write};

use super::{Exec, ExecOutput, Input, Remote, RemoteError, WriteFile};
use crate::quote::quote;

/// [`Remote::write_file`] through one request: [`write_script`] with the content on stdin.
pub fn write_by_script<R: Remote + ?Sized>(
    remote: &mut R,
    req: &WriteFile,
    content: &mut dyn Read,
) -> Result<(), RemoteError> {
    let exec = Exec {
        script: write_script(req),
        user: req.user.clone(),
        ..Exec::default()
    };
    let input = Input {
        reader: content,
        len: req.len,
    };
    let out = remote.exec_stream(&exec, Some(input), None)?;
    check_transfer(&out, &format!("writing {}", req.path))
}

/// [`Remote::read_file`] through one request: `cat` with stdout streamed into `sink`.
pub fn read_by_cat<R: Remote + ?Sized>(
    remote: &mut R,
    path: &str,
    user: Option<&str>,
    sink: &mut dyn Write,
) -> Result<u64, RemoteError> {
    let mut counter = CountingWriter { inner: sink, n: 0 };
    let exec = Exec {
        file_sized: true,
        ..Exec::script(format!("exec cat -- {}", quote(path))).as_user(user)
    };
    let out = remote.exec_stream(&exec, None, Some(&mut counter))?;
    check_transfer(&out, &format!("reading {path}"))?;
    Ok(counter.n)
}

/// A non-zero status of a transfer script as a [`RemoteError::Transfer`].
pub fn check_transfer(out: &ExecOutput, what: &str) -> Result<(), RemoteError> {
    if out.status == 0 {
        return Ok(());
    }
    let err = String::from_utf8_lossy(&out.stderr);
    let detail = err.trim();
    Err(RemoteError::Transfer(if detail.is_empty() {
        format!("{what} failed (exit {})", out.status)
    } else {
        format!("{what} failed: {detail}")
    }))
}

struct CountingWriter<'a> {
    inner: &'a mut dyn Write,
    n: u64,
}

impl Write for CountingWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.n += n as u64;
        Ok(n)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

/// The directory part of an absolute path (`/` for `/x`).
pub fn parent_dir(path: &str) -> &str {
    match path.rfind('/') {
        Some(0) | None => "/",
        Some(i) => &path[..i],
    }
}

/// The opening of every script that writes a file by way of a temporary one beside it
/// (`$t`, made by `mktemp` in `dir`, a shell word, as `dir/NAME.XXXXXX`), rename it into
/// place, and end with [`TEMP_DONE`]. Whatever ends the script before that, a failure or a
/// TERM, HUP or INT, removes the temporary file.
///
/// The traps come before `mktemp`: set after it, a signal in between (Ctrl-C ends the
/// request's whole process group) killed the shell with the file made and no trap to
/// remove it. A trapped signal that arrives during `t=$(mktemp …)` runs its trap once the
/// assignment is done (POSIX shells run traps between commands), so `$t` names the file.
/// Only SIGKILL, or one between mktemp making the file and printing its name, can leave
/// one behind.
///
/// A missing directory is said as such: mktemp's own words name its template, not the
/// directory the user wrote.
pub fn temp_beside(dir: &str, name: &str) -> String {
    format!(
        "t=\n\
         trap '[ -z \"$t\" ] || rm -f \"$t\"' EXIT\n\
         trap 'exit 143' TERM HUP INT\n\
         {}\
         t=$(mktemp {dir}/{name}.XXXXXX) || exit 1\n",
        dir_must_exist(dir)
    )
}

/// The line that ends a script when the directory `dir` (a shell word) is missing, with a
/// message that names it and what to add, instead of the words of the command that would
/// fail on it (`mktemp`, `mkdir`).
pub fn dir_must_exist(dir: &str) -> String {
    format!(
        "[ -d {dir} ] || {{ printf '%s\\n' \"the directory \"{dir}\" does not exist (create it first, e.g. with a \\`directory:\\` step)\" >&2; exit 1; }}\n"
    )
}

/// The end of a script that began with [`temp_beside`]: the file is in place.
pub const TEMP_DONE: &str = "trap - EXIT TERM HUP INT\n";

/// The script that writes stdin to `req.path` atomically (see [`Remote::write_file`]).
///
/// `mktemp` creates the temporary file with mode 0600, so the content is never readable
/// by others before the final mode is set; the temporary file is removed on any failure.
pub fn write_script(req: &WriteFile) -> String {
    let mut s = temp_beside(&quote(parent_dir(&req.path)), ".orbdeploy");
    s.push_str(&format!(
        "cat > \"$t\" || exit 1\n\
         chmod {:o} \"$t\" || exit 1\n",
        req.mode
    ));
    let owner = match (&req.owner, &req.group) {
        (Some(o), Some(g)) => Some(format!("{o}:{g}")),
        (Some(o), None) => Some(o.clone()),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => None,
    };
    if let Some(owner) = owner {
        s.push_str(&format!("chown {} \"$t\" || exit 1\n", quote(&owner)));
    }
    s.push_str(&format!("mv -f \"$t\" {} || exit 1\n", quote(&req.path)));
    s.push_str(TEMP_DONE);
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parent_dir_of_absolute_paths() {
        assert_eq!(parent_dir("/etc/hosts"), "/etc");
        assert_eq!(parent_dir("/x"), "/");
        assert_eq!(parent_dir("/a b/c d"), "/a b");
    }

    #[test]
    fn write_script_writes_atomically_with_mode() {
        let dir = tempfile::tempdir().unwrap();
        let dest = dir.path().join("it's a file");
        let req = WriteFile {
            path: dest.to_string_lossy().into_owned(),
            mode: 0o640,
            len: 5,
            ..WriteFile::default()
        };
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(write_script(&req))
            .stdin(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                use std::io::Write as _;
                c.stdin.take().unwrap().write_all(b"hello")?;
                c.wait()
            })
            .unwrap();
        assert!(out.success());
        assert_eq!(std::fs::read(&dest).unwrap(), b"hello");
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&dest).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o640);
        // No temporary file left behind.
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }

    /// A TERM to the script's process group while `mktemp` runs (a stand-in that makes the
    /// file, prints its name and sleeps) removes the file: the traps are set before it.
    /// Set after it, as they were, the shell died with the file made.
    #[test]
    fn a_signal_during_mktemp_leaves_no_temporary_file() {
        use std::os::unix::fs::PermissionsExt;
        use std::os::unix::process::CommandExt;
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        let dest_dir = dir.path().join("dest");
        std::fs::create_dir_all(&bin).unwrap();
        std::fs::create_dir_all(&dest_dir).unwrap();
        let fake = bin.join("mktemp");
        std::fs::write(
            &fake,
            // `printed` (beside the stand-in, not in `dest`) is made once the name is out:
            // a signal between making the file and printing its name is the one gap the
            // write script documents, so the test waits past it.
            "#!/bin/sh\nf=${1%XXXXXX}made\n: > \"$f\"\necho \"$f\"\n: > \"${0%/*}/printed\"\nexec sleep 30\n",
        )
        .unwrap();
        std::fs::set_permissions(&fake, std::fs::Permissions::from_mode(0o755)).unwrap();
        let req = WriteFile {
            path: dest_dir.join("f").to_string_lossy().into_owned(),
            mode: 0o644,
            ..WriteFile::default()
        };
        let path = format!(
            "{}:{}",
            bin.display(),
            std::env::var("PATH").unwrap_or_default()
        );
        let mut child = std::process::Command::new("sh")
            .arg("-c")
            .arg(write_script(&req))
            .env("PATH", path)
            .stdin(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .unwrap();
        let printed = bin.join("printed");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
        while !printed.exists() {
            assert!(
                std::time::Instant::now() < deadline,
                "the stand-in mktemp never ran"
            );
            std::thread::sleep(std::time::Duration::from_millis(5));
        }
        let pgid = nix::unistd::Pid::from_raw(child.id() as i32);
        nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = child.wait().unwrap();
        assert!(!status.success());
        let left: Vec<_> = std::fs::read_dir(&dest_dir)
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert!(left.is_empty(), "left behind: {left:?}");
    }
}
