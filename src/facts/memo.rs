//! What the scans of earlier batches found ([`super::scan`]), kept by the SHA-256 of what
//! they read, so that a later batch needs no awk on the machine when those files are
//! unchanged.
//!
//! A batch that hashes files anyway (put and template steps, [`super::sums`]) adds to that
//! one `sha256sum` the files its scan would read: the files of its `line` steps and dpkg's
//! status file. Where a file still hashes what it hashed when it was last read, the script
//! hands the machine the answer (`__od_memo_line`, `__od_memo_dpkg` in the probe library);
//! otherwise the scan reads it as before. Each answer is a function of the file's content
//! alone (how many lines equal LINE; what dpkg's status file says of a package, used only
//! while that file alone is the truth), so an answer kept by content is the answer: a shell
//! step that edits the file between two batches changes its hash. When a scan reads a file
//! it also answers the `line` and `packages` steps further on that ask the same file (the
//! `__od_ahead_*` lines), which is what a later batch then finds here.
//!
//! The hash and the read are two moments of one batch; a file rewritten by another process
//! between them would be kept with the newer answer under the older hash (as likely as any
//! other race with a concurrent writer, and undone by the next change to the file).

use std::collections::{BTreeSet, HashMap};

use super::scan::Item;
use super::sums::prefix;
use super::Facts;
use crate::quote::{join, quote};

/// dpkg's status file, where the scan reads apt machines' packages.
pub const DPKG_STATUS: &str = "/var/lib/dpkg/status";

/// What is known of one machine, for one user (each session reads as its own user).
#[derive(Debug, Default)]
pub struct Memo {
    files: HashMap<String, KnownFile>,
    dpkg: Option<KnownDpkg>,
}

#[derive(Debug)]
struct KnownFile {
    hash: String,
    /// Line → how many lines of the file equal it.
    counts: HashMap<String, u64>,
}

#[derive(Debug)]
struct KnownDpkg {
    hash: String,
    /// Package name → the status of each of its stanzas (none: not in the file).
    status: HashMap<String, Vec<String>>,
}

/// The scan lines of a batch that can use the memo ([`Memo::prelude`]).
#[derive(Debug, Default)]
pub struct Asked {
    /// The lines that run the scan, after the batch's `sha256sum`.
    pub prelude: String,
    /// The line questions by the key the scan answers them under.
    pub lines: HashMap<String, (String, String)>,
}

/// A package name the status file can be read for (what `__od_dpkg_direct` accepts).
fn plain(name: &str) -> bool {
    !name.is_empty()
        && name
            .bytes()
            .all(|b| matches!(b, b'a'..=b'z' | b'0'..=b'9' | b'+' | b'.' | b'-'))
}

impl Memo {
    /// The scan lines for the batch's questions `current` (keyed by step) and those of
    /// later steps, `ahead`. The batch's `sha256sum` must hash every line file of `current`
    /// and, when it asks about packages, [`DPKG_STATUS`].
    pub fn prelude(&self, current: &[(usize, Item)], ahead: &[Item]) -> Asked {
        let mut out = Asked::default();
        let read = self.line_questions(current, &mut out);
        let dpkg_read = self.dpkg_questions(current, &mut out.prelude);
        ask_ahead(current, ahead, &read, dpkg_read, &mut out);
        out.prelude.push_str("__od_scan\n");
        out
    }

    /// The `line` questions, file by file: a file is answered from memory or read, all its
    /// questions one way. Returns the files the scan will read.
    fn line_questions<'a>(&self, current: &'a [(usize, Item)], out: &mut Asked) -> Vec<&'a str> {
        let mut paths: Vec<&str> = Vec::new();
        for (_, item) in current {
            if let Item::Line { path, .. } = item {
                if !paths.contains(&path.as_str()) {
                    paths.push(path);
                }
            }
        }
        let mut read = Vec::new();
        for path in paths {
            let on_path: Vec<(usize, &str)> = current
                .iter()
                .filter_map(|(k, i)| match i {
                    Item::Line { path: p, line } if p == path => Some((*k, line.as_str())),
                    _ => None,
                })
                .collect();
            let known = self
                .files
                .get(path)
                .filter(|f| on_path.iter().all(|(_, l)| f.counts.contains_key(*l)));
            if known.is_none() {
                read.push(path);
            }
            for (key, line) in on_path {
                out.lines
                    .insert(key.to_string(), (path.to_string(), line.to_string()));
                out.prelude.push_str(&match known {
                    Some(f) => format!(
                        "__od_memo_line {key} {} {} {} {}\n",
                        quote(path),
                        quote(line),
                        quote(prefix(&f.hash)),
                        f.counts[line]
                    ),
                    None => format!("__od_scan_line {key} {} {}\n", quote(path), quote(line)),
                });
            }
        }
        read
    }

    /// The `packages` questions: all from memory (one hash guards them all) or all read.
    /// Returns whether the scan will read dpkg's status file.
    fn dpkg_questions(&self, current: &[(usize, Item)], prelude: &mut String) -> bool {
        let dpkg: Vec<(usize, &Vec<String>)> = current
            .iter()
            .filter_map(|(k, i)| match i {
                Item::Dpkg { names } => Some((*k, names)),
                _ => None,
            })
            .collect();
        let known = self.dpkg.as_ref().filter(|d| {
            dpkg.iter()
                .flat_map(|(_, n)| n.iter())
                .all(|n| plain(n) && d.status.contains_key(n))
        });
        for (key, names) in &dpkg {
            prelude.push_str(&match known {
                Some(d) => {
                    let mut answer = String::new();
                    for n in names.iter() {
                        for st in &d.status[n] {
                            answer.push_str(&format!(".dpkg {n} {st}\n"));
                        }
                    }
                    format!(
                        "__od_memo_dpkg {key} {} {} {}\n",
                        quote(prefix(&d.hash)),
                        quote(&answer),
                        join(names)
                    )
                }
                None => format!("__od_scan_dpkg {key} {}\n", join(names)),
            });
        }
        !dpkg.is_empty() && known.is_none()
    }

    /// Keep what a batch's `__od_memo_report` said (`report`), for the questions `lines`.
    pub fn learn(&mut self, lines: &HashMap<String, (String, String)>, report: &Facts) {
        let mut hashes: HashMap<&str, &str> = HashMap::new();
        for v in report.all("mh") {
            // A SHA-256 in hex, as sha256sum prints it; anything else is not kept.
            match v.split_once(' ') {
                Some((hash, path))
                    if hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit()) =>
                {
                    hashes.insert(path, hash);
                }
                _ => {}
            }
        }
        for (path, hash) in &hashes {
            if *path == DPKG_STATUS {
                continue;
            }
            let f = self
                .files
                .entry(path.to_string())
                .or_insert_with(|| KnownFile {
                    hash: hash.to_string(),
                    counts: HashMap::new(),
                });
            if f.hash != *hash {
                *f = KnownFile {
                    hash: hash.to_string(),
                    counts: HashMap::new(),
                };
            }
        }
        for v in report.all("ml") {
            let Some((key, count)) = v.split_once(' ') else {
                continue;
            };
            let (Some((path, line)), Ok(count)) = (lines.get(key), count.parse::<u64>()) else {
                continue;
            };
            if hashes.contains_key(path.as_str()) {
                if let Some(f) = self.files.get_mut(path) {
                    f.counts.insert(line.clone(), count);
                }
            }
        }
        let Some(hash) = hashes.get(DPKG_STATUS) else {
            return;
        };
        if self.dpkg.as_ref().is_none_or(|d| d.hash != *hash) {
            self.dpkg = Some(KnownDpkg {
                hash: hash.to_string(),
                status: HashMap::new(),
            });
        }
        let mut found: HashMap<&str, Vec<String>> = HashMap::new();
        for v in report.all("md") {
            let mut w = v.split_whitespace();
            if let Some(name) = w.next() {
                found.insert(name, w.map(str::to_string).collect());
            }
        }
        if let Some(d) = self.dpkg.as_mut() {
            for name in report.all("mq") {
                let st = found.get(name.as_str()).cloned().unwrap_or_default();
                d.status.insert(name.clone(), st);
            }
        }
    }
}

/// Later steps' questions, asked only of what the scan reads anyway (`read`, and dpkg's
/// status file when `dpkg_read`): asking them of a file that may well be unchanged would
/// only lengthen the script. On the machine they are asked only if the scan does read the
/// file (one that is not regular is not).
fn ask_ahead(
    current: &[(usize, Item)],
    ahead: &[Item],
    read: &[&str],
    dpkg_read: bool,
    out: &mut Asked,
) {
    let mut asked: BTreeSet<(&str, &str)> = BTreeSet::new();
    let mut names_now: Vec<&str> = Vec::new();
    for (_, item) in current {
        match item {
            Item::Line { path, line } => {
                asked.insert((path, line));
            }
            Item::Dpkg { names } => names_now.extend(names.iter().map(String::as_str)),
        }
    }
    let mut later_names: Vec<&str> = Vec::new();
    for item in ahead {
        match item {
            Item::Line { path, line } => {
                if !read.contains(&path.as_str()) || !asked.insert((path, line)) {
                    continue;
                }
                let key = format!("q{}", out.lines.len());
                out.prelude.push_str(&format!(
                    "__od_ahead_line {key} {} {}\n",
                    quote(path),
                    quote(line)
                ));
                out.lines.insert(key, (path.clone(), line.clone()));
            }
            Item::Dpkg { names } => {
                for n in names {
                    if plain(n)
                        && !names_now.contains(&n.as_str())
                        && !later_names.contains(&n.as_str())
                    {
                        later_names.push(n);
                    }
                }
            }
        }
    }
    if dpkg_read && !later_names.is_empty() {
        out.prelude
            .push_str(&format!("__od_ahead_dpkg qd {}\n", join(&later_names)));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only a report's well-formed hashes are kept: a line the machine garbled (or a value
    /// meant to reach the next script as code) is dropped, so nothing is answered from it.
    #[test]
    fn only_hex_hashes_are_kept() {
        let good = "a".repeat(64);
        let mut memo = Memo::default();
        let lines: HashMap<String, (String, String)> = [
            ("1".to_string(), ("/f".to_string(), "x".to_string())),
            ("2".to_string(), ("/g".to_string(), "y".to_string())),
        ]
        .into();
        let report = format!(".mh {good} /f\n.mh $(reboot) /g\n.ml 1 3\n.ml 2 1\n");
        memo.learn(&lines, &Facts::parse(&report, 0));
        let asked = memo.prelude(
            &[
                (5, Item::line("/f", "x").unwrap()),
                (6, Item::line("/g", "y").unwrap()),
            ],
            &[],
        );
        assert!(
            asked
                .prelude
                .contains(&format!("__od_memo_line 5 /f x {} 3\n", &good[..32])),
            "{}",
            asked.prelude
        );
        assert!(
            asked.prelude.contains("__od_scan_line 6 /g y\n"),
            "{}",
            asked.prelude
        );
        assert!(!asked.prelude.contains("reboot"));
    }

    /// Later steps' questions go only with a read that will happen, once each.
    #[test]
    fn later_questions_ride_only_on_reads() {
        let h = "b".repeat(64);
        let mut memo = Memo::default();
        let lines: HashMap<String, (String, String)> =
            [("1".to_string(), ("/f".to_string(), "x".to_string()))].into();
        memo.learn(&lines, &Facts::parse(&format!(".mh {h} /f\n.ml 1 1\n"), 0));
        let ahead = [
            Item::line("/f", "later").unwrap(),
            Item::line("/f", "later").unwrap(),
            Item::line("/other", "z").unwrap(),
            Item::Dpkg {
                names: vec!["curl".into(), "libc6:amd64".into()],
            },
        ];
        // /f known: nothing rides along; no packages step now: no packages asked.
        let known = memo.prelude(&[(1, Item::line("/f", "x").unwrap())], &ahead);
        assert!(!known.prelude.contains("__od_ahead"), "{}", known.prelude);
        // /f must be read (a new question): later questions of /f once; plain names only.
        let read = memo.prelude(
            &[
                (2, Item::line("/f", "new").unwrap()),
                (
                    3,
                    Item::Dpkg {
                        names: vec!["dash".into()],
                    },
                ),
            ],
            &ahead,
        );
        assert_eq!(
            read.prelude.matches("__od_ahead_line").count(),
            1,
            "{}",
            read.prelude
        );
        assert!(
            read.prelude.contains("__od_ahead_line q1 /f later\n"),
            "{}",
            read.prelude
        );
        assert!(
            read.prelude.contains("__od_ahead_dpkg qd curl\n"),
            "{}",
            read.prelude
        );
        assert!(read.prelude.ends_with("__od_scan\n"));
    }
}
