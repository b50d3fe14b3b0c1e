//! Secrets become `***` in every event, before any output sees it.

use super::Event;
pub use crate::mask::Masker;

impl Masker {
    /// Mask every string in an event.
    pub fn event(&self, event: Event) -> Event {
        if self.is_empty() {
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
