package offload

import (
	"fmt"
	"io"
	"strings"
)

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

// RestoreCommand is the k3s command an operator runs to restore from the
// snapshot at path, with the server token at token ("" when there is none
// to give). offsite prints it and never runs it.
func RestoreCommand(path, token string) string {
	cmd := "k3s server --cluster-reset --cluster-reset-restore-path=" + ShellQuote(path)
	if token != "" {
		cmd += " --token-file=" + ShellQuote(token)
	}
	return cmd
}

// DecryptCommand is the age command that decrypts the file fetched
// encrypted to path into plain.
func DecryptCommand(path, plain string) string {
	return "age -d -i KEY -o " + ShellQuote(plain) + " " + ShellQuote(path)
}

// WriteInstructions prints what was fetched and the commands that restore
// from it, every path quoted for a shell.
func (f Fetched) WriteInstructions(w io.Writer) error {
	var b strings.Builder
	snapshot, encrypted := strings.CutSuffix(f.Snapshot, AgeSuffix)
	token := strings.TrimSuffix(f.Token, AgeSuffix)
	fmt.Fprintln(&b, f.Snapshot)
	if encrypted {
		fmt.Fprintln(&b, "verified: sidecar hash of the encrypted snapshot passed; it is still encrypted.")
		fmt.Fprintln(&b, "Decrypt it with the age identity (or fetch again with --identity KEY):")
		fmt.Fprintf(&b, "  %s\n", DecryptCommand(f.Snapshot, snapshot))
	} else {
		fmt.Fprintln(&b, "verified: sidecar hash, etcd integrity check, and it opens as an etcd database.")
	}
	switch {
	case f.Token == "":
		fmt.Fprintf(&b, "No k3s server token was shipped for this host (%s): the restore needs the cluster's token, as --token or --token-file.\n", EnvK3sTokenFile)
	case strings.HasSuffix(f.Token, AgeSuffix):
		fmt.Fprintf(&b, "The k3s server token, encrypted: %s\n  %s\n", f.Token, DecryptCommand(f.Token, token))
	default:
		fmt.Fprintf(&b, "The k3s server token: %s (mode 0600)\n", f.Token)
	}
	fmt.Fprintln(&b, "To restore this node's etcd from it (stop k3s on every server first), run:")
	fmt.Fprintf(&b, "  %s\n", RestoreCommand(snapshot, token))
	_, err := io.WriteString(w, b.String())
	return err
}
