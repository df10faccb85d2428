# smoke_checks.sh: the checks the smoke scripts (spike_smoke.sh,
# bench_smoke.sh) count, sourced by them. check runs a command quietly and
# counts a failure; checks_done fails the script if any check failed.
fails=0
check() { # description command...
    d=$1
    shift
    if "$@" >/dev/null 2>&1; then
        echo "ok: $d"
    else
        echo "FAILED: $d" >&2
        fails=$((fails + 1))
    fi
}

checks_done() { # what out
    if [ $fails -ne 0 ]; then
        echo "$fails check(s) failed; files in $2" >&2
        exit 1
    fi
    echo "$1: all checks passed"
}
