//! Installs nnkern into temporary prefixes and builds tiny consumers against the result:
//!
//! * `cargo cinstall` (cargo-c, through `[package.metadata.capi]`), then a consumer built with
//!   pkg-config, linked shared and static;
//! * `bindings/cmake/install.sh` (no cargo-c), which must install the same files plus the CMake
//!   package, then consumers built with CMake (`nnkern::nnkern`, `nnkern::nnkern_static`, and a
//!   C++ one through nnkern.hpp) and again with pkg-config.
//!
//! Each consumer is run and its output checked. Needs `cargo-cinstall`, `pkg-config` and `cmake`
//! on the PATH: without them the test is skipped with a note, unless
//! `NNK_REQUIRE_INSTALL_TOOLS=1` (set by `.ci/run`) makes that a failure.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::{NATIVE_STATIC_LIBS, compiler, root, run_ok};

fn scratch(name: &str) -> PathBuf {
    let d = PathBuf::from(env!("CARGO_TARGET_TMPDIR"))
        .join("install")
        .join(name);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

/// Whether `tool` runs; a missing tool fails the test when NNK_REQUIRE_INSTALL_TOOLS=1.
fn have(tool: &str, args: &[&str]) -> bool {
    if Command::new(tool)
        .args(args)
        .output()
        .is_ok_and(|o| o.status.success())
    {
        return true;
    }
    if std::env::var_os("NNK_REQUIRE_INSTALL_TOOLS").is_some_and(|v| v == "1") {
        panic!("{tool} not found and NNK_REQUIRE_INSTALL_TOOLS=1");
    }
    eprintln!("note: {tool} not found; install test skipped");
    false
}

fn cargo() -> Command {
    Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()))
}

/// Every file and link under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, d: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() && !p.is_symlink() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut v = Vec::new();
    walk(dir, dir, &mut v);
    v.sort();
    v
}

const EXPECTED: &str = "softmax [1 2 3 4] = 0.032059 0.087144 0.236883 0.643914";

fn needed(exe: &Path) -> String {
    run_ok(Command::new("readelf").arg("-d").arg(exe))
}

/// Builds tests/install/consumer.c with pkg-config's flags for the prefix, shared and static,
/// and runs both.
fn pkg_config_consumers(prefix: &Path, out: &Path) {
    let pc = |args: &[&str]| -> Vec<String> {
        let s = run_ok(
            Command::new("pkg-config")
                .args(args)
                .arg("nnkern")
                .env("PKG_CONFIG_PATH", prefix.join("lib/pkgconfig")),
        );
        s.split_whitespace().map(str::to_owned).collect()
    };
    let src = root().join("tests/install/consumer.c");
    // Shared: the flags pkg-config gives.
    let exe = out.join("pc_shared");
    let mut cmd = compiler(false).to_command();
    cmd.arg(&src)
        .args(pc(&["--cflags", "--libs"]))
        .arg("-o")
        .arg(&exe);
    run_ok(&mut cmd);
    let stdout = run_ok(Command::new(&exe).env("LD_LIBRARY_PATH", prefix.join("lib")));
    assert!(stdout.contains(EXPECTED), "{stdout}");
    assert!(needed(&exe).contains("libnnkern.so.0.1"), "shared consumer");
    // Static: the archive, then the private libraries pkg-config lists for a static link.
    let exe = out.join("pc_static");
    let mut cmd = compiler(false).to_command();
    let libs: Vec<String> = pc(&["--static", "--libs-only-l"])
        .into_iter()
        .filter(|l| l != "-lnnkern")
        .collect();
    cmd.arg(&src)
        .args(pc(&["--cflags"]))
        .arg(prefix.join("lib/libnnkern.a"))
        .args(libs)
        .arg("-o")
        .arg(&exe);
    run_ok(&mut cmd);
    let stdout = run_ok(&mut Command::new(&exe));
    assert!(stdout.contains(EXPECTED), "{stdout}");
    assert!(
        !needed(&exe).contains("libnnkern"),
        "static consumer needs no libnnkern.so"
    );
}

/// The files both install paths put in place.
const INSTALLED: &[&str] = &[
    "include/nnkern/nnkern.h",
    "include/nnkern/nnkern.hpp",
    "lib/libnnkern.a",
    "lib/libnnkern.so",
    "lib/libnnkern.so.0.1",
    "lib/libnnkern.so.0.1.0",
    "lib/pkgconfig/nnkern.pc",
];

fn check_headers(prefix: &Path) {
    for (installed, source) in [
        ("include/nnkern/nnkern.h", "include/nnkern.h"),
        ("include/nnkern/nnkern.hpp", "bindings/cpp/nnkern.hpp"),
    ] {
        assert_eq!(
            std::fs::read(prefix.join(installed)).unwrap(),
            std::fs::read(root().join(source)).unwrap(),
            "{installed}"
        );
    }
}

#[test]
fn cargo_cinstall_then_pkg_config_consumers() {
    if !have("cargo-cinstall", &["--version"]) || !have("pkg-config", &["--version"]) {
        return;
    }
    let prefix = scratch("capi-prefix");
    let out = scratch("capi-consumers");
    run_ok(
        cargo()
            .current_dir(root())
            .args(["cinstall", "--release", "-p", "nnkern", "--prefix"])
            .arg(&prefix)
            .arg("--libdir")
            .arg(prefix.join("lib"))
            .arg("--target-dir")
            .arg(root().join("target/capi")),
    );
    assert_eq!(files(&prefix), INSTALLED, "files cargo cinstall installed");
    check_headers(&prefix);
    let soname = needed(&prefix.join("lib/libnnkern.so.0.1.0"));
    assert!(soname.contains("[libnnkern.so.0.1]"), "{soname}");
    pkg_config_consumers(&prefix, &out);
}

#[test]
fn install_script_then_cmake_and_pkg_config_consumers() {
    if !have("cmake", &["--version"]) || !have("pkg-config", &["--version"]) {
        return;
    }
    let prefix = scratch("script-prefix");
    let out = scratch("script-consumers");
    run_ok(Command::new(root().join("bindings/cmake/install.sh")).arg(&prefix));
    let mut want: Vec<&str> = INSTALLED.to_vec();
    want.extend([
        "lib/cmake/nnkern/nnkernConfig.cmake",
        "lib/cmake/nnkern/nnkernConfigVersion.cmake",
    ]);
    want.sort();
    assert_eq!(files(&prefix), want, "files install.sh installed");
    check_headers(&prefix);
    let soname = needed(&prefix.join("lib/libnnkern.so.0.1.0"));
    assert!(soname.contains("[libnnkern.so.0.1]"), "{soname}");
    // install.sh wrote what `cargo rustc -- --print native-static-libs` printed: the list the
    // README, the tests and the CMake package use.
    let pc = std::fs::read_to_string(prefix.join("lib/pkgconfig/nnkern.pc")).unwrap();
    let private = pc
        .lines()
        .find_map(|l| l.strip_prefix("Libs.private: "))
        .unwrap();
    assert_eq!(
        private.split_whitespace().collect::<Vec<_>>(),
        NATIVE_STATIC_LIBS
    );

    // CMake: find_package(nnkern 0.1 CONFIG) and the three targets.
    let build = out.join("cmake");
    run_ok(
        Command::new("cmake")
            .arg("-S")
            .arg(root().join("tests/install"))
            .arg("-B")
            .arg(&build)
            .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()))
            .arg("-DCMAKE_BUILD_TYPE=Release"),
    );
    run_ok(Command::new("cmake").arg("--build").arg(&build));
    for exe in ["consumer_shared", "consumer_static", "consumer_cpp"] {
        let stdout = run_ok(&mut Command::new(build.join(exe)));
        assert!(stdout.contains(EXPECTED), "{exe}: {stdout}");
    }
    assert!(needed(&build.join("consumer_shared")).contains("libnnkern.so.0.1"));
    assert!(!needed(&build.join("consumer_static")).contains("libnnkern"));
    // A version the package does not satisfy is refused.
    let bad = out.join("cmake-bad");
    std::fs::create_dir_all(&bad).unwrap();
    std::fs::write(
        bad.join("CMakeLists.txt"),
        "cmake_minimum_required(VERSION 3.16)\nproject(x C)\nfind_package(nnkern 0.2 CONFIG REQUIRED)\n",
    )
    .unwrap();
    let res = Command::new("cmake")
        .arg("-S")
        .arg(&bad)
        .arg("-B")
        .arg(bad.join("build"))
        .arg(format!("-DCMAKE_PREFIX_PATH={}", prefix.display()))
        .output()
        .unwrap();
    assert!(
        !res.status.success(),
        "find_package(nnkern 0.2) accepted 0.1"
    );

    pkg_config_consumers(&prefix, &out);
}
