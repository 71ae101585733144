package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func TestCommandRefusesWhatItCannotDo(t *testing.T) {
	for _, args := range [][]string{
		{"bogus"},
		{"await-successor"},
		{"await-successor", "-host", "inventory-dapr", "extra"},
		{"await-successor", "-host", "inventory-dapr", "-min", "1m", "-max", "1s"},
		{"await-successor", "-host", "inventory-dapr", "-min", "soon"},
	} {
		if err := command(context.Background(), args, &bytes.Buffer{}); err == nil {
			t.Errorf("inventory %s: no error; want one", strings.Join(args, " "))
		}
	}
}

func TestAwaitSuccessorStopsWithoutOneAtMax(t *testing.T) {
	var out bytes.Buffer
	// localhost lists this machine's own addresses only: no successor.
	err := command(context.Background(), []string{"await-successor", "-host", "localhost", "-min", "0s", "-max", "10ms"}, &out)
	if err != nil || !strings.HasPrefix(out.String(), "no successor listed under localhost") {
		t.Fatalf("await-successor = %v, %q; want no successor", err, out.String())
	}
}
