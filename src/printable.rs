//! Text from users and machines made safe to show: the one place that decides what happens
//! to control characters (terminal colour codes, escape sequences, newlines in a name) on
//! their way into a message, a report page or a JUnit file. A control character that
//! reached a terminal raw could move the cursor, retitle the window or hide what a command
//! printed; in XML most of them cannot even be written.

/// What [`printable`] does with control characters.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Controls {
    /// For a value inside a one-line message: every control character written as Rust
    /// writes it in a literal (`\n`, `\t`, `\u{1b}`), so the value stays on its line and
    /// shows what it holds. Everything else, quotes and backslashes included, is kept as
    /// the user wrote it.
    Escape,
    /// For output shown as a block (a command's stdout in a page or a file): terminal
    /// colour codes (`ESC [ … m` and the other CSI sequences) dropped, newline, tab and
    /// carriage return kept, and any other control character shown as the given one.
    Replace(char),
}

/// `s` with its control characters (`char::is_control`: C0, DEL and C1) handled as `how`
/// says.
pub fn printable(s: &str, how: Controls) -> String {
    let mut out = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match (c, how) {
            (c, _) if !c.is_control() => out.push(c),
            (c, Controls::Escape) => out.extend(c.escape_default()),
            ('\x1b', Controls::Replace(_)) if chars.peek() == Some(&'[') => {
                // A CSI sequence: parameters and intermediates, then one final byte.
                chars.next();
                for c in chars.by_ref() {
                    if ('\x40'..='\x7e').contains(&c) {
                        break;
                    }
                }
            }
            ('\n' | '\r' | '\t', Controls::Replace(_)) => out.push(c),
            (_, Controls::Replace(shown)) => out.push(shown),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const MARK: Controls = Controls::Replace('?');

    #[test]
    fn plain_text_is_kept_whatever_it_holds() {
        let s = "it's a \"file\" $x;y \\n ünïcödé ✓ [0m";
        assert_eq!(printable(s, Controls::Escape), s);
        assert_eq!(printable(s, MARK), s);
        assert_eq!(printable("", Controls::Escape), "");
    }

    #[test]
    fn escape_keeps_a_value_on_its_line() {
        assert_eq!(
            printable("a\nb\tc\rd\x1b[31me\x00f\x7fg\u{9b}h", Controls::Escape),
            "a\\nb\\tc\\rd\\u{1b}[31me\\u{0}f\\u{7f}g\\u{9b}h"
        );
        let shown = printable("x\n\r\u{85}\u{2028}", Controls::Escape);
        assert!(!shown.contains(['\n', '\r', '\u{85}']), "{shown}");
    }

    #[test]
    fn replace_drops_colour_codes_and_marks_other_controls() {
        assert_eq!(
            printable(
                "\x1b[1;31mred\x1b[0m \x00nul \x07bell \u{9b}c1 \x7fdel",
                MARK
            ),
            "red ?nul ?bell ?c1 ?del"
        );
        assert_eq!(printable("cr\r\nlf\ttab", MARK), "cr\r\nlf\ttab");
        // An ESC that starts no CSI sequence is shown, not swallowed with what follows.
        assert_eq!(printable("a\x1bb", MARK), "a?b");
        assert_eq!(printable("a\x1b]0;title\x07b", MARK), "a?]0;title?b");
        // A sequence cut off at the end of the text takes nothing else with it.
        assert_eq!(printable("ok\x1b[31", MARK), "ok");
        assert_eq!(printable("\x00", Controls::Replace('\u{fffd}')), "\u{fffd}");
    }

    #[test]
    fn no_control_character_survives_but_newline_tab_and_return() {
        let all: String = (0u32..0x2100).filter_map(char::from_u32).collect();
        let escaped = printable(&all, Controls::Escape);
        assert!(!escaped.chars().any(char::is_control), "{escaped:?}");
        let replaced = printable(&all, MARK);
        assert!(
            replaced
                .chars()
                .all(|c| !c.is_control() || matches!(c, '\n' | '\r' | '\t')),
            "{replaced:?}"
        );
    }
}
