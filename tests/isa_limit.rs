//! ISA ceiling: its own test binary because it changes process-wide state.

use nnkern::capi::convert::*;
use nnkern::capi::operator::*;
use nnkern::capi::*;
use nnkern::isa::{self, IsaLevel};

#[test]
fn uninitialized_then_limits() {
    let x = [1.0f32; 3];
    let mut y = [0u16; 3];
    let mut op = std::ptr::null_mut();
    // SAFETY: valid buffers and out-pointers.
    unsafe {
        assert_eq!(
            nnk_convert_f32_f16(3, x.as_ptr(), y.as_mut_ptr(), std::ptr::null_mut()),
            NNK_STATUS_UNINITIALIZED
        );
        assert_eq!(
            nnk_create_convert_nc_f32_f16(0, &mut op),
            NNK_STATUS_UNINITIALIZED
        );
    }
    assert_eq!(y, [0; 3]);
    assert_eq!(nnk_initialize(), NNK_STATUS_SUCCESS);
    assert_eq!(nnk_initialize(), NNK_STATUS_SUCCESS);

    let detected = isa::detected();
    assert_eq!(nnk_set_isa_limit(3), NNK_STATUS_INVALID_PARAMETER);
    assert_eq!(nnk_set_isa_limit(u32::MAX), NNK_STATUS_INVALID_PARAMETER);
    for level in IsaLevel::ALL {
        assert_eq!(nnk_set_isa_limit(level as u32), NNK_STATUS_SUCCESS);
        let want = level.min(detected);
        assert_eq!(nnk_isa(), want as u32);
        // Operators created now use the kernel of that level, and keep it.
        // SAFETY: valid out-pointer; the operator is deleted below.
        unsafe {
            assert_eq!(
                nnk_create_convert_nc_f32_f16(0, &mut op),
                NNK_STATUS_SUCCESS
            );
            let name = std::ffi::CStr::from_ptr(nnk_operator_kernel_name(op))
                .to_str()
                .unwrap();
            let expect = nnkern::config::vcvt::F32_F16
                .get(want)
                .name
                .to_str()
                .unwrap();
            assert_eq!(name, expect);
            nnk_set_isa_limit(NNK_ISA_SCALAR);
            let again = std::ffi::CStr::from_ptr(nnk_operator_kernel_name(op))
                .to_str()
                .unwrap();
            assert_eq!(again, expect);
            assert_eq!(nnk_delete_operator(op), NNK_STATUS_SUCCESS);
        }
    }
    // An invalid value changed nothing.
    assert_eq!(nnk_set_isa_limit(NNK_ISA_AVX2), NNK_STATUS_SUCCESS);
    assert_eq!(nnk_set_isa_limit(7), NNK_STATUS_INVALID_PARAMETER);
    assert_eq!(nnk_isa(), IsaLevel::Avx2.min(detected) as u32);
}

#[test]
fn nnk_isa_env_sets_the_initial_ceiling() {
    let bin = env!("CARGO_BIN_EXE_nnkern");
    let detected = isa::detected();
    for level in IsaLevel::ALL {
        let out = std::process::Command::new(bin)
            .arg("info")
            .env("NNK_ISA", level.name())
            .output()
            .unwrap();
        assert!(out.status.success());
        let text = String::from_utf8(out.stdout).unwrap();
        let want = format!("in force: {}", level.min(detected).name());
        assert!(
            text.contains(&want),
            "NNK_ISA={}: want '{want}' in\n{text}",
            level.name()
        );
    }
}
