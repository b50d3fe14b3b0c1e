//! `sync`: a local directory tree copied to the machine. One probe lists the destination
//! and hashes, with one `sha256sum`, every file the tree has (`sync/listing.rs`); only
//! what differs travels, as one tar archive on the stdin of one request that stages the
//! files beside their destinations and renames each into place (`sync/archive.rs`); the local
//! tree is walked in `sync/tree.rs`.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::Deserialize;

mod archive;
mod listing;
mod tree;

use listing::{Listing, RemoteEntry, Top};
use tree::{Exclude, LocalEntry, LocalKind};

use super::attrs::{chown_spec, Attrs};
use super::{
    Applied, CheckError, Ctx, Decision, Exec, Facts, Failure, Mode, Operation, RenderCtx,
    RenderError,
};
use crate::printable::{printable, Controls};

/// At most this many changes are listed one by one; the rest are counted.
const SHOWN_CHANGES: usize = 100;
/// `--show-calls` shows this many bytes of the probe.
const SHOWN_PROBE: usize = 2048;

/// `sync:` — a local directory to a directory on the machine.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
#[schemars(rename = "sync")]
pub struct Spec {
    /// Local directory, relative to the operations file.
    pub src: String,
    /// Absolute directory on the machine.
    pub dest: String,
    /// Mode of every file (default: each local file's own permission bits).
    pub mode: Option<Mode>,
    /// Mode of every directory (default: each local directory's own).
    pub dir_mode: Option<Mode>,
    /// Owner of everything synced.
    pub owner: Option<String>,
    /// Group of everything synced.
    pub group: Option<String>,
    /// Remove what `dest` has and `src` lacks (excluded paths are kept).
    #[serde(default)]
    pub delete: bool,
    /// Globs of paths to leave out (and, with `delete`, to keep on the machine).
    #[serde(default)]
    pub exclude: Vec<String>,
}

/// A rendered sync step.
#[derive(Debug, Clone)]
pub struct Sync {
    /// The destination directory on the machine.
    pub dest: String,
    /// The local tree, `src` itself first.
    pub local: Arc<Vec<LocalEntry>>,
    /// Declared mode of files.
    pub mode: Option<Mode>,
    /// Declared mode of directories.
    pub dir_mode: Option<Mode>,
    /// Declared owner and group (mode unused).
    pub owner: Attrs,
    /// Remove extra paths.
    pub delete: bool,
    /// What is left out.
    pub exclude: Arc<Exclude>,
}

/// What a sync will do, worked out from the facts.
#[derive(Debug, Default)]
pub struct Plan {
    /// The destination does not exist yet.
    pub create_top: bool,
    /// Paths removed first, to make way for a path of another type.
    pub conflicts: Vec<String>,
    /// Directories to create, parents first.
    pub mkdirs: Vec<String>,
    /// Indices (into the local tree) of the files and links that travel.
    pub send: Vec<usize>,
    /// Mode → paths to `chmod` (directories, and files whose content is the same).
    pub chmods: BTreeMap<u32, Vec<String>>,
    /// Paths to `chown` (not travelling).
    pub chowns: Vec<String>,
    /// Paths the machine has and `src` lacks (with `delete`).
    pub deletes: Vec<String>,
    /// Indices of the files whose content changes (for `--diff`).
    pub updates: Vec<usize>,
    /// What will change, in words.
    pub lines: Vec<String>,
}

impl Plan {
    fn is_empty(&self) -> bool {
        self.lines.is_empty()
    }
}

impl Sync {
    /// The full path of `rel` on the machine.
    pub fn full(&self, rel: &str) -> String {
        match (rel.is_empty(), self.dest.as_str()) {
            (true, d) => d.to_string(),
            (false, "/") => format!("/{rel}"),
            (false, d) => format!("{d}/{rel}"),
        }
    }

    /// The full path of `rel` as messages show it: control characters escaped (`\n`), so
    /// that a name with a newline stays on its line.
    pub fn shown(&self, rel: &str) -> String {
        printable(&self.full(rel), Controls::Escape)
    }

    fn declared_mode(&self, e: &LocalEntry) -> Option<u32> {
        match e.kind {
            // The destination keeps its mode unless `dir_mode` says otherwise.
            LocalKind::Dir if e.rel.is_empty() => self.dir_mode.map(|m| m.0),
            LocalKind::Dir => Some(self.dir_mode.map_or(e.mode, |m| m.0)),
            LocalKind::File { .. } => Some(self.mode.map_or(e.mode, |m| m.0)),
            LocalKind::Link { .. } => None,
        }
    }

    /// The mode a new path gets: the declared one, for `dest` itself its local mode.
    fn new_mode(&self, e: &LocalEntry) -> u32 {
        self.declared_mode(e).unwrap_or(e.mode)
    }

    /// The mode a file travels with in the archive.
    pub fn file_mode(&self, e: &LocalEntry) -> u32 {
        self.new_mode(e)
    }

    /// Owner and group changes an existing path needs, in words (empty: none).
    fn owner_changes(&self, r: &RemoteEntry, path: &str) -> Vec<String> {
        let same = |want: &str, name: &str, id: &str| want == name || want == id;
        let mut out = Vec::new();
        if let Some(o) = &self.owner.owner {
            if !same(o, &r.user, &r.uid) {
                out.push(format!("owner of {path}: {} → {o}", r.user));
            }
        }
        if let Some(g) = &self.owner.group {
            if !same(g, &r.group, &r.gid) {
                out.push(format!("group of {path}: {} → {g}", r.group));
            }
        }
        out
    }

    /// Work out the plan from the listing.
    pub fn plan(&self, listing: &Listing) -> Result<Plan, Failure> {
        let mut plan = Plan::default();
        match listing.top {
            Top::NotDir => {
                return Err(Failure::msg(format!(
                    "{} exists and is not a directory",
                    self.dest
                )))
            }
            Top::Denied => {
                return Err(Failure::msg(format!(
                    "cannot enter {} (permission denied); add `become: true` to sync it as root",
                    self.dest
                )))
            }
            Top::Missing => plan.create_top = true,
            Top::Dir => {}
        }
        let mut new_dirs: HashSet<&str> = HashSet::new();
        for (i, e) in self.local.iter().enumerate() {
            let parent_new = !e.rel.is_empty() && new_dirs.contains(parent(&e.rel));
            let remote = if plan.create_top || parent_new {
                None
            } else {
                listing.entries.get(&e.rel)
            };
            let made = self.plan_entry(i, e, remote, &mut plan)?;
            if made {
                new_dirs.insert(&e.rel);
            }
        }
        if self.delete && !plan.create_top {
            self.plan_deletes(listing, &mut plan);
        }
        Ok(plan)
    }

    /// One local path against what the machine has there; true when it is a directory
    /// that will be made (so what is under it is new too).
    fn plan_entry(
        &self,
        i: usize,
        e: &LocalEntry,
        remote: Option<&RemoteEntry>,
        plan: &mut Plan,
    ) -> Result<bool, Failure> {
        let path = self.shown(&e.rel);
        let kind = remote.map(|r| r.kind);
        if matches!(e.kind, LocalKind::Dir) {
            return Ok(self.plan_dir(e, remote, plan));
        }
        if kind == Some('d') {
            if !self.delete {
                return Err(Failure::msg(format!(
                    "{path} is a directory on the machine and not in src; remove it or set `delete: true` to replace it"
                )));
            }
            plan.conflicts.push(e.rel.clone());
            plan.lines
                .push(format!("replace the directory at {path} with {}", what(e)));
            plan.send.push(i);
            return Ok(false);
        }
        match (&e.kind, remote) {
            (LocalKind::File { len, sha, .. }, Some(r)) if r.kind == 'f' => {
                if r.sha.as_deref() != Some(sha.as_str()) {
                    plan.lines
                        .push(format!("update {path} ({} → {len} bytes)", r.size));
                    plan.send.push(i);
                    plan.updates.push(i);
                } else {
                    self.plan_attrs(e, r, plan);
                }
            }
            (LocalKind::Link { target }, Some(r)) if r.kind == 'l' => {
                if r.target.as_deref() != Some(target.as_str()) {
                    plan.lines.push(format!("update link {path} → {target}"));
                    plan.send.push(i);
                } else {
                    self.plan_attrs(e, r, plan);
                }
            }
            (_, Some(_)) => {
                plan.lines.push(format!("replace {path} with {}", what(e)));
                plan.send.push(i);
            }
            (LocalKind::File { len, .. }, None) => {
                plan.lines.push(format!("add {path} ({len} bytes)"));
                plan.send.push(i);
            }
            (_, None) => {
                plan.lines.push(format!("add {}", what_at(e, &path)));
                plan.send.push(i);
            }
        }
        Ok(false)
    }

    fn plan_dir(&self, e: &LocalEntry, remote: Option<&RemoteEntry>, plan: &mut Plan) -> bool {
        let path = self.shown(&e.rel);
        match remote {
            Some(r) if r.kind == 'd' => {
                self.plan_attrs(e, r, plan);
                false
            }
            Some(_) => {
                plan.conflicts.push(e.rel.clone());
                plan.lines.push(format!("replace {path} with a directory"));
                self.plan_new_dir(e, plan);
                true
            }
            None => {
                plan.lines.push(format!("create directory {path}"));
                self.plan_new_dir(e, plan);
                true
            }
        }
    }

    fn plan_new_dir(&self, e: &LocalEntry, plan: &mut Plan) {
        if !e.rel.is_empty() {
            plan.mkdirs.push(e.rel.clone());
        }
        let dot = listing::dot(&e.rel);
        plan.chmods
            .entry(self.new_mode(e))
            .or_default()
            .push(dot.clone());
        if chown_spec(&self.owner).is_some() {
            plan.chowns.push(dot);
        }
    }

    /// Mode and owner of a path that exists with the right type and content.
    fn plan_attrs(&self, e: &LocalEntry, r: &RemoteEntry, plan: &mut Plan) {
        let path = self.shown(&e.rel);
        if let Some(mode) = self.declared_mode(e) {
            if r.mode != mode {
                plan.lines
                    .push(format!("mode of {path}: {:04o} → {mode:04o}", r.mode));
                plan.chmods
                    .entry(mode)
                    .or_default()
                    .push(listing::dot(&e.rel));
            }
        }
        let owner = self.owner_changes(r, &path);
        if !owner.is_empty() {
            plan.lines.extend(owner);
            plan.chowns.push(listing::dot(&e.rel));
            // chown clears set-id bits: set the mode again after it.
            let mode = self.declared_mode(e).unwrap_or(r.mode);
            if mode & 0o6000 != 0 && r.mode == mode {
                plan.chmods
                    .entry(mode)
                    .or_default()
                    .push(listing::dot(&e.rel));
            }
        }
    }

    /// The paths the machine has under `dest` and `src` lacks: each topmost one, unless
    /// excluded (what an exclude matches is kept, as rsync keeps it).
    fn plan_deletes(&self, listing: &Listing, plan: &mut Plan) {
        let dirs: HashSet<&str> = self
            .local
            .iter()
            .filter(|e| matches!(e.kind, LocalKind::Dir))
            .map(|e| e.rel.as_str())
            .filter(|rel| !plan.conflicts.iter().any(|c| c == rel))
            .collect();
        let local: HashSet<&str> = self.local.iter().map(|e| e.rel.as_str()).collect();
        let mut extra: Vec<&str> = listing
            .entries
            .keys()
            .map(String::as_str)
            .chain(listing.unusual_extra.iter().map(String::as_str))
            .filter(|rel| !rel.is_empty() && !local.contains(rel))
            .filter(|rel| dirs.contains(parent(rel)))
            .filter(|rel| !self.exclude.matches(rel))
            // A name that was not UTF-8 came back with replacement characters: it is
            // left alone rather than removing a path that is not there.
            .filter(|rel| !rel.contains('\u{FFFD}'))
            .collect();
        extra.sort_unstable();
        extra.dedup();
        for rel in extra {
            plan.lines.push(format!("delete {}", self.shown(rel)));
            plan.deletes.push(rel.to_string());
        }
    }

    fn listing(&self, facts: &Facts) -> Result<Listing, Failure> {
        listing::parse(facts, &self.dest, &self.local)
    }
}

/// The directory part of a relative path (`""` for a name at the top).
fn parent(rel: &str) -> &str {
    rel.rsplit_once('/').map_or("", |(p, _)| p)
}

fn what(e: &LocalEntry) -> String {
    match &e.kind {
        LocalKind::Dir => "a directory".into(),
        LocalKind::File { .. } => "a file".into(),
        LocalKind::Link { target } => format!("a link to {target}"),
    }
}

fn what_at(e: &LocalEntry, path: &str) -> String {
    match &e.kind {
        LocalKind::Link { target } => format!("link {path} → {target}"),
        _ => path.to_string(),
    }
}

/// The changes in words, the first [`SHOWN_CHANGES`] of them and a count of the rest.
fn summarize(mut lines: Vec<String>) -> Vec<String> {
    if lines.len() > SHOWN_CHANGES {
        let rest = lines.len() - SHOWN_CHANGES;
        lines.truncate(SHOWN_CHANGES);
        lines.push(format!("… and {rest} more"));
    }
    lines
}

impl Operation for Sync {
    const KEY: &'static str = "sync";
    type Spec = Spec;

    fn check(spec: &Spec) -> Result<(), CheckError> {
        let literal: Vec<String> = spec
            .exclude
            .iter()
            .filter(|p| !p.contains("{{") && !p.contains("{%"))
            .cloned()
            .collect();
        Exclude::new(&literal)
            .map(|_| ())
            .map_err(|_| CheckError::of::<Sync>("exclude: a pattern is not a valid glob"))
    }

    fn summary(spec: &Spec) -> String {
        spec.dest.clone()
    }

    fn render(spec: &Spec, ctx: &RenderCtx<'_>) -> Result<Sync, RenderError> {
        let patterns = ctx.list("exclude", &spec.exclude)?;
        let exclude = Exclude::new(&patterns).map_err(|problem| RenderError::Template {
            field: "exclude".into(),
            message: problem,
        })?;
        let src = ctx.local_path("src", &spec.src)?;
        if !src.is_dir() {
            return Err(RenderError::Invalid {
                field: "src",
                value: src.display().to_string(),
                problem: "is not a directory",
            });
        }
        let local = tree::walk(&src, &exclude, ctx.renderer.read_log()).map_err(|e| {
            RenderError::Unreadable {
                field: "src",
                path: e.path,
                reason: e.reason,
            }
        })?;
        let mut dest = ctx.abs_path("dest", &spec.dest)?;
        while dest.len() > 1 && dest.ends_with('/') {
            dest.pop();
        }
        if dest == "/" && spec.delete {
            return Err(RenderError::Refused {
                field: "dest",
                problem: "refusing to sync into / with `delete: true`",
            });
        }
        Ok(Sync {
            dest,
            local: Arc::new(local),
            mode: spec.mode,
            dir_mode: spec.dir_mode,
            owner: Attrs::render(ctx, None, &spec.owner, &spec.group)?,
            delete: spec.delete,
            exclude: Arc::new(exclude),
        })
    }

    fn probe(&self) -> Option<String> {
        Some(listing::probe(&self.dest, &self.local, self.delete))
    }

    fn shown_call(&self, ctx: &Ctx<'_>) -> Exec {
        // The probe names every path of the tree: `--show-calls` shows its start.
        let mut probe = self.probe().unwrap_or_default();
        if probe.len() > SHOWN_PROBE {
            let total = probe.len();
            let cut = (0..=SHOWN_PROBE)
                .rev()
                .find(|i| probe.is_char_boundary(*i))
                .unwrap_or(0);
            probe.truncate(cut);
            probe.push_str(&format!("\n# … ({} more bytes)\n", total - cut));
        }
        ctx.exec(probe)
    }

    fn decide(&self, facts: &Facts) -> Result<Decision, Failure> {
        let plan = self.plan(&self.listing(facts)?)?;
        Ok(if plan.is_empty() {
            Decision::Unchanged
        } else {
            Decision::Change(summarize(plan.lines))
        })
    }

    fn diff(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Option<String> {
        let plan = self.plan(&self.listing(facts).ok()?).ok()?;
        let old = archive::read_remote(ctx, &self.dest, &self.local, &plan.updates);
        archive::diffs(self, &plan, &old)
    }

    fn apply(&self, ctx: &mut Ctx<'_>, facts: &Facts) -> Result<Applied, Failure> {
        let plan = self.plan(&self.listing(facts)?)?;
        archive::apply(self, &plan, ctx)?;
        Ok(Applied::default())
    }
}
