#!/usr/bin/env bash
#
# Runs each fuzz target for SECONDS on a copy of its seed corpus and
# reports executions and crashes; exits 1 when any target crashed.
#
#   fuzz/run-fuzzers.sh SECONDS BUILD_DIR TARGET...
#
# BUILD_DIR (build/fuzz) holds the binaries; per target it gets
# corpus/TARGET (the seeds of fuzz/corpus/TARGET copied in, plus what the
# fuzzer adds over the runs, merged down to what adds coverage after each
# run: fuzz/corpus is never written), artifacts/TARGET/
# (crash-*, leak-*, timeout-*, oom-*), TARGET.log, tmp/TARGET (the
# target's scratch files, while it runs), and summary.txt with one
# line per target: target, seconds, executions, crashes, then libFuzzer's
# final "#N DONE" line.

set -u

if [ $# -lt 3 ]; then
    echo "usage: $0 SECONDS BUILD_DIR TARGET..." >&2
    exit 2
fi

seconds=$1
dir=$2
shift 2

top=$(cd "$(dirname "$0")/.." && pwd)
summary=$dir/summary.txt
failed=0

mkdir -p "$dir"
printf '# target seconds executions crashes  final line (%s)\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" > "$summary"

for t in "$@"; do
    bin=$dir/$t
    corpus=$dir/corpus/$t
    artifacts=$dir/artifacts/$t
    log=$dir/$t.log

    if [ ! -x "$bin" ]; then
        echo "fuzz: $t: $bin is missing (make fuzz-build)" >&2
        exit 2
    fi

    mkdir -p "$corpus"
    if [ -d "$top/fuzz/corpus/$t" ]; then
        cp -f "$top/fuzz/corpus/$t"/* "$corpus"/ 2>/dev/null
    fi

    rm -rf "$artifacts"
    mkdir -p "$artifacts"

    dict=()
    if [ -f "$top/fuzz/dict/$t.dict" ]; then
        dict=(-dict="$top/fuzz/dict/$t.dict")
    fi

    # the targets' scratch directories: here, and gone even after a crash
    tmp=$dir/tmp/$t
    rm -rf "$tmp"
    mkdir -p "$tmp"

    echo "fuzz: $t: ${seconds}s on $(ls "$corpus" | wc -l) corpus files"

    TMPDIR=$tmp "$bin" -max_total_time="$seconds" -rss_limit_mb=1024 \
        -timeout=10 -print_final_stats=1 -artifact_prefix="$artifacts/" \
        "${dict[@]}" "$corpus" > "$log" 2>&1
    rc=$?

    # keeps the corpus small for the next run: only what adds coverage
    if [ "$rc" -eq 0 ]; then
        rm -rf "$corpus.new"
        mkdir -p "$corpus.new"

        if TMPDIR=$tmp "$bin" -merge=1 -rss_limit_mb=1024 -timeout=10 \
               "$corpus.new" "$corpus" > "$dir/$t.merge.log" 2>&1
        then
            rm -rf "$corpus"
            mv "$corpus.new" "$corpus"
        else
            rm -rf "$corpus.new"
        fi
    fi

    rm -rf "$tmp"

    execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" \
            | tail -1)
    if [ -z "$execs" ]; then
        execs=$(grep -aoE '^#[0-9]+' "$log" | tail -1 | tr -d '#')
    fi
    execs=${execs:-0}

    done_line=$(grep -aE '^#[0-9]+[[:space:]]+DONE' "$log" | tail -1 \
                | tr '\t' ' ')

    crashes=$(find "$artifacts" -type f \( -name 'crash-*' -o -name 'leak-*' \
              -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)

    if [ "$rc" -ne 0 ] && [ "$crashes" -eq 0 ]; then
        # an error with no input to blame, e.g. at start-up
        crashes=1
    fi

    printf '%s %s %s %s  %s\n' "$t" "$seconds" "$execs" "$crashes" \
        "${done_line:-(no DONE line: exit status $rc)}" >> "$summary"

    echo "fuzz: $t: $execs executions, $crashes crash(es)"

    if [ "$crashes" -ne 0 ]; then
        failed=1
        grep -aE '^(==[0-9]+==ERROR|SUMMARY|.*runtime error:|.*fuzz check failed)' \
            "$log" | head -5 | sed 's/^/    /'
        find "$artifacts" -type f | sed 's/^/    input: /'
        echo "    log: $log"
    fi
done

echo
cat "$summary"

exit $failed
