//! `runflow-uploader-gui`: starts the window without a console window on Windows.
//!
//! `runflow-uploader.exe` is a console program, so its subcommands print to the terminal they
//! were started from; started from Explorer it would also open an empty console. This launcher
//! is a GUI-subsystem program (no console of its own) that runs the sibling
//! `runflow-uploader.exe` with `CREATE_NO_WINDOW` and the same arguments, and exits with its
//! code. Start-menu shortcuts and file associations point here. Elsewhere it is a plain
//! pass-through, so the same packaging scripts work on every platform.

#![cfg_attr(windows, windows_subsystem = "windows")]
#![deny(clippy::unwrap_used)]

use std::process::{Command, ExitCode};

/// `CREATE_NO_WINDOW` from the Win32 process creation flags.
#[cfg(windows)]
const CREATE_NO_WINDOW: u32 = 0x0800_0000;

fn main() -> ExitCode {
    let name = format!("runflow-uploader{}", std::env::consts::EXE_SUFFIX);
    let program = std::env::current_exe()
        .ok()
        .and_then(|exe| exe.parent().map(|dir| dir.join(&name)))
        .filter(|path| path.exists())
        .unwrap_or_else(|| name.into());
    let mut command = Command::new(program);
    command.args(std::env::args_os().skip(1));
    #[cfg(windows)]
    {
        use std::os::windows::process::CommandExt as _;
        command.creation_flags(CREATE_NO_WINDOW);
    }
    match command.status() {
        Ok(status) => status
            .code()
            .and_then(|code| u8::try_from(code).ok())
            .map_or(ExitCode::FAILURE, ExitCode::from),
        // No console to print to: the log file is where a user would look, but logging is the
        // main binary's job; exit non-zero so a script launching this notices.
        Err(_) => ExitCode::FAILURE,
    }
}
