//! Reading a configuration: the file, the environment, the profile asked for.

use std::io::Read as _;
use std::path::{Path, PathBuf};

use figment::providers::{Format, Toml};
use figment::value::{Dict, Map};
use figment::{Figment, Metadata, Provider, Source};
use grantkit_core::{Error, Result, TokenManager, TokenManagerBuilder};

use super::{
    CONFIG_ENV, CONFIG_FILE_NAME, Config, ConfigEnv, MAX_CONFIG_TEXT_BYTES, Profile, describe,
    permissions,
};

impl Config {
    /// The file at `path` with the environment's overrides.
    ///
    /// `path` may be a regular file or anything else that can be read once: a named pipe
    /// (FIFO), the `/dev/fd/N` of a shell's process substitution (`-c <(vault read …)`), a
    /// character device. Such a source is read once, to its end.
    ///
    /// A file that holds a secret (a client secret, a password, a JWT secret, an encryption
    /// key, a URL with credentials) and that group or others may read is reported once
    /// per process with a `WARN` event (as ssh does for private keys); it is still read.
    /// The check is the same for a named pipe (another user who may open it may read what
    /// is written into it); an anonymous pipe (`<(…)`) is private to its processes (mode
    /// 0600), so it never warns.
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) when the file is missing,
    /// a directory, unreadable or invalid; the message names the file, the key and what
    /// was wrong.
    pub fn load(path: impl AsRef<Path>) -> Result<Config> {
        let path = path.as_ref();
        let metadata = std::fs::metadata(path).map_err(|e| {
            let what = if e.kind() == std::io::ErrorKind::NotFound {
                "does not exist".to_owned()
            } else {
                format!("cannot be read: {e}")
            };
            Error::config(format!("configuration file {} {what}", path.display()))
        })?;
        if metadata.is_dir() {
            return Err(Error::config(format!(
                "configuration file {} is a directory",
                path.display()
            )));
        }
        if metadata.is_file() {
            permissions::warn_if_readable(path);
            return Self::from_figment(Self::figment(path));
        }
        // A pipe or a device: read it once; its text is both checked and parsed.
        let text = std::fs::File::open(path).and_then(read_text).map_err(|e| {
            Error::config(format!(
                "configuration file {} cannot be read: {e}",
                path.display()
            ))
        })?;
        permissions::warn_if_text_readable(path, &text);
        Self::load_text(&text, &path.display().to_string())
    }

    /// TOML `text` read from elsewhere than a file (standard input for `grantkit -c -`),
    /// with the environment's overrides. `origin` names where it came from in error
    /// messages (`in TOML from standard input`). No permission check applies: only the
    /// caller knows who else could read the text.
    ///
    /// ```
    /// # fn main() -> grantkit::Result<()> {
    /// use grantkit::config::Config;
    ///
    /// let text = "[profiles.acme]\ngrant = \"client_credentials\"\n";
    /// let config = Config::load_text(text, "standard input")?;
    /// assert_eq!(config.profile_names().collect::<Vec<_>>(), ["acme"]);
    ///
    /// let error = Config::load_text("[profiles.acme]\ngrnat = 1\n", "standard input").unwrap_err();
    /// assert!(error.to_string().ends_with("(at `profiles.acme.grnat`) in TOML from standard input"), "{error}");
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    /// As for [`Config::load`].
    pub fn load_text(text: &str, origin: &str) -> Result<Config> {
        Self::from_figment(
            Figment::new()
                .merge(NamedToml {
                    data: Toml::string(text),
                    origin: origin.to_owned(),
                })
                .merge(ConfigEnv::new()),
        )
    }

    /// [`Config::load_text`] of what `reader` holds, read to its end (standard input for
    /// `grantkit -c -`); at most [`MAX_CONFIG_TEXT_BYTES`].
    ///
    /// # Errors
    /// [`ErrorKind::Config`](grantkit_core::ErrorKind::Config) when the text cannot be read,
    /// is not UTF-8, is too long, or is not a valid configuration; the message names
    /// `origin`.
    pub fn load_reader(reader: impl std::io::Read, origin: &str) -> Result<Config> {
        let text = read_text(reader).map_err(|e| {
            Error::config(format!("cannot read the configuration from {origin}: {e}"))
        })?;
        Self::load_text(&text, origin)
    }

    /// The configuration of the environment alone, no file read: the
    /// `GRANTKIT_DEFAULT_PROFILE` and `GRANTKIT_PROFILES__<PROFILE>__<KEY>` variables (see
    /// [`ConfigEnv`]). What `grantkit --no-config` uses.
    ///
    /// # Errors
    /// As for [`Config::from_figment`]: a variable that is not valid UTF-8, a key that
    /// does not exist.
    pub fn from_env() -> Result<Config> {
        Self::from_figment(Figment::from(ConfigEnv::new()))
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

/// Reads `source` to its end as UTF-8 text of at most [`MAX_CONFIG_TEXT_BYTES`]; the
/// read's error, or `InvalidData` for text that is not UTF-8 or is too long.
fn read_text(source: impl std::io::Read) -> std::io::Result<String> {
    let mut text = String::new();
    source
        .take(MAX_CONFIG_TEXT_BYTES + 1)
        .read_to_string(&mut text)?;
    if text.len() as u64 > MAX_CONFIG_TEXT_BYTES {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidData,
            format!("more than {MAX_CONFIG_TEXT_BYTES} bytes"),
        ));
    }
    Ok(text)
}

/// TOML text whose errors name where it came from: figment names text given as a string
/// "TOML source string", with no origin.
struct NamedToml {
    data: figment::providers::Data<Toml>,
    origin: String,
}

impl Provider for NamedToml {
    fn metadata(&self) -> Metadata {
        Metadata::from("TOML from", Source::Custom(self.origin.clone()))
    }

    fn data(&self) -> std::result::Result<Map<figment::Profile, Dict>, figment::Error> {
        self.data.data()
    }
}
