package config

import (
	"slices"
	"testing"
)

func TestLoadEgress(t *testing.T) {
	cidrs := func(c *Config) []string {
		var got []string
		for _, p := range c.Egress.AllowCIDRs {
			got = append(got, p.String())
		}
		return got
	}
	runLoads(t, "Egress.AllowCIDRs", cidrs, slices.Equal[[]string], []loadCase[[]string]{
		{"default: none", "", nil, nil},
		{"file", "egress: {allow_cidrs: [10.0.0.0/8, 192.168.4.7]}\n", nil, []string{"10.0.0.0/8", "192.168.4.7/32"}},
		{"environment over file", "egress: {allow_cidrs: [10.0.0.0/8]}\n",
			map[string]string{"OPTIN_EGRESS_ALLOW_CIDRS": "127.0.0.0/8, fd00:ec2::/32,::1"}, []string{"127.0.0.0/8", "fd00:ec2::/32", "::1/128"}},
		{"host bits masked", "", map[string]string{"OPTIN_EGRESS_ALLOW_CIDRS": "10.1.2.3/8"}, []string{"10.0.0.0/8"}},
		{"empty list", "egress: {allow_cidrs: []}\n", nil, nil},
	})
}

func TestLoadEgressErrors(t *testing.T) {
	runLoadErrors(t, []loadErrorCase{
		{"bad CIDR in the file", "egress: {allow_cidrs: [10.0.0.0/33]}\n", nil, `config: egress.allow_cidrs: "10.0.0.0/33" is not a CIDR`},
		{"bad IP in the environment", "", map[string]string{"OPTIN_EGRESS_ALLOW_CIDRS": "10.0.0.0/8,intranet"}, `config: OPTIN_EGRESS_ALLOW_CIDRS: "intranet" is not an IP address or CIDR`},
		{"unknown key", "egress: {allow: [10.0.0.0/8]}\n", nil, "allow"},
	})
}
