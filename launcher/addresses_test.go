package launcher

import (
	"net/netip"
	"os"
	"slices"
	"testing"
)

// The chosen /24 must not overlap a network this machine is on or routes
// to, not merely avoid holding one of its addresses: a bridge on part of
// the host's LAN (or VPN) would take that part's traffic from the host.
func TestPickSubnetAvoidsLocalNetworks(t *testing.T) {
	pfx := netip.MustParsePrefix
	tests := []struct {
		name  string
		taken []netip.Prefix
		local []netip.Prefix
		want  string
	}{
		{"nothing taken", nil, nil, "172.31.255.0/24"},
		{"taken by the engine", []netip.Prefix{pfx("172.31.255.0/24")}, nil, "172.31.254.0/24"},
		{"the host's LAN, its address elsewhere in it", nil, []netip.Prefix{pfx("172.31.0.0/16")}, "172.30.255.0/24"},
		{"a route with no address of ours", nil, []netip.Prefix{pfx("172.30.0.0/15")}, "172.29.255.0/24"},
		{"the default route does not count", nil, []netip.Prefix{pfx("0.0.0.0/0")}, "172.31.255.0/24"},
		{"an address as a /32", nil, []netip.Prefix{pfx("172.31.255.7/32")}, "172.31.254.0/24"},
		{"all of the pool", nil, []netip.Prefix{pfx("172.16.0.0/12")}, "invalid Prefix"},
	}
	for _, tt := range tests {
		if got := pickSubnet(tt.taken, tt.local).subnet.String(); got != tt.want {
			t.Errorf("%s: pickSubnet = %s; want %s", tt.name, got, tt.want)
		}
	}
}

func TestIPv4Routes(t *testing.T) {
	f := t.TempDir() + "/route"
	table := "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n" +
		"eth0\t00000000\t010200C0\t0003\t0\t0\t0\t00000000\t0\t0\t0\n" +
		"docker0\t000011AC\t00000000\t0001\t0\t0\t0\t0000FFFF\t0\t0\t0\n" +
		"tun0\t0000FFAC\t00000000\t0001\t0\t0\t0\t00F0FFFF\t0\t0\t0\n" +
		"bad\t0000FFAC\t00000000\t0001\t0\t0\t0\t00FF00FF\t0\t0\t0\n"
	if err := os.WriteFile(f, []byte(table), 0o644); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range ipv4Routes(f) {
		got = append(got, p.String())
	}
	want := []string{"0.0.0.0/0", "172.17.0.0/16", "172.255.0.0/20"}
	if !slices.Equal(got, want) {
		t.Errorf("ipv4Routes = %v; want %v", got, want)
	}
	if ipv4Routes(t.TempDir()+"/none") != nil {
		t.Error("routes from a file that is not there")
	}
}
