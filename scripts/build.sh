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

wasm="$TARGET_DIR/wasm32-unknown-unknown/$wasm_out/askfirst_browser.wasm"
# The site is assembled again only when what goes into it changed: a warm start with
# nothing changed skips wasm-bindgen, wasm-opt and precompression (several seconds).
stamp_file="$ROOT/target/site.stamp"
stamp=$( { echo "release=$release"; wasm-bindgen --version; sha256sum "$wasm" style/main.css \
  scripts/precompress.mjs; find public -type f -print0 | sort -z | xargs -0 sha256sum; } \
  | sha256sum | cut -d' ' -f1)
if [[ -f "$stamp_file" && "$(cat "$stamp_file")" == "$stamp" && -d "$SITE_ROOT/pkg" ]]; then
  log "$SITE_ROOT is up to date"
else
  rm -f "$stamp_file"
  log "assembling $SITE_ROOT"
  rm -rf "$SITE_ROOT"
  mkdir -p "$SITE_ROOT/pkg"
  cp -R public/. "$SITE_ROOT/"
  cp style/main.css "$SITE_ROOT/pkg/askfirst.css"
  wasm-bindgen --target web --no-typescript --out-dir "$SITE_ROOT/pkg" --out-name askfirst "$wasm"

  if (( release )); then
    log "optimising the wasm (wasm-opt -Oz) and precompressing static files"
    end2end/node_modules/.bin/wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int \
      --enable-sign-ext --enable-mutable-globals --enable-reference-types --enable-multivalue \
      "$SITE_ROOT/pkg/askfirst_bg.wasm" -o "$SITE_ROOT/pkg/askfirst_bg.wasm"
    node scripts/precompress.mjs "$SITE_ROOT"
  fi
  echo "$stamp" > "$stamp_file"
fi

log "building the server (ssr)"
cargo build --bin askfirst --no-default-features --features ssr "${server_args[@]}"
echo "$TARGET_DIR/$server_out/askfirst"
