package store

import (
	"errors"
	"testing"
)

func TestNotFoundMessage(t *testing.T) {
	for _, id := range []string{"r1", `a"b`, "ü\x01"} {
		got, want := notFound("get", id), errorf(ErrNotFound, "%s %q", "get", id)
		if got.Error() != want.Error() || !errors.Is(got, ErrNotFound) {
			t.Errorf("notFound(get, %q) = %q, want %q wrapping ErrNotFound", id, got, want)
		}
	}
}
