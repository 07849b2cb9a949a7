// Package delivery is switchhook's delivery engine, the core of the product:
// it takes pending deliveries from the store, renders each event in its
// endpoint's payload profile, signs it (Standard Webhooks) and POSTs it, and
// records every attempt and what follows from it: success, a retry on the
// endpoint's schedule (or when Retry-After says), failure after the last
// attempt, or the endpoint disabled on 410 Gone. A per-endpoint circuit
// breaker, kept in the store so that every process sees it, pauses an
// endpoint that keeps failing instead of spending its deliveries' attempts.
//
// The engine is hand-written rather than built on a job queue library
// because its ordering rule is unusual: a call's events reach an endpoint one
// at a time, in order, while other calls and endpoints flow freely. The store
// enforces that rule when it hands out work (only the head of each
// (endpoint, call) chain is claimable); the engine keeps the hot path short:
// one goroutine owns all state and talks to the store in batches (its
// outcomes are committed beside it, one batch at a time, so a claim never
// waits for a commit), and one goroutine per request does the HTTP work, so
// a new event is sent as soon as it is committed and the next event of a
// call as soon as the previous one is recorded.
package delivery
