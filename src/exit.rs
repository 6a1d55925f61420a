//! Exit codes, as the README's "Exit codes" section lists them. Cron
//! wrappers and monitoring branch on these, so they never change meaning.

/// How the process ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Every valid customer looked up, no invalid input rows.
    Success = 0,
    /// Cannot read input, cannot write output, authentication rejected, …
    Fatal = 1,
    /// Bad or missing option, bad value.
    Usage = 2,
    /// Report written, but some lookups failed or some input rows were invalid
    /// (also: `--deadline` cut the run short).
    Partial = 3,
    /// Another run holds the lock on the same output folder.
    Locked = 4,
    /// SIGINT; a partial report was written.
    Interrupted = 130,
    /// SIGTERM; a partial report was written.
    Terminated = 143,
}

impl Exit {
    /// The process exit status.
    pub fn code(self) -> u8 {
        self as u8
    }

    /// Map a fatal error chain to its exit code.
    pub fn for_error(e: &anyhow::Error) -> Exit {
        // `--column` naming no column is a bad option value, like a wrong
        // `--expect-column`, not a broken input.
        let bad_column = |c: &(dyn std::error::Error + 'static)| {
            matches!(
                c.downcast_ref::<crate::input::InputError>(),
                Some(crate::input::InputError::ColumnNotFound { .. })
            )
        };
        if e.chain()
            .any(|c| c.downcast_ref::<crate::config::UsageError>().is_some() || bad_column(c))
        {
            Exit::Usage
        } else if e.chain().any(|c| {
            matches!(
                c.downcast_ref::<crate::fsutil::LockError>(),
                Some(crate::fsutil::LockError::Held { .. })
            )
        }) {
            Exit::Locked
        } else {
            // A signal while listing the customers (`--all-customers`):
            // nothing to report, but the exit code still names the signal.
            let signal = e.chain().find_map(|c| match c.downcast_ref() {
                Some(crate::customers::ListError::Stopped(reason)) => Some(*reason),
                _ => None,
            });
            match signal {
                Some(crate::lookup::StopReason::Interrupt) => Exit::Interrupted,
                Some(crate::lookup::StopReason::Terminate) => Exit::Terminated,
                _ => Exit::Fatal,
            }
        }
    }
}

impl From<Exit> for std::process::ExitCode {
    fn from(e: Exit) -> Self {
        std::process::ExitCode::from(e.code())
    }
}
