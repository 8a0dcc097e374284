package gemini

import (
	"regexp"
	"strings"
	"testing"
)

func TestToolCallIDs(t *testing.T) {
	safe := regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
	for _, sig := range []string{
		fixtureSig, // standard base64, padded
		"CiIBVKhc7vB+vaaq6rA/KC79Ts7iXagIOA4EBOyBFDpl+pxPCmcBVKhc7g==",
		"c2lnLTE=",
		"AAAA",
		"not base64 at all: ünïcödé ✓",
		"skip_thought_signature_validator",
		"YWJj",  // "abc"
		"YWJj=", // invalid padding: kept verbatim
	} {
		id := withSignature(newCallID(), sig)
		if !safe.MatchString(id) || !strings.HasPrefix(id, "call_") {
			t.Errorf("id %q leaves [A-Za-z0-9_-]", id)
		}
		if got := signatureFromID(id); got != sig {
			t.Errorf("signature %q came back as %q", sig, got)
		}
	}
	for _, id := range []string{
		"", "call_", newCallID(), "call_abc", "toolu_01A09q90qw90lq917835lq9",
		"call_AAAAAAAAAAAAAAAAAAAAAAAA_sb", "call_AAAAAAAAAAAAAAAAAAAAAAAA_sb!!!", "call_AAAAAAAAAAAAAAAAAAAAAAAA_sxYWJj",
		"call_AAAA-AAAAAAAAAAAAAAAAAAA_sbYWJj", "function-call-12345678901234567890",
	} {
		if got := signatureFromID(id); got != "" {
			t.Errorf("%q carries %q", id, got)
		}
	}
	if withSignature("call_x", "") != "call_x" {
		t.Error("an empty signature changed the id")
	}
	if a, b := newCallID(), newCallID(); a == b || len(a) != 29 {
		t.Errorf("ids %q %q", a, b)
	}
}
