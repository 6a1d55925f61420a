//! The passthrough cells of one input row, kept in one allocation.
//!
//! A row carries its other columns into the report. Held as a `Vec` of
//! `String`s, each cell costs 24 bytes and an allocation of its own on top
//! of its text; a 100,000-row export with a few columns spends more on
//! that than on the text. Here every cell is followed by a NUL, which no
//! accepted input holds (a NUL makes the file binary, see `parse_input`).

use std::fmt;

/// The cells, each ended by `\0`: no cells is the empty string, one empty
/// cell is `"\0"`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Cells(Box<str>);

/// Ends every cell.
const END: char = '\0';

impl Cells {
    /// The cells in order. A NUL inside a cell (only possible from another
    /// source than a file, e.g. a customer list) is dropped rather than
    /// allowed to split it.
    pub fn new<'a, I>(cells: I) -> Cells
    where
        I: IntoIterator<Item = &'a str>,
        I::IntoIter: Clone,
    {
        let cells = cells.into_iter();
        // Sized first: one allocation per row, not a doubling series.
        let mut text = String::with_capacity(cells.clone().map(|c| c.len() + 1).sum());
        for cell in cells {
            text.extend(cell.chars().filter(|c| *c != END));
            text.push(END);
        }
        Cells(text.into_boxed_str())
    }

    /// Every cell, in order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.0.split_terminator(END)
    }

    /// Cell `i`, if the row has that many.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.iter().nth(i)
    }

    /// How many cells.
    pub fn len(&self) -> usize {
        self.0.bytes().filter(|b| *b == 0).count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The cells as kept: each ended by `\0`.
    pub(super) fn as_text(&self) -> &str {
        &self.0
    }

    /// Cells from [`Cells::as_text`]'s form.
    pub(super) fn from_text(text: String) -> Cells {
        Cells(text.into_boxed_str())
    }

    /// The cells as owned strings, for a report row.
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }
}

impl fmt::Debug for Cells {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl<const N: usize> PartialEq<[&str; N]> for Cells {
    fn eq(&self, other: &[&str; N]) -> bool {
        self.iter().eq(other.iter().copied())
    }
}

impl<'a> From<Vec<&'a str>> for Cells {
    fn from(cells: Vec<&'a str>) -> Cells {
        Cells::new(cells)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn empty_cells_and_no_cells_differ() {
        assert_eq!(Cells::new([]).len(), 0);
        assert!(Cells::new([]).is_empty());
        let one_empty = Cells::new([""]);
        assert_eq!((one_empty.len(), one_empty.get(0)), (1, Some("")));
        assert_eq!(Cells::new(["", "x", ""]), ["", "x", ""]);
        assert_eq!(Cells::new(["a\0b"]), ["ab"]);
    }

    proptest! {
        #[test]
        fn cells_come_back_as_they_went_in(cells in proptest::collection::vec("[^\u{0}]*", 0..6)) {
            let kept = Cells::new(cells.iter().map(String::as_str));
            prop_assert_eq!(kept.to_vec(), cells.clone());
            prop_assert_eq!(kept.len(), cells.len());
            for (i, cell) in cells.iter().enumerate() {
                prop_assert_eq!(kept.get(i), Some(cell.as_str()));
            }
            prop_assert_eq!(kept.get(cells.len()), None);
        }
    }
}
