package pbx

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/gateway"
	"github.com/switchhook/switchhook/internal/queue"
)

func TestConfigErrors(t *testing.T) {
	notWAV := filepath.Join(t.TempDir(), "not-a-prompt.wav")
	if err := os.WriteFile(notWAV, []byte("this is no WAV file"), 0o600); err != nil {
		t.Fatal(err)
	}
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
		{"gateway", func(c *Config) { c.Gateways = []gateway.Config{{Name: "carrier", Address: "carrier.example"}} }, `pbx: gateways[0]: gateway carrier: address "carrier.example" is not host:port`},
		{"gateway twice", func(c *Config) {
			c.Gateways = []gateway.Config{{Name: "carrier", Address: "192.0.2.1:5060"}, {Name: "carrier", Address: "192.0.2.2:5060"}}
		}, `gateways[1]: name "carrier" is used already`},
		{"gateway transport", func(c *Config) {
			c.Gateways = []gateway.Config{{Name: "carrier", Address: "192.0.2.1:5060", Transport: "tcp"}}
		}, "gateways[0] (carrier): transport tcp, but the PBX has no tcp listener"},
		{"route", func(c *Config) { c.Routes = []dialplan.OutboundRoute{{Match: "9", Gateway: "carrier"}} }, `routes[0]: gateway "carrier" is not a gateway's name`},
		{"group", func(c *Config) {
			c.RingGroups = []dialplan.RingGroup{{Number: "600", Strategy: dialplan.Simultaneous, Members: []string{"1002"}}}
		}, `ring_groups[0] (600): members[0] "1002" is not an extension`},
		{"prompt missing", func(c *Config) { c.IVRs = []dialplan.IVR{{Number: "700", Prompt: "no-such-prompt.wav"}} }, "pbx: ivrs[0] (700): prompt: open no-such-prompt.wav"},
		{"prompt format", func(c *Config) { c.IVRs = []dialplan.IVR{{Number: "700", Prompt: notWAV}} }, "not-a-prompt.wav: not a WAV file"},
		{"queue music", func(c *Config) { c.Queues = []queue.Config{{Number: "600", Agents: []string{"1001"}, Music: notWAV}} }, "pbx: queues[0] (600): music: "},
		{"queue agent", func(c *Config) { c.Queues = []queue.Config{{Number: "600", Agents: []string{"1009"}}} }, `pbx: queues[0] (600): agents[0] "1009" is not an extension`},
		{"queue overflow", func(c *Config) {
			c.Queues = []queue.Config{{Number: "600", Agents: []string{"1001"}, Overflow: "4242"}}
		}, `pbx: queues[0] (600): overflow "4242" is no number of the dialplan`},
		{"queue strategy", func(c *Config) {
			c.Queues = []queue.Config{{Number: "600", Agents: []string{"1001"}, Strategy: "random"}}
		}, `queues[0] (600): strategy "random" does not exist`},
		{"queue number", func(c *Config) { c.Queues = []queue.Config{{Number: "1001", Agents: []string{"1001"}}} }, "queues[0]: number 1001 is used already by extensions[0]"},
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
	if p.Name() != "pbx" || p.conf().RingTimeout != DefaultRingTimeout || p.domain != "127.0.0.1" {
		t.Errorf("defaults: name %q ring %s domain %q", p.Name(), p.conf().RingTimeout, p.domain)
	}
	if len(p.ListenAddrs()) != 0 {
		t.Error("listen addresses before Run")
	}
}
