//! Customers: profiles, identities and the admin API's updates.

use std::collections::HashMap;
use std::sync::Arc;

use redis::AsyncCommands;

use super::{Store, StoreError};

/// A customer profile as the admin API sets it.
#[derive(Clone, Debug, Default)]
pub struct CustomerUpdate {
    /// The shop's customer id (also an identity, kind `shop`).
    pub shop_id: String,
    /// Identities to link: kind (`phone`, `email`, `wechat-<account>`,
    /// `visitor`) and value, normalized.
    pub identities: Vec<(String, String)>,
    /// Attributes to set (`""` removes one).
    pub attributes: Vec<(String, String)>,
}

impl Store {
    /// Sets profile fields of the customer behind an identity (creating the
    /// customer if needed); returns the customer id.
    pub async fn update_profile(
        &self,
        identity: (&str, &str),
        fields: &[(&str, String)],
        now_ms: i64,
    ) -> Result<String, StoreError> {
        let mut inv = self.profile.key(self.keys.identity(identity.0, identity.1));
        inv.arg(self.keys.base()).arg(ulid::Ulid::new().to_string()).arg(now_ms);
        for (k, v) in fields {
            inv.arg(*k).arg(v);
        }
        let mut c = self.conn().await?;
        let r: Result<String, _> = inv.invoke_async(&mut c).await;
        self.check(r).await
    }

    /// A customer's profile fields.
    pub async fn customer_by_identity(&self, identity: (&str, &str)) -> Result<HashMap<String, String>, StoreError> {
        self.customer_by_identities(&[identity]).await
    }

    /// The profile fields of the first of `identities` that names a
    /// customer (empty when none does), in one round trip.
    pub async fn customer_by_identities(&self, identities: &[(&str, &str)]) -> Result<HashMap<String, String>, StoreError> {
        let keys = identities.iter().map(|(kind, value)| self.keys.identity(kind, value)).collect();
        self.batchers().await.lookup.call(keys).await
    }

    /// Several profile lookups in one call (`lua/lookup.lua`).
    pub(super) async fn lookup_batch(&self, lookups: Arc<Vec<Vec<String>>>) -> Result<Vec<HashMap<String, String>>, StoreError> {
        let mut inv = self.lookup.prepare_invoke();
        inv.arg(self.keys.base());
        for keys in lookups.iter() {
            for key in keys {
                inv.key(key);
            }
            inv.arg(keys.len());
        }
        let mut c = self.conn().await?;
        let r: Result<Vec<HashMap<String, String>>, _> = inv.invoke_async(&mut c).await;
        self.check(r).await
    }

    /// Creates or updates a customer (see `lua/customer.lua`); the
    /// customer id and whether it was created.
    pub async fn put_customer(&self, update: &CustomerUpdate, new_id: &str, now_ms: i64) -> Result<(String, bool), StoreError> {
        let mut inv = self.customer.key(self.keys.identity("shop", &update.shop_id));
        for (kind, value) in &update.identities {
            inv.key(self.keys.identity(kind, value));
        }
        inv.arg(self.keys.base()).arg(new_id).arg(now_ms).arg(&update.shop_id).arg(update.identities.len());
        for (kind, value) in &update.identities {
            inv.arg(format!("{kind}:{value}"));
        }
        for (field, value) in &update.attributes {
            inv.arg(field).arg(value);
        }
        let mut c = self.conn().await?;
        let r: Result<(String, i64), _> = inv.invoke_async(&mut c).await;
        let (id, created) = self.check(r).await?;
        Ok((id, created == 1))
    }

    /// The fields of customer `id`'s profile (empty when unknown).
    pub async fn customer_fields(&self, id: &str) -> Result<std::collections::HashMap<String, String>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<std::collections::HashMap<String, String>, _> = c.hgetall(self.keys.customer(id)).await;
        self.check(r).await
    }

    /// A customer's profile and identities, by an identity.
    pub async fn customer_profile(
        &self,
        identity: (&str, &str),
    ) -> Result<Option<(std::collections::HashMap<String, String>, Vec<String>)>, StoreError> {
        let mut c = self.conn().await?;
        let r: Result<Option<String>, _> = c.get(self.keys.identity(identity.0, identity.1)).await;
        let Some(cid) = self.check(r).await? else { return Ok(None) };
        let key = self.keys.customer(&cid);
        let r: Result<(std::collections::HashMap<String, String>, Vec<String>), _> =
            redis::pipe().hgetall(&key).smembers(format!("{key}:identities")).query_async(&mut c).await;
        let (profile, mut identities) = self.check(r).await?;
        identities.sort();
        Ok(Some((profile, identities)))
    }
}
