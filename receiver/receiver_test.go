package receiver

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/signature"
)

// signedHeader builds the headers the delivery engine sends: one signature
// per secret, space-separated.
func signedHeader(t *testing.T, id string, ts time.Time, body []byte, secrets ...string) http.Header {
	t.Helper()
	var keys [][]byte
	for _, s := range secrets {
		k, err := signature.Key(s)
		if err != nil {
			t.Fatal(err)
		}
		keys = append(keys, k)
	}
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, signature.Header(keys, id, ts, body))
	return h
}

func TestVerify(t *testing.T) {
	current, old, other := signature.NewSecret(), signature.NewSecret(), signature.NewSecret()
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"event":"CALL_ANSWER","call_uuid":"u"}`)
	rotated := signedHeader(t, "evt_1", now, body, current, old)

	for name, secret := range map[string]string{"current": current, "rotated-out": old} {
		if err := verifyAt(secret, rotated, body, 0, now); err != nil {
			t.Errorf("%s secret: %v", name, err)
		}
	}
	without := func(name string) http.Header {
		h := rotated.Clone()
		h.Del(name)
		return h
	}
	with := func(name, value string) http.Header {
		h := rotated.Clone()
		h.Set(name, value)
		return h
	}
	cases := []struct {
		name      string
		secret    string
		header    http.Header
		body      []byte
		tolerance time.Duration
		now       time.Time
		want      error
	}{
		{"other secret", other, rotated, body, 0, now, ErrNoSignature},
		{"tampered body", current, rotated, []byte(`{"event":"CALL_HANGUP","call_uuid":"u"}`), 0, now, ErrNoSignature},
		{"other id", current, with(HeaderID, "evt_2"), body, 0, now, ErrNoSignature},
		{"timestamp changed", current, with(HeaderTimestamp, strconv.FormatInt(now.Unix()+1, 10)), body, 0, now, ErrNoSignature},
		{"unknown signature version", current, with(HeaderSignature, "v1a,abc v2,def"), body, 0, now, ErrNoSignature},
		{"stale beyond default tolerance", current, rotated, body, 0, now.Add(DefaultTolerance + time.Second), ErrStale},
		{"future beyond default tolerance", current, rotated, body, 0, now.Add(-DefaultTolerance - time.Second), ErrStale},
		{"stale beyond given tolerance", current, rotated, body, 10 * time.Second, now.Add(11 * time.Second), ErrStale},
		{"no webhook-id", current, without(HeaderID), body, 0, now, ErrMissingHeader},
		{"no webhook-timestamp", current, without(HeaderTimestamp), body, 0, now, ErrMissingHeader},
		{"no webhook-signature", current, without(HeaderSignature), body, 0, now, ErrMissingHeader},
		{"timestamp not a number", current, with(HeaderTimestamp, "yesterday"), body, 0, now, ErrBadTimestamp},
		{"secret not base64", "whsec_!!", rotated, body, 0, now, ErrBadSecret},
		{"empty secret", "", rotated, body, 0, now, ErrBadSecret},
	}
	for _, c := range cases {
		err := verifyAt(c.secret, c.header, c.body, c.tolerance, c.now)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	if err := verifyAt(current, rotated, body, 10*time.Second, now.Add(9*time.Second)); err != nil {
		t.Errorf("within the given tolerance: %v", err)
	}
	if err := verifyAt(current, rotated, body, 0, now.Add(DefaultTolerance-time.Second)); err != nil {
		t.Errorf("within the default tolerance: %v", err)
	}
}

func TestHeaderNamesMatchTheSender(t *testing.T) {
	if HeaderID != signature.HeaderID || HeaderTimestamp != signature.HeaderTimestamp || HeaderSignature != signature.HeaderSignature {
		t.Fatal("receiver and signature name the headers differently")
	}
}

func TestVerifyNamesMissingHeader(t *testing.T) {
	err := Verify(signature.NewSecret(), http.Header{}, nil, 0)
	if err == nil || !strings.Contains(err.Error(), "webhook-id") {
		t.Fatalf("err = %v, want it to name webhook-id", err)
	}
}

func TestSignVerifies(t *testing.T) {
	secret := signature.NewSecret()
	body := []byte(`{}`)
	h, err := Sign(secret, "evt_9", time.Now(), body)
	if err != nil {
		t.Fatal(err)
	}
	if err := Verify(secret, h, body, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := Sign("whsec_%%", "evt_9", time.Now(), body); !errors.Is(err, ErrBadSecret) {
		t.Fatalf("Sign with a bad secret: err = %v", err)
	}
}

// The bodies the delivery engine renders (events.Event.Payload) parse into
// the fields a receiver expects, in both profiles.
func TestParseRenderedPayloads(t *testing.T) {
	at := time.Date(2026, 1, 27, 12, 2, 30, 123e6, time.UTC)
	base := events.Event{
		ID: "evt_1", CallUUID: "c63fe6f8-0f61-4896-87a2-adc05e06ac36", SessionUUID: "c63fe6f8-0f61-4896-87a2-adc05e06ac36",
		CallerIDNumber: "234", DestinationNumber: "8556900900", OccurredAt: at, Sequence: 4,
		Direction: events.Inbound, LegUUID: "leg-1",
	}
	input := base
	input.Kind, input.Digit, input.DigitDuration, input.Party = events.CallInput, "#", 250*time.Millisecond, events.Caller
	routed := base
	routed.Kind, routed.RoutedTo = events.CallRouted, &events.Target{Type: events.RingGroup, Target: "600"}
	hangup := base
	hangup.Kind = events.CallHangup
	hangup.Hangup = &events.Hangup{Cause: events.CauseUserBusy, SIPCode: 486, By: events.Callee, Duration: 12, Billsec: 0, AnsweredBy: ""}
	answer := base
	answer.Kind = events.CallAnswer
	answer.Diversion = &events.Diversion{From: "1002", Reason: events.DivertTransfer}

	paris, err := time.LoadLocation("Europe/Paris")
	if err != nil {
		t.Fatal(err)
	}
	for _, ev := range []events.Event{input, routed, hangup, answer} {
		for _, p := range []events.Profile{events.Standard, events.Extended} {
			body, err := ev.Payload(p, paris)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Parse(body)
			if err != nil {
				t.Fatalf("%s %s: %v", ev.Kind, p, err)
			}
			if string(got.Kind) != string(ev.Kind) || !got.Kind.Known() || got.CallUUID != ev.CallUUID || got.CallSessionUUID != ev.SessionUUID ||
				got.CallerIDNumber != "234" || got.DestinationNumber != "8556900900" || got.Timestamp != "2026-01-27 13:02:30" {
				t.Errorf("%s %s: standard fields %+v", ev.Kind, p, got)
			}
			if tm, err := got.Time(paris); err != nil || !tm.Equal(at.Truncate(time.Second)) {
				t.Errorf("%s %s: Time = %v, %v", ev.Kind, p, tm, err)
			}
			if ev.Kind == events.CallInput && (got.Digit != "#" || got.DigitDuration != 250) {
				t.Errorf("%s %s: digit %q for %d ms", ev.Kind, p, got.Digit, got.DigitDuration)
			}
			if p == events.Standard {
				if got.EventID != "" || got.Sequence != 0 || !got.OccurredAt.IsZero() || got.RoutedTo != nil || got.HangupCause != "" || got.DivertedFrom != "" || got.DiversionReason != "" {
					t.Errorf("%s standard: extended fields set: %+v", ev.Kind, got)
				}
				continue
			}
			if got.EventID != "evt_1" || got.Sequence != 4 || !got.OccurredAt.Equal(at) || got.Direction != "inbound" || got.LegUUID != "leg-1" {
				t.Errorf("%s extended: %+v", ev.Kind, got)
			}
			switch ev.Kind {
			case events.CallInput:
				if got.Party != "caller" {
					t.Errorf("party %q", got.Party)
				}
			case events.CallRouted:
				if got.RoutedTo == nil || *got.RoutedTo != (RoutedTo{Type: "ring_group", Target: "600"}) {
					t.Errorf("routed_to %+v", got.RoutedTo)
				}
			case events.CallAnswer:
				if got.DivertedFrom != "1002" || got.DiversionReason != "transfer" {
					t.Errorf("diversion %q from %q", got.DiversionReason, got.DivertedFrom)
				}
			case events.CallHangup:
				if got.HangupCause != "USER_BUSY" || got.SIPCode != 486 || got.HangupBy != "callee" || got.Duration != 12 {
					t.Errorf("hangup %+v", got)
				}
			}
		}
	}
}

func TestParseRejectsBadBodies(t *testing.T) {
	cases := map[string]string{
		`not json`:                "parse webhook body",
		`{"call_uuid":"u"}`:       `no "event" field`,
		`{"event":"CALL_ANSWER"}`: `CALL_ANSWER has no "call_uuid"`,
		`{"event":"CALL_INPUT","call_uuid":"u","digit_duration":"2000"}`: "digit_duration",
	}
	for body, want := range cases {
		_, err := Parse([]byte(body))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s): err = %v, want it to mention %q", body, err, want)
		}
	}
	e, err := Parse([]byte(`{"event":"CALL_PARKED","call_uuid":"u"}`))
	if err != nil || e.Kind.Known() {
		t.Errorf("unknown kind: %+v, %v; want it parsed and not Known", e, err)
	}
	if _, err := (&Event{Timestamp: "27/01/2026"}).Time(nil); err == nil || !strings.Contains(err.Error(), "27/01/2026") {
		t.Errorf("Time of a bad timestamp: err = %v", err)
	}
}

func TestHandler(t *testing.T) {
	secret := signature.NewSecret()
	body := []byte(`{"event":"CALL_HOLD","call_uuid":"u","timestamp":"2026-01-27 12:02:30"}`)
	var got []*Event
	h := &Handler{Secret: secret, Handle: func(ctx context.Context, e *Event) error {
		if e.CallUUID == "fail" {
			return errors.New("database down")
		}
		got = append(got, e)
		return nil
	}}
	post := func(method string, b []byte, header http.Header) *httptest.ResponseRecorder {
		req := httptest.NewRequest(method, "/hook", strings.NewReader(string(b)))
		for k, v := range header {
			req.Header[k] = v
		}
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		return rec
	}
	sign := func(b []byte) http.Header { return signedHeader(t, "evt_7", time.Now(), b, secret) }

	if rec := post(http.MethodPost, body, sign(body)); rec.Code != http.StatusNoContent {
		t.Fatalf("valid request: %d %s", rec.Code, rec.Body)
	}
	if len(got) != 1 || got[0].WebhookID != "evt_7" || got[0].Kind != CallHold {
		t.Fatalf("handled %+v", got)
	}

	big := []byte(`{"event":"CALL_HOLD","call_uuid":"u","pad":"` + strings.Repeat("x", MaxBodyBytes) + `"}`)
	failing := []byte(`{"event":"CALL_HOLD","call_uuid":"fail"}`)
	cases := []struct {
		name   string
		method string
		body   []byte
		header http.Header
		code   int
		text   string
	}{
		{"GET", http.MethodGet, nil, nil, http.StatusMethodNotAllowed, "POST"},
		{"unsigned", http.MethodPost, body, nil, http.StatusUnauthorized, "missing header"},
		{"signed by another secret", http.MethodPost, body, signedHeader(t, "evt_7", time.Now(), body, signature.NewSecret()), http.StatusUnauthorized, "no valid signature"},
		{"stale", http.MethodPost, body, signedHeader(t, "evt_7", time.Now().Add(-time.Hour), body, secret), http.StatusUnauthorized, "outside tolerance"},
		{"not an event", http.MethodPost, []byte(`[1]`), sign([]byte(`[1]`)), http.StatusBadRequest, "parse webhook body"},
		{"too large", http.MethodPost, big, sign(big), http.StatusRequestEntityTooLarge, "too large"},
		{"handler error", http.MethodPost, failing, sign(failing), http.StatusInternalServerError, "database down"},
	}
	var refused []string
	h.Refused = func(r *http.Request, status int, err error) { refused = append(refused, fmt.Sprint(status, " ", err)) }
	for _, c := range cases {
		rec := post(c.method, c.body, c.header)
		if rec.Code != c.code || !strings.Contains(rec.Body.String(), c.text) {
			t.Errorf("%s: %d %q, want %d mentioning %q", c.name, rec.Code, rec.Body, c.code, c.text)
		}
		// Refused hears each refusal with its status and reason.
		if n := len(refused); n == 0 || !strings.HasPrefix(refused[n-1], fmt.Sprint(c.code)) || !strings.Contains(refused[n-1], c.text) {
			t.Errorf("%s: Refused heard %q", c.name, refused)
		}
	}
	if len(refused) != len(cases) {
		t.Errorf("Refused heard %d refusals, want %d", len(refused), len(cases))
	}

	h.Secret = "whsec_not base64"
	if rec := post(http.MethodPost, body, sign(body)); rec.Code != http.StatusInternalServerError || !strings.Contains(rec.Body.String(), "bad secret") {
		t.Errorf("misconfigured secret: %d %q", rec.Code, rec.Body)
	}
}
