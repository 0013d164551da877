//! Error kinds shared by every layer. `capi` maps them to the numeric `nnk_status` codes.

/// Why an nnkern call failed. The discriminants are the C API's `NNK_STATUS_*` codes, which are
/// fixed forever; success (0) is `Ok(())`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(i32)]
pub enum Status {
    /// `nnk_initialize` has not been called.
    Uninitialized = 1,
    /// A pointer, size, stride, flag or enum value is invalid.
    InvalidParameter = 2,
    /// The call is out of order for the operator (e.g. run before setup).
    InvalidState = 3,
    /// A valid parameter that this build does not support.
    UnsupportedParameter = 4,
    /// The CPU lacks a required feature.
    UnsupportedHardware = 5,
    /// An allocation failed.
    OutOfMemory = 6,
    /// A bug inside nnkern (a caught panic).
    InternalError = 7,
}

/// Result type used throughout the crate.
pub type Result<T> = core::result::Result<T, Status>;

impl Status {
    /// The numeric code of this status.
    pub const fn code(self) -> i32 {
        self as i32
    }
}

thread_local! {
    /// How many quiet catches are active on this thread.
    static QUIET_DEPTH: core::cell::Cell<u32> = const { core::cell::Cell::new(0) };
}

/// Runs `f`, catching a panic (a bug in nnkern), without printing it: a library must not write
/// into its host's stderr. The first call installs a panic hook that stays silent while a quiet
/// catch is active on the panicking thread (a C API call, a task on a pool thread) and hands
/// every other panic to the hook that was in place before, so a Rust host's own panics still
/// reach its hook. The panic becomes `NNK_STATUS_INTERNAL_ERROR` at the C boundary.
pub fn catch_quietly<R>(f: impl FnOnce() -> R) -> std::thread::Result<R> {
    static HOOK: std::sync::Once = std::sync::Once::new();
    HOOK.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            if QUIET_DEPTH.with(|d| d.get()) == 0 {
                previous(info);
            }
        }));
    });
    /// Leaves the quiet region on every exit, unwinding included.
    struct Leave;
    impl Drop for Leave {
        fn drop(&mut self) {
            QUIET_DEPTH.with(|d| d.set(d.get() - 1));
        }
    }
    QUIET_DEPTH.with(|d| d.set(d.get() + 1));
    let _leave = Leave;
    std::panic::catch_unwind(std::panic::AssertUnwindSafe(f))
}

#[cfg(test)]
mod tests {
    use super::catch_quietly;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// A panic inside a quiet catch does not reach the previous hook; one outside does.
    #[test]
    fn quiet_catch_keeps_the_previous_hook_for_other_panics() {
        static SEEN: AtomicUsize = AtomicUsize::new(0);
        let default = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info| {
            let msg = info.payload().downcast_ref::<&str>().copied().unwrap_or("");
            if msg.starts_with("nnkern-quiet-test") {
                SEEN.fetch_add(1, Ordering::SeqCst);
            } else {
                default(info);
            }
        }));
        assert!(catch_quietly(|| panic!("nnkern-quiet-test inside")).is_err());
        assert_eq!(
            SEEN.load(Ordering::SeqCst),
            0,
            "a quiet panic reached the hook"
        );
        assert_eq!(catch_quietly(|| 5).unwrap(), 5);
        assert!(std::panic::catch_unwind(|| panic!("nnkern-quiet-test outside")).is_err());
        assert_eq!(
            SEEN.load(Ordering::SeqCst),
            1,
            "another panic did not reach the hook"
        );
    }
}
