#!/usr/bin/env bash
# Builds askfirst without cargo-leptos: the browser bundle (wasm + wasm-bindgen), the site
# directory (target/site), and the server binary. `--release` builds optimised, runs
# wasm-opt and precompresses the static files.
#
# Prints the path of the server binary on its last line.
source "$(dirname "$0")/lib.sh"

release=0
[[ "${1:-}" == "--release" ]] && release=1
TARGET_DIR=$(target_dir)

if (( release )); then
  wasm_args=(--profile wasm-release); wasm_out=wasm-release
  server_args=(--release); server_out=release
else
  wasm_args=(); wasm_out=debug
  server_args=(); server_out=debug
fi

log "building the browser bundle (hydrate, wasm32)"
cargo build -p askfirst-browser --lib --target wasm32-unknown-unknown "${wasm_args[@]}"

log "assembling $SITE_ROOT"
rm -rf "$SITE_ROOT"
mkdir -p "$SITE_ROOT/pkg"
cp -R public/. "$SITE_ROOT/"
cp style/main.css "$SITE_ROOT/pkg/askfirst.css"
wasm-bindgen --target web --no-typescript --out-dir "$SITE_ROOT/pkg" --out-name askfirst \
  "$TARGET_DIR/wasm32-unknown-unknown/$wasm_out/askfirst_browser.wasm"

if (( release )); then
  log "optimising the wasm (wasm-opt -Oz) and precompressing static files"
  end2end/node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
    --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
    "$SITE_ROOT/pkg/askfirst_bg.wasm" -o "$SITE_ROOT/pkg/askfirst_bg.wasm"
  node scripts/precompress.mjs "$SITE_ROOT"
fi

log "building the server (ssr)"
cargo build --bin askfirst --no-default-features --features ssr "${server_args[@]}"
echo "$TARGET_DIR/$server_out/askfirst"
