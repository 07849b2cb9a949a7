package api

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
)

type openAPIDocument struct {
	OpenAPI string                                `json:"openapi"`
	Paths   map[string]map[string]json.RawMessage `json:"paths"`
}

func loadDoc(t *testing.T) openAPIDocument {
	t.Helper()
	var doc openAPIDocument
	if err := json.Unmarshal(openAPIDoc, &doc); err != nil {
		t.Fatalf("openapi.json: %v", err)
	}
	if doc.OpenAPI != "3.1.0" {
		t.Fatalf("openapi = %q, want 3.1.0", doc.OpenAPI)
	}
	return doc
}

// documented lists "METHOD /path" of every operation in the document.
func documented(doc openAPIDocument) []string {
	var ops []string
	for path, item := range doc.Paths {
		for method := range item {
			if method == "parameters" {
				continue
			}
			ops = append(ops, strings.ToUpper(method)+" "+path)
		}
	}
	slices.Sort(ops)
	return ops
}

func TestOpenAPIDocumentsEveryRoute(t *testing.T) {
	a := New(Options{AdminToken: "t"})
	doc := loadDoc(t)
	ops := documented(doc)
	var served []string
	for _, rt := range a.routes {
		served = append(served, rt.method+" "+rt.pattern)
	}
	slices.Sort(served)
	for _, s := range served {
		if !slices.Contains(ops, s) {
			t.Errorf("route %s is served but not in openapi.json", s)
		}
	}
	for _, op := range ops {
		if !slices.Contains(served, op) {
			t.Errorf("operation %s is in openapi.json but not served", op)
		}
	}
	// Ask the mux itself which pattern each documented operation reaches,
	// with its path parameters filled in.
	fill := strings.NewReplacer("{id}", "42", "{call_uuid}", "0b6f7e2c-6a53-4f35-9d55-1f2a0c3e9b7d")
	for _, op := range ops {
		method, path, _ := strings.Cut(op, " ")
		req := httptest.NewRequest(method, fill.Replace(path), nil)
		if _, pattern := a.mux.Handler(req); pattern != op {
			t.Errorf("%s %s reaches pattern %q, want %q", method, fill.Replace(path), pattern, op)
		}
	}
}

func TestOpenAPIOperationsHaveIDsAndResponses(t *testing.T) {
	doc := loadDoc(t)
	seen := map[string]bool{}
	for path, item := range doc.Paths {
		for method, raw := range item {
			if method == "parameters" {
				continue
			}
			var op struct {
				OperationID string                     `json:"operationId"`
				Responses   map[string]json.RawMessage `json:"responses"`
			}
			if err := json.Unmarshal(raw, &op); err != nil {
				t.Fatalf("%s %s: %v", method, path, err)
			}
			if op.OperationID == "" || seen[op.OperationID] {
				t.Errorf("%s %s: operationId %q is empty or repeated", method, path, op.OperationID)
			}
			seen[op.OperationID] = true
			if len(op.Responses) == 0 {
				t.Errorf("%s %s: no responses", method, path)
			}
		}
	}
}

// Every /v1 route refuses a request without the token, and one with a
// wrong token, before it touches the store (there is none here).
func TestEveryV1RouteNeedsTheToken(t *testing.T) {
	a := New(Options{AdminToken: "right"})
	fill := strings.NewReplacer("{id}", "42", "{call_uuid}", "c")
	for _, rt := range a.routes {
		if rt.public {
			if strings.HasPrefix(rt.pattern, "/v1/") {
				t.Errorf("%s %s is public", rt.method, rt.pattern)
			}
			continue
		}
		for _, auth := range []string{"", "Bearer wrong", "Basic cmlnaHQ=", "Bearer ", "Bearer rightt"} {
			req := httptest.NewRequest(rt.method, fill.Replace(rt.pattern), strings.NewReader("{}"))
			if auth != "" {
				req.Header.Set("Authorization", auth)
			}
			w := httptest.NewRecorder()
			a.Handler().ServeHTTP(w, req)
			if w.Code != http.StatusUnauthorized {
				t.Errorf("%s %s with %q: status %d, want 401", rt.method, rt.pattern, auth, w.Code)
			}
			if w.Header().Get("WWW-Authenticate") == "" {
				t.Errorf("%s %s: no WWW-Authenticate", rt.method, rt.pattern)
			}
		}
	}
}

func TestNoTokenConfiguredRefusesAll(t *testing.T) {
	a := New(Options{})
	req := httptest.NewRequest("GET", "/v1/endpoints", nil)
	req.Header.Set("Authorization", "Bearer ")
	w := httptest.NewRecorder()
	a.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", w.Code)
	}
	req.Header.Set("Authorization", "Bearer anything")
	w = httptest.NewRecorder()
	a.Handler().ServeHTTP(w, req)
	if w.Code != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", w.Code)
	}
}

func TestMountBesideADashboard(t *testing.T) {
	a := New(Options{AdminToken: "t"})
	mux := http.NewServeMux()
	a.Mount(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { w.Write([]byte("dashboard")) })
	for path, want := range map[string]int{"/v1/endpoints": 401, "/v1/nope": 401, "/": 200, "/calls": 200} {
		w := httptest.NewRecorder()
		mux.ServeHTTP(w, httptest.NewRequest("GET", path, nil))
		if w.Code != want {
			t.Errorf("GET %s: %d, want %d", path, w.Code, want)
		}
	}
}
