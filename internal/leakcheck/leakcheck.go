// Package leakcheck finds goroutines a test binary left behind, for
// TestMain functions that fail an otherwise green run on a leak.
package leakcheck

import (
	"runtime"
	"strings"
	"time"
)

// Find waits up to d for every goroutine whose stack match selects to end,
// calling before (if not nil) at each try, and returns the stacks of those
// still running, or "" when there are none. Goroutines running Find itself
// and the testing framework's main goroutine are never reported.
func Find(d time.Duration, match func(stack string) bool, before func()) string {
	deadline := time.Now().Add(d)
	for {
		if before != nil {
			before()
		}
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "internal/leakcheck.Find") || strings.Contains(g, "testing.(*M).Run") {
				continue
			}
			if match(g) {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(20 * time.Millisecond)
	}
}
