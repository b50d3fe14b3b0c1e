//! The README against the code, so that it cannot drift: the synopsis of "## Commands"
//! names exactly the flags, values and subcommands clap accepts (`orbdeploy::cli::Cli`, what
//! `--help` prints), and the Guarantees table states each promise once, with the bad-input
//! case count of the catalogue `tests/suite/bad_input.rs` runs.

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;

const README: &str = include_str!("../../README.md");

/// The indented block that follows `## Commands`: one entry per `orbdeploy ...` line, with
/// its continuation lines joined to it.
fn synopsis() -> Vec<String> {
    let section = README
        .split_once("\n## Commands\n")
        .map(|(_, rest)| rest)
        .expect("README has a `## Commands` section");
    let mut entries: Vec<String> = Vec::new();
    let lines = section.lines().skip_while(|l| l.trim().is_empty());
    for line in lines.take_while(|l| l.starts_with("    ")) {
        let line = line.trim();
        match line.strip_prefix("orbdeploy ") {
            Some(rest) => entries.push(rest.to_string()),
            None => {
                let last = entries
                    .last_mut()
                    .expect("the synopsis starts with `orbdeploy`");
                last.push(' ');
                last.push_str(line);
            }
        }
    }
    assert!(!entries.is_empty(), "no synopsis under `## Commands`");
    entries
}

/// What the synopsis says one command takes: its long flags, each with the choices it
/// lists (`--output human|json`), and its bare words (subcommands or values).
#[derive(Default, Debug)]
struct Said {
    flags: BTreeMap<String, Option<BTreeSet<String>>>,
    words: BTreeSet<String>,
}

fn choices(word: &str) -> Option<BTreeSet<String>> {
    let word = word.trim_end_matches(['.', ']']);
    word.contains('|')
        .then(|| word.split('|').map(str::to_string).collect())
}

/// The synopsis, per command (the first word of each entry).
fn said() -> BTreeMap<String, Said> {
    let mut out: BTreeMap<String, Said> = BTreeMap::new();
    for entry in synopsis() {
        let mut words = entry.split_whitespace();
        let command = words.next().unwrap_or_default().to_string();
        let said = out.entry(command).or_default();
        let words: Vec<&str> = words.map(|w| w.trim_start_matches('[')).collect();
        for (i, w) in words.iter().enumerate() {
            // `--` alone ends the options (`exec ... -- CMD`).
            if let Some(flag) = w.strip_prefix("--").filter(|f| !f.is_empty()) {
                let flag = flag.trim_end_matches(['.', ']']);
                let value = words.get(i + 1).and_then(|v| choices(v));
                let known = said.flags.entry(flag.to_string()).or_default();
                if value.is_some() {
                    *known = value;
                }
            } else if let Some(values) = (i == 0).then(|| choices(w)).flatten() {
                said.words.extend(values);
            } else if i == 0 && w.chars().all(|c| c.is_ascii_lowercase()) {
                // A lone nested command (`report merge ...`, `ssh close`).
                said.words.insert(w.to_string());
            }
        }
    }
    out
}

/// What clap takes, per subcommand, in the same shape. `--orbctl` (global, stated once under
/// the synopsis) and `--help` are left out.
fn accepted() -> BTreeMap<String, Said> {
    let cli = orbdeploy::cli::Cli::command();
    let mut out = BTreeMap::new();
    for sub in cli.get_subcommands() {
        let mut said = Said::default();
        // A parent with one nested command is written as one line with the nested
        // command's flags (`report merge ... --out`); `machines ...` lists none of its own.
        let only = (sub.get_subcommands().count() == 1).then(|| sub.get_subcommands());
        let nested = only.into_iter().flatten().flat_map(|s| s.get_arguments());
        for arg in sub
            .get_arguments()
            .chain(nested)
            .filter(|a| !a.is_hide_set())
        {
            let Some(long) = arg.get_long() else {
                // A positional: its choices are the words of the synopsis (`bash|zsh|fish`).
                let values = arg.get_possible_values();
                said.words
                    .extend(values.iter().map(|v| v.get_name().to_string()));
                continue;
            };
            if matches!(long, "orbctl" | "help") {
                continue;
            }
            let values: BTreeSet<String> = arg
                .get_possible_values()
                .iter()
                .filter(|v| !v.is_hide_set())
                .map(|v| v.get_name().to_string())
                .collect();
            let takes_value = arg.get_action().takes_values();
            let choices = (takes_value && !values.is_empty()).then_some(values);
            said.flags.insert(long.to_string(), choices);
        }
        said.words.extend(
            sub.get_subcommands()
                .map(|s| s.get_name().to_string())
                .filter(|n| n != "help"),
        );
        out.insert(sub.get_name().to_string(), said);
    }
    out
}

#[test]
fn the_synopsis_names_what_clap_accepts() {
    let said = said();
    let accepted = accepted();
    let mut problems = Vec::new();
    let commands: BTreeSet<&String> = said.keys().chain(accepted.keys()).collect();
    for command in commands {
        let (Some(s), Some(a)) = (said.get(command), accepted.get(command)) else {
            problems.push(format!(
                "`{command}`: in the synopsis: {}, in clap: {}",
                said.contains_key(command),
                accepted.contains_key(command)
            ));
            continue;
        };
        for (flag, values) in &a.flags {
            match s.flags.get(flag) {
                None => problems.push(format!("`{command} --{flag}` is missing from the synopsis")),
                Some(listed) if values.is_some() && listed != values => problems.push(format!(
                    "`{command} --{flag}`: the synopsis lists {listed:?}, clap takes {values:?}"
                )),
                Some(_) => {}
            }
        }
        for flag in s.flags.keys().filter(|f| !a.flags.contains_key(*f)) {
            problems.push(format!(
                "`{command} --{flag}` is in the synopsis, but clap refuses it"
            ));
        }
        if s.words != a.words {
            problems.push(format!(
                "`{command}`: the synopsis lists {:?}, clap takes {:?}",
                s.words, a.words
            ));
        }
    }
    assert!(
        problems.is_empty(),
        "README's synopsis (## Commands) and `orbdeploy --help` disagree:\n{}",
        problems.join("\n")
    );
}

/// A flag added to clap, or one the synopsis names and clap does not know, is found: the
/// comparison above is not blind.
#[test]
fn the_synopsis_check_sees_a_missing_or_unknown_flag() {
    let mut accepted = accepted();
    let apply = accepted.get_mut("apply").expect("clap has `apply`");
    assert!(apply.flags.contains_key("diff") && apply.flags.contains_key("output"));
    assert_eq!(
        apply.flags["output"],
        Some(BTreeSet::from(["human".to_string(), "json".to_string()]))
    );
    let said = said();
    assert!(said["apply"].flags.contains_key("diff"));
    assert!(!said["apply"].flags.contains_key("no-such-flag"));
    assert_eq!(said["completions"].words, accepted["completions"].words);
}

/// The rows of the Guarantees table: (promise, checked by).
fn guarantees() -> Vec<(String, String)> {
    let section = README
        .split_once("\n## Guarantees\n")
        .and_then(|(_, rest)| rest.split_once("\n## "))
        .map(|(section, _)| section)
        .expect("README has a `## Guarantees` section");
    section
        .lines()
        .filter(|l| l.starts_with("| ") && !l.starts_with("| promise"))
        .filter_map(|l| {
            let l = l.trim().trim_start_matches('|').trim_end_matches('|');
            l.rsplit_once(" | ")
                .map(|(p, c)| (p.trim().to_string(), c.trim().to_string()))
        })
        .collect()
}

#[test]
fn every_guarantee_is_stated_once() {
    let rows = guarantees();
    assert!(rows.len() > 20, "{} rows", rows.len());
    let mut seen = BTreeSet::new();
    let twice: Vec<&String> = rows
        .iter()
        .map(|(promise, _)| promise)
        .filter(|p| !seen.insert(p.as_str()))
        .collect();
    assert!(twice.is_empty(), "stated twice: {twice:#?}");
    // The same promise reworded keeps its test: no test is named by two rows' first entry.
    let mut first = BTreeSet::new();
    let repeated: Vec<&String> = rows
        .iter()
        .map(|(_, by)| by)
        .filter(|by| !first.insert(by.as_str()))
        .collect();
    assert!(
        repeated.is_empty(),
        "two rows checked by the same: {repeated:#?}"
    );
}

#[test]
fn the_bad_input_guarantee_gives_the_catalogue_s_count() {
    let count = crate::bad_input::catalogue().len();
    let rows: Vec<(String, String)> = guarantees()
        .into_iter()
        .filter(|(_, by)| by.contains("every_bad_input_exits_2"))
        .collect();
    assert_eq!(rows.len(), 1, "one bad-input row: {rows:#?}");
    let wanted = format!("({count} cases");
    assert!(
        rows[0].0.contains(&wanted),
        "the bad-input guarantee should say `{wanted}` (the catalogue of tests/suite/bad_input.rs):\n{}",
        rows[0].0
    );
}
