// Package testua is the end-to-end tests' own SIP phone, for what SIPp
// cannot script: one phone with two dialogs at once (a call on hold and a
// consultation call), and a REFER naming the other dialog in a Replaces. It
// registers with digest credentials, answers, calls, holds, sends REFER, and
// records the NOTIFYs and BYEs it gets. It sends no RTP: its SDP names a
// port nothing reads, which the PBX's relay needs no more than that.
package testua

import (
	"context"
	"fmt"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// Phone is one extension's phone on a UDP port of 127.0.0.1.
type Phone struct {
	Ext      string
	password string
	pbx      string // host:port
	domain   string
	port     int
	ua       *sipgo.UserAgent
	dua      *sipgo.DialogUA
	conn     *net.UDPConn

	incoming chan *sipgo.DialogServerSession

	mu       sync.Mutex
	servers  map[string]*sipgo.DialogServerSession // by Call-ID
	clients  map[string]*sipgo.DialogClientSession // by Call-ID
	notifies []*sip.Request
	byes     map[string]bool // Call-IDs of dialogs the PBX ended
	changed  chan struct{}   // closed and replaced at each NOTIFY or BYE
}

// New starts a phone for ext, password, that registers with the PBX at
// pbx (host:port) in domain; it stops when ctx ends.
func New(ctx context.Context, ext, password, pbx, domain string) (*Phone, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("phone %s: listen: %w", ext, err)
	}
	port := conn.LocalAddr().(*net.UDPAddr).Port
	ua, err := sipgo.NewUA(sipgo.WithUserAgent("switchhook-testua"), sipgo.WithUserAgentHostname("127.0.0.1"))
	if err != nil {
		conn.Close()
		return nil, err
	}
	cli, err := sipgo.NewClient(ua, sipgo.WithClientHostname("127.0.0.1"), sipgo.WithClientPort(port), sipgo.WithClientConnectionAddr(conn.LocalAddr().String()))
	if err != nil {
		conn.Close()
		return nil, err
	}
	p := &Phone{
		Ext: ext, password: password, pbx: pbx, domain: domain, port: port, ua: ua, conn: conn,
		incoming: make(chan *sipgo.DialogServerSession, 4),
		servers:  map[string]*sipgo.DialogServerSession{}, clients: map[string]*sipgo.DialogClientSession{},
		byes: map[string]bool{}, changed: make(chan struct{}),
	}
	p.dua = &sipgo.DialogUA{Client: cli, ContactHDR: sip.ContactHeader{Address: sip.Uri{Scheme: "sip", User: ext, Host: "127.0.0.1", Port: port}}}
	srv, err := sipgo.NewServer(ua)
	if err != nil {
		conn.Close()
		return nil, err
	}
	srv.OnInvite(p.onInvite)
	srv.OnAck(p.onAck)
	srv.OnBye(p.onBye)
	srv.OnNotify(p.onNotify)
	go ua.TransportLayer().ServeUDP(conn)
	// What the phone sends goes out of its listening socket, which sipgo
	// must be serving first or it binds the address a second time.
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(5 * time.Millisecond) {
		if c, err := ua.TransportLayer().GetConnection("udp", conn.LocalAddr().String()); err == nil && c != nil {
			c.TryClose()
			break
		}
	}
	go func() {
		<-ctx.Done()
		conn.Close()
		ua.Close()
	}()
	return p, nil
}

// sdp is the phone's description: PCMU and telephone-event on port+2.
func (p *Phone) sdp(direction string) []byte {
	return []byte("v=0\r\no=testua 1 " + strconv.FormatInt(time.Now().UnixNano()%1e9, 10) + " IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n" +
		"m=audio " + strconv.Itoa(p.port+2) + " RTP/AVP 0 101\r\na=rtpmap:0 PCMU/8000\r\na=rtpmap:101 telephone-event/8000\r\na=" + direction + "\r\n")
}

func (p *Phone) uri(user string) sip.Uri {
	host, port, _ := net.SplitHostPort(p.pbx)
	n, _ := strconv.Atoi(port)
	return sip.Uri{Scheme: "sip", User: user, Host: host, Port: n}
}

// tagged is the parameters of a new From header: a tag of its own.
func tagged() sip.HeaderParams {
	ps := sip.NewParams()
	ps.Add("tag", sip.GenerateTagN(8))
	return ps
}

// Register registers the phone's contact for a minute.
func (p *Phone) Register(ctx context.Context) error {
	req := sip.NewRequest(sip.REGISTER, p.uri(""))
	req.SetDestination(p.pbx)
	aor := sip.Uri{Scheme: "sip", User: p.Ext, Host: p.domain}
	req.AppendHeader(&sip.FromHeader{Address: aor, Params: tagged()})
	req.AppendHeader(&sip.ToHeader{Address: aor, Params: sip.NewParams()})
	req.AppendHeader(&p.dua.ContactHDR)
	req.AppendHeader(sip.NewHeader("Expires", "60"))
	res, err := p.dua.Client.Do(ctx, req)
	if err == nil && (res.StatusCode == 401 || res.StatusCode == 407) {
		res, err = p.dua.Client.DoDigestAuth(ctx, req, res, sipgo.DigestAuth{Username: p.Ext, Password: p.password})
	}
	if err != nil {
		return fmt.Errorf("register %s: %w", p.Ext, err)
	}
	if res.StatusCode != 200 {
		return fmt.Errorf("register %s: %s", p.Ext, res.StartLine())
	}
	return nil
}

func (p *Phone) onInvite(req *sip.Request, tx sip.ServerTransaction) {
	if _, ok := req.To().Params.Get("tag"); ok {
		// A re-INVITE: whatever it offers, the phone takes it.
		tx.Respond(sip.NewSDPResponseFromRequest(req, p.sdp("sendrecv")))
		return
	}
	sess, err := p.dua.ReadInvite(req, tx)
	if err != nil {
		tx.Respond(sip.NewResponseFromRequest(req, 400, "Bad Request", nil))
		return
	}
	p.mu.Lock()
	p.servers[req.CallID().Value()] = sess
	p.mu.Unlock()
	p.incoming <- sess
	<-sess.Context().Done()
}

func (p *Phone) onAck(req *sip.Request, tx sip.ServerTransaction) {
	p.mu.Lock()
	sess := p.servers[req.CallID().Value()]
	p.mu.Unlock()
	if sess != nil {
		sess.ReadAck(req, tx)
	}
}

func (p *Phone) onBye(req *sip.Request, tx sip.ServerTransaction) {
	id := req.CallID().Value()
	p.mu.Lock()
	srv, cli := p.servers[id], p.clients[id]
	p.mu.Unlock()
	switch {
	case srv != nil:
		srv.ReadBye(req, tx)
	case cli != nil:
		cli.ReadBye(req, tx)
	default:
		tx.Respond(sip.NewResponseFromRequest(req, 481, "Call/Transaction Does Not Exist", nil))
		return
	}
	p.mu.Lock()
	p.byes[id] = true
	p.signal()
	p.mu.Unlock()
}

func (p *Phone) onNotify(req *sip.Request, tx sip.ServerTransaction) {
	tx.Respond(sip.NewResponseFromRequest(req, 200, "OK", nil))
	p.mu.Lock()
	p.notifies = append(p.notifies, req)
	p.signal()
	p.mu.Unlock()
}

// signal wakes the waiters; p.mu is held.
func (p *Phone) signal() {
	close(p.changed)
	p.changed = make(chan struct{})
}

// Answer waits for a call and answers it.
func (p *Phone) Answer(ctx context.Context) (*sipgo.DialogServerSession, error) {
	select {
	case sess := <-p.incoming:
		if err := sess.RespondSDP(p.sdp("sendrecv")); err != nil {
			return nil, fmt.Errorf("answer: %w", err)
		}
		return sess, nil
	case <-ctx.Done():
		return nil, fmt.Errorf("answer: no call came: %w", ctx.Err())
	}
}

// Call dials number, answering the PBX's digest challenge, and waits until
// it is answered; hdrs are added to the INVITE.
func (p *Phone) Call(ctx context.Context, number string, hdrs ...sip.Header) (*sipgo.DialogClientSession, error) {
	req := sip.NewRequest(sip.INVITE, p.uri(number))
	req.SetDestination(p.pbx)
	req.AppendHeader(&sip.FromHeader{Address: sip.Uri{Scheme: "sip", User: p.Ext, Host: p.domain}, Params: tagged()})
	req.AppendHeader(&sip.ToHeader{Address: sip.Uri{Scheme: "sip", User: number, Host: p.domain}, Params: sip.NewParams()})
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	for _, h := range hdrs {
		req.AppendHeader(h)
	}
	req.SetBody(p.sdp("sendrecv"))
	sess, err := p.dua.WriteInvite(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("call %s: %w", number, err)
	}
	if err := sess.WaitAnswer(ctx, sipgo.AnswerOptions{Username: p.Ext, Password: p.password}); err != nil {
		return nil, fmt.Errorf("call %s: %w", number, err)
	}
	if err := sess.Ack(ctx); err != nil {
		return nil, fmt.Errorf("call %s: ack: %w", number, err)
	}
	p.mu.Lock()
	p.clients[sess.InviteRequest.CallID().Value()] = sess
	p.mu.Unlock()
	return sess, nil
}

// Dialog is a call of the phone: one it answered
// (*sipgo.DialogServerSession) or placed (*sipgo.DialogClientSession).
type Dialog interface {
	Do(ctx context.Context, req *sip.Request) (*sip.Response, error)
	WriteRequest(req *sip.Request) error
}

// remote is where requests in d go: the PBX's Contact.
func remote(d Dialog) sip.Uri {
	switch d := d.(type) {
	case *sipgo.DialogServerSession:
		return *d.InviteRequest.Contact().Address.Clone()
	case *sipgo.DialogClientSession:
		if ct := d.InviteResponse.Contact(); ct != nil {
			return *ct.Address.Clone()
		}
		return *d.InviteRequest.Recipient.Clone()
	}
	panic(fmt.Sprintf("testua: %T is no dialog of a phone", d))
}

// Hold puts the call of d on hold: a re-INVITE offering sendonly.
func (p *Phone) Hold(ctx context.Context, d Dialog) error {
	req := sip.NewRequest(sip.INVITE, remote(d))
	req.AppendHeader(sip.NewHeader("Content-Type", "application/sdp"))
	req.AppendHeader(&p.dua.ContactHDR)
	req.SetBody(p.sdp("sendonly"))
	res, err := d.Do(ctx, req)
	if err != nil {
		return fmt.Errorf("hold: %w", err)
	}
	if !res.IsSuccess() {
		return fmt.Errorf("hold: %s", res.StartLine())
	}
	return d.WriteRequest(sip.NewRequest(sip.ACK, remote(d)))
}

// Refer sends a REFER with Refer-To referTo in the dialog of d and returns
// the PBX's answer.
func (p *Phone) Refer(ctx context.Context, d Dialog, referTo string) (*sip.Response, error) {
	req := sip.NewRequest(sip.REFER, remote(d))
	req.AppendHeader(sip.NewHeader("Refer-To", referTo))
	req.AppendHeader(sip.NewHeader("Referred-By", "<sip:"+p.Ext+"@"+p.domain+">"))
	req.AppendHeader(&p.dua.ContactHDR)
	return d.Do(ctx, req)
}

// Replaces is the Replaces value naming the dialog of a call the phone
// placed, as the PBX (the recipient) sees it: to-tag the PBX's, from-tag
// the phone's (RFC 3891 §3).
func Replaces(d *sipgo.DialogClientSession) string {
	to, _ := d.InviteResponse.To().Params.Get("tag")
	from, _ := d.InviteRequest.From().Params.Get("tag")
	return d.InviteRequest.CallID().Value() + ";to-tag=" + to + ";from-tag=" + from
}

// Notifies returns the NOTIFYs received so far.
func (p *Phone) Notifies() []*sip.Request {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]*sip.Request(nil), p.notifies...)
}

// WaitFor waits until cond holds of the NOTIFYs and BYEs received.
func (p *Phone) WaitFor(ctx context.Context, what string, cond func(notifies []*sip.Request, byes map[string]bool) bool) error {
	for {
		p.mu.Lock()
		ok := cond(p.notifies, p.byes)
		ch := p.changed
		p.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", what, ctx.Err())
		}
	}
}

// ReplacesAnswered is the Replaces value naming the dialog of a call the
// phone answered, as the PBX (the recipient) sees it: to-tag the PBX's
// (its From tag), from-tag the phone's.
func ReplacesAnswered(d *sipgo.DialogServerSession) string {
	pbx, _ := d.InviteRequest.From().Params.Get("tag")
	own, _ := d.InviteResponse.To().Params.Get("tag")
	return d.InviteRequest.CallID().Value() + ";to-tag=" + pbx + ";from-tag=" + own
}
