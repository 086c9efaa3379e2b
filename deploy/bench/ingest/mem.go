package ingest

import (
	"bytes"
	"fmt"
	"os"
	"runtime/metrics"
	"strconv"
	"syscall"
	"time"
)

// rss returns the resident set size of process pid ("self" for this one) from
// /proc/<pid>/status (VmRSS), in bytes.
func rss(pid string) (int64, error) {
	b, err := os.ReadFile("/proc/" + pid + "/status")
	if err != nil {
		return 0, err
	}
	i := bytes.Index(b, []byte("VmRSS:"))
	if i < 0 {
		return 0, fmt.Errorf("no VmRSS in /proc/%s/status", pid)
	}
	f := bytes.Fields(b[i+len("VmRSS:"):])
	if len(f) < 2 || string(f[1]) != "kB" {
		return 0, fmt.Errorf("unexpected VmRSS line in /proc/%s/status", pid)
	}
	kb, err := strconv.ParseInt(string(f[0]), 10, 64)
	return kb << 10, err
}

// procCPU returns the user+system CPU time of process pid from /proc/<pid>/stat.
func procCPU(pid string) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + pid + "/stat")
	if err != nil {
		return 0, err
	}
	// The command name (field 2) may contain spaces; fields after its ')' are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return 0, fmt.Errorf("cannot parse /proc/%s/stat", pid)
	}
	f := bytes.Fields(b[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("cannot parse /proc/%s/stat", pid)
	}
	ut, err1 := strconv.ParseInt(string(f[11]), 10, 64)
	st, err2 := strconv.ParseInt(string(f[12]), 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("cannot parse /proc/%s/stat", pid)
	}
	const clkTck = 100 // USER_HZ on Linux
	return time.Duration(ut+st) * time.Second / clkTck, nil
}

// selfCPU is this process's user and system CPU time so far.
func selfCPU() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// goMem reads the Go heap (bytes in live and not yet swept objects) and the memory
// the Go runtime holds from the OS, without stopping the world.
type goMem struct{ samples []metrics.Sample }

func newGoMem() *goMem {
	return &goMem{samples: []metrics.Sample{
		{Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/memory/classes/total:bytes"},
		{Name: "/gc/cycles/total:gc-cycles"},
	}}
}

func (m *goMem) read() (heap, total, gcs uint64) {
	metrics.Read(m.samples)
	return m.samples[0].Value.Uint64(), m.samples[1].Value.Uint64(), m.samples[2].Value.Uint64()
}
