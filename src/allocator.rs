//! The process's allocator settings, made once at start, before any thread.

/// Blocks of this size or more are mapped on their own, so freeing one gives it back at once.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
const MAPPED_FROM_BYTES: libc::c_int = 1024 * 1024;

/// Has glibc map every block of 1 MiB or more on its own. Left alone, glibc raises that bound
/// to the largest block freed so far (up to 32 MiB), and what is freed after that stays in the
/// heap of the thread that freed it. The gallery's downloads and decodes of camera originals
/// (a few MiB each, on several threads) then held tens of MiB no one used: 269-287 MiB at the
/// peak of `bench/gallery_app.sh`'s cold run from originals, 220 MiB with this bound fixed.
/// Elsewhere (other C libraries, macOS, Windows) this does nothing.
pub fn return_large_blocks() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        #[expect(
            unsafe_code,
            reason = "mallopt is glibc's C interface to its allocator's settings"
        )]
        // SAFETY: M_MMAP_THRESHOLD only sets a tunable, which glibc allows at any time, from
        // any thread; a refusal (0) leaves the allocator as it was.
        let _ = unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, MAPPED_FROM_BYTES) };
    }
}
