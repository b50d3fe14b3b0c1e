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

use std::collections::{HashMap, HashSet};
use std::time::{Duration, Instant};

use super::cost::{Ledger, ReadCost};
use super::gather::{gather_texts, guard, ReadError, Said};
use super::memo::Memo;
use super::{scan, Batch, Facts, Probed};
use crate::remote::{Exec, Remote};
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
    /// Read past command steps, for a connection that chains requests (pipelined steps,
    /// `crate::run::pipeline`): the facts of a step after a command are then speculative.
    speculate: bool,
    /// Speculative steps (by position): the guard that checks on the machine, right before
    /// the step's turn, that its facts still hold.
    guards: HashMap<usize, Exec>,
    /// The first position after the current window.
    end: usize,
    /// Positions whose change travels in the chain sent ahead: it does not make the facts
    /// of later steps stale, since their guards check them.
    chained: HashSet<usize>,
    /// A step changed the machine (other than by a command) since the last read.
    changed: bool,
    /// A chain was sent since the last read: a guarded step's facts are checked by its
    /// guard. Before one is sent nothing ran since the read (a change or a command that
    /// is not sent ahead discards the window), and the facts hold as read.
    sent: bool,
}

impl<R> Default for Window<R> {
    fn default() -> Self {
        Window {
            ahead: HashMap::new(),
            questions: HashMap::new(),
            memo: HashMap::new(),
            ledger: Ledger::default(),
            speculate: false,
            guards: HashMap::new(),
            end: 0,
            chained: HashSet::new(),
            changed: false,
            sent: false,
        }
    }
}

impl<R> Window<R> {
    /// A window that reads past command steps when the connection chains requests.
    pub fn speculating(speculate: bool) -> Self {
        Window {
            speculate,
            ..Window::default()
        }
    }

    /// A step changed the machine other than by running a command: the next read does not
    /// read past commands.
    pub fn note_change(&mut self) {
        self.changed = true;
    }

    /// Stop reading past commands (the handlers, which are never pipelined): what would
    /// be read past one would be dropped by its change anyway.
    pub fn stop_speculating(&mut self) {
        self.speculate = false;
    }

    /// The step at this position as read ahead, without taking it.
    pub fn peek(&self, pos: usize) -> Option<&(R, Facts)> {
        self.ahead.get(&pos)
    }

    /// The guard of a speculative step, if it is one.
    pub fn guard_of(&self, pos: usize) -> Option<&Exec> {
        self.guards.get(&pos)
    }

    /// The first position after the current window.
    pub fn end(&self) -> usize {
        self.end
    }

    /// Keep only the facts of steps up to `last`: those after it are speculative and no
    /// guard of the chain will check them.
    pub fn keep_through(&mut self, last: usize) {
        self.ahead.retain(|p, _| *p <= last);
        self.guards.retain(|p, _| *p <= last);
        self.end = self.end.min(last + 1);
    }

    /// A chain was sent: from now on a guarded step's facts hold only when its guard says
    /// so.
    pub fn chain_sent(&mut self) {
        self.sent = true;
    }

    /// The change of the step at `pos` travels in the chain sent ahead.
    pub fn mark_chained(&mut self, pos: usize) {
        self.chained.insert(pos);
    }

    /// Whether the change of the step at `pos` travels in the chain sent ahead (asked once,
    /// when the change is made).
    pub fn take_chained(&mut self, pos: usize) -> bool {
        self.chained.remove(&pos)
    }
}

impl<R: Probed> Window<R> {
    /// The step at this position as rendered and read ahead by an earlier window, if it
    /// was.
    pub fn take(&mut self, pos: usize) -> Option<(R, Facts)> {
        self.ahead.remove(&pos)
    }

    /// [`Window::take`], for a speculative step only once its guard said on the machine that
    /// its facts still hold: else (stale, the chain stopped before it, the guard failed)
    /// everything read ahead is dropped and `None` says to read the step's facts again.
    pub fn take_checked(&mut self, remote: &mut dyn Remote, pos: usize) -> Option<(R, Facts)> {
        if let Some(g) = self.guards.remove(&pos) {
            let holds = !self.sent
                || remote.chain_pending() && remote.exec(&g).is_ok_and(|out| out.status == 0);
            if !holds {
                self.discard();
                return None;
            }
        }
        self.take(pos)
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
        self.sent = false;
        self.ahead.clear();
        self.guards.clear();
        self.chained.clear();
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
        // A command without a probe reads nothing, but when speculating the steps after it
        // are read now, for the chain it will start.
        let first_probe = first.probe();
        // Not right after a change: the machine is being changed (a first apply), and what
        // would be read past the next command would mostly be dropped by the next change.
        let speculate = self.speculate && remote.chains() && !std::mem::take(&mut self.changed);
        let speculate_past = speculate && first.is_command();
        if first_probe.is_none() && !speculate_past {
            return Ok((first, Facts::default()));
        }
        let (began, wire) = (Instant::now(), remote.meter());
        let user = first.user().map(str::to_string);
        // Past a command only speculatively: what a step after it was decided on is checked
        // again on the machine by its guard, right before its turn.
        let batch_more = remote.batches_facts() && !stops_after(list[pos], &first, speculate);
        let mut batch = Batch::default();
        batch.add(pos, &first);
        let mut taken = Taken {
            read_for: vec![(pos, Duration::ZERO)],
            isolate: first.has_user_code(),
            next: pos + 1,
            ..Taken::default()
        };
        if batch_more {
            let first_of = (pos, user.as_deref(), speculate);
            take_ahead(list, first_of, &mut batch, &mut taken, render);
        }
        let Taken {
            read_for,
            isolate,
            next,
            steps,
            mut probes,
            bare,
            guarded,
            ..
        } = taken;
        self.end = next;
        let ahead = if batch_more {
            self.questions_after(list, next, &user, render)
        } else {
            Vec::new()
        };
        let plan = batch.plan(self.memo.get(&user).unwrap_or(&Memo::default()), &ahead);
        if plan.report.is_some() {
            probes.push((REPORT, "__od_memo_report\n".to_string()));
        }
        let mut all: Vec<(usize, String)> = first_probe.map(|p| (pos, p)).into_iter().collect();
        let first_has_probe = !all.is_empty();
        all.extend(probes);
        let mut got = gather_all(remote, user.as_deref(), &all, &plan.prelude, isolate)?;
        let first_facts = match first_has_probe {
            true if !got.is_empty() => got.remove(0).facts(),
            _ => Facts::default(),
        };
        if let Some(lines) = &plan.report {
            // The report's probe went last.
            if let Some(report) = got.pop() {
                self.memo
                    .entry(user.clone())
                    .or_default()
                    .learn(lines, &report.facts());
            }
        }
        self.ahead.clear();
        self.guards.clear();
        self.chained.clear();
        self.sent = false;
        for ((at, rendered), said) in steps.into_iter().zip(got) {
            if let Some(probe) = guarded.get(&at) {
                self.guards.insert(at, guard(probe, &said, user.as_deref()));
            }
            self.ahead.insert(at, (rendered, said.facts()));
        }
        for (at, rendered) in bare {
            self.ahead.insert(at, (rendered, Facts::default()));
        }
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

/// A window ends after a step that registers a value, and after a command unless it
/// reads past commands speculatively.
fn stops_after<R: Probed>(step: &Step, r: &R, speculate: bool) -> bool {
    step.registers_now().is_some() || (r.is_command() && !speculate)
}

/// The steps after the first that a window takes.
struct Taken<R> {
    /// The steps the batch reads for, with what rendering each ahead took.
    read_for: Vec<(usize, Duration)>,
    /// A probe carries user code.
    isolate: bool,
    /// The first step after the window.
    next: usize,
    /// The steps taken that have a probe, rendered.
    steps: Vec<(usize, R)>,
    /// Their probes.
    probes: Vec<(usize, String)>,
    /// Commands without a probe, taken when speculating: the chain needs them.
    bare: Vec<(usize, R)>,
    /// The probes of speculative steps, read on their own.
    guarded: HashMap<usize, String>,
}

impl<R> Default for Taken<R> {
    fn default() -> Self {
        Taken {
            read_for: Vec::new(),
            isolate: false,
            next: 0,
            steps: Vec::new(),
            probes: Vec::new(),
            bare: Vec::new(),
            guarded: HashMap::new(),
        }
    }
}

/// Take the steps after `list[pos]` into the window: up to [`WINDOW`] of them, stopping at
/// a change of user (the first step's is `user`), a step that does not render or reads
/// nothing and is no command, and after [`stops_after`]. When speculating every step
/// taken is speculative (a chain may carry a command or a change before it): it gets a
/// guard. Without speculating no step after a command is taken, so none needs one.
fn take_ahead<R: Probed>(
    list: &[&Step],
    (pos, user, speculate): (usize, Option<&str>, bool),
    batch: &mut Batch,
    taken: &mut Taken<R>,
    render: &mut RenderAhead<'_, R>,
) {
    for (at, step) in list.iter().enumerate().skip(pos + 1).take(WINDOW) {
        let rendering = Instant::now();
        let r = match render(step) {
            Ahead::Ready(r) => r,
            Ahead::Skip => {
                taken.next += 1;
                continue;
            }
            Ahead::Stop => break,
        };
        let rendered = rendering.elapsed();
        let probe = r.probe();
        if r.user() != user || probe.is_none() && !r.is_command() {
            break;
        }
        taken.next += 1;
        let stop = stops_after(step, &r, speculate);
        if let Some(p) = probe {
            taken.read_for.push((at, rendered));
            if speculate {
                taken.guarded.insert(at, p.clone());
            }
            // What the batch shares (the sums, the scan) gives the same text as the probe
            // alone, which its guard runs.
            batch.add(at, &r);
            taken.probes.push((at, p));
            taken.isolate |= r.has_user_code();
            taken.steps.push((at, r));
        } else if speculate {
            taken.bare.push((at, r));
        }
        if stop {
            break;
        }
    }
}

/// What each of `probes` printed, read in one request (none when there are none).
fn gather_all(
    remote: &mut dyn Remote,
    user: Option<&str>,
    probes: &[(usize, String)],
    prelude: &str,
    isolate: bool,
) -> Result<Vec<Said>, ReadError> {
    let Some((first, more)) = probes.split_first() else {
        return Ok(Vec::new());
    };
    let (first, more) = gather_texts(remote, user, first, more, prelude, isolate)?;
    Ok(std::iter::once(first).chain(more).collect())
}

#[cfg(test)]
mod tests {
    use std::io::{Read, Write};
    use std::os::unix::fs::PermissionsExt;
    use std::path::Path;

    use super::*;
    use crate::facts::gather::gather;
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
