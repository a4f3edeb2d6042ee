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
func (s State) String() string { return enumName(stateNames[:], s, "State") }

// ParseState is the inverse of String.
func ParseState(name string) (State, error) {
	if s, ok := enumNamed[State](stateNames[:], name); ok {
		return s, nil
	}
	return StateNone, fmt.Errorf("optin: unknown state %q", name)
}

// enumName returns the name of v in names, or kind(v) when it has none.
func enumName[T ~uint8](names []string, v T, kind string) string {
	if int(v) < len(names) {
		return names[v]
	}
	return fmt.Sprintf("%s(%d)", kind, uint8(v))
}

// enumNamed returns the value named name in names; false when none is.
func enumNamed[T ~uint8](names []string, name string) (T, bool) {
	for i, n := range names {
		if n == name {
			return T(i), true
		}
	}
	return 0, false
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
