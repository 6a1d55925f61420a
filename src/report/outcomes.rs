//! Every customer's outcome as the report needs it, kept small: a run of
//! 100,000 customers holds this until the report is written, so each
//! customer is a status, an error and a stretch of one shared list of
//! qualification entries, and every text (qualification names, statuses,
//! reasons, errors) is kept once however many customers share it.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{DateTime, Utc};

use crate::lookup::Outcome;
use crate::model::{LookupStatus, Qualification, VettingDate, VettingStatus};

/// A text kept once in [`Strings`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Sym(u32);

/// Texts seen many times, each kept once.
#[derive(Debug, Default)]
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

/// One customer: how its lookup ended, and where its entries are.
#[derive(Debug, Clone, Copy, Default)]
struct Slot {
    /// `None`: never requested (the run stopped first).
    status: Option<LookupStatus>,
    error: Option<Sym>,
    /// Its entries: `entries[start..start + len]`.
    start: u32,
    len: u32,
}

/// The outcomes of the customers a run looks up, by their position in
/// that list (input order).
#[derive(Debug, Default)]
pub struct Outcomes {
    strings: Strings,
    slots: Vec<Slot>,
    entries: Vec<Entry>,
}

impl Outcomes {
    /// For `customers` customers, none of them answered yet.
    pub fn new(customers: usize) -> Outcomes {
        Outcomes {
            slots: vec![Slot::default(); customers],
            ..Outcomes::default()
        }
    }

    /// How many customers there are.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether there are none.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// How customer `i`'s lookup ended; `None`: never requested.
    pub fn status(&self, i: usize) -> Option<LookupStatus> {
        self.slots[i].status
    }

    /// Customer `i` ended with `outcome`, in place of any earlier one (a
    /// resumed run asks again only customers whose outcome was not final:
    /// those have no entries, so none are left behind).
    pub fn set(&mut self, i: usize, outcome: &Outcome) {
        let start = u32::try_from(self.entries.len()).expect("fewer than 2^32 entries");
        for q in &outcome.qualifications {
            let entry = Entry {
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
            };
            self.entries.push(entry);
        }
        self.slots[i] = Slot {
            status: Some(outcome.status),
            error: outcome.error.as_deref().map(|e| self.strings.intern(e)),
            start,
            len: outcome.qualifications.len() as u32,
        };
    }

    /// Customer `i`'s outcome (without its request count); `None`: never
    /// requested.
    pub fn get(&self, i: usize) -> Option<Outcome> {
        let slot = self.slots[i];
        let status = slot.status?;
        let entries = &self.entries[slot.start as usize..(slot.start + slot.len) as usize];
        Some(Outcome {
            status,
            qualifications: entries.iter().map(|e| self.qualification(e)).collect(),
            error: slot.error.map(|e| self.strings.get(e).to_string()),
            attempts: 0,
        })
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
        self.entries
            .iter()
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
        // Education, the reason, UnderAppeal, the raw date, StateOwnedEntity, the error.
        assert_eq!(all.strings.list.len(), 6);
    }
}
