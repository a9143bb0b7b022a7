package main

import (
	"log/slog"
	"os"
	"sync/atomic"
	"syscall"
)

// restartEnv carries the reason of a self-restart to the new process image,
// which logs it once at start.
const restartEnv = "SILT_RESTART_REASON"

// onFenced is the Kafka source's OnFenced: restart, unless the process is
// stopping (stopping is set): the new image would not know it was asked to
// stop. Then the refused flush leaves the rows in the WAL, and the next
// start's replay drops those the partitions' next owner has.
func onFenced(log *slog.Logger, stopping *atomic.Bool) func(string) {
	return func(reason string) {
		if stopping.Load() {
			log.Warn("kafka partitions lost with unconfirmed rows while shutting down: not restarting; "+
				"the rows stay in the WAL and the next start drops those another node consumed again", "reason", reason)
			return
		}
		restartSelf(log, reason)
	}
}

// restartSelf replaces the process with a fresh start of the same binary and
// arguments, without flushing or closing anything: to the data directory it
// is a kill -9 followed by a start. Acknowledged writes are in the WAL, and
// the start's replay applies the stream sources' hand-over rules; that is
// the point. The Kafka source calls it when the group took partitions away
// while this node still held rows it had not confirmed (kafka.Config's
// OnFenced): the replay drops exactly the rows the next owner consumes
// again, which the running process cannot take out of its head. The
// listening socket and every file close on exec (Go opens them
// close-on-exec); clients of in-flight requests see a reset and retry.
func restartSelf(log *slog.Logger, reason string) {
	exe, err := os.Executable()
	if err == nil {
		log.Error("restarting the process so that its WAL replay drops rows another node owns now", "reason", reason, "exe", exe)
		env := append(os.Environ(), restartEnv+"="+reason)
		err = syscall.Exec(exe, os.Args, env)
	}
	// Still here: exec failed. Exiting has the same effect for the data;
	// a supervisor starts the node again.
	log.Error("restart by exec failed; exiting instead", "err", err)
	os.Exit(75) // EX_TEMPFAIL
}

// logRestart reports, at start, a restart made by restartSelf.
func logRestart(log *slog.Logger) {
	if v, ok := os.LookupEnv(restartEnv); ok {
		log.Warn("started by a self-restart", "reason", v)
		_ = os.Unsetenv(restartEnv)
	}
}
