//! The resume journal: every finished customer's outcome, one JSON object
//! per line in the output folder, so `run --resume` can continue an
//! interrupted run without asking Partner Center again.
//!
//! Format (`.qualrecon-journal.jsonl`, UTF-8, one object per line):
//!
//! ```text
//! {"type":"header","format":1,"tool_version":"0.1.0","run_id":"…","started_at":"…Z","input_sha256":"…"}
//! {"type":"outcome","customer":"…","status":"ok","qualifications":[{"qualification":"Education","vetting_status":"Approved"}],"attempts":1}
//! {"type":"resume","run_id":"…","started_at":"…Z"}
//! {"type":"outcome","customer":"…","status":"failed","error":"HTTP 503 …","attempts":5}
//! ```
//!
//! The header identifies the run and its input; a `resume` line marks each
//! later run that continued it. A customer may appear more than once (a
//! `failed` outcome retried by a resumed run): the last line wins. Outcomes
//! that land together (in one wake-up of the run) are written with one
//! `write` call, before the run waits for the next answer
//! ([`JournalWriter::flush`]): nothing waits in a user-space buffer while
//! the run is idle, so a crash or SIGKILL loses at most the lines being
//! written; a torn last line is ignored when reading and cut off before a
//! resumed run appends.

use std::collections::HashMap;
use std::fs::{File, OpenOptions};
use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::Context;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::fsutil::{self, OpenError};
use crate::lookup::Outcome;
use crate::model::{LookupStatus, Qualification, VettingDate, VettingStatus, format_utc};

/// Name of the journal inside the output folder.
pub const JOURNAL_FILE: &str = ".qualrecon-journal.jsonl";

/// Version of the line format; a journal with another version is not read.
pub const FORMAT: u32 = 1;

/// How often appended lines are forced to disk (they reach the OS at each
/// [`JournalWriter::flush`]).
const SYNC_EVERY: Duration = Duration::from_secs(1);

/// Lines held before they are written even without a flush: bounds the
/// buffer when outcomes keep landing without a pause.
const WRITE_AT: usize = 64 * 1024;

/// Whether a journaled outcome is kept by `--resume` (`true`) or the
/// customer is looked up again (`false`).
///
/// `ok`, `not_found`, `forbidden` and `invalid_input` are answers about the
/// customer itself and would come out the same again. `failed`, `throttled`
/// and `unauthorized` are about the run (network, rate limit, token) and are
/// retried, which is what an operator resuming a run expects.
pub fn is_final(status: LookupStatus) -> bool {
    match status {
        LookupStatus::Ok
        | LookupStatus::NotFound
        | LookupStatus::Forbidden
        | LookupStatus::InvalidInput => true,
        LookupStatus::Failed | LookupStatus::Throttled | LookupStatus::Unauthorized => false,
    }
}

/// The first line: what identifies the run that started the journal.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Header {
    /// [`FORMAT`] when written.
    pub format: u32,
    /// `CARGO_PKG_VERSION` of the qualrecon that wrote it.
    pub tool_version: String,
    /// `run.id` in that run's `summary.json`.
    pub run_id: Uuid,
    /// When that run started, RFC 3339 UTC.
    pub started_at: String,
    /// SHA-256 of the input file's bytes; `--resume` refuses another input.
    pub input_sha256: String,
    /// Which server answered: the API root, or `sandbox` for `--sandbox`;
    /// `--resume` refuses another, so a report never mixes answers of two
    /// servers. Absent in journals of earlier versions.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server: Option<String>,
}

impl Header {
    /// The header of a run starting now with this version of the tool.
    pub fn new(
        run_id: Uuid,
        started_at: DateTime<Utc>,
        input_sha256: &str,
        server: &str,
    ) -> Header {
        Header {
            format: FORMAT,
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            run_id,
            started_at: format_utc(started_at, 3),
            input_sha256: input_sha256.to_string(),
            server: Some(server.to_string()),
        }
    }
}

/// One qualification of an `ok` outcome, with every field the report shows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct JournalQualification {
    /// As in [`Qualification::qualification`].
    pub qualification: String,
    /// As in [`Qualification::vetting_status`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vetting_status: Option<String>,
    /// As in [`Qualification::vetting_reason`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vetting_reason: Option<String>,
    /// The report's text of the date (RFC 3339 UTC with the API's own
    /// fractional digits, or the API's unparseable text verbatim); reading
    /// it back with [`VettingDate::parse`] gives the same value.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vetting_created_date: Option<String>,
}

/// One customer's outcome line.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OutcomeLine {
    /// Canonical customer id.
    pub customer: Uuid,
    /// The `lookup_status` text (`ok`, `not_found`, …).
    pub status: String,
    /// The qualifications of an `ok` outcome (possibly none).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub qualifications: Vec<JournalQualification>,
    /// The `error` text of a non-ok outcome.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// HTTP requests that run sent for the customer.
    pub attempts: u32,
}

/// A journal line, tagged by `type`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
enum Line {
    Header(Header),
    Resume { run_id: Uuid, started_at: String },
    Outcome(OutcomeLine),
}

impl OutcomeLine {
    /// The line for `outcome`.
    pub fn new(customer: Uuid, outcome: &Outcome) -> OutcomeLine {
        OutcomeLine {
            customer,
            status: outcome.status.as_str().to_string(),
            qualifications: outcome
                .qualifications
                .iter()
                .map(|q| JournalQualification {
                    qualification: q.qualification.clone(),
                    vetting_status: match &q.vetting_status {
                        VettingStatus::Absent => None,
                        status => Some(status.as_str().to_string()),
                    },
                    vetting_reason: q.vetting_reason.clone(),
                    vetting_created_date: q
                        .vetting_created_date
                        .as_ref()
                        .map(VettingDate::to_report_string),
                })
                .collect(),
            error: outcome.error.clone(),
            attempts: outcome.attempts,
        }
    }

    /// Back to the outcome the run had.
    pub fn outcome(&self) -> Result<Outcome, String> {
        let status = LookupStatus::parse(&self.status)
            .ok_or_else(|| format!("unknown status `{}`", self.status))?;
        Ok(Outcome {
            status,
            qualifications: self
                .qualifications
                .iter()
                .map(|q| Qualification {
                    qualification: q.qualification.clone(),
                    vetting_status: q
                        .vetting_status
                        .as_deref()
                        .map_or(VettingStatus::Absent, VettingStatus::from_report),
                    vetting_reason: q.vetting_reason.clone(),
                    vetting_created_date: q.vetting_created_date.as_deref().map(VettingDate::parse),
                })
                .collect(),
            error: self.error.clone(),
            attempts: self.attempts,
        })
    }
}

/// Encode `outcome` as one journal line, newline included.
pub fn encode_outcome(customer: Uuid, outcome: &Outcome) -> String {
    encode(&Line::Outcome(OutcomeLine::new(customer, outcome)))
}

fn encode(line: &Line) -> String {
    let mut s = serde_json::to_string(line).expect("journal lines always serialise");
    s.push('\n');
    s
}

/// What an earlier run (or chain of resumed runs) left in the journal.
#[derive(Debug, Clone)]
pub struct Journal {
    /// The first line.
    pub header: Header,
    /// The run that wrote last: the header's run, or the latest `resume` line's.
    pub last_run_id: Uuid,
    /// Each customer's latest outcome.
    pub outcomes: HashMap<Uuid, Outcome>,
    /// Whether a torn last line was ignored.
    pub torn_tail: bool,
    /// Bytes of whole lines; anything after this is the torn line.
    valid_len: u64,
    /// Whether the last whole line lacks its newline.
    needs_newline: bool,
}

/// Where a resumed run continues a journal: after its last whole line.
#[derive(Debug, Clone, Copy)]
pub struct Tail {
    /// Bytes of whole lines; anything after this is the torn line.
    valid_len: u64,
    /// Whether the last whole line lacks its newline.
    needs_newline: bool,
}

impl Journal {
    /// Where [`JournalWriter::resume`] continues this journal.
    pub fn tail(&self) -> Tail {
        Tail {
            valid_len: self.valid_len,
            needs_newline: self.needs_newline,
        }
    }
}

/// Why a journal cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// There is no journal in the folder.
    #[error("there is no journal ({JOURNAL_FILE}) in {dir}")]
    Missing {
        /// The output folder.
        dir: String,
    },
    /// A line before the last one is not a journal line.
    #[error("the journal {path} is damaged at line {line}: {detail}")]
    Damaged {
        /// The journal.
        path: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong with the line.
        detail: String,
    },
    /// A symlink or something else than a plain file sits at its name.
    #[error(transparent)]
    Unsafe(OpenError),
    /// Reading failed.
    #[error("cannot read the journal {path}: {source}")]
    Io {
        /// The journal.
        path: String,
        /// The OS error.
        #[source]
        source: std::io::Error,
    },
}

/// Decode a journal's bytes. Everything after the last newline is the line
/// a crash interrupted: kept when it is a whole line anyway, else ignored.
pub fn decode(bytes: &[u8]) -> Result<Journal, (usize, String)> {
    let mut header: Option<Header> = None;
    let mut last_run_id = None;
    let mut outcomes = HashMap::new();
    let mut torn_tail = false;
    let mut valid_len = 0u64;
    let mut needs_newline = false;
    let mut offset = 0usize;
    let mut number = 0usize;
    while offset < bytes.len() {
        number += 1;
        let (text, next, complete) = match bytes[offset..].iter().position(|b| *b == b'\n') {
            Some(n) => (&bytes[offset..offset + n], offset + n + 1, true),
            None => (&bytes[offset..], bytes.len(), false),
        };
        offset = next;
        if text.iter().all(u8::is_ascii_whitespace) {
            if complete {
                valid_len = next as u64;
            }
            continue;
        }
        let line = match serde_json::from_slice::<Line>(text) {
            Ok(line) => line,
            Err(_) if !complete => {
                torn_tail = true;
                break;
            }
            Err(e) => return Err((number, e.to_string())),
        };
        match (line, &header) {
            (Line::Header(h), None) => {
                if h.format != FORMAT {
                    return Err((
                        number,
                        format!("format {} (this qualrecon reads format {FORMAT})", h.format),
                    ));
                }
                last_run_id = Some(h.run_id);
                header = Some(h);
            }
            (_, None) => return Err((number, "the first line is not the header".into())),
            (Line::Header(_), Some(_)) => return Err((number, "a second header".into())),
            (Line::Resume { run_id, .. }, Some(_)) => last_run_id = Some(run_id),
            (Line::Outcome(o), Some(_)) => {
                let outcome = o.outcome().map_err(|e| (number, e))?;
                outcomes.insert(o.customer, outcome);
            }
        }
        valid_len = next as u64;
        needs_newline = !complete;
    }
    let header = header.ok_or((1, "no header line".to_string()))?;
    Ok(Journal {
        last_run_id: last_run_id.unwrap_or(header.run_id),
        header,
        outcomes,
        torn_tail,
        valid_len,
        needs_newline,
    })
}

/// Path of the journal in `out`.
pub fn path_in(out: &Path) -> PathBuf {
    out.join(JOURNAL_FILE)
}

/// Read the journal in the output folder `out` (never through a symlink).
pub fn read(out: &Path) -> Result<Journal, JournalError> {
    let path = path_in(out);
    let io = |source| JournalError::Io {
        path: path.display().to_string(),
        source,
    };
    let mut file =
        fsutil::open_plain(&path, OpenOptions::new().read(true)).map_err(|e| match e {
            OpenError::Io { source, .. } if source.kind() == std::io::ErrorKind::NotFound => {
                JournalError::Missing {
                    dir: out.display().to_string(),
                }
            }
            OpenError::Io { source, .. } => io(source),
            unsafe_file => JournalError::Unsafe(unsafe_file),
        })?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes).map_err(io)?;
    decode(&bytes).map_err(|(line, detail)| JournalError::Damaged {
        path: path.display().to_string(),
        line,
        detail,
    })
}

/// Check, before anything is replaced, that a fresh run may later start a
/// new journal in `out`: a symlink (or a directory) at its name is refused.
pub fn check_replaceable(out: &Path) -> Result<(), JournalError> {
    fsutil::refuse_link(&path_in(out)).map_err(JournalError::Unsafe)
}

/// Appends outcomes as they land. A failed write is logged once and ends
/// journaling for the run; the report is still written.
///
/// [`JournalWriter::record`] buffers a line; [`JournalWriter::flush`]
/// writes the buffered lines in one call (one system call per wake-up of
/// the run rather than per customer). Dropping the writer flushes too.
#[derive(Debug)]
pub struct JournalWriter {
    file: Option<File>,
    path: PathBuf,
    last_sync: Instant,
    /// Whole lines recorded and not yet written.
    pending: Vec<u8>,
    /// Forces the written lines to disk once a second, off the run's
    /// thread; `None` without a file (or when no thread could be had: the
    /// run's thread then does it).
    syncer: Option<Syncer>,
}

/// A thread that forces the journal to disk when asked. An fsync can take
/// hundreds of milliseconds on a busy disk (150–290 ms were seen here), and
/// the run has one thread: done inline, each such sync stalled every
/// request and skewed the pacer's timing.
#[derive(Debug)]
struct Syncer {
    /// Capacity one: a request made while another still waits is merged
    /// into it (that sync has not begun, so it covers both).
    ask: std::sync::mpsc::SyncSender<()>,
    /// The first sync that failed, for the run's thread to report.
    failed: std::sync::Arc<std::sync::Mutex<Option<std::io::Error>>>,
    thread: std::thread::JoinHandle<()>,
}

impl Syncer {
    /// A thread syncing its own handle of `file`.
    fn start(file: &File) -> std::io::Result<Syncer> {
        let file = file.try_clone()?;
        let (ask, asked) = std::sync::mpsc::sync_channel::<()>(1);
        let failed = std::sync::Arc::new(std::sync::Mutex::new(None));
        let failure = failed.clone();
        let thread = std::thread::Builder::new()
            .name("journal-sync".into())
            .spawn(move || {
                while asked.recv().is_ok() {
                    if let Err(e) = file.sync_data() {
                        *failure.lock().unwrap_or_else(|p| p.into_inner()) = Some(e);
                        return;
                    }
                }
            })?;
        Ok(Syncer {
            ask,
            failed,
            thread,
        })
    }

    /// Ask for a sync of everything written so far.
    fn request(&self) {
        // Full: a sync is already asked for and will cover these lines.
        // Disconnected: the thread stopped on a failure, reported below.
        let _ = self.ask.try_send(());
    }

    /// A sync that failed since the last look.
    fn failure(&self) -> Option<std::io::Error> {
        self.failed.lock().unwrap_or_else(|p| p.into_inner()).take()
    }

    /// Let the thread finish the sync under way, and end it; a sync that
    /// failed meanwhile.
    fn stop(self) -> Option<std::io::Error> {
        let Syncer {
            ask,
            failed,
            thread,
        } = self;
        // Without its only sender the thread's loop ends.
        drop(ask);
        let _ = thread.join();
        failed.lock().unwrap_or_else(|p| p.into_inner()).take()
    }
}

impl JournalWriter {
    /// Start a new journal in `out`, replacing any earlier one in one
    /// rename: until then the earlier journal is whole, afterwards the new
    /// one has its header (see [`fsutil::replace_file`]).
    pub fn create(out: &Path, header: &Header) -> anyhow::Result<JournalWriter> {
        check_replaceable(out)?;
        let path = path_in(out);
        let file = fsutil::replace_file(&path, encode(&Line::Header(header.clone())).as_bytes())
            .with_context(|| format!("creating the journal {}", path.display()))?;
        Ok(JournalWriter::writing(file, path))
    }

    /// Continue the journal read from `out` (see [`Journal::tail`]): cut off
    /// a torn last line, then mark that run `run_id` continues it from here.
    pub fn resume(
        out: &Path,
        journal: Tail,
        run_id: Uuid,
        started_at: DateTime<Utc>,
    ) -> anyhow::Result<JournalWriter> {
        let path = path_in(out);
        let mut file = fsutil::open_plain(&path, OpenOptions::new().write(true))
            .with_context(|| format!("opening the journal {}", path.display()))?;
        let mut marker = String::new();
        if journal.needs_newline {
            marker.push('\n');
        }
        marker.push_str(&encode(&Line::Resume {
            run_id,
            started_at: format_utc(started_at, 3),
        }));
        file.set_len(journal.valid_len)
            .and_then(|()| {
                use std::io::Seek;
                file.seek(std::io::SeekFrom::End(0))?;
                file.write_all(marker.as_bytes())
            })
            .and_then(|()| file.sync_data())
            .with_context(|| format!("writing the journal {}", path.display()))?;
        Ok(JournalWriter::writing(file, path))
    }

    /// No journal at all: for a run stopped before its credentials were
    /// proved, which must leave the earlier run's journal to `--resume`.
    pub fn none(out: &Path) -> JournalWriter {
        JournalWriter {
            file: None,
            path: path_in(out),
            last_sync: Instant::now(),
            pending: Vec::new(),
            syncer: None,
        }
    }

    /// Appending to `file`, synced by a thread of its own.
    fn writing(file: File, path: PathBuf) -> JournalWriter {
        let syncer = Syncer::start(&file)
            .inspect_err(|e| {
                tracing::debug!("journal syncs stay on the run's thread: {e}");
            })
            .ok();
        JournalWriter {
            file: Some(file),
            path,
            last_sync: Instant::now(),
            pending: Vec::new(),
            syncer,
        }
    }

    /// Append one customer's outcome (buffered until the next
    /// [`JournalWriter::flush`]).
    pub fn record(&mut self, customer: Uuid, outcome: &Outcome) {
        if self.file.is_none() {
            return;
        }
        serde_json::to_writer(
            &mut self.pending,
            &Line::Outcome(OutcomeLine::new(customer, outcome)),
        )
        .expect("journal lines always serialise");
        self.pending.push(b'\n');
        if self.pending.len() >= WRITE_AT {
            self.flush();
        }
    }

    /// Write the recorded lines in one call (the run calls this before it
    /// waits for more answers), and force them to disk once a second.
    pub fn flush(&mut self) {
        let Some(file) = self.file.as_mut() else {
            self.pending.clear();
            return;
        };
        if self.pending.is_empty() {
            return;
        }
        let mut result = file.write_all(&self.pending);
        self.pending.clear();
        if let Some(failure) = self.syncer.as_ref().and_then(Syncer::failure) {
            result = result.and(Err(failure));
        }
        if result.is_ok() && self.last_sync.elapsed() >= SYNC_EVERY {
            self.last_sync = Instant::now();
            match &self.syncer {
                Some(syncer) => syncer.request(),
                None => result = file.sync_data(),
            }
        }
        if let Err(e) = result {
            // An error, not a warning: `--quiet` (cron) must still say that
            // a --resume of this run will not know everything it asked.
            tracing::error!(
                "cannot append to the journal {}: {e}; journaling stops here (a --resume would look the rest up again)",
                self.path.display()
            );
            self.file = None;
            self.syncer = None;
        }
    }

    /// Write what is buffered and force everything written to disk.
    pub fn finish(mut self) {
        self.flush();
        let earlier = self.syncer.take().and_then(Syncer::stop);
        if let Some(file) = self.file.take()
            && let Err(e) = earlier.map_or_else(|| file.sync_data(), Err)
        {
            tracing::warn!("cannot flush the journal {}: {e}", self.path.display());
        }
    }
}

/// Lines recorded but not flushed still reach the file (an early return
/// or a panic between the lookups and `finish`).
impl Drop for JournalWriter {
    fn drop(&mut self) {
        self.flush();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header() -> Header {
        Header::new(
            Uuid::from_u128(7),
            "2026-01-11T12:00:00Z".parse().unwrap(),
            "abc123",
            "https://api.partnercenter.microsoft.com",
        )
    }

    fn q(
        name: &str,
        status: Option<&str>,
        reason: Option<&str>,
        date: Option<&str>,
    ) -> Qualification {
        Qualification {
            qualification: name.into(),
            vetting_status: status.map_or(VettingStatus::Absent, VettingStatus::from_api),
            vetting_reason: reason.map(str::to_string),
            vetting_created_date: date.map(VettingDate::parse),
        }
    }

    fn sample() -> Vec<(Uuid, Outcome)> {
        let ok = Outcome {
            status: LookupStatus::Ok,
            qualifications: vec![
                q(
                    "Education",
                    Some("InReview"),
                    None,
                    Some("2020-12-03T10:37:38.885Z"),
                ),
                q(
                    "Education",
                    Some("Denied"),
                    Some("Not an \"Education\" customer,\nsee docs"),
                    Some("2021-01-02T03:04:05.1234567+02:00"),
                ),
                q("StateOwnedEntity", None, None, Some("2021-01-02T03:04:05Z")),
                q(
                    "Nonprofit",
                    Some("SomethingNew"),
                    Some("=cmd"),
                    Some("last tuesday"),
                ),
                q("GovernmentCommunityCloud", Some("Approved"), None, None),
            ],
            error: None,
            attempts: 2,
        };
        let none = Outcome {
            status: LookupStatus::Ok,
            qualifications: vec![],
            error: None,
            attempts: 1,
        };
        let mut all = vec![(Uuid::from_u128(1), ok), (Uuid::from_u128(2), none)];
        for (i, status) in [
            LookupStatus::NotFound,
            LookupStatus::Forbidden,
            LookupStatus::Unauthorized,
            LookupStatus::Throttled,
            LookupStatus::Failed,
        ]
        .into_iter()
        .enumerate()
        {
            all.push((
                Uuid::from_u128(10 + i as u128),
                Outcome {
                    status,
                    qualifications: vec![],
                    error: Some(format!("HTTP error for {} — ünïcode", status.as_str())),
                    attempts: 5,
                },
            ));
        }
        all
    }

    fn journal_text() -> String {
        let mut text = encode(&Line::Header(header()));
        for (id, o) in sample() {
            text.push_str(&encode_outcome(id, &o));
        }
        text
    }

    fn same(a: &Outcome, b: &Outcome) {
        assert_eq!(a.status, b.status);
        assert_eq!(a.qualifications, b.qualifications);
        assert_eq!(a.error, b.error);
        assert_eq!(a.attempts, b.attempts);
    }

    #[test]
    fn outcomes_round_trip_exactly_with_the_dates_precision() {
        let j = decode(journal_text().as_bytes()).unwrap();
        assert_eq!(j.header, header());
        assert_eq!(j.last_run_id, Uuid::from_u128(7));
        assert!(!j.torn_tail);
        for (id, o) in sample() {
            same(&j.outcomes[&id], &o);
        }
        let dates: Vec<String> = j.outcomes[&Uuid::from_u128(1)]
            .qualifications
            .iter()
            .filter_map(|q| {
                q.vetting_created_date
                    .as_ref()
                    .map(VettingDate::to_report_string)
            })
            .collect();
        assert_eq!(
            dates,
            [
                "2020-12-03T10:37:38.885Z",
                "2021-01-02T01:04:05.1234567Z",
                "2021-01-02T03:04:05Z",
                "last tuesday"
            ]
        );
    }

    #[test]
    fn every_line_is_one_line_and_the_last_outcome_wins() {
        let id = Uuid::from_u128(1);
        let failed = Outcome {
            status: LookupStatus::Failed,
            qualifications: vec![],
            error: Some("a\nb".into()),
            attempts: 5,
        };
        let line = encode_outcome(id, &failed);
        assert_eq!(line.matches('\n').count(), 1);
        assert!(line.ends_with('\n'));
        let mut text = journal_text();
        text.push_str(&line);
        text.push_str(&encode(&Line::Resume {
            run_id: Uuid::from_u128(8),
            started_at: "2026-01-12T00:00:00.000Z".into(),
        }));
        let j = decode(text.as_bytes()).unwrap();
        same(&j.outcomes[&id], &failed);
        assert_eq!(j.last_run_id, Uuid::from_u128(8));
    }

    #[test]
    fn a_torn_last_line_is_ignored_and_a_damaged_middle_line_is_an_error() {
        let whole = journal_text();
        let extra = encode_outcome(Uuid::from_u128(99), &sample()[0].1);
        let torn = format!("{whole}{}", &extra[..extra.len() / 2]);
        let j = decode(torn.as_bytes()).unwrap();
        assert!(j.torn_tail);
        assert_eq!(j.valid_len, whole.len() as u64);
        assert!(!j.outcomes.contains_key(&Uuid::from_u128(99)));
        assert_eq!(j.outcomes.len(), sample().len());

        // A whole line that only lost its newline is kept.
        let j = decode(format!("{whole}{}", extra.trim_end()).as_bytes()).unwrap();
        assert!(j.outcomes.contains_key(&Uuid::from_u128(99)) && j.needs_newline);

        let damaged = format!("{}{{\"type\":\"outc\n{extra}", whole);
        let (line, _) = decode(damaged.as_bytes()).unwrap_err();
        assert_eq!(line, sample().len() + 2);
        assert!(decode(extra.as_bytes()).is_err(), "no header");
        assert!(decode(b"").is_err());
    }

    #[test]
    fn resume_cuts_the_torn_line_and_appends_after_it() {
        let dir = tempfile::tempdir().unwrap();
        let mut w = JournalWriter::create(dir.path(), &header()).unwrap();
        let (id, o) = sample().remove(0);
        w.record(id, &o);
        w.finish();
        let path = path_in(dir.path());
        let mut f = OpenOptions::new().append(true).open(&path).unwrap();
        f.write_all(b"{\"type\":\"outcome\",\"cust").unwrap();
        drop(f);
        let j = read(dir.path()).unwrap();
        assert!(j.torn_tail);
        let mut w =
            JournalWriter::resume(dir.path(), j.tail(), Uuid::from_u128(8), Utc::now()).unwrap();
        w.record(Uuid::from_u128(2), &sample()[1].1);
        w.finish();
        let j = read(dir.path()).unwrap();
        assert!(!j.torn_tail);
        assert_eq!(j.last_run_id, Uuid::from_u128(8));
        assert_eq!(j.outcomes.len(), 2);
        same(&j.outcomes[&id], &o);
        assert!(matches!(
            read(&dir.path().join("nope")),
            Err(JournalError::Missing { .. })
        ));
    }

    #[test]
    fn a_symlink_at_the_journal_is_refused_and_its_target_untouched() {
        let outside = tempfile::tempdir().unwrap();
        let target = outside.path().join("victim.jsonl");
        std::fs::write(&target, journal_text()).unwrap();
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(&target, path_in(dir.path())).unwrap();

        let err = read(dir.path()).unwrap_err();
        assert!(
            matches!(err, JournalError::Unsafe(OpenError::Symlink { .. })),
            "{err:?}"
        );
        assert!(err.to_string().contains(JOURNAL_FILE), "{err}");
        assert!(matches!(
            check_replaceable(dir.path()),
            Err(JournalError::Unsafe(OpenError::Symlink { .. }))
        ));
        let err = JournalWriter::create(dir.path(), &header()).unwrap_err();
        assert!(format!("{err:#}").contains("symbolic link"), "{err:#}");
        let earlier = decode(journal_text().as_bytes()).unwrap();
        assert!(
            JournalWriter::resume(dir.path(), earlier.tail(), Uuid::from_u128(8), Utc::now())
                .is_err()
        );
        assert_eq!(std::fs::read_to_string(&target).unwrap(), journal_text());
    }

    #[test]
    fn final_statuses() {
        let kept: Vec<&str> = sample()
            .iter()
            .map(|(_, o)| o.status)
            .filter(|s| is_final(*s))
            .map(LookupStatus::as_str)
            .collect();
        assert_eq!(kept, ["ok", "ok", "not_found", "forbidden"]);
        assert!(is_final(LookupStatus::InvalidInput));
    }
}
