//! The passthrough cells of one input row, kept in one allocation.
//!
//! A row carries its other columns into the report. Held as a `Vec` of
//! `String`s, each cell costs 24 bytes and an allocation of its own on top
//! of its text; a 100,000-row export with a few columns spends more on
//! that than on the text. Here every cell is its length in bytes, a `:`
//! and its text, one after another: any text is kept as it came, NUL
//! included (a customer list from Partner Center may hold one).

use std::fmt;

/// The cells, each as `{length in bytes}:{text}`: no cells is the empty
/// string, one empty cell is `"0:"`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Cells(Box<str>);

impl Cells {
    /// The cells in order.
    pub fn new<'a, I>(cells: I) -> Cells
    where
        I: IntoIterator<Item = &'a str>,
        I::IntoIter: Clone,
    {
        let cells = cells.into_iter();
        // Sized first: one allocation per row, not a doubling series.
        let size = cells.clone().map(|c| c.len() + digits(c.len()) + 1).sum();
        let mut text = String::with_capacity(size);
        for cell in cells {
            text.push_str(itoa(cell.len()).as_str());
            text.push(':');
            text.push_str(cell);
        }
        Cells(text.into_boxed_str())
    }

    /// Every cell, in order. Text that is not in the form (only possible
    /// from a temp file that changed under the run) ends the cells there.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        let mut rest: &str = &self.0;
        std::iter::from_fn(move || {
            let (len, tail) = rest.split_once(':')?;
            let len: usize = len.parse().ok()?;
            let cell = tail.get(..len)?;
            rest = &tail[len..];
            Some(cell)
        })
    }

    /// Cell `i`, if the row has that many.
    pub fn get(&self, i: usize) -> Option<&str> {
        self.iter().nth(i)
    }

    /// How many cells.
    pub fn len(&self) -> usize {
        self.iter().count()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The cells as kept (see [`Cells`]).
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

/// Decimal digits of `n`.
fn digits(n: usize) -> usize {
    n.checked_ilog10().map_or(1, |d| d as usize + 1)
}

/// `n` in decimal, without an allocation of its own.
fn itoa(n: usize) -> Itoa {
    let mut buf = [0u8; 20];
    let mut at = buf.len();
    let mut n = n;
    loop {
        at -= 1;
        buf[at] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    Itoa { buf, at }
}

/// A number written by [`itoa`].
struct Itoa {
    buf: [u8; 20],
    at: usize,
}

impl Itoa {
    fn as_str(&self) -> &str {
        std::str::from_utf8(&self.buf[self.at..]).expect("ASCII digits")
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
        // Any text is kept: NUL, colons, digits.
        assert_eq!(Cells::new(["a\0b", "12:3", ":"]), ["a\0b", "12:3", ":"]);
        let long = "é".repeat(600);
        assert_eq!(Cells::new([long.as_str(), "x"]).get(0), Some(long.as_str()));
        assert_eq!(
            digits(0) + digits(9) + digits(10) + digits(1200),
            1 + 1 + 2 + 4
        );
    }

    proptest! {
        #[test]
        fn cells_come_back_as_they_went_in(cells in proptest::collection::vec("(?s).*", 0..6)) {
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
