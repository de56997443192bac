//! [`Untrusted`]: a value a client chose, made safe to write into a log line.

use std::fmt::{self, Write};

/// The most bytes of a client value a log line carries (after escaping, before the marker).
pub const MAX: usize = 256;

/// Formats a client-controlled string for a log as one token: every control character,
/// whitespace character, and the Unicode line separators and bidirectional overrides that can
/// make a line read as something else, as a visible escape (`\n`, `\u{20}`), `\` as `\\`, and
/// the result cut on a character boundary to [`MAX`] bytes, followed by `...(+N bytes)` saying
/// how much of the value was left out.
#[derive(Clone, Copy, Debug)]
pub struct Untrusted<'a>(pub &'a str);

enum Piece {
    Plain(char),
    Short(&'static str),
    Code(char),
}

impl Piece {
    fn of(c: char) -> Piece {
        match c {
            '\\' => Piece::Short(r"\\"),
            '\n' => Piece::Short(r"\n"),
            '\r' => Piece::Short(r"\r"),
            '\t' => Piece::Short(r"\t"),
            // Whitespace too: in the text format fields are space-separated, so a space
            // would let a value forge a `key=value` of its own.
            c if c.is_control() || c.is_whitespace() || is_deceptive(c) => Piece::Code(c),
            c => Piece::Plain(c),
        }
    }

    fn len(&self) -> usize {
        match self {
            Piece::Plain(c) => c.len_utf8(),
            Piece::Short(s) => s.len(),
            // `\u{` + hex digits + `}`
            Piece::Code(c) => 4 + hex_digits(u32::from(*c)),
        }
    }

    fn write(&self, f: &mut impl Write) -> fmt::Result {
        match self {
            Piece::Plain(c) => f.write_char(*c),
            Piece::Short(s) => f.write_str(s),
            Piece::Code(c) => write!(f, "\\u{{{:x}}}", u32::from(*c)),
        }
    }
}

/// Characters that are not `Cc` but can still forge or reorder what a reader sees.
fn is_deceptive(c: char) -> bool {
    matches!(c,
        '\u{061c}' | '\u{200e}' | '\u{200f}' | '\u{2028}' | '\u{2029}'
        | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}')
}

fn hex_digits(v: u32) -> usize {
    let bits = 32 - v.leading_zeros() as usize;
    bits.div_ceil(4).max(1)
}

impl Untrusted<'_> {
    /// How many bytes of the value fit within [`MAX`] once escaped: `(input bytes, output
    /// bytes)`; the input length is the whole value when it fits.
    fn fit(&self) -> (usize, usize) {
        let mut out = 0;
        for (i, c) in self.0.char_indices() {
            let n = Piece::of(c).len();
            if out + n > MAX {
                return (i, out);
            }
            out += n;
        }
        (self.0.len(), out)
    }

    /// Bytes this value takes in a log line, marker included.
    pub fn len(&self) -> usize {
        let (taken, out) = self.fit();
        match self.0.len() - taken {
            0 => out,
            rest => out + marker_len(rest),
        }
    }

    /// Whether the value is empty.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

fn marker_len(rest: usize) -> usize {
    // "...(+" + digits + " bytes)"
    5 + rest.to_string().len() + 7
}

impl fmt::Display for Untrusted<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (taken, _) = self.fit();
        for c in self.0[..taken].chars() {
            Piece::of(c).write(f)?;
        }
        match self.0.len() - taken {
            0 => Ok(()),
            rest => write!(f, "...(+{rest} bytes)"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn show(s: &str) -> String {
        let shown = Untrusted(s).to_string();
        assert_eq!(
            shown.len(),
            Untrusted(s).len(),
            "len() agrees with the output"
        );
        shown
    }

    #[test]
    fn control_characters_become_visible_escapes() {
        assert_eq!(
            show("a\nb\r\tc\x1b[31m\0\x7f"),
            r"a\nb\r\tc\u{1b}[31m\u{0}\u{7f}"
        );
        assert_eq!(
            show("x\u{85}y\u{2028}z\u{202e}"),
            r"x\u{85}y\u{2028}z\u{202e}"
        );
        assert_eq!(
            show(r"a\nb"),
            r"a\\nb",
            "a literal backslash cannot fake an escape"
        );
        assert_eq!(show("ünïcødé🙂1.2.3.4"), "ünïcødé🙂1.2.3.4");
        assert_eq!(
            show("1.2.3.4 reason=allow\u{a0}x"),
            r"1.2.3.4\u{20}reason=allow\u{a0}x",
            "no value can add a field of its own"
        );
    }

    #[test]
    fn exactly_max_bytes_is_kept_whole_and_one_more_is_cut_with_a_marker() {
        let max = "a".repeat(MAX);
        assert_eq!(show(&max), max);
        let over = "a".repeat(MAX + 1);
        assert_eq!(show(&over), format!("{max}...(+1 bytes)"));
        let huge = "b".repeat(1 << 20);
        let shown = show(&huge);
        assert!(shown.starts_with(&"b".repeat(MAX)));
        assert!(shown.ends_with(&format!("...(+{} bytes)", (1 << 20) - MAX)));
        assert_eq!(shown.len(), MAX + "...(+1048320 bytes)".len());
    }

    #[test]
    fn a_cut_never_splits_a_character_or_an_escape() {
        // 255 bytes then a 2-byte character: it does not fit, and is left out whole.
        let s = format!("{}é", "a".repeat(MAX - 1));
        assert_eq!(show(&s), format!("{}...(+2 bytes)", "a".repeat(MAX - 1)));
        // 254 bytes then an escape of 6: cut before the escape.
        let s = format!("{}\x1bzz", "a".repeat(MAX - 2));
        assert_eq!(show(&s), format!("{}...(+3 bytes)", "a".repeat(MAX - 2)));
        // Escapes count as what they print: 128 newlines fill the budget exactly.
        let s = "\n".repeat(MAX / 2);
        assert_eq!(show(&s), r"\n".repeat(MAX / 2));
        let s = "\n".repeat(MAX / 2 + 1);
        assert_eq!(show(&s), format!(r"{}...(+1 bytes)", r"\n".repeat(MAX / 2)));
    }
}
