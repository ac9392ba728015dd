package analysis

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/expr-lang/expr"
	"github.com/expr-lang/expr/vm"

	"github.com/sluice-dev/sluice/api/rollouts/v1alpha1"
)

// Evaluate judges a measured result against the metric's conditions, as Argo Rollouts does:
//   - neither condition: Successful;
//   - only successCondition: Successful when it holds, else Failed;
//   - only failureCondition: Failed when it holds, else Successful;
//   - both: Failed when failureCondition holds, else Successful when successCondition holds,
//     else Inconclusive.
//
// A condition that cannot be evaluated is an error; when the result is empty the error wraps
// ErrNoData, so that `result[0]` on an empty vector reads "query returned no data".
func Evaluate(metric v1alpha1.Metric, result any) (v1alpha1.AnalysisPhase, error) {
	success, fail := false, false
	var err error
	if metric.SuccessCondition != "" {
		if success, err = EvaluateCondition(metric.SuccessCondition, result); err != nil {
			return v1alpha1.AnalysisPhaseError, conditionError("successCondition", metric.SuccessCondition, result, err)
		}
	}
	if metric.FailureCondition != "" {
		if fail, err = EvaluateCondition(metric.FailureCondition, result); err != nil {
			return v1alpha1.AnalysisPhaseError, conditionError("failureCondition", metric.FailureCondition, result, err)
		}
	}
	switch {
	case metric.SuccessCondition == "" && metric.FailureCondition == "":
		return v1alpha1.AnalysisPhaseSuccessful, nil
	case metric.FailureCondition == "":
		fail = !success
	case metric.SuccessCondition == "":
		success = !fail
	}
	switch {
	case fail:
		return v1alpha1.AnalysisPhaseFailed, nil
	case success:
		return v1alpha1.AnalysisPhaseSuccessful, nil
	}
	return v1alpha1.AnalysisPhaseInconclusive, nil
}

func conditionError(field, condition string, result any, err error) error {
	if IsEmptyResult(result) {
		return fmt.Errorf("%w: evaluate %s %q: %v", ErrNoData, field, condition, err)
	}
	return fmt.Errorf("evaluate %s %q: %w", field, condition, err)
}

// NewMeasurement evaluates result under metric's conditions and returns the finished measurement
// holding value, the result as a string. An evaluation error makes it an Error measurement.
func NewMeasurement(metric v1alpha1.Metric, started time.Time, result any, value string) v1alpha1.Measurement {
	m := v1alpha1.Measurement{StartedAt: timePtr(started), Value: value}
	phase, err := Evaluate(metric, result)
	m.Phase = phase
	if err != nil {
		m.Message = err.Error()
	}
	m.FinishedAt = timePtr(time.Now())
	return m
}

// IsEmptyResult reports whether a measured result holds no data: nil, or an empty slice or map.
func IsEmptyResult(result any) bool {
	if result == nil {
		return true
	}
	v := reflect.ValueOf(result)
	switch v.Kind() {
	case reflect.Slice, reflect.Array, reflect.Map:
		return v.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return v.IsNil()
	}
	return false
}

// EvaluationTimeout bounds the evaluation of one condition. expr-lang cannot be interrupted, so
// a condition that runs longer is reported as an error and left to finish on its own (its
// allocations are bounded by expr's memory budget).
var EvaluationTimeout = 5 * time.Second

// EvaluateCondition evaluates an expr-lang expression with the measured result bound to
// `result`, and the helpers isNaN, isInf, isNil, default, asInt and asFloat. The expression must
// yield a bool. It never panics. The compiled program is cached (compiledCondition), so a
// condition is compiled once, not at every measurement.
func EvaluateCondition(condition string, result any) (bool, error) {
	program, err := compiledCondition(condition, result)
	if err != nil {
		return false, err
	}
	type outcome struct {
		ok  bool
		err error
	}
	done := make(chan outcome, 1)
	go func() {
		ok, err := runCondition(program, result)
		done <- outcome{ok, err}
	}()
	timer := time.NewTimer(EvaluationTimeout)
	defer timer.Stop()
	select {
	case o := <-done:
		return o.ok, o.err
	case <-timer.C:
		return false, fmt.Errorf("evaluation took longer than %s", EvaluationTimeout)
	}
}

func runCondition(program *vm.Program, result any) (ok bool, err error) {
	defer func() {
		if r := recover(); r != nil {
			ok, err = false, fmt.Errorf("evaluation panicked: %v", r)
		}
	}()
	out, err := expr.Run(program, map[string]any{"result": result})
	if err != nil {
		return false, flattenExprError(err)
	}
	b, isBool := out.(bool)
	if !isBool {
		return false, fmt.Errorf("expected a bool, got %T", out)
	}
	return b, nil
}

// programKey names a compiled condition: expr-lang type-checks against the result's type, so
// the same condition compiles once per type of result.
type programKey struct {
	condition string
	result    reflect.Type
}

type compiledProgram struct {
	program *vm.Program
	err     error
}

// maxCachedPrograms bounds the cache of compiled conditions; it is emptied when full.
const maxCachedPrograms = 1024

var (
	programsMu sync.Mutex
	programs   = map[programKey]compiledProgram{}
	// compilations counts compilations, for tests.
	compilations atomic.Int64
)

// compiledCondition returns condition compiled for a result like result, from the cache when it
// was compiled before. A compile error is cached too.
func compiledCondition(condition string, result any) (_ *vm.Program, err error) {
	key := programKey{condition: condition, result: reflect.TypeOf(result)}
	programsMu.Lock()
	c, ok := programs[key]
	programsMu.Unlock()
	if ok {
		return c.program, c.err
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("compile: panicked: %v", r)
		}
	}()
	compilations.Add(1)
	env := map[string]any{"result": result}
	program, err := expr.Compile(condition, append(conditionFunctions(), expr.Env(env), expr.AsBool())...)
	if err != nil {
		err = fmt.Errorf("compile: %w", flattenExprError(err))
	}
	programsMu.Lock()
	if len(programs) >= maxCachedPrograms {
		clear(programs)
	}
	programs[key] = compiledProgram{program: program, err: err}
	programsMu.Unlock()
	return program, err
}

// CompileCondition checks a condition's syntax without a result, for validation.
func CompileCondition(condition string) error {
	_, err := expr.Compile(condition, append(conditionFunctions(), expr.AllowUndefinedVariables())...)
	if err != nil {
		return flattenExprError(err)
	}
	return nil
}

// flattenExprError keeps expr's first line: its errors carry a multi-line source excerpt.
func flattenExprError(err error) error {
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		return errors.New(strings.TrimSpace(msg[:i]))
	}
	return err
}

func conditionFunctions() []expr.Option {
	return []expr.Option{
		expr.Function("isNaN", func(p ...any) (any, error) {
			f, err := oneFloat("isNaN", p)
			return math.IsNaN(f), err
		}),
		expr.Function("isInf", func(p ...any) (any, error) {
			f, err := oneFloat("isInf", p)
			return math.IsInf(f, 0), err
		}),
		expr.Function("isNil", func(p ...any) (any, error) {
			if len(p) != 1 {
				return nil, fmt.Errorf("isNil takes 1 argument, got %d", len(p))
			}
			return isNil(p[0]), nil
		}),
		expr.Function("default", func(p ...any) (any, error) {
			if len(p) != 2 {
				return nil, fmt.Errorf("default takes 2 arguments, got %d", len(p))
			}
			if isNil(p[0]) {
				return p[1], nil
			}
			return p[0], nil
		}),
		expr.Function("asInt", func(p ...any) (any, error) {
			if len(p) != 1 {
				return nil, fmt.Errorf("asInt takes 1 argument, got %d", len(p))
			}
			return AsInt(p[0])
		}),
		expr.Function("asFloat", func(p ...any) (any, error) {
			if len(p) != 1 {
				return nil, fmt.Errorf("asFloat takes 1 argument, got %d", len(p))
			}
			return AsFloat(p[0])
		}),
	}
}

func oneFloat(name string, p []any) (float64, error) {
	if len(p) != 1 {
		return 0, fmt.Errorf("%s takes 1 argument, got %d", name, len(p))
	}
	f, err := AsFloat(p[0])
	if err != nil {
		return 0, fmt.Errorf("%s: %w", name, err)
	}
	return f, nil
}

func isNil(v any) bool {
	if v == nil {
		return true
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Pointer, reflect.Interface, reflect.Map, reflect.Slice, reflect.Func, reflect.Chan:
		return rv.IsNil()
	}
	return false
}

// AsFloat converts a number, or a string holding one, to float64.
func AsFloat(v any) (float64, error) {
	switch x := v.(type) {
	case string:
		f, err := strconv.ParseFloat(strings.TrimSpace(x), 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not a number", x)
		}
		return f, nil
	case bool, nil:
		return 0, fmt.Errorf("%v (%T) is not a number", v, v)
	}
	rv := reflect.ValueOf(v)
	switch {
	case rv.CanFloat():
		return rv.Float(), nil
	case rv.CanInt():
		return float64(rv.Int()), nil
	case rv.CanUint():
		return float64(rv.Uint()), nil
	}
	return 0, fmt.Errorf("%v (%T) is not a number", v, v)
}

// AsInt converts an integer, a float (truncated), or a string holding an integer to int.
func AsInt(v any) (int, error) {
	if s, ok := v.(string); ok {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("%q is not an integer", s)
		}
		return int(n), nil
	}
	rv := reflect.ValueOf(v)
	if v != nil && rv.CanInt() {
		return int(rv.Int()), nil
	}
	if v != nil && rv.CanUint() {
		return int(rv.Uint()), nil
	}
	f, err := AsFloat(v)
	if err != nil {
		return 0, err
	}
	if math.IsNaN(f) || math.IsInf(f, 0) || f > math.MaxInt64 || f < math.MinInt64 {
		return 0, fmt.Errorf("%v does not fit an integer", f)
	}
	return int(f), nil
}
