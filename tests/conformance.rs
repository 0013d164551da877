//! Builds the C (`tests/c`) and C++ (`tests/cpp`) conformance suites against
//! `include/nnkern.h` and the `libnnkern.a` / `libnnkern.so` cargo just built, and runs them:
//! natively, and the C suite under `qemu-x86_64 -cpu Haswell` (must report avx2) and
//! `-cpu Nehalem` (must report scalar), where the features are really absent.
//!
//! Without qemu-x86_64 on the PATH the emulated runs are skipped with a note, unless
//! `NNK_REQUIRE_QEMU=1` (set by `.ci/run`) makes that a failure.

mod common;

use std::path::Path;
use std::process::Command;

use common::{build, build_with, out_dir, root};

/// Runs a suite (optionally through a wrapper such as qemu) and asserts it passed.
fn run(wrapper: &[&str], exe: &Path, args: &[&str]) -> String {
    let mut cmd = match wrapper.split_first() {
        Some((w, rest)) => {
            let mut c = Command::new(w);
            c.args(rest).arg(exe);
            c
        }
        None => Command::new(exe),
    };
    let res = cmd
        .args(args)
        .current_dir(root())
        .env_remove("NNK_ISA")
        .output()
        .expect("suite did not start");
    let stdout = String::from_utf8_lossy(&res.stdout).into_owned();
    assert!(
        res.status.success(),
        "{} {args:?} failed ({}):\n{stdout}\n{}",
        exe.display(),
        res.status,
        String::from_utf8_lossy(&res.stderr)
            .lines()
            .filter(|l| !l.contains("TCG doesn't support"))
            .collect::<Vec<_>>()
            .join("\n")
    );
    stdout
}

#[test]
fn c_suite_static_and_shared() {
    let exe = out_dir("conformance").join("conformance_c");
    build("tests/c/conformance.c", "c99", false, false, &exe);
    let out = run(&[], &exe, &[]);
    assert!(out.contains("all C conformance checks passed"), "{out}");
    let exe_so = out_dir("conformance").join("conformance_c_shared");
    build("tests/c/conformance.c", "c99", false, true, &exe_so);
    let out = run(&[], &exe_so, &[]);
    assert!(out.contains("all C conformance checks passed"), "{out}");
}

/// The C++ suite runs through bindings/cpp/nnkern.hpp in both of its modes: C++17 with
/// exceptions, and C++20 (std::span overloads) built as game engines build, without exceptions
/// or RTTI, where calls return nnk::Status.
#[test]
fn cpp_suite_with_exceptions() {
    let exe = out_dir("conformance").join("conformance_cpp");
    build("tests/cpp/conformance.cpp", "c++17", true, false, &exe);
    let out = run(&[], &exe, &[]);
    assert!(out.contains("all C++ conformance checks passed"), "{out}");
}

#[test]
fn cpp_suite_without_exceptions_or_rtti() {
    let exe = out_dir("conformance").join("conformance_cpp_noexcept");
    let flags = ["-fno-exceptions", "-fno-rtti"];
    build_with(
        "tests/cpp/conformance.cpp",
        "c++20",
        true,
        true,
        &flags,
        &exe,
    );
    let out = run(&[], &exe, &[]);
    assert!(out.contains("all C++ conformance checks passed"), "{out}");
}

fn qemu() -> Option<&'static str> {
    let found = Command::new("qemu-x86_64")
        .arg("-version")
        .output()
        .is_ok_and(|o| o.status.success());
    if found {
        return Some("qemu-x86_64");
    }
    if std::env::var_os("NNK_REQUIRE_QEMU").is_some_and(|v| v == "1") {
        panic!("qemu-x86_64 not found and NNK_REQUIRE_QEMU=1 (apt-get install qemu-user)");
    }
    eprintln!("note: qemu-x86_64 not found; emulated-CPU runs skipped (apt-get install qemu-user)");
    None
}

#[cfg(target_arch = "x86_64")]
#[test]
fn c_suite_on_emulated_cpus() {
    let Some(qemu) = qemu() else { return };
    let exe = out_dir("conformance").join("conformance_c_qemu");
    build("tests/c/conformance.c", "c99", false, false, &exe);
    for (cpu, isa) in [("Haswell", "avx2"), ("Nehalem", "scalar")] {
        let out = run(&[qemu, "-cpu", cpu], &exe, &["--expect-isa", isa]);
        assert!(
            out.contains(&format!("ISA in force: {isa}")),
            "{cpu}: {out}"
        );
        assert!(
            out.contains("all C conformance checks passed"),
            "{cpu}: {out}"
        );
    }
}

/// The C example in README.md compiles cleanly and runs.
#[test]
fn readme_c_example() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let start = readme.find("```c\n").expect("README has a C example") + 5;
    let len = readme[start..].find("```").unwrap();
    let src = out_dir("conformance").join("readme_example.c");
    std::fs::write(&src, &readme[start..start + len]).unwrap();
    let exe = out_dir("conformance").join("readme_example");
    build(src.to_str().unwrap(), "c99", false, false, &exe);
    let out = run(&[], &exe, &[]);
    assert!(out.contains("f16 bits of 1.0: 0x3c00"), "{out}");
}
