//! The send writer's figures (`HERALD_LOG=herald=debug`): commits, marks and outcomes per
//! commit, and where a mark's wait went.

use std::time::Duration;

/// What the writer did, logged whenever a flush is answered (`HERALD_LOG=herald=debug`;
/// the engine stops the writer once its last flush is answered): how many marks a
/// commit carries is what its cost is shared by, and where a mark's wait went.
#[derive(Default)]
pub(super) struct Stats {
    commits: u64,
    marks: u64,
    outcomes: u64,
    busy: Duration,
    /// Per mark, summed: asked until answered; asked until the writer took it (waiting for
    /// the commit before); taken until its commit began (the gather); the commit (its
    /// statement and, on PostgreSQL, the WAL flush).
    mark_total: Duration,
    mark_queued: Duration,
    mark_before_commit: Duration,
    mark_commit: Duration,
}

impl Stats {
    pub(super) fn add(&mut self, marks: usize, outcomes: usize, took: Duration) {
        if marks + outcomes > 0 {
            self.commits += 1;
            self.marks += marks as u64;
            self.outcomes += outcomes as u64;
            self.busy += took;
        }
    }

    pub(super) fn marks_answered(
        &mut self,
        asked: &[std::time::Instant],
        picked: std::time::Instant,
        commit_began: std::time::Instant,
        answered: std::time::Instant,
    ) {
        for &a in asked {
            let taken = picked.max(a);
            self.mark_total += answered.saturating_duration_since(a);
            self.mark_queued += taken.saturating_duration_since(a);
            self.mark_before_commit += commit_began.saturating_duration_since(taken);
            self.mark_commit += answered.saturating_duration_since(commit_began);
        }
    }

    pub(super) fn log(&self) {
        let per = |n: u64| if self.commits == 0 { 0.0 } else { n as f64 / self.commits as f64 };
        let per_mark = |d: Duration| (d.as_micros() as u64).checked_div(self.marks).unwrap_or(0);
        tracing::debug!(
            commits = self.commits,
            marks_per_commit = per(self.marks),
            outcomes_per_commit = per(self.outcomes),
            commit_us = per(self.busy.as_micros() as u64),
            busy_ms = self.busy.as_millis() as u64,
            mark_us = per_mark(self.mark_total),
            mark_queued_us = per_mark(self.mark_queued),
            mark_before_commit_us = per_mark(self.mark_before_commit),
            mark_commit_us = per_mark(self.mark_commit),
            "send writer: figures so far"
        );
    }
}
