//! A D-Bus daemon of a test's own (Debian's `dbus` package; `.ci/run` installs it), so tests
//! of what the app says on the session bus never touch the desktop's.

use std::path::Path;
use std::process::{Child, Command};
use std::time::Duration;

/// A private bus, stopped when dropped.
pub(crate) struct TestBus {
    /// Its address, for `zbus::connection::Builder::address`.
    pub address: String,
    daemon: Child,
    _dir: tempfile::TempDir,
}

impl TestBus {
    /// Starts the daemon and waits for its socket.
    pub(crate) fn start() -> Self {
        let dir = tempfile::tempdir().expect("a temporary directory for the bus");
        let socket = dir.path().join("bus");
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                "<busconfig><type>session</type><listen>unix:path={}</listen>\
                 <policy context=\"default\"><allow send_destination=\"*\" eavesdrop=\"true\"/>\
                 <allow eavesdrop=\"true\"/><allow own=\"*\"/></policy></busconfig>",
                socket.display()
            ),
        )
        .expect("the bus configuration written");
        let daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .arg("--nofork")
            .spawn()
            .expect("dbus-daemon (Debian's dbus package; .ci/run installs it)");
        wait_for(&socket);
        Self {
            address: format!("unix:path={}", socket.display()),
            daemon,
            _dir: dir,
        }
    }
}

fn wait_for(socket: &Path) {
    for _ in 0..250 {
        if socket.exists() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    panic!("dbus-daemon made no socket at {}", socket.display());
}

impl Drop for TestBus {
    fn drop(&mut self) {
        let _ = self.daemon.kill();
        let _ = self.daemon.wait();
    }
}
