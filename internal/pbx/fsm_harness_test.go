package pbx

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
	"github.com/emiago/sipgo/siptest"
	"github.com/pion/rtp"

	"github.com/switchhook/switchhook/internal/events"
	"github.com/switchhook/switchhook/internal/registrar"
)

// The state machine tests drive a PBX without a SIP network: the caller's
// INVITE and in-dialog requests are handed to its handlers with sipgo's
// siptest server transaction recorders, and what the PBX sends (INVITEs to
// callees, CANCEL, ACK, BYE, re-INVITEs) is caught by a siptest
// transaction requester, where the test answers it. Only the media relay
// binds sockets, on loopback.

// fsm is a PBX under test with its wire replaced.
type fsm struct {
	t        *testing.T
	p        *PBX
	events   *collector
	sent     chan sent
	backlog  []sent // sent, not taken by next yet
	invites  []sent // the INVITEs next took, in order
	lastSent sent
	cancel   context.CancelFunc
	done     chan struct{} // closed when every call's owner has returned
}

// sent is a request the PBX sent, and the way to answer it.
type sent struct {
	req *sip.Request
	w   *siptest.ClientTxResponder
}

// newFSM makes a PBX with extensions 1001-1004, 1002 and 1003 registered
// at fake contacts. sink, when not nil, stands between the PBX and the
// collector.
func newFSM(t *testing.T, edit func(*Config), wrap func(events.Sink) events.Sink) *fsm {
	t.Helper()
	binds := registrar.NewMemory()
	cfg := Config{
		Listen:      []string{"udp://127.0.0.1:5060"},
		Domain:      "pbx.test",
		Extensions:  exts,
		RingTimeout: 5 * time.Second,
		Bindings:    binds,
	}
	if edit != nil {
		edit(&cfg)
	}
	level := slog.LevelWarn
	if os.Getenv("PBX_DEBUG") != "" {
		level = slog.LevelDebug
	}
	p, err := New(cfg, slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: level})), nil)
	if err != nil {
		t.Fatal(err)
	}
	f := &fsm{t: t, p: p, events: newCollector(), sent: make(chan sent, 64), done: make(chan struct{})}
	var sink events.Sink = f.events
	if wrap != nil {
		sink = wrap(sink)
	}
	ctx, cancel := context.WithCancel(context.Background())
	f.cancel = cancel
	p.ctx, p.sink, p.sipLog = ctx, sink, p.log
	if p.ua, err = sipgo.NewUA(sipgo.WithUserAgentHostname("pbx.test")); err != nil {
		t.Fatal(err)
	}
	cli, err := sipgo.NewClient(p.ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(5060))
	if err != nil {
		t.Fatal(err)
	}
	cli.TxRequester = &siptest.ClientTxRequesterResponder{OnRequest: func(req *sip.Request, w *siptest.ClientTxResponder) {
		f.sent <- sent{req: req, w: w}
	}}
	contact := sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: "switchhook", Host: "127.0.0.1", Port: 5060, UriParams: sip.NewParams(), Headers: sip.NewParams()}}
	tr := &transport{network: "udp", port: 5060, bound: netip.MustParseAddrPort("127.0.0.1:5060"), ua: &sipgo.DialogUA{Client: cli, ContactHDR: contact, RewriteContact: true}}
	p.transports = map[string]*transport{"udp": tr}
	p.byHost[hostKey{"udp", netip.MustParseAddr("127.0.0.1")}] = tr
	for _, ext := range []string{"1002", "1003"} {
		port := 5072
		if ext == "1003" {
			port = 5073
		}
		b := registrar.Binding{
			Extension: ext, Contact: sip.Uri{Scheme: "sip", User: ext, Host: "127.0.0.1", Port: port},
			Source: fmt.Sprintf("127.0.0.1:%d", port), Transport: "UDP", Expires: time.Now().Add(time.Hour), Created: time.Now(),
		}
		if err := binds.PutBinding(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	t.Cleanup(func() {
		f.shutdown()
		// Whatever the calls still send as they end is answered.
		go func() {
			for {
				select {
				case s := <-f.sent:
					if s.req.Method != sip.ACK {
						s.reply(200, "", "")
					}
				case <-f.done:
					return
				}
			}
		}()
		for _, s := range f.backlog {
			s.reply(200, "", "")
		}
		select {
		case <-f.done:
		case <-time.After(15 * time.Second):
			t.Error("calls still running 15s after shutdown")
		}
		p.ua.Close()
	})
	go func() {
		<-ctx.Done()
		p.shutdown()
		close(f.done)
	}()
	return f
}

// shutdown stops the PBX: every call's owner sees it.
func (f *fsm) shutdown() { f.cancel() }

// next returns the next request the PBX sent with method, in the order it
// sent them; requests of other methods wait for their own next (what the
// PBX sends on different legs at once has no order), ACKs are dropped. It
// fails the test after a few seconds.
func (f *fsm) next(method sip.RequestMethod) sent {
	f.t.Helper()
	if method == sip.INVITE {
		defer func() { f.invites = append(f.invites, f.lastSent) }()
	}
	for i, s := range f.backlog {
		if s.req.Method == method {
			f.backlog = append(f.backlog[:i], f.backlog[i+1:]...)
			f.lastSent = s
			return s
		}
	}
	deadline := time.After(5 * time.Second)
	for {
		select {
		case s := <-f.sent:
			switch s.req.Method {
			case method:
				f.lastSent = s
				return s
			case sip.ACK:
			default:
				f.backlog = append(f.backlog, s)
			}
		case <-deadline:
			f.t.Fatalf("PBX sent no %s within 5s (sent meanwhile: %v)", method, f.backlog)
		}
	}
}

// quiet fails the test if the PBX sent, or sends within d, anything but
// ACKs that no next took.
func (f *fsm) quiet(d time.Duration) {
	f.t.Helper()
	deadline := time.After(d)
	for len(f.backlog) == 0 {
		select {
		case s := <-f.sent:
			if s.req.Method != sip.ACK {
				f.backlog = append(f.backlog, s)
			}
		case <-deadline:
			return
		}
	}
	f.t.Fatalf("PBX sent %s unexpectedly", f.backlog[0].req.StartLine())
}

// reply answers a request the PBX sent with code; the callee's dialog tag
// is tag, and a 2xx or 183 carries sdp.
func (s sent) reply(code int, tag string, sdp string) *sip.Response {
	res := sip.NewResponseFromRequest(s.req, code, fmt.Sprintf("Status %d", code), nil)
	if tag != "" {
		res.ReplaceHeader(&sip.ToHeader{Address: s.req.To().Address, Params: tagParam(tag)})
	}
	if code >= 200 && code < 300 || code == 183 {
		res.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: s.req.Recipient.User, Host: "127.0.0.1", Port: 5072}})
	}
	if sdp != "" {
		res.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		res.SetBody([]byte(sdp))
	}
	s.w.Receive(res)
	return res
}

// party is one SIP phone of a test call and its RTP endpoint.
type party struct {
	t     *testing.T
	f     *fsm
	ext   string
	rtp   *net.UDPConn
	tag   string
	cseq  uint32
	got   sync.Mutex
	count int
}

func (f *fsm) newParty(ext string) *party {
	f.t.Helper()
	conn, err := net.ListenUDP("udp", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		f.t.Fatal(err)
	}
	pt := &party{t: f.t, f: f, ext: ext, rtp: conn, tag: sip.GenerateTagN(8), cseq: 1}
	f.t.Cleanup(func() { conn.Close() })
	go func() {
		buf := make([]byte, 1500)
		for {
			if _, _, err := conn.ReadFromUDP(buf); err != nil {
				return
			}
			pt.got.Lock()
			pt.count++
			pt.got.Unlock()
		}
	}()
	return pt
}

// sdp is the party's description, with extra attribute lines.
func (pt *party) sdp(extra ...string) string {
	port := pt.rtp.LocalAddr().(*net.UDPAddr).Port
	lines := []string{
		"v=0", "o=- 1 1 IN IP4 127.0.0.1", "s=-", "c=IN IP4 127.0.0.1", "t=0 0",
		fmt.Sprintf("m=audio %d RTP/AVP 0 101", port), "a=rtpmap:0 PCMU/8000", "a=rtpmap:101 telephone-event/8000",
	}
	return strings.Join(append(lines, extra...), "\r\n") + "\r\n"
}

// received is how many RTP packets reached the party.
func (pt *party) received() int {
	pt.got.Lock()
	defer pt.got.Unlock()
	return pt.count
}

// sendRTP sends n PCMU packets, or one RFC 4733 end packet of digit d (0-9)
// three times when d >= 0, to addr.
func (pt *party) sendRTP(addr netip.AddrPort, seq uint16, n int) {
	pt.t.Helper()
	for i := range n {
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 0, SequenceNumber: seq + uint16(i), Timestamp: uint32(i) * 160, SSRC: 1}, Payload: make([]byte, 160)}
		b, _ := pkt.Marshal()
		if _, err := pt.rtp.WriteToUDPAddrPort(b, addr); err != nil {
			pt.t.Fatal(err)
		}
	}
}

func (pt *party) sendDigit(addr netip.AddrPort, seq uint16, ts uint32, digit byte) {
	pt.t.Helper()
	for i := range 3 {
		// RFC 4733 §2.3: event, E bit, volume, duration 800 (100 ms).
		payload := []byte{digit, 0x80 | 10, 0x03, 0x20}
		pkt := rtp.Packet{Header: rtp.Header{Version: 2, PayloadType: 101, SequenceNumber: seq + uint16(i), Timestamp: ts, SSRC: 1}, Payload: payload}
		b, _ := pkt.Marshal()
		if _, err := pt.rtp.WriteToUDPAddrPort(b, addr); err != nil {
			pt.t.Fatal(err)
		}
	}
}

// call is the caller's side of one test call.
type call1 struct {
	*party
	invite *sip.Request
	tx     *siptest.ServerTxRecorder
	toTag  string // the PBX's tag, once it gave one
	done   chan struct{}
}

// dial sends the caller's INVITE for number, as extension pt.ext
// authenticated, and runs the call's owner as the PBX's handler would.
func (pt *party) dial(number string, hdrs ...sip.Header) *call1 {
	pt.t.Helper()
	req := sip.NewRequest(sip.INVITE, sip.Uri{Scheme: "sip", User: number, Host: "127.0.0.1", Port: 5060})
	req.AppendHeader(sip.NewHeader("Via", "SIP/2.0/UDP 127.0.0.1:5071;branch="+sip.GenerateBranch()))
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: pt.ext, Host: "pbx.test"}, Params: tagParam(pt.tag)})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: number, Host: "pbx.test"}, Params: sip.NewParams()})
	req.AppendHeader(sip.NewHeader("Call-ID", "call-"+pt.tag))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: 1, MethodName: sip.INVITE})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: pt.ext, Host: "127.0.0.1", Port: 5071}})
	req.AppendHeader(sip.NewHeader("Max-Forwards", "70"))
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.SetBody([]byte(pt.sdp()))
	req.SetSource("127.0.0.1:5071")
	req.SetTransport("UDP")
	tx := siptest.NewServerTxRecorder(req)
	c := &call1{party: pt, invite: req, tx: tx, done: make(chan struct{})}
	p := pt.f.p
	route, ok := p.conf().plan.Route(number)
	if !ok {
		pt.t.Fatalf("number %s is not routed", number)
	}
	offer, ok := readOffer(req, tx)
	if !ok {
		pt.t.Fatal("offer refused")
	}
	go func() {
		defer close(c.done)
		p.startCall(req, tx, nil, offer, pt.ext, "", number, route, events.Internal)
		tx.TerminateGracefully()
	}()
	return c
}

// response waits for the caller to get a response with code and returns it.
func (c *call1) response(code int) *sip.Response {
	c.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for time.Now().Before(deadline) {
		for _, r := range c.tx.Result() {
			if r.StatusCode == code {
				if tag, ok := r.To().Params.Get("tag"); ok {
					c.toTag = tag
				}
				return r
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	c.t.Fatalf("caller got no %d; got %v", code, codes(c.tx.Result()))
	return nil
}

func codes(rs []*sip.Response) []int {
	out := make([]int, 0, len(rs))
	for _, r := range rs {
		out = append(out, r.StatusCode)
	}
	return out
}

// request makes an in-dialog request of the caller's dialog.
func (c *call1) request(method sip.RequestMethod, body string) *sip.Request {
	c.cseq++
	req := sip.NewRequest(method, sip.Uri{Scheme: "sip", User: "switchhook", Host: "127.0.0.1", Port: 5060})
	req.AppendHeader(sip.NewHeader("Via", "SIP/2.0/UDP 127.0.0.1:5071;branch="+sip.GenerateBranch()))
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: c.ext, Host: "pbx.test"}, Params: tagParam(c.tag)})
	req.AppendHeader(&sip.ToHeader{Address: c.invite.To().Address, Params: tagParam(c.toTag)})
	req.AppendHeader(sip.NewHeader("Call-ID", c.invite.CallID().Value()))
	cseq := c.cseq
	if method == sip.ACK {
		cseq = 1
	}
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: c.ext, Host: "127.0.0.1", Port: 5071}})
	if body != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody([]byte(body))
	}
	req.SetSource("127.0.0.1:5071")
	req.SetTransport("UDP")
	return req
}

// ack acknowledges the PBX's 2xx.
func (c *call1) ack() {
	c.f.p.handleAck(c.request(sip.ACK, ""), nil)
}

// send hands an in-dialog request of the caller to the PBX and returns
// its recorder, answered once send returns.
func (f *fsm) send(req *sip.Request) *siptest.ServerTxRecorder {
	tx := siptest.NewServerTxRecorder(req)
	f.p.handleInDialog(req, tx)
	return tx
}

// finalCode is the final response a recorder holds, 0 without one.
func finalCode(tx *siptest.ServerTxRecorder) int {
	for _, r := range tx.Result() {
		if r.StatusCode >= 200 {
			return r.StatusCode
		}
	}
	return 0
}

// calleeRequest makes an in-dialog request from the callee of the INVITE
// inv the PBX sent, answered with calleeTag.
func calleeRequest(inv *sip.Request, calleeTag string, method sip.RequestMethod, cseq uint32, body string) *sip.Request {
	req := sip.NewRequest(method, inv.Contact().Address)
	req.AppendHeader(sip.NewHeader("Via", "SIP/2.0/UDP 127.0.0.1:5072;branch="+sip.GenerateBranch()))
	from, _ := inv.From().Params.Get("tag")
	req.AppendHeader(&sip.FromHeader{Address: inv.To().Address, Params: tagParam(calleeTag)})
	req.AppendHeader(&sip.ToHeader{Address: inv.From().Address, Params: tagParam(from)})
	req.AppendHeader(sip.NewHeader("Call-ID", inv.CallID().Value()))
	req.AppendHeader(&sip.CSeqHeader{SeqNo: cseq, MethodName: method})
	req.AppendHeader(&sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: inv.Recipient.User, Host: "127.0.0.1", Port: 5072}})
	if body != "" {
		req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
		req.SetBody([]byte(body))
	}
	req.SetSource("127.0.0.1:5072")
	req.SetTransport("UDP")
	return req
}

// relayAddr is the PBX's media address in an SDP body.
func relayAddr(t *testing.T, body []byte) netip.AddrPort {
	t.Helper()
	var ip, port string
	for _, l := range strings.Split(string(body), "\n") {
		l = strings.TrimSpace(l)
		if v, ok := strings.CutPrefix(l, "c=IN IP4 "); ok {
			ip = v
		}
		if v, ok := strings.CutPrefix(l, "m=audio "); ok {
			port, _, _ = strings.Cut(v, " ")
		}
	}
	ap, err := netip.ParseAddrPort(ip + ":" + port)
	if err != nil {
		t.Fatalf("no media address in %q", body)
	}
	return ap
}

// kinds lists the kinds of evs.
func kinds(evs []events.Event) []events.Kind {
	out := make([]events.Kind, 0, len(evs))
	for _, e := range evs {
		out = append(out, e.Kind)
	}
	return out
}

// waitEvents waits until n events are out and returns them.
func (f *fsm) waitEvents(n int) []events.Event {
	f.t.Helper()
	deadline := time.After(10 * time.Second)
	for len(f.events.all()) < n {
		select {
		case <-f.events.notify:
		case <-time.After(10 * time.Millisecond):
		case <-deadline:
			f.t.Fatalf("%d of %d events:\n%s", len(f.events.all()), n, dump(f.events.all()))
		}
	}
	return f.events.all()
}

// wantKinds checks the kinds of the call's events, in order.
func (f *fsm) wantKinds(want ...events.Kind) []events.Event {
	f.t.Helper()
	evs := f.waitEvents(len(want))
	time.Sleep(50 * time.Millisecond)
	evs = f.events.all()
	if fmt.Sprint(kinds(evs)) != fmt.Sprint(want) {
		f.t.Fatalf("events %v, want %v\n%s", kinds(evs), want, dump(evs))
	}
	return evs
}

// hangupOf is the CALL_HANGUP of evs.
func hangupOf(t *testing.T, evs []events.Event) events.Hangup {
	t.Helper()
	e := evs[len(evs)-1]
	if e.Kind != events.CallHangup || e.Hangup == nil {
		t.Fatalf("last event %s, want CALL_HANGUP", e.Kind)
	}
	return *e.Hangup
}

func tagParam(tag string) sip.HeaderParams {
	p := sip.NewParams()
	p.Add("tag", tag)
	return p
}
