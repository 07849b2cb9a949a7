package app

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/emiago/sipgo/sip"

	"github.com/switchhook/switchhook/internal/registrar"
	"github.com/switchhook/switchhook/internal/store"
	"github.com/switchhook/switchhook/internal/store/postgres"
	"github.com/switchhook/switchhook/internal/store/postgres/pgtest"
	"github.com/switchhook/switchhook/internal/store/sqlite"
)

// register is a REGISTER of ext from port, as a phone refreshing its
// registration sends it.
func register(ext string, port, cseq int) *sip.Request {
	req := sip.NewRequest(sip.REGISTER, sip.Uri{Scheme: "sip", Host: "127.0.0.1"})
	req.AppendHeader(sip.NewHeader("Via", fmt.Sprintf("SIP/2.0/UDP 127.0.0.1:%d;branch=z9hG4bK%d", port, cseq)))
	req.AppendHeader(sip.NewHeader("From", "<sip:"+ext+"@127.0.0.1>;tag=a"))
	req.AppendHeader(sip.NewHeader("To", "<sip:"+ext+"@127.0.0.1>"))
	req.AppendHeader(sip.NewHeader("Call-ID", "reg-"+ext))
	req.AppendHeader(sip.NewHeader("CSeq", fmt.Sprintf("%d REGISTER", cseq)))
	req.AppendHeader(sip.NewHeader("Contact", fmt.Sprintf("<sip:%s@127.0.0.1:%d>", ext, port)))
	req.AppendHeader(sip.NewHeader("Expires", "3600"))
	req.SetSource(fmt.Sprintf("127.0.0.1:%d", port))
	req.SetTransport("UDP")
	return req
}

// BenchmarkRegister measures a REGISTER refresh and the lookup of a call
// to the phone, with the registrations in memory and kept in each store.
func BenchmarkRegister(b *testing.B) {
	stores := map[string]func(b *testing.B) registrar.Bindings{
		"memory": func(*testing.B) registrar.Bindings { return registrar.NewMemory() },
		"sqlite": func(b *testing.B) registrar.Bindings {
			st, err := sqlite.Open(context.Background(), filepath.Join(b.TempDir(), "s.db"))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return migrated(b, st)
		},
	}
	if os.Getenv("SWITCHHOOK_TEST_POSTGRES") != "" {
		stores["postgres"] = func(b *testing.B) registrar.Bindings {
			st, err := postgres.Open(context.Background(), pgtest.DSN(b))
			if err != nil {
				b.Fatal(err)
			}
			b.Cleanup(func() { st.Close() })
			return migrated(b, st)
		}
	}
	for name, open := range stores {
		b.Run(name, func(b *testing.B) {
			r := registrar.New(registrar.Config{Bindings: open(b)})
			const phones = 1000
			for i := range phones {
				r.Register(register(fmt.Sprint(2000+i), 10000+i, 1), fmt.Sprint(2000+i))
			}
			b.Run("refresh", func(b *testing.B) {
				for i := range b.N {
					ext := fmt.Sprint(2000 + i%phones)
					if res := r.Register(register(ext, 10000+i%phones, 2+i), ext); res.StatusCode != 200 {
						b.Fatal(res.String())
					}
				}
			})
			b.Run("lookup", func(b *testing.B) {
				for i := range b.N {
					if len(r.Lookup(fmt.Sprint(2000+i%phones))) != 1 {
						b.Fatal("not registered")
					}
				}
			})
		})
	}
}

func migrated(b *testing.B, st store.Store) registrar.Bindings {
	b.Helper()
	if err := st.Migrate(context.Background()); err != nil {
		b.Fatal(err)
	}
	return storeBindings{st: st, node: "bench"}
}
