//! Secrets become `***`: one masker, built once per run from the inventory's secret
//! variables and every `{{ env("NAME") }}` value, used by every output (the reporter, trace
//! files, the last error message) before anything is written.
//!
//! Masking is structural: each record masks its own string fields ([`Mask`], implemented
//! with exhaustive destructuring, so that a new `String` field cannot be added without a
//! decision about it), and masking cannot fail, so there is nothing to fall back to. Values
//! are masked before they are encoded (JSON, HTML, XML, shell quoting): a secret made of
//! punctuation, a backslash or a newline is then found as the user wrote it, not as an
//! encoder escaped it, and no encoding is broken by the replacement.

use std::sync::Arc;

use aho_corasick::AhoCorasick;

/// Replaces secret values with `***`.
#[derive(Clone, Default)]
pub struct Masker {
    /// `None`: nothing to mask (or the secrets could not be compiled, which
    /// [`Masker::new`] turns into masking every character instead).
    find: Option<Arc<Finder>>,
}

/// How secrets are found.
enum Finder {
    /// Every occurrence of every secret, overlaps included.
    Secrets(AhoCorasick),
    /// The secrets could not be searched for (an automaton too large): hide everything
    /// rather than show a secret.
    Everything,
}

/// What replaces a secret.
pub const MASK: &str = "***";

impl Masker {
    /// Mask these values (empty ones are ignored). Every occurrence of every secret is
    /// hidden, also where two secrets overlap: the union of their places becomes one `***`.
    pub fn new(mut secrets: Vec<String>) -> Self {
        secrets.retain(|s| !s.is_empty());
        secrets.sort();
        secrets.dedup();
        if secrets.is_empty() {
            return Masker::default();
        }
        let finder = match AhoCorasick::new(&secrets) {
            Ok(ac) => Finder::Secrets(ac),
            Err(_) => Finder::Everything,
        };
        Masker {
            find: Some(Arc::new(finder)),
        }
    }

    /// True when there is nothing to mask.
    pub fn is_empty(&self) -> bool {
        self.find.is_none()
    }

    /// Mask one string.
    pub fn text(&self, s: &str) -> String {
        match self.places(s) {
            None => s.to_string(),
            Some(places) => replace(s, &places),
        }
    }

    /// Mask a string in place (no copy when it holds no secret).
    pub fn in_place(&self, s: &mut String) {
        if let Some(places) = self.places(s) {
            *s = replace(s, &places);
        }
    }

    /// The byte ranges to hide, merged and in order; `None` when there are none.
    fn places(&self, s: &str) -> Option<Vec<(usize, usize)>> {
        let ac = match self.find.as_deref()? {
            Finder::Secrets(ac) => ac,
            Finder::Everything if s.is_empty() => return None,
            Finder::Everything => return Some(vec![(0, s.len())]),
        };
        let mut places: Vec<(usize, usize)> = Vec::new();
        // Overlapping matches come ordered by their end; sort by start to merge them.
        let mut found: Vec<(usize, usize)> = ac
            .find_overlapping_iter(s)
            .map(|m| (m.start(), m.end()))
            .collect();
        if found.is_empty() {
            return None;
        }
        found.sort_unstable();
        for (start, end) in found {
            match places.last_mut() {
                Some(last) if start <= last.1 => last.1 = last.1.max(end),
                _ => places.push((start, end)),
            }
        }
        Some(places)
    }
}

/// `s` with each range replaced by [`MASK`]. The ranges are whole secrets, which are whole
/// strings, so they start and end on character boundaries.
fn replace(s: &str, places: &[(usize, usize)]) -> String {
    let mut out = String::with_capacity(s.len());
    let mut at = 0;
    for &(start, end) in places {
        out.push_str(&s[at..start]);
        out.push_str(MASK);
        at = end;
    }
    out.push_str(&s[at..]);
    out
}

/// A record that masks its own strings. Implementations destructure the record without
/// `..`, so that adding a field is a compile error until its masking is decided.
pub trait Mask {
    /// Replace every secret in every string of `self` with `***`.
    fn mask(&mut self, masker: &Masker);

    /// `self`, masked.
    fn masked(mut self, masker: &Masker) -> Self
    where
        Self: Sized,
    {
        self.mask(masker);
        self
    }
}

impl Mask for String {
    fn mask(&mut self, masker: &Masker) {
        masker.in_place(self);
    }
}

impl<T: Mask> Mask for Option<T> {
    fn mask(&mut self, masker: &Masker) {
        if let Some(v) = self {
            v.mask(masker);
        }
    }
}

impl<T: Mask> Mask for Vec<T> {
    fn mask(&mut self, masker: &Masker) {
        self.iter_mut().for_each(|v| v.mask(masker));
    }
}

impl<T: Mask> Mask for Box<T> {
    fn mask(&mut self, masker: &Masker) {
        (**self).mask(masker);
    }
}

/// Attached to an error (as its context) by a run that knows its secrets: whoever prints
/// the error masks the message with it. It adds no words of its own.
pub struct MaskErrors(pub Masker);

impl std::fmt::Display for MaskErrors {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        Ok(())
    }
}

impl std::fmt::Debug for MaskErrors {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MaskErrors")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_inside_another_is_masked_whole() {
        let m = Masker::new(vec!["abc".into(), "abcdef".into(), String::new()]);
        assert_eq!(m.text("x abcdef y abc"), "x *** y ***");
    }

    #[test]
    fn overlapping_secrets_leave_nothing_of_either() {
        let m = Masker::new(vec!["abcd".into(), "cdef".into()]);
        assert_eq!(m.text("<abcdef>"), "<***>");
        assert_eq!(m.text("abcd cdef"), "*** ***");
    }

    #[test]
    fn punctuation_backslash_newline_and_multibyte_secrets() {
        let m = Masker::new(vec![
            "\"".into(),
            "\\".into(),
            "\n".into(),
            "{".into(),
            "é".into(),
        ]);
        assert_eq!(m.text("a\"b\\c\nd{eé"), "a***b***c***d***e***");
        assert_eq!(m.text("plain"), "plain");
    }

    #[test]
    fn no_secrets_changes_nothing() {
        let m = Masker::new(vec![String::new()]);
        assert!(m.is_empty());
        let mut s = "ok".to_string();
        s.mask(&m);
        assert_eq!(s, "ok");
    }

    #[test]
    fn containers_mask_every_element() {
        let m = Masker::new(vec!["pw".into()]);
        let v = vec![Some("a pw".to_string()), None].masked(&m);
        assert_eq!(v, vec![Some("a ***".to_string()), None]);
        assert_eq!(Box::new("pw".to_string()).masked(&m).as_str(), "***");
    }
}
