//! How a `sync` step changes the machine: the files and links that differ go in one tar
//! archive (built here, in a private temporary file), which one request extracts into a
//! staging directory beside each destination directory and renames into place, file by
//! file (a rename in one file system: a reader sees the old file or the new one). The same
//! request makes the directories, sets modes and owners and removes what `delete` removes.
//! `--diff` reads the machine's copies of the changed files with one `tar -c`.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::PathBuf;

use crate::quote::quote;
use crate::remote::{Input, WriteFile};

use super::listing::{chunks, dot};
use super::tree::{LocalEntry, LocalKind};
use super::{Plan, Sync};
use crate::ops::attrs::chown_spec;
use crate::ops::{permission_hint, text_diff, Ctx, Failure};

/// An archive up to this size goes on the request's stdin; a larger one is written to a
/// file on the machine first (the one-shot path holds a request's stdin in memory), as is
/// the archive of a script longer than [`SCRIPT_LIMIT`].
const STDIN_LIMIT: u64 = 64 << 20;
/// A script longer than this gets the archive from a file, not on its stdin.
const SCRIPT_LIMIT: usize = 60 * 1024;
/// `--diff` shows at most this many files, each at most this large.
const DIFF_FILES: usize = 10;
const DIFF_MAX: u64 = 1 << 20;
/// A failed script is shown up to this many bytes (a big sync's script lists every path).
const SHOWN_SCRIPT: usize = 4096;

/// Make the changes of `plan` on the machine.
pub fn apply(s: &Sync, plan: &Plan, ctx: &mut Ctx<'_>) -> Result<(), Failure> {
    let stage = format!(".orbdeploy-sync.{}", crate::remote::nonce());
    let mut archive =
        if plan.send.is_empty() {
            None
        } else {
            Some(build(s, plan, &stage).map_err(|e| {
                Failure::msg(format!("cannot build the archive for {}: {e}", s.dest))
            })?)
        };
    // A long script cannot share a request with stdin everywhere: the one-shot path sends
    // a script over 64 KiB on stdin itself (`sh -s`). Such a script reads the archive from
    // a file instead.
    let long = script(s, plan, &stage, None).len() > SCRIPT_LIMIT;
    let big = archive
        .as_ref()
        .is_some_and(|a| a.len > STDIN_LIMIT || long);
    let staged_tar = big.then(|| s.full(&format!("{stage}.tar")));
    if let (Some(path), Some(a)) = (&staged_tar, archive.as_mut()) {
        ctx.run(
            &format!("creating {}", s.dest),
            format!("mkdir -p -- {}", quote(&s.dest)),
        )?;
        let req = WriteFile {
            path: path.clone(),
            user: ctx.user.clone(),
            mode: 0o600,
            len: a.len,
            ..WriteFile::default()
        };
        ctx.remote.write_file(&req, &mut a.file)?;
    }
    let req = ctx.exec(script(s, plan, &stage, staged_tar.as_deref()));
    let out = match archive.as_mut() {
        Some(a) if !big => {
            let input = Input {
                reader: &mut a.file,
                len: a.len,
            };
            ctx.remote.exec_stream(&req, Some(input), None)?
        }
        _ => ctx.remote.exec(&req)?,
    };
    if out.status == 0 {
        return Ok(());
    }
    let mut shown = req.script.clone();
    if shown.len() > SHOWN_SCRIPT {
        let cut = (0..=SHOWN_SCRIPT)
            .rev()
            .find(|i| shown.is_char_boundary(*i))
            .unwrap_or(0);
        shown.truncate(cut);
        shown.push_str("\n# … (script shortened)\n");
    }
    let mut f = Failure::from_output(&format!("syncing {}", s.dest), &shown, &out);
    if let Some(hint) = permission_hint(&out, ctx.user.as_deref()) {
        f.message.push_str(&format!(": {hint}"));
    }
    Err(f)
}

/// The archive member for `rel`: its name in the staging directory beside it.
fn staged(rel: &str, stage: &str) -> String {
    match rel.rsplit_once('/') {
        Some((dir, name)) => format!("{dir}/{stage}/{name}"),
        None => format!("{stage}/{rel}"),
    }
}

/// The script that applies `plan` (run as the step's user, the archive on stdin or in
/// `staged_tar`).
fn script(s: &Sync, plan: &Plan, stage: &str, staged_tar: Option<&str>) -> String {
    let mut out = String::new();
    let d = quote(&s.dest);
    if plan.create_top {
        out.push_str(&format!("mkdir -p -- {d} || exit 1\n"));
    }
    out.push_str(&format!("cd {d} || exit 1\n"));
    // The staging directories, by the directory they are in.
    let by_dir: BTreeSet<&str> = plan
        .send
        .iter()
        .map(|&i| s.local[i].rel.rsplit_once('/').map_or("", |(d, _)| d))
        .collect();
    let stages: Vec<String> = by_dir
        .iter()
        .map(|dir| match *dir {
            "" => dot(stage),
            dir => dot(&format!("{dir}/{stage}")),
        })
        .collect();
    let mut cleanup: Vec<String> = stages.clone();
    cleanup.extend(staged_tar.map(str::to_string));
    if !cleanup.is_empty() {
        let rm = format!("rm -rf -- {}", crate::quote::join(&cleanup));
        out.push_str(&format!("trap {} EXIT\n", quote(&rm)));
    }
    let each = |out: &mut String, cmd: &str, paths: &[String]| {
        for chunk in chunks(paths) {
            out.push_str(&format!("{cmd} -- {chunk} || exit 1\n"));
        }
    };
    let dots = |rels: &[String]| rels.iter().map(|r| dot(r)).collect::<Vec<_>>();
    each(&mut out, "rm -rf", &dots(&plan.conflicts));
    each(&mut out, "mkdir", &dots(&plan.mkdirs));
    if !by_dir.is_empty() {
        let from = staged_tar.map_or("-".to_string(), quote);
        // -p: the modes as archived, whatever the umask; -o: owned by whoever extracts
        // (chown below sets a declared owner); -m: modified now.
        out.push_str(&format!("tar -x -p -o -m -f {from} || exit 1\n"));
    }
    let owner = chown_spec(&s.owner).map(|o| format!("chown -h {}", quote(&o)));
    // What is staged is moved (and chowned) by find, so that the script names directories,
    // not every file: it stays short for a big tree.
    let staged_in = |dirs: &[String]| {
        chunks(dirs)
            .into_iter()
            .map(|c| format!("find {c} -mindepth 1 -maxdepth 1"))
            .collect::<Vec<_>>()
    };
    if let Some(chown) = &owner {
        for find in staged_in(&stages) {
            out.push_str(&format!("{find} -exec {chown} -- {{}} + || exit 1\n"));
        }
        // chown clears set-user-id and set-group-id bits: set them again.
        for &i in &plan.send {
            let e = &s.local[i];
            let mode = s.file_mode(e);
            if matches!(e.kind, LocalKind::File { .. }) && mode & 0o6000 != 0 {
                let p = quote(&dot(&staged(&e.rel, stage)));
                out.push_str(&format!("chmod {mode:o} -- {p} || exit 1\n"));
            }
        }
    }
    for (dir, stage_dir) in by_dir.iter().zip(&stages) {
        let target = quote(&format!("{}/", dot(dir)));
        for find in staged_in(std::slice::from_ref(stage_dir)) {
            out.push_str(&format!(
                "{find} -exec mv -f -t {target} -- {{}} + || exit 1\n"
            ));
        }
    }
    each(&mut out, "rmdir", &stages);
    // Owners first: chown clears set-id bits that chmod then sets.
    if let Some(chown) = &owner {
        each(&mut out, chown, &plan.chowns);
    }
    for (mode, paths) in &plan.chmods {
        each(&mut out, &format!("chmod {mode:o}"), paths);
    }
    each(&mut out, "rm -rf", &dots(&plan.deletes));
    if !cleanup.is_empty() {
        out.push_str("trap - EXIT\n");
    }
    if let Some(t) = staged_tar {
        out.push_str(&format!("rm -f -- {}\n", quote(t)));
    }
    out
}

/// A local temporary file (mode 0600), removed when dropped.
struct LocalArchive {
    path: PathBuf,
    file: File,
    len: u64,
}

impl Drop for LocalArchive {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

fn create_temp() -> std::io::Result<(PathBuf, File)> {
    let dir = std::env::temp_dir();
    for _ in 0..100 {
        let path = dir.join(format!(
            "orbdeploy-sync-{}-{}.tar",
            std::process::id(),
            crate::remote::nonce()
        ));
        match std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path)
        {
            Ok(f) => return Ok((path, f)),
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => continue,
            Err(e) => return Err(e),
        }
    }
    Err(std::io::Error::other("cannot create a temporary file"))
}

/// Reads exactly `left` bytes of a file, or fails: a file that shrinks while the archive
/// is built must not leave a member shorter than its header says.
struct Exact<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Exact<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if self.left == 0 {
            return Ok(0);
        }
        let max = buf
            .len()
            .min(usize::try_from(self.left).unwrap_or(usize::MAX));
        let n = self.inner.read(&mut buf[..max])?;
        if n == 0 {
            return Err(std::io::Error::new(
                std::io::ErrorKind::UnexpectedEof,
                "a file changed while it was being sent; run again",
            ));
        }
        self.left -= n as u64;
        Ok(n)
    }
}

/// The archive of the files and links `plan` sends, each under its staged name.
fn build(s: &Sync, plan: &Plan, stage: &str) -> std::io::Result<LocalArchive> {
    let (path, file) = create_temp()?;
    let mut archive = LocalArchive { path, file, len: 0 };
    let mut b = tar::Builder::new(archive.file.try_clone()?);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or_default();
    for &i in &plan.send {
        let e: &LocalEntry = &s.local[i];
        let name = staged(&e.rel, stage);
        let mut h = tar::Header::new_gnu();
        h.set_mtime(now);
        h.set_uid(0);
        h.set_gid(0);
        match &e.kind {
            LocalKind::File { path, len, .. } => {
                h.set_entry_type(tar::EntryType::Regular);
                h.set_size(*len);
                h.set_mode(s.file_mode(e));
                let data = Exact {
                    inner: File::open(path)?,
                    left: *len,
                };
                b.append_data(&mut h, &name, data)?;
            }
            LocalKind::Link { target } => {
                h.set_entry_type(tar::EntryType::Symlink);
                h.set_size(0);
                h.set_mode(0o777);
                b.append_link(&mut h, &name, target)?;
            }
            LocalKind::Dir => {}
        }
    }
    let mut f = b.into_inner()?;
    f.flush()?;
    archive.len = archive.file.metadata()?.len();
    archive.file.rewind()?;
    Ok(archive)
}

/// The machine's copies of the files `updates` (indices into `local`) that `--diff` shows,
/// read with one `tar -c`; what cannot be read is left out.
pub fn read_remote(
    ctx: &mut Ctx<'_>,
    dest: &str,
    local: &[LocalEntry],
    updates: &[usize],
) -> HashMap<String, Vec<u8>> {
    let wanted: Vec<String> = updates
        .iter()
        .filter_map(|&i| local.get(i))
        .filter(|e| matches!(e.kind, LocalKind::File { len, .. } if len <= DIFF_MAX))
        .take(DIFF_FILES)
        .map(|e| dot(&e.rel))
        .collect();
    let mut out = HashMap::new();
    if wanted.is_empty() {
        return out;
    }
    let mut req = ctx.exec(format!(
        "cd {} && exec tar -c -f - -- {}",
        quote(dest),
        crate::quote::join(&wanted)
    ));
    req.file_sized = true;
    let mut bytes = Vec::new();
    if ctx
        .remote
        .exec_stream(&req, None, Some(&mut bytes))
        .is_err()
    {
        return out;
    }
    let mut ar = tar::Archive::new(bytes.as_slice());
    let Ok(entries) = ar.entries() else {
        return out;
    };
    for mut entry in entries.flatten() {
        let Ok(path) = entry.path() else { continue };
        let rel = path.to_string_lossy();
        let rel = rel.strip_prefix("./").unwrap_or(&rel).to_string();
        let mut content = Vec::new();
        if entry.read_to_end(&mut content).is_ok() {
            out.insert(rel, content);
        }
    }
    out
}

/// `--diff` of a sync: text diffs of the files that change or are added (at most
/// [`DIFF_FILES`], each at most [`DIFF_MAX`] bytes), then how many were not shown.
pub fn diffs(s: &Sync, plan: &Plan, old: &HashMap<String, Vec<u8>>) -> Option<String> {
    let files: Vec<&LocalEntry> = plan
        .send
        .iter()
        .filter_map(|&i| s.local.get(i))
        .filter(|e| matches!(e.kind, LocalKind::File { .. }))
        .collect();
    let mut out = String::new();
    for e in files.iter().take(DIFF_FILES) {
        let LocalKind::File { path, len, .. } = &e.kind else {
            continue;
        };
        let full = s.shown(&e.rel);
        if *len > DIFF_MAX {
            out.push_str(&format!("{full}: {len} bytes, too large to show\n"));
            continue;
        }
        let Ok(new) = std::fs::read(path) else {
            continue;
        };
        let updated = plan.updates.iter().any(|&i| s.local[i].rel == e.rel);
        match (updated, old.get(&e.rel)) {
            (true, None) => out.push_str(&format!(
                "{full}: cannot read the machine's copy to compare\n"
            )),
            (_, before) => out.push_str(&text_diff(
                &full,
                before.map_or(&[][..], Vec::as_slice),
                &new,
            )),
        }
    }
    if files.len() > DIFF_FILES {
        out.push_str(&format!(
            "… {} more files differ (not shown)\n",
            files.len() - DIFF_FILES
        ));
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::sync::Arc;

    use super::*;
    use crate::facts::Facts;
    use crate::ops::attrs::Attrs;
    use crate::ops::sync::listing;
    use crate::ops::sync::tree::{walk, Exclude};

    fn sync_of(src: &std::path::Path, dest: &str, delete: bool) -> Sync {
        let exclude = Exclude::new(&["*.tmp".to_string()]).unwrap();
        Sync {
            dest: dest.to_string(),
            local: Arc::new(walk(src, &exclude, &Default::default()).unwrap()),
            mode: None,
            dir_mode: None,
            owner: Attrs::default(),
            delete,
            exclude: Arc::new(exclude),
        }
    }

    /// Apply `plan` with the host's `sh`, the archive on stdin.
    fn run_plan(s: &Sync, plan: &Plan) {
        let stage = ".orbdeploy-sync.test";
        let mut archive = build(s, plan, stage).unwrap();
        let mut bytes = Vec::new();
        archive.file.read_to_end(&mut bytes).unwrap();
        let out = std::process::Command::new("sh")
            .arg("-c")
            .arg(script(s, plan, stage, None))
            .stdin(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .and_then(|mut c| {
                c.stdin.take().unwrap().write_all(&bytes)?;
                c.wait_with_output()
            })
            .unwrap();
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
    }

    fn plan_of(s: &Sync) -> Plan {
        let probe = listing::probe(&s.dest, &s.local, s.delete);
        let facts = Facts::parse(&crate::facts::run_with_probe_lib(&probe), 0);
        s.plan(&listing::parse(&facts, &s.dest, &s.local).unwrap())
            .unwrap()
    }

    /// The apply script, run by the host's `sh` with the archive on stdin, makes the
    /// destination match the tree (hostile names, a link, modes, a type change, deletes
    /// that keep excluded paths), leaves no staging directory, and a second plan is empty.
    #[test]
    fn script_and_archive_converge_a_tree() {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        let dest = dir.path().join("dest");
        std::fs::create_dir_all(src.join("sub dir/deeper")).unwrap();
        std::fs::write(src.join("it's $x;y"), b"one").unwrap();
        std::fs::write(src.join("nl\nname"), b"two").unwrap();
        std::fs::write(src.join("sub dir/deeper/run.sh"), b"#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            src.join("sub dir/deeper/run.sh"),
            std::fs::Permissions::from_mode(0o750),
        )
        .unwrap();
        std::fs::write(src.join("was a dir"), b"file now").unwrap();
        std::os::unix::fs::symlink("it's $x;y", src.join("ln")).unwrap();
        std::fs::create_dir_all(dest.join("was a dir/inside")).unwrap();
        std::fs::write(dest.join("extra"), b"x").unwrap();
        std::fs::write(dest.join("keep.tmp"), b"x").unwrap();
        std::fs::write(dest.join("it's $x;y"), b"old").unwrap();
        let s = sync_of(&src, dest.to_str().unwrap(), true);
        let plan = plan_of(&s);
        assert!(!plan.lines.is_empty());
        run_plan(&s, &plan);
        assert_eq!(std::fs::read(dest.join("it's $x;y")).unwrap(), b"one");
        assert_eq!(std::fs::read(dest.join("nl\nname")).unwrap(), b"two");
        assert_eq!(std::fs::read(dest.join("was a dir")).unwrap(), b"file now");
        assert_eq!(
            std::fs::read_link(dest.join("ln")).unwrap().to_str(),
            Some("it's $x;y")
        );
        let mode = std::fs::metadata(dest.join("sub dir/deeper/run.sh"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o7777, 0o750);
        assert!(!dest.join("extra").exists());
        assert!(dest.join("keep.tmp").exists());
        let staged = std::process::Command::new("find")
            .arg(&dest)
            .args(["-name", ".orbdeploy-*"])
            .output()
            .unwrap();
        assert!(staged.stdout.is_empty(), "{staged:?}");
        let again = plan_of(&s);
        assert!(again.lines.is_empty(), "{:?}", again.lines);
    }

    /// A declared owner, group and set-user-id mode (root only): the staged files are
    /// chowned before they are renamed into place, the mode survives chown, and a second
    /// plan is empty.
    #[test]
    fn declared_owner_and_setuid_mode_converge() {
        if !nix::unistd::Uid::effective().is_root() {
            return;
        }
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir_all(src.join("sub")).unwrap();
        std::fs::write(src.join("sub/tool"), b"#!/bin/sh\n").unwrap();
        std::os::unix::fs::symlink("sub/tool", src.join("ln")).unwrap();
        let dest = dir.path().join("dest");
        let mut s = sync_of(&src, dest.to_str().unwrap(), false);
        s.mode = Some(crate::ops::Mode(0o4755));
        s.owner = Attrs {
            mode: None,
            owner: Some("65534".into()),
            group: Some("65534".into()),
        };
        run_plan(&s, &plan_of(&s));
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(dest.join("sub/tool")).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o7777),
            (65534, 65534, 0o4755)
        );
        let link = std::fs::symlink_metadata(dest.join("ln")).unwrap();
        assert_eq!(link.uid(), 65534);
        let again = plan_of(&s);
        assert!(again.lines.is_empty(), "{:?}", again.lines);
    }
}
