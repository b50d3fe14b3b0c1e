//! `vars_files:` at the top, in a group or in a machine: files of variables, read relative
//! to the inventory, in the order listed, below the inline `vars:` of the same level. A
//! file named `*.age` is decrypted in memory with the run's identities
//! ([`crate::secrets::Keyring`]), and every variable it defines is a secret: its name joins
//! `secrets:` and each of its values (every string and number inside) is masked.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::error::ConfigError;
use crate::load::inventory::Vars;
use crate::read_log::ReadLog;
use crate::secrets::{self, Keyring};
use crate::yaml::{self, Spanned};

/// Reads the vars files of one inventory and keeps what became secret.
pub struct VarsFiles<'a> {
    /// The inventory file (errors about a `vars_files:` entry point into it).
    pub inventory: &'a Path,
    /// Its directory: vars files are relative to it.
    pub dir: &'a Path,
    /// The run's read log.
    pub log: &'a ReadLog,
    /// Identities, read on the first encrypted file.
    pub keys: &'a Keyring,
    /// Names of variables that came from encrypted files.
    pub secret_names: Vec<String>,
    /// Every string and number inside those variables.
    pub secret_values: Vec<String>,
}

impl VarsFiles<'_> {
    /// The variables of one level: its files in order, then its inline `vars:`.
    pub fn layer(
        &mut self,
        files: &[Spanned<String>],
        inline: &Vars,
    ) -> Result<Vec<(String, Value)>, ConfigError> {
        let mut out = Vec::new();
        for f in files {
            out.extend(self.read(f)?);
        }
        out.extend(super::checked_vars(self.inventory, inline)?);
        Ok(out)
    }

    fn read(&mut self, entry: &Spanned<String>) -> Result<Vec<(String, Value)>, ConfigError> {
        let path = self.path_of(entry)?;
        if !secrets::is_encrypted(&path) {
            let vars: Vars = yaml::parse_file(&path, self.log)?;
            return super::checked_vars(&path, &vars);
        }
        let text = self.decrypted(&path)?;
        if text.trim().is_empty() {
            return Ok(Vec::new());
        }
        let vars: Vars = yaml::parse_str(&text, &path).map_err(|e| ConfigError {
            location: e.location,
            // The parser's words may quote the line, which holds a secret.
            message:
                "the decrypted text is not a YAML mapping of variables (`name: value` lines); \
                      see it with `orbdeploy secrets decrypt`"
                    .into(),
        })?;
        let vars = super::checked_vars(&path, &vars)?;
        for (name, value) in &vars {
            if !self.secret_names.contains(name) {
                self.secret_names.push(name.clone());
            }
            leaves(value, &mut self.secret_values);
        }
        Ok(vars)
    }

    /// The file an entry names; it must exist (said at the entry's place).
    fn path_of(&self, entry: &Spanned<String>) -> Result<PathBuf, ConfigError> {
        let path = self.dir.join(&entry.value);
        if !path.is_file() {
            return Err(ConfigError::at(
                self.inventory,
                entry.referenced.line(),
                entry.referenced.column(),
                format!(
                    "vars_files: `{}` is not a file (looked for {})",
                    entry.value,
                    path.display()
                ),
            ));
        }
        Ok(path)
    }

    fn decrypted(&self, path: &Path) -> Result<String, ConfigError> {
        let bytes = std::fs::read(path).map_err(|e| {
            ConfigError::in_file(path, format!("cannot read file: {}", yaml::io_reason(&e)))
        })?;
        if bytes.len() as u64 > yaml::MAX_FILE_BYTES {
            return Err(ConfigError::in_file(path, "file is too large"));
        }
        self.log.note(path, &bytes);
        let plain = secrets::age_file::decrypt(path, &bytes, self.keys)?;
        String::from_utf8(plain)
            .map_err(|_| ConfigError::in_file(path, "the decrypted text is not UTF-8"))
    }
}

/// Every string and number inside `v` (what a template can print of it), and for a list
/// or a map also its JSON text (what `{{ v }}` prints whole).
pub fn leaves(v: &Value, out: &mut Vec<String>) {
    match v {
        Value::String(s) => out.push(s.clone()),
        Value::Number(n) => out.push(n.to_string()),
        Value::Bool(_) | Value::Null => {}
        Value::Array(items) => {
            out.push(v.to_string());
            items.iter().for_each(|x| leaves(x, out));
        }
        Value::Object(map) => {
            out.push(v.to_string());
            map.values().for_each(|x| leaves(x, out));
        }
    }
}
