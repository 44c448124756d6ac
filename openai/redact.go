package openai

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"

	goopenai "github.com/sashabaranov/go-openai"

	"github.com/ratchet-run/ratchet"
)

// Redacted replaces every credential of a Model (see Config.APIKey) in the
// errors and responses it returns.
const Redacted = "[REDACTED]"

// redactor replaces a Model's secrets in what it returns. Its zero value
// knows no secret and changes nothing.
type redactor struct {
	// forms holds every secret as it may appear in text: as is, query
	// and path escaped, JSON escaped. Longest first, so that a form that
	// contains another is replaced whole.
	forms []string
	// headers names the request headers that carry a secret.
	headers []string
}

// credentialWords mark a header or query parameter whose value is a
// credential.
var credentialWords = [...]string{"key", "token", "secret", "auth", "password", "passwd", "signature", "sig", "cookie", "credential", "session"}

// isCredentialName reports whether a header or query parameter name looks
// like it carries a credential.
func isCredentialName(name string) bool {
	name = strings.ToLower(name)
	for _, w := range credentialWords {
		if strings.Contains(name, w) {
			return true
		}
	}
	return false
}

// newRedactor collects the secrets of a Model: its API key, the values of
// credential headers among h (the headers it sends), the values of
// credential parameters in the query of base, and base's password.
func newRedactor(apiKey string, h http.Header, base *url.URL) redactor {
	var r redactor
	var secrets []string
	add := func(s string) {
		if s = strings.TrimSpace(s); s != "" {
			secrets = append(secrets, s)
		}
	}
	add(apiKey)
	for name, vs := range h {
		if !isCredentialName(name) {
			continue
		}
		r.headers = append(r.headers, name)
		for _, v := range vs {
			add(v)
			if _, cred, ok := strings.Cut(v, " "); ok { // "Bearer <token>"
				add(cred)
			}
		}
	}
	for name, vs := range base.Query() {
		if isCredentialName(name) {
			for _, v := range vs {
				add(v)
			}
		}
	}
	if pw, ok := base.User.Password(); ok {
		add(pw)
	}
	for _, s := range secrets {
		r.forms = append(r.forms, s, url.QueryEscape(s), url.PathEscape(s), jsonEscape(s, true), jsonEscape(s, false))
	}
	slices.SortFunc(r.forms, func(a, b string) int { return len(b) - len(a) })
	r.forms = slices.Compact(r.forms)
	slices.Sort(r.headers)
	return r
}

// jsonEscape is s as it appears inside a JSON string.
func jsonEscape(s string, html bool) string {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(html)
	_ = enc.Encode(s) // a string always encodes
	out := strings.TrimSpace(b.String())
	return out[1 : len(out)-1]
}

// str returns s with every secret replaced by Redacted.
func (r *redactor) str(s string) string {
	for _, f := range r.forms {
		if strings.Contains(s, f) {
			s = strings.ReplaceAll(s, f, Redacted)
		}
	}
	return s
}

// bytes returns b, or a copy with every secret replaced by Redacted.
func (r *redactor) bytes(b []byte) []byte {
	for _, f := range r.forms {
		if bytes.Contains(b, []byte(f)) {
			b = bytes.ReplaceAll(b, []byte(f), []byte(Redacted))
		}
	}
	return b
}

// contains reports whether s holds a secret.
func (r *redactor) contains(s string) bool {
	for _, f := range r.forms {
		if strings.Contains(s, f) {
			return true
		}
	}
	return false
}

// response redacts resp in place.
func (r *redactor) response(resp *ratchet.Response) {
	if len(r.forms) == 0 {
		return
	}
	resp.Model = r.str(resp.Model)
	resp.Message.Content = r.str(resp.Message.Content)
	resp.Message.Refusal = r.str(resp.Message.Refusal)
	for i := range resp.Message.ToolCalls {
		c := &resp.Message.ToolCalls[i]
		c.ID, c.Name, c.Arguments = r.str(c.ID), r.str(c.Name), r.str(c.Arguments)
	}
}

// err returns err with every secret redacted: the error types the Model
// builds (*ratchet.ModelError, go-openai's *APIError and *RequestError,
// *url.Error) are copied with their text fields redacted and their causes
// redacted in turn; any other error whose text, or whose causes' text,
// holds a secret becomes a *redactedError keeping its redacted message and
// redacted causes; the rest are returned as they are, so that errors.Is
// and errors.As still find them.
func (r *redactor) err(err error) error {
	if err == nil || len(r.forms) == 0 {
		return err
	}
	switch e := err.(type) {
	case *ratchet.ModelError:
		c := *e
		c.Code, c.Message, c.Output = r.str(e.Code), r.str(e.Message), r.str(e.Output)
		c.Err = r.err(e.Err)
		return &c
	case *goopenai.APIError:
		return r.apiError(e)
	case *goopenai.RequestError:
		c := *e
		c.HTTPStatus = r.str(e.HTTPStatus)
		c.Body = r.bytes(e.Body)
		c.Err = r.err(e.Err)
		return &c
	case *url.Error:
		return &url.Error{Op: e.Op, URL: r.str(e.URL), Err: r.err(e.Err)}
	case *TooLargeError:
		return e
	}
	if !r.leaks(err) {
		return err
	}
	re := &redactedError{msg: r.str(err.Error())}
	if te, ok := err.(interface{ Timeout() bool }); ok {
		re.timeout = te.Timeout()
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		if c := u.Unwrap(); c != nil {
			re.causes = []error{r.err(c)}
		}
	case interface{ Unwrap() []error }:
		for _, c := range u.Unwrap() {
			re.causes = append(re.causes, r.err(c))
		}
	}
	return re
}

// leaks reports whether the text of err or of any of its causes holds a
// secret.
func (r *redactor) leaks(err error) bool {
	if err == nil {
		return false
	}
	if r.contains(err.Error()) {
		return true
	}
	switch u := err.(type) {
	case interface{ Unwrap() error }:
		return r.leaks(u.Unwrap())
	case interface{ Unwrap() []error }:
		return slices.ContainsFunc(u.Unwrap(), r.leaks)
	}
	return false
}

// apiError returns a copy of e with its text fields redacted.
func (r *redactor) apiError(e *goopenai.APIError) *goopenai.APIError {
	c := *e
	c.Message, c.Type, c.HTTPStatus = r.str(e.Message), r.str(e.Type), r.str(e.HTTPStatus)
	if s, ok := e.Code.(string); ok {
		c.Code = r.str(s)
	}
	if e.Param != nil {
		p := r.str(*e.Param)
		c.Param = &p
	}
	if e.InnerError != nil {
		in := *e.InnerError
		in.Code = r.str(in.Code)
		f := &in.ContentFilterResults
		f.Hate.Severity, f.SelfHarm.Severity = r.str(f.Hate.Severity), r.str(f.SelfHarm.Severity)
		f.Sexual.Severity, f.Violence.Severity = r.str(f.Sexual.Severity), r.str(f.Violence.Severity)
		c.InnerError = &in
	}
	return &c
}

// redactedError stands for an error whose text held a secret: its text
// with the secret redacted, and its causes, redacted in turn. It keeps the
// error's Timeout, so it classifies as the original did.
type redactedError struct {
	msg     string
	causes  []error
	timeout bool
}

func (e *redactedError) Error() string   { return e.msg }
func (e *redactedError) Unwrap() []error { return e.causes }
func (e *redactedError) Timeout() bool   { return e.timeout }
func (e *redactedError) Temporary() bool { return false }

// deltaRedactor passes text deltas to fn with every secret redacted, also
// one that arrives split across deltas: it holds back the end of the text
// while that could be the start of a secret, until the next delta or
// flush.
type deltaRedactor struct {
	r       *redactor
	fn      func(string)
	pending string
}

// send passes text on, holding back what may start a secret.
func (d *deltaRedactor) send(text string) {
	if len(d.r.forms) == 0 {
		d.fn(text)
		return
	}
	s := d.r.str(d.pending + text)
	hold := 0
	for _, f := range d.r.forms {
		for n := min(len(f)-1, len(s)); n > hold; n-- {
			if strings.HasSuffix(s, f[:n]) {
				hold = n
				break
			}
		}
	}
	d.pending = s[len(s)-hold:]
	if out := s[:len(s)-hold]; out != "" {
		d.fn(out)
	}
}

// flush passes on what was held back: the stream has ended, so it is not
// the start of a secret.
func (d *deltaRedactor) flush() {
	if d.pending != "" {
		d.fn(d.pending)
		d.pending = ""
	}
}

// stripOnRedirect returns a CheckRedirect for a client whose requests go to
// endpoint: a redirect to another origin (scheme, host and port) gets none
// of the headers that carry the Model's secrets, which net/http forwards
// (Api-Key, a gateway's own auth header, and Authorization to the same
// host on another port). next is the client's own CheckRedirect, or nil
// for net/http's default (at most 10 redirects).
func (r *redactor) stripOnRedirect(endpoint *url.URL, next func(*http.Request, []*http.Request) error) func(*http.Request, []*http.Request) error {
	return func(req *http.Request, via []*http.Request) error {
		if req.URL.Scheme != endpoint.Scheme || !strings.EqualFold(req.URL.Host, endpoint.Host) {
			for _, h := range r.headers {
				req.Header.Del(h)
			}
		}
		if next != nil {
			return next(req, via)
		}
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		return nil
	}
}
