//! Ctrl-C and SIGTERM: stop scheduling, end every child process group, let the run print
//! its summary and write its reports, then exit 130. A second Ctrl-C exits at once, after
//! removing the paths a [`HardExitGuard`] holds (temporary files not yet renamed into
//! place, an ssh host's control socket directory), which a normal end removes itself.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Mutex, Once};
use std::time::Duration;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();
static LEFT_BEHIND: Registry = Registry::new();

/// Paths to remove on a hard exit.
struct Registry(Mutex<BTreeSet<PathBuf>>);

impl Registry {
    const fn new() -> Registry {
        Registry(Mutex::new(BTreeSet::new()))
    }

    fn guard(&'static self, path: &Path) -> HardExitGuard {
        if let Ok(mut paths) = self.0.lock() {
            paths.insert(path.to_path_buf());
        }
        HardExitGuard {
            path: path.to_path_buf(),
            registry: self,
        }
    }

    fn remove_all(&self) {
        // try_lock: a thread that held the lock when the signal came must not hang the exit.
        if let Ok(paths) = self.0.try_lock() {
            for p in paths.iter() {
                let _ = if p.is_dir() {
                    std::fs::remove_dir_all(p)
                } else {
                    std::fs::remove_file(p)
                };
            }
        }
    }
}

/// A path orbdeploy is making (a temporary file before its rename into place, a private
/// directory): removed if a second Ctrl-C makes orbdeploy exit at once, and off that list
/// again when the guard is dropped (its owner renamed or removed it).
pub struct HardExitGuard {
    path: PathBuf,
    registry: &'static Registry,
}

impl HardExitGuard {
    /// Put `path` on the list.
    pub fn new(path: &Path) -> HardExitGuard {
        // The reaper removes it too, should orbdeploy be killed (SIGKILL) before it does.
        crate::process::reaper::note_path(path, true);
        LEFT_BEHIND.guard(path)
    }
}

impl std::fmt::Debug for HardExitGuard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HardExitGuard({})", self.path.display())
    }
}

impl Drop for HardExitGuard {
    fn drop(&mut self) {
        if let Ok(mut paths) = self.registry.0.lock() {
            paths.remove(&self.path);
        }
        crate::process::reaper::note_path(&self.path, false);
    }
}

/// True once SIGINT, SIGTERM or SIGHUP arrived.
pub fn requested() -> bool {
    #[cfg(test)]
    if REQUESTED_HERE.with(std::cell::Cell::get) {
        return true;
    }
    REQUESTED.load(Ordering::SeqCst)
}

#[cfg(test)]
thread_local! {
    /// Ctrl-C as a unit test plays it: seen by its own thread only, since [`REQUESTED`] is
    /// the whole process's and would stop the tests running beside it.
    static REQUESTED_HERE: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Tests: make [`requested`] say `on` on this thread alone (a machine's run happens on
/// one thread, so a fake remote can let Ctrl-C arrive between two of its steps).
#[cfg(test)]
pub(crate) fn request_on_this_thread(on: bool) {
    REQUESTED_HERE.with(|r| r.set(on));
}

/// Install the handler (once per process). Children run in their own process groups, so
/// the terminal's Ctrl-C reaches only orbdeploy; the handler ends them itself, which makes
/// every blocked request return at once.
pub fn install() {
    INSTALL.call_once(|| {
        let _ = ctrlc::set_handler(|| {
            if REQUESTED.swap(true, Ordering::SeqCst) {
                // A second Ctrl-C: the user wants out now.
                crate::process::terminate_all(Duration::ZERO);
                LEFT_BEHIND.remove_all();
                std::process::exit(crate::exit::INTERRUPTED);
            }
            crate::process::terminate_all(Duration::from_millis(500));
        });
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a second Ctrl-C removes: the paths of live guards, files and directories, and
    /// nothing whose guard was dropped.
    #[test]
    fn a_hard_exit_removes_what_live_guards_hold_and_nothing_else() {
        let base = std::env::temp_dir().join(format!("od-hardexit-{}", std::process::id()));
        let dir = base.join("odssh-test");
        std::fs::create_dir_all(&dir).expect("mkdir");
        std::fs::write(dir.join("m"), b"").expect("socket stand-in");
        let file = base.join(".report.json.tmp-1");
        std::fs::write(&file, b"half").expect("temp file");
        let kept = base.join("renamed");
        std::fs::write(&kept, b"done").expect("file");
        // A registry of the test's own: the process's one holds other tests' paths.
        static MINE: Registry = Registry::new();
        let _dir_guard = MINE.guard(&dir);
        let _file_guard = MINE.guard(&file);
        drop(MINE.guard(&kept));
        MINE.remove_all();
        assert!(!dir.exists() && !file.exists());
        assert!(
            kept.exists(),
            "a dropped guard's path is not orbdeploy's any more"
        );
        let _ = std::fs::remove_dir_all(&base);
    }
}
