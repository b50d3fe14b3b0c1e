//! Property tests, bounded to run in CI in well under a minute: the loaders (inventory,
//! operations, templates) never panic on arbitrary input, and the channel's framing
//! carries arbitrary bytes and arbitrary quoted strings exactly (the agent runs locally,
//! behind a stand-in orbctl that just executes the command).

use std::path::Path;

use orbdeploy::orb::Orb;
use orbdeploy::quote::quote;
use orbdeploy::remote::channel::Channel;
use orbdeploy::remote::{Exec, Remote};
use orbdeploy::template::Renderer;
use proptest::prelude::*;

fn yamlish() -> impl Strategy<Value = String> {
    // Fragments that make the parsers work: keys of our schema, YAML punctuation, tabs.
    let atoms = prop::sample::select(vec![
        "machines:",
        "vars:",
        "groups:",
        "defaults:",
        "operations:",
        "steps:",
        "handlers:",
        "- ",
        "  ",
        "\n",
        ": ",
        "{",
        "}",
        "[",
        "]",
        ",",
        "\"",
        "'",
        "&a ",
        "*a",
        "!!str ",
        "#",
        "m1",
        "shell",
        "put",
        "mode: ",
        "\"0644\"",
        "755",
        "yes",
        "true",
        "~",
        "null",
        "{{ x }}",
        "{% if %}",
        "\t",
        "|",
        ">",
        "...",
        "---",
        "\u{feff}",
        "é",
        "\\",
        "%",
        "@",
        "`",
    ]);
    prop::collection::vec(atoms, 0..60).prop_map(|v| v.concat())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 300, ..ProptestConfig::default() })]

    #[test]
    fn inventory_loader_never_panics(text in yamlish(), bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let dir = tempfile::tempdir().unwrap();
        for content in [text.as_bytes(), &bytes[..]] {
            let inv = dir.path().join("inv.yaml");
            std::fs::write(&inv, content).unwrap();
            let _ = orbdeploy::inventory::load(&inv, &[]);
        }
    }

    #[test]
    fn operations_loader_never_panics(text in yamlish()) {
        let dir = tempfile::tempdir().unwrap();
        let inv = dir.path().join("inv.yaml");
        std::fs::write(&inv, "machines:\n  m1: {}\noperations: ops.yaml\n").unwrap();
        std::fs::write(dir.path().join("ops.yaml"), &text).unwrap();
        if let Ok(inv) = orbdeploy::inventory::load(&inv, &[]) {
            let _ = orbdeploy::steps::load(&inv, &Renderer::new());
        }
    }

    #[test]
    fn templates_never_panic(text in ".{0,80}", expr in yamlish()) {
        let r = Renderer::new();
        let ctx = minijinja::Value::from_serialize(serde_json::json!({"x": 1, "machine": "m"}));
        let _ = r.render("t", &text, &ctx);
        let _ = r.condition(&expr, &ctx);
        let _ = r.check_expression(&expr);
    }
}

/// A stand-in orbctl for `run`: drops the flags and executes the command locally.
fn local_orbctl(dir: &Path) -> std::path::PathBuf {
    let bin = dir.join("orbctl");
    std::fs::write(
        &bin,
        "#!/bin/sh\n[ \"$1\" = run ] || exit 1\nshift\nwhile [ $# -gt 0 ]; do case \"$1\" in -m|-u|-w) shift 2 ;; *) break ;; esac; done\nexec \"$@\"\n",
    )
    .unwrap();
    std::process::Command::new("chmod")
        .arg("+x")
        .arg(&bin)
        .status()
        .unwrap();
    bin
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn channel_framing_round_trips_bytes_and_strings(
        payloads in prop::collection::vec(prop::collection::vec(any::<u8>(), 0..3000), 1..6),
        words in prop::collection::vec("[^\u{0}]{0,40}", 1..6),
    ) {
        let dir = tempfile::tempdir().unwrap();
        let orb = Orb::new(local_orbctl(dir.path()));
        let mut ch = Channel::new(&orb, "local");
        for p in &payloads {
            // stdin in, stdout out, byte for byte; stderr kept apart.
            let out = ch.exec(&Exec { script: "cat; printf e >&2".into(), stdin: p.clone(), ..Exec::default() }).unwrap();
            prop_assert_eq!(&out.stdout, p);
            prop_assert_eq!(out.stderr, b"e".to_vec());
        }
        for w in &words {
            let out = ch.exec(&Exec::script(format!("printf '%s' {}", quote(w)))).unwrap();
            prop_assert_eq!(out.stdout, w.as_bytes().to_vec());
        }
        // Text mode (probes): the same text back, stderr after it in the same text, the
        // exit status, and the probe library defined by the agent.
        for w in &words {
            let probe = Exec {
                script: format!("printf '%s' {}; printf '\\n' ; printf err >&2; (exit 3)", quote(w)),
                probe: true,
                ..Exec::default()
            };
            let out = ch.exec(&probe).unwrap();
            prop_assert_eq!(out.stdout, format!("{w}\nerr").into_bytes());
            prop_assert!(out.stderr.is_empty());
            prop_assert_eq!(out.status, 3);
        }
        let lib = ch.exec(&Exec { script: "__od_kind / -d dir x".into(), probe: true, ..Exec::default() }).unwrap();
        prop_assert_eq!(lib.stdout, b".kind dir\n".to_vec());
        ch.close();
        prop_assert_eq!(ch.sessions_opened(), 1);
    }
}
