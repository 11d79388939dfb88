//! The flat XML WeChat speaks: `<xml>` with one element per field, values
//! usually in CDATA.
//!
//! Pushes are read into a list of `(name, text)` pairs instead of through a
//! typed deserializer because WeChat adds fields without notice and the
//! same envelope carries every message and event type: we need "the
//! fields that are there", not a schema. A field we act on must not be
//! ambiguous, so [`Fields::unique`] refuses a repeated one.
//!
//! The parser (roxmltree) refuses DTDs, so entity-expansion tricks are out,
//! and a node limit caps the memory an adversarial body can claim.

use crate::error::{Result, WechatError};

/// More nodes than any real push has (a few dozen), few enough to bound
/// the tree an adversarial body can build.
const NODES_LIMIT: u32 = 4096;

/// The leaf fields directly under `<xml>`, in document order. Elements that
/// hold other elements (e.g. `ScanCodeInfo`) are skipped: nothing we decode
/// reads them.
#[derive(Debug)]
pub(crate) struct Fields {
    entries: Vec<(String, String)>,
}

impl Fields {
    /// Parses a push. Not well-formed XML, a DTD, or a root other than
    /// `<xml>` is [`WechatError::Malformed`].
    pub(crate) fn parse(xml: &str) -> Result<Fields> {
        let options = roxmltree::ParsingOptions {
            allow_dtd: false,
            nodes_limit: NODES_LIMIT,
            ..roxmltree::ParsingOptions::default()
        };
        let doc = roxmltree::Document::parse_with_options(xml, options)
            .map_err(|_| WechatError::malformed("body is not well-formed XML"))?;
        let root = doc.root_element();
        if root.tag_name().name() != "xml" {
            return Err(WechatError::malformed("root element is not <xml>"));
        }
        let entries = root
            .children()
            .filter(|node| node.is_element())
            .filter(|node| !node.children().any(|child| child.is_element()))
            .map(|node| {
                // Text and CDATA children, joined: WeChat sometimes wraps a
                // CDATA section in whitespace or splits it in two.
                let text: String = node.children().filter_map(|child| child.text()).collect();
                (node.tag_name().name().to_owned(), text)
            })
            .collect();
        Ok(Fields { entries })
    }

    /// Every field, in document order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &str)> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_str()))
    }

    /// The value of `name` when it appears at most once; a repeated field
    /// is `Malformed`.
    pub(crate) fn unique(&self, name: &str) -> Result<Option<&str>> {
        let mut values = self.iter().filter(|(n, _)| *n == name);
        let first = values.next().map(|(_, v)| v);
        if values.next().is_some() {
            return Err(WechatError::malformed(format!(
                "{name} appears more than once"
            )));
        }
        Ok(first)
    }

    /// The trimmed value of `name` when present and not blank.
    pub(crate) fn optional(&self, name: &str) -> Result<Option<&str>> {
        Ok(self.unique(name)?.map(str::trim).filter(|v| !v.is_empty()))
    }

    /// The trimmed, non-empty value of `name`, which must appear once.
    pub(crate) fn required(&self, name: &str) -> Result<&str> {
        self.optional(name)?
            .ok_or_else(|| WechatError::malformed(format!("missing {name}")))
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)] // a test should fail loudly at the first surprise
mod tests {
    use super::*;

    #[test]
    fn reads_cdata_and_plain_text() {
        let f = Fields::parse(
            "<xml><A><![CDATA[ a&b <c> ]]></A><B>12</B>\n<C> <![CDATA[x]]><![CDATA[y]]> </C><D/>\
             <E><Inner>1</Inner></E></xml>",
        )
        .unwrap();
        assert_eq!(f.unique("A").unwrap(), Some(" a&b <c> "));
        assert_eq!(f.required("B").unwrap(), "12");
        assert_eq!(f.unique("C").unwrap(), Some(" xy "));
        assert_eq!(f.unique("D").unwrap(), Some(""));
        assert_eq!(f.optional("D").unwrap(), None);
        assert_eq!(
            f.unique("E").unwrap(),
            None,
            "non-leaf elements are skipped"
        );
        assert!(f.required("D").is_err());
        assert!(f.required("Z").is_err());
    }

    #[test]
    fn refuses_what_is_not_a_push() {
        for bad in [
            "",
            "success",
            "<xml>",
            "<root><A>1</A></root>",
            "<xml><A>1</A></xml><xml/>",
            "<!DOCTYPE xml [<!ENTITY a \"aaaa\">]><xml><A>&a;</A></xml>",
        ] {
            assert!(Fields::parse(bad).is_err(), "{bad:?}");
        }
        let dup = Fields::parse("<xml><A>1</A><A>2</A></xml>").unwrap();
        assert!(dup
            .unique("A")
            .unwrap_err()
            .to_string()
            .contains("more than once"));
    }

    #[test]
    fn node_limit_bounds_the_tree() {
        let many = format!("<xml>{}</xml>", "<A>1</A>".repeat(5000));
        assert!(Fields::parse(&many).is_err());
    }
}
