//! The process's allocator gives large freed blocks back to the system. Left alone, glibc stops
//! mapping blocks smaller than the largest one freed so far (up to 32 MiB) and keeps what is
//! freed after that in the heap of the thread that freed it: the gallery's downloads and
//! decodes of camera originals (a few MiB each, on several threads) then held tens of MiB that
//! no one used. A test binary of its own: the setting is process-wide. glibc only: elsewhere
//! the call does nothing.
#![cfg(all(target_os = "linux", target_env = "gnu"))]

#[path = "support/memory.rs"]
mod memory;

fn rss_kib() -> u64 {
    memory::status_kib("VmRSS").expect("VmRSS in /proc/self/status")
}

/// One big block freed (as one large original is), then blocks of a few MiB made and dropped on
/// other threads (as downloads and decodes are).
fn churn() {
    std::hint::black_box(vec![7_u8; 24 << 20]);
    std::thread::scope(|scope| {
        for thread in 0..4_u8 {
            scope.spawn(move || {
                let blocks: Vec<Vec<u8>> =
                    (0..6_u8).map(|i| vec![thread + i + 1; 3 << 20]).collect();
                std::hint::black_box(&blocks);
            });
        }
    });
}

#[test]
fn large_blocks_freed_on_other_threads_go_back_to_the_system() {
    runflow_uploader::allocator::return_large_blocks();
    let before = rss_kib();
    churn();
    let after = rss_kib();
    let kept_mib = after.saturating_sub(before) / 1024;
    assert!(
        kept_mib < 16,
        "{kept_mib} MiB stayed in the process after the blocks were freed ({before} -> {after} KiB)"
    );
}
