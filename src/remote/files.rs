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

/// The script that writes stdin to `req.path` atomically (see [`Remote::write_file`]).
///
/// `mktemp` creates the temporary file with mode 0600, so the content is never readable
/// by others before the final mode is set; the temporary file is removed on any failure.
pub fn write_script(req: &WriteFile) -> String {
    let dir = quote(parent_dir(&req.path));
    let mut s = format!(
        "t=$(mktemp {dir}/.orbdeploy.XXXXXX) || exit 1\n\
         trap 'rm -f \"$t\"' EXIT\n\
         trap 'exit 143' TERM HUP INT\n\
         cat > \"$t\" || exit 1\n\
         chmod {:o} \"$t\" || exit 1\n",
        req.mode
    );
    let owner = match (&req.owner, &req.group) {
        (Some(o), Some(g)) => Some(format!("{o}:{g}")),
        (Some(o), None) => Some(o.clone()),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => None,
    };
    if let Some(owner) = owner {
        s.push_str(&format!("chown {} \"$t\" || exit 1\n", quote(&owner)));
    }
    s.push_str(&format!(
        "mv -f \"$t\" {} || exit 1\ntrap - EXIT TERM HUP INT\n",
        quote(&req.path)
    ));
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
}
