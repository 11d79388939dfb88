//! HTML to readable plain text, for HTML-only mail.
//!
//! Agents read customer mail as text, and much mail (webmail, Outlook,
//! phones) arrives as HTML only. A full HTML renderer is far more than
//! needed, and the converter bundled with the MIME parser joins block
//! elements onto one line, so this is a small hand-written one that keeps
//! what matters for reading a message: paragraphs and line breaks (`p`,
//! `div`, `br`, headings, table rows), list items as `- ` lines,
//! `blockquote` content as `> ` lines (so [`strip_quoted`](crate::strip_quoted)
//! removes quoted history from HTML replies too), entities decoded, and
//! whitespace collapsed as a browser would (except in `pre`). `script`,
//! `style`, `title`, `template` and comments are dropped, and so are
//! elements styled `display:none`, which no mail client shows: newsletters
//! put their inbox preview there, padded with rows of `&zwnj;&nbsp;`.
//!
//! It never fails: unclosed tags and stray `<` are read as well as they
//! can be, and its work is linear in the input. A hidden element that is
//! never closed is shown after all: guessing where it ends could drop the
//! customer's words.

/// Elements whose content is never shown.
const HIDDEN: &[&str] = &["script", "style", "title", "template", "noscript", "head"];

/// Elements that stand apart as paragraphs (a blank line around them).
const PARAGRAPHS: &[&str] = &[
    "p",
    "h1",
    "h2",
    "h3",
    "h4",
    "h5",
    "h6",
    "ul",
    "ol",
    "table",
    "pre",
    "hr",
    "dl",
    "blockquote",
];

/// Elements without content or close tag.
const VOID: &[&str] = &[
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "source", "track",
    "wbr",
];

/// Elements that start on a new line.
const LINES: &[&str] = &[
    "div",
    "li",
    "tr",
    "section",
    "article",
    "header",
    "footer",
    "address",
    "center",
    "form",
    "fieldset",
    "figure",
    "figcaption",
    "main",
    "nav",
    "aside",
    "dt",
    "dd",
    "caption",
];

/// Readable plain text from HTML (see the module doc).
pub fn html_to_text(html: &str) -> String {
    // ASCII lower-casing keeps byte offsets, so `lower` indexes like `html`.
    let lower = html.to_ascii_lowercase();
    let mut out = Writer::default();
    let mut pos = 0;
    // Once a hidden element is found unclosed, later ones are shown rather
    // than searched to the end again, which keeps the work linear.
    let mut unclosed_hidden = false;
    while pos < html.len() {
        let Some(open) = html[pos..].find('<').map(|i| pos + i) else {
            out.text(&html[pos..]);
            break;
        };
        out.text(&html[pos..open]);
        pos = match Tag::read(html, open) {
            Some(tag) => {
                let mut next = tag.end;
                if !tag.closing && HIDDEN.contains(&tag.name.as_str()) && !tag.self_closing {
                    // Skip to the matching close tag; without one, the rest
                    // is hidden content (CSS, script), except for `head`,
                    // whose own content is handled element by element.
                    let close = format!("</{}", tag.name);
                    next = match lower[next..].find(&close) {
                        Some(i) => Tag::read(html, next + i).map_or(html.len(), |t| t.end),
                        None if tag.name == "head" => next,
                        None => html.len(),
                    };
                } else if tag.opens_hidden() && !unclosed_hidden {
                    match element_end(html, &tag) {
                        Some(end) => next = end,
                        None => {
                            unclosed_hidden = true;
                            out.tag(&tag);
                        }
                    }
                } else {
                    out.tag(&tag);
                }
                next
            }
            None if html[open..].starts_with("<!--") => html[open + 4..]
                .find("-->")
                .map_or(html.len(), |i| open + 4 + i + 3),
            None if html[open..].starts_with("<!") || html[open..].starts_with("<?") => {
                html[open..].find('>').map_or(html.len(), |i| open + i + 1)
            }
            None => {
                out.text("<");
                open + 1
            }
        };
    }
    out.finish()
}

/// Where the element opened by `tag` ends: just after its matching close
/// tag, elements of the same name nested in it counted; `None` when it is
/// never closed.
fn element_end(html: &str, tag: &Tag) -> Option<usize> {
    let mut depth = 1usize;
    let mut pos = tag.end;
    while let Some(open) = html[pos..].find('<').map(|i| pos + i) {
        let Some(inner) = Tag::read(html, open) else {
            pos = open + 1;
            continue;
        };
        if inner.name == tag.name && !inner.self_closing {
            if inner.closing {
                depth -= 1;
                if depth == 0 {
                    return Some(inner.end);
                }
            } else {
                depth += 1;
            }
        }
        pos = inner.end;
    }
    None
}

/// One start or end tag.
struct Tag {
    /// Lower-case element name.
    name: String,
    closing: bool,
    self_closing: bool,
    /// Its `style` says `display: none` (or another attribute does, which
    /// is close enough for mail).
    display_none: bool,
    /// Byte offset just after the `>` (or the end of the input).
    end: usize,
}

impl Tag {
    /// The tag starting at `html[start] == '<'`, if it is one.
    fn read(html: &str, start: usize) -> Option<Tag> {
        let bytes = html.as_bytes();
        let mut i = start + 1;
        let closing = bytes.get(i) == Some(&b'/');
        if closing {
            i += 1;
        }
        let name_start = i;
        while bytes.get(i).is_some_and(|b| b.is_ascii_alphanumeric()) {
            i += 1;
        }
        if i == name_start || !bytes[name_start].is_ascii_alphabetic() {
            return None;
        }
        let name = html[name_start..i].to_ascii_lowercase();
        let attributes_start = i;
        // Find the closing `>`, skipping quoted attribute values.
        let mut quote = None;
        while let Some(&b) = bytes.get(i) {
            match (quote, b) {
                (None, b'"' | b'\'') => quote = Some(b),
                (Some(q), _) if b == q => quote = None,
                (None, b'>') => break,
                _ => {}
            }
            i += 1;
        }
        let self_closing = i > 0 && bytes.get(i - 1) == Some(&b'/');
        let compact: Vec<u8> = bytes[attributes_start..i.min(bytes.len())]
            .iter()
            .filter(|b| !b.is_ascii_whitespace())
            .map(u8::to_ascii_lowercase)
            .collect();
        let display_none = compact.windows(12).any(|w| w == b"display:none");
        Some(Tag {
            name,
            closing,
            self_closing,
            display_none,
            end: (i + 1).min(html.len()),
        })
    }

    /// Whether this opens an element with content that is not shown.
    fn opens_hidden(&self) -> bool {
        self.display_none
            && !self.closing
            && !self.self_closing
            && !VOID.contains(&self.name.as_str())
    }
}

/// Builds the text: collapses whitespace, places line breaks, prefixes
/// quoted lines.
#[derive(Default)]
struct Writer {
    out: String,
    /// A space is due before the next word on this line.
    space: bool,
    /// Nesting of `pre` (whitespace kept) and `blockquote` (`> ` prefix).
    pre: usize,
    quote: usize,
}

impl Writer {
    fn tag(&mut self, tag: &Tag) {
        let name = tag.name.as_str();
        match name {
            "br" => self.hard_break(),
            "li" if !tag.closing => {
                self.line_break();
                self.word("- ");
                self.space = false;
            }
            "td" | "th" => self.space = true,
            _ if PARAGRAPHS.contains(&name) => {
                self.paragraph();
                match (name, tag.closing) {
                    ("blockquote", false) => self.quote += 1,
                    ("blockquote", true) => self.quote = self.quote.saturating_sub(1),
                    ("pre", false) => self.pre += 1,
                    ("pre", true) => self.pre = self.pre.saturating_sub(1),
                    _ => {}
                }
            }
            _ if LINES.contains(&name) => self.line_break(),
            _ => {}
        }
    }

    /// Text between tags: entities decoded, whitespace collapsed.
    fn text(&mut self, raw: &str) {
        let decoded = decode_entities(raw);
        if self.pre > 0 {
            for (i, line) in decoded.split('\n').enumerate() {
                if i > 0 {
                    self.hard_break();
                }
                self.word(line.trim_end_matches('\r'));
            }
            return;
        }
        for (i, word) in decoded.split(|c: char| c.is_whitespace()).enumerate() {
            if i > 0 {
                self.space = true;
            }
            if !word.is_empty() {
                self.word(word);
            }
        }
    }

    /// Appends a word, with the line's quote prefix or the pending space.
    fn word(&mut self, word: &str) {
        if self.at_line_start() {
            for _ in 0..self.quote.min(8) {
                self.out.push_str("> ");
            }
        } else if self.space {
            self.out.push(' ');
        }
        self.out.push_str(word);
        self.space = false;
    }

    fn at_line_start(&self) -> bool {
        self.out.is_empty() || self.out.ends_with('\n')
    }

    fn hard_break(&mut self) {
        self.out.push('\n');
        self.space = false;
    }

    /// Ends the current line, if it has anything on it.
    fn line_break(&mut self) {
        if !self.at_line_start() {
            self.out.push('\n');
        }
        self.space = false;
    }

    /// Ends the current line and leaves a blank line.
    fn paragraph(&mut self) {
        self.line_break();
        if !self.out.is_empty() && !self.out.ends_with("\n\n") {
            self.out.push('\n');
        }
    }

    /// Trims lines and collapses runs of blank lines.
    fn finish(self) -> String {
        let mut text = String::with_capacity(self.out.len());
        let mut blank_run = 0;
        for line in self.out.lines() {
            let line = line.trim_end();
            if line.is_empty() || line.chars().all(|c| c == '>' || c == ' ') {
                blank_run += 1;
                if blank_run > 1 {
                    continue;
                }
            } else {
                blank_run = 0;
            }
            text.push_str(line);
            text.push('\n');
        }
        text.trim_matches('\n').to_owned()
    }
}

/// Decodes `&name;`, `&#N;` and `&#xH;` entities; anything else (a bare
/// `&`, an unknown name) is kept as written. `&nbsp;` becomes a plain space.
fn decode_entities(raw: &str) -> String {
    let mut out = String::with_capacity(raw.len());
    let mut rest = raw;
    while let Some(amp) = rest.find('&') {
        out.push_str(&rest[..amp]);
        let candidate = &rest[amp..];
        // Entity names are ASCII and at most 32 bytes long (the longest
        // HTML5 one is 31), so a `;` further away ends no entity.
        let end = candidate
            .bytes()
            .take(34)
            .position(|b| b == b';')
            .filter(|&i| {
                i > 1
                    && candidate[1..i]
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b == b'#')
            });
        match end {
            Some(i) => {
                let entity = &candidate[..=i];
                mail_parser::decoders::html::add_html_token(&mut out, entity.as_bytes(), false);
                rest = &candidate[i + 1..];
            }
            None => {
                out.push('&');
                rest = &candidate[1..];
            }
        }
    }
    out.push_str(rest);
    out.replace('\u{a0}', " ")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paragraphs_breaks_and_entities() {
        let html = "<html><head><title>Order</title><style>p{color:red}</style></head>\
            <body><p>Hello&nbsp;Jane,</p><p>Your order is   <b>on its way</b> &amp; will\n arrive &lt;soon&gt;.<br>Track it &#x2192; here.</p>\
            <div>Regards,<br/>Shop &#8212; Support</div><script>alert(1)</script></body></html>";
        assert_eq!(
            html_to_text(html),
            "Hello Jane,\n\nYour order is on its way & will arrive <soon>.\nTrack it → here.\n\nRegards,\nShop — Support"
        );
    }

    #[test]
    fn lists_quotes_and_pre() {
        let html = "<p>Items:</p><ul><li>Shoes</li><li>Socks</li></ul>\
            <div>On Mon, Jan 8, 2024 Shop wrote:</div><blockquote>Thanks<br>for <i>ordering</i></blockquote>\
            <pre>a  b\n  c</pre>";
        assert_eq!(
            html_to_text(html),
            "Items:\n\n- Shoes\n- Socks\n\nOn Mon, Jan 8, 2024 Shop wrote:\n\n> Thanks\n> for ordering\n\na  b\n  c"
        );
    }

    #[test]
    fn hidden_elements_are_dropped() {
        // A newsletter's inbox preview, nested same-name elements included.
        let html = "<body><span class=\"preview\" style=\"display:none; max-height:0\">Preview&nbsp;&zwnj;&nbsp;&zwnj;</span>\
            <div style=\"DISPLAY: none !important\"><div>also</div> hidden</div><p>Dear partner,</p>\
            <img style=\"display:none\" src=\"x\"><p>Prices change.</p></body>";
        assert_eq!(html_to_text(html), "Dear partner,\n\nPrices change.");
        // Never closed: shown rather than dropping what follows.
        assert_eq!(
            html_to_text("<div style=\"display:none\">a<p>b</p><span style=display:none>c</span>"),
            "a\n\nb\n\nc"
        );
    }

    #[test]
    fn odd_input_does_not_break_it() {
        assert_eq!(html_to_text("a < b && c <!-- hidden --> d"), "a < b && c d");
        assert_eq!(
            html_to_text("<p>unclosed <b attr=\"x>y\">bold"),
            "unclosed bold"
        );
        assert_eq!(html_to_text("<style>never closed"), "");
        assert_eq!(
            html_to_text("&unknown; &amp &#xZZ; 中文"),
            "&unknown; &amp &#xZZ; 中文"
        );
        assert_eq!(html_to_text(""), "");
        assert_eq!(html_to_text("<"), "<");
        assert_eq!(html_to_text("<a"), "");
    }
}
