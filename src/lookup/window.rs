//! How far the lookups may run ahead of the earliest customer not yet
//! answered. The report is written in input order as the outcomes land,
//! so every outcome that lands after a customer still being asked (one
//! slow to answer, or retried with backoff) waits in memory until that
//! customer is answered. Starting no customer more than the window's
//! size beyond it bounds that memory whatever one customer does; the
//! size is large enough that only a customer held for minutes at a high
//! rate ever reaches it.

use std::sync::atomic::{AtomicUsize, Ordering};

use tokio::sync::Notify;

/// Customers that may be started beyond the earliest unanswered one: a
/// held outcome takes about a hundred bytes, so a few megabytes at most.
pub const REORDER_WINDOW: usize = 32_768;

/// The customers admitted so far: those before the earliest unanswered
/// one plus the window.
#[derive(Debug)]
pub(super) struct Window {
    size: usize,
    /// Index of the earliest customer not answered; every one before it
    /// is.
    frontier: AtomicUsize,
    moved: Notify,
}

impl Window {
    pub(super) fn new(size: usize) -> Window {
        Window {
            size: size.max(1),
            frontier: AtomicUsize::new(0),
            moved: Notify::new(),
        }
    }

    /// Wait until customer `i` may be started.
    pub(super) async fn admit(&self, i: usize) {
        loop {
            // Made before the check, so a move between the two still wakes it.
            let moved = self.moved.notified();
            if i < self
                .frontier
                .load(Ordering::Acquire)
                .saturating_add(self.size)
            {
                return;
            }
            moved.await;
        }
    }

    /// Customers are answered as `answered` says: move the frontier past
    /// every answered one at its front.
    pub(super) fn advance(&self, answered: &[bool]) {
        let from = self.frontier.load(Ordering::Acquire);
        let to = from
            + answered
                .get(from..)
                .map_or(0, |rest| rest.iter().take_while(|a| **a).count());
        if to > from {
            self.frontier.store(to, Ordering::Release);
            self.moved.notify_waiters();
        }
    }

    /// The run stops: let every waiting customer through (it is then not
    /// requested), so the lookups can end.
    pub(super) fn open(&self) {
        self.frontier.store(usize::MAX, Ordering::Release);
        self.moved.notify_waiters();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::time::Duration;

    /// Whether `admit(i)` is still waiting after the runtime had time to
    /// run it.
    async fn waits(window: &Arc<Window>, i: usize) -> tokio::task::JoinHandle<()> {
        let w = window.clone();
        let task = tokio::spawn(async move { w.admit(i).await });
        tokio::time::sleep(Duration::from_millis(10)).await;
        task
    }

    #[tokio::test(start_paused = true)]
    async fn customers_beyond_the_window_wait_for_the_earliest_unanswered_one() {
        let window = Arc::new(Window::new(3));
        for i in 0..3 {
            window.admit(i).await;
        }
        let fourth = waits(&window, 3).await;
        assert!(!fourth.is_finished());
        // Customers 1 and 2 answered, 0 not: the frontier does not move.
        let mut answered = vec![false, true, true, false, false];
        window.advance(&answered);
        tokio::time::sleep(Duration::from_millis(10)).await;
        assert!(!fourth.is_finished(), "customer 0 still holds the window");
        answered[0] = true;
        window.advance(&answered);
        fourth.await.unwrap();
        // Frontier at 3: up to index 5.
        window.admit(5).await;
        let seventh = waits(&window, 6).await;
        assert!(!seventh.is_finished());
        window.open();
        seventh.await.unwrap();
    }
}
