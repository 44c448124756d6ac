package openai

import (
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/ratchet-run/ratchet/internal/leakcheck"
)

// TestMain fails an otherwise green run that leaves goroutines behind:
// goroutines of this package, or HTTP connections still in use once every
// test has finished. (A response body left open is caught by
// TestStreamErrorClosesConnection rather than here, since closing an
// httptest server ends its connections anyway.)
func TestMain(m *testing.M) {
	code := m.Run()
	if code == 0 {
		ours := func(g string) bool {
			return strings.Contains(g, "ratchet/openai.") || strings.Contains(g, "net/http.(*persistConn)") ||
				strings.Contains(g, "net/http.(*conn).serve")
		}
		closeIdle := func() {
			if t, ok := http.DefaultTransport.(*http.Transport); ok {
				t.CloseIdleConnections()
			}
		}
		if leaked := leakcheck.Find(5*time.Second, ours, closeIdle); leaked != "" {
			fmt.Fprintf(os.Stderr, "goroutines left behind:\n%s\n", leaked)
			code = 1
		}
	}
	os.Exit(code)
}
