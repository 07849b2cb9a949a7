package pbx

import (
	"strings"
	"testing"
	"time"
)

func TestConfigErrors(t *testing.T) {
	good := func() Config {
		return Config{Listen: []string{"udp://127.0.0.1:0"}, Extensions: []Extension{{Number: "1001", Password: "pw"}}}
	}
	cases := []struct {
		name string
		edit func(*Config)
		want string
	}{
		{"no listener", func(c *Config) { c.Listen = nil }, "listen: no address"},
		{"not a URL", func(c *Config) { c.Listen = []string{"127.0.0.1:5060"} }, `listen[0]: "127.0.0.1:5060" is not a URL`},
		{"transport", func(c *Config) { c.Listen = []string{"tls://127.0.0.1:5061"} }, `transport "tls" is not supported`},
		{"host name", func(c *Config) { c.Listen = []string{"udp://pbx.example:5060"} }, "want an IP address and a port"},
		{"external ip", func(c *Config) { c.ExternalIP = "pbx.example" }, `external_ip "pbx.example"`},
		{"one rtp bound", func(c *Config) { c.RTPPortMin = 10000 }, "give both bounds"},
		{"rtp range", func(c *Config) { c.RTPPortMin, c.RTPPortMax = 20000, 10000 }, "rtp port range 20000-10000"},
		{"ring timeout", func(c *Config) { c.RingTimeout = -time.Second }, "ring_timeout -1s is negative"},
		{"empty number", func(c *Config) { c.Extensions[0].Number = "" }, "extensions[0]: number"},
		{"bad number", func(c *Config) { c.Extensions[0].Number = "10 01" }, `number "10 01"`},
		{"no password", func(c *Config) { c.Extensions[0].Password = "" }, "extensions[0] (1001): password is empty"},
		{"duplicate", func(c *Config) { c.Extensions = append(c.Extensions, c.Extensions[0]) }, "extensions[1]: number 1001 is defined twice"},
	}
	for _, c := range cases {
		cfg := good()
		c.edit(&cfg)
		_, err := New(cfg, nil, nil)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one containing %q", c.name, err, c.want)
		}
	}
	p, err := New(good(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if p.Name() != "pbx" || p.cfg.RingTimeout != DefaultRingTimeout || p.domain != "127.0.0.1" {
		t.Errorf("defaults: name %q ring %s domain %q", p.Name(), p.cfg.RingTimeout, p.domain)
	}
	if len(p.ListenAddrs()) != 0 {
		t.Error("listen addresses before Run")
	}
}
