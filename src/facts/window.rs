//! Reading facts ahead, a window of steps at a time: from the current step up to the
//! first command step, the first step that registers a variable, or a change of user,
//! every probe goes in one round trip. A change (or a command) invalidates what was read
//! ahead, so the next step starts a new window; a no-change re-apply therefore costs one
//! round trip per window. What the scans of those windows find is kept for later ones
//! ([`super::memo`]), by content hash.
//!
//! The window knows nothing of the run that uses it: it is handed the machine, the
//! machine's steps and a way to render a later step, and it keeps only facts, and what
//! reading them cost each step ([`super::cost`]).

use std::collections::HashMap;
use std::time::{Duration, Instant};

use super::cost::{Ledger, ReadCost};
use super::gather::{gather, ReadError};
use super::memo::Memo;
use super::{scan, Batch, Facts, Probed};
use crate::remote::Remote;
use crate::steps::Step;

/// How many later steps a scan answers ahead: enough for any window of a real deploy,
/// few enough that awk's work per line stays small.
const AHEAD: usize = 256;

/// How many steps after the current one a window may take: a batch's script stays far
/// below the size a machine's shell reads at once.
const WINDOW: usize = 63;

/// The key of the batch's report frame (never a step's index).
const REPORT: usize = usize::MAX;

/// Renders a later step of the machine as the run would.
pub type RenderAhead<'r, R> = dyn FnMut(&Step) -> Ahead<R> + 'r;

/// A later step as the window sees it.
pub enum Ahead<R> {
    /// Rendered: its probe may join the batch.
    Ready(R),
    /// It will be skipped (its `when:` is false, its loop has no item): it reads and
    /// changes nothing, so the window goes on past it — a loop whose `when:` skips some
    /// items still costs one round trip.
    Skip,
    /// It does not render: the window stops there and leaves the step to the run.
    Stop,
}

impl<R> Ahead<R> {
    /// The rendered step, if it is one.
    fn ready(self) -> Option<R> {
        match self {
            Ahead::Ready(r) => Some(r),
            Ahead::Skip | Ahead::Stop => None,
        }
    }
}

/// One machine's read-ahead state: the facts of the current window, what later steps
/// will ask a scan, and the memo of each user's session. Steps are known by their
/// position in the list the run goes through (the items of a loop share their step's
/// index, never a position).
pub struct Window<R> {
    /// Steps of the current window (by position), rendered, with the facts read for them.
    ahead: HashMap<usize, (R, Facts)>,
    /// Step position → (user, question) of a `line` or `packages` step, rendered with the
    /// context of the time (`None`: it asks nothing, or did not render).
    questions: HashMap<usize, Option<(Option<String>, scan::Item)>>,
    memo: HashMap<Option<String>, Memo>,
    /// What each read cost the steps it read for.
    ledger: Ledger,
}

impl<R> Default for Window<R> {
    fn default() -> Self {
        Window {
            ahead: HashMap::new(),
            questions: HashMap::new(),
            memo: HashMap::new(),
            ledger: Ledger::default(),
        }
    }
}

impl<R: Probed> Window<R> {
    /// The step at this position as rendered and read ahead by an earlier window, if it
    /// was.
    pub fn take(&mut self, pos: usize) -> Option<(R, Facts)> {
        self.ahead.remove(&pos)
    }

    /// What reading the facts of the step at this position cost it ([`super::cost`]), no
    /// longer booked.
    pub fn take_cost(&mut self, pos: usize) -> ReadCost {
        self.ledger.take(pos)
    }

    /// What reading facts cost steps whose facts were dropped since the last call
    /// ([`Ledger::take_orphaned`]).
    pub fn take_orphaned(&mut self) -> ReadCost {
        self.ledger.take_orphaned()
    }

    /// The machine is about to change: what was read ahead is stale.
    pub fn discard(&mut self) {
        self.ahead.clear();
        self.ledger.discard();
    }

    /// The context changed (a step registered a value, and the loops after it were
    /// expanded again) or the handlers start (another list): render later steps again. What the memo
    /// keeps stays true, being kept by content.
    pub fn forget_steps(&mut self) {
        self.questions.clear();
    }

    /// The facts of `list[pos]`, rendered as `first`: read now, in one round trip with
    /// those of the steps after it in its window (kept for [`Window::take`]). A step
    /// without a probe has no facts to read and costs nothing.
    pub fn read(
        &mut self,
        remote: &mut dyn Remote,
        list: &[&Step],
        pos: usize,
        first: R,
        render: &mut RenderAhead<'_, R>,
    ) -> Result<(R, Facts), ReadError> {
        let Some(first_probe) = first.probe() else {
            return Ok((first, Facts::default()));
        };
        let (began, wire) = (Instant::now(), remote.meter());
        // The steps the batch reads for, with what rendering each ahead took.
        let mut read_for: Vec<(usize, Duration)> = vec![(pos, Duration::ZERO)];
        let user = first.user().map(str::to_string);
        let stop_after = |s: &Step, r: &R| s.registers_now().is_some() || r.is_command();
        let batch_more = remote.batches_facts() && !stop_after(list[pos], &first);
        let mut batch = Batch::default();
        batch.add(pos, &first);
        let mut isolate = first.has_user_code();
        // The steps after the first that the window takes, rendered, with their probes.
        let mut steps: Vec<(usize, R)> = Vec::new();
        let mut probes: Vec<(usize, String)> = Vec::new();
        // The first step after the window.
        let mut next = pos + 1;
        if batch_more {
            for (at, step) in list.iter().enumerate().skip(pos + 1).take(WINDOW) {
                let rendering = Instant::now();
                let r = match render(step) {
                    Ahead::Ready(r) => r,
                    Ahead::Skip => {
                        next += 1;
                        continue;
                    }
                    Ahead::Stop => break,
                };
                let rendered = rendering.elapsed();
                let probe = r.probe();
                if r.user() != user.as_deref() || probe.is_none() && !r.is_command() {
                    break;
                }
                next += 1;
                let stop = stop_after(step, &r);
                if let Some(p) = probe {
                    read_for.push((at, rendered));
                    probes.push((at, p));
                    batch.add(at, &r);
                    isolate |= r.has_user_code();
                    steps.push((at, r));
                }
                if stop {
                    break;
                }
            }
        }
        let ahead = if batch_more {
            self.questions_after(list, next, &user, render)
        } else {
            Vec::new()
        };
        let plan = batch.plan(self.memo.get(&user).unwrap_or(&Memo::default()), &ahead);
        if plan.report.is_some() {
            probes.push((REPORT, "__od_memo_report\n".to_string()));
        }
        let first_probe = (pos, first_probe);
        let (first_facts, mut got) = gather(
            remote,
            user.as_deref(),
            &first_probe,
            &probes,
            &plan.prelude,
            isolate,
        )?;
        if let Some(lines) = &plan.report {
            // The report's probe went last.
            if let Some(report) = got.pop() {
                self.memo.entry(user).or_default().learn(lines, &report);
            }
        }
        self.ahead.clear();
        self.ahead.extend(
            steps
                .into_iter()
                .zip(got)
                .map(|((at, rendered), facts)| (at, (rendered, facts))),
        );
        // What was booked to facts this read replaces is orphaned; the rest of the read
        // (all but rendering the steps ahead) is the batch's cost, shared by its steps.
        self.ledger.discard();
        let rendering: Duration = read_for.iter().map(|(_, d)| *d).sum();
        let probe = began.elapsed().saturating_sub(rendering);
        let wire = remote.meter().since(&wire);
        self.ledger.book(&read_for, probe, &wire);
        Ok((first, first_facts))
    }

    /// What the `line` and `packages` steps of `list[from..]` that run as `user` will ask
    /// a scan. Only those kinds are rendered (a template or a put would read and hash its
    /// source), each once per context.
    fn questions_after(
        &mut self,
        list: &[&Step],
        from: usize,
        user: &Option<String>,
        render: &mut RenderAhead<'_, R>,
    ) -> Vec<scan::Item> {
        let mut out = Vec::new();
        for (at, step) in list.iter().enumerate().skip(from).take(AHEAD) {
            if !step.kind().scans_ahead() {
                continue;
            }
            let question = self.questions.entry(at).or_insert_with(|| {
                render(step)
                    .ready()
                    .and_then(|r| r.scan().map(|i| (r.user().map(str::to_string), i)))
            });
            if let Some((u, item)) = question {
                if u == user {
                    out.push(item.clone());
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::*;
    use crate::facts::scan::Item;
    use crate::facts::{Batch, Facts};
    use crate::quote::quote;
    use crate::remote::probe_lib::probe_lib;
    use crate::remote::{Exec, ExecOutput, Input, Remote, RemoteError};

    /// Probes run by this host's `sh`, with the probe library and `bin` first on PATH.
    struct LocalSh {
        bin: String,
    }

    impl Remote for LocalSh {
        fn machine(&self) -> &str {
            "local"
        }
        fn exec_stream(
            &mut self,
            req: &Exec,
            _input: Option<Input<'_>>,
            _sink: Option<&mut dyn Write>,
        ) -> Result<ExecOutput, RemoteError> {
            let path = format!("{}:{}", self.bin, std::env::var("PATH").unwrap_or_default());
            let out = std::process::Command::new("sh")
                .arg("-c")
                .arg(format!("{}{}", probe_lib(), req.script))
                .env("PATH", path)
                .env_remove("DPKG_ADMINDIR")
                .output()
                .map_err(RemoteError::Io)?;
            Ok(ExecOutput {
                status: out.status.code().unwrap_or(1),
                stdout: out.stdout,
                stderr: out.stderr,
                duration: Default::default(),
            })
        }
        fn describe(&self, _req: &Exec) -> Vec<String> {
            Vec::new()
        }
        fn close(&mut self) {}
    }

    /// `bin/awk`, `bin/grep` and `bin/dpkg-query` that log their name to `log`, then run
    /// the real program.
    fn logging_tools(bin: &Path, log: &Path) {
        for tool in ["awk", "grep", "dpkg-query", "sha256sum"] {
            let real = ["/usr/bin", "/bin"]
                .iter()
                .map(|d| Path::new(d).join(tool))
                .find(|p| p.exists())
                .unwrap();
            let f = bin.join(tool);
            std::fs::write(
                &f,
                format!(
                    "#!/bin/sh\necho {tool} >> {}\nexec {} \"$@\"\n",
                    quote(&log.to_string_lossy()),
                    real.display()
                ),
            )
            .unwrap();
            std::fs::set_permissions(&f, std::fs::Permissions::from_mode(0o755)).unwrap();
        }
    }

    /// One batch as `read_ahead` runs it: returns the facts by key and the programs it
    /// started (from the log).
    fn batch(
        remote: &mut LocalSh,
        memo: &mut Memo,
        log: &Path,
        b: &Batch,
        probes: &[(usize, String)],
        ahead: &[Item],
    ) -> (HashMap<usize, Facts>, String, String) {
        let _ = std::fs::remove_file(log);
        let plan = b.plan(memo, ahead);
        let mut probes = probes.to_vec();
        if plan.report.is_some() {
            probes.push((REPORT, "__od_memo_report\n".to_string()));
        }
        let (first, more) =
            gather(remote, None, &probes[0], &probes[1..], &plan.prelude, false).unwrap();
        let facts = std::iter::once(first).chain(more);
        let mut got: HashMap<usize, Facts> = probes.iter().map(|(k, _)| *k).zip(facts).collect();
        if let (Some(lines), Some(report)) = (&plan.report, got.remove(&REPORT)) {
            memo.learn(lines, &report);
        }
        let mut started = String::new();
        if let Ok(mut f) = std::fs::File::open(log) {
            f.read_to_string(&mut started).unwrap();
        }
        (got, started, plan.prelude)
    }

    fn count(f: &Facts) -> &str {
        f.get("exact").unwrap()
    }

    /// Line answers kept from one batch's scan (its own and later steps') answer the next
    /// batch without awk or grep while the file hashes the same; after the file changes,
    /// the next batch reads it again and sees the change.
    #[test]
    fn kept_line_counts_answer_later_batches_until_the_file_changes() {
        let dir = tempfile::tempdir().unwrap();
        let (bin, log) = (dir.path().join("bin"), dir.path().join("log"));
        std::fs::create_dir(&bin).unwrap();
        logging_tools(&bin, &log);
        let lines = dir.path().join("a file");
        let blob = dir.path().join("blob");
        std::fs::write(&lines, "a\n1.0\n 1\nb\n").unwrap();
        std::fs::write(&blob, "x").unwrap();
        let (lp, bp) = (
            lines.to_string_lossy().into_owned(),
            blob.to_string_lossy().into_owned(),
        );
        let lx = |l: &str| format!("__od_lx {} {}\n", quote(&lp), quote(l));
        let item = |l: &str| Item::line(&lp, l).unwrap();
        let mut remote = LocalSh {
            bin: bin.to_string_lossy().into_owned(),
        };
        let mut memo = Memo::default();

        // Batch 1 asks "a" and "1" and, ahead, "b" and "1.0".
        let b1 = Batch::of(&[&bp], vec![(1, item("a")), (2, item("1"))]);
        let (got, started, _) = batch(
            &mut remote,
            &mut memo,
            &log,
            &b1,
            &[(1, lx("a")), (2, lx("1"))],
            &[item("b"), item("1.0"), item("a")],
        );
        assert_eq!((count(&got[&1]), count(&got[&2])), ("1", "0"));
        assert_eq!(started, "sha256sum\nawk\n");

        // Batch 2 asks what batch 1 answered ahead: no awk, no grep.
        let b2 = Batch::of(&[&bp], vec![(3, item("b")), (4, item("1.0"))]);
        let probes2 = [(3, lx("b")), (4, lx("1.0"))];
        let (got, started, prelude) = batch(&mut remote, &mut memo, &log, &b2, &probes2, &[]);
        assert!(prelude.contains("__od_memo_line 3 "), "{prelude}");
        assert_eq!((count(&got[&3]), count(&got[&4])), ("1", "1"));
        assert_eq!(started, "sha256sum\n");

        // A shell step rewrites the file: the same questions read it again.
        std::fs::write(&lines, "b\nb\n").unwrap();
        let (got, started, _) = batch(&mut remote, &mut memo, &log, &b2, &probes2, &[]);
        assert_eq!((count(&got[&3]), count(&got[&4])), ("2", "0"));
        assert_eq!(started, "sha256sum\nawk\n");

        // A file that is no longer regular gets no kept answer.
        std::fs::remove_file(&lines).unwrap();
        std::fs::create_dir(&lines).unwrap();
        let (got, _, _) = batch(&mut remote, &mut memo, &log, &b2, &probes2, &[]);
        assert_eq!(got[&3].get("exists"), Some("notfile"));
    }

    /// Package answers kept from one batch's read of dpkg's status file are what the
    /// status file says (the probe's own answer on this Debian host), for the names asked
    /// then and ahead; a status file that hashes differently is read again.
    #[test]
    fn kept_package_answers_are_the_status_files_until_it_changes() {
        let journal_empty = std::fs::read_dir("/var/lib/dpkg/updates")
            .map(|mut d| d.next().is_none())
            .unwrap_or(true);
        assert!(
            journal_empty,
            "this test needs a Debian host with dpkg's journal applied (run dpkg --configure -a)"
        );
        let dir = tempfile::tempdir().unwrap();
        let (bin, log) = (dir.path().join("bin"), dir.path().join("log"));
        std::fs::create_dir(&bin).unwrap();
        logging_tools(&bin, &log);
        let blob = dir.path().join("blob");
        std::fs::write(&blob, "x").unwrap();
        let bp = blob.to_string_lossy().into_owned();
        let dpkg = |names: &[&str]| Item::Dpkg {
            names: names.iter().map(|n| n.to_string()).collect(),
        };
        let pkgs = |names: &str| format!("__od_pkgs 0 {names}\n");
        let mut remote = LocalSh {
            bin: bin.to_string_lossy().into_owned(),
        };
        let mut memo = Memo::default();
        // What the probe says on its own, for comparison.
        let alone = |names: &str| {
            let mut m = Memo::default();
            let b = Batch::of(&[], vec![]);
            let mut r = LocalSh {
                bin: "/nonexistent".into(),
            };
            batch(&mut r, &mut m, &log, &b, &[(0, pkgs(names))], &[]).0[&0].clone()
        };

        let b1 = Batch::of(&[&bp], vec![(1, dpkg(&["coreutils", "no-such-pkg-x"]))]);
        let (got, started, _) = batch(
            &mut remote,
            &mut memo,
            &log,
            &b1,
            &[(1, pkgs("coreutils no-such-pkg-x"))],
            &[dpkg(&["dash", "libc6:amd64"])],
        );
        assert_eq!(got[&1], alone("coreutils no-such-pkg-x"));
        assert_eq!(started, "sha256sum\nawk\n");

        // Later: names asked then and ahead come from memory (a qualified name never does).
        let b2 = Batch::of(
            &[&bp],
            vec![
                (2, dpkg(&["dash"])),
                (3, dpkg(&["no-such-pkg-x", "coreutils"])),
            ],
        );
        let probes2 = [(2, pkgs("dash")), (3, pkgs("no-such-pkg-x coreutils"))];
        let (got, started, prelude) = batch(&mut remote, &mut memo, &log, &b2, &probes2, &[]);
        assert!(prelude.contains("__od_memo_dpkg 2 "), "{prelude}");
        assert_eq!(started, "sha256sum\n");
        assert_eq!(got[&2], alone("dash"));
        assert!(got[&2].all("dpkg").iter().any(|l| l.starts_with("dash ii")));
        assert_eq!(got[&3], alone("no-such-pkg-x coreutils"));

        // A status file that hashed differently when last read is read again.
        let mut stale = Memo::default();
        let zeros = "0".repeat(64);
        let report = Facts::parse(
            &format!(
                ".mh {zeros} /var/lib/dpkg/status\n.mq dash\n.md dash deinstall-not-installed\n"
            ),
            0,
        );
        stale.learn(&HashMap::new(), &report);
        let b3 = Batch::of(&[&bp], vec![(4, dpkg(&["dash"]))]);
        let (got, started, prelude) = batch(
            &mut remote,
            &mut stale,
            &log,
            &b3,
            &[(4, pkgs("dash"))],
            &[],
        );
        assert!(
            prelude.contains(&format!("__od_memo_dpkg 4 {} ", &zeros[..32])),
            "{prelude}"
        );
        assert_eq!(started, "sha256sum\nawk\n");
        assert_eq!(got[&4], alone("dash"));
    }
}
