//! Lookups in templates, on this computer: `{{ pipe("op read op://vault/item/field") }}`
//! runs a command and gives its output (one trailing newline removed) as a secret;
//! `{{ file("cert.pem") }}` gives a local file's text, relative to the file that uses it
//! (not a secret unless a `secrets:` name holds it).
//!
//! `pipe` runs while the inventory and the steps are checked, before any machine is
//! touched: the check renders every step for every machine, so every command a run needs
//! runs then, once per distinct command (the cache belongs to the run's renderer). The run
//! [seals](Lookups::seal) the lookups before its first change; after that a command not
//! seen during the check (one built from a value a step registered) is an error, never a
//! command run per machine per step, and no output a masker has not seen can appear.

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use crate::process::{self, Spec};

/// How long a lookup command may take (a password manager may wait for a fingerprint).
pub const PIPE_TIMEOUT: Duration = Duration::from_secs(120);

/// The name under which a render passes the directory `file()` is relative to.
pub const FILE_DIR: &str = "__orbdeploy_file_dir";

/// What the lookups of one command line learned: `pipe()`'s outputs by command as written
/// (or why the command failed), and every value that is a secret because a lookup gave it
/// (`pipe()`, `env()`). `orbdeploy test` shares it between its checks and every phase's
/// run, so a command runs once per `orbdeploy` invocation, and every run masks every such
/// value, also one its own steps never looked up (a verify step that prints a file converge
/// wrote). Clones share it. Its `Debug` names how many commands ran, never a value.
#[derive(Clone, Default)]
pub struct Learned {
    outputs: Arc<Mutex<HashMap<String, Result<String, String>>>>,
    secrets: Arc<Mutex<BTreeSet<String>>>,
}

impl Learned {
    /// The secrets every renderer sharing this adds to and reads (one set per command line).
    pub fn secrets(&self) -> Arc<Mutex<BTreeSet<String>>> {
        Arc::clone(&self.secrets)
    }
}

impl std::fmt::Debug for Learned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let n = self.outputs.lock().map(|r| r.len()).unwrap_or_default();
        write!(f, "Learned({n} commands)")
    }
}

/// What one run's lookups ran and read.
#[derive(Default)]
pub struct Lookups {
    ran: Learned,
    /// Set once the run starts changing machines: no new command runs.
    sealed: AtomicBool,
}

impl Lookups {
    /// Lookups answered from `ran`, and adding to it: the outputs of earlier runs of the
    /// same command line.
    pub fn sharing(ran: &Learned) -> Self {
        Lookups {
            ran: ran.clone(),
            sealed: AtomicBool::new(false),
        }
    }

    /// No command runs from now on; what ran is still answered.
    pub fn seal(&self) {
        self.sealed.store(true, Ordering::SeqCst);
    }

    /// The output of `command`, run on the first call; every output joins `secrets`.
    pub fn pipe(
        &self,
        command: &str,
        secrets: &Arc<Mutex<BTreeSet<String>>>,
    ) -> Result<String, String> {
        let mut ran = self
            .ran
            .outputs
            .lock()
            .map_err(|_| "pipe(): a lookup panicked".to_string())?;
        if let Some(done) = ran.get(command) {
            return done.clone();
        }
        if self.sealed.load(Ordering::SeqCst) {
            return Err(format!(
                "pipe(`{command}`) was not run while the steps were checked (is it built from a registered value?): a lookup runs before any machine is touched, so its command may use variables and facts, not what steps register"
            ));
        }
        let result = run(command);
        if let Ok(out) = &result {
            if let Ok(mut s) = secrets.lock() {
                s.insert(out.clone());
            }
        }
        ran.insert(command.to_string(), result.clone());
        result
    }
}

/// Run `command`, split into words as a shell would but with no shell.
fn run(command: &str) -> Result<String, String> {
    let argv = shell_words::split(command)
        .map_err(|e| format!("pipe(`{command}`): cannot split it into words: {e}"))?;
    if argv.is_empty() {
        return Err("pipe(``): the command is empty".into());
    }
    let spec = Spec::new(&argv).timeout(Some(PIPE_TIMEOUT));
    let out = process::run(&spec).map_err(|e| format!("pipe(`{command}`): {e}"))?;
    if !out.status.success() {
        let tail = out.stderr_tail(5);
        let said = if tail.is_empty() {
            String::new()
        } else {
            format!(": {tail}")
        };
        return Err(format!("pipe(`{command}`) failed ({}){said}", out.status));
    }
    let text = String::from_utf8(out.stdout)
        .map_err(|_| format!("pipe(`{command}`): its output is not UTF-8 text"))?;
    let text = text.strip_suffix('\n').unwrap_or(&text);
    Ok(text.strip_suffix('\r').unwrap_or(text).to_string())
}

/// The text of `rel`, relative to `dir`.
pub fn file(dir: Option<&str>, rel: &str) -> Result<(std::path::PathBuf, String), String> {
    let path = match dir {
        Some(d) => Path::new(d).join(rel),
        None if Path::new(rel).is_absolute() => Path::new(rel).to_path_buf(),
        None => {
            return Err(format!(
                "file(`{rel}`): a relative path needs a file to be relative to; file() works in operation values and template files"
            ))
        }
    };
    let bytes = std::fs::read(&path).map_err(|e| {
        format!(
            "file(`{rel}`): cannot read {}: {}",
            path.display(),
            crate::yaml::io_reason(&e)
        )
    })?;
    let text = String::from_utf8(bytes)
        .map_err(|_| format!("file(`{rel}`): {} is not UTF-8 text", path.display()))?;
    Ok((path, text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pipe_runs_once_strips_one_newline_and_keeps_the_output_secret() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let cmd = format!("sh -c 'echo x >> {}; printf \"pw\\n\\n\"'", count.display());
        let l = Lookups::default();
        let secrets = Arc::default();
        assert_eq!(l.pipe(&cmd, &secrets).unwrap(), "pw\n");
        assert_eq!(l.pipe(&cmd, &secrets).unwrap(), "pw\n");
        assert_eq!(std::fs::read_to_string(&count).unwrap(), "x\n");
        assert!(secrets.lock().unwrap().contains("pw\n"));
        // No shell unless asked for: `;` is a word of echo's.
        assert_eq!(l.pipe("echo a; b", &secrets).unwrap(), "a; b");
    }

    #[test]
    fn lookups_sharing_outputs_run_a_command_once_and_seal_apart() {
        let dir = tempfile::tempdir().unwrap();
        let count = dir.path().join("count");
        let cmd = format!("sh -c 'echo x >> {}; echo pw'", count.display());
        let ran = Learned::default();
        let secrets = Arc::default();
        let first = Lookups::sharing(&ran);
        assert_eq!(first.pipe(&cmd, &secrets).unwrap(), "pw");
        first.seal();
        let second = Lookups::sharing(&ran);
        assert_eq!(second.pipe(&cmd, &secrets).unwrap(), "pw");
        assert_eq!(std::fs::read_to_string(&count).unwrap(), "x\n");
        // The first run's seal is its own: the second may still run a new command.
        assert_eq!(second.pipe("echo other", &secrets).unwrap(), "other");
        assert!(first.pipe("echo third", &secrets).is_err());
    }

    #[test]
    fn a_failing_or_unseen_command_is_an_error_with_its_stderr() {
        let l = Lookups::default();
        let secrets = Arc::default();
        let e = l
            .pipe("sh -c 'echo nope >&2; exit 3'", &secrets)
            .unwrap_err();
        assert_eq!(
            e,
            "pipe(`sh -c 'echo nope >&2; exit 3'`) failed (exit code 3): nope"
        );
        assert!(l
            .pipe("no-such-program-x", &secrets)
            .unwrap_err()
            .contains("cannot run"));
        assert!(l
            .pipe("echo 'open", &secrets)
            .unwrap_err()
            .contains("cannot split"));
        l.seal();
        assert!(l
            .pipe("echo new", &secrets)
            .unwrap_err()
            .contains("was not run while"));
    }
}
