//! What `qualrecon check` prints about an input file.

use std::fmt;

use super::{InputFile, LIST_CAP, name_list};

impl InputFile {
    /// The human summary `qualrecon check` prints; `path` names the file.
    pub fn describe(&self, path: &str) -> String {
        Description { file: self, path }.to_string()
    }
}

/// [`InputFile::describe`] as `Display`, so writing can use `?`.
struct Description<'a> {
    file: &'a InputFile,
    path: &'a str,
}

impl fmt::Display for Description<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let file = self.file;
        writeln!(f, "{}", self.path)?;
        writeln!(f, "  encoding       {}", file.encoding)?;
        writeln!(f, "  delimiter      {}", delimiter_label(file.delimiter))?;
        let header = if file.has_header {
            "yes"
        } else {
            "none (the first line is data)"
        };
        writeln!(f, "  header         {header}")?;
        writeln!(
            f,
            "  id column      `{}` (column {} of {})",
            file.id_header,
            file.id_column + 1,
            file.extra_headers.len() + 1
        )?;
        if !file.extra_headers.is_empty() {
            writeln!(f, "  other columns  {}", name_list(&file.extra_headers))?;
        }
        // Counted as summary.json's `input.rows`: blank rows included.
        writeln!(
            f,
            "  data rows      {} (blank ones included)",
            file.rows.len() + file.blank_rows
        )?;
        writeln!(
            f,
            "  customers      {} (valid, distinct: these are looked up)",
            file.customer_count()
        )?;
        writeln!(f, "  duplicates     {}", file.duplicate_rows())?;
        write_capped(
            f,
            file.duplicates()
                .map(|(row, id, first)| format!("line {}: {id} (first on line {first})", row.line)),
        )?;
        writeln!(f, "  invalid        {}", file.invalid_rows())?;
        write_capped(
            f,
            file.invalid()
                .map(|(row, reason)| format!("line {}: {reason}", row.line)),
        )?;
        writeln!(f, "  blank rows     {} (skipped)", file.blank_rows)?;
        writeln!(f, "  sha256         {}", file.sha256)
    }
}

/// Write one indented line per item, at most [`LIST_CAP`] of them.
fn write_capped(
    f: &mut fmt::Formatter<'_>,
    mut items: impl Iterator<Item = String>,
) -> fmt::Result {
    for item in items.by_ref().take(LIST_CAP) {
        writeln!(f, "    {item}")?;
    }
    match items.count() {
        0 => Ok(()),
        rest => writeln!(f, "    … and {rest} more"),
    }
}

/// How `check` shows a delimiter to a person: the common ones named, any
/// other in backticks (`summary.json` records [`super::delimiter_name`]).
fn delimiter_label(delimiter: u8) -> String {
    match delimiter {
        b',' => "`,` (comma)".to_owned(),
        b';' => "`;` (semicolon)".to_owned(),
        b'\t' => "tab".to_owned(),
        b' ' => "space".to_owned(),
        other => format!("`{}`", other.escape_ascii()),
    }
}

#[cfg(test)]
mod tests {
    use crate::input::{InputOptions, parse_input};

    fn describe(text: &str, opts: &InputOptions) -> String {
        parse_input(text.as_bytes(), opts, None)
            .expect("input parses")
            .describe("kunder.csv")
    }

    #[test]
    fn describe_fits_one_screen() {
        let mut text = String::from("Kund-ID;Namn\n");
        for i in 0..30 {
            text.push_str(&format!("bad{i};x\n"));
        }
        text.push_str("97ca2b55-839e-4579-98d4-39599a228c98;y\n\n");
        let description = describe(&text, &InputOptions::default());
        for expected in [
            "kunder.csv\n",
            "encoding       utf-8",
            "delimiter      `;` (semicolon)",
            "id column      `Kund-ID` (column 1 of 2)",
            "other columns  `Namn`",
            "data rows      32 (blank ones included)",
            "customers      1",
            "invalid        30",
            "line 2: not a GUID: `bad0`",
            "… and 10 more",
            "blank rows     1",
        ] {
            assert!(
                description.contains(expected),
                "{expected:?} missing in\n{description}"
            );
        }
        assert!(description.lines().count() < 40, "{description}");
    }

    #[test]
    fn duplicates_point_at_their_first_occurrence() {
        let text = "customer_tenant_id\n\
                    97ca2b55-839e-4579-98d4-39599a228c98\n\
                    e083ac65-ff8b-4ba1-9541-05e7a2881ddc\n\
                    97CA2B55-839E-4579-98D4-39599A228C98\n";
        let description = describe(text, &InputOptions::default());
        assert!(
            description.contains(
                "duplicates     1\n    line 4: 97ca2b55-839e-4579-98d4-39599a228c98 (first on line 2)\n"
            ),
            "{description}"
        );
    }

    #[test]
    fn the_encoding_named_is_the_one_used() {
        let opts = InputOptions {
            encoding: Some(encoding_rs::WINDOWS_1250),
            ..InputOptions::default()
        };
        let text = "tenantId\t\n97ca2b55-839e-4579-98d4-39599a228c98\t\n";
        let description = describe(text, &opts);
        assert!(
            description.contains("encoding       windows-1250\n"),
            "{description}"
        );
        assert!(
            description.contains("delimiter      tab\n"),
            "{description}"
        );
    }
}
