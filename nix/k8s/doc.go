// Package k8s holds offsite's Kubernetes manifests, written in Nix:
// cronjob.nix (the rgw-mirror CronJob and its verify and drill CronJobs,
// as a plain function), kubenix.nix (a kubenix module around it),
// secrets.nix (the Secrets they read, from decrypted SOPS values) and
// manifests.nix with manifests.sh (make manifests). Its tests evaluate them
// with nix-instantiate, run make manifests, and decode the results
// strictly into the Kubernetes API types.
package k8s
