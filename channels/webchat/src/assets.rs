//! The browser side of web chat, compiled into the daemon so that the
//! widget a replica serves always speaks that replica's protocol and there
//! is nothing to deploy beside the binary.
//!
//! The widget is plain JavaScript without dependencies or a build step: it
//! renders every piece of text with `textContent` (never `innerHTML`), sets
//! styles through the CSSOM (so a page's CSP needs no `'unsafe-inline'`
//! for it), and evaluates nothing.

/// `GET /webchat/widget.js`, served as `text/javascript; charset=utf-8`.
pub const WIDGET_JS: &str = include_str!("../assets/widget.js");

/// `GET /webchat/`, a demo page embedding the widget, served as
/// `text/html; charset=utf-8`.
pub const DEMO_HTML: &str = include_str!("../assets/demo.html");

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_widget_never_renders_markup() {
        for banned in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
            "new Function",
        ] {
            assert!(!WIDGET_JS.contains(banned), "widget.js uses {banned}");
        }
        assert!(WIDGET_JS.contains("textContent"));
    }

    #[test]
    fn the_widget_speaks_the_protocol() {
        for needle in [
            "/webchat/sessions",
            "/webchat/ws?token=",
            "\"message\"",
            "\"history\"",
            "\"typing\"",
            "\"ping\"",
            "\"ack\"",
            "client_id",
            "localStorage",
            "session_expired",
            "rejected",
        ] {
            assert!(WIDGET_JS.contains(needle), "widget.js lacks {needle}");
        }
    }

    #[test]
    fn the_demo_embeds_the_widget() {
        assert!(DEMO_HTML.contains(r#"src="/webchat/widget.js""#));
        assert!(DEMO_HTML.starts_with("<!doctype html>"));
    }
}
