//! Stripping quoted history and signatures from a reply, so that agents see
//! what the customer wrote this time.
//!
//! Mail clients quote the previous messages under a reply header, in a
//! handful of shapes that depend on the client and its language:
//!
//! * Gmail / Apple Mail / Thunderbird: `On <date>, <name> wrote:` (often
//!   wrapped over two lines), followed by `>`-quoted lines;
//! * the same in Chinese: `在 <date>，<name> 写道：`, or Gmail's
//!   `<name> 于<date>写道：`; in German `Am <date> schrieb <name>:`, in
//!   French `Le <date>, <name> a écrit :`, in Spanish
//!   `El <date>, <name> escribió:` (these three only with a digit in them,
//!   as ordinary sentences start the same way);
//! * Outlook: `-----Original Message-----` (`-----邮件原件-----` in
//!   Chinese), or a header block starting `From: …` with `Sent: …` below it
//!   (`发件人: …` / `寄件者: …` in Chinese), often after a line of
//!   underscores;
//! * QQ Mail: `------------------ 原始邮件 ------------------` (with
//!   literal `&nbsp;` around the words in its plain-text part), and
//!   `---Original---` from its phone app; NetEase Mail Master:
//!   `---- 回复的原邮件 ----`, whose header fields have no colons; Gmail's
//!   `---------- Forwarded message ---------` (forwarded mail counts as
//!   history too: the caller keeps the full text).
//!
//! Everything from the first such header on is history. Below the reply,
//! the `-- ` line (RFC 3676 §4.3) starts a signature, and mobile clients
//! add a one-line signature ("Sent from my iPhone", "发自我的iPhone") —
//! both end what the customer wrote. Interleaved `>`-quoted lines are
//! dropped wherever they are, so inline answers between them are kept.
//!
//! The heuristics prefer keeping too much over cutting the customer's
//! words: a bare `From:` line counts only with a `Sent:`/`Date:` line right
//! below it, and a line ending in "wrote:" only when it starts like a reply
//! header or quoted lines follow it. The caller keeps the full text anyway.

/// How many lines below an Outlook `From:` line its `Sent:` line may be.
const HEADER_BLOCK_LINES: usize = 4;

/// A mobile or webmail signature line is at most this many characters.
const MAX_SIGNATURE_LINE: usize = 60;

/// The text without quoted history, `>`-quoted lines and signatures; lines
/// end in `\n`, surrounding blank lines are trimmed. May be empty when the
/// message is nothing but history.
pub fn strip_quoted(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let cut = first_cut(&lines).unwrap_or(lines.len());
    let mut kept: Vec<&str> = lines[..cut]
        .iter()
        .copied()
        .filter(|line| !is_quoted(line))
        .map(str::trim_end)
        .collect();
    // Outlook puts a rule of underscores above its header block; what is
    // left at the end of the reply is only separators and blank lines.
    while kept.last().is_some_and(|line| is_separator(line)) {
        kept.pop();
    }
    while kept.first().is_some_and(|line| line.trim().is_empty()) {
        kept.remove(0);
    }
    kept.join("\n")
}

/// The index of the first line of history or signature, if any.
fn first_cut(lines: &[&str]) -> Option<usize> {
    (0..lines.len()).find_map(|i| cut_at(lines, i))
}

/// Whether line `i` starts history or a signature, and if so where the cut
/// goes (line `i`, or the line before for a reply header wrapped over two
/// lines).
fn cut_at(lines: &[&str], i: usize) -> Option<usize> {
    let raw = lines[i];
    if raw == "-- " || raw.trim_end() == "--" {
        return Some(i);
    }
    let line = unbold(raw.trim());
    if line.is_empty() {
        return None;
    }
    if is_mobile_signature(line) || is_original_message(line) {
        return Some(i);
    }
    if starts_with_field(line, &["发件人", "寄件者", "發件人"]) {
        return Some(i);
    }
    if starts_with_field(line, &["From"]) && outlook_block_follows(lines, i) {
        return Some(i);
    }
    wrote_header(lines, i)
}

/// `On … wrote:` / `在 … 写道：` and the like, possibly wrapped: the line
/// ending the header, or the line before when the header started there.
fn wrote_header(lines: &[&str], i: usize) -> Option<usize> {
    let line = lines[i].trim();
    if !line.ends_with([':', '：']) {
        return None;
    }
    let ending = Wrote::of_ending(line);
    if ending.is_some_and(|lang| lang.starts(line)) {
        return Some(i);
    }
    // Wrapped: the ending may only be recognizable on the joined lines (a
    // German header ends with the name after `schrieb`).
    if let Some(previous) = i
        .checked_sub(1)
        .map(|p| lines[p].trim())
        .filter(|p| !p.is_empty())
    {
        let joined = format!("{previous} {line}");
        if Wrote::of_ending(&joined).is_some_and(|lang| lang.starts(&joined)) {
            return i.checked_sub(1);
        }
    }
    (ending.is_some() && quoted_lines_follow(lines, i)).then_some(i)
}

/// The languages of `On … wrote:` headers.
#[derive(Clone, Copy)]
enum Wrote {
    English,
    German,
    French,
    Spanish,
    Chinese,
}

impl Wrote {
    /// The language whose header ending `line` has, if any.
    fn of_ending(line: &str) -> Option<Wrote> {
        if line.ends_with("wrote:") {
            Some(Wrote::English)
        } else if line.ends_with("a écrit :") || line.ends_with("a écrit:") {
            Some(Wrote::French)
        } else if line.ends_with("escribió:") {
            Some(Wrote::Spanish)
        } else if line.ends_with("schrieb:") || (line.ends_with(':') && line.contains(" schrieb "))
        {
            Some(Wrote::German)
        } else if ["写道：", "写道:", "寫道：", "寫道:"]
            .iter()
            .any(|end| line.ends_with(end))
        {
            Some(Wrote::Chinese)
        } else {
            None
        }
    }

    /// Whether `line` starts a header in this language.
    fn starts(self, line: &str) -> bool {
        let line = line.trim_start();
        let dated =
            |start: &str| line.starts_with(start) && line.chars().any(|c| c.is_ascii_digit());
        match self {
            Wrote::English => line.starts_with("On "),
            Wrote::German => dated("Am "),
            Wrote::French => dated("Le "),
            Wrote::Spanish => dated("El "),
            Wrote::Chinese => line.starts_with('在') || line.contains('于') || line.contains('於'),
        }
    }
}

/// Whether the next non-blank line after `i` is `>`-quoted.
fn quoted_lines_follow(lines: &[&str], i: usize) -> bool {
    lines[i + 1..]
        .iter()
        .find(|l| !l.trim().is_empty())
        .is_some_and(|l| is_quoted(l))
}

/// Whether an Outlook header block starts at the `From:` line `i`: a
/// `Sent:` or `Date:` field on the same line or within the next few.
fn outlook_block_follows(lines: &[&str], i: usize) -> bool {
    if lines[i].contains("Sent:") {
        return true;
    }
    lines[i + 1..]
        .iter()
        .take(HEADER_BLOCK_LINES)
        .any(|l| starts_with_field(unbold(l.trim()), &["Sent", "Date"]))
}

/// Whether `line` starts with one of `names` followed by `:` or `：`.
fn starts_with_field(line: &str, names: &[&str]) -> bool {
    names.iter().any(|name| {
        line.strip_prefix(name)
            .map(|rest| rest.trim_start_matches('*').trim_start())
            .is_some_and(|rest| rest.starts_with(':') || rest.starts_with('：'))
    })
}

/// A line with Outlook's plain-text bold markers (`*From:*`) removed from
/// its start.
fn unbold(line: &str) -> &str {
    line.trim_start_matches('*')
}

/// `-----Original Message-----`, `----- 原始邮件 -----` and the like.
fn is_original_message(line: &str) -> bool {
    if !line.starts_with(['-', '_', '=']) {
        return false;
    }
    // QQ Mail's plain-text part keeps the `&nbsp;` of its HTML here.
    let line = line.replace("&nbsp;", " ");
    let inner = line.trim_matches(|c: char| matches!(c, '-' | '_' | '=') || c.is_whitespace());
    ["original message", "original", "forwarded message"]
        .iter()
        .any(|marker| inner.eq_ignore_ascii_case(marker))
        || [
            "原始邮件",
            "原始郵件",
            "原邮件",
            "邮件原件",
            "回复的原邮件",
            "转发的邮件",
        ]
        .contains(&inner)
}

/// One-line signatures added by mobile and webmail clients.
fn is_mobile_signature(line: &str) -> bool {
    if line.chars().count() > MAX_SIGNATURE_LINE {
        return false;
    }
    let lower = line.to_lowercase();
    let english = [
        "sent from my ",
        "sent from mail for windows",
        "sent from outlook",
        "sent from yahoo mail",
        "get outlook for ",
    ]
    .iter()
    .any(|p| lower.starts_with(p));
    let chinese = ["发自我的", "發自我的", "来自我的", "來自我的"]
        .iter()
        .any(|p| line.starts_with(p))
        || (line.starts_with("从我的") && line.ends_with("发送"))
        || (line.starts_with("发自")
            && ["邮箱", "郵箱", "手机", "iphone", "ipad", "android"]
                .iter()
                .any(|w| lower.contains(w)));
    english || chinese
}

/// A `>`-quoted line.
fn is_quoted(line: &str) -> bool {
    line.trim_start().starts_with('>')
}

/// A blank line or a rule (`____`, `----`, `====`).
fn is_separator(line: &str) -> bool {
    let line = line.trim();
    line.is_empty()
        || (line.chars().count() >= 5 && line.chars().all(|c| matches!(c, '_' | '-' | '=')))
}

#[cfg(test)]
#[path = "quote_tests.rs"]
mod tests;
