//! The one screen `run` prints at the end: counts, where the files went,
//! and what the exit code means.

use std::path::PathBuf;

use super::summary::Summary;
use crate::exit::Exit;

/// The one screen printed at the end.
pub fn closing_summary(s: &Summary, written: &[PathBuf], exit: Exit) -> String {
    let mut lines = Vec::new();
    lines.push(format!(
        "qualrecon: {} of {} customers looked up in {:.1} s ({} requests, {} retries, {} throttled) — run {}",
        looked_up(s), s.input.customers, s.run.duration_s, s.lookups.requests, s.lookups.retries, s.lookups.throttled_responses, s.run.status
    ));
    if s.lookups.not_reached > 0 {
        lines.push(format!(
            "  not reached: {} customers (the run stopped before requesting them; their rows say \"not looked up\")",
            s.lookups.not_reached
        ));
    }
    let mut outcome = vec![format!("ok {}", s.lookups.ok)];
    outcome.extend(s.lookups.by_status.iter().map(|(k, v)| format!("{k} {v}")));
    outcome.push(format!("invalid input rows {}", s.input.invalid_input_rows));
    outcome.push(format!("duplicate rows {}", s.input.duplicate_rows));
    outcome.push(format!("blank rows {}", s.input.blank_rows));
    lines.push(format!("  {}", outcome.join(" · ")));
    if let (Some(from), Some(n)) = (s.run.resumed_from, s.lookups.resumed) {
        lines.push(format!(
            "  resumed run {from}: {n} customers taken from its journal, the requests above are this run's"
        ));
    }
    lines.push(format!(
        "  customers without qualification: {}",
        s.customers_without_qualification
    ));
    for (q, c) in &s.qualifications {
        let mut parts = vec![
            format!("{} Approved", c.approved),
            format!("{} InReview", c.in_review),
            format!("{} Denied", c.denied),
        ];
        parts.extend(c.other.iter().map(|(k, v)| {
            format!(
                "{v} {}",
                if k.is_empty() {
                    "(no status)".into()
                } else {
                    printable(k)
                }
            )
        }));
        lines.push(format!("  {}: {}", printable(q), parts.join(", ")));
    }
    if let Some(oldest) = &s.in_review.oldest {
        lines.push(format!(
            "  in review: {} entries, oldest since {}, {} older than {} days",
            s.in_review.count,
            oldest.to_report_string(),
            s.in_review.stale,
            s.in_review.stale_after_days
        ));
    }
    for (reason, n) in s.denial_reasons.iter().take(5) {
        lines.push(format!("  denied {n}× \"{}\"", printable(reason)));
    }
    if let Some(r) = &s.reconciliation {
        lines.push(format!(
            "  reconciliation with your expectations (customers): {}",
            non_zero(r, "none given")
        ));
    }
    if let Some(c) = &s.changes {
        lines.push(format!(
            "  changes since {}: {}",
            c.previous_run.path,
            non_zero(&c.by_kind, "none")
        ));
    }
    for path in written {
        lines.push(format!("wrote:   {}", path.display()));
    }
    let come_back = s.run.retry_after_until.as_deref().unwrap_or("?");
    let throttled = format!(
        "exit 3: Partner Center asked for a pause beyond --max-wait; the report is partial: run again with --resume after {come_back}"
    );
    let why = match exit {
        Exit::Success => "exit 0: every customer looked up",
        Exit::Partial if s.run.status == "deadline" => {
            "exit 3: --deadline reached; the report is partial"
        }
        Exit::Partial if s.run.status == "throttled" => throttled.as_str(),
        Exit::Partial => {
            "exit 3: some lookups failed or some input rows were invalid (see lookup_status and error)"
        }
        Exit::Fatal => {
            "exit 1: the API kept refusing the token; the report is partial (fix the token, then run again with --resume)"
        }
        Exit::Interrupted => "exit 130: interrupted (SIGINT); the report is partial",
        Exit::Terminated => "exit 143: terminated (SIGTERM); the report is partial",
        _ => "",
    };
    lines.push(why.to_string());
    lines.join("\n")
}

/// Customers with an answer or a final failure (from this run or, with
/// `--resume`, the journal): everyone but those the run never reached.
fn looked_up(s: &Summary) -> u64 {
    (s.lookups.ok + s.lookups.failed_lookups).saturating_sub(s.lookups.not_reached)
}

/// The one log line of a run that stopped early: how far it got, who was
/// not reached, and when to go on. `resumable`: the folder holds a journal
/// (a run stopped before its token was proved in a new folder has none,
/// and `--resume` would find nothing to continue).
pub fn stopped_early(s: &Summary, resumable: bool) -> String {
    let again = if resumable {
        "run again with --resume"
    } else {
        "run again"
    };
    let next = match &s.run.retry_after_until {
        Some(until) => {
            format!("Partner Center asked to be called again at {until}: {again} then")
        }
        None => format!("{again} to finish"),
    };
    format!(
        "run stopped early ({}): {} of {} customers looked up, {} not reached; {next}",
        s.run.status,
        looked_up(s),
        s.input.customers,
        s.lookups.not_reached
    )
}

/// `label n · label n` for the non-zero counts, or `none` when all are zero.
fn non_zero(counts: &std::collections::BTreeMap<&str, u64>, none: &str) -> String {
    let parts: Vec<String> = counts
        .iter()
        .filter(|(_, n)| **n > 0)
        .map(|(k, n)| format!("{k} {n}"))
        .collect();
    if parts.is_empty() {
        none.to_string()
    } else {
        parts.join(" · ")
    }
}

/// Text from the API made safe for a terminal: control characters (escape
/// sequences among them), bidi overrides and zero-width characters are shown
/// as `\u{…}` instead of acting on the screen.
pub fn printable(text: &str) -> String {
    text.chars()
        .map(|c| {
            let invisible = matches!(c, '\u{200b}'..='\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{feff}');
            if c.is_control() || invisible {
                format!("\\u{{{:x}}}", c as u32)
            } else {
                c.to_string()
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn server_text_cannot_drive_the_terminal() {
        assert_eq!(
            printable("Not an Academic Domain"),
            "Not an Academic Domain"
        );
        assert_eq!(printable("Åre \u{1b}[2Jx"), "Åre \\u{1b}[2Jx");
        assert_eq!(printable("a\u{202e}b"), "a\\u{202e}b");
    }
}
