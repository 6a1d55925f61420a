//! `--format LIST`: which report files a run writes.

/// The report files selected by `--format`. `summary.json` is always
/// written (last, as the run-completion marker), so `json` is accepted but
/// implied; `changes.csv` follows `--previous`, not this list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Formats {
    /// `qualifications.csv`.
    pub csv: bool,
    /// `qualifications.xlsx`.
    pub xlsx: bool,
    /// `qualifications.jsonl` (not written by default).
    pub jsonl: bool,
}

impl Default for Formats {
    /// `csv,json,xlsx`.
    fn default() -> Formats {
        Formats {
            csv: true,
            xlsx: true,
            jsonl: false,
        }
    }
}

/// The values `--format` accepts.
pub const VALID: &str = "csv, json, xlsx, jsonl";

impl Formats {
    /// Parse items such as `["csv", "XLSX"]` (each may itself be a comma
    /// list); order and case do not matter, blanks between commas are
    /// skipped. No item at all, or an unknown one, is an error that names
    /// the valid values.
    pub fn parse<'a>(items: impl IntoIterator<Item = &'a str>) -> Result<Formats, String> {
        let mut f = Formats {
            csv: false,
            xlsx: false,
            jsonl: false,
        };
        let mut any = false;
        for item in items.into_iter().flat_map(|s| s.split(',')) {
            let item = item.trim();
            if item.is_empty() {
                continue;
            }
            any = true;
            match item.to_ascii_lowercase().as_str() {
                "csv" => f.csv = true,
                "xlsx" => f.xlsx = true,
                "jsonl" => f.jsonl = true,
                "json" => {}
                _ => return Err(format!("unknown format `{item}` (valid: {VALID})")),
            }
        }
        if any {
            Ok(f)
        } else {
            Err(format!("no format given (valid: {VALID})"))
        }
    }

    /// For clap: one `--format` value.
    pub fn parse_arg(s: &str) -> Result<Formats, String> {
        Formats::parse([s])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_in_any_order_and_case() {
        assert_eq!(Formats::parse_arg("csv,json,xlsx"), Ok(Formats::default()));
        assert_eq!(Formats::parse_arg(" XLSX , Csv "), Ok(Formats::default()));
        assert_eq!(
            Formats::parse_arg("csv"),
            Ok(Formats {
                csv: true,
                xlsx: false,
                jsonl: false
            })
        );
        assert_eq!(
            Formats::parse(["json", "xlsx"]),
            Ok(Formats {
                csv: false,
                xlsx: true,
                jsonl: false
            })
        );
        assert_eq!(
            Formats::parse_arg("json"),
            Ok(Formats {
                csv: false,
                xlsx: false,
                jsonl: false
            })
        );
        assert_eq!(
            Formats::parse_arg("csv,JSONL"),
            Ok(Formats {
                csv: true,
                xlsx: false,
                jsonl: true
            })
        );
    }

    #[test]
    fn unknown_or_empty_lists_name_the_valid_values() {
        for bad in ["pdf", "csv,pdf", "", " , ", "json-lines"] {
            let e = Formats::parse_arg(bad).unwrap_err();
            assert!(e.contains(VALID), "{bad}: {e}");
        }
        assert!(Formats::parse_arg("csv,pdf").unwrap_err().contains("`pdf`"));
    }
}
