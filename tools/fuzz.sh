#!/bin/sh
# fuzz.sh TIME PKG:TARGET...: runs each fuzz target for TIME (make fuzz), a
# duration or Nx for N inputs. A failing input the fuzzer finds is kept in
# PKG/testdata/fuzz/TARGET, the corpus `go test` runs from then on, and
# fails the run, naming it. A run that fails without one is trouble of the
# fuzzing engine's own: with a duration, Go before 1.27 may report the
# deadline itself as "context deadline exceeded" (golang/go#75804; seen
# here twice). It is run once more, then fails. CI gives counts, which
# have no deadline to race.
set -u
time=$1
shift
for t in "$@"; do
	pkg=${t%%:*}
	name=${t#*:}
	corpus=$pkg/testdata/fuzz/$name
	for try in 1 2; do
		before=$(ls "$corpus" 2>/dev/null | wc -l)
		echo "fuzz $name ($pkg) for $time"
		go test -run '^$' -fuzz "^$name\$" -fuzztime "$time" -fuzzminimizetime 5s "$pkg" && continue 2
		if [ "$(ls "$corpus" 2>/dev/null | wc -l)" -gt "$before" ]; then
			echo "fuzz.sh: $name found a failing input, kept in $corpus: fix what it breaks, and commit it" >&2
			exit 1
		fi
		echo "fuzz.sh: $name failed without a failing input (try $try of 2)" >&2
	done
	exit 1
done
