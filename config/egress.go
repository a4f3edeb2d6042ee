package config

import (
	"net/netip"
	"strings"
)

// Egress configures the gateway's requests to tenant-given URLs (the event
// webhooks; internal/egress): only public addresses, but for the
// operator's allow-list.
type Egress struct {
	// AllowCIDRs are private ranges the webhooks may reach anyway
	// (OPTIN_EGRESS_ALLOW_CIDRS, comma-separated, or egress.allow_cidrs;
	// a bare IP is one address). None: public addresses only.
	AllowCIDRs []netip.Prefix
}

// egressFile is the egress section of the YAML file.
type egressFile struct {
	AllowCIDRs []string `yaml:"allow_cidrs"`
}

// loadEgress applies OPTIN_EGRESS_ALLOW_CIDRS over f (the variable, when
// set, replaces the file's list) and validates the result.
func loadEgress(f egressFile, getenv func(string) string) (Egress, error) {
	name, v := "egress.allow_cidrs", strings.Join(f.AllowCIDRs, ",")
	if e := getenv("OPTIN_EGRESS_ALLOW_CIDRS"); e != "" {
		name, v = "OPTIN_EGRESS_ALLOW_CIDRS", e
	}
	nets, err := parseCIDRs(name, v)
	if err != nil {
		return Egress{}, err
	}
	var e Egress
	for _, n := range nets {
		a, _ := netip.AddrFromSlice(n.IP)
		ones, _ := n.Mask.Size()
		if a.Is4In6() && ones >= 96 {
			a, ones = a.Unmap(), ones-96
		}
		e.AllowCIDRs = append(e.AllowCIDRs, netip.PrefixFrom(a, ones).Masked())
	}
	return e, nil
}
