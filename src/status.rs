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
