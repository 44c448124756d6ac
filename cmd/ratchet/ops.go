package main

import (
	"github.com/ratchet-run/ratchet"
)

// opResult is what cancel and retry print with -json.
type opResult struct {
	RunID string `json:"run_id"`
	// Op is "cancel", "retry" or "answer".
	Op string `json:"op"`
	// Status is the run's status after the operation.
	Status ratchet.Status `json:"status"`
	// Seq is the sequence of the record appended.
	Seq    uint64          `json:"seq"`
	Reason string          `json:"reason,omitempty"`
	Budget *ratchet.Budget `json:"budget,omitempty"`
	// Interrupt and Answer are answer's.
	Interrupt string          `json:"interrupt,omitempty"`
	Answer    *ratchet.Answer `json:"answer,omitempty"`
}
