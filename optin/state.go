package optin

import "fmt"

// State is where one subscriber stands with one campaign.
type State uint8

// The consent states of DESIGN.md. The zero value is StateNone.
const (
	StateNone State = iota
	StatePending
	StateSubscribed
	StateUnsubscribed
)

var stateNames = [...]string{
	StateNone:         "none",
	StatePending:      "pending",
	StateSubscribed:   "subscribed",
	StateUnsubscribed: "unsubscribed",
}

// String returns the state's name as it appears in JSON and audit records.
func (s State) String() string {
	if int(s) < len(stateNames) {
		return stateNames[s]
	}
	return fmt.Sprintf("State(%d)", uint8(s))
}

// ParseState is the inverse of String.
func ParseState(name string) (State, error) {
	for s, n := range stateNames {
		if n == name {
			return State(s), nil
		}
	}
	return StateNone, fmt.Errorf("optin: unknown state %q", name)
}

// MarshalText encodes the state as its name.
func (s State) MarshalText() ([]byte, error) {
	if int(s) >= len(stateNames) {
		return nil, fmt.Errorf("optin: invalid state %d", uint8(s))
	}
	return []byte(s.String()), nil
}

// UnmarshalText decodes a state name.
func (s *State) UnmarshalText(b []byte) error {
	v, err := ParseState(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}
