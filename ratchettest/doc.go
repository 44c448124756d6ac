// Package ratchettest helps test code built on ratchet, the way httptest
// helps test HTTP code: a scripted Model that records every Request it gets
// and can fail, stall or panic on cue; a fake Clock that only moves when told
// to; a Store wrapper that injects faults (FaultStore, whose Store keeps
// exactly the optional interfaces of the store it wraps); and BasicStore,
// the smallest store the contract allows, without leases or deletes.
//
// Helpers take a testing.TB and fail the test on misuse instead of
// returning errors.
package ratchettest
