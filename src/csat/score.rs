//! Reading a customer's text reply as a satisfaction score: a reply that
//! is only a score on the configured scale (`4`, full-width `４`, `4分`,
//! `满意`, `good`…). Anything else is not a score and is routed as a
//! message. Pure, so that it is tested on its own.

/// The score `text` means on a `scale` of 2, 3 or 5 points, if it is only
/// a score.
pub fn parse(text: &str, scale: u8) -> Option<u8> {
    let cleaned = normalize(text)?;
    if let Some(n) = number(&cleaned) {
        return (1..=scale).contains(&n).then_some(n);
    }
    word(&cleaned).and_then(|five| on_scale(five, scale))
}

/// Lower-cased, full-width ASCII folded, surrounding spaces and closing
/// punctuation dropped; `None` when too long to be a score.
fn normalize(text: &str) -> Option<String> {
    let text = text.trim();
    if text.chars().count() > 24 {
        return None;
    }
    let folded: String = text
        .chars()
        .map(|c| match c {
            // Full-width forms of ASCII (U+FF01..U+FF5E) and the ideographic space.
            '\u{FF01}'..='\u{FF5E}' => char::from_u32(c as u32 - 0xFEE0).unwrap_or(c),
            '\u{3000}' => ' ',
            c => c,
        })
        .collect::<String>()
        .to_lowercase();
    let trimmed = folded.trim().trim_end_matches(['.', '!', '。', '～', '~', ' ']).trim();
    (!trimmed.is_empty()).then(|| trimmed.to_owned())
}

/// A bare number, optionally with a unit (`分`, `星`, `stars`, `/5`).
fn number(s: &str) -> Option<u8> {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    if digits.is_empty() || digits.len() > 2 {
        return None;
    }
    let rest = s[digits.len()..].trim();
    let unit_ok = ["", "分", "星", "颗星", "star", "stars", "/5", "/3", "/2", "points"].contains(&rest);
    if !unit_ok {
        return None;
    }
    digits.parse().ok()
}

/// A word's place on a five-point scale.
fn word(s: &str) -> Option<u8> {
    const WORDS: &[(&str, u8)] = &[
        ("非常满意", 5),
        ("很满意", 5),
        ("超级满意", 5),
        ("excellent", 5),
        ("great", 5),
        ("very good", 5),
        ("very satisfied", 5),
        ("满意", 4),
        ("好", 4),
        ("good", 4),
        ("satisfied", 4),
        ("一般", 3),
        ("还行", 3),
        ("还可以", 3),
        ("ok", 3),
        ("okay", 3),
        ("neutral", 3),
        ("不满意", 2),
        ("不好", 2),
        ("差", 2),
        ("bad", 2),
        ("poor", 2),
        ("unsatisfied", 2),
        ("dissatisfied", 2),
        ("非常不满意", 1),
        ("很不满意", 1),
        ("很差", 1),
        ("terrible", 1),
        ("awful", 1),
        ("very bad", 1),
        ("very dissatisfied", 1),
    ];
    WORDS.iter().find(|(w, _)| *w == s).map(|(_, n)| *n)
}

/// A five-point word on a smaller scale; a neutral word has no place on
/// the two-point scale.
fn on_scale(five: u8, scale: u8) -> Option<u8> {
    match scale {
        2 => match five {
            1 | 2 => Some(1),
            4 | 5 => Some(2),
            _ => None,
        },
        3 => Some(match five {
            1 | 2 => 1,
            3 => 2,
            _ => 3,
        }),
        _ => Some(five),
    }
}

#[cfg(test)]
mod tests {
    use super::parse;

    #[test]
    fn numbers_on_the_scale_are_scores() {
        assert_eq!(parse("5", 5), Some(5));
        assert_eq!(parse(" 1 ", 5), Some(1));
        assert_eq!(parse("５", 5), Some(5), "full-width digit");
        assert_eq!(parse("４分", 5), Some(4));
        assert_eq!(parse("3 stars", 5), Some(3));
        assert_eq!(parse("5!", 5), Some(5));
        assert_eq!(parse("2", 2), Some(2));
        assert_eq!(parse("3", 2), None, "beyond a two-point scale");
        assert_eq!(parse("0", 5), None);
        assert_eq!(parse("6", 5), None);
        assert_eq!(parse("10", 5), None);
    }

    #[test]
    fn words_map_per_scale() {
        assert_eq!(parse("满意", 5), Some(4));
        assert_eq!(parse("非常满意", 5), Some(5));
        assert_eq!(parse("不满意", 5), Some(2));
        assert_eq!(parse("满意", 2), Some(2));
        assert_eq!(parse("不满意", 2), Some(1));
        assert_eq!(parse("一般", 2), None, "no neutral on two points");
        assert_eq!(parse("一般", 3), Some(2));
        assert_eq!(parse("Good", 3), Some(3));
        assert_eq!(parse("terrible.", 5), Some(1));
    }

    #[test]
    fn anything_else_is_a_message() {
        for text in ["", "  ", "5 days and still no parcel", "1234", "where is my order", "满意吗？", "ok but the parcel is late"] {
            assert_eq!(parse(text, 5), None, "{text:?}");
        }
    }
}
