//! Whether line 1 is a header, and which column holds the customer ids.

use super::guid::guid_of;
use super::records::trim_cell;

/// Normalised header names (see [`normalise_header`]) of the id column, most
/// specific first: if a file has both `id` and `tenant id`, the latter wins.
const ID_ALIASES: &[&str] = &[
    "customertenantid",
    "customertenantguid",
    "customeraadtenantid",
    "customerdirectoryid",
    "customermicrosoftid",
    "tenantid",
    "tenantguid",
    "aadtenantid",
    "azureadtenantid",
    "azuretenantid",
    "entratenantid",
    "entraidtenantid",
    "directoryid",
    "microsoftid",
    "customerid",
    "customerguid",
    "kundid",
    "kundenid",
    "mandantid",
    "tenant",
    "guid",
    "id",
];

/// Aliases so generic that the column may well hold something else (an
/// internal number, a tenant *name*); a clear GUID column elsewhere beats them.
const WEAK_ALIASES: &[&str] = &["tenant", "guid", "id"];

/// Header names compared for the id column: lower case, letters and digits
/// only, so `Customer Tenant ID`, `customer_tenant_id` and `CustomerTenantId`
/// are the same.
pub(crate) fn normalise_header(header: &str) -> String {
    header
        .chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// Where the ids are.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct Layout {
    /// Whether the first record is a header line.
    pub(super) has_header: bool,
    /// 0-based position of the id column.
    pub(super) id_column: usize,
}

/// What the layout is chosen from, gathered record by record without
/// keeping them: the first record, the widest one, and per column how
/// many cells of the records after the first are filled and how many of
/// those are GUIDs.
#[derive(Debug, Default)]
pub(super) struct Shape {
    /// The first record's cells.
    first: Vec<String>,
    /// Non-blank records seen.
    records: usize,
    /// The widest record's length.
    width: usize,
    /// Per column, over the records after the first: (filled, GUIDs).
    after_first: Vec<(usize, usize)>,
}

impl Shape {
    /// Count one more non-blank record.
    pub(super) fn add(&mut self, record: &csv::StringRecord) {
        self.records += 1;
        self.width = self.width.max(record.len());
        if self.records == 1 {
            self.first = record.iter().map(str::to_owned).collect();
            return;
        }
        if self.after_first.len() < record.len() {
            self.after_first.resize(record.len(), (0, 0));
        }
        for (count, cell) in self.after_first.iter_mut().zip(record.iter()) {
            count_cell(count, cell);
        }
    }

    /// The first record's cells.
    pub(super) fn first(&self) -> &[String] {
        &self.first
    }

    /// Non-blank records, the first included.
    pub(super) fn records(&self) -> usize {
        self.records
    }

    /// The widest record's length (at least 1).
    pub(super) fn width(&self) -> usize {
        self.width.max(1)
    }

    /// Whether at least half the filled cells of column `col` are GUIDs,
    /// over the data records: those after the first, and the first too
    /// unless it is a header (`with_first`).
    fn mostly_guids(&self, col: usize, with_first: bool) -> bool {
        let mut count = self.after_first.get(col).copied().unwrap_or((0, 0));
        if with_first && let Some(cell) = self.first.get(col) {
            count_cell(&mut count, cell);
        }
        let (filled, guids) = count;
        filled > 0 && guids * 2 >= filled
    }

    /// Columns whose data cells are mostly GUIDs.
    fn guid_columns(&self, with_first: bool) -> Vec<usize> {
        (0..self.width())
            .filter(|&col| self.mostly_guids(col, with_first))
            .collect()
    }
}

/// Count `cell` into a column's (filled, GUIDs).
fn count_cell(count: &mut (usize, usize), cell: &str) {
    if !trim_cell(cell).is_empty() {
        count.0 += 1;
        count.1 += usize::from(guid_of(cell).is_some());
    }
}

/// Why no id column could be chosen. Columns are by position: the pipeline
/// names them with [`column_names`] when it words the error.
#[derive(Debug, PartialEq, Eq)]
pub(super) struct NoLayout {
    /// What went wrong.
    pub(super) problem: LayoutProblem,
    /// Whether the first record reads as headers (else columns are `column_N`).
    pub(super) has_header: bool,
}

/// See [`NoLayout`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum LayoutProblem {
    /// `--column` matches no header and is no valid column number.
    ColumnNotFound,
    /// A header line and nothing under it.
    NoDataRows,
    /// No header names the id column and no column holds GUIDs.
    NoIdColumn,
    /// Several columns hold GUIDs and no header says which one is meant.
    Ambiguous(Vec<usize>),
}

/// Decide whether the first record is a header and which column holds the
/// ids; `column` is `--column`. `shape` has seen at least one record.
pub(super) fn choose_layout(shape: &Shape, column: Option<&str>) -> Result<Layout, NoLayout> {
    let first = shape.first();
    let width = shape.width();
    let first_is_guid = |col: usize| first.get(col).is_some_and(|cell| guid_of(cell).is_some());
    let fail = |problem, has_header| {
        Err(NoLayout {
            problem,
            has_header,
        })
    };

    if let Some(wanted) = column {
        return match pick_column(first, wanted, width) {
            Some(ColumnPick::Name(id_column)) => Ok(Layout {
                has_header: true,
                id_column,
            }),
            Some(ColumnPick::Number(id_column)) => Ok(Layout {
                has_header: !first_is_guid(id_column),
                id_column,
            }),
            None => fail(
                LayoutProblem::ColumnNotFound,
                !(0..width).any(first_is_guid),
            ),
        };
    }

    // A GUID on line 1 makes it data, even if another of its cells happens to
    // read like a header (a note saying "id"): real headers never hold GUIDs.
    let guid_cells: Vec<usize> = (0..width).filter(|&col| first_is_guid(col)).collect();
    let has_header = match guid_cells[..] {
        [id_column] => {
            return Ok(Layout {
                has_header: false,
                id_column,
            });
        }
        [] => true,
        _ => false,
    };
    // The data records: the first too unless it is the header.
    let with_first = !has_header;
    if let (true, Some((column, alias))) = (has_header, find_alias(first)) {
        let id_column = match shape.guid_columns(with_first)[..] {
            [other] if WEAK_ALIASES.contains(&alias) && !shape.mostly_guids(column, with_first) => {
                other
            }
            _ => column,
        };
        return Ok(Layout {
            has_header,
            id_column,
        });
    }
    if has_header && shape.records() == 1 {
        return fail(LayoutProblem::NoDataRows, true);
    }
    let candidates = shape.guid_columns(with_first);
    match candidates[..] {
        [id_column] => Ok(Layout {
            has_header,
            id_column,
        }),
        [] => fail(LayoutProblem::NoIdColumn, has_header),
        _ => fail(LayoutProblem::Ambiguous(candidates), has_header),
    }
}

/// How `--column` matched.
/// The 0-based column of `names` that `wanted` names (see `--column`).
pub(super) fn column_index(names: &[String], wanted: &str) -> Option<usize> {
    match pick_column(names, wanted, names.len())? {
        ColumnPick::Name(col) | ColumnPick::Number(col) => Some(col),
    }
}

enum ColumnPick {
    /// By header name: the first record is a header.
    Name(usize),
    /// By number: the first record may be data.
    Number(usize),
}

/// Resolve `--column`: an exact header first (a header may be called `2`),
/// then a column number, then a header equal after normalising.
fn pick_column(first: &[String], wanted: &str, width: usize) -> Option<ColumnPick> {
    let wanted = trim_cell(wanted);
    if let Some(col) = first.iter().position(|h| trim_cell(h) == wanted) {
        return Some(ColumnPick::Name(col));
    }
    if let Ok(number) = wanted.parse::<usize>() {
        return (1..=width)
            .contains(&number)
            .then(|| ColumnPick::Number(number - 1));
    }
    let wanted = normalise_header(wanted);
    if wanted.is_empty() {
        return None;
    }
    first
        .iter()
        .position(|h| normalise_header(h) == wanted)
        .map(ColumnPick::Name)
}

/// The header matching the highest-priority alias, with that alias.
pub(super) fn find_alias(headers: &[String]) -> Option<(usize, &'static str)> {
    let normalised: Vec<String> = headers.iter().map(|h| normalise_header(h)).collect();
    ID_ALIASES
        .iter()
        .find_map(|&alias| Some((normalised.iter().position(|h| h == alias)?, alias)))
}

/// Column names: the header text (trimmed), or `column_N` (N = 1-based
/// column number) where there is no header, the header cell is empty, or a
/// ragged row runs past the header.
pub(super) fn column_names(first: &[String], has_header: bool, width: usize) -> Vec<String> {
    (0..width)
        .map(|col| match first.get(col).map(|h| trim_cell(h)) {
            Some(header) if has_header && !header.is_empty() => header.to_owned(),
            _ => format!("column_{}", col + 1),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::records::for_each_record;

    const A: &str = "e083ac65-ff8b-4ba1-9541-05e7a2881ddc";
    const B: &str = "97ca2b55-839e-4579-98d4-39599a228c98";

    /// The layout of `text` split on `delimiter`, with `--column` if given.
    fn layout_of(text: &str, delimiter: u8, column: Option<&str>) -> Result<Layout, NoLayout> {
        let mut shape = Shape::default();
        for_each_record(text, delimiter, |_, record| shape.add(record)).expect("records parse");
        choose_layout(&shape, column)
    }

    fn found(has_header: bool, id_column: usize) -> Result<Layout, NoLayout> {
        Ok(Layout {
            has_header,
            id_column,
        })
    }

    fn refused(problem: LayoutProblem, has_header: bool) -> Result<Layout, NoLayout> {
        Err(NoLayout {
            problem,
            has_header,
        })
    }

    #[test]
    fn headers_match_aliases_loosely_and_the_specific_one_wins() {
        for header in [
            "Customer Tenant ID",
            "CUSTOMER-TENANT-ID",
            "customerTenantId",
            " tenant_id ",
            "Kund-ID",
            "AAD tenant id",
            "Directory ID",
            "microsoftid",
        ] {
            let text = format!("name,{header}\nx,{B}\n");
            assert_eq!(layout_of(&text, b',', None), found(true, 1), "{header}");
        }
        let text = format!("id,customer_tenant_id\n{A},{B}\n");
        assert_eq!(layout_of(&text, b',', None), found(true, 1));
        // A generic `id` holding internal numbers loses to the one GUID column.
        let text = format!("id,directory\n17,{B}\n18,{A}\n");
        assert_eq!(layout_of(&text, b',', None), found(true, 1));
        // A header line alone still has its id column (the pipeline refuses it).
        assert_eq!(
            layout_of("customer_tenant_id\n", b',', None),
            found(true, 0)
        );
    }

    #[test]
    fn the_only_guid_column_is_found_without_a_known_header() {
        let text = format!("Kundnummer,Organisation\nacme,{B}\nbeta,oops\n");
        assert_eq!(layout_of(&text, b',', None), found(true, 1));
    }

    /// Found by the pipeline's `round_trip` property.
    #[test]
    fn a_guid_on_line_1_makes_it_data() {
        // The note reads like an id header, but line 1 holds a GUID.
        assert_eq!(layout_of(&format!("{B},id\n"), b',', None), found(false, 0));
    }

    #[test]
    fn headerless_files_with_more_columns() {
        let text = format!("Contoso;{B};SE\nFabrikam;{A};NO\n");
        assert_eq!(layout_of(&text, b';', None), found(false, 1));
    }

    #[test]
    fn column_picks_by_name_then_number_then_normalised_name() {
        let text = format!("partner,customer\n{A},{B}\n");
        assert_eq!(
            layout_of(&text, b',', None),
            refused(LayoutProblem::Ambiguous(vec![0, 1]), true)
        );
        for column in ["customer", "CUSTOMER", "2", " customer "] {
            assert_eq!(
                layout_of(&text, b',', Some(column)),
                found(true, 1),
                "{column}"
            );
        }
        // A header may be called `2`: the name wins over the number.
        assert_eq!(layout_of("x,2\n1,a\n", b',', Some("2")), found(true, 1));
        // By number, line 1 is data if it holds a GUID there.
        let headerless = format!("{A},{B}\n");
        assert_eq!(
            layout_of(&headerless, b',', None),
            refused(LayoutProblem::Ambiguous(vec![0, 1]), false)
        );
        assert_eq!(layout_of(&headerless, b',', Some("1")), found(false, 0));
        for column in ["kund", "3", "0", ""] {
            assert_eq!(
                layout_of(&text, b',', Some(column)),
                refused(LayoutProblem::ColumnNotFound, true),
                "{column:?}"
            );
        }
    }

    #[test]
    fn no_id_column_and_no_data() {
        assert_eq!(
            layout_of("name,country\nContoso,SE\n", b',', None),
            refused(LayoutProblem::NoIdColumn, true)
        );
        assert_eq!(
            layout_of("name,country\n", b',', None),
            refused(LayoutProblem::NoDataRows, true)
        );
    }

    #[test]
    fn column_names_fill_gaps_with_numbers() {
        let first = |cells: &[&str]| cells.iter().map(|c| (*c).to_owned()).collect::<Vec<_>>();
        // Ragged rows run past the header; an empty header cell gets a name too.
        assert_eq!(
            column_names(&first(&[" tenant id ", "", "notes"]), true, 4),
            ["tenant id", "column_2", "notes", "column_4"]
        );
        assert_eq!(
            column_names(&first(&["Contoso", B]), false, 2),
            ["column_1", "column_2"]
        );
        assert_eq!(normalise_header("Customer Tenant-ID"), "customertenantid");
        assert_eq!(normalise_header("Kund-ID"), "kundid");
    }
}
