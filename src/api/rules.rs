//! Value rules shared by both API surfaces, as Nova's `parameter_types` defines them.

use unicode_general_category::{get_general_category, GeneralCategory as G};

/// Nova's "printable": the category is not C*, and if Z* it is Zs; only U+0000–U+FFFE count
/// (Nova builds its ranges from `range(0xFFFF)`), so astral characters are not printable.
pub fn printable(c: char) -> bool {
    if (c as u32) >= 0xFFFF {
        return false;
    }
    !matches!(
        get_general_category(c),
        G::Control
            | G::Format
            | G::Unassigned
            | G::PrivateUse
            | G::Surrogate
            | G::LineSeparator
            | G::ParagraphSeparator
    )
}

/// A printable character that is not a space separator (Zs).
fn solid(c: char) -> bool {
    printable(c) && get_general_category(c) != G::SpaceSeparator
}

/// `parameter_types.name`'s format: all printable, first and last not whitespace.
pub fn valid_name(s: &str) -> bool {
    s.chars().all(printable)
        && s.chars().next().is_none_or(solid)
        && s.chars().last().is_none_or(solid)
}

/// `name_with_leading_trailing_spaces`: all printable, at least one non-space.
pub fn valid_name_with_spaces(s: &str) -> bool {
    s.chars().all(printable) && s.chars().any(solid)
}

/// `az_name`: like a name, and no `:`.
pub fn valid_az(s: &str) -> bool {
    valid_name(s) && !s.contains(':')
}

/// Length as JSON Schema counts it (code points).
pub fn len(s: &str) -> usize {
    s.chars().count()
}

/// `fqdn` pattern `^[a-zA-Z0-9-._]*$`.
pub fn fqdn_chars(s: &str) -> bool {
    s.bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'_'))
}

/// Metadata key pattern `^[a-zA-Z0-9-_:. ]{1,255}$`.
pub fn valid_metadata_key(s: &str) -> bool {
    (1..=255).contains(&s.len())
        && s.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b':' | b'.' | b' '))
}

/// Python's `str.strip()` (Unicode whitespace).
pub fn py_strip(s: &str) -> &str {
    s.trim_matches(char::is_whitespace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_nova() {
        assert!(valid_name("in ner") && valid_name("\u{e9}t\u{e9}-\u{4e2d}"));
        for bad in [
            " lead",
            "trail ",
            "a\u{1}b",
            "a\u{200b}",
            "\u{a0}x",
            "x\u{1f600}",
            "a\tb",
        ] {
            assert!(!valid_name(bad), "{bad:?}");
        }
        assert!(valid_name_with_spaces("  agg1-sp  ") && !valid_name_with_spaces("   "));
        assert!(!valid_az("a:b") && valid_az("az 1"));
        assert!(fqdn_chars("compute-1.example_x") && !fqdn_chars("bad host"));
        assert!(valid_metadata_key("a-b_c:d.e f") && !valid_metadata_key("a/b"));
        assert!(!valid_metadata_key(""));
    }
}
