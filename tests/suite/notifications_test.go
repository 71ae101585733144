package suite

import "testing"

func TestInOrder(t *testing.T) {
	for _, tc := range []struct {
		told  []string
		final string
		want  bool
	}{
		{[]string{"confirmed"}, "confirmed", true},
		{[]string{"confirmed", "cancelled"}, "cancelled", true},
		{[]string{"cancelled"}, "cancelled", true},                           // the confirmation outdated
		{[]string{"confirmed", "confirmed", "cancelled"}, "cancelled", true}, // a repeat
		{nil, "confirmed", true},                                             // not told: Await's to report
		{[]string{"confirmed"}, "cancelled", true},                           // the cancellation not told yet
		{[]string{"cancelled", "confirmed"}, "cancelled", false},
		{[]string{"confirmed", "cancelled", "confirmed"}, "cancelled", false},
	} {
		if got := InOrder(tc.told, tc.final); got != tc.want {
			t.Errorf("InOrder(%q, %q): got %t, want %t", tc.told, tc.final, got, tc.want)
		}
	}
}
