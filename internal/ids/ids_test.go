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
