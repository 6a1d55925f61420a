//! Bytes to text, and which encoding they were in.
//!
//! Excel writes the customer list in whatever the machine's locale says:
//! UTF-8 with a BOM, "Unicode text" (UTF-16LE with a BOM), or the plain
//! "CSV" export in the Windows code page (1252 in Western Europe, 1250 in
//! Poland, Shift_JIS in Japan). A BOM is unambiguous; UTF-16 shows itself by
//! its zero bytes; valid UTF-8 is UTF-8; anything else is taken as
//! Windows-1252 unless `--encoding` names the code page, because no code page
//! can be told from another by its bytes alone.

use std::borrow::Cow;

use encoding_rs::{Encoding, REPLACEMENT, UTF_8, UTF_16BE, UTF_16LE, WINDOWS_1252};

/// Code units looked at to recognise UTF-16 without a BOM: enough lines of
/// ids to be sure, little enough to cost nothing on a large file.
const UTF16_SNIFF_UNITS: usize = 1024;

/// `--encoding LABEL`: any WHATWG label (`utf-8`, `windows-1250`, `cp1250`,
/// `shift_jis`, `sjis`, `utf-16le`, `latin2`, …), in any case.
pub fn parse_encoding(label: &str) -> Result<&'static Encoding, String> {
    match Encoding::for_label(label.as_bytes()) {
        // The labels of ISO-2022-KR, HZ and the like map to an encoding that
        // decodes every input to a single U+FFFD: no customer would survive.
        Some(encoding) if encoding == REPLACEMENT => Err(format!(
            "`{label}` is an encoding browsers refuse to decode (it is read as nothing); \
             save the file as UTF-8 instead"
        )),
        Some(encoding) => Ok(encoding),
        None => Err(format!(
            "`{label}` is not an encoding label; give a WHATWG label such as \
             utf-8, utf-16le, windows-1250, windows-1252 or shift_jis"
        )),
    }
}

/// Decode the raw bytes to text and return the encoding used.
///
/// A BOM decides, even over `forced` (it cannot be there by accident, and a
/// wrong `--encoding` in a config file should not garble a file re-saved as
/// UTF-8). Without one, `forced` decides; without that, [`guess`].
/// Malformed sequences become U+FFFD rather than an error: the row with the
/// broken name is still worth looking up.
/// Valid UTF-8 is borrowed, not copied (a large input is held once).
pub(super) fn decode<'a>(
    bytes: &'a [u8],
    forced: Option<&'static Encoding>,
) -> (Cow<'a, str>, &'static Encoding) {
    let (encoding, body) = match Encoding::for_bom(bytes) {
        Some((encoding, bom_len)) => (encoding, &bytes[bom_len..]),
        None => (forced.unwrap_or_else(|| guess(bytes)), bytes),
    };
    // A BOM left at the start (a file re-saved with a second one) would be
    // swallowed by `csv` and shift the byte offsets the line numbers rely on.
    let text = match encoding.decode_without_bom_handling(body).0 {
        Cow::Borrowed(text) => Cow::Borrowed(text.trim_start_matches('\u{FEFF}')),
        Cow::Owned(mut text) => {
            let extra_boms = text.len() - text.trim_start_matches('\u{FEFF}').len();
            text.drain(..extra_boms);
            Cow::Owned(text)
        }
    };
    (text, encoding)
}

/// The encoding of a file without a BOM or `--encoding`: UTF-16 if its zero
/// bytes say so, else UTF-8 if valid, else Windows-1252 (every byte decodes,
/// so a legacy file still works instead of failing outright).
fn guess(bytes: &[u8]) -> &'static Encoding {
    if let Some(utf16) = utf16_without_bom(bytes) {
        utf16
    } else if std::str::from_utf8(bytes).is_ok() {
        UTF_8
    } else {
        WINDOWS_1252
    }
}

/// UTF-16 without a BOM, recognised by its zero bytes. The ids, delimiters
/// and line breaks of a customer list are ASCII, so in UTF-16 at least every
/// few code units has a zero high byte, always on the same side; text in any
/// other encoding holds no zero bytes at all. Checked before UTF-8, which a
/// mostly-ASCII UTF-16 file would pass (NUL is valid UTF-8).
fn utf16_without_bom(bytes: &[u8]) -> Option<&'static Encoding> {
    let (mut units, mut low_first, mut high_first) = (0usize, 0usize, 0usize);
    for pair in bytes.chunks_exact(2).take(UTF16_SNIFF_UNITS) {
        units += 1;
        match *pair {
            [a, 0] if a != 0 => low_first += 1,
            [0, b] if b != 0 => high_first += 1,
            _ => {}
        }
    }
    // A quarter of the units read as ASCII in one byte order, and hardly any
    // in the other (CJK text has a few units such as U+4E00 with a zero low byte).
    let clear = |hits: usize, other: usize| hits > 0 && hits * 4 >= units && other * 16 <= hits;
    if clear(low_first, high_first) {
        Some(UTF_16LE)
    } else if clear(high_first, low_first) {
        Some(UTF_16BE)
    } else {
        None
    }
}

/// The encoding's WHATWG name in lower case (`utf-8`, `windows-1250`,
/// `shift_jis`): what `input.encoding` and `check` report. Lower case keeps
/// the names earlier versions wrote (`utf-8`, `utf-16le`), and every one of
/// them is also a label `--encoding` accepts.
pub(super) fn encoding_name(encoding: &'static Encoding) -> &'static str {
    match encoding.name() {
        "UTF-8" => "utf-8",
        "UTF-16LE" => "utf-16le",
        "UTF-16BE" => "utf-16be",
        "Shift_JIS" => "shift_jis",
        "EUC-JP" => "euc-jp",
        "ISO-2022-JP" => "iso-2022-jp",
        "EUC-KR" => "euc-kr",
        "Big5" => "big5",
        "GBK" => "gbk",
        "KOI8-R" => "koi8-r",
        "KOI8-U" => "koi8-u",
        "IBM866" => "ibm866",
        "ISO-8859-2" => "iso-8859-2",
        "ISO-8859-3" => "iso-8859-3",
        "ISO-8859-4" => "iso-8859-4",
        "ISO-8859-5" => "iso-8859-5",
        "ISO-8859-6" => "iso-8859-6",
        "ISO-8859-7" => "iso-8859-7",
        "ISO-8859-8" => "iso-8859-8",
        "ISO-8859-8-I" => "iso-8859-8-i",
        "ISO-8859-10" => "iso-8859-10",
        "ISO-8859-13" => "iso-8859-13",
        "ISO-8859-14" => "iso-8859-14",
        "ISO-8859-15" => "iso-8859-15",
        "ISO-8859-16" => "iso-8859-16",
        // Already lower case: windows-125x, gb18030, macintosh, x-mac-cyrillic, …
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use encoding_rs::{SHIFT_JIS, WINDOWS_1250};
    use proptest::prelude::*;

    fn utf16(text: &str, big_endian: bool, bom: bool) -> Vec<u8> {
        let bom = bom.then_some(0xFEFF_u16);
        bom.into_iter()
            .chain(text.encode_utf16())
            .flat_map(|u| {
                if big_endian {
                    u.to_be_bytes()
                } else {
                    u.to_le_bytes()
                }
            })
            .collect()
    }

    fn decoded(bytes: &[u8], forced: Option<&'static Encoding>) -> (String, &'static str) {
        let (text, encoding) = decode(bytes, forced);
        (text.into_owned(), encoding_name(encoding))
    }

    #[test]
    fn every_reported_name_is_lower_case_and_a_label_of_its_encoding() {
        for label in [
            "utf-8",
            "utf-16le",
            "utf-16be",
            "shift_jis",
            "euc-jp",
            "iso-2022-jp",
            "euc-kr",
            "big5",
            "gbk",
            "gb18030",
            "koi8-r",
            "koi8-u",
            "ibm866",
            "iso-8859-2",
            "iso-8859-8-i",
            "iso-8859-16",
            "windows-1250",
            "windows-1252",
            "windows-874",
            "macintosh",
            "x-mac-cyrillic",
        ] {
            let encoding = Encoding::for_label(label.as_bytes()).unwrap();
            let name = encoding_name(encoding);
            assert_eq!(name, name.to_ascii_lowercase());
            assert_eq!(
                Encoding::for_label(name.as_bytes()),
                Some(encoding),
                "{name}"
            );
        }
    }

    #[test]
    fn boms_are_read_and_removed() {
        assert_eq!(
            decoded(b"\xEF\xBB\xBFtenantId\n", None),
            ("tenantId\n".to_owned(), "utf-8")
        );
        // A second BOM (a file re-saved) is removed too.
        assert_eq!(
            decoded(b"\xEF\xBB\xBF\xEF\xBB\xBFtenantId\n", None),
            ("tenantId\n".to_owned(), "utf-8")
        );
        assert_eq!(decoded(b"\xEF\xBB\xBF", None), (String::new(), "utf-8"));
    }

    #[test]
    fn utf16_with_and_without_bom() {
        let text = "Kundnamn\tMicrosoft ID\r\nSkola Å 😀\t97ca2b55-839e-4579-98d4-39599a228c98\r\n";
        for (big_endian, name) in [(false, "utf-16le"), (true, "utf-16be")] {
            for bom in [true, false] {
                assert_eq!(
                    decoded(&utf16(text, big_endian, bom), None),
                    (text.to_owned(), name),
                    "bom {bom}"
                );
            }
        }
        // Japanese names beside the ids: still plainly UTF-16.
        let japanese =
            "顧客名,テナントID\r\n一二三株式会社,97ca2b55-839e-4579-98d4-39599a228c98\r\n";
        assert_eq!(
            decoded(&utf16(japanese, false, false), None),
            (japanese.to_owned(), "utf-16le")
        );
    }

    #[test]
    fn utf16_needs_clear_evidence() {
        assert_eq!(utf16_without_bom(b""), None);
        assert_eq!(utf16_without_bom(b"tenantId\n"), None);
        // Zero bytes on both sides: not text in any byte order.
        assert_eq!(utf16_without_bom(b"a\0\0ab\0\0b"), None);
        assert_eq!(utf16_without_bom(b"\0\0\0\0"), None);
    }

    #[test]
    fn invalid_utf8_falls_back_to_windows_1252() {
        let (text, name) = decoded(b"V\xe4xj\xf6 \x80 \x93AB\x94", None);
        assert_eq!(
            (text.as_str(), name),
            ("Växjö € \u{201C}AB\u{201D}", "windows-1252")
        );
        // The five bytes 1252 leaves undefined map to the C1 control of the
        // same value, as browsers do.
        let (text, _) = decoded(&[0x81, 0xFF, 0x41], None);
        assert_eq!(text, "\u{81}ÿA");
    }

    #[test]
    fn a_forced_encoding_decodes_what_no_guess_could() {
        let polish = WINDOWS_1250.encode("Łódzka 5, Kraków").0;
        assert_eq!(decoded(&polish, None).1, "windows-1252");
        assert_eq!(
            decoded(&polish, Some(WINDOWS_1250)),
            ("Łódzka 5, Kraków".to_owned(), "windows-1250")
        );
        let japanese = SHIFT_JIS.encode("顧客名,テナントID").0;
        assert_eq!(
            decoded(&japanese, Some(SHIFT_JIS)),
            ("顧客名,テナントID".to_owned(), "shift_jis")
        );
        // UTF-16 without a BOM when told so, even if it would not be detected.
        assert_eq!(
            decoded(&utf16("日本", false, false), Some(UTF_16LE)),
            ("日本".to_owned(), "utf-16le")
        );
        // Malformed bytes become U+FFFD, never an error.
        assert_eq!(decoded(b"a\xFFb", Some(UTF_8)).0, "a\u{FFFD}b");
    }

    #[test]
    fn a_bom_wins_over_the_forced_encoding() {
        assert_eq!(
            decoded("\u{FEFF}Łódź".as_bytes(), Some(WINDOWS_1250)),
            ("Łódź".to_owned(), "utf-8")
        );
        assert_eq!(
            decoded(&utf16("Łódź", true, true), Some(SHIFT_JIS)),
            ("Łódź".to_owned(), "utf-16be")
        );
    }

    #[test]
    fn labels() {
        for (label, name) in [
            ("utf-8", "UTF-8"),
            ("UTF8", "UTF-8"),
            (" cp1250 ", "windows-1250"),
            ("windows-1250", "windows-1250"),
            ("sjis", "Shift_JIS"),
            ("Shift_JIS", "Shift_JIS"),
            ("utf-16", "UTF-16LE"),
            ("utf-16be", "UTF-16BE"),
            ("latin1", "windows-1252"),
            ("latin2", "ISO-8859-2"),
        ] {
            assert_eq!(
                parse_encoding(label).map(Encoding::name),
                Ok(name),
                "{label}"
            );
        }
        let unknown = parse_encoding("klingon").unwrap_err();
        assert!(
            unknown.contains("`klingon` is not an encoding label"),
            "{unknown}"
        );
        let replacement = parse_encoding("iso-2022-kr").unwrap_err();
        assert!(replacement.contains("`iso-2022-kr`"), "{replacement}");
    }

    /// Encodings a customer list is plausibly saved in, each with text it
    /// can represent (a few common kanji: Shift_JIS lacks most of the rest).
    fn encoding_and_text() -> impl Strategy<Value = (&'static Encoding, String)> {
        prop_oneof![
            "\\PC{0,40}".prop_map(|text| (UTF_8, text)),
            "[ -~äöåÄÖÅéèüß€“”]{0,40}".prop_map(|text| (WINDOWS_1252, text)),
            "[ -~ŁłóÓźżćęąśńŚŻ]{0,40}".prop_map(|text| (WINDOWS_1250, text)),
            "[ -~あ-んア-ン日本語株式会社東京都大阪府顧客名学校]{0,40}"
                .prop_map(|text| (SHIFT_JIS, text)),
        ]
    }

    proptest! {
        /// Text encoded with `--encoding`'s encoding decodes back unchanged.
        #[test]
        fn forced_encodings_round_trip((encoding, text) in encoding_and_text()) {
            let (bytes, _, unmappable) = encoding.encode(&text);
            prop_assert!(!unmappable);
            let (back, used) = decode(&bytes, Some(encoding));
            prop_assert_eq!(used, encoding);
            prop_assert_eq!(&*back, text.as_str());
        }

        /// Without `--encoding`: UTF-8, and UTF-16 with a BOM or ids in it,
        /// come back as written and are named right.
        #[test]
        fn unicode_round_trips_without_a_label(
            text in "\\PC{0,40}",
            big_endian in any::<bool>(),
            bom in any::<bool>(),
        ) {
            let (back, used) = decode(text.as_bytes(), None);
            prop_assert_eq!((&*back, used), (text.as_str(), UTF_8));
            // A line of ids makes text recognisable as UTF-16 without a BOM,
            // unless the text is full of units with a zero byte (U+1800,
            // surrogates of U+10000…): a sniff can't tell those from the
            // other byte order, so they need a BOM or --encoding.
            let zero_byte_units = text
                .encode_utf16()
                .filter(|u| u.to_le_bytes().contains(&0))
                .count();
            prop_assume!(bom || zero_byte_units == 0);
            let line = format!("{text};97ca2b55-839e-4579-98d4-39599a228c98\r\n");
            let expected = if big_endian { UTF_16BE } else { UTF_16LE };
            let bytes = utf16(&line, big_endian, bom);
            let (back, used) = decode(&bytes, None);
            prop_assert_eq!((&*back, used), (line.as_str(), expected));
        }

        #[test]
        fn arbitrary_bytes_decode_under_any_encoding(
            bytes in prop::collection::vec(any::<u8>(), 0..200),
            label in prop::sample::select(vec!["utf-8", "utf-16le", "utf-16be", "shift_jis", "windows-1250", "gb18030", "iso-2022-jp"]),
        ) {
            let _ = decode(&bytes, Some(parse_encoding(label).unwrap()));
            let _ = decode(&bytes, None);
        }
    }
}
