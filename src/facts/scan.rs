//! One awk process for the line and apt package probes of a batch (`__od_scan` in the
//! probe library): each file is read once, dpkg's status file at most once, and a batch
//! with a line step and a packages step starts one process instead of two. A probe the
//! scan did not answer asks on its own, so the scan only ever saves work.

use crate::quote::{join, quote};

/// What a step asks the scan.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Item {
    /// How many lines of `path` equal `line`.
    Line {
        /// The file.
        path: String,
        /// The whole line.
        line: String,
    },
    /// Which of `names` dpkg has installed (answered on apt machines only).
    Dpkg {
        /// Package names.
        names: Vec<String>,
    },
}

impl Item {
    /// A line item, unless the values cannot travel in the scan's tab-separated rows (a
    /// path with a tab, or a newline anywhere): then the probe runs grep itself.
    pub fn line(path: &str, line: &str) -> Option<Item> {
        (!path.contains(['\t', '\n']) && !line.contains('\n')).then(|| Item::Line {
            path: path.to_string(),
            line: line.to_string(),
        })
    }
}

/// The lines that run the scan before the probes of a batch, keyed by step; nothing when
/// fewer than two steps ask (one process either way).
pub fn prelude(items: &[(usize, Item)]) -> String {
    if items.len() < 2 {
        return String::new();
    }
    let mut s = String::new();
    for (key, item) in items {
        match item {
            Item::Line { path, line } => s.push_str(&format!(
                "__od_scan_line {key} {} {}\n",
                quote(path),
                quote(line)
            )),
            Item::Dpkg { names } => s.push_str(&format!("__od_scan_dpkg {key} {}\n", join(names))),
        }
    }
    s.push_str("__od_scan\n");
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::facts::run_with_probe_lib as sh;

    /// Every count from the scan is grep's count, for lines that trip up awk or the shell
    /// (numbers, blanks, tabs, quotes, backslashes, options, globs, a NUL byte, carriage
    /// returns, no final newline); a file that is not a
    /// regular file gets no answer, so its probe asks on its own.
    #[test]
    fn line_counts_match_grep_from_a_real_sh() {
        let tricky = [
            "1",
            "1.0",
            " 1",
            "01",
            "",
            "a\tb",
            "x'y",
            "back\\slash",
            "$HOME",
            "  lead",
            "trail  ",
            "é",
            "key=value",
            "-e",
            "--",
            "*",
            "0x10",
            "1e3",
            "ab",
        ];
        let dir = tempfile::tempdir().unwrap();
        let a = dir.path().join("a file");
        let b = dir.path().join("b");
        std::fs::write(&a, format!("{}\n1\n", tricky.join("\n"))).unwrap();
        std::fs::write(&b, "1.0\n1e3\na\0b\r\nab\r\nno newline at the end").unwrap();
        let (a, b) = (
            a.to_string_lossy().into_owned(),
            b.to_string_lossy().into_owned(),
        );
        let adir = dir.path().to_string_lossy().into_owned();
        let mut items = Vec::new();
        let mut check = String::new();
        let mut key = 0;
        for line in tricky.iter().chain(&["no newline at the end"]) {
            for path in [&a, &b] {
                key += 1;
                items.push((key, Item::line(path, line).unwrap()));
                check.push_str(&format!(
                    "printf '%s %s %s\\n' {key} \"${{__od_sx_{key}-unset}}\" \"$(grep -c -x -F -e {} -- {})\"\n",
                    quote(line),
                    quote(path)
                ));
            }
        }
        items.push((999, Item::line(&adir, "x").unwrap()));
        check.push_str("echo \"dir ${__od_sx_999-unset}\"\n");
        let out = sh(&format!("{}{check}", prelude(&items)));
        let mut rows = 0;
        for row in out.lines() {
            let f: Vec<&str> = row.split(' ').collect();
            if f[0] == "dir" {
                assert_eq!(f[1], "unset");
                continue;
            }
            assert_eq!(f[1], f[2], "step {}: scan {} grep {}", f[0], f[1], f[2]);
            rows += 1;
        }
        assert_eq!(rows, key);
    }

    /// The scan's dpkg answer is the probe's own answer on this (Debian) host.
    #[test]
    fn dpkg_answers_match_the_probe_here() {
        let names: Vec<String> = ["coreutils", "dash", "no-such-pkg-x"]
            .map(String::from)
            .to_vec();
        let items = vec![
            (
                1,
                Item::Dpkg {
                    names: names.clone(),
                },
            ),
            (
                2,
                Item::Dpkg {
                    names: vec!["dash".into()],
                },
            ),
        ];
        let direct = sh(&format!("__od_pkgs 0 {}", join(&names)));
        let scanned = sh(&format!(
            "{}__od_key=1; __od_pkgs 0 {}; echo \"${{__od_sp_2}}\"",
            prelude(&items),
            join(&names)
        ));
        assert!(direct.contains(".dpkg coreutils ii"), "{direct}");
        assert_eq!(scanned, format!("{direct}.dpkg dash ii\n\n"));
    }
}
