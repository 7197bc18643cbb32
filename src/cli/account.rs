//! `login`, `logout` and `whoami`: the API key in the OS keyring, and whose it is.

use std::io::{self, IsTerminal as _, Read as _, Write as _};

use anyhow::{Context as _, bail};

use super::context::{self, finish_output, warn};
use crate::api::models::CurrentUser;
use crate::api::{ApiError, ApiKey, ClientConfig, RunflowClient};
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
}

/// Checks a key with `GET /v1/auth/me` and, when Runflow accepts it, stores it in the keyring.
pub async fn login(args: LoginArgs) -> anyhow::Result<()> {
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

    store
        .save(&key)
        .await
        .context("Runflow accepted the key, but it could not be stored")?;

    let mut out = io::stdout().lock();
    let result = writeln!(
        out,
        "Logged in as {} ({}). The key is stored in {}.",
        context::sanitize(user.email.as_deref().unwrap_or("an account without email")),
        context::sanitize(&org_names(&user)),
        store.backend_name()
    );
    finish_output(&mut out, result)?;
    drop(out);

    if !store.is_persistent() {
        let why = store.fallback_reason().map_or_else(
            || "the key is kept in memory only".to_owned(),
            |reason| format!("no OS keyring is available ({reason})"),
        );
        warn(format_args!(
            "{why}, so it is forgotten when this command ends. Set {API_KEY_ENV} for the other \
             commands, or start a Secret Service such as gnome-keyring and log in again."
        ));
    }
    if auth::env_api_key().is_some() {
        warn(format_args!(
            "{API_KEY_ENV} is set in this environment and is used instead of the stored key; \
             unset it to use the key you just stored."
        ));
    }
    Ok(())
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
    let Some(key) = ApiKey::new(raw) else {
        bail!(
            "no API key was given; paste the key from the Runflow dashboard (Settings > API \
             Keys){}",
            if from_stdin {
                " on standard input"
            } else {
                " at the prompt"
            }
        );
    };
    if key
        .expose()
        .chars()
        .any(|c| c.is_whitespace() || c.is_control())
    {
        bail!(
            "the API key contains spaces or control characters; paste only the key itself, as \
             shown in the Runflow dashboard"
        );
    }
    Ok(key)
}

/// Removes the key from the keyring.
pub async fn logout() -> anyhow::Result<()> {
    let store = KeyStore::open()
        .await
        .context("could not open the keyring to remove the API key")?;
    let removed = store
        .delete()
        .await
        .context("could not remove the API key")?;
    let mut out = io::stdout().lock();
    let result = if removed {
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
    Ok(())
}

/// Shows the account, organisations, where the key came from and the base URL.
pub async fn whoami() -> anyhow::Result<()> {
    let connection = context::connect().await?;
    let user = connection
        .client
        .current_user()
        .await
        .map_err(|err| connection.explain(err, "check the API key"))?;

    let name = [user.first_name.as_deref(), user.last_name.as_deref()]
        .into_iter()
        .flatten()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join(" ");
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
    finish_output(&mut out, result)
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
