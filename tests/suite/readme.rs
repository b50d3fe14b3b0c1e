//! The README and docs/ against the code, so that they cannot drift: the synopsis of the
//! README's "## Commands" names exactly the flags, values and subcommands clap accepts
//! (`orbdeploy::cli::Cli`, what `--help` prints); the table of docs/guarantees.md states each
//! promise once, with the bad-input case count of the catalogue `tests/suite/bad_input.rs`
//! runs; every relative link of the README and docs/ resolves (file and heading); the
//! README's first deploy shows the files of examples/first-deploy/ as they are; and the
//! checked examples of docs/templates.md render as they say.

use std::collections::{BTreeMap, BTreeSet};

use clap::CommandFactory;

const README: &str = include_str!("../../README.md");
const GUARANTEES: &str = include_str!("../../docs/guarantees.md");

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

/// The rows of the Guarantees table (docs/guarantees.md, before "Not promised"): (promise,
/// checked by).
fn guarantees() -> Vec<(String, String)> {
    let table = GUARANTEES
        .split_once("\nNot promised")
        .map(|(table, _)| table)
        .expect("docs/guarantees.md has its table, then `Not promised`");
    table
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

/// The Markdown files whose links are checked: the README, and docs/ (also orbsim's README).
fn markdown_files() -> Vec<std::path::PathBuf> {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = vec![root.join("README.md"), root.join("orbsim/README.md")];
    let mut docs: Vec<_> = std::fs::read_dir(root.join("docs"))
        .expect("docs/")
        .map(|e| e.expect("an entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

/// A heading's anchor as GitHub makes it: lower case, spaces to `-`, punctuation other
/// than `-` and `_` dropped.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

/// The anchors of a Markdown file's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(anchor(line.trim_start_matches('#')));
        }
    }
    out
}

/// Every `[text](target)` of a text, outside code blocks and code spans.
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced || line.starts_with("    ") {
            continue;
        }
        // Code spans hold `](` only by accident; drop them.
        let plain: String = line.split('`').step_by(2).collect::<Vec<_>>().join("");
        let mut rest = plain.as_str();
        while let Some(i) = rest.find("](") {
            let after = &rest[i + 2..];
            let Some(end) = after.find(')') else { break };
            out.push(after[..end].to_string());
            rest = &after[end..];
        }
    }
    out
}

#[test]
fn every_relative_link_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).expect("readable");
        let dir = file.parent().expect("a directory");
        for link in links(&text) {
            if link.contains("://") || link.starts_with("mailto:") {
                continue;
            }
            checked += 1;
            let (path, fragment) = match link.split_once('#') {
                Some((p, f)) => (p, Some(f)),
                None => (link.as_str(), None),
            };
            let target = if path.is_empty() {
                file.clone()
            } else {
                dir.join(path)
            };
            if !target.exists() {
                broken.push(format!("{}: {link} (no such file)", file.display()));
                continue;
            }
            if let Some(fragment) =
                fragment.filter(|_| target.extension().is_some_and(|x| x == "md"))
            {
                let text = std::fs::read_to_string(&target).expect("readable");
                if !anchors(&text).contains(fragment) {
                    broken.push(format!("{}: {link} (no such heading)", file.display()));
                }
            }
        }
    }
    assert!(checked > 40, "{checked} links");
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}

/// The check above is not blind: it finds a link to a missing file and a missing heading.
#[test]
fn the_link_check_sees_what_is_broken() {
    let found = links("see [a](docs/a.md#b) and `[c](d)`, [e](https://x/y)\n    [f](g)\n");
    assert_eq!(found, ["docs/a.md#b", "https://x/y"]);
    assert_eq!(anchor(" Where the time goes"), "where-the-time-goes");
    assert_eq!(anchor("Editor support (VS Code)"), "editor-support-vs-code");
    assert!(anchors("# A\n```\n# not\n```\n## B c\n").contains("b-c"));
    assert!(!anchors("# A\n```\n# not\n```\n").contains("not"));
}

/// The code block of the README's first deploy that starts with `# examples/first-deploy/FILE`
/// (or, for the template, is a ```jinja block).
fn first_deploy_block(header: &str) -> String {
    let section = README
        .split_once("\n## Your first deploy\n")
        .and_then(|(_, rest)| rest.split_once("\n## "))
        .map(|(s, _)| s)
        .expect("README has a `## Your first deploy` section");
    let start = section
        .find(header)
        .unwrap_or_else(|| panic!("no `{header}` in the first deploy"));
    let block = &section[start + header.len()..];
    block
        .split_once("```")
        .map(|(b, _)| b)
        .unwrap_or(block)
        .to_string()
}

#[test]
fn the_first_deploy_shows_the_example_s_files_as_they_are() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/first-deploy");
    let file = |rel: &str| std::fs::read_to_string(root.join(rel)).expect("readable");
    for rel in ["inventory.yaml", "site.yaml"] {
        let shown = first_deploy_block(&format!("```yaml\n# examples/first-deploy/{rel}\n"));
        // The file's first line names its schema (for editors); the README leaves it out,
        // and the README's own comment line names the file.
        let text = file(rel);
        let (first, rest) = text.split_once('\n').expect("lines");
        assert!(
            first.starts_with("# yaml-language-server: $schema="),
            "{rel}"
        );
        let rest = rest
            .strip_prefix("# The README's first deploy: one Debian machine in group `web`.\n")
            .unwrap_or(rest);
        assert_eq!(shown, rest, "README's copy of examples/first-deploy/{rel}");
    }
    let shown = first_deploy_block("```jinja\n");
    assert_eq!(shown, file("templates/hello.conf.j2"));
    // Every file the walk-through names is applied by the end-to-end test.
    for rel in crate::first_deploy::FILES {
        assert!(root.join(rel).is_file(), "{rel}");
    }
}

/// The "Checked examples" of docs/templates.md, through the renderer orbdeploy uses.
#[test]
fn the_template_examples_render_as_the_doc_says() {
    let doc = include_str!("../../docs/templates.md");
    let block = doc
        .split_once("## Checked examples")
        .and_then(|(_, rest)| rest.split_once("```text\n"))
        .and_then(|(_, rest)| rest.split_once("```"))
        .map(|(block, _)| block)
        .expect("docs/templates.md has its checked examples in a ```text block");
    let ctx = minijinja::Value::from_serialize(serde_json::json!({
        "name": "web-1", "port": 8080, "admins": ["alice", "bob"], "csv": "a,b", "empty": "",
    }));
    let renderer = orbdeploy::template::Renderer::new();
    let mut source = String::new();
    let mut wrong = Vec::new();
    let mut count = 0;
    for line in block.lines() {
        let Some((left, want)) = line.split_once("  =>  ") else {
            source.push_str(line);
            source.push('\n');
            continue;
        };
        source.push_str(left);
        count += 1;
        let got = renderer.render("example", &source, &ctx);
        let ok = match (want.strip_prefix("error:"), &got) {
            (Some(message), Err(e)) => e.contains(message.trim()),
            (None, Ok(out)) => out == want,
            _ => false,
        };
        if !ok {
            wrong.push(format!("{source}\n  doc: {want}\n  got: {got:?}"));
        }
        source.clear();
    }
    assert!(count >= 15, "{count} examples");
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

/// "The files in brief" names every operation kind (a new kind is listed there too).
#[test]
fn the_files_in_brief_name_every_operation_kind() {
    let section = README
        .split_once("\n## The files in brief\n")
        .and_then(|(_, rest)| rest.split_once("\n## "))
        .map(|(s, _)| s)
        .expect("README has a `## The files in brief` section");
    let missing: Vec<&str> = orbdeploy::ops::Kind::ALL
        .iter()
        .map(|k| k.as_str())
        .filter(|k| !section.contains(&format!("`{k}`")))
        .collect();
    assert!(missing.is_empty(), "not in The files in brief: {missing:?}");
}
