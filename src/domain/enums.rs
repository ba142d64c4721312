//! The closed vocabularies of the consent model (DESIGN §2, §3). Their machine names
//! are part of the CLI, CSV and JSON contracts.

use super::ParseError;

/// Declares a closed vocabulary: `as_str`, `FromStr` (the one parsing constructor, whose
/// error lists what is accepted), `Display`, serde as the machine name, and `ALL`.
macro_rules! vocabulary {
    ($(#[$meta:meta])* $name:ident, $what:literal, { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub const ALL: &'static [$name] = &[$($name::$variant),+];

            pub fn as_str(self) -> &'static str {
                match self { $($name::$variant => $text),+ }
            }
        }

        impl std::str::FromStr for $name {
            type Err = ParseError;
            fn from_str(raw: &str) -> Result<Self, ParseError> {
                let wanted = raw.trim();
                Self::ALL.iter().copied().find(|v| v.as_str().eq_ignore_ascii_case(wanted)).ok_or_else(|| {
                    let names: Vec<&str> = Self::ALL.iter().map(|v| v.as_str()).collect();
                    ParseError(format!("unknown {} '{}' (expected one of: {})", $what, wanted.escape_debug(), names.join(", ")))
                })
            }
        }

        impl std::fmt::Display for $name {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl serde::Serialize for $name {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.serialize_str(self.as_str())
            }
        }

        impl<'de> serde::Deserialize<'de> for $name {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
                let raw = String::deserialize(d)?;
                raw.parse().map_err(|e: ParseError| serde::de::Error::custom(e.0))
            }
        }
    };
}

vocabulary!(
    /// Email-marketing permission (DESIGN §2).
    OptInStatus, "opt_in_status", {
        None => "none",
        SingleOptInUser => "single_opt_in_user",
        SingleOptInWebform => "single_opt_in_webform",
        DoubleOptIn => "double_opt_in",
        OptedOutUser => "opted_out_user",
        OptedOutContact => "opted_out_contact",
    }
);

impl OptInStatus {
    pub fn is_opted_out(self) -> bool {
        matches!(self, OptInStatus::OptedOutUser | OptInStatus::OptedOutContact)
    }
}

vocabulary!(
    /// The GDPR Art. 6 ground on which the contact's data is processed.
    LegalBasis, "legal_basis", {
        Consent => "consent",
        LegitimateInterest => "legitimate_interest",
        Contract => "contract",
        LegalObligation => "legal_obligation",
        VitalInterests => "vital_interests",
        PublicInterest => "public_interest",
        Other => "other",
    }
);

vocabulary!(
    /// Where the contact came from.
    SourceType, "source_type", {
        CrmSync => "crm_sync",
        Import => "import",
        Manual => "manual",
        BrowserExtension => "browser_extension",
        Webform => "webform",
        Api => "api",
        Other => "other",
    }
);

vocabulary!(
    /// One contact's subscription to one list.
    SubscriptionStatus, "subscription status", {
        Unconfirmed => "unconfirmed",
        Confirmed => "confirmed",
        Unsubscribed => "unsubscribed",
    }
);

vocabulary!(
    /// One contact's consent to one purpose.
    ConsentState, "consent state", {
        Granted => "granted",
        Withdrawn => "withdrawn",
    }
);

vocabulary!(
    /// Whether Herald may process the record at all (GDPR Art. 17, 18).
    Processing, "processing state", {
        Active => "active",
        Restricted => "restricted",
        ErasureRequested => "erasure_requested",
        Erased => "erased",
    }
);

vocabulary!(
    /// Deliverability of the address, fed by bounces (DESIGN §5).
    BounceStatus, "bounce state", {
        Ok => "ok",
        Soft => "soft",
        Hard => "hard",
        Confirmed => "confirmed",
    }
);

vocabulary!(
    /// Why an audience member gets no message, in the order the policy checks (DESIGN §3).
    ExclusionReason, "exclusion reason", {
        Erased => "erased",
        Restricted => "restricted",
        ConfirmedBounce => "confirmed_bounce",
        Suppressed => "suppressed",
        OptedOut => "opted_out",
        OptInInsufficient => "opt_in_insufficient",
        NotSubscribed => "not_subscribed",
        NoLegalBasis => "no_legal_basis",
        FrequencyCap => "frequency_cap",
        Unengaged => "unengaged",
    }
);

vocabulary!(
    /// Where a campaign is in its life (DESIGN §4).
    CampaignState, "campaign state", {
        Scheduled => "scheduled",
        Running => "running",
        Paused => "paused",
        Completed => "completed",
        Cancelled => "cancelled",
    }
);

vocabulary!(
    /// The state of one message to one person (DESIGN §4).
    SendState, "send state", {
        Queued => "queued",
        Claimed => "claimed",
        Transmitting => "transmitting",
        Sent => "sent",
        Deferred => "deferred",
        Failed => "failed",
        Skipped => "skipped",
        InDoubt => "in_doubt",
    }
);

vocabulary!(
    /// Where a message comes from (DESIGN §10): every `sends` row has one, and the
    /// send-time re-check applies that source's policy (`consent::sources`).
    Source, "message source", {
        Campaign => "campaign",
        Test => "test",
        Confirmation => "confirmation",
        Flow => "flow",
    }
);

vocabulary!(
    /// What a confirmation email confirms (DESIGN §10): a sign-up's double opt-in, a grant
    /// from the preference centre, an undone unsubscribe, or a re-permission campaign.
    ConfirmKind, "confirmation kind", {
        Subscribe => "subscribe",
        Grant => "grant",
        Undo => "undo",
        Reconfirm => "reconfirm",
    }
);

vocabulary!(
    /// What a person asked for under the GDPR (DESIGN §12): the kinds of the requests
    /// register (`herald privacy requests`).
    RequestKind, "request kind", {
        Access => "access",
        Erasure => "erasure",
        Restriction => "restriction",
        Objection => "objection",
    }
);

vocabulary!(
    /// Where a registered request came from: the preference centre, or staff recording
    /// one made by mail, phone or letter.
    RequestSource, "request source", {
        Web => "web",
        Staff => "staff",
    }
);

vocabulary!(
    /// What a bounce says (DESIGN §5): `hard` only when the address or its domain does
    /// not exist.
    BounceKind, "bounce kind", {
        Hard => "hard",
        Soft => "soft",
        Complaint => "complaint",
        AutoReply => "auto_reply",
        Delayed => "delayed",
    }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_machine_names_case_insensitively() {
        assert_eq!(" Double_Opt_In ".parse::<OptInStatus>().unwrap(), OptInStatus::DoubleOptIn);
        for v in LegalBasis::ALL {
            assert_eq!(v.as_str().parse::<LegalBasis>().unwrap(), *v);
        }
    }

    #[test]
    fn unknown_values_name_the_value_and_the_choices() {
        let err = "doubel_opt_in".parse::<OptInStatus>().unwrap_err();
        assert!(err.0.contains("'doubel_opt_in'") && err.0.contains("double_opt_in"), "{err}");
    }

    #[test]
    fn exclusion_reasons_are_in_design_order() {
        let names: Vec<_> = ExclusionReason::ALL.iter().map(|r| r.as_str()).collect();
        assert_eq!(
            names,
            [
                "erased",
                "restricted",
                "confirmed_bounce",
                "suppressed",
                "opted_out",
                "opt_in_insufficient",
                "not_subscribed",
                "no_legal_basis",
                "frequency_cap",
                "unengaged"
            ]
        );
    }

    #[test]
    fn message_sources_keep_their_database_names() {
        let names: Vec<_> = Source::ALL.iter().map(|s| s.as_str()).collect();
        assert_eq!(names, ["campaign", "test", "confirmation", "flow"]);
        for s in Source::ALL {
            assert_eq!(s.as_str().parse::<Source>().unwrap(), *s);
            assert_eq!(serde_json::to_string(s).unwrap(), format!("\"{s}\""));
        }
        assert!("newsletter".parse::<Source>().is_err());
    }
}
