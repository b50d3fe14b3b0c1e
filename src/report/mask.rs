//! Secrets become `***` in every event, before any output sees it.

use std::sync::Arc;

use super::Event;

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

    /// Mask every string in an event.
    pub fn event(&self, event: Event) -> Event {
        if self.secrets.is_empty() {
            return event;
        }
        let Ok(mut value) = serde_json::to_value(&event) else {
            return event;
        };
        self.value(&mut value);
        serde_json::from_value(value).unwrap_or(event)
    }

    fn value(&self, v: &mut serde_json::Value) {
        match v {
            serde_json::Value::String(s) => {
                let masked = self.text(s);
                if masked != *s {
                    *s = masked;
                }
            }
            serde_json::Value::Array(a) => a.iter_mut().for_each(|x| self.value(x)),
            serde_json::Value::Object(o) => o.values_mut().for_each(|x| self.value(x)),
            _ => {}
        }
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
