//! Customer ids: every common way of writing a GUID, one wrapping at most,
//! and a reason fit for the report when a cell is not one.

use uuid::Uuid;

use super::records::trim_cell;

/// Parse one customer id in any common GUID form and return it, or a reason
/// fit for the report's `error` column.
///
/// Accepted: any case, hyphenated or 32-hex simple form, `{braced}`,
/// `(parenthesised)`, `urn:uuid:`, with surrounding whitespace (including the
/// non-breaking and zero-width spaces spreadsheets leave behind). Exactly
/// one wrapping: `{{…}}`, `({…})` or `urn:uuid:{…}` is no form anyone
/// exports, more likely a mangled cell than an id.
pub fn parse_guid(text: &str) -> Result<Uuid, String> {
    let trimmed = trim_cell(text);
    if trimmed.is_empty() {
        return Err("empty customer id".to_owned());
    }
    let core = strip_guid_wrapping(trimmed);
    match bare_guid(core) {
        Some(id) if id.is_nil() => Err("nil GUID is not a customer id".to_owned()),
        Some(id) => Ok(id),
        None if bare_guid(strip_guid_wrapping(core)).is_some() => Err(format!(
            "not a GUID: `{}` (wrapped twice; one of {{…}}, (…) or urn:uuid: is accepted)",
            shorten(trimmed)
        )),
        None => Err(format!(
            "not a GUID: `{}` ({})",
            shorten(trimmed),
            guid_problem(core)
        )),
    }
}

/// [`parse_guid`] without building an error message, for scanning whole
/// columns.
pub(super) fn guid_of(text: &str) -> Option<Uuid> {
    bare_guid(strip_guid_wrapping(trim_cell(text))).filter(|id| !id.is_nil())
}

/// A GUID in hyphenated or simple form only: `uuid` would also take the
/// braced and `urn:uuid:` forms, which would let a second wrapping through
/// after [`strip_guid_wrapping`] removed the first.
fn bare_guid(core: &str) -> Option<Uuid> {
    if core.chars().all(|c| c.is_ascii_hexdigit() || c == '-') {
        Uuid::try_parse(core).ok()
    } else {
        None
    }
}

/// Remove one wrapping (`urn:uuid:`, `{…}` or `(…)`) and the padding inside it.
fn strip_guid_wrapping(text: &str) -> &str {
    const URN: &str = "urn:uuid:";
    if let Some(prefix) = text.get(..URN.len())
        && prefix.eq_ignore_ascii_case(URN)
    {
        return trim_cell(&text[URN.len()..]);
    }
    let unwrapped = [('{', '}'), ('(', ')')]
        .iter()
        .find_map(|&(open, close)| text.strip_prefix(open)?.strip_suffix(close));
    trim_cell(unwrapped.unwrap_or(text))
}

/// Say what is wrong with something that is not a GUID, so the user can find
/// the typo (a lost digit, an `O` for a `0`) without counting characters.
fn guid_problem(core: &str) -> String {
    const EXPECTED: &str = "expected 32 hex digits such as 8-4-4-4-12";
    if let Some(c) = core.chars().find(|c| !c.is_ascii_hexdigit() && *c != '-') {
        return format!("`{}` is not a hex digit; {EXPECTED}", c.escape_default());
    }
    match core.chars().filter(char::is_ascii_hexdigit).count() {
        32 => format!("hyphens in the wrong places; {EXPECTED}"),
        n => format!("{n} hex digits; {EXPECTED}"),
    }
}

/// Quote user text in a one-line message: long cells (a whole note pasted
/// into the id column) are cut, control characters are escaped.
pub(super) fn shorten(text: &str) -> String {
    const MAX_CHARS: usize = 60;
    let mut out = String::new();
    for (i, c) in text.chars().enumerate() {
        if i == MAX_CHARS {
            out.push('…');
            break;
        }
        if c.is_control() {
            out.extend(c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn guid_forms() {
        let canonical = "97ca2b55-839e-4579-98d4-39599a228c98";
        for form in [
            "97ca2b55-839e-4579-98d4-39599a228c98",
            "97CA2B55-839E-4579-98D4-39599A228C98",
            "{97ca2b55-839e-4579-98d4-39599a228c98}",
            "(97CA2B55-839E-4579-98D4-39599A228C98)",
            "97ca2b55839e457998d439599a228c98",
            "urn:uuid:97ca2b55-839e-4579-98d4-39599a228c98",
            "URN:UUID:97CA2B55-839E-4579-98D4-39599A228C98",
            "  97ca2b55-839e-4579-98d4-39599a228c98\t",
            "\u{a0}{97ca2b55-839e-4579-98d4-39599a228c98}\u{200b}",
            "\u{feff}97ca2b55-839e-4579-98d4-39599a228c98\u{2060}",
            "{ 97ca2b55-839e-4579-98d4-39599a228c98 }",
        ] {
            assert_eq!(
                parse_guid(form).map(|id| id.to_string()),
                Ok(canonical.to_owned()),
                "{form:?}"
            );
        }
        for (bad, reason) in [
            ("", "empty customer id"),
            (" \u{a0} ", "empty customer id"),
            (
                "{00000000-0000-0000-0000-000000000000}",
                "nil GUID is not a customer id",
            ),
            (
                "abc",
                "not a GUID: `abc` (3 hex digits; expected 32 hex digits such as 8-4-4-4-12)",
            ),
            (
                "{97ca2b55-839e-4579-98d4-39599a228c98",
                "not a GUID: `{97ca2b55-839e-4579-98d4-39599a228c98` (`{` is not a hex digit; expected 32 hex digits such as 8-4-4-4-12)",
            ),
            (
                "a\nb",
                "not a GUID: `a\\nb` (`\\n` is not a hex digit; expected 32 hex digits such as 8-4-4-4-12)",
            ),
        ] {
            assert_eq!(parse_guid(bad), Err(reason.to_owned()), "{bad:?}");
        }
        let long = "x".repeat(500);
        assert!(parse_guid(&long).unwrap_err().chars().count() < 150);
        // Exactly one wrapping.
        for twice in [
            "{{97ca2b55-839e-4579-98d4-39599a228c98}}",
            "({97ca2b55-839e-4579-98d4-39599a228c98})",
            "{(97ca2b55-839e-4579-98d4-39599a228c98)}",
            "urn:uuid:{97ca2b55-839e-4579-98d4-39599a228c98}",
            "{urn:uuid:97ca2b55-839e-4579-98d4-39599a228c98}",
            "urn:uuid:urn:uuid:97ca2b55-839e-4579-98d4-39599a228c98",
            "{ {97ca2b55-839e-4579-98d4-39599a228c98} }",
        ] {
            let e = parse_guid(twice).unwrap_err();
            assert!(e.contains("wrapped twice"), "{twice}: {e}");
        }
        assert!(parse_guid("{{97ca2b55-839e-4579-98d4-39599a228c98}").is_err());
        assert_eq!(guid_of("{{97ca2b55-839e-4579-98d4-39599a228c98}}"), None);
    }

    proptest! {
        #[test]
        fn one_wrapping_is_accepted_two_never(
            id in any::<u128>().prop_filter("not nil", |n| *n != 0),
            upper in any::<bool>(),
            simple in any::<bool>(),
            first in 0usize..4,
            second in 1usize..4,
        ) {
            let id = Uuid::from_u128(id);
            let text = if simple { id.simple().to_string() } else { id.to_string() };
            let text = if upper { text.to_uppercase() } else { text };
            let wrap = |kind: usize, t: &str| match kind {
                0 => t.to_string(),
                1 => format!("{{{t}}}"),
                2 => format!("({t})"),
                _ => format!("urn:uuid:{t}"),
            };
            let once = wrap(first, &text);
            prop_assert_eq!(parse_guid(&once), Ok(id));
            if first > 0 {
                let twice = wrap(second, &once);
                prop_assert!(parse_guid(&twice).is_err(), "{} accepted", twice);
                prop_assert_eq!(guid_of(&twice), None);
            }
        }
    }
}
