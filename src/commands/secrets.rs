//! `orbdeploy secrets encrypt|decrypt|edit|rekey FILE` (docs/secrets.md). Plaintext never
//! lands on disk but in `edit`'s private directory, which is removed whatever the editor
//! does (fails, is killed, Ctrl-C); encrypted files are written beside themselves and
//! renamed into place.

use std::io::Write;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};

use crate::cli::{Encrypt, Opened, Recipients, Rewrite, SecretsCommand};
use crate::error::{ConfigError, Outcome};
use crate::process::{self, Spec};
use crate::secrets::recipients::{self, Recipient};
use crate::secrets::{age_file, Keyring};

/// Run a `secrets` subcommand.
pub fn secrets(cmd: &SecretsCommand) -> Result<()> {
    match cmd {
        SecretsCommand::Encrypt(e) => encrypt(e),
        SecretsCommand::Decrypt(o) => {
            let plain = open(o)?;
            let mut out = std::io::stdout().lock();
            out.write_all(&plain)?;
            Ok(out.flush()?)
        }
        SecretsCommand::Edit(e) => edit(e),
        SecretsCommand::Rekey(e) => {
            let recipients = recipients_for(&e.opened.file, &e.recipients)?;
            let plain = open(&e.opened)?;
            write_sealed(&e.opened.file, &plain, &recipients)
        }
    }
}

fn encrypt(e: &Encrypt) -> Result<()> {
    let mut target = e.file.clone().into_os_string();
    target.push(".age");
    let target = PathBuf::from(target);
    let recipients = recipients_for(&target, &e.recipients)?;
    let plain = std::fs::read(&e.file).map_err(|err| {
        ConfigError::in_file(
            &e.file,
            format!("cannot read it: {}", crate::yaml::io_reason(&err)),
        )
    })?;
    write_sealed(&target, &plain, &recipients)?;
    eprintln!(
        "orbdeploy: wrote {}; {} is the plaintext: remove it once the encrypted file is committed",
        target.display(),
        e.file.display()
    );
    Ok(())
}

/// The plaintext of an encrypted file.
fn open(o: &Opened) -> Result<Vec<u8>> {
    let bytes = std::fs::read(&o.file).map_err(|err| {
        ConfigError::in_file(
            &o.file,
            format!("cannot read it: {}", crate::yaml::io_reason(&err)),
        )
    })?;
    Ok(age_file::decrypt(
        &o.file,
        &bytes,
        &Keyring::new(&o.identity),
    )?)
}

/// `--recipient` keys, else the `.age-recipients` file beside `encrypted`.
fn recipients_for(encrypted: &Path, r: &Recipients) -> Result<Vec<Recipient>, ConfigError> {
    if r.recipient.is_empty() {
        return recipients::read_file(&recipients::file_beside(encrypted));
    }
    r.recipient
        .iter()
        .map(|k| {
            recipients::parse_one(k).map_err(|m| ConfigError::plain(format!("--recipient: {m}")))
        })
        .collect()
}

/// Encrypt `plain` for `recipients` into `target`, renamed into place.
fn write_sealed(target: &Path, plain: &[u8], recipients: &[Recipient]) -> Result<()> {
    let sealed = age_file::encrypt(plain, recipients).map_err(ConfigError::plain)?;
    crate::report::write_atomic(target, &sealed)
        .with_context(|| format!("cannot write {}", target.display()))
}

/// Decrypt into a private directory, run the editor, encrypt what it left. The directory
/// (0700, removed on drop and on a hard exit) holds the only plaintext.
fn edit(e: &Rewrite) -> Result<()> {
    let target = &e.opened.file;
    let recipients = recipients_for(target, &e.recipients)?;
    let plain = if target.exists() {
        open(&e.opened)?
    } else {
        Vec::new()
    };
    let editor = editor()?;
    let private = private_dir()?;
    let _hard_exit = crate::interrupt::HardExitGuard::new(private.path());
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().trim_end_matches(".age").to_string())
        .unwrap_or_else(|| "secrets.yaml".into());
    let path = private.path().join(name);
    write_private(&path, &plain)?;
    let mut argv = editor.clone();
    argv.push(path.display().to_string());
    let status = process::run_on_terminal(&Spec::new(&argv))?;
    if crate::interrupt::requested() {
        return Err(
            Outcome::Failed(format!("interrupted: {} is unchanged", target.display())).into(),
        );
    }
    if !status.success() {
        return Err(Outcome::Failed(format!(
            "the editor `{}` ended with {status}: {} is unchanged",
            editor.join(" "),
            target.display()
        ))
        .into());
    }
    let edited = std::fs::read(&path).context("the edited file is gone")?;
    drop(private);
    if edited == plain && target.exists() {
        eprintln!("orbdeploy: no change: {} is unchanged", target.display());
        return Ok(());
    }
    write_sealed(target, &edited, &recipients)
}

/// `$VISUAL`, else `$EDITOR`, split into words (`code --wait`), else `vi`.
fn editor() -> Result<Vec<String>, ConfigError> {
    let raw = std::env::var("VISUAL")
        .ok()
        .filter(|v| !v.trim().is_empty())
        .or_else(|| {
            std::env::var("EDITOR")
                .ok()
                .filter(|v| !v.trim().is_empty())
        })
        .unwrap_or_else(|| "vi".into());
    let words = shell_words::split(&raw).map_err(|e| {
        ConfigError::plain(format!("$EDITOR `{raw}`: cannot split it into words: {e}"))
    })?;
    if words.is_empty() {
        return Err(ConfigError::plain("$EDITOR is empty"));
    }
    Ok(words)
}

/// A directory only its owner may enter, removed with what it holds when dropped.
struct PrivateDir(PathBuf);

impl PrivateDir {
    fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A 0700 directory in memory when the system has one (`$XDG_RUNTIME_DIR`, `/dev/shm`),
/// else in the temporary directory.
fn private_dir() -> Result<PrivateDir> {
    use std::os::unix::fs::DirBuilderExt;
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from);
    let places = runtime
        .into_iter()
        .chain([PathBuf::from("/dev/shm"), std::env::temp_dir()]);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    let name = format!("orbdeploy-edit-{}-{nanos:x}", std::process::id());
    let mut last = None;
    for place in places.filter(|p| p.is_dir()) {
        let dir = place.join(&name);
        match std::fs::DirBuilder::new().mode(0o700).create(&dir) {
            Ok(()) => return Ok(PrivateDir(dir)),
            Err(e) => last = Some(e),
        }
    }
    Err(anyhow::anyhow!(
        "cannot make a private directory for the plaintext: {}",
        last.map_or_else(|| "no temporary directory".into(), |e| e.to_string())
    ))
}

fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut f = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    f.write_all(bytes)?;
    Ok(())
}
