package media

import (
	"net/http"
	"net/netip"
	"strings"
	"testing"
)

// TestSSRF tries every address family and notation the policy knows, by
// default (all refused, without a byte sent to any of them: literal
// addresses are refused before dialling, names in the dialler's Control
// before connect) and through AllowHosts (the ones that reach the local
// test server then work).
func TestSSRF(t *testing.T) {
	png := pngBytes(t)
	srv := newServer(t, map[string]file{"/img": {body: png, ctype: "image/png"}})
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	local := func(host string) string { return "http://" + host + ":" + port + "/img" }
	// Redirects from the (allowed) local server to places that stay refused.
	srv.files["/to-metadata"] = file{status: http.StatusFound, header: map[string]string{"Location": "http://169.254.169.254/latest/meta-data/"}}
	srv.files["/to-private"] = file{status: http.StatusFound, header: map[string]string{"Location": "http://10.0.0.1/x.png"}}
	srv.files["/to-v6-loopback"] = file{status: http.StatusFound, header: map[string]string{"Location": "http://[::1]:" + port + "/img"}}
	srv.files["/to-internal-name"] = file{status: http.StatusFound, header: map[string]string{"Location": "http://internal.test:" + port + "/img"}}
	srv.files["/to-file"] = file{status: http.StatusFound, header: map[string]string{"Location": "file:///etc/passwd"}}
	srv.files["/to-hex-metadata"] = file{status: http.StatusFound, header: map[string]string{"Location": "http://0xa9fea9fe/latest/meta-data/"}}
	srv.files["/to-rebind"] = file{status: http.StatusFound, header: map[string]string{"Location": "http://metadata.test/latest/meta-data/"}}
	dns := resolver(map[string][]string{
		"rebind.test":   {"127.0.0.1"},       // a public-looking name that answers loopback
		"internal.test": {"10.1.2.3"},        // an internal name
		"metadata.test": {"169.254.169.254"}, // the cloud metadata service
		"mixed.test":    {"10.0.0.1", "fd00::1"},
		"v6local.test":  {"::1"},
		"mapped.test":   {"::ffff:127.0.0.1"}, // loopback written as IPv6
	})

	cases := []struct {
		name, url string
		reach     bool // reaches the test server once 127.0.0.1/32 is allowed
		redirect  bool // needs the first hop allowed to be meaningful
	}{
		{"loopback", local("127.0.0.1"), true, false},
		{"loopback other", "http://127.8.9.10:" + port + "/img", false, false},
		{"localhost name", local("localhost"), true, false},
		{"ipv6 loopback", "http://[::1]:" + port + "/img", false, false},
		{"rfc1918 10/8", "http://10.0.0.1/x.png", false, false},
		{"rfc1918 172.16/12", "http://172.16.5.4/x.png", false, false},
		{"rfc1918 192.168/16", "http://192.168.1.1/x.png", false, false},
		{"metadata", "http://169.254.169.254/latest/meta-data/", false, false},
		{"link-local other", "http://169.254.0.1/x.png", false, false},
		{"decimal metadata", "http://2852039166/latest/meta-data/", false, false},
		{"hex private", "http://0x0a000001/x.png", false, false},
		{"octal private", "http://012.0.0.1/x.png", false, false},
		{"ipv4-mapped private", "http://[::ffff:10.0.0.1]/x.png", false, false},
		{"ipv4-mapped cgnat", "http://[::ffff:100.64.0.1]/x.png", false, false},
		{"cgnat", "http://100.64.0.1/x.png", false, false},
		{"multicast", "http://224.0.0.1/x.png", false, false},
		{"unspecified", local("0.0.0.0"), false, false},
		{"broadcast", "http://255.255.255.255/x.png", false, false},
		{"reserved 240/4", "http://240.0.0.1/x.png", false, false},
		{"ipv6 unspecified", "http://[::]:" + port + "/img", false, false},
		{"ipv6 ula", "http://[fd12:3456::1]/x.png", false, false},
		{"ipv6 ula fc", "http://[fc00::1]/x.png", false, false},
		{"ipv6 link-local", "http://[fe80::1]/x.png", false, false},
		{"ipv6 link-local zone", "http://[fe80::1%25eth0]/x.png", false, false},
		{"ipv6 multicast", "http://[ff02::1]/x.png", false, false},
		{"ipv4-mapped", "http://[::ffff:127.0.0.1]:" + port + "/img", true, false},
		{"ipv4-mapped hex", "http://[::ffff:7f00:1]:" + port + "/img", true, false},
		{"ipv4-mapped metadata", "http://[::ffff:169.254.169.254]/", false, false},
		{"ipv4-compatible", "http://[::127.0.0.1]/x.png", false, false},
		{"nat64 private", "http://[64:ff9b::a00:1]/x.png", false, false},
		{"nat64 loopback", "http://[64:ff9b::7f00:1]/x.png", false, false},
		{"6to4 metadata", "http://[2002:a9fe:a9fe::1]/x.png", false, false},
		{"6to4 loopback", "http://[2002:7f00:1::1]/x.png", false, false},
		{"teredo", "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/x.png", false, false},
		{"decimal", local("2130706433"), true, false},
		{"hex", local("0x7f000001"), true, false},
		{"octal", local("0177.0.0.1"), true, false},
		{"octal single", local("017700000001"), true, false},
		{"short", local("127.1"), true, false},
		{"mixed notation", local("0x7f.0.0.1"), true, false},
		{"trailing dot", local("127.0.0.1."), true, false},
		{"malformed number", "http://127.0.0.256/x.png", false, false},
		{"dns rebinding", local("rebind.test"), true, false},
		{"name to private", "http://internal.test/x.png", false, false},
		{"name to metadata", "http://metadata.test/x.png", false, false},
		{"name to several private", "http://mixed.test/x.png", false, false},
		{"name to ipv6 loopback", local("v6local.test"), false, false},
		{"name to ipv4-mapped loopback", local("mapped.test"), true, false},
		{"unknown name", "http://nowhere.test/x.png", false, false},
		{"file scheme", "file:///etc/passwd", false, false},
		{"gopher scheme", "gopher://127.0.0.1:70/_x", false, false},
		{"ftp scheme", "ftp://example.com/x.png", false, false},
		{"no host", "http:///x.png", false, false},
		{"redirect to metadata", srv.URL + "/to-metadata", false, true},
		{"redirect to private", srv.URL + "/to-private", false, true},
		{"redirect to ipv6 loopback", srv.URL + "/to-v6-loopback", false, true},
		{"redirect to internal name", srv.URL + "/to-internal-name", false, true},
		{"redirect to file", srv.URL + "/to-file", false, true},
		{"redirect to hex metadata", srv.URL + "/to-hex-metadata", false, true},
		{"redirect to name of metadata", srv.URL + "/to-rebind", false, true},
	}
	leaks := []string{"127.", "10.0.0.1", "10.1.2.3", "169.254", "::1", "fd", "fe80", "internal.test", "rebind.test", "2130706433", "0x7f", "localhost", "2852039166", "0x0a", "012.", "100.64", "mapped.test", "metadata.test"}

	refuse := New(Policy{})
	refuse.fetch.resolve = dns
	allow := New(Policy{AllowHosts: allowLocal()})
	allow.fetch.resolve = dns

	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			p := refuse
			if c.redirect {
				p = allow // the first hop is the local server; the redirect is what is refused
			}
			before := srv.hits.Load()
			_, oe := process(t, p, chat(imagePart(c.url)), inline())
			if oe == nil {
				t.Fatalf("%s was fetched", c.url)
			}
			if oe.Status != 400 || oe.Code == nil || *oe.Code != codeRefused || oe.Param == nil || *oe.Param != "messages[1].content[1]" {
				t.Fatalf("got %d %v %v: %s", oe.Status, deref(oe.Code), deref(oe.Param), oe.Message)
			}
			if !strings.Contains(oe.Message, "refused: it names") {
				t.Errorf("message without a reason: %s", oe.Message)
			}
			msg := strings.TrimPrefix(oe.Message, "messages[1].content[1]: ")
			for _, l := range leaks {
				if strings.Contains(msg, l) {
					t.Errorf("message echoes %q: %s", l, oe.Message)
				}
			}
			if !c.redirect && srv.hits.Load() != before {
				t.Errorf("the server was reached")
			}
			// Explain never softens the address policy.
			ex := New(Policy{OnError: OnErrorExplain, AllowHosts: p.pol.AllowHosts})
			ex.fetch.resolve = dns
			if _, oe := process(t, ex, chat(imagePart(c.url)), inline()); oe == nil || *oe.Code != codeRefused {
				t.Errorf("explain: got %v", oe)
			}
			if !c.reach {
				return
			}
			out, oe := process(t, allow, chat(imagePart(c.url)), inline())
			if oe != nil {
				t.Fatalf("allowed fetch failed: %s", oe.Message)
			}
			if got := part(out, 1).Get("image_url.url").String(); got != dataURL("image/png", png) {
				t.Errorf("allowed fetch: url %.60q", got)
			}
		})
	}
}

func deref(s *string) string {
	if s == nil {
		return "<nil>"
	}
	return *s
}

// TestAllowHostsExact: a listed network or name opens exactly that.
func TestAllowHostsExact(t *testing.T) {
	png := pngBytes(t)
	srv := newServer(t, map[string]file{"/img": {body: png}})
	port := srv.URL[strings.LastIndex(srv.URL, ":")+1:]
	dns := resolver(map[string][]string{"files.corp": {"127.0.0.1"}, "other.corp": {"127.0.0.1"}, "a.files.corp": {"127.0.0.1"}})

	byName := New(Policy{AllowHosts: []string{"files.corp"}})
	byName.fetch.resolve = dns
	if _, oe := process(t, byName, chat(imagePart("http://files.corp:"+port+"/img")), inline()); oe != nil {
		t.Errorf("listed name refused: %s", oe.Message)
	}
	for _, u := range []string{"http://other.corp:" + port + "/img", "http://a.files.corp:" + port + "/img", "http://127.0.0.1:" + port + "/img"} {
		if _, oe := process(t, byName, chat(imagePart(u)), inline()); oe == nil || *oe.Code != codeRefused {
			t.Errorf("%s: got %v", u, oe)
		}
	}
	wild := New(Policy{AllowHosts: []string{"*.files.corp"}})
	wild.fetch.resolve = dns
	if _, oe := process(t, wild, chat(imagePart("http://a.files.corp:"+port+"/img")), inline()); oe != nil {
		t.Errorf("wildcard refused: %s", oe.Message)
	}
	single := New(Policy{AllowHosts: []string{"127.0.0.2"}})
	if _, oe := process(t, single, chat(imagePart(srv.URL+"/img")), inline()); oe == nil || *oe.Code != codeRefused {
		t.Errorf("127.0.0.1 opened by 127.0.0.2: %v", oe)
	}
}

func TestNonPublic(t *testing.T) {
	public := []string{"8.8.8.8", "1.1.1.1", "2606:4700:4700::1111", "64:ff9b::808:808", "2002:808:808::1", "::ffff:8.8.8.8", "100.128.0.1", "172.32.0.1"}
	for _, a := range public {
		if r := nonPublic(netip.MustParseAddr(a)); r != "" {
			t.Errorf("%s refused as %s", a, r)
		}
	}
	for host, want := range map[string]string{
		"2130706433": "127.0.0.1", "0x7f000001": "127.0.0.1", "0177.0.0.1": "127.0.0.1", "127.1": "127.0.0.1",
		"0x7f.1": "127.0.0.1", "10.1": "10.0.0.1", "192.168.257": "192.168.1.1", "0": "0.0.0.0", "0x0a.0.0.1": "10.0.0.1",
	} {
		ip, ok, bad := hostIP(host)
		if !ok || bad || ip.String() != want {
			t.Errorf("%s: %v %v %v, want %s", host, ip, ok, bad, want)
		}
	}
	for _, host := range []string{"1.2.3.4.5", "256.1.1.1", "0x1ffffffff", "08.0.0.1", "1.2.3.4x"} {
		if _, ok, bad := hostIP(host); ok || (!bad && host != "1.2.3.4x") {
			t.Errorf("%s: ok %v bad %v", host, ok, bad)
		}
	}
}
