//! Shared test helpers: guard-page buffers and small deterministic random numbers.
#![allow(dead_code)]

use std::ptr::NonNull;

/// A mapping of `pages` read-write pages between two PROT_NONE guard pages. Any access before
/// [`GuardPages::first`] or at/after [`GuardPages::end`] faults, so a kernel that reads or writes
/// outside the buffer it was given crashes the test.
pub struct GuardPages {
    base: NonNull<u8>,
    len: usize,
    page: usize,
}

impl GuardPages {
    pub fn new(bytes: usize) -> GuardPages {
        // SAFETY: sysconf has no preconditions.
        let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) } as usize;
        let body = bytes.div_ceil(page).max(1) * page;
        let len = body + 2 * page;
        // SAFETY: anonymous private mapping, no address hint.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                len,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            )
        };
        assert_ne!(p, libc::MAP_FAILED, "mmap failed");
        let base = p.cast::<u8>();
        // SAFETY: both ranges lie inside the mapping just made.
        unsafe {
            assert_eq!(libc::mprotect(base.cast(), page, libc::PROT_NONE), 0);
            assert_eq!(
                libc::mprotect(base.add(page + body).cast(), page, libc::PROT_NONE),
                0
            );
        }
        GuardPages {
            base: NonNull::new(base).unwrap(),
            len,
            page,
        }
    }

    /// First accessible byte (a guard page is right before it).
    pub fn first(&self) -> *mut u8 {
        // SAFETY: inside the mapping.
        unsafe { self.base.as_ptr().add(self.page) }
    }

    /// One past the last accessible byte (a guard page starts here).
    pub fn end(&self) -> *mut u8 {
        // SAFETY: inside the mapping.
        unsafe { self.base.as_ptr().add(self.len - self.page) }
    }

    /// Accessible bytes.
    pub fn capacity(&self) -> usize {
        self.len - 2 * self.page
    }

    /// A buffer of `n` elements of `T` ending exactly at the trailing guard page.
    pub fn at_end<T>(&self, n: usize) -> *mut T {
        assert!(n * size_of::<T>() <= self.capacity());
        // SAFETY: inside the accessible part; end() is page-aligned so the result is aligned.
        unsafe { self.end().sub(n * size_of::<T>()).cast() }
    }

    /// A buffer starting `offset` bytes after the leading guard page.
    pub fn at_start<T>(&self, offset: usize, n: usize) -> *mut T {
        assert!(offset + n * size_of::<T>() <= self.capacity());
        assert_eq!(offset % align_of::<T>(), 0);
        // SAFETY: inside the accessible part.
        unsafe { self.first().add(offset).cast() }
    }
}

impl Drop for GuardPages {
    fn drop(&mut self) {
        // SAFETY: unmapping exactly the mapping made in new().
        unsafe { libc::munmap(self.base.as_ptr().cast(), self.len) };
    }
}

/// xorshift64*: deterministic test data without a dependency.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    pub fn next_u32(&mut self) -> u32 {
        (self.next_u64() >> 32) as u32
    }
}

/// The C (or C++) compiler for the target being tested, as the cc crate finds it (honours
/// `CC`/`CXX`), without cargo build-script output.
pub fn compiler(cpp: bool) -> cc::Tool {
    cc::Build::new()
        .cpp(cpp)
        .target(env!("NNK_BUILD_TARGET"))
        .host(env!("NNK_BUILD_HOST"))
        .opt_level(2)
        .cargo_metadata(false)
        .cargo_warnings(false)
        .get_compiler()
}
