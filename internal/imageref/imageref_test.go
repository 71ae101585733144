package imageref

import "testing"

func TestFullName(t *testing.T) {
	cases := []struct{ ref, want string }{
		{"daprshop/order:0.1.0", "docker.io/daprshop/order:0.1.0"},
		{"pause:1", "docker.io/library/pause:1"},
		{"pause", "docker.io/library/pause:latest"},
		{"docker.io/daprshop/pause:1", "docker.io/daprshop/pause:1"},
		{"registry.example.com/team/order:2", "registry.example.com/team/order:2"},
		{"localhost:5000/order", "localhost:5000/order:latest"},
		{"localhost/order:3", "localhost/order:3"},
	}
	for _, tc := range cases {
		if got := FullName(tc.ref); got != tc.want {
			t.Errorf("FullName(%q) = %q, want %q", tc.ref, got, tc.want)
		}
	}
}
