package imagecheck

import (
	"context"
	"slices"
)

// Checker validates uploads against one Policy. It is safe for concurrent
// use; full decodes across all goroutines share one semaphore of
// Policy.MaxConcurrentDecodes slots.
type Checker struct {
	p           Policy
	allowed     map[string]bool
	allowedList []string // allowed types in canonical order, for messages
	sem         chan struct{}
}

// New validates p and returns a Checker enforcing it. AllowedTypes are
// matched case-insensitively; Policy returns them normalised to lowercase.
func New(p Policy) (*Checker, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	c := &Checker{allowed: make(map[string]bool), sem: make(chan struct{}, p.MaxConcurrentDecodes)}
	for _, t := range p.AllowedTypes {
		c.allowed[baseType(t)] = true
	}
	for _, t := range supportedTypes {
		if c.allowed[t] {
			c.allowedList = append(c.allowedList, t)
		}
	}
	p.AllowedTypes = slices.Clone(c.allowedList)
	c.p = p
	return c, nil
}

// Policy returns a copy of the policy c enforces, with AllowedTypes in
// canonical order and lowercase.
func (c *Checker) Policy() Policy {
	p := c.p
	p.AllowedTypes = slices.Clone(c.p.AllowedTypes)
	return p
}

// acquire takes a decode slot, waiting until one is free or ctx ends; then it
// returns a 503 busy error wrapping ctx's error. A ctx that has already ended
// fails even when a slot is free.
func (c *Checker) acquire(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return errBusy(err)
	}
	select {
	case c.sem <- struct{}{}:
		return nil
	case <-ctx.Done():
		return errBusy(ctx.Err())
	}
}

func (c *Checker) release() { <-c.sem }
