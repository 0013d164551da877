//! The programs in examples/c and examples/cpp build with strict warnings against
//! `libnnkern.a` (and the C ones against `libnnkern.so`), run, and check their own results
//! (each exits non-zero when a check fails).

mod common;

use std::process::Command;

use common::{build, out_dir, root};

const EXAMPLES: &[(&str, &str)] = &[
    ("classifier_head", "classifier head done"),
    ("moe_router", "moe router done"),
    ("gguf_q4_0", "gguf q4_0 done"),
];

fn run(exe: &std::path::Path, done: &str) {
    let res = Command::new(exe)
        .current_dir(root())
        .env_remove("NNK_ISA")
        .output()
        .expect("example did not start");
    let stdout = String::from_utf8_lossy(&res.stdout);
    assert!(
        res.status.success() && stdout.contains(done),
        "{} ({}):\n{stdout}\n{}",
        exe.display(),
        res.status,
        String::from_utf8_lossy(&res.stderr)
    );
}

#[test]
fn c_examples() {
    let dir = out_dir("examples");
    for (name, done) in EXAMPLES {
        for shared in [false, true] {
            let exe = dir.join(format!("{name}_c{}", if shared { "_shared" } else { "" }));
            build(&format!("examples/c/{name}.c"), "c99", false, shared, &exe);
            run(&exe, done);
        }
    }
}

#[test]
fn cpp_examples() {
    let dir = out_dir("examples");
    for (name, done) in EXAMPLES {
        let exe = dir.join(format!("{name}_cpp"));
        build(
            &format!("examples/cpp/{name}.cpp"),
            "c++17",
            true,
            false,
            &exe,
        );
        run(&exe, done);
    }
}
