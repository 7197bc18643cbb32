//! A D-Bus daemon of a test's own (Debian's `dbus` package; `.ci/run` installs it), so tests
//! of what the app says on the session bus never touch the desktop's, and the services it talks
//! to there: python3-dbusmock's templates of logind and a notification daemon.
//!
//! Crates that find the bus only through the environment (`keepawake`, `notify-rust`) are tested
//! in a child process: the test starts the bus and the mock, then runs itself again with
//! `DBUS_SESSION_BUS_ADDRESS` and `DBUS_SYSTEM_BUS_ADDRESS` naming the private bus.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// Set in the child process of [`TestBus::rerun`].
const RERUN: &str = "RUNFLOW_TEST_ON_PRIVATE_BUS";

/// Whether this is the child process of [`TestBus::rerun`], on the private bus.
pub(crate) fn in_rerun() -> bool {
    std::env::var_os(RERUN).is_some()
}

/// The test harness's name of test `function` in the module `module` (`module_path!()`).
pub(crate) fn test_name(module: &str, function: &str) -> String {
    let module = module.split_once("::").map_or("", |(_crate, path)| path);
    format!("{module}::{function}")
}

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

impl TestBus {
    /// Starts python3-dbusmock's `template` with its JSON `parameters` on this bus (as its
    /// session and its system bus), and waits until it owns `name`. Stopped when dropped.
    pub(crate) fn mock(&self, template: &str, name: &str, parameters: &str) -> Mock {
        let child = Command::new("/usr/bin/python3")
            .args([
                "-m",
                "dbusmock",
                "--template",
                template,
                "--parameters",
                parameters,
            ])
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
            .stdout(Stdio::null())
            .spawn()
            .expect("Debian's python3 with python3-dbusmock (.ci/run installs them)");
        let mut mock = Mock(child);
        // Python starts slowly on a loaded machine (a parallel test run on two cores).
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = mock.0.try_wait() {
                panic!("python3-dbusmock's {template} ended before taking {name} ({status})");
            }
            let owner = Command::new("dbus-send")
                .arg(format!("--bus={}", self.address))
                .args([
                    "--print-reply",
                    "--dest=org.freedesktop.DBus",
                    "/org/freedesktop/DBus",
                    "org.freedesktop.DBus.NameHasOwner",
                ])
                .arg(format!("string:{name}"))
                .output()
                .expect("dbus-send (Debian's dbus package)");
            if String::from_utf8_lossy(&owner.stdout).contains("boolean true") {
                return mock;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("python3-dbusmock's {template} did not take {name} on the bus within 30 s");
    }

    /// Runs the test `name` of this test binary again in a child process whose session and
    /// system buses are this one, and fails with the child's output unless it passed.
    pub(crate) fn rerun(&self, name: String) {
        let exe = std::env::current_exe().expect("the test binary");
        let output = Command::new(exe)
            .args([name.as_str(), "--exact", "--nocapture", "--test-threads=1"])
            .env(RERUN, "1")
            .env("DBUS_SESSION_BUS_ADDRESS", &self.address)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &self.address)
            .output()
            .expect("the test binary run again");
        let stdout = String::from_utf8_lossy(&output.stdout);
        assert!(
            output.status.success() && stdout.contains("1 passed"),
            "{name} failed on the private bus:\n{stdout}\n{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

/// A running python3-dbusmock, stopped when dropped.
pub(crate) struct Mock(Child);

impl Drop for Mock {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
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
