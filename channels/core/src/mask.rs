//! Masking of customer addresses for logs.
//!
//! Phone numbers, email addresses and provider ids are personal data: logs
//! at info level only ever see them through [`Masked`].

use std::fmt;

/// Displays an address with most of it hidden: `+1415****309`,
/// `j***@example.com`, `oyOR****f0rs`.
#[derive(Clone, Copy)]
pub struct Masked<'a>(pub &'a str);

impl fmt::Display for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = self.0;
        if let Some((local, domain)) = s.split_once('@') {
            let first: String = local.chars().take(1).collect();
            return write!(f, "{first}***@{domain}");
        }
        let chars: Vec<char> = s.chars().collect();
        let n = chars.len();
        if n <= 6 {
            return f.write_str(&"*".repeat(n));
        }
        let (head, tail) = if n >= 10 { (5, 3) } else { (2, 2) };
        let head: String = chars[..head].iter().collect();
        let tail: String = chars[n - tail..].iter().collect();
        write!(f, "{head}****{tail}")
    }
}

impl fmt::Debug for Masked<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

#[cfg(test)]
mod tests {
    use super::Masked;

    #[test]
    fn hides_the_middle() {
        assert_eq!(Masked("+14158675309").to_string(), "+1415****309");
        assert_eq!(Masked("jane@example.com").to_string(), "j***@example.com");
        assert_eq!(Masked("12345").to_string(), "*****");
        assert_eq!(Masked("").to_string(), "");
        assert!(!Masked("oyORnuP8q7ou2gfYjqLzSIWZf0rs").to_string().contains("nuP8q7ou2gfYjqLz"));
    }
}
