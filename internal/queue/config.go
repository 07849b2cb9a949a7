package queue

import (
	"fmt"
	"slices"
	"time"
)

// Strategy is how a queue picks the agents to ring for a caller.
type Strategy string

// Queue strategies.
const (
	// RingAll rings every available agent at once; the first to answer
	// takes the caller.
	RingAll Strategy = "ring_all"
	// RoundRobin rings the next available agent after the last one rung,
	// in the listed order, wrapping around.
	RoundRobin Strategy = "round_robin"
	// LongestIdle rings the available agent whose last queue call ended
	// longest ago (ties: the listed order).
	LongestIdle Strategy = "longest_idle"
	// Linear rings the available agents one at a time in the listed order,
	// starting from the first for every caller.
	Linear Strategy = "linear"
)

// Strategies lists the strategies in the order the documentation gives them.
var Strategies = []Strategy{RingAll, RoundRobin, LongestIdle, Linear}

// ParseStrategy returns the strategy named s; empty is RingAll.
func ParseStrategy(s string) (Strategy, error) {
	if s == "" {
		return RingAll, nil
	}
	if !slices.Contains(Strategies, Strategy(s)) {
		return "", fmt.Errorf("strategy %q does not exist (want ring_all, round_robin, longest_idle or linear)", s)
	}
	return Strategy(s), nil
}

// Defaults of the durations a Config leaves at zero.
const (
	DefaultAgentTimeout = 15 * time.Second
	DefaultMaxWait      = 300 * time.Second
)

// Ringback as Music makes a queue play ringback and answer nothing until an
// agent answers.
const Ringback = "ringback"

// Config is one queue.
type Config struct {
	Number string
	Name   string
	// Agents are extension numbers, in the listed order the strategies use.
	Agents   []string
	Strategy Strategy // empty: RingAll
	// AgentTimeout is how long one offer rings; 0 means DefaultAgentTimeout.
	AgentTimeout time.Duration
	// MaxWait is how long a caller waits before moving on to Overflow (or
	// being hung up without one); 0 means DefaultMaxWait.
	MaxWait time.Duration
	// Wrapup is the rest an agent gets after a queue call, in every queue.
	Wrapup time.Duration
	// Overflow is the number a caller moves on to; empty hangs up.
	Overflow string
	// Music is what a waiting caller hears: empty for the built-in tone, a
	// WAV file, or Ringback.
	Music string
	// MaxCallers is how many callers may wait; beyond it a new caller goes
	// straight to Overflow. 0 is no limit.
	MaxCallers int
}

// Ringback reports whether the queue plays ringback instead of answering.
func (c *Config) Ringback() bool { return c.Music == Ringback }

// check fills the defaults and refuses what cannot work.
func (c *Config) check() error {
	if c.Number == "" {
		return fmt.Errorf("number is empty")
	}
	s, err := ParseStrategy(string(c.Strategy))
	if err != nil {
		return err
	}
	c.Strategy = s
	if len(c.Agents) == 0 {
		return fmt.Errorf("a queue needs at least one agent")
	}
	for i, a := range c.Agents {
		if slices.Index(c.Agents, a) != i {
			return fmt.Errorf("agent %s is listed twice", a)
		}
	}
	if c.AgentTimeout < 0 || c.MaxWait < 0 || c.Wrapup < 0 || c.MaxCallers < 0 {
		return fmt.Errorf("agent_timeout, max_wait, wrapup and max_callers must not be negative")
	}
	if c.AgentTimeout == 0 {
		c.AgentTimeout = DefaultAgentTimeout
	}
	if c.MaxWait == 0 {
		c.MaxWait = DefaultMaxWait
	}
	if c.Overflow == c.Number {
		return fmt.Errorf("overflow %s is the queue itself", c.Overflow)
	}
	return nil
}
