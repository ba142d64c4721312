//! The bounce listener's SMTP command lines, parsed without any I/O (so they can be
//! tested and fuzzed on their own): one line, CR LF already removed, to one [`Command`].

/// One client command. `Mail` and `Rcpt` carry `None` when their path is malformed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Ehlo,
    Helo,
    /// `MAIL FROM:<path>`; `Some("")` for the null reverse-path of bounces.
    Mail(Option<String>),
    /// `RCPT TO:<path>`.
    Rcpt(Option<String>),
    Data,
    Rset,
    Noop,
    Quit,
    Vrfy,
    /// Anything else: answered 502.
    Unknown,
}

/// Parses one command line.
pub fn parse_command(line: &str) -> Command {
    let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
    match verb.to_ascii_uppercase().as_str() {
        "EHLO" => Command::Ehlo,
        "HELO" => Command::Helo,
        "MAIL" => Command::Mail(path(arg, "FROM:")),
        "RCPT" => Command::Rcpt(path(arg, "TO:")),
        "DATA" => Command::Data,
        "RSET" => Command::Rset,
        "NOOP" => Command::Noop,
        "QUIT" => Command::Quit,
        "VRFY" => Command::Vrfy,
        _ => Command::Unknown,
    }
}

/// The address in `FROM:<a@b> PARAMS` / `TO:<a@b>`; `Some("")` for the null path.
fn path(arg: &str, prefix: &str) -> Option<String> {
    let rest = arg.trim();
    let rest = rest.get(..prefix.len()).filter(|p| p.eq_ignore_ascii_case(prefix)).map(|_| &rest[prefix.len()..])?;
    let rest = rest.trim_start();
    let addr = match rest.strip_prefix('<') {
        Some(r) => r.split_once('>')?.0,
        None => rest.split_whitespace().next().unwrap_or(""),
    };
    Some(addr.trim().to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_read_with_or_without_brackets() {
        assert_eq!(path("FROM:<> SIZE=100", "FROM:").as_deref(), Some(""));
        assert_eq!(path("to:<Bounces+1.ab@B.example>", "TO:").as_deref(), Some("Bounces+1.ab@B.example"));
        assert_eq!(path("TO: x@y", "TO:").as_deref(), Some("x@y"));
        assert_eq!(path("TO x@y", "TO:"), None);
    }

    #[test]
    fn verbs_are_case_insensitive_and_unknown_ones_are_named_so() {
        assert_eq!(parse_command("ehlo mx.example.net"), Command::Ehlo);
        assert_eq!(parse_command("mail FROM:<>"), Command::Mail(Some(String::new())));
        assert_eq!(parse_command("RCPT TO:<a@b>"), Command::Rcpt(Some("a@b".into())));
        assert_eq!(parse_command("RCPT"), Command::Rcpt(None));
        assert_eq!(parse_command("STARTTLS"), Command::Unknown);
        assert_eq!(parse_command(""), Command::Unknown);
    }

    #[test]
    fn a_prefix_cut_inside_a_multibyte_character_is_malformed_not_a_panic() {
        assert_eq!(parse_command("MAIL FRéM:<a@b>"), Command::Mail(None));
        assert_eq!(parse_command("RCPT é"), Command::Rcpt(None));
    }
}
