//! The outcomes a run holds until their rows are written, kept small.
//!
//! The report is written in input order while the lookups run
//! ([`super::stream`]), so an outcome is held only from the moment it
//! lands until every customer before it has been answered: the customers
//! still being asked, or retried, hold back the ones after them. A resumed
//! run starts with the journal's outcomes here. Each customer is a status,
//! an error and its own few qualification entries, and every text of
//! those entries (qualification names, statuses, reasons) is kept once
//! however many customers share it.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::lookup::Outcome;
use crate::model::{LookupStatus, Qualification, VettingDate, VettingStatus};

/// A text kept once in [`Strings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Sym(u32);

/// Texts seen many times, each kept once.
#[derive(Debug, Default, Clone)]
struct Strings {
    index: HashMap<Arc<str>, Sym>,
    list: Vec<Arc<str>>,
}

impl Strings {
    fn intern(&mut self, text: &str) -> Sym {
        if let Some(sym) = self.index.get(text) {
            return *sym;
        }
        let sym = Sym(u32::try_from(self.list.len()).expect("fewer than 2^32 distinct texts"));
        let text: Arc<str> = text.into();
        self.list.push(text.clone());
        self.index.insert(text, sym);
        sym
    }

    fn get(&self, sym: Sym) -> &str {
        &self.list[sym.0 as usize]
    }
}

/// [`VettingStatus`] with its rare free text kept in [`Strings`].
#[derive(Debug, Clone, Copy)]
enum Status {
    Approved,
    InReview,
    Denied,
    Other(Sym),
    Absent,
}

/// [`VettingDate`] with its rare free text kept in [`Strings`].
#[derive(Debug, Clone, Copy)]
enum Date {
    Parsed {
        at: DateTime<Utc>,
        fraction_digits: u8,
    },
    Raw(Sym),
}

/// One qualification entry.
#[derive(Debug, Clone, Copy)]
struct Entry {
    qualification: Sym,
    status: Status,
    reason: Option<Sym>,
    date: Option<Date>,
}

/// One customer: how its lookup ended, and its entries.
#[derive(Debug, Clone)]
struct Slot {
    status: LookupStatus,
    /// The journal's outcome of a customer this run asks again: it is
    /// reported only if the new one never comes.
    asked_again: bool,
    /// Its own: errors often name the request (an id, a time), so few
    /// repeat, and it goes when the row is written.
    error: Option<Box<str>>,
    entries: Box<[Entry]>,
}

/// The outcomes of the customers a run looks up, by their position in
/// that list (input order), from when they land until their rows are
/// written ([`Outcomes::take`]).
#[derive(Debug, Default, Clone)]
pub struct Outcomes {
    strings: Strings,
    customers: usize,
    slots: HashMap<usize, Slot>,
}

impl Outcomes {
    /// For `customers` customers, none of them answered yet.
    pub fn new(customers: usize) -> Outcomes {
        Outcomes {
            customers,
            ..Outcomes::default()
        }
    }

    /// How many customers there are.
    pub fn len(&self) -> usize {
        self.customers
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.customers == 0
    }

    /// How customer `i`'s lookup ended, if its outcome is held: `None`
    /// when it was never answered (or its rows are written).
    pub fn status(&self, i: usize) -> Option<LookupStatus> {
        self.slots.get(&i).map(|s| s.status)
    }

    /// Whether customer `i`'s outcome is held and final for this run: it
    /// is not waiting to be asked again.
    pub fn is_answered(&self, i: usize) -> bool {
        self.slots.get(&i).is_some_and(|s| !s.asked_again)
    }

    /// This run asks customer `i` again: its outcome so far (from the
    /// journal) stands only if no new one comes.
    pub fn ask_again(&mut self, i: usize) {
        if let Some(slot) = self.slots.get_mut(&i) {
            slot.asked_again = true;
        }
    }

    /// Customer `i` ended with `outcome`, in place of any earlier one.
    pub fn set(&mut self, i: usize, outcome: &Outcome) {
        assert!(i < self.customers, "customer {i} of {}", self.customers);
        let entries = outcome
            .qualifications
            .iter()
            .map(|q| Entry {
                qualification: self.strings.intern(&q.qualification),
                status: match &q.vetting_status {
                    VettingStatus::Approved => Status::Approved,
                    VettingStatus::InReview => Status::InReview,
                    VettingStatus::Denied => Status::Denied,
                    VettingStatus::Other(text) => Status::Other(self.strings.intern(text)),
                    VettingStatus::Absent => Status::Absent,
                },
                reason: q.vetting_reason.as_deref().map(|r| self.strings.intern(r)),
                date: q.vetting_created_date.as_ref().map(|d| match d {
                    VettingDate::Parsed {
                        at,
                        fraction_digits,
                    } => Date::Parsed {
                        at: *at,
                        fraction_digits: *fraction_digits,
                    },
                    VettingDate::Raw(text) => Date::Raw(self.strings.intern(text)),
                }),
            })
            .collect();
        let slot = Slot {
            status: outcome.status,
            asked_again: false,
            error: outcome.error.as_deref().map(Box::from),
            entries,
        };
        self.slots.insert(i, slot);
    }

    /// Customer `i`'s outcome (without its request count); `None`: never
    /// answered.
    pub fn get(&self, i: usize) -> Option<Outcome> {
        self.slots.get(&i).map(|slot| self.outcome(slot))
    }

    /// Customer `i`'s outcome, no longer held: its rows are being written.
    pub fn take(&mut self, i: usize) -> Option<Outcome> {
        let slot = self.slots.remove(&i)?;
        Some(self.outcome(&slot))
    }

    /// How many outcomes are held.
    pub fn held(&self) -> usize {
        self.slots.len()
    }

    fn outcome(&self, slot: &Slot) -> Outcome {
        Outcome {
            status: slot.status,
            qualifications: slot.entries.iter().map(|e| self.qualification(e)).collect(),
            error: slot.error.as_deref().map(str::to_owned),
            attempts: 0,
        }
    }

    fn qualification(&self, e: &Entry) -> Qualification {
        let text = |sym| self.strings.get(sym).to_string();
        Qualification {
            qualification: text(e.qualification),
            vetting_status: match e.status {
                Status::Approved => VettingStatus::Approved,
                Status::InReview => VettingStatus::InReview,
                Status::Denied => VettingStatus::Denied,
                Status::Other(sym) => VettingStatus::Other(text(sym)),
                Status::Absent => VettingStatus::Absent,
            },
            vetting_reason: e.reason.map(text),
            vetting_created_date: e.date.map(|d| match d {
                Date::Parsed {
                    at,
                    fraction_digits,
                } => VettingDate::Parsed {
                    at,
                    fraction_digits,
                },
                Date::Raw(sym) => VettingDate::Raw(text(sym)),
            }),
        }
    }

    /// Every qualification name the customers hold, each once.
    pub fn qualification_names(&self) -> Vec<&str> {
        let mut seen = std::collections::HashSet::new();
        let mut positions: Vec<&usize> = self.slots.keys().collect();
        positions.sort_unstable();
        positions
            .into_iter()
            .flat_map(|i| self.slots[i].entries.iter())
            .filter(|e| seen.insert(e.qualification))
            .map(|e| self.strings.get(e.qualification))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn q(
        name: &str,
        status: VettingStatus,
        reason: Option<&str>,
        date: Option<&str>,
    ) -> Qualification {
        Qualification {
            qualification: name.into(),
            vetting_status: status,
            vetting_reason: reason.map(str::to_string),
            vetting_created_date: date.map(VettingDate::parse),
        }
    }

    #[test]
    fn outcomes_come_back_as_they_went_in_and_texts_are_kept_once() {
        let several = Outcome {
            status: LookupStatus::Ok,
            qualifications: vec![
                q(
                    "Education",
                    VettingStatus::Denied,
                    Some("Not an Education Customer"),
                    Some("2020-12-03T10:37:38.885Z"),
                ),
                q(
                    "Education",
                    VettingStatus::Other("UnderAppeal".into()),
                    None,
                    Some("last tuesday"),
                ),
                q("StateOwnedEntity", VettingStatus::Absent, None, None),
            ],
            error: None,
            attempts: 2,
        };
        let failed = Outcome {
            status: LookupStatus::Failed,
            qualifications: vec![],
            error: Some("HTTP 503".into()),
            attempts: 6,
        };
        let mut all = Outcomes::new(4);
        all.set(2, &several);
        all.set(0, &failed);
        all.set(3, &several);
        assert!(all.status(1).is_none() && all.get(1).is_none());
        // A failure asked again: the new outcome replaces it.
        all.set(0, &several);
        assert_eq!(all.get(0).unwrap().qualifications, several.qualifications);
        all.set(0, &failed);
        let back = all.get(2).unwrap();
        assert_eq!(back.qualifications, several.qualifications);
        assert_eq!((back.status, back.error), (LookupStatus::Ok, None));
        let back = all.get(0).unwrap();
        assert_eq!(
            (back.status, back.error.as_deref()),
            (LookupStatus::Failed, Some("HTTP 503"))
        );
        assert_eq!(all.get(3).unwrap().qualifications, several.qualifications);
        assert_eq!(all.qualification_names(), ["Education", "StateOwnedEntity"]);
        // Education, the reason, UnderAppeal, the raw date, StateOwnedEntity.
        assert_eq!(all.strings.list.len(), 5);

        // Written rows let go of their outcome; one asked again is not
        // answered until its new outcome lands.
        assert_eq!(all.held(), 3);
        assert_eq!(all.take(2).unwrap().qualifications, several.qualifications);
        assert!(all.take(2).is_none() && !all.is_answered(2));
        all.ask_again(0);
        assert!(!all.is_answered(0) && all.status(0) == Some(LookupStatus::Failed));
        all.ask_again(1);
        assert!(all.status(1).is_none());
        all.set(0, &several);
        assert!(all.is_answered(0) && all.is_answered(3));
        assert_eq!(all.held(), 2);
    }
}
