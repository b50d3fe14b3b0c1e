//! `put`: a local file or inline content on the machine (and, through [`Put`],
//! `template`: a rendered local template). Compare checksums, move bytes only when they
//! differ, write atomically.

use std::fs::File;
use std::io::Read;
use std::path::PathBuf;

use serde::Deserialize;

use crate::quote::quote;
use crate::read_log::ReadLog;
use crate::remote::WriteFile;

use super::attrs::{self, Attrs, Kind};
use super::{
    text_diff, Applied, CheckError, Ctx, Decision, Facts, Failure, Mode, Operation, RenderCtx,
    RenderError,
};

/// `put:` — a local file (`src`) or inline `content` to `dest`.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "put")]
pub struct Spec {
    /// Local file, relative to the operations file.
    pub src: Option<String>,
    /// Inline content (a template string).
    pub content: Option<String>,
    /// Absolute path on the machine.
    pub dest: String,
    /// Mode as octal digits.
    pub mode: Option<Mode>,
    /// Owning user.
    pub owner: Option<String>,
    /// Owning group.
    pub group: Option<String>,
}

/// Where the declared content comes from.
#[derive(Debug, Clone)]
pub enum Content {
    /// Inline content or a rendered template.
    Bytes(Vec<u8>),
    /// A local file, streamed when sent (never held in memory whole).
    File {
        /// The local path.
        path: PathBuf,
        /// Its size when it was hashed.
        len: u64,
    },
}

/// A rendered put/template step.
#[derive(Debug, Clone)]
pub struct Put {
    /// Destination on the machine.
    pub dest: String,
    /// Declared content.
    pub content: Content,
    /// SHA-256 of the content, hex.
    pub sha: String,
    /// Declared attributes.
    pub attrs: Attrs,
}

/// The SHA-256 of a local file and its size, noted in the run's read log. Every machine
/// renders the same `src`, twice (the check before anything runs, then the run itself): the
/// log keeps the digest per path while the file's size and modification time stay the
/// same, so a big file is read once per run.
pub fn sha_of_file(path: &std::path::Path, log: &ReadLog) -> std::io::Result<(String, u64)> {
    let meta = std::fs::metadata(path)?;
    let stamp = (meta.len(), meta.modified()?);
    if let Some(sha) = log.hashed_at(path, stamp) {
        return Ok((sha, stamp.0));
    }
    let (sha, len) = hash_file(path)?;
    // Hashed as it was when stamped; a file that changed meanwhile is hashed again next time.
    log.note_hashed(path, stamp, &sha);
    Ok((sha, len))
}

/// The SHA-256 of a local file and its size, read now (no cache).
pub(super) fn hash_file(path: &std::path::Path) -> std::io::Result<(String, u64)> {
    use sha2::Digest;
    let mut f = File::open(path)?;
    let mut h = sha2::Sha256::new();
    let mut buf = vec![0u8; 256 * 1024];
    let mut len = 0u64;
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
        len += n as u64;
    }
    Ok((format!("{:x}", h.finalize()), len))
}

/// The `.sha` fact: `sha256sum` prints `HASH  -`.
pub fn sha_fact(facts: &Facts) -> Option<&str> {
    facts.get("sha").and_then(|v| v.split_whitespace().next())
}

/// The SHA-256 of bytes, hex.
pub fn sha_of_bytes(bytes: &[u8]) -> String {
    use sha2::Digest;
    format!("{:x}", sha2::Sha256::digest(bytes))
}

impl Put {
    fn len(&self) -> u64 {
        match &self.content {
            Content::Bytes(b) => b.len() as u64,
            Content::File { len, .. } => *len,
        }
    }

    fn content_differs(&self, facts: &Facts) -> bool {
        sha_fact(facts) != Some(self.sha.as_str())
    }

    /// The local file `src` (rendered), hashed.
    fn local(src: &str, ctx: &RenderCtx<'_>) -> Result<(Content, String), RenderError> {
        let path = ctx.local_path("src", src)?;
        if !path.is_file() {
            return Err(RenderError::NotAFile { field: "src", path });
        }
        match sha_of_file(&path, ctx.renderer.read_log()) {
            Ok((sha, len)) => Ok((Content::File { path, len }, sha)),
            Err(e) => Err(RenderError::Unreadable {
                field: "src",
                path,
                reason: e.to_string(),
            }),
        }
    }
}

impl Operation for Put {
    const KEY: &'static str = "put";
    const APPLIES_BLINDLY: bool = true;
    type Spec = Spec;

    fn check(spec: &Spec) -> Result<(), CheckError> {
        match (&spec.src, &spec.content) {
            (Some(_), Some(_)) => Err(CheckError::of::<Put>("give `src` or `content`, not both")),
            (None, None) => Err(CheckError::of::<Put>(
                "needs `src` (a local file) or `content`",
            )),
            _ => Ok(()),
        }
    }

    fn summary(spec: &Spec) -> String {
        spec.dest.clone()
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Put, RenderError> {
        let (content, sha) = match (&spec.src, &spec.content) {
            (Some(src), _) => Put::local(src, ctx)?,
            // No `src`: the content (`check` refused a step with neither).
            (None, content) => {
                let bytes = ctx
                    .opt("content", content)?
                    .unwrap_or_default()
                    .into_bytes();
                let sha = sha_of_bytes(&bytes);
                (Content::Bytes(bytes), sha)
            }
        };
        Ok(Put {
            dest: ctx.abs_path("dest", &spec.dest)?,
            content,
            sha,
            attrs: Attrs::render(ctx, spec.mode, &spec.owner, &spec.group)?,
        })
    }

    fn hashes(&self) -> Option<&str> {
        Some(&self.dest)
    }

    fn probe(&self) -> Option<String> {
        // `__od_put` (probe library): the hash, and `stat` only when attributes are
        // declared or the content differs (an existing file keeps its mode and owner when
        // rewritten). The hash comes from the batch's shared sha256sum when there is one.
        // The script carries 128 bits of the hash (`__od_same`); the machine prints all
        // 256, which `decide` compares.
        let sha = quote(crate::facts::sums::prefix(&self.sha));
        if attrs::none_declared(&self.attrs) {
            return Some(format!("__od_put {} {sha}\n", quote(&self.dest)));
        }
        Some(format!(
            "__od_put {} {sha} {} 1\n",
            quote(&self.dest),
            quote(&attrs::format_for(&self.attrs)),
        ))
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        let stat = attrs::parse(facts, &self.dest)?;
        let mut what = Vec::new();
        match &stat.kind {
            Kind::Missing => {
                what.push(format!("create {} ({} bytes)", self.dest, self.len()));
                if let Some(m) = self.attrs.mode {
                    what.push(format!("mode {}", m.octal()));
                }
                return Ok(Decision::Change(what));
            }
            Kind::Dir => {
                return Err(Failure::msg(format!(
                    "{} is a directory; give the full path of the file",
                    self.dest
                )))
            }
            Kind::Other(k) => what.push(format!("replace the {k} at {} with a file", self.dest)),
            Kind::File => match sha_fact(facts) {
                Some(sha) if sha == self.sha => {}
                Some(_) => what.push(format!(
                    "update {} ({} → {} bytes)",
                    self.dest,
                    stat.size,
                    self.len()
                )),
                None => {
                    return Err(Failure::msg(format!(
                        "cannot read {} to compare it: {}",
                        self.dest,
                        facts.noise_text()
                    )))
                }
            },
        }
        what.extend(attrs::changes(&stat, &self.attrs, &self.dest));
        Ok(if what.is_empty() {
            Decision::Unchanged
        } else {
            Decision::Change(what)
        })
    }

    fn diff(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Option<String> {
        if !self.content_differs(facts) {
            return None;
        }
        const LIMIT: u64 = 1 << 20;
        let stat = attrs::parse(facts, &self.dest).ok()?;
        if self.len() > LIMIT || stat.size > LIMIT {
            return Some(format!(
                "content differs ({} bytes on the machine, {} bytes declared; too large to show)\n",
                stat.size,
                self.len()
            ));
        }
        let mut old = Vec::new();
        if stat.kind == Kind::File {
            ctx.remote
                .read_file(&self.dest, ctx.user.as_deref(), &mut old)
                .ok()?;
        }
        let new = match &self.content {
            Content::Bytes(b) => b.clone(),
            Content::File { path, .. } => std::fs::read(path).ok()?,
        };
        Some(text_diff(&self.dest, &old, &new))
    }

    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
        let stat = attrs::parse(facts, &self.dest)?;
        if stat.kind == Kind::File && !self.content_differs(facts) {
            // Only attributes differ: no bytes move.
            let script = attrs::script(&self.dest, &self.attrs);
            ctx.run(&format!("setting attributes of {}", self.dest), script)?;
            return Ok(Applied::default());
        }
        let existing = stat.kind == Kind::File;
        let as_root = ctx.user.as_deref() == Some("root");
        // An existing file keeps its mode, and (when we can) its owner and group.
        let req = WriteFile {
            path: self.dest.clone(),
            user: ctx.user.clone(),
            mode: self
                .attrs
                .mode
                .map(|m| m.0)
                .unwrap_or(if existing { stat.mode } else { 0o644 }),
            owner: self
                .attrs
                .owner
                .clone()
                .or_else(|| (existing && as_root).then(|| stat.uid.clone())),
            group: self
                .attrs
                .group
                .clone()
                .or_else(|| (existing && as_root).then(|| stat.gid.clone())),
            len: self.len(),
        };
        let result = match &self.content {
            Content::Bytes(b) => ctx.remote.write_file(&req, &mut b.as_slice()),
            Content::File { path, .. } => {
                let mut f = File::open(path)
                    .map_err(|e| Failure::msg(format!("cannot read {}: {e}", path.display())))?;
                ctx.remote.write_file(&req, &mut f)
            }
        };
        result.map(|()| Applied::default()).map_err(|e| {
            let mut f = Failure::from(e);
            if f.message.contains("Permission denied") && !as_root {
                f.message
                    .push_str("; add `become: true` to write it as root");
            }
            f
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hash_cache_is_the_runs_own() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("big");
        std::fs::write(&path, b"one").unwrap();
        let stamp = std::fs::metadata(&path).unwrap().modified().unwrap();
        let first = ReadLog::default();
        let (sha_one, len) = sha_of_file(&path, &first).unwrap();
        assert_eq!((sha_one.as_str(), len), (sha_of_bytes(b"one").as_str(), 3));
        // Same size, same modification time: this run trusts the hash it made.
        std::fs::write(&path, b"two").unwrap();
        let f = std::fs::File::options().write(true).open(&path).unwrap();
        f.set_modified(stamp).unwrap();
        drop(f);
        assert_eq!(sha_of_file(&path, &first).unwrap().0, sha_one);
        // Another run in the same process has no such memory: it reads the file.
        let second = ReadLog::default();
        assert_eq!(sha_of_file(&path, &second).unwrap().0, sha_of_bytes(b"two"));
        assert_eq!(second.sha(&path), Some(sha_of_bytes(b"two")));
        assert_eq!(
            first.sha(&path),
            Some(sha_one),
            "each run's log has what it read"
        );
    }
}
