//! One window at a time: a later launch hands its files to the listener; stale sockets are taken
//! over; garbage on the socket does not stop the listener.

#![cfg(unix)]

use std::path::PathBuf;
use std::time::Duration;

use runflow_uploader::instance::{self, Claim};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::sync::mpsc;

async fn primary(dir: &std::path::Path) -> mpsc::UnboundedReceiver<Vec<PathBuf>> {
    let Claim::Primary(listener) = instance::claim(dir, &[]).await.unwrap() else {
        panic!("the first launch must be the primary");
    };
    let (tx, rx) = mpsc::unbounded_channel();
    tokio::spawn(listener.serve(tx));
    rx
}

async fn next(rx: &mut mpsc::UnboundedReceiver<Vec<PathBuf>>) -> Vec<PathBuf> {
    tokio::time::timeout(Duration::from_secs(5), rx.recv())
        .await
        .expect("the listener forwards in time")
        .expect("the channel is open")
}

#[tokio::test(flavor = "multi_thread")]
async fn a_second_launch_hands_over_its_files() {
    let dir = tempfile::tempdir().unwrap();
    let mut rx = primary(dir.path()).await;

    let files = vec![PathBuf::from("/tmp/a.png"), PathBuf::from("/tmp/b c.mp4")];
    assert!(matches!(
        instance::claim(dir.path(), &files).await.unwrap(),
        Claim::Handed
    ));
    assert_eq!(next(&mut rx).await, files);

    // No files: the running window only comes to the front.
    assert!(matches!(
        instance::claim(dir.path(), &[]).await.unwrap(),
        Claim::Handed
    ));
    assert_eq!(next(&mut rx).await, Vec::<PathBuf>::new());
}

#[tokio::test(flavor = "multi_thread")]
async fn garbage_and_relative_paths_do_not_reach_the_window() {
    let dir = tempfile::tempdir().unwrap();
    let mut rx = primary(dir.path()).await;
    let path = instance::socket_path(dir.path());

    for junk in [
        &b"GET / HTTP/1.1\r\n\r\n"[..],
        b"\xff\xfe\x00garbage",
        br#"{"files": 42}"#,
        b"",
    ] {
        let mut stream = tokio::net::UnixStream::connect(&path).await.unwrap();
        stream.write_all(junk).await.unwrap();
        stream.shutdown().await.unwrap();
        let mut answer = String::new();
        let _ = stream.read_to_string(&mut answer).await;
        assert_ne!(answer.trim(), "ok", "{junk:?} was accepted");
    }
    // A client that connects and says nothing must not block the next launch.
    let _silent = tokio::net::UnixStream::connect(&path).await.unwrap();

    let mut stream = tokio::net::UnixStream::connect(&path).await.unwrap();
    stream
        .write_all(br#"{"files": ["relative.png", "/abs/ok.png"]}"#)
        .await
        .unwrap();
    stream.shutdown().await.unwrap();
    assert_eq!(next(&mut rx).await, vec![PathBuf::from("/abs/ok.png")]);

    // Still serving real launches.
    let files = vec![PathBuf::from("/tmp/after.png")];
    assert!(matches!(
        instance::claim(dir.path(), &files).await.unwrap(),
        Claim::Handed
    ));
    assert_eq!(next(&mut rx).await, files);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stale_socket_is_taken_over_and_removed_on_exit() {
    let dir = tempfile::tempdir().unwrap();
    let path = instance::socket_path(dir.path());
    // A crashed first instance leaves its socket file with nobody listening.
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    assert!(path.exists());

    let Claim::Primary(listener) = instance::claim(dir.path(), &[]).await.unwrap() else {
        panic!("a stale socket must not count as a running window");
    };
    assert!(path.exists());
    drop(listener);
    assert!(!path.exists(), "a clean exit removes the socket");
}

#[test]
fn the_socket_lives_in_the_override_dir() {
    let dir = instance::socket_dir();
    // Without the override the runtime dir or the state dir is used; either way an absolute path.
    assert!(dir.is_absolute() || std::env::var_os(instance::INSTANCE_DIR_ENV).is_some());
    assert!(
        instance::socket_path(&dir)
            .to_string_lossy()
            .ends_with("io.runflow.Uploader.sock")
    );
}

/// Ten launches at the same moment (a file manager opening ten files with the app): exactly one
/// becomes the window, and the nine others hand it their files.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ten_launches_at_once_make_one_window() {
    let dir = tempfile::tempdir().unwrap();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let start = std::sync::Arc::new(tokio::sync::Barrier::new(10));
    let launches: Vec<_> = (0..10)
        .map(|i| {
            let dir = dir.path().to_path_buf();
            let tx = tx.clone();
            let start = start.clone();
            tokio::spawn(async move {
                start.wait().await;
                let files = vec![PathBuf::from(format!("/tmp/{i}.png"))];
                match instance::claim(&dir, &files).await {
                    Ok(Claim::Primary(listener)) => {
                        tokio::spawn(listener.serve(tx));
                        "primary".to_owned()
                    }
                    Ok(Claim::Handed) => "handed".to_owned(),
                    Err(err) => format!("failed: {err}"),
                }
            })
        })
        .collect();
    drop(tx);
    let mut outcomes = Vec::new();
    for launch in launches {
        outcomes.push(launch.await.unwrap());
    }
    outcomes.sort();
    let primaries = outcomes.iter().filter(|o| *o == "primary").count();
    let handed = outcomes.iter().filter(|o| *o == "handed").count();
    assert_eq!((primaries, handed), (1, 9), "{outcomes:?}");
    let mut received = 0;
    while received < 9 {
        assert_eq!(next(&mut rx).await.len(), 1);
        received += 1;
    }
}
