//! The one-shot path (`--no-channel`): one `orbctl run` per command, `orbctl push` /
//! `pull` per file; on an ssh host one `ssh` per command (over the host's master, so no
//! new login) and the cat-based transfer of `files.rs` per file. Slower (a process and a
//! login shell per call) but with no long-lived session; it gives the same results as the
//! channel and the suite runs on both.

use std::ffi::OsString;
use std::fs::File;
use std::io::{Read, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::orb::Orb;
use crate::process::{self, ProcessError, Spec};
use crate::quote::{self, quote};
use crate::remote::launcher::{Launcher, OrbLauncher};
use crate::remote::trace::Tracer;
use crate::remote::{
    check_transfer, read_by_cat, write_by_script, write_script, Exec, ExecOutput, Input, Meter,
    Remote, RemoteError, WriteFile,
};

/// Time limit for the helper calls of a file transfer (mkdir, push, pull, move).
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(3600);
/// Time limit for removing a push's directory after a failure or an interrupt.
const CLEANUP_TIMEOUT: Duration = Duration::from_secs(10);

/// The only script a one-shot request puts in argv: it reads a length line and that many
/// bytes of script from stdin, then runs the script in the same shell, whose stdin goes on
/// with the script's own input. So no script, and no secret in one, is ever in a process's
/// argv, on this computer (`orbctl run ...`) or on the machine (`sh -c ...`), and a long
/// script needs no special case. dd with `iflag=fullblock` reads exactly that many bytes
/// from a pipe (as the channel agent does); the `.` keeps trailing newlines.
pub(crate) const FIRST_STAGE: &str = r#"IFS= read -r __od_n || exit 96; __od_s=$(dd bs="$__od_n" count=1 iflag=fullblock 2>/dev/null; echo .); unset __od_n; eval "${__od_s%.}""#;

/// What a timed request runs on a host whose launcher cannot end the remote command by
/// ending the local process (ssh: killing the client leaves the command running): GNU
/// `timeout`, which kills the command's whole process group at the limit (busybox's kills
/// only the command itself); where there is no `timeout`, only the local process ends.
/// `$1` is the limit in seconds, `$2` the first stage.
const TIMED_STAGE: &str = r#"if command -v timeout >/dev/null 2>&1; then exec timeout -s KILL "$1" sh -c "$2"; fi; exec sh -c "$2""#;

/// How long past a request's limit the local process may run when the host enforces the
/// limit itself: enough for its kill to come back as an exit status.
const REMOTE_KILL_GRACE: Duration = Duration::from_secs(5);

/// How `--show-calls` names the first stage.
const FIRST_STAGE_NAME: &str = "<orbdeploy one-shot reader>";

/// One-shot access to one machine.
pub struct OneShot {
    launcher: Arc<dyn Launcher>,
    /// `Some` on an OrbStack machine: files go by `orbctl push`/`pull`.
    orb: Option<Orb>,
    machine: String,
    /// Every `orbctl` call is a request; the machine's own part of one is not seen.
    meter: Meter,
    /// Where a copy of each script goes.
    trace: Tracer,
    /// The default user's uid on the machine (`orbctl push` writes as that user), asked
    /// once, when root's first file is pushed.
    push_uid: Option<String>,
}

impl OneShot {
    /// One-shot access to `machine`.
    pub fn new(orb: &Orb, machine: &str) -> Self {
        let launcher = OrbLauncher {
            orb: orb.clone(),
            machine: machine.to_string(),
        };
        OneShot {
            launcher: Arc::new(launcher),
            orb: Some(orb.clone()),
            machine: machine.to_string(),
            meter: Meter::default(),
            trace: Tracer::default(),
            push_uid: None,
        }
    }

    /// One-shot access to `machine` through `launcher`, files by the cat-based transfer.
    pub fn over(launcher: Arc<dyn Launcher>, machine: &str) -> Self {
        OneShot {
            launcher,
            orb: None,
            machine: machine.to_string(),
            meter: Meter::default(),
            trace: Tracer::default(),
            push_uid: None,
        }
    }

    /// Keep a copy of every script sent in `trace`.
    pub fn traced(mut self, trace: Tracer) -> Self {
        self.trace = trace;
        self
    }

    /// The argv of every request for `req`'s user: the first stage only (`stage` is the
    /// script, or its name for `--show-calls`).
    fn argv(&self, req: &Exec, stage: &str) -> Vec<OsString> {
        self.argv_of(req, &["sh", "-c", stage])
    }

    /// The argv that runs `words` as `req`'s user (the login user's own name is the
    /// default user).
    fn argv_of(&self, req: &Exec, words: &[&str]) -> Vec<OsString> {
        let user = match req.user.as_deref() {
            Some(u) if self.launcher.is_login_user(u) => None,
            other => other,
        };
        self.launcher.argv(user, words)
    }

    /// What goes on stdin: the script's length, the script, then its own input.
    fn stdin(script: &str, input: Vec<u8>) -> Vec<u8> {
        let mut out = format!("{}\n", script.len()).into_bytes();
        out.reserve(script.len() + input.len());
        out.extend_from_slice(script.as_bytes());
        out.extend(input);
        out
    }

    /// What `sh` runs: a probe gets the probe library in front (the channel agent defines it
    /// once per session instead).
    fn script(req: &Exec) -> String {
        if req.probe {
            format!(
                "{}{}",
                crate::remote::probe_lib::probe_lib(),
                req.full_script()
            )
        } else {
            req.full_script()
        }
    }

    fn run(&self, spec: &Spec) -> Result<process::Output, RemoteError> {
        process::run(spec).map_err(|e| match e {
            ProcessError::Timeout { after, .. } => RemoteError::Timeout(after),
            e => self.launcher.spawn_failed(e),
        })
    }

    /// A transfer helper call (push/pull) that must succeed.
    fn call(&mut self, argv: Vec<OsString>, what: &str) -> Result<(), RemoteError> {
        let spec = Spec::new(argv).timeout(Some(TRANSFER_TIMEOUT));
        let t = Instant::now();
        let out = self.run(&spec);
        self.meter.count_request(t.elapsed(), None);
        let out = out?;
        if out.status.success() {
            return Ok(());
        }
        Err(RemoteError::Transfer(format!(
            "{what} failed ({}): {}",
            out.status,
            out.stderr_tail(3)
        )))
    }
}

impl Remote for OneShot {
    fn machine(&self) -> &str {
        &self.machine
    }

    fn exec_stream(
        &mut self,
        req: &Exec,
        input: Option<Input<'_>>,
        sink: Option<&mut dyn Write>,
    ) -> Result<ExecOutput, RemoteError> {
        if crate::interrupt::requested() {
            return Err(RemoteError::Interrupted);
        }
        let script = Self::script(req);
        self.trace
            .record(&self.machine, req.user.as_deref(), &script);
        let mut own = req.stdin.clone();
        if let Some(i) = input {
            own.clear();
            i.reader.take(i.len).read_to_end(&mut own)?;
        }
        self.launcher.prepare()?;
        // A limit the host enforces itself (TIMED_STAGE), the local one a little later.
        let on_host = req.timeout.filter(|_| self.launcher.needs_remote_timeout());
        let secs = on_host.map(|t| t.as_secs().max(1).to_string());
        let (argv, local_limit) = match (&secs, on_host) {
            (Some(secs), Some(t)) => (
                self.argv_of(req, &["sh", "-c", TIMED_STAGE, "sh", secs, FIRST_STAGE]),
                Some(t + REMOTE_KILL_GRACE),
            ),
            _ => (self.argv(req, FIRST_STAGE), req.timeout),
        };
        let spec = Spec::new(argv)
            .timeout(local_limit)
            .stdin(Self::stdin(&script, own));
        let t = Instant::now();
        let out = self.run(&spec);
        self.meter.count_request(t.elapsed(), None);
        let out = out?;
        if let Some(limit) = on_host {
            // Killed by signal: 137 through a shell, 255 when ssh reports the signal.
            if matches!(out.status.code(), 137 | 255) && out.duration >= limit {
                return Err(RemoteError::Timeout(limit));
            }
        }
        if let Some(e) = self
            .launcher
            .call_failed(out.status.code(), &out.stdout, &out.stderr)
        {
            return Err(e);
        }
        let mut stdout = out.stdout;
        if let Some(w) = sink {
            w.write_all(&stdout)?;
            stdout.clear();
        }
        Ok(ExecOutput {
            status: out.status.code(),
            stdout,
            stderr: out.stderr,
            duration: out.duration,
        })
    }

    fn describe(&self, req: &Exec) -> Vec<String> {
        vec![format!(
            "{} <<< {}",
            quote::join(&self.argv(req, FIRST_STAGE_NAME)),
            quote::quote(req.full_script().trim_end_matches('\n'))
        )]
    }

    fn close(&mut self) {}

    fn batches_facts(&self) -> bool {
        false
    }

    fn meter(&self) -> Meter {
        self.meter
    }

    fn write_file(&mut self, req: &WriteFile, content: &mut dyn Read) -> Result<(), RemoteError> {
        let t = Instant::now();
        let written = match self.orb.is_some() {
            true => self.write_staged(req, content),
            false => write_by_script(self, req, content),
        };
        self.meter.count_transfer(t, &written, |_| req.len);
        written
    }

    fn read_file(
        &mut self,
        path: &str,
        user: Option<&str>,
        sink: &mut dyn Write,
    ) -> Result<u64, RemoteError> {
        let t = Instant::now();
        let read = match self.orb.is_some() {
            true => self.read_pulled(path, user, sink),
            false => read_by_cat(self, path, user, sink),
        };
        self.meter.count_transfer(t, &read, |n| *n);
        read
    }
}

impl OneShot {
    /// [`Remote::write_file`]: by `orbctl push` to a private directory, then moved into
    /// place; by a script for a third user.
    fn write_staged(&mut self, req: &WriteFile, content: &mut dyn Read) -> Result<(), RemoteError> {
        let Some(orb) = self.orb.clone() else {
            return write_by_script(self, req, content);
        };
        // `orbctl push` writes as the default user; a third user cannot read its file, so
        // that case streams through `run` instead. So does a file for the machine's /tmp,
        // which `orbctl push` may not see as the machine does (§12.8).
        let via_push = matches!(req.user.as_deref(), None | Some("root"));
        if !via_push || in_guest_tmp(&req.path) {
            return write_by_script(self, req, content);
        }
        let local = LocalTemp::create()?;
        {
            let mut f = local.open_write()?;
            std::io::copy(&mut content.take(req.len), &mut f)?;
            f.flush()?;
        }
        // A private directory beside the destination, so the pushed copy is never readable
        // by others and the push does not depend on the machine's /tmp, which some clients
        // report `orbctl push` can see differently from the machine's sessions (a tmpfs /tmp:
        // docs/orbctl.md §12.8). Its name is ours (random, so nobody can make it first;
        // `mkdir` refuses a name that exists, a link too), so that an interrupt that ends
        // the `mkdir` call after the directory was made still knows what to remove. For
        // root, it is handed to the default user, who writes the pushed copy.
        let dir = staging_dir(&req.path);
        let staged = format!("{dir}/file");
        let made = self.make_staging(&dir, req);
        let pushed = made.and_then(|()| {
            self.call(
                orb.push_argv(&self.machine, &local.path, &staged),
                &format!("orbctl push to {}", req.path),
            )
        });
        let result = pushed.and_then(|()| {
            // The open file is all the write needs: the directory goes first, so a write
            // that fails, or is interrupted, leaves nothing of it.
            let exec = Exec {
                script: format!(
                    "exec < {}\nrm -rf {}\n{}",
                    quote(&staged),
                    quote(&dir),
                    write_script(req)
                ),
                user: req.user.clone(),
                ..Exec::default()
            };
            let out = self.exec(&exec)?;
            check_transfer(&out, &format!("writing {}", req.path))
        });
        if result.is_err() {
            self.remove_staged(&dir, req.user.as_deref());
        }
        result
    }

    /// Make the private directory of a push (see [`OneShot::write_staged`]) as the step's
    /// user, owned by the default user.
    fn make_staging(&mut self, dir: &str, req: &WriteFile) -> Result<(), RemoteError> {
        let mut script = format!(
            "{}umask 077 && mkdir {}",
            crate::remote::dir_must_exist(&quote(crate::remote::parent_dir(&req.path))),
            quote(dir)
        );
        if req.user.is_some() {
            let uid = self.push_uid()?;
            script.push_str(&format!(" && chown {} {}", quote(&uid), quote(dir)));
        }
        let mk = self.exec(&Exec::script(script).as_user(req.user.as_deref()))?;
        check_transfer(&mk, &format!("writing {}", req.path))
    }

    /// The uid `orbctl push` writes as: the default user's (asked once).
    fn push_uid(&mut self) -> Result<String, RemoteError> {
        if let Some(uid) = &self.push_uid {
            return Ok(uid.clone());
        }
        let out = self.exec(&Exec::script("id -u"))?;
        check_transfer(&out, "asking the default user's uid")?;
        let uid = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if uid.is_empty() || !uid.bytes().all(|b| b.is_ascii_digit()) {
            return Err(RemoteError::Transfer(format!(
                "asking the default user's uid: unexpected answer {uid:?}"
            )));
        }
        self.push_uid = Some(uid.clone());
        Ok(uid)
    }

    /// Remove the private directory of a push whose write did not run (or that its failed
    /// `mkdir` call may have made), after a Ctrl-C too: a call of its own, which the
    /// interrupt does not refuse (`exec` does), with a short limit. Without it an
    /// interrupted push left its directory, and part of the file, in the machine's /tmp.
    fn remove_staged(&self, dir: &str, user: Option<&str>) {
        let req = Exec::script(format!("rm -rf {}", quote(dir))).as_user(user);
        let spec = Spec::new(self.argv(&req, FIRST_STAGE))
            .timeout(Some(CLEANUP_TIMEOUT))
            .stdin(Self::stdin(&Self::script(&req), Vec::new()));
        let _ = process::run(&spec);
    }

    /// [`Remote::read_file`]: by `orbctl pull` for the default user, by `cat` otherwise.
    fn read_pulled(
        &mut self,
        path: &str,
        user: Option<&str>,
        sink: &mut dyn Write,
    ) -> Result<u64, RemoteError> {
        let Some(orb) = self.orb.clone().filter(|_| user.is_none()) else {
            // Only the default user's view is available to `pull`.
            return read_by_cat(self, path, user, sink);
        };
        let local = LocalTemp::create()?;
        // Start from no local file, so that what is there afterwards came from the pull.
        let _ = std::fs::remove_file(&local.path);
        self.call(
            orb.pull_argv(&self.machine, path, &local.path),
            &format!("orbctl pull of {path}"),
        )?;
        let mut f = File::open(&local.path)?;
        Ok(std::io::copy(&mut f, sink)?)
    }
}

/// Whether `path` is in the machine's `/tmp`, which a client reports `orbctl push` sees as
/// another file system when it is a tmpfs (docs/orbctl.md §12.8, \[3P\]).
fn in_guest_tmp(path: &str) -> bool {
    path == "/tmp" || path.starts_with("/tmp/")
}

/// The private directory of a push to `path`: beside it, named `.orbdeploy-push.NONCE`.
fn staging_dir(path: &str) -> String {
    let parent = crate::remote::parent_dir(path).trim_end_matches('/');
    format!("{parent}/.orbdeploy-push.{}", crate::remote::nonce())
}

/// A local temporary file (mode 0600) removed when dropped.
struct LocalTemp {
    path: PathBuf,
}

impl LocalTemp {
    fn create() -> std::io::Result<LocalTemp> {
        let dir = std::env::temp_dir();
        for i in 0..100u32 {
            let path = dir.join(format!(
                "orbdeploy-{}-{}-{i}",
                std::process::id(),
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map(|d| d.subsec_nanos())
                    .unwrap_or_default()
            ));
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)
            {
                Ok(_) => return Ok(LocalTemp { path }),
                Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(std::io::Error::other("cannot create a temporary file"))
    }

    fn open_write(&self) -> std::io::Result<File> {
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&self.path)
    }
}

impl Drop for LocalTemp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}
