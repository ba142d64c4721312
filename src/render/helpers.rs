//! Herald's template helpers, `default` and `date`, and the one way a helper is added.
//!
//! A helper here is a function from its parameters to a value ([`ValueFn`]); it never
//! sees handlebars' output. Handlebars writes the value itself, through the registry's
//! escape function (HTML-escaped in the HTML registry, unless the author used a
//! triple-stash, which `templates` refuses in HTML). So a helper cannot emit contact
//! data unescaped, and a future helper cannot forget to escape: there is nothing to
//! remember. (Wrapping output-writing helpers in an escaper instead would double-escape
//! value helpers and break block helpers such as `if`, which write template markup.)

use handlebars::{
    Context, Handlebars, Helper, HelperDef, JsonValue as Json, RenderContext, RenderError, RenderErrorReason,
    ScopedJson,
};

/// A helper: its parameters in, the value to show out.
pub(super) type ValueFn = fn(&Helper) -> Result<Json, RenderError>;

/// Every helper Herald adds to handlebars' built-ins, by name.
pub(super) const HELPERS: &[(&str, ValueFn)] = &[("default", default_value), ("date", date_value)];

/// Built-in helpers Herald removes: `log` would write contact data to the log.
pub(super) const REMOVED_BUILTINS: &[&str] = &["log"];

/// Adapts a [`ValueFn`] to handlebars: only `call_inner` (return a value) is provided,
/// so handlebars' default `call` escapes the value before writing it.
struct ValueHelper(ValueFn);

impl HelperDef for ValueHelper {
    fn call_inner<'reg: 'rc, 'rc>(
        &self,
        h: &Helper<'rc>,
        _: &'reg Handlebars<'reg>,
        _: &'rc Context,
        _: &mut RenderContext<'reg, 'rc>,
    ) -> Result<ScopedJson<'rc>, RenderError> {
        (self.0)(h).map(ScopedJson::Derived)
    }
}

/// Registers Herald's helpers on `hb` and removes the built-ins that leak data.
pub(super) fn register(hb: &mut Handlebars<'static>) {
    for (name, f) in HELPERS {
        hb.register_helper(name, Box::new(ValueHelper(*f)));
    }
    for name in REMOVED_BUILTINS {
        hb.unregister_helper(name);
    }
}

/// `{{default value "fallback"}}`: the value, or the fallback when it is missing or empty.
fn default_value(h: &Helper) -> Result<Json, RenderError> {
    let value = h
        .param(0)
        .filter(|p| !p.is_value_missing())
        .map(|p| p.value().clone())
        .filter(|v| !v.is_null() && v.as_str() != Some(""));
    match value {
        Some(v) => Ok(v),
        None => {
            Ok(h.param(1).map(|p| p.value().clone()).ok_or(RenderErrorReason::ParamNotFoundForIndex("default", 1))?)
        }
    }
}

/// `{{date value "%e %B %Y"}}`: formats an ISO 8601 date or date-time.
fn date_value(h: &Helper) -> Result<Json, RenderError> {
    let raw = h
        .param(0)
        .and_then(|p| p.value().as_str().map(str::to_owned))
        .ok_or(RenderErrorReason::ParamNotFoundForIndex("date", 0))?;
    let format = h.param(1).and_then(|p| p.value().as_str().map(str::to_owned)).unwrap_or_else(|| "%Y-%m-%d".into());
    let parsed = chrono::DateTime::parse_from_rfc3339(&raw)
        .map(|d| d.naive_utc())
        .or_else(|_| {
            chrono::NaiveDate::parse_from_str(&raw, "%Y-%m-%d").map(|d| d.and_hms_opt(0, 0, 0).unwrap_or_default())
        })
        .map_err(|_| RenderErrorReason::Other(format!("date: '{raw}' is not an ISO 8601 date")))?;
    let mut text = String::new();
    use std::fmt::Write;
    write!(text, "{}", parsed.format(&format))
        .map_err(|_| RenderErrorReason::Other(format!("date: bad format '{format}'")))?;
    Ok(Json::String(text))
}
