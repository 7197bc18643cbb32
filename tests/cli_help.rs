//! `--version` and `--help` follow clap's conventions, and `NO_COLOR` keeps the output plain.

use std::process::{Command, Output};

fn run(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_runflow-uploader"))
        .args(args)
        .env("NO_COLOR", "1")
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
}

#[test]
fn version_prints_name_and_version() {
    let out = run(&["--version"]);
    assert!(out.status.success());
    assert_eq!(
        String::from_utf8(out.stdout).unwrap(),
        format!("runflow-uploader {}\n", env!("CARGO_PKG_VERSION"))
    );
    assert_eq!(run(&["-V"]).stdout, run(&["--version"]).stdout);
}

#[test]
fn help_lists_the_subcommands_and_file_arguments() {
    let out = run(&["--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(
        help.contains("Usage: runflow-uploader [OPTIONS] [FILE]..."),
        "{help}"
    );
    assert!(help.contains("\nCommands:\n"), "{help}");
    assert!(help.contains("\nArguments:\n  [FILE]..."), "{help}");
    for sub in [
        "upload", "assets", "folders", "login", "logout", "whoami", "emulator",
    ] {
        assert!(
            help.contains(&format!("\n  {sub} ")),
            "{sub} missing:\n{help}"
        );
    }
    for flag in ["--verbose", "--demo", "--help", "--version", "NO_COLOR"] {
        assert!(help.contains(flag), "{flag} missing:\n{help}");
    }
    assert!(!help.contains('\u{1b}'), "colour despite NO_COLOR:\n{help}");
}

#[test]
fn subcommands_still_parse_after_global_flags() {
    let out = run(&["-v", "upload", "--help"]);
    assert!(out.status.success());
    let help = String::from_utf8(out.stdout).unwrap();
    assert!(help.contains("Usage: runflow-uploader upload"), "{help}");
}

#[test]
fn unknown_flags_fail_with_usage() {
    let out = run(&["--no-such-flag"]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8(out.stderr).unwrap();
    assert!(err.contains("Usage:"), "{err}");
    assert!(!err.contains('\u{1b}'), "{err}");
}
