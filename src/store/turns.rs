//! The bulk writers' turns on a SQLite database ([`WriteTurns`]).

/// Turn about for the bulk writers of one process on a SQLite database: the send engine's
/// writer (marks, outcomes, claims) and the flow scheduler's step transactions. SQLite
/// has one writer at a time, and a writer that finds the database locked polls for it
/// (the engine's every 2 ms, sqlx's with SQLite's growing sleeps), so the one that just
/// committed usually took the lock back first: while a tick queued 100 000 steps, the
/// engine sent at a fraction of its rate (`benches/flows.rs`). Each takes its turn here
/// first, first come first served (a fair async mutex), and finds the lock free; the
/// other writers (a contact's change, a bounce) are rare and still wait for the lock.
/// On PostgreSQL, which locks rows, there are no turns.
#[derive(Debug, Clone, Default)]
pub struct WriteTurns(Option<std::sync::Arc<tokio::sync::Mutex<()>>>);

impl WriteTurns {
    pub(super) fn sqlite() -> WriteTurns {
        WriteTurns(Some(Default::default()))
    }

    /// Waits for this writer's turn (none on PostgreSQL); the turn ends when the guard
    /// is dropped, after the commit.
    pub async fn take(&self) -> Option<tokio::sync::OwnedMutexGuard<()>> {
        match &self.0 {
            Some(m) => Some(m.clone().lock_owned().await),
            None => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::WriteTurns;

    #[tokio::test]
    async fn a_bulk_writer_waits_for_the_others_turn_to_end_on_sqlite_only() {
        let turns = WriteTurns::sqlite();
        let first = turns.take().await;
        assert!(first.is_some());
        let other = turns.clone();
        let waiting = tokio::spawn(async move { other.take().await.is_some() });
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        assert!(!waiting.is_finished(), "the second writer did not wait for the first's turn");
        drop(first);
        assert!(waiting.await.unwrap());
        assert!(WriteTurns::default().take().await.is_none(), "PostgreSQL has no turns");
    }
}
