package main

import (
	"context"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"

	"filippo.io/age"

	"github.com/offsite-backup/offsite/internal/exitcode"
)

// badInputSecret is in every bad input's environment: no output may show it.
const badInputSecret = "bad-input-s3cr3t-9f2c"

// TestBadInput gives each command a value an operator might get wrong, as
// an env var (the CronJob's and systemd's interface) or a flag, and checks
// the exit code, that the message is one line naming the variable followed
// by where the usage is (not the command's whole help), and that no secret
// is printed.
func TestBadInput(t *testing.T) {
	dir := t.TempDir()
	snapDir := filepath.Join(dir, "snapshots")
	if err := os.Mkdir(snapDir, 0o700); err != nil {
		t.Fatal(err)
	}
	secretFile := filepath.Join(dir, "secret")
	if err := os.WriteFile(secretFile, []byte(badInputSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	// Malformed keys: age's own errors quote a character of the key and
	// its position (s[60]=98), so none of them may reach the output.
	badKey := filepath.Join(dir, "bad-key.txt")
	if err := os.WriteFile(badKey, []byte("# created: offsite\nAGE-SECRET-KEY-1"+strings.Repeat("QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L", 2)[:57]+"B\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	badPQKey := filepath.Join(dir, "bad-pq-key.txt")
	if err := os.WriteFile(badPQKey, []byte("AGE-SECRET-KEY-PQ-1"+strings.ToUpper(strings.Repeat("s3cr3t", 10))+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	privateAsRecipient := filepath.Join(dir, "recipients.txt")
	if err := os.WriteFile(privateAsRecipient, []byte("AGE-SECRET-KEY-1"+strings.ToUpper(badInputSecret)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fifo := filepath.Join(dir, "fifo")
	for _, path := range []string{fifo, fifo + ".prom"} {
		if err := syscall.Mkfifo(path, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tokenFile := filepath.Join(dir, "token")
	if err := os.WriteFile(tokenFile, []byte("K10"+badInputSecret+"::server:"+badInputSecret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	recipient, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	withRecipient := func(env map[string]string) map[string]string {
		env["OFFSITE_AGE_RECIPIENTS"] = recipient.Recipient().String()
		return env
	}
	ends := map[string]string{
		"RGW_ENDPOINT": "http://127.0.0.1:1", "RGW_ACCESS_KEY_ID": "rgw-key", "RGW_SECRET_ACCESS_KEY": badInputSecret,
		"MINIO_ENDPOINT": "http://127.0.0.1:1", "MINIO_ACCESS_KEY_ID": "minio-key", "MINIO_SECRET_ACCESS_KEY": badInputSecret,
		"RGW_BUCKETS": "photos",
	}
	offloadEnv := map[string]string{"OFFSITE_SNAPSHOT_DIR": snapDir, "OFFSITE_STATE_DIR": filepath.Join(dir, "state"), "OFFSITE_HOSTNAME": "node1"}
	for _, tt := range []struct {
		name    string
		args    []string
		env     map[string]string
		wantVar string
	}{
		{"log level fatal silences errors", []string{"mirror"}, map[string]string{"OFFSITE_LOG_LEVEL": "fatal"}, "OFFSITE_LOG_LEVEL"},
		{"log level unknown", []string{"mirror"}, map[string]string{"OFFSITE_LOG_LEVEL": "verbose"}, "OFFSITE_LOG_LEVEL"},
		{"log format unknown", []string{"mirror"}, map[string]string{"OFFSITE_LOG_FORMAT": "xml"}, "OFFSITE_LOG_FORMAT"},
		{"rclone env var set", []string{"mirror"}, map[string]string{"RCLONE_S3_ENDPOINT": "http://elsewhere"}, "RCLONE_S3_ENDPOINT"},
		{"no source endpoint", []string{"mirror"}, map[string]string{"RGW_ENDPOINT": ""}, "RGW_ENDPOINT"},
		{"source endpoint ftp", []string{"mirror"}, map[string]string{"RGW_ENDPOINT": "ftp://rgw"}, "RGW_ENDPOINT"},
		{"credentials in the endpoint", []string{"mirror"}, map[string]string{"RGW_ENDPOINT": "s3://AK:" + badInputSecret + "@rgw:80"}, "RGW_ENDPOINT"},
		{"credentials without a scheme", []string{"mirror"}, map[string]string{"MINIO_ENDPOINT": "AK:" + badInputSecret + "@minio"}, "MINIO_ENDPOINT"},
		{"endpoint with a path", []string{"mirror"}, map[string]string{"MINIO_ENDPOINT": "http://minio:9000/homelab-backup-rgw"}, "MINIO_ENDPOINT"},
		{"secret and its file", []string{"mirror"}, map[string]string{"RGW_SECRET_ACCESS_KEY_FILE": secretFile}, "RGW_SECRET_ACCESS_KEY"},
		{"secret file is a device", []string{"mirror"}, map[string]string{"MINIO_SECRET_ACCESS_KEY": "", "MINIO_SECRET_ACCESS_KEY_FILE": "/dev/zero"}, "MINIO_SECRET_ACCESS_KEY_FILE"},
		{"secret file missing", []string{"mirror"}, map[string]string{"MINIO_SECRET_ACCESS_KEY": "", "MINIO_SECRET_ACCESS_KEY_FILE": filepath.Join(dir, "nope")}, "MINIO_SECRET_ACCESS_KEY_FILE"},
		{"credential outside its directory", []string{"mirror"}, map[string]string{"CREDENTIALS_DIRECTORY": dir, "MINIO_SECRET_ACCESS_KEY": "", "MINIO_SECRET_ACCESS_KEY_FILE": "%d/../secret"}, "MINIO_SECRET_ACCESS_KEY_FILE"},
		{"mode unknown", []string{"mirror"}, map[string]string{"OFFSITE_MODE": "mirror"}, "OFFSITE_MODE"},
		{"max delete not a number", []string{"mirror"}, map[string]string{"OFFSITE_MAX_DELETE": "lots"}, "OFFSITE_MAX_DELETE"},
		{"max delete over 100%", []string{"mirror"}, map[string]string{"OFFSITE_MAX_DELETE": "150%"}, "OFFSITE_MAX_DELETE"},
		{"max delete NaN%", []string{"mirror"}, map[string]string{"OFFSITE_MAX_DELETE": "NaN%"}, "OFFSITE_MAX_DELETE"},
		{"report prefix the bucket root", []string{"mirror"}, map[string]string{"OFFSITE_REPORT_PREFIX": "."}, "OFFSITE_REPORT_PREFIX"},
		{"progress interval spins", []string{"mirror"}, map[string]string{"OFFSITE_PROGRESS_INTERVAL": "1ns"}, "OFFSITE_PROGRESS_INTERVAL"},
		{"buckets unset", []string{"mirror"}, map[string]string{"RGW_BUCKETS": ""}, "RGW_BUCKETS"},
		{"transfers zero", []string{"mirror"}, map[string]string{"OFFSITE_TRANSFERS": "0"}, "OFFSITE_TRANSFERS"},
		{"transfers not a number", []string{"mirror"}, map[string]string{"OFFSITE_TRANSFERS": "banana"}, "OFFSITE_TRANSFERS"},
		{"checkers too many", []string{"mirror"}, map[string]string{"OFFSITE_CHECKERS": "1000"}, "OFFSITE_CHECKERS"},
		{"retries negative", []string{"mirror"}, map[string]string{"OFFSITE_RETRIES": "-1"}, "OFFSITE_RETRIES"},
		{"retry sleep negative", []string{"mirror"}, map[string]string{"OFFSITE_RETRIES_SLEEP": "-5s"}, "OFFSITE_RETRIES_SLEEP"},
		{"retry sleep a day", []string{"mirror"}, map[string]string{"OFFSITE_RETRIES_SLEEP": "24h"}, "OFFSITE_RETRIES_SLEEP"},
		{"bandwidth not a size", []string{"mirror"}, map[string]string{"OFFSITE_BWLIMIT": "fast"}, "OFFSITE_BWLIMIT"},
		{"bandwidth zero hangs", []string{"mirror"}, map[string]string{"OFFSITE_BWLIMIT": "0"}, "OFFSITE_BWLIMIT"},
		{"bandwidth timetable hour", []string{"offload", "once"}, map[string]string{"OFFSITE_BWLIMIT": "08:00,2M 25:00,off"}, "OFFSITE_BWLIMIT"},
		{"bandwidth timetable slot", []string{"mirror", "--bwlimit", "08:00 2M"}, nil, "OFFSITE_BWLIMIT"},
		{"tps not a number", []string{"offload", "once"}, map[string]string{"OFFSITE_TPS_LIMIT": "slow"}, "OFFSITE_TPS_LIMIT"},
		{"tps negative", []string{"mirror"}, map[string]string{"OFFSITE_TPS_LIMIT": "-1"}, "OFFSITE_TPS_LIMIT"},
		{"max duration negative", []string{"mirror"}, map[string]string{"OFFSITE_MAX_DURATION": "-5h"}, "OFFSITE_MAX_DURATION"},
		{"max duration a month", []string{"mirror"}, map[string]string{"OFFSITE_MAX_DURATION": "720h"}, "OFFSITE_MAX_DURATION"},
		{"shard not i/n", []string{"mirror"}, map[string]string{"OFFSITE_SHARD": "1"}, "OFFSITE_SHARD"},
		{"shard index past the count", []string{"mirror"}, map[string]string{"OFFSITE_SHARD": "3/3"}, "OFFSITE_SHARD"},
		{"shard and shards", []string{"mirror"}, map[string]string{"OFFSITE_SHARD": "0/2", "OFFSITE_SHARDS": "2"}, "OFFSITE_SHARD"},
		{"shards outside an indexed job", []string{"mirror"}, map[string]string{"OFFSITE_SHARDS": "3"}, "OFFSITE_SHARDS"},
		{"shards zero", []string{"mirror"}, map[string]string{"OFFSITE_SHARDS": "0", "JOB_COMPLETION_INDEX": "0"}, "OFFSITE_SHARDS"},
		{"job index past the shards", []string{"mirror"}, map[string]string{"OFFSITE_SHARDS": "3", "JOB_COMPLETION_INDEX": "3"}, "JOB_COMPLETION_INDEX"},
		{"job index not a number", []string{"mirror"}, map[string]string{"OFFSITE_SHARDS": "3", "JOB_COMPLETION_INDEX": "first"}, "JOB_COMPLETION_INDEX"},
		{"max duration not a duration", []string{"mirror"}, map[string]string{"OFFSITE_MAX_DURATION": "soon"}, "OFFSITE_MAX_DURATION"},
		{"max age a year", []string{"verify", "etcd"}, map[string]string{"OFFSITE_MAX_AGE": "8760h"}, "OFFSITE_MAX_AGE"},
		{"destination bucket name", []string{"mirror"}, map[string]string{"MINIO_BUCKET": "Bad_Bucket"}, "MINIO_BUCKET"},
		{"allow-list bucket name", []string{"mirror"}, map[string]string{"RGW_BUCKETS": "photos,UPPER"}, "RGW_BUCKETS"},
		{"report prefix absolute", []string{"mirror"}, map[string]string{"OFFSITE_REPORT_PREFIX": "/reports"}, "OFFSITE_REPORT_PREFIX"},
		{"report prefix above the bucket", []string{"mirror"}, map[string]string{"OFFSITE_REPORT_PREFIX": "../reports"}, "OFFSITE_REPORT_PREFIX"},
		{"ping URL not http", []string{"mirror"}, map[string]string{"OFFSITE_PING_URL": "ftp://hc/" + badInputSecret}, "OFFSITE_PING_URL"},
		{"ping URL shared by shards", []string{"mirror"}, map[string]string{"OFFSITE_SHARD": "1/3", "OFFSITE_PING_URL": "https://hc/" + badInputSecret}, "OFFSITE_PING_URL"},
		{"ping URLs fewer than shards", []string{"mirror"}, map[string]string{"OFFSITE_SHARD": "1/3", "OFFSITE_PING_URL": "https://hc/" + badInputSecret + "/0\nhttps://hc/" + badInputSecret + "/1"}, "OFFSITE_PING_URL"},
		{"ping URL shard placeholder, not sharded", []string{"mirror"}, map[string]string{"OFFSITE_PING_URL": "https://hc/" + badInputSecret + "/{shard}"}, "OFFSITE_PING_URL"},
		{"verify ping URL shard placeholder", []string{"verify", "rgw"}, map[string]string{"OFFSITE_PING_URL": "https://hc/" + badInputSecret + "/{shard}"}, "OFFSITE_PING_URL"},
		{"metrics file not .prom", []string{"mirror"}, map[string]string{"OFFSITE_METRICS_FILE": filepath.Join(dir, "offsite.txt")}, "OFFSITE_METRICS_FILE"},
		{"pushgateway URL with a query", []string{"mirror"}, map[string]string{"OFFSITE_PUSHGATEWAY_URL": "http://pushgateway:9091/?" + badInputSecret}, "OFFSITE_PUSHGATEWAY_URL"},
		{"unknown flag", []string{"mirror", "--delete-everything"}, nil, "delete-everything"},
		{"quiet period not a duration", []string{"offload", "once"}, map[string]string{"OFFSITE_QUIET_PERIOD": "banana"}, "OFFSITE_QUIET_PERIOD"},
		{"quiet period zero", []string{"offload", "once"}, map[string]string{"OFFSITE_QUIET_PERIOD": "0s"}, "OFFSITE_QUIET_PERIOD"},
		{"rescan interval spins", []string{"offload", "watch"}, map[string]string{"OFFSITE_RESCAN_INTERVAL": "1ns"}, "OFFSITE_RESCAN_INTERVAL"},
		{"backoff max below min", []string{"offload", "once"}, map[string]string{"OFFSITE_BACKOFF_MAX": "1ms"}, "OFFSITE_BACKOFF_MAX"},
		{"include glob broken", []string{"offload", "once"}, map[string]string{"OFFSITE_INCLUDE": "["}, "OFFSITE_INCLUDE"},
		{"hostname a path", []string{"offload", "once"}, map[string]string{"OFFSITE_HOSTNAME": "../etc"}, "OFFSITE_HOSTNAME"},
		{"offload bucket name", []string{"offload", "once"}, map[string]string{"MINIO_BUCKET": "Bad_Bucket"}, "MINIO_BUCKET"},
		{"snapshot dir missing", []string{"offload", "once"}, map[string]string{"OFFSITE_SNAPSHOT_DIR": filepath.Join(dir, "nope")}, "OFFSITE_SNAPSHOT_DIR"},
		{"state dir is the snapshot dir", []string{"offload", "once"}, map[string]string{"OFFSITE_STATE_DIR": snapDir}, "OFFSITE_STATE_DIR"},
		{"age recipient broken", []string{"offload", "once"}, map[string]string{"OFFSITE_AGE_RECIPIENTS": "age1nope"}, "OFFSITE_AGE_RECIPIENTS"},
		{"age recipient is a private key", []string{"offload", "once"}, map[string]string{"OFFSITE_AGE_RECIPIENTS": "AGE-SECRET-KEY-1" + strings.ToUpper(badInputSecret)}, "OFFSITE_AGE_RECIPIENTS"},
		{"verify output unknown", []string{"verify", "etcd", "--output", "xml"}, nil, "--output"},
		{"verify download unknown", []string{"verify", "etcd"}, map[string]string{"OFFSITE_DOWNLOAD": "some"}, "OFFSITE_DOWNLOAD"},
		{"verify max age zero", []string{"verify", "etcd"}, map[string]string{"OFFSITE_MAX_AGE": "0s"}, "OFFSITE_MAX_AGE"},
		{"identity file missing", []string{"verify", "etcd"}, map[string]string{"OFFSITE_AGE_IDENTITY_FILE": filepath.Join(dir, "key.txt")}, "OFFSITE_AGE_IDENTITY_FILE"},
		{"identity file malformed", []string{"verify", "etcd"}, map[string]string{"OFFSITE_AGE_IDENTITY_FILE": badKey}, "OFFSITE_AGE_IDENTITY_FILE: " + badKey + ": line 2"},
		{"identity file malformed, fetch", []string{"offload", "fetch", "--to", dir, "--identity", badKey}, nil, "OFFSITE_AGE_IDENTITY_FILE: " + badKey},
		{"post-quantum identity malformed", []string{"verify", "etcd"}, map[string]string{"OFFSITE_AGE_IDENTITY_FILE": badPQKey}, "OFFSITE_AGE_IDENTITY_FILE: " + badPQKey + ": line 1"},
		{"recipients file holds a private key", []string{"offload", "once"}, map[string]string{"OFFSITE_AGE_RECIPIENTS_FILE": privateAsRecipient}, "OFFSITE_AGE_RECIPIENTS_FILE: " + privateAsRecipient + ": line 1"},
		{"identity file a FIFO", []string{"verify", "etcd"}, map[string]string{"OFFSITE_AGE_IDENTITY_FILE": fifo}, "OFFSITE_AGE_IDENTITY_FILE"},
		{"recipients file a FIFO", []string{"offload", "once"}, map[string]string{"OFFSITE_AGE_RECIPIENTS_FILE": fifo}, "OFFSITE_AGE_RECIPIENTS_FILE"},
		{"ping URL file a FIFO", []string{"verify", "etcd"}, map[string]string{"OFFSITE_PING_URL_FILE": fifo}, "OFFSITE_PING_URL_FILE"},
		{"metrics file a FIFO", []string{"verify", "etcd"}, map[string]string{"OFFSITE_METRICS_FILE": fifo + ".prom"}, "OFFSITE_METRICS_FILE"},
		{"drill output unknown", []string{"drill", "etcd", "--output", "xml"}, nil, "--output"},
		{"drill identity file missing", []string{"drill", "etcd"}, map[string]string{"OFFSITE_AGE_IDENTITY_FILE": filepath.Join(dir, "key.txt")}, "OFFSITE_AGE_IDENTITY_FILE"},
		{"drill identity file malformed", []string{"drill", "etcd", "--identity", badKey}, nil, "OFFSITE_AGE_IDENTITY_FILE: " + badKey + ": line 2"},
		{"drill hostname a path", []string{"drill", "etcd"}, map[string]string{"OFFSITE_HOSTNAME": "../etc"}, "OFFSITE_HOSTNAME"},
		{"drill bucket name", []string{"drill", "etcd", "--all-hosts"}, map[string]string{"MINIO_BUCKET": "Bad_Bucket"}, "MINIO_BUCKET"},
		{"stray word in drill etcd", []string{"drill", "etcd", "node1", "--all-hosts"}, nil, `"node1"`},
		{"drill rgw without a bucket", []string{"drill", "rgw"}, nil, "OFFSITE_DRILL_BUCKET"},
		{"drill rgw bucket name", []string{"drill", "rgw"}, map[string]string{"OFFSITE_DRILL_BUCKET": "Photos_2026"}, "OFFSITE_DRILL_BUCKET"},
		{"drill rgw sample negative", []string{"drill", "rgw", "--bucket", "photos", "--sample", "-3"}, nil, "OFFSITE_DRILL_SAMPLE"},
		{"drill rgw sample a share", []string{"drill", "rgw", "--bucket", "photos"}, map[string]string{"OFFSITE_DRILL_SAMPLE": "5%"}, "OFFSITE_DRILL_SAMPLE"},
		{"drill rgw at with a space", []string{"drill", "rgw", "--bucket", "photos"}, map[string]string{"OFFSITE_DRILL_AT": "2026-12-01 04:00"}, "OFFSITE_DRILL_AT"},
		{"drill rgw at in the future", []string{"drill", "rgw", "--bucket", "photos", "--at", "2099-01-01"}, nil, "OFFSITE_DRILL_AT"},
		{"drill rgw output unknown", []string{"drill", "rgw", "--bucket", "photos", "--output", "yaml"}, nil, "--output"},
		{"drill rgw transfers", []string{"drill", "rgw", "--bucket", "photos", "--transfers", "0"}, nil, "OFFSITE_TRANSFERS"},
		{"k3s token without recipients", []string{"offload", "once"}, map[string]string{"OFFSITE_K3S_TOKEN_FILE": tokenFile}, "OFFSITE_AGE_RECIPIENTS"},
		{"k3s token without recipients, watch", []string{"offload", "watch"}, map[string]string{"OFFSITE_K3S_TOKEN_FILE": tokenFile}, "OFFSITE_AGE_RECIPIENTS"},
		{"k3s token file missing", []string{"offload", "once"}, withRecipient(map[string]string{"OFFSITE_K3S_TOKEN_FILE": filepath.Join(dir, "nope")}), "OFFSITE_K3S_TOKEN_FILE"},
		{"k3s token file a FIFO", []string{"offload", "watch"}, withRecipient(map[string]string{"OFFSITE_K3S_TOKEN_FILE": fifo}), "OFFSITE_K3S_TOKEN_FILE"},
		{"k3s token file a directory", []string{"offload", "once"}, withRecipient(map[string]string{"OFFSITE_K3S_TOKEN_FILE": dir}), "OFFSITE_K3S_TOKEN_FILE"},
		{"fetch name and latest", []string{"offload", "fetch", "--name", "x", "--latest"}, map[string]string{"OFFSITE_FETCH_DIR": dir}, "--name"},
		{"fetch dir missing", []string{"offload", "fetch"}, nil, "OFFSITE_FETCH_DIR"},
		{"fetch dir a file", []string{"offload", "fetch", "--to", secretFile}, nil, "OFFSITE_FETCH_DIR"},
		{"restore without a bucket", []string{"restore", "rgw"}, nil, "--bucket"},
		{"restore a bucket and all", []string{"restore", "rgw", "--bucket", "photos", "--all"}, nil, "--all"},
		{"restore bucket name", []string{"restore", "rgw"}, map[string]string{"OFFSITE_RESTORE_BUCKETS": "photos,Bad_Bucket"}, "OFFSITE_RESTORE_BUCKETS"},
		{"restore two buckets to one", []string{"restore", "rgw", "--bucket", "photos", "--bucket", "docs", "--to-bucket", "restored"}, nil, "--to-bucket"},
		{"restore to a bad bucket name", []string{"restore", "rgw", "--bucket", "photos", "--to-bucket", "x"}, nil, "--to-bucket"},
		{"restore at not a time", []string{"restore", "rgw", "--bucket", "photos", "--at", "last tuesday"}, nil, "--at"},
		{"restore at in the future", []string{"restore", "rgw", "--bucket", "photos"}, map[string]string{"OFFSITE_RESTORE_AT": "2999-01-01T00:00:00Z"}, "OFFSITE_RESTORE_AT"},
		{"mirror into itself", []string{"mirror"}, map[string]string{"MINIO_ENDPOINT": "http://127.0.0.1:1", "RGW_BUCKETS": "*"}, "RGW_BUCKETS"},
		{"mirror its own bucket", []string{"mirror"}, map[string]string{"MINIO_ENDPOINT": "http://127.0.0.1:1/", "RGW_BUCKETS": "photos,homelab-backup-rgw"}, "RGW_BUCKETS"},
		{"restore into the mirror's bucket", []string{"restore", "rgw", "--bucket", "photos", "--to-bucket", "homelab-backup-rgw"}, nil, "--to-bucket"},
		{"audit not a share", []string{"mirror", "--audit", "some"}, nil, "OFFSITE_AUDIT"},
		{"verify sample not a share", []string{"verify", "rgw", "--sample", "0/3"}, nil, "OFFSITE_VERIFY_SAMPLE"},
		{"restore at the zero time", []string{"restore", "rgw", "--bucket", "photos", "--at", "0001-01-01"}, nil, "--at"},
		{"restore at a negative duration", []string{"restore", "rgw", "--bucket", "photos", "--at", "-36h"}, nil, "--at"},
		{"restore transfers zero", []string{"restore", "rgw", "--bucket", "photos"}, map[string]string{"OFFSITE_TRANSFERS": "0"}, "OFFSITE_TRANSFERS"},
		{"restore mirror bucket name", []string{"restore", "rgw", "--bucket", "photos"}, map[string]string{"MINIO_BUCKET": "Bad_Bucket"}, "MINIO_BUCKET"},
		{"restore without the RGW endpoint", []string{"restore", "rgw", "--bucket", "photos"}, map[string]string{"RGW_ENDPOINT": ""}, "RGW_ENDPOINT"},
		{"restore ping URL not http", []string{"restore", "rgw", "--bucket", "photos"}, map[string]string{"OFFSITE_PING_URL": "ftp://hc/" + badInputSecret}, "OFFSITE_PING_URL"},
		{"verify restored at not a time", []string{"verify", "rgw", "--bucket", "photos", "--at", "soon"}, nil, "--at"},
		{"verify restored at without a bucket", []string{"verify", "rgw", "--at", "36h"}, nil, "--bucket"},
		{"restore unknown flag", []string{"restore", "rgw", "--bucket", "photos", "--delete"}, nil, "delete"},
		{"canary without a bucket", []string{"canary", "put", "--key", "offsite-validate/x"}, nil, "--bucket"},
		{"canary key outside its prefix", []string{"canary", "remove", "--bucket", "photos", "--key", "2026/beach.jpg"}, nil, "--key"},
		{"canary check without a mirror", []string{"canary", "check", "--bucket", "photos", "--key", "offsite-validate/x"}, map[string]string{"MINIO_ENDPOINT": ""}, "MINIO_ENDPOINT"},
		{"progress unknown", []string{"mirror", "--progress", "sometimes"}, map[string]string{"RGW_BUCKETS": "photos"}, "OFFSITE_PROGRESS"},
		{"progress unknown for offload", []string{"offload", "once"}, map[string]string{"OFFSITE_PROGRESS": "yes"}, "OFFSITE_PROGRESS"},
		{"flag not a number", []string{"mirror", "--transfers", "many"}, nil, "--transfers"},
		{"flag not a boolean", []string{"mirror", "--dry-run=maybe"}, nil, "--dry-run"},
		{"env not a boolean", []string{"mirror"}, map[string]string{"OFFSITE_DRY_RUN": "maybe"}, "OFFSITE_DRY_RUN"},
		{"flag without its value", []string{"mirror", "--transfers"}, nil, "--transfers: needs a value"},
		{"unknown global flag", []string{"--verbose", "mirror"}, nil, "--verbose: no such flag"},
		{"unknown command", []string{"mirrror"}, nil, "mirrror"},
		{"unknown subcommand", []string{"verify", "postgres"}, nil, "postgres"},
		{"stray word stops the flags", []string{"mirror", "--mode", "sync", "stray", "--dry-run"}, nil, `"stray"`},
		{"boolean flag given a value", []string{"restore", "rgw", "--bucket", "photos", "--overwrite", "false", "--dry-run"}, nil, "--overwrite"},
		{"time with a space", []string{"restore", "rgw", "--bucket", "photos", "--at", "2026-12-01", "04:00", "--overwrite", "--dry-run"}, nil, `"04:00"`},
		{"stray word in offload once", []string{"offload", "once", "now"}, nil, `"now"`},
		{"stray word in verify etcd", []string{"verify", "etcd", "all", "--all-hosts"}, nil, `"all"`},
		{"stray word in fetch", []string{"offload", "fetch", "--to", "/tmp", "latest"}, nil, `"latest"`},
		{"retention zero", []string{"setup", "minio"}, map[string]string{"OFFSITE_RETENTION_DAYS": "0"}, "OFFSITE_RETENTION_DAYS"},
		{"retention in words", []string{"verify", "minio"}, map[string]string{"OFFSITE_RETENTION_DAYS": "two weeks"}, "OFFSITE_RETENTION_DAYS"},
		{"retention flag past ten years", []string{"setup", "minio", "--retention-days", "5000"}, nil, "OFFSITE_RETENTION_DAYS"},
		{"setup bucket name", []string{"setup", "minio", "--bucket", "Bad_Bucket"}, nil, "OFFSITE_MINIO_BUCKETS"},
		{"setup bucket twice", []string{"setup", "minio"}, map[string]string{"OFFSITE_MINIO_BUCKETS": "photos-backup,photos-backup"}, "OFFSITE_MINIO_BUCKETS"},
		{"etcd bucket name", []string{"verify", "minio"}, map[string]string{"MINIO_ETCD_BUCKET": "Bad_Bucket"}, "MINIO_ETCD_BUCKET"},
		{"etcd bucket is the mirror's", []string{"setup", "minio"}, map[string]string{"MINIO_ETCD_BUCKET": "homelab-backup-rgw"}, "MINIO_ETCD_BUCKET"},
		{"etcd endpoint ftp", []string{"verify", "minio"}, map[string]string{"MINIO_ETCD_ENDPOINT": "ftp://minio"}, "MINIO_ETCD_ENDPOINT"},
		{"etcd endpoint with credentials", []string{"setup", "minio"}, map[string]string{"MINIO_ETCD_ENDPOINT": "http://AK:" + badInputSecret + "@minio:9000"}, "MINIO_ETCD_ENDPOINT"},
		{"etcd key id without its secret", []string{"setup", "minio"}, map[string]string{"MINIO_ETCD_ACCESS_KEY_ID": "etcd"}, "MINIO_ETCD_SECRET_ACCESS_KEY"},
		{"etcd secret without its key id", []string{"verify", "minio"}, map[string]string{"MINIO_ETCD_SECRET_ACCESS_KEY": badInputSecret}, "MINIO_ETCD_ACCESS_KEY_ID"},
		{"etcd secret and its file", []string{"verify", "minio"}, map[string]string{"MINIO_ETCD_ACCESS_KEY_ID": "etcd", "MINIO_ETCD_SECRET_ACCESS_KEY": badInputSecret, "MINIO_ETCD_SECRET_ACCESS_KEY_FILE": secretFile}, "MINIO_ETCD_SECRET_ACCESS_KEY"},
		{"etcd secret file missing", []string{"setup", "minio"}, map[string]string{"MINIO_ETCD_ACCESS_KEY_ID": "etcd", "MINIO_ETCD_SECRET_ACCESS_KEY_FILE": filepath.Join(dir, "nope")}, "MINIO_ETCD_SECRET_ACCESS_KEY_FILE"},
		{"etcd key id file is a device", []string{"verify", "minio"}, map[string]string{"MINIO_ETCD_ACCESS_KEY_ID_FILE": "/dev/zero", "MINIO_ETCD_SECRET_ACCESS_KEY": badInputSecret}, "MINIO_ETCD_ACCESS_KEY_ID_FILE"},
		{"verify minio output unknown", []string{"verify", "minio", "--output", "yaml"}, nil, "--output"},
		{"verify minio ping URL not http", []string{"verify", "minio"}, map[string]string{"OFFSITE_PING_URL": "ftp://hc/" + badInputSecret}, "OFFSITE_PING_URL"},
		{"setup dry run not a boolean", []string{"setup", "minio", "--dry-run=perhaps"}, nil, "--dry-run"},
		{"stray word in setup minio", []string{"setup", "minio", "now", "--dry-run"}, nil, `"now"`},
		{"stray word in verify minio", []string{"verify", "minio", "homelab-backup-rgw"}, nil, `"homelab-backup-rgw"`},
		{"unknown setup", []string{"setup", "postgres"}, nil, "postgres"},
		{"status max age zero", []string{"status"}, map[string]string{"OFFSITE_MAX_AGE": "0s"}, "OFFSITE_MAX_AGE"},
		{"status max age not a duration", []string{"status", "--max-age", "a day"}, nil, "--max-age"},
		{"status report prefix absolute", []string{"status"}, map[string]string{"OFFSITE_REPORT_PREFIX": "/reports"}, "OFFSITE_REPORT_PREFIX"},
		{"status retention zero", []string{"status", "--retention-days", "0"}, nil, "OFFSITE_RETENTION_DAYS"},
		{"status etcd bucket is the mirror's", []string{"status"}, map[string]string{"MINIO_ETCD_BUCKET": "homelab-backup-rgw"}, "MINIO_ETCD_BUCKET"},
		{"status etcd endpoint with a path", []string{"status"}, map[string]string{"MINIO_ETCD_ENDPOINT": "http://minio:9000/homelab-backup-etcd"}, "MINIO_ETCD_ENDPOINT"},
		{"status etcd secret file missing", []string{"status"}, map[string]string{"MINIO_ETCD_ACCESS_KEY_ID": "etcd", "MINIO_ETCD_SECRET_ACCESS_KEY_FILE": filepath.Join(dir, "nope")}, "MINIO_ETCD_SECRET_ACCESS_KEY_FILE"},
		{"status metrics file not .prom", []string{"status"}, map[string]string{"OFFSITE_METRICS_FILE": filepath.Join(dir, "status.txt")}, "OFFSITE_METRICS_FILE"},
		{"stray word in status", []string{"status", "now"}, nil, `"now"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			for k, v := range ends {
				t.Setenv(k, v)
			}
			if tt.args[0] == "offload" {
				for k, v := range offloadEnv {
					t.Setenv(k, v)
				}
			}
			for k, v := range tt.env {
				t.Setenv(k, v)
			}
			var environ []string
			for k, v := range tt.env {
				environ = append(environ, k+"="+v)
			}
			var out, errs syncBuffer
			args := append([]string{"offsite", "--log-format=console"}, tt.args...)
			if _, ok := tt.env["OFFSITE_LOG_FORMAT"]; ok {
				args = append([]string{"offsite"}, tt.args...) // the flag would win over the env var
			}
			code := run(context.Background(), args, &out, &errs, environ)
			stderr := errs.String()
			if code != exitcode.Config || !strings.Contains(stderr, tt.wantVar) {
				t.Fatalf("exit %d, want %d naming %s; stderr:\n%s", code, exitcode.Config, tt.wantVar, stderr)
			}
			command := usageCommand(tt.args)
			if strings.HasPrefix(tt.wantVar, "RCLONE_") || strings.HasPrefix(tt.wantVar, "OFFSITE_LOG_") {
				command = "offsite" // global options: offsite --help shows them
			}
			checkOneLine(t, stderr, tt.wantVar, command)
			if strings.Contains(out.String()+stderr, badInputSecret) || strings.Contains(stderr, strings.ToUpper(badInputSecret)) {
				t.Fatalf("a secret reached the output:\n%s%s", out.String(), stderr)
			}
			if quoted := quotedCharacter.FindString(out.String() + stderr); quoted != "" {
				t.Fatalf("a character of a value reached the output (%s):\n%s%s", quoted, out.String(), stderr)
			}
		})
	}
}

// quotedCharacter is how a parser's error quotes one character of its
// input and where it was, as bech32's does: s[60]=98.
var quotedCharacter = regexp.MustCompile(`\w\[\d+\]=\d+`)

// usageCommand is the command of args that the usage hint names: the
// words before the first flag, without an unknown one.
func usageCommand(args []string) string {
	var words []string
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			break
		}
		words = append(words, a)
	}
	switch {
	case len(words) == 1 && words[0] == "mirrror":
		return "offsite"
	case len(words) == 2 && words[1] == "postgres":
		return "offsite " + words[0]
	}
	for i, w := range words {
		if !slices.Contains([]string{"offsite", "mirror", "offload", "once", "watch", "fetch", "verify", "rgw", "etcd", "restore", "canary", "put", "check", "remove", "setup", "minio", "status", "drill"}, w) {
			words = words[:i] // a stray word
			break
		}
	}
	return strings.Join(append([]string{"offsite"}, words...), " ")
}

// checkOneLine checks that a bad input's error is the last thing on
// stderr, as one line naming what is wrong, then the line that says where
// the usage is; and that no help text came with it.
func checkOneLine(t *testing.T, stderr, wantVar, command string) {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stderr, "\n"), "\n")
	if len(lines) < 2 {
		t.Fatalf("want an error line and a usage line; stderr:\n%s", stderr)
	}
	msg, hint := lines[len(lines)-2], lines[len(lines)-1]
	if !strings.HasPrefix(msg, "offsite") || !strings.Contains(msg, wantVar) {
		t.Errorf("error line %q does not name %s", msg, wantVar)
	}
	if want := "run '" + command + " --help' for usage"; hint != want {
		t.Errorf("usage line %q, want %q", hint, want)
	}
	for _, help := range []string{"OPTIONS:", "USAGE:", "Incorrect Usage", "--help, -h"} {
		if strings.Contains(stderr, help) {
			t.Errorf("stderr shows the help (%q):\n%s", help, stderr)
		}
	}
}
