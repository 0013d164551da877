//! Embedding hygiene: what a game engine or a runtime that links nnkern can rely on.
//!
//! * `libnnkern.so` exports only `nnk_*` symbols (rustc's own version script for a cdylib keeps
//!   everything else local; this test proves it stays so);
//! * no thread starts unless a pool is created, nothing is printed, and the only environment
//!   variable read is `NNK_ISA` (tests/c/hygiene.c, linked shared and static, run with an empty
//!   and a set `NNK_ISA`);
//! * no global constructors beyond the toolchain's: `.init_array` holds exactly gcc's
//!   `frame_dummy` and Rust std's `ARGV_INIT_ARRAY` (which stores argc/argv and does nothing
//!   else); CPU detection is lazy, in `nnk_initialize`;
//! * static linking needs exactly the native libraries the README lists (the install test checks
//!   the same list against `cargo rustc -- --print native-static-libs`).
//!
//! That `nnkern.h` compiles cleanly as C99, C11, C++17 and C++20 is tests/header.rs.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{NATIVE_STATIC_LIBS, build, lib_dir, out_dir, root, run_ok};

fn shared_lib() -> PathBuf {
    lib_dir().join("libnnkern.so")
}

#[test]
fn shared_library_exports_only_nnk_symbols() {
    let out = run_ok(
        Command::new("nm")
            .args(["-D", "--defined-only"])
            .arg(shared_lib()),
    );
    let names: Vec<&str> = out
        .lines()
        .filter_map(|l| l.split_whitespace().nth(2))
        .collect();
    assert!(
        names.len() > 100,
        "expected the whole C API, got {}",
        names.len()
    );
    let foreign: Vec<&&str> = names.iter().filter(|n| !n.starts_with("nnk_")).collect();
    assert!(foreign.is_empty(), "exported beyond nnk_*: {foreign:?}");
    // Every function the header declares is exported.
    let header = std::fs::read_to_string(root().join("include/nnkern.h")).unwrap();
    let declarations = header.lines().filter(|l| {
        !l.starts_with([' ', '/', '*', '#']) && !l.starts_with("typedef") && l.contains('(')
    });
    let mut declared = 0;
    for decl in declarations {
        let name = decl
            .split('(')
            .next()
            .unwrap()
            .split_whitespace()
            .last()
            .unwrap();
        let name = name.trim_start_matches('*');
        assert!(names.contains(&name), "{name} declared but not exported");
        declared += 1;
    }
    assert!(declared > 100, "read {declared} declarations from nnkern.h");
}

fn run_hygiene(exe: &Path, nnk_isa: Option<&str>) {
    let report = exe.with_extension("failures");
    let _ = std::fs::remove_file(&report);
    let mut cmd = Command::new(exe);
    cmd.arg(&report).env_remove("NNK_ISA");
    if let Some(v) = nnk_isa {
        cmd.env("NNK_ISA", v);
    }
    let res = cmd.output().expect("hygiene program did not start");
    let failures = std::fs::read_to_string(&report).unwrap_or_default();
    assert!(
        res.status.success(),
        "{} (NNK_ISA={nnk_isa:?}) failed ({}):\n{failures}",
        exe.display(),
        res.status
    );
    assert!(
        res.stdout.is_empty() && res.stderr.is_empty(),
        "nnkern printed:\nstdout: {}\nstderr: {}",
        String::from_utf8_lossy(&res.stdout),
        String::from_utf8_lossy(&res.stderr)
    );
}

#[test]
fn no_threads_no_output_no_environment_but_nnk_isa() {
    let dir = out_dir("hygiene");
    for shared in [false, true] {
        let exe = dir.join(if shared {
            "hygiene_shared"
        } else {
            "hygiene_static"
        });
        build("tests/c/hygiene.c", "c99", false, shared, &exe);
        run_hygiene(&exe, None);
        run_hygiene(&exe, Some("scalar"));
        run_hygiene(&exe, Some("nonsense")); // an unknown value is ignored, silently
    }
}

/// The functions `.init_array` of libnnkern.so runs at load time.
#[test]
fn no_global_constructors_beyond_the_toolchain() {
    let lib = shared_lib();
    let sections = run_ok(Command::new("readelf").args(["-W", "-S"]).arg(&lib));
    assert!(
        !sections.contains(" .ctors "),
        "legacy .ctors section present"
    );
    let init = sections
        .lines()
        .find(|l| l.contains(" .init_array "))
        .expect(".init_array section");
    let fields: Vec<&str> = init.split_whitespace().collect();
    let at = fields.iter().position(|f| *f == ".init_array").unwrap();
    let addr = u64::from_str_radix(fields[at + 2], 16).unwrap();
    let size = u64::from_str_radix(fields[at + 4], 16).unwrap();
    // Each entry is a relative relocation whose addend is the function's address.
    let relocs = run_ok(Command::new("readelf").args(["-W", "-r"]).arg(&lib));
    let mut targets = Vec::new();
    for l in relocs.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() >= 4
            && let (Ok(off), Ok(val)) =
                (u64::from_str_radix(f[0], 16), u64::from_str_radix(f[3], 16))
            && off >= addr
            && off < addr + size
        {
            targets.push(val);
        }
    }
    assert_eq!(
        targets.len() as u64,
        size / 8,
        "every .init_array entry resolved"
    );
    let symbols = run_ok(Command::new("nm").arg(&lib));
    let mut names = Vec::new();
    for t in targets {
        let name = symbols
            .lines()
            .find_map(|l| {
                let f: Vec<&str> = l.split_whitespace().collect();
                (f.len() == 3 && u64::from_str_radix(f[0], 16) == Ok(t)).then(|| f[2].to_owned())
            })
            .unwrap_or_else(|| format!("unnamed function at {t:#x}"));
        names.push(name);
    }
    for n in &names {
        assert!(
            n == "frame_dummy" || n.contains("ARGV_INIT_ARRAY"),
            "unexpected global constructor {n} (all: {names:?})"
        );
    }
}

/// The static-link line of the README names exactly the libraries the tests link with.
#[test]
fn readme_lists_the_native_static_libraries() {
    let readme = std::fs::read_to_string(root().join("README.md")).unwrap();
    let line = readme
        .lines()
        .find(|l| l.contains("-lgcc_s") && l.contains("# static"))
        .expect("README's static link line");
    let listed: Vec<&str> = line
        .split_whitespace()
        .filter(|w| w.starts_with("-l"))
        .collect();
    assert_eq!(listed, NATIVE_STATIC_LIBS);
    let cmake = std::fs::read_to_string(root().join("bindings/cmake/nnkernConfig.cmake")).unwrap();
    let cmake_libs: Vec<String> = NATIVE_STATIC_LIBS
        .iter()
        .map(|l| l.trim_start_matches("-l").to_owned())
        .collect();
    assert!(
        cmake.contains(&format!(
            "INTERFACE_LINK_LIBRARIES \"{}\"",
            cmake_libs.join(";")
        )),
        "nnkernConfig.cmake lists other libraries"
    );
}
