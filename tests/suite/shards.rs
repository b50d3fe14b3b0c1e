//! `--shard K/N` and `orbdeploy report merge` end to end against orbsim machines: four
//! machines (one of which fails a step) applied once whole and once as three shards; every
//! machine is in exactly one shard's report, and the merged report's totals, machine
//! statuses and exit code are the unsharded run's. The merged report is one
//! `--rerun-failed` reads. Bad `K/N`, an empty shard, overlapping shards and shards of
//! another inventory are exit 2 with one clear message.

use std::collections::BTreeMap;

use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::harness::{machine_entry, World};

const OPS: &str = r#"
- name: marker
  put: { content: "v1\n", dest: /etc/orbd-shard-marker }
  become: true
- name: gate
  shell: "test ! -e /etc/broken"
- name: after
  put: { content: "after\n", dest: /etc/orbd-shard-after }
  become: true
"#;

/// The shard of `name` among `n`, computed as docs/fleet.md describes it, apart from
/// orbdeploy's code: the first 8 bytes of SHA-256(name), big-endian, modulo N, plus 1.
fn documented_shard(name: &str, n: u64) -> u64 {
    let sum = Sha256::digest(name.as_bytes());
    let mut first = [0u8; 8];
    first.copy_from_slice(&sum[..8]);
    u64::from_be_bytes(first) % n + 1
}

/// The machines of a report, in its order.
fn machines(doc: &Value) -> Vec<String> {
    doc["machines"]
        .as_array()
        .expect("machines")
        .iter()
        .map(|m| m["machine"].as_str().expect("name").to_string())
        .collect()
}

/// What must be equal between the merged and the unsharded report: the summary's counts,
/// machines per status and exit code, and each machine's status and step statuses.
fn outcome(doc: &Value) -> (Value, Value, Value, BTreeMap<String, Vec<String>>) {
    let per = machines(doc)
        .into_iter()
        .map(|m| {
            let e = machine_entry(doc, &m);
            let mut row = vec![e["status"].as_str().unwrap_or_default().to_string()];
            for s in e["steps"].as_array().into_iter().flatten() {
                row.push(s["status"].as_str().unwrap_or_default().to_string());
            }
            (m, row)
        })
        .collect();
    let s = &doc["summary"];
    (
        s["counts"].clone(),
        s["machines"].clone(),
        s["exit_code"].clone(),
        per,
    )
}

#[test]
fn merged_shards_equal_the_unsharded_run() {
    let w = World::new("shards");
    let names = ["a", "b", "c", "d"].map(|s| w.name(s));
    for m in &names {
        w.create(m);
    }
    w.sh(&names[1], Some("root"), "touch /etc/broken")
        .assert_code(0);
    w.write("ops.yaml", OPS);
    let listed: String = names.iter().map(|m| format!("  {m}: {{}}\n")).collect();
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n{listed}operations: ops.yaml\n"),
    );
    let inv = inv.to_str().expect("utf-8 path").to_string();

    w.orbdeploy(["apply", &inv, "--report", "whole.json"])
        .assert_code(1);
    let whole = w.report("whole.json");
    assert_eq!(machines(&whole).len(), 4);

    // Back to the state before, so the shards do what the whole run did.
    for m in &names {
        w.sh(
            m,
            Some("root"),
            "rm -f /etc/orbd-shard-marker /etc/orbd-shard-after",
        )
        .assert_code(0);
    }
    let mut seen: BTreeMap<String, u64> = BTreeMap::new();
    let mut reports = Vec::new();
    for k in 1..=3u64 {
        let file = format!("shard{k}.json");
        let shard = format!("{k}/3");
        let run = w.orbdeploy([
            "apply",
            &inv,
            "--shard",
            &shard,
            "--allow-empty",
            "--report",
            &file,
        ]);
        let doc = w.report(&file);
        let mine = machines(&doc);
        let failed = mine.contains(&names[1]);
        run.assert_code(if failed { 1 } else { 0 });
        for m in mine {
            assert_eq!(documented_shard(&m, 3), k, "{m} is in shard {k}");
            assert!(seen.insert(m.clone(), k).is_none(), "{m} in two shards");
        }
        reports.push(file);
    }
    let all: Vec<String> = seen.keys().cloned().collect();
    let mut expected: Vec<String> = names.to_vec();
    expected.sort();
    assert_eq!(all, expected, "every machine is in exactly one shard");

    let mut merge = vec!["report", "merge"];
    merge.extend(reports.iter().map(String::as_str));
    merge.extend([
        "--out",
        "merged.json",
        "--junit",
        "merged.xml",
        "--report-html",
        "merged.html",
    ]);
    let merged_run = w.orbdeploy(merge);
    merged_run.assert_code(1);
    assert_eq!(
        merged_run.stdout,
        format!(
            "merged 3 report(s) (apply of {inv}): 4 machine(s), 3 changed, 1 failed; exit code 1\n"
        )
    );
    let merged = w.report("merged.json");
    assert_eq!(outcome(&merged), outcome(&whole));
    assert_eq!(merged["inventory_sha256"], whole["inventory_sha256"]);
    let junit = std::fs::read_to_string(w.path("merged.xml")).expect("junit");
    for m in &names {
        assert!(junit.contains(m.as_str()), "{m} in the JUnit report");
    }
    let html = std::fs::read_to_string(w.path("merged.html")).expect("html");
    assert!(html.contains(names[3].as_str()));

    // The merged report is one --rerun-failed reads: only b runs again, and converges.
    w.sh(&names[1], Some("root"), "rm /etc/broken")
        .assert_code(0);
    let rerun = w.orbdeploy(["apply", &inv, "--rerun-failed", "merged.json"]);
    rerun.assert_code(0);
    assert!(
        rerun.stderr.contains(&format!(
            "re-running what failed in merged.json: {}",
            names[1]
        )),
        "{}",
        rerun.stderr
    );

    // The same report twice: its machines overlap.
    let one = reports
        .iter()
        .find(|f| !machines(&w.report(f)).is_empty())
        .expect("a shard with machines");
    let twice = w.orbdeploy(["report", "merge", one, one, "--out", "bad.json"]);
    twice.assert_code(2);
    assert!(
        twice.stderr.starts_with("error: machine `"),
        "{}",
        twice.stderr
    );
    assert!(twice
        .stderr
        .contains(&format!("is in both {one} and {one}")));
    assert!(!w.path("bad.json").exists(), "nothing written on a refusal");

    // A shard of the inventory once edited is of another inventory.
    let edited = std::fs::read_to_string(&inv).expect("inventory") + "# edited\n";
    std::fs::write(&inv, edited).expect("edit");
    w.orbdeploy(["plan", &inv, "--report", "edited.json"])
        .assert_code(0);
    let other = w.orbdeploy(["report", "merge", "merged.json", "edited.json"]);
    other.assert_code(2);
    assert!(
        other.stderr.starts_with(
            "error: merged.json and edited.json are not shards of one run: their inventories differ (SHA-256 "
        ),
        "{}",
        other.stderr
    );
}

#[test]
fn bad_and_empty_shards_are_exit_2() {
    let w = World::new("shardbad");
    // Machines that are never created: the selection is refused before any orbctl call
    // could matter, and a plan of machines that do not exist is fine for the empty case.
    let names: Vec<String> = ["a", "b", "c"].iter().map(|s| w.name(s)).collect();
    let listed: String = names
        .iter()
        .map(|m| format!("  {m}: {{ state: absent }}\n"))
        .collect();
    w.write("ops.yaml", "- shell: \"true\"\n");
    let inv = w.write(
        "inv.yaml",
        format!("machines:\n{listed}operations: ops.yaml\n"),
    );
    let inv = inv.to_str().expect("utf-8 path").to_string();

    for bad in ["0/3", "4/3", "1/0", "x"] {
        for cmd in ["apply", "plan", "exec"] {
            let mut args = vec![cmd, inv.as_str(), "--shard", bad];
            if cmd == "exec" {
                args.extend(["--", "true"]);
            }
            let run = w.orbdeploy(args.clone());
            run.assert_code(2);
            assert!(
                run.stderr.contains(&format!(
                    "invalid value '{bad}' for '--shard <K/N>': `{bad}`: "
                )),
                "{cmd} {bad}: {}",
                run.stderr
            );
        }
    }

    // Among 8 shards of 3 machines at least 5 are empty; take the first.
    let empty = (1..=8)
        .find(|k| names.iter().all(|m| documented_shard(m, 8) != *k))
        .expect("an empty shard");
    let shard = format!("{empty}/8");
    for cmd in ["plan", "exec"] {
        let mut args = vec![cmd, inv.as_str(), "--shard", &shard];
        if cmd == "exec" {
            args.extend(["--", "true"]);
        }
        let run = w.orbdeploy(args.clone());
        run.assert_code(2);
        assert_eq!(
            run.stderr,
            format!(
                "error: --shard {shard} holds none of the inventory's 3 machine(s) (a machine's shard comes from its name alone); give --allow-empty if nothing to do is fine\n"
            ),
            "{cmd}"
        );
        args.insert(2, "--allow-empty");
        w.orbdeploy(args.clone()).assert_code(0);
    }
}
