package rcloneconf

import "fmt"

// ConfigError is a configuration mistake: Var names the env var (or the
// flag's env var twin) at fault. offsite exits 2 on it.
type ConfigError struct {
	Var string
	Err error
}

func (e *ConfigError) Error() string { return e.Var + ": " + e.Err.Error() }
func (e *ConfigError) Unwrap() error { return e.Err }

// Errorf returns a *ConfigError for the env var name.
func Errorf(name, format string, args ...any) error {
	return &ConfigError{Var: name, Err: fmt.Errorf(format, args...)}
}
