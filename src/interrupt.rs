//! Ctrl-C and SIGTERM: stop scheduling, end every child process group, let the run print
//! its summary and write its reports, then exit 130.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Once;
use std::time::Duration;

static REQUESTED: AtomicBool = AtomicBool::new(false);
static INSTALL: Once = Once::new();

/// True once SIGINT, SIGTERM or SIGHUP arrived.
pub fn requested() -> bool {
    REQUESTED.load(Ordering::SeqCst)
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
                std::process::exit(crate::exit::INTERRUPTED);
            }
            crate::process::terminate_all(Duration::from_millis(500));
        });
    });
}
