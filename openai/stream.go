package openai

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"

	"github.com/ratchet-run/ratchet"
)

// readStream reads a server-sent event stream of chat completion chunks and
// assembles the Response.
//
// It reads the stream itself rather than through go-openai's
// ChatCompletionStream, whose reader cannot handle what recorded servers
// send: it returns OpenRouter's error chunk (a chunk with an "error"
// member, recording 17) as an ordinary chunk, so the error is lost and a
// half-built response looks complete; it fails on Groq's "event: error"
// event (recording 19) with "unexpected end of JSON input", losing the
// error and its failed generation; and it reports a stream that stops
// without [DONE] as a clean io.EOF. go-openai's types still decode every
// chunk.
//
// The reader follows the SSE format loosely, as servers do: lines may
// start with spaces (recording 35), comment lines (": OPENROUTER
// PROCESSING") are skipped, each data line is one chunk, "event: error"
// marks the data that follows as an error. The stream is complete at
// "data: [DONE]"; one that ends without it counts as complete only if it
// has sent a finish reason and, when usage was asked for, the usage.
// Anything else that ends it, and any error it reports, is a *ModelError,
// never a partial Response.
func (m *Model) readStream(ctx context.Context, body io.Reader, wantUsage bool) (*ratchet.Response, error) {
	br := bufio.NewReaderSize(&limitReader{r: body, left: m.cfg.MaxStreamBytes}, 16<<10)
	s := streamState{maxBytes: m.cfg.MaxResponseBytes}
	if m.cfg.OnDelta != nil {
		s.deltas = &deltaRedactor{r: &m.redact, fn: func(text string) { m.cfg.OnDelta(ctx, text) }}
	}
	var (
		event   []byte
		scratch []byte
	)
	for {
		line, buf, readErr := readLine(br, scratch, m.cfg.MaxStreamLineBytes)
		scratch = buf
		if errors.Is(readErr, errOverLimit) {
			if len(line) > m.cfg.MaxStreamLineBytes {
				return nil, tooLarge("MaxStreamLineBytes", int64(m.cfg.MaxStreamLineBytes))
			}
			return nil, tooLarge("MaxStreamBytes", m.cfg.MaxStreamBytes)
		}
		line = bytes.TrimLeft(line, " \t")
		if len(line) == 0 {
			event = event[:0] // a blank line ends an event
		} else if line[0] != ':' { // a line starting with ':' is a comment
			name, value, _ := bytes.Cut(line, []byte(":"))
			value = bytes.TrimSpace(value)
			switch string(name) {
			case "event":
				event = append(event[:0], value...)
			case "data":
				done, err := s.data(value, string(event) == "error")
				if err != nil {
					return nil, err
				}
				if done {
					// Not read to its end: a server may hold the body open
					// after [DONE], and closing it costs one connection.
					return s.end()
				}
			}
		}
		switch {
		case readErr == nil:
		case errors.Is(readErr, io.EOF) && s.a.finish != "" && (s.sawUsage || !wantUsage):
			return s.end() // no [DONE], but nothing is missing
		case errors.Is(readErr, io.EOF):
			return nil, &ratchet.ModelError{
				Kind:    ratchet.ModelTransient,
				Code:    CodeBrokenStream,
				Message: "stream ended before it was complete",
				Err:     io.ErrUnexpectedEOF,
			}
		default:
			return nil, transportError(ctx, readErr, CodeBrokenStream)
		}
	}
}

// streamState is a stream being assembled.
type streamState struct {
	a        assembly
	sawUsage bool
	maxBytes int64          // bound on a.bytes (Config.MaxResponseBytes)
	deltas   *deltaRedactor // nil without Config.OnDelta
}

// end returns the response of a complete stream, after the answer text
// held back from OnDelta.
func (s *streamState) end() (*ratchet.Response, error) {
	resp, err := s.a.response()
	if err == nil && s.deltas != nil {
		s.deltas.flush()
	}
	return resp, err
}

// data handles the value of one data line: [DONE] (done), an error
// (isError: the line belongs to an "event: error"), or a chunk, whose text
// goes to s.deltas if it is set.
func (s *streamState) data(value []byte, isError bool) (done bool, err error) {
	if string(value) == "[DONE]" {
		return true, nil
	}
	if isError {
		if me := inBandError(value, true); me != nil {
			return false, me
		}
		return false, &ratchet.ModelError{
			Kind:    ratchet.ModelTransient,
			Message: "error event without an error: " + string(truncate(value, 512)),
		}
	}
	var chunk chatChunk
	if err := json.Unmarshal(value, &chunk); err != nil {
		return false, &ratchet.ModelError{
			Kind:    ratchet.ModelTransient,
			Code:    CodeInvalidResponse,
			Message: "stream data is not a chat completion chunk: " + string(truncate(value, 512)),
			Err:     err,
		}
	}
	if me := inBandError(chunk.Error, false); me != nil {
		return false, me
	}
	if s.a.model == "" {
		s.a.model = chunk.Model
	}
	if chunk.Usage != nil {
		s.a.usage = chunk.Usage.usage()
		s.sawUsage = true
	}
	for i := range chunk.Choices {
		if chunk.Choices[i].Index != 0 {
			continue // only one choice is asked for
		}
		text := s.a.addDelta(&chunk.Choices[i])
		if s.a.bytes > s.maxBytes {
			return false, tooLarge("MaxResponseBytes", s.maxBytes)
		}
		if text != "" && s.deltas != nil {
			s.deltas.send(text)
		}
	}
	return false, nil
}

// readLine returns the next line without its line ending. buf is scratch
// space reused across calls for lines longer than the reader's buffer; the
// returned line is valid until the next call. At the end of input it
// returns the last, unterminated line (possibly empty) with the error. A
// line longer than max bytes (line ending included) is not read to its
// end: readLine returns errOverLimit with a line longer than max.
func readLine(br *bufio.Reader, buf []byte, max int) (line, scratch []byte, err error) {
	line, err = br.ReadSlice('\n')
	if errors.Is(err, bufio.ErrBufferFull) {
		buf = append(buf[:0], line...)
		for errors.Is(err, bufio.ErrBufferFull) && len(buf) <= max {
			line, err = br.ReadSlice('\n')
			buf = append(buf, line...)
		}
		line = buf
	}
	if len(line) > max {
		return line, buf, errOverLimit
	}
	line = bytes.TrimSuffix(line, []byte("\n"))
	line = bytes.TrimSuffix(line, []byte("\r"))
	return line, buf, err
}
