package ratchet_test

import (
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ratchet-run/ratchet/internal/leakcheck"
)

// TestMain fails an otherwise green run that leaves goroutines of this
// module behind: tool calls, schedulers, retries and timers must all have an
// owner that stops them.
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		ours := func(g string) bool { return strings.Contains(g, "github.com/ratchet-run/ratchet") }
		if leaked := leakcheck.Find(5*time.Second, ours, nil); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left behind:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}
