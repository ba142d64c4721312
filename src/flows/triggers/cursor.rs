//! The watchers' cursors, kept in the `meta` table as text, and moved only forward: a
//! commit writes a position only over a smaller one, by compare-and-set, so two daemons
//! committing at once (on PostgreSQL) can never move a cursor back.

use crate::app::App;
use crate::domain::{ContactId, SendId};
use crate::error::{Error, Result};
use crate::store::flow_triggers::{EngagementPosition, LedgerPosition};
use chrono::{DateTime, NaiveDate, SecondsFormat, Utc};

/// Where a watcher stands. One `meta` key always holds the same kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Position {
    /// The last ledger event read.
    Ledger(LedgerPosition),
    /// The last open, or click, read.
    Engagement(EngagementPosition),
    /// The last custom event read (its id).
    Event(i64),
    /// An `inactive` trigger's daily pass: the day, and the last contact id it covered
    /// (`i64::MAX` once the day's pass is complete).
    Day { day: NaiveDate, after: i64 },
}

fn time(at: &DateTime<Utc>) -> String {
    at.to_rfc3339_opts(SecondsFormat::Micros, true)
}

impl Position {
    pub(super) fn encode(&self) -> String {
        match self {
            Position::Ledger(p) => format!("{}|{}|{}", time(&p.at), p.contact_id, p.seq),
            Position::Engagement(p) => format!("{}|{}", time(&p.at), p.send_id),
            Position::Event(id) => id.to_string(),
            Position::Day { day, after } => format!("{day}|{after}"),
        }
    }

    /// Reads `text` as a position of the same kind as `like`.
    pub(super) fn decode(like: &Position, text: &str) -> Result<Position> {
        let bad = || Error::Internal(anyhow::anyhow!("unreadable flow trigger cursor in meta: {text:?}"));
        let parts: Vec<&str> = text.split('|').collect();
        let at = |s: &str| DateTime::parse_from_rfc3339(s).map(|t| t.with_timezone(&Utc)).map_err(|_| bad());
        let int = |s: &str| s.parse::<i64>().map_err(|_| bad());
        Ok(match (like, parts.as_slice()) {
            (Position::Ledger(_), [a, c, s]) => {
                Position::Ledger(LedgerPosition { at: at(a)?, contact_id: ContactId::new(int(c)?), seq: int(s)? })
            }
            (Position::Engagement(_), [a, s]) => {
                Position::Engagement(EngagementPosition { at: at(a)?, send_id: SendId::new(int(s)?) })
            }
            (Position::Event(_), [id]) => Position::Event(int(id)?),
            (Position::Day { .. }, [d, a]) => {
                Position::Day { day: d.parse::<NaiveDate>().map_err(|_| bad())?, after: int(a)? }
            }
            _ => return Err(bad()),
        })
    }
}

/// The position stored under `key`, read as the kind of `like`; `None` before the first
/// commit.
pub(super) async fn load(app: &App, key: &str, like: &Position) -> Result<Option<Position>> {
    match app.store.meta_get(key).await? {
        None => Ok(None),
        Some(text) => Position::decode(like, &text).map(Some),
    }
}

/// Stores `to` under `key` unless a position at or past it is there already.
pub(super) async fn advance(app: &App, key: &str, to: &Position) -> Result<()> {
    let new = to.encode();
    loop {
        let stored = app.store.meta_get(key).await?;
        if let Some(text) = &stored
            && Position::decode(to, text)? >= *to
        {
            return Ok(());
        }
        if app.store.meta_swap(key, stored.as_deref(), &new).await? {
            return Ok(());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_survive_their_text_and_order_as_their_fields() {
        let at = DateTime::parse_from_rfc3339("2026-12-06T10:00:00.123456Z").unwrap().with_timezone(&Utc);
        let samples = [
            Position::Ledger(LedgerPosition { at, contact_id: ContactId::new(7), seq: i64::MAX }),
            Position::Engagement(EngagementPosition { at, send_id: SendId::new(3) }),
            Position::Event(913),
            Position::Day { day: at.date_naive(), after: 42 },
        ];
        for p in samples {
            assert_eq!(Position::decode(&p, &p.encode()).unwrap(), p);
        }
        let early = Position::Ledger(LedgerPosition { at, contact_id: ContactId::new(9), seq: 1 });
        let later = Position::Ledger(LedgerPosition {
            at: at + chrono::Duration::microseconds(1),
            contact_id: ContactId::new(1),
            seq: 1,
        });
        assert!(early < later, "time first, then contact");
        assert!(Position::decode(&samples_like(), "garbage").is_err());
    }

    fn samples_like() -> Position {
        Position::Event(0)
    }
}
