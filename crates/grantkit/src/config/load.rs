//! Reading a configuration: the file, the environment, the profile asked for.

use std::path::{Path, PathBuf};

use figment::Figment;
use figment::providers::{Format, Toml};
use grantkit_core::{Error, Result, TokenManager, TokenManagerBuilder};

use super::{CONFIG_ENV, CONFIG_FILE_NAME, Config, ConfigEnv, Profile, describe, permissions};

impl Config {
    /// The file at `path` with the environment's overrides.
    ///
    /// A file that holds a secret (a client secret, a password, a JWT secret, an encryption
    /// key, a URL with credentials) and that group or others may read is reported once
    /// per process with a `WARN` event (as ssh does for private keys); it is still read.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) when the file is missing or
    /// invalid; the message names the file, the key and what was wrong.
    pub fn load(path: impl AsRef<Path>) -> Result<Config> {
        let path = path.as_ref();
        if !path.is_file() {
            return Err(Error::config(format!(
                "configuration file {} does not exist",
                path.display()
            )));
        }
        permissions::warn_if_readable(path);
        Self::from_figment(Self::figment(path))
    }

    /// The configuration file to use: `$GRANTKIT_CONFIG`, else `./grantkit.toml`, else
    /// `grantkit/grantkit.toml` in the user's configuration directory.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming the places looked at.
    pub fn discover() -> Result<PathBuf> {
        if let Some(path) = std::env::var_os(CONFIG_ENV) {
            return Ok(PathBuf::from(path));
        }
        let mut candidates = vec![PathBuf::from(CONFIG_FILE_NAME)];
        if let Some(dir) = dirs::config_dir() {
            candidates.push(dir.join("grantkit").join(CONFIG_FILE_NAME));
        }
        candidates
            .iter()
            .find(|p| p.is_file())
            .cloned()
            .ok_or_else(|| {
                let places: Vec<String> =
                    candidates.iter().map(|p| p.display().to_string()).collect();
                Error::config(format!(
                    "no configuration file: set {CONFIG_ENV} or create one of {}",
                    places.join(", ")
                ))
            })
    }

    /// The figment this crate reads: the TOML file, then the configuration variables of
    /// the environment (see [`ConfigEnv`]: `GRANTKIT_DEFAULT_PROFILE` and
    /// `GRANTKIT_PROFILES__<PROFILE>__<KEY>`, values taken verbatim as text).
    pub fn figment(path: &Path) -> Figment {
        Figment::new()
            .merge(Toml::file_exact(path))
            .merge(ConfigEnv::new())
    }

    /// A configuration from TOML text alone (no environment).
    ///
    /// # Errors
    /// As for [`Config::load`].
    pub fn from_toml(text: &str) -> Result<Config> {
        Self::from_figment(Figment::from(Toml::string(text)))
    }

    /// A configuration from any figment.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) with figment's description
    /// of the bad key.
    pub fn from_figment(figment: Figment) -> Result<Config> {
        figment.extract::<Config>().map_err(|e| {
            let messages: Vec<String> = e.into_iter().map(|e| describe::describe(&e)).collect();
            Error::config(format!("invalid configuration: {}", messages.join("; ")))
        })
    }

    /// The names of the profiles, sorted.
    pub fn profile_names(&self) -> impl Iterator<Item = &str> {
        self.profiles.keys().map(String::as_str)
    }

    /// The profile called `name`, or the default one: `default_profile`, else the only
    /// profile if there is exactly one.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) naming the missing profile and
    /// the ones that exist.
    pub fn profile(&self, name: Option<&str>) -> Result<(&str, &Profile)> {
        let name = match name.or(self.default_profile.as_deref()) {
            Some(n) => n,
            None if self.profiles.len() == 1 => {
                self.profiles.keys().next().map_or("", String::as_str)
            }
            None => {
                return Err(Error::config(format!(
                    "no profile named and no default_profile set; profiles: {}",
                    self.names_list()
                )));
            }
        };
        self.profiles
            .get_key_value(name)
            .map(|(k, p)| (k.as_str(), p))
            .ok_or_else(|| {
                Error::config(format!(
                    "no profile `{name}` in the configuration; profiles: {}",
                    self.names_list()
                ))
            })
    }

    fn names_list(&self) -> String {
        if self.profiles.is_empty() {
            "(none)".to_owned()
        } else {
            self.profile_names().collect::<Vec<_>>().join(", ")
        }
    }

    /// The builder for a profile (see [`Config::profile`] for which).
    ///
    /// # Errors
    /// As for [`Profile::builder`].
    pub fn builder(&self, name: Option<&str>) -> Result<TokenManagerBuilder> {
        let (name, profile) = self.profile(name)?;
        profile.builder(name)
    }

    /// The manager for a profile.
    ///
    /// # Errors
    /// As for [`Profile::builder`], and [`TokenManagerBuilder::build`].
    pub fn manager(&self, name: Option<&str>) -> Result<TokenManager> {
        let (name, profile) = self.profile(name)?;
        profile
            .builder(name)?
            .build()
            .map_err(|e| e.with_context(format!("profile `{name}`")))
    }
}
