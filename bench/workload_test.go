package bench

import (
	"testing"
)

// TestWorkload runs every framework once per K and checks that the model
// was called exactly K times (over HTTP, where the server counts).
func TestWorkload(t *testing.T) {
	for _, k := range Ks {
		floorRunner(t, k)()
		ratchetRunner(t, k, memStore)()
		ratchetRunner(t, k, fileStore(t))()
		einoRunner(t, k, einoModel{k})()
		lcRunner(t, k, lcModel{k})()
		genkitRunner(t, k, "")()
		s := NewServer(k)
		for name, run := range map[string]func(){
			"floor":        floorHTTPRunner(t, k, s.URL),
			"ratchet-mem":  ratchetModelRunner(t, k, ratchetHTTPModel(t, s.URL), memStore),
			"ratchet-file": ratchetModelRunner(t, k, ratchetHTTPModel(t, s.URL), fileStore(t)),
			"eino":         einoRunner(t, k, einoHTTPModel(t, s.URL)),
			"langchaingo":  lcRunner(t, k, lcHTTPModel(t, s.URL)),
			"genkit":       genkitRunner(t, k, s.URL),
		} {
			s.Calls.Store(0)
			run()
			if got := s.Calls.Load(); got != int64(k) {
				t.Errorf("%s over http, K=%d: %d model calls", name, k, got)
			}
		}
		s.Close()
	}
}
