//! The Redis store's connection keys: `store.ca_file`, `store.certificate_file`,
//! `store.private_key_file` (TLS), `store.username`, `store.password`,
//! `store.password_file` (ACL); what `grantkit profiles` shows of them; and the refusal of
//! these keys on the other stores, where they would be silently unused.

use grantkit_core::{Error, Result, redact_url};

use super::{StoreConfig, StoreKind};

impl StoreConfig {
    /// The Redis-only keys that are set, by name.
    fn redis_keys(&self) -> impl Iterator<Item = &'static str> + '_ {
        [
            ("ca_file", self.ca_file.is_some()),
            ("certificate_file", self.certificate_file.is_some()),
            ("private_key_file", self.private_key_file.is_some()),
            ("username", self.username.is_some()),
            ("password", self.password.is_some()),
            ("password_file", self.password_file.is_some()),
        ]
        .into_iter()
        .filter_map(|(key, set)| set.then_some(key))
    }

    /// Refuses a Redis-only key on another store.
    pub(crate) fn check_redis_keys(&self, name: &str) -> Result<()> {
        if self.kind == StoreKind::Redis {
            return Ok(());
        }
        match self.redis_keys().next() {
            Some(key) => Err(Error::config(format!(
                "profile `{name}`: field `store.{key}` is only used by the redis store"
            ))),
            None => Ok(()),
        }
    }

    /// The connection options of a Redis store; the files are read by
    /// `RedisStore::from_url_with`, the password file now.
    #[cfg(feature = "store-redis")]
    pub(crate) fn redis_options(&self, name: &str) -> Result<grantkit_stores::RedisOptions> {
        let mut options = grantkit_stores::RedisOptions::new();
        if let Some(path) = &self.ca_file {
            options = options.ca_file(path);
        }
        match (&self.certificate_file, &self.private_key_file) {
            (Some(cert), Some(key)) => options = options.client_certificate_files(cert, key),
            (Some(_), None) => return Err(super::build::missing(name, "store.private_key_file")),
            (None, Some(_)) => {
                return Err(Error::config(format!(
                    "profile `{name}`: field `store.private_key_file` is the key of \
                     `store.certificate_file`; give both"
                )));
            }
            (None, None) => {}
        }
        if let Some(username) = &self.username {
            options = options.username(username);
        }
        if let Some(password) = self.redis_password(name)? {
            options = options.password(password);
        }
        Ok(options)
    }

    /// `redis (rediss://***@host:6380/; ca_file ca.pem; …)`: the URL redacted, the files
    /// and the user named, never a password.
    pub(crate) fn redis_summary(&self) -> String {
        let url = self
            .url
            .as_deref()
            .map_or_else(|| "no url".to_owned(), redact_url);
        let mut parts = vec![url];
        for (key, path) in [
            ("ca_file", &self.ca_file),
            ("certificate_file", &self.certificate_file),
            ("password_file", &self.password_file),
        ] {
            if let Some(path) = path {
                parts.push(format!("{key} {}", path.display()));
            }
        }
        if let Some(user) = &self.username {
            parts.push(format!("user {user}"));
        }
        if self.password.is_some() {
            parts.push("password set".to_owned());
        }
        format!("redis ({})", parts.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use crate::config::Config;

    fn profile(store: &str) -> crate::config::Profile {
        let text = format!(
            "[profiles.p]\ngrant = \"client_credentials\"\ntoken_url = \"https://a.example/t\"\n\
             client_id = \"c\"\nstore = {store}\n"
        );
        Config::from_toml(&text).unwrap().profiles["p"].clone()
    }

    #[test]
    fn the_summary_names_files_and_user_never_a_password() {
        let p = profile(
            r#"{ kind = "redis", url = "rediss+sentinel://:url-pw@s1:26379,s2/mymaster", ca_file = "ca.pem", certificate_file = "c.pem", private_key_file = "k.pem", username = "app", password = "store-pw" }"#,
        );
        assert_eq!(
            p.summary().store,
            "redis (rediss+sentinel://***@s1:26379,s2/mymaster; ca_file ca.pem; \
             certificate_file c.pem; user app; password set)"
        );
    }

    #[test]
    fn redis_keys_on_another_store_are_refused() {
        let p = profile(r#"{ kind = "file", ca_file = "ca.pem" }"#);
        let store = p.store.as_ref().unwrap();
        assert_eq!(
            store.check_redis_keys("p").unwrap_err().to_string(),
            "profile `p`: field `store.ca_file` is only used by the redis store"
        );
    }
}
