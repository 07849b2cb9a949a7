package apitest

import (
	"bytes"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
)

// conformance checks each answer of a route against the OpenAPI document
// the API serves: its status must be documented for that operation, and a
// JSON body must match the documented schema. An API whose document lies
// fails the tests of everything built on it.
type conformance struct {
	t testing.TB
	// paths is the document's "paths" object.
	paths map[string]map[string]json.RawMessage

	mu       sync.Mutex
	compiler *jsonschema.Compiler
	schemas  map[string]*jsonschema.Schema // by JSON pointer into the document
}

const docURL = "openapi.json"

func newConformance(t testing.TB, doc []byte) *conformance {
	t.Helper()
	var d struct {
		Paths map[string]map[string]json.RawMessage `json:"paths"`
	}
	if err := json.Unmarshal(doc, &d); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(doc))
	if err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft2020)
	c.AssertFormat()
	if err := c.AddResource(docURL, v); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	return &conformance{t: t, paths: d.Paths, compiler: c, schemas: map[string]*jsonschema.Schema{}}
}

// wrap serves h and checks what it answered. The mux of h records the
// pattern it matched in the request; answers of no route (404, 405) have
// none of the document's paths and are not checked.
func (c *conformance) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		tw := &teeWriter{ResponseWriter: w}
		h.ServeHTTP(tw, r)
		method, path, ok := strings.Cut(r.Pattern, " ")
		if !ok {
			return
		}
		if tw.code == 0 {
			tw.code = http.StatusOK
		}
		if err := c.check(method, path, tw.code, w.Header(), tw.body.Bytes()); err != nil {
			c.t.Errorf("%s %s answered %d, against openapi.json: %v\nbody: %.500s", r.Method, r.URL, tw.code, err, tw.body.Bytes())
		}
	})
}

// teeWriter passes an answer through as it is written (a stream flows) and
// keeps a copy to check.
type teeWriter struct {
	http.ResponseWriter
	code int
	body bytes.Buffer
}

func (t *teeWriter) WriteHeader(code int) {
	if t.code == 0 {
		t.code = code
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *teeWriter) Write(b []byte) (int, error) {
	if t.code == 0 {
		t.code = http.StatusOK
	}
	t.body.Write(b)
	return t.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the server's writer (Flush).
func (t *teeWriter) Unwrap() http.ResponseWriter { return t.ResponseWriter }

type checkError string

func (e checkError) Error() string { return string(e) }

func (c *conformance) check(method, path string, status int, header http.Header, body []byte) error {
	raw, ok := c.paths[path][strings.ToLower(method)]
	if !ok {
		return checkError("operation not documented")
	}
	var op struct {
		Responses map[string]json.RawMessage `json:"responses"`
	}
	if err := json.Unmarshal(raw, &op); err != nil {
		return err
	}
	code := strconv.Itoa(status)
	resp, ok := op.Responses[code]
	if !ok {
		return checkError("status " + code + " not documented")
	}
	// Follow a shared response ("$ref": "#/components/responses/X").
	ptr := "/paths/" + escape(path) + "/" + strings.ToLower(method) + "/responses/" + code
	var ref struct {
		Ref string `json:"$ref"`
	}
	if json.Unmarshal(resp, &ref) == nil && ref.Ref != "" {
		ptr = strings.TrimPrefix(ref.Ref, "#")
	}
	mt, _, _ := mime.ParseMediaType(header.Get("Content-Type"))
	if mt != "application/json" {
		if len(body) > 0 && mt == "" {
			return checkError("a body without a Content-Type")
		}
		return nil
	}
	sch, err := c.schema(ptr + "/content/application~1json/schema")
	if err != nil {
		return err
	}
	inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(body))
	if err != nil {
		return err
	}
	return sch.Validate(inst)
}

func (c *conformance) schema(ptr string) (*jsonschema.Schema, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s, ok := c.schemas[ptr]; ok {
		return s, nil
	}
	s, err := c.compiler.Compile(docURL + "#" + ptr)
	if err != nil {
		return nil, err
	}
	c.schemas[ptr] = s
	return s, nil
}

// escape makes a JSON pointer token of s.
func escape(s string) string {
	return strings.NewReplacer("~", "~0", "/", "~1").Replace(s)
}

// fetchDoc reads the document from the API itself.
func fetchDoc(t testing.TB, h http.Handler) []byte {
	t.Helper()
	req := httptest.NewRequest("GET", "/v1/openapi.json", nil)
	req.Header.Set("Authorization", "Bearer "+Token)
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	b, err := io.ReadAll(rec.Body)
	if err != nil || rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/openapi.json: %d %v", rec.Code, err)
	}
	return b
}
