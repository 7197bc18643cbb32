//! One window at a time: the first launch listens on a local socket; a later launch hands its
//! files to it and exits.
//!
//! The socket is `io.runflow.Uploader.sock` in `RUNFLOW_UPLOADER_INSTANCE_DIR` (tests), else
//! `$XDG_RUNTIME_DIR` (per user, cleared at logout), else the state dir. A launch sends one
//! message, `{"files": [...]}` with absolute paths, and waits for `ok`. An empty list just
//! brings the window to the front. A socket file nobody answers on (the first instance crashed)
//! is removed and taken over. Launches at the same moment take turns through an flock on
//! `io.runflow.Uploader.lock` beside it, so exactly one of them becomes the window.
//!
//! Unix only: elsewhere [`claim`] always makes this launch the primary (every launch opens its
//! own window), which is the platform default.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;

use crate::{paths, ui};

/// Overrides the directory holding the socket (tests use a temp dir).
pub const INSTANCE_DIR_ENV: &str = "RUNFLOW_UPLOADER_INSTANCE_DIR";
/// Largest message accepted; a path list past this is not a real launch.
const MAX_MESSAGE_BYTES: u64 = 4 << 20;
/// How long either side waits for the other.
const IO_TIMEOUT: Duration = Duration::from_secs(5);

/// What a launch hands over.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq)]
struct Handover {
    files: Vec<PathBuf>,
}

/// The outcome of [`claim`].
#[derive(Debug)]
pub enum Claim {
    /// This launch is the only one: open the window and [`Listener::serve`] later launches.
    Primary(Listener),
    /// Another window is running and now has the files; exit.
    Handed,
}

/// Why the handover or the listener failed.
#[derive(Debug, thiserror::Error)]
pub enum InstanceError {
    /// The socket could not be created or used.
    #[error("could not use the single-instance socket {path}: {source}")]
    Socket {
        /// The socket's path.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
    /// The running window did not confirm the handover.
    #[error("the running window did not answer: {0}")]
    NoAnswer(String),
}

/// The socket's directory.
pub fn socket_dir() -> PathBuf {
    let from_env = |name: &str| std::env::var_os(name).filter(|v| !v.is_empty());
    from_env(INSTANCE_DIR_ENV)
        .or_else(|| from_env("XDG_RUNTIME_DIR"))
        .map_or_else(paths::state_dir, PathBuf::from)
}

/// The socket's path in `dir`.
pub fn socket_path(dir: &Path) -> PathBuf {
    dir.join(format!("{}.sock", ui::APP_ID))
}

/// `files` made absolute against the current directory, so the running window (elsewhere) can
/// find them.
pub fn absolutize(files: &[PathBuf]) -> Vec<PathBuf> {
    files
        .iter()
        .map(|f| std::path::absolute(f).unwrap_or_else(|_| f.clone()))
        .collect()
}

/// Becomes the primary instance, or hands `files` to the running one.
pub async fn claim(dir: &Path, files: &[PathBuf]) -> Result<Claim, InstanceError> {
    imp::claim(dir, files).await
}

/// The primary instance's socket.
#[derive(Debug)]
pub struct Listener {
    inner: imp::Inner,
}

impl Listener {
    /// Accepts launches until `files` closes: each one's files (absolute paths only) go to
    /// `files`, one `Vec` per launch. Bad messages are logged and dropped.
    pub async fn serve(self, files: UnboundedSender<Vec<PathBuf>>) {
        imp::serve(self.inner, files).await;
    }
}

/// Parses one message; `None` for anything but a well-formed handover.
fn parse(bytes: &[u8]) -> Option<Vec<PathBuf>> {
    serde_json::from_slice::<Handover>(bytes)
        .ok()
        .map(|h| h.files)
}

#[cfg(unix)]
mod imp {
    use std::path::{Path, PathBuf};

    use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
    use tokio::net::{UnixListener, UnixStream};
    use tokio::sync::mpsc::UnboundedSender;

    use super::{Claim, Handover, IO_TIMEOUT, InstanceError, Listener, MAX_MESSAGE_BYTES};

    #[derive(Debug)]
    pub(super) struct Inner {
        listener: UnixListener,
        path: PathBuf,
    }

    impl Drop for Inner {
        fn drop(&mut self) {
            // A clean exit leaves no socket behind (a crash leaves a stale one, handled above).
            let _ = std::fs::remove_file(&self.path);
        }
    }

    pub(super) async fn claim(dir: &Path, files: &[PathBuf]) -> Result<Claim, InstanceError> {
        let path = super::socket_path(dir);
        let socket_error = |source| InstanceError::Socket {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(socket_error)?;
        // Launches at the same moment take turns from here to the bind: otherwise two could
        // both find no window and both bind (one failing), or one could remove the socket the
        // other had just bound as if it were stale. The lock goes with `turn`.
        let lock_path = path.with_extension("lock");
        let turn = tokio::task::spawn_blocking(move || {
            let file = std::fs::File::options()
                .create(true)
                .truncate(false)
                .write(true)
                .open(&lock_path)?;
            file.lock()?;
            Ok::<_, std::io::Error>(file)
        })
        .await
        .map_err(std::io::Error::other)
        .and_then(|locked| locked)
        .map_err(socket_error)?;
        match UnixStream::connect(&path).await {
            Ok(stream) => {
                drop(turn);
                hand_over(stream, files).await?;
                return Ok(Claim::Handed);
            }
            Err(err) if path.exists() => {
                tracing::info!(%err, path = %path.display(), "removing a stale instance socket");
                std::fs::remove_file(&path).map_err(socket_error)?;
            }
            Err(_) => {}
        }
        let listener = UnixListener::bind(&path).map_err(socket_error)?;
        Ok(Claim::Primary(Listener {
            inner: Inner { listener, path },
        }))
    }

    async fn hand_over(mut stream: UnixStream, files: &[PathBuf]) -> Result<(), InstanceError> {
        let message = serde_json::to_vec(&Handover {
            files: files.to_vec(),
        })
        .map_err(|e| InstanceError::NoAnswer(e.to_string()))?;
        let exchange = async {
            stream.write_all(&message).await?;
            stream.shutdown().await?;
            let mut answer = String::new();
            stream.read_to_string(&mut answer).await?;
            Ok::<_, std::io::Error>(answer)
        };
        match tokio::time::timeout(IO_TIMEOUT, exchange).await {
            Ok(Ok(answer)) if answer.trim() == "ok" => Ok(()),
            Ok(Ok(answer)) => Err(InstanceError::NoAnswer(format!("it said {answer:?}"))),
            Ok(Err(err)) => Err(InstanceError::NoAnswer(err.to_string())),
            Err(_) => Err(InstanceError::NoAnswer("timed out".to_owned())),
        }
    }

    pub(super) async fn serve(inner: Inner, files: UnboundedSender<Vec<PathBuf>>) {
        loop {
            let stream = match inner.listener.accept().await {
                Ok((stream, _)) => stream,
                Err(err) => {
                    tracing::warn!(%err, "single-instance socket: accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            };
            let sender = files.clone();
            // One task per launch, so a silent client cannot hold up the next.
            tokio::spawn(async move {
                match tokio::time::timeout(super::IO_TIMEOUT, receive(stream, &sender)).await {
                    Ok(Ok(count)) => tracing::info!(count, "another launch handed over files"),
                    Ok(Err(err)) => tracing::warn!(%err, "ignored a bad single-instance message"),
                    Err(_) => tracing::warn!("a single-instance client stalled; dropped it"),
                }
            });
            if files.is_closed() {
                return;
            }
        }
    }

    async fn receive(
        mut stream: UnixStream,
        files: &UnboundedSender<Vec<PathBuf>>,
    ) -> std::io::Result<usize> {
        let mut bytes = Vec::new();
        (&mut stream)
            .take(MAX_MESSAGE_BYTES + 1)
            .read_to_end(&mut bytes)
            .await?;
        let invalid = |what: &str| std::io::Error::new(std::io::ErrorKind::InvalidData, what);
        if bytes.len() as u64 > MAX_MESSAGE_BYTES {
            return Err(invalid("message too large"));
        }
        let paths = super::parse(&bytes).ok_or_else(|| invalid("not a handover message"))?;
        let count = paths.len();
        // Only absolute paths mean the same thing here as in the launch that sent them.
        let paths: Vec<PathBuf> = paths.into_iter().filter(|p| p.is_absolute()).collect();
        files
            .send(paths)
            .map_err(|_| std::io::Error::other("the window is closing"))?;
        stream.write_all(b"ok\n").await?;
        stream.shutdown().await?;
        Ok(count)
    }
}

#[cfg(not(unix))]
mod imp {
    use std::path::{Path, PathBuf};

    use tokio::sync::mpsc::UnboundedSender;

    use super::{Claim, InstanceError, Listener};

    #[derive(Debug)]
    pub(super) struct Inner;

    pub(super) async fn claim(_dir: &Path, _files: &[PathBuf]) -> Result<Claim, InstanceError> {
        Ok(Claim::Primary(Listener { inner: Inner }))
    }

    pub(super) async fn serve(_inner: Inner, _files: UnboundedSender<Vec<PathBuf>>) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_parse_only_when_well_formed() {
        assert_eq!(
            parse(br#"{"files": ["/a/b.png"]}"#),
            Some(vec![PathBuf::from("/a/b.png")])
        );
        assert_eq!(parse(br#"{"files": []}"#), Some(vec![]));
        assert_eq!(parse(b"GET / HTTP/1.1\r\n\r\n"), None);
        assert_eq!(parse(br#"{"files": "x"}"#), None);
        assert_eq!(parse(b""), None);
    }

    #[test]
    fn relative_paths_become_absolute() {
        let out = absolutize(&[PathBuf::from("a.png"), PathBuf::from("/b.png")]);
        assert!(out.iter().all(|p| p.is_absolute()));
        assert!(out[0].ends_with("a.png"));
        assert_eq!(out[1], PathBuf::from("/b.png"));
    }
}
