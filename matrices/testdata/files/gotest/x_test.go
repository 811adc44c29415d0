package gotest

import "testing"

func TestNothing(t *testing.T) {}
