package vendors

import "testing"

func TestScrubKey(t *testing.T) {
	const key = "sk-proj-abcdefghijklmnopqrstuvwxyz0987"
	for _, c := range []struct{ in, want string }{
		{"Incorrect API key provided: sk-proj-**********************0987. You can find your API key at https://platform.openai.com/account/api-keys.",
			"Incorrect API key provided: [credential]. You can find your API key at https://platform.openai.com/account/api-keys."},
		{"bad key " + key + " here", "bad key [credential] here"},
		{"Incorrect API key provided: sk-abc...0987.", "Incorrect API key provided: [credential]."},
		{"key AIzaSy…Qx9 is not valid", "key [credential] is not valid"},
		{"wait... the model is overloaded", "wait... the model is overloaded"},
		{"Rate limit reached for gpt-4o in organization org-123 on tokens per min (TPM)", "Rate limit reached for gpt-4o in organization org-123 on tokens per min (TPM)"},
	} {
		if got := ScrubKey(c.in, key); got != c.want {
			t.Errorf("ScrubKey(%q)\n got %q\nwant %q", c.in, got, c.want)
		}
	}
}
