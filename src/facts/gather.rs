//! Probes of several steps in one round trip: each probe's output is framed by marker
//! lines carrying a token unique to the batch (`__od_fb` / `__od_fe` of the probe
//! library), so one request returns the facts of many steps.

use std::collections::HashMap;
use std::time::Duration;

use crate::facts::Facts;
use crate::quote::quote;
use crate::remote::{Exec, ExecOutput, Remote, RemoteError};

/// Time limit for one batch of probes.
const PROBE_TIMEOUT: Duration = Duration::from_secs(300);

/// The probe as one call of a probe library function with plain or single-quoted words
/// (what `__od_1` can run as `"$@"`), or `None` for any other script.
fn library_call(probe: &str) -> Option<&str> {
    let call = probe.trim_end_matches('\n');
    if !call.starts_with("__od_") {
        return None;
    }
    let mut quoted = false;
    for c in call.chars() {
        match c {
            '\'' => quoted = !quoted,
            _ if quoted => {}
            ' ' | '_' | '.' | '/' | '=' | ':' | '+' | ',' | '@' | '%' | '-' => {}
            _ if c.is_ascii_alphanumeric() => {}
            _ => return None,
        }
    }
    (!quoted).then_some(call)
}

/// Why a batch's facts could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The request itself failed (the session, its time limit).
    #[error(transparent)]
    Remote(#[from] RemoteError),
    /// The reply lacks the facts of a probe (the session died, the shell refused the
    /// script): the last lines it printed say why.
    #[error("could not read the machine's state (exit {status}): {said}")]
    Unreadable {
        /// The request's exit status (255: the connection to the machine broke).
        status: i32,
        /// The last lines the request printed.
        said: String,
    },
}

/// Run the probe `first` and the probes `more`, each `(key, script)`, as `user` in one
/// request, after `prelude` (what the probes share, [`crate::facts::Batch::plan`]);
/// `isolate` when a probe carries user code ([`super::Probed::has_user_code`]). Returns
/// the facts of `first` and of every one of `more`, in order: a reply that lacks any of
/// them is an error, so a caller never holds a probe without its facts.
pub fn gather(
    remote: &mut dyn Remote,
    user: Option<&str>,
    first: &(usize, String),
    more: &[(usize, String)],
    prelude: &str,
    isolate: bool,
) -> Result<(Facts, Vec<Facts>), ReadError> {
    let (first, more) = gather_texts(remote, user, first, more, prelude, isolate)?;
    Ok((first.facts(), more.iter().map(Said::facts).collect()))
}

/// What one probe printed in a batch, as it printed it (without the trailing newlines),
/// and its exit status: what a guard compares ([`guard`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Said {
    /// The probe's output, stdout and stderr together, trailing newlines dropped.
    pub text: String,
    /// Its exit status.
    pub status: i32,
}

impl Said {
    /// The facts in it.
    pub fn facts(&self) -> Facts {
        Facts::parse(&self.text, self.status)
    }
}

/// [`gather`], with what each probe printed as it printed it.
pub fn gather_texts(
    remote: &mut dyn Remote,
    user: Option<&str>,
    first: &(usize, String),
    more: &[(usize, String)],
    prelude: &str,
    isolate: bool,
) -> Result<(Said, Vec<Said>), ReadError> {
    let token = format!(
        "@@od-{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default()
    );
    let mut script = format!("__od_tok={}\n", quote(&token));
    script.push_str(prelude);
    for (key, probe) in std::iter::once(first).chain(more) {
        match library_call(probe) {
            Some(call) => script.push_str(&format!("__od_1 {key} {call}\n")),
            None => script.push_str(&format!(
                "__od_fb {key}\n{{\n{probe}\n}} 2>&1 </dev/null\n__od_fe {key} \"$?\"\n"
            )),
        }
    }
    let req = Exec {
        script,
        user: user.map(str::to_string),
        timeout: Some(PROBE_TIMEOUT),
        probe: true,
        isolate,
        ..Exec::default()
    };
    let out = remote.exec(&req)?;
    let mut said = split(&out.stdout_text(), &token);
    let first_said = said.remove(&first.0).ok_or_else(|| unreadable(&out))?;
    let more_said: Option<Vec<Said>> = more.iter().map(|(k, _)| said.remove(k)).collect();
    Ok((first_said, more_said.ok_or_else(|| unreadable(&out))?))
}

/// A batch's reply split at its marker lines: what each probe printed, by key.
fn split(text: &str, token: &str) -> HashMap<usize, Said> {
    let mut said = HashMap::new();
    let mut current: Option<(usize, String)> = None;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix(token).map(str::trim) {
            let mut words = rest.split(' ');
            let key = words.next().and_then(|k| k.parse::<usize>().ok());
            match (key, words.next(), words.next()) {
                (Some(k), Some("end"), Some(status)) => {
                    if let Some((ck, body)) = current.take() {
                        if ck == k {
                            let text = body.trim_end_matches('\n').to_string();
                            let status = status.parse().unwrap_or(1);
                            said.insert(k, Said { text, status });
                        }
                    }
                }
                (Some(k), None, _) => current = Some((k, String::new())),
                _ => {}
            }
        } else if let Some((_, body)) = current.as_mut() {
            body.push_str(line);
            body.push('\n');
        }
    }
    said
}

/// A guard for a step whose facts were read as `said` by `probe`: a script that runs the
/// probe again on its own (the probe library's batch state cleared) and succeeds only when
/// it prints the same text and exits the same way. A probe that is one probe library call
/// goes to `__od_guard`, which runs it in the agent's own process (no fork); any other may
/// carry user code, and runs in a subshell. The channel runs it in its agent (mode `g`)
/// right before the step's turn in a chain.
pub fn guard(probe: &str, said: &Said, user: Option<&str>) -> Exec {
    let script = match library_call(probe) {
        Some(call) => format!(
            "__od_guard {} {} {call}\n",
            said.status,
            quote(&said.text)
        ),
        None => format!(
            "__od_gt=$(trap - EXIT TERM HUP INT PIPE; set --; __od_reset; __od_key=g; eval {} 2>&1 </dev/null)\n[ \"$?\" = {} ] && [ \"$__od_gt\" = {} ]\n",
            quote(probe),
            said.status,
            quote(&said.text)
        ),
    };
    Exec {
        script,
        user: user.map(str::to_string),
        timeout: Some(PROBE_TIMEOUT),
        guard: true,
        ..Exec::default()
    }
}

fn unreadable(out: &ExecOutput) -> ReadError {
    // The channel returns a probe's stderr within its stdout.
    let said = if out.stderr.is_empty() {
        &out.stdout
    } else {
        &out.stderr
    };
    ReadError::Unreadable {
        status: out.status,
        said: crate::process::tail_lines(said, 5),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A guard succeeds only when the probe prints the same text (trailing newlines aside)
    /// and exits the same way; the probe's `exit` ends only its subshell.
    #[test]
    fn a_guard_holds_only_for_the_same_text_and_status() {
        let holds = |probe: &str, text: &str, status: i32| {
            let said = Said {
                text: text.into(),
                status,
            };
            let g = guard(probe, &said, None);
            assert!(g.guard && !g.probe);
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{}{}", crate::facts::probe_lib(), g.script))
                .status()
                .expect("sh runs")
                .success()
        };
        let probe = "echo .a 1; echo \".b it's\"\n";
        assert!(holds(probe, ".a 1\n.b it's", 0));
        assert!(!holds(probe, ".a 1\n.b it's", 1));
        assert!(!holds(probe, ".a 1", 0));
        assert!(holds("echo .x; exit 3", ".x", 3));
        assert!(!holds("echo .x; exit 3", ".y", 3));
    }

    /// A guard whose probe is one library call (`__od_guard`) holds exactly when the call's
    /// output and status are what they were, both in the agent (its private directory set:
    /// the output goes through a file, no subshell) and without that directory (captured).
    #[test]
    fn a_library_call_guard_holds_only_for_the_same_text_and_status() {
        let dir = std::env::temp_dir().join(format!("od-guard-{}", std::process::id()));
        let shm = dir.join("m");
        std::fs::create_dir_all(&shm).expect("temp dir");
        let file = dir.join("lines");
        std::fs::write(&file, "a=1\nb=2\na=1\n").expect("write");
        let path = file.to_str().expect("utf-8 path");
        let probe = format!("__od_lx {} 'a=1'\n", quote(path));
        let holds = |text: &str, status: i32, m: Option<&std::path::Path>| {
            let said = Said {
                text: text.into(),
                status,
            };
            let g = guard(&probe, &said, None);
            assert!(g.script.starts_with("__od_guard "), "{}", g.script);
            let set_m = m.map_or(String::new(), |m| {
                format!("__od_m={}\n", quote(m.to_str().expect("utf-8")))
            });
            std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{}{set_m}{}", crate::facts::probe_lib(), g.script))
                .status()
                .expect("sh runs")
                .success()
        };
        for m in [Some(shm.as_path()), None] {
            assert!(holds(".exists 1\n.exact 2", 0, m));
            assert!(!holds(".exists 1\n.exact 2", 1, m));
            assert!(!holds(".exists 1\n.exact 1", 0, m));
            assert!(!holds(".exists 1", 0, m));
            assert!(!holds(".exists 1\n.exact 2\n.more", 0, m));
        }
        // What the batch printed is what the guard compares against.
        let batch = format!("__od_tok=T\n__od_1 0 {}", probe);
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{}{batch}", crate::facts::probe_lib()))
            .output()
            .expect("sh runs");
        let said = split(&String::from_utf8_lossy(&out.stdout), "T");
        let said = said.get(&0).expect("the probe's facts");
        assert!(holds(&said.text, said.status, Some(&shm)));
        std::fs::write(&file, "a=1\n").expect("write");
        assert!(!holds(&said.text, said.status, Some(&shm)));
        assert!(!holds(&said.text, said.status, None));
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    #[test]
    fn only_single_library_calls_are_run_as_words() {
        let call = "__od_put '/a b' 0f '%F|%a' 0\n";
        assert_eq!(library_call(call), Some(call.trim_end()));
        assert_eq!(library_call("__od_lx /x 'it'\\''s'\n"), None);
        for not in [
            "__od_lx /x a; rm -rf /",
            "__od_lx /x a\necho b",
            "__od_lx $(id) a",
            "__od_lx /x a | cat",
            "__od_lx /x a > f",
            "__od_lx /x 'open",
            "echo __od_lx",
            "__od_lx /x \"a\"",
            "__od_lx /x a &",
        ] {
            assert_eq!(library_call(not), None, "{not}");
        }
    }
}
