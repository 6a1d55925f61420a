//! Reading a workbook back, just enough for the tests: sheet names in
//! order, the parts present, each sheet's cells (value, type, style) and
//! the number format of a style.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

/// One cell as stored.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Cell {
    /// Shared and inline strings resolved; numbers as written (`44168.44…`).
    pub text: String,
    /// The `t` attribute: `s` for a shared string, `inlineStr` for text
    /// kept in the cell, `None` for a number.
    pub kind: Option<String>,
    /// The `s` attribute: index into the styles' `cellXfs`.
    pub style: Option<usize>,
}

/// The unzipped parts of a workbook.
pub(crate) struct Workbook {
    parts: HashMap<String, String>,
}

fn unescape(text: &str) -> String {
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The value of `name="…"` in an element's attribute text.
fn attr<'a>(attrs: &'a str, name: &str) -> Option<&'a str> {
    let start = attrs.find(&format!(" {name}=\""))? + name.len() + 3;
    Some(&attrs[start..start + attrs[start..].find('"')?])
}

/// `AB12` → (row 11, column 27), both 0-based.
fn position(reference: &str) -> (u32, u16) {
    let split = reference.find(|c: char| c.is_ascii_digit()).unwrap();
    let col = reference[..split]
        .bytes()
        .fold(0u16, |n, b| n * 26 + u16::from(b - b'A' + 1));
    (reference[split..].parse::<u32>().unwrap() - 1, col - 1)
}

/// The text of an inline-string cell's body (`<is><t>…</t></is>`).
fn inline_text(body: &str) -> String {
    let body = &body[..body.find("</c>").unwrap_or(body.len())];
    body.split("<t")
        .skip(1)
        .map(|t| {
            let text = &t[t.find('>').unwrap() + 1..];
            unescape(&text[..text.find("</t>").unwrap_or(0)])
        })
        .collect()
}

impl Workbook {
    pub(crate) fn open(path: &Path) -> Workbook {
        let bytes = std::fs::read(path).expect("read the workbook");
        let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes)).expect("xlsx is a zip");
        let mut parts = HashMap::new();
        for i in 0..zip.len() {
            let mut file = zip.by_index(i).unwrap();
            let name = file.name().expect("a part name").to_string();
            let mut text = String::new();
            if file.read_to_string(&mut text).is_ok() {
                parts.insert(name, text);
            }
        }
        Workbook { parts }
    }

    pub(crate) fn has_part(&self, name: &str) -> bool {
        self.parts.contains_key(name)
    }

    pub(crate) fn part(&self, name: &str) -> &str {
        self.parts
            .get(name)
            .unwrap_or_else(|| panic!("no part {name}"))
    }

    /// The raw text of every part cells keep their text in: the shared
    /// strings and the sheets.
    pub(crate) fn texts(&self) -> String {
        let mut names: Vec<&String> = self
            .parts
            .keys()
            .filter(|n| *n == "xl/sharedStrings.xml" || n.starts_with("xl/worksheets/sheet"))
            .collect();
        names.sort();
        names.iter().map(|n| self.parts[*n].as_str()).collect()
    }

    /// Sheet names in workbook order.
    pub(crate) fn sheet_names(&self) -> Vec<String> {
        self.part("xl/workbook.xml")
            .split("<sheet ")
            .skip(1)
            .map(|s| unescape(attr(&format!(" {s}"), "name").unwrap()))
            .collect()
    }

    fn shared_strings(&self) -> Vec<String> {
        let Some(xml) = self.parts.get("xl/sharedStrings.xml") else {
            return Vec::new();
        };
        xml.split("<si>")
            .skip(1)
            .map(|si| {
                let si = &si[..si.find("</si>").unwrap()];
                si.split("<t")
                    .skip(1)
                    .map(|t| {
                        let body = &t[t.find('>').unwrap() + 1..];
                        unescape(&body[..body.find("</t>").unwrap_or(0)])
                    })
                    .collect::<String>()
            })
            .collect()
    }

    /// Every cell of the named sheet, by (row, column), 0-based. The writer
    /// names the parts `sheet1.xml`, `sheet2.xml`, … in workbook order.
    pub(crate) fn cells(&self, sheet: &str) -> BTreeMap<(u32, u16), Cell> {
        let index = self
            .sheet_names()
            .iter()
            .position(|n| n == sheet)
            .unwrap_or_else(|| panic!("no sheet {sheet}"));
        let xml = self.part(&format!("xl/worksheets/sheet{}.xml", index + 1));
        let strings = self.shared_strings();
        let mut cells = BTreeMap::new();
        for c in xml.split("<c ").skip(1) {
            let end = c.find('>').unwrap();
            let attrs = format!(" {}", &c[..end]);
            let value = if c[..=end].ends_with("/>") {
                String::new()
            } else {
                let body = &c[end + 1..];
                match body.find("<v>") {
                    Some(v) => unescape(&body[v + 3..v + 3 + body[v + 3..].find("</v>").unwrap()]),
                    None => String::new(),
                }
            };
            let kind = attr(&attrs, "t").map(str::to_string);
            let text = match kind.as_deref() {
                Some("s") => strings[value.parse::<usize>().unwrap()].clone(),
                // Constant-memory sheets keep their text in the cell.
                Some("inlineStr") => inline_text(&c[end + 1..]),
                _ => value,
            };
            cells.insert(
                position(attr(&attrs, "r").unwrap()),
                Cell {
                    text,
                    kind,
                    style: attr(&attrs, "s").map(|s| s.parse().unwrap()),
                },
            );
        }
        cells
    }

    /// The sheet as rows of text (missing cells empty), from row 0.
    pub(crate) fn rows(&self, sheet: &str) -> Vec<Vec<String>> {
        let cells = self.cells(sheet);
        let Some(last_row) = cells.keys().map(|(r, _)| *r).max() else {
            return Vec::new();
        };
        let width = cells.keys().map(|(_, c)| *c + 1).max().unwrap_or(0);
        (0..=last_row)
            .map(|r| {
                (0..width)
                    .map(|c| cells.get(&(r, c)).map_or(String::new(), |x| x.text.clone()))
                    .collect()
            })
            .collect()
    }

    /// A table sheet (header in row 0) as header → value maps.
    pub(crate) fn table(&self, sheet: &str) -> Vec<HashMap<String, String>> {
        let rows = self.rows(sheet);
        let Some((header, data)) = rows.split_first() else {
            return Vec::new();
        };
        data.iter()
            .map(|r| header.iter().cloned().zip(r.iter().cloned()).collect())
            .collect()
    }

    /// The number format code of cell style `style` (`General` for none).
    pub(crate) fn number_format(&self, style: usize) -> String {
        let styles = self.part("xl/styles.xml");
        let xfs = &styles[styles.find("<cellXfs").unwrap()..];
        let xf = xfs.split("<xf ").nth(style + 1).unwrap();
        let id: u32 = attr(&format!(" {xf}"), "numFmtId")
            .unwrap()
            .parse()
            .unwrap();
        if id == 0 {
            return "General".into();
        }
        styles
            .split("<numFmt ")
            .skip(1)
            .find(|f| attr(&format!(" {f}"), "numFmtId") == Some(&id.to_string()))
            .and_then(|f| attr(&format!(" {f}"), "formatCode").map(unescape))
            .unwrap_or_else(|| format!("built-in {id}"))
    }
}
