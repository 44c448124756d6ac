package ratchet

import (
	"context"
	"testing"
)

// mapCtx is a context type that is not comparable.
type mapCtx struct {
	context.Context
	m map[string]int
}

func TestSameContextNonComparable(t *testing.T) {
	a := mapCtx{Context: context.Background(), m: map[string]int{}}
	if sameContext(a, a) {
		t.Fatal("a non-comparable context compared equal")
	}
	bg := context.Background()
	if !sameContext(bg, bg) {
		t.Fatal("the same context compared unequal")
	}
}
