package api

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/switchhook/switchhook/internal/api/apitypes"
	"github.com/switchhook/switchhook/internal/dialplan"
	"github.com/switchhook/switchhook/internal/forwarding"
)

// Forwarding reads and changes the extensions' call forwarding; a
// *forwarding.Table is one.
type Forwarding interface {
	List(ctx context.Context) ([]forwarding.Setting, error)
	Get(ctx context.Context, number string) (forwarding.Setting, error)
	Set(ctx context.Context, number string, f dialplan.Forward) (forwarding.Setting, error)
	Reset(ctx context.Context, number string) (forwarding.Setting, error)
}

// maxNoAnswerAfter bounds a no-answer delay; a longer one is a typo.
const maxNoAnswerAfter = 10 * time.Minute

func (a *API) forwarding() (Forwarding, error) {
	if a.forwards == nil {
		return nil, notFound("", "call forwarding needs the built-in PBX, which is not enabled (sip.enabled)")
	}
	return a.forwards, nil
}

func (a *API) listForwards(w http.ResponseWriter, r *http.Request) error {
	if _, err := query(r); err != nil {
		return err
	}
	fw, err := a.forwarding()
	if err != nil {
		return err
	}
	list, err := fw.List(r.Context())
	if err != nil {
		return err
	}
	out := make([]apitypes.Forward, len(list))
	for i, s := range list {
		out[i] = forwardView(s)
	}
	writeJSON(w, http.StatusOK, out)
	return nil
}

func (a *API) getForward(w http.ResponseWriter, r *http.Request) error {
	return a.forwardAction(w, r, func(ctx context.Context, fw Forwarding, number string) (forwarding.Setting, error) {
		return fw.Get(ctx, number)
	})
}

func (a *API) resetForward(w http.ResponseWriter, r *http.Request) error {
	return a.forwardAction(w, r, func(ctx context.Context, fw Forwarding, number string) (forwarding.Setting, error) {
		return fw.Reset(ctx, number)
	})
}

func (a *API) putForward(w http.ResponseWriter, r *http.Request) error {
	var in apitypes.ForwardInput
	if err := decodeBody(w, r, &in, false); err != nil {
		return err
	}
	f := dialplan.Forward{Unconditional: in.Unconditional, UserBusy: in.UserBusy, NoAnswer: in.NoAnswer, Unavailable: in.Unavailable}
	if in.NoAnswerAfter != "" {
		d, err := time.ParseDuration(in.NoAnswerAfter)
		if err != nil || d < time.Second || d > maxNoAnswerAfter {
			return invalid("no_answer_after", "no_answer_after: %q is not a duration between 1s and %v, like 20s", in.NoAnswerAfter, maxNoAnswerAfter)
		}
		f.NoAnswerAfter = d
	}
	return a.forwardAction(w, r, func(ctx context.Context, fw Forwarding, number string) (forwarding.Setting, error) {
		return fw.Set(ctx, number, f)
	})
}

// forwardAction runs do on the path's extension and answers the forwarding
// in effect after it.
func (a *API) forwardAction(w http.ResponseWriter, r *http.Request, do func(context.Context, Forwarding, string) (forwarding.Setting, error)) error {
	if _, err := query(r); err != nil {
		return err
	}
	fw, err := a.forwarding()
	if err != nil {
		return err
	}
	number := r.PathValue("number")
	s, err := do(r.Context(), fw, number)
	var fe *dialplan.FieldError
	switch {
	case errors.Is(err, forwarding.ErrUnknownExtension):
		return notFound("number", "extension %q not found", number)
	case errors.As(err, &fe):
		return invalid(fe.Field, "%s", fe.Error())
	case err != nil:
		return fmt.Errorf("forwarding of %s: %w", number, err)
	}
	writeJSON(w, http.StatusOK, forwardView(s))
	return nil
}

func forwardView(s forwarding.Setting) apitypes.Forward {
	f := s.Forward
	v := apitypes.Forward{
		Number: s.Number, Unconditional: f.Unconditional, UserBusy: f.UserBusy, NoAnswer: f.NoAnswer,
		Unavailable: f.Unavailable, Source: s.Source, UpdatedAt: optTime(s.Updated),
	}
	if d := f.RingFor(); d > 0 {
		v.NoAnswerAfter = d.String()
	}
	return v
}
