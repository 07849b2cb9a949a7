package pbx

import (
	"context"
	"strings"
	"testing"

	"github.com/emiago/sipgo"
	"github.com/emiago/sipgo/sip"
)

// A panic in sipgo while a leg waits for its answer, as when the stack
// closes a CANCEL's transaction under it at shutdown (the response read is
// nil), is the leg's error, not the end of the process.
func TestWaitAnswerSurvivesAPanicInSipgo(t *testing.T) {
	t.Parallel()
	err := waitAnswer(t.Context(), func(context.Context, sipgo.AnswerOptions) error {
		var res *sip.Response
		if res.StatusCode != 200 { // what inviteCancel reads
			return nil
		}
		return nil
	}, sipgo.AnswerOptions{})
	if err == nil || !strings.Contains(err.Error(), "nil pointer") {
		t.Errorf("waitAnswer = %v, want the panic as an error", err)
	}
}
