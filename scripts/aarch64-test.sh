#!/usr/bin/env bash
# Cross-builds the runtime's kernel and plan tests and the facade's plan equivalence tests for
# aarch64-unknown-linux-gnu and runs them under qemu, twice: on a CPU with the ARMv8.2 dot
# product (`-cpu max`: the `dotprod` tables) and on one without it (`-cpu cortex-a57`: the `neon`
# fallback, never an illegal instruction).
#
# What it needs comes from Debian's registry through apt (nothing downloaded by hand): the
# aarch64 linker and C library (gcc-aarch64-linux-gnu, libc6-dev-arm64-cross), qemu-user, and a
# Rust standard library for aarch64. For the latter it uses rustup's target when it is installed
# (developers' machines) and otherwise Debian's rustc-web with libstd-rust-web-dev:arm64 (CI: no
# rustup dist server there). FASTERAI_ARM_TOOLCHAIN=debian forces the apt toolchain,
# FASTERAI_ARM_TOOLCHAIN=rustup the rustup one.
#
# Usage: scripts/aarch64-test.sh             install what is missing, build, run both CPUs (CI)
#        scripts/aarch64-test.sh --no-plans  the runtime's tests only (no facade: a shorter build)
#        scripts/aarch64-test.sh --no-run    install and build only
# The build goes to $CARGO_TARGET_DIR (default target/); the apt toolchain's to
# <that>/aarch64-debian, so that the two toolchains do not rebuild each other's artifacts.
#
# The facade's dev-dependencies are built for aarch64 too (one cargo invocation for both packages,
# so the runtime's dependencies are built once, with the features both need), but not the heavy
# ones no test run here needs: the build passes `--cfg fasterai_lean_tests`, which leaves out
# tract-onnx, tract-linalg, trybuild and criterion (Cargo.toml), and with them
# tests/onnx_export.rs and tests/compiletest.rs; the benches do not build that way (none is built
# here).
set -euo pipefail
cd "$(dirname "$0")/.."

TARGET=aarch64-unknown-linux-gnu
SYSROOT=/usr/aarch64-linux-gnu
RUN=1
PLANS=1
for arg in "$@"; do
    case "$arg" in
        --no-run) RUN=0 ;;
        --no-plans) PLANS=0 ;;
        *) echo "aarch64-test: unknown argument '$arg' (--no-plans, --no-run)" >&2; exit 2 ;;
    esac
done

# The subset run under emulation (a few minutes, not the whole suite): the runtime's kernel
# conformance suites (fp32, int8, output stage, pooling, packing, the ISA table) and the plans'
# unit tests (graph, bands, residual adds, int8 layers, dynamic int8); then the plan equivalence
# tests of the facade, whole: the fp32 plan against the dfdx forward, the int8 plan against the
# integer reference with every table (about 75 s per CPU under qemu: no subset needed).
LIB_FILTERS=(kernels:: deploy::)
PLAN_TESTS=(--test deploy_accelerate --test deploy_int8)
PACKAGES=(-p fasterai-runtime)
[[ $PLANS -eq 0 ]] || PACKAGES+=(-p fasterai)

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi
}

apt_install() {
    echo "aarch64-test: apt-get install $*"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
}

# The linker, the C library (qemu's -L root) and qemu itself.
missing=()
command -v aarch64-linux-gnu-gcc >/dev/null || missing+=(gcc-aarch64-linux-gnu)
[[ -e "$SYSROOT/lib/ld-linux-aarch64.so.1" ]] || missing+=(libc6-dev-arm64-cross)
command -v qemu-aarch64 >/dev/null || missing+=(qemu-user)
[[ ${#missing[@]} -eq 0 ]] || apt_install "${missing[@]}"

# The Rust toolchain.
choice=${FASTERAI_ARM_TOOLCHAIN:-auto}
if [[ "$choice" == auto ]]; then
    if command -v rustup >/dev/null && rustup target list --installed 2>/dev/null | grep -qx "$TARGET"; then
        choice=rustup
    else
        choice=debian
    fi
fi
TARGET_DIR=${CARGO_TARGET_DIR:-$PWD/target}
case "$choice" in
    rustup)
        CARGO=cargo
        ;;
    debian)
        if [[ ! -d /usr/lib/rustlib/$TARGET/lib ]] || [[ ! -x /usr/bin/cargo ]]; then
            dpkg --print-foreign-architectures | grep -qx arm64 || as_root dpkg --add-architecture arm64
            apt_install rustc-web cargo-web libstd-rust-web-dev:arm64
        fi
        CARGO=/usr/bin/cargo
        export RUSTC=/usr/bin/rustc RUSTDOC=/usr/bin/rustdoc
        TARGET_DIR=$TARGET_DIR/aarch64-debian
        ;;
    *)
        echo "aarch64-test: FASTERAI_ARM_TOOLCHAIN is auto, rustup or debian, not '$choice'" >&2
        exit 2
        ;;
esac
export CARGO_TARGET_DIR=$TARGET_DIR
echo "aarch64-test: toolchain $choice ($("${RUSTC:-rustc}" --version)), target dir $CARGO_TARGET_DIR"

export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_LINKER=aarch64-linux-gnu-gcc
# C parts of dependencies (mimalloc) build with the cross compiler.
export CC_aarch64_unknown_linux_gnu=aarch64-linux-gnu-gcc AR_aarch64_unknown_linux_gnu=aarch64-linux-gnu-ar
# Nothing here reads debug info; the release profile otherwise keeps line tables.
export CARGO_PROFILE_RELEASE_DEBUG=false
# No tract, trybuild or criterion for aarch64 (see above). With --target, RUSTFLAGS reach only the
# aarch64 artifacts (not the build scripts and proc macros built for the host).
export RUSTFLAGS="${RUSTFLAGS:+$RUSTFLAGS }--cfg fasterai_lean_tests"

# One invocation builds both packages' tests; every later one names the same packages, so that
# cargo resolves the same features and rebuilds nothing.
build() {
    local plans=()
    [[ $PLANS -eq 0 ]] || plans=("${PLAN_TESTS[@]}")
    "$CARGO" test --release --target "$TARGET" --no-run "${PACKAGES[@]}" --lib "${plans[@]}"
}

# Runs the subset on qemu's CPU `$1`, whose top tier must be detected as `$2` (a test of
# kernels::isa checks FASTERAI_EXPECT_ISA).
run_on() {
    local cpu=$1
    export FASTERAI_EXPECT_ISA=$2
    # The C library must be the cross one that -L's loader belongs to: with libc6:arm64 also
    # installed (libstd-rust-web-dev:arm64 pulls it in), the loader would otherwise find the
    # multiarch libc through /etc/ld.so.cache, and the mismatched pair hangs in pthread_create.
    export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_GNU_RUNNER="qemu-aarch64 -cpu $cpu -L $SYSROOT -E LD_LIBRARY_PATH=$SYSROOT/lib"
    echo "aarch64-test: ---- qemu -cpu $cpu ----"
    local start=$SECONDS
    "$CARGO" test --release --target "$TARGET" "${PACKAGES[@]}" --lib -- "${LIB_FILTERS[@]}"
    if [[ $PLANS -eq 1 ]]; then
        "$CARGO" test --release --target "$TARGET" "${PACKAGES[@]}" "${PLAN_TESTS[@]}"
    fi
    echo "aarch64-test: qemu -cpu $cpu took $((SECONDS - start)) s"
}

start=$SECONDS
build
echo "aarch64-test: build took $((SECONDS - start)) s"
if [[ $RUN -eq 1 ]]; then
    run_on max dotprod     # ARMv8.x with the dot product: the `dotprod` tables
    run_on cortex-a57 neon # ARMv8.0 without it: the `neon` tables
fi
