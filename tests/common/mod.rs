//! Shared test helpers: guard-page buffers and small deterministic random numbers.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
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

/// Runs `f` on a thread with a 1 MiB stack (half of what std and the pool give a thread) and
/// propagates its panic. Unoptimized builds honour `#[inline(always)]` but give every inlined
/// helper's locals their own stack slots, so a kernel that inlines many variants into one
/// function can need megabytes of stack there; the `every_kernel_fits_in_a_small_thread_stack`
/// tests run every kernel this way (CI runs them unoptimized too).
pub fn on_small_stack(f: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .stack_size(1 << 20)
        .spawn(f)
        .unwrap()
        .join()
        .unwrap();
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

// ---------------------------------------------------------------- C and C++ programs

/// The native libraries a static link of libnnkern.a needs (`cargo rustc -- --print
/// native-static-libs`), as the README lists them.
pub const NATIVE_STATIC_LIBS: &[&str] = &[
    "-lgcc_s",
    "-lutil",
    "-lrt",
    "-lpthread",
    "-lm",
    "-ldl",
    "-lc",
];

pub fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// target/<profile>/deps, beside this test's executable: where `cargo test` puts the
/// libnnkern.a and libnnkern.so it built for this run (they are copied up to target/<profile>
/// only by `cargo build`).
pub fn lib_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().unwrap().to_path_buf();
    assert!(
        dir.join("libnnkern.a").exists(),
        "libnnkern.a not found in {}",
        dir.display()
    );
    dir
}

/// A scratch directory for built programs, under the target's tmp directory.
pub fn out_dir(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Compiles `source` with `std` and strict warnings into `out`, linked statically or shared.
pub fn build(source: &str, std: &str, cpp: bool, shared: bool, out: &Path) {
    build_with(source, std, cpp, shared, &[], out)
}

/// `build` with extra compiler flags.
pub fn build_with(source: &str, std: &str, cpp: bool, shared: bool, extra: &[&str], out: &Path) {
    let tool = compiler(cpp);
    let mut cmd = tool.to_command();
    cmd.arg(format!("-std={std}"))
        .args(["-Wall", "-Wextra", "-Werror", "-pedantic", "-O2"])
        .args(extra)
        .arg("-I")
        .arg(root().join("include"))
        .arg("-I")
        .arg(root().join("bindings/cpp"))
        .arg(root().join(source))
        .arg("-o")
        .arg(out);
    let libs = lib_dir();
    if shared {
        cmd.arg(format!("-L{}", libs.display()))
            .arg("-lnnkern")
            // DT_RPATH, not RUNPATH: searched before LD_LIBRARY_PATH, which `cargo test`
            // points at target/<profile> too, where an older `cargo build` may have left a
            // stale libnnkern.so (it happened: the suite ran an earlier build's kernels).
            .arg(format!("-Wl,--disable-new-dtags,-rpath,{}", libs.display()))
            .args(["-lpthread", "-lm"]);
    } else {
        cmd.arg(libs.join("libnnkern.a")).args(NATIVE_STATIC_LIBS);
    }
    let res = cmd.output().expect("compiler did not start");
    assert!(
        res.status.success(),
        "compiling {source} failed:\n{}{}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
}

/// Runs a command to success and returns its stdout (the failure shows both streams).
pub fn run_ok(cmd: &mut Command) -> String {
    let res = cmd
        .output()
        .unwrap_or_else(|e| panic!("{cmd:?} did not start: {e}"));
    assert!(
        res.status.success(),
        "{cmd:?} failed ({}):\n{}\n{}",
        res.status,
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
    String::from_utf8(res.stdout).unwrap()
}
