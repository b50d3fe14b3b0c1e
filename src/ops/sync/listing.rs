//! The machine's side of a `sync` step: one read-only probe that lists what is under the
//! destination and hashes the files the local tree has, and the parser of what it prints.
//!
//! Every line the probe prints is one plain line whatever the names are: paths with a
//! control character or a backslash (see [`super::tree::unusual`]) are never printed as
//! text. Those of the local tree are asked about one by one and answered by their index;
//! those only the machine has (which `delete` may remove) come back hex-encoded, NUL
//! separated, in one `.x` line. A link target that is not plain prints as `?`.

use std::collections::HashMap;

use crate::quote::{join, quote};

use super::tree::{unusual, LocalEntry, LocalKind};
use crate::ops::{Facts, Failure};

/// A path whose name has a control character or a backslash (`find -path`, C locale).
const UNUSUAL: &str = "*[[:cntrl:]\\\\]*";
/// The fields of one path: type, mode, ids, names, size, then `PATH\TARGET`.
const FIELDS: &str = "%y|%m|%U|%G|%u|%g|%s|";
/// At most this many bytes of paths per command line (far below Linux's limits).
const CHUNK: usize = 64 * 1024;

/// What the destination itself is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Top {
    /// Nothing there.
    Missing,
    /// Something that is not a directory.
    NotDir,
    /// A directory this user cannot enter.
    Denied,
    /// A directory (or a link to one).
    Dir,
}

/// One path under the destination, as the machine has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RemoteEntry {
    /// `find -printf %y`: `f`, `d`, `l`, or another letter for other types.
    pub kind: char,
    /// Permission bits.
    pub mode: u32,
    /// Owner id.
    pub uid: String,
    /// Group id.
    pub gid: String,
    /// Owner name (the id when it has none).
    pub user: String,
    /// Group name.
    pub group: String,
    /// Size in bytes.
    pub size: u64,
    /// A link's target (`None`: not a link, or a target with unusual characters).
    pub target: Option<String>,
    /// A regular file's SHA-256, when the probe hashed it.
    pub sha: Option<String>,
}

/// What the probe found.
#[derive(Debug, Clone)]
pub struct Listing {
    /// The destination itself.
    pub top: Top,
    /// Paths relative to the destination (`""` is the destination).
    pub entries: HashMap<String, RemoteEntry>,
    /// Paths with unusual names that only the machine may have (listed with `delete`).
    pub unusual_extra: Vec<String>,
}

/// The probe for `dest` and the local tree `local` (`delete`: list everything under
/// `dest`, not only the paths `local` has).
pub fn probe(dest: &str, local: &[LocalEntry], delete: bool) -> String {
    let d = quote(dest);
    let mut s = format!(
        "(cd {d} 2>/dev/null || {{ if [ -d {d} ]; then echo .top denied; \
         elif [ -e {d} ] || [ -L {d} ]; then echo .top notdir; \
         else echo .top missing; fi; exit 0; }}\nexport LC_ALL=C\n"
    );
    let print = format!(
        "\\( -lname {u} -printf {q} -o -printf {p} \\) 2>/dev/null\n",
        u = quote(UNUSUAL),
        q = quote(&format!(".e {FIELDS}%p\\\\?\\n")),
        p = quote(&format!(".e {FIELDS}%p\\\\%l\\n")),
    );
    let plain: Vec<&LocalEntry> = local.iter().filter(|e| !unusual(&e.rel)).collect();
    if delete {
        s.push_str(&format!("find . ! -path {} {print}", quote(UNUSUAL)));
        s.push_str(&format!(
            "printf '.x '; find . -mindepth 1 -path {} -print0 2>/dev/null | od -An -v -tx1 | tr -d ' \\n'; echo\n",
            quote(UNUSUAL)
        ));
    } else {
        let paths: Vec<String> = plain.iter().map(|e| dot(&e.rel)).collect();
        for chunk in chunks(&paths) {
            s.push_str(&format!("find {chunk} -prune {print}"));
        }
    }
    let files: Vec<String> = plain
        .iter()
        .filter(|e| matches!(e.kind, LocalKind::File { .. }))
        .map(|e| dot(&e.rel))
        .collect();
    for chunk in chunks(&files) {
        s.push_str(&format!("sha256sum -- {chunk} 2>/dev/null\n"));
    }
    for (i, e) in local.iter().enumerate().filter(|(_, e)| unusual(&e.rel)) {
        let p = quote(&dot(&e.rel));
        s.push_str(&format!(
            "printf '.u {i} %s\\n' \"$(find {p} -prune \\( -lname {u} -printf {q} -o -printf {f} \\) 2>/dev/null)\"\n\
             if [ -f {p} ] && [ ! -L {p} ]; then printf '.uh {i} '; sha256sum < {p}; fi\n",
            u = quote(UNUSUAL),
            q = quote(&format!("{FIELDS}\\\\?")),
            f = quote(&format!("{FIELDS}\\\\%l")),
        ));
    }
    s.push_str(")\n");
    s
}

/// `rel` as a path from inside the destination: `./rel` (never read as an option), `.`.
pub fn dot(rel: &str) -> String {
    if rel.is_empty() {
        ".".to_string()
    } else {
        format!("./{rel}")
    }
}

/// The quoted words, joined, in command lines of about [`CHUNK`] bytes at most (counted
/// before quoting, which adds a few bytes to a word with unusual characters).
pub fn chunks(paths: &[String]) -> Vec<String> {
    let mut groups: Vec<Vec<&String>> = Vec::new();
    let mut len = 0;
    for p in paths {
        match groups.last_mut() {
            Some(group) if len + p.len() <= CHUNK => group.push(p),
            _ => {
                groups.push(vec![p]);
                len = 0;
            }
        }
        len += p.len() + 1;
    }
    groups.iter().map(|g| join(g)).collect()
}

/// Read what [`probe`] printed; `local` is the tree the probe was made for.
pub fn parse(facts: &Facts, dest: &str, local: &[LocalEntry]) -> Result<Listing, Failure> {
    let mut listing = Listing {
        top: Top::Dir,
        entries: HashMap::new(),
        unusual_extra: Vec::new(),
    };
    match facts.get("top") {
        Some("missing") => listing.top = Top::Missing,
        Some("denied") => listing.top = Top::Denied,
        Some(_) => listing.top = Top::NotDir,
        None => {}
    }
    if listing.top != Top::Dir {
        return Ok(listing);
    }
    for line in facts.all("e") {
        if let Some((rel, entry)) = entry_line(line) {
            listing.entries.insert(rel, entry);
        }
    }
    if !listing.entries.contains_key("") {
        return Err(Failure::msg(format!(
            "could not list {dest}: {}",
            non_empty(facts.noise_text())
        )));
    }
    let hashes = sums(&facts.noise);
    for (rel, sha) in hashes {
        if let Some(e) = listing.entries.get_mut(&rel) {
            e.sha = Some(sha);
        }
    }
    unusual_answers(facts, local, &mut listing);
    if let Some(hex) = facts.get("x") {
        listing.unusual_extra = decode_names(hex);
    }
    Ok(listing)
}

fn non_empty(s: String) -> String {
    if s.trim().is_empty() {
        "the probe printed nothing".into()
    } else {
        s
    }
}

/// `TYPE|MODE|UID|GID|USER|GROUP|SIZE|PATH\TARGET` (PATH empty for an answer by index).
fn entry_line(line: &str) -> Option<(String, RemoteEntry)> {
    let mut f = line.splitn(8, '|');
    let kind = f.next()?.chars().next()?;
    let mode = u32::from_str_radix(f.next()?, 8).ok()?;
    let uid = f.next()?.to_string();
    let gid = f.next()?.to_string();
    let user = f.next()?.to_string();
    let group = f.next()?.to_string();
    let size = f.next()?.parse().ok()?;
    let (path, target) = f.next()?.split_once('\\')?;
    let rel = match path {
        "." | "" => String::new(),
        p => p.strip_prefix("./")?.to_string(),
    };
    let target = (kind == 'l' && target != "?").then(|| target.to_string());
    let entry = RemoteEntry {
        kind,
        mode,
        uid,
        gid,
        user,
        group,
        size,
        target,
        sha: None,
    };
    Some((rel, entry))
}

/// `HASH  ./PATH` lines of `sha256sum` (not facts: they come back among the noise).
fn sums(noise: &[String]) -> Vec<(String, String)> {
    noise
        .iter()
        .filter_map(|l| {
            let (hash, path) = l.split_once("  ")?;
            let hex = hash.len() == 64 && hash.bytes().all(|b| b.is_ascii_hexdigit());
            let rel = path.strip_prefix("./")?;
            hex.then(|| (rel.to_string(), hash.to_ascii_lowercase()))
        })
        .collect()
}

/// The `.u K FIELDS` and `.uh K HASH  -` answers about the local paths with unusual names.
fn unusual_answers(facts: &Facts, local: &[LocalEntry], listing: &mut Listing) {
    let by_index = |line: &str| -> Option<(usize, String)> {
        let (k, rest) = line.split_once(' ').unwrap_or((line, ""));
        Some((k.parse().ok()?, rest.to_string()))
    };
    for line in facts.all("u") {
        let Some((k, rest)) = by_index(line) else {
            continue;
        };
        let (Some(local), Some((_, entry))) = (local.get(k), entry_line(&rest)) else {
            continue;
        };
        listing.entries.insert(local.rel.clone(), entry);
    }
    for line in facts.all("uh") {
        let Some((k, rest)) = by_index(line) else {
            continue;
        };
        let hash = rest.split_whitespace().next().unwrap_or("");
        if let Some(e) = local.get(k).and_then(|l| listing.entries.get_mut(&l.rel)) {
            e.sha = Some(hash.to_ascii_lowercase());
        }
    }
}

/// The names in `find -print0 | od -An -tx1` output, hex with no spaces; names that are
/// not UTF-8 are left out (sync leaves them alone).
fn decode_names(hex: &str) -> Vec<String> {
    let bytes: Vec<u8> = hex
        .as_bytes()
        .chunks(2)
        .filter_map(|p| std::str::from_utf8(p).ok())
        .filter_map(|p| u8::from_str_radix(p, 16).ok())
        .collect();
    bytes
        .split(|b| *b == 0)
        .filter_map(|n| std::str::from_utf8(n).ok())
        .filter_map(|n| n.strip_prefix("./"))
        .map(str::to_string)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ops::sync::tree::{walk, Exclude};

    #[test]
    fn chunks_split_long_lists_and_quote_every_word() {
        assert!(chunks(&[]).is_empty());
        assert_eq!(chunks(&["./a b".into(), "./c".into()]), ["'./a b' ./c"]);
        let long: Vec<String> = (0..4)
            .map(|i| format!("./{i}{}", "x".repeat(CHUNK / 3)))
            .collect();
        let lines = chunks(&long);
        assert_eq!(
            lines.len(),
            2,
            "{}",
            lines.iter().map(String::len).sum::<usize>()
        );
        assert!(
            lines.iter().all(|l| l.len() <= CHUNK + 8),
            "{:?}",
            lines.iter().map(String::len).collect::<Vec<_>>()
        );
        assert_eq!(lines.join(" "), join(&long));
    }

    /// The probe, run by the host's `sh` over a tree with hostile names, finds every path
    /// with its type, mode and hash, and the names only the machine has.
    #[test]
    fn probe_lists_hostile_names_on_plain_lines() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let dest = dir.path().join("dest");
        for d in [&src, &dest] {
            std::fs::create_dir_all(d.join("sub dir")).unwrap();
            std::fs::write(d.join("it's $x;y"), b"same").unwrap();
            std::fs::write(d.join("nl\nname"), b"odd").unwrap();
            std::fs::write(d.join("sub dir/back\\slash"), b"b").unwrap();
            std::os::unix::fs::symlink("it's $x;y", d.join("ln")).unwrap();
        }
        std::fs::write(dest.join("extra"), b"e").unwrap();
        std::fs::write(dest.join("extra\nnl"), b"e").unwrap();
        let local = walk(&src, &Exclude::new(&[]).unwrap(), &Default::default()).unwrap();
        let dest_s = dest.to_str().unwrap();
        for delete in [false, true] {
            let out = crate::facts::run_with_probe_lib(&probe(dest_s, &local, delete));
            let facts = Facts::parse(&out, 0);
            let l = parse(&facts, dest_s, &local).unwrap();
            let sha = |rel: &str| l.entries.get(rel).and_then(|e| e.sha.clone());
            assert_eq!(
                sha("it's $x;y"),
                Some(crate::ops::put::sha_of_bytes(b"same"))
            );
            assert_eq!(sha("nl\nname"), Some(crate::ops::put::sha_of_bytes(b"odd")));
            assert_eq!(
                sha("sub dir/back\\slash"),
                Some(crate::ops::put::sha_of_bytes(b"b"))
            );
            assert_eq!(l.entries["ln"].target.as_deref(), Some("it's $x;y"));
            assert_eq!(l.entries["sub dir"].kind, 'd');
            assert_eq!(l.entries.contains_key("extra"), delete, "{out}");
            assert_eq!(l.unusual_extra.contains(&"extra\nnl".to_string()), delete);
        }
        let missing = probe(dir.path().join("none").to_str().unwrap(), &local, false);
        let facts = Facts::parse(&crate::facts::run_with_probe_lib(&missing), 0);
        assert_eq!(parse(&facts, "/x", &local).unwrap().top, Top::Missing);
    }
}
