//! Customer profiles (`{P}:customer:<cid>` and its identity set).

use std::collections::HashMap;

use serde::Serialize;
use utoipa::ToSchema;

use super::field;

/// One identity linked to a customer, in the shape `PUT
/// /api/v1/customers/{id}` takes.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, ToSchema)]
pub struct Identity {
    /// `phone`, `email`, `visitor` (a web chat visitor), `wechat:<account>`
    /// (an OpenID of that WeChat account) or `shop` (the shop's customer id).
    #[schema(example = "phone")]
    pub kind: String,
    /// The value: an E.164 number, an address, a visitor id, an OpenID, a shop id.
    #[schema(example = "+8613800138000")]
    pub value: String,
}

impl Identity {
    /// The identity stored as `kind:value` (WeChat kinds are stored as
    /// `wechat-<account>`); `None` for a member without a `:`.
    pub fn from_stored(member: &str) -> Option<Identity> {
        let (kind, value) = member.split_once(':')?;
        let kind = match kind.strip_prefix("wechat-") {
            Some(account) => format!("wechat:{account}"),
            None => kind.to_owned(),
        };
        Some(Identity { kind, value: value.to_owned() })
    }
}

/// The attributes routing and agents use; absent when not set.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, ToSchema)]
pub struct CustomerAttributes {
    /// The customer's tier (routing rules match it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tier: Option<String>,
    /// A lower-case language code (routing rules match it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The customer's name.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Tags.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tags: Option<Vec<String>>,
}

/// A customer profile.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, ToSchema)]
pub struct Customer {
    /// The shop's customer id.
    pub id: String,
    /// The router's customer id.
    pub customer: Option<String>,
    /// The linked identities, sorted.
    pub identities: Vec<Identity>,
    /// The attributes set.
    pub attributes: CustomerAttributes,
    /// The customer's open conversation, if any.
    pub open_conversation: Option<String>,
    /// The agent who last served the customer.
    pub last_agent: Option<String>,
}

impl Customer {
    /// The profile of shop customer `shop_id` from the customer hash and
    /// the members of its identity set.
    pub fn from_stored(shop_id: &str, hash: &HashMap<String, String>, identities: &[String]) -> Customer {
        let f = |k: &str| field(hash, k).map(str::to_owned);
        let mut identities: Vec<Identity> = identities.iter().filter_map(|m| Identity::from_stored(m)).collect();
        identities.sort();
        Customer {
            id: shop_id.to_owned(),
            customer: f("id"),
            identities,
            attributes: CustomerAttributes {
                tier: f("tier"),
                language: f("language"),
                name: f("name"),
                tags: f("tags").map(|t| t.split(',').map(str::to_owned).collect()),
            },
            open_conversation: f("open"),
            last_agent: f("last_agent"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identities_are_kind_and_value() {
        let ids = ["phone:+14155550001".to_owned(), "wechat-main:oAbc".to_owned(), "shop:c-1".to_owned(), "bad".to_owned()];
        let c = Customer::from_stored("c-1", &HashMap::new(), &ids);
        let kinds: Vec<(&str, &str)> = c.identities.iter().map(|i| (i.kind.as_str(), i.value.as_str())).collect();
        assert_eq!(kinds, [("phone", "+14155550001"), ("shop", "c-1"), ("wechat:main", "oAbc")]);
        assert_eq!(c.attributes, CustomerAttributes::default());
    }
}
