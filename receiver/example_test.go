package receiver_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"time"

	"github.com/switchhook/switchhook/receiver"
)

// ExampleHandler serves switchhook's webhooks: every request is verified
// and parsed before Handle sees it, and the answer tells switchhook whether
// to try again.
func ExampleHandler() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	h := &receiver.Handler{
		Secret: secret,
		Handle: func(ctx context.Context, e *receiver.Event) error {
			fmt.Printf("%s %s pressed %s for %d ms\n", e.Kind, e.CallerIDNumber, e.Digit, e.DigitDuration)
			return nil
		},
	}

	// What switchhook sends for a CALL_INPUT in the standard profile.
	body := `{"event":"CALL_INPUT","call_uuid":"c63fe6f8-0f61-4896-87a2-adc05e06ac36",` +
		`"call_session_uuid":"c63fe6f8-0f61-4896-87a2-adc05e06ac36","caller_id_number":"234",` +
		`"destination_number":"8556900900","digit":"5","digit_duration":250,"timestamp":"2026-01-27 12:02:30"}`
	header, _ := receiver.Sign(secret, "evt_2xYz", time.Now(), []byte(body))
	req := httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(body))
	for k, v := range header {
		req.Header[k] = v
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code)

	// A request signed with another secret is refused.
	req = httptest.NewRequest(http.MethodPost, "/webhooks", strings.NewReader(body))
	header, _ = receiver.Sign("whsec_c29tZSBvdGhlciBzZWNyZXQ=", "evt_2xYz", time.Now(), []byte(body))
	for k, v := range header {
		req.Header[k] = v
	}
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	fmt.Println(rec.Code)
	// Output:
	// CALL_INPUT 234 pressed 5 for 250 ms
	// 204
	// 401
}

// ExampleVerify checks a request's signature before trusting its body, for
// a receiver that does not use Handler.
func ExampleVerify() {
	const secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	body := []byte(`{"event":"CALL_ROUTED","call_uuid":"c63fe6f8-0f61-4896-87a2-adc05e06ac36"}`)
	header, _ := receiver.Sign(secret, "evt_1", time.Now(), body)

	fmt.Println(receiver.Verify(secret, header, body, 0))
	fmt.Println(receiver.Verify(secret, header, []byte(`{"event":"CALL_HANGUP"}`), 0))
	// Output:
	// <nil>
	// receiver: verify webhook: no valid signature
}

// ExampleParse reads a webhook body once Verify has accepted it.
func ExampleParse() {
	body := []byte(`{"event":"CALL_HANGUP","call_uuid":"c63fe6f8-0f61-4896-87a2-adc05e06ac36",` +
		`"call_session_uuid":"c63fe6f8-0f61-4896-87a2-adc05e06ac36","caller_id_number":"1001",` +
		`"destination_number":"1002","hangup_cause":"NORMAL_CLEARING","duration":63,"billsec":60,` +
		`"timestamp":"2026-01-27 12:03:33"}`)
	e, err := receiver.Parse(body)
	if err != nil {
		fmt.Println(err)
		return
	}
	at, _ := e.Time(time.UTC)
	fmt.Println(e.Kind, e.CallerIDNumber, "→", e.DestinationNumber, e.HangupCause, e.Billsec, "s billed, ended", at.Format(time.Kitchen))

	_, err = receiver.Parse([]byte(`{"call_uuid":"c63fe6f8"}`))
	fmt.Println(err)
	// Output:
	// CALL_HANGUP 1001 → 1002 NORMAL_CLEARING 60 s billed, ended 12:03PM
	// receiver: parse webhook body: no "event" field
}
