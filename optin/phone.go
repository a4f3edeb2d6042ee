package optin

// Phone is a phone number in E.164. Its String method masks it, so that a
// Phone handed to a logger or a format verb never shows the whole number;
// E164 returns it whole.
type Phone string

// E164 returns the number unmasked.
func (p Phone) E164() string { return string(p) }

// String returns the number masked: the leading "+" and country digit, then
// bullets, then at most the last four digits ("+1•••0100"). Numbers of eight
// characters or fewer (short codes) show only their last two.
func (p Phone) String() string {
	s := string(p)
	switch {
	case s == "":
		return ""
	case len(s) <= 8:
		return "•••" + s[max(0, len(s)-2):]
	case s[0] == '+':
		return s[:2] + "•••" + s[len(s)-4:]
	default:
		return "•••" + s[len(s)-4:]
	}
}
