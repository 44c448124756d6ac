package ratchettest_test

import (
	"context"
	"testing"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
)

func TestModelWithoutRecording(t *testing.T) {
	ctx := context.Background()
	req := &ratchet.Request{Messages: []ratchet.Message{{Role: ratchet.RoleUser, Content: "hi"}}}
	rec := ratchettest.NewModel(t, ratchettest.Text("a"), ratchettest.Text("b"))
	norec := ratchettest.NewModel(t, ratchettest.Text("a"), ratchettest.Text("b")).WithoutRecording()
	for _, m := range []*ratchettest.Model{rec, norec} {
		for _, want := range []string{"a", "b"} {
			resp, err := m.Generate(ctx, req)
			if err != nil || resp.Message.Content != want {
				t.Fatalf("Generate = %v, %v; want %q", resp, err, want)
			}
		}
		if m.Calls() != 2 || m.Remaining() != 0 {
			t.Fatalf("Calls = %d, Remaining = %d; want 2, 0", m.Calls(), m.Remaining())
		}
	}
	if n := len(rec.Requests()); n != 2 {
		t.Fatalf("recording model: %d requests, want 2", n)
	}
	if n := len(norec.Requests()); n != 0 {
		t.Fatalf("WithoutRecording: %d requests, want 0", n)
	}
}
