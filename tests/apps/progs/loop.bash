# The bash loop of tests/apps/bash.py, run as
#   bash -c "$(cat loop.bash)" bash COUNTER FIFO
# Appends 0, 1, 2 ... to COUNTER, one line per round, and checks on every
# round that what it holds in memory still agrees: an array with one entry
# per round, a value computed by a command substitution (a forked subshell
# writing into a pipe) and checked in a ( subshell ). It sleeps alternately
# with the external sleep and with the builtin `read -t` on a FIFO it holds
# open read-write (no writer ever comes, so the read times out). Any
# disagreement is written to COUNTER.fail and ends the loop with status 1.
set -u
out=$1
exec 9<>"$2"
declare -a seen=()
declare -A square=()
i=0
emit() { printf '%d\n' "$1" >> "$out"; }
die() { printf 'FAIL at %d: %s\n' "$i" "$1" >> "$out.fail"; exit 1; }
while :; do
    emit "$i"
    seen+=("$i")
    square[$i]=$(( i * i ))
    (( ${#seen[@]} == i + 1 )) || die "array has ${#seen[@]} entries"
    (( ${#square[@]} == i + 1 )) || die "assoc array has ${#square[@]} entries"
    (( i < 3 )) || [ "${seen[i-3]}" = "$(( i - 3 ))" ] || die "seen[$((i-3))] is ${seen[i-3]}"
    (( i < 2 )) || (( square[$((i-2))] == (i-2) * (i-2) )) || die "square[$((i-2))] is ${square[$((i-2))]}"
    n=$(echo "$(( i + 1 ))")
    ( [ "$n" -eq "$(( i + 1 ))" ] && [ "${#seen[@]}" -eq "$n" ] ) || die "subshell sees n=$n"
    i=$n
    if (( i % 2 )); then
        sleep 0.2
    else
        read -r -t 0.2 -u 9 && die "read from the FIFO returned data"
    fi
done
