package config

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

func TestLoadEgress(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		env        map[string]string
		want       []string
	}{
		{"default: none", "", nil, nil},
		{"file", "egress: {allow_cidrs: [10.0.0.0/8, 192.168.4.7]}\n", nil, []string{"10.0.0.0/8", "192.168.4.7/32"}},
		{"environment over file", "egress: {allow_cidrs: [10.0.0.0/8]}\n",
			map[string]string{"OPTIN_EGRESS_ALLOW_CIDRS": "127.0.0.0/8, fd00:ec2::/32,::1"}, []string{"127.0.0.0/8", "fd00:ec2::/32", "::1/128"}},
		{"host bits masked", "", map[string]string{"OPTIN_EGRESS_ALLOW_CIDRS": "10.1.2.3/8"}, []string{"10.0.0.0/8"}},
		{"empty list", "egress: {allow_cidrs: []}\n", nil, nil},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := requiredEnv()
			maps.Copy(e, tt.env)
			c, err := Load(writeFile(t, "c.yaml", base+tt.yaml), env(e))
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			var got []string
			for _, p := range c.Egress.AllowCIDRs {
				got = append(got, p.String())
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("Egress.AllowCIDRs = %v; want %v", got, tt.want)
			}
		})
	}
}

func TestLoadEgressErrors(t *testing.T) {
	for _, tt := range []struct {
		name, yaml string
		env        map[string]string
		want       string
	}{
		{"bad CIDR in the file", "egress: {allow_cidrs: [10.0.0.0/33]}\n", nil, `config: egress.allow_cidrs: "10.0.0.0/33" is not a CIDR`},
		{"bad IP in the environment", "", map[string]string{"OPTIN_EGRESS_ALLOW_CIDRS": "10.0.0.0/8,intranet"}, `config: OPTIN_EGRESS_ALLOW_CIDRS: "intranet" is not an IP address or CIDR`},
		{"unknown key", "egress: {allow: [10.0.0.0/8]}\n", nil, "allow"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			e := requiredEnv()
			maps.Copy(e, tt.env)
			_, err := Load(writeFile(t, "c.yaml", base+tt.yaml), env(e))
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Load: %v; want an error containing %q", err, tt.want)
			}
		})
	}
}
