//! Text from a token endpoint made fit to show on a terminal or in a log line.
//!
//! A server chooses its `error`, `error_description` and error pages: a 900 KB line, or
//! terminal escape sequences that clear the screen, retitle the window or hide what
//! follows. What grantkit shows of them is one line, without control characters, escape
//! sequences or bidirectional overrides, and cut at a bounded length.

/// The most characters of one server-supplied field (`error`, `error_description`,
/// `error_uri`) that an error's `Display` shows, followed by `…` when it was longer.
pub const SERVER_TEXT_CHARS: usize = 300;

/// `text` on one line: escape sequences (CSI, OSC, DCS and the like, 7-bit or 8-bit)
/// removed with their parameters, other control characters and invisible formatting
/// characters (bidirectional overrides, zero-width characters) removed, whitespace runs
/// collapsed to one space, and cut after `max_chars` characters with `…` appended when
/// visible text was left out.
pub(crate) fn sanitize(text: &str, max_chars: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut pending_space = false;
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\u{1b}' => match chars.next() {
                Some('[') => skip_csi(&mut chars),
                Some(']' | 'P' | 'X' | '^' | '_') => skip_string(&mut chars),
                // Two-character escapes (ESC c, ESC 7, …) lose their second character.
                _ => {}
            },
            '\u{9b}' => skip_csi(&mut chars),
            '\u{90}' | '\u{98}' | '\u{9d}' | '\u{9e}' | '\u{9f}' => skip_string(&mut chars),
            c if c.is_whitespace() => pending_space = !out.is_empty(),
            c if c.is_control() || is_invisible_format(c) => {}
            c => {
                let needed = 1 + usize::from(pending_space);
                if count + needed > max_chars {
                    out.push('…');
                    return out;
                }
                if pending_space {
                    out.push(' ');
                    pending_space = false;
                }
                out.push(c);
                count += needed;
            }
        }
    }
    out
}

/// Skips a control sequence's parameter and intermediate characters and its final
/// character (`@` to `~`).
fn skip_csi(chars: &mut impl Iterator<Item = char>) {
    for c in chars {
        if ('\u{40}'..='\u{7e}').contains(&c) {
            return;
        }
    }
}

/// Skips an operating-system command or device control string up to its terminator: BEL,
/// ESC `\` or the 8-bit string terminator.
fn skip_string(chars: &mut std::iter::Peekable<impl Iterator<Item = char>>) {
    while let Some(c) = chars.next() {
        match c {
            '\u{7}' | '\u{9c}' => return,
            '\u{1b}' => {
                if chars.peek() == Some(&'\\') {
                    chars.next();
                }
                return;
            }
            _ => {}
        }
    }
}

/// Characters that change how the text around them is shown without showing anything:
/// bidirectional embeddings, overrides and isolates, zero-width characters, the BOM.
fn is_invisible_format(c: char) -> bool {
    matches!(
        c,
        '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2060}'..='\u{2069}' | '\u{feff}'
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escape_sequences_and_controls_are_removed() {
        let cases = [
            ("plain text", "plain text"),
            ("\u{1b}[31mred\u{1b}[0m", "red"),
            ("\u{1b}[2J\u{1b}[H cleared", "cleared"),
            ("\u{1b}]0;owned title\u{7}after", "after"),
            (
                "\u{1b}]8;;https://evil\u{1b}\\link\u{1b}]8;;\u{1b}\\",
                "link",
            ),
            ("\u{9b}1;31mc1\u{9d}osc\u{9c}", "c1"),
            ("\u{1b}Pdcs\u{1b}\\ok", "ok"),
            ("a\u{1b}cb", "ab"),
            ("line1\r\nline2\n\n\tline3", "line1 line2 line3"),
            ("nul\u{0}bel\u{7}del\u{7f}", "nulbeldel"),
            ("ab\u{202e}cd\u{200b}e\u{2066}f", "abcdef"),
            ("  padded  ", "padded"),
            ("\u{1b}[", ""),
            ("unterminated \u{1b}]0;title", "unterminated"),
            ("ünïcödé ✓", "ünïcödé ✓"),
        ];
        for (raw, want) in cases {
            assert_eq!(sanitize(raw, 100), want, "{raw:?}");
        }
    }

    #[test]
    fn long_text_is_cut_and_marked() {
        assert_eq!(sanitize("abcdef", 6), "abcdef");
        assert_eq!(sanitize("abcdefg", 6), "abcdef…");
        assert_eq!(sanitize("abcdef   ", 6), "abcdef");
        assert_eq!(sanitize("abcde fg", 6), "abcde…");
        let long = "é".repeat(10_000);
        let cut = sanitize(&long, SERVER_TEXT_CHARS);
        assert_eq!(cut.chars().count(), SERVER_TEXT_CHARS + 1);
        assert!(cut.ends_with('…'));
    }
}
