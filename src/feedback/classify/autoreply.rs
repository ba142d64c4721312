//! RFC 3834 automatic responses (vacation, out-of-office) and challenge-response
//! notices: replies by software on a person's behalf, never bounces.

use super::parts::Parsed;

/// Subject words of out-of-office and auto-reply messages in the languages seen most.
const SUBJECTS: &[&str] = &[
    "out of office",
    "out of the office",
    "automatic reply",
    "auto reply",
    "auto-reply",
    "autoreply",
    "automatic response",
    "auto response",
    "auto-response",
    "autoresponse",
    "vacation",
    "on leave",
    "away from the office",
    "away from my",
    "abwesenheit",
    "automatische antwort",
    "réponse automatique",
    "reponse automatique",
    "absence",
    "respuesta automática",
    "respuesta automatica",
    "fuera de la oficina",
    "risposta automatica",
    "fuori ufficio",
    "automatisch antwoord",
    "afwezig",
    "automatyczna odpowied",
    "resposta automática",
    "autosvar",
    "automaattinen vastaus",
    "自動応答",
    "自动回复",
];

/// The message says of itself that software answered for a person.
pub(super) fn is_auto_reply(parsed: &Parsed) -> bool {
    let header = |name: &str| parsed.header(name).map(|v| v.trim().to_ascii_lowercase());
    if header("auto-submitted").is_some_and(|v| v.starts_with("auto-replied")) {
        return true;
    }
    if header("precedence").is_some_and(|v| v == "auto_reply") {
        return true;
    }
    if ["x-autoreply", "x-autorespond", "x-autoresponder", "x-mail-autoreply"]
        .iter()
        .any(|h| parsed.header(h).is_some())
    {
        return true;
    }
    let subject = header("subject").unwrap_or_default();
    subject.starts_with("auto:") || SUBJECTS.iter().any(|s| subject.contains(s))
}

/// Challenge-response systems hold mail until the sender proves to be a person; their
/// notice may come as a DSN but the address is fine.
pub(super) fn is_challenge(text: &str) -> bool {
    ["pre-approved", "preapproved", "approve your message", "verify that you are", "challenge-response"]
        .iter()
        .any(|p| text.contains(p))
}
