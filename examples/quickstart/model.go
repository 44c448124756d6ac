package main

import (
	"context"
	"fmt"
	"os"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/openai"
)

// chooseModel returns an OpenAI (or OpenAI-compatible) model when
// OPENAI_API_KEY is set, with OPENAI_BASE_URL and OPENAI_MODEL optional
// (default gpt-4o-mini), and the offline scripted model otherwise. With
// OPENAI_STREAM=1 responses are streamed and the answer's text is echoed to
// stderr as it arrives.
func chooseModel() (ratchet.Model, error) {
	key := os.Getenv("OPENAI_API_KEY")
	if key == "" {
		return scriptedModel{}, nil
	}
	name := os.Getenv("OPENAI_MODEL")
	if name == "" {
		name = "gpt-4o-mini"
	}
	cfg := openai.Config{Model: name, APIKey: key, BaseURL: os.Getenv("OPENAI_BASE_URL")}
	if os.Getenv("OPENAI_STREAM") == "1" {
		cfg.Stream = true
		cfg.OnDelta = func(_ context.Context, text string) { fmt.Fprint(os.Stderr, text) }
	}
	return openai.New(cfg)
}
