//! The C API called from Rust: status codes, lifecycle state machine, argument checks (nothing
//! written on failure), threadpools (built-in and host-provided) and large strided runs.

mod common;

use std::ffi::{CStr, c_void};
use std::ptr::{null, null_mut};

use common::Rng;
use nnkern::capi::convert::*;
use nnkern::capi::operator::*;
use nnkern::capi::threadpool::*;
use nnkern::capi::*;

fn init() {
    assert_eq!(nnk_initialize(), NNK_STATUS_SUCCESS);
}

fn cstr(p: *const std::ffi::c_char) -> String {
    assert!(!p.is_null());
    // SAFETY: nnkern returns static NUL-terminated strings.
    unsafe { CStr::from_ptr(p) }.to_str().unwrap().to_owned()
}

#[test]
fn status_strings_and_version() {
    let names = [
        "success",
        "uninitialized",
        "invalid parameter",
        "invalid state",
        "unsupported parameter",
        "unsupported hardware",
        "out of memory",
        "internal error",
    ];
    for (code, name) in names.iter().enumerate() {
        assert_eq!(cstr(nnk_status_string(code as i32)), *name);
    }
    assert_eq!(cstr(nnk_status_string(8)), "unknown status");
    assert_eq!(cstr(nnk_status_string(-1)), "unknown status");
    assert_eq!(cstr(nnk_version_string()), env!("CARGO_PKG_VERSION"));
}

#[test]
fn one_shot_argument_checks_write_nothing() {
    init();
    let x = [1.0f32, 2.0, 3.0, 4.0];
    let mut y = [0xAAAAu16; 4];
    // SAFETY (all calls in this test): buffers are valid for the sizes passed or the call is
    // expected to reject them before touching memory.
    unsafe {
        assert_eq!(
            nnk_convert_f32_f16(0, null(), null_mut(), null_mut()),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(
            nnk_convert_f32_f16(4, null(), y.as_mut_ptr(), null_mut()),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_convert_f32_f16(4, x.as_ptr(), null_mut(), null_mut()),
            NNK_STATUS_INVALID_PARAMETER
        );
        // Misaligned input.
        let mis = x.as_ptr().cast::<u8>().add(1).cast::<f32>();
        assert_eq!(
            nnk_convert_f32_f16(2, mis, y.as_mut_ptr(), null_mut()),
            NNK_STATUS_INVALID_PARAMETER
        );
        // Overflowing size.
        assert_eq!(
            nnk_convert_f32_f16(usize::MAX / 2, x.as_ptr(), y.as_mut_ptr(), null_mut()),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(y, [0xAAAA; 4]);
        // Overlap: output inside the input.
        let mut buf = [1.0f32; 8];
        let p = buf.as_mut_ptr();
        assert_eq!(
            nnk_convert_f32_f16(4, p, p.add(1).cast(), null_mut()),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(buf, [1.0; 8]);
        // Adjacent is fine.
        assert_eq!(
            nnk_convert_f32_f16(4, p, p.add(4).cast(), null_mut()),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(
            nnk_convert_f32_f16(4, x.as_ptr(), y.as_mut_ptr(), null_mut()),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(y, [0x3C00, 0x4000, 0x4200, 0x4400]);
        // A bad pool handle is rejected.
        let mut fake = [0u64; 4];
        let bad = fake.as_mut_ptr().cast::<nnk_threadpool>();
        assert_eq!(
            nnk_convert_f32_f16(4, x.as_ptr(), y.as_mut_ptr(), bad),
            NNK_STATUS_INVALID_PARAMETER
        );
    }
}

#[test]
fn operator_lifecycle() {
    init();
    let mut op: *mut nnk_operator = null_mut();
    // SAFETY (all calls in this test): valid buffers and handles, or rejected arguments.
    unsafe {
        assert_eq!(
            nnk_create_convert_nc_f32_f16(0, null_mut()),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_create_convert_nc_f32_f16(1, &mut op),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert!(op.is_null(), "nothing written on failure");
        assert_eq!(
            nnk_create_convert_nc_f32_f16(0, &mut op),
            NNK_STATUS_SUCCESS
        );
        assert!(!op.is_null());
        let name = cstr(nnk_operator_kernel_name(op));
        assert!(name.starts_with("f32_f16_vcvt__"), "{name}");
        assert!(nnk_operator_kernel_name(null()).is_null());

        let x: Vec<f32> = (0..40).map(|i| i as f32 * 0.5).collect();
        let mut y = vec![0u16; 40];
        assert_eq!(nnk_run_operator(op, null_mut()), NNK_STATUS_INVALID_STATE);
        assert_eq!(
            nnk_setup_convert_nc_f32_f16(op, x.as_ptr(), y.as_mut_ptr()),
            NNK_STATUS_INVALID_STATE
        );
        // Shape checks.
        assert_eq!(
            nnk_reshape_convert_nc_f32_f16(op, 0, 4, 4, 1),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_reshape_convert_nc_f32_f16(op, 5, 4, 5, 1),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_reshape_convert_nc_f32_f16(op, 5, 5, 4, 1),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_reshape_convert_nc_f32_f16(op, 1, usize::MAX / 2, 1, 3),
            NNK_STATUS_INVALID_PARAMETER
        );
        // Wrong operator type for a typed call.
        assert_eq!(
            nnk_reshape_convert_nc_f32_bf16(op, 4, 4, 4, 1),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_reshape_convert_nc_f16_f32(op, 4, 4, 4, 1),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_setup_convert_nc_f32_bf16(op, x.as_ptr(), y.as_mut_ptr()),
            NNK_STATUS_INVALID_PARAMETER
        );
        // 4 rows of 6 channels, input stride 10, output stride 8.
        assert_eq!(
            nnk_reshape_convert_nc_f32_f16(op, 6, 10, 8, 4),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(nnk_run_operator(op, null_mut()), NNK_STATUS_INVALID_STATE);
        assert_eq!(
            nnk_setup_convert_nc_f32_f16(op, null(), y.as_mut_ptr()),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_setup_convert_nc_f32_f16(op, x.as_ptr(), y.as_mut_ptr()),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(nnk_run_operator(op, null_mut()), NNK_STATUS_SUCCESS);
        for r in 0..4 {
            for c in 0..8 {
                let got = y[r * 8 + c];
                if c < 6 {
                    assert_eq!(got, half::f16::from_f32(x[r * 10 + c]).to_bits());
                } else {
                    assert_eq!(got, 0, "padding between output rows untouched");
                }
            }
        }
        // Reshape invalidates setup; batch 0 runs as a no-op with any pointers.
        assert_eq!(
            nnk_reshape_convert_nc_f32_f16(op, 6, 10, 8, 0),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(nnk_run_operator(op, null_mut()), NNK_STATUS_INVALID_STATE);
        assert_eq!(
            nnk_setup_convert_nc_f32_f16(op, null(), null_mut()),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(nnk_run_operator(op, null_mut()), NNK_STATUS_SUCCESS);
        assert_eq!(nnk_delete_operator(op), NNK_STATUS_SUCCESS);
        assert_eq!(nnk_delete_operator(null_mut()), NNK_STATUS_SUCCESS);
        assert_eq!(
            nnk_run_operator(null_mut(), null_mut()),
            NNK_STATUS_INVALID_PARAMETER
        );
    }
}

fn check_large(tp: *mut nnk_threadpool) {
    let mut rng = Rng(42);
    let n = (1 << 20) + 13;
    let x: Vec<f32> = (0..n).map(|_| f32::from_bits(rng.next_u32())).collect();
    let mut y16 = vec![0u16; n];
    let mut back = vec![0f32; n];
    // SAFETY: buffers hold n elements.
    unsafe {
        assert_eq!(
            nnk_convert_f32_bf16(n, x.as_ptr(), y16.as_mut_ptr(), tp),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(
            nnk_convert_bf16_f32(n, y16.as_ptr(), back.as_mut_ptr(), tp),
            NNK_STATUS_SUCCESS
        );
    }
    for i in 0..n {
        assert_eq!(y16[i], half::bf16::from_f32(x[i]).to_bits(), "i={i}");
        assert_eq!(
            back[i].to_bits(),
            half::bf16::from_bits(y16[i]).to_f32().to_bits()
        );
    }
    // Strided rows through the operator: 300 rows of 5000 (stride 5003 / 5001).
    let (rows, ch, si, so) = (300usize, 5000usize, 5003usize, 5001usize);
    let x: Vec<f32> = (0..rows * si)
        .map(|_| f32::from_bits(rng.next_u32()))
        .collect();
    let mut y = vec![0u16; rows * so];
    let mut op = null_mut();
    // SAFETY: valid shape and buffers.
    unsafe {
        assert_eq!(
            nnk_create_convert_nc_f32_f16(0, &mut op),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(
            nnk_reshape_convert_nc_f32_f16(op, ch, si, so, rows),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(
            nnk_setup_convert_nc_f32_f16(op, x.as_ptr(), y.as_mut_ptr()),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(nnk_run_operator(op, tp), NNK_STATUS_SUCCESS);
        assert_eq!(nnk_delete_operator(op), NNK_STATUS_SUCCESS);
    }
    for r in 0..rows {
        for c in 0..so {
            let want = if c < ch {
                half::f16::from_f32(x[r * si + c]).to_bits()
            } else {
                0
            };
            assert_eq!(y[r * so + c], want, "row {r} col {c}");
        }
    }
}

#[test]
fn builtin_pool_large_and_strided() {
    init();
    let mut tp = null_mut();
    // SAFETY: valid out-pointer; the pool is destroyed below.
    unsafe {
        assert_eq!(
            nnk_threadpool_create(3, null_mut()),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(nnk_threadpool_create(3, &mut tp), NNK_STATUS_SUCCESS);
        assert_eq!(nnk_threadpool_threads(tp), 3);
        assert_eq!(nnk_threadpool_threads(null()), 1);
    }
    check_large(null_mut());
    check_large(tp);
    // SAFETY: live pool, then NULL.
    unsafe {
        assert_eq!(nnk_threadpool_destroy(tp), NNK_STATUS_SUCCESS);
        assert_eq!(nnk_threadpool_destroy(null_mut()), NNK_STATUS_SUCCESS);
    }
}

/// A host "job system" that runs tasks in reverse order on the calling thread, counting calls.
unsafe extern "C" fn reverse_parallel_for(
    user: *mut c_void,
    task: nnk_task_fn,
    ctx: *mut c_void,
    n: usize,
) {
    // SAFETY: user is the AtomicUsize given at creation.
    let calls = unsafe { &*user.cast::<std::sync::atomic::AtomicUsize>() };
    calls.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let task = task.unwrap();
    for i in (0..n).rev() {
        // SAFETY: nnkern's task with its context.
        unsafe { task(ctx, i) };
    }
}

/// A broken host that skips the last task.
unsafe extern "C" fn lazy_parallel_for(
    _: *mut c_void,
    task: nnk_task_fn,
    ctx: *mut c_void,
    n: usize,
) {
    for i in 0..n.saturating_sub(1) {
        // SAFETY: nnkern's task with its context.
        unsafe { task.unwrap()(ctx, i) };
    }
}

#[test]
fn custom_pool() {
    init();
    let calls = std::sync::atomic::AtomicUsize::new(0);
    let user = (&raw const calls).cast_mut().cast::<c_void>();
    let mut tp = null_mut();
    // SAFETY: valid arguments or rejected ones.
    unsafe {
        assert_eq!(
            nnk_threadpool_create_custom(None, user, 4, &mut tp),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert_eq!(
            nnk_threadpool_create_custom(Some(reverse_parallel_for), user, 0, &mut tp),
            NNK_STATUS_INVALID_PARAMETER
        );
        assert!(tp.is_null());
        assert_eq!(
            nnk_threadpool_create_custom(Some(reverse_parallel_for), user, 4, &mut tp),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(nnk_threadpool_threads(tp), 4);
    }
    check_large(tp);
    assert!(
        calls.load(std::sync::atomic::Ordering::Relaxed) >= 2,
        "the host scheduler was used"
    );
    // SAFETY: live pool.
    unsafe { assert_eq!(nnk_threadpool_destroy(tp), NNK_STATUS_SUCCESS) };

    let mut lazy = null_mut();
    let n = 1 << 20;
    let x = vec![1.0f32; n];
    let mut y = vec![0u16; n];
    // SAFETY: valid buffers and pool.
    unsafe {
        assert_eq!(
            nnk_threadpool_create_custom(Some(lazy_parallel_for), null_mut(), 4, &mut lazy),
            NNK_STATUS_SUCCESS
        );
        assert_eq!(
            nnk_convert_f32_f16(n, x.as_ptr(), y.as_mut_ptr(), lazy),
            NNK_STATUS_INTERNAL_ERROR
        );
        assert_eq!(nnk_threadpool_destroy(lazy), NNK_STATUS_SUCCESS);
    }
}
