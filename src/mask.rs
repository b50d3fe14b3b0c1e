//! Secrets become `***`: one masker, built once per run from the inventory's secret
//! variables and every `{{ env("NAME") }}` value, used by every output (the reporter, trace
//! files) before anything is written.

use std::sync::Arc;

/// Replaces secret values with `***`.
#[derive(Clone, Default)]
pub struct Masker {
    secrets: Arc<Vec<String>>,
}

impl Masker {
    /// Mask these values (empty ones are ignored; longer ones are replaced first, so a
    /// secret that contains another is masked whole).
    pub fn new(mut secrets: Vec<String>) -> Self {
        secrets.retain(|s| !s.is_empty());
        secrets.sort_by(|a, b| b.len().cmp(&a.len()).then(a.cmp(b)));
        secrets.dedup();
        Masker {
            secrets: Arc::new(secrets),
        }
    }

    /// True when there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.secrets.is_empty()
    }

    /// Mask one string.
    pub fn text(&self, s: &str) -> String {
        let mut out = s.to_string();
        for secret in self.secrets.iter() {
            if out.contains(secret.as_str()) {
                out = out.replace(secret.as_str(), "***");
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn longest_first() {
        let m = Masker::new(vec!["abc".into(), "abcdef".into(), String::new()]);
        assert_eq!(m.text("x abcdef y abc"), "x *** y ***");
    }
}
