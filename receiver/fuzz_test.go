package receiver

import (
	"bytes"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzParse feeds Parse any body: it never panics, and what it accepts is a
// call event, which survives being written back and parsed again.
func FuzzParse(f *testing.F) {
	for _, seed := range []string{
		`{"event":"CALL_ROUTED","call_uuid":"c63fe6f8-0f61-4896-87a2-adc05e06ac36","caller_id_number":"1001","destination_number":"1002","routed_to":{"type":"extension","target":"1002"},"timestamp":"2026-01-27 12:02:30"}`,
		`{"event":"CALL_HANGUP","call_uuid":"u","hangup_cause":"NORMAL_CLEARING","duration":63,"billsec":60,"sip_code":200}`,
		`{"event":"CALL_INPUT","call_uuid":"u","digit":"5","digit_duration":250}`,
		`{"event":"","call_uuid":"u"}`,
		`{"event":"CALL_ANSWER"}`,
		`{"event":1}`,
		`[]`,
		`null`,
		``,
		"{\"event\":\"CALL_HOLD\",\"call_uuid\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := Parse(body)
		if err != nil {
			if e != nil {
				t.Fatalf("Parse returned an event with its error %v", err)
			}
			if !strings.HasPrefix(err.Error(), "receiver: ") {
				t.Fatalf("error %q does not say where it comes from", err)
			}
			return
		}
		if e.Kind == "" || e.CallUUID == "" {
			t.Fatalf("Parse accepted %q as %+v, without event or call_uuid", body, e)
		}
		again, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("marshal %+v: %v", e, err)
		}
		e2, err := Parse(again)
		if err != nil {
			t.Fatalf("Parse refused its own event written back %s: %v", again, err)
		}
		if e2.Kind != e.Kind || e2.CallUUID != e.CallUUID {
			t.Fatalf("written back and parsed again: %+v, want %+v", e2, e)
		}
	})
}

// FuzzVerify feeds Verify any headers and body: it never panics; it accepts
// only a webhook-signature that holds the signature of exactly this id,
// timestamp and body; and a request Sign made verifies, unless its body is
// changed by even one byte.
func FuzzVerify(f *testing.F) {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	now := time.Unix(1_800_000_000, 0)
	good := []byte(`{"event":"CALL_ANSWER","call_uuid":"u"}`)
	signed, err := Sign(secret, "evt_1", now, good)
	if err != nil {
		f.Fatal(err)
	}
	f.Add("evt_1", signed.Get(HeaderTimestamp), signed.Get(HeaderSignature), good)
	f.Add("evt_1", signed.Get(HeaderTimestamp), "v1,"+strings.Repeat("A", 44)+" "+signed.Get(HeaderSignature), good)
	f.Add("evt_1", signed.Get(HeaderTimestamp), "v1a,"+strings.TrimPrefix(signed.Get(HeaderSignature), "v1,"), good)
	f.Add("evt_1", "1800000000.5", signed.Get(HeaderSignature), good)
	f.Add("", "", "", []byte{})
	f.Add("evt_2", "-1", "v1,", []byte("x"))
	f.Add("evt_1", signed.Get(HeaderTimestamp), "v1,"+strings.Repeat("=", 100), good)
	f.Fuzz(func(t *testing.T, id, ts, sig string, body []byte) {
		h := http.Header{}
		h.Set(HeaderID, id)
		h.Set(HeaderTimestamp, ts)
		h.Set(HeaderSignature, sig)
		if verifyAt(secret, h, body, 0, now) == nil {
			// Accepted: the header must hold the real signature.
			sec, err := strconv.ParseInt(h.Get(HeaderTimestamp), 10, 64)
			if err != nil {
				t.Fatalf("accepted timestamp %q, not Unix seconds", ts)
			}
			if d := now.Sub(time.Unix(sec, 0)).Abs(); d > DefaultTolerance {
				t.Fatalf("accepted a timestamp %v from now", d)
			}
			want, err := Sign(secret, h.Get(HeaderID), time.Unix(sec, 0), body)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Contains(strings.Fields(h.Get(HeaderSignature)), want.Get(HeaderSignature)) {
				t.Fatalf("accepted %q for id %q ts %q body %q", sig, id, ts, body)
			}
		}

		// What Sign makes verifies, with these id and body.
		at := now.Add(-time.Minute)
		made, err := Sign(secret, id, at, body)
		if err != nil {
			t.Fatal(err)
		}
		if id == "" {
			return // a webhook without an id is refused, rightly
		}
		if err := verifyAt(secret, made, body, 0, now); err != nil {
			t.Fatalf("Sign's own headers for id %q body %q: %v", id, body, err)
		}
		changed := append(bytes.Clone(body), 'x')
		if verifyAt(secret, made, changed, 0, now) == nil {
			t.Fatalf("a changed body verified: %q", changed)
		}
	})
}
