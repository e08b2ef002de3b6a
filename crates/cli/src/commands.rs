//! The commands that read the configuration file: `token`, `profiles`, `invalidate`.

use std::collections::BTreeSet;
use std::future::Future;
use std::io::Write as _;
use std::time::Duration;

use grantkit::config::{Config, StoreConfig, StoreKind};
use grantkit::{
    Token, TokenManager,
    store::FileStore,
    time::{Clock as _, SystemClock},
};

use crate::failure::Failure;
use crate::{ConfigSource, TokenFormat, human};

/// The configuration `source` names, with the environment's overrides, and words naming
/// where it came from (a file's path, "standard input", "the environment").
///
/// `-c -` reads stdin to its end; `--no-config` reads the environment alone and is an
/// error when that defines no profile.
fn read_config(source: &ConfigSource) -> Result<(String, Config), Failure> {
    let (origin, config) = match source {
        ConfigSource::File(path) => (path.display().to_string(), Config::load(path)?),
        ConfigSource::Discover => {
            let path = Config::discover()?;
            (path.display().to_string(), Config::load(&path)?)
        }
        ConfigSource::Stdin => {
            let origin = "standard input".to_owned();
            let config = Config::load_reader(std::io::stdin().lock(), &origin)?;
            (origin, config)
        }
        ConfigSource::Environment => {
            let config = Config::from_env()?;
            if config.profiles.is_empty() {
                return Err(Failure::usage(
                    "--no-config: the environment defines no profile; set \
                     GRANTKIT_PROFILES__<PROFILE>__GRANT and the profile's other keys \
                     (GRANTKIT_PROFILES__<PROFILE>__TOKEN_URL, …__CLIENT_ID, …), or drop \
                     --no-config to read a configuration file",
                ));
            }
            ("the environment (--no-config)".to_owned(), config)
        }
    };
    tracing::debug!(config = %origin, "configuration loaded");
    Ok((origin, config))
}

/// [`read_config`] with the CLI's default store (see [`default_stores`]).
pub(crate) fn load_config(source: &ConfigSource) -> Result<Config, Failure> {
    let (_, mut config) = read_config(source)?;
    default_stores(&mut config);
    Ok(config)
}

/// Gives every profile without a `store` the file store in the user's cache directory, and
/// returns their names. The library's default, memory, would make every `grantkit`
/// process fetch a new token. Without a cache directory (no home), memory it stays, with
/// a warning.
fn default_stores(config: &mut Config) -> BTreeSet<String> {
    let without: BTreeSet<String> = config
        .profiles
        .iter()
        .filter(|(_, p)| p.store.is_none())
        .map(|(name, _)| name.clone())
        .collect();
    if without.is_empty() {
        return without;
    }
    if let Err(e) = FileStore::in_cache_dir() {
        tracing::warn!(
            "{}; profiles without a `store` keep their tokens in this process only",
            e.report()
        );
        return BTreeSet::new();
    }
    for name in &without {
        if let Some(profile) = config.profiles.get_mut(name) {
            let mut store = StoreConfig::default();
            store.kind = StoreKind::File;
            profile.store = Some(store);
        }
    }
    without
}

/// Runs `work` on a single-threaded runtime: one command, one token, no need for more.
pub(crate) fn block_on<T>(work: impl Future<Output = Result<T, Failure>>) -> Result<T, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| Failure::refused(format_args!("cannot start the async runtime: {e}")))?;
    runtime.block_on(work)
}

/// The manager of the named (or default) profile, and that profile's name; `deadline`
/// overrides the profile's `deadline_secs`.
pub(crate) fn manager(
    config: &Config,
    profile: Option<&str>,
    deadline: Option<Duration>,
) -> Result<(String, TokenManager), Failure> {
    let (name, _) = config.profile(profile)?;
    let name = name.to_owned();
    let mut builder = config.builder(Some(&name))?;
    if let Some(deadline) = deadline {
        builder = builder.deadline(deadline);
    }
    let manager = builder
        .build()
        .map_err(|e| e.with_context(format_args!("profile `{name}`")))?;
    tracing::debug!(profile = %name, key = %manager.cache_key(), "profile loaded");
    Ok((name, manager))
}

/// `grantkit token`.
pub(crate) fn token(
    source: &ConfigSource,
    profile: Option<&str>,
    format: TokenFormat,
    deadline: Option<Duration>,
) -> Result<(), Failure> {
    let config = load_config(source)?;
    let (token, requested_scope) = block_on(async {
        let (name, manager) = manager(&config, profile, deadline)?;
        let token = manager.token().await.map_err(|e| {
            if e.is_login_required() {
                crate::login::login_required(&name)
            } else {
                Failure::from(e.with_context(format_args!("profile `{name}`")))
            }
        })?;
        Ok::<_, Failure>((token, manager.identity().scope().map(str::to_owned)))
    })?;
    let text = render_token(&token, requested_scope.as_deref(), format);
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::output(&e))
}

/// `grantkit proof`: the `DPoP` header value for one request with the profile's token.
pub(crate) fn proof(
    source: &ConfigSource,
    profile: Option<&str>,
    method: &str,
    url: &str,
    deadline: Option<Duration>,
) -> Result<(), Failure> {
    // An HTTP method is a token (RFC 9110 §5.6.2).
    let is_token = !method.is_empty()
        && method
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if !is_token {
        return Err(Failure::usage(format_args!(
            "--method {method:?} is not an HTTP method"
        )));
    }
    let config = load_config(source)?;
    let proof = block_on(async {
        let (name, manager) = manager(&config, profile, deadline)?;
        if !manager.uses_dpop() {
            return Err(Failure::usage(format_args!(
                "profile `{name}` does not use DPoP: add dpop = {{ alg = \"ES256\" }} to it"
            )));
        }
        let token = manager.token().await.map_err(|e| {
            if e.is_login_required() {
                crate::login::login_required(&name)
            } else {
                Failure::from(e.with_context(format_args!("profile `{name}`")))
            }
        })?;
        let proof = manager
            .dpop_proof(method, url, &token)
            .map_err(|e| Failure::usage(e.with_context(format_args!("--url")).report()))?;
        proof.ok_or_else(|| {
            Failure::usage(format_args!(
                "profile `{name}`'s token is a {} token, not a DPoP token: the server did not \
                 bind it, and it is sent without a proof",
                token.token_type()
            ))
        })
    })?;
    let text = proof
        .to_str()
        .map_err(|_| Failure::refused("the proof is not printable"))?
        .to_owned();
    let mut out = std::io::stdout().lock();
    writeln!(out, "{text}")
        .and_then(|()| out.flush())
        .map_err(|e| Failure::output(&e))
}

/// The token as `--format` asks. In `json`, `scope` is the scope the server granted or,
/// when its response left `scope` out, the scope requested (RFC 6749 §5.1: the granted
/// scope is then the requested one), its scope tokens sorted as the manager's identity
/// keeps them; `null` only when neither exists.
fn render_token(token: &Token, requested_scope: Option<&str>, format: TokenFormat) -> String {
    match format {
        TokenFormat::Raw => token.access_token().secret().to_owned(),
        TokenFormat::Header => token.authorization_header(),
        TokenFormat::Json => {
            let now = SystemClock::new().now();
            serde_json::json!({
                "access_token": token.access_token().secret(),
                "token_type": token.token_type(),
                "expires_at": human::rfc3339(token.expires_at()),
                "expires_in": token.remaining(now).as_secs(),
                "scope": token.scope().or(requested_scope),
            })
            .to_string()
        }
    }
}

/// `grantkit profiles`: a table of name, grant (and preset, and the client authentication
/// a profile sets), token URL and store, with
/// `*` before the default profile. Built from `Profile::summary`, which holds no secret.
pub(crate) fn profiles(source: &ConfigSource) -> Result<(), Failure> {
    let (origin, mut config) = read_config(source)?;
    let defaulted = default_stores(&mut config);
    let cache_dir = FileStore::in_cache_dir()
        .map(|store| store.dir().display().to_string())
        .unwrap_or_else(|_| "user cache directory".to_owned());
    if config.profiles.is_empty() {
        return Err(Failure::usage(format_args!(
            "{origin} defines no profiles: add a [profiles.<name>] table"
        )));
    }
    let default = match config.profile(None) {
        Ok((name, _)) => Some(name.to_owned()),
        Err(e) => {
            if config.default_profile.is_some() {
                // `default_profile` names a profile that does not exist: say so, but list.
                tracing::warn!("{}", e.report());
            }
            None
        }
    };
    let mut rows = vec![[
        String::new(),
        "NAME".to_owned(),
        "GRANT".to_owned(),
        "TOKEN URL".to_owned(),
        "STORE".to_owned(),
    ]];
    for (name, profile) in &config.profiles {
        let summary = profile.summary();
        let grant = match (summary.grant, summary.preset) {
            (Some(grant), Some(preset)) => format!("{grant} ({preset})"),
            (None, Some(preset)) => preset.to_owned(),
            (Some(grant), None) => grant.to_owned(),
            (None, None) => "(missing)".to_owned(),
        };
        // The client authentication the profile sets, with the assertion's kid: never a key.
        let grant = match &summary.client_auth {
            Some(auth) => format!("{grant}, auth {auth}"),
            None => grant,
        };
        // A jwt_bearer profile's assertion kid (a thumbprint is read from the key).
        let grant = match &summary.jwt_key {
            Some(kid) => format!("{grant}, {kid}"),
            None => grant,
        };
        let grant = match &summary.dpop {
            Some(dpop) => format!("{grant}, DPoP {dpop}"),
            None => grant,
        };
        let marker = if default.as_deref() == Some(name.as_str()) {
            "*"
        } else {
            ""
        };
        let store = match (&summary.store_kind, profile.store.as_ref().map(|s| &s.path)) {
            (StoreKind::File, Some(None)) if defaulted.contains(name) => {
                format!("file ({cache_dir}; the CLI's default)")
            }
            (StoreKind::File, Some(None)) => format!("file ({cache_dir})"),
            _ => summary.store,
        };
        rows.push([
            marker.to_owned(),
            name.clone(),
            grant,
            match (summary.token_url, summary.issuer) {
                (Some(url), _) => url,
                (None, Some(issuer)) => format!("(discovered from {issuer})"),
                (None, None) => "(missing)".to_owned(),
            },
            store,
        ]);
    }
    let mut out = std::io::stdout().lock();
    write_table(&mut out, &rows)
        .and_then(|()| out.flush())
        .map_err(|e| Failure::output(&e))
}

fn write_table<const N: usize>(
    out: &mut impl std::io::Write,
    rows: &[[String; N]],
) -> std::io::Result<()> {
    let mut widths = [0; N];
    for row in rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    for row in rows {
        let mut line = String::new();
        for (i, (cell, width)) in row.iter().zip(widths).enumerate() {
            if i + 1 == N {
                line.push_str(cell);
            } else {
                line.push_str(cell);
                let pad = width - cell.chars().count();
                line.extend(std::iter::repeat_n(' ', pad + 2));
            }
        }
        writeln!(out, "{}", line.trim_end())?;
    }
    Ok(())
}

/// `grantkit invalidate`: removes the profile's token from its store.
pub(crate) fn invalidate(source: &ConfigSource, profile: Option<&str>) -> Result<(), Failure> {
    let config = load_config(source)?;
    let (name, kind, kept_refresh) = block_on(async {
        let (name, manager) = manager(&config, profile, None)?;
        let store = manager.store();
        let key = manager.cache_key();
        let context =
            |e: grantkit::Error| Failure::from(e.with_context(format_args!("profile `{name}`")));
        // A refresh token (a user's login, a password grant's) is kept on an expired
        // record: the next `grantkit token` renews through it instead of logging in anew.
        let kept_refresh = match store.load(key).await.map_err(context)? {
            Some(stored) if stored.refresh_token().is_some() => {
                store.save(key, &stored.expired()).await.map_err(context)?;
                true
            }
            _ => {
                store.remove(key).await.map_err(context)?;
                false
            }
        };
        let kind = config
            .profiles
            .get(&name)
            .and_then(|p| p.store.as_ref())
            .map_or(StoreKind::Memory, |s| s.kind);
        Ok((name, kind, kept_refresh))
    })?;
    let note = if kind == StoreKind::Memory {
        format!(
            "profile `{name}` keeps its token in memory only; there was no stored token to remove"
        )
    } else if kept_refresh {
        format!(
            "expired the stored token of profile `{name}`; its refresh token is kept, so the next \
             `grantkit token` renews through it"
        )
    } else {
        format!("removed the stored token of profile `{name}`")
    };
    let _ = writeln!(std::io::stderr().lock(), "grantkit: {note}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_columns_align() {
        let rows = [
            ["".to_owned(), "NAME".to_owned(), "URL".to_owned()],
            ["*".to_owned(), "acme".to_owned(), "https://a".to_owned()],
            ["".to_owned(), "b".to_owned(), "".to_owned()],
        ];
        let mut out = Vec::new();
        write_table(&mut out, &rows).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "   NAME  URL\n*  acme  https://a\n   b\n"
        );
    }
}
