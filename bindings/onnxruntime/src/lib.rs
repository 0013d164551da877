//! `libnnkern_onnxruntime.so`: nnkern's operators as ONNX Runtime custom ops.
//!
//! Load it with `SessionOptions.register_custom_ops_library(path)` (Python) or
//! `RegisterCustomOpsLibrary_V2` (C); ONNX Runtime calls [`RegisterCustomOps`], which adds the
//! domain `com.nnkern` with these ops (CPU execution provider):
//!
//! | op | inputs | outputs | attributes |
//! |----|--------|---------|------------|
//! | `Softmax`, `LogSoftmax` | X: float, float16 or bfloat16 | Y: same type and shape | `axis` (int, default -1; only the last axis: -1 or rank - 1) |
//! | `TopKGating` | logits [..., E]: float, float16 or bfloat16; optional bias [E] float | ids [..., k] int32, weights [..., k] float | `num_experts`, `k` (required), `score_fn`, `post_fn`, `normalize`, `norm_eps`, `scale`, `n_group`, `topk_group`, `group_score`: as `nnk_topk_gating_params` |
//! | `GgufDequantize` | blocks: uint8; optional shape: int64 [rank] | Y: float | `format` (ggml type id, required), `shape` (ints, optional) |
//!
//! Attributes are checked when the session creates the kernel, so a bad one fails session
//! creation with a message naming the op and the attribute. Inputs are checked at run time
//! (shape, size) and fail the run with a message. Work is split over ONNX Runtime's intra-op
//! threads through `KernelContext_ParallelFor`. No panic crosses into ONNX Runtime.
//!
//! Requires ONNX Runtime 1.17 or newer (C API version 17).

#![allow(non_snake_case)]
#![deny(unsafe_op_in_unsafe_fn)]

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::ptr;

use nnkern::capi::gating::nnk_topk_gating_params;
use nnkern::capi::{self as nnk, nnk_status, nnk_threadpool};
use ort_sys::{
    ONNXTensorElementDataType as Dt, OrtApi, OrtApiBase, OrtCustomOp,
    OrtCustomOpInputOutputCharacteristic as Io, OrtErrorCode, OrtKernelContext, OrtKernelInfo,
    OrtMemType, OrtSessionOptions, OrtStatus, OrtStatusPtr, OrtValue,
};

/// The ONNX Runtime C API version this library is written against (ONNX Runtime 1.17).
const API_VERSION: u32 = 17;

/// The custom-op domain.
const DOMAIN: &CStr = c"com.nnkern";

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Kind {
    Softmax,
    LogSoftmax,
    TopKGating,
    GgufDequantize,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Elem {
    F32,
    F16,
    Bf16,
}

impl Elem {
    fn onnx(self) -> Dt {
        match self {
            Elem::F32 => Dt::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT,
            Elem::F16 => Dt::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT16,
            Elem::Bf16 => Dt::ONNX_TENSOR_ELEMENT_DATA_TYPE_BFLOAT16,
        }
    }
}

/// One registered op: ONNX Runtime sees `base`, and hands the same pointer back to every
/// callback, which reads `kind` and `elem` from it (`repr(C)`, `base` first).
#[repr(C)]
struct OpDef {
    base: OrtCustomOp,
    kind: Kind,
    elem: Elem,
    name: &'static CStr,
}

const fn op(kind: Kind, elem: Elem, name: &'static CStr) -> OpDef {
    OpDef {
        base: OrtCustomOp {
            version: API_VERSION,
            CreateKernel: None,
            GetName: Some(get_name),
            GetExecutionProviderType: Some(get_execution_provider_type),
            GetInputType: Some(get_input_type),
            GetInputTypeCount: Some(get_input_type_count),
            GetOutputType: Some(get_output_type),
            GetOutputTypeCount: Some(get_output_type_count),
            KernelCompute: None,
            KernelDestroy: Some(kernel_destroy),
            GetInputCharacteristic: Some(get_input_characteristic),
            GetOutputCharacteristic: Some(get_output_characteristic),
            GetInputMemoryType: Some(get_input_memory_type),
            GetVariadicInputMinArity: Some(one),
            GetVariadicInputHomogeneity: Some(one),
            GetVariadicOutputMinArity: Some(one),
            GetVariadicOutputHomogeneity: Some(one),
            CreateKernelV2: Some(create_kernel),
            KernelComputeV2: Some(kernel_compute),
            InferOutputShapeFn: None,
            GetStartVersion: Some(start_version),
            GetEndVersion: Some(end_version),
        },
        kind,
        elem,
        name,
    }
}

/// Every op of the domain. Ops sharing a name differ in their input type; ONNX Runtime merges
/// them into one schema.
static OPS: [OpDef; 10] = [
    op(Kind::Softmax, Elem::F32, c"Softmax"),
    op(Kind::Softmax, Elem::F16, c"Softmax"),
    op(Kind::Softmax, Elem::Bf16, c"Softmax"),
    op(Kind::LogSoftmax, Elem::F32, c"LogSoftmax"),
    op(Kind::LogSoftmax, Elem::F16, c"LogSoftmax"),
    op(Kind::LogSoftmax, Elem::Bf16, c"LogSoftmax"),
    op(Kind::TopKGating, Elem::F32, c"TopKGating"),
    op(Kind::TopKGating, Elem::F16, c"TopKGating"),
    op(Kind::TopKGating, Elem::Bf16, c"TopKGating"),
    op(Kind::GgufDequantize, Elem::F32, c"GgufDequantize"),
];

/// # Safety
/// `op` is one of [`OPS`] (ONNX Runtime hands back the pointers registered).
unsafe fn def<'a>(op: *const OrtCustomOp) -> &'a OpDef {
    // SAFETY: every OrtCustomOp registered is the first field of a `repr(C)` OpDef in the
    // static OPS, so the pointer is an OpDef's address, valid for the program's life.
    unsafe { &*op.cast::<OpDef>() }
}

unsafe extern "system" fn get_name(op: *const OrtCustomOp) -> *const c_char {
    // SAFETY: ONNX Runtime passes back a registered op.
    unsafe { def(op) }.name.as_ptr()
}

unsafe extern "system" fn get_execution_provider_type(_: *const OrtCustomOp) -> *const c_char {
    ptr::null() // NULL: the CPU execution provider
}

unsafe extern "system" fn get_input_type(op: *const OrtCustomOp, i: usize) -> Dt {
    // SAFETY: ONNX Runtime passes back a registered op.
    let d = unsafe { def(op) };
    match (d.kind, i) {
        (Kind::GgufDequantize, 0) => Dt::ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8,
        (Kind::GgufDequantize, _) => Dt::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT64,
        (Kind::TopKGating, 1) => Dt::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT,
        _ => d.elem.onnx(),
    }
}

unsafe extern "system" fn get_input_type_count(op: *const OrtCustomOp) -> usize {
    // SAFETY: ONNX Runtime passes back a registered op.
    match unsafe { def(op) }.kind {
        Kind::Softmax | Kind::LogSoftmax => 1,
        Kind::TopKGating | Kind::GgufDequantize => 2,
    }
}

unsafe extern "system" fn get_output_type(op: *const OrtCustomOp, i: usize) -> Dt {
    // SAFETY: ONNX Runtime passes back a registered op.
    let d = unsafe { def(op) };
    match (d.kind, i) {
        (Kind::Softmax | Kind::LogSoftmax, _) => d.elem.onnx(),
        (Kind::TopKGating, 0) => Dt::ONNX_TENSOR_ELEMENT_DATA_TYPE_INT32,
        _ => Dt::ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT,
    }
}

unsafe extern "system" fn get_output_type_count(op: *const OrtCustomOp) -> usize {
    // SAFETY: ONNX Runtime passes back a registered op.
    match unsafe { def(op) }.kind {
        Kind::TopKGating => 2,
        _ => 1,
    }
}

unsafe extern "system" fn get_input_characteristic(op: *const OrtCustomOp, i: usize) -> Io {
    // SAFETY: ONNX Runtime passes back a registered op.
    match (unsafe { def(op) }.kind, i) {
        (Kind::TopKGating | Kind::GgufDequantize, 1) => Io::INPUT_OUTPUT_OPTIONAL,
        _ => Io::INPUT_OUTPUT_REQUIRED,
    }
}

unsafe extern "system" fn get_output_characteristic(_: *const OrtCustomOp, _: usize) -> Io {
    Io::INPUT_OUTPUT_REQUIRED
}

unsafe extern "system" fn get_input_memory_type(_: *const OrtCustomOp, _: usize) -> OrtMemType {
    OrtMemType::OrtMemTypeDefault
}

unsafe extern "system" fn one(_: *const OrtCustomOp) -> c_int {
    1
}

unsafe extern "system" fn start_version(_: *const OrtCustomOp) -> c_int {
    1
}

unsafe extern "system" fn end_version(_: *const OrtCustomOp) -> c_int {
    c_int::MAX
}

// ------------------------------------------------------------------------ errors

/// An error for ONNX Runtime: code and message.
struct Fail(OrtErrorCode, String);

fn invalid(msg: String) -> Fail {
    Fail(OrtErrorCode::ORT_INVALID_ARGUMENT, msg)
}

/// Turns a result into the status pointer ONNX Runtime expects (NULL for success).
fn to_status(api: &OrtApi, r: Result<(), Fail>) -> OrtStatusPtr {
    match r {
        Ok(()) => OrtStatusPtr(ptr::null_mut()),
        Err(Fail(code, msg)) => {
            let msg = CString::new(msg.replace('\0', " ")).unwrap_or_default();
            // SAFETY: CreateStatus copies the NUL-terminated message.
            unsafe { (api.CreateStatus)(code, msg.as_ptr()) }
        }
    }
}

/// Runs `f`, turning a panic into an ORT_FAIL status (no unwinding into ONNX Runtime).
fn guarded(api: &OrtApi, what: &str, f: impl FnOnce() -> Result<(), Fail>) -> OrtStatusPtr {
    let r = catch_unwind(AssertUnwindSafe(f)).unwrap_or_else(|_| {
        Err(Fail(
            OrtErrorCode::ORT_FAIL,
            format!("nnkern: internal error in {what}"),
        ))
    });
    to_status(api, r)
}

/// Checks an ONNX Runtime status: Ok for NULL, else its message (the status is released).
///
/// # Safety
/// `st` is NULL or a status ONNX Runtime returned and nobody released.
unsafe fn ort(api: &OrtApi, st: OrtStatusPtr) -> Result<(), String> {
    if st.0.is_null() {
        return Ok(());
    }
    // SAFETY: a live status; its message is NUL-terminated and valid until release.
    let msg = unsafe { CStr::from_ptr((api.GetErrorMessage)(st.0)) }
        .to_string_lossy()
        .into_owned();
    // SAFETY: released once, after its message was copied.
    unsafe { (api.ReleaseStatus)(st.0) };
    Err(msg)
}

fn nnk_error(st: nnk_status) -> String {
    // SAFETY: nnk_status_string returns a static NUL-terminated string for every code.
    unsafe { CStr::from_ptr(nnk::nnk_status_string(st)) }
        .to_string_lossy()
        .into_owned()
}

// ------------------------------------------------------------------------ attributes

/// Reads an int attribute: None when the node does not have it, an error when it has another
/// type (ONNX Runtime's message says which).
///
/// # Safety
/// `info` is the kernel info ONNX Runtime passed to create_kernel.
unsafe fn attr_i64(
    api: &OrtApi,
    info: *const OrtKernelInfo,
    name: &CStr,
) -> Result<Option<i64>, String> {
    let mut v = 0i64;
    // SAFETY: valid info, NUL-terminated name, out pointer to a local.
    let st = unsafe { (api.KernelInfoGetAttribute_int64)(info, name.as_ptr(), &mut v) };
    // SAFETY: the status just returned.
    absent_or(unsafe { ort(api, st) }, v)
}

/// # Safety
/// As [`attr_i64`].
unsafe fn attr_f32(
    api: &OrtApi,
    info: *const OrtKernelInfo,
    name: &CStr,
) -> Result<Option<f32>, String> {
    let mut v = 0f32;
    // SAFETY: valid info, NUL-terminated name, out pointer to a local.
    let st = unsafe { (api.KernelInfoGetAttribute_float)(info, name.as_ptr(), &mut v) };
    // SAFETY: the status just returned.
    absent_or(unsafe { ort(api, st) }, v)
}

/// # Safety
/// As [`attr_i64`].
unsafe fn attr_ints(
    api: &OrtApi,
    info: *const OrtKernelInfo,
    name: &CStr,
) -> Result<Option<Vec<i64>>, String> {
    let mut len = 0usize;
    // SAFETY: a NULL output asks for the length only.
    let st = unsafe {
        (api.KernelInfoGetAttributeArray_int64)(info, name.as_ptr(), ptr::null_mut(), &mut len)
    };
    // SAFETY: the status just returned.
    if absent_or(unsafe { ort(api, st) }, ())?.is_none() {
        return Ok(None);
    }
    let mut v = vec![0i64; len];
    // SAFETY: `v` holds `len` elements, as ONNX Runtime just reported.
    let st = unsafe {
        (api.KernelInfoGetAttributeArray_int64)(info, name.as_ptr(), v.as_mut_ptr(), &mut len)
    };
    // SAFETY: the status just returned.
    unsafe { ort(api, st) }?;
    v.truncate(len);
    Ok(Some(v))
}

/// ONNX Runtime reports a missing attribute as "No attribute with name ..." (scalars) or "No
/// attribute with this name ..." (arrays); anything else
/// (a wrong type) is an error to pass on.
fn absent_or<T>(r: Result<(), String>, v: T) -> Result<Option<T>, String> {
    match r {
        Ok(()) => Ok(Some(v)),
        Err(m) if m.contains("No attribute with") => Ok(None),
        Err(m) => Err(m),
    }
}

/// An attribute that must fit a uint32_t.
fn to_u32(op: &str, name: &CStr, v: i64) -> Result<u32, Fail> {
    u32::try_from(v).map_err(|_| {
        invalid(format!(
            "com.nnkern.{op}: attribute '{}' = {v} is out of range",
            name.to_string_lossy()
        ))
    })
}

// ------------------------------------------------------------------------ kernels

enum Attrs {
    Softmax {
        log: bool,
        axis: i64,
    },
    Gating(nnk_topk_gating_params),
    Gguf {
        format: u32,
        block: usize,
        bytes: usize,
        shape: Option<Vec<i64>>,
    },
}

struct Kernel {
    api: &'static OrtApi,
    elem: Elem,
    attrs: Attrs,
}

/// # Safety
/// `info` is the kernel info ONNX Runtime passed to create_kernel.
unsafe fn read_attrs(api: &OrtApi, d: &OpDef, info: *const OrtKernelInfo) -> Result<Attrs, Fail> {
    let name = d.name.to_string_lossy();
    let attr_err = |(attr, m): (&CStr, String)| {
        invalid(format!(
            "com.nnkern.{name}: attribute '{}': {m}",
            attr.to_string_lossy()
        ))
    };
    match d.kind {
        Kind::Softmax | Kind::LogSoftmax => {
            // SAFETY: forwarded contract.
            let axis = unsafe { attr_i64(api, info, c"axis") }
                .map_err(|m| attr_err((c"axis", m)))?
                .unwrap_or(-1);
            // -1, or the input's rank - 1 (checked at run time): any other negative axis is
            // never the last one.
            if axis < -1 {
                return Err(invalid(format!(
                    "com.nnkern.{name}: attribute 'axis' = {axis}: only the last axis is supported"
                )));
            }
            Ok(Attrs::Softmax {
                log: d.kind == Kind::LogSoftmax,
                axis,
            })
        }
        Kind::TopKGating => {
            let int = |n: &CStr, default: Option<i64>| -> Result<u32, Fail> {
                // SAFETY: forwarded contract.
                match unsafe { attr_i64(api, info, n) }
                    .map_err(|m| attr_err((n, m)))?
                    .or(default)
                {
                    Some(v) => to_u32(&name, n, v),
                    None => Err(invalid(format!(
                        "com.nnkern.{name}: attribute '{}' is required",
                        n.to_string_lossy()
                    ))),
                }
            };
            // SAFETY: forwarded contract (both).
            let eps = unsafe { attr_f32(api, info, c"norm_eps") }
                .map_err(|m| attr_err((c"norm_eps", m)))?
                .unwrap_or(0.0);
            // SAFETY: as above.
            let scale = unsafe { attr_f32(api, info, c"scale") }
                .map_err(|m| attr_err((c"scale", m)))?
                .unwrap_or(1.0);
            let p = nnk_topk_gating_params {
                num_experts: int(c"num_experts", None)?,
                k: int(c"k", None)?,
                score_fn: int(c"score_fn", Some(i64::from(nnk::gating::NNK_SCORE_SOFTMAX)))?,
                post_fn: int(c"post_fn", Some(0))?,
                normalize: int(c"normalize", Some(0))?,
                norm_eps: eps,
                scale,
                n_group: int(c"n_group", Some(0))?,
                topk_group: int(c"topk_group", Some(0))?,
                group_score: int(c"group_score", Some(0))?,
                selection_bias: ptr::null(),
            };
            // nnkern's own validation of the combination: create (and drop) an operator.
            let mut op = ptr::null_mut();
            // SAFETY: valid params (no bias pointer), out pointer to a local.
            let st = unsafe { nnk::gating::nnk_create_topk_gating_f32(&p, 0, &mut op) };
            // SAFETY: NULL or the operator just created.
            unsafe { nnk::operator::nnk_delete_operator(op) };
            if st != nnk::NNK_STATUS_SUCCESS {
                return Err(invalid(format!(
                    "com.nnkern.{name}: attributes rejected by nnk_create_topk_gating ({}): num_experts={} k={} \
                     score_fn={} post_fn={} normalize={} norm_eps={} scale={} n_group={} topk_group={} \
                     group_score={} (see nnkern.h for the valid combinations)",
                    nnk_error(st),
                    p.num_experts,
                    p.k,
                    p.score_fn,
                    p.post_fn,
                    p.normalize,
                    p.norm_eps,
                    p.scale,
                    p.n_group,
                    p.topk_group,
                    p.group_score
                )));
            }
            Ok(Attrs::Gating(p))
        }
        Kind::GgufDequantize => {
            // SAFETY: forwarded contract.
            let format = unsafe { attr_i64(api, info, c"format") }
                .map_err(|m| attr_err((c"format", m)))?
                .ok_or_else(|| {
                    invalid(format!(
                        "com.nnkern.{name}: attribute 'format' (a ggml type id) is required"
                    ))
                })?;
            let format = to_u32(&name, c"format", format)?;
            let block = nnk::blocks::nnk_block_size(format);
            if block == 0 {
                return Err(invalid(format!(
                    "com.nnkern.{name}: attribute 'format' = {format} is not a GGUF block type nnkern knows \
                     (Q4_0 2, Q4_1 3, Q5_0 6, Q5_1 7, Q8_0 8, Q8_1 9, Q4_K 12, Q5_K 13, Q6_K 14, Q8_K 15, MXFP4 39)"
                )));
            }
            // SAFETY: forwarded contract.
            let shape =
                unsafe { attr_ints(api, info, c"shape") }.map_err(|m| attr_err((c"shape", m)))?;
            if let Some(s) = &shape {
                check_shape(&name, s)?;
            }
            Ok(Attrs::Gguf {
                format,
                block,
                bytes: nnk::blocks::nnk_block_bytes(format),
                shape,
            })
        }
    }
}

/// A requested output shape: dimensions >= 0 whose product fits.
fn check_shape(op: &str, s: &[i64]) -> Result<usize, Fail> {
    let mut n = 1usize;
    for &d in s {
        let d = usize::try_from(d).map_err(|_| {
            invalid(format!(
                "com.nnkern.{op}: shape {s:?} has a negative dimension"
            ))
        })?;
        n = n
            .checked_mul(d)
            .ok_or_else(|| invalid(format!("com.nnkern.{op}: shape {s:?} is too large")))?;
    }
    Ok(n)
}

unsafe extern "system" fn create_kernel(
    op: *const OrtCustomOp,
    api: *const OrtApi,
    info: *const OrtKernelInfo,
    kernel: *mut *mut c_void,
) -> OrtStatusPtr {
    // SAFETY: ONNX Runtime passes its API table, valid for the library's life.
    let api: &'static OrtApi = unsafe { &*api };
    guarded(api, "create_kernel", || {
        // SAFETY: ONNX Runtime passes back a registered op and this kernel's info.
        let d = unsafe { def(op) };
        // SAFETY: as above.
        let attrs = unsafe { read_attrs(api, d, info) }?;
        let k = Box::new(Kernel {
            api,
            elem: d.elem,
            attrs,
        });
        // SAFETY: ONNX Runtime's out pointer; the kernel is freed by kernel_destroy.
        unsafe { *kernel = Box::into_raw(k).cast() };
        Ok(())
    })
}

unsafe extern "system" fn kernel_destroy(kernel: *mut c_void) {
    if !kernel.is_null() {
        // SAFETY: made by Box::into_raw in create_kernel, destroyed once by ONNX Runtime.
        drop(unsafe { Box::from_raw(kernel.cast::<Kernel>()) });
    }
}

/// One input tensor.
struct Input {
    shape: Vec<i64>,
    count: usize,
    data: *const c_void,
}

/// # Safety
/// `ctx` is the kernel context of the running compute call.
unsafe fn input(api: &OrtApi, ctx: *mut OrtKernelContext, i: usize) -> Result<Option<Input>, Fail> {
    let fail = |m: String| Fail(OrtErrorCode::ORT_FAIL, m);
    let mut count = 0usize;
    // SAFETY: valid context; out pointer to a local.
    unsafe { ort(api, (api.KernelContext_GetInputCount)(ctx, &mut count)) }.map_err(fail)?;
    if i >= count {
        return Ok(None);
    }
    let mut v: *const OrtValue = ptr::null();
    // SAFETY: valid context, index below the count.
    unsafe { ort(api, (api.KernelContext_GetInput)(ctx, i, &mut v)) }.map_err(fail)?;
    if v.is_null() {
        return Ok(None); // an omitted optional input
    }
    let mut info = ptr::null_mut();
    // SAFETY: a live value; the info is released below.
    unsafe { ort(api, (api.GetTensorTypeAndShape)(v, &mut info)) }.map_err(fail)?;
    let mut rank = 0usize;
    // SAFETY: live info.
    let r = unsafe { ort(api, (api.GetDimensionsCount)(info, &mut rank)) };
    let mut shape = vec![0i64; rank];
    let r = r.and_then(|()| {
        // SAFETY: `shape` holds `rank` elements.
        unsafe { ort(api, (api.GetDimensions)(info, shape.as_mut_ptr(), rank)) }
    });
    // SAFETY: the info obtained above, released once.
    unsafe { (api.ReleaseTensorTypeAndShapeInfo)(info) };
    r.map_err(fail)?;
    let mut data = ptr::null_mut();
    // SAFETY: a live tensor value (the data is only read).
    unsafe { ort(api, (api.GetTensorMutableData)(v.cast_mut(), &mut data)) }.map_err(fail)?;
    let count = shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(usize::try_from(d).ok()?));
    let count = count.ok_or_else(|| fail(format!("bad input shape {shape:?}")))?;
    Ok(Some(Input { shape, count, data }))
}

/// Allocates output `i` with `shape` and returns its data.
///
/// # Safety
/// `ctx` is the kernel context of the running compute call.
unsafe fn output(
    api: &OrtApi,
    ctx: *mut OrtKernelContext,
    i: usize,
    shape: &[i64],
) -> Result<*mut c_void, Fail> {
    let fail = |m: String| Fail(OrtErrorCode::ORT_FAIL, m);
    let mut v = ptr::null_mut();
    // SAFETY: valid context; `shape` is a live slice of its length.
    unsafe {
        ort(
            api,
            (api.KernelContext_GetOutput)(ctx, i, shape.as_ptr(), shape.len(), &mut v),
        )
    }
    .map_err(fail)?;
    let mut data = ptr::null_mut();
    // SAFETY: the output value just allocated.
    unsafe { ort(api, (api.GetTensorMutableData)(v, &mut data)) }.map_err(fail)?;
    Ok(data)
}

/// nnkern's work split over ONNX Runtime's intra-op threads: an nnk_threadpool whose
/// parallel-for is `KernelContext_ParallelFor` of this compute call.
struct OrtPool {
    api: &'static OrtApi,
    ctx: *mut OrtKernelContext,
}

struct Task {
    task: unsafe extern "C" fn(*mut c_void, usize),
    ctx: *mut c_void,
}

unsafe extern "C" fn run_task(user: *mut c_void, i: usize) {
    // SAFETY: `user` is the Task on ort_parallel_for's stack, alive until ParallelFor returns.
    let t = unsafe { &*user.cast::<Task>() };
    // SAFETY: nnkern's task with its context, for an index below n.
    unsafe { (t.task)(t.ctx, i) };
}

unsafe extern "C" fn ort_parallel_for(
    user: *mut c_void,
    task: Option<unsafe extern "C" fn(*mut c_void, usize)>,
    ctx: *mut c_void,
    n: usize,
) {
    let Some(task) = task else { return };
    // SAFETY: `user` is the OrtPool of the compute call that created this pool.
    let pool = unsafe { &*user.cast::<OrtPool>() };
    let mut t = Task { task, ctx };
    // SAFETY: live context; run_task reads `t` only while ParallelFor runs.
    let st = unsafe {
        (pool.api.KernelContext_ParallelFor)(pool.ctx, run_task, n, 0, (&raw mut t).cast())
    };
    // nnkern needs every task run: if ONNX Runtime could not schedule them, run them here.
    // SAFETY: the status just returned.
    if unsafe { ort(pool.api, st) }.is_err() {
        for i in 0..n {
            // SAFETY: as in run_task.
            unsafe { task(ctx, i) };
        }
    }
}

/// Creates the per-call pool; NULL (the calling thread) if that fails.
fn make_pool(p: &mut OrtPool) -> *mut nnk_threadpool {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(64);
    let mut tp = ptr::null_mut();
    // SAFETY: `p` outlives the pool (destroyed before compute returns).
    let st = unsafe {
        nnk::threadpool::nnk_threadpool_create_custom(
            Some(ort_parallel_for),
            (p as *mut OrtPool).cast(),
            threads,
            &mut tp,
        )
    };
    if st == nnk::NNK_STATUS_SUCCESS {
        tp
    } else {
        ptr::null_mut()
    }
}

fn nnk_call(op: &str, st: nnk_status) -> Result<(), Fail> {
    if st == nnk::NNK_STATUS_SUCCESS {
        Ok(())
    } else {
        Err(invalid(format!(
            "com.nnkern.{op}: nnkern failed: {}",
            nnk_error(st)
        )))
    }
}

/// # Safety
/// `k` is this kernel, `ctx` its running compute context, `tp` NULL or a live pool.
unsafe fn compute(
    k: &Kernel,
    ctx: *mut OrtKernelContext,
    tp: *mut nnk_threadpool,
) -> Result<(), Fail> {
    let api = k.api;
    // SAFETY: forwarded contract.
    let x = unsafe { input(api, ctx, 0) }?
        .ok_or_else(|| invalid("com.nnkern: missing input".into()))?;
    match &k.attrs {
        Attrs::Softmax { log, axis } => {
            let op = if *log { "LogSoftmax" } else { "Softmax" };
            if *axis >= 0 && *axis as usize + 1 != x.shape.len().max(1) {
                return Err(invalid(format!(
                    "com.nnkern.{op}: attribute 'axis' = {axis} is not the last axis of an input of \
                     shape {:?}: only the last axis is supported",
                    x.shape
                )));
            }
            // SAFETY: forwarded contract.
            let y = unsafe { output(api, ctx, 0, &x.shape) }?;
            let channels = x.shape.last().map_or(1, |&c| c as usize);
            if x.count == 0 {
                return Ok(());
            }
            let batch = x.count / channels;
            let (c, n) = (channels, batch);
            use nnk::softmax as sm;
            let (x, y) = (x.data, y);
            // SAFETY: x holds batch·channels elements of the op's type, y as many (same shape),
            // both dense; ONNX Runtime keeps them alive for the call.
            let st = unsafe {
                match k.elem {
                    Elem::F32 => {
                        let f = if *log {
                            sm::nnk_log_softmax_nc_f32
                        } else {
                            sm::nnk_softmax_nc_f32
                        };
                        f(n, c, x.cast(), c, y.cast(), c, 0, tp)
                    }
                    Elem::F16 | Elem::Bf16 => {
                        let f = match (k.elem == Elem::F16, log) {
                            (true, false) => sm::nnk_softmax_nc_f16,
                            (true, true) => sm::nnk_log_softmax_nc_f16,
                            (false, false) => sm::nnk_softmax_nc_bf16,
                            (false, true) => sm::nnk_log_softmax_nc_bf16,
                        };
                        f(n, c, x.cast(), c, y.cast(), c, 0, tp)
                    }
                }
            };
            nnk_call(op, st)
        }
        Attrs::Gating(p) => {
            let e = p.num_experts as usize;
            if x.shape.last().map(|&d| d as usize) != Some(e) {
                return Err(invalid(format!(
                    "com.nnkern.TopKGating: logits shape {:?} does not end in num_experts = {e}",
                    x.shape
                )));
            }
            let mut p = *p;
            // SAFETY: forwarded contract.
            if let Some(b) = unsafe { input(api, ctx, 1) }? {
                if b.count != e {
                    return Err(invalid(format!(
                        "com.nnkern.TopKGating: bias has {} elements, num_experts = {e}",
                        b.count
                    )));
                }
                p.selection_bias = b.data.cast();
            }
            let tokens = x.count / e;
            let mut shape = x.shape.clone();
            *shape.last_mut().unwrap() = i64::from(p.k);
            // SAFETY: forwarded contract (both outputs).
            let ids = unsafe { output(api, ctx, 0, &shape) }?;
            // SAFETY: as above.
            let w = unsafe { output(api, ctx, 1, &shape) }?;
            if tokens == 0 {
                return Ok(());
            }
            let (l, ids, w) = (x.data, ids.cast(), w.cast());
            // SAFETY: logits [tokens][e] dense, bias NULL or e floats, ids and weights
            // [tokens][k], all alive for the call.
            let st = unsafe {
                match k.elem {
                    Elem::F32 => {
                        nnk::gating::nnk_topk_gating_f32(&p, tokens, l.cast(), e, ids, w, 0, tp)
                    }
                    Elem::F16 => {
                        nnk::gating::nnk_topk_gating_f16(&p, tokens, l.cast(), e, ids, w, 0, tp)
                    }
                    Elem::Bf16 => {
                        nnk::gating::nnk_topk_gating_bf16(&p, tokens, l.cast(), e, ids, w, 0, tp)
                    }
                }
            };
            nnk_call("TopKGating", st)
        }
        Attrs::Gguf {
            format,
            block,
            bytes,
            shape,
        } => {
            let op = "GgufDequantize";
            // The output shape: the shape input, else the attribute, else 1-D.
            // SAFETY: forwarded contract.
            let shape = match unsafe { input(api, ctx, 1) }? {
                Some(s) => {
                    if s.shape.len() != 1 {
                        return Err(invalid(format!(
                            "com.nnkern.{op}: the shape input must be 1-D, got {:?}",
                            s.shape
                        )));
                    }
                    // SAFETY: an int64 tensor of s.count elements.
                    unsafe { std::slice::from_raw_parts(s.data.cast::<i64>(), s.count) }.to_vec()
                }
                None => match shape {
                    Some(s) => s.clone(),
                    None => vec![(x.count / bytes * block) as i64],
                },
            };
            let n = check_shape(op, &shape)?;
            if n % block != 0 || n / block * bytes != x.count || x.count % bytes != 0 {
                return Err(invalid(format!(
                    "com.nnkern.{op}: {} bytes of format {format} ({bytes} bytes per {block} elements) do not \
                     hold the {n} elements of shape {shape:?}",
                    x.count
                )));
            }
            // SAFETY: forwarded contract.
            let y = unsafe { output(api, ctx, 0, &shape) }?;
            if n == 0 {
                return Ok(());
            }
            // SAFETY: n / block whole blocks in x, n floats in y.
            let st = unsafe {
                nnk::blocks::nnk_dequantize_blocks_f32(*format, n, x.data, y.cast(), 0, tp)
            };
            nnk_call(op, st)
        }
    }
}

unsafe extern "system" fn kernel_compute(
    kernel: *mut c_void,
    ctx: *mut OrtKernelContext,
) -> OrtStatusPtr {
    // SAFETY: the kernel create_kernel made; ONNX Runtime keeps it alive while computing.
    let k = unsafe { &*kernel.cast::<Kernel>() };
    guarded(k.api, "compute", || {
        let mut pool = OrtPool { api: k.api, ctx };
        let tp = make_pool(&mut pool);
        // SAFETY: this kernel, its context, and the pool just made (or NULL).
        let r = unsafe { compute(k, ctx, tp) };
        // SAFETY: NULL or the pool made above.
        unsafe { nnk::threadpool::nnk_threadpool_destroy(tp) };
        r
    })
}

// ------------------------------------------------------------------------ registration

/// ONNX Runtime's entry point: adds the domain `com.nnkern` with every op to `options`.
///
/// # Safety
/// Called by ONNX Runtime with live session options and its API base.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn RegisterCustomOps(
    options: *mut OrtSessionOptions,
    api_base: *const OrtApiBase,
) -> *mut OrtStatus {
    if options.is_null() || api_base.is_null() {
        return ptr::null_mut();
    }
    // SAFETY: ONNX Runtime's API base; GetApi returns NULL for a version it does not have.
    let api = unsafe { ((*api_base).GetApi)(API_VERSION) };
    if api.is_null() {
        // No API table, so no way to make a status: ONNX Runtime older than 1.17. Nothing is
        // registered, and loading a model with com.nnkern ops then fails on the missing ops.
        return ptr::null_mut();
    }
    // SAFETY: the table ONNX Runtime just returned lives as long as the runtime.
    let api: &'static OrtApi = unsafe { &*api };
    guarded(api, "RegisterCustomOps", || {
        let fail = |m: String| Fail(OrtErrorCode::ORT_FAIL, format!("nnkern: {m}"));
        let st = nnk::nnk_initialize();
        if st != nnk::NNK_STATUS_SUCCESS {
            return Err(fail(format!("nnk_initialize: {}", nnk_error(st))));
        }
        let mut domain = ptr::null_mut();
        // SAFETY: NUL-terminated name, out pointer to a local.
        unsafe {
            ort(
                api,
                (api.CreateCustomOpDomain)(DOMAIN.as_ptr(), &mut domain),
            )
        }
        .map_err(fail)?;
        for op in &OPS {
            // SAFETY: a live domain and a static op.
            if let Err(m) = unsafe { ort(api, (api.CustomOpDomain_Add)(domain, &op.base)) } {
                // SAFETY: the domain made above, not handed to ONNX Runtime.
                unsafe { (api.ReleaseCustomOpDomain)(domain) };
                return Err(fail(m));
            }
        }
        // The domain must outlive every session made from these options, which this library
        // cannot see end: it is kept for the life of the process (one small object per call).
        // SAFETY: live options and domain.
        unsafe { ort(api, (api.AddCustomOpDomain)(options, domain)) }.map_err(fail)
    })
    .0
}
