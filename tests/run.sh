#!/usr/bin/env bash
# The whole test suite, from nothing: installs dependencies, checks
# formatting, then builds and runs every test in two configurations:
#   build-test        RelWithDebInfo with tcmalloc, warnings as errors
#   build-test-asan   AddressSanitizer + UndefinedBehaviorSanitizer (no tcmalloc)
# plus a short run of every fuzz harness, and the README's main
# job configured with only the runtime packages visible (no cmocka).
#
#   tests/run.sh              everything
#   tests/run.sh --quick      the normal configuration only
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
jobs=$(nproc 2>/dev/null || echo 2)

deploy/install-deps.sh

echo "== clang-format"
bad=$(git ls-files '*.c' '*.h' 2>/dev/null | xargs -r clang-format --dry-run -Werror 2>&1 | grep -c 'error:' || true)
if [ "${bad:-0}" -ne 0 ]; then
  git ls-files '*.c' '*.h' | xargs -r clang-format --dry-run -Werror 2>&1 | head -40
  echo "clang-format: $bad places differ from .clang-format" >&2
  exit 1
fi

run_config() {
  local dir=$1; shift
  echo "== configure $dir ($*)"
  cmake -S "$root" -B "$root/$dir" -DREADSTATES_WERROR=ON -DREADSTATES_TESTS=ON "$@" >/dev/null
  echo "== build $dir"
  cmake --build "$root/$dir" -j"$jobs"
  echo "== test $dir"
  (cd "$root/$dir" && ctest --output-on-failure -j"$jobs" --timeout 600)
}

run_config build-test -DCMAKE_BUILD_TYPE=RelWithDebInfo
echo "== main job with the runtime packages only"
tests/main-job-runtime-only.sh "$root/build-runtime"
if [ "${1:-}" != "--quick" ]; then
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    run_config build-test-asan -DCMAKE_BUILD_TYPE=Debug -DREADSTATES_SANITIZE=ON
  # Every harness the build registers (rs_add_fuzzer writes fuzzers.txt:
  # "name corpus_dir binary"), each for 20 s over a copy of its committed
  # corpus; a crash, sanitizer report or leak (non-zero exit) fails the run.
  echo "== fuzz (short runs)"
  cmake -S "$root" -B "$root/build-fuzz" -DCMAKE_C_COMPILER=clang -DREADSTATES_FUZZ=ON \
        -DREADSTATES_TCMALLOC=OFF -DREADSTATES_TESTS=ON >/dev/null
  fuzz_list="$root/build-fuzz/fuzzers.txt"
  mapfile -t fuzzers < <(cut -d' ' -f1 "$fuzz_list")
  if [ "${#fuzzers[@]}" -eq 0 ]; then
    echo "fuzz: no fuzzers listed in $fuzz_list" >&2
    exit 1
  fi
  cmake --build "$root/build-fuzz" -j"$jobs" --target "${fuzzers[@]}"
  while read -r name corpus_src bin; do
    work=$(mktemp -d)
    mkdir "$work/corpus" "$work/crash"
    cp -r "$corpus_src"/. "$work/corpus"/
    echo "-- $name"
    if ! "$bin" -max_total_time=20 -timeout=10 -rss_limit_mb=2048 \
         -artifact_prefix="$work/crash/" "$work/corpus" >"$work/log" 2>&1 </dev/null; then
      tail -40 "$work/log"
      for a in "$work"/crash/*; do
        [ -f "$a" ] && { echo "fuzz: $name: input $a:"; od -A d -t x1 "$a" | head -20; }
      done
      echo "fuzz: $name failed (see above)" >&2
      exit 1
    fi
    grep -E '^(#[0-9]+[[:space:]]+DONE|Done )' "$work/log" | tail -2
    rm -rf "$work"
  done <"$fuzz_list"
fi
echo "== all tests passed"
