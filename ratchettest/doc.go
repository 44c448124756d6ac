// Package ratchettest helps test code built on ratchet, the way httptest
// helps test HTTP code: a scripted Model that records every Request it gets
// and can fail, stall or panic on cue; a fake Clock that only moves when told
// to; and a Store wrapper that injects faults.
//
// Helpers take a testing.TB and fail the test on misuse instead of
// returning errors.
package ratchettest
