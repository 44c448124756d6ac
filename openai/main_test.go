package openai

import (
	"fmt"
	"net/http"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// TestMain fails an otherwise green run that leaves goroutines behind:
// goroutines of this package, or HTTP connections still in use once every
// test has finished. (A response body left open is caught by
// TestStreamErrorClosesConnection rather than here, since closing an
// httptest server ends its connections anyway.)
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		if leaked := waitForLeaks(5 * time.Second); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left behind:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}

// waitForLeaks returns the stacks of goroutines that are ours or hold an
// HTTP connection, after waiting up to d for them to end.
func waitForLeaks(d time.Duration) string {
	deadline := time.Now().Add(d)
	for {
		if t, ok := http.DefaultTransport.(*http.Transport); ok {
			t.CloseIdleConnections()
		}
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		var leaked []string
		for _, g := range strings.Split(string(buf), "\n\n") {
			if strings.Contains(g, "openai.waitForLeaks") {
				continue
			}
			if strings.Contains(g, "ratchet/openai.") || strings.Contains(g, "net/http.(*persistConn)") ||
				strings.Contains(g, "net/http.(*conn).serve") {
				leaked = append(leaked, g)
			}
		}
		if len(leaked) == 0 {
			return ""
		}
		if time.Now().After(deadline) {
			return strings.Join(leaked, "\n\n")
		}
		time.Sleep(50 * time.Millisecond)
	}
}
