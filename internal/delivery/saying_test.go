package delivery

import "testing"

func TestSaying(t *testing.T) {
	t.Parallel()
	for body, want := range map[string]string{
		"receiver: verify: no valid signature\n": ": receiver: verify: no valid signature",
		"":                                       "",
		"  \n":                                   "",
		"<html><body>500</body></html>":          "",
		"first line\nsecond line":                ": first line",
		"xé":                                     ": xé",
	} {
		if got := saying(body); got != want {
			t.Errorf("saying(%q) = %q, want %q", body, got, want)
		}
	}
}
