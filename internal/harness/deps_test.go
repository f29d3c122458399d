package harness

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// Stand-ins for the commands deps.sh runs: apt cannot be exercised for real
// here (it would change the machine the tests run on), so these play a
// Debian system and record each call, one line each, in $STANDIN_LOG.
var depsStandIns = map[string]string{
	// -W -f=FORMAT PACKAGE...: unknown packages as dpkg-query reports them
	// (stderr, exit 1), the others with the status given.
	"dpkg-query": `#!/usr/bin/env bash
echo "dpkg-query $*" >>"$STANDIN_LOG"
f=${2#-f=}
shift 2
rc=0
for p; do
	case " $STANDIN_UNKNOWN " in *" $p "*)
		echo "dpkg-query: no packages found matching $p" >&2
		rc=1
		continue
		;;
	esac
	s="install ok installed"
	case " $STANDIN_REMOVED " in *" $p "*) s="deinstall ok config-files" ;; esac
	o=${f//'${Package}'/$p}
	printf '%b' "${o//'${Status}'/$s}"
done
exit $rc
`,
	"apt-get": `#!/bin/sh
echo "DEBIAN_FRONTEND=$DEBIAN_FRONTEND apt-get $*" >>"$STANDIN_LOG"
case " $* " in *" install "*) exit "${STANDIN_INSTALL_EXIT:-0}" ;; esac
`,
	"id": `#!/bin/sh
echo "id $*" >>"$STANDIN_LOG"
echo "$STANDIN_UID"
`,
}

func TestDeps(t *testing.T) {
	script, err := filepath.Abs("deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	const install = "apt-get install -y --no-install-recommends "
	for _, tc := range []struct {
		name              string
		uid               string
		unknown, removed  string // packages dpkg does not know, and removed ones
		installExit       string
		wantExit          int
		wantApt           []string // suffixes of the apt-get calls, in order
		wantStderrSuffix  string   // "": nothing on stderr
		wantStdoutContain string
	}{
		{name: "nothing missing", uid: "0"},
		{name: "nothing missing, not root", uid: "1000"},
		{
			name: "missing, root", uid: "0", unknown: "shellcheck",
			wantApt:           []string{" update", " install -y --no-install-recommends shellcheck"},
			wantStdoutContain: "installing shellcheck",
		},
		{
			name: "missing, not root", uid: "1000", unknown: "shellcheck", removed: "busybox-static",
			wantExit:         1,
			wantStderrSuffix: install + "busybox-static shellcheck",
		},
		{
			name: "install fails", uid: "0", removed: "nix-bin", installExit: "100",
			wantExit:          1,
			wantApt:           []string{" update", " install -y --no-install-recommends nix-bin"},
			wantStderrSuffix:  "deps: apt-get install of nix-bin failed",
			wantStdoutContain: "installing nix-bin",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			bin := filepath.Join(dir, "bin")
			if err := os.Mkdir(bin, 0o755); err != nil {
				t.Fatal(err)
			}
			for name, body := range depsStandIns {
				if err := os.WriteFile(filepath.Join(bin, name), []byte(body), 0o755); err != nil {
					t.Fatal(err)
				}
			}
			log := filepath.Join(dir, "calls")
			cmd := Command(context.Background(), 30*time.Second, script)
			cmd.Env = append(os.Environ(),
				"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
				"DEBIAN_FRONTEND=",
				"STANDIN_LOG="+log,
				"STANDIN_UID="+tc.uid,
				"STANDIN_UNKNOWN="+tc.unknown,
				"STANDIN_REMOVED="+tc.removed,
				"STANDIN_INSTALL_EXIT="+tc.installExit,
			)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err := cmd.Run()
			var exit *exec.ExitError
			switch {
			case err == nil && tc.wantExit == 0:
			case errors.As(err, &exit) && exit.ExitCode() == tc.wantExit:
			default:
				t.Fatalf("err=%v, want exit code %d; stderr: %s", err, tc.wantExit, stderr.String())
			}

			calls, err := os.ReadFile(log)
			if err != nil {
				t.Fatalf("no stand-in was called (is deps.sh using the PATH?): %v", err)
			}
			var apt []string
			for _, c := range strings.Split(strings.TrimSpace(string(calls)), "\n") {
				if _, after, ok := strings.Cut(c, "apt-get "); ok {
					if !strings.HasPrefix(c, "DEBIAN_FRONTEND=noninteractive ") {
						t.Errorf("apt-get run interactively: %s", c)
					}
					apt = append(apt, after)
				}
			}
			if !strings.HasPrefix(string(calls), "dpkg-query -W ") {
				t.Errorf("first call %q, want dpkg-query -W", calls)
			}
			if len(apt) != len(tc.wantApt) {
				t.Fatalf("apt-get calls %q, want %d ending in %q", apt, len(tc.wantApt), tc.wantApt)
			}
			for i, want := range tc.wantApt {
				if !strings.HasSuffix(apt[i], want) {
					t.Errorf("apt-get call %d: %q, want it to end in %q", i, apt[i], want)
				}
			}

			got := strings.TrimSuffix(stderr.String(), "\n")
			if tc.wantStderrSuffix == "" && got != "" {
				t.Errorf("stderr %q, want nothing", got)
			}
			if tc.wantStderrSuffix != "" && (strings.Contains(got, "\n") || !strings.HasSuffix(got, tc.wantStderrSuffix)) {
				t.Errorf("stderr %q, want one line ending in %q", got, tc.wantStderrSuffix)
			}
			if !strings.Contains(stdout.String(), tc.wantStdoutContain) {
				t.Errorf("stdout %q, want it to contain %q", stdout.String(), tc.wantStdoutContain)
			}
			if tc.wantStdoutContain == "" && stdout.Len() > 0 {
				t.Errorf("stdout %q, want nothing", stdout.String())
			}
		})
	}
}
