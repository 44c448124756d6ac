package main

import (
	"context"
	"fmt"
	"os"
	"time"

	"github.com/ratchet-run/ratchet"
	"github.com/ratchet-run/ratchet/ratchettest"
	"github.com/ratchet-run/ratchet/store"
)

// Example runs an agent on a store, then lists its runs as
// "ratchet -json runs" would print them.
func Example() {
	ctx := context.Background()
	dir, err := os.MkdirTemp("", "ratchet-example")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)
	s, err := store.NewFile(dir, nil)
	if err != nil {
		panic(err)
	}
	defer s.Close()

	a, err := ratchet.NewAgent(ratchet.Config{
		Name:  "greeter",
		Model: ratchettest.NewModel(&ratchettest.ExampleTB{}, ratchettest.Text("Hello!")),
		Store: s,
		Clock: ratchettest.NewClock(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)),
	})
	if err != nil {
		panic(err)
	}
	if _, err := a.Run(ctx, "Say hello.", &ratchet.RunOptions{ID: "hello-1", Labels: map[string]string{"env": "dev"}}); err != nil {
		panic(err)
	}

	if err := cmdRuns(ctx, s, []string{"-json"}, os.Stdout); err != nil {
		fmt.Println(err)
	}
	// Output:
	// [
	//   {
	//     "id": "hello-1",
	//     "agent": "greeter",
	//     "labels": {
	//       "env": "dev"
	//     },
	//     "created_at": "2026-01-02T03:04:05Z",
	//     "status": "succeeded",
	//     "updated_at": "2026-01-02T03:04:05Z",
	//     "totals": {
	//       "steps": 1,
	//       "input_tokens": 10,
	//       "output_tokens": 5
	//     },
	//     "last_seq": 3,
	//     "lease": {
	//       "token": 1
	//     }
	//   }
	// ]
}
