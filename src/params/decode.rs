//! From the wire to text: strict percent-decoding, and the control-character check.

use std::borrow::Cow;

use percent_encoding::percent_decode_str;

use super::error::ParamError;
use super::name::Param;

/// Decodes a name or value: `+` is a space, `%XX` a byte; strict about both escapes and UTF-8.
/// Borrows `raw` when there is nothing to decode.
pub(super) fn decode(raw: &str, param: Option<Param>) -> Result<Cow<'_, str>, ParamError> {
    let bytes = raw.as_bytes();
    let (mut escapes, mut plus) = (false, false);
    let mut i = 0;
    while let Some(&b) = bytes.get(i) {
        match b {
            b'%' => {
                let hex = |j: usize| bytes.get(j).is_some_and(u8::is_ascii_hexdigit);
                if !(hex(i + 1) && hex(i + 2)) {
                    // percent_decode passes bad escapes through as text; a gateway must not.
                    return Err(ParamError::InvalidEscape { param });
                }
                escapes = true;
                i += 3;
            }
            b'+' => {
                plus = true;
                i += 1;
            }
            _ => i += 1,
        }
    }
    let utf8 = |_| ParamError::InvalidUtf8 { param };
    match (escapes, plus) {
        (false, false) => Ok(Cow::Borrowed(raw)),
        (false, true) => Ok(Cow::Owned(raw.replace('+', " "))),
        (true, false) => percent_decode_str(raw).decode_utf8().map_err(utf8),
        // '+' first: an escaped plus (%2B) must stay a plus.
        (true, true) => percent_decode_str(&raw.replace('+', " "))
            .decode_utf8()
            .map(|s| Cow::Owned(s.into_owned()))
            .map_err(utf8),
    }
}

/// Whether `s` holds a control character (Unicode `Cc`: C0, DEL, C1).
pub(super) fn has_control(s: &str) -> bool {
    // C0 and DEL are single bytes; C1 characters are encoded as 0xC2 0x80..=0x9F. Only look at
    // chars when a byte says one might be there.
    s.bytes().any(|b| b < 0x20 || b == 0x7f || b == 0xc2) && s.chars().any(char::is_control)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decoding() {
        let table: [(&str, Result<&str, &str>); 14] = [
            ("a,b", Ok("a,b")),
            ("", Ok("")),
            ("a+b", Ok("a b")),
            ("a%2Bb", Ok("a+b")),
            ("a+b%2B", Ok("a b+")),
            ("%41%62", Ok("Ab")),
            ("caf%C3%A9", Ok("café")),
            ("caf%c3%a9", Ok("café")),
            ("%25", Ok("%")),
            ("%2541", Ok("%41")),
            ("100%", Err("malformed_query")),
            ("%4", Err("malformed_query")),
            ("%g0", Err("malformed_query")),
            ("%C3%28", Err("malformed_query")),
        ];
        for (raw, want) in table {
            let got = decode(raw, Some(Param::Keywords));
            let got = got.as_deref().map_err(|e| e.code());
            assert_eq!(got, want, "{raw:?}");
        }
        let bad_utf8 = decode("%FF", Some(Param::Keywords)).unwrap_err();
        assert_eq!(
            bad_utf8,
            ParamError::InvalidUtf8 {
                param: Some(Param::Keywords)
            }
        );
        let bad_escape = decode("%", None).unwrap_err();
        assert_eq!(bad_escape, ParamError::InvalidEscape { param: None });
    }

    #[test]
    fn decode_borrows_when_it_can() {
        assert!(matches!(decode("a,b", None), Ok(Cow::Borrowed("a,b"))));
        assert!(matches!(decode("%41", None), Ok(Cow::Owned(_))));
    }

    #[test]
    fn control_characters() {
        let table = [
            ("plain text", false),
            ("café ∑ \u{a0} \u{a9}", false),
            ("\u{200e}", false),
            ("a\0b", true),
            ("\t", true),
            ("\r\n", true),
            ("\u{1b}[31m", true),
            ("\u{7f}", true),
            ("\u{80}", true),
            ("\u{85}", true),
            ("\u{9f}", true),
        ];
        for (s, want) in table {
            assert_eq!(has_control(s), want, "{s:?}");
        }
    }
}
