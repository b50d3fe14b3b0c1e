//! `block`: lines kept exactly between two marker lines of a text file, or no such block.
//!
//! Rules (also in docs/operations.md): `marker` names the block, its `{mark}` becoming `BEGIN` and
//! `END`, so blocks with different markers live in one file side by side. When both
//! marker lines are there, what is between them is replaced (the block stays where it is);
//! when neither is, the block goes after the last line matching `insert_after`, before the
//! last line matching `insert_before`, at the start (`insert_before: BOF`) or at the end
//! (the default, and when the expression matches no line). One marker line without the
//! other, or a marker line twice, fails the step rather than guess. The file is read by the
//! probe and the new content computed here (see `src/ops/text.rs`): decide and `--diff` are
//! exact, and the write is atomic, keeping the file's mode and owner.

use serde::Deserialize;

use super::text;
use super::{
    text_diff, Applied, CheckError, Ctx, Decision, Facts, Failure, Operation, Presence, RenderCtx,
    RenderError,
};

/// The marker when none is given.
pub const DEFAULT_MARKER: &str = "# {mark} MANAGED BY ORBDEPLOY";

/// `block:`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "block")]
pub struct Spec {
    /// Absolute path of the file.
    pub path: String,
    /// The lines between the markers (a final newline is added when missing). Required
    /// for `present`.
    pub block: Option<String>,
    /// The marker line, with `{mark}` where `BEGIN` and `END` go.
    pub marker: Option<String>,
    /// present or absent.
    #[serde(default)]
    pub state: Presence,
    /// Where a new block goes: after the last line matching this regular expression, or
    /// `EOF`.
    pub insert_after: Option<String>,
    /// Where a new block goes: before the last line matching this regular expression, or
    /// `BOF`.
    pub insert_before: Option<String>,
    /// Create the file when it is missing (default true).
    pub create: Option<bool>,
}

/// Where a new block goes.
#[derive(Debug, Clone)]
pub enum Place {
    /// At the end of the file.
    End,
    /// At the start of the file.
    Start,
    /// After the last line that matches.
    After(regex::Regex),
    /// Before the last line that matches.
    Before(regex::Regex),
}

/// A rendered block step.
#[derive(Debug, Clone)]
pub struct Block {
    /// The file.
    pub path: String,
    /// The block's lines, ending in a newline (empty: the markers with nothing between).
    pub block: String,
    /// The first marker line.
    pub begin: String,
    /// The last marker line.
    pub end: String,
    /// present or absent.
    pub state: Presence,
    /// Where a new block goes.
    pub place: Place,
    /// Create the file when missing.
    pub create: bool,
}

/// The marker with `{mark}` replaced.
fn marker_line(marker: &str, mark: &str) -> String {
    marker.replace("{mark}", mark)
}

/// The line without its line ending (a carriage return too, so that a CRLF file's
/// markers are found).
fn bare(line: &str) -> &str {
    line.trim_end_matches('\n').trim_end_matches('\r')
}

fn place_of(after: Option<&str>, before: Option<&str>) -> Result<Place, String> {
    Ok(match (after, before) {
        (Some(_), Some(_)) => return Err("give `insert_after` or `insert_before`, not both".into()),
        (Some("EOF"), None) | (None, None) => Place::End,
        (None, Some("BOF")) => Place::Start,
        (Some(re), None) => Place::After(text::regex("insert_after", re, false)?),
        (None, Some(re)) => Place::Before(text::regex("insert_before", re, false)?),
    })
}

impl Block {
    /// The file as it should be, from what it is (`None`: missing), or why the step must
    /// not guess.
    pub fn edit(&self, old: Option<&str>) -> Result<Option<String>, Failure> {
        let Some(old) = old else {
            return match self.state {
                Presence::Absent => Ok(None),
                Presence::Present if self.create => Ok(Some(self.lines())),
                Presence::Present => Err(Failure::msg(format!(
                    "{} does not exist (set `create: true` to create it)",
                    self.path
                ))),
            };
        };
        let lines: Vec<&str> = old.split_inclusive('\n').collect();
        let at =
            |m: &str| -> Vec<usize> { (0..lines.len()).filter(|i| bare(lines[*i]) == m).collect() };
        let (begins, ends) = (at(&self.begin), at(&self.end));
        let mut out = String::with_capacity(old.len() + self.block.len() + 64);
        match (begins.as_slice(), ends.as_slice()) {
            ([], []) if self.state == Presence::Absent => return Ok(Some(old.to_string())),
            ([], []) => self.insert(&lines, &mut out),
            ([b], [e]) if b < e => {
                lines[..*b].iter().for_each(|l| out.push_str(l));
                if self.state == Presence::Present {
                    out.push_str(&self.lines());
                }
                lines[e + 1..].iter().for_each(|l| out.push_str(l));
            }
            _ => return Err(self.malformed(&begins, &ends)),
        }
        Ok(Some(out))
    }

    /// The markers and the block between them.
    fn lines(&self) -> String {
        format!("{}\n{}{}\n", self.begin, self.block, self.end)
    }

    /// A new block placed among `lines` (which have neither marker).
    fn insert(&self, lines: &[&str], out: &mut String) {
        let last = |re: &regex::Regex| lines.iter().rposition(|l| re.is_match(bare(l)));
        let at = match &self.place {
            Place::Start => Some(0),
            Place::End => None,
            Place::After(re) => last(re).map(|i| i + 1),
            Place::Before(re) => last(re),
        };
        let at = at.unwrap_or(lines.len());
        for l in &lines[..at] {
            out.push_str(l);
        }
        // The line before the block may be a last line without its newline.
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&self.lines());
        for l in &lines[at..] {
            out.push_str(l);
        }
    }

    fn malformed(&self, begins: &[usize], ends: &[usize]) -> Failure {
        let where_ = |v: &[usize]| {
            let n: Vec<String> = v.iter().map(|i| (i + 1).to_string()).collect();
            match n.len() {
                0 => "no line".to_string(),
                1 => format!("line {}", n[0]),
                _ => format!("lines {}", n.join(", ")),
            }
        };
        Failure::msg(format!(
            "{} holds `{}` at {} and `{}` at {}: expected each once, in that order; fix the file, or give this block a marker of its own",
            self.path,
            self.begin,
            where_(begins),
            self.end,
            where_(ends)
        ))
    }

    fn old_and_new(&self, facts: &Facts) -> Result<(Option<String>, Option<String>), Failure> {
        let old = text::read(facts, &self.path)?;
        let new = self.edit(old.as_deref())?;
        Ok((old, new))
    }
}

impl Operation for Block {
    const KEY: &'static str = "block";
    const APPLIES_BLINDLY: bool = true;
    type Spec = Spec;

    fn check(spec: &Spec) -> Result<(), CheckError> {
        if spec.state == Presence::Present && spec.block.is_none() {
            return Err(CheckError::of::<Block>(
                "`state: present` needs `block` (the lines between the markers)",
            ));
        }
        let marker = spec.marker.as_deref().unwrap_or(DEFAULT_MARKER);
        if !marker.contains("{mark}") {
            return Err(CheckError::of::<Block>(
                "`marker` needs `{mark}` (where BEGIN and END go), or both marker lines would be the same",
            ));
        }
        if marker.contains(['\n', '\r']) {
            return Err(CheckError::of::<Block>("`marker` must be one line"));
        }
        fn unrendered(v: &Option<String>) -> Option<&str> {
            v.as_deref().filter(|s| !text::is_template(s))
        }
        if spec.insert_after.is_some() && spec.insert_before.is_some() {
            return Err(CheckError::of::<Block>(
                "give `insert_after` or `insert_before`, not both",
            ));
        }
        place_of(
            unrendered(&spec.insert_after),
            unrendered(&spec.insert_before),
        )
        .map(|_| ())
        .map_err(CheckError::of::<Block>)
    }

    fn summary(spec: &Spec) -> String {
        spec.path.clone()
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Block, RenderError> {
        let path = ctx.abs_path("path", &spec.path)?;
        let mut block = ctx.opt("block", &spec.block)?.unwrap_or_default();
        if !block.is_empty() && !block.ends_with('\n') {
            block.push('\n');
        }
        let marker = ctx
            .opt("marker", &spec.marker)?
            .unwrap_or_else(|| DEFAULT_MARKER.to_string());
        if !marker.contains("{mark}") || marker.contains(['\n', '\r']) {
            return Err(RenderError::Invalid {
                field: "marker",
                value: marker,
                problem: "must be one line with `{mark}` in it",
            });
        }
        let (begin, end) = (marker_line(&marker, "BEGIN"), marker_line(&marker, "END"));
        if block.lines().any(|l| bare(l) == begin || bare(l) == end) {
            return Err(RenderError::Refused {
                field: "block",
                problem: "holds one of its own marker lines",
            });
        }
        let after = ctx.opt("insert_after", &spec.insert_after)?;
        let before = ctx.opt("insert_before", &spec.insert_before)?;
        let place = place_of(after.as_deref(), before.as_deref()).map_err(|message| {
            RenderError::Template {
                field: if after.is_some() {
                    "insert_after".into()
                } else {
                    "insert_before".into()
                },
                message,
            }
        })?;
        Ok(Block {
            path,
            block,
            begin,
            end,
            state: spec.state,
            place,
            create: spec.create.unwrap_or(true),
        })
    }

    fn probe(&self) -> Option<String> {
        Some(text::probe(&self.path))
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        let (old, new) = self.old_and_new(facts)?;
        if old == new {
            return Ok(Decision::Unchanged);
        }
        let what = match (&old, self.state) {
            (None, _) => format!("create {} with the block `{}`", self.path, self.begin),
            (Some(_), Presence::Absent) => {
                format!("remove the block `{}` from {}", self.begin, self.path)
            }
            (Some(o), Presence::Present) if o.lines().any(|l| bare(l) == self.begin) => {
                format!("update the block `{}` in {}", self.begin, self.path)
            }
            (Some(_), Presence::Present) => {
                format!("insert the block `{}` into {}", self.begin, self.path)
            }
        };
        Ok(Decision::Change(vec![what]))
    }

    fn diff(&self, _ctx: &mut Ctx<'_>, facts: &Facts) -> Option<String> {
        let (old, new) = self.old_and_new(facts).ok()?;
        let old = old.unwrap_or_default();
        Some(text_diff(
            &self.path,
            old.as_bytes(),
            new.unwrap_or_default().as_bytes(),
        ))
    }

    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
        let (old, new) = self.old_and_new(facts)?;
        match new {
            Some(new) if old.as_deref() != Some(new.as_str()) => {
                text::write(ctx, &self.path, old.as_deref(), &new)
            }
            _ => Ok(Applied::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn block(text: &str, marker: &str, place: Place) -> Block {
        Block {
            path: "/etc/x".into(),
            block: text.into(),
            begin: marker_line(marker, "BEGIN"),
            end: marker_line(marker, "END"),
            state: Presence::Present,
            place,
            create: true,
        }
    }

    fn edit(b: &Block, old: &str) -> String {
        b.edit(Some(old)).unwrap().unwrap()
    }

    #[test]
    fn blocks_are_inserted_updated_and_removed_exactly() {
        let b = block("a\nb\n", "# {mark} x", Place::End);
        let once = edit(&b, "keep\nlast");
        assert_eq!(once, "keep\nlast\n# BEGIN x\na\nb\n# END x\n");
        assert_eq!(edit(&b, &once), once, "idempotent");
        let changed = edit(&b, "keep\n# BEGIN x\nold\n# END x\ntail\n");
        assert_eq!(changed, "keep\n# BEGIN x\na\nb\n# END x\ntail\n");
        let mut gone = b.clone();
        gone.state = Presence::Absent;
        assert_eq!(edit(&gone, &changed), "keep\ntail\n");
        assert_eq!(edit(&gone, "keep\n"), "keep\n");
        assert_eq!(b.edit(None).unwrap().unwrap(), "# BEGIN x\na\nb\n# END x\n");
        assert_eq!(gone.edit(None).unwrap(), None);
    }

    #[test]
    fn two_blocks_live_side_by_side() {
        let one = block("1\n", "# {mark} one", Place::End);
        let two = block("2\n", "# {mark} two", Place::Start);
        let both = edit(&two, &edit(&one, "x\n"));
        assert_eq!(
            both,
            "# BEGIN two\n2\n# END two\nx\n# BEGIN one\n1\n# END one\n"
        );
        assert_eq!(edit(&one, &both), both);
        assert_eq!(edit(&two, &both), both);
    }

    #[test]
    fn a_new_block_goes_where_it_is_told() {
        let re = |s: &str| regex::Regex::new(s).unwrap();
        let text = "a=1\n[main]\nb=2\n[main]\nc=3\n";
        let after = block("k\n", "#{mark}", Place::After(re(r"^\[main\]$")));
        assert_eq!(
            edit(&after, text),
            "a=1\n[main]\nb=2\n[main]\n#BEGIN\nk\n#END\nc=3\n"
        );
        let before = block("k\n", "#{mark}", Place::Before(re("^b=")));
        assert_eq!(
            edit(&before, text),
            "a=1\n[main]\n#BEGIN\nk\n#END\nb=2\n[main]\nc=3\n"
        );
        let nowhere = block("k\n", "#{mark}", Place::After(re("^zzz")));
        assert!(edit(&nowhere, text).ends_with("c=3\n#BEGIN\nk\n#END\n"));
        let crlf = block("k\n", "#{mark}", Place::End);
        assert_eq!(
            edit(&crlf, "a\r\n#BEGIN\r\nk\n#END\r\n"),
            "a\r\n#BEGIN\nk\n#END\n"
        );
    }

    #[test]
    fn a_broken_block_is_not_guessed_at() {
        let b = block("k\n", "#{mark}", Place::End);
        for text in [
            "#BEGIN\nk\n",
            "#END\n#BEGIN\n",
            "#BEGIN\n#END\n#BEGIN\n#END\n",
        ] {
            let e = b.edit(Some(text)).unwrap_err();
            assert!(e.message.contains("expected each once"), "{}", e.message);
        }
        let mut strict = b.clone();
        strict.create = false;
        assert!(strict.edit(None).is_err());
    }
}
