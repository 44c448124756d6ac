package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/ratchet-run/ratchet/store"
)

// Exit codes.
const (
	exitOK    = 0
	exitError = 1
	exitUsage = 2
)

// command is one subcommand: it parses its own flags from args (which
// include the run ID and other operands) and writes its output to w.
type command struct {
	name, args, help string
	run              func(ctx context.Context, s store.Store, args []string, w io.Writer) error
	// readOnly commands open the store with store.FileOptions.ReadOnly:
	// they never change it and work for a user who may only read it.
	readOnly bool
}

var commands = []command{
	{"runs", "[-status S] [-agent A] [-label k=v]... [-limit N]", "list runs, newest first", cmdRuns, true},
	{"show", "RUN", "print the timeline of one run", cmdShow, true},
	{"tail", "RUN [-from SEQ] [-interval 500ms]", "follow a run's records as they are appended", cmdTail, true},
	{"verify", "", "read and check the whole store; exit 1 with a report of what is damaged", cmdVerify, true},
	{"cancel", "RUN [-reason TEXT]", "cancel a run that has not ended", cmdCancel, false},
	{"retry", "RUN [-max-steps N] [-max-cost USD] [-max-tokens N] ...", "mark a paused run for resumption, raising its budget", cmdRetry, false},
	{"answer", "RUN INTERRUPT VALUE [-reason TEXT]", "answer a waiting run's interrupt (approve/reject, or a JSON value)", cmdAnswer, false},
	{"delete", "RUN", "delete an ended run and its event inbox", cmdDelete, false},
	{"prune", "-older-than D [-status S]... [-agent A] [-dry-run]", "delete the ended runs not updated for D", cmdPrune, false},
	{"compact", "", "rewrite the store's log with its live runs only (no other process may have it open)", cmdCompact, false},
	{"salvage", "DIR NEWDIR", "copy every intact run and record of the store in DIR into a new store in NEWDIR (no -store needed)", nil, true},
}

// usageError is a bad command line: the usage is printed and the exit code
// is 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error {
	return &usageError{fmt.Sprintf(format, args...)}
}

func usage(w io.Writer) {
	fmt.Fprintf(w, "usage: ratchet [-store DIR] [-json] COMMAND [flags] [args]\n\n")
	fmt.Fprintf(w, "The store defaults to $RATCHET_STORE. Commands:\n\n")
	for _, c := range commands {
		fmt.Fprintf(w, "  %-7s %s\n          %s\n", c.name, c.args, c.help)
	}
	fmt.Fprintf(w, "\nEvery command accepts -json for machine-readable output. Run\n'ratchet COMMAND -h' for a command's flags.\n")
}

// run is the whole program: it returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("ratchet", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	dir := fs.String("store", os.Getenv("RATCHET_STORE"), "store directory")
	jsonOut := fs.Bool("json", false, "JSON output")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return exitOK
		}
		fmt.Fprintf(stderr, "ratchet: %v\n", err)
		usage(stderr)
		return exitUsage
	}
	if fs.NArg() == 0 {
		usage(stderr)
		return exitUsage
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	var cmd *command
	for i := range commands {
		if commands[i].name == name {
			cmd = &commands[i]
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "ratchet: unknown command %q\n", name)
		usage(stderr)
		return exitUsage
	}
	if *jsonOut {
		rest = append([]string{"-json"}, rest...)
	}
	if cmd.name == "salvage" {
		return finish(cmd, cmdSalvage(ctx, rest, stdout, stderr), stderr)
	}
	if *dir == "" {
		fmt.Fprintf(stderr, "ratchet: no store: give -store DIR or set RATCHET_STORE\n")
		return exitUsage
	}
	opts := &store.FileOptions{ReadOnly: cmd.readOnly, VerifyLog: cmd.name == "verify"}
	s, err := openStore(*dir, opts, stderr)
	if err != nil {
		fmt.Fprintf(stderr, "ratchet: %v\n", err)
		return exitError
	}
	defer s.Close()
	return finish(cmd, cmd.run(ctx, s, rest, stdout), stderr)
}

// finish reports a command's outcome and returns the exit code.
func finish(cmd *command, err error, stderr io.Writer) int {
	var ue *usageError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, flag.ErrHelp):
		return exitOK
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "ratchet %s: %v\nusage: ratchet %s %s\n", cmd.name, err, cmd.name, cmd.args)
		return exitUsage
	default:
		fmt.Fprintf(stderr, "ratchet %s: %v\n", cmd.name, err)
		return exitError
	}
}

// openStore opens an existing File store; unlike store.NewFile it refuses
// to create one, so that a mistyped directory is an error. What the store
// logs (a torn tail cut or found, damage, an unsafe directory) goes to
// stderr.
func openStore(dir string, opts *store.FileOptions, stderr io.Writer) (*store.File, error) {
	if _, err := os.Stat(filepath.Join(dir, store.FileLogName)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("no ratchet store in %s (no %s)", dir, store.FileLogName)
		}
		return nil, err
	}
	o := *opts
	o.Logger = slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	return store.NewFile(dir, &o)
}

// flags makes a command's flag set, with the -json flag every command has.
func flags(name string, w io.Writer) (*flag.FlagSet, *bool) {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(w)
	return fs, fs.Bool("json", false, "JSON output")
}

// parse parses args with fs, allowing flags after operands ("show RUN
// -json"), and returns the operands. It checks there are exactly n.
func parse(fs *flag.FlagSet, args []string, n int) ([]string, error) {
	var operands []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil, err
			}
			return nil, &usageError{err.Error()}
		}
		if fs.NArg() == 0 {
			break
		}
		consumed := len(args) - fs.NArg()
		if consumed > 0 && args[consumed-1] == "--" {
			operands = append(operands, fs.Args()...)
			break
		}
		operands = append(operands, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(operands) != n {
		if n == 0 {
			return nil, usagef("unexpected arguments %q", operands)
		}
		return nil, usagef("want %d argument(s), got %d", n, len(operands))
	}
	return operands, nil
}

// notFound rewrites a store.ErrNotFound into a message that names the run.
func notFound(runID string, err error) error {
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("run %q not found: %w", runID, store.ErrNotFound)
	}
	return err
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "-"
	}
	return t.UTC().Format("2006-01-02 15:04:05")
}

func fmtCost(c float64) string {
	return fmt.Sprintf("$%.4f", c)
}
