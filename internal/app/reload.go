package app

import (
	"context"
	"fmt"
	"log/slog"
	"reflect"
	"regexp"
	"sync"

	"github.com/switchhook/switchhook/internal/api"
	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/config"
	"github.com/switchhook/switchhook/internal/forwarding"
	"github.com/switchhook/switchhook/internal/pbx"
	"github.com/switchhook/switchhook/internal/store"
)

// notLive are the config keys a reload does not apply: they take effect at
// the next start.
var notLive = []string{
	"timezone", "node", "data_dir", "log", "http", "store", "delivery",
	"sip.enabled", "sip.listen", "sip.domain", "sip.external_ip", "sip.local_networks", "sip.rtp_ports", "sip.auth",
	"freeswitch", "asterisk", "simulator",
}

// reloader re-reads the config file and applies to the running process
// what can change without a restart.
type reloader struct {
	path    string
	st      store.Store
	pbx     *pbx.PBX          // nil: no PBX
	fwd     *forwarding.Table // nil: no PBX
	log     *slog.Logger
	dataDir string

	mu  sync.Mutex
	cur *config.Config
}

// Reload reads and checks the whole file, then applies the extensions and
// their passwords and forwarding, ring groups, IVRs, queues, routes,
// gateways, inbound DIDs, the ring timeout and the declared webhooks; calls
// that are up go on. A file that does not check changes nothing, and the error
// names the key and its line. Keys changed that cannot apply live are
// named in RestartRequired.
func (r *reloader) Reload(ctx context.Context) (*apitypes.ReloadResult, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	next, err := config.Load(r.path)
	if err != nil {
		return nil, invalidConfig(err)
	}
	res := &apitypes.ReloadResult{Applied: []string{}, RestartRequired: []string{}, NotLive: notLive}
	changed := func(a, b any) bool { return !reflect.DeepEqual(a, b) }
	for _, k := range []struct {
		key  string
		a, b any
	}{
		{"timezone", r.cur.Timezone, next.Timezone}, {"node", r.cur.Node, next.Node}, {"data_dir", r.cur.DataDir, next.DataDir},
		{"log", r.cur.Log, next.Log}, {"http", r.cur.HTTP, next.HTTP}, {"store", r.cur.Store, next.Store},
		{"delivery", r.cur.Delivery, next.Delivery}, {"sip.enabled", r.cur.SIP.On(), next.SIP.On()},
		{"freeswitch", r.cur.FreeSWITCH, next.FreeSWITCH}, {"asterisk", r.cur.Asterisk, next.Asterisk},
		{"simulator", r.cur.Simulator, next.Simulator},
	} {
		if changed(k.a, k.b) {
			res.RestartRequired = append(res.RestartRequired, k.key)
		}
	}
	if r.pbx != nil && next.SIP.On() {
		exts := next.Extensions
		if next.DemoExtensions {
			if exts, err = demoExtensions(r.dataDir); err != nil {
				return nil, err
			}
		}
		pc := pbxConfig(next, exts, r.st)
		pc.Forwards = r.fwd
		fc, err := forwardingConfig(next, exts, pc)
		if err != nil {
			return nil, invalidConfig(err)
		}
		restart, err := r.pbx.Reload(pc)
		if err != nil {
			return nil, invalidConfig(fmt.Errorf("sip: %w", err))
		}
		res.RestartRequired = append(res.RestartRequired, restart...)
		r.fwd.Reconfigure(fc)
		for _, k := range []struct {
			key  string
			a, b any
		}{
			{"extensions", r.cur.Extensions, next.Extensions}, {"ring_timeout", r.cur.RingTimeout, next.RingTimeout},
			{"ring_groups", r.cur.RingGroups, next.RingGroups}, {"ivrs", r.cur.IVRs, next.IVRs},
			{"gateways", r.cur.Gateways, next.Gateways}, {"routes", r.cur.Routes, next.Routes}, {"inbound", r.cur.Inbound, next.Inbound},
			{"pickup", r.cur.Pickup, next.Pickup}, {"queues", r.cur.Queues, next.Queues},
			{"sip.media_timeout", r.cur.SIP.MediaTimeout, next.SIP.MediaTimeout},
			{"sip.session_expires", r.cur.SIP.SessionExpires, next.SIP.SessionExpires}, {"sip.min_se", r.cur.SIP.MinSE, next.SIP.MinSE},
		} {
			if changed(k.a, k.b) {
				res.Applied = append(res.Applied, k.key)
			}
		}
	}
	if err := syncEndpoints(ctx, r.st, next, r.log); err != nil {
		return nil, err
	}
	if changed(r.cur.Webhooks, next.Webhooks) {
		res.Applied = append(res.Applied, "webhooks")
	}
	r.cur = next
	r.log.Info("config reloaded", "applied", res.Applied, "restart_required", res.RestartRequired)
	return res, nil
}

// keyRE finds the key a config error names: "config PATH: key: …" or
// "sip: pbx: key: …".
var keyRE = regexp.MustCompile(`^(?:config [^:]+: |sip: (?:pbx: )?)?([a-z_]+(?:\[\d+\])?(?:\.[a-z_]+(?:\[\d+\])?)*)(?: \([^)]*\))?: `)

// invalidConfig tells the API the file is at fault, naming the key.
func invalidConfig(err error) error {
	key := ""
	if m := keyRE.FindStringSubmatch(err.Error()); m != nil {
		key = m[1]
	}
	return &api.InvalidConfig{Key: key, Err: err}
}
