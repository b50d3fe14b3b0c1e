//! The page's structure and escaping, from reports built by hand.

use super::*;
use crate::report::{
    ActionKind, ActionStatus, Counts, FailureInfo, HostResult, HostStatus, MachineAction, Mode,
    ReportMachine, Summary, REPORT_VERSION,
};

const HOSTILE: &str =
    "</script><img src=x onerror=alert(1)> \"double\" 'single' & <!-- end \u{2028}";

fn step(machine: &str, index: usize, name: &str, status: StepStatus, start: u64) -> StepResult {
    StepResult {
        machine: machine.into(),
        index,
        name: name.into(),
        kind: crate::ops::Kind::Shell,
        handler: false,
        status,
        changes: Vec::new(),
        reason: None,
        diff: None,
        duration_ms: 10,
        start_ms: start,
        attempts: 1,
        failure: None,
        calls: Vec::new(),
        timings: None,
        item: None,
        origin: None,
    }
}

fn machine(name: &str, status: HostStatus, steps: Vec<StepResult>) -> ReportMachine {
    let mut counts = Counts::default();
    for s in &steps {
        counts.add(s.status);
    }
    ReportMachine {
        result: HostResult {
            machine: name.into(),
            status,
            counts,
            duration_ms: 100,
            error: None,
            timings: None,
            batch: None,
        },
        steps,
    }
}

fn report(mode: Mode, machines: Vec<ReportMachine>, actions: Vec<MachineAction>) -> Report {
    let results: Vec<HostResult> = machines.iter().map(|m| m.result.clone()).collect();
    let (counts, per) = crate::report::totals(&results);
    Report {
        schema: "orbdeploy-report".into(),
        version: REPORT_VERSION,
        orbdeploy_version: "0.1.0".into(),
        mode,
        inventory: "inv.yaml".into(),
        inventory_path: None,
        inventory_sha256: None,
        started_unix: 1_700_000_000,
        machine_actions: actions,
        batches: Vec::new(),
        machines,
        summary: Summary {
            mode,
            exit_code: 1,
            interrupted: false,
            counts,
            machines: per,
            duration_ms: 1234,
        },
    }
}

/// A run with a hostile step name, output, diff and change on a machine whose name has
/// an ampersand and quotes.
fn hostile() -> Report {
    let m = "web&\"1'";
    let mut failed = step(m, 1, HOSTILE, StepStatus::Failed, 20);
    failed.failure = Some(FailureInfo {
        message: format!("exited 3: {HOSTILE}"),
        command: Some("echo '</script>' && exit 3".into()),
        exit_code: Some(3),
        stdout_tail: format!("out {HOSTILE}\n"),
        stderr_tail: "\x1b[31merr <b>bold</b>\x1b[0m\n".into(),
    });
    let mut changed = step(m, 0, "config <file>", StepStatus::Changed, 5);
    changed.changes = vec![format!("content of /etc/{HOSTILE}")];
    changed.diff = Some(format!("--- a\n+++ b\n@@ -1 +1 @@\n-old\n+{HOSTILE}\n"));
    let actions = vec![MachineAction {
        machine: m.into(),
        action: ActionKind::Start,
        status: ActionStatus::Done,
        message: None,
        argv: vec![],
    }];
    let mut r = report(
        Mode::Apply,
        vec![machine(m, HostStatus::Failed, vec![changed, failed])],
        actions,
    );
    r.inventory = "dir/<inv>.yaml".into();
    r
}

fn page() -> Page {
    let mut clock = Clock::default();
    clock.phase1_end_ms.insert("web&\"1'".into(), 4);
    clock.end_ms = 50;
    Page {
        command: "orbdeploy apply 'dir/<inv>.yaml'".into(),
        clock,
    }
}

/// The text of the data block, and the page without it.
fn split_data(html: &str) -> (String, String) {
    let open = "<script type=\"application/json\" id=\"od-data\">";
    let start = html.find(open).expect("data block") + open.len();
    let end = start + html[start..].find("</script>").expect("end of data block");
    let rest = format!("{}{}", &html[..start], &html[end..]);
    (html[start..end].to_string(), rest)
}

#[test]
fn hostile_strings_stay_text() {
    let html = render(&hostile(), &page());
    // Only the page's own two script elements, each closed once.
    assert_eq!(html.matches("<script").count(), 2, "{html}");
    assert_eq!(html.matches("</script>").count(), 2);
    assert!(!html.contains("<img"));
    assert!(!html.contains("<b>bold"));
    assert!(!html.contains("<file>"));
    assert!(!html.contains("<inv>"));
    assert!(!html.contains('\x1b'));
    // The markup shows them escaped.
    assert!(html.contains("&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; &quot;double&quot; &#39;single&#39; &amp; &lt;!-- end"));
    assert!(html.contains("<b>web&amp;&quot;1&#39;</b>"));
    assert!(html.contains("<code>dir/&lt;inv&gt;.yaml</code>"));
    assert!(html.contains("err &lt;b&gt;bold&lt;/b&gt;\n"));
    // The data block carries them exactly (colour codes dropped) and cannot end early.
    let (data, _) = split_data(&html);
    for bad in ['<', '>', '&', '\u{2028}'] {
        assert!(!data.contains(bad), "{bad:?} in the data block");
    }
    let v: serde_json::Value = serde_json::from_str(&data).expect("the data block is JSON");
    let s = &v["m"][0]["s"];
    assert_eq!(s[1]["n"], HOSTILE);
    assert_eq!(s[1]["f"]["r"], "err <b>bold</b>\n");
    assert_eq!(s[0]["c"][0], format!("content of /etc/{HOSTILE}"));
    assert_eq!(v["m"][0]["n"], "web&\"1'");
}

#[test]
fn no_attribute_or_comment_can_be_opened_by_run_data() {
    let (_, markup) = split_data(&render(&hostile(), &page()));
    // Outside the data block, every quote, < and > comes from the page itself: run data
    // never appears with a raw one, so the page's quotes pair up as written.
    assert!(!markup.contains("onerror=alert(1)>"));
    assert!(!markup.contains("<!--"));
    assert!(!markup.contains("'single'"));
    assert!(!markup.contains("\"double\""));
}

#[test]
fn the_script_is_allowed_by_its_hash_and_nothing_else_is() {
    let html = render(&hostile(), &page());
    let hash = escape::base64(&Sha256::digest(JS.as_bytes()));
    assert!(html.contains(&format!(
        "content=\"default-src 'none'; script-src 'sha256-{hash}'; style-src 'unsafe-inline'"
    )));
    assert!(html.contains(&format!("<script>{JS}</script>")));
    // Nothing that would fetch: no external reference of any kind.
    for word in ["http://", "https://", "src=\"", "@import", "url("] {
        let (_, markup) = split_data(&html);
        assert!(!markup.contains(word), "{word}");
    }
}

#[test]
fn header_tells_the_run() {
    let html = render(&hostile(), &page());
    assert!(html.contains("<title>orbdeploy apply dir/&lt;inv&gt;.yaml: FAILED (exit 1)</title>"));
    assert!(html.contains("<code>orbdeploy apply &#39;dir/&lt;inv&gt;.yaml&#39;</code>"));
    assert!(html.contains("<time datetime=\"2023-11-14T22:13:20Z\">2023-11-14 22:13:20 UTC</time>"));
    assert!(html.contains("<span class=\"dur\">1.23s</span>"));
    assert!(html.contains("<b class=\"code\">1</b> — at least one step failed"));
    assert!(html.contains("<b>1</b> changed</li>"));
    assert!(html.contains("<b>1</b> FAILED</li>"));
    assert!(html.contains("<b>0</b> ok</li>"));
}

#[test]
fn timeline_has_a_row_per_machine_and_a_bar_per_step_and_phase() {
    let a = machine(
        "a",
        HostStatus::Ok,
        (0..5)
            .map(|i| step("a", i, "s", StepStatus::Ok, 10 + i as u64 * 10))
            .collect(),
    );
    let mut h = step("b", 0, "restart", StepStatus::Changed, 30);
    h.handler = true;
    let b = machine("b", HostStatus::Changed, vec![h]);
    let actions = vec![MachineAction {
        machine: "b".into(),
        action: ActionKind::Create,
        status: ActionStatus::Done,
        message: None,
        argv: vec![],
    }];
    let html = render(&report(Mode::Apply, vec![a, b], actions), &page());
    assert_eq!(html.matches("<div class=\"row\" data-m=").count(), 2);
    assert_eq!(
        html.matches("<i class=\"b s ").count() - legend_bars(&html),
        6
    );
    assert_eq!(
        html.matches("<i class=\"b p").count() - 1,
        1,
        "one phase-1 bar"
    );
    assert!(html.contains("<i class=\"b s ch h\""));
    // One tab stop for the whole timeline.
    assert_eq!(html.matches("tabindex=\"0\"").count(), 1);
}

/// Bars drawn in the legend, not in rows.
fn legend_bars(html: &str) -> usize {
    let start = html.find("<ul class=\"legend\"").unwrap_or(0);
    let end = start + html[start..].find("</ul>").unwrap_or(0);
    html[start..end].matches("<i class=\"b s ").count()
}

#[test]
fn steps_of_no_duration_are_bars_one_after_the_other() {
    let steps: Vec<StepResult> = (0..3)
        .map(|i| {
            let mut s = step("m", i, "s", StepStatus::Unknown, 0);
            s.duration_ms = 0;
            s
        })
        .collect();
    let r = report(
        Mode::Plan,
        vec![machine("m", HostStatus::Changed, steps)],
        vec![],
    );
    let mut p = page();
    p.clock.end_ms = 1000;
    let html = render(&r, &p);
    assert!(html.contains(
        "<i class=\"b s un\" style=\"left:0%;width:.15%\" tabindex=\"0\"></i>\
         <i class=\"b s un\" style=\"left:.15%;width:.15%\"></i>\
         <i class=\"b s un\" style=\"left:.3%;width:.15%\"></i>"
    ));
}

#[test]
fn failures_are_open_with_command_exit_code_and_output() {
    let html = render(&hostile(), &page());
    let at = html
        .find("<details class=\"failure\" open>")
        .expect("an open failure");
    let f = &html[at..at + html[at..].find("</details>").unwrap_or(0)];
    assert!(f.contains("<pre class=\"msg\">exited 3: &lt;/script&gt;"));
    assert!(f.contains("<h4>command</h4>\n<pre class=\"cmd\">echo &#39;&lt;/script&gt;&#39; &amp;&amp; exit 3</pre>"));
    assert!(f.contains("exit code <b class=\"code\">3</b>"));
    assert!(f.contains("<h4>stdout (last lines)</h4>"));
    assert!(f.contains("<h4>stderr (last lines)</h4>"));
    assert!(f.contains("<a href=\"#s-0-1\">"));
}

#[test]
fn an_unreachable_machine_is_one_failure() {
    let steps: Vec<StepResult> = (0..3)
        .map(|i| step("gone", i, "s", StepStatus::Failed, 0))
        .collect();
    let mut m = machine("gone", HostStatus::Unreachable, steps);
    m.result.error = Some("machine `gone` does not exist".into());
    let html = render(&report(Mode::Apply, vec![m], vec![]), &page());
    assert!(html.contains("<h2 id=\"h-failures\">Failures (1)</h2>"));
    assert!(html.contains("— unreachable, 3 steps not run</summary>"));
    assert!(html.contains("⊘</span> unreachable</span>"));
}

#[test]
fn a_plan_speaks_of_what_will_change() {
    let steps = vec![
        step("m", 0, "a", StepStatus::WillChange, 1),
        step("m", 1, "b", StepStatus::WillRun, 12),
        step("m", 2, "c", StepStatus::Unknown, 23),
    ];
    let mut r = report(
        Mode::Plan,
        vec![machine("m", HostStatus::Changed, steps)],
        vec![],
    );
    r.summary.exit_code = 4;
    let html = render(&r, &page());
    assert!(html.contains("<h1>orbdeploy plan <span class=\"st wc\">"));
    assert!(html.contains("changes pending</span></h1>"));
    assert!(html.contains("plan --exit-code: changes are pending"));
    for w in ["will change", "will run", "unknown"] {
        assert!(html.contains(&format!("<b>1</b> {w}</li>")), "{w}");
        assert!(
            html.contains(&format!("<button type=\"button\">{w}</button>")),
            "{w}"
        );
    }
    assert!(html.contains("<i class=\"b s wc\" style="));
    assert!(html.contains("<i class=\"b s wr\" style="));
}

#[test]
fn machines_table_sorts_by_values() {
    let html = render(&hostile(), &page());
    assert!(html.contains("<table class=\"sortable\">"));
    assert!(html
        .contains("<th scope=\"col\" data-sort=\"n\"><button type=\"button\">time</button></th>"));
    assert!(html.contains("<td class=\"num\" data-v=\"100\">0.10s</td>"));
    assert!(html.contains("<td>started</td>"));
}

#[test]
fn command_line_is_masked_and_quoted() {
    let m = Masker::new(vec!["s3cr3t".into(), "it's".into()]);
    let line = command_line(
        [
            "/usr/local/bin/orbdeploy",
            "apply",
            "inv.yaml",
            "--var",
            "token=s3cr3t",
            "--var",
            "q=it's",
            "--var",
            "a=b c",
        ],
        &m,
    );
    assert_eq!(
        line,
        "orbdeploy apply inv.yaml --var 'token=***' --var 'q=***' --var 'a=b c'"
    );
}

#[test]
fn utc_dates() {
    assert_eq!(utc(0).0, "1970-01-01 00:00:00 UTC");
    assert_eq!(utc(951_782_400).1, "2000-02-29T00:00:00Z");
    assert_eq!(utc(1_700_000_000).0, "2023-11-14 22:13:20 UTC");
    assert_eq!(utc(4_102_444_799).0, "2099-12-31 23:59:59 UTC");
}

#[test]
fn every_exit_code_has_its_meaning() {
    for code in [0, 1, 2, 3, 4, 130] {
        assert_ne!(exit_meaning(code, false), exit_meaning(77, false), "{code}");
    }
}

#[test]
fn changes_come_first_with_what_changed_where_it_is_written_and_the_diff() {
    let mut r = hostile();
    r.machines[0].steps[0].origin = Some(Box::new(crate::report::StepOrigin {
        file: "roles/web/steps.yaml".into(),
        line: 4,
        column: 3,
        role: Some("web".into()),
        include_chain: vec!["site.yaml:2:3 role web".into()],
    }));
    let html = render(&r, &page());
    let changes = html
        .find("<h2 id=\"h-changes\">Changes (1)</h2>")
        .expect("changes");
    // First on the page, before the failures and the timeline.
    assert!(changes < html.find("id=\"h-failures\"").unwrap_or(0));
    assert!(changes < html.find("id=\"h-timeline\"").unwrap_or(0));
    let section = &html[changes..changes + html[changes..].find("</section>").unwrap_or(0)];
    assert!(section.contains("<td>web&amp;&quot;1&#39;</td><td><a href=\"#s-0-0\">config &lt;file&gt;</a> <span class=\"kind\">shell</span>"), "{section}");
    assert!(section.contains(
        "<div class=\"origin\">roles/web/steps.yaml:4:3 (via site.yaml:2:3 role web)</div>"
    ));
    assert!(section.contains("<div>content of /etc/&lt;/script&gt;"));
    assert!(section
        .contains("<details class=\"diff\" open><summary>diff</summary><pre class=\"diff\">"));
    assert!(
        section.contains("<span class=\"del\">-old\n</span><span class=\"add\">+&lt;/script&gt;")
    );
    assert!(section.contains("<span class=\"hunk\">@@ -1 +1 @@\n</span>"));
    // The failed step is not a change.
    assert!(!section.contains("#s-0-1"));
}

#[test]
fn no_change_is_said() {
    let r = report(
        Mode::Apply,
        vec![machine(
            "m",
            HostStatus::Ok,
            vec![step("m", 0, "a", StepStatus::Ok, 0)],
        )],
        vec![],
    );
    let html = render(&r, &page());
    assert!(html.contains(
        "<h2 id=\"h-changes\">Changes (0)</h2>\n<p class=\"none\">No step changed anything.</p>"
    ));
}

#[test]
fn a_failure_names_the_file_line_and_column_of_its_step() {
    let mut r = hostile();
    r.machines[0].steps[1].origin = Some(Box::new(crate::report::StepOrigin {
        file: "ops.yaml".into(),
        line: 12,
        column: 3,
        role: None,
        include_chain: vec![],
    }));
    let html = render(&r, &page());
    assert!(html.contains("(shell) at <code class=\"origin\">ops.yaml:12:3</code></summary>"));
}

#[test]
fn wide_bars_carry_their_name_and_narrow_ones_do_not() {
    let mut long = step("m", 0, "install <packages>", StepStatus::Changed, 0);
    long.duration_ms = 900;
    let short = step("m", 1, "tiny", StepStatus::Ok, 900);
    let r = report(
        Mode::Apply,
        vec![machine("m", HostStatus::Changed, vec![long, short])],
        vec![],
    );
    let mut p = page();
    p.clock.end_ms = 1000;
    let html = render(&r, &p);
    assert!(html.contains(
        "<i class=\"b s ch\" style=\"left:0%;width:90%\" tabindex=\"0\"><span aria-hidden=\"true\">install &lt;packages&gt;</span></i>"
    ));
    assert!(html.contains("<i class=\"b s ok\" style=\"left:90%;width:1%\"></i>"));
}
