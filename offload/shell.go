package offload

import "strings"

// ShellQuote makes s one word for a POSIX shell: as it is when no shell
// reads any of its characters specially, else in single quotes. Every path
// in a command offsite prints goes through it: the command is pasted into a
// root shell, and an object's name is whatever was put in the bucket.
func ShellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789@%+=:,./_-") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// RestoreCommand is the k3s command an operator runs to restore from path.
// offsite prints it and never runs it.
func RestoreCommand(path string) string {
	return "k3s server --cluster-reset --cluster-reset-restore-path=" + ShellQuote(path)
}

// DecryptCommand is the age command that decrypts the snapshot fetched
// encrypted to path into plain.
func DecryptCommand(path, plain string) string {
	return "age -d -i KEY -o " + ShellQuote(plain) + " " + ShellQuote(path)
}
