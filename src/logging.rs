//! The log filter (issue 12, point 11). Herald's own logs carry ids, never addresses,
//! names or tokens (DESIGN §12); its dependencies make no such promise — lettre logs
//! every SMTP command, recipients included, at DEBUG — so they are capped at `warn`
//! unless the directive names them.
//!
//! `HERALD_LOG` (or, when it is unset, `RUST_LOG`) takes `tracing` directives: a bare
//! level applies to Herald only (`debug` → `herald=debug,warn`); a directive that names
//! a target applies as written (`debug,lettre=debug` also shows lettre's DEBUG lines).
//! Unset: `herald=info,warn`.

use tracing_subscriber::filter::{EnvFilter, LevelFilter};

/// Herald's own target (the library and the binary share it).
const HERALD: &str = "herald";
/// Herald's level when no directive sets one.
const DEFAULT_LEVEL: LevelFilter = LevelFilter::INFO;
/// The most any other crate logs unless a directive names it.
const OTHERS_CAP: LevelFilter = LevelFilter::WARN;

/// The directives to filter with, from the values of `HERALD_LOG` and `RUST_LOG`
/// (`HERALD_LOG` wins when both are set).
pub fn directives(herald_log: Option<&str>, rust_log: Option<&str>) -> String {
    let spec = herald_log.or(rust_log).map(str::trim).filter(|s| !s.is_empty()).unwrap_or("");
    let mut herald_level = None;
    let mut named = Vec::new();
    for directive in spec.split(',').map(str::trim).filter(|d| !d.is_empty()) {
        match directive.parse::<LevelFilter>() {
            // A bare level: the last one wins, as in `tracing`'s own syntax.
            Ok(level) => herald_level = Some(level),
            Err(_) => named.push(directive),
        }
    }
    let herald_level = herald_level.unwrap_or(DEFAULT_LEVEL);
    // A quieter bare level (`error`, `off`) quietens the dependencies too.
    let others = herald_level.min(OTHERS_CAP);
    let mut out =
        vec![others.to_string().to_lowercase(), format!("{HERALD}={}", herald_level.to_string().to_lowercase())];
    out.extend(named.into_iter().map(str::to_owned));
    out.join(",")
}

/// The filter for this process's environment. Directives it cannot parse are reported
/// on stderr and the default is used instead of failing the command.
pub fn filter_from_env() -> EnvFilter {
    let var = |name: &str| std::env::var(name).ok();
    let (herald_log, rust_log) = (var("HERALD_LOG"), var("RUST_LOG"));
    let wanted = directives(herald_log.as_deref(), rust_log.as_deref());
    EnvFilter::builder().with_regex(false).parse(&wanted).unwrap_or_else(|e| {
        eprintln!("herald: ignoring the log directives in HERALD_LOG / RUST_LOG ({e}); logging at the default levels");
        EnvFilter::new(directives(None, None))
    })
}

#[cfg(test)]
mod tests {
    use super::directives;

    #[test]
    fn a_bare_level_applies_to_herald_and_every_other_crate_stays_at_warn() {
        assert_eq!(directives(Some("debug"), None), "warn,herald=debug");
        assert_eq!(directives(Some("trace"), None), "warn,herald=trace");
        assert_eq!(directives(None, None), "warn,herald=info");
    }

    #[test]
    fn a_crate_named_explicitly_gets_the_level_asked_for() {
        assert_eq!(directives(Some("debug,lettre=debug"), None), "warn,herald=debug,lettre=debug");
        assert_eq!(directives(Some("sqlx=info"), None), "warn,herald=info,sqlx=info");
    }

    #[test]
    fn herald_log_wins_over_rust_log_which_is_used_alone() {
        assert_eq!(directives(Some("error"), Some("trace")), "error,herald=error");
        assert_eq!(directives(None, Some("debug")), "warn,herald=debug");
        assert_eq!(directives(Some(""), Some("debug")), "warn,herald=info");
    }

    #[test]
    fn the_directives_parse() {
        for spec in ["debug", "debug,lettre=debug", "off", "herald::send=trace,info"] {
            let d = directives(Some(spec), None);
            assert!(tracing_subscriber::EnvFilter::builder().parse(&d).is_ok(), "{spec} -> {d}");
        }
    }
}
