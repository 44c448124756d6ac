// Package ratchet runs LLM agents in production: a synchronous step loop
// over a durable, append-only record log.
package ratchet
