//! The service log every binary writes to standard error: the filter from
//! `SANSFILM_LOG` (default `info`), and field values escaped.
//!
//! Text a peer controls (UIDs, AE titles, names, error comments) reaches the
//! log through fields and messages. Written raw, a SOP Instance UID holding a
//! newline forges a second log line, and a NUL or an escape sequence goes to
//! the terminal or the log collector as it is. Every control character in a
//! field or message is therefore written as an escape (`\n`, `\r`, `\t`,
//! `\0`, `\u{1b}`), and a backslash as `\\` so an escape cannot be faked.

use std::fmt::Write as _;

use tracing_subscriber::field::MakeExt;
use tracing_subscriber::fmt::format::{FormatFields, debug_fn};

/// Installs the subscriber of a sansfilm binary: `SANSFILM_LOG` filter
/// (default `info`), standard error, colours only on a terminal, escaped
/// fields. Call once, from `main`.
pub fn init() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("SANSFILM_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .fmt_fields(escaped_fields())
        .init();
}

/// A field formatter that writes `name=value` (the message alone), separated
/// by spaces, with control characters escaped.
pub fn escaped_fields() -> impl for<'w> FormatFields<'w> + Send + Sync + 'static {
    debug_fn(|writer, field, value| {
        let text = escape(&format!("{value:?}"));
        if field.name() == "message" {
            writer.write_str(&text)
        } else {
            write!(writer, "{}={}", field.name(), text)
        }
    })
    .delimited(" ")
}

/// `text` with control characters and backslashes escaped.
///
/// ```
/// use sansfilm_services::logging::escape;
/// assert_eq!(escape("1.2.3\n2026-01-01 INFO forged"), "1.2.3\\n2026-01-01 INFO forged");
/// assert_eq!(escape("a\0b\\c"), "a\\0b\\\\c");
/// ```
pub fn escape(text: &str) -> String {
    if !text.chars().any(|c| c.is_control() || c == '\\') {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\0' => out.push_str("\\0"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out
}
