//! Guessing the delimiter.

use std::cmp::Reverse;
use std::path::Path;

use super::guid::guid_of;
use super::layout::find_alias;
use super::records::{csv_reader, is_blank};

/// Delimiters the sniffer considers, in order of preference on a tie.
const CANDIDATE_DELIMITERS: [u8; 3] = [b',', b';', b'\t'];

/// Non-blank records the sniffer looks at (the header plus this many).
const SNIFF_RECORDS: usize = 20;

/// A delimiter as `summary.json` records it: `tab`, or the character.
pub(crate) fn delimiter_name(delimiter: u8) -> String {
    match delimiter {
        b'\t' => "tab".into(),
        other => (other as char).to_string(),
    }
}

/// The delimiter to split on: `forced` (`--delimiter`) if given, tab for a
/// `.tsv`/`.tab` path, else sniffed from the text.
pub(super) fn choose_delimiter(text: &str, forced: Option<u8>, path_hint: Option<&Path>) -> u8 {
    if let Some(delimiter) = forced {
        return delimiter;
    }
    let tab_by_name = path_hint
        .and_then(Path::extension)
        .and_then(|ext| ext.to_str())
        .is_some_and(|ext| ext.eq_ignore_ascii_case("tsv") || ext.eq_ignore_ascii_case("tab"));
    if tab_by_name {
        return b'\t';
    }
    sniff_delimiter(text)
}

/// Guess the delimiter from the first records, parsed with each candidate.
///
/// A candidate must split the header line at all. Among those, the strongest
/// evidence is that the split yields an id column (an id header or a GUID
/// cell free of other candidates): a `;` file whose customer names all contain
/// commas splits just as regularly on `,`, but only `;` isolates the ids.
/// Then regular field counts over the following lines, then the number of
/// fields. A file no candidate
/// splits is a single column.
fn sniff_delimiter(text: &str) -> u8 {
    CANDIDATE_DELIMITERS
        .iter()
        .enumerate()
        .filter_map(|(preference, &delimiter)| {
            let sample = sample_records(text, delimiter);
            let (head, rest) = sample.split_first()?;
            let separators = head.len() - 1;
            if separators == 0 {
                return None;
            }
            // A cell still holding another candidate counts for nothing: the
            // tab that `guid_of` trims off `<id>\t;` shows `;` split wrongly.
            let split_clean = |cell: &str| {
                !cell
                    .bytes()
                    .any(|b| b != delimiter && CANDIDATE_DELIMITERS.contains(&b))
            };
            let finds_id = sample
                .iter()
                .any(|record| find_alias(record).is_some_and(|(col, _)| split_clean(&record[col])))
                || sample
                    .iter()
                    .flatten()
                    .any(|cell| split_clean(cell) && guid_of(cell).is_some());
            let regular = rest.iter().filter(|r| r.len() == head.len()).count();
            Some((
                (finds_id, regular, separators, Reverse(preference)),
                delimiter,
            ))
        })
        .max()
        .map_or(b',', |(_, delimiter)| delimiter)
}

/// The first non-blank records of `text` split on `delimiter`.
fn sample_records(text: &str, delimiter: u8) -> Vec<Vec<String>> {
    csv_reader(text, delimiter)
        .into_records()
        .map_while(Result::ok)
        // Blank lines say nothing, but Excel's `;;;` rows do show the delimiter.
        .filter(|record| record.len() > 1 || !is_blank(record))
        .take(SNIFF_RECORDS + 1)
        .map(|record| record.iter().map(str::to_owned).collect())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tsv_path_means_tab_and_an_explicit_delimiter_wins() {
        // Alone, this would split on `,` (same field counts, `,` preferred).
        let text = "name,note\tcity\nContoso, AB\tx\n";
        assert_eq!(choose_delimiter(text, None, None), b',');
        for name in ["list.TSV", "list.tab"] {
            assert_eq!(choose_delimiter(text, None, Some(Path::new(name))), b'\t');
        }
        assert_eq!(
            choose_delimiter(text, Some(b';'), Some(Path::new("list.tsv"))),
            b';'
        );
    }

    #[test]
    fn sniffing_prefers_the_split_that_isolates_the_ids() {
        // Every name holds a comma, so `,` splits as regularly as `;` does.
        let text = "name, city;tenant\nContoso, AB;97ca2b55-839e-4579-98d4-39599a228c98\nFabrikam, AB;e083ac65-ff8b-4ba1-9541-05e7a2881ddc\n";
        assert_eq!(sniff_delimiter(text), b';');
        assert_eq!(
            sniff_delimiter("97ca2b55-839e-4579-98d4-39599a228c98;\"a,b\"\n"),
            b';'
        );
        // Split on `;`, the id cell would be `<id>\t`: a GUID once trimmed.
        assert_eq!(
            sniff_delimiter("97ca2b55-839e-4579-98d4-39599a228c98\t;\n"),
            b'\t'
        );
    }

    #[test]
    fn regular_rows_then_more_fields_then_preference() {
        // No ids anywhere: the split that gives every row the header's width.
        assert_eq!(sniff_delimiter("a;b,c;d\n1;2;3\n4;5;6\n"), b';');
        assert_eq!(sniff_delimiter("a,b\tc\n1,2\tc\n"), b',');
        // Nothing splits: a single column, read with the default.
        assert_eq!(sniff_delimiter("tenant\nabc\n"), b',');
    }
}
