//! Characters people cannot see but programs read: the one classifier behind every place
//! agent or people text is shown ([`visible`]), written into an editor ([`escape_json`]),
//! accepted as a name ([`has_visible`]) or compared for meaning (the do-not-retry hash).
//!
//! The set is Unicode's Default_Ignorable_Code_Point ∪ General_Category Cf, Zl, Zp and Cc,
//! plus fillers that render as blank without being default-ignorable (U+2800 BRAILLE
//! PATTERN BLANK). It is a range table here rather than Unicode data at run time, because
//! this module is also compiled for the browser; a server-side test walks every code point
//! and compares the table with the Unicode property data, so it cannot drift unnoticed.

use serde::{Deserialize, Serialize};

/// Why a character is marked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Class {
    /// Text-direction controls (Bidi_Control): can make text read in another order.
    Bidi,
    /// Zero-width spaces, joiners and the byte-order mark: split or join words unseen.
    ZeroWidth,
    /// Tag characters (U+E0000 block): text a downstream model reads and people do not see.
    Tag,
    /// Variation selectors: change which glyph is drawn, or nothing at all.
    VariationSelector,
    /// Characters that draw as blank space without being spaces (Hangul fillers, the blank
    /// braille pattern, Khmer inherent vowels).
    Filler,
    /// U+2028 LINE SEPARATOR and U+2029 PARAGRAPH SEPARATOR.
    LineSeparator,
    /// Every other format character or default-ignorable code point.
    Format,
    /// C0 and C1 control characters.
    Control,
}

use Class::*;

/// Sorted, non-overlapping inclusive ranges. Checked against Unicode data by
/// `tests::table_matches_unicode_data`.
const TABLE: &[(u32, u32, Class)] = &[
    (0x0000, 0x001F, Control),
    (0x007F, 0x009F, Control),
    (0x00AD, 0x00AD, Format),
    (0x034F, 0x034F, Format),
    (0x0600, 0x0605, Format),
    (0x061C, 0x061C, Bidi),
    (0x06DD, 0x06DD, Format),
    (0x070F, 0x070F, Format),
    (0x0890, 0x0891, Format),
    (0x08E2, 0x08E2, Format),
    (0x115F, 0x1160, Filler),
    (0x17B4, 0x17B5, Filler),
    (0x180B, 0x180D, VariationSelector),
    (0x180E, 0x180E, Format),
    (0x180F, 0x180F, VariationSelector),
    (0x200B, 0x200D, ZeroWidth),
    (0x200E, 0x200F, Bidi),
    (0x2028, 0x2029, LineSeparator),
    (0x202A, 0x202E, Bidi),
    (0x2060, 0x2060, ZeroWidth),
    (0x2061, 0x2065, Format),
    (0x2066, 0x2069, Bidi),
    (0x206A, 0x206F, Format),
    (0x2800, 0x2800, Filler),
    (0x3164, 0x3164, Filler),
    (0xFE00, 0xFE0F, VariationSelector),
    (0xFEFF, 0xFEFF, ZeroWidth),
    (0xFFA0, 0xFFA0, Filler),
    (0xFFF0, 0xFFFB, Format),
    (0x110BD, 0x110BD, Format),
    (0x110CD, 0x110CD, Format),
    (0x13430, 0x1343F, Format),
    (0x1BCA0, 0x1BCA3, Format),
    (0x1D173, 0x1D17A, Format),
    (0xE0000, 0xE007F, Tag),
    (0xE0080, 0xE00FF, Format),
    (0xE0100, 0xE01EF, VariationSelector),
    (0xE01F0, 0xE0FFF, Format),
];

/// Whether and why `c` is a character to mark. Tab, line feed and carriage return are
/// [`Class::Control`] too; text that allows line breaks lets them through itself.
pub fn classify(c: char) -> Option<Class> {
    let cp = c as u32;
    // Most text is printable ASCII: answer it without a search.
    if (0x20..0x7F).contains(&cp) {
        return None;
    }
    TABLE
        .binary_search_by(|&(lo, hi, _)| {
            if hi < cp {
                std::cmp::Ordering::Less
            } else if lo > cp {
                std::cmp::Ordering::Greater
            } else {
                std::cmp::Ordering::Equal
            }
        })
        .ok()
        .map(|i| TABLE[i].2)
}

/// Whether `c` is marked when shown: classified, except the line breaks and tabs that
/// multi-line text keeps.
pub fn is_marked(c: char) -> bool {
    !matches!(c, '\t' | '\n' | '\r') && classify(c).is_some()
}

/// `s` with every marked character written as `⟨U+202E⟩`, so what people read is what is
/// there. Line breaks and tabs are kept.
pub fn visible(s: &str) -> String {
    if !s.chars().any(is_marked) {
        return s.to_string();
    }
    let mut out = String::with_capacity(s.len() + 16);
    for c in s.chars() {
        if is_marked(c) {
            out.push_str(&format!("⟨U+{:04X}⟩", c as u32));
        } else {
            out.push(c);
        }
    }
    out
}

/// Whether a name has something people can see: a character that is neither whitespace nor
/// classified. A name of only `ㅤ` (U+3164) or zero-width spaces has not.
pub fn has_visible(s: &str) -> bool {
    s.chars()
        .any(|c| !c.is_whitespace() && classify(c).is_none())
}

/// `value` as pretty JSON for an editor, every classified character inside a string
/// written as a `\uXXXX` escape (a surrogate pair beyond the BMP): it parses back to
/// exactly the same value, and nothing in it is invisible.
pub fn escape_json(value: &serde_json::Value) -> String {
    let json = serde_json::to_string_pretty(value).unwrap_or_default();
    // Outside strings pretty JSON has only spaces and line feeds, and serde_json already
    // escapes controls inside strings, so each marked character here is inside a string.
    if !json.chars().any(is_marked) {
        return json;
    }
    let mut out = String::with_capacity(json.len() + 32);
    for c in json.chars() {
        if is_marked(c) {
            let mut units = [0u16; 2];
            for unit in c.encode_utf16(&mut units) {
                out.push_str(&format!("\\u{:04X}", unit));
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// Every character of `s` that is not classified (line breaks and tabs kept): what text
/// means to a reader, for comparing two spellings.
pub fn strip(s: &str) -> String {
    s.chars().filter(|&c| !is_marked(c)).collect()
}

/// The classified ranges as a regular-expression character-class body (escapes as
/// [`escape`] writes them), without tab, line feed and carriage return: for patterns in the
/// API document that must agree with [`has_visible`].
pub fn class_ranges() -> String {
    let mut out = String::new();
    for &(lo, hi, _) in TABLE {
        out.push_str(&escape(lo));
        if lo != hi {
            out.push('-');
            out.push_str(&escape(hi));
        }
    }
    out
}

/// A code point as a pattern escape that Rust's `regex`, Python's `re` (what the API
/// fuzzer builds values from) and ECMAScript (for the Basic Multilingual Plane) all read:
/// `\u200B`, or `\U000E0041` beyond it.
pub fn escape(c: u32) -> String {
    if c <= 0xFFFF {
        format!("\\u{c:04X}")
    } else {
        format!("\\U{c:08X}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_is_sorted_and_disjoint() {
        for pair in TABLE.windows(2) {
            assert!(pair[0].0 <= pair[0].1 && pair[0].1 < pair[1].0, "{pair:?}");
        }
    }

    /// Every code point: classified exactly when Unicode says it is default-ignorable, a
    /// format, line or paragraph separator or control character (or a known filler), and
    /// the bidi and variation-selector classes exactly Unicode's properties of those names.
    #[cfg(feature = "ssr")]
    #[test]
    fn table_matches_unicode_data() {
        use icu_properties::props::{
            BidiControl, DefaultIgnorableCodePoint, GeneralCategory, VariationSelector,
        };
        use icu_properties::{CodePointMapData, CodePointSetData};
        let ignorable = CodePointSetData::new::<DefaultIgnorableCodePoint>();
        let bidi = CodePointSetData::new::<BidiControl>();
        let selector = CodePointSetData::new::<VariationSelector>();
        let category = CodePointMapData::<GeneralCategory>::new();
        const FILLERS: &[char] = &['\u{2800}'];
        let mut wrong = Vec::new();
        for c in (0..=0x10FFFFu32).filter_map(char::from_u32) {
            let gc = category.get(c);
            let want = ignorable.contains(c)
                || matches!(
                    gc,
                    GeneralCategory::Format
                        | GeneralCategory::LineSeparator
                        | GeneralCategory::ParagraphSeparator
                        | GeneralCategory::Control
                )
                || FILLERS.contains(&c);
            let got = classify(c);
            if got.is_some() != want
                || (got == Some(Bidi)) != bidi.contains(c)
                || (got == Some(VariationSelector)) != selector.contains(c)
                || (got == Some(Control)) != (gc == GeneralCategory::Control)
                || (got == Some(LineSeparator))
                    != matches!(
                        gc,
                        GeneralCategory::LineSeparator | GeneralCategory::ParagraphSeparator
                    )
                || (got == Some(Tag)) != (0xE0000..=0xE007F).contains(&(c as u32))
            {
                wrong.push(format!("U+{:04X} {got:?} {gc:?}", c as u32));
            }
        }
        assert!(wrong.is_empty(), "{} wrong: {:?}", wrong.len(), wrong);
    }

    #[test]
    fn classes() {
        let cases = [
            ('a', None),
            ('é', None),
            (' ', None),
            ('\u{202E}', Some(Bidi)),
            ('\u{061C}', Some(Bidi)),
            ('\u{200B}', Some(ZeroWidth)),
            ('\u{FEFF}', Some(ZeroWidth)),
            ('\u{E0041}', Some(Tag)),
            ('\u{FE0F}', Some(VariationSelector)),
            ('\u{E0100}', Some(VariationSelector)),
            ('\u{3164}', Some(Filler)),
            ('\u{FFA0}', Some(Filler)),
            ('\u{2800}', Some(Filler)),
            ('\u{2028}', Some(LineSeparator)),
            ('\u{2029}', Some(LineSeparator)),
            ('\u{00AD}', Some(Format)),
            ('\u{2062}', Some(Format)),
            ('\u{0007}', Some(Control)),
            ('\u{0085}', Some(Control)),
            ('\n', Some(Control)),
        ];
        for (c, want) in cases {
            assert_eq!(classify(c), want, "U+{:04X}", c as u32);
        }
    }

    #[test]
    fn marked_when_shown() {
        let cases = [
            ("plain", "plain"),
            ("evil\u{202E}gnp.exe", "evil⟨U+202E⟩gnp.exe"),
            ("a\u{200B}b", "a⟨U+200B⟩b"),
            ("hi\u{E0041}\u{E0042}", "hi⟨U+E0041⟩⟨U+E0042⟩"),
            ("\u{3164}", "⟨U+3164⟩"),
            ("a\u{2028}b", "a⟨U+2028⟩b"),
            ("x\u{FE0F}", "x⟨U+FE0F⟩"),
            ("two\nlines\tand a tab", "two\nlines\tand a tab"),
            ("bell\u{7}", "bell⟨U+0007⟩"),
            ("ünïcödé ok", "ünïcödé ok"),
        ];
        for (input, want) in cases {
            assert_eq!(visible(input), want, "{input:?}");
        }
    }

    #[test]
    fn names_need_a_visible_character() {
        let cases = [
            ("deploy", true),
            ("\u{3164}", false),
            ("\u{115F}\u{1160}", false),
            (" \u{200B}\u{E0041} ", false),
            ("\u{2800}", false),
            ("\u{00A0}\u{3000}", false),
            ("", false),
            ("ㅤx", true),
        ];
        for (name, want) in cases {
            assert_eq!(has_visible(name), want, "{name:?}");
        }
    }

    #[test]
    fn editor_json_round_trips_and_shows_every_class() {
        let value = serde_json::json!({
            "k\u{200B}ey": "a\u{202E}b\u{E0041}c\u{FE0F}d\u{3164}e\u{2028}f\u{00AD}g\u{7}h\nline",
            "plain": [1, 2.5, "é"],
        });
        let text = escape_json(&value);
        assert!(!text.chars().any(is_marked), "{text}");
        for escape in [
            "\\u200B",
            "\\u202E",
            "\\uDB40\\uDC41",
            "\\uFE0F",
            "\\u3164",
            "\\u2028",
            "\\u00AD",
        ] {
            assert!(text.contains(escape), "{escape} in {text}");
        }
        let back: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(back, value);
        assert_eq!(
            escape_json(&serde_json::json!({"a": "b"})),
            serde_json::to_string_pretty(&serde_json::json!({"a": "b"})).unwrap()
        );
    }

    #[test]
    fn stripping() {
        assert_eq!(strip("a\u{200B}b\u{E0041}\nc"), "ab\nc");
    }
}
