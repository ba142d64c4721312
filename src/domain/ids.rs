//! Ids of stored records. Each kind of record has its own type, so a contact id cannot
//! be passed where a send id is wanted. They are the database's integer keys: serde
//! writes them as bare numbers (JSON output and ledger bodies are unchanged) and sqlx
//! binds and reads them as `BIGINT`/`INTEGER` on both backends; log fields take `.get()`,
//! so they stay numbers. The default, 0, is below every stored id: the start of a keyset cursor.

use std::fmt;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(
            Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default,
            serde::Serialize, serde::Deserialize, sqlx::Type,
        )]
        #[serde(transparent)]
        #[sqlx(transparent)]
        pub struct $name(i64);

        impl $name {
            /// The id with this database key.
            pub const fn new(id: i64) -> Self {
                Self(id)
            }

            /// The database key.
            pub const fn get(self) -> i64 {
                self.0
            }
        }

        impl From<i64> for $name {
            fn from(id: i64) -> Self {
                Self(id)
            }
        }

        impl From<$name> for i64 {
            fn from(id: $name) -> i64 {
                id.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                fmt::Display::fmt(&self.0, f)
            }
        }
    };
}

id_type!(
    /// A contact's id (`contacts.id`).
    ContactId
);
id_type!(
    /// A campaign's id (`campaigns.id`).
    CampaignId
);
id_type!(
    /// One send's id (`sends.id`): one message of one campaign to one contact.
    SendId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_serialise_as_bare_numbers() {
        assert_eq!(serde_json::to_string(&ContactId::new(42)).unwrap(), "42");
        assert_eq!(serde_json::from_str::<SendId>("7").unwrap(), SendId::new(7));
        assert_eq!(CampaignId::new(3).to_string(), "3");
    }

    #[test]
    fn ids_order_by_their_key() {
        assert!(ContactId::new(2) < ContactId::new(10));
    }
}
