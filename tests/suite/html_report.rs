//! `--report-html`: a snapshot of a small report's HTML (made by the built `orbdeploy
//! apply` against the recording fake orbctl, times redacted), the same report loaded in
//! headless Chromium with the network cut off (no console error, no request, a row per
//! machine and a bar per step, the failure open), and a synthetic 100 machines × 200
//! steps report for size and rendering (`scripts/bench-report.sh` times it).
//!
//! Chromium is required: a test that cannot find it fails and says how to install it
//! (`scripts/setup.sh` does).

use crate::snap;

use std::path::{Path, PathBuf};
use std::process::Command;

use orbdeploy::ops::Kind;
use orbdeploy::report::html::{self, Clock, Page};
use orbdeploy::report::{
    totals, ActionKind, ActionStatus, Counts, FailureInfo, HostResult, HostStatus, MachineAction,
    Mode, Report, ReportMachine, StepResult, StepStatus, Summary, REPORT_VERSION,
};
use snap::Project;

const OPS: &str = r#"
steps:
  - name: app config
    put: { content: "port=8080\n", dest: "{{ root }}/{{ machine }}.conf" }
    notify: reload
  - name: "hostile </script><img src=x onerror=alert(1)> & \"quotes\""
    shell: "echo '<b>out</b> & </script>'"
  - name: migrate
    shell: |
      echo "migrating {{ machine }}"
      if [ "{{ machine }}" = db ]; then
        echo "no such table: users </script><img src=x onerror=alert(1)>" >&2
        exit 3
      fi
  - name: after the migration
    shell: "echo migrated > {{ root }}/{{ machine }}.done"
handlers:
  - name: reload
    shell: "echo reloaded"
"#;

/// web changes its config (a diff) and runs the handler, db fails its migration, ghost
/// does not exist.
fn project() -> Project {
    let p = Project::new(
        &[("web", "running"), ("db", "running")],
        "machines:\n  web: {}\n  db: {}\n  ghost: {}\n",
    );
    p.write("ops.yaml", OPS);
    p.write("work/web.conf", "port=80\n");
    p
}

/// Run the small apply and return the project and its report's path.
fn small_report() -> (Project, PathBuf) {
    let p = project();
    let run = p.run(&[
        "apply",
        "inv.yaml",
        "--diff",
        "--parallel",
        "1",
        "--report-html",
        "out/report.html",
    ]);
    assert_eq!(run.code, 1, "{}", run.text());
    // The end of the human output names the page, just before the closing line.
    let end: Vec<&str> = run.stdout.lines().rev().take(3).collect();
    assert_eq!(end[2], "Reports: out/report.html (HTML)", "{}", run.stdout);
    let path = p.dir().join("out/report.html");
    (p, path)
}

#[test]
fn html_report_of_a_small_run() {
    let (p, path) = small_report();
    let html = std::fs::read_to_string(path).unwrap();
    let mut s = p.settings();
    // The assets are their own files; the snapshot is about what the run put in the page.
    s.add_filter(r"(?s)<style>.*?</style>", "<style>[report.css]</style>");
    s.add_filter(
        r"(?s)<script>//.*?</script>",
        "<script>[report.js]</script>",
    );
    s.add_filter(r"'sha256-[A-Za-z0-9+/=]+'", "'sha256-[hash of report.js]'");
    s.add_filter(r#"style="left:[^"]*""#, r#"style="[place]""#);
    s.add_filter(
        r#"(?s)<div class="axis".*?</div>\n<div class="grid".*?</div>"#,
        "[axis]",
    );
    s.add_filter(r#""([tdp]|end)":\d+"#, r#""$1":"[ms]""#);
    s.add_filter(r#"data-v="\d+">#\.##s"#, r#"data-v="[ms]">#.##s"#);
    s.add_filter(r"(?s)<time datetime=.*?</time>", "[start time]");
    // Which bars are wide enough to carry their step's name is up to the run's times.
    s.add_filter(
        r#"style="\[place\]"( tabindex="0")?>(<span aria-hidden="true">[^<]*</span>)?</i>"#,
        r#"style="[place]"$1>[name?]</i>"#,
    );
    // Which steps took 10 ms or more, and in what order, is up to the machine's load.
    s.add_filter(
        r#"(?s)<section id="slowest".*?</section>"#,
        "[slowest steps: which, and their order, vary]",
    );
    s.add_filter(
        r#"<dd class="version">[^<]*"#,
        r#"<dd class="version">[version]"#,
    );
    s.bind(|| insta::assert_snapshot!("html_report", html));
}

/// `scripts/report-browser.sh` on a page (every request goes to a proxy where nothing
/// listens); returns the DOM after the script ran, Chromium's log, and the times.
fn browse(report: &Path, out: &Path, fragment: &str) -> (String, String, String) {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts/report-browser.sh");
    let mut cmd = Command::new(&script);
    cmd.arg(report).arg(out);
    if !fragment.is_empty() {
        cmd.arg(fragment);
    }
    let run = cmd.output().unwrap();
    assert!(
        run.status.success(),
        "{} failed (is Chromium installed? scripts/setup.sh installs it): {}",
        script.display(),
        String::from_utf8_lossy(&run.stderr)
    );
    let dom = std::fs::read_to_string(out.join("dom.html")).unwrap();
    let log = std::fs::read_to_string(out.join("chromium.log")).unwrap();
    let png = std::fs::read(out.join("screenshot.png")).unwrap();
    assert!(png.starts_with(b"\x89PNG"), "no screenshot");
    (dom, log, String::from_utf8_lossy(&run.stdout).into_owned())
}

/// No console message (errors, refused scripts, failed loads all log one) in Chromium's
/// log, and no request started by the page in its net log. Chromium asks its own
/// services (updates, accounts) whatever the page, through the dead proxy: those carry
/// no initiator ("not an origin"), while anything a file:// page asks for carries its
/// opaque origin, "null".
fn assert_quiet(log: &str, netlog: &Path) {
    let console: Vec<&str> = log.lines().filter(|l| l.contains(":CONSOLE")).collect();
    assert!(console.is_empty(), "console messages: {console:#?}");
    let net: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(netlog).unwrap()).unwrap();
    let start_job = &net["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"];
    let events = net["events"].as_array().cloned().unwrap_or_default();
    let page_requests: Vec<String> = events
        .iter()
        .filter(|e| &e["type"] == start_job)
        .filter_map(|e| {
            let url = e["params"]["url"].as_str()?;
            let initiator = e["params"]["initiator"].as_str().unwrap_or("");
            (!url.starts_with("file:") && initiator != "not an origin")
                .then(|| format!("{url} (from {initiator})"))
        })
        .collect();
    assert!(
        page_requests.is_empty(),
        "the page made requests: {page_requests:#?}"
    );
    assert!(
        events.iter().any(|e| &e["type"] == start_job),
        "the net log recorded no request at all, not even Chromium's own: was it written?"
    );
}

/// Where the screenshots and DOM dumps go: beside the build, for a person to look at.
fn artifacts(name: &str) -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("..").join(name)
}

#[test]
fn small_report_renders_in_chromium_without_errors_or_requests() {
    let (_p, path) = small_report();
    let out = artifacts("html-report");
    let (dom, log, _) = browse(&path, &out, "");
    assert_quiet(&log, &out.join("netlog.json"));
    assert!(
        dom.contains("data-ready=\""),
        "the script did not run to its end"
    );
    assert_eq!(dom.matches("<div class=\"row\" data-m=").count(), 3);
    // web: config, hostile, migrate, after, handler; db: 4 (1 skipped); ghost: 4 failed.
    assert_eq!(bars(&dom), 13);
    // db's migration is open, with its command, exit code and stderr.
    let at = dom.find("<b>db</b> — step").expect("db's failure");
    let open = dom[..at].rfind("<details").unwrap();
    assert!(
        dom[open..at].starts_with("<details class=\"failure\" open=\"\">"),
        "{}",
        &dom[open..at]
    );
    let failure = &dom[at..at + dom[at..].find("</details>").unwrap()];
    assert!(failure.contains("<h4>command</h4>"), "{failure}");
    assert!(
        failure.contains("exit code <b class=\"code\">3</b>"),
        "{failure}"
    );
    assert!(
        failure.contains("<h4>stderr (last lines)</h4>"),
        "{failure}"
    );
    assert!(
        failure.contains("no such table: users &lt;/script&gt;&lt;img src=x onerror=alert(1)&gt;")
    );
    assert!(!dom.contains("<img"));
    std::fs::copy(out.join("screenshot.png"), artifacts("report.png")).unwrap();
    std::fs::copy(&path, artifacts("report.html")).unwrap();
}

#[test]
fn small_report_builds_step_tables_and_tooltips_in_chromium() {
    let (_p, path) = small_report();
    // web (row 2) step 0 changed its config: the table shows what changed and the diff.
    let out = artifacts("html-report-steps");
    let (dom, log, _) = browse(&path, &out, "#s-2-0");
    assert_quiet(&log, &out.join("netlog.json"));
    let at = dom
        .find("<tr id=\"s-2-0\" class=\"hit\">")
        .expect("the step's row, marked");
    let row = &dom[at..at + dom[at..].find("</tr>").unwrap()];
    assert!(row.contains("<pre class=\"diff\">"), "{row}");
    assert!(
        row.contains("<span class=\"add\">+port=8080\n</span>"),
        "{row}"
    );
    assert!(
        row.contains("<span class=\"del\">-port=80\n</span>"),
        "{row}"
    );
    // Every step of web is a row; the hostile name is text.
    assert_eq!(dom.matches("<tr id=\"s-2-").count(), 5);
    assert!(dom.contains(
        "<td>hostile &lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; &amp; \"quotes\"</td>"
    ));
    assert!(!dom.contains("<img"));
    // db's failed migration (row 0, step 2) focused on the timeline: its tooltip shows.
    let out = artifacts("html-report-tooltip");
    let (dom, log, _) = browse(&path, &out, "#t-0-2");
    assert_quiet(&log, &out.join("netlog.json"));
    let at = dom.find("<div id=\"tip\"").unwrap();
    let tip = &dom[at..at + dom[at..].find("</div></div>").unwrap()];
    assert!(!tip.contains("hidden"), "{tip}");
    assert!(tip.contains("db · #3 · shell"), "{tip}");
    assert!(tip.contains("<div class=\"t\">migrate</div>"), "{tip}");
    assert!(tip.contains("✗ FAILED · started at "), "{tip}");
    std::fs::copy(out.join("screenshot.png"), artifacts("report-tooltip.png")).unwrap();
}

/// Step bars on the timeline's rows (the legend's samples are not in a row).
fn bars(dom: &str) -> usize {
    dom.split("<div class=\"track\">")
        .skip(1)
        .map(|row| {
            let row = &row[..row.find("</div>").unwrap_or(row.len())];
            row.matches("<i class=\"b s ").count()
        })
        .sum()
}

const KINDS: [Kind; 7] = [
    Kind::Packages,
    Kind::Put,
    Kind::Template,
    Kind::Line,
    Kind::Shell,
    Kind::Service,
    Kind::Directory,
];

/// Step `k` of `steps` on machine `m`, started at `t`: mostly ok, every fifth changed
/// (every twentieth with a diff), some skipped, the last three handlers, and on every
/// tenth machine one failure three quarters in, with the rest skipped.
fn synthetic_step(m: usize, name: &str, k: usize, steps: usize, t: u64) -> StepResult {
    let dur = 20 + ((k * 37 + m * 11) % 90) as u64 + if k % 50 == 7 { 2500 } else { 0 };
    let handler = k + 3 >= steps;
    let mut s = StepResult {
        machine: name.into(),
        index: if handler { k + 3 - steps } else { k },
        name: format!("{} {} for the app {k}", KINDS[k % KINDS.len()], k * 7 % 100),
        kind: KINDS[k % KINDS.len()],
        handler,
        status: StepStatus::Ok,
        changes: Vec::new(),
        reason: None,
        diff: None,
        duration_ms: dur,
        start_ms: t,
        attempts: 1,
        failure: None,
        calls: Vec::new(),
        timings: None,
        item: None,
        origin: None,
    };
    let fail_at = (m % 10 == 3).then_some(steps * 3 / 4);
    match fail_at {
        Some(f) if k == f => {
            s.status = StepStatus::Failed;
            s.failure = Some(FailureInfo {
                message: "exited with status 2".into(),
                command: Some(format!("systemctl restart app-{k}")),
                exit_code: Some(2),
                stdout_tail: "restarting\n".repeat(5),
                stderr_tail: "Job for app.service failed.\n".repeat(5),
            });
        }
        Some(f) if k > f => {
            s.status = StepStatus::Skipped;
            s.reason = Some("an earlier step failed on this machine".into());
            s.duration_ms = 0;
        }
        _ if k % 5 == 1 => {
            s.status = StepStatus::Changed;
            s.changes = vec![format!("content of /etc/app/conf-{k}.d/app.conf")];
            if k % 20 == 1 {
                s.diff = Some(format!(
                    "--- /etc/app/conf-{k}.d/app.conf\n+++ /etc/app/conf-{k}.d/app.conf (new)\n@@ -1,3 +1,3 @@\n listen 8080\n-workers 4\n+workers 8\n timeout 30\n"
                ));
            }
        }
        _ if k % 13 == 2 => {
            s.status = StepStatus::Skipped;
            s.reason = Some("when: false".into());
            s.duration_ms = 1;
        }
        _ => {}
    }
    s
}

/// Machine `m` of a synthetic run, its steps one after the other from phase 1's end.
fn synthetic_machine(m: usize, steps: usize) -> ReportMachine {
    let name = format!("web-{m:03}");
    let mut t = 2000 + (m as u64 % 8) * 40;
    let mut list = Vec::new();
    for k in 0..steps {
        let s = synthetic_step(m, &name, k, steps, t);
        t += s.duration_ms + 2;
        list.push(s);
    }
    let mut counts = Counts::default();
    list.iter().for_each(|s| counts.add(s.status));
    let status = if counts.get(StepStatus::Failed) > 0 {
        HostStatus::Failed
    } else {
        HostStatus::Changed
    };
    ReportMachine {
        result: HostResult {
            machine: name,
            status,
            counts,
            duration_ms: t - 2000,
            error: None,
            timings: None,
            batch: None,
        },
        steps: list,
    }
}

/// A synthetic run of `machines` × `steps`, every 25th machine created in phase 1.
fn synthetic(machines: usize, steps: usize) -> (Report, Page) {
    let ms: Vec<ReportMachine> = (0..machines).map(|m| synthetic_machine(m, steps)).collect();
    let mut clock = Clock::default();
    for m in &ms {
        clock.phase1_end_ms.insert(m.result.machine.clone(), 1800);
    }
    let end = ms
        .iter()
        .map(|m| m.result.duration_ms + 2400)
        .max()
        .unwrap_or(0);
    clock.end_ms = end;
    let results: Vec<HostResult> = ms.iter().map(|m| m.result.clone()).collect();
    let (counts, per) = totals(&results);
    let actions = (0..machines)
        .map(|m| MachineAction {
            machine: format!("web-{m:03}"),
            action: if m % 25 == 0 {
                ActionKind::Create
            } else {
                ActionKind::Keep
            },
            status: if m % 25 == 0 {
                ActionStatus::Done
            } else {
                ActionStatus::Ok
            },
            message: None,
            argv: vec![],
        })
        .collect();
    let report = Report {
        schema: "orbdeploy-report".into(),
        version: REPORT_VERSION,
        orbdeploy_version: env!("CARGO_PKG_VERSION").into(),
        mode: Mode::Apply,
        inventory: "fleet.yaml".into(),
        inventory_path: None,
        inventory_sha256: None,
        started_unix: 1_767_225_600,
        machine_actions: actions,
        batches: Vec::new(),
        machines: ms,
        summary: Summary {
            mode: Mode::Apply,
            exit_code: 1,
            interrupted: false,
            counts,
            machines: per,
            duration_ms: end + 150,
        },
    };
    let page = Page {
        command: "orbdeploy apply fleet.yaml --diff --report-html report.html".into(),
        clock,
    };
    (report, page)
}

#[test]
fn report_of_100_machines_by_200_steps_is_small_and_renders() {
    let (report, page) = synthetic(100, 200);
    let html = html::render(&report, &page);
    let path = artifacts("report-100x200.html");
    std::fs::write(&path, &html).unwrap();
    assert!(
        html.len() < 5 * 1024 * 1024,
        "{} bytes: over the 5 MB target",
        html.len()
    );
    let out = artifacts("html-report-100x200");
    let (dom, log, times) = browse(&path, &out, "");
    assert_quiet(&log, &out.join("netlog.json"));
    assert!(
        dom.contains("data-ready=\""),
        "the script did not run to its end"
    );
    assert_eq!(dom.matches("<div class=\"row\" data-m=").count(), 100);
    assert_eq!(bars(&dom), 20_000);
    eprintln!("100x200: {} bytes, {times}", html.len());
}

#[test]
fn plan_report_shows_what_will_change_run_and_is_unknown() {
    let p = Project::new(
        &[("devbox", "running"), ("sleepy", "stopped")],
        "defaults: { create: true }\nmachines:\n  devbox: {}\n  sleepy: {}\n  newbox: { image: \"debian:trixie\" }\n",
    );
    p.write(
        "ops.yaml",
        "- name: config\n  put: { content: \"a=1\\n\", dest: \"{{ root }}/{{ machine }}.conf\" }\n- name: greet\n  shell: echo hello\n",
    );
    let run = p.run(&["plan", "inv.yaml", "--diff", "--report-html", "plan.html"]);
    assert_eq!(run.code, 0, "{}", run.text());
    let path = p.dir().join("plan.html");
    let html = std::fs::read_to_string(&path).unwrap();
    assert!(html.contains("<h1>orbdeploy plan <span class=\"st wc\"><span aria-hidden=\"true\">◐</span> changes pending</span></h1>"));
    assert!(html.contains(
        "<li class=\"st wc\"><span aria-hidden=\"true\">◐</span> <b>1</b> will change</li>"
    ));
    assert!(html.contains(
        "<li class=\"st wr\"><span aria-hidden=\"true\">▶</span> <b>1</b> will run</li>"
    ));
    assert!(html
        .contains("<li class=\"st un\"><span aria-hidden=\"true\">?</span> <b>4</b> unknown</li>"));
    assert!(html.contains("<td>will be created</td>"));
    assert!(html.contains("<td>will be started</td>"));
    let out = artifacts("html-report-plan");
    let (dom, log, _) = browse(&path, &out, "#t-0-0");
    assert_quiet(&log, &out.join("netlog.json"));
    assert_eq!(dom.matches("<div class=\"row\" data-m=").count(), 3);
    assert_eq!(bars(&dom), 6);
    // newbox (row 1) would be created first: phase 1 and two unknown steps.
    let row = &dom[dom.find("<div class=\"row\" data-m=\"1\">").unwrap()..];
    let row = &row[..row.find("</div></div>").unwrap()];
    assert_eq!(row.matches("<i class=\"b p\"").count(), 1, "{row}");
    assert_eq!(row.matches("<i class=\"b s un\"").count(), 2, "{row}");
    let tip = &dom[dom.find("<div id=\"tip\"").unwrap()..];
    assert!(
        tip.contains("◐ will change · started at"),
        "{}",
        &tip[..400.min(tip.len())]
    );
    std::fs::copy(out.join("screenshot.png"), artifacts("report-plan.png")).unwrap();
}

#[test]
fn secrets_are_masked_in_the_html_report() {
    let p = Project::new(
        &[("devbox", "running")],
        "secrets: [token]\nmachines:\n  devbox: {}\n",
    );
    p.write(
        "ops.yaml",
        "- name: credentials\n  put: { content: \"token={{ token }}\\n\", dest: \"{{ root }}/creds\" }\n- name: use it\n  shell: \"echo using {{ token }}; echo {{ token }} >&2; exit 1\"\n",
    );
    p.write("work/creds", "token=old\n");
    let run = p.run(&[
        "apply",
        "inv.yaml",
        "--diff",
        "--var",
        "token=s3cr3t-t0ken",
        "--report-html",
        "r.html",
    ]);
    assert_eq!(run.code, 1, "{}", run.text());
    let html = p.read("r.html");
    assert!(!html.contains("s3cr3t"), "a secret in the HTML report");
    assert!(
        html.contains("--var &#39;token=***&#39;"),
        "the command line"
    );
    assert!(html.contains("+token=***\\n"), "the diff");
    assert!(
        html.contains("<pre class=\"stderr\">***</pre>"),
        "the failure's stderr"
    );
}
