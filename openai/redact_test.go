package openai

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/ratchet-run/ratchet"
)

// testKey is the planted credential: it has characters that URL escaping
// changes, and ends in keyTail, which survives any escaping, so that a
// leak shows whatever form it takes.
const (
	testKey = "sk-proj/Q+LEAK=" + keyTail
	keyTail = "9f8e7d6c5b4a3210"
)

// leaks lists where keyTail occurs in v: any string or byte slice reachable
// from it, exported or not, and the text of every error on the way.
func leaks(v any) []string {
	var found []string
	seen := map[uintptr]bool{}
	check := func(path, s string) {
		if strings.Contains(s, keyTail) {
			found = append(found, fmt.Sprintf("%s: %q", path, s))
		}
	}
	var walk func(path string, v reflect.Value)
	walk = func(path string, v reflect.Value) {
		if !v.IsValid() {
			return
		}
		if v.CanInterface() && (v.Kind() != reflect.Pointer || !v.IsNil()) && (v.Kind() != reflect.Interface || !v.IsNil()) {
			if e, ok := v.Interface().(error); ok {
				func() {
					defer func() { _ = recover() }() // an Error method that needs fields set
					check(path+".Error()", e.Error())
				}()
			}
		}
		switch v.Kind() {
		case reflect.Pointer:
			if v.IsNil() || seen[v.Pointer()] {
				return
			}
			seen[v.Pointer()] = true
			walk(path, v.Elem())
		case reflect.Interface:
			if !v.IsNil() {
				walk(path, v.Elem())
			}
		case reflect.Struct:
			for i := range v.NumField() {
				walk(path+"."+v.Type().Field(i).Name, v.Field(i))
			}
		case reflect.Slice, reflect.Array:
			if v.Type().Elem().Kind() == reflect.Uint8 && v.Kind() == reflect.Slice {
				check(path, string(v.Bytes()))
				return
			}
			for i := range v.Len() {
				walk(fmt.Sprintf("%s[%d]", path, i), v.Index(i))
			}
		case reflect.Map:
			for _, k := range v.MapKeys() {
				walk(path+"[key]", k)
				walk(fmt.Sprintf("%s[%v]", path, k), v.MapIndex(k))
			}
		case reflect.String:
			check(path, v.String())
		}
	}
	walk("", reflect.ValueOf(&v))
	return found
}

// requireClean asserts that nothing the Model returned holds the key: the
// response, the error (its text, %+v and %#v forms, every field of every
// error it wraps).
func requireClean(t *testing.T, resp *ratchet.Response, err error) {
	t.Helper()
	require.Empty(t, leaks(resp), "response")
	require.Empty(t, leaks(err), "error %v", err)
	if err != nil {
		for _, s := range []string{err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err)} {
			require.NotContains(t, s, keyTail)
		}
	}
}

// echoHeaders renders the request's headers and URL the way a proxy that
// echoes them does.
func echoHeaders(r *http.Request) string {
	var lines []string
	for k, vs := range r.Header {
		lines = append(lines, k+": "+strings.Join(vs, ", "))
	}
	sort.Strings(lines)
	return r.Method + " " + r.URL.String() + "\n" + strings.Join(lines, "\n")
}

// closedURL is the URL of a server that is no longer listening.
func closedURL(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.NotFoundHandler())
	srv.Close()
	return srv.URL
}

func TestKeyNeverReturned(t *testing.T) {
	t.Parallel()
	// A Config for each way the key is given: Authorization, Azure's
	// Api-Key, a gateway header, the BaseURL's query.
	keyed := map[string]func(c *Config){
		"APIKey":        func(c *Config) { c.APIKey = testKey },
		"Azure":         func(c *Config) { c.APIKey = testKey; c.Azure = true },
		"gateway":       func(c *Config) { c.Headers = http.Header{"X-Api-Key": {testKey}} },
		"BaseURL query": func(c *Config) { c.BaseURL += "?key=" + url.QueryEscape(testKey) },
	}
	jsonString := func(s string) string { return fmt.Sprintf("%q", s) }

	for _, tc := range []struct {
		name    string
		stream  bool
		handler func(t *testing.T) http.HandlerFunc
		base    func(t *testing.T, srvURL string) string // "" → the server's
	}{
		{
			name: "JSON error body echoing the request",
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					echo := jsonString(echoHeaders(r))
					w.Header().Set("Content-Type", "application/json")
					w.WriteHeader(http.StatusUnauthorized)
					fmt.Fprintf(w, `{"error":{"message":%s,"type":%s,"param":%s,"code":%s,"innererror":{"code":%s,"content_filter_result":{"hate":{"filtered":true,"severity":%s}}}}}`,
						echo, echo, echo, echo, echo, echo)
				}
			},
		},
		{
			name: "Groq-style error with the key as failed generation",
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.WriteHeader(http.StatusBadRequest)
					fmt.Fprintf(w, `{"error":{"message":"bad","code":"tool_use_failed","failed_generation":%s}}`, jsonString(echoHeaders(r)))
				}
			},
		},
		{
			name: "plain-text error body echoing the request, key in response headers",
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					for k, vs := range r.Header {
						w.Header()["X-Echo-"+k] = vs
					}
					w.Header().Set("Retry-After", "1")
					w.WriteHeader(http.StatusBadGateway)
					_, _ = io.WriteString(w, "upstream rejected\n"+echoHeaders(r))
				}
			},
		},
		{
			name: "200 body that is not a completion",
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					_, _ = io.WriteString(w, "<html>"+echoHeaders(r))
				}
			},
		},
		{
			name: "200 body with an error member",
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					fmt.Fprintf(w, `{"error":{"message":%s,"code":502}}`, jsonString(echoHeaders(r)))
				}
			},
		},
		{
			name: "completion that repeats the key",
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					echo := jsonString(echoHeaders(r))
					fmt.Fprintf(w, `{"model":%s,"choices":[{"index":0,"message":{"role":"assistant","content":%s,"refusal":%s,"tool_calls":[{"id":%s,"type":"function","function":{"name":%s,"arguments":%s}}]},"finish_reason":"tool_calls"}]}`,
						echo, echo, echo, echo, echo, echo)
				}
			},
		},
		{
			name:   "stream error event",
			stream: true,
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					echo := jsonString(echoHeaders(r))
					w.Header().Set("Content-Type", "text/event-stream")
					fmt.Fprintf(w, "event: error\ndata: {\"error\":{\"message\":%s,\"failed_generation\":%s,\"status_code\":400}}\n\n", echo, echo)
				}
			},
		},
		{
			name:   "stream error event without an error",
			stream: true,
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/event-stream")
					fmt.Fprintf(w, "event: error\ndata: {\"echo\":%s}\n\n", jsonString(echoHeaders(r)))
				}
			},
		},
		{
			name:   "stream chunk with an error member",
			stream: true,
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/event-stream")
					fmt.Fprintf(w, "data: {\"choices\":[],\"error\":{\"message\":%s,\"code\":502}}\n\n", jsonString(echoHeaders(r)))
				}
			},
		},
		{
			name:   "stream data that is not JSON",
			stream: true,
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/event-stream")
					fmt.Fprintf(w, "data: %s\n\n", strings.ReplaceAll(echoHeaders(r), "\n", " "))
				}
			},
		},
		{
			name:   "streamed answer that repeats the key",
			stream: true,
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Content-Type", "text/event-stream")
					echo := echoHeaders(r)
					for i := 0; i < len(echo); i += 3 { // the key split across many deltas
						piece := jsonString(echo[i:min(i+3, len(echo))])
						fmt.Fprintf(w, "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"content\":%s}}]}\n\n", piece)
					}
					fmt.Fprintf(w, "data: {\"model\":\"m\",\"choices\":[{\"index\":0,\"delta\":{\"tool_calls\":[{\"index\":0,\"id\":%s,\"function\":{\"name\":\"f\",\"arguments\":%s}}]},\"finish_reason\":\"tool_calls\"}]}\n\ndata: [DONE]\n\n",
						jsonString(echo), jsonString(echo))
				}
			},
		},
		{
			name: "redirect to an unreachable URL carrying the key",
			handler: func(t *testing.T) http.HandlerFunc {
				dead := closedURL(t)
				return func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, dead+"/v1/chat/completions?key="+url.QueryEscape(testKey)+"&path="+url.PathEscape(testKey), http.StatusTemporaryRedirect)
				}
			},
		},
		{
			name: "redirect loop carrying the key",
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					http.Redirect(w, r, "/loop/"+url.PathEscape(testKey)+"?key="+url.QueryEscape(testKey), http.StatusTemporaryRedirect)
				}
			},
		},
		{
			name: "redirect with a Location that is not a URL",
			handler: func(t *testing.T) http.HandlerFunc {
				return func(w http.ResponseWriter, r *http.Request) {
					w.Header().Set("Location", "http://[::1%25"+testKey+"/x")
					w.WriteHeader(http.StatusTemporaryRedirect)
				}
			},
		},
		{
			name:    "network error printing a URL with the key",
			handler: func(t *testing.T) http.HandlerFunc { return http.NotFound },
			base: func(t *testing.T, _ string) string {
				return closedURL(t) + "/v1/" + url.PathEscape(testKey)
			},
		},
	} {
		for cfgName, adjust := range keyed {
			t.Run(tc.name+"/"+cfgName, func(t *testing.T) {
				t.Parallel()
				srv := httptest.NewServer(tc.handler(t))
				t.Cleanup(srv.Close)
				cfg := Config{Model: "m", BaseURL: srv.URL + "/v1", Stream: tc.stream, OmitStreamOptions: true}
				if tc.base != nil {
					cfg.BaseURL = tc.base(t, srv.URL)
				}
				adjust(&cfg)
				var (
					mu     sync.Mutex
					deltas strings.Builder
				)
				cfg.OnDelta = func(_ context.Context, text string) {
					mu.Lock()
					defer mu.Unlock()
					deltas.WriteString(text)
				}
				m, err := New(cfg)
				require.NoError(t, err)
				resp, err := m.Generate(context.Background(), userRequest())
				requireClean(t, resp, err)
				require.NotContains(t, deltas.String(), keyTail, "deltas")
				if err == nil {
					require.Contains(t, resp.Message.Content, Redacted, "the key was there, and is redacted")
					require.Contains(t, resp.Message.ToolCalls[0].Arguments, Redacted)
				} else {
					_, ok := err.(*ratchet.ModelError)
					require.True(t, ok, "still a *ratchet.ModelError: %T", err)
				}
			})
		}
	}
}

// TestRedirectDropsCredentials: a redirect to another origin does not carry
// the key (net/http forwards Api-Key and custom headers, and Authorization
// to the same host on another port); one to the same origin does; the
// client's own CheckRedirect still runs.
func TestRedirectDropsCredentials(t *testing.T) {
	t.Parallel()
	for name, adjust := range map[string]func(c *Config){
		"APIKey":  func(c *Config) { c.APIKey = testKey },
		"Azure":   func(c *Config) { c.APIKey = testKey; c.Azure = true },
		"gateway": func(c *Config) { c.Headers = http.Header{"X-Api-Key": {testKey}} },
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			var (
				mu  sync.Mutex
				got = map[string]string{} // path → headers seen
			)
			record := func(r *http.Request) {
				mu.Lock()
				defer mu.Unlock()
				got[r.Host+r.URL.Path] = echoHeaders(r)
			}
			other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				record(r)
				http.Error(w, "no", http.StatusTeapot)
			}))
			t.Cleanup(other.Close)
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				record(r)
				if r.URL.Path == "/v1/chat/completions" {
					http.Redirect(w, r, "/same", http.StatusTemporaryRedirect)
					return
				}
				http.Redirect(w, r, other.URL+"/other", http.StatusTemporaryRedirect)
			}))
			t.Cleanup(srv.Close)
			var checked int
			cfg := Config{Model: "m", BaseURL: srv.URL + "/v1", HTTPClient: &http.Client{
				CheckRedirect: func(req *http.Request, via []*http.Request) error { checked++; return nil },
			}}
			adjust(&cfg)
			m, err := New(cfg)
			require.NoError(t, err)
			_, err = m.Generate(context.Background(), userRequest())
			requireModelError(t, err, ratchet.ModelBadRequest, "")
			require.Equal(t, 2, checked, "the client's CheckRedirect runs")
			require.Nil(t, cfg.HTTPClient.CheckRedirect(nil, nil), "the caller's client is not changed")

			mu.Lock()
			defer mu.Unlock()
			require.Contains(t, got[strings.TrimPrefix(srv.URL, "http://")+"/same"], keyTail, "same origin: credentials kept")
			require.NotContains(t, got[strings.TrimPrefix(other.URL, "http://")+"/other"], keyTail, "other origin: credentials dropped")
		})
	}
}

func TestNewErrorHidesKey(t *testing.T) {
	t.Parallel()
	for _, base := range []string{
		"ftp://host/v1?key=" + url.QueryEscape(testKey),
		"https://user:" + url.QueryEscape(testKey) + "@/v1",
		"http://[::1%" + testKey + "/v1",
	} {
		_, err := New(Config{Model: "m", BaseURL: base, APIKey: testKey})
		require.ErrorIs(t, err, ErrInvalidConfig, base)
		require.Empty(t, leaks(err), base)
	}
}

// TestDeltaRedactorSplitKey: a key cut anywhere across deltas never
// reaches OnDelta whole or in part, and the other text arrives intact.
func TestDeltaRedactorSplitKey(t *testing.T) {
	t.Parallel()
	r := newRedactor(testKey, nil, &url.URL{})
	text := "before " + testKey + " middle sk-proj/ after " + testKey
	want := "before " + Redacted + " middle sk-proj/ after " + Redacted
	for step := 1; step <= len(testKey)+2; step++ {
		var out []string
		d := &deltaRedactor{r: &r, fn: func(s string) { out = append(out, s) }}
		for i := 0; i < len(text); i += step {
			d.send(text[i:min(i+step, len(text))])
		}
		d.flush()
		require.Equal(t, want, strings.Join(out, ""), "step %d", step)
		for _, piece := range out {
			require.NotContains(t, piece, "LEAK", "step %d", step)
		}
	}
}
