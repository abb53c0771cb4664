//! The instruction-set cap: `cap_isa` lowers it for every kernel table and never raises it, tables
//! chosen before keep working, and `FASTERAI_MAX_ISA` is read once, an unknown value reported.
//!
//! The cap is global to the process, so everything that lowers it runs in one test here (its own
//! test binary), and the environment variable is tried in child processes.

use std::process::Command;

use fasterai::internals::kernels::int8::{Int8Kernels, Split};
use fasterai::internals::kernels::pool::PoolWindow;
use fasterai::internals::kernels::{cap_isa, detected, env_cap, gemv_f32, isa, max_pool_2x2, Accumulate, F32Kernels, Isa, Parallelism, MAX_ISA_VAR};

/// Set in the child processes, which report the tier in force and stop.
const CHILD: &str = "FASTERAI_ISA_CAP_CHILD";

/// An int8 product and an fp32 GEMV and pool: the values every table must give.
fn run_kernels(int8: &Int8Kernels) -> (Vec<i32>, Vec<f32>, Vec<f32>) {
    let (m, k, n) = (7, 45, 19);
    let a: Vec<i8> = (0..m * k).map(|i| ((i * 37) % 255) as i8).map(|v| v.max(-127)).collect();
    let b: Vec<u8> = (0..k * n).map(|i| ((i * 11) % 256) as u8).collect();
    let packed = int8.pack_weights(&a, m, k).unwrap();
    let mut acts = int8.activations_for(&packed);
    acts.pack(&b, k, n).unwrap();
    let mut c = vec![0; m * n];
    int8.gemm_i32(&packed, &acts, &mut c, Split::Sequential).unwrap();
    let w: Vec<f32> = (0..9 * 33).map(|i| (i as f32 * 0.25).sin()).collect();
    let x: Vec<f32> = (0..33).map(|i| (i as f32 * 0.5).cos()).collect();
    let mut y = vec![0.0; 9];
    gemv_f32(&w, 9, 33, &x, &mut y, Accumulate::Overwrite, Parallelism::Sequential).unwrap();
    let mut pooled = vec![0.0; 3 * 16];
    max_pool_2x2(&w[..6 * 33], 33, &mut pooled);
    (c, y, pooled)
}

/// Equal int8 products and pools; GEMVs equal up to the order of the additions.
fn same(got: &(Vec<i32>, Vec<f32>, Vec<f32>), want: &(Vec<i32>, Vec<f32>, Vec<f32>), what: &str) {
    assert_eq!((&got.0, &got.2), (&want.0, &want.2), "{what}");
    for (a, b) in got.1.iter().zip(&want.1) {
        assert!((a - b).abs() <= 1e-5 * (1.0 + b.abs()), "{what}: GEMV {a} vs {b}");
    }
}

#[test]
fn lowering_the_cap_bounds_every_table_and_never_raises_it() {
    if std::env::var_os(CHILD).is_some() {
        return; // a child process runs only `child_reports_the_tier`
    }
    let before = Int8Kernels::best();
    let want = run_kernels(&before);
    let top = isa();
    assert!(top <= detected());

    let now = cap_isa(Isa::Avx2);
    assert!(now <= Isa::Avx2 && isa() <= Isa::Avx2, "{now} {}", isa());
    for tier in [Isa::AvxVnni, Isa::Avx512, Isa::Avx512Vnni, Isa::Amx] {
        assert!(!tier.enabled(), "{tier} still enabled under the avx2 cap");
    }
    // The cap counts by level: `avx2` also allows aarch64's `neon`, not its `dotprod`.
    assert!(!Isa::Dotprod.enabled() && Isa::Neon.enabled() == Isa::Neon.on_cpu());
    let int8 = Int8Kernels::best();
    assert!(["avx2", "neon", "generic"].iter().any(|p| int8.name.starts_with(p)), "{}", int8.name);
    assert!(!int8.amx() && Int8Kernels::available().iter().all(|k| !k.name.starts_with("avx512") && !k.name.starts_with("amx")));
    assert!(F32Kernels::best().isa <= Isa::Avx2 && F32Kernels::available().iter().all(|k| k.isa <= Isa::Avx2));
    same(&run_kernels(&int8), &want, "the avx2 tables");
    // A table chosen before the cap keeps its kernels, and they still run (the CPU has them).
    same(&run_kernels(&before), &want, "a table chosen before the cap");

    assert_eq!(cap_isa(Isa::Amx), now, "cap_isa never raises the cap");
    assert!(isa() <= Isa::Avx2);

    assert_eq!(cap_isa(Isa::Portable), Isa::Portable);
    assert_eq!(isa(), Isa::Portable);
    let generic = Int8Kernels::best();
    assert!(generic.name.starts_with("generic"), "{}", generic.name);
    assert_eq!(F32Kernels::best().isa, Isa::Portable);
    same(&run_kernels(&generic), &want, "the portable tables");
    // Pooling through the kernel floor's slice entry point still works under the lowest cap.
    let mut out = [0.0f32; 1];
    fasterai::internals::kernels::pool::slices::max_pool2d(&[1.0, 4.0, 3.0, 2.0], 1, (2, 2), PoolWindow { kernel: 2, stride: 2, padding: 0 }, &mut out).unwrap();
    assert_eq!(out, [4.0]);
}

/// In a child process: prints the tier in force, the F32 table and the int8 table.
#[test]
fn child_reports_the_tier() {
    if std::env::var_os(CHILD).is_none() {
        return;
    }
    println!("isa={} f32={} int8={} env={:?}", isa(), F32Kernels::best().name, Int8Kernels::best().name, env_cap().map_err(|e| e.to_string()));
}

/// Runs `child_reports_the_tier` with `FASTERAI_MAX_ISA=value`; returns its stdout and stderr.
fn child(value: &str) -> (String, String) {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child_reports_the_tier", "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env(MAX_ISA_VAR, value)
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    (String::from_utf8_lossy(&out.stdout).into_owned(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn the_environment_variable_caps_the_tier_and_unknown_values_are_reported() {
    if std::env::var_os(CHILD).is_some() {
        return;
    }
    let (stdout, stderr) = child("");
    assert!(stdout.contains("env=Ok(None)") && !stderr.contains("not an instruction-set tier"), "an empty value is unset: {stdout} {stderr}");
    let (stdout, _) = child("avx2");
    assert!(["f32=avx2_f32", "f32=neon_f32", "f32=generic_f32"].iter().any(|f| stdout.contains(f)), "{stdout}");
    assert!(!stdout.contains("int8=avx512") && !stdout.contains("int8=amx"), "{stdout}");
    let (stdout, _) = child("PORTABLE");
    assert!(stdout.contains("isa=portable f32=generic_f32 int8=generic"), "{stdout}");
    let (stdout, stderr) = child("avx9000");
    assert!(stdout.contains("isa=portable"), "an unknown value caps at portable: {stdout}");
    assert!(stderr.contains("`avx9000` is not an instruction-set tier") && stderr.contains("avx512vnni"), "{stderr}");
    assert!(stdout.contains("env=Err(\"`avx9000` is not an instruction-set tier"), "{stdout}");
}
