package ids_test

import (
	"strings"
	"testing"

	"github.com/daprshop/daprshop/internal/ids"
)

func TestValid(t *testing.T) {
	for _, tc := range []struct {
		id   string
		want bool
	}{
		{"c-1", true}, {"SKU_42", true}, {"0b6f4c6e-8c1e-4d1b-9d55-2f1f3b8f7d21", true}, {strings.Repeat("a", 64), true},
		{"", false}, {strings.Repeat("a", 65), false}, {"-c", false}, {"_c", false},
		// NATS subject tokens: "a.b" would land under customer a's
		// wildcard, "a." and "a..b" under no subscriber's subject.
		{"a.b", false}, {"a.", false}, {"a..b", false},
		// Dapr's state key separator, and what paths and keys must not hold.
		{"a||b", false}, {"a/b", false}, {"a b", false}, {"a\x00b", false}, {"café", false}, {"a*", false}, {"a>", false},
	} {
		if got := ids.Valid(tc.id); got != tc.want {
			t.Errorf("Valid(%q) = %v, want %v", tc.id, got, tc.want)
		}
	}
}

// FuzzValid checks what Valid promises for any string: an id it takes is
// 1-64 bytes of letters, digits, '_' and '-', starting with a letter or
// digit, so it holds no '.', '||', '/', space or control byte.
func FuzzValid(f *testing.F) {
	for _, seed := range []string{"c-1", "a.b", "a||b", "", "-", "ключ", strings.Repeat("a", 65)} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if !ids.Valid(id) {
			return
		}
		if len(id) < 1 || len(id) > 64 || id[0] == '-' || id[0] == '_' {
			t.Fatalf("Valid(%q): true for an id of length %d starting with %q", id, len(id), id[0])
		}
		for _, r := range id {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '_' || r == '-') {
				t.Fatalf("Valid(%q): true for an id with %q", id, r)
			}
		}
	})
}
