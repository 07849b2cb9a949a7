package pbx

import (
	"slices"
	"strings"
	"testing"
	"time"
)

// Reload serves new extensions and passwords to the next requests, names
// what needs a restart, and a config that does not check changes nothing.
func TestReload(t *testing.T) {
	t.Parallel()
	tp := startPBX(t, nil)
	w := newWire(t, tp.udp)
	uri := "sip:pbx.test"
	register := func(user, password string) string {
		t.Helper()
		res := w.send(w.request("REGISTER", uri, user, user, nil, ""), 2*time.Second)
		if !strings.HasPrefix(status(res), "SIP/2.0 401") {
			t.Fatalf("REGISTER %s not challenged: %s", user, status(res))
		}
		auth := authorize(t, res, "MD5", "REGISTER", uri, user, password)
		return status(w.send(w.request("REGISTER", uri, user, user, []string{auth}, ""), 2*time.Second))
	}
	cfg := Config{
		Listen: []string{"udp://127.0.0.1:0", "tcp://127.0.0.1:0"}, Domain: "pbx.test", RingTimeout: 5 * time.Second,
		Extensions: append(slices.Clone(exts), Extension{Number: "1005", Password: "pw-1005", Name: "Eve"}),
	}
	cfg.Extensions[0].Password = "new-pw-1001"

	bad := cfg
	bad.Extensions = append(slices.Clone(cfg.Extensions), Extension{Number: "1005", Password: "again"})
	if _, err := tp.Reload(bad); err == nil || !strings.Contains(err.Error(), "defined twice") {
		t.Fatalf("bad config: %v", err)
	}
	if got := register("1005", "pw-1005"); !strings.HasPrefix(got, "SIP/2.0 403") {
		t.Errorf("1005 after a refused reload: %s", got)
	}

	moved := cfg
	moved.Listen = []string{"udp://127.0.0.1:5"}
	restart, err := tp.Reload(moved)
	if err != nil || !slices.Equal(restart, []string{"sip.listen"}) {
		t.Fatalf("Reload = %v, %v; want sip.listen to need a restart", restart, err)
	}
	if got := register("1005", "pw-1005"); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("1005 added: %s", got)
	}
	if got := register("1001", "pw-1001"); !strings.HasPrefix(got, "SIP/2.0 403") {
		t.Errorf("1001's old password: %s", got)
	}
	w = newWireFrom(t, []byte{127, 0, 0, 3}, tp.udp) // the failure slowed the first address down
	if got := register("1001", "new-pw-1001"); !strings.HasPrefix(got, "SIP/2.0 200") {
		t.Errorf("1001's new password: %s", got)
	}
	if got := tp.ListenAddrs(); !slices.Contains(got, "udp://"+tp.udp) {
		t.Errorf("listeners moved: %v", got)
	}
}
