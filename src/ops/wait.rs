//! `wait`: until a TCP port opens (or closes), a path appears (or goes), or a command
//! succeeds (or fails), polled inside the machine in one request.
//!
//! Rules (also in docs/operations.md): exactly one of `port`, `path` and `command`. `state:
//! started` (= `present`, the default) waits for an open port, an existing path or a
//! command that succeeds; `stopped` (= `absent`) for the opposite. The probe checks once:
//! when the condition already holds, the step is ok and does not wait (so a re-apply costs
//! nothing more); otherwise a plan says *will run*, and apply polls every `interval`
//! seconds (default 1) for up to `timeout` seconds (default 60) with a small sh loop on the
//! machine, then fails saying what it waited for and how long. A port is checked with
//! bash's `/dev/tcp` where bash exists (every Debian), else with `nc -z`; a machine with
//! neither fails the step saying so. A `command` is user code: it runs through `sh` in a
//! subshell, output discarded, like `unless:`.

use std::time::Duration;

use serde::Deserialize;

use crate::quote::quote;
use crate::spec::{Scalar, Seconds};

use super::{
    Applied, CheckError, Ctx, Decision, Facts, Failure, Operation, RenderCtx, RenderError,
};

/// What `wait:` waits for.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub enum WaitState {
    /// The port is open, the path exists, the command succeeds (the default).
    #[default]
    Started,
    /// The same as `started` (the word for paths).
    Present,
    /// The port is closed, the path is gone, the command fails.
    Stopped,
    /// The same as `stopped`.
    Absent,
}

impl WaitState {
    fn up(self) -> bool {
        matches!(self, WaitState::Started | WaitState::Present)
    }
}

/// `wait:`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "wait")]
pub struct Spec {
    /// A TCP port (a number, or a template that renders to one).
    pub port: Option<Scalar>,
    /// The host whose port is checked, from inside the machine (default 127.0.0.1).
    pub host: Option<String>,
    /// An absolute path.
    pub path: Option<String>,
    /// A command run through `sh`.
    pub command: Option<String>,
    /// started/present or stopped/absent.
    #[serde(default)]
    pub state: WaitState,
    /// Give up after this long (default 60 seconds).
    pub timeout: Option<Seconds>,
    /// Check this often (default every second).
    pub interval: Option<Seconds>,
}

/// What is checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A TCP port on a host.
    Port {
        /// The host, as seen from the machine.
        host: String,
        /// The port.
        port: u16,
    },
    /// A path.
    Path(String),
    /// A command.
    Command(String),
}

/// A rendered wait step.
#[derive(Debug, Clone)]
pub struct Wait {
    /// What is checked.
    pub target: Target,
    /// Wait until it is up (started/present) or down.
    pub up: bool,
    /// Give up after this long.
    pub timeout: Duration,
    /// Check this often.
    pub interval: Duration,
}

const DEFAULT_HOST: &str = "127.0.0.1";

fn port_of(v: &str) -> Option<u16> {
    v.trim().parse::<u16>().ok().filter(|p| *p > 0)
}

impl Wait {
    /// What is waited for, in a message's words.
    fn what(&self) -> String {
        match (&self.target, self.up) {
            (Target::Port { host, port }, true) => format!("port {port} on {host} to open"),
            (Target::Port { host, port }, false) => format!("port {port} on {host} to close"),
            (Target::Path(p), true) => format!("{p} to exist"),
            (Target::Path(p), false) => format!("{p} to be gone"),
            (Target::Command(c), true) => format!("`{c}` to succeed"),
            (Target::Command(c), false) => format!("`{c}` to fail"),
        }
    }

    /// A shell condition that holds when the target is up; exits 3 (a command, never a
    /// probe, which runs in the agent) or prints `.up none` when a port cannot be checked.
    fn condition(&self) -> String {
        match &self.target {
            Target::Port { host, port } => {
                // A connection to a host that drops packets could hang for minutes: there,
                // each try gets 5 s (where coreutils' timeout exists). Loopback answers at once.
                let local = matches!(host.as_str(), "127.0.0.1" | "localhost" | "::1");
                let limit = if local {
                    ""
                } else {
                    "$(command -v timeout >/dev/null 2>&1 && echo timeout 5) "
                };
                format!(
                    "{limit}bash -c 'exec 3<>\"/dev/tcp/$0/$1\"' {h} {port} >/dev/null 2>&1",
                    h = quote(host)
                )
            }
            Target::Path(p) => format!("{{ [ -e {p} ] || [ -L {p} ]; }}", p = quote(p)),
            Target::Command(c) => format!("(\n{c}\n) >/dev/null 2>&1 </dev/null"),
        }
    }

    /// The condition for a port with `nc -z` (a machine without bash).
    fn nc_condition(&self) -> Option<String> {
        match &self.target {
            Target::Port { host, port } => {
                Some(format!("nc -z -w 5 {} {port} >/dev/null 2>&1", quote(host)))
            }
            _ => None,
        }
    }

    /// The polling loop: one request that ends when the condition is as wanted, or fails
    /// after the timeout with a message saying what it waited for and how long.
    fn script(&self) -> String {
        let want = if self.up { 0 } else { 1 };
        let check = match self.nc_condition() {
            Some(nc) => format!(
                "if command -v bash >/dev/null 2>&1; then {bash}; elif command -v nc >/dev/null 2>&1; then {nc}; else echo 'cannot check a port: the machine has neither bash nor nc' >&2; exit 3; fi",
                bash = self.condition()
            ),
            None => self.condition(),
        };
        format!(
            "end=$(( $(date +%s) + {t} ))\n\
             while :; do\n\
             if {check}\nthen up=0; else up=1; fi\n\
             [ \"$up\" = {want} ] && exit 0\n\
             [ \"$(date +%s)\" -ge \"$end\" ] && break\n\
             sleep {i}\n\
             done\n\
             printf '%s\\n' {msg} >&2\n\
             exit 1\n",
            t = self.timeout.as_secs(),
            i = self.interval.as_secs(),
            msg = quote(&format!(
                "gave up after {}s waiting for {}",
                self.timeout.as_secs(),
                self.what()
            )),
        )
    }
}

impl Operation for Wait {
    const KEY: &'static str = "wait";
    type Spec = Spec;

    fn check(spec: &Spec) -> Result<(), CheckError> {
        let given = [
            spec.port.is_some(),
            spec.path.is_some(),
            spec.command.is_some(),
        ];
        if given.iter().filter(|g| **g).count() != 1 {
            return Err(CheckError::of::<Wait>(
                "give exactly one of `port`, `path` and `command`",
            ));
        }
        if spec.host.is_some() && spec.port.is_none() {
            return Err(CheckError::of::<Wait>("`host` goes with `port`"));
        }
        if let Some(Scalar(p)) = &spec.port {
            if !super::text::is_template(p) && port_of(p).is_none() {
                return Err(CheckError::of::<Wait>(format!(
                    "`port` is `{p}`; a port is a number from 1 to 65535"
                )));
            }
        }
        if spec.interval.is_some_and(|i| i.0 == 0) {
            return Err(CheckError::of::<Wait>(
                "`interval` must be at least 1 second",
            ));
        }
        Ok(())
    }

    fn summary(spec: &Spec) -> String {
        match (&spec.port, &spec.path, &spec.command) {
            (Some(p), _, _) => format!("port {}", p.0),
            (_, Some(p), _) => p.clone(),
            (_, _, Some(c)) => super::shell::short(c),
            _ => "(no port, path or command)".to_string(),
        }
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Wait, RenderError> {
        let target = match (&spec.port, &spec.path, &spec.command) {
            (Some(Scalar(p)), _, _) => {
                let rendered = ctx.text("port", p)?;
                let port = port_of(&rendered).ok_or(RenderError::Invalid {
                    field: "port",
                    value: rendered,
                    problem: "is not a port (a number from 1 to 65535)",
                })?;
                let host = ctx
                    .opt("host", &spec.host)?
                    .unwrap_or_else(|| DEFAULT_HOST.to_string());
                if host.is_empty() || host.contains(char::is_whitespace) || host.contains('/') {
                    return Err(RenderError::Invalid {
                        field: "host",
                        value: host,
                        problem: "is not a host name or address",
                    });
                }
                Target::Port { host, port }
            }
            (_, Some(p), _) => Target::Path(ctx.abs_path("path", p)?),
            (_, _, Some(c)) => Target::Command(ctx.text("command", c)?),
            // `check` refused a spec with none of them.
            _ => Target::Command("false".into()),
        };
        Ok(Wait {
            target,
            up: spec.state.up(),
            timeout: Duration::from_secs(spec.timeout.map_or(60, |t| t.0)),
            interval: Duration::from_secs(spec.interval.map_or(1, |i| i.0)),
        })
    }

    fn probe(&self) -> Option<String> {
        let yes_no = "then echo .up 1; else echo .up 0; fi";
        Some(match self.nc_condition() {
            Some(nc) => format!(
                "if ! command -v bash >/dev/null 2>&1 && ! command -v nc >/dev/null 2>&1; then echo .up none\n\
                 elif command -v bash >/dev/null 2>&1; then if {}; {yes_no}\n\
                 elif {nc}; {yes_no}\n",
                self.condition()
            ),
            None => format!("if {}\n{yes_no}\n", self.condition()),
        })
    }

    fn probe_has_user_code(&self) -> bool {
        matches!(self.target, Target::Command(_))
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        match facts.get("up") {
            Some("none") => Err(Failure::msg(format!(
                "cannot wait for {}: the machine has neither bash nor nc to check a port with",
                self.what()
            ))),
            Some(up) if (up == "1") == self.up => Ok(Decision::Unchanged),
            Some(_) => Ok(Decision::Run),
            None => Err(Failure::msg(format!(
                "could not check {}: {}",
                self.what(),
                facts.noise_text()
            ))),
        }
    }

    fn apply(&self, ctx: &mut Ctx<'_>, _facts: &Facts) -> Result<Applied, Failure> {
        let mut req = ctx.exec(self.script());
        // The loop ends itself; a limit a little past it ends a check that hangs.
        req.timeout = ctx.timeout.or(Some(self.timeout + Duration::from_secs(30)));
        let out = ctx.remote.exec(&req)?;
        if out.status == 0 {
            return Ok(Applied::default());
        }
        let mut f =
            Failure::from_output(&format!("waiting for {}", self.what()), &req.script, &out);
        if let Some(line) = out
            .stderr_text()
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
        {
            f.message = line.trim().to_string();
        }
        Err(f)
    }

    fn shown_call(&self, ctx: &Ctx<'_>) -> crate::remote::Exec {
        ctx.exec(self.script())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn wait(target: Target, up: bool, timeout: u64) -> Wait {
        Wait {
            target,
            up,
            timeout: Duration::from_secs(timeout),
            interval: Duration::from_secs(1),
        }
    }

    fn sh(script: &str) -> (i32, String) {
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script)
            .output()
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The loop on a real shell: a path that appears after a second, one that never does
    /// (the message says what and how long), a command that fails.
    #[test]
    fn the_loop_waits_and_gives_up() {
        let dir = tempfile::tempdir().unwrap();
        let p = dir
            .path()
            .join("it's here $x")
            .to_string_lossy()
            .into_owned();
        let w = wait(Target::Path(p.clone()), true, 5);
        let (code, _) = sh(&format!("(sleep 1; touch {}) & {}", quote(&p), w.script()));
        assert_eq!(code, 0);
        let gone = wait(Target::Path(p.clone()), false, 0);
        let (code, err) = sh(&gone.script());
        assert_eq!(code, 1);
        assert!(
            err.contains("gave up after 0s waiting for") && err.contains("to be gone"),
            "{err}"
        );
        let cmd = wait(Target::Command("exit 1".into()), false, 0);
        assert_eq!(sh(&cmd.script()).0, 0, "a failing command is `stopped`");
    }

    #[test]
    fn the_probe_says_whether_to_wait() {
        let w = wait(Target::Path("/".into()), true, 5);
        let facts = Facts::parse(&crate::facts::run_with_probe_lib(&w.probe().unwrap()), 0);
        assert_eq!(w.decide(&facts).unwrap(), Decision::Unchanged);
        let w = wait(Target::Path("/nonexistent".into()), true, 5);
        let facts = Facts::parse(&crate::facts::run_with_probe_lib(&w.probe().unwrap()), 0);
        assert_eq!(w.decide(&facts).unwrap(), Decision::Run);
        let none = w.decide(&Facts::parse(".up none\n", 0)).unwrap_err();
        assert!(
            none.message.contains("neither bash nor nc"),
            "{}",
            none.message
        );
    }
}
