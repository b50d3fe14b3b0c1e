//! The page's two ways of carrying a string from the run: as markup ([`esc`]) and as data
//! for the script ([`json_script`]). Step names, outputs, diffs, machine names and paths
//! are written by users or printed by machines, so both must hold whatever they contain.

/// `s` without what a page cannot show: terminal colour codes dropped, and any other
/// control character but newline, tab and carriage return shown as U+FFFD (HTML parsers
/// turn NUL into it anyway; the others would be invisible, hiding what a command really
/// printed). See [`printable`].
pub fn clean(s: &str) -> String {
    printable(s, Controls::Replace('\u{fffd}'))
}

use crate::printable::{printable, Controls};

/// `s` as HTML text, fit for element content and for attribute values in double or
/// single quotes: the five special characters as entities, after [`clean`]. The one
/// function every string from the run goes through on its way into the markup.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + s.len() / 8);
    for c in clean(s).chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// `value` as the text of a `<script type="application/json">` block. Inside `<script>`
/// nothing is an entity, so escaping with `&lt;` would corrupt the data; instead every
/// `<`, `>` and `&` becomes a JSON `\u` escape, so neither `</script>` nor `<!--` (which
/// changes how the parser looks for the end tag) can appear, and U+2028/U+2029 are escaped
/// too, for any reader that takes the text as JavaScript. Those characters only occur
/// inside JSON strings, where the escapes mean the same characters to `JSON.parse`.
pub fn json_script<T: serde::Serialize + ?Sized>(value: &T) -> String {
    // What the page serializes is strings, numbers, lists and structs, which cannot fail;
    // `null` would still be valid JSON.
    let text = serde_json::to_string(value).unwrap_or_else(|_| "null".into());
    let mut out = String::with_capacity(text.len() + 64);
    for c in text.chars() {
        match c {
            '<' => out.push_str("\\u003c"),
            '>' => out.push_str("\\u003e"),
            '&' => out.push_str("\\u0026"),
            '\u{2028}' => out.push_str("\\u2028"),
            '\u{2029}' => out.push_str("\\u2029"),
            c => out.push(c),
        }
    }
    out
}

/// Standard base64 (with padding), for the script's hash in the Content-Security-Policy.
pub fn base64(bytes: &[u8]) -> String {
    const ABC: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ABC[((n >> (18 - 6 * i)) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const HOSTILE: &str = "</script><img src=x onerror=alert(1)> \"q\" 'a' & <!-- \u{2028}\u{2029}";

    #[test]
    fn esc_leaves_no_markup() {
        let e = esc(HOSTILE);
        assert_eq!(
            e,
            "&lt;/script&gt;&lt;img src=x onerror=alert(1)&gt; &quot;q&quot; &#39;a&#39; &amp; &lt;!-- \u{2028}\u{2029}"
        );
        for bad in ['<', '>', '"', '\''] {
            assert!(!e.contains(bad), "{bad} in {e}");
        }
        // Every & starts one of the entities we wrote.
        for (i, _) in e.match_indices('&') {
            let rest = &e[i..];
            assert!(
                ["&amp;", "&lt;", "&gt;", "&quot;", "&#39;"]
                    .iter()
                    .any(|ent| rest.starts_with(ent)),
                "{rest}"
            );
        }
    }

    #[test]
    fn esc_keeps_text_and_already_escaped_text_is_escaped_again() {
        assert_eq!(
            esc("plain text: ünïcödé ✓\n\ttab"),
            "plain text: ünïcödé ✓\n\ttab"
        );
        assert_eq!(esc("&amp;"), "&amp;amp;");
        assert_eq!(esc(""), "");
    }

    #[test]
    fn colour_codes_are_dropped_and_controls_shown() {
        assert_eq!(
            esc("\x1b[1;31mred\x1b[0m \x00nul \x07bell \u{9b}c1"),
            "red \u{fffd}nul \u{fffd}bell \u{fffd}c1"
        );
        assert_eq!(clean("cr\r\nlf"), "cr\r\nlf");
        // An ESC that starts no CSI sequence is shown, not swallowed with what follows.
        assert_eq!(clean("a\x1bb"), "a\u{fffd}b");
    }

    #[test]
    fn json_script_cannot_close_its_block_and_still_parses() {
        let v = serde_json::json!({ "name": HOSTILE, "<k>": ["&", "]]>"] });
        let s = json_script(&v);
        for bad in ["<", ">", "&", "\u{2028}", "\u{2029}"] {
            assert!(!s.contains(bad), "{bad:?} in {s}");
        }
        assert!(!s.to_ascii_lowercase().contains("</script"));
        let back: serde_json::Value = serde_json::from_str(&s).unwrap();
        assert_eq!(back, v);
    }

    #[test]
    fn base64_matches_rfc_4648() {
        for (input, want) in [
            ("", ""),
            ("f", "Zg=="),
            ("fo", "Zm8="),
            ("foo", "Zm9v"),
            ("foob", "Zm9vYg=="),
            ("fooba", "Zm9vYmE="),
            ("foobar", "Zm9vYmFy"),
        ] {
            assert_eq!(base64(input.as_bytes()), want, "{input}");
        }
        assert_eq!(base64(&[0xff, 0xfe, 0x00]), "//4A");
    }
}
