package signature

import (
	"errors"
	"testing"
	"time"
)

// The Standard Webhooks specification's published test vector.
func TestSignMatchesSpecificationVector(t *testing.T) {
	key, err := Key("whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw")
	if err != nil {
		t.Fatal(err)
	}
	got := Sign(key, "msg_p5jXN8AQM9LWM0D4loKWxJek", time.Unix(1614265330, 0), []byte(`{"test": 2432232314}`))
	if want := "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="; got != want {
		t.Fatalf("Sign = %s, want %s", got, want)
	}
}

func TestVerify(t *testing.T) {
	oldKey, _ := Key(NewSecret())
	newKey, _ := Key(NewSecret())
	now := time.Unix(1_800_000_000, 0)
	body := []byte(`{"event":"CALL_ANSWER"}`)
	hdr := Header([][]byte{newKey, oldKey}, "evt_1", now, body)
	for name, key := range map[string][]byte{"new": newKey, "old": oldKey} {
		if err := Verify(key, "evt_1", "1800000000", hdr, body, now, 5*time.Minute); err != nil {
			t.Errorf("%s key: %v", name, err)
		}
	}
	cases := []struct {
		name, id, ts, sig string
		body              []byte
		want              error
	}{
		{"tampered body", "evt_1", "1800000000", hdr, []byte(`{}`), ErrNoSignature},
		{"other id", "evt_2", "1800000000", hdr, body, ErrNoSignature},
		{"stale", "evt_1", "1799999000", Header([][]byte{newKey}, "evt_1", time.Unix(1799999000, 0), body), body, ErrStale},
		{"bad timestamp", "evt_1", "soon", hdr, body, ErrBadTimestamp},
		{"no id", "", "1800000000", hdr, body, ErrMissingHeader},
		{"unknown version only", "evt_1", "1800000000", "v2,abc", body, ErrNoSignature},
	}
	for _, c := range cases {
		if err := Verify(newKey, c.id, c.ts, c.sig, c.body, now, 5*time.Minute); !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
}

func TestKeyRejectsBadSecret(t *testing.T) {
	for _, s := range []string{"whsec_", "whsec_!!!"} {
		if _, err := Key(s); err == nil {
			t.Errorf("Key(%q) = nil error", s)
		}
	}
}
