//! What `stat` says about a path, and the mode/owner/group changes shared by put,
//! template, directory and file.

use crate::quote::quote;

use super::render::{RenderCtx, RenderError};
use super::values::Mode;
use super::{Facts, Failure};

/// The mode, owner and group a put, template, directory or file step declares, rendered.
///
/// Each of those specs spells the three keys out itself: serde's `flatten` would disable
/// `deny_unknown_fields`, and with it the position of a misspelt key.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Attrs {
    /// Mode as octal digits.
    pub mode: Option<Mode>,
    /// Owning user.
    pub owner: Option<String>,
    /// Owning group.
    pub group: Option<String>,
}

impl Attrs {
    /// The declared attributes rendered for one machine (a mode is never a template).
    pub fn render(
        ctx: &RenderCtx<'_>,
        mode: Option<Mode>,
        owner: &Option<String>,
        group: &Option<String>,
    ) -> Result<Attrs, RenderError> {
        Ok(Attrs {
            mode,
            owner: ctx.opt("owner", owner)?,
            group: ctx.opt("group", group)?,
        })
    }
}

/// The type of a path on the machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    /// Nothing there.
    Missing,
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// Something else (symbolic link, socket, ...), in stat's words.
    Other(String),
}

/// A path's type and attributes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stat {
    /// Type.
    pub kind: Kind,
    /// Permission bits.
    pub mode: u32,
    /// Owner name.
    pub owner: String,
    /// Group name.
    pub group: String,
    /// Owner id.
    pub uid: String,
    /// Group id.
    pub gid: String,
    /// Size in bytes.
    pub size: u64,
}

impl Stat {
    /// A path of this kind whose attributes were not read (or that has none: missing).
    fn bare(kind: Kind) -> Stat {
        Stat {
            kind,
            mode: 0,
            owner: String::new(),
            group: String::new(),
            uid: String::new(),
            gid: String::new(),
            size: 0,
        }
    }
}

/// A probe printing `.stat ...` for `path` (without following a final symbolic link).
/// Owner and group names cost a user-database lookup, so they are asked for only when the
/// step declares an owner or group (`want`); ids are always there.
pub fn probe(path: &str, want: &Attrs) -> String {
    format!("__od_stat {} {}\n", quote(path), quote(&format_for(want)))
}

/// The `stat -c` format of [`probe`] for `want` (see `__od_stat` in the probe library).
pub fn format_for(want: &Attrs) -> String {
    let names = if want.owner.is_some() || want.group.is_some() {
        "%U|%G"
    } else {
        "-|-"
    };
    format!("%F|%a|{names}|%u|%g|%s")
}

/// True when the step declares no mode, owner or group: only the path's type matters.
pub fn none_declared(want: &Attrs) -> bool {
    want.mode.is_none() && want.owner.is_none() && want.group.is_none()
}

/// Like [`probe`], but when no attribute is declared and the path is of the `expected`
/// type, the shell's own tests say so (`.kind file` / `.kind dir`) and `stat` is not run:
/// one process less on the machine for the common case of a step that is already done.
pub fn probe_type_first(path: &str, want: &Attrs, expected: Kind) -> String {
    let (test, word) = match expected {
        Kind::Dir => ("-d", "dir"),
        _ => ("-f", "file"),
    };
    if !none_declared(want) {
        return probe(path, want);
    }
    format!(
        "__od_kind {} {test} {word} {}\n",
        quote(path),
        quote(&format_for(want))
    )
}

/// Read the `.stat` fact (or the `.kind` fact of [`probe_type_first`], which stands for a
/// path of that type whose attributes were not read because none is declared).
pub fn parse(facts: &Facts, path: &str) -> Result<Stat, Failure> {
    if facts.get("stat").is_none() {
        let kind = match facts.get("kind") {
            Some("file") => Some(Kind::File),
            Some("dir") => Some(Kind::Dir),
            _ => None,
        };
        if let Some(kind) = kind {
            return Ok(Stat::bare(kind));
        }
    }
    let raw = facts.get("stat").ok_or_else(|| {
        Failure::msg(format!(
            "could not inspect {path}: {}",
            non_empty(facts.noise_text(), "the probe printed nothing")
        ))
    })?;
    if raw == "missing" {
        return Ok(Stat::bare(Kind::Missing));
    }
    let f: Vec<&str> = raw.split('|').collect();
    if f.len() != 7 {
        return Err(Failure::msg(format!("could not inspect {path}: {raw}")));
    }
    let kind = match f[0] {
        "regular file" | "regular empty file" => Kind::File,
        "directory" => Kind::Dir,
        other => Kind::Other(other.to_string()),
    };
    Ok(Stat {
        kind,
        mode: u32::from_str_radix(f[1], 8).unwrap_or(0),
        owner: f[2].to_string(),
        group: f[3].to_string(),
        uid: f[4].to_string(),
        gid: f[5].to_string(),
        size: f[6].parse().unwrap_or(0),
    })
}

fn non_empty(s: String, default: &str) -> String {
    if s.trim().is_empty() {
        default.to_string()
    } else {
        s
    }
}

fn same_user(want: &str, name: &str, id: &str) -> bool {
    want == name || want == id
}

/// The attribute changes an existing path needs, in words that name the path (a change
/// may be the only line shown for its step).
pub fn changes(stat: &Stat, want: &Attrs, path: &str) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(mode) = want.mode {
        if stat.mode != mode.0 {
            out.push(format!(
                "mode of {path}: {:04o} → {}",
                stat.mode,
                mode.octal()
            ));
        }
    }
    if let Some(owner) = &want.owner {
        if !same_user(owner, &stat.owner, &stat.uid) {
            out.push(format!("owner of {path}: {} → {owner}", stat.owner));
        }
    }
    if let Some(group) = &want.group {
        if !same_user(group, &stat.group, &stat.gid) {
            out.push(format!("group of {path}: {} → {group}", stat.group));
        }
    }
    out
}

/// `chmod` / `chown` lines that set the declared attributes on `path`.
pub fn script(path: &str, want: &Attrs) -> String {
    let p = quote(path);
    let mut s = String::new();
    if let Some(mode) = want.mode {
        s.push_str(&format!("chmod {} {p} || exit 1\n", mode.octal()));
    }
    if let Some(owner) = chown_spec(want) {
        s.push_str(&format!("chown {} {p} || exit 1\n", quote(&owner)));
    }
    s
}

/// `OWNER`, `OWNER:GROUP` or `:GROUP` for chown.
pub fn chown_spec(want: &Attrs) -> Option<String> {
    match (&want.owner, &want.group) {
        (Some(o), Some(g)) => Some(format!("{o}:{g}")),
        (Some(o), None) => Some(o.clone()),
        (None, Some(g)) => Some(format!(":{g}")),
        (None, None) => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A put probe without attributes leaves the format out; the probe library's default
    /// must be the format of that case.
    #[test]
    fn probe_library_default_format_is_the_no_attribute_format() {
        let out = crate::facts::run_with_probe_lib("printf '%s' \"$__od_fmt0\"");
        assert_eq!(out, format_for(&Attrs::default()));
    }

    #[test]
    fn stat_line_and_changes() {
        let f = Facts::parse(".stat regular file|644|root|root|0|0|12\n", 0);
        let s = parse(&f, "/x").unwrap();
        assert_eq!((s.kind.clone(), s.mode, s.size), (Kind::File, 0o644, 12));
        let want = Attrs {
            mode: Some(Mode(0o600)),
            owner: Some("0".into()),
            group: Some("dev".into()),
        };
        assert_eq!(
            changes(&s, &want, "/x"),
            vec!["mode of /x: 0644 → 0600", "group of /x: root → dev"]
        );
        let dir = parse(&Facts::parse(".kind dir\n", 0), "/x").unwrap();
        assert_eq!(dir.kind, Kind::Dir);
        let missing = parse(&Facts::parse(".stat missing\n", 0), "/x").unwrap();
        assert_eq!(missing.kind, Kind::Missing);
        assert!(parse(&Facts::parse("boom\n", 1), "/x").is_err());
    }
}
