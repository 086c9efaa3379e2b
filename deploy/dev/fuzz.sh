#!/usr/bin/env bash
# Runs every Go fuzz target of the module for a fixed time each (60 s each in CI).
# Targets are found in the *_test.go files, so a new Fuzz function is fuzzed without
# touching this script. Each package's instrumented test binary is built
# once (`go test -c -fuzz=.`), then the targets run from it three at a time, one fuzzing
# worker each: each target fuzzes for the full time (wall clock) with two thirds of a
# core on the two-core CI machine, and the run takes about a third of targets x time,
# which keeps `make test` within CI's 20 minutes.
# A failing target prints go's report; the failing input is saved under the package's
# testdata/fuzz/<target>/, where the next plain `go test` replays it.
# A run that fails with Go's end-of-time coordinator error and writes no input is run
# once more (go.dev/issue/75804, fixed in Go 1.27).
#
# Usage: deploy/dev/fuzz.sh [time per target, default $FUZZTIME or 60s] [jobs, default 3]
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
fuzztime=${1:-${FUZZTIME:-60s}}
jobs=${2:-${FUZZJOBS:-3}}
[[ $fuzztime =~ ^[0-9]+(s|m|x)$ ]] || { echo "fuzz.sh: time must look like 60s, 2m or 1000x, got '$fuzztime'" >&2; exit 2; }
[[ $jobs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: jobs must be a positive number, got '$jobs'" >&2; exit 2; }

out=$root/.run/fuzz
rm -rf "$out"
mkdir -p "$out/bin" "$out/cache"
# "<package dir> <target>" for every func FuzzXxx(f *testing.F) in a tracked test file.
mapfile -t targets < <(git ls-files '*_test.go' | xargs grep -H -o '^func Fuzz[A-Za-z0-9_]*(f \*testing.F)' |
	sed -E 's#^(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#\1 \2#; s#^[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)\(.*#. \1#' | sort -u)
((${#targets[@]} > 0)) || { echo "fuzz.sh: no fuzz targets found" >&2; exit 1; }
mapfile -t pkgs < <(printf '%s\n' "${targets[@]}" | cut -d' ' -f1 | sort -u)
bin_of() { echo "$out/bin/${1//\//_}.test"; }

start=$SECONDS
echo "building ${#pkgs[@]} instrumented test binaries"
for pkg in "${pkgs[@]}"; do
	go test -c -fuzz=. -o "$(bin_of "$pkg")" "./$pkg"
done
echo "built in $((SECONDS - start))s; fuzzing ${#targets[@]} targets for $fuzztime each, $jobs at a time"

# fuzz_once pkg target log: one -fuzztime run of the target.
fuzz_once() {
	(cd "$root/$1" && "$(bin_of "$1")" -test.run='^$' -test.fuzz="^$2\$" -test.fuzztime="$fuzztime" \
		-test.parallel=1 -test.fuzzcachedir="$out/cache/$1/$2") >"$3" 2>&1
}

# crashers pkg target: the failing inputs the target has written to its testdata.
crashers() { { ls "$root/$1/testdata/fuzz/$2" 2>/dev/null || true; } | sort; }

run_one() { # pkg target
	local pkg=$1 target=$2 log="$out/${1//\//_}.$2.log" t0=$SECONDS before note= rc=0
	before=$(crashers "$pkg" "$target")
	fuzz_once "$pkg" "$target" "$log" || rc=$?
	if ((rc != 0)) && [ "$(crashers "$pkg" "$target")" = "$before" ] && grep -qx '    context deadline exceeded' "$log"; then
		# Go's fuzzing coordinator before Go 1.27 can fail a target at the end of -fuzztime
		# with "context deadline exceeded" and no failing input (go.dev/issue/75804): that
		# run found nothing, so the target runs once more. A written input always fails.
		note=", run twice: the first ended in the coordinator's end-of-time error"
		rc=0
		fuzz_once "$pkg" "$target" "$log" || rc=$?
	fi
	if ((rc == 0)) && [ "$(crashers "$pkg" "$target")" = "$before" ]; then
		echo "ok   $pkg $target ($((SECONDS - t0))s, $(grep -o 'execs: [0-9]*' "$log" | tail -1 | cut -d' ' -f2) execs$note)"
	else
		echo "FAIL $pkg $target"
		sed 's/^/    /' "$log"
		return 1
	fi
}

failed=0
running=0
for t in "${targets[@]}"; do
	read -r pkg target <<<"$t"
	run_one "$pkg" "$target" &
	running=$((running + 1))
	if ((running >= jobs)); then
		wait -n || failed=1
		running=$((running - 1))
	fi
done
while ((running > 0)); do
	wait -n || failed=1
	running=$((running - 1))
done
if ((failed)); then
	echo "fuzz.sh: a fuzz target failed (see above)" >&2
	exit 1
fi
echo "every fuzz target ran $fuzztime clean ($((SECONDS - start))s in all)"
