//! `login`, `logout` and `whoami`: the API key in the OS keyring, and whose it is.

use std::io::{self, IsTerminal as _, Read as _, Write as _};

use anyhow::{Context as _, bail};

use serde::Serialize;

use super::context::{self, finish_output, warn};
use super::exit::Exit;
use super::{JsonArgs, json};
use crate::api::models::CurrentUser;
use crate::api::{ApiError, ApiKey, ClientConfig, KeyProblem, RunflowClient};
use crate::auth::{self, API_KEY_ENV, KeyStore};

/// Longest input read from stdin for a key; a key is far shorter.
const MAX_STDIN_BYTES: u64 = 64 * 1024;

/// Flags of `login`.
#[derive(clap::Args, Debug)]
#[command(
    after_help = "Create a key in the Runflow dashboard under Settings > API Keys. \
    The key is checked with Runflow before it is stored in the OS keyring (Secret Service, \
    macOS Keychain or Windows Credential Manager).\n\n\
    RUNFLOW_UPLOADER_KEYRING=os requires the OS keyring; =memory never touches it (the key \
    then lasts only for this command); the default, auto, uses the OS keyring whenever it \
    answers. RUNFLOW_API_KEY, when set, overrides the stored key in every command.\n\n\
    Examples:\n  runflow-uploader login\n  \
    printf '%s' \"$KEY\" | runflow-uploader login --key-stdin"
)]
pub struct LoginArgs {
    /// Read the key from standard input (the first non-empty line) instead of prompting. This is
    /// also what happens when standard input is not a terminal.
    #[arg(long)]
    pub key_stdin: bool,
    /// Print the result as one JSON object (see docs/cli-json.md).
    #[arg(long)]
    pub json: bool,
}

/// `login --json` and `whoami --json`: the account a key belongs to.
#[derive(Debug, Serialize)]
struct AccountRecord {
    email: Option<String>,
    name: Option<String>,
    organisations: Vec<OrgRecord>,
    /// `env` or `keyring`.
    key_source: &'static str,
    /// Where the key is kept now (login) or was read from (whoami), e.g. `Secret Service`.
    keyring: Option<&'static str>,
    base_url: String,
    base_url_source: String,
}

#[derive(Debug, Serialize)]
struct OrgRecord {
    id: Option<String>,
    name: Option<String>,
    role: Option<String>,
}

impl AccountRecord {
    fn new(
        user: &CurrentUser,
        key_source: &auth::KeySource,
        base_url: &str,
        base_url_source: String,
    ) -> Self {
        let name = full_name(user);
        Self {
            email: user.email.clone(),
            name: (!name.is_empty()).then_some(name),
            organisations: user
                .memberships
                .iter()
                .map(|m| OrgRecord {
                    id: m.org.as_ref().and_then(|o| o.id.clone()),
                    name: m
                        .org
                        .as_ref()
                        .and_then(|o| o.name.clone().or_else(|| o.slug.clone())),
                    role: m.role_code.clone(),
                })
                .collect(),
            key_source: match key_source {
                auth::KeySource::Env => "env",
                auth::KeySource::Keyring { .. } => "keyring",
            },
            keyring: match key_source {
                auth::KeySource::Env => None,
                auth::KeySource::Keyring { backend } => Some(backend),
            },
            base_url: base_url.trim_end_matches('/').to_owned(),
            base_url_source,
        }
    }
}

fn full_name(user: &CurrentUser) -> String {
    [user.first_name.as_deref(), user.last_name.as_deref()]
        .into_iter()
        .flatten()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// Checks a key with `GET /v1/auth/me` and, when Runflow accepts it, stores it in the keyring.
/// Fails (exit 1) when there is no OS keyring to store it in: a key kept in memory would be
/// gone before the next command, so `login && upload` must not look like it worked.
pub async fn login(args: LoginArgs) -> anyhow::Result<Exit> {
    let (base_url, base_url_source) = context::base_url().await?;
    // Open the store first, so a broken keyring is reported before the user types a key.
    let store = KeyStore::open()
        .await
        .context("could not open the keyring to store the API key")?;

    let from_stdin = args.key_stdin || !io::stdin().is_terminal();
    let key = tokio::task::spawn_blocking(move || read_key(from_stdin))
        .await
        .context("reading the API key did not finish")??;

    let client = RunflowClient::new(
        key.clone(),
        ClientConfig {
            base_url: base_url.to_string(),
            ..ClientConfig::default()
        },
    )
    .context("could not set up the Runflow client")?;
    let user = match client.current_user().await {
        Ok(user) => user,
        Err(err @ ApiError::Unauthorized { .. }) => {
            return Err(anyhow::Error::new(err).context(
                "Runflow rejected this API key, so nothing was stored. Copy the whole key \
                 (it is shown only once when created) or create a new one in the Runflow \
                 dashboard under Settings > API Keys",
            ));
        }
        Err(err) => {
            return Err(anyhow::Error::new(err).context(format!(
                "could not check the API key with {base_url} (from {base_url_source}), so \
                 nothing was stored"
            )));
        }
    };

    if !store.is_persistent() {
        let why = store.fallback_reason().map_or_else(
            || format!("{} is set to memory", auth::BACKEND_ENV),
            |reason| format!("no OS keyring is available ({reason})"),
        );
        bail!(
            "Runflow accepted the key for {}, but it was not stored: {why}. Set {API_KEY_ENV} \
             to the key in the environment of each command instead (e.g. `export \
             {API_KEY_ENV}=...`), or start a Secret Service such as gnome-keyring and run \
             `runflow-uploader login` again",
            context::sanitize(user.email.as_deref().unwrap_or("this account")),
        );
    }
    store
        .save(&key)
        .await
        .context("Runflow accepted the key, but it could not be stored")?;

    let mut out = io::stdout().lock();
    let result = if args.json {
        let record = AccountRecord::new(
            &user,
            &auth::KeySource::Keyring {
                backend: store.backend_name(),
            },
            base_url.as_str(),
            base_url_source.to_string(),
        );
        json::write_record(&mut out, "login", &record)
    } else {
        writeln!(
            out,
            "Logged in as {} ({}). The key is stored in the {}.",
            context::sanitize(user.email.as_deref().unwrap_or("an account without email")),
            context::sanitize(&org_names(&user)),
            store.backend_name()
        )
    };
    finish_output(&mut out, result)?;
    drop(out);

    if auth::env_api_key().is_some() {
        warn(format_args!(
            "{API_KEY_ENV} is set in this environment and is used instead of the stored key; \
             unset it to use the key you just stored."
        ));
    }
    Ok(Exit::Success)
}

/// Reads the key from stdin, or from a hidden prompt on the terminal. Blocks.
fn read_key(from_stdin: bool) -> anyhow::Result<ApiKey> {
    let raw = if from_stdin {
        let mut input = String::new();
        io::stdin()
            .lock()
            .take(MAX_STDIN_BYTES)
            .read_to_string(&mut input)
            .context("could not read the API key from standard input")?;
        input
            .lines()
            .map(str::trim)
            .find(|line| !line.is_empty())
            .unwrap_or_default()
            .to_owned()
    } else {
        let _ = writeln!(
            io::stderr().lock(),
            "Paste your Runflow API key (create one in the dashboard under Settings > API Keys)."
        );
        rpassword::prompt_password("API key (input hidden): ")
            .context("could not read the API key from the terminal")?
    };
    match ApiKey::parse(&raw) {
        Ok(key) => Ok(key),
        Err(KeyProblem::Empty) => bail!(
            "no API key was given; paste the key from the Runflow dashboard (Settings > API \
             Keys){}",
            if from_stdin {
                " on standard input"
            } else {
                " at the prompt"
            }
        ),
        Err(problem @ KeyProblem::Malformed) => bail!("{problem}"),
    }
}

/// Removes the key from the keyring.
pub async fn logout(args: JsonArgs) -> anyhow::Result<Exit> {
    let store = KeyStore::open()
        .await
        .context("could not open the keyring to remove the API key")?;
    let removed = store
        .delete()
        .await
        .context("could not remove the API key")?;
    let mut out = io::stdout().lock();
    let result = if args.json {
        #[derive(Serialize)]
        struct LogoutRecord {
            removed: bool,
            keyring: &'static str,
        }
        json::write_record(
            &mut out,
            "logout",
            &LogoutRecord {
                removed,
                keyring: store.backend_name(),
            },
        )
    } else if removed {
        writeln!(out, "Removed the API key from {}.", store.backend_name())
    } else {
        writeln!(
            out,
            "No API key was stored in {}; nothing to remove.",
            store.backend_name()
        )
    };
    finish_output(&mut out, result)?;
    drop(out);
    if auth::env_api_key().is_some() {
        warn(format_args!(
            "{API_KEY_ENV} is still set in this environment and overrides the keyring; unset \
             it to log out completely."
        ));
    }
    Ok(Exit::Success)
}

/// Shows the account, organisations, where the key came from and the base URL.
pub async fn whoami(args: JsonArgs) -> anyhow::Result<Exit> {
    let connection = context::connect().await?;
    let user = connection
        .client
        .current_user()
        .await
        .map_err(|err| connection.explain(err, "check the API key"))?;
    if args.json {
        let record = AccountRecord::new(
            &user,
            &connection.key_source,
            connection.client.base_url().as_str(),
            connection.base_url_source.to_string(),
        );
        let mut out = io::stdout().lock();
        let written = json::write_record(&mut out, "account", &record);
        finish_output(&mut out, written)?;
        return Ok(Exit::Success);
    }

    let name = full_name(&user);
    let orgs: Vec<String> = user
        .memberships
        .iter()
        .map(|m| {
            let org = m.org.as_ref();
            let name = org
                .and_then(|o| o.name.as_deref().or(o.slug.as_deref()))
                .unwrap_or("unnamed organisation");
            match (&m.role_code, org.and_then(|o| o.id.as_deref())) {
                (Some(role), Some(id)) => format!("{name} ({role}, id {id})"),
                (Some(role), None) => format!("{name} ({role})"),
                (None, Some(id)) => format!("{name} (id {id})"),
                (None, None) => name.to_owned(),
            }
        })
        .collect();

    let rows = [
        ("Email", context::or_dash(user.email.as_deref())),
        (
            "Name",
            if name.is_empty() {
                "-".to_owned()
            } else {
                name
            },
        ),
        (
            if orgs.len() > 1 {
                "Organisations"
            } else {
                "Organisation"
            },
            if orgs.is_empty() {
                "-".to_owned()
            } else {
                orgs.join("; ")
            },
        ),
        ("API key from", connection.key_source.to_string()),
        (
            "Base URL",
            format!(
                "{} (from {})",
                connection.client.base_url().as_str().trim_end_matches('/'),
                connection.base_url_source
            ),
        ),
    ];
    let width = rows.iter().map(|(label, _)| label.len()).max().unwrap_or(0) + 1;
    let mut out = io::stdout().lock();
    let result = rows.iter().try_for_each(|(label, value)| {
        writeln!(
            out,
            "{:<width$} {}",
            format!("{label}:"),
            context::sanitize(value)
        )
    });
    finish_output(&mut out, result)?;
    Ok(Exit::Success)
}

/// The user's organisation names, comma-separated.
fn org_names(user: &CurrentUser) -> String {
    let names: Vec<&str> = user
        .memberships
        .iter()
        .filter_map(|m| m.org.as_ref())
        .filter_map(|o| o.name.as_deref().or(o.slug.as_deref()))
        .collect();
    if names.is_empty() {
        "no organisation".to_owned()
    } else {
        names.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::models::{Membership, Organization};

    #[test]
    fn org_names_join_or_say_none() {
        let mut user = CurrentUser::default();
        assert_eq!(org_names(&user), "no organisation");
        user.memberships = vec![
            Membership {
                org: Some(Organization {
                    name: Some("Acme".into()),
                    ..Organization::default()
                }),
                ..Membership::default()
            },
            Membership {
                org: Some(Organization {
                    slug: Some("beta".into()),
                    ..Organization::default()
                }),
                ..Membership::default()
            },
        ];
        assert_eq!(org_names(&user), "Acme, beta");
    }
}
