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
use std::sync::{Arc, RwLock};

use crate::mask::Masker;

/// A run's trace: where its copies go and how they are masked. Each run makes its own
/// (two runs in one process number and mask their files apart); the default traces
/// nothing. Clones share the numbering and the masker.
#[derive(Clone, Default)]
pub struct Tracer {
    to: Option<Arc<To>>,
}

/// Where traces go, and how they are masked.
struct To {
    dir: PathBuf,
    clear: bool,
    /// The run's secrets as known so far: rendering may find more (`env()`) after the
    /// first scripts were sent.
    masker: RwLock<Masker>,
    seq: AtomicU64,
}

impl Tracer {
    /// The trace `ORBDEPLOY_TRACE_DIR` asks for (none when unset, or when the directory
    /// cannot be made, which is said on stderr), masking what `masker` masks.
    pub fn from_env(masker: Masker) -> Tracer {
        let Some(dir) = std::env::var_os("ORBDEPLOY_TRACE_DIR").map(PathBuf::from) else {
            return Tracer::default();
        };
        let clear = std::env::var("ORBDEPLOY_TRACE_SECRETS").as_deref() == Ok("1");
        Tracer::to_dir(dir, clear, masker)
    }

    /// A trace into `dir` (made 0700 when missing); `clear` keeps secrets in clear.
    pub fn to_dir(dir: PathBuf, clear: bool, masker: Masker) -> Tracer {
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
            return Tracer::default();
        }
        let to = To {
            dir,
            clear,
            masker: RwLock::new(masker),
            seq: AtomicU64::new(0),
        };
        Tracer {
            to: Some(Arc::new(to)),
        }
    }

    /// From now on, mask what `masker` masks (the run's whole set of secrets, once
    /// rendering has read every `env()` value).
    pub fn set_secrets(&self, masker: &Masker) {
        if let Some(to) = &self.to {
            if let Ok(mut m) = to.masker.write() {
                *m = masker.clone();
            }
        }
    }

    /// Keep a copy of `script`, sent to `machine` as `user`.
    pub fn record(&self, machine: &str, user: Option<&str>, script: &str) {
        let Some(t) = &self.to else {
            return;
        };
        let text = if t.clear {
            script.to_string()
        } else {
            match t.masker.read() {
                Ok(m) => m.text(script),
                // A poisoned lock: no masker to trust, so no copy.
                Err(_) => return,
            }
        };
        let n = t.seq.fetch_add(1, Ordering::SeqCst);
        let name = format!("{machine}.{}.{n:06}.sh", user.unwrap_or("default"));
        // A trace is a convenience: failing to write one never fails the run.
        let _ = write_private(&t.dir.join(name), text.as_bytes());
    }
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

    #[test]
    fn two_runs_trace_apart() {
        let dir = tempfile::tempdir().unwrap();
        let one = Tracer::to_dir(
            dir.path().join("one"),
            false,
            Masker::new(vec!["pw1".into()]),
        );
        let two = Tracer::to_dir(
            dir.path().join("two"),
            false,
            Masker::new(vec!["pw2".into()]),
        );
        one.record("m", None, "echo pw1 pw2");
        two.record("m", None, "echo pw1 pw2");
        // A secret learnt later masks what is recorded after.
        two.set_secrets(&Masker::new(vec!["pw1".into(), "pw2".into()]));
        two.record("m", Some("root"), "echo pw1 pw2");
        let read = |p: &str| std::fs::read_to_string(dir.path().join(p)).unwrap();
        assert_eq!(read("one/m.default.000000.sh"), "echo *** pw2");
        assert_eq!(read("two/m.default.000000.sh"), "echo pw1 ***");
        assert_eq!(read("two/m.root.000001.sh"), "echo *** ***");
        assert_eq!(
            std::fs::read_dir(dir.path().join("one")).unwrap().count(),
            1
        );
        Tracer::default().record("m", None, "nothing is written");
    }
}
