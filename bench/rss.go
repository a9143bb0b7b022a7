package bench

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime/debug"
	"strconv"
	"strings"
)

// PeakRSS returns VmHWM, the process's peak resident set, in bytes (0 where
// /proc is missing). Benchmarks of bounded-memory work report it.
func PeakRSS() int64 { return peakRSS("/proc/self/status") }

// PeakRSSOf returns process pid's VmHWM in bytes (0 when it cannot be read).
func PeakRSSOf(pid int) int64 { return peakRSS(fmt.Sprintf("/proc/%d/status", pid)) }

func peakRSS(status string) int64 {
	raw, err := os.ReadFile(status)
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(raw), "\n") {
		if v, ok := strings.CutPrefix(line, "VmHWM:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb << 10
		}
	}
	return 0
}

// ResetPeakRSS returns freed memory to the OS and restarts VmHWM from the
// current resident set (Linux: "5" to clear_refs), so that the peak after
// it is the measured work's, not the setup's.
func ResetPeakRSS() {
	debug.FreeOSMemory()
	_ = os.WriteFile("/proc/self/clear_refs", []byte("5"), 0)
}

// ResetPeakRSSOf restarts process pid's VmHWM from its current resident
// set; it needs the right to write the process's clear_refs (the same user).
func ResetPeakRSSOf(pid int) {
	_ = os.WriteFile(fmt.Sprintf("/proc/%d/clear_refs", pid), []byte("5"), 0)
}

// ListeningPID returns the process listening on local TCP port port, or 0
// when there is none or it cannot be told (not Linux, another user's
// process). Benchmarks use it to read a local server's memory.
func ListeningPID(port int) int {
	inodes := map[string]bool{}
	for _, f := range []string{"/proc/net/tcp", "/proc/net/tcp6"} {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			// sl local_address rem_address st ... inode: the address is
			// HEX_IP:HEX_PORT, state 0A is LISTEN, the inode is field 9.
			fs := strings.Fields(line)
			if len(fs) < 10 || fs[3] != "0A" {
				continue
			}
			i := strings.LastIndexByte(fs[1], ':')
			p, err := strconv.ParseInt(fs[1][i+1:], 16, 32)
			if err == nil && int(p) == port {
				inodes["socket:["+fs[9]+"]"] = true
			}
		}
	}
	if len(inodes) == 0 {
		return 0
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/fd")
	for _, fd := range procs {
		links, err := os.ReadDir(fd)
		if err != nil {
			continue
		}
		for _, l := range links {
			if target, err := os.Readlink(filepath.Join(fd, l.Name())); err == nil && inodes[target] {
				pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(fd)))
				return pid
			}
		}
	}
	return 0
}
