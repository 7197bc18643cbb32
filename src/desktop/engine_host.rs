//! The upload engine behind the current connection: started for each new connection, stopped
//! (and waited for, so it lets go of its journal) before the next one starts, and sent the
//! window's upload commands. Its batch shows on the dock icon too (Linux), and keeps the
//! computer awake while it has files to send. The watch folders run beside it, for its account,
//! and hand it what they find.

use std::future::pending;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::protocol::Level;
use super::sink::{NOT_CONNECTED, Sink};
use crate::api::RunflowClient;
use crate::upload::{self, EngineConfig, EngineHandle};
use crate::watch::{HistoryScope, WatchEvent, WatchSpec, WatchStatus, Watcher};

/// How long a stopping upload engine may take to release its journal.
const ENGINE_STOP_TIMEOUT: Duration = Duration::from_secs(3);
/// Why a command for the engine did nothing although one was started.
const ENGINE_GONE: &str =
    "The upload engine is not running. Use Test connection to start it again.";

/// The running engine, if any, and the ones still stopping.
pub(super) struct EngineHost {
    running: Option<Engine>,
    /// Engines told to shut down, until their event channel closes.
    stopping: Vec<JoinHandle<()>>,
    /// The running engine's batch on the dock icon.
    #[cfg(target_os = "linux")]
    launcher: super::launcher::Launcher,
    /// Keeps the computer awake while the running engine's queue is busy.
    awake: super::awake::Awake,
}

/// What [`EngineHost::next`] has.
pub(super) enum Next {
    Upload(Option<upload::Event>),
    Watch(WatchStatus),
}

struct Engine {
    handle: EngineHandle,
    events: mpsc::UnboundedReceiver<upload::Event>,
    /// The watch folders, compared with this engine's history and account.
    watcher: Watcher,
    watch_events: mpsc::UnboundedReceiver<WatchEvent>,
}

impl EngineHost {
    /// No engine yet; the dock icon's sender runs on `runtime`, on the session bus.
    pub(super) fn new(runtime: &tokio::runtime::Handle) -> Self {
        #[cfg(not(target_os = "linux"))]
        let _ = runtime;
        Self {
            running: None,
            stopping: Vec::new(),
            #[cfg(target_os = "linux")]
            launcher: super::launcher::Launcher::spawn(runtime, None),
            awake: super::awake::Awake::spawn(),
        }
    }

    /// The "keep the computer awake" setting.
    pub(super) fn set_keep_awake(&self, enabled: bool) {
        self.awake.set_enabled(enabled);
    }

    /// Shows the running engine's batch outside the window (the dock icon, the sleep
    /// inhibitor); `None` when no engine runs.
    fn show_batch(&self, event: Option<&upload::Event>) {
        match event {
            Some(upload::Event::Batch(batch)) => self
                .awake
                .set_busy(batch.active_files + batch.queued_files > 0 && !batch.paused),
            Some(upload::Event::Idle) | None => self.awake.set_busy(false),
            Some(_) => {}
        }
        #[cfg(target_os = "linux")]
        {
            use super::launcher::Badge;
            match event {
                Some(upload::Event::Batch(batch)) => self.launcher.show(Badge::of(batch)),
                Some(upload::Event::Idle) | None => self.launcher.show(Badge::default()),
                Some(_) => {}
            }
        }
        #[cfg(not(target_os = "linux"))]
        let _ = event;
    }

    pub(super) fn is_running(&self) -> bool {
        self.running.is_some()
    }

    /// Stops the running engine, waits for every stopping one, and starts a new one, with
    /// `watches` compared against the history of `scope` (the new engine's).
    pub(super) async fn restart(
        &mut self,
        client: RunflowClient,
        config: EngineConfig,
        scope: HistoryScope,
        watches: Vec<WatchSpec>,
    ) {
        self.stop_and_wait().await;
        let (watch_tx, watch_events) = mpsc::unbounded_channel();
        let watcher = Watcher::spawn(scope, watches, watch_tx);
        let (handle, events) = upload::spawn(
            &tokio::runtime::Handle::current(),
            client,
            config,
            // The actor wakes on the channel; the window is woken as events are forwarded.
            Arc::new(|| {}),
        );
        self.running = Some(Engine {
            handle,
            events,
            watcher,
            watch_events,
        });
    }

    /// Tells the engine to stop; [`Self::stop_and_wait`] also waits until it has.
    pub(super) fn stop(&mut self) {
        let Some(Engine {
            handle, mut events, ..
        }) = self.running.take()
        else {
            return;
        };
        self.show_batch(None);
        handle.send(upload::Command::Shutdown);
        // The channel closes once the engine has released its journal. Its last events belong
        // to a connection the window is forgetting, so they are dropped.
        self.stopping.push(tokio::spawn(async move {
            let _ = tokio::time::timeout(ENGINE_STOP_TIMEOUT, async {
                while events.recv().await.is_some() {}
            })
            .await;
        }));
    }

    pub(super) async fn stop_and_wait(&mut self) {
        self.stop();
        for stopping in self.stopping.drain(..) {
            let _ = stopping.await;
        }
    }

    /// The running engine's next event (`None` when it ended on its own, and it is
    /// forgotten), or a watch folder's change of state; the files the watches find go to the
    /// engine on the way. Never resolves while no engine runs.
    pub(super) async fn next(&mut self, sink: &Sink) -> Next {
        let Some(engine) = &mut self.running else {
            return pending().await;
        };
        let event = loop {
            tokio::select! {
                event = engine.events.recv() => break event,
                Some(watched) = engine.watch_events.recv() => match watched {
                    WatchEvent::Status(status) => return Next::Watch(status),
                    WatchEvent::Found { paths, folder_id, .. } => deliver(
                        &engine.handle,
                        sink,
                        upload::Command::AddWatched { paths, folder_id },
                    ),
                },
            }
        };
        if event.is_none() {
            self.running = None;
        }
        self.show_batch(event.as_ref());
        Next::Upload(event)
    }

    /// The watch folders from now on.
    pub(super) fn set_watches(&self, watches: Vec<WatchSpec>) {
        if let Some(engine) = &self.running {
            engine.watcher.set(watches);
        }
    }

    pub(super) fn set_concurrency(&self, concurrency: usize) {
        if let Some(engine) = &self.running {
            engine
                .handle
                .send(upload::Command::SetConcurrency(concurrency));
        }
    }

    /// Whether unsupported images convert without asking, from now on.
    pub(super) fn set_auto_convert(&self, on: bool) {
        if let Some(engine) = &self.running {
            engine.handle.send(upload::Command::SetAutoConvert(on));
        }
    }

    /// The running engine's handle; without one, tells the window why nothing happens.
    pub(super) fn handle_or_notice(&self, sink: &Sink) -> Option<EngineHandle> {
        let handle = self.running.as_ref().map(|engine| engine.handle.clone());
        if handle.is_none() {
            sink.notice(Level::Info, NOT_CONNECTED);
        }
        handle
    }

    /// Passes `command` to the running engine, or tells the window why it could not.
    pub(super) fn forward(&self, sink: &Sink, command: upload::Command) {
        if let Some(engine) = self.handle_or_notice(sink) {
            deliver(&engine, sink, command);
        }
    }
}

/// Sends `command` to `engine`, telling the window when the engine has ended.
pub(super) fn deliver(engine: &EngineHandle, sink: &Sink, command: upload::Command) {
    if !engine.send(command) {
        sink.notice(Level::Error, ENGINE_GONE);
    }
}
