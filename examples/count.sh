#!/bin/sh
# Counts 1 to 10, one line every half second, then exits 0 (close code 1000).
# Run: wsbridge --port=8080 ./examples/count.sh
for i in 1 2 3 4 5 6 7 8 9 10; do
	echo "$i"
	sleep 0.5
done
