#!/usr/bin/env bash
# Builds the fuzz targets and runs one or all of them, one fuzzing process
# at a time, each for a given time; prints executions, exec/s, libFuzzer's
# coverage (cov: edges, ft: features), the corpus size and the crashes.
#
#   fuzz/run.sh [options] [TARGET...]          (default: every target)
#     -t, --time SECONDS   time per target (default 60)
#     -c, --corpus DIR     working corpus root (default fuzz/corpus); the seed
#                          corpus fuzz/corpus-seed/TARGET is copied in first
#     -o, --logs DIR       keep each target's libFuzzer output as DIR/TARGET.log
#     -s, --sanitizer S    address (default) or none
#     --no-build           use the binaries already built
#     --build-only         build, run nothing
#     --seeds              rebuild fuzz/corpus-seed/ from tests/data and our
#                          own engines (make_seeds.py), minimized as by
#                          `cargo fuzz cmin` (libFuzzer -merge=1)
#     -l, --list           list the targets
#     -- ARGS...           more libFuzzer options for every run
#
# Stable Rust is enough: cargo-fuzz's nightly flags are accepted through
# RUSTC_BOOTSTRAP=1. Run the long runs under `nice -n 19`. Exit status 1 if a
# target crashed (the input is kept in fuzz/artifacts/TARGET/), 2 on a usage
# or build error.
set -euo pipefail

FUZZ_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(dirname "$FUZZ_DIR")
TARGETS=(message payloads sa decrypt dh rsa)
TIME=60
CORPUS="$FUZZ_DIR/corpus"
SANITIZER=${FUZZ_SANITIZER:-address}
BUILD=1
BUILD_ONLY=0
SEEDS=0
EXTRA=()
SELECTED=()
LOG_DIR=

main() {
    usage() { sed -n '2,/^set /{/^#/p}' "$0" | sed 's/^# \{0,1\}//'; exit 2; }

    while (($#)); do
        case $1 in
            -t|--time) TIME=${2:?}; shift 2 ;;
            -c|--corpus) CORPUS=${2:?}; shift 2 ;;
            -o|--logs) LOG_DIR=${2:?}; shift 2 ;;
            -s|--sanitizer) SANITIZER=${2:?}; shift 2 ;;
            --no-build) BUILD=0; shift ;;
            --build-only) BUILD_ONLY=1; shift ;;
            --seeds) SEEDS=1; shift ;;
            -l|--list) printf '%s\n' "${TARGETS[@]}"; exit 0 ;;
            -h|--help) usage ;;
            --) shift; EXTRA=("$@"); break ;;
            -*) echo "run.sh: unknown option $1" >&2; usage ;;
            *)
                if [[ " ${TARGETS[*]} " != *" $1 "* ]]; then
                    echo "run.sh: no target $1 (targets: ${TARGETS[*]})" >&2; exit 2
                fi
                SELECTED+=("$1"); shift ;;
        esac
    done
    ((${#SELECTED[@]})) || SELECTED=("${TARGETS[@]}")
    [[ $TIME =~ ^[1-9][0-9]*$ ]] || { echo "run.sh: --time takes seconds (1 or more)" >&2; exit 2; }
    case $SANITIZER in address|none) ;; *) echo "run.sh: sanitizer address or none" >&2; exit 2 ;; esac

    export RUSTC_BOOTSTRAP=1
    cd "$FUZZ_DIR"

    if ! cargo fuzz --version >/dev/null 2>&1; then
        echo "run.sh: cargo-fuzz is missing: cargo install cargo-fuzz" >&2
        exit 2
    fi

    # Release build with debug assertions (overflow checks included).
    build() {
        cargo fuzz build -O --debug-assertions --sanitizer "$SANITIZER" "$@"
    }

    if ((BUILD)); then
        if ! build >&2; then
            if [[ $SANITIZER == address ]]; then
                echo "run.sh: the address sanitizer build failed; building without" >&2
                SANITIZER=none
                build >&2 || exit 2
            else
                exit 2
            fi
        fi
    fi

    ((BUILD_ONLY)) && exit 0

    TRIPLE=$(rustc -vV | sed -n 's/^host: //p')
    BIN_DIR="$FUZZ_DIR/target/$TRIPLE/release"

    if ((SEEDS)); then
        python=${PYTHON:-$ROOT/.venv/bin/python}
        raw=$(mktemp -d)
        trap 'rm -rf "$raw"' EXIT
        "$python" "$FUZZ_DIR/make_seeds.py" "$raw"
        for t in "${SELECTED[@]}"; do
            out="$FUZZ_DIR/corpus-seed/$t"
            rm -rf "$out"; mkdir -p "$out"
            # -merge=1 keeps the smallest inputs that together reach all coverage.
            "$BIN_DIR/$t" -merge=1 -timeout=30 "$out" "$raw/$t" >"$raw/$t.log" 2>&1 || {
                tail -20 "$raw/$t.log" >&2; exit 1; }
            echo "seeds $t: $(ls "$raw/$t" | wc -l) raw -> $(ls "$out" | wc -l) minimized"
        done
    fi

    if [[ -n $LOG_DIR ]]; then
        mkdir -p "$LOG_DIR"
    else
        LOG_DIR=$(mktemp -d)
        trap 'rm -rf "$LOG_DIR" ${raw:+"$raw"}' EXIT
    fi
    failed=0
    printf '%-9s %10s %8s %6s %7s %7s %8s  %s\n' \
        target runs exec/s cov ft corpus crashes "(${TIME}s each, sanitizer $SANITIZER)"
    for t in "${SELECTED[@]}"; do
        corpus="$CORPUS/$t"
        artifacts="$FUZZ_DIR/artifacts/$t"
        mkdir -p "$corpus" "$artifacts"
        if [[ -d $FUZZ_DIR/corpus-seed/$t ]]; then
            cp -n "$FUZZ_DIR/corpus-seed/$t"/* "$corpus"/ 2>/dev/null || true
        fi
        before=$(ls "$artifacts" | wc -l)
        log="$LOG_DIR/$t.log"
        status=0
        "$BIN_DIR/$t" "$corpus" -max_total_time="$TIME" -print_final_stats=1 \
            -timeout=10 -rss_limit_mb=2048 -malloc_limit_mb=256 \
            -artifact_prefix="$artifacts/" ${EXTRA[@]+"${EXTRA[@]}"} >"$log" 2>&1 || status=$?
        crashes=$(($(ls "$artifacts" | wc -l) - before))
        final_stat() { sed -n "s/^stat::$1: *//p" "$log" | tail -1; }
        last=$(grep -E '^#[0-9]+.*cov: ' "$log" | tail -1 || true)
        field() { sed -n "s/.* $1: \([0-9][0-9]*\).*/\1/p" <<<"$last"; }
        corp=$(sed -n 's/.* corp: \([0-9][0-9]*\)\/.*/\1/p' <<<"$last")
        printf '%-9s %10s %8s %6s %7s %7s %8s\n' "$t" "$(final_stat number_of_executed_units)" \
            "$(final_stat average_exec_per_sec)" "$(field cov)" "$(field ft)" "${corp:-?}" "$crashes"
        if ((status != 0 || crashes != 0)); then
            failed=1
            echo "--- $t failed (exit $status); end of its log:" >&2
            tail -40 "$log" >&2
            ls -t "$artifacts" | head -n "$((crashes > 0 ? crashes : 1))" |
                sed "s|^|--- input: $artifacts/|" >&2
        fi
    done
    exit "$failed"
}

# All of the script is read before it runs: editing it does not disturb a run.
main "$@"
