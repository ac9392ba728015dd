package trafficrouting

import (
	"errors"
	"fmt"
	"reflect"
	"testing"
)

func TestArrangeManaged(t *testing.T) {
	managed := []string{"a", "b"}
	name := func(s string) string { return s }
	item := func(s string) *string { return &s }
	cases := []struct {
		in       []string
		name     string
		item     *string
		want     []string
		describe string
	}{
		{[]string{"x", "y"}, "b", item("b"), []string{"b", "x", "y"}, "insert before the others"},
		{[]string{"b", "x"}, "a", item("a"), []string{"a", "b", "x"}, "insert in managedRoutes order"},
		{[]string{"x", "b", "y", "a"}, "b", item("b"), []string{"a", "b", "x", "y"}, "misplaced managed items move to the front"},
		{[]string{"a", "b", "x"}, "a", nil, []string{"b", "x"}, "remove"},
		{[]string{"x"}, "a", nil, []string{"x"}, "remove a missing item"},
	}
	for _, c := range cases {
		if got := ArrangeManaged(c.in, managed, name, c.name, c.item); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %v, want %v", c.describe, got, c.want)
		}
	}
	if got := RemoveManaged([]string{"a", "x", "b", "", "y"}, managed, name); !reflect.DeepEqual(got, []string{"x", "", "y"}) {
		t.Errorf("RemoveManaged = %v", got)
	}
}

func TestWeightsValidate(t *testing.T) {
	w := func(c, s int32) Weights {
		return Weights{Canary: WeightDestination{Weight: c}, Stable: WeightDestination{Weight: s}}
	}
	if err := w(20, 80).Validate(100); err != nil {
		t.Errorf("20/80 of 100: %v", err)
	}
	if err := w(250, 750).Validate(1000); err != nil {
		t.Errorf("250/750 of 1000: %v", err)
	}
	if err := w(20, 70).Validate(100); err == nil {
		t.Errorf("20/70 of 100 is valid")
	}
	if err := w(-1, 101).Validate(100); err == nil {
		t.Errorf("-1/101 of 100 is valid")
	}
}

func TestConfigError(t *testing.T) {
	err := fmt.Errorf("set weights: %w", &ConfigError{Router: "Istio", Msg: "VirtualService shop/web not found"})
	if !IsConfigError(err) || err.Error() != "set weights: Istio: VirtualService shop/web not found" {
		t.Errorf("wrapped ConfigError: %v", err)
	}
	if err := (&ConfigError{Msg: "trafficRouting.nginx is not supported"}); err.Error() != "trafficRouting.nginx is not supported" {
		t.Errorf("ConfigError without router: %q", err.Error())
	}
	if IsConfigError(errors.New("x")) {
		t.Errorf("a plain error is a ConfigError")
	}
}
