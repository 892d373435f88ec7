#!/bin/sh
# SCRIPT: standalone
# --shell-job end to end, through tmux. tests/run.py runs it as
#   sh shell_job_tmux.sh CRYO DIR
# (DIR: its scratch directory) and it passes when it exits 0.
#
# An interactive bash in a tmux pane runs a job in the foreground: a bash
# loop printing a counter, reading the terminal between counts. The job is
# dumped with `cryo dump -j`, then restored with `cryo restore -j` (not
# detached) typed into the bash of a NEW pane. There the counter must go on
# from where it was under the same pid, with the job's fds on the new pane's
# terminal and its group in the foreground; a line typed in the pane reaches
# the job, ^Z stops it (and cryo, so the pane's bash gets its prompt back)
# and `fg` continues it, ^C ends it, and cryo exits with its status (130).
set -u
CRYO=$1
DIR=$2
if ! command -v tmux >/dev/null 2>&1; then
        apt-get install -y tmux >"$DIR/apt.out" 2>&1 || { echo "FAIL: tmux is missing and cannot be installed"; exit 1; }
fi
T="tmux -S $DIR/tmux.sock"
JOB=
SHELL_CMD="env -i PATH=$PATH HOME=$DIR TERM=xterm PS1='$ ' bash --norc --noprofile -i"

cleanup() {
        [ -n "$JOB" ] && kill -9 "$JOB" 2>/dev/null
        $T kill-server 2>/dev/null
}
trap cleanup EXIT

pane() { # the pane's text, without empty lines
        $T capture-pane -p -J -S -200 -t "cryo:0.$1" 2>/dev/null | grep -v '^$'
}

fail() {
        echo "FAIL: $*"
        for p in 0 1; do
                pane $p >"$DIR/pane$p.txt" 2>/dev/null
                echo "--- pane $p (last lines)"
                tail -n 8 "$DIR/pane$p.txt" 2>/dev/null
        done
        exit 1
}

# wait_for PANE REGEX SECONDS WHAT
wait_for() {
        n=0
        while [ $n -lt $(($3 * 10)) ]; do
                pane "$1" | grep -Eq "$2" && return 0
                sleep 0.1
                n=$((n + 1))
        done
        fail "pane $1: no '$2' after $3 s ($4)"
}

stat_field() { # PID N: field N of /proc/PID/stat (after the comm)
        sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f$(($2 - 2))
}

last_count() {
        pane "$1" | sed -n 's/^count \([0-9][0-9]*\)$/\1/p' | tail -n 1
}

cat >"$DIR/job.sh" <<'EOF'
i=0
while :; do
        echo "count $i"
        i=$((i + 1))
        # a whole line is there when the terminal says input is (canonical mode)
        if read -r -t 0; then read -r line; echo "got [$line]"; fi
        sleep 0.3
done
EOF

$T -f /dev/null new-session -d -s cryo -x 120 -y 40 "$SHELL_CMD" || fail "cannot start tmux"
wait_for 0 '^\$' 10 "bash prompt in pane 0"
$T send-keys -t cryo:0.0 "bash $DIR/job.sh" Enter
wait_for 0 '^count 5$' 15 "the job counting in pane 0"

SH0=$($T display -p -t cryo:0.0 '#{pane_pid}')
TTY0=$($T display -p -t cryo:0.0 '#{pane_tty}')
JOB=$(cat "/proc/$SH0/task/$SH0/children" | tr -d ' ')
[ -n "$JOB" ] && [ -d "/proc/$JOB" ] || fail "no job under pane 0's bash $SH0"
[ "$(stat_field "$JOB" 5)" = "$JOB" ] || fail "job $JOB is not in a process group of its own"
[ "$(stat_field "$JOB" 8)" = "$JOB" ] || fail "job $JOB is not in the foreground of $TTY0"
[ "$(readlink "/proc/$JOB/fd/0")" = "$TTY0" ] || fail "job's fd 0 is not $TTY0"
TREE=$(cat /proc/"$JOB"/task/*/children | xargs)

"$CRYO" dump -t "$JOB" -D "$DIR/img" -j -o "$DIR/dump.log" -v4 2>"$DIR/dump.err" ||
        fail "cryo dump -j failed: $(tail -n 1 "$DIR/dump.err")"
n=0
while [ -d "/proc/$JOB" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
[ -d "/proc/$JOB" ] && fail "job $JOB still alive after the dump"
wait_for 0 'Killed' 10 "pane 0's bash reporting its job killed"
LAST=$(last_count 0)
[ -n "$LAST" ] || fail "no count in pane 0"

# restore in a new pane, in the foreground of its bash
$T split-window -t cryo:0 "$SHELL_CMD" || fail "cannot split the window"
wait_for 1 '^\$' 10 "bash prompt in pane 1"
SH1=$($T display -p -t cryo:0.1 '#{pane_pid}')
TTY1=$($T display -p -t cryo:0.1 '#{pane_tty}')
[ "$TTY1" != "$TTY0" ] || fail "both panes on $TTY0"
$T send-keys -t cryo:0.1 "$CRYO restore -D $DIR/img -j -o $DIR/restore.log -v4 2>$DIR/restore.err; echo rc=\$?" Enter
NEXT=$((LAST + 1))
wait_for 1 "^count $((LAST + 3))\$" 20 "the restored job counting on from $LAST in pane 1"
FIRST=$(pane 1 | sed -n 's/^count \([0-9][0-9]*\)$/\1/p' | head -n 1)
[ "$FIRST" = "$NEXT" ] || fail "pane 1 counts from $FIRST, pane 0 stopped at $LAST"
pane 1 | sed -n 's/^count \([0-9][0-9]*\)$/\1/p' | awk -v f="$NEXT" '$1 != f + NR - 1 { exit 1 }' ||
        fail "the counter in pane 1 has a gap or a duplicate"

[ -d "/proc/$JOB" ] || fail "no process $JOB after restore"
[ "$(readlink "/proc/$JOB/fd/0")" = "$TTY1" ] || fail "restored job's fd 0 is $(readlink "/proc/$JOB/fd/0"), not $TTY1"
[ "$(readlink "/proc/$JOB/fd/1")" = "$TTY1" ] || fail "restored job's fd 1 is not $TTY1"
[ "$(stat_field "$JOB" 6)" = "$SH1" ] || fail "restored job is in session $(stat_field "$JOB" 6), not pane 1's ($SH1)"
[ "$(stat_field "$JOB" 5)" = "$JOB" ] || fail "restored job is in process group $(stat_field "$JOB" 5)"
[ "$(stat_field "$JOB" 8)" = "$JOB" ] || fail "restored job is not in the foreground of $TTY1 (tpgid $(stat_field "$JOB" 8))"
[ "$(stat_field "$JOB" 7)" = "$(stat_field "$SH1" 7)" ] || fail "restored job's controlling terminal is not pane 1's"

# the terminal's input reaches the job
$T send-keys -t cryo:0.1 "hello from pane 1" Enter
wait_for 1 '^got \[hello from pane 1\]$' 10 "the job reading a line typed in pane 1"

# ^Z stops the job and cryo; fg continues both
$T send-keys -t cryo:0.1 C-z
wait_for 1 'Stopped' 10 "^Z stopping the job and cryo"
[ "$(stat_field "$JOB" 1)" = "T" ] || fail "the job is not stopped after ^Z (state $(stat_field "$JOB" 1))"
C0=$(last_count 1)
sleep 1
[ "$(last_count 1)" = "$C0" ] || fail "the job kept counting while stopped"
$T send-keys -t cryo:0.1 "fg" Enter
wait_for 1 "^count $((C0 + 2))\$" 10 "the job counting again after fg"
[ "$(stat_field "$JOB" 8)" = "$JOB" ] || fail "after fg the job is not in the foreground"
$T send-keys -t cryo:0.1 "typed after fg" Enter
wait_for 1 '^got \[typed after fg\]$' 10 "the job reading the terminal after fg"

# ^C ends it; cryo exits with its status
$T send-keys -t cryo:0.1 C-c
n=0
while [ -d "/proc/$JOB" ] && [ $n -lt 100 ]; do sleep 0.1; n=$((n + 1)); done
[ -d "/proc/$JOB" ] && fail "the job is still alive after ^C"
JOBPID=$JOB
JOB=
$T send-keys -t cryo:0.1 'echo "status=$?"' Enter
wait_for 1 '^status=[0-9]+$' 10 "cryo's exit status"
ST=$(pane 1 | sed -n 's/^status=\([0-9]*\)$/\1/p' | tail -n 1)
[ "$ST" = 130 ] || fail "cryo restore exited with $ST, expected 130 (the job killed by SIGINT)"
echo "PASS: counted on from $LAST in a new pane (job tree: $JOBPID${TREE:+ $TREE}), took input, ^Z/fg, ^C -> status 130"
exit 0
