package client

import (
	"context"
	"net/http"
	"net/url"

	"github.com/switchhook/switchhook/internal/api/apitypes"
)

// ListQueues lists the call queues with their waiting callers and agents.
func (c *Client) ListQueues(ctx context.Context) ([]apitypes.Queue, error) {
	var qs []apitypes.Queue
	return qs, c.do(ctx, http.MethodGet, "/v1/queues", nil, nil, &qs)
}

// GetQueue returns the call queue of number.
func (c *Client) GetQueue(ctx context.Context, number string) (*apitypes.Queue, error) {
	var q apitypes.Queue
	return &q, c.do(ctx, http.MethodGet, "/v1/queues/"+url.PathEscape(number), nil, nil, &q)
}

// PauseAgent pauses (paused true) or unpauses the agent ext in queue
// number, and returns the queue as it is then.
func (c *Client) PauseAgent(ctx context.Context, number, ext string, paused bool) (*apitypes.Queue, error) {
	verb := "/unpause"
	if paused {
		verb = "/pause"
	}
	var q apitypes.Queue
	return &q, c.do(ctx, http.MethodPost, "/v1/queues/"+url.PathEscape(number)+"/agents/"+url.PathEscape(ext)+verb, nil, nil, &q)
}
