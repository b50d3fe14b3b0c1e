//! `ORBDEPLOY_TRACE_DIR`: a copy of every script sent to a machine, on both transports, for
//! a person who wants to see exactly what ran and for `scripts/bench.sh`, which replays them.
//!
//! The directory is made 0700 when missing and each file is 0600, written to a temporary
//! name and renamed into place. Secrets are masked in the copies unless
//! `ORBDEPLOY_TRACE_SECRETS=1` asks for them in clear (to replay a run exactly), which is
//! said once on stderr.

use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::OnceLock;

use crate::mask::Masker;

/// Where traces go, and how they are masked.
struct Trace {
    dir: PathBuf,
    clear: bool,
}

static TRACE: OnceLock<Option<Trace>> = OnceLock::new();
static MASKER: OnceLock<Masker> = OnceLock::new();
static SEQ: AtomicU64 = AtomicU64::new(0);

/// Tell the trace which values are secret; call once, before the first request (later
/// calls are ignored: a run has one set of secrets).
pub fn set_secrets(masker: &Masker) {
    let _ = MASKER.set(masker.clone());
}

fn trace() -> Option<&'static Trace> {
    TRACE
        .get_or_init(|| {
            let dir = PathBuf::from(std::env::var_os("ORBDEPLOY_TRACE_DIR")?);
            let clear = std::env::var("ORBDEPLOY_TRACE_SECRETS").as_deref() == Ok("1");
            if clear {
                eprintln!(
                    "orbdeploy: ORBDEPLOY_TRACE_SECRETS=1: the trace files in {} hold secrets in clear",
                    dir.display()
                );
            }
            if let Err(e) = std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)
            {
                eprintln!(
                    "orbdeploy: ORBDEPLOY_TRACE_DIR: cannot create {}: {e}",
                    dir.display()
                );
                return None;
            }
            Some(Trace { dir, clear })
        })
        .as_ref()
}

/// Keep a copy of `script`, sent to `machine` as `user`.
pub fn record(machine: &str, user: Option<&str>, script: &str) {
    let Some(t) = trace() else {
        return;
    };
    let n = SEQ.fetch_add(1, Ordering::SeqCst);
    let name = format!("{machine}.{}.{n:06}.sh", user.unwrap_or("default"));
    let text = match (t.clear, MASKER.get()) {
        (false, Some(m)) => m.text(script),
        _ => script.to_string(),
    };
    // A trace is a convenience: failing to write one never fails the run.
    let _ = write_private(&t.dir.join(name), text.as_bytes());
}

/// Write `bytes` to `path` with mode 0600, through a temporary name in the same directory.
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("sh.tmp");
    let _guard = crate::interrupt::HardExitGuard::new(&tmp);
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)?;
    // No fsync: a trace must not slow the run it shows (scripts/bench.sh times runs with
    // tracing on); the rename alone keeps a reader from seeing half a file.
    let written = f.write_all(bytes);
    drop(f);
    match written.and_then(|()| std::fs::rename(&tmp, path)) {
        Ok(()) => Ok(()),
        Err(e) => {
            let _ = std::fs::remove_file(&tmp);
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn private_files_are_0600_and_complete() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join("m.default.000001.sh");
        write_private(&p, b"echo hi\n").unwrap();
        assert_eq!(std::fs::read(&p).unwrap(), b"echo hi\n");
        let mode = std::fs::metadata(&p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 1);
    }
}
