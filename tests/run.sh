#!/usr/bin/env bash
# The whole test suite, from nothing: installs dependencies, checks
# formatting, then builds and runs every test in two configurations:
#   build-test        RelWithDebInfo with tcmalloc, warnings as errors
#   build-test-asan   AddressSanitizer + UndefinedBehaviorSanitizer (no tcmalloc)
# plus a short fuzz run of the frame/request decoder, and the README's main
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
  echo "== fuzz (short run)"
  cmake -S "$root" -B "$root/build-fuzz" -DCMAKE_C_COMPILER=clang -DREADSTATES_FUZZ=ON \
        -DREADSTATES_TCMALLOC=OFF >/dev/null
  cmake --build "$root/build-fuzz" -j"$jobs" --target fuzz_frame fuzz_json_codec
  for f in fuzz_frame:tests/fuzz/corpus fuzz_json_codec:tests/http/fuzz_corpus; do
    corpus=$(mktemp -d)
    cp "$root/${f#*:}"/* "$corpus"/
    "$root/build-fuzz/tests/${f%%:*}" -max_total_time=30 -timeout=5 "$corpus" 2>&1 | tail -2
    rm -rf "$corpus"
  done
fi
echo "== all tests passed"
